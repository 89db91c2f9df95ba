"""Sequence shortening for byte-level models: drop positions, pool segments, spread segments back.

MrT5 shortens its encoder by deleting positions (`compact`: the kept positions of each row move to
the front, rows padded to the longest); word-pooling and hierarchical models pool the bytes of each
word into one vector (`pool_segments`) and later give every byte its word's vector
(`upsample_segments`, with a shift so that a causal decoder only sees finished words). Words come
as byte offsets (`tokfree.words.word_boundaries_batch`) and become per-byte segment ids with
`boundaries_to_segment_ids`.

Everything is vectorised over the batch (no Python loop over rows or positions), runs on the
device of its inputs and is differentiable in the float inputs. Shapes: B rows, T positions,
S segments, D features. A segment id of -1 marks a position in no segment (padding, a BOS byte).
Output sizes depend on the data (T' kept entries, S segments), so `compact` and `pool_segments`
read one number back from the device; `boundaries_to_segment_ids` builds on the CPU from Python
lists, then moves. This file holds no learned parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from tokfree.errors import TokfreeError

__all__ = ["Compacted", "boundaries_to_segment_ids", "compact", "gather_positions", "pool_segments", "upsample_segments"]


class Compacted(NamedTuple):
    """The result of `compact`: each row's kept entries, moved to the front and padded."""

    values: Tensor  # (B, T', ...) the kept entries in their original order; zeros in padding slots
    mask: Tensor  # (B, T') bool, True for kept entries, False for padding
    positions: Tensor  # (B, T') long, the original index of each kept entry; 0 in padding slots


def _check_rows(x: Tensor, mask: Tensor, name: str, mask_name: str) -> None:
    if x.dim() < 2:
        raise TokfreeError(f"{name} has shape {tuple(x.shape)}; it must be (B, T, ...) with a batch and a time axis")
    if mask.shape != x.shape[:2]:
        raise TokfreeError(
            f"{mask_name} has shape {tuple(mask.shape)} but {name} is {tuple(x.shape)}; {mask_name} must be (B, T) = {tuple(x.shape[:2])}"
        )


def gather_positions(x: Tensor, positions: Tensor, mask: Tensor) -> Tensor:
    """Picks ``x[b, positions[b, j]]`` for every row b and slot j; slots where `mask` is False get 0.

    Use it to compact another tensor with the positions `compact` returned (e.g. rotary positions
    or an attention bias aligned with the compacted states).

    Args:
        x: (B, T, ...) any dtype.
        positions: (B, T') long, indices into the T axis (padding slots may hold any valid index).
        mask: (B, T') bool, True for real slots.

    Returns:
        (B, T', ...) with x's dtype and device.

    Example:
        >>> x = torch.tensor([[10, 11, 12], [20, 21, 22]])
        >>> gather_positions(x, torch.tensor([[2, 0], [1, 0]]), torch.tensor([[True, True], [True, False]]))
        tensor([[12, 10],
                [21,  0]])
    """
    if x.dim() < 2:
        raise TokfreeError(f"x has shape {tuple(x.shape)}; it must be (B, T, ...) with a batch and a time axis")
    if positions.shape != mask.shape or positions.dim() != 2 or positions.shape[0] != x.shape[0]:
        raise TokfreeError(
            f"positions {tuple(positions.shape)} and mask {tuple(mask.shape)} must both be (B, T') with B = {x.shape[0]}"
        )
    trailing = x.shape[2:]
    view = (*positions.shape, *([1] * len(trailing)))
    index = positions.reshape(view).expand(*positions.shape, *trailing)
    return x.gather(1, index).masked_fill(~mask.reshape(view), 0)


