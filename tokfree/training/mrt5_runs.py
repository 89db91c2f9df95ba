"""MrT5's deletion experiment (issue 7): a trained byte-level encoder-decoder, then the same model
trained on with PI-controlled deletion targets and without deletion, measured on held-out text.

Tasks ("fill" and "infill", `fill_pairs`): 15% of each `window`-byte window of the English
training text, in spans of 3 on average (T5's span sampling, `corrupt_spans`), is replaced in
place by a mask id; the decoder writes the whole original window. Input and output are aligned
byte for byte, so every output byte depends on the encoder (copied, or inferred from both sides).
"fill" scores every byte (the pretraining: the decoder learns to read the encoder); "infill"
scores only the masked bytes (the deletion runs: the encoder then contributes the context the
decoder has not read yet, and deletion has to keep what that needs). The model decodes with rotary
cross-attention (`MrT5Config.cross_rotary`: copying is then learnt in a few hundred steps) and
bounded logits in the gated attentions (`MrT5Config.logit_bound`: without them a trained model
reads deleted bytes through their e^-30 weight in soft deletion, and the deletion the training
loss sees is not the deletion inference does). ByT5's span corruption ("spans", `span_pairs`) is
kept for comparison: on it a model this small hardly uses its encoder (deleting all but one byte
per row costs about 1%), so it cannot show what deletion costs. "denoise" and "prefix" are the
other objectives tried (`task_pairs`).

Training: AdamW, warm-up then cosine, the gate head at a tenth of the learning rate. The
pretrained model runs with its gate pinned open (`open_gate`: left to the task loss, a gate
trained from scratch closes before the encoder is useful, and the decoder learns without it).
Deletion runs continue from it with `PIController(target, kp, ki, min_alpha=-1)` setting the
regulariser weight each step from the measured deletion ratio (a negative floor lets it push
gates back when the ratio overshoots; tokfree.nn.mrt5 explains why), the target ramped up from 0
(`ramp`); the reference continues for the same steps with the gate still pinned open.

Measured on the held-out pairs in eval mode (hard deletion: deleted bytes are removed and the
encoder output really is shorter): cross-entropy per target byte, the deletion ratio, the mean
encoder length relative to the input, the loss cost relative to the reference, and controls that
delete random bytes at the same ratio from the reference.
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


#: The id that stands for each masked byte in the "fill" task (the first sentinel id).
MASK_ID = SENTINELS[0]


def fill_pairs(texts: list[bytes], rng: random.Random, *, mean_span: float = 3.0) -> list[tuple[list[int], list[int]]]:
    """Fill in the blanks: 15% of the bytes, in spans of `mean_span` on average (T5's span
    sampling, `corrupt_spans`), are replaced in place by `MASK_ID`, one per byte, and the target is
    the whole original text. Input and target are aligned byte for byte, so the decoder copies
    85% of its output from the encoder and predicts the rest from both sides' context: the
    encoder matters for every byte, which is what deletion must then economise."""
    sentinels = set(SENTINELS)
    pairs = []
    for text in texts:
        source, target = corrupt_spans(text, sentinel_ids=SENTINELS, mean_span=mean_span, rng=rng)
        spans: list[int] = []  # the length of each masked span, in order
        for i in target:
            if i in sentinels:
                spans.append(0)
            else:
                spans[-1] += 1
        lengths = iter(spans)
        filled: list[int] = []
        for i in source:
            filled += [MASK_ID] * next(lengths) if i in sentinels else [i]
        pairs.append((filled, list(text)))
    return pairs


def task_pairs(task: str, texts: list[bytes], rng: random.Random, *, mean_span: float = 20.0) -> list[tuple[list[int], list[int]]]:
    """(input, target) pairs of `task`: "spans" (`span_pairs`), "fill" and "infill" (`fill_pairs`;
    "infill" scores only the masked bytes, `infill_mask`), "denoise" (`denoise_pairs`) or "prefix"
    (`prefix_pairs`)."""
    if task in ("fill", "infill"):
        return fill_pairs(texts, rng, mean_span=mean_span)
    if task == "spans":
        return span_pairs(texts, rng, mean_span=mean_span)
    if task == "denoise":
        return denoise_pairs(texts, rng, mean_span=mean_span)
    if task == "prefix":
        return prefix_pairs(texts)
    raise TokfreeError(f"task={task!r}: choose 'spans', 'fill', 'infill', 'denoise' or 'prefix'")


def infill_mask(input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The label positions an "infill" run scores: the masked bytes (inputs and labels of
    `fill_pairs` are aligned, so label t was masked when input t is `MASK_ID`)."""
    return input_ids[:, : labels.shape[1]] == MASK_ID


