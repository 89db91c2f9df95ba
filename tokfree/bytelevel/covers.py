"""Cover bookkeeping for `ByteLM`: the tokenizer's vocabulary as sorted byte arrays, and which token
strings are valid (a prefix of the encoding of some text).

Validity is decided by re-encoding: `ids` is valid when `enc(dec(ids)) == ids`, or, when `dec(ids)`
ends inside a UTF-8 character, when `enc(dec(ids) + w)` starts with `ids` for some completion `w`
of that character (tokenizers encode text, so a byte string that is not a prefix of valid UTF-8 has
no valid token string at all). Re-encoding a whole context for every candidate token would cost
O(|context| * |V|) per byte, so the check runs on a *window*: the suffix of the context from a
token boundary the candidate cannot move, and masks are cached per window:

* ``pair``: BPE without pre-tokenizer; a token string is canonical iff each adjacent pair is (the
  bigram lemma, research F3), so the window is the last token (widened to a UTF-8 character start).
* ``pretoken``: BPE after a preset regex (gpt2, gpt4, o200k, llama3); the window starts at the
  second-to-last pre-token of the context, which no appended text can re-split.
* ``lookback``: greedy longest match; the window holds every token starting within the longest
  token length of the end.
* ``full``: anything else (custom regexes, unknown tokenizers): the whole context.

This module does not call the LM; `tokfree.bytelevel.bytelm` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__: list[str] = []

_PRETOKEN_PRESETS = {"gpt2", "gpt4", "o200k", "llama3"}
# One character of each class the preset regexes look ahead at (letters that complete English
# contractions, digits, spaces, line breaks, punctuation, non-ASCII letters/spaces/symbols).
_PROBES = [b""] + [c.encode() for c in "asStlLdmvre1 \n\r\t.'\u00e9\u00a0\u4e2d\u00d7"]


def utf8_tail(data: bytes) -> int | None:
    """Length of the incomplete UTF-8 character at the end of `data` (0 if complete), or None if
    `data` is not a prefix of valid UTF-8."""
    if not data:
        return 0
    try:
        data.decode("utf-8")
        return 0
    except UnicodeDecodeError:
        pass
    for cut in range(1, min(4, len(data)) + 1):
        head, tail = data[:-cut], data[-cut:]
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if _completions(tail):
            return cut
        return None
    return None


_COMPLETION_CACHE: dict[bytes, list[bytes]] = {}


def _completions(tail: bytes) -> list[bytes]:
    """The byte strings `w` that make `tail + w` one valid UTF-8 character (all of them for 2-byte
    characters; for 3- and 4-byte ones every value of the next byte, the rest filled with the
    smallest bytes that give a valid character: an approximation for those characters)."""
    if tail in _COMPLETION_CACHE:
        return _COMPLETION_CACHE[tail]
    out: list[bytes] = []
    lead = tail[0] if tail else 0
    size = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0
    need = size - len(tail)
    if size and need > 0:
        for nxt in range(0x80, 0xC0):
            for fill_byte in range(0x80, 0xC0):
                w = bytes([nxt]) + bytes([fill_byte]) * (need - 1)
                try:
                    (tail + w).decode("utf-8")
                except UnicodeDecodeError:
                    if need == 1:
                        break
                    continue
                out.append(w)
                break
    _COMPLETION_CACHE[tail] = out
    return out


def window_kind(tokenizer: Any) -> str:
    """Which validity window is exact for this tokenizer (see the module docstring)."""
    from tokfree.bytelevel.toy import GreedyTokenizer
    from tokfree.tokenizer import Tokenizer

    if isinstance(tokenizer, GreedyTokenizer):
        return "lookback"
    if isinstance(tokenizer, Tokenizer) and tokenizer.normalizer is None:
        if tokenizer.pre_tokenizer == "none":
            return "pair"
        if tokenizer.pre_tokenizer in _PRETOKEN_PRESETS:
            return "pretoken"
    return "full"


class Vocabulary:
    """The text tokens of a tokenizer, sorted by bytes, as numpy arrays for range queries.

    Tokens whose bytes start with a given string form one contiguous range of the sorted order;
    `table[k, d]` is byte d of sorted token k, or -1 past its end (so each column is sorted
    within such a range).
    """

    def __init__(self, tokenizer: Any, lm_vocab_size: int) -> None:
        specials = set(tokenizer.special_tokens.values())
        entries = []
        for token_id in range(min(tokenizer.vocab_size, lm_vocab_size)):
            if token_id in specials:
                continue
            token = tokenizer.id_to_token(token_id)
            if token:
                entries.append((bytes(token), token_id))
        entries.sort()
        self.tokens: list[bytes] = [token for token, _ in entries]
        self.order = np.array([token_id for _, token_id in entries], dtype=np.int64)  # (K,) sorted pos -> id
        self.lengths = np.array([len(token) for token in self.tokens], dtype=np.int64)  # (K,)
        self.max_len = int(self.lengths.max()) if len(entries) else 1
        self.table = np.full((len(entries), self.max_len), -1, dtype=np.int16)  # (K, L_max)
        for k, token in enumerate(self.tokens):
            self.table[k, : len(token)] = np.frombuffer(token, dtype=np.uint8)
        self.bytes_of: dict[int, bytes] = {token_id: token for token, token_id in entries}

    def narrow(self, lo: int, hi: int, depth: int, byte: int) -> tuple[int, int]:
        """The sub-range of [lo, hi) (tokens sharing `depth` bytes) whose byte `depth` is `byte`."""
        column = self.table[lo:hi, depth]
        return lo + int(np.searchsorted(column, byte, "left")), lo + int(np.searchsorted(column, byte, "right"))

    def prefix_range(self, prefix: bytes) -> tuple[int, int]:
        """The range of sorted tokens starting with `prefix` (len(prefix) <= max_len)."""
        lo, hi = 0, len(self.tokens)
        for depth, byte in enumerate(prefix):
            if lo >= hi:
                break
            lo, hi = self.narrow(lo, hi, depth, byte)
        return lo, hi


class Canonicality:
    """Decides validity of token strings for one tokenizer, with per-window cached masks.

    `mask(ids, data)` -> bool array over the sorted vocabulary: which tokens t make `ids + [t]`
    valid, given that `ids` is valid and `dec(ids) == data`. Uses the Rust core for `tokfree.Tokenizer`
    (unless `use_rust=False`) and the pure-Python re-encode check otherwise; both agree (tested).
    """

    def __init__(self, tokenizer: Any, vocab: Vocabulary, *, use_rust: bool = True) -> None:
        from tokfree.tokenizer import Tokenizer

        self.tokenizer = tokenizer
        self.vocab = vocab
        self.kind = window_kind(tokenizer)
        self._is_tokfree = isinstance(tokenizer, Tokenizer)
        self._rust = None
        if use_rust and self.kind in ("pair", "pretoken"):
            from tokfree import _rust

            if hasattr(_rust, "bytelevel_valid_mask"):
                self._rust = _rust.bytelevel_valid_mask
        self._cache: dict[tuple[int, ...], np.ndarray] = {}
        self._bpe_cache: dict[bytes, tuple[int, ...]] = {}
        if self._is_tokfree:
            parts = tokenizer.to_parts()
            ids = {token: token_id for token_id, token in parts.vocab}
            self._byte_ids = [ids[bytes([b])] for b in range(256)]
            self._ranks = {pair: rank for rank, pair in enumerate(parts.merges)}
            by_id = dict(parts.vocab)
            self._merged = {pair: ids[by_id[pair[0]] + by_id[pair[1]]] for pair in parts.merges}
        self._enc_cache: dict[bytes, tuple[int, ...]] = {}
        self.mask_evaluations = 0

    # --- encoding -------------------------------------------------------------------------------

    def encode_text(self, data: bytes) -> tuple[int, ...]:
        """enc of complete UTF-8 `data` (special-token text is plain text)."""
        hit = self._enc_cache.get(data)
        if hit is None:
            text = data.decode("utf-8")
            if self._is_tokfree:
                hit = tuple(self.tokenizer.encode(text, disallowed_special=()))
            else:
                hit = tuple(self.tokenizer.encode(text))
            if len(self._enc_cache) > 1_000_000:
                self._enc_cache.clear()
            self._enc_cache[data] = hit
        return hit

    def _bpe(self, piece: bytes) -> tuple[int, ...]:
        """BPE of one pre-token given as raw bytes (it may end inside a character), HF merge rule."""
        hit = self._bpe_cache.get(piece)
        if hit is None:
            word = [self._byte_ids[b] for b in piece]
            while len(word) > 1:
                best = None
                for i in range(len(word) - 1):
                    rank = self._ranks.get((word[i], word[i + 1]))
                    if rank is not None and (best is None or rank < best[0]):
                        best = (rank, i)
                if best is None:
                    break
                i = best[1]
                word[i : i + 2] = [self._merged[(word[i], word[i + 1])]]
            hit = tuple(word)
            self._bpe_cache[piece] = hit
        return hit

    def encode_prefix(self, data: bytes) -> set[tuple[int, ...]]:
        """Every token string that the encoding of some text starting with `data` has for exactly the
        bytes `data` (empty if no text starts with `data`, or if a token always crosses its end).

        Greedy longest match and BPE without pre-tokenizer: just enc(data) (research F1/F2). BPE after a
        regex pre-tokenizer: the pre-tokens of `data + z` cut at len(data), each BPE-encoded, over probe
        continuations z (the completions of a trailing partial character, else "" and one character of
        each class the preset regexes look ahead at), because a whitespace run or a contraction at the
        end is split differently once the next character is known (research F5).
        """
        tail = utf8_tail(data)
        if tail is None:
            return set()
        if self.kind == "lookback":
            return {tuple(self.tokenizer.encode_bytes(data))}
        if self.kind == "pair":
            return {self._bpe(data)}
        if self.kind == "pretoken":
            from tokfree import _rust

            probes = _completions(data[-tail:]) if tail else _PROBES
            cuts = set()
            for z in probes:
                spans = _rust.split_spans((data + z).decode("utf-8"), self.tokenizer.pre_tokenizer)
                cuts.add(tuple((s, min(e, len(data))) for s, e in spans if s < len(data)))
            return {sum((self._bpe(data[s:e]) for s, e in cut), ()) for cut in cuts}
        if tail == 0:
            return {self.encode_text(data)}
        out = set()
        for w in _completions(data[-tail:]):
            ids = self.encode_text(data + w)
            at = 0
            for k, token_id in enumerate(ids):
                if at == len(data):
                    out.add(ids[:k])
                    break
                at += len(self.vocab.bytes_of.get(token_id, b""))
        return out

    def is_valid(self, ids: Sequence[int], data: bytes) -> bool:
        """Whether token string `ids` (with dec(ids) == data) is a prefix of enc(s) for some text s."""
        return tuple(ids) in self.encode_prefix(data)

    def lefts(self, data: bytes) -> list[tuple[int, ...]]:
        """All valid token strings whose bytes are exactly `data` (sorted)."""
        return sorted(self.encode_prefix(data))

    # --- masks ----------------------------------------------------------------------------------

    def _window(self, ids: tuple[int, ...], data: bytes) -> int:
        """Index of the first context token the validity check must see."""
        if not ids or self.kind == "full":
            return 0
        starts = [0]
        for token_id in ids:
            starts.append(starts[-1] + len(self.vocab.bytes_of[token_id]))
        n = len(data)
        if self.kind == "pair":
            j = len(ids) - 1
        elif self.kind == "lookback":
            limit = n - self.vocab.max_len + 1
            j = max((k for k in range(len(ids)) if starts[k] <= limit), default=0)
        else:  # pretoken
            tail = utf8_tail(data) or 0
            from tokfree import _rust

            spans = _rust.split_spans(data[: n - tail].decode("utf-8"), self.tokenizer.pre_tokenizer)
            start = spans[-2][0] if len(spans) >= 2 else 0
            j = max((k for k in range(len(ids)) if starts[k] <= start), default=0)
        while j > 0 and 0x80 <= data[starts[j]] < 0xC0:
            j -= 1  # the window must start at a character start to be re-encodable
        return j

    def mask(self, ids: tuple[int, ...], data: bytes) -> np.ndarray:
        """bool (K,) over the sorted vocabulary: tokens t with ids + [t] valid."""
        j = self._window(ids, data)
        key = ids[j:]
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        window = data[sum(len(self.vocab.bytes_of[t]) for t in ids[:j]) :]
        self.mask_evaluations += 1
        if self._rust is not None:
            order = self.vocab.order
            hit = np.asarray(self._rust(self.tokenizer._core, window, list(key), order.tolist(), _PROBES), dtype=bool)
        else:
            hit = self.mask_reference(key, window)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = hit
        return hit

    def mask_reference(self, ids: tuple[int, ...], data: bytes) -> np.ndarray:
        """The pure-Python twin of the Rust mask: one re-encode per candidate token."""
        out = np.zeros(len(self.vocab.tokens), dtype=bool)
        for k, token in enumerate(self.vocab.tokens):
            out[k] = self.is_valid(ids + (int(self.vocab.order[k]),), data + token)
        return out
