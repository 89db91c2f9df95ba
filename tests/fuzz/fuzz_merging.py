"""Fuzzes `tokfree.merging.plan_merges` on fuzzed id matrices, masks and limits.

For each boundary rule: the plan's merged batch is no longer than the input, and
`unmerge(*plan.apply(x, m), width=x.shape[1]) == (x, m)` when x's padding holds `pad_id`.
Ids may be out of the vocabulary and masks may hold padding inside a row: those must raise
TokfreeError. Only TokfreeError may escape.

    python tests/fuzz/fuzz_merging.py tests/fuzz/corpus/merging -max_total_time=600
"""

from __future__ import annotations

import os
import sys

import atheris
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _harness import instrument_tokfree, run, training_texts  # noqa: E402

with instrument_tokfree(trace_comparisons=False):
    import tokfree
    from tokfree.errors import TokfreeError
    from tokfree.merging import BOUNDARIES, plan_merges

TOK = tokfree.train_bpe(iter(training_texts(3)), 300, pre_tokenizer="gpt2", special_tokens=["<|endoftext|>"], show_progress=False)


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    rows, cols = fdp.ConsumeIntInRange(1, 4), fdp.ConsumeIntInRange(0, 12)
    ids = np.array(fdp.ConsumeIntListInRange(rows * cols, 0, TOK.vocab_size + 2) + [0] * (rows * cols), dtype=np.int64)[: rows * cols].reshape(rows, cols)
    lengths = [fdp.ConsumeIntInRange(0, cols) for _ in range(rows)]
    left = fdp.ConsumeBool()
    mask = np.zeros((rows, cols), dtype=np.int64)
    for r, n in enumerate(lengths):
        if left:
            mask[r, cols - n :] = 1
        else:
            mask[r, :n] = 1
    if fdp.ConsumeBool() and mask.size:
        mask.flat[fdp.ConsumeIntInRange(0, mask.size - 1)] ^= 1  # may put padding inside a row
    ids[mask == 0] = 0
    boundary = BOUNDARIES[fdp.ConsumeIntInRange(0, len(BOUNDARIES) - 1)]
    n_merges = fdp.ConsumeIntInRange(0, 20) if fdp.ConsumeBool() else None
    target = fdp.ConsumeFloatInRange(0.0, 1.2) if fdp.ConsumeBool() else None
    use_mask = fdp.ConsumeBool()
    try:
        plan = plan_merges(ids, mask if use_mask else None, n_merges=n_merges, target_ratio=target, boundary=boundary, tokenizer=TOK, backend="numpy")
        merged, merged_mask = plan.apply(ids, mask if use_mask else None)
        back, back_mask = plan.unmerge(merged, merged_mask, width=cols)
    except TokfreeError:
        return
    if plan.ids.shape[1] > cols:
        raise AssertionError(f"the merged batch is wider ({plan.ids.shape}) than the input {ids.shape}")
    expected_mask = mask if use_mask else np.ones_like(ids)
    if not (np.array_equal(back, ids) and np.array_equal(np.asarray(back_mask), expected_mask)):
        raise AssertionError(f"unmerge(apply(x)) != x for boundary={boundary}:\nx={ids!r}\nmask={mask!r}\nback={back!r}\nback_mask={back_mask!r}")


if __name__ == "__main__":
    run(test_one)
