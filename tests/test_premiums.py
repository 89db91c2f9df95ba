"""Token premiums on parallel text: hand-computed ratios, numpy statistics, the UDHR and gettext
loaders read independently, GPT-2 counts checked against HF `tokenizers`, scripts, CLI, errors."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import pytest

import tokfree
from tokfree import TokfreeError
from tokfree.errors import EmptyCorpusError, InputFileError
from tokfree.eval import (
    ParallelCorpus, corpus_token_count, load_gettext, load_parallel_jsonl, load_udhr, script_of, token_premiums,
)
from tokfree.eval import scripts
from tokfree.eval.premiums import COREUTILS_PATH

ROOT = Path(__file__).resolve().parent.parent
GPT2 = ROOT / "data" / "gpt2"


def words(text: str) -> list[str]:
    """A toy tokenizer: one token per whitespace-separated word."""
    return text.split()


@pytest.fixture(scope="module")
def toy() -> ParallelCorpus:
    # Word counts: eng a=3 b=3; fra a=4 b=3; deu a=5 (no b); ita b=2 (no a).
    return ParallelCorpus(
        "toy",
        {
            "eng": {"a": "the cat sat", "b": "on the mat"},
            "fra": {"a": "le chat est assis", "b": "sur le tapis"},
            "deu": {"a": "die Katze sitzt da drauf"},
            "ita": {"b": "sul tappeto", "c": "extra segment the reference lacks"},
        },
        {"eng": "English", "fra": "French", "deu": "German"},
        "eng",
    )


@pytest.fixture(scope="module")
def udhr() -> ParallelCorpus:
    return load_udhr()


@pytest.fixture(scope="module")
def gpt2() -> tokfree.Tokenizer:
    return tokfree.Tokenizer.from_gpt2_files(GPT2 / "encoder.json", GPT2 / "vocab.bpe")


def read_udhr_raw() -> dict[str, list[dict]]:
    """An independent read of the bundled UDHR: code -> sections."""
    with gzip.open(ROOT / "data" / "_parity" / "udhr.jsonl.gz", "rt", encoding="utf-8") as lines:
        return {record["code"]: record["sections"] for record in map(json.loads, lines)}


# --- premiums on a hand-built corpus --------------------------------------------------------------


def test_hand_computed_premiums(toy):
    report = token_premiums(words, toy)
    assert [row.language for row in report.rows] == ["ita", "fra", "deu"]  # 2/3 < 7/6 < 5/3
    fra, deu, ita = report.row("fra"), report.row("deu"), report.row("ita")
    assert (fra.tokens, fra.reference_tokens, fra.segments, fra.premium) == (7, 6, 2, pytest.approx(7 / 6))
    # deu has only segment a: the reference is counted on a alone (3 words), not on a and b (6).
    assert (deu.tokens, deu.reference_tokens, deu.segments, deu.premium) == (5, 3, 1, pytest.approx(5 / 3))
    # ita's extra segment c is not counted: only b is shared.
    assert (ita.tokens, ita.reference_tokens, ita.segments, ita.premium) == (2, 3, 1, pytest.approx(2 / 3))
    assert (fra.name, ita.name) == ("French", "ita")  # a missing display name shows the code
    assert fra.script == "Latin"


def test_statistics_equal_numpy_over_the_rows(toy, udhr):
    np = pytest.importorskip("numpy")
    for report in (token_premiums(words, toy), token_premiums(list, udhr, languages=["fra", "rus", "cmn_hans", "hin", "tha"])):
        premiums = np.array([row.tokens / row.reference_tokens for row in report.rows])
        assert report.mean == pytest.approx(premiums.mean())
        assert report.median == pytest.approx(np.median(premiums))
        assert report.min == pytest.approx(premiums.min())
        assert report.max == pytest.approx(premiums.max())
        assert report.cv == pytest.approx(premiums.std(ddof=0) / premiums.mean())
        assert report.summary()["languages"] == len(premiums)
    assert token_premiums(words, toy).mean == pytest.approx((7 / 6 + 5 / 3 + 2 / 3) / 3)


def test_the_reference_has_no_row_and_is_left_out_of_the_statistics(toy):
    report = token_premiums(words, toy, languages=["eng", "fra"])  # the reference in `languages` is skipped
    assert [row.language for row in report.rows] == ["fra"]
    assert (report.mean, report.cv) == (pytest.approx(7 / 6), 0.0)
    with pytest.raises(TokfreeError, match="the reference has premium 1"):
        report.row("eng")
    # Another reference: fra. eng shares a and b with it (6 / 7); deu shares a (5 / 4).
    by_fra = token_premiums(words, toy, reference="fra")
    assert by_fra.reference == "fra" and by_fra.reference_name == "French"
    assert {row.language: row.premium for row in by_fra.rows} == pytest.approx({"eng": 6 / 7, "deu": 5 / 4, "ita": 2 / 3})
    assert "| eng | English | Latin | 2 | 6 | 7 | 0.857 |" in by_fra.to_markdown()


def test_markdown_lists_rows_and_statistics(toy):
    report = token_premiums(words, toy)
    table = report.to_markdown()
    assert "| fra | French | Latin | 2 | 7 | 6 | 1.167 |" in table
    assert f"- mean premium: {(7 / 6 + 5 / 3 + 2 / 3) / 3:.3f}" in table
    assert "- languages: 3 (the reference eng excluded)" in table
    top = report.to_markdown(top=1)
    assert "| deu |" in top and "| fra |" not in top and "1 of 3 languages shown" in top
    assert "- max premium: 1.667 (deu)" in top  # the statistics still cover all


# --- real data ------------------------------------------------------------------------------------


def test_udhr_has_499_complete_versions(udhr):
    raw = read_udhr_raw()
    assert len(udhr.segments) == 499 == sum(len(sections) == 31 for sections in raw.values())
    assert udhr.reference == "eng" and udhr.names["eng"] == "English"
    assert all(list(segments) == [str(i) for i in range(31)] for segments in udhr.segments.values())
    assert udhr.segments["eng"]["0"].startswith("Preamble\nWhereas recognition of the inherent dignity")
    assert udhr.segments["eng"]["1"] == "Article 1\n" + raw["eng"][1]["paragraphs"][0]
    assert len(load_udhr(complete_only=False).segments) == 532


def test_udhr_premiums_in_characters_equal_a_raw_count(udhr):
    # With one token per character, a premium is a ratio of character counts, read here from the raw file.
    raw = read_udhr_raw()

    def chars(code: str) -> int:
        return sum(len(part) for section in raw[code] for part in [section["title"] or "", *section["paragraphs"]] if part) + sum(
            len([part for part in [section["title"] or "", *section["paragraphs"]] if part]) - 1 for section in raw[code])

    report = token_premiums(list, udhr, languages=["fra", "rus", "cmn_hans"])
    for row in report.rows:
        assert (row.tokens, row.reference_tokens, row.segments) == (chars(row.language), chars("eng"), 31)


def test_gpt2_premiums_equal_hf_tokenizers(udhr, gpt2):
    tokenizers = pytest.importorskip("tokenizers")
    # HF's own BPE from the same two files: shares no code with tokfree.
    hf = tokenizers.Tokenizer(tokenizers.models.BPE.from_file(str(GPT2 / "encoder.json"), str(GPT2 / "vocab.bpe")))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    languages = ["fra", "rus", "cmn_hans", "hin", "arb", "mya", "jpn"]

    def hf_count(code: str) -> int:
        return sum(len(hf.encode(text, add_special_tokens=False).ids) for text in udhr.segments[code].values())

    report = token_premiums(gpt2, udhr, languages=languages)
    assert report.row("fra").reference_tokens == hf_count("eng")
    for code in languages:
        assert report.row(code).tokens == hf_count(code)
        assert report.row(code).premium == pytest.approx(hf_count(code) / hf_count("eng"))
    assert report.row("mya").premium > 10 > report.row("fra").premium > 1  # Burmese bytes rarely merged in GPT-2
    # The HF tokenizer itself is accepted too (counted without special tokens).
    assert token_premiums(hf, udhr, languages=languages).rows == report.rows
    assert {row.script for row in report.rows} == {"Latin", "Cyrillic", "Han", "Devanagari", "Arabic", "Myanmar", "Japanese"}


def test_corpus_token_count_accepts_tokenizer_kinds(gpt2):
    texts = ["hello world", "<|endoftext|> is text here"]
    expected = len(gpt2.encode(texts[0])) + len(gpt2.encode(texts[1], disallowed_special=()))
    assert corpus_token_count(gpt2, texts) == expected == 2 + 7 + 3  # special-token text counted as its 7 byte-level tokens

    class Batch:
        def encode_batch(self, batch):
            return [type("Encoding", (), {"ids": text.split()})() for text in batch]

    class One:
        def encode(self, text):
            return list(text)

    assert corpus_token_count(Batch(), ["a b c", "d"]) == 4
    assert corpus_token_count(One(), ["abc", "de"]) == 5
    assert corpus_token_count(words, ["a b c", "d"]) == 4
    with pytest.raises(TokfreeError, match="wrap it"):
        corpus_token_count(words, "a b c")
    with pytest.raises(TokfreeError, match="cannot count tokens with a int"):
        corpus_token_count(3, ["a"])
    with pytest.raises(TokfreeError, match="not a sequence of ids"):
        corpus_token_count(len, ["a"])


# --- scripts --------------------------------------------------------------------------------------

SAMPLES = {
    "All human beings are born free": "Latin",
    "Все люди рождаются свободными (статья 1)": "Cyrillic",
    "يولد جميع الناس أحرارًا": "Arabic",
    "人人生而自由，在尊严和权利上一律平等。": "Han",
    "すべての人間は、生まれながらにして自由であり": "Japanese",
    "모든 인간은 태어날 때부터 자유로우며": "Hangul",
    "सभी मनुष्यों को गौरव और अधिकारों के मामले में": "Devanagari",
    "ሁሉም የሰው ልጆች": "Ethiopic",
    "ᐃᓅᔪᓕᒫᑦ ᐊᓂᖅᑎᕆᔪᓕᒫᑦ": "Canadian_Aboriginal",
    "Ἄρθρο 1 όλοι": "Greek",
    "Das Wort „café“ und 日本": "Latin",  # 9 Latin letters beat 2 Han, punctuation does not vote
    "12345 !? -- ...": "Common",
    "": "Common",
    "漢字漢字漢字漢字漢字漢字漢字漢字漢字の": "Han",  # one kana in 19 letters: Chinese-like, not Japanese
}


def test_script_of_samples():
    assert {text: script_of(text) for text in SAMPLES} == SAMPLES


def test_script_fallback_without_regex_agrees(monkeypatch):
    pytest.importorskip("regex")
    scripts._char_script.cache_clear()
    monkeypatch.setattr(scripts, "_property_pattern", lambda: None)
    try:
        assert {text: script_of(text) for text in SAMPLES} == SAMPLES
    finally:
        scripts._char_script.cache_clear()


# --- gettext --------------------------------------------------------------------------------------


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo file (little-endian, no hash table), as msgfmt writes it: sorted msgids."""
    keys = sorted(messages)
    ids = [key.encode() for key in keys]
    strs = [messages[key].encode() for key in keys]
    header_size = 7 * 4
    table = header_size + 16 * len(keys)  # two tables of (length, offset)
    data, id_entries, str_entries = b"", [], []
    for entries, strings in ((id_entries, ids), (str_entries, strs)):
        for string in strings:
            entries.append((len(string), table + len(data)))
            data += string + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, len(keys), header_size, header_size + 8 * len(keys), 0, 0)
    out += b"".join(struct.pack("<2I", *entry) for entry in id_entries + str_entries)
    path.parent.mkdir(parents=True)
    path.write_bytes(out + data)


