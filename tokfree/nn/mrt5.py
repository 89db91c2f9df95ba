"""MrT5 (Kallini et al., ICLR 2025): a byte-level encoder-decoder that learns which bytes to delete.

The model is a ByT5-shaped encoder-decoder built from `tokfree.nn.layers` (RMSNorm, rotary
self-attention through SDPA, SwiGLU, pre-norm blocks) with one addition: a **delete gate** after
the first `gate_layer` encoder layers. For the hidden states H (B, N, D) entering encoder layer l
the gate is

    G = k * sigmoid(-(RMSNorm(H) w + b))        (B, N), in (k, 0); k = gate_scale, e.g. -30

so G ~ 0 keeps a byte and G ~ k deletes it; padding gets G = k exactly.

* **Soft deletion** (training): every byte stays, and G is added to the attention logits on the key
  side (`scores[b, h, i, j] += G[b, j]`) in encoder layers l .. L-1 and in every decoder
  cross-attention, so a byte with G = k = -30 gets e^-30 of the weight it would have had, while the
  gate stays differentiable. The gated attentions use softmax1 (`softmax1=True`, an extra key with
  logit 0 and value 0): with a plain softmax a bias shared by all keys cancels out, so the
  regulariser could push every gate below the threshold at no cost to the loss.
* **Hard deletion** (inference; the default in eval mode, or `hard_delete=True`): bytes with
  G < `deletion_threshold` (default k / 2) are removed. Each row's kept bytes are packed to the
  front in order, the encoder sequence shrinks to N' = max_b (kept in row b), and encoder layers
  l .. L-1 and the decoder's cross-attention see only kept slots (padding slots are masked out, so
  they get exactly zero weight). Kept bytes keep their rotary positions and carry their own gate
  value as a bias, exactly as in the soft path, so the two paths differ only by the e^G-sized
  weight soft deletion leaves on deleted bytes (and are bit-identical when nothing is deleted and
  nothing is padded). A
  row whose bytes all fall below the threshold keeps its highest-gate byte, so the decoder always
  has something to attend to.
* **Loss** (`mrt5_loss`): teacher-forced cross-entropy on the decoder outputs, plus the gate
  regulariser alpha * mean(G over real bytes) (G <= 0, so minimising it pushes gates toward
  deletion), plus the reference implementation's score penalty, mean(relu(logit - score_cap)) over
  the raw logits of the gated attentions (softmax1 anchors the gate to the sink's logit 0, but only
  if the logits cannot grow to outweigh a gate of -20). `PIController` updates alpha each step from
  the measured deletion ratio (the share of real bytes with G < threshold) so the ratio settles at a
  target.
* **Objective data**: `corrupt_spans` is T5's span corruption on bytes (ByT5: 15% noise, mean
  span 20 bytes); `collate_pairs` pads (input, target) pairs into a batch.

Files: `save(folder)` writes `config.json` and float32 `model.safetensors` as `CausalLM` does.
On CUDA the forward runs under bf16 autocast (the gate in float32; logits returned as float32).
This file holds no training loop, no tokenizer and no report; ids 0..255 are the byte values
(`tokfree.nn.byte_tokenizer.ByteTokenizer`), the special ids are named in the config.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokfree.errors import TokfreeError
from tokfree.nn._modelfile import check_dropout, check_heads, check_positive_int, config_from_dict, load_model, save_model
from tokfree.nn.byte_tokenizer import ByteTokenizer
from tokfree.nn.layers import Attention, Block, CrossAttention, LayerCache, RMSNorm, ScoreMeter, SwiGLU, swiglu_width
from tokfree.nn.shortening import compact, gather_positions

__all__ = [
    "DeleteGate",
    "MrT5",
    "MrT5Config",
    "MrT5Encoding",
    "MrT5Loss",
    "MrT5Output",
    "PIController",
    "collate_pairs",
    "corrupt_spans",
    "mrt5_loss",
]

_FORMAT = "tokfree.MrT5"
_VERSION = 1
# The gate's bias starts at 5, so G = k * sigmoid(-5) = -0.2 for k = -30: a fresh model keeps
# every byte at almost full weight (with softmax1 a bias of -8, what the paper's bias 1 gives,
# would mute layers l.. of a model trained from scratch before it learned anything). The weight
# is Xavier-normal as in the paper: the logits of different bytes then spread by about +-1.4, so
# bytes cross the threshold one by one as the regulariser lowers them, not all in the same step
# (with a 0.02 init they cross as one bloc and the deletion ratio jumps from 0 to 1).
_GATE_BIAS_INIT = 5.0

Device = str | torch.device


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class MrT5Config:
    """The shape of an `MrT5`; saved as `config.json` beside the weights.

    Attributes:
        vocab_size: the number of ids: bytes 0..255, the special ids, and any span-corruption
            sentinels (ByteTokenizer's 259 by default).
        d_model: the model width D.
        n_heads: attention heads (d_model / n_heads must be an even integer, for rotary pairs).
        encoder_layers: encoder blocks L (bidirectional).
        decoder_layers: decoder blocks (causal self-attention, cross-attention, SwiGLU).
        gate_layer: the number of encoder layers before the delete gate, 0..encoder_layers (the
            paper's l; 3 of 12 in the released model). Layers gate_layer.. run on the shortened
            sequence in hard mode.
        max_len: the longest encoder input and decoder sequence (rotary positions).
        dropout: dropout on embeddings, attention probabilities and residual branches in training.
        gate_scale: k, the most negative gate value (a deleted byte's attention bias); < 0.
        deletion_threshold: tau, hard deletion removes bytes with G < tau, and the deletion ratio
            counts them; in (gate_scale, 0); None = gate_scale / 2.
        softmax1: the gated attentions add a zero key with value 0 (see the module docstring).
        score_cap: raw attention logits above it are penalised by `mrt5_loss` (score_weight) in the
            gated attentions, so that they cannot grow to undo a gate bias (> 0, well below -k).
        pad_id, eos_id, bos_id: the padding id, the end-of-sequence id (appended to inputs and
            targets by `collate_pairs`, stops `generate`), and the decoder's start id.
        tie_embeddings: the output head reuses the (shared encoder/decoder) input embedding.
        d_ff: the SwiGLU hidden width; None = 8/3 d_model rounded up to a multiple of 16.
        cross_rotary: the decoder's cross-attention rotates queries by their decoder positions and
            encoder slots by their input positions (hard deletion keeps each kept byte's position),
            so it sees the offset between them; False = T5's position-free cross-attention. Tasks
            whose output copies the input (`tokfree.training.mrt5_runs`' "fill") learn in a few
            hundred steps with it and not in a few thousand without it.
        logit_bound: the gated attentions (encoder layers gate_layer.. and the cross-attention)
            use cosine attention with logits in [-logit_bound, logit_bound], so a key with gate
            value G keeps at most e^(2 logit_bound + G) of the weight of the best kept key: soft
            deletion cannot leak what hard deletion removes. None = ordinary logits, held down only
            by the score penalty, and a model trained long enough learns logits of 30+ on deleted
            keys and reads them through the e^-30 (soft and hard cross-entropy then part ways).

    Raises:
        TokfreeError: a field out of range (the message names it and the rule).

    Example:
        >>> MrT5Config(d_model=64, n_heads=2, gate_scale=-20.0).threshold
        -10.0
    """

    vocab_size: int = ByteTokenizer.VOCAB_SIZE
    d_model: int = 128
    n_heads: int = 4
    encoder_layers: int = 4
    decoder_layers: int = 2
    gate_layer: int = 2
    max_len: int = 1024
    dropout: float = 0.0
    gate_scale: float = -30.0
    deletion_threshold: float | None = None
    softmax1: bool = True
    score_cap: float = 5.0
    pad_id: int = ByteTokenizer.PAD_ID
    eos_id: int = ByteTokenizer.EOS_ID
    bos_id: int = ByteTokenizer.BOS_ID
    tie_embeddings: bool = True
    d_ff: int | None = None
    cross_rotary: bool = False
    logit_bound: float | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "encoder_layers", "decoder_layers", "max_len"):
            check_positive_int("MrT5Config", name, getattr(self, name))
        check_positive_int("MrT5Config", "d_ff", self.d_ff, optional=True)
        check_heads("MrT5Config", "d_model", self.d_model, "n_heads", self.n_heads)
        layer = self.gate_layer
        if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer <= self.encoder_layers:
            raise TokfreeError(
                f"MrT5Config.gate_layer is {self.gate_layer!r}; it must be an integer from 0 to encoder_layers "
                f"({self.encoder_layers}): the number of encoder layers that run before the delete gate"
            )
        check_dropout("MrT5Config", self.dropout)
        if not _number(self.gate_scale) or self.gate_scale >= 0:
            raise TokfreeError(
                f"MrT5Config.gate_scale is {self.gate_scale!r}; it must be a finite negative number "
                "(the attention bias of a deleted byte; the paper uses -30)"
            )
        if self.deletion_threshold is not None and (
            not _number(self.deletion_threshold) or not self.gate_scale < self.deletion_threshold < 0
        ):
            raise TokfreeError(
                f"MrT5Config.deletion_threshold is {self.deletion_threshold!r}; it must lie strictly between "
                f"gate_scale ({self.gate_scale}) and 0, or be None (gate_scale / 2)"
            )
        if self.logit_bound is not None and (not _number(self.logit_bound) or not 0 < self.logit_bound < -self.gate_scale / 2):
            raise TokfreeError(
                f"MrT5Config.logit_bound is {self.logit_bound!r}; it must be None or a number in (0, -gate_scale / 2 = "
                f"{-self.gate_scale / 2}): two keys' logits then differ by less than a deleted byte's gate bias"
            )
        if not _number(self.score_cap) or self.score_cap <= 0:
            raise TokfreeError(f"MrT5Config.score_cap is {self.score_cap!r}; it must be a positive number (the reference uses 5)")
        for name in ("softmax1", "tie_embeddings", "cross_rotary"):
            if not isinstance(getattr(self, name), bool):
                raise TokfreeError(f"MrT5Config.{name} is {getattr(self, name)!r}; it must be true or false")
        specials = {"pad_id": self.pad_id, "eos_id": self.eos_id, "bos_id": self.bos_id}
        for name, value in specials.items():
            if not isinstance(value, int) or isinstance(value, bool) or not 256 <= value < self.vocab_size:
                raise TokfreeError(
                    f"MrT5Config.{name} is {value!r}; special ids must lie in 256..vocab_size-1 ({self.vocab_size - 1}), "
                    "after the 256 byte ids (raise vocab_size to make room)"
                )
        if len(set(specials.values())) != 3:
            raise TokfreeError(f"MrT5Config: pad_id, eos_id and bos_id must differ, got {specials}")

    @property
    def ff_width(self) -> int:
        """The SwiGLU hidden width actually used."""
        return self.d_ff if self.d_ff is not None else swiglu_width(self.d_model)

    @property
    def threshold(self) -> float:
        """The deletion threshold actually used: `deletion_threshold`, or gate_scale / 2."""
        return float(self.deletion_threshold) if self.deletion_threshold is not None else self.gate_scale / 2

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: object) -> MrT5Config:
        """A config from `to_dict()` output; raises `TokfreeError` on unknown or ill-typed fields."""
        return config_from_dict(cls, fields, "MrT5")


class DeleteGate(nn.Module):
    """MrT5's delete gate: G = k * sigmoid(-(RMSNorm(H) w + b)), in (k, 0), and k at padding.

    Computed in float32 even under bf16 autocast (the threshold test needs the precision).

    Args:
        d_model: the width D of the hidden states.
        scale: k < 0, the gate value of a fully deleted byte.

    Example:
        >>> gate = DeleteGate(16, -30.0)
        >>> g = gate(torch.randn(2, 5, 16), torch.tensor([[True] * 5, [True] * 3 + [False] * 2]))
        >>> g.shape, bool((g <= 0).all()), g[1, 3].item()
        (torch.Size([2, 5]), True, -30.0)
    """

    def __init__(self, d_model: int, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)
        self.norm = RMSNorm(d_model)
        self.proj = nn.Linear(d_model, 1)

    def forward(self, hidden: Tensor, real: Tensor) -> Tensor:
        """Gate values (B, N) float32 for hidden (B, N, D); real (B, N) bool marks non-padding."""
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            logits = self.proj(self.norm(hidden).float()).squeeze(-1)  # (B, N)
            gate = self.scale * torch.sigmoid(-logits)
        return gate.masked_fill(~real, self.scale)


@dataclass
class MrT5Encoding:
    """What `MrT5.encode` returns: the encoder output the decoder attends to, and the gate.

    S is the encoder output's length: N (soft deletion) or N' = the most bytes any row kept (hard).
    """

    hidden: Tensor  # (B, S, D) the final encoder states
    key_mask: Tensor  # (B, S) bool, True = a real (kept) slot
    bias: Tensor  # (B, S) float32, the gate value each slot carries as a key bias (0 in padding slots)
    kept: Tensor  # (B, S) long, each slot's index in the input, -1 for padding slots
    gate: Tensor  # (B, N) float32, every input position's gate value (k at padding)
    input_mask: Tensor  # (B, N) bool, True = a real input byte
    deleted: Tensor  # (B, N) bool, real bytes with gate < threshold
    hard: bool  # whether deleted bytes were removed
    positions: Tensor  # (B, S) long, each slot's rotary position (its byte's index among the real bytes)

    @property
    def deletion_ratio(self) -> float:
        """The share of real input bytes whose gate is below the threshold."""
        return float(self.deleted.sum()) / max(1, int(self.input_mask.sum()))


@dataclass
class MrT5Output:
    """What `MrT5.forward` returns."""

    logits: Tensor  # (B, T, vocab_size) float32
    encoding: MrT5Encoding


class _DecoderBlock(nn.Module):
    """Pre-norm decoder block: causal rotary self-attention, cross-attention, SwiGLU."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, max_len: int, dropout: float, cross_rotary: bool, logit_bound: float | None
    ) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(d_model)
        self.attn = Attention(d_model, n_heads, max_len, causal=True, dropout=dropout)
        self.cross_norm = RMSNorm(d_model)
        self.cross = CrossAttention(
            d_model, n_heads, dropout=dropout, max_len=max_len if cross_rotary else None, logit_bound=logit_bound
        )
        self.mlp_norm = RMSNorm(d_model)
        self.mlp = SwiGLU(d_model, d_ff)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,  # (B, T, D)
        positions: Tensor,  # (B, T)
        memory: LayerCache,  # the projected encoder output
        memory_mask: Tensor,  # (B, S) bool
        memory_bias: Tensor,  # (B, 1, 1, S) float
        *,
        sink: bool,
        key_mask: Tensor | None = None,
        past: LayerCache | None = None,
        score_meter: ScoreMeter | None = None,
    ) -> tuple[Tensor, LayerCache]:
        h, cache = self.attn(self.attn_norm(x), positions, key_mask=key_mask, past=past)
        x = x + self.drop(h)
        cross = self.cross(
            self.cross_norm(x), memory, mask=memory_mask, bias=memory_bias, sink=sink, score_meter=score_meter, positions=positions
        )
        x = x + self.drop(cross)
        x = x + self.drop(self.mlp(self.mlp_norm(x)))
        return x, cache


class MrT5(nn.Module):
    """A byte-level encoder-decoder with a learned delete gate (see the module docstring).

    Args:
        config: the model's shape.
        device: where the weights live.
        seed: seeds the weight initialisation (None: torch's global generator).

    Example:
        >>> config = MrT5Config(d_model=32, n_heads=2, encoder_layers=2, decoder_layers=1, gate_layer=1, max_len=64)
        >>> model = MrT5(config, seed=0).eval()
        >>> ids, mask, labels = collate_pairs([(b"hello", b"hll"), (b"abc", b"bc")], config)
        >>> decoder_ids = torch.cat([torch.full((2, 1), config.bos_id), labels[:, :-1]], dim=1)
        >>> out = model(ids, decoder_ids, mask)      # eval mode: hard deletion
        >>> out.logits.shape, out.encoding.hard
        (torch.Size([2, 4, 259]), True)
        >>> model.generate(ids, mask, max_new_tokens=4).shape[0]
        2
    """

    def __init__(self, config: MrT5Config, *, device: Device = "cpu", seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(  # the layers after the gate are the gated ones: bounded logits there
            Block(c.d_model, c.n_heads, c.ff_width, c.max_len, causal=False, dropout=c.dropout, logit_bound=c.logit_bound if i >= c.gate_layer else None)
            for i in range(c.encoder_layers)
        )
        self.gate = DeleteGate(c.d_model, c.gate_scale)
        self.encoder_norm = RMSNorm(c.d_model)
        self.decoder = nn.ModuleList(
            _DecoderBlock(c.d_model, c.n_heads, c.ff_width, c.max_len, c.dropout, c.cross_rotary, c.logit_bound)
            for _ in range(c.decoder_layers)
        )
        self.decoder_norm = RMSNorm(c.d_model)
        self.lm_head = None if c.tie_embeddings else nn.Linear(c.d_model, c.vocab_size, bias=False)
        self._init_weights(seed)
        self.to(device)

    def _init_weights(self, seed: int | None) -> None:
        # CausalLM's scheme (N(0, 0.02), residual outputs / sqrt(2 layers) per stack); the gate
        # starts keeping every byte, with spread logits (see _GATE_BIAS_INIT).
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        c = self.config
        for name, param in self.named_parameters():
            if param.dim() < 2:
                continue
            std = 0.02
            if name.endswith(("attn.out.weight", "cross.out.weight", "mlp.down.weight")):
                layers = c.encoder_layers if name.startswith("encoder.") else c.decoder_layers
                std = 0.02 / math.sqrt(2 * layers)
            with torch.no_grad():
                param.copy_(torch.randn(param.shape, generator=generator) * std)
        with torch.no_grad():
            w = self.gate.proj.weight
            w.copy_(torch.randn(w.shape, generator=generator) * math.sqrt(2.0 / (w.shape[1] + 1)))
            self.gate.proj.bias.fill_(_GATE_BIAS_INIT)

    @property
    def device(self) -> torch.device:
        """The device of the weights."""
        return self.embed.weight.device

    def num_parameters(self) -> int:
        """The number of weights (a tied head counted once)."""
        return sum(p.numel() for p in self.parameters())

    # --- input checks -------------------------------------------------------------------------

    def _ids(self, ids: Tensor, mask: Tensor | None, what: str) -> tuple[Tensor, Tensor | None]:
        if not isinstance(ids, Tensor) or ids.dim() != 2:
            shape = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
            raise TokfreeError(f"{what} must be a (batch, time) tensor, got {shape}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise TokfreeError(f"{what} must be an integer tensor, got {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size):
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise TokfreeError(f"{what} holds id {bad}, outside the model's vocabulary 0..{self.config.vocab_size - 1}")
        if ids.shape[1] > self.config.max_len:
            raise TokfreeError(f"{what} has {ids.shape[1]} positions, past the model's max_len {self.config.max_len}; shorten the input")
        ids = ids.to(device=self.device, dtype=torch.long)
        if mask is not None:
            if not isinstance(mask, Tensor) or mask.shape != ids.shape:
                shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
                raise TokfreeError(f"the mask for {what} has shape {shape}, {what} {tuple(ids.shape)}; they must match")
            mask = mask.to(device=self.device, dtype=torch.bool)
        return ids, mask

    # --- encoder ------------------------------------------------------------------------------

    def encode(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        hard_delete: bool | None = None,
        gate: Tensor | None = None,
        score_meter: ScoreMeter | None = None,
    ) -> MrT5Encoding:
        """Runs the encoder, deleting bytes softly or for real.

        Args:
            input_ids: (B, N) input ids.
            attention_mask: (B, N), 1/True for real bytes, 0/False for padding (anywhere); None = no
                padding. Real bytes get consecutive positions, so padding never changes them.
            hard_delete: remove bytes with gate < threshold (True), or keep them with their gate as
                a key bias (False); None = hard in eval mode, soft in training mode.
            gate: (B, N) gate values to use instead of the gate head's (e.g. random or fixed
                deletion controls, or analysis); padding still gets gate_scale.
            score_meter: measures the raw logits of the gated layers (`mrt5_loss` passes one).

        Returns:
            An `MrT5Encoding` (the final states, their mask and key biases, the gate values).

        Raises:
            TokfreeError: ids not a (B, N) integer tensor, an id outside the vocabulary, more than
                max_len positions, a mask or gate of another shape, or a row with no real byte.
        """
        ids, mask = self._ids(input_ids, attention_mask, "input_ids")
        b, n = ids.shape
        c = self.config
        real = mask if mask is not None else torch.ones(b, n, dtype=torch.bool, device=ids.device)
        if n == 0 or not bool(real.any(1).all()):
            raise TokfreeError("every row of input_ids needs at least one real byte (attention_mask marks none in some row)")
        if gate is not None:
            if not isinstance(gate, Tensor) or gate.shape != ids.shape:
                shape = tuple(gate.shape) if isinstance(gate, Tensor) else type(gate).__name__
                raise TokfreeError(f"gate has shape {shape}, input_ids {tuple(ids.shape)}; pass one gate value per input position")
            gate = gate.to(device=ids.device, dtype=torch.float32).masked_fill(~real, c.gate_scale)
        hard = (not self.training) if hard_delete is None else bool(hard_delete)
        positions = (real.long().cumsum(1) - 1).clamp(min=0)
        self.encoder[0].attn.rotary.check(positions)
        key_mask = real if mask is not None else None
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=ids.device.type == "cuda"):
            x = self.drop(self.embed(ids))
            for block in self.encoder[: c.gate_layer]:
                x, _ = block(x, positions, key_mask=key_mask)
            g = self.gate(x, real) if gate is None else gate  # (B, N) float32
            deleted = (g < c.threshold) & real
            if hard:
                keep = real & ~deleted
                empty = ~keep.any(1)
                if bool(empty.any()):  # keep the row's highest-gate byte: the decoder needs a key
                    best = g.masked_fill(~real, -math.inf).argmax(1)
                    keep = keep.clone()
                    keep[empty, best[empty]] = True
                x, slot_mask, index = compact(x, keep)
                positions, bias = gather_positions(positions, index, slot_mask), gather_positions(g, index, slot_mask)
                kept = index.masked_fill(~slot_mask, -1)
            else:
                bias, slot_mask = g, real
                kept = torch.arange(n, device=ids.device).expand(b, n).masked_fill(~real, -1)
            key_bias = bias[:, None, None, :]  # (B, 1, 1, S): the same for every head and query
            for block in self.encoder[c.gate_layer :]:
                x, _ = block(x, positions, key_mask=slot_mask, bias=key_bias, sink=c.softmax1, score_meter=score_meter)
            x = self.encoder_norm(x)
        return MrT5Encoding(
            hidden=x, key_mask=slot_mask, bias=bias, kept=kept, gate=g, input_mask=real, deleted=deleted, hard=hard,
            positions=positions,
        )

    # --- decoder ------------------------------------------------------------------------------

    def _memories(self, encoding: MrT5Encoding) -> list[LayerCache]:
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            return [block.cross.project(encoding.hidden, encoding.positions) for block in self.decoder]

    def _decode(
        self,
        ids: Tensor,  # (B, T) on the device
        positions: Tensor,  # (B, T)
        encoding: MrT5Encoding,
        memories: list[LayerCache],
        *,
        key_mask: Tensor | None = None,
        past: list[LayerCache] | None = None,
        score_meter: ScoreMeter | None = None,
    ) -> tuple[Tensor, list[LayerCache]]:
        self.decoder[0].attn.rotary.check(positions)
        memory_bias = encoding.bias[:, None, None, :]
        caches: list[LayerCache] = []
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=ids.device.type == "cuda"):
            x = self.drop(self.embed(ids))
            for i, block in enumerate(self.decoder):
                x, cache = block(
                    x, positions, memories[i], encoding.key_mask, memory_bias,
                    sink=self.config.softmax1, key_mask=key_mask, past=past[i] if past is not None else None,
                    score_meter=score_meter,
                )  # fmt: skip
                caches.append(cache)
            x = self.decoder_norm(x)
            logits = self.lm_head(x) if self.lm_head is not None else F.linear(x, self.embed.weight)
        return logits.float(), caches

    def decode(
        self,
        decoder_ids: Tensor,
        encoding: MrT5Encoding,
        *,
        decoder_attention_mask: Tensor | None = None,
        score_meter: ScoreMeter | None = None,
    ) -> Tensor:
        """Next-id logits of the decoder over `encoding` (teacher forcing).

        Args:
            decoder_ids: (B, T) decoder inputs, starting with bos_id (see `mrt5_loss`).
            encoding: `encode`'s output for the same B rows.
            decoder_attention_mask: (B, T) 1 = real, for padding before real ids (right padding
                needs no mask: the decoder is causal).
            score_meter: measures the raw logits of the cross-attentions.

        Returns:
            (B, T, vocab_size) float32 logits; row t predicts decoder id t + 1 (the label t).

        Raises:
            TokfreeError: bad ids or mask (as `encode`), or another number of rows than `encoding`.
        """
        ids, mask = self._ids(decoder_ids, decoder_attention_mask, "decoder_ids")
        if ids.shape[0] != encoding.hidden.shape[0]:
            raise TokfreeError(f"decoder_ids has {ids.shape[0]} rows but the encoding {encoding.hidden.shape[0]}; they must match")
        if mask is None:
            positions = torch.arange(ids.shape[1], device=ids.device).expand(ids.shape)
        else:
            positions = (mask.long().cumsum(1) - 1).clamp(min=0)
        return self._decode(ids, positions, encoding, self._memories(encoding), key_mask=mask, score_meter=score_meter)[0]

    def forward(
        self,
        input_ids: Tensor,
        decoder_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        decoder_attention_mask: Tensor | None = None,
        hard_delete: bool | None = None,
        gate: Tensor | None = None,
        score_meter: ScoreMeter | None = None,
    ) -> MrT5Output:
        """Encodes `input_ids` and decodes `decoder_ids` over the result (teacher forcing).

        Args:
            input_ids, attention_mask, hard_delete, gate: as for `encode`.
            decoder_ids, decoder_attention_mask: as for `decode`.
            score_meter: measures the raw logits of every gated attention (encoder and decoder).

        Returns:
            `MrT5Output(logits (B, T, vocab_size) float32, encoding)`.

        Raises:
            TokfreeError: as `encode` and `decode`.
        """
        encoding = self.encode(input_ids, attention_mask, hard_delete=hard_delete, gate=gate, score_meter=score_meter)
        logits = self.decode(decoder_ids, encoding, decoder_attention_mask=decoder_attention_mask, score_meter=score_meter)
        return MrT5Output(logits, encoding)

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        max_new_tokens: int,
        hard_delete: bool | None = None,
        gate: Tensor | None = None,
    ) -> Tensor:
        """Greedy decoding: the most likely id at each step, with a KV cache, until eos or the limit.

        Args:
            input_ids, attention_mask, hard_delete, gate: as for `encode` (eval mode: hard).
            max_new_tokens: the most ids to produce per row (at most max_len).

        Returns:
            (B, L) long, L <= max_new_tokens: each row's ids after bos, up to and including its
            eos, then pad_id. Stops early when every row has produced eos.

        Raises:
            TokfreeError: as `encode`, or max_new_tokens outside 1..max_len.
        """
        if not _positive_int(max_new_tokens) or max_new_tokens > self.config.max_len:
            raise TokfreeError(f"max_new_tokens is {max_new_tokens!r}; it must be an integer from 1 to max_len ({self.config.max_len})")
        c = self.config
        encoding = self.encode(input_ids, attention_mask, hard_delete=hard_delete, gate=gate)
        memories = self._memories(encoding)
        b = encoding.hidden.shape[0]
        device = encoding.hidden.device
        token = torch.full((b, 1), c.bos_id, dtype=torch.long, device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        past: list[LayerCache] | None = None
        out: list[Tensor] = []
        for step in range(max_new_tokens):
            positions = torch.full((b, 1), step, dtype=torch.long, device=device)
            logits, past = self._decode(token, positions, encoding, memories, past=past)
            nxt = logits[:, -1].argmax(-1).masked_fill(done, c.pad_id)
            out.append(nxt)
            done = done | (nxt == c.eos_id)
            if bool(done.all()):
                break
            token = nxt[:, None]
        return torch.stack(out, dim=1)

    # --- files --------------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Writes `config.json` and `model.safetensors` (float32) into `folder`, creating it.

        Example:
            >>> import tempfile
            >>> model = MrT5(MrT5Config(d_model=32, n_heads=2, encoder_layers=2, decoder_layers=1, gate_layer=1), seed=0)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     model.save(folder)
            ...     MrT5.load(folder).config == model.config
            True
        """
        save_model(folder, format_tag=_FORMAT, version=_VERSION, config=self.config, model=self)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, device: Device = "cpu") -> MrT5:
        """Reads a model written by `save`, in eval mode.

        Args:
            folder: the folder holding `config.json` and `model.safetensors`.
            device: where to put the weights.

        Returns:
            The model.

        Raises:
            TokfreeError: a missing or unreadable file, a config that is not a tokfree MrT5 config
                (or has a bad field), or weights with a missing, extra, misshapen or non-float32 tensor.
        """
        model = load_model(folder, format_tag=_FORMAT, version=_VERSION, config_cls=MrT5Config, build=cls, what="MrT5")
        return model.to(device).eval()


# --- training objective ---------------------------------------------------------------------------


@dataclass
class MrT5Loss:
    """The parts of `mrt5_loss`: backpropagate `loss`, feed `deletion_ratio` to a `PIController`."""

    loss: Tensor  # scalar: ce + alpha * gate_mean + score_weight * score_excess
    ce: Tensor  # scalar: mean cross-entropy (nats) over real label positions
    gate_mean: Tensor  # scalar: mean gate value over real input bytes, in [gate_scale, 0]
    score_excess: Tensor  # scalar: mean relu(logit - score_cap) over the gated attentions (0 if not measured)
    deletion_ratio: float  # share of real input bytes with gate < threshold
    alpha: float  # the regulariser weight used
    encoder_length: int  # S, the encoder output length (shorter than the input in hard mode)


def mrt5_loss(
    model: MrT5,
    input_ids: Tensor,
    labels: Tensor,
    attention_mask: Tensor | None = None,
    *,
    alpha: float = 0.0,
    score_weight: float = 1.0,
    hard_delete: bool | None = None,
    gate: Tensor | None = None,
    loss_mask: Tensor | None = None,
) -> MrT5Loss:
    """MrT5's training loss: teacher-forced cross-entropy, alpha times the mean gate value, and a
    penalty on large attention logits.

    The decoder reads [bos_id, labels[:, :-1]] and predicts `labels`; label positions equal to
    pad_id are ignored. The gate regulariser is the mean of G over real input bytes (<= 0), so a
    positive alpha pushes gates toward deletion; `PIController` chooses alpha. The score penalty is
    the mean of relu(logit - score_cap) over the raw logits of the gated attentions (encoder layers
    gate_layer.. and the cross-attentions): without it the model can grow its logits until a gate
    of -20 no longer silences a key, and then deleting "everything" costs nothing and the deletion
    ratio says nothing about what hard deletion will remove.

    Args:
        model: the model (in training mode, soft deletion unless `hard_delete=True`).
        input_ids: (B, N) encoder inputs; `attention_mask` (B, N) marks real bytes (None: all).
        labels: (B, T) target ids, right-padded with pad_id (e.g. from `collate_pairs`).
        alpha: the gate regulariser's weight (negative pushes gates toward keeping; see
            `PIController`'s min_alpha).
        score_weight: the score penalty's weight (>= 0; 0 skips measuring the logits, which costs
            one more matmul per gated attention).
        hard_delete, gate: as for `MrT5.encode`.
        loss_mask: (B, T) bool, the label positions the cross-entropy counts (None: every real
            label). The decoder still reads every label as its input: an infilling objective
            scores only the bytes it had to fill in.

    Returns:
        `MrT5Loss(loss, ce, gate_mean, score_excess, deletion_ratio, alpha, encoder_length)`.

    Raises:
        TokfreeError: a non-finite alpha, a negative or non-finite score_weight, labels with no
            real id, labels with padding before a real id, or bad inputs (as `MrT5.forward`).

    Example:
        >>> config = MrT5Config(d_model=32, n_heads=2, encoder_layers=2, decoder_layers=1, gate_layer=1)
        >>> model = MrT5(config, seed=0)
        >>> ids, mask, labels = collate_pairs([(b"copy me", b"copy me")], config)
        >>> parts = mrt5_loss(model, ids, labels, mask, alpha=0.01)
        >>> parts.loss.backward()
        >>> round(parts.ce.item(), 1) == round(math.log(config.vocab_size), 1), parts.deletion_ratio
        (True, 0.0)
    """
    if not _number(alpha):
        raise TokfreeError(f"alpha is {alpha!r}; the regulariser weight must be a finite number")
    if not _number(score_weight) or score_weight < 0:
        raise TokfreeError(f"score_weight is {score_weight!r}; the score penalty's weight must be a finite number >= 0")
    c = model.config
    if not isinstance(labels, Tensor) or labels.dim() != 2:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise TokfreeError(f"labels must be a (batch, time) tensor, got {shape}")
    labels = labels.to(model.device, torch.long)
    real = labels != c.pad_id
    if not bool(real.any()):
        raise TokfreeError("labels hold no real id (all pad_id); each batch needs a target")
    if labels.shape[1] > 1 and bool((real[:, 1:] & ~real[:, :-1]).any()):
        raise TokfreeError("labels have pad_id before a real id; targets must be right-padded (collate_pairs does this)")
    decoder_ids = torch.cat((torch.full_like(labels[:, :1], c.bos_id), labels[:, :-1]), dim=1)
    meter = ScoreMeter(c.score_cap) if score_weight > 0 else None
    out = model(input_ids, decoder_ids, attention_mask, hard_delete=hard_delete, gate=gate, score_meter=meter)
    scored = labels
    if loss_mask is not None:
        if not isinstance(loss_mask, Tensor) or loss_mask.shape != labels.shape:
            shape = tuple(loss_mask.shape) if isinstance(loss_mask, Tensor) else type(loss_mask).__name__
            raise TokfreeError(f"loss_mask has shape {shape}, labels {tuple(labels.shape)}; they must match")
        keep = loss_mask.to(labels.device, torch.bool) & real
        if not bool(keep.any()):
            raise TokfreeError("loss_mask selects no real label; the cross-entropy needs at least one")
        scored = labels.masked_fill(~keep, c.pad_id)
    ce = F.cross_entropy(out.logits.reshape(-1, c.vocab_size), scored.reshape(-1), ignore_index=c.pad_id)
    enc = out.encoding
    mask = enc.input_mask
    gate_mean = (enc.gate * mask).sum() / mask.sum()
    excess = meter.value().to(ce.device) if meter is not None else torch.zeros((), device=ce.device)
    return MrT5Loss(
        loss=ce + alpha * gate_mean + score_weight * excess,
        ce=ce,
        gate_mean=gate_mean,
        score_excess=excess,
        deletion_ratio=enc.deletion_ratio,
        alpha=float(alpha),
        encoder_length=int(enc.hidden.shape[1]),
    )


class PIController:
    """Steers the gate regulariser's weight alpha so the deletion ratio settles at a target.

    The update, once per `update(ratio)` call (the reference implementation's rule):

        err = target - ratio
        p = 0.9 p + 0.1 kp err          (a smoothed proportional term)
        i = i + ki err                  (the integral term; it removes the steady-state error)
        alpha = max(min_alpha, p + i)

    During the first `delay` updates alpha stays 0 (let the task loss settle first) and nothing
    accumulates. Too little deletion (ratio < target) raises alpha, too much lowers it.

    With the paper's `min_alpha = 0` the regulariser can only push gates toward deletion; the task
    loss is what brings back bytes it needs. When the loss does not need them (a toy task whose
    answer sits in a few bytes, or information that the layers before the gate already moved
    elsewhere), the ratio overshoots to whatever the loss tolerates and stays there. A negative
    `min_alpha` lets the regulariser push gates back up when the ratio is above the target, so the
    ratio is steered from both sides (tests/test_mrt5.py trains such a case).

    Args:
        target: delta, the wanted share of deleted bytes, in [0, 1).
        kp: the proportional gain (>= 0; the paper's default 0.5).
        ki: the integral gain (>= 0; the paper's 1e-5 is for tens of thousands of steps, raise it
            for short runs).
        delay: updates with alpha = 0 before the controller starts.
        min_alpha: the lowest alpha (<= 0; 0 as in the paper).

    Raises:
        TokfreeError: a value out of range.

    Example:
        >>> pi = PIController(0.5, kp=0.5, ki=0.01)
        >>> round(pi.update(0.1), 6)   # err 0.4: p = 0.1 * 0.5 * 0.4 = 0.02, i = 0.004
        0.024
        >>> round(pi.update(0.9), 6)   # err -0.4: p = 0.018 - 0.02 = -0.002, i = 0.0
        0.0
    """

    def __init__(self, target: float, *, kp: float = 0.5, ki: float = 1e-5, delay: int = 0, min_alpha: float = 0.0) -> None:
        if not _number(target) or not 0.0 <= target < 1.0:
            raise TokfreeError(f"PIController target is {target!r}; a deletion ratio must lie in [0, 1)")
        for name, value in (("kp", kp), ("ki", ki)):
            if not _number(value) or value < 0:
                raise TokfreeError(f"PIController {name} is {value!r}; it must be a finite number >= 0")
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
            raise TokfreeError(f"PIController delay is {delay!r}; it must be an integer >= 0")
        if not _number(min_alpha) or min_alpha > 0:
            raise TokfreeError(
                f"PIController min_alpha is {min_alpha!r}; it must be a finite number <= 0 (0: the paper's one-sided control)"
            )
        self.target = float(target)
        self.kp = float(kp)
        self.ki = float(ki)
        self.delay = delay
        self.min_alpha = float(min_alpha)
        self.p = 0.0
        self.i = 0.0
        self.alpha = 0.0
        self.steps = 0

    def update(self, deletion_ratio: float) -> float:
        """Feeds one measured deletion ratio (in [0, 1]) and returns the new alpha.

        Raises:
            TokfreeError: a ratio outside [0, 1].
        """
        if not _number(deletion_ratio) or not 0.0 <= deletion_ratio <= 1.0:
            raise TokfreeError(f"deletion_ratio is {deletion_ratio!r}; it must be a number in [0, 1]")
        self.steps += 1
        if self.steps <= self.delay:
            return self.alpha
        err = self.target - float(deletion_ratio)
        self.p = 0.9 * self.p + 0.1 * self.kp * err
        self.i = self.i + self.ki * err
        self.alpha = max(self.min_alpha, self.p + self.i)
        return self.alpha


# --- objective data ---------------------------------------------------------------------------


def _segments(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` positive lengths, uniformly over such splits."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]


def corrupt_spans(
    data: bytes | Sequence[int],
    *,
    sentinel_ids: Sequence[int],
    noise_density: float = 0.15,
    mean_span: float = 20.0,
    rng: random.Random,
) -> tuple[list[int], list[int]]:
    """T5 span corruption on a byte string (ByT5's defaults: 15% noise, spans of 20 bytes on average).

    round(n * noise_density) bytes (at least 1, at most n - 1) are split into
    round(noise / mean_span) spans (at least 1); the rest into as many unmasked runs, and the two
    alternate starting with an unmasked run (T5's `random_spans_noise_mask`). The input keeps the
    unmasked bytes with sentinel i in place of span i; the target is sentinel i followed by span i,
    for each span in order. So interleaving the two at the sentinels gives `data` back.

    Args:
        data: the bytes (or byte ids 0..255), at least 2 of them.
        sentinel_ids: ids for spans 0, 1, ... (ByT5 counts down from the top of the vocabulary);
            there must be at least as many as spans.
        noise_density: the share of bytes to mask, in (0, 1).
        mean_span: the average masked span length (>= 1).
        rng: the random source (seed it for reproducible data).

    Returns:
        (input ids, target ids), without eos (`collate_pairs` appends it).

    Raises:
        TokfreeError: fewer than 2 bytes, a density or span length out of range, or too few sentinels.

    Example:
        >>> inp, tgt = corrupt_spans(b"abcdefghij", sentinel_ids=[300, 299], noise_density=0.3, mean_span=3, rng=random.Random(0))
        >>> len(inp) + len(tgt) == 10 + 2 * inp.count(300)
        True
    """
    ids = list(data)
    n = len(ids)
    if n < 2:
        raise TokfreeError(f"corrupt_spans needs at least 2 bytes to mask a span and keep one, got {n}")
    if not _number(noise_density) or not 0.0 < noise_density < 1.0:
        raise TokfreeError(f"noise_density is {noise_density!r}; it must lie in (0, 1)")
    if not _number(mean_span) or mean_span < 1:
        raise TokfreeError(f"mean_span is {mean_span!r}; it must be a number >= 1")
    noise = min(max(round(n * noise_density), 1), n - 1)
    spans = min(max(round(noise / mean_span), 1), noise, n - noise)
    if len(sentinel_ids) < spans:
        raise TokfreeError(f"corrupt_spans masks {spans} spans here but got {len(sentinel_ids)} sentinel ids; pass at least {spans}")
    noise_lengths = _segments(noise, spans, rng)
    keep_lengths = _segments(n - noise, spans, rng)
    source: list[int] = []
    target: list[int] = []
    at = 0
    for i, (keep, masked) in enumerate(zip(keep_lengths, noise_lengths)):
        source += ids[at : at + keep]
        at += keep
        source.append(int(sentinel_ids[i]))
        target.append(int(sentinel_ids[i]))
        target += ids[at : at + masked]
        at += masked
    return source, target


def collate_pairs(
    pairs: Sequence[tuple[bytes | Sequence[int], bytes | Sequence[int]]],
    config: MrT5Config,
    *,
    device: Device = "cpu",
) -> tuple[Tensor, Tensor, Tensor]:
    """(input, target) pairs -> right-padded `input_ids`, `attention_mask`, `labels` with eos appended.

    Args:
        pairs: each a source and a target, as bytes or id sequences (byte b is id b).
        config: gives pad_id, eos_id and vocab_size.
        device: where to put the tensors.

    Returns:
        input_ids (B, N) long, attention_mask (B, N) bool, labels (B, T) long (pad_id after the
        eos), ready for `mrt5_loss`.

    Raises:
        TokfreeError: no pairs, or an id outside 0..vocab_size-1.

    Example:
        >>> ids, mask, labels = collate_pairs([(b"ab", b"b"), (b"c", b"")], MrT5Config())
        >>> ids.tolist(), mask.tolist(), labels.tolist()
        ([[97, 98, 257], [99, 257, 256]], [[True, True, True], [True, True, False]], [[98, 257], [257, 256]])
    """
    if not pairs:
        raise TokfreeError("collate_pairs got no pairs; pass at least one (input, target)")
    sources = [[*map(int, s), config.eos_id] for s, _ in pairs]
    targets = [[*map(int, t), config.eos_id] for _, t in pairs]
    for row in (*sources, *targets):
        for i in row:
            if not 0 <= i < config.vocab_size:
                raise TokfreeError(f"id {i} is outside the vocabulary 0..{config.vocab_size - 1}")

    def pad(rows: list[list[int]]) -> tuple[Tensor, Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), config.pad_id, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = True
        return ids.to(device), mask.to(device)

    input_ids, attention_mask = pad(sources)
    labels, _ = pad(targets)
    return input_ids, attention_mask, labels
