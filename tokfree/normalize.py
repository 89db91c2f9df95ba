"""Normalization: NFC / NFKC of the text between special tokens, as HF `tokenizers` does it.

HF runs a tokenizer's normalizer after cutting out the added tokens it matches in the raw text
(`"normalized": false`), on each remaining piece separately; tokens marked `"normalized": true`
are then matched in the normalized pieces. `segments` reproduces that cut; `normalize` applies the
form with Python's `unicodedata`. This module does not pre-tokenize or encode.

Unicode versions: HF's normalization tables are older (about Unicode 9) than Python's
(`unicodedata.unidata_version`). For characters assigned since, the two disagree: combining
marks whose canonical ordering is unknown to HF, one composition (U+11938), and compatibility
mappings added later (NFKC). `normalize` refuses text holding one of them (`UNSTABLE`, measured
against `tokenizers` 0.23 by the tests) rather than return ids HF would not give.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable

from tokfree.errors import SpecialTokenError, TokfreeError

__all__ = ["FORMS", "UNSTABLE", "normalize", "segments", "raw_token_matcher"]

#: The normalizer forms tokfree reproduces.
FORMS = ("NFC", "NFKC")


def _ranges(pairs: Iterable[tuple[int, int]]) -> frozenset[int]:
    return frozenset(cp for start, end in pairs for cp in range(start, end + 1))


# Combining marks with a canonical combining class HF does not know, and U+11938 (a composition
# HF does not make): NFC and NFKC both reorder or compose them differently.
_UNSTABLE_CANONICAL = _ranges([
    (0x07FD, 0x07FD), (0x0898, 0x089F), (0x08CA, 0x08D3), (0x09FE, 0x09FE), (0x0C3C, 0x0C3C),
    (0x0D3B, 0x0D3C), (0x0EBA, 0x0EBA), (0x1715, 0x1715), (0x1ABF, 0x1ACE), (0x1DF6, 0x1DFA),
    (0xA82C, 0xA82C), (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85),
    (0x11070, 0x11070), (0x1133B, 0x1133B), (0x1145E, 0x1145E), (0x11839, 0x1183A), (0x11938, 0x11938),
    (0x1193D, 0x1193E), (0x11943, 0x11943), (0x119E0, 0x119E0), (0x11A34, 0x11A34), (0x11A47, 0x11A47),
    (0x11A99, 0x11A99), (0x11D42, 0x11D42), (0x11D44, 0x11D45), (0x11D97, 0x11D97), (0x16FF0, 0x16FF1),
    (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF),
])
# Compatibility mappings HF's NFKC lacks (squared era name, modifier letters, fullwidth digits...).
_UNSTABLE_COMPATIBILITY = _ranges([
    (0x32FF, 0x32FF), (0xA7F2, 0xA7F4), (0xAB69, 0xAB69), (0x10781, 0x10785), (0x10787, 0x107B0),
    (0x107B2, 0x107BA), (0x1F16C, 0x1F16C), (0x1FBF0, 0x1FBF9),
])

#: Form -> code points whose normalization differs between Python's tables and HF's.
UNSTABLE: dict[str, frozenset[int]] = {
    "NFC": _UNSTABLE_CANONICAL,
    "NFKC": _UNSTABLE_CANONICAL | _UNSTABLE_COMPATIBILITY,
}


def _class(code_points: frozenset[int]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(code_points)) + "]")


_UNSTABLE_PATTERN = {form: _class(points) for form, points in UNSTABLE.items()}


def normalize(text: str, form: str) -> str:
    """`text` in normalization form `form` ("NFC" or "NFKC"), as HF `tokenizers` normalizes it.

    Raises:
        TokfreeError: `form` is not supported, or `text` holds a character whose normalization
            differs between Python's Unicode tables and HF's (named in the message).

    Example:
        >>> normalize("cafe\\u0301", "NFC")
        'café'
    """
    if form not in FORMS:
        raise TokfreeError(f"normalizer {form!r} is not supported; use one of {', '.join(FORMS)} or None")
    if text.isascii():
        return text  # ASCII is invariant under every normalization form
    found = _UNSTABLE_PATTERN[form].search(text)
    if found:
        char = found.group()
        raise TokfreeError(
            f"the text holds U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')}) at index {found.start()}, whose {form} "
            f"normalization differs between Python's Unicode {unicodedata.unidata_version} tables and HF tokenizers' "
            "older ones, so tokfree cannot promise HF's ids; remove or replace that character"
        )
    return unicodedata.normalize(form, text)


def raw_token_matcher(contents: Collection[str]) -> re.Pattern[str] | None:
    """A regex finding `contents` leftmost-longest (longer alternatives first), or None if empty."""
    if not contents:
        return None
    ordered = sorted(contents, key=lambda content: (-len(content), content))
    return re.compile("|".join(re.escape(content) for content in ordered))


def segments(
    text: str,
    form: str,
    matcher: re.Pattern[str] | None,
    allowed: Collection[str],
    disallowed: Collection[str],
) -> list[tuple[bool, str]]:
    """`text` cut at raw special tokens, the rest normalized: a list of (is_special, string).

    Args:
        text: the user's text.
        form: "NFC" or "NFKC".
        matcher: `raw_token_matcher` of the special tokens matched in the raw text.
        allowed: special tokens that become their id (cut out here).
        disallowed: special tokens whose text is an error; others found stay plain text.

    Raises:
        SpecialTokenError: a disallowed special token is in `text`.
        TokfreeError: see `normalize`.
    """
    pieces: list[tuple[bool, str]] = []
    start = 0
    if matcher is not None:
        for found in matcher.finditer(text):
            content = found.group()
            if content in allowed:
                pieces.append((False, normalize(text[start : found.start()], form)))
                pieces.append((True, content))
                start = found.end()
            elif content in disallowed:
                position = len(text[: found.start()].encode("utf-8", errors="surrogatepass"))
                raise SpecialTokenError(
                    f"the text contains the special token {content!r} at byte {position}; to encode it as the special "
                    f"token pass allowed_special={{{content!r}}} (or \"all\"), to encode it as plain text pass disallowed_special=()"
                )
    pieces.append((False, normalize(text[start:], form)))
    return [(special, piece) for special, piece in pieces if special or piece]
