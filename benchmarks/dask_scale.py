"""Issue 11: training and encoding on Dask, 1 worker vs 2 workers, against the single process.

The corpus (`corpus_<size>mb.txt`, cut into ~8 KB documents as the other benches do) is written
once as `--partitions` JSON Lines shards under `.corpus/` (one document per line, cached), the
way a cluster would read it from shared storage. Every configuration runs in its own child
process and, in each timed pass, reads the shards itself:

- `single, 1 core` / `single, 2 cores`: `count_pretokens` over the shards' documents, then the
  merge loop (`train_counted`), in one process pinned by `taskset` to 1 core, or on both cores;
  encoding: `encode_batch(docs, num_threads=1 or 2)`, documents read inside the timed region;
- `dask, N workers`: a `LocalCluster(n_workers=N, threads_per_worker=1, processes=True)` with
  RAYON_NUM_THREADS=1 (one worker = one core): `count_pretokens_dask` over
  `db.read_text(shards).map(json.loads)` (the workers read and count, a tree of merges), then
  the same merge loop on the client; encoding: `encode_dask(...)` reduced to its token count on
  the workers (the ids stay on the workers, as when they are written out; shipping 25M Python
  ints back to one client would measure pickling).

Cluster start-up and the workers' first import of tokfree are excluded (a warm-up pass). Every
configuration must write the same tokenizer.json bytes and count the same tokens; the run
fails otherwise. Output: `results/dask.md`, `dask.jsonl`, `dask.png`.

    python benchmarks/dask_scale.py [--size-mb 100] [--vocab-size 32000] [--partitions 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import harness  # noqa: E402

CONFIGS = ("single, 1 core", "single, 2 cores", "dask, 1 worker", "dask, 2 workers")
PHASES = ("count", "train", "encode")  # train = count + merge loop


# --- children -----------------------------------------------------------------------------------


def read_shards(paths: list[str]) -> list[str]:
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as file:
            docs.extend(json.loads(line)["text"] for line in file)
    return docs


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def child_single(paths: list[str], vocab_size: int, threads: int, repeats: int, out: str) -> None:
    from tokfree.trainers.bpe import count_pretokens, train_counted

    for number in range(repeats + 1):  # pass 0 is the warm-up
        read_s, _ = timed(lambda: len(read_shards(paths)))
        count_s, counter = timed(lambda: count_pretokens(iter(read_shards(paths)), "gpt2", show_progress=False))
        merge_s, tok = timed(lambda: train_counted(counter, vocab_size, [], 2, None, None, False))
        encode_s, tokens = timed(lambda: sum(map(len, tok.encode_batch(read_shards(paths), num_threads=threads))))
        if number:
            harness.emit({"read_s": read_s, "count_s": count_s, "merge_s": merge_s, "encode_s": encode_s, "tokens": tokens})
    tok.save(out)


def child_dask(paths: list[str], vocab_size: int, workers: int, repeats: int, out: str) -> None:
    import dask.bag as db
    import distributed

    from tokfree.distributed import count_pretokens_dask, encode_dask
    from tokfree.trainers.bpe import train_counted

    started = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                       memory_limit="8GiB", env={"RAYON_NUM_THREADS": "1"})
    client = distributed.Client(cluster)
    client.wait_for_workers(workers)
    client.run(lambda: __import__("tokfree.distributed.dask"))
    startup_s = time.perf_counter() - started

    def bag():
        return db.read_text(paths, blocksize=None).map(json.loads)

    def tokens_of(tok) -> int:
        return encode_dask(tok, bag(), text_column="text").map(len).sum().compute()

    for number in range(repeats + 1):
        count_s, counter = timed(lambda: count_pretokens_dask(bag(), "gpt2", text_column="text"))
        merge_s, tok = timed(lambda: train_counted(counter, vocab_size, [], 2, None, None, False))
        encode_s, tokens = timed(lambda: tokens_of(tok))
        if number:
            harness.emit({"count_s": count_s, "merge_s": merge_s, "encode_s": encode_s, "tokens": tokens, "startup_s": startup_s})
    tok.save(out)
    client.close()
    cluster.close()


# --- parent -------------------------------------------------------------------------------------


def shards(path: Path, partitions: int) -> list[str]:
    """The corpus as `partitions` JSONL files of contiguous ~8 KB documents (cached)."""
    folder = corpus.CACHE / f"dask_{path.stem}_{partitions}"
    names = [folder / f"part-{i:03d}.jsonl" for i in range(partitions)]
    if not all(name.exists() for name in names):
        folder.mkdir(exist_ok=True)
        docs = corpus.documents(path)
        per = -(-len(docs) // partitions)
        for i, name in enumerate(names):
            with open(name, "w", encoding="utf-8") as file:
                file.writelines(json.dumps({"text": doc}) + "\n" for doc in docs[i * per : (i + 1) * per])
    return [str(name) for name in names]


def run(config: str, paths: list[str], args: argparse.Namespace, out: str) -> harness.ChildResult:
    common = [json.dumps(paths), str(args.vocab_size), str(args.repeats), out]
    if config.startswith("single"):
        threads = 1 if "1 core" in config else 2
        pin = ["taskset", "-c", "0"] if threads == 1 else []
        argv = [*pin, harness.python(), __file__, "--child", "single", str(threads), *common]
    else:
        argv = [harness.python(), __file__, "--child", "dask", "1" if "1 worker" in config else "2", *common]
    return harness.run_child(argv, timeout=3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=harness.RESULTS)
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n, paths, vocab_size, repeats, out = args.child
        child = child_single if kind == "single" else child_dask
        child(json.loads(paths), int(vocab_size), int(n), int(repeats), out)
        return

    busy = subprocess.run(["pgrep", "-f", "tests/fuzz|bench_scale"], capture_output=True, text=True).stdout.split()
    path = corpus.build(args.size_mb)
    paths = shards(path, args.partitions)
    for shard in paths:
        harness.warm_page_cache(Path(shard))
    recorder = harness.Recorder("dask", {"size_mb": args.size_mb, "vocab_size": args.vocab_size, "partitions": args.partitions,
                                         "repeats": args.repeats, "doc_bytes": 8192, "corpus": corpus.describe(path),
                                         "other_benchmark_processes_at_start": len(busy)})
    rows: dict[str, dict[str, object]] = {}
    digests = {}
    with tempfile.TemporaryDirectory() as tmp:
        for config in CONFIGS:
            out = f"{tmp}/{len(digests)}.json"
            result = run(config, paths, args, out)
            if not result.ok:
                raise SystemExit(f"{config}: {result.failure()}\n{result.stderr_tail}")
            digests[config] = hashlib.sha256(Path(out).read_bytes()).hexdigest()
            records = result.records
            row: dict[str, object] = {"config": config, "runs": len(records), "tokens": records[-1]["tokens"],
                                      "startup_s": records[-1].get("startup_s"), "tokenizer_sha256": digests[config][:16]}
            for key in ("count_s", "merge_s", "encode_s"):
                row[key] = statistics.median(r[key] for r in records)
                row[key + "_range"] = f"{min(r[key] for r in records):.3g}–{max(r[key] for r in records):.3g}"
            row["train_s"] = statistics.median(r["count_s"] + r["merge_s"] for r in records)
            row["read_s"] = statistics.median(r["read_s"] for r in records) if "read_s" in records[-1] else None
            rows[config] = row
            recorder.add(config=config, seconds=[{k: r[k] for k in ("count_s", "merge_s", "encode_s")} for r in records],
                         tokens=row["tokens"], startup_s=row["startup_s"], tokenizer_sha256=digests[config],
                         process_peak_rss_mb=result.peak_rss_mb, process_cpu_s=result.user_seconds + result.system_seconds)
            print(f"{config}: count {row['count_s']:.2f} s, train {row['train_s']:.2f} s, encode {row['encode_s']:.2f} s", flush=True)
    identical = len(set(digests.values())) == 1 and len({row["tokens"] for row in rows.values()}) == 1
    if not identical:
        raise SystemExit(f"configurations disagree: {digests} {[row['tokens'] for row in rows.values()]}")
    one, two = rows["dask, 1 worker"], rows["dask, 2 workers"]
    speedups = {phase: one[f"{phase}_s"] / two[f"{phase}_s"] for phase in PHASES}  # type: ignore[operator]
    recorder.add(config="summary", speedup_2_vs_1_worker=speedups, identical=identical)
    recorder.results_dir = args.results
    recorder.write()
    write_report(args, recorder, rows, speedups, path)


def write_report(args: argparse.Namespace, recorder: harness.Recorder, rows: dict[str, dict[str, object]],
                 speedups: dict[str, float], path: Path) -> None:
    single2 = rows["single, 2 cores"]
    for row in rows.values():
        for phase in PHASES:
            row[f"{phase} x 1 worker"] = rows["dask, 1 worker"][f"{phase}_s"] / row[f"{phase}_s"]  # type: ignore[operator]
    columns = ["config", "runs", "read_s", "count_s", "count_s_range", "merge_s", "train_s", "encode_s", "encode_s_range",
               "train x 1 worker", "encode x 1 worker", "startup_s", "tokens", "tokenizer_sha256"]
    text = recorder.header("Dask: training and encoding, 1 vs 2 workers") + f"""
