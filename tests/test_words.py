"""The word splitter (`tokfree.words`, HAT's rule): hand-derived cases, losslessness, the byte cap,
and agreement with the rule-by-rule reference in `tokfree._reference.words`.

The reference reads Unicode properties from the `regex` package, whose tables are newer than those
of the Rust crate `unicode-segmentation`; so the generated text for the agreement test keeps to
characters assigned in Python's `unicodedata` (Unicode 14), whose properties both agree on.
Losslessness and the cap are tested on any text at all.
"""

from __future__ import annotations

import unicodedata
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokfree._reference.words import split_words as reference_split
from tokfree.errors import TokfreeError
from tokfree.words import split_words, word_boundaries, word_boundaries_batch


def pieces(text: str, max_bytes: int | None = None) -> list[bytes]:
    bounds = word_boundaries(text, max_bytes=max_bytes)
    data = text.encode("utf-8")
    return [data[i:j] for i, j in pairwise(bounds)]


# --- HAT's own examples -------------------------------------------------------------------------


def test_hat_examples():
    assert split_words("Hello, world!") == ["Hello,", " world!"]
    assert split_words("howAreYou") == ["how", "Are", "You"]
    assert split_words("how_are_you") == ["how_", "are_", "you"]
    assert pieces("Hello, world!", 4) == [b"Hell", b"o,", b" wor", b"ld!"]
    assert split_words("Hello, world!", max_bytes=4) == ["Hell", "o,", " wor", "ld!"]
    assert word_boundaries("Hello, world!") == [0, 6, 13]


# --- Hand-derived cases (derivation in the comment) -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", []),
        # A newline is a word of its own; CR LF is one UAX #29 segment, so one word.
        ("one\ntwo", ["one", "\n", "two"]),
        ("one\r\ntwo", ["one", "\r\n", "two"]),
        # Each newline is its own segment (WB3a/3b break around newlines).
        ("a\n\nb", ["a", "\n", "\n", "b"]),
        # A tab is not a WSegSpace: every tab is its own segment, so its own word.
        ("a\tb", ["a", "\t", "b"]),
        ("a\t\tb", ["a", "\t", "\t", "b"]),
        # Several spaces are one segment (WB3d) and not a single space: a word of their own.
        ("a  b", ["a", "  ", "b"]),
        ("a   b", ["a", "   ", "b"]),
        # A space before a newline cannot join it: alone, then the newline.
        ("a \nb", ["a", " ", "\n", "b"]),
        # Leading and trailing spaces.
        (" a", [" a"]),
        ("a ", ["a", " "]),
        # Punctuation joins the word before it, including a leading space; an opening bracket starts one.
        ("(hi) there.", ["(", "hi)", " there."]),
        ("Wait... what?!", ["Wait...", " what?!"]),
        (" , x", [" ,", " x"]),
        # '=' and '+' are math symbols (Sm), not punctuation: ordinary pieces.
        ("x = y+1", ["x", " =", " y", "+", "1"]),
        # Digits: "3.14" is one segment (WB11/12) cut at the '.'; "1,000" likewise at the ','.
        ("pi 3.14", ["pi", " 3.", "14"]),
        ("1,000 km", ["1,", "000", " km"]),
        ("2024", ["2024"]),
        # Apostrophes are punctuation.
        ("don't", ["don'", "t"]),
        # camelCase: lower -> upper only; "HTTPServer" has no lower->upper pair before "Server"'s "e".
        ("parseJSONData", ["parse", "JSONData"]),
        ("HTTPServer", ["HTTPServer"]),
        ("iPhone", ["i", "Phone"]),
        # CJK ideographs are one segment each; Hiragana too; Katakana runs stay together (WB13).
        ("中文字", ["中", "文", "字"]),
        ("ひらがな", ["ひ", "ら", "が", "な"]),
        ("カタカナ", ["カタカナ"]),
        ("我爱你。", ["我", "爱", "你。"]),
        # Combining marks stay with their base (WB4).
        ("cafe\u0301 ok", ["cafe\u0301", " ok"]),
        ("e\u0301E\u0301", ["e\u0301E\u0301"]),  # the mark sits between the lower and the upper letter
        # Emoji: skin-tone modifiers and ZWJ sequences stay together; flags are pairs (WB15/16).
        ("👍🏽 ok", ["👍🏽", " ok"]),
        ("👨\u200d👩\u200d👧", ["👨\u200d👩\u200d👧"]),
        ("🇫🇷🇩🇪", ["🇫🇷", "🇩🇪"]),
        ("hi 😀!", ["hi", " 😀!"]),
        # A no-break space and an ideographic space are whitespace but not " ": words of their own.
        ("a\u00a0b", ["a", "\u00a0", "b"]),
        ("a\u3000b", ["a", "\u3000", "b"]),
        # Hebrew: the letters of a word are one segment (WB5); the comma joins the word before it.
        ("שלום, עולם", ["שלום,", " עולם"]),
    ],
)
def test_hand_derived(text, words):
    assert split_words(text) == words
    assert pieces(text) == [w.encode("utf-8") for w in words]


def test_cap_prefers_character_boundaries():
    assert pieces("für", 2) == [b"f", "ü".encode(), b"r"]  # 'ü' (2 bytes) is not cut
    assert pieces("😀", 2) == [b"\xf0\x9f", b"\x98\x80"]  # one 4-byte character, cap 2: cut inside
    # One word (the mark joins the emoji): after the inner cut, the next piece fills up to the cap.
    assert pieces("😀\u0301", 3) == [b"\xf0\x9f\x98", b"\x80\xcc\x81"]
    assert pieces("abcdef", 1) == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert pieces("abc def", 3) == [b"abc", b" de", b"f"]
    assert split_words("中文 字字字字", max_bytes=4) == ["中", "文", " 字", "字", "字", "字"]
    assert split_words(" ééé", max_bytes=4) == [" é", "éé"]


