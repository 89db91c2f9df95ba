"""Tokenizer-free models against byte-level and BPE baselines on held-out English (issue 7), in one
command: bits per byte at matched backbone compute, robustness to seeded typos, MrT5's deletion
ratio and its loss cost, and throughput / memory on the device present.

    .venv/bin/python benchmarks/byte_models.py [--steps 600] [--batch-size 8] [--positions 64] [--noise 0.05]
        [--heldout-bytes 12000] [--mrt5-steps 800] [--mrt5-continue-steps 1500] [--reuse-lms]
        [--out benchmarks/.corpus/byte-models]

Data: `domain_documents(data, "english", ...)` (public-domain novels, data/_domain/SOURCE.md):
the training split to train, the first `--heldout-bytes` bytes of every held-out document (cut at
a line end) to measure. Models and the matched-compute rule: `tokfree.training.byte_models`. MrT5:
`tokfree.training.mrt5_runs` (a pretrained model on the "fill" task, continued without deletion
and with PI-controlled deletion targets). Weights go to `--out/<model>/` (safetensors + JSON
config). `--reuse-lms` takes section 1 from the last run that trained the language models
instead of retraining them (25 minutes), and says so in the report.

Writes `benchmarks/results/byte_models.md`, `byte_models.png` (training curves, clean vs noisy
bits per byte) and `byte_models_mrt5.png`; `--results DIR` elsewhere.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import torch  # noqa: E402

from tokfree._corpora import domain_documents  # noqa: E402
from tokfree.training import byte_models as bm  # noqa: E402
from tokfree.training import mrt5_runs  # noqa: E402
from tokfree.words import word_boundaries_batch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RESULTS = Path(__file__).resolve().parent / "results"
LN2 = math.log(2)
ORDER = ("byte", "bpe", "pool", "hat")
LABELS = {"byte": "byte-level CausalLM", "bpe": "BPE-4096 CausalLM", "pool": "WordPoolLM (query pooling)", "hat": "HierarchicalLM (HAT)"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def heldout_slice(docs: list[str], limit: int) -> list[str]:
    out = []
    for doc in docs:
        if len(doc.encode()) <= limit:
            out.append(doc)
            continue
        cut = doc.encode()[:limit].decode("utf-8", errors="ignore")
        out.append(cut[: cut.rfind("\n") + 1] or cut)
    return out


def train_all(train: list[str], heldout: list[str], noisy: list[str], pairs: list[bm.ContinuationPair], budget: bm.Budget, out: Path,
              device: str) -> dict[str, bm.ModelRun]:
    runs: dict[str, bm.ModelRun] = {}
    for name in ORDER:
        log(f"training {name}")
        tokenizer = None
        if name == "byte":
            model, tokenizer, run = bm.train_byte_baseline(train, budget, device=device)
        elif name == "bpe":
            model, tokenizer, run = bm.train_bpe_baseline(train, budget, device=device)
        else:
            model, run = bm.train_word_model(name, train, budget, device=device)
        started = time.perf_counter()
        run.heldout_bpb = bm.heldout_bits_per_byte(model, heldout, budget, tokenizer=tokenizer)
        run.noisy_bpb = bm.heldout_bits_per_byte(model, noisy, budget, tokenizer=tokenizer)
        run.noise = asdict(bm.noise_split(model, heldout, noisy, budget, tokenizer=tokenizer))
        run.continuation_bpb = bm.continuation_bits_per_byte(model, pairs, noisy=False, tokenizer=tokenizer)
        run.noisy_context_bpb = bm.continuation_bits_per_byte(model, pairs, noisy=True, tokenizer=tokenizer)
        log(f"  {name}: {run.heldout_bpb:.4f} bits/byte clean, {run.noisy_bpb:.4f} noisy, continuations {run.continuation_bpb:.4f} "
            f"after clean / {run.noisy_context_bpb:.4f} after noisy contexts ({time.perf_counter() - started:.0f} s to evaluate)")
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        model.save(target)
        if tokenizer is not None:
            tokenizer.save(target / "tokenizer.json")
        runs[name] = run
    return runs


def context_cost(run: bm.ModelRun) -> float:
    """Relative increase of the clean continuation's bits/byte when its context has typos."""
    return run.noisy_context_bpb / run.continuation_bpb - 1


