"""MrT5 on English span corruption: the same model trained without deletion and with PI-controlled
deletion targets, measured on held-out text (issue 7's deletion experiment).

Task: ByT5's span corruption (`corrupt_spans`: 15% of the bytes in spans of 20 on average,
sentinels after the 259 byte-tokenizer ids) on `window`-byte windows of the training documents;
held-out windows are cut consecutively from the held-out documents with a fixed seed, so every run
sees the same evaluation pairs.

Training: AdamW, the gate head at a tenth of the learning rate (its bias starts high so every byte
is kept; a fast gate deletes everything in one step), the controller off for the first third of
the steps (the task loss settles first), then `PIController(target, kp, ki, min_alpha=-1)` sets
the regulariser weight each step from the measured deletion ratio (a negative floor lets it push
gates back when the ratio overshoots; tokfree.nn.mrt5 explains why). The baseline is the same
model and data with alpha = 0 throughout: it deletes only what the task loss alone gives up.

Measured on the held-out pairs in eval mode (hard deletion: deleted bytes are removed and the
encoder output really is shorter): cross-entropy per target byte, the deletion ratio, the mean
encoder length relative to the input, and the loss cost relative to the baseline.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from tokfree.errors import TokfreeError
from tokfree.nn.byte_tokenizer import ByteTokenizer
from tokfree.nn.mrt5 import MrT5, MrT5Config, PIController, collate_pairs, corrupt_spans, mrt5_loss

__all__ = ["MrT5Results", "config_for", "evaluate", "run_all", "span_pairs", "train_mrt5"]

#: Sentinel ids for the masked spans: after the byte tokenizer's ids.
N_SENTINELS = 16
SENTINELS = list(range(ByteTokenizer.VOCAB_SIZE, ByteTokenizer.VOCAB_SIZE + N_SENTINELS))


@dataclass
class MrT5Results:
    """Per run: a summary row and the per-step training curves."""

    rows: list[dict[str, object]] = field(default_factory=list)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)


def span_pairs(texts: list[bytes], rng: random.Random, *, mean_span: float = 20.0) -> list[tuple[list[int], list[int]]]:
    """(input ids, target ids) of span corruption (15% of the bytes, spans of `mean_span` on average) for each text."""
    return [corrupt_spans(t, sentinel_ids=SENTINELS, mean_span=mean_span, rng=rng) for t in texts]


#: Bytes the decoder writes in the "prefix" task (the rest of the window is the encoder's input).
PREFIX_TARGET = 64


def prefix_pairs(texts: list[bytes]) -> list[tuple[list[int], list[int]]]:
    """T5's prefix-LM objective: the encoder reads all but the last `PREFIX_TARGET` bytes of each
    text, the decoder writes those (windows start anywhere, so the cut usually falls mid-word)."""
    return [(list(t[:-PREFIX_TARGET]), list(t[-PREFIX_TARGET:])) for t in texts]


def denoise_pairs(texts: list[bytes], rng: random.Random, *, mean_span: float = 20.0) -> list[tuple[list[int], list[int]]]:
    """BART-style denoising: the span-corrupted text in, the whole original text out (most target
    bytes are copies of input bytes, so the decoder depends on the encoder for nearly everything)."""
    return [(corrupt_spans(t, sentinel_ids=SENTINELS, mean_span=mean_span, rng=rng)[0], list(t)) for t in texts]


def task_pairs(task: str, texts: list[bytes], rng: random.Random, *, mean_span: float = 20.0) -> list[tuple[list[int], list[int]]]:
    """(input, target) pairs of `task`: "spans" (`span_pairs`), "denoise" (`denoise_pairs`) or "prefix" (`prefix_pairs`)."""
    if task == "spans":
        return span_pairs(texts, rng, mean_span=mean_span)
    if task == "denoise":
        return denoise_pairs(texts, rng, mean_span=mean_span)
    if task == "prefix":
        return prefix_pairs(texts)
    raise TokfreeError(f"task={task!r}: choose 'spans', 'denoise' or 'prefix'")


def _windows(docs: list[bytes], window: int) -> list[bytes]:
    return [d[i : i + window] for d in docs for i in range(0, len(d) - window + 1, window)]


def config_for(window: int, *, score_cap: float = 5.0) -> MrT5Config:
    """The experiment's model: 4 encoder layers with the gate after the 2nd, 2 decoder layers, d_model 128."""
    return MrT5Config(vocab_size=ByteTokenizer.VOCAB_SIZE + N_SENTINELS, d_model=128, n_heads=4, encoder_layers=4, decoder_layers=2, gate_layer=2,
                      max_len=window + 8, score_cap=score_cap)


