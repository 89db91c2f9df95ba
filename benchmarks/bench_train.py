"""Training time and peak memory: tokfree vs HF tokenizers vs sentencepiece, same corpus, same size.

Each training runs in its own subprocess (peak RSS = that process's VmHWM; CPU from wait4), with
the page cache warmed first (a cold read of 100 MB costs this VM 2.5x, research/perf-anchors.md):

- tokfree: `train_bpe(path, vocab_size, pre_tokenizer="gpt2", min_frequency=2)`;
- HF: `models.BPE` + `ByteLevel(add_prefix_space=False)` pre-tokenizer (the GPT-2 regex),
  `BpeTrainer(min_frequency=2, initial_alphabet=ByteLevel.alphabet())`;
- sentencepiece: BPE with research/perf-anchors.md's settings (vocab.SPM_OPTIONS; its own
  normalization and whitespace handling, so its merges are not the same work, but it is the
  trainer people compare with).

Threads: RAYON_NUM_THREADS=--threads for tokfree and HF, num_threads for sentencepiece.
Times: the training call (reading the file included) and the whole process; median of --repeats
(default 1 for >= 50 MB, 3 below), with min-max.

    python benchmarks/bench_train.py [--size-mb 100 10] [--vocab-size 32000] [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import harness  # noqa: E402
import vocab as vocabs  # noqa: E402

LIBRARIES = ("tokfree", "hf", "spm")


def train(library: str, path: str, vocab_size: int, threads: int) -> int:
    """Trains one vocabulary; returns its size."""
    if library == "tokfree":
        import tokfree

        return tokfree.train_bpe(path, vocab_size, pre_tokenizer="gpt2", min_frequency=2, show_progress=False).vocab_size
    if library == "hf":
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train([path], trainer)
        return tok.get_vocab_size()
    if library == "spm":
        import sentencepiece as spm

        with tempfile.TemporaryDirectory() as tmp:
            spm.SentencePieceTrainer.train(input=path, model_prefix=f"{tmp}/m", vocab_size=vocab_size, minloglevel=2,
                                           **{**vocabs.SPM_OPTIONS, "num_threads": threads})
            return spm.SentencePieceProcessor(model_file=f"{tmp}/m.model").vocab_size()
    raise ValueError(f"unknown library {library!r}")


def child(spec: dict) -> None:
    started = time.perf_counter()
    size = train(spec["library"], spec["path"], spec["vocab_size"], spec["threads"])
    harness.emit({"train_seconds": time.perf_counter() - started, "vocab": size})


def median_row(runs: list[dict]) -> dict:
    """The run with the median training time, plus min/max/all over the runs."""
    ok = sorted((r for r in runs if "train_seconds" in r), key=lambda r: r["train_seconds"])
    if not ok:
        return runs[-1]
    times = [r["train_seconds"] for r in ok]
    row = dict(ok[(len(ok) - 1) // 2])
    row.update(seconds_median=statistics.median(times), seconds_min=min(times), seconds_max=max(times), seconds_all=times, runs=len(ok))
    return row


def summarize(rec: harness.Recorder, rows: list[dict], sizes: list[float], results: Path) -> str:
    parts = [rec.header("Training benchmark"),
             "Seconds: the training call (file reading included), median of the runs, with min-max; `process s` is the whole "
             "child (interpreter start and imports too). Peak RSS: the child's VmHWM. CPU s: user+system of the child (from wait4); "
             "CPU/wall > 1 means more than one core busy.\n"]
    for size in sizes:
        group = [r for r in rows if r["size_mb"] == size]
        by = {r["library"]: r for r in group}
        hf, sp = by.get("hf", {}), by.get("spm", {})
        for r in group:
            if "seconds_median" in r:
                r["range"] = f"{r['seconds_min']:.3g}–{r['seconds_max']:.3g}"
                r["MB/s"] = r["corpus_mb"] / r["seconds_median"]
                r["x HF time"] = r["seconds_median"] / hf["seconds_median"] if hf.get("seconds_median") else None
                r["x spm time"] = r["seconds_median"] / sp["seconds_median"] if sp.get("seconds_median") else None
                r["x HF memory"] = r["peak_rss_mb"] / hf["peak_rss_mb"] if hf.get("peak_rss_mb") else None
                r["RSS / corpus"] = r["peak_rss_mb"] / r["corpus_mb"]
                r["CPU/wall"] = r["cpu_seconds"] / r["process_seconds"]
        table = harness.markdown_table([{**r, "seconds": r.get("seconds_median"), "peak RSS MB": r.get("peak_rss_mb"), "process s": r.get("process_seconds"),
                                         "CPU s": r.get("cpu_seconds"), "status": r.get("error", "ok")} for r in group],
                                       ["library", "runs", "seconds", "range", "MB/s", "process s", "CPU s", "CPU/wall", "peak RSS MB", "RSS / corpus",
                                        "vocab", "x HF time", "x spm time", "x HF memory", "status"])
        mb = group[0]["corpus_mb"] if group else size
        parts += [f"## {mb:.0f} MB (`{group[0]['corpus']['name'] if group else ''}`), vocab {rec.params['vocab_size']:,}\n", table, ""]
        tf = by.get("tokfree", {})
        if tf.get("seconds_median"):
            parts += [
                f"- tokfree <= 0.5x HF time: **{harness.fmt(tf.get('x HF time'))}x** {harness.verdict(None if tf.get('x HF time') is None else tf['x HF time'] <= 0.5)}",
                f"- tokfree no slower than sentencepiece: **{harness.fmt(tf.get('x spm time'))}x** {harness.verdict(None if tf.get('x spm time') is None else tf['x spm time'] <= 1)}",
                f"- tokfree peak memory <= HF's: **{harness.fmt(tf.get('x HF memory'))}x** {harness.verdict(None if tf.get('x HF memory') is None else tf['x HF memory'] <= 1)}",
                "",
            ]
    text = "\n".join(parts)
    (results / "train.md").write_text(text, encoding="utf-8")
    return text


def plot(rows: list[dict], sizes: list[float], path: Path, title: str) -> None:
    plt = harness._pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    libraries = [lib for lib in LIBRARIES if any(r["library"] == lib for r in rows)]
    width = 0.8 / max(1, len(libraries))
    for i, lib in enumerate(libraries):
        for axes, key in ((left, "seconds_median"), (right, "peak_rss_mb")):
            values = [next((r.get(key) for r in rows if r["library"] == lib and r["size_mb"] == s), None) for s in sizes]
            xs = [g + (i - (len(libraries) - 1) / 2) * width for g, v in enumerate(values) if v is not None]
            bars = axes.bar(xs, [v for v in values if v is not None], width * 0.95, label=lib, color=harness.color(lib))
            axes.bar_label(bars, fmt="%.3g", fontsize=8)
    for axes, label in ((left, "training seconds (median; lower is better)"), (right, "peak RSS MB (lower is better)")):
        axes.set_xticks(range(len(sizes)), [f"{s:g} MB" for s in sizes])
        axes.set_ylabel(label)
        axes.margins(y=0.15)
        axes.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, nargs="+", default=None, help="corpus sizes (default 100 10; --quick: 2)")
    parser.add_argument("--vocab-size", type=int, default=None, help="default 32000 (--quick: 8000)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per trainer and size (default: 1 at >= 50 MB, else 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    parser.add_argument("--local-corpus", action="store_true", help="use the local-files corpus recipe (no apt)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--results", type=Path, default=harness.RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    sizes = args.size_mb or ([2] if args.quick else [100, 10])
    vocab_size = args.vocab_size or (8000 if args.quick else 32000)
    libraries = [name.strip() for name in args.libraries.split(",")]
    rec = harness.Recorder("train", {"size_mb": sizes, "vocab_size": vocab_size, "repeats": args.repeats or "1 at >= 50 MB, else 3", "threads": args.threads, "quick": args.quick},
                           args.results)
    rows = []
    for size in sizes:
        path = corpus.build(size, local=args.local_corpus)
        info = corpus.describe(path)
        repeats = args.repeats or (1 if size >= 50 else 3)
        for library in libraries:
            runs = []
            for attempt in range(repeats):
                harness.warm_page_cache(path)
                spec = {"library": library, "path": str(path), "vocab_size": vocab_size, "threads": args.threads}
                result = harness.run_child([harness.python(), __file__, "--child", json.dumps(spec)],
                                           env={"RAYON_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "true"}, timeout=args.timeout)
                run = {"library": library, "size_mb": size, "corpus_mb": info["bytes"] / 1e6, "corpus": info, "attempt": attempt,
                       "peak_rss_mb": result.peak_rss_mb, "cpu_seconds": result.user_seconds + result.system_seconds, "process_seconds": result.wall_seconds}
                if result.ok and result.records:
                    run.update({k: v for k, v in result.records[-1].items() if k != "peak_rss_mb_self"})
                else:
                    run["error"] = result.failure() or "no result"
                runs.append(run)
                rec.add(kind="run", **run)
                print(f"  {size:g} MB {library:8} run {attempt + 1}/{repeats}: "
                      + (f"{run['train_seconds']:.2f} s, peak RSS {run['peak_rss_mb']:.0f} MB, vocab {run['vocab']}" if "train_seconds" in run else run["error"]),
                      flush=True)
            row = median_row(runs)
            # The median run's memory and CPU, so each row describes one real run.
            rows.append(row)
            rec.add(kind="summary", **row)
    args.results.mkdir(parents=True, exist_ok=True)
    print(summarize(rec, rows, sizes, args.results))
    plot(rows, sizes, args.results / "train.png", f"train a {vocab_size // 1000}k byte-level BPE ({args.threads} threads, "
         f"{rec.machine['cores']}-core {rec.machine['cpu'][:20]})")
    print(f"wrote {rec.write()}, train.md, train.png")


if __name__ == "__main__":
    main()
