"""OCR-like noise and how stable a tokenizer's token boundaries stay under it.

`ocr_noise` damages a text with a seed (confusions such as rn->m, l->1, O->0, dropped and doubled
characters) and records where; `boundary_consistency` then asks, for every token boundary of the
clean text away from the damage, whether the noisy text's tokens have a boundary at the same place
(shifted by the length changes of the edits before it). 1.0 = the damage stayed local.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate

from tokfree.errors import TokfreeError
from tokfree.eval._offsets import normalized_encoding
from tokfree.tokenizer import Tokenizer

#: Character confusions of OCR engines, both directions where both occur.
CONFUSIONS: dict[str, str] = {
    "rn": "m", "m": "rn", "cl": "d", "d": "cl", "l": "1", "1": "l", "I": "l", "O": "0", "0": "O",
    "e": "c", "c": "e", "h": "b", "S": "5", "5": "S", "B": "8", "vv": "w", "w": "vv", ",": ".", ".": ",",
}


@dataclass(frozen=True)
class Edit:
    """Clean text `[start, end)` became `replacement` in the noisy text."""

    start: int
    end: int
    replacement: str


def ocr_noise(text: str, rate: float, *, seed: int) -> tuple[str, list[Edit]]:
    """`text` with about `rate` edits per character, and the edits (ascending, non-overlapping).

    Each edit is, with equal odds, a confusion from `CONFUSIONS` (when one starts here; else a
    drop), a dropped character or a doubled character. Whitespace is left alone, so damage stays
    inside words as OCR damage usually does.
    """
    if not 0.0 <= rate <= 1.0:
        raise TokfreeError(f"rate={rate}: the edit rate is a probability per character; pass a value in [0, 1]")
    rng = random.Random(seed)
    pieces: list[str] = []
    edits: list[Edit] = []
    i = 0
    while i < len(text):
        if text[i].isspace() or rng.random() >= rate:
            pieces.append(text[i])
            i += 1
            continue
        kind = rng.randrange(3)
        source = next((key for key in (text[i : i + 2], text[i]) if key in CONFUSIONS), None) if kind == 0 else None
        if source is not None:
            edit = Edit(i, i + len(source), CONFUSIONS[source])
        elif kind == 2:
            edit = Edit(i, i + 1, text[i] * 2)
        else:
            edit = Edit(i, i + 1, "")
        edits.append(edit)
        pieces.append(edit.replacement)
        i = edit.end
    return "".join(pieces), edits


def _boundaries(tokenizer: Tokenizer, text: str) -> list[int]:
    """Character offsets where one token ends and the next begins (inside the text; boundaries
    that fall inside a multi-byte character are left out)."""
    normalized, _, spans = normalized_encoding(tokenizer, text, disallowed_special=())
    if normalized != text:
        raise TokfreeError(
            f"this tokenizer normalizes its input ({tokenizer.normalizer}) and the text changes under it, so edit "
            f"offsets would not line up; normalize the clean text first (unicodedata.normalize({tokenizer.normalizer!r}, text))"
        )
    char_at_byte = {byte: char for char, byte in enumerate(accumulate((len(c.encode("utf-8")) for c in text), initial=0))}
    return [char_at_byte[end] for _, end in spans[:-1] if end in char_at_byte]


def boundary_consistency(tokenizer: Tokenizer, clean: str, noisy: str, edits: list[Edit]) -> tuple[int, int]:
    """(clean boundaries away from every edit that the noisy text's tokens also have, all such
    clean boundaries). A boundary touching an edit (at or inside `[start, end]`) is not counted."""
    noisy_boundaries = set(_boundaries(tokenizer, noisy))
    starts = [edit.start for edit in edits]
    shifts = list(accumulate((len(edit.replacement) - (edit.end - edit.start) for edit in edits), initial=0))
    kept = total = 0
    for boundary in _boundaries(tokenizer, clean):
        before = bisect_left(starts, boundary)  # edits starting before this boundary
        if before < len(edits) and edits[before].start == boundary:
            continue  # an edit starts here
        if before > 0 and edits[before - 1].end >= boundary:
            continue  # inside or at the end of the previous edit
        total += 1
        kept += boundary + shifts[before] in noisy_boundaries
    return kept, total
