"""`WordLevelLM`: what `WordPoolLM` and `HierarchicalLM` share around their forward pass (private).

Both score texts with ``nll(make_batch(texts), end_of_text=...)`` and store themselves in the
`tokfree.nn._modelfile` folder format; this base holds the methods built on those two: `device`,
`num_parameters`, `log_prob`, `bits_per_byte`, `save` and `load`. A model sets the class
attributes `_FORMAT`, `_VERSION`, `_CONFIG_CLS` and `_NAME`, and has `config`, `byte_embed`,
`make_batch` and `nll`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from tokfree.errors import TokfreeError
from tokfree.nn._modelfile import load_model, save_model
from tokfree.nn._segment import as_bytes

Device = str | torch.device

M = TypeVar("M", bound="WordLevelLM")


class WordLevelLM(nn.Module):
    """The shared methods of the word-level byte LMs (see the module docstring)."""

    #: The "format" tag of the model's config.json.
    _FORMAT: ClassVar[str]
    #: The file version it writes and reads.
    _VERSION: ClassVar[int]
    #: Its config dataclass.
    _CONFIG_CLS: ClassVar[type]
    #: Its name in error messages.
    _NAME: ClassVar[str]

    config: Any
    byte_embed: nn.Embedding

    def make_batch(self, texts: Sequence[str | bytes]) -> Any:  # pragma: no cover - every model defines it
        raise NotImplementedError

    def nll(self, batch: Any, *, end_of_text: bool = True) -> Tensor:  # pragma: no cover - every model defines it
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """The device of the weights."""
        return self.byte_embed.weight.device

    def num_parameters(self) -> int:
        """The number of weights."""
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def log_prob(self, texts: Sequence[str | bytes], *, end_of_text: bool = True, batch_size: int = 16) -> list[float]:
        """log p (nats) of each text, `batch_size` texts per `nll` call, in eval mode."""
        was_training = self.training
        self.eval()
        texts = list(texts)
        out: list[float] = []
        for start in range(0, len(texts), batch_size):
            out.extend((-self.nll(self.make_batch(texts[start : start + batch_size]), end_of_text=end_of_text)).double().tolist())
        self.train(was_training)
        return out

    def bits_per_byte(self, texts: Sequence[str | bytes], *, end_of_text: bool = True, batch_size: int = 16) -> float:
        """-sum log2 p(text) / sum bytes over `texts` (see `log_prob`).

        Raises:
            TokfreeError: no bytes at all, or as `log_prob`.
        """
        n_bytes = sum(len(as_bytes(t, "text")) for t in texts)
        if n_bytes == 0:
            raise TokfreeError("bits_per_byte needs at least one byte of text")
        return -sum(self.log_prob(texts, end_of_text=end_of_text, batch_size=batch_size)) / math.log(2) / n_bytes

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Writes `config.json` and `model.safetensors` (float32) into `folder`, creating it."""
        save_model(folder, format_tag=self._FORMAT, version=self._VERSION, config=self.config, model=self)

    @classmethod
    def load(cls: type[M], folder: str | os.PathLike[str], *, device: Device = "cpu") -> M:
        """Reads a model written by `save`, in eval mode.

        Raises:
            TokfreeError: a missing or unreadable file, a config of another format or version or
                with bad fields, or weights with a missing, extra, misshapen or non-float32 tensor.
        """
        model = load_model(folder, format_tag=cls._FORMAT, version=cls._VERSION, config_cls=cls._CONFIG_CLS, build=lambda c: cls(c), what=cls._NAME)
        return model.to(device).eval()
