"""`HierarchicalLM`: a HAT-style byte -> word -> byte language model (Neitemeier et al., ICLR 2025).

The text is a byte stream ``[BOS] b0 b1 ... b(T-1)`` (any bytes, `ByteTokenizer` ids). Four stages:

1. **Encoder**: `n_encoder_layers` small causal byte blocks over the whole stream (rotary, SDPA).
2. **Pooling**: one vector per word from the encoder states of that word's bytes only (a
   `WordPooler`: a learned query cross-attending to the word, as in the released TFree-HAT
   connector, or the last byte's state, the mean, or LYT-style prefix tokens).
3. **Backbone**: causal blocks over ``[first_word, word 0, word 1, ...]``; its output at slot k is
   the prediction made after k finished words.
4. **Decoder**: every byte position adds a *guide vector* (a projection of the backbone output
   after the words that are finished so far) to its encoder state, then `n_decoder_layers` causal
   byte blocks and a head give next-byte logits over the 256 bytes and `EOS_ID` (end of text).

Words come from `tokfree.words` (HAT's rule, capped at `max_word_bytes`) applied **online**: the
boundary before a character is decided from the bytes up to the end of that character, and
position p (having read p bytes) uses only the words whose end it has already seen decided
(`WordBatch.complete_words`). So no prediction ever depends on a later byte, even where the
splitter looks ahead (the first byte of a multi-byte character; UAX #29's ``1⁄2``), and
generation (which re-splits the text after every byte) gives exactly the teacher-forced
probabilities. On ordinary text the online words are the splitter's (see `tokfree.nn._segment`).
Within the first character of a word, the guide is still the one of the previous word.

The model is a plain autoregressive byte model: `log_prob(text)` sums log p(next byte) over every
byte (and the end of the text), so bits per byte compare directly with any byte or token LM.
On CUDA the forward runs under bf16 autocast (logits are float32); CPU runs float32. This file
holds no training loop.
"""

from __future__ import annotations

import math  # the log_prob docstring example uses it (doctest runs in this module's globals)
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokfree.errors import TokfreeError
from tokfree.nn._modelfile import check_positive_int
from tokfree.nn._segment import as_bytes
from tokfree.nn._wordlm import WordLevelLM
from tokfree.nn.layers import Block, RMSNorm, swiglu_width
from tokfree.nn.pooling import (
    BOS_ID,
    EOS_ID,
    VOCAB_SIZE,
    WordBatch,
    _check_config_common,
    _head,
    _init_weights,
    _symbol_mask,
    batch_words,
    make_pooler,
)

__all__ = ["HierarchicalLM", "HierarchicalLMConfig"]

Device = str | torch.device


@dataclass(frozen=True)
class HierarchicalLMConfig:
    """The shape of a `HierarchicalLM`; saved as `config.json` beside the weights.

    Attributes:
        d_model: the backbone width.
        n_layers: backbone blocks (causal, over words).
        n_heads: backbone heads (d_model / n_heads even).
        d_byte: the width of the byte encoder, pooler and decoder.
        n_byte_heads: their heads (d_byte / n_byte_heads even).
        n_encoder_layers: causal byte blocks before pooling (0: pool the byte embeddings).
        n_decoder_layers: causal byte blocks after the guide vectors are added.
        pooler: one of `POOLER_KINDS` ("query": HAT's latent-query connector; "last": the last byte's state).
        n_queries: learned queries / prefix tokens per word ("query", "prefix").
        max_bytes: the longest text in bytes (byte positions: max_bytes + 1 with the BOS).
        max_words: the most words in a text (backbone positions).
        max_word_bytes: the splitter's cap on a word's bytes (at least 4).
        dropout: dropout on attention and residual branches while training.
        d_ff: the backbone SwiGLU width (None: 8/3 d_model rounded up to 16).
        byte_d_ff: the byte blocks' SwiGLU width (None: 8/3 d_byte rounded up to 16).
        tie_embeddings: the output head reuses the byte embedding matrix, as `CausalLM` does by
            default (300-step CPU runs at d_byte 128: 3.10 bits/byte tied, 3.43 untied).

    Raises:
        TokfreeError: a field of the wrong type or range, or heads that do not divide a width.

    Example:
        >>> HierarchicalLMConfig(d_model=64, n_heads=2, d_byte=32, n_byte_heads=2).pooler
        'query'
    """

    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 4
    d_byte: int = 96
    n_byte_heads: int = 2
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    pooler: str = "query"
    n_queries: int = 1
    max_bytes: int = 1024
    max_words: int = 512
    max_word_bytes: int = 16
    dropout: float = 0.0
    d_ff: int | None = None
    byte_d_ff: int | None = None
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        _check_config_common("HierarchicalLMConfig", self, min_word_bytes=4)
        check_positive_int("HierarchicalLMConfig", "max_bytes", self.max_bytes)


