"""OCR-like noise and how stable a tokenizer's token boundaries stay under it.

`ocr_noise` damages a text with a seed (confusions such as rn->m, l->1, O->0, dropped and doubled
characters) and records where; `boundary_consistency` then asks, for every token boundary of the
clean text away from the damage, whether the noisy text's tokens have a boundary at the same place
(shifted by the length changes of the edits before it). 1.0 = the damage stayed local.

`noise_stability` measures the same comparison from both sides and at the token level: boundaries
the damage removed *or added*, agreement on boundaries inside the damaged words, tokens kept, and
how many characters around each edit end up in changed tokens (`NoiseStability`, `MEASURES`;
docs/eval.md argues which of them answer the OCR post-correction question).
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, fields
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


#: QWERTY neighbours of each lower-case letter, for `typo_noise` substitutions.
KEYBOARD_NEIGHBOURS: dict[str, str] = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij", "i": "uok", "o": "ipl", "p": "ol",
    "a": "qsz", "s": "awdz", "d": "sefx", "f": "drgc", "g": "fthv", "h": "gyjb", "j": "hukn", "k": "jilm", "l": "kop",
    "z": "asx", "x": "zdc", "c": "xfv", "v": "cgb", "b": "vhn", "n": "bjm", "m": "nk",
}


def _damage(text: str, rate: float, seed: int, edit_at) -> tuple[str, list[Edit]]:
    """Walks `text`; at each non-space character, with probability `rate`, `edit_at(i, rng)` gives
    the edit starting there. Returns the noisy text and the edits (ascending, non-overlapping)."""
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
        edit = edit_at(i, rng)
        edits.append(edit)
        pieces.append(edit.replacement)
        i = edit.end
    return "".join(pieces), edits


def ocr_noise(text: str, rate: float, *, seed: int) -> tuple[str, list[Edit]]:
    """`text` with about `rate` edits per character, and the edits (ascending, non-overlapping).

    Each edit is, with equal odds, a confusion from `CONFUSIONS` (when one starts here; else a
    drop), a dropped character or a doubled character. Whitespace is left alone, so damage stays
    inside words as OCR damage usually does.
    """

    def edit_at(i: int, rng: random.Random) -> Edit:
        kind = rng.randrange(3)
        source = next((key for key in (text[i : i + 2], text[i]) if key in CONFUSIONS), None) if kind == 0 else None
        if source is not None:
            return Edit(i, i + len(source), CONFUSIONS[source])
        if kind == 2:
            return Edit(i, i + 1, text[i] * 2)
        return Edit(i, i + 1, "")

    return _damage(text, rate, seed, edit_at)


def typo_noise(text: str, rate: float, *, seed: int) -> tuple[str, list[Edit]]:
    """`text` with about `rate` keyboard typos per character, and the edits (ascending, non-overlapping).

    Each typo is, with equal odds: a swap with the next character (when that is a non-space
    character; else a substitution), a substitution by a QWERTY neighbour (`KEYBOARD_NEIGHBOURS`,
    case kept; other characters are dropped instead), a dropped character, or an inserted neighbour
    before the character. Whitespace is left alone.

    Example:
        >>> typo_noise("hello world", 0.0, seed=0)
        ('hello world', [])
    """

    def neighbour(ch: str, rng: random.Random) -> str | None:
        keys = KEYBOARD_NEIGHBOURS.get(ch.lower())
        if keys is None:
            return None
        out = rng.choice(keys)
        return out.upper() if ch.isupper() else out

    def edit_at(i: int, rng: random.Random) -> Edit:
        kind = rng.randrange(4)
        if kind == 0 and i + 1 < len(text) and not text[i + 1].isspace() and text[i + 1] != text[i]:
            return Edit(i, i + 2, text[i + 1] + text[i])
        if kind in (0, 1, 3):
            near = neighbour(text[i], rng)
            if near is not None:
                return Edit(i, i + 1, near + text[i] if kind == 3 else near)
        return Edit(i, i + 1, "")

    return _damage(text, rate, seed, edit_at)


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


# --- stability of tokens and boundaries near the damage ------------------------------------------

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class NoiseStability:
    """Counts comparing the tokens of a clean text with those of its noisy copy; the measures are
    the properties (`MEASURES` lists them). Counts add up with `+`: a corpus is measured by summing
    its documents' counts, which weighs every boundary, token or edit equally.

    Terms. Offsets are byte offsets; a clean offset away from the edits is compared with the noisy
    offset shifted by the length changes of the edits before it. A *boundary* is an offset where
    one token ends and the next begins. A boundary *touches* an edit when it lies at or inside the
    edit's `[start, end]` (in the noisy text `[start, start + len(replacement)]`); a token
    *overlaps* an edit when they share a character. A *damaged word* is a word of the clean text (a
    maximal run of non-whitespace, as in `tokfree.eval.compression`) holding an edit: `ocr_noise`
    never edits whitespace, so each edit lies inside one word, and with a pre-tokenizer that splits
    at spaces the damaged words are where every change happens.
    """

    #: Edits applied.
    edits: int = 0
    #: Clean boundaries touching no edit, and those the noisy tokens also have.
    boundaries: int = 0
    kept_boundaries: int = 0
    #: Noisy boundaries touching no edit, and those the clean tokens also have.
    noisy_boundaries: int = 0
    confirmed_boundaries: int = 0
    #: Of the clean boundaries touching no edit, those inside a damaged word (edges included), and
    #: of them the ones kept.
    word_boundaries: int = 0
    kept_word_boundaries: int = 0
    #: Offsets inside the damaged words (edges included) touching no edit, and those where the
    #: clean and the noisy tokens agree on whether a boundary is there.
    word_offsets: int = 0
    agreeing_offsets: int = 0
    #: Clean tokens overlapping no edit, and those the noisy encoding keeps: the same id at the
    #: shifted span.
    tokens: int = 0
    kept_tokens: int = 0
    #: Of those clean tokens, the ones overlapping a damaged word, and of them the ones kept.
    word_tokens: int = 0
    kept_word_tokens: int = 0
    #: Clean characters outside the edits lying in a clean token that is not kept (every token
    #: overlapping an edit is not): the re-segmented region around the edits, edits left out.
    resegmented_chars: int = 0
    #: Characters of the damaged words outside the edits, and how many of them are re-segmented.
    word_chars: int = 0
    resegmented_word_chars: int = 0

    def __add__(self, other: NoiseStability) -> NoiseStability:
        if not isinstance(other, NoiseStability):
            return NotImplemented
        return NoiseStability(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def boundary_recall(self) -> float:
        """Share of the clean boundaries touching no edit that the noisy tokens keep: the ratio of
        `boundary_consistency` (in byte offsets). Blind to boundaries the damage adds, so a
        tokenizer with fewer boundaries inside words has less to lose. 1.0 when there are none."""
        return _share(self.kept_boundaries, self.boundaries)

    @property
    def boundary_precision(self) -> float:
        """Share of the noisy boundaries touching no edit that the clean tokens have, i.e. that the
        damage did not add. 1.0 when there are none."""
        return _share(self.confirmed_boundaries, self.noisy_boundaries)

    @property
    def word_boundary_recall(self) -> float:
        """`boundary_recall` over the damaged words only (elsewhere every boundary is kept when the
        pre-tokenizer splits at spaces). 1.0 when there are none."""
        return _share(self.kept_word_boundaries, self.word_boundaries)

    @property
    def boundary_agreement(self) -> float:
        """Share of the offsets inside the damaged words, touching no edit, where clean and noisy
        tokens agree on a boundary (both have one or neither has): boundaries lost and added count
        alike, over the same offsets for every tokenizer. 1.0 when there are none."""
        return _share(self.agreeing_offsets, self.word_offsets)

    @property
    def lost_boundaries_per_edit(self) -> float:
        """Clean boundaries touching no edit that the noisy tokens lack, per edit (0.0 without edits)."""
        return (self.boundaries - self.kept_boundaries) / self.edits if self.edits else 0.0

    @property
    def added_boundaries_per_edit(self) -> float:
        """Noisy boundaries touching no edit that the clean tokens lack, per edit (0.0 without edits)."""
        return (self.noisy_boundaries - self.confirmed_boundaries) / self.edits if self.edits else 0.0

    @property
    def changed_boundaries_per_edit(self) -> float:
        """Boundaries touching no edit that the damage removed or added, per edit: lost plus added
        (lower is better; 0.0 without edits)."""
        return self.lost_boundaries_per_edit + self.added_boundaries_per_edit

    @property
    def token_recall(self) -> float:
        """Share of the clean tokens overlapping no edit that the noisy encoding keeps. Tokens
        overlapping an edit are left out, so long tokens have less to lose. 1.0 when there are none."""
        return _share(self.kept_tokens, self.tokens)

    @property
    def word_token_recall(self) -> float:
        """`token_recall` over the tokens of the damaged words only. 1.0 when there are none."""
        return _share(self.kept_word_tokens, self.word_tokens)

    @property
    def resegmented_chars_per_edit(self) -> float:
        """Characters outside the edits whose token changed, per edit: how far each error spreads
        into the token sequence, the stretch a corrector cannot align token by token (lower is
        better; 0.0 without edits)."""
        return self.resegmented_chars / self.edits if self.edits else 0.0

    @property
    def stable_char_share(self) -> float:
        """Share of the damaged words' characters outside the edits whose token stayed the same.
        1.0 when there are none."""
        return 1.0 - _share(self.resegmented_word_chars, self.word_chars, empty=0.0)

    def summary(self) -> dict[str, float]:
        """Every measure of `MEASURES` by name."""
        return {name: getattr(self, name) for name in MEASURES}


#: The measures of `NoiseStability`: boundary measures, then token measures.
MEASURES = (
    "boundary_recall", "boundary_precision", "word_boundary_recall", "boundary_agreement",
    "lost_boundaries_per_edit", "added_boundaries_per_edit", "changed_boundaries_per_edit",
    "token_recall", "word_token_recall", "resegmented_chars_per_edit", "stable_char_share",
)


def _share(part: int, whole: int, *, empty: float = 1.0) -> float:
    return part / whole if whole else empty


def noise_stability(tokenizer: Tokenizer, clean: str, noisy: str, edits: list[Edit]) -> NoiseStability:
    """Compares the tokens of `clean` with those of `noisy` (`clean` with `edits` applied, as
    `ocr_noise` returns them); see `NoiseStability` for the counts and the measures.

    Typical use (a corpus: sum the documents' results, then read the measures)::

        noisy, edits = ocr_noise(text, 0.03, seed=0)     # text normalized as the tokenizer does
        noise_stability(tok, text, noisy, edits).resegmented_chars_per_edit

    Raises:
        TokfreeError: the edits are not ascending, disjoint, non-empty spans of `clean` that turn
            it into `noisy`, or the tokenizer's normalizer changes either text (normalize first).
    """
    _check_edits(clean, noisy, edits)
    clean_spans, clean_ids = _token_spans(tokenizer, clean)
    noisy_spans, noisy_ids = _token_spans(tokenizer, noisy)
    clean_at = _byte_offsets(clean)
    # The edits in bytes: clean [start, end), the length change, the total change before each.
    starts = [clean_at[edit.start] for edit in edits]
    ends = [clean_at[edit.end] for edit in edits]
    deltas = [len(edit.replacement.encode("utf-8")) - (end - start) for edit, start, end in zip(edits, starts, ends)]
    shifts = list(accumulate(deltas, initial=0))
    clean_edits = list(zip(starts, ends))
    noisy_edits = [(start + shift, end + shift + delta) for start, end, shift, delta in zip(starts, ends, shifts, deltas)]
    noisy_starts = [start for start, _ in noisy_edits]

    def to_noisy(offset: int) -> int:  # a clean offset touching no edit
        return offset + shifts[bisect_left(starts, offset)]

    def to_clean(offset: int) -> int:  # a noisy offset touching no edit
        return offset - shifts[bisect_left(noisy_starts, offset)]

    words = [match.span() for match in _WORD.finditer(clean)]
    holding = (words[bisect_right(words, (edit.start, math.inf)) - 1] if words else (0, 0) for edit in edits)
    damaged_words = sorted({word for word, edit in zip(holding, edits) if word[0] <= edit.start < word[1]})
    damaged = [(clean_at[start], clean_at[end]) for start, end in damaged_words]
    counts = {field.name: 0 for field in fields(NoiseStability)}
    counts["edits"] = len(edits)

    clean_boundaries = [end for _, end in clean_spans[:-1]]
    noisy_boundaries = [end for _, end in noisy_spans[:-1]]
    clean_set, noisy_set = set(clean_boundaries), set(noisy_boundaries)
    for boundary in clean_boundaries:
        if not _touches(clean_edits, boundary):
            kept = to_noisy(boundary) in noisy_set
            counts["boundaries"] += 1
            counts["kept_boundaries"] += kept
            if _touches(damaged, boundary):
                counts["word_boundaries"] += 1
                counts["kept_word_boundaries"] += kept
    for boundary in noisy_boundaries:
        if not _touches(noisy_edits, boundary):
            counts["noisy_boundaries"] += 1
            counts["confirmed_boundaries"] += to_clean(boundary) in clean_set
    for start, end in damaged:
        for offset in range(start, end + 1):
            if not _touches(clean_edits, offset):
                counts["word_offsets"] += 1
                counts["agreeing_offsets"] += (offset in clean_set) == (to_noisy(offset) in noisy_set)

    noisy_tokens = dict(zip(noisy_spans, noisy_ids))
    lost: list[tuple[int, int]] = []
    for (start, end), token_id in zip(clean_spans, clean_ids):
        if _overlaps(clean_edits, start, end):
            lost.append((start, end))
            continue
        kept = noisy_tokens.get((to_noisy(start), to_noisy(end))) == token_id
        if not kept:
            lost.append((start, end))
        counts["tokens"] += 1
        counts["kept_tokens"] += kept
        if _overlaps(damaged, start, end):
            counts["word_tokens"] += 1
            counts["kept_word_tokens"] += kept

    # Characters with a byte in a lost token, the edited ones left out.
    lost_chars: set[int] = set()
    for start, end in lost:
        lost_chars.update(range(bisect_right(clean_at, start) - 1, bisect_left(clean_at, end)))
    lost_chars -= {char for edit in edits for char in range(edit.start, edit.end)}
    counts["resegmented_chars"] = len(lost_chars)
    counts["word_chars"] = sum(end - start for start, end in damaged_words) - sum(
        _overlaps(damaged_words, char, char + 1) for edit in edits for char in range(edit.start, edit.end))
    counts["resegmented_word_chars"] = sum(_overlaps(damaged_words, char, char + 1) for char in lost_chars)
    return NoiseStability(**counts)


def _touches(spans: list[tuple[int, int]], offset: int) -> bool:
    """Whether `offset` lies at or inside a span `[start, end]` of `spans` (sorted, disjoint but
    for shared ends)."""
    index = bisect_right(spans, (offset, math.inf)) - 1  # the last span starting at or before `offset`
    return index >= 0 and spans[index][1] >= offset


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether `[start, end)` shares a position with a span `[a, b)` of `spans` (sorted, disjoint)."""
    index = bisect_left(spans, (end, -1)) - 1  # the last span starting before `end`
    return index >= 0 and spans[index][1] > start


def _byte_offsets(text: str) -> list[int]:
    """The byte offset of each character index of `text`, and of its end."""
    if text.isascii():
        return list(range(len(text) + 1))
    return list(accumulate((len(char.encode("utf-8")) for char in text), initial=0))


def _token_spans(tokenizer: Tokenizer, text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Byte spans and ids of the tokens of `text`, which the tokenizer's normalizer must leave alone."""
    normalized, ids, spans = normalized_encoding(tokenizer, text, disallowed_special=())
    if normalized != text:
        raise TokfreeError(
            f"this tokenizer normalizes its input ({tokenizer.normalizer}) and the text changes under it, so edit "
            f"offsets would not line up; normalize the clean text first (unicodedata.normalize({tokenizer.normalizer!r}, text))"
        )
    return [(start, end) for start, end in spans], list(ids)


def _check_edits(clean: str, noisy: str, edits: list[Edit]) -> None:
    """The edits must be non-empty, ascending, disjoint spans of `clean` that turn it into `noisy`."""
    pieces, at = [], 0
    for edit in edits:
        if not at <= edit.start < edit.end <= len(clean):
            raise TokfreeError(f"{edit}: edits must be non-empty, ascending, disjoint spans of the clean text (as ocr_noise returns them)")
        pieces += [clean[at : edit.start], edit.replacement]
        at = edit.end
    pieces.append(clean[at:])
    if "".join(pieces) != noisy:
        raise TokfreeError("the edits do not turn the clean text into the noisy one; pass ocr_noise's text and edits together")