def _windows(docs: list[bytes], window: int) -> list[bytes]:
    return [d[i : i + window] for d in docs for i in range(0, len(d) - window + 1, window)]


def config_for(window: int, *, score_cap: float = 5.0, cross_rotary: bool = False, logit_bound: float | None = None) -> MrT5Config:
    """The experiment's model: 4 encoder layers with the gate after the 2nd, 2 decoder layers, d_model 128."""
    return MrT5Config(vocab_size=ByteTokenizer.VOCAB_SIZE + N_SENTINELS, d_model=128, n_heads=4, encoder_layers=4, decoder_layers=2, gate_layer=2,
                      max_len=window + 8, score_cap=score_cap, cross_rotary=cross_rotary,
                      logit_bound=logit_bound)


def train_mrt5(
    docs: list[bytes], target: float | None, *, steps: int, seed: int, device: str = "cpu", batch_size: int = 16, window: int = 256,
    lr: float = 2e-3, kp: float = 0.5, ki: float = 2e-3, show_progress: bool = True, mean_span: float = 20.0,
    init: MrT5 | None = None, delay: int | None = None, task: str = "spans", gate_bias_trainable: bool = True,
    score_cap: float = 5.0, score_weight: float = 1.0, open_gate: bool = False, cross_rotary: bool = False, ramp: int = 0,
    logit_bound: float | None = None,
) -> tuple[MrT5, dict[str, list[float]], float]:
    """Trains an MrT5 on span corruption; `target` None = no deletion regulariser (the baseline).

    `init` continues from a trained model's weights (a copy; the paper's MrT5 starts from ByT5),
    `delay` is the controller's wait in steps (None: a third of the steps). `open_gate` pins every
    gate at 0 (nothing deleted, the gate head unused): the no-deletion baseline. Left to the task
    loss alone, a gate trained from scratch closes while the encoder's output is still noise, and
    the decoder then learns to do without the encoder (a 2400-step run ends with all but one byte
    per row deleted), which leaves nothing for deletion to cost. `ramp` raises the controller's
    target linearly from 0 to `target` over that many steps after the delay, so the layers around
    the gate adapt to a growing deletion instead of losing half their input at once.

    Returns:
        The model (eval mode), its curves (ce, deletion ratio, alpha per step) and the seconds taken.
    """
    config = config_for(window, score_cap=score_cap, cross_rotary=cross_rotary, logit_bound=logit_bound) if init is None else init.config
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
        pinned = torch.zeros(ids.shape, device=ids.device) if open_gate else None
        scored = infill_mask(ids, labels) if task == "infill" else None
        parts = mrt5_loss(model, ids, labels, mask, alpha=alpha, score_weight=score_weight, gate=pinned, loss_mask=scored)
        optimizer.zero_grad(set_to_none=True)
        parts.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if controller is not None:
            if ramp:
                controller.target = target * min(1.0, max(0, step + 1 - wait) / ramp)
            controller.update(parts.deletion_ratio)
        curves["ce"].append(float(parts.ce.detach()))
        curves["ratio"].append(parts.deletion_ratio)
        curves["alpha"].append(alpha)
        bar.set_postfix(ce=f"{curves['ce'][-1]:.3f}", deleted=f"{parts.deletion_ratio:.2f}")
    model.eval()
    return model, curves, time.perf_counter() - started


