"""Word pooling: bytes -> word vectors, and `WordPoolLM`, a causal LM over pooled words.

Pooling (`WordPooler`): each word's byte states become one vector. Four interchangeable kinds,
chosen by name with `make_pooler`:

* ``"mean"``: the mean of the word's byte states;
* ``"last"``: the state of the word's last byte (with a causal byte encoder, a summary of the text
  so far);
* ``"query"``: n learned query vectors cross-attend to the word's bytes only (Byte2Word's embedder,
  HAT's encoder connector), then a SwiGLU; n > 1 outputs are concatenated and projected;
* ``"prefix"``: n learned prefix tokens are put in front of the word's bytes and one bidirectional
  block runs over them (Learn Your Tokens' CLS prefixes); the prefix outputs are the word vector.

Every kind sees only the bytes of its own word (a block-diagonal mask, built by gathering each
word's bytes into a canvas), so a word's vector never depends on other words' bytes, and padding
never changes anything.

`WordPoolLM` (Learn Your Tokens, Thawani et al. 2023, with a lossless splitter): the text is split
into words (`tokfree.words`, HAT's rule, capped at `max_word_bytes`); each word's bytes run through
a small bidirectional byte encoder *within the word*, are pooled into one vector, and a causal
backbone over words predicts, from the words before word k, a state from which a small causal byte
decoder spells word k byte by byte and then an end-of-word symbol (`ByteTokenizer.EOS_ID`), all
words in parallel (teacher forcing). Every byte of the text is predicted (spaces and punctuation
are parts of words), plus one end-of-word per word, so the model gives the probability of a text's
word sequence, an upper bound of -log p(text) in nats: bits per byte are honest and comparable
with a byte-level or BPE model. The end of the text is an empty word (end-of-word as a word's
first symbol); a word of `max_word_bytes` bytes ends without paying for its end-of-word (the
splitter cuts it there).

This file holds no training loop and no tokenizer (texts become bytes + word ids in `batch_words`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tokfree.errors import TokfreeError
from tokfree.nn._modelfile import check_dropout, check_heads, check_positive_int
from tokfree.nn._segment import as_bytes, split_bytes, split_bytes_online
from tokfree.nn._wordlm import WordLevelLM
from tokfree.nn.byte_tokenizer import ByteTokenizer
from tokfree.nn.layers import Block, CrossAttention, RMSNorm, SwiGLU, swiglu_width
from tokfree.nn.shortening import boundaries_to_segment_ids, gather_positions, pool_segments

__all__ = [
    "POOLER_KINDS",
    "LastPooler",
    "MeanPooler",
    "PrefixPooler",
    "QueryPooler",
    "WordBatch",
    "WordPoolLM",
    "WordPoolLMConfig",
    "WordPoolOutput",
    "WordPooler",
    "batch_words",
    "make_pooler",
]

#: The pooler names `make_pooler` (and the model configs' `pooler` field) accept.
POOLER_KINDS = ("mean", "last", "query", "prefix")

PAD_ID = ByteTokenizer.PAD_ID
EOS_ID = ByteTokenizer.EOS_ID
BOS_ID = ByteTokenizer.BOS_ID
VOCAB_SIZE = ByteTokenizer.VOCAB_SIZE

Device = str | torch.device


# --- batches of texts as bytes + word ids ----------------------------------------------------------


@dataclass
class WordBatch:
    """A right-padded batch of texts as byte ids with the word of every byte.

    Attributes:
        byte_ids: (B, T) long, the bytes 0-255; `ByteTokenizer.PAD_ID` (256) in padding.
        word_ids: (B, T) long, the word index of each byte (0, 1, ... within a row), -1 in padding.
            A word's bytes are consecutive.
        complete_words: (B, T + 1) long or None: how many words of the row are known to be
            finished after reading its first p bytes (p = 0 .. T), for causal models that split
            online (`batch_words(..., online=True)`); None for a whole-text split.
    """

    byte_ids: Tensor
    word_ids: Tensor
    complete_words: Tensor | None = None

    @property
    def lengths(self) -> Tensor:
        """(B,) long: the bytes of each row."""
        return (self.word_ids >= 0).sum(1)

    @property
    def num_words(self) -> Tensor:
        """(B,) long: the words of each row."""
        if self.word_ids.shape[1] == 0:
            return self.word_ids.new_zeros(self.word_ids.shape[0])
        return self.word_ids.max(1).values + 1

    @property
    def n_bytes(self) -> int:
        """The number of real bytes in the batch (the denominator of bits per byte)."""
        return int((self.word_ids >= 0).sum())

    def to(self, device: Device) -> WordBatch:
        """The batch on `device`."""
        extra = None if self.complete_words is None else self.complete_words.to(device)
        return WordBatch(self.byte_ids.to(device), self.word_ids.to(device), extra)


def batch_words(
    texts: Sequence[str | bytes],
    *,
    max_word_bytes: int | None,
    online: bool = False,
    device: Device | None = None,
) -> WordBatch:
    """Texts (str or bytes, any bytes) -> a `WordBatch`: bytes, word ids and, if online, decision counts.

    Args:
        texts: the texts; a `str` is UTF-8 encoded, `bytes` are taken as they are (invalid UTF-8
            sequences become words of their own).
        max_word_bytes: the longest word in bytes, or None for no cap. Online splitting needs at
            least 4 (it cuts long words between characters only); the whole-text split cuts a
            character only if the cap is below its length.
        online: split causally (each boundary decided from the bytes up to the character that
            starts the new word, see `tokfree.nn._segment`) and fill `complete_words`; the
            hierarchical model needs this. False: `tokfree.words.word_boundaries` of each whole text.
        device: where to put the tensors (None: CPU).

    Returns:
        The batch, right-padded to the longest text.

    Raises:
        TokfreeError: a text is neither str nor bytes (or holds a lone surrogate), `texts` is a
            single str/bytes, or `max_word_bytes` is not a positive int (below 4 when online).

    Example:
        >>> batch = batch_words(["Hi there", "Yo"], max_word_bytes=16)
        >>> batch.word_ids.tolist()
        [[0, 0, 1, 1, 1, 1, 1, 1], [0, 0, -1, -1, -1, -1, -1, -1]]
    """
    if isinstance(texts, (str, bytes, bytearray)):
        raise TokfreeError("texts is a single text; pass a list of texts (e.g. [text])")
    least = 4 if online else 1
    if max_word_bytes is not None and (isinstance(max_word_bytes, bool) or not isinstance(max_word_bytes, int) or max_word_bytes < least):
        why = " (online splitting never cuts a character, and one takes up to 4 bytes)" if online else ""
        raise TokfreeError(f"max_word_bytes={max_word_bytes!r}: pass an int >= {least}{why}, or None for no cap")
    datas = [as_bytes(text, f"texts[{i}]") for i, text in enumerate(texts)]
    width = max((len(d) for d in datas), default=0)
    byte_ids = torch.full((len(datas), width), PAD_ID, dtype=torch.long)
    for row, data in enumerate(datas):
        if data:
            byte_ids[row, : len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    complete = None
    if online:
        splits = split_bytes_online(datas, max_bytes=max_word_bytes)
        boundaries = [starts + [len(data)] if data else [] for (starts, _), data in zip(splits, datas)]
        complete = torch.zeros(len(datas), width + 2, dtype=torch.long)
        for row, ((_, decided), data) in enumerate(zip(splits, datas)):
            # Word k - 1 is known finished once decided[k] bytes are read (never, for a decision
            # that needs a byte past the end of the text).
            at = torch.tensor([d for d in decided[1:] if d <= len(data)], dtype=torch.long)
            complete[row].index_add_(0, at, torch.ones_like(at))
        complete = complete.cumsum(1)[:, : width + 1]
    else:
        boundaries = [split_bytes(data, max_bytes=max_word_bytes) if data else [] for data in datas]
    word_ids = boundaries_to_segment_ids(boundaries, width)
    batch = WordBatch(byte_ids, word_ids, complete)
    return batch.to(device) if device is not None else batch


# --- gathering each word's bytes into a canvas -------------------------------------------------


def _check_word_ids(states: Tensor, word_ids: Tensor) -> None:
    if states.dim() != 3:
        raise TokfreeError(f"byte_states has shape {tuple(states.shape)}; it must be (B, T, D)")
    if word_ids.shape != states.shape[:2] or word_ids.dtype != torch.long:
        raise TokfreeError(
            f"word_ids is {word_ids.dtype} {tuple(word_ids.shape)}; it must be torch.long (B, T) = {tuple(states.shape[:2])} "
            "(batch_words or boundaries_to_segment_ids make it)"
        )


def _canvas_index(word_ids: Tensor, num_words: int | None) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor], int, int]:
    """Where each real byte goes in a (B, W, L) canvas: (real mask, (row, word, slot) indices, W, L).

    Raises:
        TokfreeError: an id below -1 or at least `num_words`, or a word whose bytes are not consecutive.
    """
    b, t = word_ids.shape
    real = word_ids >= 0
    low = int(word_ids.min()) if word_ids.numel() else 0
    high = int(word_ids.max()) if word_ids.numel() else -1
    if low < -1:
        raise TokfreeError(f"word id {low} is below -1; use -1 for bytes in no word (padding)")
    words = high + 1 if num_words is None else num_words
    if high >= words:
        raise TokfreeError(f"word id {high} needs num_words > {high}, got {num_words}; pass None to size it")
    slot_of = torch.where(real, word_ids, words)  # padding goes to an extra word, dropped
    positions = torch.arange(t, device=word_ids.device).expand(b, t)
    starts = torch.full((b, words + 1), t, dtype=torch.long, device=word_ids.device)
    starts = starts.scatter_reduce(1, slot_of, positions, "amin")
    offset = positions - starts.gather(1, slot_of)  # the byte's place within its word
    counts = torch.zeros(b, words + 1, dtype=torch.long, device=word_ids.device).scatter_add(1, slot_of, real.long())
    last = torch.zeros(b, words + 1, dtype=torch.long, device=word_ids.device).scatter_reduce(1, slot_of, offset + 1, "amax")
    if bool((last[:, :words] != counts[:, :words]).any()):
        row, word = (last[:, :words] != counts[:, :words]).nonzero()[0].tolist()
        raise TokfreeError(f"the bytes of word {word} in row {row} are not consecutive; a word must be one span of bytes")
    longest = int(counts[:, :words].max()) if words and b else 0
    rows = torch.arange(b, device=word_ids.device)[:, None].expand(b, t)
    return real, (rows[real], word_ids[real], offset[real]), words, longest


def _to_canvas(values: Tensor, index: tuple[Tensor, Tensor, Tensor], real: Tensor, shape: tuple[int, int, int], fill: float | int = 0) -> Tensor:
    """values (B, T, ...) -> (B, W, L, ...) with the real entries placed, `fill` elsewhere."""
    out = values.new_full((*shape, *values.shape[2:]), fill)
    return out.index_put(index, values[real])


def _length_buckets(lengths: Tensor, *, include_empty: bool = False) -> list[tuple[Tensor, int]]:
    """Rows grouped by length rounded up to a power of two: [(row indices, width)], widths ascending.

    Words are short and their lengths skewed (English: ~5 bytes on average, 16+ at the cap), so
    one canvas as wide as the longest word would spend 3-4x the compute on padding; buckets of
    widths 1, 2, 4, 8, ... keep the padding under 2x (about 1.3x on English). Rows of length 0 are
    left out unless `include_empty` (width 0).
    """
    real = lengths > 0
    widths = torch.where(real, torch.exp2(torch.ceil(torch.log2(lengths.clamp(min=1).double()))).long(), 0)
    out = []
    for width in sorted(set(widths.tolist())):
        if width == 0 and not include_empty:
            continue
        out.append(((widths == width).nonzero()[:, 0], int(width)))
    return out


def _combine(parts: list[tuple[Tensor, Tensor]], rows: int, like: Tensor) -> Tensor:
    """Per-bucket results (indices, values (n_i, ...)) -> (rows, ...); rows in no bucket are 0."""
    if not parts:
        return like.new_zeros(rows, *like.shape[1:])
    index = torch.cat([i for i, _ in parts])
    values = torch.cat([v for _, v in parts])
    return values.new_zeros(rows, *values.shape[1:]).index_copy(0, index, values)


# --- poolers -----------------------------------------------------------------------------------


class WordPooler(nn.Module):
    """Pools the byte states of each word into one vector: the interface of all pooling kinds.

    Subclasses implement `_pool_canvas` (words as rows of a canvas) or override `forward`.

    Args:
        d_model: the width D of the byte states and of the word vectors.
    """

    kind: str = ""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model

    def forward(self, byte_states: Tensor, word_ids: Tensor, *, num_words: int | None = None) -> tuple[Tensor, Tensor]:
        """Word vectors from byte states.

        Args:
            byte_states: (B, T, D) float.
            word_ids: (B, T) long, the word of each byte (a word's bytes are consecutive), -1 for
                bytes in no word (padding, a BOS position).
            num_words: W (None: the largest id + 1).

        Returns:
            ``(words (B, W, D), mask (B, W) bool)``; a word with no byte is 0 with mask False.

        Raises:
            TokfreeError: shapes or dtypes do not match, an id is out of range, or a word's bytes
                are not consecutive.
        """
        _check_word_ids(byte_states, word_ids)
        real, index, words, longest = _canvas_index(word_ids, num_words)
        b, _, d = byte_states.shape
        canvas = _to_canvas(byte_states, index, real, (b, words + 1, longest))[:, :words]  # (B, W, L, D)
        canvas_mask = _to_canvas(real, index, real, (b, words + 1, longest), False)[:, :words]  # (B, W, L)
        mask = canvas_mask.any(-1)
        if words == 0 or longest == 0:
            return byte_states.new_zeros(b, words, d), mask
        flat, flat_mask = canvas.reshape(b * words, longest, d), canvas_mask.reshape(b * words, longest)
        parts = [
            (index, self._pool_canvas(flat[index, :width], flat_mask[index, :width]))
            for index, width in _length_buckets(flat_mask.sum(1))
        ]
        pooled = _combine(parts, b * words, flat[:, 0])
        return pooled.reshape(b, words, d), mask

    def _pool_canvas(self, canvas: Tensor, mask: Tensor) -> Tensor:  # (N, L, D), (N, L) -> (N, D)
        raise NotImplementedError


class MeanPooler(WordPooler):
    """The mean of each word's byte states (no parameters).

    Example:
        >>> words, mask = MeanPooler(2)(torch.tensor([[[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]]]), torch.tensor([[0, 0, 1]]))
        >>> words.tolist(), mask.tolist()
        ([[[2.0, 1.0], [5.0, 5.0]]], [[True, True]])
    """

    kind = "mean"

    def forward(self, byte_states: Tensor, word_ids: Tensor, *, num_words: int | None = None) -> tuple[Tensor, Tensor]:
        """As `WordPooler.forward`."""
        _check_word_ids(byte_states, word_ids)
        return pool_segments(byte_states, word_ids, reduce="mean", num_segments=num_words)


class LastPooler(WordPooler):
    """The state of each word's last byte (no parameters).

    Example:
        >>> words, _ = LastPooler(1)(torch.tensor([[[1.0], [3.0], [5.0]]]), torch.tensor([[0, 0, 1]]))
        >>> words.squeeze(-1).tolist()
        [[3.0, 5.0]]
    """

    kind = "last"

    def forward(self, byte_states: Tensor, word_ids: Tensor, *, num_words: int | None = None) -> tuple[Tensor, Tensor]:
        """As `WordPooler.forward`."""
        _check_word_ids(byte_states, word_ids)
        real, _, words, _ = _canvas_index(word_ids, num_words)
        b, t = word_ids.shape
        slot_of = torch.where(real, word_ids, words)
        positions = torch.arange(t, device=word_ids.device).expand(b, t)
        last = torch.zeros(b, words + 1, dtype=torch.long, device=word_ids.device).scatter_reduce(1, slot_of, positions, "amax")
        mask = torch.zeros(b, words + 1, dtype=torch.bool, device=word_ids.device).scatter(1, slot_of, real)[:, :words]
        return gather_positions(byte_states, last[:, :words], mask), mask


class QueryPooler(WordPooler):
    """Learned queries cross-attend to the word's bytes only (Byte2Word; HAT's encoder connector).

    word = proj(concat_i h_i), h_i = q_i + attn(norm(q_i), norm(bytes)), h_i += SwiGLU(norm(h_i));
    with one query the projection is skipped.

    Args:
        d_model: the width D.
        n_heads: attention heads (must divide D).
        n_queries: learned queries per word.
        d_ff: the SwiGLU width (None: 8/3 D rounded up to 16).
        dropout: attention dropout while training.

    Example:
        >>> pooler = QueryPooler(8, 2)
        >>> words, mask = pooler(torch.randn(2, 5, 8), torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, -1, -1]]))
        >>> words.shape, mask.tolist()
        (torch.Size([2, 2, 8]), [[True, True], [True, True]])
    """

    kind = "query"

    def __init__(self, d_model: int, n_heads: int, *, n_queries: int = 1, d_ff: int | None = None, dropout: float = 0.0) -> None:
        super().__init__(d_model)
        self.queries = nn.Parameter(torch.randn(n_queries, d_model) * 0.02)
        self.query_norm = RMSNorm(d_model)
        self.byte_norm = RMSNorm(d_model)
        self.attn = CrossAttention(d_model, n_heads, dropout=dropout)
        self.mlp_norm = RMSNorm(d_model)
        self.mlp = SwiGLU(d_model, d_ff if d_ff is not None else swiglu_width(d_model))
        self.proj = nn.Linear(n_queries * d_model, d_model, bias=False) if n_queries > 1 else None

    def _pool_canvas(self, canvas: Tensor, mask: Tensor) -> Tensor:
        n = canvas.shape[0]
        q = self.queries.to(canvas.dtype).expand(n, *self.queries.shape)  # (N, P, D)
        h = q + self.attn(self.query_norm(q), self.byte_norm(canvas), mask=mask)
        h = h + self.mlp(self.mlp_norm(h))
        return self.proj(h.reshape(n, -1)) if self.proj is not None else h[:, 0]


class PrefixPooler(WordPooler):
    """Learned prefix tokens in front of the word's bytes, one bidirectional block (Learn Your Tokens).

    Args:
        d_model: the width D.
        n_heads: attention heads (D / n_heads even: rotary positions inside the word).
        max_word_bytes: the longest word (sizes the rotary table: n_queries + max_word_bytes).
        n_queries: prefix tokens per word.
        d_ff: the SwiGLU width (None: automatic).
        dropout: dropout while training.

    Example:
        >>> pooler = PrefixPooler(8, 2, max_word_bytes=4, n_queries=2)
        >>> pooler(torch.randn(1, 3, 8), torch.tensor([[0, 1, 1]]))[0].shape
        torch.Size([1, 2, 8])
    """

    kind = "prefix"

    def __init__(
        self, d_model: int, n_heads: int, *, max_word_bytes: int, n_queries: int = 1, d_ff: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__(d_model)
        self.n_queries = n_queries
        self.prefix = nn.Parameter(torch.randn(n_queries, d_model) * 0.02)
        self.block = Block(d_model, n_heads, d_ff if d_ff is not None else swiglu_width(d_model), n_queries + max_word_bytes, causal=False, dropout=dropout)
        self.norm = RMSNorm(d_model)
        self.proj = nn.Linear(n_queries * d_model, d_model, bias=False) if n_queries > 1 else None

    def _pool_canvas(self, canvas: Tensor, mask: Tensor) -> Tensor:
        n, length, _ = canvas.shape
        p = self.n_queries
        x = torch.cat((self.prefix.to(canvas.dtype).expand(n, *self.prefix.shape), canvas), dim=1)  # (N, P + L, D)
        key_mask = torch.cat((mask.new_ones(n, p), mask), dim=1)
        positions = torch.arange(p + length, device=canvas.device).expand(n, p + length)
        self.block.attn.rotary.check(positions)
        h, _ = self.block(x, positions, key_mask=key_mask)
        h = self.norm(h[:, :p])
        return self.proj(h.reshape(n, -1)) if self.proj is not None else h[:, 0]


def make_pooler(
    kind: Literal["mean", "last", "query", "prefix"],
    d_model: int,
    *,
    n_heads: int = 1,
    n_queries: int = 1,
    max_word_bytes: int = 32,
    d_ff: int | None = None,
    dropout: float = 0.0,
) -> WordPooler:
    """The `WordPooler` of one of `POOLER_KINDS`.

    Args:
        kind: "mean", "last", "query" or "prefix" (see the module docstring).
        d_model: the width of the byte states and word vectors.
        n_heads: attention heads ("query", "prefix").
        n_queries: learned queries / prefix tokens per word ("query", "prefix").
        max_word_bytes: the longest word ("prefix": its rotary table).
        d_ff: the SwiGLU width ("query", "prefix"; None: automatic).
        dropout: dropout while training.

    Returns:
        The pooler module.

    Raises:
        TokfreeError: an unknown kind.

    Example:
        >>> make_pooler("query", 16, n_heads=2).kind
        'query'
    """
    if kind == "mean":
        return MeanPooler(d_model)
    if kind == "last":
        return LastPooler(d_model)
    if kind == "query":
        return QueryPooler(d_model, n_heads, n_queries=n_queries, d_ff=d_ff, dropout=dropout)
    if kind == "prefix":
        return PrefixPooler(d_model, n_heads, max_word_bytes=max_word_bytes, n_queries=n_queries, d_ff=d_ff, dropout=dropout)
    raise TokfreeError(f"pooler kind {kind!r} is not known; pass one of {', '.join(POOLER_KINDS)}")


# --- shared model helpers ----------------------------------------------------------------------------


def _init_weights(model: nn.Module, seed: int | None, n_layers: int) -> None:
    # GPT-2's scheme (as CausalLM): N(0, 0.02), residual-branch outputs scaled by 1/sqrt(2 n_layers).
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    residual_std = 0.02 / math.sqrt(2 * max(1, n_layers))
    for name, param in model.named_parameters():
        if param.dim() < 2 and not name.endswith(("first_word", "queries", "prefix")):
            continue
        std = residual_std if name.endswith(("attn.out.weight", "mlp.down.weight")) else 0.02
        with torch.no_grad():
            param.copy_(torch.randn(param.shape, generator=generator) * std)


def _head(model: nn.Module, x: Tensor) -> Tensor:
    """Logits over the ByteTokenizer ids: the head, or the byte embedding matrix when tied."""
    return model.head(x) if model.head is not None else F.linear(x, model.byte_embed.weight.to(x.dtype))  # type: ignore[operator, union-attr]


def _symbol_mask(device: torch.device) -> Tensor:
    """(VOCAB_SIZE,) float: 0 for the 256 bytes and EOS, -inf for PAD and BOS (never predicted)."""
    mask = torch.zeros(VOCAB_SIZE, device=device)
    mask[PAD_ID] = float("-inf")
    mask[BOS_ID] = float("-inf")
    return mask


def _check_config_common(owner: str, config: object, *, min_word_bytes: int) -> None:
    for name in ("d_model", "n_layers", "n_heads", "d_byte", "n_byte_heads", "n_decoder_layers", "n_queries", "max_words"):
        check_positive_int(owner, name, getattr(config, name))
    if not isinstance(config.n_encoder_layers, int) or isinstance(config.n_encoder_layers, bool) or config.n_encoder_layers < 0:  # type: ignore[attr-defined]
        raise TokfreeError(f"{owner}.n_encoder_layers is {config.n_encoder_layers!r}; it must be an integer >= 0")  # type: ignore[attr-defined]
    check_positive_int(owner, "d_ff", config.d_ff, optional=True)  # type: ignore[attr-defined]
    check_positive_int(owner, "byte_d_ff", config.byte_d_ff, optional=True)  # type: ignore[attr-defined]
    mwb = config.max_word_bytes  # type: ignore[attr-defined]
    if isinstance(mwb, bool) or not isinstance(mwb, int) or mwb < min_word_bytes:
        why = " (online splitting cuts words between characters, and a UTF-8 character takes up to 4 bytes)" if min_word_bytes > 1 else ""
        raise TokfreeError(f"{owner}.max_word_bytes is {mwb!r}; it must be an integer >= {min_word_bytes}{why}")
    check_heads(owner, "d_model", config.d_model, "n_heads", config.n_heads)  # type: ignore[attr-defined]
    check_heads(owner, "d_byte", config.d_byte, "n_byte_heads", config.n_byte_heads)  # type: ignore[attr-defined]
    if config.pooler not in POOLER_KINDS:  # type: ignore[attr-defined]
        raise TokfreeError(f"{owner}.pooler is {config.pooler!r}; pass one of {', '.join(POOLER_KINDS)}")  # type: ignore[attr-defined]
    check_dropout(owner, config.dropout)  # type: ignore[attr-defined]
    if not isinstance(config.tie_embeddings, bool):  # type: ignore[attr-defined]
        raise TokfreeError(f"{owner}.tie_embeddings is {config.tie_embeddings!r}; it must be true or false")  # type: ignore[attr-defined]


# --- the word-pooled LM ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordPoolLMConfig:
    """The shape of a `WordPoolLM`; saved as `config.json` beside the weights.

    Attributes:
        d_model: the backbone width.
        n_layers: backbone blocks (causal, over words).
        n_heads: backbone heads (d_model / n_heads even).
        d_byte: the width of the byte encoder, pooler and decoder.
        n_byte_heads: their heads (d_byte / n_byte_heads even).
        n_encoder_layers: bidirectional byte blocks within each word before pooling (0: pool the
            byte embeddings).
        n_decoder_layers: causal byte blocks of the per-word decoder.
        pooler: one of `POOLER_KINDS`.
        n_queries: learned queries / prefix tokens per word ("query" and "prefix" poolers).
        max_words: the most words in a text (backbone positions: max_words + 1 with the end slot).
        max_word_bytes: the splitter's cap on a word's bytes (below 4 it may cut a character).
        dropout: dropout on attention and residual branches while training.
        d_ff: the backbone SwiGLU width (None: 8/3 d_model rounded up to 16).
        byte_d_ff: the byte blocks' SwiGLU width (None: 8/3 d_byte rounded up to 16).
        tie_embeddings: the decoder's output head reuses the byte embedding matrix (ByteTokenizer
            ids; the EOS row is the end of a word). Off by default: in 300-step CPU runs the tied
            model was worse (3.24 vs 3.02 bits/byte at d_byte 128, 3.50 vs 3.40 at 64), unlike
            `HierarchicalLM`, where tying helps.

    Raises:
        TokfreeError: a field of the wrong type or range, or heads that do not divide a width.

    Example:
        >>> WordPoolLMConfig(d_model=64, n_layers=2, n_heads=2, d_byte=32, n_byte_heads=2).pooler
        'query'
    """

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_byte: int = 64
    n_byte_heads: int = 2
    n_encoder_layers: int = 1
    n_decoder_layers: int = 2
    pooler: str = "query"
    n_queries: int = 1
    max_words: int = 256
    max_word_bytes: int = 16
    dropout: float = 0.0
    d_ff: int | None = None
    byte_d_ff: int | None = None
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        _check_config_common("WordPoolLMConfig", self, min_word_bytes=1)


@dataclass
class WordPoolOutput:
    """What `WordPoolLM.forward` returns, padded over words and word positions.

    Attributes:
        logits: (B, W + 1, L + 1, VOCAB_SIZE) float32: ``logits[b, k, j]`` predicts byte j of word
            k of row b, or its end (`EOS_ID`) when j is the word's length; ``k = num_words[b]`` is
            the end-of-text slot (end at j = 0). PAD and BOS are -inf; so are all bytes at j =
            max_word_bytes (a full word must end). Padding entries are 0.
        targets: (B, W + 1, L + 1) long: what each slot must predict, -100 where nothing is.
    """

    logits: Tensor
    targets: Tensor


class WordPoolLM(WordLevelLM):
    """A causal LM over pooled words with a per-word byte decoder (see the module docstring).

    Args:
        config: the model's shape.
        device: where the weights live.
        seed: seeds the weight initialisation (None: torch's global generator).

    Example:
        >>> config = WordPoolLMConfig(d_model=32, n_layers=1, n_heads=2, d_byte=16, n_byte_heads=2, max_words=32)
        >>> model = WordPoolLM(config, seed=0).eval()
        >>> batch = model.make_batch(["Hello, world!"])
        >>> model(batch).logits.shape  # 2 words + the end slot, 7 bytes + end
        torch.Size([1, 3, 8, 259])
        >>> # Before training: 16 symbols (13 bytes, 2 word ends, the text's end) at ~8 bits each.
        >>> 9.0 < model.bits_per_byte(["Hello, world!"]) < 11.0
        True
    """

    _FORMAT = "tokfree.WordPoolLM"
    _VERSION = 1
    _CONFIG_CLS = WordPoolLMConfig
    _NAME = "WordPoolLM"

    def __init__(self, config: WordPoolLMConfig, *, device: Device = "cpu", seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        byte_ff = c.byte_d_ff if c.byte_d_ff is not None else swiglu_width(c.d_byte)
        ff = c.d_ff if c.d_ff is not None else swiglu_width(c.d_model)
        self.byte_embed = nn.Embedding(VOCAB_SIZE, c.d_byte)  # ByteTokenizer ids: the rows of the tied head
        self.encoder = nn.ModuleList(
            Block(c.d_byte, c.n_byte_heads, byte_ff, c.max_word_bytes, causal=False, dropout=c.dropout) for _ in range(c.n_encoder_layers)
        )
        self.pooler = make_pooler(
            c.pooler, c.d_byte, n_heads=c.n_byte_heads, n_queries=c.n_queries, max_word_bytes=c.max_word_bytes, d_ff=byte_ff, dropout=c.dropout
        )
        self.pool_norm = RMSNorm(c.d_byte)
        self.to_backbone = nn.Linear(c.d_byte, c.d_model, bias=False)
        self.first_word = nn.Parameter(torch.zeros(c.d_model))
        self.drop = nn.Dropout(c.dropout)
        self.backbone = nn.ModuleList(Block(c.d_model, c.n_heads, ff, c.max_words + 1, dropout=c.dropout) for _ in range(c.n_layers))
        self.backbone_norm = RMSNorm(c.d_model)
        self.to_decoder = nn.Linear(c.d_model, c.d_byte, bias=False)
        self.decoder = nn.ModuleList(Block(c.d_byte, c.n_byte_heads, byte_ff, c.max_word_bytes + 1, dropout=c.dropout) for _ in range(c.n_decoder_layers))
        self.decoder_norm = RMSNorm(c.d_byte)
        self.head = None if c.tie_embeddings else nn.Linear(c.d_byte, VOCAB_SIZE, bias=False)
        _init_weights(self, seed, c.n_layers + c.n_encoder_layers + c.n_decoder_layers)
        self.to(device)

    def make_batch(self, texts: Sequence[str | bytes]) -> WordBatch:
        """`batch_words(texts, max_word_bytes=config.max_word_bytes)` on the model's device.

        Raises:
            TokfreeError: as `batch_words`, or a text with more than `max_words` words.
        """
        batch = batch_words(texts, max_word_bytes=self.config.max_word_bytes, device=self.device)
        self._check_words(batch)
        return batch

    def _check_words(self, batch: WordBatch) -> None:
        if batch.word_ids.numel() and int(batch.word_ids.max()) + 1 > self.config.max_words:
            raise TokfreeError(
                f"a text has {int(batch.word_ids.max()) + 1} words but the model takes at most max_words={self.config.max_words}; "
                "cut the text into shorter pieces"
            )

    # --- the three stages ---

    def encode_words(self, batch: WordBatch) -> tuple[Tensor, Tensor]:
        """The pooled vector of every word, each from its own bytes only.

        Returns:
            ``(words (B, W, d_model), mask (B, W) bool)``, before the backbone.

        Raises:
            TokfreeError: a malformed batch or a word longer than `max_word_bytes`.
        """
        words, mask, _ = self._encode(batch.to(self.device))
        return words, mask

    def _encode(self, batch: WordBatch) -> tuple[Tensor, Tensor, tuple]:
        c = self.config
        byte_ids, word_ids = batch.byte_ids, batch.word_ids
        if byte_ids.shape != word_ids.shape or byte_ids.dim() != 2:
            raise TokfreeError(f"byte_ids {tuple(byte_ids.shape)} and word_ids {tuple(word_ids.shape)} must both be (B, T)")
        self._check_words(batch)
        real, index, words, longest = _canvas_index(word_ids, None)
        if longest > c.max_word_bytes:
            raise TokfreeError(f"a word has {longest} bytes, more than max_word_bytes={c.max_word_bytes}; split with batch_words(max_word_bytes=...)")
        if bool(((byte_ids < 0) | (byte_ids > 255))[real].any()):
            raise TokfreeError("byte_ids must hold byte values 0-255 at every real position")
        b = byte_ids.shape[0]
        ids = _to_canvas(byte_ids, index, real, (b, words + 1, longest))[:, :words]  # (B, W, L)
        present = _to_canvas(real, index, real, (b, words + 1, longest), False)[:, :words]  # (B, W, L)
        word_mask = present.any(-1)  # (B, W)
        flat_ids, flat_present = ids[word_mask], present[word_mask]  # (N, L): only real words
        n = flat_ids.shape[0]
        pooled = self.to_backbone.weight.new_zeros(b, words, c.d_model)
        if n and longest:
            parts = []
            for bucket, width in _length_buckets(flat_present.sum(1)):
                bucket_ids, bucket_present = flat_ids[bucket, :width], flat_present[bucket, :width]
                x = self.drop(self.byte_embed(bucket_ids))
                positions = torch.arange(bucket_ids.shape[1], device=x.device).expand(*bucket_ids.shape)
                for block in self.encoder:
                    x, _ = block(x, positions, key_mask=bucket_present)
                vectors, _ = self.pooler(x, torch.where(bucket_present, 0, -1), num_words=1)  # (n_i, 1, d_byte)
                parts.append((bucket, vectors[:, 0]))
            vectors = self.to_backbone(self.pool_norm(_combine(parts, n, self.byte_embed.weight[:1])))
            pooled = pooled.to(vectors.dtype).index_put((word_mask.nonzero(as_tuple=True)), vectors)
        return pooled, word_mask, (ids, present, words, longest)

    def _backbone(self, pooled: Tensor) -> Tensor:
        """o (B, W + 1, d_model): o[:, k] is the state after words < k."""
        b = pooled.shape[0]
        first = self.first_word.to(pooled.dtype).expand(b, 1, -1)
        x = self.drop(torch.cat((first, pooled), dim=1))
        positions = torch.arange(x.shape[1], device=x.device).expand(b, x.shape[1])
        for block in self.backbone:
            x, _ = block(x, positions)  # right padding: a real word never sees a later slot
        return self.backbone_norm(x)

    def _decode(self, context: Tensor, ids: Tensor, lengths: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per-word logits from backbone states (M, d_model) and word bytes (M, L) of lengths (M,).

        Returns:
            One ``(indices, logits (m, w + 1, VOCAB_SIZE) float32, targets (m, w + 1))`` per length
            bucket; targets hold the bytes, `EOS_ID` at the word's length and -100 past it.
        """
        out = []
        for index, width in _length_buckets(lengths, include_empty=True):
            bucket_ids, bucket_lengths = ids[index, :width], lengths[index]
            m, w = bucket_ids.shape
            start = self.to_decoder(context[index])[:, None]  # (m, 1, d_byte)
            x = torch.cat((start, self.byte_embed(bucket_ids).to(start.dtype)), dim=1) if w else start
            x = self.drop(x)
            positions = torch.arange(w + 1, device=x.device).expand(m, w + 1)
            for block in self.decoder:
                x, _ = block(x, positions)  # right padding: causal attention never reaches it
            logits = _head(self, self.decoder_norm(x)).float() + _symbol_mask(x.device)
            if w + 1 > self.config.max_word_bytes:
                # After max_word_bytes bytes the splitter has cut the word: it must end.
                logits[:, self.config.max_word_bytes, :256] = float("-inf")
            j = torch.arange(w + 1, device=x.device)[None, :]
            targets = torch.cat((bucket_ids, bucket_ids.new_full((m, 1), EOS_ID)), dim=1)
            targets = torch.where(j == bucket_lengths[:, None], EOS_ID, targets)
            targets = torch.where(j > bucket_lengths[:, None], -100, targets)
            out.append((index, logits, targets))
        return out

    def _run(self, batch: WordBatch, end_of_text: bool) -> tuple[list[tuple[Tensor, Tensor, Tensor]], Tensor, Tensor]:
        """Decoder outputs per length bucket (see `_decode`), and the row and word slot of each word."""
        batch = batch.to(self.device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            pooled, word_mask, (ids, present, words, longest) = self._encode(batch)
            states = self._backbone(pooled)  # (B, W + 1, d)
            b = pooled.shape[0]
            counts = word_mask.sum(1)  # (B,)
            slots = torch.cat((word_mask, torch.zeros(b, 1, dtype=torch.bool, device=word_mask.device)), dim=1)
            if end_of_text:
                slots = slots.scatter(1, counts[:, None], True)  # the empty word after the last
            rows, slot = slots.nonzero(as_tuple=True)
            word_bytes = torch.cat((ids, ids.new_zeros(b, 1, longest)), dim=1)[rows, slot]  # (M, L)
            lengths = torch.cat((present, present.new_zeros(b, 1, longest)), dim=1)[rows, slot].sum(-1)  # (M,)
            parts = self._decode(states[rows, slot], word_bytes, lengths)
        return parts, rows, slot

    def forward(self, batch: WordBatch, *, end_of_text: bool = True) -> WordPoolOutput:
        """Teacher-forced per-word logits for every byte and end-of-word (see `WordPoolOutput`).

        Training and scoring use `nll`, which never builds this padded tensor (the per-word
        decoder runs on words grouped by length).

        Args:
            batch: bytes and word ids (`make_batch`).
            end_of_text: include each row's end-of-text slot as a target (else its target is -100).

        Returns:
            The padded logits and targets.

        Raises:
            TokfreeError: a malformed batch, more than max_words words or a word longer than max_word_bytes.
        """
        parts, rows, slot = self._run(batch, True)
        b = batch.byte_ids.shape[0]
        words = int(slot.max()) + 1 if slot.numel() else 1
        width = max(logits.shape[1] for _, logits, _ in parts)
        out_logits = torch.zeros(b, words, width, VOCAB_SIZE, device=self.device)
        out_targets = torch.full((b, words, width), -100, dtype=torch.long, device=self.device)
        for index, logits, targets in parts:
            w = logits.shape[1]
            out_logits[rows[index], slot[index], :w] = logits
            out_targets[rows[index], slot[index], :w] = targets
        if not end_of_text:
            counts = (batch.word_ids.to(self.device).max(1).values + 1).clamp(min=0)
            out_targets[torch.arange(b, device=self.device), counts] = -100
        return WordPoolOutput(out_logits, out_targets)

    def nll(self, batch: WordBatch, *, end_of_text: bool = True) -> Tensor:
        """-log p of each row's words (every byte, every end-of-word), in nats: (B,) float32.

        The training loss is ``model.nll(batch, end_of_text=...).sum() / batch.n_bytes`` (nats per
        byte; / ln 2 for bits per byte).

        Args:
            batch: bytes and word ids (`make_batch`).
            end_of_text: also predict the end of each text (an empty word after its last word):
                True for whole documents, False for windows cut from a longer text.

        Returns:
            (B,) the summed negative log-likelihood of each row.
        """
        parts, rows, _ = self._run(batch, end_of_text)
        total = torch.zeros(batch.byte_ids.shape[0], device=self.device)
        for index, logits, targets in parts:
            flat = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), targets.reshape(-1), ignore_index=-100, reduction="none")
            total = total.index_add(0, rows[index], flat.view(targets.shape).sum(1))
        return total

    def log_prob(self, texts: Sequence[str | bytes], *, end_of_text: bool = True, batch_size: int = 16) -> list[float]:
        """log p (nats) of each text's word sequence: every byte, every end-of-word (and the end).

        Args:
            texts: str or bytes each.
            end_of_text: include the end of each text.
            batch_size: texts per forward.

        Returns:
            One float per text.

        Raises:
            TokfreeError: a text with more than max_words words.
        """
        return super().log_prob(texts, end_of_text=end_of_text, batch_size=batch_size)

    @torch.no_grad()
    def next_word_log_probs(self, context: str | bytes, words: Sequence[str | bytes], *, batch_size: int = 4096) -> Tensor:
        """log p(word, then end-of-word | the words of `context`) for each candidate word.

        The empty word is the end of the text. With every byte string of at most
        `max_word_bytes` bytes as candidates (and the empty one), the probabilities sum to 1.

        Args:
            context: the text so far (split into words as `make_batch` does).
            words: candidate next words (str or bytes, at most max_word_bytes bytes each).
            batch_size: candidates per decoder call.

        Returns:
            (len(words),) float64 log-probabilities.

        Raises:
            TokfreeError: a candidate longer than max_word_bytes, or a context with too many words.

        Example:
            >>> config = WordPoolLMConfig(d_model=32, n_layers=1, n_heads=2, d_byte=16, n_byte_heads=2, max_words=8, max_word_bytes=4)
            >>> WordPoolLM(config, seed=0).next_word_log_probs("Hello", [" you", " all", ""]).shape
            torch.Size([3])
        """
        was_training = self.training
        self.eval()
        batch = self.make_batch([context])
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            pooled, word_mask, _ = self._encode(batch)
            state = self._backbone(pooled)[0, int(word_mask.sum())]  # (d_model,)
        datas = [as_bytes(w, f"words[{i}]") for i, w in enumerate(words)]
        too_long = [d for d in datas if len(d) > self.config.max_word_bytes]
        if too_long:
            raise TokfreeError(f"candidate word {too_long[0]!r} is longer than max_word_bytes={self.config.max_word_bytes}")
        out = torch.empty(len(datas), dtype=torch.float64)
        for start in range(0, len(datas), batch_size):
            chunk = datas[start : start + batch_size]
            longest = max((len(d) for d in chunk), default=0)
            lengths = torch.tensor([len(d) for d in chunk], dtype=torch.long)
            flat = torch.frombuffer(bytearray(b"".join(chunk)), dtype=torch.uint8).long() if longest else torch.zeros(0, dtype=torch.long)
            present = torch.arange(longest)[None, :] < lengths[:, None]
            ids = torch.zeros(len(chunk), longest, dtype=torch.long).masked_scatter(present, flat)
            ids, lengths = ids.to(self.device), lengths.to(self.device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                parts = self._decode(state.expand(len(chunk), -1), ids, lengths)
            for index, logits, targets in parts:
                logp = F.log_softmax(logits.double(), dim=-1)
                picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
                picked = torch.where(targets >= 0, picked, torch.zeros((), dtype=picked.dtype, device=picked.device))
                out[start + index.cpu()] = picked.sum(1).cpu()
        self.train(was_training)
        return out

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Writes `config.json` and `model.safetensors` (float32) into `folder`, creating it.

        Example:
            >>> import tempfile
            >>> config = WordPoolLMConfig(d_model=32, n_layers=1, n_heads=2, d_byte=16, n_byte_heads=2)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     WordPoolLM(config, seed=0).save(folder)
            ...     WordPoolLM.load(folder).config == config
            True
        """
        super().save(folder)
