"""Reference word splitter (HAT's rule, see `tokfree.words`), stage by stage on lists of strings.

UAX #29 word boundaries are written out rule by rule (WB1-WB999) over the Word_Break property that
the `regex` package (a test dependency) exposes, so this is independent of the Rust crate
`unicode-segmentation`. (`regex`'s own ``(?w)\\b`` is not a usable oracle: it keeps a lone
regional indicator or a leading combining mark with the next character.)
"""

from __future__ import annotations

import functools

import regex

_CLASSES = [
    "CR", "LF", "Newline", "Extend", "ZWJ", "Regional_Indicator", "Format", "Katakana", "Hebrew_Letter",
    "ALetter", "Single_Quote", "Double_Quote", "MidNumLet", "MidLetter", "MidNum", "Numeric", "ExtendNumLet",
    "WSegSpace",
]  # fmt: skip
_PATTERNS = [(name, regex.compile(rf"\p{{Word_Break={name}}}")) for name in _CLASSES]
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_NEWLINES = {"CR", "LF", "Newline"}
_IGNORED = {"Extend", "Format", "ZWJ"}
_AH = {"ALetter", "Hebrew_Letter"}
_MIDNUMLETQ = {"MidNumLet", "Single_Quote"}


@functools.cache
def _word_break(char: str) -> str:
    return next((name for name, pattern in _PATTERNS if pattern.match(char)), "Other")


def _keeps_together(a2: str | None, a: str, b: str, b2: str | None, ri_run: int) -> bool:
    """WB5-WB16 between effective characters of classes `a` | `b` (a2 before a, b2 after b)."""
    return (
        (a in _AH and b in _AH)  # WB5
        or (a in _AH and b in {"MidLetter"} | _MIDNUMLETQ and b2 in _AH)  # WB6
        or (a2 in _AH and a in {"MidLetter"} | _MIDNUMLETQ and b in _AH)  # WB7
        or (a == "Hebrew_Letter" and b == "Single_Quote")  # WB7a
        or (a == "Hebrew_Letter" and b == "Double_Quote" and b2 == "Hebrew_Letter")  # WB7b
        or (a2 == "Hebrew_Letter" and a == "Double_Quote" and b == "Hebrew_Letter")  # WB7c
        or (a == "Numeric" and b == "Numeric")  # WB8
        or (a in _AH and b == "Numeric")  # WB9
        or (a == "Numeric" and b in _AH)  # WB10
        or (a2 == "Numeric" and a in {"MidNum"} | _MIDNUMLETQ and b == "Numeric")  # WB11
        or (a == "Numeric" and b in {"MidNum"} | _MIDNUMLETQ and b2 == "Numeric")  # WB12
        or (a == "Katakana" and b == "Katakana")  # WB13
        or (a in _AH | {"Numeric", "Katakana", "ExtendNumLet"} and b == "ExtendNumLet")  # WB13a
        or (a == "ExtendNumLet" and b in _AH | {"Numeric", "Katakana"})  # WB13b
        or (a == "Regional_Indicator" and b == "Regional_Indicator" and ri_run % 2 == 1)  # WB15, WB16
    )


def uax29_segments(text: str) -> list[str]:
    """`text` cut at its UAX #29 word boundaries."""
    wb = [_word_break(c) for c in text]
    n = len(text)
    # WB4: an Extend/Format/ZWJ joins the character before it, unless that is a newline (or sot).
    absorbed = [wb[i] in _IGNORED and i > 0 and wb[i - 1] not in _NEWLINES for i in range(n)]
    effective = [i for i in range(n) if not absorbed[i]]
    rank = {i: k for k, i in enumerate(effective)}
    starts = [0] if text else []
    for i in range(1, n):
        if wb[i - 1] == "CR" and wb[i] == "LF":  # WB3
            continue
        if wb[i - 1] in _NEWLINES or wb[i] in _NEWLINES:  # WB3a, WB3b
            starts.append(i)
            continue
        if wb[i - 1] == "ZWJ" and _PICTOGRAPHIC.match(text[i]):  # WB3c
            continue
        if wb[i - 1] == "WSegSpace" and wb[i] == "WSegSpace":  # WB3d
            continue
        if absorbed[i]:  # WB4
            continue
        k = rank[i]
        a, b = wb[effective[k - 1]], wb[i]
        a2 = wb[effective[k - 2]] if k >= 2 else None
        b2 = wb[effective[k + 1]] if k + 1 < len(effective) else None
        ri_run = 0
        while k - 1 - ri_run >= 0 and wb[effective[k - 1 - ri_run]] == "Regional_Indicator":
            ri_run += 1
        if not _keeps_together(a2, a, b, b2, ri_run):
            starts.append(i)  # WB999
    return [text[i:j] for i, j in zip(starts, starts[1:] + [n])]


# A punctuation piece keeps the Extend/Format/ZWJ characters after it (WB4 attaches them to it).
_PUNCTUATION = regex.compile(r"(\p{P}[\p{Word_Break=Extend}\p{Word_Break=Format}\p{Word_Break=ZWJ}]*)")
_CAMEL = regex.compile(r"(?<=\p{Ll})(?=\p{Lu})")
_WHITESPACE = regex.compile(r"\p{White_Space}+")


def _kind(piece: str) -> str:
    if piece == " ":
        return "space"
    if _WHITESPACE.fullmatch(piece):
        return "whitespace"
    if _PUNCTUATION.fullmatch(piece):
        return "punctuation"
    return "other"


def split_words(text: str, max_bytes: int | None = None) -> list[bytes]:
    """The words of `text` as bytes, each at most `max_bytes` long (see `tokfree.words`)."""
    pieces = uax29_segments(text)
    pieces = [p for piece in pieces for p in _PUNCTUATION.split(piece) if p]
    pieces = [p for piece in pieces for p in _CAMEL.split(piece) if p]
    merged: list[str] = []
    run = False  # the last merged piece is made of single-space pieces
    for piece in pieces:
        if piece == " " and run:
            merged[-1] += piece
        else:
            merged.append(piece)
            run = piece == " "
    kinds = [_kind(p) for p in merged]
    words: list[str] = []
    i = 0
    while i < len(merged):
        if kinds[i] == "whitespace":
            words.append(merged[i])
            i += 1
            continue
        word = ""
        if kinds[i] == "space":
            word += merged[i]
            i += 1
        if i < len(merged) and kinds[i] == "other":
            word += merged[i]
            i += 1
        while i < len(merged) and kinds[i] == "punctuation":
            word += merged[i]
            i += 1
        words.append(word)
    out: list[bytes] = []
    for word in words:
        data = word.encode("utf-8")
        while max_bytes is not None and len(data) > max_bytes:
            # The last character start in (0, max_bytes], else max_bytes (one character is longer).
            cut = next((k for k in range(max_bytes, 0, -1) if data[k] & 0xC0 != 0x80), max_bytes)
            out.append(data[:cut])
            data = data[cut:]
        out.append(data)
    return out