@torch.no_grad()
def evaluate(
    model: MrT5, pairs: list[tuple[list[int], list[int]]], *, batch_size: int = 32, control: str | None = None, rate: float = 0.5, seed: int = 0,
    infill: bool = False,
) -> dict[str, float]:
    """Hard-deletion (eval mode) cross-entropy per target id, deletion ratio and encoder length ratio,
    and the soft-deletion cross-entropy of the same model and gate ("soft ce": equal to "ce" unless
    soft deletion lets the model read bytes that hard deletion removes).

    `control` replaces the gate head's decisions (the controls of the deletion experiment):
    "open" deletes nothing (a model trained with `open_gate`), "random" deletes a seeded random
    `rate` share of the real bytes, "all" deletes every byte (hard deletion then keeps one byte per
    row: what the decoder gets from an encoder reduced to one position). None uses the model's own
    gate. `infill` scores only the masked bytes (`infill_mask`).
    """
    if control not in (None, "open", "random", "all"):
        raise TokfreeError(f"control={control!r}: choose None, 'open', 'random' or 'all'")
    generator = torch.Generator().manual_seed(seed)
    k = model.config.gate_scale
    ce_sum = soft_sum = n_targets = deleted = real = enc_len = inp_len = 0.0
    for start in range(0, len(pairs), batch_size):
        ids, mask, labels = collate_pairs(pairs[start : start + batch_size], model.config, device=model.device)
        gate = None
        if control == "open":
            gate = torch.zeros(ids.shape, device=model.device)
        elif control == "all":
            gate = torch.full(ids.shape, k, device=model.device)
        elif control == "random":
            drop = torch.rand(ids.shape, generator=generator) < rate
            gate = torch.where(drop, k, 0.0).to(model.device)
        scored = infill_mask(ids, labels) if infill else None
        parts = mrt5_loss(model, ids, labels, mask, score_weight=0.0, hard_delete=True, gate=gate, loss_mask=scored)
        soft = mrt5_loss(model, ids, labels, mask, score_weight=0.0, hard_delete=False, gate=gate, loss_mask=scored)
        count = float((labels != model.config.pad_id).sum()) if scored is None else float(scored.sum())
        ce_sum += float(parts.ce) * count
        soft_sum += float(soft.ce) * count
        n_targets += count
        encoding = model.encode(ids, mask, hard_delete=True, gate=gate)
        deleted += float(encoding.deleted.sum())
        real += float(encoding.input_mask.sum())
        enc_len += float(encoding.key_mask.sum())
        inp_len += float(mask.sum())
    return {"ce": ce_sum / n_targets, "soft ce": soft_sum / n_targets, "deletion ratio": deleted / real,
            "encoder length / input": enc_len / inp_len}


def _row(name: str, target: float | None, model: MrT5, measured: dict[str, float], reference: float) -> dict[str, object]:
    return {"run": name, "target": target, "parameters": model.num_parameters(), "training s": None, "train ratio (last 10%)": None,
            "train steps within 0.1 of target (last third)": None, "held-out deletion ratio": measured["deletion ratio"],
            "encoder length / input": measured["encoder length / input"], "held-out CE (nats/target)": measured["ce"],
            "soft-deletion CE": measured["soft ce"], "loss cost": measured["ce"] / reference - 1}


