"""Embeddings for merged tokens: the mean of their pieces, or a ZeTT-style hypernetwork, with a cache.

A `MergePlan` (`tokfree.merging.plan`) makes new tokens out of runs of base tokens. A frozen
`CausalLM` can read and predict them once each new token has an input row (what the model reads)
and an output row (what its head scores against the final hidden state). This file provides:

- `mean_embeddings`: the mean of the constituents' rows (the baseline, and the hypernet's residual).
- `EmbeddingHypernet` (shape: `HypernetConfig`): a small bidirectional transformer over a new
  token's constituents (ZeTT, Minixhofer et al. 2024; research notes in `tokenizer-papers.md` §4.3).
  Each position's feature is the source model's input row, concatenated with its output row when
  the source is untied. It predicts an input row, an output row and (optionally) an output-logit
  bias. Its two heads end in zero-initialised layers and are added to the mean of the pieces, so
  **an untrained hypernet returns exactly `mean_embeddings`** (and a bias of 0): training starts
  from the baseline and can only move away from it where the loss says so.
- `train_hypernet`: trains a hypernet with the LM frozen, by `"regression"` on the LM's own
  vocabulary (predict a multi-byte token's rows from smaller vocabulary tokens it is made of) or by
  `"lm"` (ZeTT's objective: next-token loss of the frozen LM on batches merged by `plan_merges`).
- `EmbeddingCache`: an LRU cache of predicted rows keyed by constituent tuples, in preallocated
  tensors, that never evicts a token the current batch needs.
- `MergedEmbedder`: rows for a plan's new tokens from a source ("mean" or a hypernet), through the
  cache; `merged_logits` runs merged ids through the frozen LM with the softmax over the base
  vocabulary plus the batch's new tokens.
- `merged_bits_per_byte`: held-out bits per byte of a merged model, comparable with `evaluate_lm`.

Where the merges come from (`plan_from`, in training and evaluation): "batch" plans each batch on
itself, as dynamic tokenization does. Scored as a language model this leaks: the softmax then
holds exactly the multi-piece words that occur in the batch, information the model is given
without paying for it, and an "lm"-trained hypernet learns to exploit it (bits per byte can drop
below the unmerged model's). "previous" merges batch k by the plan of batch k - 1, and a fixed
`MergePlan` made on other text merges every batch alike; both are free of that side information.

Ids: in a merged batch, ids below `first_new_id` are base ids (rows of the model's matrices) and
id `first_new_id + r` is the plan's new token r; inside `merged_logits` new token r is column
`vocab_size + r` of the logits, where vocab_size is the model's.

This file does not plan merges (`plan.py`), does not change the LM's weights, and has no ANN index
for large vocabularies.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from tokfree.errors import TokfreeError
from tokfree.merging.plan import BOUNDARIES, MergePlan, plan_merges
from tokfree.nn._modelfile import check_dropout, check_heads, check_positive_int, load_model, save_model
from tokfree.nn.layers import Block, RMSNorm, swiglu_width
from tokfree.nn.lm import CausalLM
from tokfree.tokenizer import Tokenizer

__all__ = [
    "OBJECTIVES",
    "POOLINGS",
    "EmbeddingCache",
    "EmbeddingHypernet",
    "HypernetConfig",
    "HypernetLog",
    "MergedEmbedder",
    "MergedEval",
    "MergedRows",
    "mean_embeddings",
    "merged_bits_per_byte",
    "merged_logits",
    "train_hypernet",
    "vocabulary_examples",
]

OBJECTIVES = ("regression", "lm")
"""The training objectives of `train_hypernet`."""

POOLINGS = ("mean", "first")
"""How `EmbeddingHypernet` pools its encoder states: mean over real positions, or position 0."""

_FORMAT = "tokfree.EmbeddingHypernet"
_VERSION = 1

Device = str | torch.device
Objective = Literal["regression", "lm"]
PlanFrom = Union[Literal["batch", "previous"], MergePlan, Sequence[MergePlan]]


class MergedRows(NamedTuple):
    """Rows for N new tokens: what the model reads, what its head scores, and a logit bias."""

    inputs: Tensor  # (N, D) float
    outputs: Tensor  # (N, D) float
    bias: Tensor  # (N,) float, added to the new tokens' logits (zeros unless predicted)


# --------------------------------------------------------------------------- checks


def _as_long(x: Any, name: str, device: torch.device) -> Tensor:
    if isinstance(x, Tensor):
        t = x
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "iu":
            raise TokfreeError(f"{name} must hold integers, got dtype {arr.dtype}; pass base token ids")
        t = torch.from_numpy(arr.astype(np.int64, copy=False))
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TokfreeError(f"{name} must hold integers, got dtype {t.dtype}; pass base token ids")
    return t.to(device=device, dtype=torch.long)


def _check_pieces(pieces: Any, piece_lengths: Any, vocab: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """(M, L) long pieces and (M,) long lengths on `device`, validated: each row holds
    `length` base ids (1 <= length <= L, each in 0..vocab-1) and padding after them."""
    p = _as_long(pieces, "pieces", device)
    if p.dim() != 2:
        raise TokfreeError(f"pieces must be an (M, L) matrix of base ids padded with -1, got shape {tuple(p.shape)}")
    n = _as_long(piece_lengths, "piece_lengths", device)
    if n.dim() != 1 or n.shape[0] != p.shape[0]:
        raise TokfreeError(f"piece_lengths must have shape ({p.shape[0]},) to match pieces {tuple(p.shape)}, got {tuple(n.shape)}")
    if p.shape[0] == 0:
        return p, n
    if int(n.min()) < 1 or int(n.max()) > p.shape[1]:
        bad = int(n.min()) if int(n.min()) < 1 else int(n.max())
        raise TokfreeError(f"piece_lengths holds {bad}; each new token has 1..{p.shape[1]} pieces (the width of pieces)")
    real = torch.arange(p.shape[1], device=device)[None, :] < n[:, None]
    values = p[real]
    if int(values.min()) < 0 or int(values.max()) >= vocab:
        bad = int(values.min()) if int(values.min()) < 0 else int(values.max())
        raise TokfreeError(f"pieces hold base id {bad}, outside the embedding matrix 0..{vocab - 1}; pass base ids of this model")
    return p, n


def _check_weight(weight: Any, name: str) -> Tensor:
    if not isinstance(weight, Tensor) or weight.dim() != 2 or not weight.is_floating_point():
        got = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise TokfreeError(f"{name} must be a (V, D) float tensor (an embedding matrix), got {got}")
    return weight


def _masked_mean(rows: Tensor, real: Tensor, lengths: Tensor) -> Tensor:
    """(M, L, D) rows, (M, L) bool, (M,) -> (M, D) mean over the real positions."""
    summed = (rows * real[..., None].to(rows.dtype)).sum(dim=1)
    return summed / lengths[:, None].to(rows.dtype)


def mean_embeddings(pieces: Any, piece_lengths: Any, weight: Tensor) -> Tensor:
    """The mean of each new token's constituent rows of `weight`.

    Args:
        pieces: (M, L) int base ids of each new token, padded with -1 (`MergePlan.pieces`), numpy or torch.
        piece_lengths: (M,) the number of real ids in each row (`MergePlan.piece_lengths`).
        weight: (V, D) float, an embedding matrix (`model.embed.weight` or `model.output_weight`).

    Returns:
        (M, D) on weight's device and dtype; differentiable with respect to `weight`.

    Raises:
        TokfreeError: misshapen inputs, lengths outside 1..L, or a base id outside 0..V-1.

    Example:
        >>> w = torch.tensor([[0.0, 0.0], [2.0, 4.0], [4.0, 0.0]])
        >>> mean_embeddings([[1, 2, -1], [2, -1, -1]], [2, 1], w).tolist()
        [[3.0, 2.0], [4.0, 0.0]]
    """
    w = _check_weight(weight, "weight")
    p, n = _check_pieces(pieces, piece_lengths, w.shape[0], w.device)
    if p.shape[0] == 0:
        return w.new_zeros(0, w.shape[1])
    real = torch.arange(p.shape[1], device=w.device)[None, :] < n[:, None]  # (M, L)
    return _masked_mean(F.embedding(p.clamp(min=0), w), real, n)


# --------------------------------------------------------------------------- the hypernetwork


@dataclass(frozen=True)
class HypernetConfig:
    """The shape of an `EmbeddingHypernet`; saved as `config.json` beside its weights.

    Attributes:
        d_model: D, the source model's embedding width (the width of the predicted rows).
        hidden: H, the encoder width.
        n_layers: bidirectional transformer blocks (1-3 suit the small models here).
        n_heads: attention heads (must divide hidden into even widths: rotary pairs).
        max_pieces: the encoder reads at most this many constituents (longer tokens are cut; their
            mean residual still covers every piece).
        untied: the source model has a separate output head; each position's feature is then
            [input row ; output row] (2 D wide), else the input row alone (D).
        pooling: "mean" over real positions or "first" (position 0, as ZeTT).
        predict_bias: also predict a scalar added to each new token's logit (a zero-initialised
            head, so an untrained hypernet still predicts 0). The base vocabulary has no bias.
        dropout: dropout in the encoder while training.

    Example:
        >>> HypernetConfig(d_model=128).hidden
        128
    """

    d_model: int
    hidden: int = 128
    n_layers: int = 2
    n_heads: int = 4
    max_pieces: int = 16
    untied: bool = False
    pooling: str = "mean"
    predict_bias: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("d_model", "hidden", "n_layers", "n_heads", "max_pieces"):
            check_positive_int("HypernetConfig", name, getattr(self, name))
        check_heads("HypernetConfig", "hidden", self.hidden, "n_heads", self.n_heads)
        check_dropout("HypernetConfig", self.dropout)
        for name in ("untied", "predict_bias"):
            if not isinstance(getattr(self, name), bool):
                raise TokfreeError(f"HypernetConfig.{name} is {getattr(self, name)!r}; it must be true or false")
        if self.pooling not in POOLINGS:
            raise TokfreeError(f"HypernetConfig.pooling is {self.pooling!r}; choose one of {POOLINGS}")

    @classmethod
    def for_model(cls, model: CausalLM, **fields: Any) -> HypernetConfig:
        """A config matching `model`'s width and tying; `fields` set the other attributes.

        Example:
            >>> from tokfree.nn import CausalLMConfig
            >>> lm = CausalLM(CausalLMConfig(vocab_size=300, d_model=32, n_layers=1, n_heads=2), seed=0)
            >>> HypernetConfig.for_model(lm, hidden=64).d_model
            32
        """
        return cls(d_model=model.config.d_model, untied=not model.config.tie_embeddings, **fields)


def _head(hidden: int, out: int) -> nn.Sequential:
    head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, out))
    nn.init.zeros_(head[2].weight)  # zero last layer: an untrained head adds exactly 0
    nn.init.zeros_(head[2].bias)
    return head


class EmbeddingHypernet(nn.Module):
    """Predicts a new token's input row, output row and logit bias from its constituents' rows.

    Per constituent position: the source input row (and output row when `config.untied`), a linear
    projection to H, RMSNorm, plus a learned position embedding; then `n_layers` bidirectional
    pre-norm blocks (`tokfree.nn.layers.Block`, key-padding masked), a final RMSNorm and pooling.
    Two MLP heads map the pooled state to D; their results are added to the mean of the pieces'
    input rows and output rows. The heads' last layers start at zero, so an untrained hypernet
    returns exactly `mean_embeddings` (module docstring). The source matrices are arguments, not
    weights of the hypernet: save files hold the hypernet alone.

    Args:
        config: the hypernet's shape.
        device: where the weights live.
        seed: seeds the initialisation (None: torch's global generator).

    Example:
        >>> hn = EmbeddingHypernet(HypernetConfig(d_model=4, hidden=8, n_heads=2), seed=0)
        >>> w = torch.randn(10, 4)
        >>> rows = hn([[1, 2, -1], [3, 4, 5]], w)
        >>> rows.inputs.shape, torch.equal(rows.inputs, mean_embeddings([[1, 2, -1], [3, 4, 5]], [2, 3], w))
        (torch.Size([2, 4]), True)
    """

    def __init__(self, config: HypernetConfig, *, device: Device = "cpu", seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.project = nn.Linear(2 * c.d_model if c.untied else c.d_model, c.hidden)
            self.project_norm = RMSNorm(c.hidden)
            self.position = nn.Embedding(c.max_pieces, c.hidden)
            nn.init.normal_(self.position.weight, std=0.02)
            self.blocks = nn.ModuleList(
                Block(c.hidden, c.n_heads, swiglu_width(c.hidden), c.max_pieces, causal=False, dropout=c.dropout)
                for _ in range(c.n_layers)
            )
            self.norm = RMSNorm(c.hidden)
            self.input_head = _head(c.hidden, c.d_model)
            self.output_head = _head(c.hidden, c.d_model)
            self.bias_head = _head(c.hidden, 1) if c.predict_bias else None
        self.to(device)

    @property
    def device(self) -> torch.device:
        """The device of the weights."""
        return self.project.weight.device

    def num_parameters(self) -> int:
        """The number of weights."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, pieces: Any, input_weight: Tensor, output_weight: Tensor | None = None) -> MergedRows:
        """Rows for N new tokens given as constituent base ids.

        Args:
            pieces: (N, L) int base ids, padded on the right with -1 (`MergePlan.pieces`).
            input_weight: (V, D) the source model's input embedding (`model.embed.weight`).
            output_weight: (V, D) its output matrix (`model.output_weight`); required when
                `config.untied`, else None (= input_weight).

        Returns:
            `MergedRows` with inputs (N, D), outputs (N, D) and bias (N,), on the hypernet's device.

        Raises:
            TokfreeError: pieces not (N, L) base ids padded with -1 on the right, a row without
                pieces, matrices of the wrong width, or an untied hypernet without output_weight.
        """
        c = self.config
        w_in = _check_weight(input_weight, "input_weight")
        if output_weight is None:
            if c.untied:
                raise TokfreeError("this hypernet was built for an untied source: pass output_weight=model.output_weight")
            w_out = w_in
        else:
            w_out = _check_weight(output_weight, "output_weight")
        for name, w in (("input_weight", w_in), ("output_weight", w_out)):
            if w.shape[1] != c.d_model:
                raise TokfreeError(f"{name} is {w.shape[1]} wide but the hypernet predicts width {c.d_model}; use a hypernet made for this model")
        if w_out.shape[0] != w_in.shape[0]:
            raise TokfreeError(f"input_weight has {w_in.shape[0]} rows, output_weight {w_out.shape[0]}; pass one model's matrices")
        device = self.device
        p = _as_long(pieces, "pieces", device)
        if p.dim() != 2:
            raise TokfreeError(f"pieces must be an (N, L) matrix of base ids padded with -1, got shape {tuple(p.shape)}")
        n_rows, width = p.shape
        lengths = (p >= 0).sum(dim=1)
        real = torch.arange(width, device=device)[None, :] < lengths[:, None]
        if not torch.equal(real, p >= 0):
            raise TokfreeError("pieces must hold each token's base ids first and -1 after them (right padding only)")
        if n_rows and int(lengths.min()) == 0:
            row = int(torch.nonzero(lengths == 0)[0, 0])
            raise TokfreeError(f"row {row} of pieces holds no base id; every new token has at least one piece")
        p, lengths = _check_pieces(p, lengths, w_in.shape[0], device)
        if n_rows == 0:
            empty = w_in.new_zeros(0, c.d_model, device=device)
            return MergedRows(empty, empty.clone(), w_in.new_zeros(0, device=device))
        w_in, w_out = w_in.to(device), w_out.to(device)
        ids = p.clamp(min=0)
        rows_in = F.embedding(ids, w_in)  # (N, L, D)
        rows_out = rows_in if w_out is w_in else F.embedding(ids, w_out)
        mean_in = _masked_mean(rows_in, real, lengths)
        mean_out = mean_in if w_out is w_in else _masked_mean(rows_out, real, lengths)

        short = min(width, c.max_pieces)
        feats = torch.cat((rows_in[:, :short], rows_out[:, :short]), dim=-1) if c.untied else rows_in[:, :short]
        key_mask = real[:, :short]  # (N, S)
        h = self.project_norm(self.project(feats.float())) + self.position.weight[:short][None]  # (N, S, H)
        positions = torch.arange(short, device=device)[None, :].expand(n_rows, short)
        for block in self.blocks:
            h, _ = block(h, positions, key_mask=key_mask)
        h = self.norm(h)
        if c.pooling == "first":
            pooled = h[:, 0]
        else:
            count = key_mask.sum(dim=1, keepdim=True).to(h.dtype)
            pooled = (h * key_mask[..., None].to(h.dtype)).sum(dim=1) / count  # (N, H)
        inputs = mean_in + self.input_head(pooled).to(mean_in.dtype)
        outputs = mean_out + self.output_head(pooled).to(mean_out.dtype)
        bias = self.bias_head(pooled)[:, 0] if self.bias_head is not None else pooled.new_zeros(n_rows)
        return MergedRows(inputs, outputs, bias)

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Writes `config.json` and `model.safetensors` (float32) into `folder`, creating it.

        Example:
            >>> import tempfile
            >>> hn = EmbeddingHypernet(HypernetConfig(d_model=8, hidden=8, n_heads=2), seed=0)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     hn.save(folder)
            ...     EmbeddingHypernet.load(folder).config == hn.config
            True
        """
        save_model(folder, format_tag=_FORMAT, version=_VERSION, config=self.config, model=self)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, device: Device = "cpu") -> EmbeddingHypernet:
        """Reads a hypernet written by `save`, in eval mode.

        Args:
            folder: the folder holding `config.json` and `model.safetensors`.
            device: where to put the weights.

        Returns:
            The hypernet.

        Raises:
            TokfreeError: a missing or unreadable file, a config that is not a tokfree
                EmbeddingHypernet config (format, version, fields), or weights with a missing,
                extra, misshapen or non-float32 tensor.
        """
        model = load_model(
            folder, format_tag=_FORMAT, version=_VERSION, config_cls=HypernetConfig,
            build=lambda config: cls(config, device="cpu"), what="EmbeddingHypernet",
        )  # fmt: skip
        return model.to(device).eval()


def _source_weights(model: CausalLM) -> tuple[Tensor, Tensor | None]:
    """The model's (input, output) matrices as hypernet arguments (output None when tied)."""
    return model.embed.weight, (None if model.config.tie_embeddings else model.output_weight)


def _check_pair(hypernet: EmbeddingHypernet, model: CausalLM) -> None:
    c = hypernet.config
    if c.d_model != model.config.d_model or c.untied == model.config.tie_embeddings:
        raise TokfreeError(
            f"the hypernet is for width {c.d_model} ({'untied' if c.untied else 'tied'}) but the model is "
            f"{model.config.d_model} wide ({'tied' if model.config.tie_embeddings else 'untied'}); "
            "build it with HypernetConfig.for_model(model)"
        )


# --------------------------------------------------------------------------- the cache

Key = tuple[int, ...]


class EmbeddingCache:
    """An LRU cache of predicted rows, keyed by a new token's constituent base ids.

    The rows live in preallocated (capacity, D) tensors (input rows, output rows) and a (capacity,)
    bias vector; a key maps to a slot. `get` and `fetch` refresh an entry's recency; when the cache
    is full, `put` and `fetch` evict the least recently used entries that are not `protected` (the
    tokens the current batch needs), and raise `TokfreeError` when every entry is protected. The
    cache never holds more than `capacity` entries. Rows are stored detached (inference only).

    Args:
        capacity: the number of entries.
        dim: D, the row width.
        device: where the tensors live.
        dtype: their dtype.

    Raises:
        TokfreeError: capacity or dim not a positive integer.

    Example:
        >>> cache = EmbeddingCache(2, 3)
        >>> cache.put((5, 6), torch.ones(3), torch.zeros(3))
        >>> cache.get((5, 6)).inputs.tolist(), cache.get((7,)) is None, (cache.hits, cache.misses)
        ([1.0, 1.0, 1.0], True, (1, 1))
    """

    def __init__(self, capacity: int, dim: int, *, device: Device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        check_positive_int("EmbeddingCache", "capacity", capacity)
        check_positive_int("EmbeddingCache", "dim", dim)
        self.capacity = capacity
        self.dim = dim
        self.inputs = torch.zeros(capacity, dim, device=device, dtype=dtype)  # (C, D)
        self.outputs = torch.zeros(capacity, dim, device=device, dtype=dtype)  # (C, D)
        self.bias = torch.zeros(capacity, device=device, dtype=dtype)  # (C,)
        self._slots: OrderedDict[Key, int] = OrderedDict()  # least recently used first
        self._free = list(range(capacity - 1, -1, -1))  # a stack: slot 0 is handed out first
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def keys(self) -> list[Key]:
        """The cached keys, least recently used first."""
        return list(self._slots)

    def clear(self) -> None:
        """Drops every entry (the counters stay)."""
        self._slots.clear()
        self._free = list(range(self.capacity - 1, -1, -1))

    @staticmethod
    def _key(key: Sequence[int]) -> Key:
        out = tuple(int(k) for k in key)
        if not out:
            raise TokfreeError("a cache key is a non-empty tuple of base ids; got an empty one")
        return out

    def get(self, key: Sequence[int]) -> MergedRows | None:
        """The rows cached for `key` (input (D,), output (D,), bias ()), or None; a hit refreshes recency."""
        k = self._key(key)
        slot = self._slots.get(k)
        if slot is None:
            self.misses += 1
            return None
        self.hits += 1
        self._slots.move_to_end(k)
        return MergedRows(self.inputs[slot], self.outputs[slot], self.bias[slot])

    def evict(self, n: int = 1, *, protected: Collection[Sequence[int]] = ()) -> list[Key]:
        """Removes the `n` least recently used entries that are not in `protected`.

        Returns:
            The evicted keys, oldest first.

        Raises:
            TokfreeError: fewer than `n` unprotected entries (nothing is evicted then).
        """
        keep = {self._key(k) for k in protected}
        victims = [k for k in self._slots if k not in keep][:n]
        if len(victims) < n:
            raise TokfreeError(
                f"cannot evict {n} entr{'y' if n == 1 else 'ies'}: only {len(victims)} of the {len(self._slots)} cached "
                f"entries are not needed by the current batch; raise the capacity (now {self.capacity})"
            )
        for k in victims:
            self._free.append(self._slots.pop(k))
        return victims

    def _store(self, k: Key, rows: MergedRows, index: int | None, keep: Collection[Key]) -> int:
        slot = self._slots.get(k)
        if slot is None:
            if not self._free:
                self.evict(1, protected=keep)
            slot = self._free.pop()
            self._slots[k] = slot
        self._slots.move_to_end(k)
        with torch.no_grad():
            pick = (lambda t: t) if index is None else (lambda t: t[index])
            self.inputs[slot] = pick(rows.inputs).detach().to(self.inputs)
            self.outputs[slot] = pick(rows.outputs).detach().to(self.outputs)
            self.bias[slot] = pick(rows.bias).detach().to(self.bias)
        return slot

    def put(
        self,
        key: Sequence[int],
        input_row: Tensor,  # (D,)
        output_row: Tensor,  # (D,)
        bias: float | Tensor = 0.0,
        *,
        protected: Collection[Sequence[int]] = (),
    ) -> None:
        """Stores (or overwrites) the rows for `key` as the most recent entry.

        Raises:
            TokfreeError: rows of the wrong width, or a full cache whose entries are all protected.
        """
        for name, row in (("input_row", input_row), ("output_row", output_row)):
            if not isinstance(row, Tensor) or tuple(row.shape) != (self.dim,):
                got = tuple(row.shape) if isinstance(row, Tensor) else type(row).__name__
                raise TokfreeError(f"{name} must be a ({self.dim},) tensor for this cache, got {got}")
        b = bias if isinstance(bias, Tensor) else torch.tensor(float(bias))
        self._store(self._key(key), MergedRows(input_row, output_row, b.reshape(())), None, {self._key(k) for k in protected})

    def fetch(self, keys: Sequence[Sequence[int]], compute: Callable[[list[Key]], MergedRows]) -> MergedRows:
        """Rows for a batch's keys: cached ones are reused, the rest computed once and stored.

        Every key of the batch is protected while the missing ones are stored, so the result never
        loses a row it needs. Each distinct key counts one hit or one miss.

        Args:
            keys: the batch's keys, in the order the rows are wanted (repeats allowed).
            compute: missing keys -> their `MergedRows` ((n, D), (n, D), (n,)), in that order.

        Returns:
            `MergedRows` of (len(keys), D), (len(keys), D), (len(keys),): copies, not views of the cache.

        Raises:
            TokfreeError: the batch has more distinct keys than the capacity.
        """
        ks = [self._key(k) for k in keys]
        unique = list(dict.fromkeys(ks))
        if len(unique) > self.capacity:
            raise TokfreeError(
                f"the batch needs {len(unique)} distinct new tokens but the cache holds {self.capacity}; "
                f"raise the capacity to at least {len(unique)}"
            )
        missing = []
        for k in unique:
            if k in self._slots:
                self.hits += 1
                self._slots.move_to_end(k)
            else:
                self.misses += 1
                missing.append(k)
        if missing:
            rows = compute(missing)
            if rows.inputs.shape[0] != len(missing):
                raise TokfreeError(f"compute returned {rows.inputs.shape[0]} rows for {len(missing)} keys; return one per key")
            keep = set(unique)
            for i, k in enumerate(missing):
                self._store(k, rows, i, keep)
        slots = torch.tensor([self._slots[k] for k in ks], dtype=torch.long, device=self.inputs.device)
        return MergedRows(self.inputs[slots], self.outputs[slots], self.bias[slots])


# --------------------------------------------------------------------------- running merged batches


def _remap(ids: Tensor, first_new_id: int, n_new: int, vocab: int) -> Tensor:
    """Merged ids -> rows of [base matrix ; new rows]: new id first_new_id + r becomes vocab + r."""
    if ids.numel():
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= first_new_id + n_new:
            bad = low if low < 0 else high
            raise TokfreeError(f"id {bad} is neither a base id nor one of the {n_new} new ids {first_new_id}..{first_new_id + n_new - 1}")
        base = ids[ids < first_new_id]
        if base.numel() and int(base.max()) >= vocab:
            raise TokfreeError(f"base id {int(base.max())} is outside the model's vocabulary 0..{vocab - 1}")
    return torch.where(ids >= first_new_id, ids - first_new_id + vocab, ids)


def _run(model: CausalLM, ids: Tensor, rows: MergedRows | None, attention_mask: Tensor | None = None) -> Tensor:
    """(B, T) remapped ids -> (B, T, V + M) float32 logits of the frozen model (differentiable in rows)."""
    w_in, w_out = model.embed.weight, model.output_weight
    if rows is not None and rows.inputs.shape[0]:
        w_in = torch.cat((w_in, rows.inputs.to(w_in)), dim=0)
        w_out = torch.cat((w_out, rows.outputs.to(w_out)), dim=0)
    hidden, _ = model.hidden_states(embeddings=F.embedding(ids.to(model.device), w_in), attention_mask=attention_mask)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=hidden.device.type == "cuda"):
        logits = F.linear(hidden, w_out)
    logits = logits.float()
    if rows is not None and rows.inputs.shape[0]:  # always: a zero bias still passes gradients to its head
        zeros = logits.new_zeros(model.config.vocab_size)
        logits = logits + torch.cat((zeros, rows.bias.to(logits)))
    return logits


def merged_logits(
    model: CausalLM,
    ids: Any,
    rows: MergedRows,
    *,
    first_new_id: int,
    attention_mask: Any = None,
) -> Tensor:
    """Next-token logits of a frozen `CausalLM` on merged ids, over the base vocabulary plus the new tokens.

    Args:
        model: the LM.
        ids: (B, T) merged ids (numpy or torch): base ids below `first_new_id`, new token r as
            `first_new_id + r`.
        rows: the M new tokens' rows (`MergedEmbedder.embed`, an `EmbeddingHypernet`).
        first_new_id: the plan's first new id (`MergePlan.first_new_id`).
        attention_mask: (B, T) 1 for real tokens, as in `CausalLM.forward` (None: no padding).

    Returns:
        (B, T, V + M) float32; column V + r (V = model.config.vocab_size) is new token r.

    Raises:
        TokfreeError: an id that is neither a base id of the model nor a new id.

    Example:
        >>> from tokfree.nn import CausalLMConfig
        >>> lm = CausalLM(CausalLMConfig(vocab_size=10, d_model=8, n_layers=1, n_heads=2), seed=0).eval()
        >>> rows = MergedRows(torch.zeros(1, 8), torch.zeros(1, 8), torch.zeros(1))
        >>> merged_logits(lm, [[1, 10, 2]], rows, first_new_id=10).shape
        torch.Size([1, 3, 11])
    """
    t = _as_long(ids, "ids", model.device)
    if t.dim() != 2:
        raise TokfreeError(f"ids must be a (batch, time) matrix, got shape {tuple(t.shape)}")
    mask = None
    if attention_mask is not None:
        mask = attention_mask if isinstance(attention_mask, Tensor) else torch.from_numpy(np.asarray(attention_mask))
    remapped = _remap(t, first_new_id, int(rows.inputs.shape[0]), model.config.vocab_size)
    return _run(model, remapped, rows, mask)


class MergedEmbedder:
    """Rows for a plan's new tokens from a frozen `CausalLM`: the mean of the pieces or a hypernet, cached.

    Args:
        model: the LM whose matrices the rows extend.
        source: "mean" (`mean_embeddings` of the input and of the output matrix) or a trained
            `EmbeddingHypernet` built for this model.
        cache: an `EmbeddingCache` of width D; new tokens seen before are not recomputed.

    Raises:
        TokfreeError: an unknown source, a hypernet or cache of another width.

    Example:
        >>> import numpy as np, tokfree
        >>> from tokfree.nn import CausalLMConfig
        >>> tok = tokfree.train_bpe(iter(["low lower " * 20]), 300, show_progress=False)
        >>> lm = CausalLM(CausalLMConfig(vocab_size=tok.vocab_size, d_model=8, n_layers=1, n_heads=2), seed=0).eval()
        >>> plan = plan_merges(np.array([tok.encode(" lowest lowest")]), tokenizer=tok)
        >>> embedder = MergedEmbedder(lm, "mean", cache=EmbeddingCache(64, 8))
        >>> plan.n_merges, embedder.embed(plan).inputs.shape, embedder.logits(plan).shape
        (2, torch.Size([2, 8]), torch.Size([1, 2, 263]))
    """

    def __init__(self, model: CausalLM, source: str | EmbeddingHypernet = "mean", *, cache: EmbeddingCache | None = None) -> None:
        if isinstance(source, EmbeddingHypernet):
            _check_pair(source, model)
        elif source != "mean":
            raise TokfreeError(f"source={source!r}: pass \"mean\" or an EmbeddingHypernet")
        if cache is not None and cache.dim != model.config.d_model:
            raise TokfreeError(f"the cache is {cache.dim} wide but the model {model.config.d_model}; make an EmbeddingCache(capacity, {model.config.d_model})")
        self.model = model
        self.source = source
        self.cache = cache

    @torch.no_grad()
    def embed_pieces(self, pieces: Any, piece_lengths: Any) -> MergedRows:
        """Rows for new tokens given as (M, L) constituents padded with -1 and (M,) lengths (no cache)."""
        w_in, w_out = _source_weights(self.model)
        if isinstance(self.source, EmbeddingHypernet):
            p, n = _check_pieces(pieces, piece_lengths, w_in.shape[0], self.source.device)
            width = int(n.max()) if n.numel() else 1
            real = torch.arange(p.shape[1], device=p.device)[None, :] < n[:, None]
            p = torch.where(real, p, torch.full_like(p, -1))[:, :width]
            was_training = self.source.training
            self.source.eval()
            try:
                rows = self.source(p, w_in, w_out)
            finally:
                self.source.train(was_training)
            return MergedRows(*(r.to(self.model.device) for r in rows))
        inputs = mean_embeddings(pieces, piece_lengths, w_in)
        outputs = inputs if w_out is None else mean_embeddings(pieces, piece_lengths, w_out)
        return MergedRows(inputs, outputs, inputs.new_zeros(inputs.shape[0]))

    def embed(self, plan: MergePlan) -> MergedRows:
        """Rows for the plan's M new tokens, in new-id order: inputs (M, D), outputs (M, D), bias (M,)."""
        if plan.n_merges == 0 or self.cache is None:
            return self.embed_pieces(plan.pieces[: plan.n_merges], plan.piece_lengths)
        keys = [tuple(int(t) for t in plan.pieces[r, : plan.piece_lengths[r]]) for r in range(plan.n_merges)]

        def compute(missing: list[Key]) -> MergedRows:
            width = max(len(k) for k in missing)
            table = np.full((len(missing), width), -1, dtype=np.int64)
            for i, k in enumerate(missing):
                table[i, : len(k)] = k
            return self.embed_pieces(table, np.array([len(k) for k in missing], dtype=np.int64))

        rows = self.cache.fetch(keys, compute)
        return MergedRows(*(r.to(self.model.device) for r in rows))

    @torch.no_grad()
    def logits(self, plan: MergePlan, ids: Any = None, *, attention_mask: Any = None) -> Tensor:
        """(B, T, V + M) float32 logits of the frozen model on `ids` (default: the plan's merged batch).

        Raises:
            TokfreeError: ids that are neither base ids nor the plan's new ids.
        """
        if ids is None:
            ids, attention_mask = plan.ids, plan.attention_mask
        return merged_logits(self.model, ids, self.embed(plan), first_new_id=plan.first_new_id, attention_mask=attention_mask)


# --------------------------------------------------------------------------- vocabulary examples


def _merge_tree(tokenizer: Tokenizer) -> dict[int, tuple[int, int]]:
    """Token id -> the (left id, right id) of the first merge (by rank) that makes it."""
    parts = tokenizer.to_parts()
    special = set(tokenizer.special_tokens.values())
    by_bytes = {bytes(b): i for i, b in parts.vocab if i not in special}
    token_bytes = dict((i, bytes(b)) for i, b in parts.vocab)
    tree: dict[int, tuple[int, int]] = {}
    for left, right in parts.merges:
        if left not in token_bytes or right not in token_bytes:
            continue
        made = by_bytes.get(token_bytes[left] + token_bytes[right])
        if made is not None and made not in tree and made not in (left, right):
            tree[made] = (int(left), int(right))
    return tree


def _cut(token: int, tree: dict[int, tuple[int, int]], rng: np.random.Generator, *, split: float, max_pieces: int) -> list[int]:
    """A random frontier of `token`'s merge tree: the root is always split, every other node with
    probability `split`, never past `max_pieces` leaves."""
    pieces = list(tree[token])
    i = 0
    while i < len(pieces):
        node = pieces[i]
        if node in tree and len(pieces) < max_pieces and rng.random() < split:
            pieces[i : i + 1] = tree[node]
        else:
            i += 1
    return pieces


def vocabulary_examples(
    tokenizer: Tokenizer,
    *,
    token_ids: Sequence[int] | None = None,
    seed: int = 0,
    split: float = 0.5,
    max_pieces: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The regression examples: vocabulary tokens, each cut into 2+ smaller vocabulary tokens.

    A token made by the merge (left, right) is split into left and right; then each part that is
    itself made by a merge is split again with probability `split`, and so on (a random frontier of
    the token's BPE merge tree). The pieces' bytes concatenate to the token's bytes.

    Args:
        tokenizer: a BPE tokenizer (`to_parts().merges`).
        token_ids: the tokens to cut (None: every non-special token made by a merge, i.e. every
            multi-byte token); ids without a merge are skipped.
        seed: seeds the cuts.
        split: the probability of splitting a node below the root.
        max_pieces: at most this many pieces per token.

    Returns:
        (token ids (N,) int64, pieces (N, L) int64 padded with -1, piece lengths (N,) int64).

    Raises:
        TokfreeError: max_pieces below 2, split outside [0, 1], or a tokenizer without merges.

    Example:
        >>> import tokfree
        >>> tok = tokfree.train_bpe(iter(["lowest lower " * 20]), 270, show_progress=False)
        >>> ids, pieces, lengths = vocabulary_examples(tok)
        >>> all(b"".join(tok.id_to_token(int(p)) for p in pieces[i, :lengths[i]]) == tok.id_to_token(int(ids[i])) for i in range(len(ids)))
        True
    """
    if not isinstance(max_pieces, int) or max_pieces < 2:
        raise TokfreeError(f"max_pieces={max_pieces!r}: a token is cut into at least 2 pieces, pass 2 or more")
    if not 0.0 <= split <= 1.0:
        raise TokfreeError(f"split={split!r}: pass a probability in [0, 1]")
    tree = _merge_tree(tokenizer)
    if not tree:
        raise TokfreeError("the tokenizer has no merges, so no token can be cut into smaller tokens; use a trained BPE tokenizer")
    chosen = sorted(tree) if token_ids is None else [int(t) for t in token_ids if int(t) in tree]
    rng = np.random.default_rng(seed)
    cuts = [_cut(t, tree, rng, split=split, max_pieces=max_pieces) for t in chosen]
    width = max((len(c) for c in cuts), default=2)
    table = np.full((len(cuts), width), -1, dtype=np.int64)
    for i, c in enumerate(cuts):
        table[i, : len(c)] = c
    return np.array(chosen, dtype=np.int64), table, np.array([len(c) for c in cuts], dtype=np.int64)


# --------------------------------------------------------------------------- training


@dataclass
class HypernetLog:
    """What happened during `train_hypernet`; `to_dict()` is JSON-ready."""

    objective: str
    steps: int
    batch_size: int
    lr: float
    seed: int
    parameters: int
    examples: int  # regression: vocabulary tokens trained on; lm: tokens in the training stream
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)  # per step (NaN: a step whose plan made no merge, skipped)
    length_ratio: list[float] = field(default_factory=list)  # lm: merged / base target tokens per step
    new_tokens: list[int] = field(default_factory=list)  # lm: new tokens per step

    def to_dict(self) -> dict[str, object]:
        """The log as a dict."""
        return asdict(self)


def _lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _regression_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Squared error relative to the targets' mean squared norm, plus 1 - cosine."""
    scale = target.pow(2).sum(-1).mean().clamp(min=1e-12)
    mse = (pred - target).pow(2).sum(-1).mean() / scale
    return mse + (1 - F.cosine_similarity(pred, target, dim=-1)).mean()


def _merge_targets(
    context: np.ndarray, targets: np.ndarray, mask: np.ndarray | None, *, tokenizer: Tokenizer, ratio: float | None,
    boundary: str, first_new_id: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, MergePlan | None]:
    """Merges each window's targets (never its context token) and rebuilds inputs.

    context (B,) is the token before each window's targets (B, T). Only the targets are merged, so
    the merged targets cover exactly the same base tokens (and bytes) as the unmerged ones; inputs
    are [context, merged targets[:-1]]. Returns (inputs (B, W), targets (B, W), mask (B, W), plan).
    """
    if mask is None:
        mask = np.ones(targets.shape, dtype=bool)
    if ratio is None or ratio >= 1.0:
        return np.concatenate((context[:, None], targets[:, :-1]), axis=1), targets, mask, None
    plan = plan_merges(targets, mask, tokenizer=tokenizer, boundary=boundary, target_ratio=ratio, first_new_id=first_new_id)  # type: ignore[arg-type]
    return (*_with_context(context, plan.ids, plan.attention_mask), plan)


def _check_plan_from(plan_from: object, vocab: int) -> None:
    if isinstance(plan_from, (list, tuple)) and plan_from and all(isinstance(p, MergePlan) for p in plan_from):
        for plan in plan_from:
            _check_plan_from(plan, vocab)
    elif isinstance(plan_from, MergePlan):
        if plan_from.first_new_id != vocab:
            raise TokfreeError(
                f"the fixed plan's first new id is {plan_from.first_new_id}, the model's vocabulary {vocab}; "
                f"make it with plan_merges(..., first_new_id={vocab})"
            )
    elif plan_from not in ("batch", "previous"):
        raise TokfreeError(f'plan_from={plan_from!r}: choose "batch", "previous" or a MergePlan')


def _with_context(context: np.ndarray, merged: Any, merged_mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    merged, merged_mask = np.asarray(merged, dtype=np.int64), np.asarray(merged_mask, dtype=bool)
    return np.concatenate((context[:, None], merged[:, :-1]), axis=1), merged, merged_mask


def train_hypernet(
    model: CausalLM,
    tokenizer: Tokenizer,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    objective: Objective = "regression",
    texts: Sequence[str] | None = None,
    target_ratios: tuple[float, float] = (0.6, 0.9),
    seq_len: int = 128,
    boundary: str = "word",
    plan_from: PlanFrom = "batch",
    hypernet: EmbeddingHypernet | None = None,
    config: HypernetConfig | None = None,
    exclude_tokens: Collection[int] = (),
    weight_decay: float = 0.0,
    warmup: int | None = None,
    separator: int | None = None,
    show_progress: bool = True,
    device: Device | None = None,
) -> tuple[EmbeddingHypernet, HypernetLog]:
    """Trains an `EmbeddingHypernet` for a frozen `CausalLM` (only the hypernet's weights change).

    Objectives:
        - "regression": each step cuts `batch_size` vocabulary tokens (drawn with replacement from
          the multi-byte non-special tokens, minus `exclude_tokens`) into smaller vocabulary tokens
          (`vocabulary_examples`, fresh cuts every step) and fits the token's own input and output
          rows (relative squared error + 1 - cosine, summed over the two).
        - "lm" (ZeTT): each step samples `batch_size` windows of `seq_len + 1` tokens from the
          token stream of `texts` (as `train_lm` does), merges each window's targets with
          `plan_merges` (`boundary`, `target_ratio` drawn uniformly from `target_ratios`), reads
          the new tokens through the hypernet's input rows, scores them with its output rows
          (softmax over base vocabulary + this batch's new tokens) and minimises the frozen LM's
          next-token cross-entropy on the merged targets. With `plan_from="previous"` each step
          takes 2 * batch_size consecutive windows instead, plans on the first half and trains on
          the second half merged by that plan (`MergePlan.apply`), as `merged_bits_per_byte`
          evaluates with `plan_from="previous"`: the hypernet cannot learn that every new token
          occurs in the batch (the side information of batch-level plans). With a `MergePlan`
          (made on other text, `plan_merges(..., first_new_id=model.config.vocab_size)`) every
          batch is merged by that fixed plan and its new tokens are the whole extra vocabulary.

    AdamW with linear warm-up and a cosine decay to a tenth of `lr`, gradient clipping at 1.0.
    With a seed, a CPU run is deterministic.

    Args:
        model: the frozen LM (its weights and train/eval mode are restored afterwards).
        tokenizer: its tokenizer.
        steps: optimizer steps.
        batch_size: tokens (regression) or windows (lm) per step.
        lr: the peak learning rate (1e-3 suits the small hypernets here).
        seed: seeds a new hypernet's initialisation, the sampling and dropout.
        objective: "regression" or "lm".
        texts: training documents ("lm" only).
        target_ratios: ("lm") the range of target length ratios, e.g. (0.6, 0.9).
        seq_len: ("lm") predicted tokens per window (at most the model's max_len).
        boundary: ("lm") the merge boundary, as in `plan_merges`.
        plan_from: ("lm") "batch" (merge each batch by its own plan), "previous", a fixed
            `MergePlan`, or a list of them (each step draws one, so the hypernet learns no single
            vocabulary); target_ratios is unused with fixed plans.
        hypernet: start from this hypernet (a copy trains; the argument is unchanged); None: a new one.
        config: the shape of a new hypernet (None: `HypernetConfig.for_model(model)`).
        exclude_tokens: ("regression") vocabulary ids never trained on (a held-out split).
        weight_decay: AdamW weight decay on the hypernet's matrices.
        warmup: warm-up steps (None: min(100, steps // 10)).
        separator: ("lm") the document separator id (None: `separator_id(tokenizer)`).
        show_progress: show a tqdm bar with the loss.
        device: where to train (None: the model's device).

    Returns:
        The trained hypernet in eval mode, and its `HypernetLog`.

    Raises:
        TokfreeError: an unknown objective, bad step/batch/lr values, "lm" without texts or with
            fewer tokens than one window, a hypernet or config of another width, bad target_ratios.

    Example:
        >>> hn, log = train_hypernet(lm, tok, steps=200, batch_size=64, lr=1e-3, seed=0)  # doctest: +SKIP
        >>> hn, log = train_hypernet(lm, tok, objective="lm", texts=docs, hypernet=hn,
        ...                          steps=200, batch_size=16, lr=1e-3, seed=0)  # doctest: +SKIP
    """
    from tokfree.training.train_lm import separator_id, token_stream

    if objective not in OBJECTIVES:
        raise TokfreeError(f"objective={objective!r}: choose one of {OBJECTIVES}")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TokfreeError(f"{name} is {value!r}; it must be a positive integer")
    if not lr > 0:
        raise TokfreeError(f"lr is {lr!r}; it must be positive")
    lo, hi = (float(r) for r in target_ratios)
    if not 0.0 < lo <= hi <= 1.0:
        raise TokfreeError(f"target_ratios={target_ratios!r}: pass (low, high) with 0 < low <= high <= 1, e.g. (0.6, 0.9)")
    if boundary not in BOUNDARIES:
        raise TokfreeError(f"boundary={boundary!r}: choose one of {BOUNDARIES}")
    _check_plan_from(plan_from, model.config.vocab_size)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise TokfreeError(f"the tokenizer has {tokenizer.vocab_size} ids but the model {model.config.vocab_size}; pass the model's own tokenizer")
    device = model.device if device is None else torch.device(device)

    if hypernet is not None:
        _check_pair(hypernet, model)
        net = copy.deepcopy(hypernet).to(device)
    else:
        cfg = config if config is not None else HypernetConfig.for_model(model)
        net = EmbeddingHypernet(cfg, device=device, seed=seed)
        _check_pair(net, model)

    rng = np.random.default_rng(seed)
    if objective == "regression":
        tree = _merge_tree(tokenizer)
        excluded = {int(t) for t in exclude_tokens}
        pool = np.array([t for t in sorted(tree) if t not in excluded], dtype=np.int64)
        if pool.size == 0:
            raise TokfreeError("no vocabulary token is left to train on: the tokenizer has no merges, or exclude_tokens holds them all")
        examples = int(pool.size)
    else:
        if texts is None:
            raise TokfreeError('objective="lm" needs training text: pass texts=[...]')
        if seq_len > model.config.max_len:
            raise TokfreeError(f"seq_len {seq_len} is above the model's max_len {model.config.max_len}; lower seq_len")
        sep = separator_id(tokenizer) if separator is None else separator
        stream = token_stream(tokenizer, list(texts), separator=sep)
        blocks = 2 * batch_size if plan_from == "previous" else 1  # windows taken consecutively
        if len(stream) < blocks * seq_len + 1:
            raise TokfreeError(
                f"the training text is {len(stream)} tokens, fewer than {blocks} window(s) of {seq_len} + 1; lower seq_len "
                "(or batch_size with plan_from=\"previous\") or add text"
            )
        examples = len(stream)
        offsets = np.arange(seq_len + 1)

    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95)
    )
    warmup = min(100, steps // 10) if warmup is None else warmup
    log = HypernetLog(objective, steps, batch_size, lr, seed, net.num_parameters(), examples)

    model_state = (model.training, [p.requires_grad for p in model.parameters()])
    model.eval()
    model.requires_grad_(False)
    w_in, w_out = (w.detach().to(device) if w is not None else None for w in _source_weights(model))
    vocab = model.config.vocab_size
    torch.manual_seed(seed)  # dropout
    net.train()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=f"hypernet ({objective})", unit="step", disable=not show_progress)
    try:
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, steps, lr, warmup)
            if objective == "regression":
                chosen = rng.choice(pool, size=batch_size, replace=True)
                cuts = [_cut(int(t), tree, rng, split=0.5, max_pieces=net.config.max_pieces) for t in chosen]
                width = max(len(c) for c in cuts)
                pieces = np.full((batch_size, width), -1, dtype=np.int64)
                for i, c in enumerate(cuts):
                    pieces[i, : len(c)] = c
                rows = net(pieces, w_in, w_out)
                target_ids = torch.from_numpy(chosen).to(device)
                loss = _regression_loss(rows.inputs, w_in[target_ids])
                loss = loss + _regression_loss(rows.outputs, (w_out if w_out is not None else w_in)[target_ids])
            else:
                ratio = float(rng.uniform(lo, hi))
                if not isinstance(plan_from, str):
                    starts = rng.integers(0, len(stream) - seq_len, size=batch_size)
                    window = stream[starts[:, None] + offsets[None, :]]  # (B, seq_len + 1)
                    plan = plan_from if isinstance(plan_from, MergePlan) else plan_from[int(rng.integers(len(plan_from)))]
                    x, y, m = _with_context(window[:, 0], *plan.apply(window[:, 1:]))
                elif plan_from == "batch":
                    starts = rng.integers(0, len(stream) - seq_len, size=batch_size)
                    window = stream[starts[:, None] + offsets[None, :]]  # (B, seq_len + 1)
                    x, y, m, plan = _merge_targets(
                        window[:, 0], window[:, 1:], None, tokenizer=tokenizer, ratio=ratio, boundary=boundary, first_new_id=vocab
                    )
                else:
                    first = int(rng.integers(0, len(stream) - blocks * seq_len))
                    starts = first + seq_len * np.arange(blocks)
                    window = stream[starts[:, None] + offsets[None, :]]  # (2B, seq_len + 1), consecutive
                    seen, window = window[:batch_size], window[batch_size:]
                    plan = plan_merges(seen[:, 1:], tokenizer=tokenizer, boundary=boundary, target_ratio=ratio, first_new_id=vocab)  # type: ignore[arg-type]
                    x, y, m = _with_context(window[:, 0], *plan.apply(window[:, 1:]))
                log.length_ratio.append(float(m.sum()) / (batch_size * seq_len))
                log.new_tokens.append(plan.n_merges if plan is not None else 0)
                if plan is None or plan.n_merges == 0:  # nothing the hypernet can change
                    log.loss.append(float("nan"))
                    continue
                rows = net(plan.pieces, w_in, w_out)
                logits = _run(model, torch.from_numpy(x).to(device), rows)  # (B, W, V + M)
                mask_t = torch.from_numpy(m).to(device)
                loss = F.cross_entropy(logits[mask_t], torch.from_numpy(y).to(device)[mask_t])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            value = float(loss.detach())
            log.loss.append(value)
            bar.set_postfix(loss=f"{value:.4f}")
    finally:
        bar.close()
        training, flags = model_state
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(training)
    log.seconds = time.perf_counter() - start
    return net.eval(), log


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class MergedEval:
    """Held-out results of `merged_bits_per_byte`."""

    bits_per_byte: float
    loss: float  # nats per predicted (merged) token
    tokens: int  # predicted tokens after merging
    base_tokens: int  # predicted tokens before merging (evaluate_lm's count)
    bytes: int  # UTF-8 bytes of the documents
    length_ratio: float  # tokens / base_tokens
    new_tokens: int  # new tokens summed over the batches (each batch has its own)

    def to_dict(self) -> dict[str, object]:
        """The fields as a dict."""
        return dataclasses.asdict(self)


@torch.no_grad()
def merged_bits_per_byte(
    model: CausalLM,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    *,
    embedder: MergedEmbedder | None = None,
    target_ratio: float | None,
    seq_len: int,
    batch_size: int = 16,
    boundary: str = "word",
    plan_from: PlanFrom = "batch",
    separator: int | None = None,
    show_progress: bool = False,
) -> MergedEval:
    """Held-out bits per byte of a frozen LM reading and predicting batch-merged tokens.

    The windows are `evaluate_lm`'s: the held-out token stream cut into consecutive windows of
    `seq_len` predicted tokens, each with the one token before it as context. Each batch of
    `batch_size` windows is one `plan_merges` call (`boundary`, `target_ratio`) on the windows'
    *targets*; the context token is never merged, so the merged targets of a window cover the same
    base tokens, and the whole evaluation the same bytes, as `evaluate_lm`. Inputs are [context,
    merged targets[:-1]]; the loss is -log p of each merged target under the softmax over the base
    vocabulary plus this batch's new tokens (rows from `embedder`). Bits per byte = total nats /
    ln 2 / UTF-8 bytes of `texts`. With target_ratio None (or 1.0) nothing is merged and the
    result equals `evaluate_lm`'s.

    Batch-level merging conditions the vocabulary on the text being scored: the softmax holds only
    new tokens that occur in the batch, which tells the model something it does not pay for (the
    plan is not coded). `plan_from="previous"` removes that side information: batch k is merged
    with the plan made on batch k - 1 (`MergePlan.apply`; batch 0 is not merged), so the new
    tokens come from text already scored, as a streaming coder could do. Its length ratio is
    higher than target_ratio (words of batch k - 1 are missing from batch k). A `MergePlan` as
    `plan_from` (made on other text, e.g. training windows, with `first_new_id` = the model's
    vocab_size) merges every batch with that one fixed plan: a fixed extra vocabulary, no side
    information either; target_ratio must then be None.

    Args:
        model: the LM (evaluated in eval mode).
        tokenizer: its tokenizer.
        texts: the held-out documents.
        embedder: where the new tokens' rows come from (None: `MergedEmbedder(model, "mean")`).
        target_ratio: the per-batch target length ratio (0.8 = 20% fewer tokens), or None.
        seq_len: predictions per window (at most the model's max_len).
        batch_size: windows per batch (and per plan).
        boundary: the merge boundary, as in `plan_merges`.
        plan_from: "batch" (each batch merged by its own plan), "previous" (by the previous
            batch's plan) or a fixed `MergePlan` (see above).
        separator: the document separator id (None: `separator_id(tokenizer)`).
        show_progress: show a tqdm bar.

    Returns:
        A `MergedEval`. A plan stops early where no allowed pair is left, so the length ratio can
        exceed target_ratio when the target is below word level.

    Raises:
        TokfreeError: no held-out text, seq_len above max_len, an embedder for another model,
            a target_ratio outside (0, 1], an unknown plan_from.

    Example:
        >>> result = merged_bits_per_byte(lm, tok, heldout, target_ratio=0.8, seq_len=128,
        ...                               embedder=MergedEmbedder(lm, hypernet))  # doctest: +SKIP
        >>> result.length_ratio <= 0.8, result.bits_per_byte  # doctest: +SKIP
    """
    from tokfree.training.train_lm import _windows, _check_heldout, separator_id, token_stream

    texts = list(texts)
    n_bytes = _check_heldout(texts, model, seq_len, caller="merged_bits_per_byte")
    if target_ratio is not None and not 0.0 < float(target_ratio) <= 1.0:
        raise TokfreeError(f"target_ratio={target_ratio!r}: pass a share in (0, 1], e.g. 0.8 for 20% shorter, or None")
    if boundary not in BOUNDARIES:
        raise TokfreeError(f"boundary={boundary!r}: choose one of {BOUNDARIES}")
    if isinstance(plan_from, (list, tuple)):
        raise TokfreeError("merged_bits_per_byte scores one vocabulary: pass a single MergePlan, not a list")
    _check_plan_from(plan_from, model.config.vocab_size)
    fixed = plan_from if isinstance(plan_from, MergePlan) else None
    if fixed is not None and target_ratio is not None:
        raise TokfreeError(f"target_ratio={target_ratio!r} with a fixed plan: the plan decides the merges, pass target_ratio=None")
    embedder = MergedEmbedder(model, "mean") if embedder is None else embedder
    if embedder.model is not model:
        raise TokfreeError("the embedder was made for another model; pass MergedEmbedder(model, ...) of this model")
    sep = separator_id(tokenizer) if separator is None else separator
    inputs, targets, mask = _windows(token_stream(tokenizer, texts, separator=sep), seq_len)
    was_training = model.training
    model.eval()
    vocab = model.config.vocab_size
    total, tokens, new_tokens = 0.0, 0, 0
    previous: MergePlan | None = None
    merging = target_ratio is not None and float(target_ratio) < 1.0
    fixed_rows = embedder.embed(fixed) if fixed is not None else None
    try:
        starts = range(0, len(inputs), batch_size)
        for start in tqdm(starts, desc="merged eval", unit="batch", disable=not show_progress):
            sl = slice(start, start + batch_size)
            context, tg, mk = inputs[sl, 0], targets[sl], mask[sl]
            if fixed is not None:
                plan = fixed
                x, y, m = _with_context(context, *fixed.apply(tg, mk))
            elif not merging:
                plan = None
                x, y, m = _with_context(context, tg, mk)
            elif plan_from == "batch":
                plan = plan_merges(tg, mk, tokenizer=tokenizer, boundary=boundary, target_ratio=target_ratio, first_new_id=vocab)  # type: ignore[arg-type]
                x, y, m = _with_context(context, plan.ids, plan.attention_mask)
            else:
                plan = previous
                previous = plan_merges(tg, mk, tokenizer=tokenizer, boundary=boundary, target_ratio=target_ratio, first_new_id=vocab)  # type: ignore[arg-type]
                x, y, m = _with_context(context, *plan.apply(tg, mk)) if plan is not None else _with_context(context, tg, mk)
            if plan is None:
                rows = None
            else:
                rows = fixed_rows if plan is fixed else embedder.embed(plan)
                new_tokens += plan.n_merges
            x_t = torch.from_numpy(x).to(model.device)
            if rows is not None:
                x_t = _remap(x_t, vocab, int(rows.inputs.shape[0]), vocab)
            # Right padding needs no mask: a real position never sees a later one (as evaluate_lm).
            logits = _run(model, x_t, rows).double()
            y_t = torch.from_numpy(y).to(model.device)
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y_t.reshape(-1), reduction="none")
            total += float(nll[torch.from_numpy(m).to(model.device).reshape(-1)].sum())
            tokens += int(m.sum())
    finally:
        model.train(was_training)
    base_tokens = int(mask.sum())
    return MergedEval(
        bits_per_byte=total / math.log(2) / n_bytes, loss=total / tokens, tokens=tokens, base_tokens=base_tokens,
        bytes=n_bytes, length_ratio=tokens / base_tokens, new_tokens=new_tokens,
    )  # fmt: skip