Corpus `{path.name}` ({args.size_mb:g} MB) as {args.partitions} JSONL shards of ~8 KB documents; byte-level
BPE, gpt2 pre-tokenizer, vocab {args.vocab_size:,}, min_frequency 2. Seconds are medians of {args.repeats}
passes after a warm-up, each pass reading the shards: `count` = reading + pre-token counting
(+ the merge tree and shipping the counts, for Dask); `merge_s` = the merge loop (always one
process, on the Dask client); `train` = both; `encode` = reading + encoding every document
(Dask: reduced to the token count on the workers). `x 1 worker` = the Dask 1-worker time over
this row's. `read_s`: reading and parsing the shards alone (single process, part of `count` and
`encode`). `startup_s`: starting the cluster (not in the other figures). Reproduce with
`.venv/bin/python benchmarks/dask_scale.py --size-mb {args.size_mb:g} --vocab-size {args.vocab_size} --partitions {args.partitions} --repeats {args.repeats}`.

{harness.markdown_table(list(rows.values()), columns)}

**2 workers vs 1 worker: count {speedups['count']:.2f}x, train (count + merge loop) {speedups['train']:.2f}x,
encode {speedups['encode']:.2f}x.** Every configuration wrote the same tokenizer.json
(sha256 `{rows['dask, 1 worker']['tokenizer_sha256']}…`) and counted the same {single2['tokens']:,} tokens.

The merge loop runs once, on the client, whatever the number of workers (Amdahl: it is the
`merge_s` of every row), so the training speed-up is below the counting speed-up. Against the
single process on both cores, the 2-worker cluster pays for shipping and merging the exported
counts (one export per partition, a tree of merges) and for reading the shards through Dask.
"""
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "dask.md").write_text(text, encoding="utf-8")
    harness.COLORS.update({"single, 1": "#a6cee3", "single, 2": "#1f78b4", "dask, 1": "#b2df8a", "dask, 2": "#33a02c"})
    harness.grouped_bars(args.results / "dask.png", ["count", "train (count + merge)", "encode"],
                         {config: [rows[config][f"{phase}_s"] for phase in PHASES] for config in CONFIGS},  # type: ignore[misc]
                         title=f"tokfree on Dask, {args.size_mb:g} MB, 2-core machine (lower is better)", ylabel="seconds")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