def run_all(
    train: list[str], heldout: list[str], *, steps: int, continue_steps: int, seed: int, device: str = "cpu", out: Path | None = None,
    targets: tuple[float, ...] = (0.3, 0.5), window: int = 128, mean_span: float = 3.0, logit_bound: float = 8.0,
    show_progress: bool = True, task: str = "infill", heldout_windows: int = 512,
) -> MrT5Results:
    """Issue 7's deletion experiment, as the paper runs it: deletion is added to a trained model.

    1. Pretrain on "fill" (`fill_pairs`: write the whole window back) with the gate pinned open,
       `steps` steps (rotary cross-attention, gated attentions with bounded logits): the decoder
       learns to read the encoder.
    2. From that model, `continue_steps` more steps each on `task` ("infill": score only the masked
       bytes; or "fill"): without deletion (the reference, the same compute), and per target with
       the PI controller (the target ramped up over the first two thirds).
    3. Held-out (hard deletion): cross-entropy per scored byte, deletion ratio, encoder length;
       the soft-deletion cross-entropy of the same model (equal to the hard one unless soft
       deletion leaks); the reference with a seeded random share of bytes deleted at each target's
       reached ratio, and with all but one byte per row deleted (how much the decoder needs the
       encoder).
    4. Why not span corruption: the same pretraining on ByT5's span corruption (spans of 20), with
       the all-but-one-byte control: its decoder barely uses the encoder at this scale.

    Held-out: `heldout_windows` windows taken evenly from the consecutive windows of `heldout`.
    Saves each model under `out/mrt5-<name>/`.
    """
    train_bytes = [d.encode("utf-8") for d in train]
    windows = _windows([d.encode("utf-8") for d in heldout], window)
    windows = windows[:: max(1, len(windows) // heldout_windows)][:heldout_windows]  # spread over every document
    pairs = fill_pairs(windows, random.Random(seed + 1), mean_span=mean_span)
    if task not in ("fill", "infill"):
        raise TokfreeError(f"run_all task={task!r}: choose 'infill' or 'fill'")
    results = MrT5Results(settings={"steps": steps, "continue_steps": continue_steps, "seed": seed, "window": window, "task": task,
                                    "heldout_pairs": len(pairs), "mean_span": mean_span, "logit_bound": logit_bound})
    common = {"seed": seed, "device": device, "window": window, "show_progress": show_progress}
    infill = task == "infill"
    base, curves, seconds = train_mrt5(train_bytes, None, steps=steps, open_gate=True, cross_rotary=True, logit_bound=logit_bound,
                                       task="fill", mean_span=mean_span, **common)
    results.curves["pretraining"] = curves
    results.settings["pretraining s"] = seconds
    if out is not None:
        base.save(Path(out) / "mrt5-pretrained")
    reference = None
    trained: dict[str, tuple[MrT5, dict[str, float]]] = {}
    for target in (None, *targets):
        name = "no deletion" if target is None else f"target {target}"
        model, curves, seconds = train_mrt5(train_bytes, target, steps=continue_steps, init=base, open_gate=target is None,
                                            delay=continue_steps // 20, ramp=2 * continue_steps // 3, task=task, mean_span=mean_span,
                                            **common)
        measured = evaluate(model, pairs, control="open" if target is None else None, infill=infill)
        reference = measured["ce"] if reference is None else reference
        results.curves[name] = curves
        tail = curves["ratio"][-max(1, continue_steps // 3) :]
        row = _row(name, target, model, measured, reference)
        row["training s"] = seconds
        row["train ratio (last 10%)"] = sum(curves["ratio"][-max(1, continue_steps // 10) :]) / max(1, continue_steps // 10)
        if target is not None:
            row["train steps within 0.1 of target (last third)"] = sum(abs(r - target) <= 0.1 for r in tail) / len(tail)
        results.rows.append(row)
        trained[name] = (model, measured)
        if out is not None:
            model.save(Path(out) / ("mrt5-" + name.replace(" ", "-")))
    no_deletion = trained["no deletion"][0]
    for row in results.rows[1:]:  # the paper's control: the reference with random bytes deleted at the reached ratio
        cut = evaluate(no_deletion, pairs, control="random", rate=row["held-out deletion ratio"], seed=seed, infill=infill)
        row["random deletion at that ratio: loss cost"] = cut["ce"] / reference - 1
    everything = evaluate(no_deletion, pairs, control="all", infill=infill)
    results.rows.append(_row("no deletion, all but 1 byte/row deleted at test", None, no_deletion, everything, reference))
    span_model, _, _ = train_mrt5(train_bytes, None, steps=steps, open_gate=True, task="spans", mean_span=20.0, **common)
    span_pairs_ = span_pairs(windows, random.Random(seed + 1), mean_span=20.0)
    kept, cut = evaluate(span_model, span_pairs_, control="open"), evaluate(span_model, span_pairs_, control="all")
    results.settings["span corruption"] = {"ce": kept["ce"], "all but 1 byte/row deleted ce": cut["ce"], "cost": cut["ce"] / kept["ce"] - 1}
    return results
