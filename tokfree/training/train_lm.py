"""Trains a small `CausalLM` over a tokfree tokenizer's ids, and measures held-out bits per byte.

Data: every document is encoded on its own (special-token text inside a document is plain text)
and the encodings are joined into one stream, with the *separator* id before each document and
after the last: `[S] doc1 [S] doc2 ... [S]`. The separator is the tokenizer's end-of-text special
token (the first of `EOS_TOKENS` it has), so the same id serves as beginning-of-text when the model
is asked about the start of a document. Training windows of `seq_len + 1` tokens start at uniformly
random offsets of the stream (so windows usually start mid-document, and the model learns to
continue without seeing the separator).

Optimisation: AdamW (betas 0.9/0.95, weight decay on matrices only), linear warm-up then a cosine
decay to a tenth of `lr`, gradient clipping at 1.0. With a seed, a CPU run is deterministic: the
same seed gives the same weights bit for bit on the same machine and torch build.

Held-out evaluation (`evaluate_lm`): the held-out stream is cut into consecutive windows of
`seq_len` predicted tokens (each window's first token is predicted from the previous token only);
the loss sums -log p over every token after the first separator, separators included (the model
pays for knowing where a document ends), and bits per byte = total nats / ln 2 / the UTF-8 bytes of
the held-out documents. It is comparable across vocabularies: the same bytes, whatever the ids.

`train_lm_pair` trains tokenizers of several vocabulary sizes (by default 1k and 4k BPE with the
gpt4 pre-tokenizer) and one model per tokenizer on the same text, for the byte-level conversion and
ensembles. The CLI is `python -m tokfree.training.train_lm` (see `main`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from tokfree.errors import TokfreeError
from tokfree.nn.lm import CausalLM, CausalLMConfig
from tokfree.training.fim import FIM_TOKENS, fim_token_ids, fim_window
from tokfree.tokenizer import Tokenizer

__all__ = [
    "EOS_TOKENS",
    "EvalPoint",
    "TrainingLog",
    "evaluate_lm",
    "main",
    "read_texts",
    "separator_id",
    "token_stream",
    "train_lm",
    "train_lm_pair",
]

#: End-of-text special tokens, in the order `separator_id` looks for them.
EOS_TOKENS = ("<|endoftext|>", "</s>", "<|end|>", "<eos>", "<|eos|>")


@dataclass(frozen=True)
class EvalPoint:
    """One held-out evaluation."""

    step: int
    loss: float  # nats per predicted token
    bits_per_byte: float


@dataclass
class TrainingLog:
    """What happened during `train_lm`; `to_dict()` is JSON-ready."""

    steps: int
    batch_size: int
    seq_len: int
    lr: float
    seed: int
    parameters: int
    train_tokens: int  # tokens in the training stream
    tokens_seen: int  # steps * batch_size * seq_len
    seconds: float = 0.0
    train_loss: list[float] = field(default_factory=list)  # per step, nats per token
    evals: list[EvalPoint] = field(default_factory=list)
    heldout_tokens: int = 0
    heldout_bytes: int = 0

    @property
    def heldout_loss(self) -> float | None:
        """The last held-out loss in nats per token (None without held-out text)."""
        return self.evals[-1].loss if self.evals else None

    @property
    def heldout_bits_per_byte(self) -> float | None:
        """The last held-out bits per byte (None without held-out text)."""
        return self.evals[-1].bits_per_byte if self.evals else None

    def to_dict(self) -> dict[str, object]:
        """The log as a dict, with the held-out summary."""
        out = asdict(self)
        out["heldout_loss"] = self.heldout_loss
        out["heldout_bits_per_byte"] = self.heldout_bits_per_byte
        return out


def separator_id(tokenizer: Tokenizer) -> int:
    """The id joining documents: the tokenizer's first special token in `EOS_TOKENS`.

    Raises:
        TokfreeError: the tokenizer has none of them (train it with
            `special_tokens=["<|endoftext|>"]`, or pass `separator_id=` explicitly).
    """
    specials = tokenizer.special_tokens
    for name in EOS_TOKENS:
        if name in specials:
            return specials[name]
    raise TokfreeError(
        f"the tokenizer has no end-of-text special token (looked for {', '.join(EOS_TOKENS)}); "
        'train it with special_tokens=["<|endoftext|>"] or pass separator_id='
    )


def token_stream(tokenizer: Tokenizer, texts: Sequence[str], *, separator: int) -> np.ndarray:
    """`[S] doc1 [S] doc2 ... [S]` as an int64 array (see the module docstring).

    Example:
        >>> import tokfree
        >>> tok = tokfree.train_bpe(iter(["ab ab"] * 10), 260, special_tokens=["<|endoftext|>"], show_progress=False)
        >>> token_stream(tok, ["ab", "ab"], separator=0).tolist() == [0, *tok.encode("ab"), 0, *tok.encode("ab"), 0]
        True
    """
    encoded = tokenizer.encode_batch(list(texts), allowed_special=(), disallowed_special=())
    parts: list[np.ndarray] = []
    for ids in encoded:
        parts.append(np.array([separator], dtype=np.int64))
        parts.append(np.asarray(ids, dtype=np.int64))
    parts.append(np.array([separator], dtype=np.int64))
    return np.concatenate(parts)


def _windows(stream: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive (inputs, targets, mask) windows of `seq_len` predictions covering stream[1:]."""
    predicted = len(stream) - 1
    n = max(1, math.ceil(predicted / seq_len))
    inputs = np.zeros((n, seq_len), dtype=np.int64)
    targets = np.zeros((n, seq_len), dtype=np.int64)
    mask = np.zeros((n, seq_len), dtype=bool)
    for i in range(n):
        chunk = stream[i * seq_len : i * seq_len + seq_len + 1]
        k = len(chunk) - 1
        inputs[i, :k], targets[i, :k], mask[i, :k] = chunk[:-1], chunk[1:], True
    return inputs, targets, mask