def test_batch_equals_single_calls():
    texts = ["Hello, world!", "", "howAreYou\n\n", "日本語のテキスト", "a" * 100]
    expected = [word_boundaries(t, max_bytes=8) for t in texts]
    for threads in (None, 1, 2):
        assert word_boundaries_batch(texts, max_bytes=8, num_threads=threads) == expected
    assert word_boundaries_batch(tuple(texts)) == [word_boundaries(t) for t in texts]
    assert word_boundaries_batch([]) == []


def test_long_inputs():
    # 1 MiB of one letter, of spaces, of punctuation, of alternating case: linear and capped.
    for unit in ["a", " ", ".", "aB", "\n", "😀"]:
        text = unit * ((1 << 20) // len(unit.encode()))
        bounds = word_boundaries(text, max_bytes=32)
        assert bounds[-1] == len(text.encode())
        assert max(j - i for i, j in pairwise(bounds)) <= 32


# --- Errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_bad_max_bytes(bad):
    with pytest.raises(TokfreeError, match="max_bytes"):
        word_boundaries("abc", max_bytes=bad)
    with pytest.raises(TokfreeError, match="max_bytes"):
        word_boundaries_batch(["abc"], max_bytes=bad)


def test_split_words_needs_whole_characters():
    with pytest.raises(TokfreeError, match=r"max_bytes=3 .*whole characters.*word_boundaries"):
        split_words("abc", max_bytes=3)
    assert word_boundaries("abc", max_bytes=3) == [0, 3]


def test_bad_text():
    with pytest.raises(TokfreeError, match="must be str, got bytes"):
        word_boundaries(b"abc")  # type: ignore[arg-type]
    with pytest.raises(TokfreeError, match="must be str, got int"):
        split_words(3)  # type: ignore[arg-type]
    with pytest.raises(TokfreeError, match="lone surrogate U\\+D800"):
        word_boundaries("a\ud800b")
    with pytest.raises(TokfreeError, match="#1 must be str"):
        word_boundaries_batch(["ok", None])  # type: ignore[list-item]
    with pytest.raises(TokfreeError, match="single str"):
        word_boundaries_batch("abc")
    with pytest.raises(TokfreeError, match="num_threads"):
        word_boundaries_batch(["abc"], num_threads=0)


# --- Properties -----------------------------------------------------------------------------------

HARD = list(" \t\r\n\x0b\x0c\x85\u2028\u00a0\u3000.,;:!?'\"-_()[]/=+$@#&*aAzZbBéÉ\u0301\u0308ſß0123456789中文ひカ")
HARD += ["  ", "😀", "👍🏽", "\u200d", "🇫", "🇷", "שלום", "مرحبا", "x\u200dy", "camelCase", "snake_case", "HTTPServer"]
any_text = st.lists(st.one_of(st.sampled_from(HARD), st.characters(blacklist_categories=["Cs"])), max_size=40).map("".join)


def _assigned_in_unicode_14(char: str) -> bool:
    return unicodedata.category(char) != "Cn"


stable_text = st.lists(
    st.one_of(st.sampled_from(HARD), st.characters(blacklist_categories=["Cs", "Cn"]).filter(_assigned_in_unicode_14)),
    max_size=40,
).map("".join)
caps = st.one_of(st.none(), st.integers(min_value=1, max_value=40))


@settings(max_examples=1500, deadline=None)
@given(any_text, caps)
def test_lossless_and_capped(text, max_bytes):
    bounds = word_boundaries(text, max_bytes=max_bytes)
    data = text.encode("utf-8")
    assert bounds[0] == 0 and bounds[-1] == len(data)
    words = [data[i:j] for i, j in pairwise(bounds)]
    assert b"".join(words) == data
    assert all(words), "every word is non-empty"
    if max_bytes is not None:
        assert all(len(w) <= max_bytes for w in words)
        # The cap only adds cuts: every uncapped boundary is still a boundary.
        assert set(word_boundaries(text)) <= set(bounds)
    if max_bytes is None or max_bytes >= 4:
        assert "".join(split_words(text, max_bytes=max_bytes)) == text


@settings(max_examples=1500, deadline=None)
@given(stable_text, caps)
def test_matches_reference(text, max_bytes):
    assert pieces(text, max_bytes) == reference_split(text, max_bytes)


@settings(max_examples=500, deadline=None)
@given(any_text)
def test_each_word_splits_to_itself(text):
    # A finished word, split again alone, is one word (a hierarchical model re-encodes it so).
    for word in split_words(text):
        assert split_words(word) == [word]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # UAX #29 keeps "_\u200da" one segment (WB4 attaches the ZWJ to "_", WB13b joins "a"). The
        # ZWJ must stay with "_": a word "\u200da" would split again as "\u200d" | "a".
        ("_\u200da", ["_\u200d", "a"]),
        ("a.\u0301b", ["a.\u0301", "b"]),  # an accent after a mid-word full stop
        ("x,\u00ady", ["x,\u00ad", "y"]),  # a soft hyphen (Format) after a comma
    ],
)
def test_marks_after_punctuation_stay_with_it(text, expected):
    assert split_words(text) == expected
    assert [w.decode() for w in reference_split(text)] == expected
    for word in expected:
        assert split_words(word) == [word]
