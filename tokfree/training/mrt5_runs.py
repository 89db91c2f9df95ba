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


def span_pairs(texts: list[bytes], rng: random.Random) -> list[tuple[list[int], list[int]]]:
    """(input ids, target ids) of span corruption for each text."""
    return [corrupt_spans(t, sentinel_ids=SENTINELS, rng=rng) for t in texts]


def _windows(docs: list[bytes], window: int) -> list[bytes]:
    return [d[i : i + window] for d in docs for i in range(0, len(d) - window + 1, window)]


def config_for(window: int) -> MrT5Config:
    """The experiment's model: 4 encoder layers with the gate after the 2nd, 2 decoder layers, d_model 128."""
    return MrT5Config(vocab_size=ByteTokenizer.VOCAB_SIZE + N_SENTINELS, d_model=128, n_heads=4, encoder_layers=4, decoder_layers=2, gate_layer=2, max_len=window + 8)


def train_mrt5(
    docs: list[bytes], target: float | None, *, steps: int, seed: int, device: str = "cpu", batch_size: int = 16, window: int = 256,
    lr: float = 2e-3, kp: float = 0.5, ki: float = 2e-3, show_progress: bool = True,
) -> tuple[MrT5, dict[str, list[float]], float]:
    """Trains an MrT5 on span corruption; `target` None = no deletion regulariser (the baseline).

    Returns:
        The model (eval mode), its curves (ce, deletion ratio, alpha per step) and the seconds taken.
    """
    config = config_for(window)
    model = MrT5(config, device=device, seed=seed)
    gate = list(model.gate.parameters())
    rest = [p for name, p in model.named_parameters() if not name.startswith("gate.")]
    optimizer = torch.optim.AdamW([{"params": rest, "lr": lr}, {"params": gate, "lr": lr / 10}], lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    base_lrs = [lr, lr / 10]
    controller = PIController(target, kp=kp, ki=ki, delay=steps // 3, min_alpha=-1.0) if target is not None else None
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
        ids, mask, labels = collate_pairs(span_pairs(texts, rng), config, device=device)
        alpha = controller.alpha if controller is not None else 0.0
        parts = mrt5_loss(model, ids, labels, mask, alpha=alpha)
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
def evaluate(model: MrT5, pairs: list[tuple[list[int], list[int]]], *, batch_size: int = 32) -> dict[str, float]:
    """Hard-deletion (eval mode) cross-entropy per target id, deletion ratio and encoder length ratio."""
    ce_sum = n_targets = deleted = real = enc_len = inp_len = 0.0
    for start in range(0, len(pairs), batch_size):
        ids, mask, labels = collate_pairs(pairs[start : start + batch_size], model.config, device=model.device)
        parts = mrt5_loss(model, ids, labels, mask, score_weight=0.0, hard_delete=True)
        count = float((labels != model.config.pad_id).sum())
        ce_sum += float(parts.ce) * count
        n_targets += count
        encoding = model.encode(ids, mask, hard_delete=True)
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
        results.rows.append({"run": name, "target": target, "parameters": model.num_parameters(), "training s": seconds,
                             "train ratio (last 10%)": sum(curves["ratio"][-max(1, steps // 10) :]) / max(1, steps // 10),
                             "held-out deletion ratio": measured["deletion ratio"],
                             "encoder length / input": measured["encoder length / input"],
                             "held-out CE (nats/target)": measured["ce"], "loss cost": measured["ce"] / base_ce - 1})
        if out is not None:
            model.save(Path(out) / ("mrt5-" + name.replace(" ", "-")))
    return results
