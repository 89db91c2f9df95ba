"""Trains the tokenizer-free models and their baselines at matched backbone compute, and measures
bits per byte on held-out text, clean and with seeded typos (issue 7's comparison).

Matched backbone compute: every language model has the same backbone (a causal transformer of
`Budget.d_model` x `Budget.n_layers`) and runs it on the same number of positions per step
(`batch_size` x `positions`) for the same number of steps. What a position is differs:

* `byte`: a `CausalLM` over bytes (a 257-id tokenizer: 256 bytes + `<|endoftext|>`); a position
  is a byte, so a window is `positions` bytes.
* `bpe`: the same `CausalLM` over our byte-level BPE (gpt4 pre-tokenizer); a window is
  `positions` tokens.
* `pool`: `WordPoolLM` (bytes pooled into words by learned queries, word backbone, per-word byte
  decoder); a window is `positions` words.
* `hat`: `HierarchicalLM` (causal byte encoder, word backbone, byte decoder guided by the previous
  word's backbone state); a window is `positions` words.

So in the same compute the word models read ~5x the bytes of the byte model per step: that is the
point of shortening the sequence the backbone sees. The byte encoders/decoders of `pool` and
`hat` are extra compute, reported as parameters and training time next to the result.

Held-out bits per byte (`heldout_bits_per_byte`): every byte of the held-out documents is scored
once, in consecutive windows of the model's own training window (the token models by
`evaluate_lm`, which also pays for each document's end token: 1 token per document, negligible),
so the numbers are comparable: the same bytes, whatever the unit. Noise robustness, two ways: the
same measurement on the held-out documents after `typo_noise(rate, seed)` (which also charges the
typos themselves, unpredictable for every model), and `continuation_bits_per_byte`: the clean text
that follows a context with typos (`continuation_pairs`), against the same text after the clean
context, which isolates how much a damaged input hurts the model's reading of it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from tokfree.errors import TokfreeError
from tokfree.nn.hierarchical import HierarchicalLM, HierarchicalLMConfig
from tokfree.nn.lm import CausalLM, CausalLMConfig
from tokfree.nn.pooling import WordPoolLM, WordPoolLMConfig
from tokfree.tokenizer import Tokenizer
from tokfree.training.train_lm import evaluate_lm, separator_id, train_lm
from tokfree.words import word_boundaries_batch

__all__ = ["Budget", "ContinuationPair", "ModelRun", "WORD_MODELS", "NoiseSplit", "continuation_bits_per_byte", "continuation_pairs", "heldout_bits_per_byte", "noise_split", "noisy_docs", "train_bpe_baseline", "train_byte_baseline", "train_word_model", "unit_losses", "unit_starts", "word_windows"]

#: The word-level models this module trains, by name.
WORD_MODELS = ("pool", "hat")


@dataclass(frozen=True)
class Budget:
    """The shared training budget and backbone shape (see the module docstring)."""

    steps: int = 600
    batch_size: int = 16
    positions: int = 128
    lr: float = 3e-3
    seed: int = 0
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_byte: int = 128
    max_word_bytes: int = 16


@dataclass
class ModelRun:
    """One trained model's measurements."""

    name: str
    parameters: int
    seconds: float
    train_loss: list[float] = field(default_factory=list)  # nats per byte (word models) or per token (token models)
    heldout_bpb: float | None = None
    noisy_bpb: float | None = None
    continuation_bpb: float | None = None  # clean continuations after clean contexts
    noisy_context_bpb: float | None = None  # the same continuations after contexts with typos
    noise: dict[str, float] | None = None  # `NoiseSplit` fields
    bytes_per_position: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# --- windows of words ----------------------------------------------------------------------------


def word_windows(docs: Sequence[str], n_words: int, *, max_word_bytes: int) -> list[bytes]:
    """Each document cut into consecutive windows of `n_words` words (the last one shorter); every
    byte lands in exactly one window."""
    if n_words < 1:
        raise TokfreeError(f"n_words={n_words}: a window needs at least one word")
    out: list[bytes] = []
    for doc, bounds in zip(docs, word_boundaries_batch(list(docs), max_bytes=max_word_bytes)):
        data = doc.encode("utf-8")
        for k in range(0, len(bounds) - 1, n_words):
            out.append(data[bounds[k] : bounds[min(k + n_words, len(bounds) - 1)]])
    return out


