"""Transformer building blocks: RMSNorm, rotary positions, attention, SwiGLU, a pre-norm block.

Every tokfree model (the tiny causal LM in `lm.py`, and the MrT5, word-pooling and hierarchical
models built on it) is assembled from these. Positions are **rotary** (RoPE, GPT-NeoX "rotate
half" layout, base 10000), applied to queries and keys at explicit integer positions: a key cached
at position p keeps its rotation, so attention depends only on relative positions, and padding
(left, right or inside a batch of cached rows) never shifts a real token's position. Attention goes
through `torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient kernels on
GPU), with a boolean key mask for padding and an optional additive bias (MrT5's deletion gate adds
its gate values to the key side of the attention logits). `CrossAttention` attends from a decoder's
positions to an encoder's output (no rotary: T5's cross-attention has no position information).
Both attentions take `sink=True` for "softmax1" (softmax with 1 added to the denominator: an extra
key with logit 0 and value 0, so a query can attend to nothing; MrT5 needs it, see `_append_sink`)
and a `ScoreMeter` that measures how far the raw attention logits exceed a cap (MrT5's score
regulariser keeps them small, so that a gate bias of -30 really silences a key).

This file holds no model, no loss and no training loop; shapes are (B, T, D) = (batch, time, model
width), H heads of width Dh = D / H.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokfree.errors import TokfreeError

__all__ = [
    "Attention",
    "Block",
    "CrossAttention",
    "LayerCache",
    "RMSNorm",
    "RotaryEmbedding",
    "ScoreMeter",
    "SwiGLU",
    "attention_mask",
    "swiglu_width",
]


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (Zhang & Sennrich 2019): x / rms(x) * weight, no bias, no centring.

    Args:
        dim: the width D of the last axis.
        eps: added to the mean square before the square root.

    Example:
        >>> RMSNorm(8)(torch.ones(2, 3, 8)).shape
        torch.Size([2, 3, 8])
    """

    def __init__(self, dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:  # (..., D) -> (..., D)
        # Normalise in float32 even under bf16 autocast: the mean square of a wide bf16 vector loses
        # about 3 significant digits.
        x32 = x.float()
        y = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding tables for positions 0 .. max_len-1 (not saved with the weights).

    Args:
        head_dim: the width Dh of one attention head (even).
        max_len: the number of positions; a position at or past it raises `TokfreeError`.
        base: the RoPE frequency base.

    Example:
        >>> rope = RotaryEmbedding(16, 32)
        >>> q = torch.randn(1, 2, 5, 16)
        >>> rope.rotate(q, torch.arange(5)[None]).shape
        torch.Size([1, 2, 5, 16])
    """

    cos: Tensor
    sin: Tensor

    def __init__(self, head_dim: int, max_len: int, *, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise TokfreeError(f"head_dim {head_dim} is odd; rotary positions rotate pairs of channels, choose an even head width")
        self.max_len = max_len
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        angles = torch.arange(max_len, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (max_len, Dh/2)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        """x (B, H, T, Dh) rotated by the angles of `positions` (B, T) long."""
        cos = self.cos[positions].unsqueeze(1).to(x.dtype)  # (B, 1, T, Dh/2)
        sin = self.sin[positions].unsqueeze(1).to(x.dtype)
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def check(self, positions: Tensor) -> None:
        """Raises `TokfreeError` if a position is outside 0 .. max_len-1 (`rotate` does not check: the
        check syncs with the device, so models call it once per forward, not once per layer)."""
        if positions.numel() and int(positions.max()) >= self.max_len:
            raise TokfreeError(
                f"position {int(positions.max())} is past the model's max_len {self.max_len}; "
                "shorten the input (or train a model with a larger max_len)"
            )


@dataclass
class LayerCache:
    """The keys and values one attention layer has seen, for incremental decoding.

    Keys are stored already rotated, so a cached key never needs its position again.
    """

    keys: Tensor  # (B, H, S, Dh)
    values: Tensor  # (B, H, S, Dh)


def attention_mask(
    key_mask: Tensor | None, query_len: int, past_len: int, *, causal: bool, device: torch.device
) -> Tensor | None:
    """The boolean SDPA mask (True = may attend) for `query_len` new positions after `past_len` cached ones.

    Args:
        key_mask: (B, past_len + query_len) bool, True for real tokens, or None (no padding).
        query_len: T, the number of new positions (queries).
        past_len: S, the number of cached positions before them.
        causal: whether query i may only see keys up to its own index past_len + i.
        device: where to build the mask.

    Returns:
        (B or 1, 1, T, S + T) bool, or None when nothing is masked (no padding and either not
        causal, or a single query, or causal from an empty past, which SDPA's `is_causal` covers;
        the caller passes `is_causal = causal and past_len == 0 and query_len > 1`).
        Each query may always see itself, so the row of a padding query is never empty (an empty
        row would make SDPA return NaN); real queries never see padding keys.
    """
    total = past_len + query_len
    if key_mask is None and (not causal or query_len == 1 or past_len == 0):
        return None
    mask = torch.ones(query_len, total, dtype=torch.bool, device=device)
    if causal:
        mask = mask.tril(diagonal=past_len)
    mask = mask[None, None]  # (1, 1, T, S+T)
    if key_mask is not None:
        mask = mask & key_mask[:, None, None, :].bool()
        diagonal = torch.zeros(query_len, total, dtype=torch.bool, device=device)
        diagonal[torch.arange(query_len), past_len + torch.arange(query_len)] = True
        mask = mask | diagonal[None, None]
    return mask


class ScoreMeter:
    """Accumulates mean(relu(score - cap)) over the visible (query, key) pairs of the attentions it is passed to.

    A score is a raw attention logit q . k / sqrt(Dh), before any additive bias. MrT5 adds
    `value()` to its loss: an additive gate bias of -30 only silences a key if the logits it
    competes with stay far smaller than 30, and without a penalty a model can grow its logits to
    undo the gate. Computing the scores costs one more (B, H, T, S) matmul per attention, so pass a
    meter only while training with the penalty.

    Args:
        cap: the largest logit that costs nothing (the reference uses 5).

    Example:
        >>> meter = ScoreMeter(5.0)
        >>> attn = Attention(32, 4, 64, causal=False)
        >>> _ = attn(torch.randn(2, 5, 32), torch.arange(5).expand(2, 5), score_meter=meter)
        >>> meter.value().item() >= 0.0, meter.calls
        (True, 1)
    """

    def __init__(self, cap: float) -> None:
        self.cap = float(cap)
        self.total: Tensor | None = None
        self.calls = 0

    def add(self, q: Tensor, k: Tensor, visible: Tensor | None) -> None:
        """Adds one attention's mean excess: q (B, H, T, Dh), k (B, H, S, Dh), visible None or bool
        broadcastable to (B, H, T, S) (True = the pair counts)."""
        scores = q.float() @ k.float().transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, T, S)
        excess = F.relu(scores - self.cap)
        if visible is None:
            mean = excess.mean()
        else:
            weight = visible.expand_as(excess).float()
            mean = (excess * weight).sum() / weight.sum().clamp(min=1.0)
        self.total = mean if self.total is None else self.total + mean
        self.calls += 1

    def value(self) -> Tensor:
        """The mean over the attentions measured so far (a scalar; 0 before any)."""
        if self.total is None:
            return torch.zeros(())
        return self.total / self.calls


def _bounded_query(q: Tensor, bound: float) -> Tensor:
    """Queries for cosine attention: with keys of unit length (`F.normalize`) and SDPA's default
    1/sqrt(Dh) scale, these give logits bound * cos(q, k), inside [-bound, bound]."""
    return F.normalize(q, dim=-1) * (bound * math.sqrt(q.shape[-1]))


def _append_sink(k: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Keys, values and SDPA mask with one more slot: key 0, value 0, always visible (softmax1).

    The slot's logit is q . 0 = 0, so the attention weights become exp(s_j) / (1 + sum_j exp(s_j))
    and the slot adds nothing to the output: a query whose keys all carry a large negative bias
    (MrT5's deleted bytes) attends to nothing instead of being forced to spread weight 1 over
    them. This makes the absolute level of an additive key bias matter, not only its differences.
    k, v: (B, H, S, Dh); mask: None, bool (True = visible) or float (added), broadcastable to
    (B, H, T, S). Returns (B, H, S + 1, Dh) twice and a mask of the same kind with S + 1 columns.
    """
    b, h, _, dh = k.shape
    zeros = k.new_zeros(b, h, 1, dh)
    k, v = torch.cat((k, zeros), dim=2), torch.cat((v, zeros), dim=2)
    if mask is None:
        return k, v, torch.ones(1, 1, 1, k.shape[2], dtype=torch.bool, device=k.device)
    extra = torch.ones if mask.dtype == torch.bool else torch.zeros
    return k, v, torch.cat((mask, extra(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)), dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention with rotary positions, through `scaled_dot_product_attention`.

    Args:
        d_model: the width D.
        n_heads: the number of heads H (D must be divisible by H, and D / H even).
        max_len: the number of rotary positions.
        causal: each position sees only itself and earlier positions (decoder); False for encoders.
        dropout: attention-probability dropout while training.
        logit_bound: cosine attention, logits = logit_bound * cos(query, key), so that no logit can
            exceed it (None: the usual q.k / sqrt(Dh)). MrT5 bounds its gated attentions: a key
            with a gate bias of -30 is then silenced for sure, which unbounded logits can undo.

    Example:
        >>> attn = Attention(32, 4, 64)
        >>> x = torch.randn(2, 5, 32)
        >>> y, cache = attn(x, torch.arange(5).expand(2, 5))
        >>> y.shape, cache.keys.shape
        (torch.Size([2, 5, 32]), torch.Size([2, 4, 5, 8]))
    """

    def __init__(
        self, d_model: int, n_heads: int, max_len: int, *, causal: bool = True, dropout: float = 0.0, logit_bound: float | None = None
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise TokfreeError(f"d_model {d_model} is not divisible by n_heads {n_heads}; choose n_heads dividing d_model")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.causal = causal
        self.dropout = dropout
        self.logit_bound = logit_bound
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.rotary = RotaryEmbedding(self.head_dim, max_len)

    def forward(
        self,
        x: Tensor,  # (B, T, D)
        positions: Tensor,  # (B, T) long
        *,
        key_mask: Tensor | None = None,  # (B, S + T) bool, True = real token
        bias: Tensor | None = None,  # (B or 1, H or 1, T, S + T) float, added to the logits
        past: LayerCache | None = None,
        sink: bool = False,
        score_meter: ScoreMeter | None = None,
    ) -> tuple[Tensor, LayerCache]:
        """Attends from the T new positions to the S cached ones and to themselves.

        Args:
            x: the new positions' inputs (B, T, D).
            positions: their integer positions (B, T), used for the rotary angles.
            key_mask: which of the S + T keys are real (None: all of them).
            bias: an additive term on the attention logits (e.g. MrT5's gate); masked keys stay masked.
            past: the cache from earlier calls (S positions), or None (S = 0).
            sink: softmax1: one more key with logit 0 and value 0 that every query sees (not cached).
            score_meter: if given, measures this attention's raw logits (see `ScoreMeter`).

        Returns:
            The output (B, T, D) and the cache extended by the T new keys and values.
        """
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, Dh)
        q = self.rotary.rotate(q, positions)
        k = self.rotary.rotate(k, positions)
        if self.logit_bound is not None:  # rotation keeps lengths: normalising after it is the same
            q, k = _bounded_query(q, self.logit_bound), F.normalize(k, dim=-1)
        if past is not None:
            k = torch.cat((past.keys.to(k.dtype), k), dim=2)
            v = torch.cat((past.values.to(v.dtype), v), dim=2)
        past_len = k.shape[2] - t
        mask = attention_mask(key_mask, t, past_len, causal=self.causal, device=x.device)
        is_causal = mask is None and self.causal and past_len == 0 and t > 1
        if score_meter is not None:
            visible = mask
            if visible is None and self.causal:
                visible = torch.ones(t, past_len + t, dtype=torch.bool, device=x.device).tril(diagonal=past_len)[None, None]
            score_meter.add(q, k, visible)
        if bias is not None:
            if mask is None and self.causal:
                mask = torch.ones(t, past_len + t, dtype=torch.bool, device=x.device).tril(diagonal=past_len)[None, None]
            bias = bias.to(q.dtype)
            mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
            is_causal = False
        cache = LayerCache(k, v)
        if sink:
            if is_causal:
                mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()[None, None]
                is_causal = False
            k, v, mask = _append_sink(k, v, mask)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=is_causal
        )  # (B, H, T, Dh)
        y = self.out(y.transpose(1, 2).reshape(b, t, d))
        return y, cache


class CrossAttention(nn.Module):
    """Multi-head attention from queries to a separate context (no positions, no causality), through SDPA.

    The word poolers use it: a learned query per word attends to that word's bytes only (the
    mask), as in Byte2Word and HAT's encoder connector. MrT5's decoder uses it to read the encoder
    output, with the delete gate's values as an additive key bias and `sink=True` (softmax1).
    By default positions are not rotated: which context slot a query reads is decided by content
    alone, as in T5's cross-attention, so a context that was shortened (MrT5's hard deletion) or
    padded needs no position bookkeeping. With `max_len` the queries and keys are rotated by their
    own positions (query positions and context positions passed in), so the logits also see the
    offset between a query and a context slot: a decoder that writes its input back (copying,
    denoising) finds "the byte at my position" in one step instead of learning to match content.
    The context's keys and values can be projected once (`project`) and reused for every
    decoding step.

    Args:
        d_model: the query and output width D.
        n_heads: the number of heads H (must divide D; D / H even with `max_len`).
        d_context: the width of the context states (None: D).
        dropout: attention-probability dropout while training.
        max_len: rotary positions for queries and keys, 0 .. max_len-1 (None: no positions).
        logit_bound: cosine attention with logits in [-logit_bound, logit_bound] (see `Attention`).

    Raises:
        TokfreeError: n_heads does not divide d_model.

    Example:
        >>> attn = CrossAttention(16, 2, d_context=8)
        >>> attn(torch.randn(2, 3, 16), torch.randn(2, 5, 8), mask=torch.ones(2, 5, dtype=torch.bool)).shape
        torch.Size([2, 3, 16])
        >>> memory = attn.project(torch.randn(2, 5, 8))  # once, then every decoding step reuses it
        >>> attn(torch.randn(2, 1, 16), memory).shape
        torch.Size([2, 1, 16])
    """

    def __init__(
        self, d_model: int, n_heads: int, *, d_context: int | None = None, dropout: float = 0.0, max_len: int | None = None,
        logit_bound: float | None = None,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise TokfreeError(f"d_model {d_model} is not divisible by n_heads {n_heads}; choose n_heads dividing d_model")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.kv = nn.Linear(d_context if d_context is not None else d_model, 2 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.rotary = RotaryEmbedding(self.head_dim, max_len) if max_len is not None else None
        self.logit_bound = logit_bound

    def _positions(self, positions: Tensor | None, shape: tuple[int, int], what: str) -> Tensor:
        if positions is None or tuple(positions.shape) != shape:
            got = None if positions is None else tuple(positions.shape)
            raise TokfreeError(f"this CrossAttention rotates by position: pass {what} of shape {shape}, got {got}")
        assert self.rotary is not None
        self.rotary.check(positions)
        return positions

    def project(self, context: Tensor, positions: Tensor | None = None) -> LayerCache:
        """The context's keys and values, (B, H, S, Dh) each, from context (B, S, Dc); with rotary
        positions (`max_len`) the keys are rotated by `positions` (B, S) long."""
        b, s_len, _ = context.shape
        k, v = self.kv(context).view(b, s_len, 2, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 2 x (B, H, S, Dh)
        if self.rotary is not None:
            k = self.rotary.rotate(k, self._positions(positions, (b, s_len), "context positions"))
        if self.logit_bound is not None:
            k = F.normalize(k, dim=-1)
        return LayerCache(k, v)

    def forward(
        self,
        x: Tensor,  # (B, Q, D)
        context: Tensor | LayerCache,  # (B, S, Dc), or project(context)
        *,
        mask: Tensor | None = None,  # (B, S) or (B, Q, S) bool, True = may attend
        bias: Tensor | None = None,  # (B or 1, H or 1, Q or 1, S) float, added to the logits
        sink: bool = False,
        score_meter: ScoreMeter | None = None,
        positions: Tensor | None = None,  # (B, Q) long, the queries' rotary positions
        context_positions: Tensor | None = None,  # (B, S) long, when `context` is not projected yet
    ) -> Tensor:
        """Attends from each of the Q queries to the context positions its mask allows.

        Args:
            x: the queries' inputs (B, Q, D).
            context: the states attended to (B, S, Dc), or their `project(context)`.
            mask: which context positions each query may see: (B, S) for all queries alike, or
                (B, Q, S); None = all. A query that may see nothing gets a zero output (not NaN).
            bias: an additive term on the attention logits (MrT5's gate values on the key side);
                masked positions stay masked.
            sink: softmax1: one more slot with logit 0 and value 0 that every query sees.
            score_meter: if given, measures this attention's raw logits (see `ScoreMeter`).
            positions, context_positions: the queries' and the context's rotary positions (only
                with `max_len`; `context_positions` only when `context` is a tensor).

        Returns:
            (B, Q, D).

        Raises:
            TokfreeError: positions missing or misshapen in a rotary CrossAttention.
        """
        b, q_len, d = x.shape
        kv = self.project(context, context_positions) if isinstance(context, Tensor) else context
        s_len = kv.keys.shape[2]
        q = self.query(x).view(b, q_len, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, Q, Dh)
        if self.rotary is not None:
            q = self.rotary.rotate(q, self._positions(positions, (b, q_len), "query positions"))
        if self.logit_bound is not None:
            q = _bounded_query(q, self.logit_bound)
        k, v = kv.keys.to(q.dtype), kv.values.to(q.dtype)
        empty = None
        attn_mask: Tensor | None = None
        if mask is not None:
            mask = mask.bool()
            if mask.dim() == 2:
                mask = mask[:, None, :].expand(b, q_len, s_len)
            empty = ~mask.any(-1)  # (B, Q): an all-masked row would make SDPA return NaN
            attn_mask = (mask | empty[..., None])[:, None]  # (B, 1, Q, S)
        if score_meter is not None:
            score_meter.add(q, k, None if mask is None else mask[:, None])
        if bias is not None:
            bias = bias.to(q.dtype)
            attn_mask = bias if attn_mask is None else bias.masked_fill(~attn_mask, float("-inf"))
        if sink:
            k, v, attn_mask = _append_sink(k, v, attn_mask)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(b, q_len, d)
        if empty is not None:
            y = y.masked_fill(empty[..., None], 0.0)
        return self.out(y)


class SwiGLU(nn.Module):
    """The gated MLP of LLaMA/PaLM: down(silu(gate(x)) * up(x)).

    Args:
        d_model: the width D.
        d_ff: the hidden width (LLaMA uses about 8/3 D, so the three matrices cost what a 4 D MLP does).

    Example:
        >>> SwiGLU(8, 24)(torch.randn(2, 3, 8)).shape
        torch.Size([2, 3, 8])
    """

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, T, D)
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    """A pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)).

    Args:
        d_model: the width D.
        n_heads: attention heads.
        d_ff: the SwiGLU hidden width.
        max_len: the number of rotary positions.
        causal: causal (decoder) or bidirectional (encoder) attention.
        dropout: dropout on attention probabilities and on both residual branches while training.
        logit_bound: cosine attention with bounded logits (see `Attention`); None = off.

    Example:
        >>> block = Block(32, 4, 64, 16)
        >>> y, cache = block(torch.randn(1, 3, 32), torch.arange(3)[None])
        >>> y.shape
        torch.Size([1, 3, 32])
    """

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, max_len: int, *, causal: bool = True, dropout: float = 0.0,
        logit_bound: float | None = None,
    ) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(d_model)
        self.attn = Attention(d_model, n_heads, max_len, causal=causal, dropout=dropout, logit_bound=logit_bound)
        self.mlp_norm = RMSNorm(d_model)
        self.mlp = SwiGLU(d_model, d_ff)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,  # (B, T, D)
        positions: Tensor,  # (B, T) long
        *,
        key_mask: Tensor | None = None,  # (B, S + T) bool
        bias: Tensor | None = None,  # (B or 1, H or 1, T, S + T) float
        past: LayerCache | None = None,
        sink: bool = False,
        score_meter: ScoreMeter | None = None,
    ) -> tuple[Tensor, LayerCache]:
        """The block's output (B, T, D) and its attention cache; arguments as for `Attention.forward`."""
        h, cache = self.attn(
            self.attn_norm(x), positions, key_mask=key_mask, bias=bias, past=past, sink=sink, score_meter=score_meter
        )
        x = x + self.drop(h)
        x = x + self.drop(self.mlp(self.mlp_norm(x)))
        return x, cache


def swiglu_width(d_model: int, *, multiple_of: int = 16) -> int:
    """LLaMA's SwiGLU hidden width for `d_model`: 8/3 d_model rounded up to a multiple of `multiple_of`."""
    return multiple_of * math.ceil(8 * d_model / 3 / multiple_of)
