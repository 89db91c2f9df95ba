"""Checks shared by the word-level model tests (test_pooling.py: WordPoolLM; test_hierarchical.py: HierarchicalLM)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
import torch

from tokfree.errors import TokfreeError


def assert_training_lowers_loss(make_model: Callable[[], torch.nn.Module]) -> None:
    """30 AdamW steps on one repeated sentence at least halve the loss (nats per byte), all finite."""
    torch.manual_seed(0)
    model = make_model().train()
    batch = model.make_batch(["the cat and the dog and the cat"] * 4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model.nll(batch).sum() / batch.n_bytes
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # (pytest does not rewrite the asserts of a helper module: the messages say what failed)
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < 0.5 * losses[0], losses


def assert_bits_per_byte(model: torch.nn.Module, texts: Sequence[str], n_bytes: int) -> None:
    """bits_per_byte(texts) = -sum log_prob / ln 2 / n_bytes (counted by hand), and no bytes at all raises."""
    expected = -sum(model.log_prob(texts)) / math.log(2) / n_bytes
    got = model.bits_per_byte(texts)
    assert got == pytest.approx(expected), (got, expected)
    with pytest.raises(TokfreeError, match="at least one byte"):
        model.bits_per_byte([""])
