"""Reference pre-tokenizer: the preset regexes run by the `regex` package (a test dependency)."""

from __future__ import annotations

import regex

from tokfree.pretokenize import PRESETS


def split(text: str, pre_tokenizer: str) -> list[str]:
    """Pieces of `text`: regex matches, with unmatched gaps kept as pieces (HF "Isolated")."""
    if pre_tokenizer == "none":
        return [text] if text else []
    pattern = PRESETS.get(pre_tokenizer) or pre_tokenizer
    pieces, covered = [], 0
    for match in regex.finditer(pattern, text):
        if match.start() == match.end():
            continue
        if match.start() > covered:
            pieces.append(text[covered : match.start()])
        pieces.append(match.group())
        covered = match.end()
    if covered < len(text):
        pieces.append(text[covered:])
    return pieces
