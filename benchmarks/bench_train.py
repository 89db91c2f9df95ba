"""Training time and peak memory: tokfree vs HF tokenizers on the same corpus, same settings.

Each trainer runs in its own subprocess (so peak RSS is its own): byte-level BPE, GPT-2 regex,
min_frequency 2, the full 256-byte alphabet.

    python benchmarks/bench_train.py [--size-mb 20] [--vocab-size 32000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import harness  # noqa: E402


def child(library: str, path: str, vocab_size: int) -> None:
    started = time.perf_counter()
    if library == "tokfree":
        import tokfree

        tok = tokfree.train_bpe(path, vocab_size, pre_tokenizer="gpt2", min_frequency=2, show_progress=False)
        size = tok.vocab_size
    else:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train([path], trainer)
        size = tok.get_vocab_size()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "vocab": size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.vocab_size)
        return
    path = corpus.build(args.size_mb)
    size_mb = path.stat().st_size / 1e6
    rows = []
    for library in ("tokfree", "hf tokenizers"):
        results = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, __file__, "--child", library.split()[0], "--path", str(path), "--vocab-size", str(args.vocab_size)],
                                 capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        best = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
        rows.append({"library": library, "seconds": best["seconds"], "MB/s": size_mb / best["seconds"], "peak RSS MB": best["peak_rss_mb"], "vocab": best["vocab"]})
    hf = rows[1]
    for row in rows:
        row["x HF time"] = row["seconds"] / hf["seconds"]
        row["x HF memory"] = row["peak RSS MB"] / hf["peak RSS MB"]
    table = harness.print_table(rows, ["library", "seconds", "MB/s", "peak RSS MB", "x HF time", "x HF memory", "vocab"])
    harness.record("train", [{**r, "corpus_mb": size_mb, "vocab_size": args.vocab_size} for r in rows])
    (harness.RESULTS / "train.md").write_text(f"# train benchmark ({time.strftime('%Y-%m-%d')}, {size_mb:.0f} MB, vocab {args.vocab_size}, {harness.machine()})\n\n```\n{table}\n```\n", encoding="utf-8")
    harness.bar_chart(harness.RESULTS / "train.png", [r["library"] for r in rows], [r["seconds"] for r in rows],
                      title=f"train {args.vocab_size} tokens on {size_mb:.0f} MB (lower is better)", ylabel="seconds")


if __name__ == "__main__":
    main()
