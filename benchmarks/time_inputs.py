"""Quick tokfree-only timing of the worst-case inputs: min over N `encode` calls, in this process.

For iterating on the encoder (the figures in docs/performance.md for chunk sizes and block-wise
pre-tokenization came from this); the side-by-side record is bench_pathological.py.

    python benchmarks/time_inputs.py [--sizes-mib 1 4 8] [--inputs "prose,random bytes,letters no spaces"] [--repeats 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import vocab as vocabs  # noqa: E402
from bench_pathological import make_input  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", type=float, nargs="+", default=[1, 4])
    parser.add_argument("--inputs", default="prose,random bytes,letters no spaces")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--vocab-mb", type=float, default=100)
    parser.add_argument("--vocab-size", type=int, default=32000)
    args = parser.parse_args()
    tok = vocabs.load_tokfree(vocabs.shared(corpus.build(args.vocab_mb, log=lambda *_: None), args.vocab_size, log=lambda *_: None))
    prose_source = corpus.build(10, log=lambda *_: None).read_text(encoding="utf-8")
    inputs = [name.strip() for name in args.inputs.split(",")]
    for mib in args.sizes_mib:
        size = int(mib * (1 << 20))
        best: dict[str, float] = {}
        for name in inputs:
            text = make_input(name, size, prose_source)
            tokens = len(tok.encode(text))  # warm-up
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                tok.encode(text)
                times.append(time.perf_counter() - started)
            best[name] = min(times)
            ratio = f", {best[name] / best['prose']:.2f}x prose" if "prose" in best else ""
            print(f"{mib:g} MiB {name:<18} {best[name] * 1e3:8.1f} ms  {best[name] * 1e3 / mib:6.1f} ms/MiB  {tokens / size:.3f} tokens/byte{ratio}")


if __name__ == "__main__":
    main()