class _WordSampler:
    """Random windows of `n_words` consecutive words from the training documents (uniform over
    word starts)."""

    def __init__(self, docs: Sequence[str], n_words: int, max_word_bytes: int, seed: int) -> None:
        self.data = [d.encode("utf-8") for d in docs]
        self.bounds = [np.asarray(b, dtype=np.int64) for b in word_boundaries_batch(list(docs), max_bytes=max_word_bytes)]
        starts = np.array([max(0, len(b) - 1 - n_words) for b in self.bounds], dtype=np.float64)
        if starts.sum() == 0:
            raise TokfreeError(f"no training document has more than {n_words} words; add text or lower positions")
        self.weights = starts / starts.sum()
        self.n_words = n_words
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int) -> list[bytes]:
        docs = self.rng.choice(len(self.data), size=batch_size, p=self.weights)
        out = []
        for i in docs:
            b = self.bounds[i]
            k = int(self.rng.integers(0, len(b) - 1 - self.n_words))
            out.append(self.data[i][b[k] : b[k + self.n_words]])
        return out


# --- training -------------------------------------------------------------------------------------


def _lr(step: int, budget: Budget) -> float:
    warmup = min(100, budget.steps // 10)
    if step < warmup:
        return budget.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, budget.steps - warmup)
    return budget.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_word_model(
    kind: str, train_docs: Sequence[str], budget: Budget, *, device: str = "cpu", show_progress: bool = True
) -> tuple[WordPoolLM | HierarchicalLM, ModelRun]:
    """Trains a `WordPoolLM` ("pool") or `HierarchicalLM` ("hat") on windows of `budget.positions`
    words; the loss is nats per byte of the window (no end of text: windows are cut from longer text)."""
    if kind not in WORD_MODELS:
        raise TokfreeError(f"kind={kind!r}: choose one of {WORD_MODELS}")
    b = budget
    common = dict(d_model=b.d_model, n_layers=b.n_layers, n_heads=b.n_heads, d_byte=b.d_byte, n_byte_heads=2, max_word_bytes=b.max_word_bytes,
                  n_encoder_layers=1, n_decoder_layers=2)
    torch.manual_seed(b.seed)
    if kind == "pool":
        model: WordPoolLM | HierarchicalLM = WordPoolLM(WordPoolLMConfig(**common, max_words=b.positions), device=device, seed=b.seed)
    else:
        config = HierarchicalLMConfig(**common, max_words=b.positions, max_bytes=b.positions * b.max_word_bytes)
        model = HierarchicalLM(config, device=device, seed=b.seed)
    sampler = _WordSampler(train_docs, b.positions, b.max_word_bytes, b.seed)
    return model, _fit(model, kind, sampler.sample, b, show_progress)


def _fit(model: torch.nn.Module, name: str, sample: Callable[[int], list[bytes]], b: Budget, show_progress: bool) -> ModelRun:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=b.lr, betas=(0.9, 0.95))
    run = ModelRun(name, sum(p.numel() for p in model.parameters()), 0.0)
    model.train()
    started = time.perf_counter()
    n_bytes = 0
    bar = tqdm(range(b.steps), desc=f"training {name}", unit="step", disable=not show_progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, b)
        batch = model.make_batch(sample(b.batch_size))
        loss = model.nll(batch, end_of_text=False).sum() / batch.n_bytes
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        n_bytes += batch.n_bytes
        run.train_loss.append(float(loss.detach()))
        bar.set_postfix(bpb=f"{run.train_loss[-1] / math.log(2):.3f}")
    run.seconds = time.perf_counter() - started
    run.bytes_per_position = n_bytes / (b.steps * b.batch_size * b.positions)
    model.eval()
    return run


def _byte_tokenizer(train_docs: Sequence[str]) -> Tokenizer:
    from tokfree.trainers.bpe import train_bpe

    return train_bpe(iter(train_docs[:1]), 257, pre_tokenizer="none", special_tokens=["<|endoftext|>"], show_progress=False)


