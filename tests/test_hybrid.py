"""The hybrid morphological tokenizer (lexicon + allomorph ids + case/whitespace markers + BPE
fallback) and MorphBPE, checked against hand-derived expectations on the bundled Turkish data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokfree.errors import InputFileError, TokenizerFileError, TokfreeError
from tokfree.models.hybrid import HybridTokenizer
from tokfree.models.morph import Morph, MorphLexicon, expand_template, load_language
from tokfree.trainers.bpe import train_bpe
from tokfree.trainers.morph import morph_pieces, train_hybrid, train_morph_bpe

ROOT = Path(__file__).resolve().parent.parent
TURKISH = ROOT / "data" / "morph" / "turkish"
# The gold treebank moved out of the language folder (it is evaluation data, not a language file).
TREEBANK = ROOT / "data" / "_morph" / "turkish_treebank.jsonl.gz"
# Written by hand from docs (language.json): A = a|e, I = ı|i|u|ü, D = d|t, K = k|ğ.
ARCHIPHONEMES = {"A": "ae", "I": "ıiuü", "D": "dt", "C": "cç", "K": "kğ", "G": "gk"}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    assert TREEBANK.exists(), "Turkish treebank not found (data/_morph/turkish_treebank.jsonl.gz)"
    with gzip.open(TREEBANK, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


@pytest.fixture(scope="module")
def train_texts(records) -> list[str]:
    return [r["text"] for r in records if r["split"] == "train"]


@pytest.fixture(scope="module")
def heldout_texts(records) -> list[str]:
    texts = [r["text"] for r in records if r["split"] == "heldout"]
    assert len(texts) > 100
    return texts


@pytest.fixture(scope="module")
def turkish():
    return load_language(TURKISH)


@pytest.fixture(scope="module")
def tok(train_texts, turkish) -> HybridTokenizer:
    # A list is read as file paths (train_bpe's convention): in-memory texts go in as an iterator.
    return train_hybrid(iter(train_texts), turkish, bpe_vocab_size=2000, show_progress=False)


@pytest.fixture(scope="module")
def no_rules(tok) -> HybridTokenizer:
    return HybridTokenizer(tok.language, tok.lexicon, tok.fallback, rules={}, special_tokens=list(tok.special_tokens))


def _kinds(tok: HybridTokenizer, ids: list[int]) -> list[str]:
    return [tok.token_kind(i) for i in ids]


def _count_kind(tok: HybridTokenizer, texts: list[str], kind: str) -> int:
    return sum(tok.token_kind(i) == kind for text in texts for i in tok.encode(text))


# --- 1. expand_template ------------------------------------------------------------------------


def test_expand_template_optional_and_harmony():
    assert expand_template("(y)lA", ARCHIPHONEMES) == ["yla", "yle", "la", "le"]  # the documented order
    assert set(expand_template("lAr", ARCHIPHONEMES)) == {"lar", "ler"}
    assert set(expand_template("DA", ARCHIPHONEMES)) == {"da", "de", "ta", "te"}
    assert set(expand_template("(n)In", ARCHIPHONEMES)) == {"nın", "nin", "nun", "nün", "ın", "in", "un", "ün"}
    assert expand_template("ki", ARCHIPHONEMES) == ["ki"]


def test_expand_template_same_letter_takes_one_value():
    forms = expand_template("(y)AcAK", ARCHIPHONEMES)
    assert {"yacak", "ecek", "acağ"} <= set(forms)
    assert "acek" not in forms and "yecak" not in forms
    # {y, -} x A in {a, e} (both A's agree) x K in {k, ğ}
    assert set(forms) == {"yacak", "yacağ", "yecek", "yeceğ", "acak", "acağ", "ecek", "eceğ"}
    assert len(forms) == len(set(forms)) == 8


def test_loaded_suffix_classes_match_templates(turkish):
    language, lexicon = turkish
    assert language.archiphonemes == ARCHIPHONEMES
    suffix_forms = [set(forms) for kind, forms in lexicon.classes if kind == "suffix"]
    assert {"lar", "ler"} in suffix_forms  # PL lAr
    assert {"yla", "yle", "la", "le"} in suffix_forms  # INS (y)lA


# --- 2. MorphLexicon.segment -------------------------------------------------------------------

TINY_ROOTS = [["ev"], ["kitap", "kitab"]]
TINY_SUFFIXES = [["lar", "ler"], ["da", "de", "ta", "te"], ["ı", "i", "u", "ü"]]
EV, KITAP, PL, LOC, ACC = range(5)  # class indices: roots first, then suffixes, in order


@pytest.fixture(scope="module")
def tiny() -> MorphLexicon:
    return MorphLexicon(TINY_ROOTS, TINY_SUFFIXES)


def test_segment_root_and_suffix_chain(tiny):
    assert tiny.segment("evlerde") == [Morph("root", "ev", EV), Morph("suffix", "ler", PL), Morph("suffix", "de", LOC)]
    assert tiny.segment("kitabı") == [Morph("root", "kitab", KITAP), Morph("suffix", "ı", ACC)]
    assert tiny.segment("kitaplarda") == [Morph("root", "kitap", KITAP), Morph("suffix", "lar", PL), Morph("suffix", "da", LOC)]
    assert tiny.segment("ev") == [Morph("root", "ev", EV)]
    assert len(tiny) == 5


def test_segment_unknown_word_is_one_rest(tiny):
    assert tiny.segment("xyz") == [Morph("rest", "xyz")]
    assert tiny.segment("zqwvbn") == [Morph("rest", "zqwvbn")]
    # no root, but the word ends in a suffix chain after >= 2 characters
    assert tiny.segment("masada") == [Morph("rest", "masa"), Morph("suffix", "da", LOC)]
    # a root followed by something that is no suffix chain
    assert tiny.segment("evxyz") == [Morph("root", "ev", EV), Morph("rest", "xyz")]


def test_segment_prefers_longest_root_with_suffix_chain():
    lexicon = MorphLexicon([["ev"], ["evle"]], [["ler", "lar"], ["de", "da"], ["r"]])
    # both ev|ler|de and evle|r|de are analyses: the longer root wins
    assert [m.text for m in lexicon.segment("evlerde")] == ["evle", "r", "de"]
    assert lexicon.segment("evlerde")[0] == Morph("root", "evle", 1)
    # without the "r" suffix the longest root leaves no chain, so the shorter root is used
    lexicon = MorphLexicon([["ev"], ["evle"]], [["ler", "lar"], ["de", "da"]])
    assert [m.text for m in lexicon.segment("evlerde")] == ["ev", "ler", "de"]


def test_segment_class_with_prefix_forms():
    # regression: the Python segmenter of b95283b re-picked the longest form of each chain class
    # ("ab" instead of "a") and raised StopIteration on this word
    lexicon = MorphLexicon([["x"]], [["a", "ab"], ["bc"]])
    assert lexicon.segment("xabc") == [Morph("root", "x", 0), Morph("suffix", "a", 1), Morph("suffix", "bc", 2)]
    assert lexicon.segment("xab") == [Morph("root", "x", 0), Morph("suffix", "ab", 1)]
    assert lexicon.segment("") == []


def test_segment_concatenates_to_word(turkish, records):
    _, lexicon = turkish
    words = {w for r in records[:400] for w, _, _ in r["words"]}
    for word in words:
        assert "".join(m.text for m in lexicon.segment(word)) == word


# --- 3. shared ids -----------------------------------------------------------------------------


def test_allomorphs_share_ids(tok):
    evler, kitaplar = tok.encode("evler"), tok.encode("kitaplar")
    assert _kinds(tok, evler) == ["root", "suffix"]
    assert _kinds(tok, kitaplar) == ["root", "suffix"]
    assert evler[-1] == kitaplar[-1]  # ler and lar: one id
    assert {"lar", "ler"} <= set(tok.token_forms(evler[-1]))
    assert evler[0] != kitaplar[0]

    kitap = tok.encode("kitap")
    kitabi = tok.encode("kitabı")
    assert len(kitap) == 1 and tok.token_kind(kitap[0]) == "root"
    roots = [i for i in kitabi if tok.token_kind(i) == "root"]
    assert roots == kitap  # kitap and kitab: one id
    assert set(tok.token_forms(kitap[0])) >= {"kitap", "kitab"}
    assert tok.token_forms(kitap[0])[0] == "kitap"  # canonical first
    assert kitaplar[0] == kitap[0]


def test_regular_harmony_needs_no_variant_tokens(tok):
    # the fitted rule must pick lar/ler and da/de from vowel harmony on its own
    for word in ("evler", "kitaplar", "evlerde", "kitaplarda"):
        ids = tok.encode(word)
        assert "variant" not in _kinds(tok, ids), word
        assert tok.decode(ids) == word


# --- 4. exact round trip -----------------------------------------------------------------------

HARD = [
    "",
    "Kitabı",
    "İstanbul'da",
    "Kitabı İstanbul'da okudum.",
    "YouTube",
    "NASA",
    "HTMLParser",
    "iPhone",
    "IPHONE'u",
    "ǅ",
    "ǅemal ǄEMAL ǆemal",
    "ß",
    "ẞ",
    "STRAẞE Straße",
    "\u212a",
    "\u212aelvin",
    "e\u0301",
    "E\u0301V\u0301",
    "漢字かなカナ",
    "中文 English Türkçe",
    "😀👍🏽👨‍👩‍👧",
    "\r\n",
    "a\r\nb\n\n\tc",
    "\u00a0",
    "a\u00a0b",
    "a   b",
    "     ",
    "\t\t\n",
    "I ı İ i",
    "IıİiIİ",
    "ÇĞİÖŞÜ çğıöşü",
    "Ⅷ ⅷ ² ½",
    "ΣΑΣ σας",
    "ﬁ ŉ ΐ",
    "<pad><eos><uppercase><allcaps><variant:0>",
    "evler\x00kitap\x7f\u200b\ufeff",
    "\U0010ffff\ue000",
]


def test_roundtrip_heldout(tok, heldout_texts):
    for text in heldout_texts:
        assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("text", HARD)
def test_roundtrip_hard_strings(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")
    assert all(0 <= i < tok.vocab_size for i in ids)


TURKISH_ALPHABET = "abcçdefgğhıijklmnoöprsştuüvyzABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZ 0123456789'"
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(text=st.text(st.characters(blacklist_categories=("Cs",))))
def test_roundtrip_any_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


@FAST
@given(text=st.text(alphabet=TURKISH_ALPHABET, max_size=80))
def test_roundtrip_turkish_alphabet(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert sum(tok.token_kind(i) == "whitespace" for i in ids) == text.count(" ")


# --- 5. case and whitespace markers ------------------------------------------------------------


def test_case_markers(tok):
    assert tok.id_to_token(tok.uppercase_id) == b"<uppercase>"
    assert tok.id_to_token(tok.allcaps_id) == b"<allcaps>"
    assert tok.token_kind(tok.uppercase_id) == tok.token_kind(tok.allcaps_id) == "marker"

    assert tok.encode("Ev") == [tok.uppercase_id, *tok.encode("ev")]
    assert tok.encode("EV") == [tok.allcaps_id, *tok.encode("ev")]
    assert tok.encode("EVLER") == [tok.allcaps_id, *tok.encode("evler")]
    assert tok.encode("Evler ev") == [tok.uppercase_id, *tok.encode("evler ev")]
    assert tok.decode(tok.encode("EV")) == "EV"


def test_turkish_dotted_and_dotless_capitals(tok):
    # Turkish lowercasing: İ -> i, I -> ı (str.lower would give "i̇" and "i")
    ids = tok.encode("İstanbul")
    assert ids == [tok.uppercase_id, *tok.encode("istanbul")]
    assert tok.decode(ids) == "İstanbul" and tok.decode(ids)[0] == "\u0130"
    ids = tok.encode("Istanbul")
    assert ids == [tok.uppercase_id, *tok.encode("ıstanbul")]
    assert tok.decode(ids) == "Istanbul"
    assert tok.encode("ISPARTA") == [tok.allcaps_id, *tok.encode("ısparta")]
    assert tok.encode("İZMİR") == [tok.allcaps_id, *tok.encode("izmir")]
    assert tok.decode(tok.encode("İZMİR")) == "İZMİR"


def test_mixed_case_runs_split_at_case_changes(tok):
    # "YouTube" -> You|Tube, "HTMLParser" -> HTML|Parser, "iPhone" -> i|Phone
    assert tok.encode("YouTube") == [tok.uppercase_id, *tok.encode("you"), tok.uppercase_id, *tok.encode("tube")]
    assert tok.encode("HTMLParser") == [tok.allcaps_id, *tok.encode("html"), tok.uppercase_id, *tok.encode("parser")]
    assert tok.encode("iPhone") == [*tok.encode("i"), tok.uppercase_id, *tok.encode("phone")]


def test_whitespace_tokens(tok, heldout_texts):
    names = {" ": b" ", "\n": b"\n", "\t": b"\t"}
    for char, surface in names.items():
        ids = tok.encode(char)
        assert len(ids) == 1 and tok.token_kind(ids[0]) == "whitespace" and tok.id_to_token(ids[0]) == surface
    texts = [*heldout_texts[:200], *HARD, "a \n\tb  \r\n\u00a0\u2003c"]
    for text in texts:
        ids = tok.encode(text)
        assert sum(tok.token_kind(i) == "whitespace" for i in ids) == sum(text.count(c) for c in " \n\t"), text
    # NBSP, em space and CR are not whitespace tokens
    for text in ("\u00a0", "\u2003", "\r"):
        assert "whitespace" not in _kinds(tok, tok.encode(text))


# --- 6. variant tokens and the fitted rule -----------------------------------------------------


def test_no_rules_uses_variant_for_every_noncanonical_form(no_rules, tok):
    lexicon = tok.lexicon
    base = no_rules.class_base
    variant = lambda k: no_rules.variant_base + k  # noqa: E731
    assert no_rules.id_to_token(variant(1)) == b"<variant:1>"
    assert no_rules.token_kind(variant(1)) == "variant"
    ev, kitap = base + lexicon.root_of["ev"], base + lexicon.root_of["kitap"]
    pl = base + lexicon.suffix_of["lar"]
    assert lexicon.suffix_of["ler"] == lexicon.suffix_of["lar"]
    # PL forms are lar, ler (lAr expands a before e): ler is form 1, lar the default form 0
    assert no_rules.encode("evler") == [ev, variant(1), pl]
    assert no_rules.encode("kitaplar") == [kitap, pl]
    # kitab is form 1 of kitap; "ı" is form 4 of P3SG (s)I = sı si su sü ı i u ü
    p3sg = lexicon.classes[lexicon.suffix_of["ı"]][1]
    assert p3sg.index("ı") == 4
    assert no_rules.encode("kitabı") == [variant(1), kitap, variant(4), base + lexicon.suffix_of["ı"]]
    for word in ("evler", "kitaplar", "kitabı"):
        assert no_rules.decode(no_rules.encode(word)) == word


def test_no_rules_roundtrip_and_fitted_rule_saves_variants(tok, no_rules, heldout_texts):
    for text in heldout_texts:
        assert no_rules.decode(no_rules.encode(text)) == text
    without = _count_kind(no_rules, heldout_texts, "variant")
    with_rule = _count_kind(tok, heldout_texts, "variant")
    assert without > 0
    assert with_rule < without
    assert len(tok.rules) > 0 and no_rules.rules == {}


# --- 7. files and errors -----------------------------------------------------------------------


def test_save_load_identical(tok, heldout_texts, tmp_path):
    first, second, third = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    tok.save(first, format="tokfree")
    tok.save(second)
    assert first.read_bytes() == second.read_bytes()
    loaded = HybridTokenizer.from_file(first)
    assert isinstance(loaded, HybridTokenizer)
    assert loaded.vocab_size == tok.vocab_size
    assert loaded.rules == tok.rules
    for text in [*heldout_texts, *HARD]:
        ids = tok.encode(text)
        assert loaded.encode(text) == ids
        assert loaded.decode(ids) == text
    loaded.save(third, format="tokfree")
    assert third.read_bytes() == first.read_bytes()


@pytest.mark.parametrize("fmt", ["hf", "tiktoken"])
def test_save_other_format_refused(tok, tmp_path, fmt):
    path = tmp_path / "tok.json"
    with pytest.raises(TokfreeError, match="tokfree"):
        tok.save(path, format=fmt)
    assert not path.exists()


def test_from_file_rejects_non_hybrid(tok, tmp_path):
    plain = tmp_path / "plain.json"
    tok.fallback.save(plain, format="tokfree")
    with pytest.raises(TokenizerFileError):
        HybridTokenizer.from_file(plain)
    hf = tmp_path / "hf.json"
    tok.fallback.save(hf, format="hf")
    with pytest.raises(TokenizerFileError):
        HybridTokenizer.from_file(hf)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": [1, 2, 3]}), encoding="utf-8")
    with pytest.raises(TokenizerFileError):
        HybridTokenizer.from_file(other)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerFileError):
        HybridTokenizer.from_file(broken)
    with pytest.raises(InputFileError):  # as Tokenizer.from_file: a missing file is not a malformed one
        HybridTokenizer.from_file(tmp_path / "missing.json")


def test_bad_inputs_raise(tok):
    with pytest.raises(TokfreeError):
        tok.decode([tok.vocab_size])
    with pytest.raises(TokfreeError):
        tok.decode([*tok.encode("ev"), tok.vocab_size + 10])
    with pytest.raises(TokfreeError):
        tok.decode([-1])
    with pytest.raises(TokfreeError):
        tok.encode(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TokfreeError):
        tok.encode("\ud800")
    with pytest.raises(TokfreeError):
        tok.encode("ev\udc80ler")
    # a variant naming a form the class does not have (kitap has two forms: kitap, kitab)
    with pytest.raises(TokfreeError, match="variant"):
        tok.decode([tok.variant_base + 5, *tok.encode("kitap")])


def test_variant_before_single_form_class_raises(tok):
    ev = tok.encode("ev")
    assert len(tok.token_forms(ev[0])) == 1
    with pytest.raises(TokfreeError, match="variant"):
        tok.decode([tok.variant_base + 1, *ev])
    with pytest.raises(TokfreeError, match="variant"):
        tok.decode([*ev, tok.variant_base + 1])  # a trailing variant names nothing


# --- 8. MorphBPE: merges never cross a morph boundary ------------------------------------------


def _pieces_blob(texts, turkish) -> bytes:
    language, lexicon = turkish
    pieces = {piece for text in texts for piece in morph_pieces(text, language, lexicon, pre_tokenizer="gpt2")}
    assert all("\x00" not in piece for piece in pieces)
    return b"\x00".join(piece.encode("utf-8") for piece in sorted(pieces))


def _merged_tokens(tokenizer) -> list[bytes]:
    tokens = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    assert all(t is not None for t in tokens)
    return [t for t in tokens if len(t) > 1]


def test_morph_pieces_cut_at_boundaries(turkish):
    language, lexicon = turkish
    assert list(morph_pieces("evlerde", language, lexicon)) == ["ev", "ler", "de"]
    assert list(morph_pieces("Evlerde kitaplar", language, lexicon)) == ["ev", "ler", "de", "kitap", "lar"]
    # gpt2 pre-tokens keep case and the leading space on the first morph
    assert list(morph_pieces("Evlerde kitaplar", language, lexicon, pre_tokenizer="gpt2")) == ["Ev", "ler", "de", " kitap", "lar"]


def test_morph_bpe_vocab_stays_inside_morphs(train_texts, turkish):
    tokenizer = train_morph_bpe(iter(train_texts), turkish, 1500, show_progress=False)
    assert tokenizer.vocab_size == 1500
    blob = _pieces_blob(train_texts, turkish)
    merged = _merged_tokens(tokenizer)
    assert len(merged) > 1000
    crossing = [t for t in merged if b"\x00" in t or t not in blob]
    assert crossing == []
    text = "Kitabı İstanbul'da okudum."
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_plain_bpe_vocab_crosses_morphs(train_texts, turkish):
    # control: the oracle above can fail, since unconstrained BPE learns tokens such as "ler" + "in"
    tokenizer = train_bpe(iter(train_texts), 1500, pre_tokenizer="gpt2", show_progress=False)
    blob = _pieces_blob(train_texts, turkish)
    crossing = [t for t in _merged_tokens(tokenizer) if t not in blob]
    assert len(crossing) > 10