@torch.no_grad()
def _check_heldout(texts: list[str], model: CausalLM, seq_len: int, *, caller: str) -> int:
    """The UTF-8 bytes of held-out `texts`; raises `TokfreeError` on no text or seq_len above max_len."""
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    if not texts or n_bytes == 0:
        raise TokfreeError(f"{caller} got no held-out text; pass at least one non-empty document")
    if seq_len > model.config.max_len:
        raise TokfreeError(f"seq_len {seq_len} is above the model's max_len {model.config.max_len}; lower seq_len")
    return n_bytes


def evaluate_lm(
    model: CausalLM,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    *,
    seq_len: int,
    batch_size: int = 16,
    separator: int | None = None,
) -> tuple[float, float, int, int]:
    """Held-out loss of `model` on `texts` (see the module docstring for the exact definition).

    Args:
        model: the model (evaluated in eval mode, on its own device).
        tokenizer: the tokenizer it was trained with.
        texts: the held-out documents.
        seq_len: predictions per window (at most the model's max_len).
        batch_size: windows per forward pass.
        separator: the document separator id (None: `separator_id(tokenizer)`).

    Returns:
        (nats per predicted token, bits per UTF-8 byte, predicted tokens, bytes).

    Raises:
        TokfreeError: no held-out text, or seq_len above the model's max_len.
    """
    texts = list(texts)
    n_bytes = _check_heldout(texts, model, seq_len, caller="evaluate_lm")
    sep = separator_id(tokenizer) if separator is None else separator
    inputs, targets, mask = _windows(token_stream(tokenizer, texts, separator=sep), seq_len)
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(inputs), batch_size):
        x = torch.from_numpy(inputs[start : start + batch_size]).to(model.device)
        y = torch.from_numpy(targets[start : start + batch_size]).to(model.device)
        m = torch.from_numpy(mask[start : start + batch_size]).to(model.device)
        logits = model(x).double()  # right padding needs no mask: a real position never sees a later one
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        total += float(nll[m.reshape(-1)].sum())
    model.train(was_training)
    tokens = int(mask.sum())
    return total / tokens, total / math.log(2) / n_bytes, tokens, n_bytes


