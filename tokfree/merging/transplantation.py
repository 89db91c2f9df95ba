"""Tokenizer transplantation: give a trained LM a new tokenizer's vocabulary, with initialised embeddings.

`transplant` builds the new input embedding matrix (and the new output matrix of an untied model)
for a new tokenizer, the TokenAdapt way (Sharthak et al., arXiv 2505.09738; research notes in
`tokenizer-papers.md` section 5):

- **shared tokens** (same bytes; special tokens by their text) get bit-identical copies of their old
  rows, so transplanting a tokenizer onto itself reproduces the matrices exactly;
- every other new token s is estimated from old rows:
  - *local*: s is encoded with the old tokenizer into pieces p_i, weighted by
    `softmax(((softmax(cos(X(s), X(p_i))) + len(p_i) / len(s)) / 2) / (temperature + 1e-5))`;
  - *global*: the k old tokens nearest to X(s) by cosine (ties: the smaller old id), weighted by
    `softmax(cos / (temperature + 1e-5))`, neighbours below `threshold` masked out;
  - *hybrid* (the default): `(1 - global_weight) * local + global_weight * global` when both exist,
    else whichever exists, else a random row;
- the rest (and the padding rows up to `multiple_of`) are drawn from N(mean(E), std(E)) with the
  old matrix's global scalar mean and standard deviation, from a seeded generator.

X is the similarity space: by default the model's own input embeddings (X(old id) = E_in[id],
X(new token) = the mean of E_in over its old pieces), or an external text embedder over decoded
token strings (`aux_embeddings`). The global search is exact (a chunked matmul in torch, memory
bounded by the chunk size), not approximate.

Bytes are the truth: a token's old pieces cover exactly its bytes, even when the token is not valid
UTF-8 (a byte-level BPE piece of a character). The token's bytes are cut into maximal runs of valid
UTF-8 and runs of bytes that are not; the text runs are encoded by the old tokenizer (special-token
text as plain text, without the old normalizer, so the pieces spell the bytes themselves), and each
invalid run is covered greedily by the longest old tokens that match its bytes (single-byte tokens
in a byte-level vocabulary). A byte with no old token at all is left uncovered; a piece id outside
the old matrix is skipped.

This file does not train anything, does not touch tokenizer files, and does not rewrite special-token
ids in model configs: `Transplanted.to_model` swaps the embedding rows of a `tokfree.nn.CausalLM` and
copies every other weight.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from tokfree.errors import TokfreeError
from tokfree.nn.lm import CausalLM
from tokfree.tokenizer import Tokenizer

__all__ = ["METHODS", "Transplanted", "lm_text_embedder", "transplant", "transplant_model"]

METHODS = ("hybrid", "local", "global", "mean", "random")
"""The initialisation methods `transplant` accepts."""

KINDS = ("shared", "combined", "local", "global", "mean", "random")

Embeddings = Union[Tensor, tuple[Tensor, Tensor], CausalLM]
"""A (V_old, D) tied/input matrix, an (input, output) pair of (V_old, D) matrices, or a CausalLM."""

AuxEmbedder = Callable[[list[str]], object]
"""list of N strings -> an (N, d) float array or tensor (an external text-embedding space)."""

# Elements of one chunk's (tokens, candidates) similarity matrix and (pieces, D) gathers: 2^22
# float32 values are 16 MB, small enough to stay in cache-friendly territory on a 2-core box and
# to bound memory for 128k vocabularies (then ~32 tokens per chunk).
_CHUNK_ELEMENTS = 1 << 22
_TEMPERATURE_EPS = 1e-5  # TokenAdapt's numerical safety term, added to the temperature
_INVALID_RUN = re.compile(r"[\udc80-\udcff]+|[^\udc80-\udcff]+")  # surrogateescape'd bytes vs text


@dataclass(frozen=True, eq=False)
class Transplanted:
    """The new embedding matrices of a transplanted model, and how each row was made.

    Attributes:
        input: (V_new_padded, D) the new input embedding matrix (the tied matrix of a tied model),
            in the old matrix's dtype and device.
        output: (V_new_padded, D) the new output head matrix of an untied model, or None when tied.
        shared: the number of new tokens copied from an old token with the same bytes.
        counts: how each of the `vocab_size` new rows was initialised: "shared", "combined"
            (local and global mixed), "local", "global", "mean" (mean of the old pieces) or "random";
            the counts add up to `vocab_size` (padding rows are random and not counted).
        new_to_old: new id -> old id for the shared rows.
        vocab_size: the new tokenizer's vocabulary size (rows before padding to `multiple_of`).

    Example:
        >>> result = transplant(model, old_tok, new_tok)
        >>> result.counts["shared"] == result.shared
        True
        >>> new_model = result.to_model(model)
    """

    input: Tensor  # (V_new_padded, D)
    output: Tensor | None  # (V_new_padded, D) or None
    shared: int
    counts: dict[str, int]
    new_to_old: dict[int, int]
    vocab_size: int

    @property
    def tied(self) -> bool:
        """True when there is one matrix for input and output (`output is None`)."""
        return self.output is None

    def to_model(self, model: CausalLM) -> CausalLM:
        """A new `CausalLM` with these embeddings and every other weight copied from `model`.

        The new config is `model.config` with `vocab_size` = the padded new size; a tied model stays
        tied (`lm_head is None`), an untied one gets `output` as its head. The new model is on
        `model`'s device, in `model`'s train/eval mode; `model` itself is not changed.

        Args:
            model: the model whose embeddings were transplanted.

        Returns:
            The new model.

        Raises:
            TokfreeError: `model` is not a CausalLM, its width differs from the matrices', or its
                tying differs from this result's (pass the model itself to `transplant`).

        Example:
            >>> new_model = transplant(model, old_tok, new_tok, multiple_of=64).to_model(model)
            >>> new_model.config.vocab_size % 64
            0
        """
        if not isinstance(model, CausalLM):
            raise TokfreeError(
                f"to_model takes a tokfree.nn.CausalLM, got {type(model).__name__}; for other models install .input "
                "(and .output) as their embedding matrices yourself"
            )
        rows, width = self.input.shape
        if model.config.d_model != width:
            raise TokfreeError(
                f"the model's d_model is {model.config.d_model} but the transplanted matrices have width {width}; "
                "pass the model the embeddings came from"
            )
        if model.config.tie_embeddings != self.tied:
            have = "tied (one matrix)" if self.tied else "untied (input and output matrices)"
            want = "tied" if model.config.tie_embeddings else "untied"
            raise TokfreeError(
                f"this transplant is {have} but the model is {want}; call transplant(model, ...) with the model "
                "itself so the tying matches"
            )
        config = dataclasses.replace(model.config, vocab_size=rows)
        new = CausalLM(config, device=model.device, seed=0)
        dtype = model.embed.weight.dtype
        state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        state["embed.weight"] = self.input.detach().to(device=model.device, dtype=dtype).clone()
        if self.output is not None:
            state["lm_head.weight"] = self.output.detach().to(device=model.device, dtype=dtype).clone()
        new.load_state_dict(state, strict=True)
        new.to(dtype=dtype).train(model.training)
        return new


def transplant(
    model_embeddings: Embeddings,
    old_tokenizer: Tokenizer,
    new_tokenizer: Tokenizer,
    *,
    method: str = "hybrid",
    k: int = 3,
    temperature: float = 0.3,
    global_weight: float = 0.3,
    threshold: float = 0.0,
    aux_embeddings: AuxEmbedder | None = None,
    multiple_of: int = 1,
    seed: int = 0,
    show_progress: bool = False,
) -> Transplanted:
    """New embedding matrices for `new_tokenizer`, initialised from a model trained with `old_tokenizer`.

    See the module docstring for the estimates. Rows: shared tokens copy their old rows exactly;
    the others get the estimate `method` asks for, falling back to a random row when it is missing
    (no old piece, every global neighbour below `threshold`).

    Args:
        model_embeddings: (V_old, D) the input matrix of a tied model, or (input, output) matrices
            of an untied one (both (V_old, D)), or a `tokfree.nn.CausalLM` (tied or not); any float
            dtype, V_old >= old_tokenizer.vocab_size (extra rows, e.g. padding, are never used).
        old_tokenizer: the tokenizer the model was trained with.
        new_tokenizer: the tokenizer to transplant.
        method: "hybrid" (local and global mixed), "local", "global", "mean" (the plain mean of the
            old pieces' rows) or "random" (only shared rows are copied).
        k: the number of global neighbours.
        temperature: the softmax temperature of the local and global weights (> 0; small values
            make the weights one-hot on the best piece / neighbour).
        global_weight: W in `(1 - W) * local + W * global`, in [0, 1].
        threshold: global neighbours with cosine below this are dropped (above 1: never a global estimate).
        aux_embeddings: None to use the model's own input embeddings as the similarity space, or a
            callable taking a list of N strings (decoded tokens, `tokenizer.decode([id])`) and
            returning an (N, d) float array or tensor, called once with every old and new string.
        multiple_of: pad the new matrices' rows to a multiple of this (e.g. 64 or 128 for GPUs).
        seed: seeds the random rows (a `torch.Generator`): the same inputs give the same matrices.
        show_progress: show a tqdm bar over the chunks of estimated tokens.

    Returns:
        A `Transplanted` (matrices, counts, shared-row mapping); `.to_model(model)` builds the model.

    Raises:
        TokfreeError: an option out of range, matrices that are not 2-D float tensors of one shape
            or have fewer rows than the old vocabulary, tokenizers that are not `tokfree.Tokenizer`,
            or an `aux_embeddings` that does not return one float row per string.

    Example:
        >>> result = transplant(model, old_tok, new_tok, method="hybrid", k=3, multiple_of=64)
        >>> result.input.shape[0] % 64, sum(result.counts.values()) == new_tok.vocab_size
        (0, True)
    """
    _check_options(method, k, temperature, global_weight, threshold, aux_embeddings, multiple_of, seed, show_progress)
    e_in, e_out = _matrices(model_embeddings)
    for name, tok in (("old_tokenizer", old_tokenizer), ("new_tokenizer", new_tokenizer)):
        if not isinstance(tok, Tokenizer):
            raise TokfreeError(
                f"{name} must be a tokfree.Tokenizer, got {type(tok).__name__}; load one with tokfree.Tokenizer.from_file"
            )
    rows_old = e_in.shape[0]
    if old_tokenizer.vocab_size > rows_old:
        raise TokfreeError(
            f"the embedding matrix has {rows_old} rows but old_tokenizer has {old_tokenizer.vocab_size} tokens; "
            "pass the tokenizer the model was trained with (the matrix needs a row per old id)"
        )

    old = _Vocab(old_tokenizer)
    new = _Vocab(new_tokenizer)
    v_new = new_tokenizer.vocab_size
    padded = -(-v_new // multiple_of) * multiple_of

    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        new_in = _random_rows(e_in, padded, generator)
        new_out = _random_rows(e_out, padded, generator) if e_out is not None else None

        new_to_old: dict[int, int] = {}
        unique: list[int] = []  # new ids to estimate
        for new_id in range(v_new):
            old_id = old.match(new, new_id)
            if old_id is not None and old_id < rows_old:
                new_to_old[new_id] = old_id
            elif new.bytes_of(new_id) is not None:
                unique.append(new_id)
        counts = dict.fromkeys(KINDS, 0)
        counts["shared"] = len(new_to_old)
        if new_to_old:
            dst = torch.tensor(list(new_to_old), dtype=torch.long, device=e_in.device)
            src = torch.tensor(list(new_to_old.values()), dtype=torch.long, device=e_in.device)
            new_in[dst] = e_in[src]
            if new_out is not None:
                new_out[dst] = e_out[src]

        if method != "random" and unique:
            estimated = _Estimator(
                e_in, e_out, old_tokenizer, new_tokenizer, old, new, unique,
                method=method, k=k, temperature=temperature, global_weight=global_weight,
                threshold=threshold, aux_embeddings=aux_embeddings,
            )
            estimated.write(new_in, new_out, counts, show_progress=show_progress)
        counts["random"] = v_new - sum(counts[kind] for kind in KINDS if kind != "random")

    return Transplanted(
        input=new_in, output=new_out, shared=len(new_to_old), counts=counts, new_to_old=new_to_old, vocab_size=v_new
    )


def transplant_model(
    model: CausalLM,
    old_tokenizer: Tokenizer,
    new_tokenizer: Tokenizer,
    *,
    method: str = "hybrid",
    k: int = 3,
    temperature: float = 0.3,
    global_weight: float = 0.3,
    threshold: float = 0.0,
    aux_embeddings: AuxEmbedder | None = None,
    multiple_of: int = 1,
    seed: int = 0,
    show_progress: bool = False,
) -> CausalLM:
    """`transplant(model, ...).to_model(model)`: a new CausalLM that reads and writes `new_tokenizer`'s ids.

    Args:
        model: a `tokfree.nn.CausalLM` trained with `old_tokenizer` (tied or untied).
        old_tokenizer, new_tokenizer, method, k, temperature, global_weight, threshold,
            aux_embeddings, multiple_of, seed, show_progress: as in `transplant`.

    Returns:
        The new model (config vocab_size = the padded new vocabulary size); `model` is unchanged.

    Raises:
        TokfreeError: as `transplant`, or `model` is not a CausalLM.

    Example:
        >>> new_model = transplant_model(model, old_tok, new_tok, multiple_of=64)
        >>> logits = new_model(torch.tensor([new_tok.encode("Hello world")]))
    """
    if not isinstance(model, CausalLM):
        raise TokfreeError(
            f"transplant_model takes a tokfree.nn.CausalLM, got {type(model).__name__}; use transplant() for bare matrices"
        )
    result = transplant(
        model, old_tokenizer, new_tokenizer, method=method, k=k, temperature=temperature, global_weight=global_weight,
        threshold=threshold, aux_embeddings=aux_embeddings, multiple_of=multiple_of, seed=seed, show_progress=show_progress,
    )
    return result.to_model(model)


# --- arguments ----------------------------------------------------------------------------------


def lm_text_embedder(
    model: CausalLM, tokenizer: Tokenizer, *, separator: int | None = None, max_tokens: int = 32, batch_size: int = 256
) -> AuxEmbedder:
    """An auxiliary similarity space from the LM itself: a string's vector is the mean of the model's
    final hidden states over its tokens, read after a separator.

    TokenAdapt measures similarity with an external sentence encoder; offline, the trained LM is
    the encoder at hand. Unlike its input embeddings, its hidden states see each token in context,
    so a multi-word token (" of the") lands near what the model makes of those words.

    Args:
        model: the (old) model.
        tokenizer: its tokenizer.
        separator: the id fed before each string (None: the tokenizer's end-of-text token).
        max_tokens: longer strings are cut to this many tokens.
        batch_size: strings per forward pass.

    Returns:
        A callable list[str] -> (N, D) float32 tensor, for `transplant(aux_embeddings=...)`.

    Example:
        >>> new_model = transplant_model(model, old_tok, new_tok, aux_embeddings=lm_text_embedder(model, old_tok))  # doctest: +SKIP
    """
    from tokfree.training.train_lm import separator_id

    sep = separator_id(tokenizer) if separator is None else separator
    if not _is_int(max_tokens) or max_tokens < 1 or not _is_int(batch_size) or batch_size < 1:
        raise TokfreeError(f"max_tokens={max_tokens!r}, batch_size={batch_size!r}: both must be positive integers")

    def embed(strings: list[str]) -> Tensor:
        rows = [[sep, *tokenizer.encode(s, disallowed_special=())[:max_tokens]] for s in strings]
        out = torch.empty(len(rows), model.config.d_model, dtype=torch.float32)
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                width = max(map(len, chunk))
                ids = torch.zeros(len(chunk), width, dtype=torch.long)
                real = torch.zeros(len(chunk), width, dtype=torch.bool)
                for i, r in enumerate(chunk):
                    ids[i, : len(r)] = torch.tensor(r)
                    real[i, : len(r)] = True
                hidden, _ = model.hidden_states(ids.to(model.device), attention_mask=real.to(model.device))
                hidden = hidden.float().cpu()
                # The string's own tokens; an empty string falls back to the separator's state.
                weight = real.clone()
                weight[:, 0] = torch.tensor([len(r) == 1 for r in chunk])
                w = weight.float()[:, :, None]
                out[start : start + len(chunk)] = (hidden * w).sum(1) / w.sum(1)
        return out

    return embed


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_options(
    method: object, k: object, temperature: object, global_weight: object, threshold: object,
    aux_embeddings: object, multiple_of: object, seed: object, show_progress: object,
) -> None:
    if method not in METHODS:
        raise TokfreeError(f"method={method!r} is not a transplant method; choose one of {list(METHODS)}")
    if not _is_int(k) or k < 1:
        raise TokfreeError(f"k={k!r}: the number of global neighbours must be an integer >= 1 (TokenAdapt uses 3)")
    if not _is_real(temperature) or temperature <= 0:
        raise TokfreeError(
            f"temperature={temperature!r} must be a finite number > 0 (TokenAdapt uses 0.3; small values give one-hot weights)"
        )
    if not _is_real(global_weight) or not 0.0 <= global_weight <= 1.0:
        raise TokfreeError(f"global_weight={global_weight!r} must be a number in [0, 1] (0: local only, 1: global only)")
    if not _is_real(threshold):
        raise TokfreeError(
            f"threshold={threshold!r} must be a finite number (a cosine; 0.0 keeps neighbours with non-negative similarity)"
        )
    if aux_embeddings is not None and not callable(aux_embeddings):
        raise TokfreeError(
            f"aux_embeddings={aux_embeddings!r} must be None (use the model's embeddings) or a callable "
            "taking a list of strings and returning an (N, d) float array"
        )
    if not _is_int(multiple_of) or multiple_of < 1:
        raise TokfreeError(f"multiple_of={multiple_of!r} must be an integer >= 1 (1: no padding)")
    if not _is_int(seed):
        raise TokfreeError(f"seed={seed!r} must be an integer")
    if not isinstance(show_progress, bool):
        raise TokfreeError(f"show_progress={show_progress!r} must be true or false")


def _matrices(model_embeddings: object) -> tuple[Tensor, Tensor | None]:
    """(input, output or None) as detached tensors, checked."""
    if isinstance(model_embeddings, CausalLM):
        head = model_embeddings.lm_head
        pair = (model_embeddings.embed.weight.detach(), None if head is None else head.weight.detach())
    elif isinstance(model_embeddings, Tensor):
        pair = (model_embeddings.detach(), None)
    elif isinstance(model_embeddings, (tuple, list)) and len(model_embeddings) == 2:
        pair = tuple(model_embeddings)
        for name, matrix in zip(("input", "output"), pair):
            if not isinstance(matrix, Tensor):
                raise TokfreeError(f"the {name} matrix of model_embeddings is a {type(matrix).__name__}; pass torch tensors")
        pair = (pair[0].detach(), pair[1].detach())
    else:
        raise TokfreeError(
            f"model_embeddings is a {type(model_embeddings).__name__}; pass a (V, D) tensor (tied), a pair "
            "(input, output) of (V, D) tensors (untied) or a tokfree.nn.CausalLM"
        )
    for name, matrix in zip(("input", "output"), pair):
        if matrix is None:
            continue
        if matrix.dim() != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
            raise TokfreeError(
                f"the {name} embedding matrix has shape {tuple(matrix.shape)}; it must be (V_old, D) with V_old, D >= 1"
            )
        if not matrix.is_floating_point():
            raise TokfreeError(f"the {name} embedding matrix has dtype {matrix.dtype}; it must be a float tensor")
    if pair[1] is not None:
        if pair[1].shape != pair[0].shape:
            raise TokfreeError(
                f"the output matrix has shape {tuple(pair[1].shape)} but the input matrix {tuple(pair[0].shape)}; "
                "an untied model's two matrices must have the same shape"
            )
        if pair[1].device != pair[0].device:
            raise TokfreeError(
                f"the input matrix is on {pair[0].device} and the output on {pair[1].device}; move them to one device"
            )
    return pair


def _random_rows(matrix: Tensor, rows: int, generator: torch.Generator) -> Tensor:
    """(rows, D) N(mean, std) with `matrix`'s global scalar mean and std, drawn on the CPU from `generator`."""
    std, mean = torch.std_mean(matrix.to(torch.promote_types(matrix.dtype, torch.float32)))
    std = std if torch.isfinite(std) else torch.zeros_like(std)  # a one-element matrix has no std
    noise = torch.randn((rows, matrix.shape[1]), generator=generator, dtype=torch.float32)
    return (noise.to(std.device, std.dtype) * std + mean).to(matrix.dtype)


# --- vocabularies and pieces --------------------------------------------------------------------


class _Vocab:
    """A tokenizer's ids as bytes (model tokens) and strings (special tokens), read once."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        parts = tokenizer.to_parts()
        self.tokens: dict[int, bytes] = dict(parts.vocab)
        self.specials: dict[int, str] = {token_id: content for content, token_id in parts.special_tokens}
        self.id_of_special = {content: token_id for content, token_id in parts.special_tokens}
        self.id_of_bytes: dict[bytes, int] = {}
        for token_id in sorted(self.tokens):  # two ids with the same bytes: the smaller one wins
            self.id_of_bytes.setdefault(self.tokens[token_id], token_id)
        self.max_len = max((len(token) for token in self.id_of_bytes), default=0)

    def bytes_of(self, token_id: int) -> bytes | None:
        """The token's bytes (a special token's UTF-8 text), or None for an id with no token."""
        if token_id in self.specials:
            return self.specials[token_id].encode("utf-8", errors="surrogatepass")
        return self.tokens.get(token_id)

    def match(self, other: _Vocab, other_id: int) -> int | None:
        """The id here of `other`'s token `other_id`: special tokens by text, model tokens by bytes."""
        if other_id in other.specials:
            return self.id_of_special.get(other.specials[other_id])
        token = other.tokens.get(other_id)
        return None if token is None else self.id_of_bytes.get(token)

    def greedy(self, data: bytes) -> list[int]:
        """Ids covering `data` by longest matching model tokens, left to right (uncoverable bytes skipped)."""
        out, start = [], 0
        while start < len(data):
            for end in range(min(len(data), start + self.max_len), start, -1):
                token_id = self.id_of_bytes.get(data[start:end])
                if token_id is not None:
                    out.append(token_id)
                    start = end
                    break
            else:
                start += 1  # no old token holds this byte: nothing can stand for it
        return out


def _plain_encoder(tokenizer: Tokenizer) -> Tokenizer:
    """`tokenizer` without its normalizer, so encoded pieces spell the input bytes exactly."""
    if tokenizer.normalizer is None:
        return tokenizer
    return Tokenizer(dataclasses.replace(tokenizer.to_parts(), normalizer=None))


def _pieces(old_tokenizer: Tokenizer, old: _Vocab, datas: Sequence[bytes]) -> list[list[int]]:
    """Old ids covering each byte string: text runs by the old tokenizer, invalid UTF-8 runs greedily."""
    layouts: list[list[object]] = []  # per string: int = index into texts, list = ids of an invalid run
    texts: list[str] = []
    for data in datas:
        layout: list[object] = []
        for run in _INVALID_RUN.finditer(data.decode("utf-8", errors="surrogateescape")):
            piece = run.group()
            if "\udc80" <= piece[0] <= "\udcff":
                layout.append(old.greedy(piece.encode("utf-8", errors="surrogateescape")))
            else:
                layout.append(len(texts))
                texts.append(piece)
        layouts.append(layout)
    encoded = _plain_encoder(old_tokenizer).encode_batch(texts, allowed_special=(), disallowed_special=()) if texts else []
    result = []
    for layout in layouts:
        ids: list[int] = []
        for slot in layout:
            ids.extend(encoded[slot] if isinstance(slot, int) else slot)
        result.append(ids)
    return result


def _aux_matrix(aux_embeddings: AuxEmbedder, strings: list[str]) -> Tensor:
    """(N, d) float (at least float32) CPU tensor of the external embedder over `strings`, checked."""
    value = aux_embeddings(list(strings))  # the embedder's own errors are the caller's to see
    try:
        matrix = value if isinstance(value, Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TokfreeError(
            f"aux_embeddings must return an (N, d) float array or tensor for N strings; converting its result failed ({error})"
        ) from None
    if matrix.dim() != 2 or matrix.shape[0] != len(strings) or matrix.shape[1] < 1:
        raise TokfreeError(
            f"aux_embeddings returned shape {tuple(matrix.shape)} for {len(strings)} strings; "
            f"it must return one row per string, shape ({len(strings)}, d) with d >= 1"
        )
    if not matrix.is_floating_point():
        raise TokfreeError(f"aux_embeddings returned dtype {matrix.dtype}; it must return float vectors")
    matrix = matrix.detach().to("cpu", torch.promote_types(matrix.dtype, torch.float32))
    if not bool(torch.isfinite(matrix).all()):
        raise TokfreeError("aux_embeddings returned NaN or infinite values; every row must be finite")
    return matrix


# --- estimation ---------------------------------------------------------------------------------


def _segment_softmax(x: Tensor, segment: Tensor, n: int) -> Tensor:
    """Softmax of flat `x` (P,) within each segment id of `segment` (P,) in 0..n-1."""
    top = torch.full((n,), -torch.inf, dtype=x.dtype, device=x.device).scatter_reduce(0, segment, x, reduce="amax")
    e = torch.exp(x - top[segment])
    total = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(0, segment, e)
    return e / total[segment]


def _top_k(sims: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest entries of each row of `sims` (c, C) and their columns, both (c, k); among equal
    values the smaller columns win (torch.topk leaves ties unspecified), columns in increasing order."""
    kth = sims.topk(k, dim=1).values[:, -1:]  # (c, 1)
    greater = sims > kth
    equal = sims == kth
    room = k - greater.sum(dim=1, keepdim=True)
    take = greater | (equal & (equal.cumsum(dim=1) <= room))  # exactly k per row
    where = take.nonzero()[:, 1].view(sims.shape[0], k)
    return sims.gather(1, where), where


class _Estimator:
    """Local and global estimates for the new ids in `unique`, computed chunk by chunk."""

    def __init__(
        self, e_in: Tensor, e_out: Tensor | None, old_tokenizer: Tokenizer, new_tokenizer: Tokenizer,
        old: _Vocab, new: _Vocab, unique: list[int], *, method: str, k: int, temperature: float,
        global_weight: float, threshold: float, aux_embeddings: AuxEmbedder | None,
    ) -> None:
        self.device = e_in.device
        self.dtype = torch.promote_types(e_in.dtype, torch.float32)  # float32 maths for half matrices
        self.e_in, self.e_out = e_in, e_out
        self.method, self.temperature = method, float(temperature)
        self.weight, self.threshold = float(global_weight), float(threshold)
        self.unique = torch.tensor(unique, dtype=torch.long, device=self.device)
        rows_old = e_in.shape[0]

        datas = [new.bytes_of(new_id) for new_id in unique]
        pieces = [[p for p in ids if 0 <= p < rows_old] for ids in _pieces(old_tokenizer, old, datas)]
        lengths = torch.tensor([len(ids) for ids in pieces], dtype=torch.long)
        self.offsets = torch.cat((torch.zeros(1, dtype=torch.long), lengths.cumsum(0))).tolist()
        flat = [p for ids in pieces for p in ids]
        self.piece = torch.tensor(flat, dtype=torch.long, device=self.device)  # (P,) old ids
        self.owner = torch.repeat_interleave(torch.arange(len(unique)), lengths).to(self.device)  # (P,)
        self.piece_len = torch.tensor([len(old.tokens[p]) for p in flat], dtype=self.dtype, device=self.device)  # (P,) bytes
        self.token_len = torch.tensor([len(d) for d in datas], dtype=self.dtype, device=self.device)  # (U,) bytes

        # Global candidates: every old model token with a row (special tokens are never neighbours).
        self.candidates = torch.tensor(sorted(i for i in old.tokens if i < rows_old), dtype=torch.long, device=self.device)
        self.k = min(k, len(self.candidates))
        if aux_embeddings is None:
            self.x_old = None  # X(old id) = E_in[id]; X(new) = mean of its pieces' rows
            self.x_new = None
            self.cand_unit = F.normalize(e_in[self.candidates].to(self.dtype), dim=-1)  # (C, D)
        else:
            # One call with every distinct string: old tokens (decoded as the old tokenizer decodes
            # them), then the new tokens to estimate.
            old_ids = sorted(i for i in old.tokens if i < rows_old)
            old_strings = [old_tokenizer.decode([i]) for i in old_ids]
            new_strings = [new_tokenizer.decode([i]) for i in unique]
            index: dict[str, int] = {}
            for s in old_strings + new_strings:
                index.setdefault(s, len(index))
            table = _aux_matrix(aux_embeddings, list(index)).to(self.device, self.dtype)
            self.x_old = torch.zeros((rows_old, table.shape[1]), dtype=self.dtype, device=self.device)  # (V_old, d)
            if old_ids:
                rows = torch.tensor([index[s] for s in old_strings], device=self.device)
                self.x_old[torch.tensor(old_ids, device=self.device)] = table[rows]
            self.x_new = table[torch.tensor([index[s] for s in new_strings], device=self.device)]  # (U, d)
            self.cand_unit = F.normalize(self.x_old[self.candidates], dim=-1)  # (C, d)

    def write(self, new_in: Tensor, new_out: Tensor | None, counts: dict[str, int], *, show_progress: bool) -> None:
        """Writes the estimated rows into `new_in` / `new_out` and adds their kinds to `counts`."""
        n = len(self.unique)
        width = max(len(self.candidates), self.e_in.shape[1] * 8, 1)  # ~8 pieces per token
        chunk = max(1, min(n, _CHUNK_ELEMENTS // width))
        starts = range(0, n, chunk)
        for start in tqdm(starts, desc="transplant", unit="chunk", disable=not show_progress):
            self._chunk(start, min(n, start + chunk), new_in, new_out, counts)

    def _chunk(self, a: int, b: int, new_in: Tensor, new_out: Tensor | None, counts: dict[str, int]) -> None:
        c = b - a
        lo, hi = self.offsets[a], self.offsets[b]
        owner = self.owner[lo:hi] - a  # (P,) in 0..c-1
        piece = self.piece[lo:hi]  # (P,)
        bounds = torch.tensor(self.offsets[a : b + 1], device=self.device)
        n_pieces = bounds[1:] - bounds[:-1]  # (c,) pieces per token
        has_pieces = n_pieces > 0
        rows_in = self.e_in[piece].to(self.dtype)  # (P, D)

        def mean_rows(rows: Tensor) -> Tensor:  # (P, D) -> (c, D)
            total = torch.zeros((c, rows.shape[1]), dtype=self.dtype, device=self.device).index_add_(0, owner, rows)
            return total / n_pieces.clamp(min=1).to(self.dtype)[:, None]

        matrices = [(self.e_in, new_in)] + ([(self.e_out, new_out)] if self.e_out is not None else [])
        ids = self.unique[a:b]
        if self.method == "mean":
            for old_matrix, new_matrix in matrices:
                rows = rows_in if old_matrix is self.e_in else old_matrix[piece].to(self.dtype)
                new_matrix[ids[has_pieces]] = mean_rows(rows)[has_pieces].to(new_matrix.dtype)
            counts["mean"] += int(has_pieces.sum())
            return

        if self.x_new is None:
            x_new, x_pieces, has_x = mean_rows(rows_in), rows_in, has_pieces  # (c, D), (P, D), (c,)
        else:
            x_new, x_pieces, has_x = self.x_new[a:b], self.x_old[piece], torch.ones(c, dtype=torch.bool, device=self.device)
        tau = self.temperature + _TEMPERATURE_EPS

        has_local = has_pieces if self.method in ("hybrid", "local") else torch.zeros_like(has_pieces)
        if bool(has_local.any()):
            sim = F.cosine_similarity(x_new[owner], x_pieces, dim=-1)  # (P,)
            w1 = _segment_softmax(sim, owner, c)
            share = self.piece_len[lo:hi] / self.token_len[a:b][owner]  # (P,) len(p_i) / len(s) in bytes
            w_local = _segment_softmax(((w1 + share) / 2) / tau, owner, c)  # (P,)

        has_global = has_x if self.method in ("hybrid", "global") and self.k > 0 else torch.zeros_like(has_x)
        if bool(has_global.any()):
            sims = F.normalize(x_new, dim=-1) @ self.cand_unit.T  # (c, C)
            top, where = _top_k(sims, self.k)  # (c, k)
            w_global = torch.softmax(top / tau, dim=1) * (top >= self.threshold)
            total = w_global.sum(dim=1)
            has_global = has_global & (total > 0)
            w_global = w_global / total.clamp(min=torch.finfo(self.dtype).tiny)[:, None]  # (c, k)
            neighbours = self.candidates[where]  # (c, k) old ids

        both = has_local & has_global
        if self.weight == 0.0:
            use_local, use_global, mix = has_local, has_global & ~has_local, torch.zeros_like(both)
        elif self.weight == 1.0:
            use_local, use_global, mix = has_local & ~has_global, has_global, torch.zeros_like(both)
        else:
            use_local, use_global, mix = has_local & ~both, has_global & ~both, both
        for old_matrix, new_matrix in matrices:
            rows = rows_in if old_matrix is self.e_in else old_matrix[piece].to(self.dtype)
            out = torch.zeros((c, rows.shape[1]), dtype=self.dtype, device=self.device)
            if bool(has_local.any()):
                local = torch.zeros_like(out).index_add_(0, owner, w_local[:, None] * rows)
                out = torch.where(use_local[:, None], local, out)
            if bool(has_global.any()):
                glob = torch.einsum("ck,ckd->cd", w_global, old_matrix[neighbours].to(self.dtype))
                out = torch.where(use_global[:, None], glob, out)
                if bool(mix.any()):
                    out = torch.where(mix[:, None], (1.0 - self.weight) * local + self.weight * glob, out)
            done = use_local | use_global | mix
            new_matrix[ids[done]] = out[done].to(new_matrix.dtype)
        counts["local"] += int(use_local.sum())
        counts["global"] += int(use_global.sum())
        counts["combined"] += int(mix.sum())