def header(team: str) -> str:
    return f"Content-Type: text/plain; charset=UTF-8\nLanguage-Team: {team}\nPlural-Forms: nplurals=2; plural=(n != 1);\n"


@pytest.fixture()
def locale_dir(tmp_path) -> Path:
    write_mo(tmp_path / "de" / "LC_MESSAGES" / "demo.mo", {
        "": header("German <de@example.org>"),
        "missing operand": "fehlender Operand",
        "%d file\0%d files": "%d Datei\0%d Dateien",  # plural: the singular forms count
        "menu\x04Open": "Öffnen",  # with a context
        "Written by %s.": "Geschrieben von %s.",
    })
    write_mo(tmp_path / "fr" / "LC_MESSAGES" / "demo.mo", {
        "": header("French <fr@example.org>"),
        "missing operand": "opérande manquant",
        "An obsolete message": "Un message obsolète",  # from an older template: not in de
    })
    return tmp_path


def sha(msgid: str) -> str:
    return hashlib.sha1(msgid.encode()).hexdigest()[:16]


def test_gettext_from_a_handwritten_catalog(locale_dir):
    corpus = load_gettext("demo", locale_dir)
    assert corpus.name == "gettext:demo" and corpus.reference == "en"
    # Coverage is against the most complete catalog (de, 4 messages): de 4/4, fr 2/4 (not 4/5, 2/5 of all msgids).
    assert list(corpus.segments) == ["en", "de"]
    assert list(load_gettext("demo", locale_dir, min_coverage=1.0).segments) == ["en", "de"]
    assert list(load_gettext("demo", locale_dir, min_coverage=0.5).segments) == ["en", "de", "fr"]
    assert corpus.names == {"en": "English", "de": "German"}
    msgids = ["%d file", "An obsolete message", "Written by %s.", "menu\x04Open", "missing operand"]  # sorted, no header
    english = ["%d file", "An obsolete message", "Written by %s.", "Open", "missing operand"]
    assert corpus.segments["en"] == {sha(m): text for m, text in zip(msgids, english)}
    german = {0: "%d Datei", 2: "Geschrieben von %s.", 3: "Öffnen", 4: "fehlender Operand"}
    assert corpus.segments["de"] == {sha(msgids[i]): text for i, text in german.items()}
    # Words: en 2 + 3 + 1 + 2 = 8; de 2 + 3 + 1 + 2 = 8.
    assert token_premiums(words, corpus).row("de").premium == 1.0
    every = load_gettext("demo", locale_dir, min_coverage=0.5, reference="de")
    assert list(every.segments) == ["en", "de", "fr"] and every.reference == "de"
    fr = token_premiums(words, every).row("fr")  # against de: only "missing operand" is shared
    assert (fr.tokens, fr.reference_tokens, fr.segments) == (2, 2, 1)
    fr = token_premiums(words, every, reference="en").row("fr")
    assert (fr.tokens, fr.reference_tokens, fr.segments) == (2 + 3, 2 + 3, 2)