def _train_token_model(name: str, tokenizer: Tokenizer, train_docs: Sequence[str], budget: Budget, device: str, show_progress: bool) -> tuple[CausalLM, ModelRun]:
    b = budget
    config = CausalLMConfig(vocab_size=tokenizer.vocab_size, d_model=b.d_model, n_layers=b.n_layers, n_heads=b.n_heads, max_len=b.positions)
    model, log = train_lm(
        tokenizer, list(train_docs), config, steps=b.steps, batch_size=b.batch_size, seq_len=b.positions, lr=b.lr, seed=b.seed,
        device=device, show_progress=show_progress,
    )  # fmt: skip
    sample = list(train_docs[: max(1, len(train_docs) // 10)])
    tokens = sum(len(ids) for ids in tokenizer.encode_batch(sample, allowed_special=(), disallowed_special=()))
    run = ModelRun(name, model.num_parameters(), log.seconds, log.train_loss, bytes_per_position=sum(len(d.encode()) for d in sample) / tokens)
    return model, run


def train_byte_baseline(train_docs: Sequence[str], budget: Budget, *, device: str = "cpu", show_progress: bool = True) -> tuple[CausalLM, Tokenizer, ModelRun]:
    """The byte-level `CausalLM` (windows of `positions` bytes)."""
    tok = _byte_tokenizer(train_docs)
    model, run = _train_token_model("byte", tok, train_docs, budget, device, show_progress)
    return model, tok, run


def train_bpe_baseline(
    train_docs: Sequence[str], budget: Budget, *, vocab_size: int = 4096, device: str = "cpu", show_progress: bool = True
) -> tuple[CausalLM, Tokenizer, ModelRun]:
    """Our BPE (gpt4 pre-tokenizer, `vocab_size`) and a `CausalLM` over it (windows of `positions` tokens)."""
    from tokfree.trainers.bpe import train_bpe

    tok = train_bpe(iter(train_docs), vocab_size, pre_tokenizer="gpt4", special_tokens=["<|endoftext|>"], show_progress=show_progress)
    model, run = _train_token_model("bpe", tok, train_docs, budget, device, show_progress)
    return model, tok, run


# --- evaluation -----------------------------------------------------------------------------------


@torch.no_grad()
def heldout_bits_per_byte(model: torch.nn.Module, docs: Sequence[str], budget: Budget, *, tokenizer: Tokenizer | None = None, batch_size: int = 8) -> float:
    """Bits per byte of `docs` (see the module docstring): token models (`tokenizer` given) through
    `evaluate_lm` with windows of `positions` tokens, word models over windows of `positions` words."""
    if tokenizer is not None:
        _, bpb, _, _ = evaluate_lm(model, tokenizer, list(docs), seq_len=budget.positions, batch_size=batch_size)
        return bpb
    windows = word_windows(docs, budget.positions, max_word_bytes=budget.max_word_bytes)
    total, n_bytes = 0.0, 0
    for start in range(0, len(windows), batch_size):
        batch = model.make_batch(windows[start : start + batch_size])
        total += float(model.nll(batch, end_of_text=False).sum())
        n_bytes += batch.n_bytes
    return total / math.log(2) / n_bytes


@dataclass(frozen=True)
class ContinuationPair:
    """A held-out context and the clean text after it; `noisy_context` is the context after typos."""

    context: str
    noisy_context: str
    target: str


def _is_cut(doc: str, i: int) -> bool:
    # " " + letter after a non-space: every model's unit boundary (a gpt4 pre-token starts at the
    # space, a HAT word too), so enc(context) + enc(target) is the encoding of their concatenation.
    return doc[i] == " " and i + 1 < len(doc) and doc[i + 1].isalpha() and i > 0 and not doc[i - 1].isspace()


def continuation_pairs(docs: Sequence[str], *, rate: float, seed: int, context_chars: int = 160, target_chars: int = 32) -> list[ContinuationPair]:
    """Consecutive (context, target) pairs from each document, both ending at a word start: the
    context runs from the first word start at or after `context_chars` before the cut, the target
    to the first word start at or after `target_chars` past it. The context alone gets
    `typo_noise(rate, seed=seed + k)` for the k-th pair; the target stays clean."""
    from tokfree.eval.noise import typo_noise

    pairs: list[ContinuationPair] = []
    for doc in docs:
        cuts = [i for i in range(len(doc)) if _is_cut(doc, i)]
        at = 0
        for cut in cuts:
            if cut < context_chars or cut < at:
                continue
            end = next((c for c in cuts if c >= cut + target_chars), None)
            if end is None:
                break
            start = next(c for c in cuts if c >= cut - context_chars)
            context = doc[start + 1 : cut]  # from the word itself, not its leading space
            noisy = typo_noise(context, rate, seed=seed + len(pairs))[0]
            pairs.append(ContinuationPair(context, noisy, doc[cut:end]))
            at = end
    return pairs


@torch.no_grad()
def continuation_bits_per_byte(
    model: torch.nn.Module, pairs: Sequence[ContinuationPair], *, noisy: bool, tokenizer: Tokenizer | None = None, batch_size: int = 16
) -> float:
    """Bits per byte of the clean targets given the (clean or noisy) contexts, each pair as the start
    of a text (BOS / separator + context + target; only the target's bytes are scored).

    Token models (`tokenizer` given) score enc(target)'s tokens after enc(context) (the pairs cut
    at pre-token boundaries, so that is the text's own encoding); a context too long for the
    model's window loses tokens from its start, as a sliding window would. Word models (causal):
    nll(context + target) - nll(context)."""
    total, n_bytes = 0.0, 0
    was_training = model.training
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        contexts = [p.noisy_context if noisy else p.context for p in chunk]
        n_bytes += sum(len(p.target.encode()) for p in chunk)
        if tokenizer is None:
            # Autoregressive: -log p(target | context) = nll(context + target) - nll(context).
            whole = model.nll(model.make_batch([c + p.target for c, p in zip(contexts, chunk)]), end_of_text=False)
            total += float(whole.double().sum() - model.nll(model.make_batch(contexts), end_of_text=False).double().sum())
            continue
        sep = separator_id(tokenizer)
        limit = model.config.max_len
        rows, scored = [], []
        for c, p in zip(contexts, chunk):
            ctx = [sep, *tokenizer.encode(c, allowed_special=(), disallowed_special=())]
            tgt = tokenizer.encode(p.target, allowed_special=(), disallowed_special=())
            if len(tgt) >= limit:
                raise TokfreeError(f"a continuation of {len(tgt)} tokens does not fit the model's window of {limit}; use shorter targets")
            ids = (ctx + tgt)[-(limit + 1) :]
            rows.append(ids)
            scored.append(len(tgt))
        width = max(len(r) for r in rows) - 1
        x = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            x[i, : len(r) - 1] = torch.tensor(r[:-1])
        logp = F.log_softmax(model(x.to(model.device)).double(), dim=-1)
        for i, (r, k) in enumerate(zip(rows, scored)):
            positions = torch.arange(len(r) - 1 - k, len(r) - 1, device=logp.device)
            total -= float(logp[i, positions, torch.tensor(r[-k:], device=logp.device)].sum())
    model.train(was_training)
    return total / math.log(2) / n_bytes


def unit_starts(text: str) -> list[int]:
    """Byte offsets where each whitespace unit starts: unit 0 is what precedes the first whitespace
    character, unit k one whitespace character and the non-space run after it (maybe empty).
    `typo_noise` keeps every whitespace character and only them, so a clean text and its noisy
    version have the same number of units, unit k of one matching unit k of the other (even when
    a typo drops a whole one-letter word)."""
    starts, at = [0], 0
    for ch in text:
        if ch.isspace() and at:
            starts.append(at)
        at += len(ch.encode("utf-8"))
    return starts


def _to_units(starts: list[int], offsets: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """Sums `losses` into the units their byte `offsets` fall in."""
    units = np.searchsorted(np.asarray(starts), offsets, side="right") - 1
    return np.bincount(units, weights=losses, minlength=len(starts))


@torch.no_grad()
def unit_losses(model: torch.nn.Module, docs: Sequence[str], budget: Budget, *, tokenizer: Tokenizer | None = None, batch_size: int = 8) -> list[np.ndarray]:
    """The nats of each whitespace unit (`unit_starts`) of each document, from exactly the windows
    `heldout_bits_per_byte` scores: a token model's tokens go to the unit holding their first byte
    (the separators between documents to none), a `HierarchicalLM`'s bytes to their unit, a
    `WordPoolLM`'s words (bytes and end of word) to the unit holding the word."""
    was_training = model.training
    model.eval()
    starts = [unit_starts(d) for d in docs]
    out = [np.zeros(len(s)) for s in starts]
    if tokenizer is not None:
        from tokfree.training.train_lm import _windows

        sep = separator_id(tokenizer)
        encoded = [tokenizer.encode(d, allowed_special=(), disallowed_special=(), offsets=True) for d in docs]
        stream, owner, offset = [sep], [-1], [0]
        for k, e in enumerate(encoded):
            stream += list(e.ids) + [sep]
            owner += [k] * len(e.ids) + [-1]
            offset += [a for a, _ in e.offsets] + [0]
        stream_arr = np.asarray(stream, dtype=np.int64)
        inputs, targets, mask = _windows(stream_arr, budget.positions)
        nll = np.zeros(inputs.size)
        for start in range(0, len(inputs), batch_size):
            x = torch.from_numpy(inputs[start : start + batch_size]).to(model.device)
            y = torch.from_numpy(targets[start : start + batch_size]).to(model.device)
            logits = model(x).double()
            part = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none").cpu().numpy()
            nll[start * budget.positions : start * budget.positions + part.size] = part
        predicted = nll[mask.reshape(-1)]  # stream positions 1, 2, ... in order
        owner_arr, offset_arr = np.asarray(owner[1:]), np.asarray(offset[1:])
        for k in range(len(docs)):
            here = owner_arr == k
            out[k] = _to_units(starts[k], offset_arr[here], predicted[here])
        model.train(was_training)
        return out
    for k, doc in enumerate(docs):
        windows = word_windows([doc], budget.positions, max_word_bytes=budget.max_word_bytes)
        begins = np.cumsum([0] + [len(w) for w in windows[:-1]])
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            batch = model.make_batch(chunk)
            if isinstance(model, WordPoolLM):
                result = model(batch, end_of_text=False)
                flat = F.cross_entropy(result.logits.reshape(-1, result.logits.shape[-1]), result.targets.reshape(-1), ignore_index=-100, reduction="none")
                per_word = flat.view(result.targets.shape).sum(-1).double().cpu().numpy()  # (B, W + 1)
                for row, window in enumerate(chunk):
                    bounds = word_boundaries_batch([window.decode("utf-8")], max_bytes=budget.max_word_bytes)[0]
                    firsts = begins[start + row] + np.asarray(bounds[:-1])
                    out[k] += _to_units(starts[k], firsts, per_word[row, : len(firsts)])
            else:
                logp = F.log_softmax(model(batch).double(), dim=-1)
                for row, window in enumerate(chunk):
                    targets = torch.tensor(list(window), device=logp.device)
                    per_byte = -logp[row, torch.arange(len(window), device=logp.device), targets].cpu().numpy()
                    out[k] += _to_units(starts[k], begins[start + row] + np.arange(len(window)), per_byte)
    model.train(was_training)
    return out


@dataclass(frozen=True)
class NoiseSplit:
    """Bits per byte of the units typos left intact and of the ones they damaged, in the clean and
    in the noisy text (each over its own text's bytes of those units)."""

    intact_clean: float
    intact_noisy: float
    damaged_clean: float
    damaged_noisy: float
    intact_share: float  # of the clean bytes


def noise_split(model: torch.nn.Module, clean: Sequence[str], noisy: Sequence[str], budget: Budget, *, tokenizer: Tokenizer | None = None) -> NoiseSplit:
    """`unit_losses` of the clean and the noisy documents, pooled over the units that are equal in
    both (intact) and the ones that differ (damaged)."""
    clean_losses = unit_losses(model, clean, budget, tokenizer=tokenizer)
    noisy_losses = unit_losses(model, noisy, budget, tokenizer=tokenizer)
    sums = np.zeros((2, 2))  # [intact, damaged] x [clean, noisy] nats
    sizes = np.zeros((2, 2))  # the same in bytes
    for c_text, n_text, c_loss, n_loss in zip(clean, noisy, clean_losses, noisy_losses):
        c_data, n_data = c_text.encode("utf-8"), n_text.encode("utf-8")
        c_starts, n_starts = unit_starts(c_text) + [len(c_data)], unit_starts(n_text) + [len(n_data)]
        if len(c_starts) != len(n_starts):
            raise TokfreeError("the noisy text must keep the clean text's whitespace (typo_noise / ocr_noise do)")
        for k in range(len(c_loss)):
            c_unit, n_unit = c_data[c_starts[k] : c_starts[k + 1]], n_data[n_starts[k] : n_starts[k + 1]]
            row = 0 if c_unit == n_unit else 1
            sums[row] += (c_loss[k], n_loss[k])
            sizes[row] += (len(c_unit), len(n_unit))
    bpb = sums / np.maximum(sizes, 1) / math.log(2)
    return NoiseSplit(float(bpb[0, 0]), float(bpb[0, 1]), float(bpb[1, 0]), float(bpb[1, 1]), float(sizes[0, 0] / sizes[:, 0].sum()))


def noisy_docs(docs: Sequence[str], rate: float, seed: int) -> list[str]:
    """`typo_noise` of every document (seeds `seed`, `seed + 1`, ...)."""
    from tokfree.eval.noise import typo_noise

    return [typo_noise(doc, rate, seed=seed + i)[0] for i, doc in enumerate(docs)]


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