def compact(x: Tensor, keep: Tensor) -> Compacted:
    """Hard deletion: keeps the entries of each row where `keep` is True, in order, at the front.

    The new length T' is the largest number of kept entries in a row (0 if nothing is kept);
    shorter rows are padded with zeros and ``mask`` False. This is MrT5's inference-time
    deletion: everything after it runs on T' positions instead of T.

    Args:
        x: (B, T, ...) any dtype (hidden states, ids, ...).
        keep: (B, T) bool. Combine it with the padding mask first if padding must go too.

    Returns:
        `Compacted` ``(values (B, T', ...), mask (B, T') bool, positions (B, T') long)``: the kept
        entries equal ``x[b][keep[b]]`` row by row, and ``positions`` are their indices in x
        (rotary positions stay those of the original sequence).

    Raises:
        TokfreeError: `keep` is not a (B, T) bool tensor matching x.

    Example:
        >>> x = torch.arange(8).view(2, 4)
        >>> keep = torch.tensor([[True, False, True, True], [False, True, False, False]])
        >>> out = compact(x, keep)
        >>> out.values, out.mask, out.positions
        (tensor([[0, 2, 3],
                [5, 0, 0]]), tensor([[ True,  True,  True],
                [ True, False, False]]), tensor([[0, 2, 3],
                [1, 0, 0]]))
    """
    _check_rows(x, keep, "x", "keep")
    if keep.dtype != torch.bool:
        raise TokfreeError(f"keep has dtype {keep.dtype}; pass a bool mask (e.g. gate > threshold)")
    counts = keep.sum(1)  # (B,)
    new_len = int(counts.max()) if keep.numel() else 0
    # The j-th kept entry of a row sits where the running count of kept entries first reaches j + 1.
    running = keep.long().cumsum(1)
    wanted = torch.arange(1, new_len + 1, device=keep.device).expand(keep.shape[0], new_len).contiguous()
    positions = torch.searchsorted(running, wanted)  # (B, T'); T for slots past a row's count
    mask = torch.arange(new_len, device=keep.device)[None, :] < counts[:, None]
    positions = positions.masked_fill(~mask, 0)
    return Compacted(gather_positions(x, positions, mask), mask, positions)