def test_gettext_errors(locale_dir):
    with pytest.raises(InputFileError, match="no nothing.mo catalog"):
        load_gettext("nothing", locale_dir)
    with pytest.raises(TokfreeError, match="reference 'fr' is not among"):
        load_gettext("demo", locale_dir, reference="fr")
    with pytest.raises(TokfreeError, match="min_coverage=1.5"):
        load_gettext("demo", locale_dir, min_coverage=1.5)
    bad = locale_dir / "xx" / "LC_MESSAGES" / "demo.mo"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a catalog")
    with pytest.warns(UserWarning, match="skipping the gettext catalog .*xx"):
        assert list(load_gettext("demo", locale_dir).segments) == ["en", "de"]
    (locale_dir / "de" / "LC_MESSAGES" / "demo.mo").unlink()
    (locale_dir / "fr" / "LC_MESSAGES" / "demo.mo").unlink()
    with pytest.warns(UserWarning), pytest.raises(InputFileError, match="none of the 1 demo.mo catalog"):
        load_gettext("demo", locale_dir)


def test_committed_coreutils_corpus():
    corpus = load_parallel_jsonl(COREUTILS_PATH)
    assert corpus.name == "coreutils" and corpus.reference == "en"
    assert sorted(corpus.segments) == ["de", "en", "et", "fr", "hr", "ko", "tr", "uk", "zh_CN"]
    english = corpus.segments["en"]
    assert len(english) == 1826 and all(segment_id == sha(text) for segment_id, text in english.items())
    assert all(segments.keys() == english.keys() for segments in corpus.segments.values())  # fully translated
    assert corpus.segments["de"][sha("missing operand")] == "fehlender Operand"
    assert corpus.segments["fr"][sha("Written by %s.\n")] == "Écrit par %s.\n"
    if Path("/usr/share/locale/de/LC_MESSAGES/coreutils.mo").exists():  # the build, repeated
        live = load_gettext("coreutils", min_coverage=1.0)
        if live.segments["en"].keys() == english.keys():  # the same coreutils version
            assert live.segments == corpus.segments


