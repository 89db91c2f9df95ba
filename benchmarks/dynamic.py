"""Dynamic tokenization under a trained LM (issue 9), in one command: batch-level merging with
embeddings for the merged tokens, tokenizer transplantation, the cost of planning merges beside a
forward pass, and the top-k output layer over a large dynamic vocabulary.

The model: `tokfree.training.train_lm --pair 1024` on the English domain corpus (a BPE-1024 with the
gpt4 pre-tokenizer and a 4-layer, d=128 CausalLM, 400 steps; ~2 min), trained into `--cache`
unless `--model DIR` names a trained `bpe-1024` folder. Everything is measured on the first
`--heldout-bytes` of `domain_documents(data, "english", "heldout")`, bits per byte as in
`evaluate_lm` (windows of 128 predicted tokens; the same bytes whatever the ids).

1. Merging. Merges are planned by `plan_merges(boundary="word")` on training windows at each target
   ratio and replayed on the held-out windows (`MergePlan.apply`): the output layer scores a fixed
   vocabulary (the base ids plus the plan's new tokens), so no held-out text chooses the candidates.
   (A plan made on the held-out batch itself would put only that batch's words in the softmax and
   lower bits per byte for free.) Embeddings of the new tokens: the mean of their pieces' rows; the
   hypernetwork trained by regression on the LM's own vocabulary; and the hypernetwork trained with
   the frozen LM's loss on training windows (ZeTT's objective). Reported: held-out bits per byte,
   their change against the unmerged model, and the held-out length ratio.
2. Transplantation. New tokenizers trained on the same training text: a BPE-4096 and a SuperBPE-2048
   (stage 1 up to 1024). For each `transplant` method (random, mean of pieces, local, global, hybrid
   in the model's own embedding space, and hybrid in the LM's own hidden-state space,
   `lm_text_embedder`): held-out bits per byte before any training and after `--finetune-steps`
   steps of `train_lm(init=...)` (lr 1e-3, batch 16).
3. Speed: milliseconds per batch of `plan_merges` (Numba kernel, numpy twin, the pure-Python
   reference) and of `MergePlan.apply`, beside the model's forward pass on the same batch.
4. Output layer: `TopKOutput` over the base rows plus the output embeddings the LM-trained
   hypernetwork predicts for every token of a word-level plan of the training text; recall@10 of
   the IVF index against the exact one on held-out hidden states, and ms per batch of 16 queries.

    .venv/bin/python benchmarks/dynamic.py [--model DIR] [--cache /tmp/tokfree-runs/english]
        [--heldout-bytes 200000] [--finetune-steps 100] [--hypernet-steps 600]

Writes `benchmarks/results/dynamic.md` and `dynamic.png` (`--results DIR` elsewhere).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import tokfree  # noqa: E402
from tokfree._corpora import domain_documents  # noqa: E402
from tokfree._reference import merging as reference  # noqa: E402
from tokfree.merging import (  # noqa: E402
    MergedEmbedder,
    TopKOutput,
    lm_text_embedder,
    merged_bits_per_byte,
    plan_merges,
    train_hypernet,
    transplant_model,
)
from tokfree.merging.plan import _flatten  # noqa: E402
from tokfree.nn import CausalLM  # noqa: E402
from tokfree.trainers.superword import train_superword  # noqa: E402
from tokfree.training.train_lm import evaluate_lm, token_stream, train_lm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SEQ_LEN = 128
EOT = "<|endoftext|>"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_model(model: Path | None, cache: Path) -> Path:
    folder = model or cache / "bpe-1024"
    if (folder / "model.safetensors").exists():
        return folder
    if model is not None:
        raise SystemExit(f"{model}: expected a trained bpe-1024 folder (config.json, model.safetensors, tokenizer.json)")
    command = [sys.executable, "-m", "tokfree.training.train_lm", "--pair", "1024", "--data", str(DATA / "_domain/english/train.jsonl.gz"),
               "--heldout", str(DATA / "_domain/english/heldout.jsonl.gz"), "--out", str(cache), "--quiet"]
    log("training the model (~2 min): " + " ".join(command))
    subprocess.run(command, check=True, cwd=ROOT)
    return folder


def take_bytes(docs: list[str], budget: int) -> list[str]:
    out, used = [], 0
    for doc in docs:
        if used >= budget:
            break
        piece = doc.encode("utf-8")[: budget - used].decode("utf-8", errors="ignore")
        out.append(piece)
        used += len(piece.encode("utf-8"))
    return out


def bpb(model: CausalLM, tok: tokfree.Tokenizer, texts: list[str]) -> float:
    return evaluate_lm(model, tok, texts, seq_len=SEQ_LEN)[1]


# --- 1. merging ------------------------------------------------------------------------------------

RATIOS = (0.9, 0.8, 0.7)


def training_windows(tok: tokfree.Tokenizer, train: list[str], *, seed: int, rows: int = 2000) -> np.ndarray:
    """`rows` random windows of SEQ_LEN training tokens (what a plan is made on)."""
    return windows(tok, train, rows, SEQ_LEN, seed=seed)


def merging_section(model: CausalLM, tok: tokfree.Tokenizer, train: list[str], heldout: list[str], base: float, args) -> tuple[list[dict], dict]:
    vocab = model.config.vocab_size
    # The plans scored here are made on windows no hypernet trains with (seed 100); the LM-loss
    # hypernet trains on plans of other windows (seeds 1, 2) at the same ratios, one drawn per step.
    eval_plans = {r: plan_merges(training_windows(tok, train, seed=100), tokenizer=tok, target_ratio=r, first_new_id=vocab) for r in RATIOS}
    word = plan_merges(training_windows(tok, train, seed=100), tokenizer=tok, first_new_id=vocab)  # no limit: word level
    train_plans = [plan_merges(training_windows(tok, train, seed=s), tokenizer=tok, target_ratio=r, first_new_id=vocab) for r in RATIOS for s in (1, 2)]
    start = time.perf_counter()
    regression, reg_log = train_hypernet(model, tok, objective="regression", steps=400, batch_size=128, lr=1e-3, seed=0, show_progress=False)
    reg_seconds = time.perf_counter() - start
    start = time.perf_counter()
    lm_net, lm_log = train_hypernet(model, tok, objective="lm", texts=train, steps=args.hypernet_steps, batch_size=16, seq_len=SEQ_LEN,
                                    lr=1e-3, seed=0, hypernet=regression, plan_from=train_plans, show_progress=False)
    lm_seconds = time.perf_counter() - start
    log(f"hypernets: regression {reg_seconds:.0f} s, LM loss {lm_seconds:.0f} s")
    sources = {"mean of pieces": "mean", "hypernet, regression": regression, "hypernet, LM loss": lm_net}
    word_ratio = merged_bits_per_byte(model, tok, heldout, target_ratio=None, seq_len=SEQ_LEN, plan_from=word).length_ratio
    rows = []
    for ratio, plan in [(None, word), *eval_plans.items()]:
        for name, source in sources.items():
            if ratio is None and name != "hypernet, LM loss":
                continue
            ev = merged_bits_per_byte(model, tok, heldout, embedder=MergedEmbedder(model, source), target_ratio=None,
                                      seq_len=SEQ_LEN, plan_from=plan)
            change = ev.bits_per_byte / base - 1
            shorter = 1 - ev.length_ratio
            rows.append({"plan target": "word level" if ratio is None else ratio, "new tokens": plan.n_merges, "embeddings": name,
                         "held-out length ratio": ev.length_ratio, "% of word-level reduction": 100 * shorter / (1 - word_ratio),
                         "bits/byte": ev.bits_per_byte, "change vs unmerged %": 100 * change,
                         "≥20% shorter and within 5%": shorter >= 0.2 and change <= 0.05})
            log(f"merging {rows[-1]}")
    info = {"regression seconds": reg_seconds, "lm seconds": lm_seconds, "word ratio": word_ratio,
            "lm loss first/last": (lm_log.loss[0], lm_log.loss[-1]), "hypernet parameters": lm_log.parameters}
    return rows, {"info": info, "lm_net": lm_net, "word": word}


# --- 4. output layer -------------------------------------------------------------------------------


def output_section(model: CausalLM, tok: tokfree.Tokenizer, heldout: list[str], lm_net, word) -> list[dict]:
    rows_ = MergedEmbedder(model, lm_net).embed(word)
    weight = torch.cat([model.output_weight.detach(), rows_.outputs.detach()])
    bias = torch.cat([torch.zeros(model.config.vocab_size), rows_.bias.detach()])
    ids = windows(tok, heldout, 64, SEQ_LEN, seed=3)
    with torch.no_grad():
        hidden, _ = model.hidden_states(torch.from_numpy(ids))
    queries = hidden.reshape(-1, hidden.shape[-1])[torch.randperm(ids.size, generator=torch.Generator().manual_seed(0))[:512]].contiguous()
    exact = TopKOutput(weight, bias, index="exact", show_progress=False)
    ivf = TopKOutput(weight, bias, index="ivf", seed=0, show_progress=False)
    out = []
    for name, layer, probe in (("exact", exact, None), *(("ivf", ivf, p) for p in (max(1, ivf.n_lists // 16), max(1, ivf.n_lists // 4)))):
        kwargs = {} if probe is None else {"n_probe": probe}
        ms = median_ms(lambda: layer.candidates(queries[:16], 10, **kwargs))
        recall = 1.0 if probe is None else ivf.recall(queries, 10, reference=exact.candidates(queries, 10)[0], n_probe=probe)
        out.append({"rows": weight.shape[0], "index": name, "n_lists": None if probe is None else ivf.n_lists, "n_probe": probe,
                    "ms per 16 queries": ms, "recall@10": recall})
        log(f"output {out[-1]}")
    return out


# --- 2. transplantation ----------------------------------------------------------------------------


def transplant_section(model: CausalLM, tok: tokfree.Tokenizer, train: list[str], heldout: list[str], args) -> list[dict]:
    targets = {
        "BPE-4096": tokfree.train_bpe(iter(train), 4096, pre_tokenizer="gpt4", special_tokens=[EOT], show_progress=False),
        "SuperBPE-2048": train_superword(iter(train), 2048, transition=1024, special_tokens=[EOT], show_progress=False),
    }
    space = lm_text_embedder(model, tok)
    methods = {
        "random": dict(method="random"),
        "mean of pieces": dict(method="mean"),
        "local": dict(method="local"),
        "global": dict(method="global"),
        "hybrid": dict(method="hybrid"),
        "hybrid, LM space": dict(method="hybrid", aux_embeddings=space),
    }
    tuned = {"random", "mean of pieces", "hybrid", "hybrid, LM space"}
    rows = []
    for target, new_tok in targets.items():
        for name, options in methods.items():
            start = time.perf_counter()
            new_model = transplant_model(model, tok, new_tok, **options)
            seconds = time.perf_counter() - start
            before = bpb(new_model, new_tok, heldout)
            after = None
            if name in tuned and args.finetune_steps:
                new_model, _ = train_lm(new_tok, train, new_model.config, steps=args.finetune_steps, batch_size=16, seq_len=SEQ_LEN,
                                        lr=1e-3, seed=0, init=new_model, show_progress=False)
                after = bpb(new_model, new_tok, heldout)
            shared = sum(1 for i in range(new_tok.vocab_size) if tok.token_to_id(new_tok.id_to_token(i) or b"") is not None)
            rows.append({"tokenizer": target, "method": name, "shared tokens": shared, "new tokens": new_tok.vocab_size - shared,
                         "bits/byte before": before, "bits/byte after": after, "transplant s": seconds})
            log(f"transplant {target:14s} {name:18s} {before:.4f} -> {after}")
    return rows


# --- 3. speed --------------------------------------------------------------------------------------


def windows(tok: tokfree.Tokenizer, texts: list[str], rows: int, width: int, seed: int) -> np.ndarray:
    stream = token_stream(tok, texts, separator=tok.token_to_id(EOT))
    starts = np.random.default_rng(seed).integers(0, len(stream) - width, size=rows)
    return np.stack([stream[s : s + width] for s in starts]).astype(np.int64)


def median_ms(run, repeats: int = 7) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def speed_section(model: CausalLM, tok: tokfree.Tokenizer, train: list[str]) -> list[dict]:
    rows = []
    for batch, width in ((16, 128), (64, 128), (32, 512)):
        ids = windows(tok, train, batch, width, seed=1)
        fixed = plan_merges(windows(tok, train, batch, width, seed=2), tokenizer=tok, target_ratio=0.8)
        row = {"batch": f"{batch} x {width}"}
        row["plan, Numba (ms)"] = median_ms(lambda: plan_merges(ids, tokenizer=tok, target_ratio=0.8, backend="numba"))
        row["plan, numpy (ms)"] = median_ms(lambda: plan_merges(ids, tokenizer=tok, target_ratio=0.8, backend="numpy"), repeats=3)
        row["apply, Numba (ms)"] = median_ms(lambda: fixed.apply(ids))
        if batch * width <= 2048:
            # The reference gets the joinable flags the kernel gets, one list per row.
            join = plan_merges(ids, tokenizer=tok, n_merges=0)._rules.joinable(_flatten(ids, np.ones_like(ids, dtype=bool)))
            ref_rows = [list(zip(r.tolist(), j.tolist())) for r, j in zip(ids, join.reshape(ids.shape))]
            target = int(np.floor(0.8 * ids.size))
            row["plan, Python reference (ms)"] = median_ms(
                lambda: reference.plan(ref_rows, first_new_id=tok.vocab_size, max_merges=ids.size, target_len=target), repeats=1)
        if width <= model.config.max_len:
            x = torch.from_numpy(ids)
            with torch.no_grad():
                row["forward pass (ms)"] = median_ms(lambda: model(x), repeats=3)
            row["plan / forward"] = row["plan, Numba (ms)"] / row["forward pass (ms)"]
        row["Numba / numpy speed-up"] = row["plan, numpy (ms)"] / row["plan, Numba (ms)"]
        rows.append(row)
        log(f"speed {row}")
    return rows


# --- report ----------------------------------------------------------------------------------------


def plot(path: Path, merging: list[dict], transplant: list[dict]) -> None:
    plt = harness._pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name in ("mean of pieces", "hypernet, regression", "hypernet, LM loss"):
        points = sorted((100 * (1 - r["held-out length ratio"]), r["change vs unmerged %"]) for r in merging if r["embeddings"] == name)
        left.plot(*zip(*points), marker="o", label=name)
    left.axhline(5, color="grey", linestyle=":", linewidth=1)
    left.axvline(20, color="grey", linestyle=":", linewidth=1)
    left.set_xlabel("held-out sequences shorter by (%)")
    left.set_ylabel("bits/byte change vs unmerged (%)")
    left.set_title("batch-level merging, frozen LM")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    targets = sorted({r["tokenizer"] for r in transplant})
    methods = [m for m in dict.fromkeys(r["method"] for r in transplant)]
    width = 0.8 / len(methods)
    for j, method in enumerate(methods):
        for i, target in enumerate(targets):
            row = next(r for r in transplant if r["tokenizer"] == target and r["method"] == method)
            right.bar(i + j * width, row["bits/byte before"], width, color=f"C{j}", label=method if i == 0 else None)
            if row["bits/byte after"] is not None:
                right.scatter(i + j * width, row["bits/byte after"], color="black", marker="_", s=120, zorder=3)
    right.set_xticks([i + 0.4 - width / 2 for i in range(len(targets))], targets)
    right.set_ylim(min(r["bits/byte after"] or r["bits/byte before"] for r in transplant) * 0.95,
                   max(r["bits/byte before"] for r in transplant) * 1.02)
    right.set_ylabel("held-out bits/byte")
    right.set_title("transplantation from BPE-1024 (bars: before training; ticks: after fine-tuning)", fontsize=9)
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(rec: harness.Recorder, out: Path, report: dict, args) -> None:
    lines = [rec.header("Dynamic tokenization under a trained LM: merging, transplantation, top-k output"), "",
             "Reproduce: `.venv/bin/python benchmarks/dynamic.py` (the method is in the script's docstring). "
             f"Model: BPE-1024 + CausalLM (d=128, 4 layers, 400 steps) on the English domain corpus; held-out: the first "
             f"{args.heldout_bytes:,} bytes of its held-out split. Unmerged held-out bits/byte: **{report['base']:.4f}**.", ""]
    if "merging" in report:
        rows, extra = report["merging"]
        info = extra["info"]
        best = [r for r in rows if r["embeddings"] == "hypernet, LM loss" and r["≥20% shorter and within 5%"]]
        lines += ["## 1. Batch-level merging with a frozen LM", "",
                  "Plans from `plan_merges(boundary=\"word\", target_ratio=...)` on 2,000 training windows (seed 100), replayed on every "
                  "held-out window; the softmax covers the base vocabulary plus the plan's new tokens. The LM-loss hypernetwork "
                  "started from the regression one and trained on plans of other training windows (seeds 1 and 2, the same ratios), "
                  f"never on the plans scored here. Hypernet: {info['hypernet parameters']:,} parameters; regression "
                  f"{info['regression seconds']:.0f} s, LM loss {args.hypernet_steps} steps in {info['lm seconds']:.0f} s.", "",
                  harness.markdown_table(rows, ["plan target", "new tokens", "embeddings", "held-out length ratio", "% of word-level reduction",
                                                "bits/byte", "change vs unmerged %", "≥20% shorter and within 5%"]), "",
                  "Bar (issue 9): at least 20% shorter with bits/byte within 5% of the unmerged model, using the hypernetwork: "
                  f"{harness.verdict(bool(best))}" + ("" if not best else " (" + "; ".join(
                      f"target {r['plan target']}: {100 * (1 - r['held-out length ratio']):.1f}% shorter, {r['change vs unmerged %']:+.2f}%"
                      for r in best) + ")") + ".", "",
                  "Bits/byte below the unmerged model's are not a leak (no held-out text shapes the plans or the softmax): the LM-loss "
                  "hypernetwork is extra training on the training text, its output rows fitted to the frozen LM's final states, on "
                  "top of a 400-step LM.", "",
                  "A plan made on the scored batch itself is not used: its softmax would hold exactly the multi-piece words that occur in "
                  "the batch, and bits/byte would drop below the unmerged model's for free (docs/merging.md).", ""]
    if "transplant" in report:
        rows = report["transplant"]
        lines += ["## 2. Transplantation", "",
                  f"`transplant_model(model, bpe1024, new_tokenizer, method=...)` (k=3, temperature 0.3, W=0.3); fine-tuning: "
                  f"{args.finetune_steps} steps of `train_lm(init=...)`, batch 16 x 128, lr 1e-3, the same for every method.", "",
                  harness.markdown_table(rows, ["tokenizer", "method", "shared tokens", "new tokens", "bits/byte before", "bits/byte after", "transplant s"]), ""]
        for target in dict.fromkeys(r["tokenizer"] for r in rows):
            by = {r["method"]: r["bits/byte before"] for r in rows if r["tokenizer"] == target}
            hybrid = min(by["hybrid"], by["hybrid, LM space"])
            which = "hybrid" if by["hybrid"] <= by["hybrid, LM space"] else "hybrid, LM space"
            lines.append(f"- {target}: best hybrid ({which}) {hybrid:.4f} vs mean of pieces {by['mean of pieces']:.4f} and random "
                         f"{by['random']:.4f} before training: beats both {harness.verdict(hybrid < by['mean of pieces'] and hybrid < by['random'])}; "
                         f"hybrid in the model's own embedding space: {by['hybrid']:.4f}.")
        lines.append("")
    if "speed" in report:
        lines += ["## 3. Cost of planning beside a forward pass", "",
                  "Median ms per batch (target ratio 0.8, word boundary). `apply` replays a plan made on other windows.", "",
                  harness.markdown_table(report["speed"], ["batch", "plan, Numba (ms)", "plan, numpy (ms)", "plan, Python reference (ms)",
                                                           "apply, Numba (ms)", "forward pass (ms)", "plan / forward", "Numba / numpy speed-up"]), ""]
    if "output" in report:
        lines += ["## 4. Top-k output layer over a dynamic vocabulary", "",
                  "`TopKOutput` over the base output rows plus the LM-loss hypernetwork's output rows for every token of the word-level "
                  "plan; 512 held-out hidden states as queries; recall@10 against the exact index.", "",
                  harness.markdown_table(report["output"], ["rows", "index", "n_lists", "n_probe", "ms per 16 queries", "recall@10"]), ""]
    lines += ["![dynamic](dynamic.png)", ""]
    (out / "dynamic.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a trained bpe-1024 folder (default: train one into --cache)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tokfree-runs/english"))
    parser.add_argument("--heldout-bytes", type=int, default=200_000)
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument("--hypernet-steps", type=int, default=600)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--sections", default="merging,transplant,speed,output", help="a comma-separated subset (output needs merging)")
    args = parser.parse_args()
    torch.manual_seed(0)
    folder = ensure_model(args.model, args.cache)
    tok = tokfree.Tokenizer.from_file(folder / "tokenizer.json")
    model = CausalLM.load(folder)
    train = domain_documents(DATA, "english", "train")
    heldout = take_bytes(domain_documents(DATA, "english", "heldout"), args.heldout_bytes)
    sections = set(args.sections.split(","))
    rec = harness.Recorder("dynamic", {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()})
    base = bpb(model, tok, heldout)
    log(f"unmerged bits/byte {base:.4f}")
    report: dict = {"base": base}
    if "merging" in sections:
        report["merging"] = merging_section(model, tok, train, heldout, base, args)
        if "output" in sections:
            extra = report["merging"][1]
            report["output"] = output_section(model, tok, heldout, extra["lm_net"], extra["word"])
    if "transplant" in sections:
        report["transplant"] = transplant_section(model, tok, train, heldout, args)
    if "speed" in sections:
        report["speed"] = speed_section(model, tok, train)
    for name in ("transplant", "speed", "output"):
        for row in report.get(name, []):
            rec.add(section=name, **row)
    for row in report.get("merging", ([], None))[0]:
        rec.add(section="merging", **row)
    args.results.mkdir(parents=True, exist_ok=True)
    rec.results_dir = args.results
    rec.write()
    write_report(rec, args.results, report, args)
    if "merging" in report and "transplant" in report:
        plot(args.results / "dynamic.png", report["merging"][0], report["transplant"])
    log(f"wrote {args.results / 'dynamic.md'}")


if __name__ == "__main__":
    main()
