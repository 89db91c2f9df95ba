"""Batch-level BPE: merge the most frequent adjacent token pairs of a whole batch into new tokens.

`plan_merges` takes a padded batch of ids (numpy or torch), works out where merges are allowed
(`boundary`), and repeats: count every adjacent allowed pair over the whole batch, merge the most
frequent one everywhere. Ties go to the smallest (left id, right id), so the plan does not depend
on the order of the rows. Merge r makes the new id `first_new_id + r`; a new token is joinable to
its right iff its right part was, so later merges grow it. The result is a `MergePlan`: the merges,
the merged batch, `apply` (the same merges on other ids), `unmerge` (back to the base ids) and each
new token's constituent base ids (for its embedding: `tokfree.merging.embeddings`).

Boundaries, never crossed:
- `"word"`: a token holding whitespace (space, tab, newline, CR, VT, FF) after its first byte never
  merges with the next token, and a token holding whitespace anywhere never merges with the token
  before it. So a merged token is a run of pieces with whitespace only at its start: one word,
  with its leading space.
- `"pretoken"`: the tokenizer's own pre-tokenizer, run on each row's bytes; no merge crosses a
  pre-token boundary. (Bytes that are not UTF-8, such as a row cut inside a character, count as one
  replacement character each.)
- `"none"`: anything merges, except across special tokens and padding.
Special tokens (the tokenizer's and `special_ids`) and padding never merge in any mode.

The loop runs in a Numba kernel (`tokfree._kernels.merging`), with a numpy twin (`backend="numpy"`).
This file handles padding, boundaries and array types; it computes no embeddings.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tokfree.errors import TokfreeError
from tokfree.tokenizer import Tokenizer

__all__ = ["BOUNDARIES", "MergePlan", "plan_merges"]

BOUNDARIES = ("word", "pretoken", "none")
Boundary = Literal["word", "pretoken", "none"]
Backend = Literal["auto", "numba", "numpy"]

_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
_MAX_ID = 2**31 - 1  # the kernel packs a pair into one int64


def _loop(backend: Backend):
    if backend not in ("auto", "numba", "numpy"):
        raise TokfreeError(f'backend={backend!r}: choose "auto", "numba" or "numpy"')
    if backend != "numpy":
        try:
            from tokfree._kernels.merging import merge_loop_numba

            return merge_loop_numba
        except ImportError:
            if backend == "numba":
                raise TokfreeError('backend="numba" needs numba: pip install "tokfree[numba]"') from None
    from tokfree._kernels.merging import merge_loop_numpy

    return merge_loop_numpy


# --------------------------------------------------------------------------- array plumbing


def _is_torch(x: object) -> bool:
    return type(x).__module__.startswith("torch")


def _to_numpy(x: object, name: str) -> np.ndarray:
    if _is_torch(x):
        x = x.detach().cpu().numpy()  # type: ignore[attr-defined]
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise TokfreeError(f"{name} must be a (batch, time) matrix, got shape {arr.shape}")
    return arr


def _check_ids(ids: object) -> np.ndarray:
    arr = _to_numpy(ids, "ids")
    if arr.dtype.kind not in "iu":
        raise TokfreeError(f"ids must hold integers, got dtype {arr.dtype}; pass token ids (int32 or int64)")
    return arr.astype(np.int64, copy=False)


def _check_mask(mask: object, shape: tuple[int, ...]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    arr = _to_numpy(mask, "attention_mask")
    if arr.shape != shape:
        raise TokfreeError(f"attention_mask has shape {arr.shape}, ids {shape}; they must match")
    if arr.dtype.kind not in "biu":
        raise TokfreeError(f"attention_mask must be bool or 0/1 integers, got dtype {arr.dtype}")
    if arr.dtype.kind != "b" and not np.isin(arr, (0, 1)).all():
        raise TokfreeError("attention_mask holds values other than 0 and 1; 1 marks a real token, 0 padding")
    return arr.astype(bool)


@dataclass(frozen=True)
class _Flat:
    """A padded batch as its real tokens, row after row."""

    tokens: np.ndarray  # (n,) int64
    lengths: np.ndarray  # (B,) int64
    left: bool  # padded on the left


def _flatten(ids: np.ndarray, mask: np.ndarray, *, default_left: bool = False) -> _Flat:
    """The real tokens; a batch without padding keeps `default_left` as its side."""
    lengths = mask.sum(axis=1).astype(np.int64)
    width = ids.shape[1]
    cols = np.arange(width)
    first = np.where(lengths > 0, np.argmax(mask, axis=1), 0) if width else np.zeros_like(lengths)
    contiguous = (mask == ((cols >= first[:, None]) & (cols < (first + lengths)[:, None]))).all()
    right_ok = bool(contiguous and (first[lengths > 0] == 0).all())
    left_ok = bool(contiguous and (first + lengths == width)[lengths > 0].all())
    if not (right_ok or left_ok):
        raise TokfreeError(
            "attention_mask has padding inside a row; merging needs each row's real tokens together, "
            "padded on the left or on the right"
        )
    return _Flat(ids[mask], lengths, left=left_ok and (default_left or not right_ok))


def _pad(tokens: np.ndarray, lengths: np.ndarray, *, left: bool, pad_id: int, width: int | None) -> tuple[np.ndarray, np.ndarray]:
    longest = int(lengths.max()) if lengths.size else 0
    width = longest if width is None else width
    if width < longest:
        raise TokfreeError(f"width={width} is shorter than the longest row ({longest} tokens); pass at least {longest} or None")
    cols = np.arange(width)
    start = (width - lengths) if left else np.zeros_like(lengths)
    mask = (cols >= start[:, None]) & (cols < (start + lengths)[:, None])
    out = np.full((lengths.size, width), pad_id, dtype=np.int64)
    out[mask] = tokens
    return out, mask


def _like(values: np.ndarray, mask: np.ndarray, ids: object, attention_mask: object) -> tuple[Any, Any]:
    """`values` and `mask` as the caller's array types, dtypes and device."""
    if _is_torch(ids):
        import torch

        out = torch.from_numpy(values).to(device=ids.device, dtype=ids.dtype)  # type: ignore[attr-defined]
        ref = attention_mask if _is_torch(attention_mask) else None
        m = torch.from_numpy(mask).to(device=ids.device)  # type: ignore[attr-defined]
        return out, m.to(ref.dtype) if ref is not None else m
    ids_dtype = np.asarray(ids).dtype
    m_dtype = np.asarray(attention_mask).dtype if attention_mask is not None else np.dtype(bool)
    return values.astype(ids_dtype), mask.astype(m_dtype)


