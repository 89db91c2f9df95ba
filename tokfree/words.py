"""Word splitting for tokenizer-free models: text -> the byte offsets of its words (HAT's rule).

Word-pooling and hierarchical models (`tokfree.nn`) pool the bytes of each word into one vector,
so they need word boundaries that cover the text exactly: concatenating the words gives the text
back, for every input. The rule is the one HAT (Neitemeier et al. 2025) trains with:

1. Unicode word boundaries (UAX #29);
2. every punctuation character (``\\p{P}``) becomes its own piece, with the Extend/Format/ZWJ
   characters right after it (UAX #29 attaches those to the character before them);
3. camelCase splits between a lowercase (``\\p{Ll}``) and an uppercase (``\\p{Lu}``) letter;
4. consecutive single-space pieces merge into one run;
5. a whitespace piece other than one space (newline, tab, a run of spaces) is a word of its own;
   otherwise a word is [one leading space] + [one piece] + [all following punctuation].

``max_bytes`` caps the length of a word: longer words are chopped at the last character boundary
that fits, and inside a character only when that character alone is longer than the cap.

The splitting runs in Rust (`tokfree._rust`, linear time, the GIL released for long texts and
batches). This module does not tokenize into ids and does not normalize text.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from itertools import pairwise

from tokfree import _rust
from tokfree._text import call_on_text, call_on_texts
from tokfree.errors import TokfreeError

__all__ = ["split_words", "word_boundaries", "word_boundaries_batch"]

#: The longest UTF-8 encoding of one character, in bytes.
_MAX_CHAR_BYTES = 4


def _check_max_bytes(max_bytes: object, *, minimum: int = 1, why: str = "a word holds at least one byte") -> int | None:
    if max_bytes is None:
        return None
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TokfreeError(f"max_bytes must be an int or None, got {max_bytes!r}; pass e.g. max_bytes=32")
    if max_bytes < minimum:
        raise TokfreeError(f"max_bytes={max_bytes} is too small: {why}; pass max_bytes >= {minimum}, or None for no cap")
    return min(max_bytes, sys.maxsize)  # any larger cap is no cap, and fits a Rust usize


def word_boundaries(text: str, *, max_bytes: int | None = None) -> list[int]:
    """The byte offsets of the words of `text`: 0, then the end of every word.

    Word ``k`` is ``text.encode("utf-8")[b[k]:b[k + 1]]``; the last offset is the UTF-8 length of
    `text`, and the offsets strictly increase (every word is non-empty).

    Args:
        text: the text to split.
        max_bytes: the longest word in bytes (None: no cap). A cap below 4 may cut a character
            whose UTF-8 form is longer than the cap (that word is then not valid UTF-8 alone).

    Returns:
        ``n_words + 1`` offsets; ``[0]`` for the empty text.

    Raises:
        TokfreeError: `text` is not a `str` or holds a lone surrogate; `max_bytes` is not a
            positive int.

    Example:
        >>> word_boundaries("Hello, world!")
        [0, 6, 13]
        >>> b, data = word_boundaries("Hello, world!", max_bytes=4), b"Hello, world!"
        >>> [data[i:j] for i, j in zip(b, b[1:])]
        [b'Hell', b'o,', b' wor', b'ld!']
    """
    cap = _check_max_bytes(max_bytes)
    return call_on_text(_rust.word_boundaries, text, cap)


def word_boundaries_batch(
    texts: Sequence[str], *, max_bytes: int | None = None, num_threads: int | None = None
) -> list[list[int]]:
    """`word_boundaries` of every text, split in parallel with the GIL released.

    This is what the models consume: `tokfree.nn.boundaries_to_segment_ids` turns the result
    into per-byte word ids for a padded batch of byte ids.

    Args:
        texts: the texts (a list or tuple of `str`).
        max_bytes: as in `word_boundaries`.
        num_threads: the number of threads (None: all cores; 1: this thread only).

    Returns:
        One offset list per text, in order.

    Raises:
        TokfreeError: a text is not a `str` or holds a lone surrogate; `max_bytes` is not a
            positive int; `num_threads` is not a positive int.

    Example:
        >>> word_boundaries_batch(["howAreYou", "how_are_you"])
        [[0, 3, 6, 9], [0, 4, 8, 11]]
    """
    cap = _check_max_bytes(max_bytes)
    if isinstance(texts, str):
        raise TokfreeError("texts is a single str; pass a list of texts (e.g. [text]), or call word_boundaries(text)")
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
        raise TokfreeError(f"num_threads={num_threads!r}: pass a positive number of threads, or None for all cores")
    return call_on_texts(_rust.word_boundaries_batch, list(texts), cap, num_threads)


def split_words(text: str, *, max_bytes: int | None = None) -> list[str]:
    """The words of `text` as strings; ``"".join(split_words(text)) == text`` always.

    Args:
        text: the text to split.
        max_bytes: the longest word in UTF-8 bytes (None: no cap). At least 4, so that no cut
            falls inside a character (for smaller caps use `word_boundaries`, whose byte offsets
            may cut characters).

    Returns:
        The words, in order (an empty list for the empty text).

    Raises:
        TokfreeError: `text` is not a `str` or holds a lone surrogate; `max_bytes` is not an int
            of at least 4.

    Example:
        >>> split_words("Hello, world!")
        ['Hello,', ' world!']
        >>> split_words("howAreYou how_are_you\\n\\n")
        ['how', 'Are', 'You', ' how_', 'are_', 'you', '\\n', '\\n']
        >>> split_words("Hello, world!", max_bytes=4)
        ['Hell', 'o,', ' wor', 'ld!']
    """
    cap = _check_max_bytes(
        max_bytes,
        minimum=_MAX_CHAR_BYTES,
        why="a cap below 4 bytes can cut a character in two (UTF-8 characters take up to 4 bytes) and str "
        "words hold whole characters; use word_boundaries for byte-level caps",
    )
    bounds = call_on_text(_rust.word_boundaries, text, cap)
    data = text.encode("utf-8")
    return [data[start:end].decode("utf-8") for start, end in pairwise(bounds)]