# --- generic JSON Lines ---------------------------------------------------------------------------


def test_parallel_jsonl_round_trip(tmp_path, toy):
    path = tmp_path / "toy.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for code in ["fra", "eng", "deu"]:
            out.write(json.dumps({"language": code, "name": toy.names[code], "segments": toy.segments[code], "extra": 1}) + "\n\n")
    corpus = load_parallel_jsonl(path)
    assert (corpus.name, corpus.reference, list(corpus.segments)) == ("toy", "fra", ["fra", "eng", "deu"])
    assert token_premiums(words, corpus, reference="eng").row("deu").premium == pytest.approx(5 / 3)


@pytest.mark.parametrize(("lines", "error", "message"), [
    (['{"language": "en", "segments": {"a": "x"}}', "{oops"], InputFileError, "line 2 is not valid JSON"),
    (['["en"]'], InputFileError, "line 1 is a JSON list, not an object"),
    (['{"segments": {"a": "x"}}'], InputFileError, "line 1 has no 'language'"),
    (['{"language": "en", "segments": ["x"]}'], InputFileError, "'segments' must be an object"),
    (['{"language": "en", "segments": {"a": 1}}'], InputFileError, "'segments' must be an object"),
    (['{"language": "en", "name": 3, "segments": {}}'], InputFileError, "'name' must be a string"),
    (['{"language": "en", "segments": {}}', '{"language": "en", "segments": {}}'], InputFileError, "repeats language 'en'"),
    ([""], EmptyCorpusError, "holds no language"),
])
def test_parallel_jsonl_errors(tmp_path, lines, error, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(error, match=message):
        load_parallel_jsonl(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(InputFileError, match="check the path"):
        load_parallel_jsonl(tmp_path / "missing.jsonl")
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_text('{"language": "en"}')  # not gzipped
    with pytest.raises(InputFileError, match="must be gzipped"):
        load_parallel_jsonl(fake)
    with pytest.raises(InputFileError, match="not found"):
        load_udhr(tmp_path / "udhr.jsonl.gz")
    with pytest.raises(InputFileError, match="not a UDHR record"):
        load_udhr(ROOT / "data" / "_parity" / "coreutils.jsonl.gz")


def test_premium_errors(toy):
    with pytest.raises(TokfreeError, match="reference language 'spa' is not in the parallel corpus 'toy'"):
        token_premiums(words, toy, reference="spa")
    with pytest.raises(TokfreeError, match="'spa' not in the parallel corpus"):
        token_premiums(words, toy, languages=["fra", "spa"])
    lonely = ParallelCorpus("lonely", {"eng": {"a": "x"}, "fra": {"b": "y"}}, {}, "eng")
    with pytest.raises(TokfreeError, match="language 'fra' of 'lonely' shares no segment id with the reference 'eng'"):
        token_premiums(words, lonely)
    with pytest.raises(EmptyCorpusError, match="no language to compare"):
        token_premiums(words, ParallelCorpus("one", {"eng": {"a": "x"}}, {}, "eng"))
    with pytest.raises(EmptyCorpusError, match="has no languages"):
        ParallelCorpus("none", {}, {}, "eng")
    with pytest.raises(TokfreeError, match="reference language 'eng' is not in"):
        ParallelCorpus("x", {"fra": {"a": "y"}}, {}, "eng")
    silent = ParallelCorpus("silent", {"eng": {"a": ""}, "fra": {"a": "y"}}, {}, "eng")
    with pytest.raises(TokfreeError, match="no tokens on the 1 segment"):
        token_premiums(words, silent)


# --- command line ---------------------------------------------------------------------------------


def test_cli_prints_the_table_and_writes_a_png(tmp_path, capsys, gpt2, toy):
    from tokfree.cli import main

    gpt2.save(tmp_path / "gpt2.json")
    corpus = tmp_path / "toy.jsonl"
    corpus.write_text("".join(json.dumps({"language": code, "segments": toy.segments[code]}) + "\n" for code in toy.segments))
    plot = tmp_path / "premiums.png"
    assert main(["premiums", "--tokenizer", str(tmp_path / "gpt2.json"), "--corpus", str(corpus), "--plot", str(plot), "--quiet"]) == 0
    out = capsys.readouterr().out
    expected = token_premiums(gpt2, load_parallel_jsonl(corpus))
    assert expected.to_markdown() in out and f"wrote {plot}" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["premiums", "--tokenizer", str(tmp_path / "gpt2.json"), "--corpus", "gettext", "--top", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n| ") == 3 and "- languages: 8 (the reference en excluded)" in out  # header + 2 rows

    assert main(["premiums", "--tokenizer", str(tmp_path / "gpt2.json"), "--reference", "xx", "--quiet"]) == 2
    assert "reference language 'xx' is not in the parallel corpus 'udhr'" in capsys.readouterr().err
    assert main(["premiums", "--tokenizer", str(tmp_path / "gpt2.json"), "--corpus", "nonsense", "--quiet"]) == 2
    assert "--corpus 'nonsense' is not a parallel corpus" in capsys.readouterr().err
