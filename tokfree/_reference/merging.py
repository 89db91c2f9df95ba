"""Reference batch-level BPE (`tokfree.merging.plan_merges`), written out literally.

A batch is a list of rows; a row is a list of (id, joinable) with joinable saying whether the token
may merge with the next one. Each step counts every adjacent joinable pair of every row
(overlapping), merges the most frequent one (ties to the smallest (left, right)), rewriting each row
left to right without overlap; merge r gets id first_new_id + r, joinable iff its right part was.
"""

from __future__ import annotations

from collections import Counter

Row = list[tuple[int, bool]]


def _rewrite(row: Row, pair: tuple[int, int], new: int) -> Row:
    out: Row = []
    i = 0
    while i < len(row):
        if i + 1 < len(row) and row[i][1] and (row[i][0], row[i + 1][0]) == pair:
            out.append((new, row[i + 1][1]))
            i += 2
        else:
            out.append(row[i])
            i += 1
    return out


def plan(
    rows: list[Row], *, first_new_id: int, max_merges: int, target_len: int = 0, min_count: int = 1
) -> tuple[list[tuple[int, int]], list[Row]]:
    """The merges chosen and the rows after them."""
    merges: list[tuple[int, int]] = []
    while len(merges) < max_merges and sum(map(len, rows)) > target_len:
        counts = Counter((r[i][0], r[i + 1][0]) for r in rows for i in range(len(r) - 1) if r[i][1])
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        if counts[pair] < min_count:
            break
        rows = [_rewrite(r, pair, first_new_id + len(merges)) for r in rows]
        merges.append(pair)
    return merges, rows


def apply(rows: list[Row], merges: list[tuple[int, int]], *, first_new_id: int) -> list[Row]:
    """The rows after replaying `merges` in order."""
    for r, pair in enumerate(merges):
        rows = [_rewrite(row, pair, first_new_id + r) for row in rows]
    return rows


def unmerge(ids: list[int], merges: list[tuple[int, int]], *, first_new_id: int) -> list[int]:
    """Each merged id replaced by the base ids it was made of."""
    out: list[int] = []
    for t in ids:
        if t >= first_new_id:
            a, b = merges[t - first_new_id]
            out += unmerge([a, b], merges, first_new_id=first_new_id)
        else:
            out.append(t)
    return out
