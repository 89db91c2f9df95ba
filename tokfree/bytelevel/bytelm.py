"""`ByteLM`: a tokenized LM turned into an exact byte-level LM (next-byte log-probabilities over 256
bytes + end of text, sampling, scoring).

The byte-level prefix probability is the sum of the LM's probabilities over the *covers* of the
prefix: the valid token strings whose last token straddles or ends at the last byte (the BTR lemma,
research/model-papers.md section 1). A `ByteState` holds those covers compactly: each cover group
is (context E, log q(E), the masked next-token log-probs at E, a range of the byte-sorted
vocabulary whose tokens all start with the bytes consumed since E). Consuming a byte narrows each
range (a binary search); a token that ends exactly at the new byte becomes a new context, which
costs one LM call the next time a distribution is asked for: about one call per byte.

This module does not tokenize or check validity itself (`covers.py`) and never trains anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tokfree.bytelevel.covers import Canonicality, Vocabulary, utf8_tail
from tokfree.bytelevel.protocol import TokenLM
from tokfree.errors import TokfreeError

__all__ = ["EOT", "ByteLM", "ByteState"]

EndRule = Literal["text", "boundary"]

EOT = 256
"""Index of "end of text" in the 257-way distributions (after the 256 byte values)."""


@dataclass(frozen=True)
class _Group:
    """Covers E + [t] for the sorted-vocabulary tokens t in [lo, hi), which all start with the
    `depth` bytes consumed since E and are longer than that."""

    logq: float  # log q(E), relative to the state's reference
    logp: np.ndarray  # (K,) float64: log q(t | E) in sorted order, -inf where E + [t] is invalid
    lo: int
    hi: int
    depth: int
    context: tuple[int, ...]


class ByteState:
    """The covers after a byte prefix. Immutable: `advance` returns a new state.

    Example:
        >>> state = blm.prefill(b"Hello wor")
        >>> lp = state.logp_next()          # (257,) log-probs: bytes 0..255, then EOT
        >>> state = state.advance(ord("l"))
    """

    def __init__(
        self,
        owner: ByteLM,
        data: bytes,
        groups: list[_Group],
        pending: list[tuple[tuple[int, ...], float]],
        eot: list[float],
        context_ids: tuple[int, ...] = (),
        end: EndRule = "text",
    ) -> None:
        self._owner = owner
        self.data = data
        self.context_ids = context_ids  # fixed token context before the byte-level part (sent to the LM, never re-tokenized)
        self.end = end  # which covers may end the text (see ByteLM.prefill)
        self._groups = groups
        self._pending = pending  # exact covers (ids, log q) not yet sent to the LM
        self._eot = eot  # log q(E) + log q(EOS | E) of expanded exact covers
        self._logp: np.ndarray | None = None

    @property
    def covers(self) -> list[tuple[tuple[int, ...], int, float]]:
        """Every cover with positive mass: (token ids, end byte offset relative to the prefix, log mass)
        — the explicit set, for tests and inspection (slow for big vocabularies). The ids are those of
        the byte-level part only (after `context_ids`)."""
        owner = self._owner
        out = [(ids, 0, logq) for ids, logq in self._pending]
        for group in self._groups:
            for k in range(group.lo, group.hi):
                if group.logp[k] > -math.inf:
                    token_id = int(owner.vocab.order[k])
                    extra = int(owner.vocab.lengths[k]) - group.depth
                    out.append((group.context + (token_id,), extra, group.logq + float(group.logp[k])))
        return out

    def _expand(self) -> None:
        """Sends the pending exact covers to the LM (one batched call)."""
        if not self._pending:
            return
        owner = self._owner
        contexts = [ids for ids, _ in self._pending]
        rows = owner._call([self.context_ids + ids for ids in contexts])
        for (ids, logq), row in zip(self._pending, rows):
            self._groups.append(owner._group(ids, logq, row, self.data))
            if owner._may_end(ids, self.data, self.end):
                self._eot.append(logq + float(row[owner.lm.eos_id]))
        self._pending = []

    def logp_next(self) -> np.ndarray:
        """(257,) float64 log-probabilities of the next byte (0..255) and of end of text (index 256);
        logsumexp is 0.

        Raises:
            TokfreeError: the prefix has probability 0 under the model.
        """
        if self._logp is None:
            self._expand()
            scores = np.full(257, -np.inf)
            table = self._owner.vocab.table
            for group in self._groups:
                segment = group.logp[group.lo : group.hi]
                top = segment.max() if len(segment) else -np.inf
                if top == -np.inf:
                    continue
                sums = np.bincount(table[group.lo : group.hi, group.depth], weights=np.exp(segment - top), minlength=256)
                with np.errstate(divide="ignore"):
                    scores[:256] = np.logaddexp(scores[:256], group.logq + top + np.log(sums))
            for value in self._eot:
                scores[EOT] = np.logaddexp(scores[EOT], value)
            total = np.logaddexp.reduce(scores)
            if total == -np.inf:
                raise TokfreeError(f"the prefix {self.data[-20:]!r} (last 20 bytes) has probability 0 under this model; no byte can follow it")
            self._logp = scores - total
        return self._logp

    def advance(self, byte: int) -> ByteState:
        """The state after one more byte (0..255).

        Raises:
            TokfreeError: `byte` is not in 0..255.
        """
        if not isinstance(byte, (int, np.integer)) or not 0 <= byte <= 255:
            raise TokfreeError(f"byte={byte!r}: pass an int in 0..255 (EOT ends the text; there is nothing to advance past it)")
        byte = int(byte)
        self._expand()
        owner = self._owner
        vocab = owner.vocab
        data = self.data + bytes([byte])
        groups: list[_Group] = []
        pending: list[tuple[tuple[int, ...], float]] = []
        for group in self._groups:
            lo, hi = vocab.narrow(group.lo, group.hi, group.depth, byte)
            if lo >= hi:
                continue
            depth = group.depth + 1
            if vocab.lengths[lo] == depth:  # a token ending exactly here: a new exact cover
                value = float(group.logp[lo])
                if value > -math.inf:
                    pending.append((group.context + (int(vocab.order[lo]),), group.logq + value))
                lo += 1
            if lo < hi and group.logp[lo:hi].max() > -math.inf:
                groups.append(_Group(group.logq, group.logp, lo, hi, depth, group.context))
        shift = max([g.logq for g in groups] + [logq for _, logq in pending], default=0.0)
        if shift == -math.inf:
            shift = 0.0
        groups = [_Group(g.logq - shift, g.logp, g.lo, g.hi, g.depth, g.context) for g in groups]
        pending = [(ids, logq - shift) for ids, logq in pending]
        return ByteState(owner, data, groups, pending, [], self.context_ids, self.end)


class ByteLM:
    """A tokenized LM as an exact byte-level LM.

    Args:
        lm: a `TokenLM` (next-token log-probs after token contexts).
        tokenizer: the LM's tokenizer: a `tokfree.Tokenizer`, a `toy.GreedyTokenizer`, or any object
            with `encode(str)`, `id_to_token(id) -> bytes`, `vocab_size`, `special_tokens`,
            `pre_tokenizer`.
        use_rust: compute validity masks in the Rust core when the tokenizer is a `tokfree.Tokenizer`.

    Exact (next-byte probabilities equal brute-force enumeration) for byte-level BPE without
    pre-tokenizer and with the gpt2/gpt4 presets, and for greedy longest match; see docs/bytelevel.md
    for the conditions. Special tokens and ids the tokenizer does not have never appear in covers;
    the LM's `eos_id` gives the end-of-text probability.

    Example:
        >>> blm = ByteLM(lm, tok)
        >>> blm.score("hello")                     # log P(text, then end of text)
        >>> blm.generate(b"def f(", max_bytes=40, temperature=0.8, top_p=0.95, seed=0)
    """

    def __init__(self, lm: TokenLM, tokenizer: Any, *, use_rust: bool = True) -> None:
        if not hasattr(lm, "next_logprobs") or not hasattr(lm, "vocab_size"):
            raise TokfreeError(f"lm={type(lm).__name__} is not a TokenLM: it needs vocab_size, eos_id and next_logprobs(contexts)")
        self.lm = lm
        self.tokenizer = tokenizer
        self.vocab = Vocabulary(tokenizer, lm.vocab_size)
        self.canonicality = Canonicality(tokenizer, self.vocab, use_rust=use_rust)
        self.calls: list[int] = []  # contexts per LM call, in order

    # --- internals ------------------------------------------------------------------------------

    def _call(self, contexts: list[tuple[int, ...]]) -> np.ndarray:
        self.calls.append(len(contexts))
        rows = np.asarray(self.lm.next_logprobs([list(c) for c in contexts]), dtype=np.float64)
        if rows.shape != (len(contexts), self.lm.vocab_size):
            raise TokfreeError(
                f"lm.next_logprobs returned shape {rows.shape}, expected ({len(contexts)}, {self.lm.vocab_size}): one row of vocab_size log-probs per context"
            )
        return rows

    def _may_end(self, ids: tuple[int, ...], data: bytes, end: EndRule) -> bool:
        """Whether the text may end after the exact cover `ids` of `data`: with end="text" only the
        canonical encoding of complete text can; with end="boundary" every (valid) exact cover can."""
        if self.lm.eos_id is None:
            return False
        if end == "boundary":
            return True
        return utf8_tail(data) == 0 and self.canonicality.encode_text(data) == ids

    def _group(self, ids: tuple[int, ...], logq: float, row: np.ndarray, data: bytes, lo: int = 0, hi: int | None = None, depth: int = 0) -> _Group:
        mask = self.canonicality.mask(ids, data)
        logp = np.where(mask, row[self.vocab.order], -np.inf)
        return _Group(logq, logp, lo, len(self.vocab.tokens) if hi is None else hi, depth, ids)

    # --- public API -----------------------------------------------------------------------------

    def prefill(self, prompt: bytes | str, *, context_ids: Sequence[int] = (), end: EndRule = "text") -> ByteState:
        """The state after `prompt`, which may end anywhere (mid-token, mid-character).

        Enumerates the covers from scratch (left parts enc(prompt[:i]) for the last longest-token-length
        split points) and makes one batched LM call.

        Args:
            prompt: the byte-level part: the text whose covers are summed over.
            context_ids: a fixed token context the LM sees before the byte-level part, e.g.
                `<PRE> enc(prefix) <SUF> enc(suffix) <MID>` for a fill-in-the-middle model. It is a hard
                boundary: the byte-level part is tokenized as a text of its own (validity, end of
                text), as when special tokens split the input.
            end: which token paths may end the byte-level part (the LM's `eos_id` after them):
                "text" (default): only the canonical encoding of the bytes as a complete text, which
                is how a model trained on whole documents ends one. "boundary": every valid path
                whose last token ends at the last byte: for a model trained on token-level slices of
                longer texts, such as the prefix + middle of an SPM fill-in-the-middle model whose
                split points were token boundaries (`tokfree.training.fim`); the middle then ends
                where a token of the whole text ends.

        Raises:
            TokfreeError: `prompt` is neither bytes nor str, or a context id is outside the LM's vocabulary.
        """
        data = _as_bytes(prompt, "prompt")
        fixed = tuple(int(i) for i in context_ids)
        if end not in ("text", "boundary"):
            raise TokfreeError(f"end={end!r}: choose 'text' (complete canonical texts end) or 'boundary' (any token boundary may end)")
        bad = [i for i in fixed if not 0 <= i < self.lm.vocab_size]
        if bad:
            raise TokfreeError(f"context_ids contains {bad[:3]}: ids must be in 0..{self.lm.vocab_size - 1} (the LM's vocab_size)")
        n = len(data)
        if n == 0:
            return ByteState(self, b"", [], [((), 0.0)], [], fixed, end)
        canon, vocab = self.canonicality, self.vocab
        lefts: list[tuple[int, tuple[int, ...]]] = []
        for i in range(max(0, n - vocab.max_len), n):
            for ids in canon.lefts(data[:i]):
                lefts.append((i, ids))
        if not lefts:
            return ByteState(self, data, [], [], [], fixed, end)
        common = lefts[0][1]
        for _, ids in lefts[1:]:
            k = 0
            while k < min(len(common), len(ids)) and common[k] == ids[k]:
                k += 1
            common = common[:k]
        base = len(common)
        # Tokenizer-only work first: which exact covers end at n (their LM rows join the same call).
        plans = []
        exact: list[tuple[int, int, int]] = []  # (left index, sorted position, token id)
        for index, (i, ids) in enumerate(lefts):
            lo, hi = vocab.prefix_range(data[i:])
            mask = canon.mask(ids, data[:i])
            if lo < hi and vocab.lengths[lo] == n - i:
                if mask[lo]:
                    exact.append((index, lo, int(vocab.order[lo])))
                lo += 1
            plans.append((lo, hi))
        contexts: dict[tuple[int, ...], int] = {}
        for _, ids in lefts:
            for j in range(base, len(ids) + 1):
                contexts.setdefault(ids[:j], len(contexts))
        for index, _, token_id in exact:
            contexts.setdefault(lefts[index][1] + (token_id,), len(contexts))
        rows = self._call([fixed + c for c in contexts])
        groups: list[_Group] = []
        left_logq = []
        for (i, ids), (lo, hi) in zip(lefts, plans):
            logq = sum(float(rows[contexts[ids[:j]], ids[j]]) for j in range(base, len(ids)))
            left_logq.append(logq)
            group = self._group(ids, logq, rows[contexts[ids]], data[:i], lo, hi, n - i)
            if lo < hi and group.logp[lo:hi].max() > -math.inf:
                groups.append(group)
        eot: list[float] = []
        for index, _, token_id in exact:
            i, ids = lefts[index]
            row_left = rows[contexts[ids]]
            logq = left_logq[index] + float(row_left[token_id])
            if logq == -math.inf:
                continue
            full = ids + (token_id,)
            row = rows[contexts[full]]
            groups.append(self._group(full, logq, row, data))
            if self._may_end(full, data, end):
                eot.append(logq + float(row[self.lm.eos_id]))
        return ByteState(self, data, groups, [], eot, fixed, end)

    def score(self, text: bytes | str, *, eot: bool = True) -> float:
        """log P(text) at byte level: the sum of the next-byte log-probs along `text`, plus the
        end-of-text log-prob when `eot` (the probability of the complete text). -inf if impossible.

        Equals the chained `logp_next` values by construction; with an LM that puts no mass on
        non-canonical token strings it also equals log q(enc(text)) + log q(EOS | enc(text)).
        """
        return chain_logprob(self.prefill(b""), _as_bytes(text, "text"), eot=eot)

    def generate(
        self,
        prompt: bytes | str,
        max_bytes: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> bytes:
        """Samples up to `max_bytes` bytes after `prompt` (stops early at end of text).

        Temperature and top-p apply to the 257-way byte distribution; temperature 0 is greedy.

        Raises:
            TokfreeError: a negative `max_bytes` or `temperature`, or `top_p` outside (0, 1].

        Example:
            >>> blm.generate("The ", 20, temperature=0.7, seed=1)
        """
        return sample_bytes(self.prefill(prompt), max_bytes, temperature=temperature, top_p=top_p, seed=seed)


def chain_logprob(state: Any, data: bytes, *, eot: bool) -> float:
    """log P(data | state's prefix) by chaining `logp_next` and `advance` (plus end of text when
    `eot`); -inf as soon as a byte is impossible. Works for any byte-level state (ByteState,
    EnsembleState)."""
    total = 0.0
    for byte in data:
        value = float(state.logp_next()[byte])
        if value == -math.inf:
            return -math.inf
        total += value
        state = state.advance(byte)
    if eot:
        total += float(state.logp_next()[EOT])
    return total


def sample_bytes(state: Any, max_bytes: int, *, temperature: float, top_p: float, seed: int | None) -> bytes:
    """Up to `max_bytes` bytes sampled from `state` on (stops at end of text); see `sample_byte`.

    Raises:
        TokfreeError: a negative `max_bytes` or `temperature`, or `top_p` outside (0, 1].
    """
    if max_bytes < 0 or temperature < 0 or not 0 < top_p <= 1:
        raise TokfreeError(f"max_bytes={max_bytes}, temperature={temperature}, top_p={top_p}: need max_bytes >= 0, temperature >= 0 and 0 < top_p <= 1")
    rng = np.random.default_rng(seed)
    out = bytearray()
    for _ in range(max_bytes):
        choice = sample_byte(state.logp_next(), temperature=temperature, top_p=top_p, rng=rng)
        if choice == EOT:
            break
        out.append(choice)
        state = state.advance(choice)
    return bytes(out)


def sample_byte(logp: np.ndarray, *, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """One index of a (257,) log-prob vector after temperature and nucleus (top-p) filtering."""
    if temperature == 0:
        return int(np.argmax(logp))
    scaled = logp / temperature
    p = np.exp(scaled - scaled.max())
    p /= p.sum()
    if top_p < 1:
        order = np.argsort(-p, kind="stable")
        keep = np.cumsum(p[order]) - p[order] < top_p
        filtered = np.zeros_like(p)
        filtered[order[keep]] = p[order[keep]]
        p = filtered / filtered.sum()
    return int(rng.choice(len(p), p=p))


def _as_bytes(value: bytes | str | Sequence[int], name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TokfreeError(f"{name} must be bytes or str, got {type(value).__name__}")