# --------------------------------------------------------------------------- boundaries


@dataclass
class _Rules:
    """Where merges may happen, from the tokenizer's token bytes (built once per plan)."""

    boundary: Boundary
    tokenizer: Tokenizer | None
    special: np.ndarray  # (V,) bool
    ws_any: np.ndarray | None = None  # (V,) bool: whitespace anywhere in the token
    ws_inner: np.ndarray | None = None  # (V,) bool: whitespace after the first byte
    token_bytes: list[bytes] = field(default_factory=list)

    @classmethod
    def build(cls, boundary: str, tokenizer: Tokenizer | None, special_ids: Collection[int], vocab: int) -> _Rules:
        if boundary not in BOUNDARIES:
            raise TokfreeError(f"boundary={boundary!r}: choose one of {BOUNDARIES}")
        if boundary != "none" and tokenizer is None:
            raise TokfreeError(f'boundary="{boundary}" needs the tokenizer the ids came from: pass tokenizer=...')
        special = np.zeros(vocab, dtype=bool)
        for i in special_ids:
            if not 0 <= int(i) < vocab:
                raise TokfreeError(f"special id {i} is outside 0..{vocab - 1}")
            special[int(i)] = True
        rules = cls(boundary, tokenizer, special)  # type: ignore[arg-type]
        if tokenizer is not None:
            for i in tokenizer.special_tokens.values():
                if i < vocab:
                    special[i] = True
            rules.token_bytes = [tokenizer.id_to_token(i) or b"" for i in range(tokenizer.vocab_size)]
            rules.token_bytes += [b""] * (vocab - len(rules.token_bytes))
        if boundary == "word":
            rules.ws_any = np.array([any(c in _WHITESPACE for c in t) for t in rules.token_bytes], dtype=bool)
            rules.ws_inner = np.array([any(c in _WHITESPACE for c in t[1:]) for t in rules.token_bytes], dtype=bool)
        return rules

    def joinable(self, flat: _Flat) -> np.ndarray:
        """(n,) bool: token i may merge with token i + 1."""
        t = flat.tokens
        if t.size and int(t.max()) >= self.special.size:
            raise TokfreeError(
                f"token id {int(t.max())} is outside the vocabulary 0..{self.special.size - 1}; "
                "plan and apply on base ids (unmerge merged ids first)"
            )
        join = np.ones(t.size, dtype=bool)
        ends = np.cumsum(flat.lengths) - 1
        join[ends[flat.lengths > 0]] = False
        join &= ~self.special[t]
        join[:-1] &= ~self.special[t[1:]]
        if self.boundary == "word":
            assert self.ws_any is not None and self.ws_inner is not None
            join &= ~self.ws_inner[t]
            join[:-1] &= ~self.ws_any[t[1:]]
        elif self.boundary == "pretoken":
            join &= self._pretoken_joinable(flat)
        if join.size:
            join[-1] = False
        return join

    def _pretoken_joinable(self, flat: _Flat) -> np.ndarray:
        from tokfree.pretokenize import split_spans

        assert self.tokenizer is not None
        preset = self.tokenizer.pre_tokenizer
        join = np.ones(flat.tokens.size, dtype=bool)
        starts = np.concatenate(([0], np.cumsum(flat.lengths)))
        for row in range(flat.lengths.size):
            # Segments between special tokens are pre-tokenized on their own, as the tokenizer does.
            seg: list[int] = []
            for pos in range(int(starts[row]), int(starts[row + 1])):
                if self.special[flat.tokens[pos]]:
                    self._mark_segment(seg, flat, join, split_spans, preset)
                    seg = []
                else:
                    seg.append(pos)
            self._mark_segment(seg, flat, join, split_spans, preset)
        return join

    def _mark_segment(self, seg: list[int], flat: _Flat, join: np.ndarray, split_spans, preset: str) -> None:
        if len(seg) < 2:
            return
        pieces = [self.token_bytes[flat.tokens[p]] for p in seg]
        data = b"".join(pieces)
        # One character per undecodable byte keeps a known byte length for every character.
        text = data.decode("utf-8", errors="surrogateescape")
        byte_len = [1 if "\udc80" <= ch <= "\udcff" else len(ch.encode("utf-8")) for ch in text]
        clean = "".join("\ufffd" if "\udc80" <= ch <= "\udcff" else ch for ch in text)
        char_at_byte = {0: 0}
        offset = 0
        for ci, n in enumerate(byte_len):
            offset += n
            char_at_byte[offset] = ci + 1
        clean_offsets = np.cumsum([0] + [len(ch.encode("utf-8")) for ch in clean])
        cuts = set()
        for start, _ in split_spans(clean, preset):
            ci = int(np.searchsorted(clean_offsets, start))
            cuts.add(ci)
        offset = 0
        for k, piece in enumerate(pieces[:-1]):
            offset += len(piece)
            ci = char_at_byte.get(offset)  # None: the gap falls inside a character, never a cut
            if ci is not None and ci in cuts:
                join[seg[k]] = False