def boundaries_to_segment_ids(
    boundaries: Sequence[Sequence[int]], length: int, *, offset: int = 0, device: torch.device | str | None = None
) -> Tensor:
    """Per-position segment ids from per-row boundary offsets (e.g. word boundaries).

    Row b's segment k covers positions ``offset + c[k]`` to ``offset + c[k + 1] - 1``, where ``c``
    is ``boundaries[b]`` (as `tokfree.words.word_boundaries_batch` returns: 0, then each word's end
    in bytes). Positions before the first or after the last boundary get -1, as do positions at
    or past `length`: a batch truncated to `length` keeps the segments that fit, the last one
    possibly cut short.

    Args:
        boundaries: one strictly increasing list of non-negative offsets per row (``[0]`` or
            ``[]``: no segment).
        length: T, the padded length of the rows.
        offset: added to every boundary (1 when each row starts with a BOS id).
        device: where to build the result.

    Returns:
        (B, T) long segment ids, -1 outside every segment.

    Raises:
        TokfreeError: a row is not strictly increasing, holds a negative offset, or `length` /
            `offset` is negative.

    Example:
        >>> boundaries_to_segment_ids([[0, 6, 13], [0, 3]], 14, offset=1)
        tensor([[-1,  0,  0,  0,  0,  0,  0,  1,  1,  1,  1,  1,  1,  1],
                [-1,  0,  0,  0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]])
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise TokfreeError(f"length={length!r}: pass the padded row length T, an int >= 0")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise TokfreeError(f"offset={offset!r}: pass an int >= 0 (1 when rows start with a BOS id)")
    if isinstance(boundaries, (str, bytes, Tensor)):
        raise TokfreeError("boundaries must be a list of per-row offset lists, e.g. word_boundaries_batch(texts)")
    try:
        sizes = torch.tensor([len(row) for row in boundaries], dtype=torch.long)  # (B,)
        cuts = torch.tensor([c for row in boundaries for c in row], dtype=torch.long)  # (N,) all rows, flat
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        raise TokfreeError(
            f"boundaries must be a list of per-row lists of int offsets ({err}); pass word_boundaries_batch(texts)"
        ) from None
    rows = len(sizes)
    row_of = torch.repeat_interleave(torch.arange(rows), sizes)  # (N,) the row of each offset
    ends = sizes.cumsum(0)  # one past each row's last offset in `cuts`
    bad = cuts < 0
    bad[1:] |= (cuts[1:] <= cuts[:-1]) & (row_of[1:] == row_of[:-1])
    if bool(bad.any()):
        row = int(row_of[bad.nonzero()[0, 0]])
        shown = ", ".join(str(c) for c in list(boundaries[row])[:12])
        raise TokfreeError(
            f"boundaries[{row}] = [{shown}{', ...' if len(boundaries[row]) > 12 else ''}] is not a strictly increasing list "
            "of offsets >= 0; pass word_boundaries(text) for each row"
        )
    at = (cuts + offset).clamp(max=length)  # positions; offsets past the end pile up at `length`
    last = torch.zeros(len(cuts), dtype=torch.bool)
    nonempty = sizes > 0
    last[ends[nonempty] - 1] = True
    # Every offset but a row's last starts a segment: count the starts at or before each position.
    marks = torch.zeros(rows, length + 1, dtype=torch.long)
    marks.index_put_((row_of[~last], at[~last]), torch.ones(1, dtype=torch.long), accumulate=True)
    ids = marks[:, :length].cumsum(1) - 1
    begin = torch.full((rows,), length, dtype=torch.long)
    end = torch.zeros(rows, dtype=torch.long)
    begin[nonempty] = at[(ends - sizes)[nonempty]]
    end[nonempty] = at[ends[nonempty] - 1]
    t = torch.arange(length)[None, :]
    ids = torch.where((t >= begin[:, None]) & (t < end[:, None]), ids, -1)
    return ids.to(device) if device is not None else ids


def _check_segment_ids(segment_ids: Tensor, shape: torch.Size, name: str) -> None:
    if segment_ids.shape != shape[:2] or segment_ids.dtype != torch.long:
        raise TokfreeError(
            f"segment_ids is {segment_ids.dtype} {tuple(segment_ids.shape)}; it must be torch.long (B, T) = {tuple(shape[:2])} "
            f"matching {name} (use boundaries_to_segment_ids)"
        )


def pool_segments(
    x: Tensor, segment_ids: Tensor, *, reduce: Literal["mean", "max"] = "mean", num_segments: int | None = None
) -> tuple[Tensor, Tensor]:
    """Pools the positions of each segment into one vector (the mean or the elementwise max).

    Args:
        x: (B, T, D) floating point (more trailing axes are pooled alike).
        segment_ids: (B, T) long: the segment of each position, -1 for none (ignored).
        reduce: "mean" or "max".
        num_segments: S (None: the largest id + 1). Rows with fewer segments are padded.

    Returns:
        ``(pooled (B, S, D) with x's dtype, mask (B, S) bool)``; a segment with no position (a
        padding slot) is 0 with mask False. Half-precision inputs are summed in float32.

    Raises:
        TokfreeError: shapes or dtypes do not match, `reduce` is unknown, or an id is below -1
            or at least `num_segments`.

    Example:
        >>> x = torch.tensor([[[1.0], [3.0], [5.0], [0.0]]])
        >>> pooled, mask = pool_segments(x, torch.tensor([[0, 0, 1, -1]]))
        >>> pooled.squeeze(-1), mask
        (tensor([[2., 5.]]), tensor([[True, True]]))
    """
    if not x.is_floating_point():
        raise TokfreeError(f"x has dtype {x.dtype}; pooling needs floating point states (cast with x.float())")
    _check_rows(x, segment_ids, "x", "segment_ids")
    _check_segment_ids(segment_ids, x.shape, "x")
    if reduce not in ("mean", "max"):
        raise TokfreeError(f"reduce={reduce!r} is not known; pass 'mean' or 'max'")
    b, t = segment_ids.shape
    low = int(segment_ids.min()) if segment_ids.numel() else -1
    high = int(segment_ids.max()) if segment_ids.numel() else -1
    if low < -1:
        raise TokfreeError(f"segment id {low} is below -1; use -1 for positions in no segment")
    if num_segments is None:
        num_segments = high + 1
    elif high >= num_segments:
        raise TokfreeError(f"segment id {high} needs num_segments > {high}, got {num_segments}; pass None to size it")
    flat = x.reshape(b, t, -1)
    width = flat.shape[-1]
    # Positions in no segment go to an extra slot S, dropped at the end.
    slot = torch.where(segment_ids >= 0, segment_ids, num_segments)
    index = slot[..., None].expand(b, t, width)
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    counts = torch.zeros(b, num_segments + 1, dtype=acc, device=x.device).scatter_add(1, slot, torch.ones_like(slot, dtype=acc))
    counts = counts[:, :num_segments]
    if reduce == "mean":
        sums = torch.zeros(b, num_segments + 1, width, dtype=acc, device=x.device).scatter_add(1, index, flat.to(acc))
        pooled = sums[:, :num_segments] / counts.clamp(min=1)[..., None]
    else:
        # include_self=False: a segment's max is over its positions only; an empty one keeps the 0.
        start = torch.zeros(b, num_segments + 1, width, dtype=x.dtype, device=x.device)
        pooled = start.scatter_reduce(1, index, flat, "amax", include_self=False)[:, :num_segments]
    return pooled.to(x.dtype).reshape(b, num_segments, *x.shape[2:]), counts > 0


def upsample_segments(segments: Tensor, segment_ids: Tensor, *, shift: int = 0, fill: Tensor | None = None) -> Tensor:
    """Gives every position the vector of its segment: the inverse direction of `pool_segments`.

    With ``shift=1`` a position in segment k gets segment k - 1's vector, so a causal byte decoder
    predicting the bytes of word k sees only words that are complete (HAT's decoder input).

    Args:
        segments: (B, S, D) segment vectors (more trailing axes are fine).
        segment_ids: (B, T) long, the segment of each position, -1 for none.
        shift: look this many segments back (0: the position's own segment).
        fill: (D,) or broadcastable, for positions with no source segment (ids -1, and the first
            `shift` segments of a row); None: zeros. A learned vector here is HAT's "first word".

    Returns:
        (B, T, D) with segments' dtype; gradients flow to `segments` and `fill`.

    Raises:
        TokfreeError: shapes do not match, `shift` is negative, or an id is at least S.

    Example:
        >>> segments = torch.tensor([[[1.0], [2.0]]])
        >>> ids = torch.tensor([[0, 0, 1, -1]])
        >>> upsample_segments(segments, ids).squeeze(-1), upsample_segments(segments, ids, shift=1).squeeze(-1)
        (tensor([[1., 1., 2., 0.]]), tensor([[0., 0., 1., 0.]]))
    """
    if segments.dim() < 3 or segment_ids.dim() != 2 or segments.shape[0] != segment_ids.shape[0]:
        raise TokfreeError(
            f"segments {tuple(segments.shape)} must be (B, S, D) and segment_ids {tuple(segment_ids.shape)} (B, T) with the same B"
        )
    if segment_ids.dtype != torch.long:
        raise TokfreeError(f"segment_ids has dtype {segment_ids.dtype}; pass torch.long ids (use boundaries_to_segment_ids)")
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise TokfreeError(f"shift={shift!r}: pass an int >= 0 (1 for a causal decoder)")
    if segment_ids.numel() and int(segment_ids.max()) >= segments.shape[1]:
        raise TokfreeError(
            f"segment id {int(segment_ids.max())} is past the {segments.shape[1]} segments given; pool with the same segment_ids"
        )
    source = segment_ids - shift
    valid = (segment_ids >= 0) & (source >= 0)
    positions = source.clamp(min=0)
    if segments.shape[1] == 0:  # nothing to gather from: every position is filled
        out = segments.new_zeros(segment_ids.shape[0], segment_ids.shape[1], *segments.shape[2:])
    else:
        out = gather_positions(segments, positions, valid)
    if fill is not None:
        view = valid.reshape(*valid.shape, *([1] * (segments.dim() - 2)))
        out = torch.where(view, out, fill.to(out.dtype))
    return out
