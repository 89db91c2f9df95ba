"""Batch-level BPE over flat id arrays: the pair-counting and merge-application loop of
`tokfree.merging.plan_merges`, as a Numba kernel (`merge_loop_numba`) and a numpy twin
(`merge_loop_numpy`).

Input is the real tokens of a batch concatenated row after row (`tokens`, int64) and `joinable`
(bool): joinable[i] says token i may merge with token i + 1 (False at every row end, at boundaries
and beside special tokens). Both functions run the same loop:

- Count every adjacent joinable pair (overlapping: `a a a` holds (a, a) twice).
- Pick the next merge: in planning mode the pair with the highest count, ties to the smallest
  (left id, right id); in replay mode the next row of `fixed`.
- Rewrite every occurrence left to right without overlap (`a a a` -> `aa a`); merge r gets id
  `first_new_id + r`. The merged token is joinable to its right iff its right part was.
- Stop after `max_merges` merges, once the total length is at most `target_len`, or (planning) when
  no pair is seen at least `min_count` times.

Both return (merges (M, 2) int64, tokens after merging, joinable after merging). The kernel is
incremental (pair counts updated around each rewrite, a lazy max-heap, a per-pair list of
positions), so planning costs O(n log n) for n tokens; the twin recounts with `np.unique` at every
merge, O(merges x n log n). This file knows nothing about padding, tokenizers or torch.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np
from numba import types
from numba.typed import Dict

__all__ = ["merge_loop_numba", "merge_loop_numpy"]

_SHIFT = 32  # pair key = left << 32 | right; ids stay below 2**31 (checked by the caller)


@numba.njit(cache=True)
def _get(d, key, default):  # pragma: no cover - compiled; typed Dict.get returns an Optional
    if key in d:
        return d[key]
    return default


@numba.njit(cache=True)
def _bump(counts, heads, ev_pos, ev_link, n_ev, heap, a, b, delta, pos):  # pragma: no cover - compiled
    key = (a << _SHIFT) | b
    c = _get(counts, key, 0) + delta
    counts[key] = c
    if delta > 0:
        # A new occurrence at `pos`: record it on the pair's position list and offer the new count.
        ev_pos[n_ev] = pos
        ev_link[n_ev] = _get(heads, key, -1)
        heads[key] = n_ev
        n_ev += 1
        heapq.heappush(heap, (-c, a, b))
    return n_ev


@numba.njit(cache=True)
def _merge_loop(tokens, joinable, first_new_id, replay, fixed, max_merges, target_len, min_count):  # pragma: no cover - compiled
    n = tokens.size
    tok = tokens.copy()
    join = joinable.copy()
    nxt = np.arange(1, n + 1)
    prv = np.arange(-1, n - 1)
    alive = np.ones(n, dtype=np.bool_)
    counts = Dict.empty(key_type=types.int64, value_type=types.int64)
    heads = Dict.empty(key_type=types.int64, value_type=types.int64)
    # Every occurrence ever formed: n at the start, at most two per rewrite, at most n - 1 rewrites.
    ev_pos = np.empty(3 * n + 1, dtype=np.int64)
    ev_link = np.empty(3 * n + 1, dtype=np.int64)
    n_ev = 0
    heap = [(np.int64(0), np.int64(0), np.int64(0))]
    heap.pop()
    for i in range(n - 1):
        if join[i]:
            key = (tok[i] << _SHIFT) | tok[i + 1]
            counts[key] = _get(counts, key, 0) + 1
            ev_pos[n_ev] = i
            ev_link[n_ev] = _get(heads, key, -1)
            heads[key] = n_ev
            n_ev += 1
    for key, c in counts.items():
        heap.append((-c, key >> _SHIFT, key & ((1 << _SHIFT) - 1)))
    heapq.heapify(heap)

    limit = min(max_merges, fixed.shape[0]) if replay else max_merges
    merges = np.empty((max(limit, 0), 2), dtype=np.int64)
    length = n
    m = 0
    while m < limit and length > target_len:
        if replay:
            a, b = fixed[m, 0], fixed[m, 1]
        else:
            found = False
            c = np.int64(0)
            a = np.int64(0)
            b = np.int64(0)
            while len(heap) > 0:
                negc, a, b = heapq.heappop(heap)
                c = _get(counts, (a << _SHIFT) | b, 0)
                if c == -negc and c > 0:
                    found = True
                    break
                if 0 < c < -negc:  # stale: re-offer with the true count
                    heapq.heappush(heap, (-c, a, b))
            if not found or c < min_count:
                break
        new = first_new_id + m
        key = (a << _SHIFT) | b
        # The pair's candidate positions, left to right; stale ones are skipped below.
        count = 0
        e = _get(heads, key, -1)
        while e >= 0:
            count += 1
            e = ev_link[e]
        cand = np.empty(count, dtype=np.int64)
        e = _get(heads, key, -1)
        k = 0
        while e >= 0:
            cand[k] = ev_pos[e]
            k += 1
            e = ev_link[e]
        cand.sort()
        if key in heads:
            del heads[key]  # no position can form (a, b) again: new ids are fresh
        for p in cand:
            if not alive[p] or not join[p]:
                continue
            j = nxt[p]
            if tok[p] != a or tok[j] != b:
                continue
            n_ev = _bump(counts, heads, ev_pos, ev_link, n_ev, heap, a, b, -1, p)
            pp = prv[p]
            if pp >= 0 and join[pp]:
                n_ev = _bump(counts, heads, ev_pos, ev_link, n_ev, heap, tok[pp], a, -1, pp)
                n_ev = _bump(counts, heads, ev_pos, ev_link, n_ev, heap, tok[pp], new, 1, pp)
            if join[j]:
                q = nxt[j]
                n_ev = _bump(counts, heads, ev_pos, ev_link, n_ev, heap, b, tok[q], -1, j)
                n_ev = _bump(counts, heads, ev_pos, ev_link, n_ev, heap, new, tok[q], 1, p)
            tok[p] = new
            join[p] = join[j]
            nxt[p] = nxt[j]
            if nxt[j] < n:
                prv[nxt[j]] = p
            alive[j] = False
            length -= 1
        merges[m, 0] = a
        merges[m, 1] = b
        m += 1
    return merges[:m], tok[alive], join[alive]


def _closed(joinable: np.ndarray) -> np.ndarray:
    """A copy of `joinable` whose last entry is False (nothing follows the last token)."""
    join = np.array(joinable, dtype=np.bool_)
    if join.size:
        join[-1] = False
    return join


def merge_loop_numba(
    tokens: np.ndarray,  # (n,) int64
    joinable: np.ndarray,  # (n,) bool
    *,
    first_new_id: int,
    fixed: np.ndarray | None = None,  # (M, 2) int64: replay these merges instead of planning
    max_merges: int,
    target_len: int = 0,
    min_count: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merge loop (module docstring) in Numba: (merges (M, 2), tokens, joinable) after merging."""
    fixed_arr = np.zeros((0, 2), dtype=np.int64) if fixed is None else np.ascontiguousarray(fixed, dtype=np.int64)
    return _merge_loop(
        np.ascontiguousarray(tokens, dtype=np.int64), _closed(joinable),
        np.int64(first_new_id), fixed is not None, fixed_arr, np.int64(max_merges), np.int64(target_len), np.int64(min_count),
    )  # fmt: skip