@functools.lru_cache(maxsize=8)
def _rules(boundary: str, tokenizer: Tokenizer | None, special_ids: tuple[int, ...], vocab: int) -> _Rules:
    """`_Rules.build`, memoised per tokenizer: reading every token's bytes costs more than planning a batch."""
    return _Rules.build(boundary, tokenizer, special_ids, vocab)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class MergePlan:
    """The merges `plan_merges` chose for a batch, and the batch after them.

    Attributes:
        merges: (M, 2) int64, merge r joins (merges[r, 0], merges[r, 1]) into id first_new_id + r.
        first_new_id: the first new id (ids below it are base ids).
        boundary: the boundary rule the plan respects.
        ids, attention_mask: the merged planning batch (the caller's array type; padded on the side
            the input was, as long as its longest row).
        lengths_before, lengths_after: (B,) real tokens per row before and after merging.
        pieces: (M, L) int64 base ids each new token is made of, padded with -1.
        piece_lengths: (M,) the number of base ids in each new token.
        pad_id: the id in the outputs' padding slots.
        left_padded: the planning batch was padded on the left; outputs of `apply` and `unmerge`
            keep their input's side, and this one when the input has no padding to tell.
    """

    merges: np.ndarray
    first_new_id: int
    boundary: str
    ids: Any
    attention_mask: Any
    lengths_before: np.ndarray
    lengths_after: np.ndarray
    pieces: np.ndarray
    piece_lengths: np.ndarray
    pad_id: int
    left_padded: bool
    _rules: _Rules = field(repr=False)
    _backend: Backend = field(repr=False, default="auto")

    @property
    def n_merges(self) -> int:
        """M, the number of new tokens."""
        return int(self.merges.shape[0])

    @property
    def length_ratio(self) -> float:
        """Real tokens after / before over the planning batch (0.8 = 20% shorter)."""
        before = int(self.lengths_before.sum())
        return int(self.lengths_after.sum()) / before if before else 1.0

    def constituents(self, new_id: int) -> tuple[int, ...]:
        """The base ids new token `new_id` stands for, in order."""
        r = new_id - self.first_new_id
        if not 0 <= r < self.n_merges:
            raise TokfreeError(f"{new_id} is not a new id of this plan ({self.first_new_id}..{self.first_new_id + self.n_merges - 1})")
        return tuple(int(t) for t in self.pieces[r, : self.piece_lengths[r]])

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of a base or new token (needs the tokenizer the plan was made with)."""
        if not self._rules.token_bytes:
            raise TokfreeError("this plan was made without a tokenizer, so it knows no token bytes")
        ids = self.constituents(token_id) if token_id >= self.first_new_id else (token_id,)
        return b"".join(self._rules.token_bytes[t] for t in ids)

    def apply(self, ids: Any, attention_mask: Any = None, *, width: int | None = None) -> tuple[Any, Any]:
        """The plan's merges, in order, on other base ids (same boundary rule).

        Args:
            ids: (B, T) base ids, numpy or torch, padded on one side.
            attention_mask: (B, T) 1 for real tokens; None = no padding.
            width: the output width (None: the longest merged row).

        Returns:
            (merged ids, attention mask), the caller's array types.

        Raises:
            TokfreeError: ids that are not base ids, a mask with padding inside a row, bad shapes.
        """
        arr = _check_ids(ids)
        mask = _check_mask(attention_mask, arr.shape)
        flat = _flatten(arr, mask, default_left=self.left_padded)
        join = self._rules.joinable(flat)
        _, tokens, _ = _loop(self._backend)(
            flat.tokens, join, first_new_id=self.first_new_id, fixed=self.merges, max_merges=self.n_merges
        )
        lengths = _row_lengths(flat, tokens, self)
        out, out_mask = _pad(tokens, lengths, left=flat.left, pad_id=self.pad_id, width=width)
        return _like(out, out_mask, ids, attention_mask)

    def unmerge(self, ids: Any, attention_mask: Any = None, *, width: int | None = None) -> tuple[Any, Any]:
        """Merged ids back to base ids: each new id replaced by its constituents.

        `unmerge(*plan.apply(x, m), width=x.shape[1]) == (x, m)` when x's padding holds `pad_id`.

        Args:
            ids: (B, T) ids, base or new, padded on one side.
            attention_mask: (B, T) 1 for real tokens; None = no padding.
            width: the output width (None: the longest unmerged row).

        Returns:
            (base ids, attention mask), the caller's array types.
        """
        arr = _check_ids(ids)
        mask = _check_mask(attention_mask, arr.shape)
        flat = _flatten(arr, mask, default_left=self.left_padded)
        t = flat.tokens
        limit = self.first_new_id + self.n_merges
        if t.size and (int(t.min()) < 0 or int(t.max()) >= limit):
            raise TokfreeError(f"id {int(t.max()) if int(t.max()) >= limit else int(t.min())} is neither a base id nor a new id of this plan (0..{limit - 1})")
        if self.n_merges:
            is_new = t >= self.first_new_id
            rank = np.where(is_new, t - self.first_new_id, 0)
            sizes = np.where(is_new, self.piece_lengths[rank], 1)
            table = self.pieces[rank]  # (n, L)
            table[~is_new, 0] = t[~is_new]
        else:
            sizes, table = np.ones(t.size, dtype=np.int64), t[:, None]
        cols = np.arange(table.shape[1])
        tokens = table[cols[None, :] < sizes[:, None]]
        row_of = np.repeat(np.arange(flat.lengths.size), flat.lengths)
        lengths = np.bincount(row_of, weights=sizes, minlength=flat.lengths.size).astype(np.int64)
        out, out_mask = _pad(tokens, lengths, left=flat.left, pad_id=self.pad_id, width=width)
        return _like(out, out_mask, ids, attention_mask)


def _row_lengths(flat: _Flat, tokens: np.ndarray, plan: MergePlan) -> np.ndarray:
    """Tokens per row after merging: each row end survives merging and ends a row again."""
    # A row's last token has joinable=False and is never the right part of a merge across rows,
    # so counting merged rows by their base lengths is exact: expand the merged tokens' sizes.
    sizes = np.ones(tokens.size, dtype=np.int64)
    if plan.n_merges:
        new = tokens >= plan.first_new_id
        sizes[new] = plan.piece_lengths[tokens[new] - plan.first_new_id]
    ends = np.cumsum(sizes)
    bounds = np.cumsum(flat.lengths)
    # The merged token ending at base position bounds[r] closes row r.
    counts = np.searchsorted(ends, bounds, side="right")
    return np.diff(np.concatenate(([0], counts))).astype(np.int64)


def _pieces(merges: np.ndarray, first_new_id: int) -> tuple[np.ndarray, np.ndarray]:
    expansions: list[list[int]] = []
    for a, b in merges.tolist():
        left = expansions[a - first_new_id] if a >= first_new_id else [a]
        right = expansions[b - first_new_id] if b >= first_new_id else [b]
        expansions.append(left + right)
    lengths = np.array([len(e) for e in expansions], dtype=np.int64)
    table = np.full((len(expansions), int(lengths.max()) if expansions else 1), -1, dtype=np.int64)
    for r, e in enumerate(expansions):
        table[r, : len(e)] = e
    return table, lengths


def plan_merges(
    ids: Any,
    attention_mask: Any = None,
    *,
    n_merges: int | None = None,
    target_ratio: float | None = None,
    boundary: Boundary = "word",
    tokenizer: Tokenizer | None = None,
    special_ids: Collection[int] = (),
    first_new_id: int | None = None,
    min_count: int = 1,
    pad_id: int = 0,
    backend: Backend = "auto",
) -> MergePlan:
    """Plans batch-level BPE merges for one batch (see the module docstring for the rules).

    Args:
        ids: (B, T) base token ids, numpy or torch (int32/int64), padded on the left or the right.
        attention_mask: (B, T) 1/True for real tokens; None = no padding.
        n_merges: at most this many merges (None: no limit).
        target_ratio: stop once the batch's real tokens are at most this share of the original
            (0.8 = 20% shorter); None: no target. With neither limit, merges run until no allowed
            pair is left (word or pre-token level).
        boundary: "word", "pretoken" or "none" (module docstring).
        tokenizer: the tokenizer the ids come from (token bytes and special tokens); needed unless
            boundary="none".
        special_ids: more ids that never merge.
        first_new_id: the id of the first new token (None: the tokenizer's vocab_size, or the
            largest id + 1 without one).
        min_count: never merge a pair seen fewer times than this in the batch.
        pad_id: the id written into padding slots of the outputs.
        backend: "numba", "numpy" (the twin) or "auto" (numba when installed).

    Returns:
        The `MergePlan`, holding the merged batch (`plan.ids`, `plan.attention_mask`).

    Raises:
        TokfreeError: bad shapes or dtypes, padding inside a row, ids outside the vocabulary, a
            boundary that needs a tokenizer without one, or bad limits.

    Example:
        >>> import numpy as np, tokfree
        >>> tok = tokfree.train_bpe(iter(["low lower lowest " * 20]), 260, show_progress=False)
        >>> batch = np.array([tok.encode(" lowest lower")])
        >>> plan = plan_merges(batch, tokenizer=tok)
        >>> plan.ids.shape[1] <= batch.shape[1], tok.decode_bytes(batch[0]) == b"".join(plan.token_bytes(int(t)) for t in plan.ids[0])
        (True, True)
    """
    arr = _check_ids(ids)
    mask = _check_mask(attention_mask, arr.shape)
    if n_merges is not None and (isinstance(n_merges, bool) or not isinstance(n_merges, int) or n_merges < 0):
        raise TokfreeError(f"n_merges={n_merges!r}: pass a non-negative integer or None")
    if target_ratio is not None and not 0.0 < float(target_ratio) <= 1.0:
        raise TokfreeError(f"target_ratio={target_ratio!r}: pass a share in (0, 1], e.g. 0.8 for 20% shorter")
    if not isinstance(min_count, int) or min_count < 1:
        raise TokfreeError(f"min_count={min_count!r}: pass a positive integer")
    real = arr[mask]
    if real.size and int(real.min()) < 0:
        raise TokfreeError(f"ids hold {int(real.min())}; token ids are non-negative")
    if first_new_id is None:
        first_new_id = tokenizer.vocab_size if tokenizer is not None else (int(real.max()) + 1 if real.size else 0)
    if real.size and int(real.max()) >= first_new_id:
        raise TokfreeError(f"ids hold {int(real.max())}, not below first_new_id={first_new_id}; plan on base ids only")
    flat = _flatten(arr, mask)
    limit = n_merges if n_merges is not None else max(flat.tokens.size, 1)
    if first_new_id + limit > _MAX_ID:
        raise TokfreeError(f"first_new_id + n_merges exceeds {_MAX_ID}; ids must fit in 31 bits")
    rules = _rules(boundary, tokenizer, tuple(sorted(int(i) for i in special_ids)), first_new_id)
    join = rules.joinable(flat)
    target = int(np.floor(target_ratio * flat.tokens.size)) if target_ratio is not None else 0
    merges, tokens, _ = _loop(backend)(
        flat.tokens, join, first_new_id=first_new_id, max_merges=limit, target_len=target, min_count=min_count
    )
    pieces, piece_lengths = _pieces(merges, first_new_id)
    plan = MergePlan(
        merges=merges, first_new_id=first_new_id, boundary=boundary, ids=None, attention_mask=None,
        lengths_before=flat.lengths, lengths_after=flat.lengths, pieces=pieces, piece_lengths=piece_lengths,
        pad_id=pad_id, left_padded=flat.left, _rules=rules, _backend=backend,
    )  # fmt: skip
    lengths = _row_lengths(flat, tokens, plan)
    out, out_mask = _pad(tokens, lengths, left=flat.left, pad_id=pad_id, width=None)
    merged_ids, merged_mask = _like(out, out_mask, ids, attention_mask)
    object.__setattr__(plan, "ids", merged_ids)
    object.__setattr__(plan, "attention_mask", merged_mask)
    object.__setattr__(plan, "lengths_after", lengths)
    return plan
