"""`CausalLM`: a small decoder-only transformer over token ids, with a KV cache and safetensors files.

The model is the LLaMA recipe at toy scale: token embedding, `n_layers` pre-norm blocks (RMSNorm,
rotary self-attention through SDPA, SwiGLU MLP), a final RMSNorm and a linear head (tied to the
embedding by default). It exists so tokfree can train token LMs over its own vocabularies on a CPU
in minutes (`tokfree.training.train_lm`) and drive the byte-level converter with them
(`tokfree.bytelevel.adapters.TorchTokenLM`).

Files: `save(folder)` writes `config.json` (the config, a format tag and a version) and
`model.safetensors` (float32 weights, named as in `state_dict()`; a tied head is not stored twice).
`CausalLM.load` checks every name, shape and dtype and raises `TokfreeError` on anything else;
nothing is ever unpickled.

On CUDA the forward runs under bf16 autocast (logits are returned in float32); on CPU in float32.
This file holds no tokenizer, no data pipeline and no training loop.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokfree.errors import TokfreeError
from tokfree.nn._modelfile import read_config
from tokfree.nn.layers import Block, LayerCache, RMSNorm, swiglu_width

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "CausalLM", "CausalLMConfig", "KVCache"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_FORMAT = "tokfree.CausalLM"
_VERSION = 1

Device = str | torch.device


@dataclass(frozen=True)
class CausalLMConfig:
    """The shape of a `CausalLM`; saved as `config.json` beside the weights.

    Attributes:
        vocab_size: the number of token ids (at least the tokenizer's `vocab_size`).
        d_model: the model width D.
        n_layers: the number of transformer blocks.
        n_heads: attention heads (must divide d_model; d_model / n_heads must be even for rotary).
        max_len: the longest input in tokens (rotary positions 0 .. max_len-1).
        dropout: dropout on embeddings, attention probabilities and residual branches while training.
        tie_embeddings: the output head reuses the input embedding matrix.
        d_ff: the SwiGLU hidden width; None = 8/3 d_model rounded up to a multiple of 16.

    Example:
        >>> CausalLMConfig(vocab_size=1024, d_model=128, n_layers=4, n_heads=4).ff_width
        352
    """

    vocab_size: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    max_len: int = 512
    dropout: float = 0.0
    tie_embeddings: bool = True
    d_ff: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "max_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TokfreeError(f"CausalLMConfig.{name} is {value!r}; it must be a positive integer")
        if self.d_ff is not None and (not isinstance(self.d_ff, int) or isinstance(self.d_ff, bool) or self.d_ff < 1):
            raise TokfreeError(f"CausalLMConfig.d_ff is {self.d_ff!r}; it must be a positive integer or None (automatic)")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise TokfreeError(
                f"CausalLMConfig: d_model {self.d_model} / n_heads {self.n_heads} must be an even integer "
                "(the head width, rotated in pairs); choose n_heads dividing d_model / 2"
            )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise TokfreeError(f"CausalLMConfig.dropout is {self.dropout!r}; it must be a number in [0, 1)")
        if not isinstance(self.tie_embeddings, bool):
            raise TokfreeError(f"CausalLMConfig.tie_embeddings is {self.tie_embeddings!r}; it must be true or false")

    @property
    def ff_width(self) -> int:
        """The SwiGLU hidden width actually used."""
        return self.d_ff if self.d_ff is not None else swiglu_width(self.d_model)

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: object) -> CausalLMConfig:
        """A config from `to_dict()` output; raises `TokfreeError` on missing, unknown or ill-typed fields."""
        if not isinstance(fields, dict):
            raise TokfreeError(f"a CausalLM config must be a JSON object, got {type(fields).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        unknown = sorted(set(fields) - set(names))
        missing = sorted(set(required) - set(fields))
        if unknown:
            raise TokfreeError(f"CausalLM config has unknown field(s) {unknown}; the fields are {names}")
        if missing:
            raise TokfreeError(f"CausalLM config lacks the required field(s) {missing}")
        return cls(**fields)


@dataclass
class KVCache:
    """What a `CausalLM` has seen: every layer's keys and values, and which positions are real.

    Returned by `CausalLM.forward_cached`; pass it back to continue. Row b has `lengths[b]` real
    positions (so its next token gets position `lengths[b]`), spread over the S cached slots as
    `key_mask[b]` says (None: all S slots of every row are real).
    """

    layers: tuple[LayerCache, ...]
    key_mask: Tensor | None  # (B, S) bool
    lengths: Tensor  # (B,) long

    @property
    def size(self) -> int:
        """S, the number of cached slots (real or padding) per row."""
        return self.layers[0].keys.shape[2] if self.layers else 0


class CausalLM(nn.Module):
    """A decoder-only transformer LM over token ids (see the module docstring).

    Args:
        config: the model's shape.
        device: where the weights live.
        seed: seeds the weight initialisation (None: torch's global generator).

    Example:
        >>> model = CausalLM(CausalLMConfig(vocab_size=300, d_model=32, n_layers=2, n_heads=2), seed=0)
        >>> ids = torch.tensor([[1, 2, 3, 4]])
        >>> model(ids).shape
        torch.Size([1, 4, 300])
        >>> logits, past = model.forward_cached(ids[:, :3])
        >>> step, past = model.forward_cached(ids[:, 3:], past)
        >>> torch.allclose(step[0, -1], model(ids)[0, -1], atol=1e-5)
        True
    """

    def __init__(self, config: CausalLMConfig, *, device: Device = "cpu", seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.d_model, config.n_heads, config.ff_width, config.max_len, dropout=config.dropout)
            for _ in range(config.n_layers)
        )
        self.norm = RMSNorm(config.d_model)
        self.lm_head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        self._init_weights(seed)
        self.to(device)

    def _init_weights(self, seed: int | None) -> None:
        # GPT-2's scheme: N(0, 0.02) everywhere, residual-branch outputs scaled by 1/sqrt(2 n_layers)
        # so the residual stream's variance does not grow with depth.
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, param in self.named_parameters():
            if param.dim() < 2:
                continue
            std = residual_std if name.endswith(("attn.out.weight", "mlp.down.weight")) else 0.02
            with torch.no_grad():
                param.copy_(torch.randn(param.shape, generator=generator) * std)

    @property
    def device(self) -> torch.device:
        """The device of the weights."""
        return self.embed.weight.device

    def num_parameters(self) -> int:
        """The number of weights (a tied head counted once)."""
        return sum(p.numel() for p in self.parameters())

    def _run(
        self, ids: Tensor | None, attention_mask: Tensor | None, past: KVCache | None, embeddings: Tensor | None = None
    ) -> tuple[Tensor, KVCache]:
        """(B, T, D) final-norm hidden states and the extended cache, from ids or input embeddings."""
        device = self.device
        if embeddings is not None:
            if ids is not None:
                raise TokfreeError("pass ids or embeddings, not both")
            if embeddings.dim() != 3 or embeddings.shape[-1] != self.config.d_model:
                raise TokfreeError(
                    f"embeddings must be a (batch, time, {self.config.d_model}) tensor, got shape {tuple(embeddings.shape)}"
                )
            if not embeddings.is_floating_point():
                raise TokfreeError(f"embeddings must be a float tensor, got {embeddings.dtype}")
            b, t = embeddings.shape[:2]
            shape = (b, t)
        else:
            if ids is None or ids.dim() != 2:
                raise TokfreeError(f"ids must be a (batch, time) tensor, got {None if ids is None else tuple(ids.shape)}")
            if ids.dtype not in (torch.int64, torch.int32):
                raise TokfreeError(f"ids must be an integer tensor, got {ids.dtype}")
            b, t = shape = tuple(ids.shape)
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size):
                bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
                raise TokfreeError(f"token id {bad} is outside the model's vocabulary 0..{self.config.vocab_size - 1}")
            ids = ids.to(device=device, dtype=torch.long)
        if past is not None and past.lengths.shape[0] != b:
            raise TokfreeError(f"the cache holds {past.lengths.shape[0]} rows but ids has {b}; pass the cache of the same batch")
        if attention_mask is not None:
            if tuple(attention_mask.shape) != shape:
                raise TokfreeError(f"attention_mask has shape {tuple(attention_mask.shape)}, the input {shape}; they must match")
            attention_mask = attention_mask.to(device=device, dtype=torch.bool)
        lengths = past.lengths.to(device) if past is not None else torch.zeros(b, dtype=torch.long, device=device)
        if attention_mask is None:
            positions = lengths[:, None] + torch.arange(t, device=device)[None, :]
            new_lengths = lengths + t
        else:
            # Real tokens take consecutive positions wherever the padding is; a padding slot gets
            # the position of the real token before it (or of the row's next token).
            counts = attention_mask.long().cumsum(1)
            positions = lengths[:, None] + (counts - 1).clamp(min=0)
            new_lengths = lengths + counts[:, -1] if t else lengths
        self.blocks[0].attn.rotary.check(positions)  # once per forward: it syncs with the device
        key_mask = None
        if attention_mask is not None or (past is not None and past.key_mask is not None):
            old = (
                past.key_mask.to(device)
                if past is not None and past.key_mask is not None
                else torch.ones(b, past.size if past is not None else 0, dtype=torch.bool, device=device)
            )
            new = attention_mask if attention_mask is not None else torch.ones(b, t, dtype=torch.bool, device=device)
            key_mask = torch.cat((old, new), dim=1)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            x = self.drop(self.embed(ids) if embeddings is None else embeddings.to(device))
            caches: list[LayerCache] = []
            for i, block in enumerate(self.blocks):
                x, cache = block(x, positions, key_mask=key_mask, past=past.layers[i] if past is not None else None)
                caches.append(cache)
            x = self.norm(x)
        return x, KVCache(tuple(caches), key_mask, new_lengths)

    def _logits(self, hidden: Tensor) -> Tensor:
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=hidden.device.type == "cuda"):
            logits = F.linear(hidden, self.output_weight)
        return logits.float()

    @property
    def output_weight(self) -> Tensor:
        """(vocab_size, D) the output head's matrix (the embedding matrix itself when tied)."""
        return self.lm_head.weight if self.lm_head is not None else self.embed.weight

    def hidden_states(
        self,
        ids: Tensor | None = None,
        *,
        embeddings: Tensor | None = None,
        attention_mask: Tensor | None = None,
        past: KVCache | None = None,
    ) -> tuple[Tensor, KVCache]:
        """The final-norm hidden states (what the head multiplies), from ids or from input embeddings.

        Feeding `embeddings = model.embed(ids)` gives the hidden states of `ids`; any other (B, T, D)
        vectors (for example embeddings predicted for merged tokens, `tokfree.merging`) run through
        the same blocks. `hidden @ output_weight.T` are the logits of `forward`.

        Args:
            ids: (B, T) token ids, or None when `embeddings` is given.
            embeddings: (B, T, D) float input vectors instead of ids.
            attention_mask: (B, T) as in `forward`.
            past: a cache to continue from, as in `forward_cached`.

        Returns:
            (B, T, D) hidden states (float32 on CPU, bf16 under CUDA autocast) and the extended cache.

        Raises:
            TokfreeError: both or neither of ids and embeddings, or inputs of the wrong shape or dtype.
        """
        return self._run(ids, attention_mask, past, embeddings)

    def forward(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Next-token logits at every position.

        Args:
            ids: (B, T) token ids.
            attention_mask: (B, T), 1/True for real tokens and 0/False for padding (left, right or
                both); None = no padding. Real tokens get consecutive positions and never attend to
                padding, so a padded row gives the same logits as the row alone.

        Returns:
            (B, T, vocab_size) float32 logits; the row at position i predicts token i + 1.

        Raises:
            TokfreeError: ids not a (B, T) integer tensor, an id outside the vocabulary, a mask of
                another shape, or more than max_len positions.
        """
        return self._logits(self._run(ids, attention_mask, None)[0])

    def forward_cached(
        self, ids: Tensor, past: KVCache | None = None, *, attention_mask: Tensor | None = None
    ) -> tuple[Tensor, KVCache]:
        """Like `forward`, continuing from `past` and returning the extended cache (incremental decoding).

        Feeding a sequence in pieces gives the logits of feeding it at once (to float rounding);
        one new token costs one step over the cached keys.

        Args:
            ids: (B, T) the new token ids.
            past: the cache returned by the previous call for the same rows, or None.
            attention_mask: (B, T) for the new tokens, as in `forward`.

        Returns:
            (B, T, vocab_size) float32 logits for the new positions, and the cache including them.

        Raises:
            TokfreeError: as `forward`, or a cache with another number of rows.
        """
        hidden, cache = self._run(ids, attention_mask, past)
        return self._logits(hidden), cache

    def log_probs(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """(B, T, vocab_size) float32 next-token log-probabilities; arguments as for `forward`."""
        return F.log_softmax(self.forward(ids, attention_mask), dim=-1)

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Writes `config.json` and `model.safetensors` (float32) into `folder`, creating it.

        Example:
            >>> import tempfile
            >>> model = CausalLM(CausalLMConfig(vocab_size=300, d_model=32, n_layers=1, n_heads=2), seed=0)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     model.save(folder)
            ...     CausalLM.load(folder).config == model.config
            True
        """
        from safetensors.torch import save_file

        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        document = {"format": _FORMAT, "version": _VERSION, "config": self.config.to_dict()}
        (path / CONFIG_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tensors = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in self.state_dict().items()}
        save_file(tensors, str(path / WEIGHTS_FILE), metadata={"format": "pt"})  # one key: safetensors writes a hash map, in random order

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, device: Device = "cpu") -> CausalLM:
        """Reads a model written by `save`, in eval mode.

        Args:
            folder: the folder holding `config.json` and `model.safetensors`.
            device: where to put the weights.

        Returns:
            The model.

        Raises:
            TokfreeError: a missing or unreadable file, a config that is not a tokfree CausalLM
                config, or weights with a missing, extra, misshapen or non-float32 tensor.
        """
        from safetensors import safe_open

        path = Path(folder)
        config_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
        for file in (config_path, weights_path):
            if not file.is_file():
                raise TokfreeError(f"{file} does not exist; a CausalLM folder holds {CONFIG_FILE} and {WEIGHTS_FILE} (written by CausalLM.save)")
        document = read_config(config_path, format_tag=_FORMAT, version=_VERSION, what="CausalLM")
        try:
            config = CausalLMConfig.from_dict(document.get("config"))
        except TypeError as error:  # pragma: no cover - from_dict checks names first
            raise TokfreeError(f"{config_path}: {error}") from None
        except TokfreeError as error:
            raise TokfreeError(f"{config_path}: {error}") from None

        model = cls(config, device="cpu")
        expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
        try:
            with safe_open(str(weights_path), framework="pt") as weights:
                names = set(weights.keys())
                missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
                if missing or extra:
                    raise TokfreeError(
                        f"{weights_path} does not match {config_path}: missing tensor(s) {missing}, unexpected tensor(s) {extra}"
                    )
                state: dict[str, Tensor] = {}
                for name in sorted(expected):
                    tensor = weights.get_tensor(name)
                    if tensor.dtype != torch.float32:
                        raise TokfreeError(f"{weights_path}: tensor {name!r} has dtype {tensor.dtype}; CausalLM weights are float32")
                    if tuple(tensor.shape) != expected[name]:
                        raise TokfreeError(
                            f"{weights_path}: tensor {name!r} has shape {tuple(tensor.shape)}, but {config_path} implies {expected[name]}"
                        )
                    state[name] = tensor
        except TokfreeError:
            raise
        except Exception as error:  # safetensors raises its own SafetensorError (and OSError) on a corrupt file
            raise TokfreeError(f"{weights_path} is not a readable safetensors file ({type(error).__name__}: {error})") from None
        model.load_state_dict(state, strict=True)
        return model.to(device).eval()