def _rewrite(tok: np.ndarray, join: np.ndarray, a: int, b: int, new: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (a, b) at a joinable gap -> `new`, left to right without overlap."""
    match = join[:-1] & (tok[:-1] == a) & (tok[1:] == b)
    if a == b:
        # Overlapping matches form runs; keep every other one, starting at each run's first.
        idx = np.arange(match.size)
        starts = match & ~np.concatenate(([False], match[:-1]))
        last_start = np.maximum.accumulate(np.where(starts, idx, -1))
        match &= (idx - last_start) % 2 == 0
    left = np.flatnonzero(match)
    if left.size == 0:
        return tok, join
    tok = tok.copy()
    join = join.copy()
    tok[left] = new
    join[left] = join[left + 1]
    keep = np.ones(tok.size, dtype=bool)
    keep[left + 1] = False
    return tok[keep], join[keep]


def merge_loop_numpy(
    tokens: np.ndarray,
    joinable: np.ndarray,
    *,
    first_new_id: int,
    fixed: np.ndarray | None = None,
    max_merges: int,
    target_len: int = 0,
    min_count: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numpy twin of `merge_loop_numba`: same arguments, same result."""
    tok = np.asarray(tokens, dtype=np.int64).copy()
    join = _closed(joinable)
    limit = min(max_merges, len(fixed)) if fixed is not None else max_merges
    merges: list[tuple[int, int]] = []
    while len(merges) < limit and tok.size > target_len:
        if fixed is not None:
            a, b = int(fixed[len(merges), 0]), int(fixed[len(merges), 1])
        else:
            gaps = np.flatnonzero(join[:-1])
            if gaps.size == 0:
                break
            keys, counts = np.unique((tok[gaps] << _SHIFT) | tok[gaps + 1], return_counts=True)
            best = int(np.argmax(counts))  # the first maximum: keys are sorted, so the smallest pair
            if counts[best] < min_count:
                break
            a, b = int(keys[best] >> _SHIFT), int(keys[best] & ((1 << _SHIFT) - 1))
        tok, join = _rewrite(tok, join, a, b, first_new_id + len(merges))
        merges.append((a, b))
    return np.array(merges, dtype=np.int64).reshape(-1, 2), tok, join