def train_mrt5(
    docs: list[bytes], target: float | None, *, steps: int, seed: int, device: str = "cpu", batch_size: int = 16, window: int = 256,
    lr: float = 2e-3, kp: float = 0.5, ki: float = 2e-3, show_progress: bool = True, mean_span: float = 20.0,
    init: MrT5 | None = None, delay: int | None = None, task: str = "spans", gate_bias_trainable: bool = True,
    score_cap: float = 5.0, score_weight: float = 1.0,
) -> tuple[MrT5, dict[str, list[float]], float]:
    """Trains an MrT5 on span corruption; `target` None = no deletion regulariser (the baseline).

    `init` continues from a trained model's weights (a copy; the paper's MrT5 starts from ByT5),
    `delay` is the controller's wait in steps (None: a third of the steps).

    Returns:
        The model (eval mode), its curves (ce, deletion ratio, alpha per step) and the seconds taken.
    """
    config = config_for(window, score_cap=score_cap)
    model = MrT5(config, device=device, seed=seed)
    if init is not None:
        model.load_state_dict(init.state_dict())
    model.gate.proj.bias.requires_grad_(gate_bias_trainable)
    gate = [p for p in model.gate.parameters() if p.requires_grad]
    rest = [p for name, p in model.named_parameters() if not name.startswith("gate.")]
    optimizer = torch.optim.AdamW([{"params": rest, "lr": lr}, {"params": gate, "lr": lr / 10}], lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    base_lrs = [lr, lr / 10]
    wait = steps // 3 if delay is None else delay
    controller = PIController(target, kp=kp, ki=ki, delay=wait, min_alpha=-1.0) if target is not None else None
    rng = random.Random(seed)
    weights = [max(0, len(d) - window) for d in docs]
    curves: dict[str, list[float]] = {"ce": [], "ratio": [], "alpha": []}
    model.train()
    started = time.perf_counter()
    warmup = max(1, steps // 20)
    bar = tqdm(range(steps), desc=f"MrT5 target={target}", unit="step", disable=not show_progress)
    for step in bar:
        scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * scale
        texts = []
        for i in rng.choices(range(len(docs)), weights=weights, k=batch_size):
            start = rng.randrange(len(docs[i]) - window)
            texts.append(docs[i][start : start + window])
        ids, mask, labels = collate_pairs(task_pairs(task, texts, rng, mean_span=mean_span), config, device=device)
        alpha = controller.alpha if controller is not None else 0.0
        parts = mrt5_loss(model, ids, labels, mask, alpha=alpha, score_weight=score_weight)
        optimizer.zero_grad(set_to_none=True)
        parts.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if controller is not None:
            controller.update(parts.deletion_ratio)
        curves["ce"].append(float(parts.ce.detach()))
        curves["ratio"].append(parts.deletion_ratio)
        curves["alpha"].append(alpha)
        bar.set_postfix(ce=f"{curves['ce'][-1]:.3f}", deleted=f"{parts.deletion_ratio:.2f}")
    model.eval()
    return model, curves, time.perf_counter() - started


@torch.no_grad()
def evaluate(
    model: MrT5, pairs: list[tuple[list[int], list[int]]], *, batch_size: int = 32, control: str | None = None, rate: float = 0.5, seed: int = 0
) -> dict[str, float]:
    """Hard-deletion (eval mode) cross-entropy per target id, deletion ratio and encoder length ratio.

    `control` replaces the gate head's decisions (the controls of the deletion experiment):
    "random" deletes a seeded random `rate` share of the real bytes, "all" deletes every byte (hard
    deletion then keeps one byte per row: what the decoder gets from an encoder reduced to one
    position). None uses the model's own gate.
    """
    if control not in (None, "random", "all"):
        raise TokfreeError(f"control={control!r}: choose None, 'random' or 'all'")
    generator = torch.Generator().manual_seed(seed)
    k = model.config.gate_scale
    ce_sum = n_targets = deleted = real = enc_len = inp_len = 0.0
    for start in range(0, len(pairs), batch_size):
        ids, mask, labels = collate_pairs(pairs[start : start + batch_size], model.config, device=model.device)
        gate = None
        if control == "all":
            gate = torch.full(ids.shape, k, device=model.device)
        elif control == "random":
            drop = torch.rand(ids.shape, generator=generator) < rate
            gate = torch.where(drop, k, 0.0).to(model.device)
        parts = mrt5_loss(model, ids, labels, mask, score_weight=0.0, hard_delete=True, gate=gate)
        count = float((labels != model.config.pad_id).sum())
        ce_sum += float(parts.ce) * count
        n_targets += count
        encoding = model.encode(ids, mask, hard_delete=True, gate=gate)
        deleted += float(encoding.deleted.sum())
        real += float(encoding.input_mask.sum())
        enc_len += float(encoding.key_mask.sum())
        inp_len += float(mask.sum())
    return {"ce": ce_sum / n_targets, "deletion ratio": deleted / real, "encoder length / input": enc_len / inp_len}


def run_all(
    train: list[str], heldout: list[str], *, steps: int, seed: int, device: str = "cpu", out: Path | None = None,
    targets: tuple[float, ...] = (0.3, 0.5), window: int = 256,
) -> MrT5Results:
    """The baseline and one run per deletion target; saves each model under `out/mrt5-<name>/`."""
    train_bytes = [d.encode("utf-8") for d in train]
    pairs = span_pairs(_windows([d.encode("utf-8") for d in heldout], window), random.Random(seed + 1))
    results = MrT5Results(settings={"steps": steps, "seed": seed, "window": window, "heldout_pairs": len(pairs)})
    base_ce = None
    for target in (None, *targets):
        name = "no deletion" if target is None else f"target {target}"
        model, curves, seconds = train_mrt5(train_bytes, target, steps=steps, seed=seed, device=device, window=window)
        measured = evaluate(model, pairs)
        if target is None:
            base_ce = measured["ce"]
        results.curves[name] = curves
        last = curves["ratio"][-max(1, steps // 3) :]
        steady = None if target is None else sum(abs(r - target) <= 0.1 for r in last) / len(last)
        results.rows.append({"run": name, "target": target, "parameters": model.num_parameters(), "training s": seconds,
                             "train ratio (last 10%)": sum(curves["ratio"][-max(1, steps // 10) :]) / max(1, steps // 10),
                             "held-out deletion ratio": measured["deletion ratio"],
                             "encoder length / input": measured["encoder length / input"],
                             "train steps within 0.1 of target (last third)": steady,
                             "held-out CE (nats/target)": measured["ce"], "loss cost": measured["ce"] / base_ce - 1})
        if target is None:  # how much the encoder's kept bytes matter: the baseline with its gate overridden
            for control, label in (("random", "no deletion, random 50% deleted at test"), ("all", "no deletion, all but 1 byte/row deleted at test")):
                m = evaluate(model, pairs, control=control, seed=seed)
                results.rows.append({"run": label, "target": None, "parameters": model.num_parameters(), "training s": None,
                                     "train ratio (last 10%)": None, "held-out deletion ratio": m["deletion ratio"],
                                     "encoder length / input": m["encoder length / input"], "train steps within 0.1 of target (last third)": None,
                                     "held-out CE (nats/target)": m["ce"], "loss cost": m["ce"] / base_ce - 1})
        if out is not None:
            model.save(Path(out) / ("mrt5-" + name.replace(" ", "-")))
    return results