class HierarchicalLM(WordLevelLM):
    """A HAT-style hierarchical byte LM (see the module docstring).

    Args:
        config: the model's shape.
        device: where the weights live.
        seed: seeds the weight initialisation (None: torch's global generator).

    Example:
        >>> config = HierarchicalLMConfig(d_model=32, n_layers=1, n_heads=2, d_byte=16, n_byte_heads=2, max_bytes=64, max_words=32)
        >>> model = HierarchicalLM(config, seed=0).eval()
        >>> model(model.make_batch(["Hello, world!"])).shape  # BOS + 13 bytes, each predicting the next
        torch.Size([1, 14, 259])
        >>> len(model.generate(b"Hi", 5, seed=0)) <= 5
        True
    """

    _FORMAT = "tokfree.HierarchicalLM"
    _VERSION = 1
    _CONFIG_CLS = HierarchicalLMConfig
    _NAME = "HierarchicalLM"

    def __init__(self, config: HierarchicalLMConfig, *, device: Device = "cpu", seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        byte_ff = c.byte_d_ff if c.byte_d_ff is not None else swiglu_width(c.d_byte)
        ff = c.d_ff if c.d_ff is not None else swiglu_width(c.d_model)
        self.byte_embed = nn.Embedding(VOCAB_SIZE, c.d_byte)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(Block(c.d_byte, c.n_byte_heads, byte_ff, c.max_bytes + 1, dropout=c.dropout) for _ in range(c.n_encoder_layers))
        self.pooler = make_pooler(
            c.pooler, c.d_byte, n_heads=c.n_byte_heads, n_queries=c.n_queries, max_word_bytes=c.max_word_bytes, d_ff=byte_ff, dropout=c.dropout
        )
        self.pool_norm = RMSNorm(c.d_byte)
        self.to_backbone = nn.Linear(c.d_byte, c.d_model, bias=False)
        self.first_word = nn.Parameter(torch.zeros(c.d_model))
        self.backbone = nn.ModuleList(Block(c.d_model, c.n_heads, ff, c.max_words, dropout=c.dropout) for _ in range(c.n_layers))
        self.backbone_norm = RMSNorm(c.d_model)
        self.to_guide = nn.Linear(c.d_model, c.d_byte, bias=False)
        self.decoder = nn.ModuleList(Block(c.d_byte, c.n_byte_heads, byte_ff, c.max_bytes + 1, dropout=c.dropout) for _ in range(c.n_decoder_layers))
        self.decoder_norm = RMSNorm(c.d_byte)
        self.head = None if c.tie_embeddings else nn.Linear(c.d_byte, VOCAB_SIZE, bias=False)
        _init_weights(self, seed, c.n_layers + c.n_encoder_layers + c.n_decoder_layers)
        # The guide starts at zero: a random projection of the (unit-RMS) backbone output is ~10x
        # the byte embeddings and drowns them (300 CPU steps, untied head, d_byte 128: 3.54 bits/byte
        # with a random guide, 3.43 from zero).
        with torch.no_grad():
            self.to_guide.weight.zero_()
        self.to(device)

    def make_batch(self, texts: Sequence[str | bytes]) -> WordBatch:
        """`batch_words(texts, max_word_bytes=config.max_word_bytes, online=True)` on the model's device.

        Raises:
            TokfreeError: as `batch_words`, or a text longer than max_bytes or with more than max_words words.
        """
        batch = batch_words(texts, max_word_bytes=self.config.max_word_bytes, online=True, device=self.device)
        self._check_batch(batch)
        return batch

    def _check_batch(self, batch: WordBatch) -> None:
        c = self.config
        b, t = batch.byte_ids.shape
        if batch.word_ids.shape != (b, t) or batch.complete_words is None or batch.complete_words.shape != (b, t + 1):
            raise TokfreeError(
                "a HierarchicalLM batch needs byte_ids (B, T), word_ids (B, T) and complete_words (B, T + 1); "
                "make it with model.make_batch(texts) or batch_words(texts, online=True)"
            )
        if t > c.max_bytes:
            raise TokfreeError(f"a text has {t} bytes but the model takes at most max_bytes={c.max_bytes}; cut it into shorter pieces")
        words = int(batch.word_ids.max()) + 1 if batch.word_ids.numel() else 0
        if words > c.max_words:
            raise TokfreeError(f"a text has {words} words but the model takes at most max_words={c.max_words}; cut it into shorter pieces")
        real = batch.word_ids >= 0
        if bool(((batch.byte_ids < 0) | (batch.byte_ids > 255))[real].any()):
            raise TokfreeError("byte_ids must hold byte values 0-255 at every real position")
        if batch.complete_words.numel() and (int(batch.complete_words.min()) < 0 or int(batch.complete_words.max()) >= max(words, 1)):
            raise TokfreeError("complete_words must count finished words: 0 .. (words in the row) - 1")

    def forward(self, batch: WordBatch) -> Tensor:
        """Next-byte logits at every position.

        Args:
            batch: bytes, online word ids and finished-word counts (`make_batch`).

        Returns:
            (B, T + 1, VOCAB_SIZE) float32: position p (after BOS and p bytes) predicts byte p, or
            `EOS_ID` at p = the row's length. PAD and BOS are -inf. Rows are right-padded; a
            padded row gives the logits of the row alone.

        Raises:
            TokfreeError: a malformed batch, a text longer than max_bytes or with more than max_words words.
        """
        batch = batch.to(self.device)
        self._check_batch(batch)
        b, t = batch.byte_ids.shape
        device = self.device
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            ids = torch.cat((torch.full((b, 1), BOS_ID, dtype=torch.long, device=device), batch.byte_ids), dim=1)
            ids = torch.where(ids > BOS_ID, 0, ids)  # nothing past the vocabulary reaches the embedding
            positions = torch.arange(t + 1, device=device).expand(b, t + 1)
            x = self.drop(self.byte_embed(ids))
            for block in self.encoder:
                x, _ = block(x, positions)  # causal; right padding is never seen by a real position
            word_ids = torch.cat((torch.full((b, 1), -1, dtype=torch.long, device=device), batch.word_ids), dim=1)
            words = int(batch.word_ids.max()) + 1 if batch.word_ids.numel() else 0
            pooled, _ = self.pooler(x, word_ids, num_words=words)  # (B, W, d_byte): word k from its own bytes
            pooled = self.to_backbone(self.pool_norm(pooled))
            slots = max(words, 1)
            first = self.first_word.to(pooled.dtype).expand(b, 1, -1)
            h = self.drop(torch.cat((first, pooled[:, : slots - 1]), dim=1))  # slot k: after k finished words
            word_positions = torch.arange(slots, device=device).expand(b, slots)
            for block in self.backbone:
                h, _ = block(h, word_positions)
            guides = self.to_guide(self.backbone_norm(h))  # (B, slots, d_byte)
            index = batch.complete_words.clamp(max=slots - 1)  # the slot after the words known finished
            y = x + guides.gather(1, index[..., None].expand(b, t + 1, guides.shape[-1])).to(x.dtype)
            for block in self.decoder:
                y, _ = block(y, positions)
            logits = _head(self, self.decoder_norm(y))
        return logits.float() + _symbol_mask(device)

    def nll(self, batch: WordBatch, *, end_of_text: bool = True) -> Tensor:
        """-log p of each row's bytes (and end of text), in nats: (B,) float32.

        The training loss is ``model.nll(batch, end_of_text=...).sum() / batch.n_bytes`` (nats per byte).

        Args:
            batch: `make_batch` output.
            end_of_text: also predict `EOS_ID` after each row's last byte (whole documents: True;
                windows cut from a longer text: False).

        Returns:
            (B,) the summed negative log-likelihood of each row.
        """
        logits = self.forward(batch)
        b, t = batch.byte_ids.shape
        lengths = (batch.word_ids >= 0).sum(1).to(logits.device)
        targets = torch.cat((batch.byte_ids.to(logits.device), torch.full((b, 1), -100, dtype=torch.long, device=logits.device)), dim=1)
        p = torch.arange(t + 1, device=logits.device)[None, :]
        targets = torch.where(p > lengths[:, None], -100, targets)
        targets = torch.where(p == lengths[:, None], EOS_ID if end_of_text else -100, targets)
        nll = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), targets.reshape(-1), ignore_index=-100, reduction="none")
        return nll.view(b, t + 1).sum(1)

    def log_prob(self, texts: Sequence[str | bytes], *, end_of_text: bool = True, batch_size: int = 16) -> list[float]:
        """log p (nats) of each text: every byte, and the end of the text when `end_of_text`.

        Raises:
            TokfreeError: a text longer than max_bytes or with more than max_words words.

        Example:
            >>> config = HierarchicalLMConfig(d_model=32, n_layers=1, n_heads=2, d_byte=16, n_byte_heads=2, max_bytes=64, max_words=32)
            >>> lp = HierarchicalLM(config, seed=0).log_prob(["ab", b"\\xff"])
            >>> [round(v / math.log(259), 0) for v in lp]  # about uniform over the 257 symbols before training
            [-3.0, -2.0]
        """
        return super().log_prob(texts, end_of_text=end_of_text, batch_size=batch_size)

    @torch.no_grad()
    def next_byte_log_probs(self, prefix: str | bytes) -> Tensor:
        """(VOCAB_SIZE,) float64 log p(next symbol | prefix): bytes 0-255 and `EOS_ID` (PAD, BOS: -inf).

        Raises:
            TokfreeError: a prefix longer than max_bytes or with more than max_words words.
        """
        was_training = self.training
        self.eval()
        data = as_bytes(prefix, "prefix")
        logits = self.forward(self.make_batch([data]))[0, len(data)]
        self.train(was_training)
        return F.log_softmax(logits.double(), dim=-1).cpu()

    def _window(self, data: bytes) -> bytes:
        """The last bytes of `data` that fit max_bytes and max_words (the generation context)."""
        data = data[-self.config.max_bytes :]
        while True:
            batch = batch_words([data], max_word_bytes=self.config.max_word_bytes, online=True)
            words = int(batch.word_ids.max()) + 1 if batch.word_ids.numel() else 0
            if words <= self.config.max_words:
                return data
            cut = int((batch.word_ids[0] == words - self.config.max_words).nonzero()[0, 0])
            data = data[cut:]

    @torch.no_grad()
    def generate(
        self,
        prompt: str | bytes,
        max_bytes: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> bytes:
        """Samples up to `max_bytes` bytes after `prompt` (stops early at end of text).

        The text is re-split after every byte (a word is finished when the splitter, run on the
        bytes so far, starts a new one), so each step uses exactly the probabilities `log_prob`
        scores. Each step recomputes the whole context (no cache; the context is the last
        max_bytes bytes, fewer if that holds more than max_words words).

        Args:
            prompt: the text to continue (str or any bytes).
            max_bytes: the most bytes to generate.
            temperature: divides the logits; 0 is greedy.
            top_p: nucleus sampling: keep the smallest set of symbols with this much probability.
            seed: seeds the sampling (None: torch's global generator).

        Returns:
            The generated bytes (not including the prompt); decode with errors="replace" for text.

        Raises:
            TokfreeError: a negative max_bytes or temperature, or top_p outside (0, 1].

        Example:
            >>> config = HierarchicalLMConfig(d_model=32, n_layers=1, n_heads=2, d_byte=16, n_byte_heads=2, max_bytes=64, max_words=32)
            >>> model = HierarchicalLM(config, seed=0)
            >>> model.generate("Hi", 8, seed=3) == model.generate("Hi", 8, seed=3)
            True
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise TokfreeError(f"max_bytes={max_bytes!r}: pass an int >= 0")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise TokfreeError(f"temperature={temperature!r}: pass a number >= 0 (0 is greedy)")
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise TokfreeError(f"top_p={top_p!r}: pass a number in (0, 1]")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        data = as_bytes(prompt, "prompt")
        out = bytearray()
        for _ in range(max_bytes):
            logp = self.next_byte_log_probs(self._window(data + bytes(out)))
            if temperature == 0:
                symbol = int(logp.argmax())
            else:
                probs = F.softmax(logp / temperature, dim=-1)
                if top_p < 1:
                    ordered, order = probs.sort(descending=True)
                    keep = ordered.cumsum(0) - ordered < top_p  # the smallest prefix reaching top_p
                    probs = torch.zeros_like(probs).scatter(0, order[keep], ordered[keep])
                symbol = int(torch.multinomial(probs, 1, generator=generator))
            if symbol == EOS_ID:
                break
            out.append(symbol)
        return bytes(out)

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Writes `config.json` and `model.safetensors` (float32) into `folder`, creating it.

        Example:
            >>> import tempfile
            >>> config = HierarchicalLMConfig(d_model=32, n_layers=1, n_heads=2, d_byte=16, n_byte_heads=2)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     HierarchicalLM(config, seed=0).save(folder)
            ...     HierarchicalLM.load(folder).config == config
            True
        """
        super().save(folder)

