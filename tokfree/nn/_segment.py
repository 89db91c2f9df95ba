"""Word boundaries over arbitrary bytes for the word-level models (private to `tokfree.nn`).

`tokfree.words` splits `str` text. The word-level models take any byte string (a model that is
"lossless on any input" must score invalid UTF-8 too), so this module wraps the splitter:

* `split_bytes`: the splitter on every maximal run of valid UTF-8; a byte sequence that is not
  valid UTF-8 (Python's strict decoder, maximal-subpart rule) is a word of its own. Used by
  `WordPoolLM`, whose per-word decoder predicts an end-of-word symbol, so any segmentation gives
  an honest probability.
* `split_bytes_online`: boundaries a *causal* byte model can use. A next-byte model that reads
  word boundaries computed on the whole text would see the future wherever the splitter looks
  ahead (the first byte of a multi-byte character, UAX #29 rules such as ``1⁄2``, where the
  boundary after ``1`` depends on the character after the slash). Here each boundary is decided
  from the bytes up to the end of the character that starts the new word, and each decision
  records how many bytes it needed; a model may use a word as finished only at positions that
  have seen that many bytes. Every decision is a function of a prefix, so prefix + more bytes
  never changes an earlier decision (tested), and generation re-splits exactly as training did.

The online decision for the character starting at byte s (ending at e): s starts a word iff

1. the character at s, or the one before it, is not valid UTF-8 (invalid bytes are words of
   their own); or
2. the current word would grow past `max_bytes` (a greedy cap at character boundaries, as
   `tokfree.words` applies it); or
3. `tokfree.words.word_boundaries` of the valid-UTF-8 text ending at e and starting at most
   `CONTEXT_BYTES` bytes earlier (at a character boundary, never before the valid run) puts a
   boundary at s.

Rule 3 costs a splitter call per character, so common ASCII cases answer from the bytes
themselves (`_pair_table`: 91% of the characters of the bundled English and code): letters and
digits stay together except lowercase then uppercase (UAX #29 WB5/WB8-WB10, camelCase); a space after a non-space, a letter
or digit after punctuation, anything after or before a newline (except CR LF) start a word; a
space after a space does not; after one space, a printable character starts a word iff the space
follows another space (a run of spaces is a word of its own). These are still functions of the
prefix, so causality does not depend on them; a test checks them against the splitter's answers.

On ordinary text the online boundaries equal `word_boundaries` of the whole text (tested on the
bundled corpora); they differ only where the splitter looks ahead more than one character or
back more than `CONTEXT_BYTES` bytes.

This module holds no torch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokfree.errors import TokfreeError
from tokfree.words import word_boundaries, word_boundaries_batch

__all__ = ["CONTEXT_BYTES", "as_bytes", "split_bytes", "split_bytes_online", "utf8_units"]

#: Bytes of left context the online splitter gives the word splitter for each decision.
CONTEXT_BYTES = 64

_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CONT = range(0x80, 0xC0)


def as_bytes(text: object, what: str = "text") -> bytes:
    """`text` as bytes: a `str` is UTF-8 encoded, `bytes`/`bytearray` are taken as they are.

    Raises:
        TokfreeError: anything else, or a `str` holding a lone surrogate.
    """
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    if isinstance(text, str):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise TokfreeError(
                f"{what} holds the lone surrogate U+{ord(text[err.start]):04X} at index {err.start}, which has no UTF-8 form; "
                "pass bytes, or repair it with text.encode('utf-8', 'replace').decode('utf-8')"
            ) from None
    raise TokfreeError(f"{what} must be str or bytes, got {type(text).__name__}")


def _second_byte_range(lead: int) -> range | None:
    """The allowed second byte after a UTF-8 lead byte, and None if `lead` cannot start a character."""
    if 0xC2 <= lead <= 0xDF or 0xE1 <= lead <= 0xEC or 0xEE <= lead <= 0xEF or 0xF1 <= lead <= 0xF3:
        return _CONT
    return {0xE0: range(0xA0, 0xC0), 0xED: range(0x80, 0xA0), 0xF0: range(0x90, 0xC0), 0xF4: range(0x80, 0x90)}.get(lead)


def utf8_units(data: bytes) -> list[tuple[int, int, int, bool]]:
    """The characters of `data` read left to right: ``(start, end, decided, valid)`` per unit.

    A unit is a valid UTF-8 character or a maximal invalid subpart (one byte, or a lead byte with
    the continuation bytes that fit it before an unexpected byte). ``decided`` is the number of
    bytes needed to know the unit: ``end`` for a character, ``end + 1`` for a truncated sequence
    (it is known broken when the next byte arrives), ``len(data) + 1`` for a truncated sequence
    at the very end (undecided).
    """
    n = len(data)
    if data.isascii():
        return [(i, i + 1, i + 1, True) for i in range(n)]
    units: list[tuple[int, int, int, bool]] = []
    i = 0
    while i < n:
        lead = data[i]
        if lead < 0x80:
            units.append((i, i + 1, i + 1, True))
            i += 1
            continue
        second = _second_byte_range(lead)
        if second is None:  # a continuation byte or an impossible lead: invalid on its own
            units.append((i, i + 1, i + 1, False))
            i += 1
            continue
        size = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        j = i + 1
        while j < i + size and j < n and data[j] in (second if j == i + 1 else _CONT):
            j += 1
        if j == i + size:
            units.append((i, j, j, True))
        else:  # truncated: known broken when byte j arrives (or never, at the end)
            units.append((i, j, j + 1 if j < n else n + 1, False))
        i = j
    return units


def split_bytes(data: bytes, *, max_bytes: int | None = None) -> list[int]:
    """`tokfree.words.word_boundaries` for bytes: 0, then the end of every word.

    Valid UTF-8 runs are split by the word splitter (with the cap); each invalid unit (see
    `utf8_units`) is a word of its own. Lossless: the words cover `data` exactly.
    """
    try:
        return word_boundaries(data.decode("utf-8"), max_bytes=max_bytes)
    except UnicodeDecodeError:
        pass
    out = [0]
    units = utf8_units(data)
    k = 0
    while k < len(units):
        start, end, _, valid = units[k]
        if not valid:
            out.append(end)
            k += 1
            continue
        stop = k
        while stop < len(units) and units[stop][3]:
            stop += 1
        run_end = units[stop - 1][1]
        out.extend(start + b for b in word_boundaries(data[start:run_end].decode("utf-8"), max_bytes=max_bytes)[1:])
        k = stop
    return out


def _pair_table() -> np.ndarray:
    """(256, 256) int8 over (byte before s, byte at s) for single-byte characters: 0 = s never
    starts a word, 1 = s always starts one, 2 = ask the splitter (the answer depends on context)."""
    table = np.full((256, 256), 2, dtype=np.int8)
    alnum = np.frombuffer(bytes(sorted(_ALNUM)), dtype=np.uint8)
    lower = np.frombuffer(bytes(sorted(_LOWER)), dtype=np.uint8)
    upper = np.frombuffer(bytes(sorted(_UPPER)), dtype=np.uint8)
    punct = np.frombuffer(bytes(c for c in range(33, 127) if c not in _ALNUM), dtype=np.uint8)
    table[np.ix_(alnum, alnum)] = 0  # WB5, WB8-WB10: letters and digits stay together ...
    table[np.ix_(lower, upper)] = 1  # ... except camelCase
    table[np.ix_(np.concatenate([alnum, punct]), [0x20])] = 1  # a space after a non-space leads the next word
    table[np.ix_(punct, alnum)] = 1  # punctuation ends a word; a letter after it starts one
    table[0x20, 0x20] = 0  # a run of spaces is one word
    table[0x0A, :128] = 1  # a newline is a word of its own
    table[:128, 0x0A] = 1
    table[0x0D, 0x0A] = 0  # CR LF is one piece (WB3)
    return table


_PAIRS = _pair_table()
_PRINTABLE = np.zeros(256, dtype=bool)
_PRINTABLE[33:127] = True
_AFTER_SPACE = _PRINTABLE  # a letter, digit or punctuation character after a space
_BEFORE_SPACE = _PRINTABLE.copy()
_BEFORE_SPACE[[0x0A, 0x20]] = True


def _unit_arrays(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`utf8_units` as four arrays (starts, ends, decided, valid); vectorised for valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        units = utf8_units(data)
        if not units:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, np.zeros(0, dtype=bool)
        s, e, d, v = (np.array(column) for column in zip(*units))
        return s.astype(np.int64), e.astype(np.int64), d.astype(np.int64), v.astype(bool)
    arr = np.frombuffer(data, dtype=np.uint8)
    starts = np.flatnonzero((arr & 0xC0) != 0x80).astype(np.int64)
    ends = np.append(starts[1:], len(data)).astype(np.int64)
    return starts, ends, ends.copy(), np.ones(len(starts), dtype=bool)


def split_bytes_online(
    texts: Sequence[bytes], *, max_bytes: int | None = None, num_threads: int | None = None
) -> list[tuple[list[int], list[int]]]:
    """The causal word starts of each text (see the module docstring).

    Returns:
        Per text ``(starts, decided)``: ``starts[k]`` is the first byte of word k (``starts[0] ==
        0`` for a non-empty text, ``[]`` for an empty one) and ``decided[k]`` the number of bytes
        needed to know that word k starts there (``decided[0] == 0``). Word k is known to be
        finished after reading ``decided[k + 1]`` bytes.
    """
    per_text = []
    windows: list[str] = []
    where: list[tuple[int, int, int]] = []  # (text, unit, offset of s in the window)
    for number, data in enumerate(texts):
        starts, ends, decided, valid = _unit_arrays(data)
        n = len(starts)
        flags = np.zeros(n, dtype=np.int8)
        if n > 1:
            arr = np.frombuffer(data, dtype=np.uint8)
            s = starts[1:]
            single = (ends[1:] - s == 1) & (s - starts[:-1] == 1)  # both characters are one byte long
            pair = np.where(single, _PAIRS[arr[s - 1], arr[s]], 2)
            # After one space: the next word starts here iff the space ends a run of spaces (a run
            # of two or more is a word of its own; a single space leads the word after it).
            spaced = np.zeros(n - 1, dtype=bool)
            spaced[1:] = (arr[s[1:] - 1] == 0x20) & _AFTER_SPACE[arr[s[1:]]] & _BEFORE_SPACE[arr[s[1:] - 2]] & single[1:]
            spaced[1:] &= s[1:] - starts[:-2] == 2  # the byte before the space is a character of its own
            pair = np.where(spaced, arr[np.maximum(s - 2, 0)] == 0x20, pair)
            broken = ~valid[1:] | ~valid[:-1]
            flags[1:] = np.where(broken, 1, pair)
            ask = np.flatnonzero(flags == 2)
            if len(ask):
                # A window never reaches back past the start of its valid run.
                run_start = np.maximum.accumulate(np.where(np.append(True, ~valid[:-1]), np.arange(n), 0))
                first = np.maximum(run_start[ask], np.searchsorted(starts, ends[ask] - CONTEXT_BYTES))
                for k, lo in zip(ask.tolist(), starts[first].tolist()):
                    windows.append(data[lo : int(ends[k])].decode("utf-8"))
                    where.append((number, k, int(starts[k]) - lo))
        per_text.append((starts, ends, decided, flags))
    if windows:
        for (number, k, offset), bounds in zip(where, word_boundaries_batch(windows, num_threads=num_threads)):
            per_text[number][3][k] = offset in bounds
    out: list[tuple[list[int], list[int]]] = []
    for starts, ends, decided, flags in per_text:
        if len(starts) == 0:
            out.append(([], []))
            continue
        flags[0] = 1
        natural = np.flatnonzero(flags)
        if max_bytes is not None:
            word_end = np.append(starts[natural[1:]], ends[-1])
            too_long = np.flatnonzero(word_end - starts[natural] > max_bytes)
            extra: list[int] = []
            for w in too_long.tolist():  # greedy cap inside each long word, at character starts
                stop = natural[w + 1] if w + 1 < len(natural) else len(starts)
                word_start = int(starts[natural[w]])
                for k in range(int(natural[w]) + 1, int(stop)):
                    if int(ends[k]) - word_start > max_bytes:
                        extra.append(k)
                        word_start = int(starts[k])
            if extra:
                natural = np.union1d(natural, np.array(extra, dtype=np.int64))
        chosen_starts = starts[natural].tolist()
        chosen_decided = decided[natural].tolist()
        chosen_decided[0] = 0
        out.append((chosen_starts, chosen_decided))
    return out
