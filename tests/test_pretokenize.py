"""Pre-tokenizer presets split exactly as the `regex` package does with the same patterns.

`regex` is the oracle, but its Unicode tables are newer than the ones tiktoken and HF use (ours
come from the Rust regex crate, as tiktoken's do). So the generated text keeps out the characters
whose membership in any class the presets use (\\p{L}, \\p{N}, \\p{M}, \\p{Lu}, ..., \\s) differs
between the two: each drawn character is checked once, by splitting `char + "\\0"` on the class
alone (a member comes out as its own piece, a non-member is left in the gap with the NUL).
"""

from __future__ import annotations

import functools
import time

import pytest
import regex
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tokfree import errors
from tokfree.pretokenize import PRESETS, split, split_spans

CLASSES = [r"\p{L}", r"\p{N}", r"\p{M}", r"\p{Lu}", r"\p{Ll}", r"\p{Lt}", r"\p{Lm}", r"\p{Lo}", r"\s"]
REGEX_PRESETS = [name for name, pattern in PRESETS.items() if pattern is not None]


@functools.lru_cache(maxsize=None)
def classes_agree(char: str) -> bool:
    for cls in CLASSES:
        ours = len(split(char + "\0", cls)) == 2
        theirs = regex.fullmatch(cls, char) is not None
        if ours != theirs:
            return False
    return True


# Weighted toward the hard cases: whitespace runs and mixes, contractions, ſ, digits, case changes,
# combining marks, CJK, RTL, emoji; plus any code point at all.
HARD = list(" \t\r\n\x0b\x0c\xa0\u2028\u3000\u1680'’sStTdDmMlLvVrReEſ0123456789/!?.,-_()aAzZéÉ\u0301\u0308中文ひカ한ʰǅ") + [
    "שלום", "مرحبا", "😀", "👍🏽", "𝔘", "ß", "İ", "ǈ", "Ⅻ", "٣", "x\u200dy",
]
pieces = st.one_of(st.sampled_from(HARD), st.characters(blacklist_categories=["Cs"]))
texts = st.lists(pieces, max_size=40).map("".join)


@pytest.mark.parametrize("preset", REGEX_PRESETS)
def test_presets_match_regex_oracle(preset):
    pattern = PRESETS[preset]

    @settings(max_examples=3000, deadline=None)
    @given(texts)
    def check(text):
        assume(all(classes_agree(char) for char in text))
        assert split(text, preset) == regex.findall(pattern, text)

    check()


def test_hand_derived_examples():
    assert split("Hello world!! 123", "gpt2") == ["Hello", " world", "!!", " 123"]
    assert split("12345 it's", "gpt4") == ["123", "45", " it", "'s"]
    assert split("I'M", "gpt2") == ["I", "'", "M"]  # gpt2 contractions are case-sensitive
    assert split("I'M", "gpt4") == ["I", "'M"]
    # tiktoken's cl100k and Llama 3 differ only on whitespace at the end of the text.
    assert split("\r\xa0", "gpt4") == ["\r\xa0"]
    assert split("\r\xa0", "llama3") == ["\r", "\xa0"]
    assert split("HelloWorld don't", "o200k") == ["Hello", "World", " don't"]
    assert split("a  b\n", "whitespace") == ["a", " ", " b", "\n"]
    assert split("a b", "none") == ["a b"] and split("", "none") == []


def test_spans_are_utf8_byte_offsets():
    text = "naïve café"
    spans = split_spans(text, "gpt2")
    assert spans == [(0, 6), (6, 12)]
    data = text.encode()
    assert [data[s:e].decode() for s, e in spans] == split(text, "gpt2")


def test_custom_regex_keeps_gaps_and_errors_clearly():
    assert split("ab12cd3", r"\d+") == ["ab", "12", "cd", "3"]
    with pytest.raises(errors.PatternError, match=r"\[z-a\]"):
        split("abc", "[z-a]")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_pathological_inputs_cover_the_text(preset):
    # One MiB of one character, of spaces (tiktoken overflows its stack here), of newlines.
    for text in ["a" * (1 << 20), " " * (1 << 20), " " * (1 << 20) + "x", "\n" * (1 << 20), "7" * (1 << 20)]:
        started = time.perf_counter()
        spans = split_spans(text, preset)
        assert time.perf_counter() - started < 20  # generous; the benchmark measures the real speed
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
