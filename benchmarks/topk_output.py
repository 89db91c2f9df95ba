"""`TopKOutput` (tokfree.merging.output): exact vs IVF top-k over large output matrices, in one command:
milliseconds per query batch and recall@k against the exact index.

    .venv/bin/python benchmarks/topk_output.py [--sizes 100000,1000000] [--dim 128] [--batch 8]
        [--batches 8] [--noise 0.5] [--bias-std 0.5] [--partitions direction,norm-completed] [--threads 2]

Data (seeded, float32): N rows in N/500 random directions (the centres are N(0, I)), each row its
centre plus `--noise` N(0, I), scaled by exp(0.2 z) (spread norms) and by 1/sqrt(D); biases
N(0, bias_std²); queries a random centre plus `--noise` N(0, I). `--batches` batches of `--batch`
queries are timed one at a time after one warm-up batch: the table gives the median ms per batch
(`candidates(hidden, 10)`) and recall@10 / recall@64 over all those queries, the reference being
the exact index's top-k of the same rows. Each IVF partition is built once per size with the default
n_lists (sqrt N) and run at n_probe = n_lists/64, n_lists/32 and the default n_lists/16.
Build times include k-means and the list-ordered copy. Prints a markdown table and writes nothing
(about 1 minute on 2 idle cores; timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from tokfree.merging.output import TopKOutput


def clustered(n: int, d: int, *, noise: float, bias_std: float, n_queries: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n_clusters = max(16, n // 500)
    centres = torch.randn(n_clusters, d, generator=g)
    rows = centres[torch.randint(n_clusters, (n,), generator=g)]
    rows += noise * torch.randn(n, d, generator=g)
    rows *= torch.exp(0.2 * torch.randn(n, 1, generator=g)) / math.sqrt(d)
    bias = bias_std * torch.randn(n, generator=g)
    queries = centres[torch.randint(n_clusters, (n_queries,), generator=g)] + noise * torch.randn(n_queries, d, generator=g)
    return rows, bias, queries


def time_batches(out: TopKOutput, queries: torch.Tensor, batch: int, n_probe: int | None) -> float:
    """Median milliseconds of `candidates(batch, 10)` over the query batches, after one warm-up."""
    kwargs = {} if n_probe is None else {"n_probe": n_probe}
    out.candidates(queries[:batch], 10, **kwargs)
    times = []
    for s in range(0, len(queries), batch):
        t = time.perf_counter()
        out.candidates(queries[s : s + batch], 10, **kwargs)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="row counts N, comma-separated")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8, help="queries per timed batch (B)")
    parser.add_argument("--batches", type=int, default=8, help="timed batches (recall uses all their queries)")
    parser.add_argument("--noise", type=float, default=0.5, help="spread of rows and queries around their centre")
    parser.add_argument("--bias-std", type=float, default=0.5)
    parser.add_argument("--partitions", default="direction,norm-completed")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_queries = args.batch * args.batches

    lines = [
        f"D={args.dim}, B={args.batch}, {n_queries} queries, noise {args.noise}, bias std {args.bias_std}, "
        f"{args.threads} threads, torch {torch.__version__}",
        "",
        "| N | index | n_lists | n_probe | build s | ms / batch | speed-up | recall@10 | recall@64 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in (int(x) for x in args.sizes.split(",")):
        rows, bias, queries = clustered(n, args.dim, noise=args.noise, bias_std=args.bias_std, n_queries=n_queries)
        t = time.perf_counter()
        exact = TopKOutput(rows, bias)
        build = time.perf_counter() - t
        ref10 = exact.candidates(queries, 10)[0]
        ref64 = exact.candidates(queries, 64)[0]
        exact_ms = time_batches(exact, queries, args.batch, None)
        lines.append(f"| {n:,} | exact | - | - | {build:.2f} | {exact_ms:.1f} | 1.0x | 1.000 | 1.000 |")
        print(lines[-1], flush=True)
        for partition in args.partitions.split(","):
            t = time.perf_counter()
            ivf = TopKOutput(rows, bias, index="ivf", partition=partition, show_progress=False)
            build = time.perf_counter() - t
            lists = ivf.n_lists
            for n_probe in sorted({max(1, math.ceil(lists / 64)), max(1, math.ceil(lists / 32)), ivf.n_probe}):
                ms = time_batches(ivf, queries, args.batch, n_probe)
                r10 = ivf.recall(queries, 10, reference=ref10, n_probe=n_probe)
                r64 = ivf.recall(queries, 64, reference=ref64, n_probe=n_probe)
                lines.append(
                    f"| {n:,} | ivf {partition} | {lists} | {n_probe} | {build:.2f} | {ms:.2f} | "
                    f"{exact_ms / ms:.1f}x | {r10:.3f} | {r64:.3f} |"
                )
                print(lines[-1], flush=True)
        del exact, rows, bias
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