def _lr_at(step: int, *, steps: int, lr: float, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train_lm(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    config: CausalLMConfig,
    *,
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    seed: int,
    device: str | torch.device = "cpu",
    show_progress: bool = True,
    heldout: Sequence[str] | None = None,
    eval_every: int = 0,
    warmup: int | None = None,
    weight_decay: float = 0.1,
    separator: int | None = None,
    fim_rate: float = 0.0,
    init: CausalLM | None = None,
) -> tuple[CausalLM, TrainingLog]:
    """Trains a `CausalLM` from scratch on `texts` encoded by `tokenizer`.

    Args:
        tokenizer: the tokenizer; its ids must fit `config.vocab_size`.
        texts: the training documents (see the module docstring for how they are joined).
        config: the model shape.
        steps: optimizer steps.
        batch_size: windows per step.
        seq_len: predicted tokens per window (at most config.max_len).
        lr: the peak learning rate (3e-3 suits the ~1-3M parameter models here).
        seed: seeds the initialisation, the window sampling and dropout.
        device: where to train ("cpu", "cuda", ...); CUDA runs under bf16 autocast.
        show_progress: show a tqdm bar with the loss.
        heldout: held-out documents; when given, evaluated at the end (and every `eval_every` steps).
        eval_every: evaluate every this many steps too (0: only at the end).
        warmup: linear warm-up steps (None: min(100, steps // 10)).
        weight_decay: AdamW weight decay on weight matrices and embeddings (not on norms).
        separator: the document separator id (None: `separator_id(tokenizer)`).
        fim_rate: the share of training rows turned into fill-in-the-middle examples (SPM order,
            split at a token boundary; see `tokfree.training.fim`); the tokenizer needs the FIM
            special tokens. 0 trains a plain left-to-right model.
        init: fine-tune this model (its config must equal `config`; it is trained in place and
            moved to `device`) instead of training a fresh one.

    Returns:
        The trained model in eval mode, and its `TrainingLog`.

    Raises:
        TokfreeError: vocabulary larger than config.vocab_size, seq_len above config.max_len, bad
            step/batch values, or less text than one window.

    Example:
        >>> import tokfree
        >>> docs = ["def f(x):\\n    return x + 1\\n"] * 50
        >>> tok = tokfree.train_bpe(iter(docs), 300, special_tokens=["<|endoftext|>"], show_progress=False)
        >>> config = CausalLMConfig(vocab_size=tok.vocab_size, d_model=32, n_layers=1, n_heads=2, max_len=32)
        >>> model, log = train_lm(tok, docs, config, steps=5, batch_size=2, seq_len=16, lr=3e-3, seed=0, show_progress=False)
        >>> len(log.train_loss)
        5
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("seq_len", seq_len)):
        if not isinstance(value, int) or value < 1:
            raise TokfreeError(f"{name} is {value!r}; it must be a positive integer")
    if not lr > 0:
        raise TokfreeError(f"lr is {lr!r}; it must be positive")
    if tokenizer.vocab_size > config.vocab_size:
        raise TokfreeError(
            f"the tokenizer has {tokenizer.vocab_size} ids but config.vocab_size is {config.vocab_size}; "
            "set vocab_size to at least the tokenizer's"
        )
    if seq_len > config.max_len:
        raise TokfreeError(f"seq_len {seq_len} is above config.max_len {config.max_len}; raise max_len or lower seq_len")
    if not 0.0 <= fim_rate <= 1.0:
        raise TokfreeError(f"fim_rate is {fim_rate!r}; it must be in [0, 1]")
    fim_ids = fim_token_ids(tokenizer) if fim_rate > 0 else None
    sep = separator_id(tokenizer) if separator is None else separator
    stream = token_stream(tokenizer, list(texts), separator=sep)
    if len(stream) < seq_len + 1:
        raise TokfreeError(f"the training text is {len(stream)} tokens, fewer than one window of {seq_len + 1}; lower seq_len or add text")

    torch.manual_seed(seed)  # dropout
    if init is not None and init.config != config:
        raise TokfreeError(f"init has config {init.config}, not {config}; pass config=init.config")
    model = CausalLM(config, device=device, seed=seed) if init is None else init.to(device)
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.95),
    )
    warmup = min(100, steps // 10) if warmup is None else warmup
    rng = np.random.default_rng(seed)
    stream_t = torch.from_numpy(stream)
    offsets = torch.arange(seq_len + 1)
    log = TrainingLog(
        steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, seed=seed, parameters=model.num_parameters(),
        train_tokens=len(stream), tokens_seen=steps * batch_size * seq_len,
    )  # fmt: skip

    def evaluate(step: int) -> None:
        assert heldout is not None
        loss, bpb, tokens, n_bytes = evaluate_lm(model, tokenizer, heldout, seq_len=seq_len, batch_size=batch_size, separator=sep)
        log.evals.append(EvalPoint(step, loss, bpb))
        log.heldout_tokens, log.heldout_bytes = tokens, n_bytes

    start = time.perf_counter()
    bar = tqdm(range(steps), desc="training", unit="step", disable=not show_progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, steps=steps, lr=lr, warmup=warmup, min_ratio=0.1)
        starts_np = rng.integers(0, len(stream) - seq_len, size=batch_size)
        window = stream_t[torch.from_numpy(starts_np)[:, None] + offsets[None, :]]  # (B, seq_len + 1)
        inputs, targets = window[:, :-1].clone(), window[:, 1:].clone()
        if fim_ids is not None:
            for row in np.flatnonzero(rng.random(batch_size) < fim_rate):
                x, y = fim_window(stream, int(starts_np[row]), seq_len, rng, fim_ids=fim_ids, separator=sep)
                inputs[row], targets[row] = torch.from_numpy(x), torch.from_numpy(y)
        logits = model(inputs.to(model.device))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.to(model.device).reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            warnings.warn(f"training loss is {value} at step {step}; lower lr", RuntimeWarning, stacklevel=2)
        log.train_loss.append(value)
        bar.set_postfix(loss=f"{value:.3f}")
        if heldout is not None and eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            evaluate(step + 1)
    bar.close()
    log.seconds = time.perf_counter() - start
    model.eval()
    if heldout is not None:
        evaluate(steps)
    return model, log


def train_lm_pair(
    folder: str | os.PathLike[str],
    texts: Sequence[str],
    heldout: Sequence[str],
    *,
    vocab_sizes: Iterable[int] = (1024, 4096),
    pre_tokenizer: str = "gpt4",
    d_model: int = 128,
    n_layers: int = 4,
    n_heads: int = 4,
    steps: int = 400,
    batch_size: int = 16,
    seq_len: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    show_progress: bool = True,
    fim_rate: float = 0.0,
) -> dict[int, TrainingLog]:
    """Trains one BPE tokenizer and one `CausalLM` per vocabulary size on the same text, and saves them.

    Each goes to `folder/bpe-<size>/`: `tokenizer.json` (special token `<|endoftext|>` at id 0,
    which is the separator and the beginning-of-text id; with `fim_rate` > 0 also the `FIM_TOKENS`
    at ids 1-3), `config.json` + `model.safetensors`, and
    `training.json` (the `TrainingLog`, held-out bits per byte included). Models share every
    setting but the vocabulary.

    Args:
        folder: the output folder (created).
        texts: training documents (tokenizers and models both train on them).
        heldout: held-out documents, for bits per byte.
        vocab_sizes: one model per size.
        pre_tokenizer: the BPE pre-tokenizer preset.
        d_model, n_layers, n_heads: the model shape (max_len = seq_len).
        steps, batch_size, seq_len, lr, seed, device, show_progress, fim_rate: as for `train_lm`.

    Returns:
        Vocabulary size -> its `TrainingLog`.

    Example:
        >>> logs = train_lm_pair("runs/code-pair", train_docs, heldout_docs)  # doctest: +SKIP
        >>> {size: round(log.heldout_bits_per_byte, 3) for size, log in logs.items()}  # doctest: +SKIP
    """
    from tokfree.trainers.bpe import train_bpe

    out = Path(folder)
    texts, heldout = list(texts), list(heldout)
    logs: dict[int, TrainingLog] = {}
    for size in vocab_sizes:
        specials = ["<|endoftext|>", *(FIM_TOKENS if fim_rate > 0 else ())]
        tokenizer = train_bpe(iter(texts), size, pre_tokenizer=pre_tokenizer, special_tokens=specials, show_progress=show_progress)
        config = CausalLMConfig(vocab_size=tokenizer.vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads, max_len=seq_len)
        model, log = train_lm(
            tokenizer, texts, config, steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, seed=seed,
            device=device, show_progress=show_progress, heldout=heldout, fim_rate=fim_rate,
        )  # fmt: skip
        target = out / f"bpe-{size}"
        target.mkdir(parents=True, exist_ok=True)
        tokenizer.save(target / "tokenizer.json")
        model.save(target)
        _write_log(target / "training.json", log, tokenizer)
        logs[size] = log
    return logs


def _write_log(path: Path, log: TrainingLog, tokenizer: Tokenizer) -> None:
    document = {"tokenizer_vocab_size": tokenizer.vocab_size, **log.to_dict()}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def read_texts(path: str | os.PathLike[str]) -> list[str]:
    """The documents in a `.txt` file (one document), a `.jsonl`/`.jsonl.gz` file (one per line,
    field "text"), or every such file under a folder (sorted).

    Raises:
        TokfreeError: the path does not exist or holds no such file.
    """
    from tokfree._corpora import read_documents

    p = Path(path)
    if p.is_file():
        return read_documents(p)
    if not p.is_dir():
        raise TokfreeError(f"{p} does not exist; pass a .txt/.jsonl/.jsonl.gz file or a folder of them")
    files = [f for f in sorted(p.rglob("*")) if f.is_file() and (f.suffix == ".txt" or f.name.endswith((".jsonl", ".jsonl.gz")))]
    if not files:
        raise TokfreeError(f"{p} holds no .txt, .jsonl or .jsonl.gz file")
    return [doc for f in files for doc in read_documents(f)]


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: train one model for a tokenizer file, or a pair of BPE vocabularies with their models.

    Examples:
        python -m tokfree.training.train_lm --tokenizer tok.json --data corpus/ --heldout-fraction 0.05 --out runs/lm
        python -m tokfree.training.train_lm --pair 1024,4096 --data data/_domain/code/train.jsonl.gz \\
            --heldout data/_domain/code/heldout.jsonl.gz --out runs/code-pair
    """
    parser = argparse.ArgumentParser(prog="python -m tokfree.training.train_lm", description=main.__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--tokenizer", help="a tokenizer file (HF tokenizer.json or tokfree JSON) with an end-of-text special token")
    which.add_argument("--pair", metavar="SIZES", help="comma-separated BPE vocabulary sizes to train, e.g. 1024,4096")
    parser.add_argument("--data", required=True, help="training text: a .txt/.jsonl/.jsonl.gz file or a folder of them")
    parser.add_argument("--heldout", help="held-out text (same forms as --data)")
    parser.add_argument("--heldout-fraction", type=float, default=0.0, help="without --heldout: hold out this share of the documents (the last ones)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--pre-tokenizer", default="gpt4", help="--pair: the BPE pre-tokenizer preset (default gpt4)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per training window (also the model's max_len)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--n-heads", type=int, default=4)
    parser.add_argument("--max-len", type=int, help="--tokenizer: the model's longest input (default: --seq-len)")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--fim-rate", type=float, default=0.0, help="share of rows trained as fill-in-the-middle examples (--pair adds the FIM special tokens)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    try:
        texts = read_texts(args.data)
        if args.heldout:
            heldout: list[str] | None = read_texts(args.heldout)
        elif args.heldout_fraction > 0:
            cut = len(texts) - max(1, round(len(texts) * args.heldout_fraction))
            texts, heldout = texts[:cut], texts[cut:]
        else:
            heldout = None
        show = not args.quiet
        if args.pair:
            if heldout is None:
                raise TokfreeError("--pair needs held-out text: pass --heldout or --heldout-fraction")
            sizes = [int(s) for s in args.pair.split(",") if s.strip()]
            logs = train_lm_pair(
                args.out, texts, heldout, vocab_sizes=sizes, pre_tokenizer=args.pre_tokenizer, d_model=args.d_model,
                n_layers=args.n_layers, n_heads=args.n_heads, steps=args.steps, batch_size=args.batch_size,
                seq_len=args.seq_len, lr=args.lr, seed=args.seed, device=args.device, show_progress=show, fim_rate=args.fim_rate,
            )  # fmt: skip
            for size, log in logs.items():
                _report(f"bpe-{size}", log)
            return 0
        tokenizer = Tokenizer.from_file(args.tokenizer)
        config = CausalLMConfig(
            vocab_size=tokenizer.vocab_size, d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads,
            max_len=args.max_len or args.seq_len, dropout=args.dropout,
        )  # fmt: skip
        model, log = train_lm(
            tokenizer, texts, config, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
            seed=args.seed, device=args.device, show_progress=show, heldout=heldout, fim_rate=args.fim_rate,
        )  # fmt: skip
        out = Path(args.out)
        model.save(out)
        tokenizer.save(out / "tokenizer.json")
        _write_log(out / "training.json", log, tokenizer)
        _report(str(out), log)
    except TokfreeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _report(name: str, log: TrainingLog) -> None:
    bpb = f"{log.heldout_bits_per_byte:.4f}" if log.heldout_bits_per_byte is not None else "n/a"
    loss = f"{log.heldout_loss:.4f}" if log.heldout_loss is not None else "n/a"
    print(
        f"{name}: {log.parameters:,} parameters, {log.steps} steps x {log.batch_size} x {log.seq_len} tokens in "
        f"{log.seconds:.1f} s; final train loss {log.train_loss[-1]:.4f}; held-out {loss} nats/token, {bpb} bits/byte"
    )


if __name__ == "__main__":
    sys.exit(main())