def lm_rows(runs: dict[str, bm.ModelRun]) -> list[dict]:
    bpe = runs["bpe"].heldout_bpb
    rows = []
    for name in ORDER:
        r = runs[name]
        rows.append({"model": LABELS[name], "parameters": r.parameters, "bytes per backbone position": r.bytes_per_position,
                     "training s": r.seconds, "held-out bits/byte": r.heldout_bpb, "vs BPE": r.heldout_bpb / bpe - 1,
                     "with typos": r.noisy_bpb, "typo cost": r.noisy_bpb / r.heldout_bpb - 1,
                     "continuation": r.continuation_bpb, "after noisy context": r.noisy_context_bpb,
                     "context typo cost": context_cost(r),
                     "intact words": f"{r.noise['intact_clean']:.3f} -> {r.noise['intact_noisy']:.3f}",
                     "intact-word typo cost": r.noise["intact_noisy"] / r.noise["intact_clean"] - 1,
                     "damaged words": f"{r.noise['damaged_clean']:.3f} -> {r.noise['damaged_noisy']:.3f}",
                     "damaged-word typo cost": r.noise["damaged_noisy"] / r.noise["damaged_clean"] - 1})
    return rows


def plot_lms(runs: dict[str, bm.ModelRun], budget: bm.Budget, path: Path) -> None:
    plt = harness._pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    colors = {"byte": "#d95f02", "bpe": "#7570b3", "pool": "#e7298a", "hat": "#1b9e77"}
    for name in ORDER:
        r = runs[name]
        loss = r.train_loss if name in bm.WORD_MODELS else [x / r.bytes_per_position for x in r.train_loss]  # nats/token -> nats/byte
        window = 25
        smooth = [sum(loss[max(0, i - window + 1) : i + 1]) / len(loss[max(0, i - window + 1) : i + 1]) / LN2 for i in range(len(loss))]
        axes[0].plot(range(1, len(loss) + 1), smooth, label=LABELS[name], color=colors[name])
    axes[0].set_xlabel(f"step ({budget.batch_size} x {budget.positions} backbone positions each)")
    axes[0].set_ylabel("training bits/byte (25-step mean)")
    axes[0].set_title("training at matched backbone compute", fontsize=10)
    axes[0].set_ylim(top=4)
    axes[0].legend(fontsize=8)
    xs = range(len(ORDER))
    bars_of = (("held-out text", "#1b9e77", lambda r: r.heldout_bpb), ("the same text with 5% typos", "#d95f02", lambda r: r.noisy_bpb),
               ("its intact words, clean", "#7570b3", lambda r: r.noise["intact_clean"]),
               ("its intact words, amid typos", "#e7298a", lambda r: r.noise["intact_noisy"]))
    width = 0.2
    for i, (label, color, value) in enumerate(bars_of):
        bars = axes[1].bar([x + (i - 1.5) * width for x in xs], [value(runs[n]) for n in ORDER], width * 0.95, label=label, color=color)
        axes[1].bar_label(bars, fmt="%.2f", fontsize=6)
    axes[1].set_xticks(list(xs), [LABELS[n].split(" (")[0] for n in ORDER], fontsize=8)
    axes[1].set_ylabel("bits/byte")
    axes[1].set_title("held-out bits/byte: clean, with typos, and on the words typos left intact", fontsize=10)
    axes[1].legend(fontsize=7, loc="upper center", ncol=2)
    axes[1].set_ylim(0, 1.3 * max(r.noisy_bpb for r in runs.values()))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_mrt5(results: mrt5_runs.MrT5Results, path: Path) -> None:
    """Deletion ratio and cross-entropy per step: pretraining, then each run continued from it."""
    plt = harness._pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    targets = {r["run"]: r["target"] for r in results.rows}
    smooth = lambda xs: [sum(xs[max(0, i - 19) : i + 1]) / len(xs[max(0, i - 19) : i + 1]) for i in range(len(xs))]  # noqa: E731
    offset = len(results.curves.get("pretraining", {}).get("ce", []))
    for name, curves in results.curves.items():
        start = 0 if name == "pretraining" else offset
        steps = range(start, start + len(curves["ce"]))
        line = axes[1].plot(steps, smooth(curves["ce"]), label=name, color="grey" if name == "pretraining" else None)[0]
        if name == "pretraining":
            continue
        axes[0].plot(steps, smooth(curves["ratio"]), label=name, color=line.get_color())
        if targets.get(name) is not None:
            axes[0].axhline(targets[name], color=line.get_color(), linestyle=":", linewidth=1)
    axes[0].set_title("MrT5: training deletion ratio (20-step mean; dotted: target)", fontsize=10)
    axes[1].set_title("MrT5: training cross-entropy, soft deletion (nats per target byte, 20-step mean)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("step (pretraining with the gate open, then each run from it)")
        ax.legend(fontsize=8)
    tail = [c for name, c in results.curves.items() if name != "pretraining"]
    if tail:
        axes[1].set_ylim(0, max(max(c["ce"]) for c in tail) * 1.1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report_mrt5(results: mrt5_runs.MrT5Results, png: str) -> list[str]:
    """The Markdown section of the byte-models report."""
    s = results.settings
    runs = [r for r in results.rows if r["target"] is not None]
    short = [r for r in runs if r["held-out deletion ratio"] >= 0.40 and r["loss cost"] < 0.05]
    # A ratio is steered when training holds it near the target and held-out deletion lands near it too.
    steered = [r for r in runs if r["train steps within 0.1 of target (last third)"] >= 0.5 and abs(r["held-out deletion ratio"] - r["target"]) <= 0.1]
    one_byte = next(r for r in results.rows if r["run"].startswith("no deletion, all but"))
    spans = s["span corruption"]
    leak = max(abs(r["soft-deletion CE"] / r["held-out CE (nats/target)"] - 1) for r in runs)
    lines = [
        "## 2. MrT5: learned deletion",
        "",
        f"Data (`tokfree.training.mrt5_runs`): {s['window']}-byte windows of the English training text with 15% of the bytes "
        f"masked in place (spans of {s['mean_span']:g} on average). Model: d_model 128, 4 encoder layers with the delete gate "
        "after the 2nd, 2 decoder layers, rotary cross-attention, gated attentions with logits bounded by "
        f"{s['logit_bound']:g} (`MrT5Config.cross_rotary`, `logit_bound`). As in the paper, deletion is added to a trained "
        f"model: pretraining on *fill* (the decoder writes the whole window back, so it learns to read the encoder), "
        f"{s['steps']} steps of 16 windows with the gate pinned open ({s['pretraining s'] / 60:.1f} min); then "
        f"{s['continue_steps']} more steps on *{s['task']}* for each run from that model"
        + (" (*infill*: only the masked bytes are scored; the decoder reads the true bytes before each one as its input, so "
           "the encoder contributes the context to the right)" if s["task"] == "infill" else "")
        + ": without deletion (the reference for the loss cost) and with the PI controller steering toward each target "
        "(ramped up over the first two thirds). "
        f"Held-out: {s['heldout_pairs']} windows of the held-out text, eval mode with hard deletion (the encoder sequence "
        "really gets shorter). *soft-deletion CE*: the same model and gate with soft deletion (equal to the hard figure unless "
        "soft deletion leaks what hard deletion removes). *train steps within 0.1 of target*: the share of the last third of "
        "training in which the measured ratio was within 0.1 of the target. *random deletion at that ratio*: the reference with a "
        "seeded random share of its bytes deleted at test, at the run's reached ratio (the paper's control); last row: the "
        "reference with all but one byte per row deleted.",
        "",
        harness.markdown_table(results.rows, ["run", "parameters", "training s", "train ratio (last 10%)", "train steps within 0.1 of target (last third)",
                                              "held-out deletion ratio", "encoder length / input", "held-out CE (nats/target)",
                                              "soft-deletion CE", "loss cost", "random deletion at that ratio: loss cost"]),
        "",
        f"- Encoder sequence at least 40% shorter at a loss cost under 5%: {harness.verdict(bool(short))}"
        + (f" ({', '.join(r['run'] + ': ' + format(r['held-out deletion ratio'], '.0%') + ' deleted, ' + format(r['loss cost'], '+.1%') for r in short)})" if short else "")
        + f"; ratio steered to its target (held-out within 0.1): {harness.verdict(len(steered) == len(runs))} "
        f"({', '.join(r['run'] + ' -> ' + format(r['held-out deletion ratio'], '.2f') for r in runs)}).",
        "- Learned against random deletion at the same ratio: "
        + ", ".join(f"{r['run']} {r['loss cost']:+.1%} vs random {r['random deletion at that ratio: loss cost']:+.1%}" for r in runs) + ".",
        f"- The decoder needs the encoder: all but one byte per row deleted costs the reference {one_byte['loss cost']:+.0%}.",
        f"- Soft and hard deletion agree (largest relative gap {leak:.1%}): with bounded logits soft deletion cannot read the "
        "bytes it deletes. (Without the bound a model trained this way reached 0.25 nats with soft deletion and 0.73 with hard "
        "deletion at the same 47% ratio: its logits on deleted keys outgrew the -30 gate bias.)",
        f"- Why not ByT5's span corruption: pretrained the same way on it (spans of 20), the model scores {spans['ce']:.3f} "
        f"nats/target and {spans['all but 1 byte/row deleted ce']:.3f} with all but one encoder byte per row deleted "
        f"({spans['cost']:+.1%}): at this size and training length its decoder predicts the spans from their own bytes and "
        "hardly reads the encoder, so deletion there costs nothing and shows nothing.",
        "",
        f"![MrT5 deletion and loss]({png})",
        "",
    ]
    return lines


def lm_section(runs: dict[str, bm.ModelRun], budget: bm.Budget, args: argparse.Namespace, heldout: list[str], n_pairs: int,
               n_all_pairs: int) -> list[str]:
    """The Markdown section of the language-model comparison."""
    rows = lm_rows(runs)
    hat, bpe = runs["hat"], runs["bpe"]
    within = hat.heldout_bpb / bpe.heldout_bpb - 1
    robust = hat.noisy_bpb / hat.heldout_bpb - 1 <= 0.5 * (bpe.noisy_bpb / bpe.heldout_bpb - 1)
    return [
        "## 1. Language models at matched backbone compute",
        "",
        f"Every model has the same backbone (causal transformer, d_model {budget.d_model}, {budget.n_layers} layers, "
        f"{budget.n_heads} heads) and runs it on {budget.batch_size} x {budget.positions} positions per step for {budget.steps} "
        f"steps (AdamW, peak lr {budget.lr}, warm-up then cosine, seed {args.seed}). A position is a byte (byte-level), a "
        f"token (BPE-4096, gpt4 pre-tokenizer, trained on the same text) or a word (HAT splitter, words capped at "
        f"{budget.max_word_bytes} bytes) — so per step the word models read ~5x the bytes of the byte model. Word models "
        f"add byte layers of width {budget.d_byte} (pool: 1 within-word encoder layer, query pooling, a 2-layer per-word "
        "decoder; HAT: 1 causal encoder layer, latent-query pooling, 2 guided decoder layers), counted in the parameters "
        "and the time.",
        "",
        f"Held-out: the first {args.heldout_bytes:,} bytes of each of the {len(heldout)} held-out documents "
        f"({sum(len(d.encode()) for d in heldout):,} bytes), every byte scored once in consecutive windows of the model's "
        f"own training window. Typos: `typo_noise(rate={args.noise})` (swaps, QWERTY-neighbour substitutions, drops, "
        "insertions; whitespace kept), measured two ways:",
        "",
        f"- *with typos* / *typo cost*: bits/byte of the held-out text after typos (seed {args.seed}+i per document) and its "
        "relative increase. This also charges the typos themselves, which no model can predict, so it mixes the entropy "
        "the noise adds with the damage to the model's reading.",
        f"- *continuation* / *after noisy context* / *context typo cost*: {n_pairs:,} held-out pairs (every "
        f"{max(1, n_all_pairs // args.pairs)}th of {n_all_pairs:,}; `continuation_pairs`): a context of up to 160 "
        "characters and the clean text after it (32+ characters, both cut where a word starts, so every model's units "
        "split there), scored as the start of a text; bits/byte of the continuation after the clean context, then after "
        f"the same context with typos (seed {args.seed}+k per pair), and the relative increase. The scored bytes are the "
        "same clean bytes both times: the increase is what a damaged input costs the model's understanding of it. "
        "Windows: a token model's context loses its first tokens when context + continuation exceed its window (the "
        f"byte model's {budget.positions}-byte window keeps at most {budget.positions} bytes, so its context is short).",
        "",
        harness.markdown_table(rows, ["model", "parameters", "bytes per backbone position", "training s", "held-out bits/byte", "vs BPE"]),
        "",
        "Robustness to typos. *Intact* / *damaged words*: the noisy text's loss split by whitespace unit (`noise_split`: a "
        "unit is one whitespace character and the run after it; typos keep whitespace, so units pair up one to one), "
        "bits/byte on the units the typos left unchanged and on those they damaged, clean -> noisy; intact words measure what "
        f"typos nearby cost bytes they did not touch ({hat.noise['intact_share']:.0%} of the clean bytes are in intact "
        "units), damaged words what a model pays for the typos themselves.",
        "",
        harness.markdown_table(rows, ["model", "held-out bits/byte", "with typos", "typo cost", "intact words", "intact-word typo cost",
                                      "damaged words", "damaged-word typo cost", "continuation", "after noisy context", "context typo cost"]),
        "",
        f"- HAT within 10% of the BPE baseline's bits/byte: {harness.verdict(within <= 0.10)} ({within:+.1%}).",
        f"- HAT far more robust to typos than BPE (relative typo cost on the noisy text at most half of BPE's): "
        f"{harness.verdict(robust)} ({hat.noisy_bpb / hat.heldout_bpb - 1:+.1%} vs {bpe.noisy_bpb / bpe.heldout_bpb - 1:+.1%}; "
        f"intact words {hat.noise['intact_noisy'] / hat.noise['intact_clean'] - 1:+.1%} vs "
        f"{bpe.noise['intact_noisy'] / bpe.noise['intact_clean'] - 1:+.1%}, damaged words "
        f"{hat.noise['damaged_noisy'] / hat.noise['damaged_clean'] - 1:+.1%} vs {bpe.noise['damaged_noisy'] / bpe.noise['damaged_clean'] - 1:+.1%}, "
        f"clean continuations after noisy contexts {context_cost(hat):+.1%} vs {context_cost(bpe):+.1%}).",
        "",
        "![training curves and held-out bits/byte](byte_models.png)",
        "",
    ]


def load_model(folder: Path, name: str, device: str):
    """(model, tokenizer or None) saved by `train_all`."""
    from tokfree.nn import CausalLM
    from tokfree.nn.hierarchical import HierarchicalLM
    from tokfree.nn.pooling import WordPoolLM
    from tokfree.tokenizer import Tokenizer

    if name in ("byte", "bpe"):
        return CausalLM.load(folder / name, device=device), Tokenizer.from_file(folder / name / "tokenizer.json")
    cls = WordPoolLM if name == "pool" else HierarchicalLM
    return cls.load(folder / name, device=device), None


def speed_child(folder: Path, name: str, device: str, heldout: list[str], budget: bm.Budget) -> None:
    """Runs in its own process: forward passes over held-out windows; emits bytes/s and memory."""
    torch.set_num_threads(2)
    model, tokenizer = load_model(folder, name, device)
    before = harness.peak_rss_mb()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
        bm.heldout_bits_per_byte(model, heldout, budget, tokenizer=tokenizer)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    n_bytes = sum(len(d.encode()) for d in heldout)
    if tokenizer is not None:
        positions = sum(len(ids) + 1 for ids in tokenizer.encode_batch(heldout, allowed_special=(), disallowed_special=()))
    else:
        positions = sum(len(b) - 1 for b in word_boundaries_batch(heldout, max_bytes=budget.max_word_bytes))
    memory = torch.cuda.max_memory_allocated() / 1e6 if device.startswith("cuda") else None
    harness.emit({"seconds": seconds, "bytes": n_bytes, "positions": positions, "cuda_mb": memory, "rss_before_mb": before})


def speed_table(folder: Path, device: str, args: argparse.Namespace) -> list[dict]:
    rows = []
    for name in ORDER:
        child = harness.run_child([sys.executable, __file__, "--speed-child", name, "--device", device, "--out", str(folder),
                                   "--positions", str(args.positions), "--heldout-bytes", str(args.heldout_bytes)])
        if not child.ok:
            raise SystemExit(f"speed child {name} failed: {child.failure()}\n{child.stderr_tail}")
        r = child.records[-1]
        memory = r["cuda_mb"] if r["cuda_mb"] is not None else child.peak_rss_mb - r["rss_before_mb"]
        rows.append({"model": LABELS[name], "device": device, "bytes/s": r["bytes"] / r["seconds"],
                     "backbone positions/s": r["positions"] / r["seconds"], "peak memory MB": memory})
    return rows


def recorded_lms(results: Path) -> tuple[str, dict[str, bm.ModelRun]]:
    """The language-model records of the newest run in byte_models.jsonl that trained them (the run id, its runs)."""
    import json

    records = [json.loads(line) for line in (results / "byte_models.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    trained = [r for r in records if r.get("kind") == "lm" and "reused_from" not in r]
    if not trained:
        raise SystemExit(f"{results / 'byte_models.jsonl'} holds no trained language models; run without --reuse-lms / --replot first")
    last = trained[-1]["run"]
    fields = set(bm.ModelRun.__dataclass_fields__)
    return last, {r["name"]: bm.ModelRun(**{k: v for k, v in r.items() if k in fields}) for r in trained if r["run"] == last}


def replot(results: Path, batch_size: int, positions: int) -> None:
    """byte_models.png from the language-model records of the newest run in byte_models.jsonl
    (`batch_size` and `positions` only label the axis: pass the run's)."""
    last, runs = recorded_lms(results)
    budget = bm.Budget(steps=len(runs["bpe"].train_loss), batch_size=batch_size, positions=positions)
    plot_lms(runs, budget, results / "byte_models.png")
    log(f"redrew {results / 'byte_models.png'} from run {last}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--positions", type=int, default=64, help="backbone positions per window (bytes, tokens or words)")
    parser.add_argument("--noise", type=float, default=0.05, help="typo_noise rate per character for the robustness test")
    parser.add_argument("--heldout-bytes", type=int, default=12000, help="bytes measured per held-out document")
    parser.add_argument("--pairs", type=int, default=1000, help="held-out (context, continuation) pairs for the noisy-context test")
    parser.add_argument("--mrt5-steps", type=int, default=800, help="MrT5 pretraining steps (gate pinned open)")
    parser.add_argument("--mrt5-continue-steps", type=int, default=1500, help="MrT5 steps from the pretrained model, per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / ".corpus" / "byte-models")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--skip-lms", action="store_true", help="only MrT5 and speed (for iterating)")
    parser.add_argument("--reuse-lms", action="store_true",
                        help="section 1 from the last run that trained the language models (results/byte_models.jsonl), not retrained; "
                             "pass that run's --steps/--batch-size/--positions/--noise")
    parser.add_argument("--speed-child", choices=ORDER, help=argparse.SUPPRESS)
    parser.add_argument("--replot", action="store_true", help="redraw byte_models.png from the last run in results/byte_models.jsonl")
    args = parser.parse_args(argv)
    if args.replot:
        replot(args.results, args.batch_size, args.positions)
        return
    torch.set_num_threads(2)
    bm.set_seed(args.seed)
    heldout = heldout_slice(domain_documents(DATA, "english", "heldout"), args.heldout_bytes)
    budget = bm.Budget(steps=args.steps, batch_size=args.batch_size, positions=args.positions, seed=args.seed)
    if args.speed_child:
        speed_child(args.out, args.speed_child, args.device, heldout, budget)
        return
    train = domain_documents(DATA, "english", "train")
    noisy = bm.noisy_docs(heldout, args.noise, args.seed)
    all_pairs = bm.continuation_pairs(heldout, rate=args.noise, seed=args.seed)
    pairs = all_pairs[:: max(1, len(all_pairs) // args.pairs)][: args.pairs]
    recorder = harness.Recorder("byte_models", vars(args) | {"out": str(args.out), "results": str(args.results)}, results_dir=args.results)
    started = time.perf_counter()
    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    sections = []
    if not (args.skip_lms or args.reuse_lms):
        runs = train_all(train, heldout, noisy, pairs, budget, args.out, args.device)
        for name, run in runs.items():
            recorder.add(kind="lm", **run.to_dict())
        plot_lms(runs, budget, results / "byte_models.png")
        sections += lm_section(runs, budget, args, heldout, len(pairs), len(all_pairs))
    if args.reuse_lms:
        source, runs = recorded_lms(results)
        for name, run in runs.items():
            recorder.add(kind="lm", reused_from=source, **run.to_dict())
        sections += [f"*Section 1 comes from run {source} (its models and measurements, not retrained: `--reuse-lms`).*", ""]
        sections += lm_section(runs, budget, args, heldout, len(pairs), len(all_pairs))
    log("MrT5")
    mrt5 = mrt5_runs.run_all(train, heldout, steps=args.mrt5_steps, continue_steps=args.mrt5_continue_steps, seed=args.seed,
                             device=args.device, out=args.out)
    for row in mrt5.rows:  # the row's "run" would overwrite the recorder's run id
        recorder.add(kind="mrt5", name=row["run"], **{k: v for k, v in row.items() if k != "run"})
    plot_mrt5(mrt5, results / "byte_models_mrt5.png")
    sections += report_mrt5(mrt5, "byte_models_mrt5.png")
    log("speed")
    speed = speed_table(args.out, args.device, args)
    for row in speed:
        recorder.add(kind="speed", **row)
    sections += [
        "## 3. Throughput and memory",
        "",
        f"Device: {args.device}" + ("" if args.device != "cpu" else " (no CUDA on this machine: GPU figures n/a; on a GPU the same "
                                   "command trains and measures under bf16 autocast with SDPA attention)") + ". "
        "Each model in its own process: forward passes over every held-out window (batch 8, no gradient, the bits/byte "
        "measurement above): bytes and backbone positions per second, and the peak memory the passes needed (CUDA: "
        "`torch.cuda.max_memory_allocated`; CPU: the process's peak RSS minus its RSS after loading the model).",
        "",
        harness.markdown_table(speed, ["model", "device", "bytes/s", "backbone positions/s", "peak memory MB"]),
        "",
    ]
    recorder.write()
    total = time.perf_counter() - started
    command = "python benchmarks/byte_models.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [recorder.header("Tokenizer-free models vs byte and BPE baselines (issue 7)"),
             f"Command: `{command}` ({total / 60:.1f} min). Tiny models trained for minutes on CPU: what transfers is the "
             "comparison at equal settings, not the absolute level.", "", *sections]
    (results / "byte_models.md").write_text("\n".join(lines), encoding="utf-8")
    log(f"wrote {results / 'byte_models.md'} ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
