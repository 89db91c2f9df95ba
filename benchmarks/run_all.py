"""Runs every benchmark in order: corpus, encode, train, pathological; then writes results/SUMMARY.md.

Each bench runs as its own process and writes `results/<bench>.jsonl` (appended), `<bench>.md`
and `<bench>.png` (replaced). SUMMARY.md gathers every DESIGN.md target line from the .md files.

    python benchmarks/run_all.py                 # the full run: 100 MB corpus, 10 MB encode, 32k vocab
    python benchmarks/run_all.py --quick         # a smoke test at 2 MB (minutes, not for the record)

Options map onto the benches: --size-mb (encode corpus, default 10), --vocab-mb (corpus of the
shared vocabulary, default 100), --train-size-mb (default 100 10), --vocab-size (32000),
--repeats (encode and pathological timed runs, default 3), --rounds (encode: every configuration
R times round-robin, default 1), --train-repeats (default 1 at >= 50 MB, else 3), --max-kib
(pathological series end, default 4096), --only (a subset of the benches; `--only scale` runs
bench_scale.py, the 1 GB train/stream-encode run, which is not part of the default set).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
import harness  # noqa: E402

BENCHES = ("encode", "train", "pathological")
# Run only when named in --only (long: a 1 GB corpus, HF training on it takes minutes).
OPTIONAL = ("scale",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 MB corpora, 8k vocabulary, short series: a smoke test")
    parser.add_argument("--size-mb", type=float, help="encode corpus (default 10)")
    parser.add_argument("--vocab-mb", type=float, help="corpus the shared vocabulary is trained on (default 100)")
    parser.add_argument("--train-size-mb", type=float, nargs="+", help="training corpora (default 100 10)")
    parser.add_argument("--vocab-size", type=int, help="default 32000")
    parser.add_argument("--repeats", type=int, help="timed runs per encode configuration and per pathological size (default 3)")
    parser.add_argument("--rounds", type=int, help="encode: run every configuration this many times, round-robin (default 1)")
    parser.add_argument("--train-repeats", type=int, help="runs per trainer (default 1 at >= 50 MB, else 3)")
    parser.add_argument("--max-kib", type=int, help="largest pathological input (default 4096)")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of: " + ", ".join(BENCHES + OPTIONAL)
                        + f" ({', '.join(OPTIONAL)} only when named)")
    parser.add_argument("--local-corpus", action="store_true", help="use the local-files corpus recipe (no apt)")
    parser.add_argument("--results", type=Path, default=harness.RESULTS)
    args = parser.parse_args()

    only = [b.strip() for b in args.only.split(",")]
    common = (["--quick"] if args.quick else []) + (["--local-corpus"] if args.local_corpus else []) + ["--results", str(args.results)]
    vocab = (["--vocab-mb", f"{args.vocab_mb:g}"] if args.vocab_mb else []) + (["--vocab-size", str(args.vocab_size)] if args.vocab_size else [])
    repeats = ["--repeats", str(args.repeats)] if args.repeats else []
    commands = {
        "encode": ["bench_encode.py", *common, *vocab, *repeats] + (["--size-mb", f"{args.size_mb:g}"] if args.size_mb else [])
        + (["--rounds", str(args.rounds)] if args.rounds else []),
        "train": ["bench_train.py", *common] + (["--size-mb", *(f"{s:g}" for s in args.train_size_mb)] if args.train_size_mb else [])
        + (["--vocab-size", str(args.vocab_size)] if args.vocab_size else []) + (["--repeats", str(args.train_repeats)] if args.train_repeats else []),
        "pathological": ["bench_pathological.py", *common, *vocab, *repeats] + (["--size-mb", f"{args.size_mb:g}"] if args.size_mb else [])
        + (["--max-kib", str(args.max_kib)] if args.max_kib else []),
        "scale": ["bench_scale.py", *common] + (["--vocab-size", str(args.vocab_size)] if args.vocab_size else []),
    }

    # Build the corpora first, so apt's messages and the one-off pool build are not inside a bench.
    sizes = {args.size_mb or (2 if args.quick else 10), args.vocab_mb or (2 if args.quick else 100), *(args.train_size_mb or ([2] if args.quick else [100, 10]))}
    for size in sorted(sizes):
        print(f"corpus {corpus.build(size, local=args.local_corpus)}", flush=True)

    started = time.time()
    failed = []
    for bench in [b for b in BENCHES + OPTIONAL if b in only]:
        argv = [sys.executable, str(HERE / commands[bench][0]), *commands[bench][1:]]
        print(f"\n=== {bench}: {' '.join(argv[1:])}", flush=True)
        t0 = time.time()
        if subprocess.run(argv, check=False).returncode != 0:
            failed.append(bench)
        print(f"=== {bench} took {time.time() - t0:.0f} s", flush=True)

    lines = [f"# Benchmark summary ({time.strftime('%Y-%m-%d')}, {harness.machine()['cpu']}, quick={args.quick})\n",
             "Every DESIGN.md target as measured by the last run of each bench; details in the linked files.\n"]
    for bench in BENCHES + OPTIONAL:
        md = args.results / f"{bench}.md"
        if md.exists():
            text = md.read_text(encoding="utf-8")
            lines.append(f"## [{bench}]({bench}.md)\n")
            lines += [line for line in text.splitlines() if line.startswith("- ") and ("met**" in line or line.endswith("x"))] or ["(no target lines)"]
            lines.append("")
    (args.results / "SUMMARY.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"\nall done in {time.time() - started:.0f} s; {args.results / 'SUMMARY.md'}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
