"""Bounded memory at scale: train a 32k BPE on a 1 GB corpus and stream-encode it, tokfree vs HF tokenizers.

The 1 GB corpus is made from the 100 MB benchmark corpus (`corpus.py`) by `scaled_corpus`: its
documents (~8 KB pieces cut at line ends) are written again and again, each pass in a seeded
shuffled order, and every copy of a document gets seeded word-level edits (swapped letters,
changed case, a letter replaced, dropped or doubled, digits glued on), so the distinct pre-tokens
keep growing with the size instead of stopping at the base corpus's. The file is written as it is
made (the 1 GB is never in memory) and cached in benchmarks/.corpus/ with its sha256.

Each measurement runs in its own subprocess (peak RSS = that process's VmHWM, CPU from wait4),
after warming the page cache:

- train: tokfree `train_bpe(path, vocab_size, pre_tokenizer="gpt2", min_frequency=2)` and HF
  `BpeTrainer(min_frequency=2, initial_alphabet=ByteLevel.alphabet())` with the `ByteLevel`
  pre-tokenizer (bench_train.py's setups), both reading the file themselves;
- encode, with the tokfree vocabulary just trained: tokfree `Tokenizer.encode_file` (streams the
  file in 1 MiB chunks cut where the pre-tokenizer cannot join text, writes uint32 ids) and HF
  `encode_batch` over the same file read in ~1 MiB blocks of whole lines, 4 blocks per thread a
  batch (HF has no file encoder; that is how one streams with it), same vocabulary
  (`tok.to_hf()`), ids counted; HF encodes the first --hf-encode-mb (200) MB only, since at its
  speed the whole file would take most of an hour, and its memory is per batch (it does not grow
  with the file), so speed is compared per MB;
- the distinct pre-tokens of the base and the scaled corpus (gpt2 pre-tokenizer, tokfree's counter).

    python benchmarks/bench_scale.py [--size-mb 1000] [--vocab-size 32000] [--seed 0] [--threads 2] [--hf-encode-mb 200] [--quick]
    python benchmarks/run_all.py --only scale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import harness  # noqa: E402

LIBRARIES = ("tokfree", "hf")
DOC_BYTES = 8192  # documents of the base corpus: ~8 KB pieces cut at line ends
EDIT_RATE = 0.05  # edits per word of a copied document (a new pass has new edits)
HF_BLOCK_BYTES = 1 << 20  # the blocks of whole lines HF encodes per encode_batch item
ENCODE_CHUNK_BYTES = 1 << 20


# --- the scaled corpus ---------------------------------------------------------------------------


def _documents(base: Path) -> list[bytes]:
    """The base corpus cut at line ends into pieces of about DOC_BYTES (bytes, so ~1x the file in memory)."""
    data = base.read_bytes()
    docs, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start + DOC_BYTES)
        end = len(data) if end < 0 else end + 1
        docs.append(data[start:end])
        start = end
    return docs


def _edit(word: str, rng: random.Random) -> str:
    """One seeded word-level perturbation of `word` (letters only, at least 2 characters)."""
    kind = rng.randrange(6)
    i = rng.randrange(len(word) - 1)
    if kind == 0:  # swap two neighbouring letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:  # change case
        return word.upper() if rng.random() < 0.5 else word.swapcase()
    if kind == 2:  # a letter replaced
        return word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i + 1:]
    if kind == 3:  # a letter dropped
        return word[:i] + word[i + 1:]
    if kind == 4:  # a letter doubled
        return word[:i] + word[i] + word[i:]
    return word + str(rng.randrange(10 ** rng.randrange(1, 5)))  # digits glued on


def perturb(doc: str, rng: random.Random, rate: float = EDIT_RATE) -> str:
    """`doc` with about `rate` of its words edited (`_edit`); positions and edits from `rng`."""
    if len(doc) < 2:
        return doc
    # ~1 word per 6 characters: pick random characters and edit the word each one falls in.
    picks = sorted(rng.randrange(len(doc)) for _ in range(max(1, int(len(doc) / 6 * rate))))
    pieces, done = [], 0
    for pos in picks:
        if pos < done or not doc[pos].isalpha():
            continue
        start, end = pos, pos + 1
        while start > done and doc[start - 1].isalpha():
            start -= 1
        while end < len(doc) and doc[end].isalpha():
            end += 1
        if end - start < 2:
            continue
        pieces += [doc[done:start], _edit(doc[start:end], rng)]
        done = end
    pieces.append(doc[done:])
    return "".join(pieces)


def scaled_corpus(size_mb: float, seed: int, *, base_mb: float = 100, local: bool = False, log=print) -> Path:
    """A `size_mb` MB corpus from the `base_mb` MB benchmark corpus: seeded shuffled passes over its
    documents, each copy perturbed (`perturb`); written as it is made, cached in benchmarks/.corpus/.

    The first pass is the base corpus unchanged (in shuffled order); later passes are perturbed.
    The same (size, seed, base) always gives the same bytes (sha256 in the manifest).
    """
    base = corpus.build(base_mb, local=local, log=log)
    out = corpus.CACHE / f"scaled_{base.stem}_{size_mb:g}mb_seed{seed}.txt"
    if out.exists():
        return out
    started = time.perf_counter()
    docs = _documents(base)
    target = int(size_mb * 1_000_000)
    rng = random.Random(seed)
    digest, written, passes = hashlib.sha256(), 0, 0
    tmp = out.with_suffix(".tmp")
    with tmp.open("wb") as file:
        while written < target:
            order = list(range(len(docs)))
            rng.shuffle(order)
            for index in order:
                text = docs[index] if passes == 0 else perturb(docs[index].decode("utf-8"), rng).encode("utf-8")
                text = text[: target - written]
                if written + len(text) >= target:  # end on a whole line (and a whole character)
                    text = text[: text.rfind(b"\n") + 1] or text[:0]
                    file.write(text)
                    digest.update(text)
                    written = target
                    break
                file.write(text)
                digest.update(text)
                written += len(text)
            passes += 1
    tmp.rename(out)
    manifest = corpus._manifest()
    manifest[out.name] = {"recipe": f"scaled from {base.name}", "base": base.name, "seed": seed, "edit_rate": EDIT_RATE,
                          "passes": passes, "bytes": out.stat().st_size, "sha256": digest.hexdigest()}
    corpus._save_manifest(manifest)
    log(f"scaled corpus {out.name}: {out.stat().st_size / 1e6:.0f} MB in {passes} passes, {time.perf_counter() - started:.0f} s")
    return out


# --- children ------------------------------------------------------------------------------------


def _train(spec: dict) -> dict:
    if spec["library"] == "tokfree":
        import tokfree

        tok = tokfree.train_bpe(spec["path"], spec["vocab_size"], pre_tokenizer="gpt2", min_frequency=2, show_progress=False)
        if spec.get("save"):
            tok.save(spec["save"])
        return {"vocab": tok.vocab_size}
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=spec["vocab_size"], min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([spec["path"]], trainer)
    return {"vocab": tok.get_vocab_size()}


def _hf_blocks(path: str):
    """The file as ~HF_BLOCK_BYTES blocks of whole lines (the last may lack a newline)."""
    with open(path, encoding="utf-8", newline="") as file:
        block, size = [], 0
        for line in file:
            block.append(line)
            size += len(line)
            if size >= HF_BLOCK_BYTES:
                yield "".join(block)
                block, size = [], 0
        if block:
            yield "".join(block)


def _encode(spec: dict) -> dict:
    import tokfree

    tok = tokfree.Tokenizer.from_file(spec["tokenizer"])
    hf = tok.to_hf() if spec["library"] == "hf" else None
    before = harness.peak_rss_mb()  # interpreter, libraries and vocabulary: what encoding adds is the rest
    started = time.perf_counter()
    if hf is None:
        n = tok.encode_file(spec["path"], spec["out"], chunk_bytes=ENCODE_CHUNK_BYTES, num_threads=spec["threads"])
        return {"ids": n, "encoded_mb": Path(spec["path"]).stat().st_size / 1e6, "rss_before_mb": before, "seconds": time.perf_counter() - started}
    batch, n, done = [], 0, 0
    limit = spec["max_mb"] * 1e6 if spec.get("max_mb") else float("inf")
    for block in _hf_blocks(spec["path"]):
        batch.append(block)
        done += len(block.encode("utf-8"))
        if len(batch) == 4 * spec["threads"] or done >= limit:
            n += sum(len(e.ids) for e in hf.encode_batch(batch, add_special_tokens=False))
            batch = []
        if done >= limit:
            break
    if batch:
        n += sum(len(e.ids) for e in hf.encode_batch(batch, add_special_tokens=False))
    return {"ids": n, "encoded_mb": done / 1e6, "rss_before_mb": before, "seconds": time.perf_counter() - started}


def _count(spec: dict) -> dict:
    from tokfree.trainers.bpe import count_pretokens

    return {"distinct_pretokens": count_pretokens(spec["path"], "gpt2", show_progress=False).distinct()}


def child(spec: dict) -> None:
    started = time.perf_counter()
    record = {"train": _train, "encode": _encode, "count": _count}[spec["task"]](spec)
    harness.emit({"seconds": time.perf_counter() - started, **record})  # encode times itself (without loading)


def run(spec: dict, threads: int, timeout: float) -> dict:
    """Runs one child and returns its row: its record plus peak RSS, CPU and process seconds."""
    harness.warm_page_cache(Path(spec["path"]))
    result = harness.run_child([harness.python(), __file__, "--child", json.dumps(spec)],
                               env={"RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true"}, timeout=timeout)
    row = {"task": spec["task"], "library": spec.get("library", "tokfree"), "peak_rss_mb": result.peak_rss_mb,
           "cpu_seconds": result.user_seconds + result.system_seconds, "process_seconds": result.wall_seconds}
    if result.ok and result.records:
        row.update({k: v for k, v in result.records[-1].items() if k != "peak_rss_mb_self"})
    else:
        row["error"] = result.failure() or "no result"
    return row


# --- report --------------------------------------------------------------------------------------


def summarize(rec: harness.Recorder, rows: list[dict], info: dict, base_info: dict, results: Path) -> str:
    counts = {r["corpus"]: r.get("distinct_pretokens") for r in rows if r["task"] == "count"}
    train = {r["library"]: r for r in rows if r["task"] == "train"}
    encode = {r["library"]: r for r in rows if r["task"] == "encode"}
    mb = info["bytes"] / 1e6
    hf_train, hf_encode = train.get("hf", {}), encode.get("hf", {})
    for r in [*train.values(), *encode.values()]:
        if "seconds" in r:
            r["MB"] = round(r.get("encoded_mb", mb), 1)  # 999.99 would print as 1e+03
            r["MB/s"] = r["MB"] / r["seconds"]
            r["CPU/wall"] = r["cpu_seconds"] / r["process_seconds"]
            r["RSS / corpus"] = r["peak_rss_mb"] / mb
    for group, hf in ((train, hf_train), (encode, hf_encode)):
        for r in group.values():
            if "seconds" in r and "seconds" in hf:
                r["x HF memory"] = r["peak_rss_mb"] / hf["peak_rss_mb"]
                r["x HF time"] = hf["MB/s"] / r["MB/s"]  # time per MB: HF may encode only a prefix (--hf-encode-mb)
    columns = ["library", "MB", "seconds", "MB/s", "process s", "CPU s", "CPU/wall", "peak RSS MB", "RSS / corpus", "x HF memory", "x HF time"]

    def table(group: dict, extra: list[str]) -> str:
        return harness.markdown_table([{**r, "process s": r.get("process_seconds"), "CPU s": r.get("cpu_seconds"), "peak RSS MB": r.get("peak_rss_mb"),
                                        "RSS before MB": r.get("rss_before_mb"), "status": r.get("error", "ok")} for r in group.values()],
                                      columns + extra + ["status"])

    tf_train, tf_encode = train.get("tokfree", {}), encode.get("tokfree", {})
    memory_ok = None if tf_train.get("x HF memory") is None else tf_train["x HF memory"] < 1
    parts = [
        rec.header("Bounded memory at scale"),
        f"Corpus: `{info['name']}`, {mb:,.0f} MB (sha256 `{(info.get('sha256') or '')[:16]}…`), made by `scaled_corpus({rec.params['size_mb']:g}, "
        f"seed={rec.params['seed']})` from `{base_info['name']}` ({base_info['bytes'] / 1e6:,.0f} MB): seeded shuffled passes over its "
        f"~{DOC_BYTES // 1024} KB documents, each later copy with {EDIT_RATE:.0%} of its words edited. Distinct gpt2 pre-tokens: "
        f"{harness.fmt(counts.get('base'))} in the base corpus, {harness.fmt(counts.get('scaled'))} in the scaled one.\n",
        "Each row is one subprocess; seconds: the call (file reading included), `process s` the whole child; peak RSS: the child's VmHWM; "
        "CPU s: user+system from wait4.\n",
        f"## Train a {rec.params['vocab_size']:,} byte-level BPE (gpt2 pre-tokenizer, min_frequency 2, {rec.params['threads']} threads)\n",
        table(train, ["vocab"]),
        "",
        f"- training on {mb:,.0f} MB completes with peak memory below HF tokenizers': **{harness.fmt(tf_train.get('x HF memory'))}x** {harness.verdict(memory_ok)}",
        "",
        f"## Encode the {mb:,.0f} MB file (the tokfree vocabulary above, {rec.params['threads']} threads)\n",
        "tokfree: `Tokenizer.encode_file(path, out)` (1 MiB chunks cut where the pre-tokenizer cannot join text; uint32 ids written to a .bin). "
        "HF: `encode_batch` over ~1 MiB blocks of whole lines read from the file, same vocabulary (`to_hf()`), ids counted.\n",
        table(encode, ["RSS before MB", "ids"]),
        "",
        "`RSS before MB`: the child's peak RSS once the interpreter, the libraries and the vocabulary were loaded, before encoding. "
        + (f"HF encoded the first {hf_encode['MB']:,.0f} MB only (`--hf-encode-mb`; its memory is per batch, so it does not grow "
           "with the file), so its seconds are for that prefix; `x HF time` compares time per MB.\n" if hf_encode.get("MB", mb) < mb else ""),
    ]
    if "seconds" in tf_encode:
        grown = tf_encode["peak_rss_mb"] - tf_encode["rss_before_mb"]
        parts += [f"- tokfree streaming encode of {mb:,.0f} MB: peak RSS {tf_encode['peak_rss_mb']:,.0f} MB, {grown:,.0f} MB above the "
                  f"loaded tokenizer ({grown / mb:.1%} of the file): {harness.verdict(tf_encode['peak_rss_mb'] < 0.25 * mb)} "
                  "(bounded: peak RSS < 25% of the file)", ""]
    text = "\n".join(parts)
    (results / "scale.md").write_text(text, encoding="utf-8")
    return text


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Seconds and peak RSS (GB) of each library's train and encode, side by side (log scale)."""
    groups = [("train", "s_per_gb"), ("train", "peak_rss_mb"), ("encode", "s_per_gb"), ("encode", "peak_rss_mb")]
    series = {lib: [next((1000 / r["MB/s"] if key == "s_per_gb" else r[key] / 1000 for r in rows
                          if r["task"] == task and r["library"] == lib and "MB/s" in r), None) for task, key in groups] for lib in LIBRARIES}
    labels = [f"{task}\n{'s per GB' if key == 's_per_gb' else 'peak RSS GB'}" for task, key in groups]
    harness.grouped_bars(path, labels, series, title=title, ylabel="s per GB, peak RSS GB (log; lower is better)", log=True)


def _report(rec: harness.Recorder, rows: list[dict], info: dict, base_info: dict, results: Path) -> None:
    print(summarize(rec, rows, info, base_info, results))
    params = rec.params
    plot(rows, results / "scale.png", f"{params['size_mb']:g} MB: train {params['vocab_size'] // 1000}k BPE, stream-encode "
         f"({params['threads']} threads, {rec.machine['cores']} cores)")


def rerender(results: Path) -> None:
    """scale.md and scale.png again from the last run recorded in scale.jsonl."""
    records = [json.loads(line) for line in (results / "scale.jsonl").open(encoding="utf-8")]
    run_id = records[-1]["run"]
    mine = [r for r in records if r["run"] == run_id]
    rec = harness.Recorder("scale", mine[0]["params"], results, run_id=run_id)
    rec.machine = mine[0]["machine"]
    rows = [{k: v for k, v in r.items() if k not in ("bench", "run", "time", "kind", "params", "machine", "corpus_info")} for r in mine]
    base = corpus.build(rec.params["base_mb"])
    _report(rec, rows, mine[0]["corpus_info"], corpus.describe(base), results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=None, help="scaled corpus size (default 1000; --quick: 20)")
    parser.add_argument("--base-mb", type=float, default=None, help="benchmark corpus it is made from (default 100; --quick: 10)")
    parser.add_argument("--vocab-size", type=int, default=None, help="default 32000 (--quick: 8000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--skip-encode", action="store_true")
    parser.add_argument("--hf-encode-mb", type=float, default=None, help="HF encodes only this prefix of the file (default 200; --quick: all)")
    parser.add_argument("--quick", action="store_true", help="a small smoke test (not for the record)")
    parser.add_argument("--local-corpus", action="store_true", help="use the local-files corpus recipe (no apt)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--results", type=Path, default=harness.RESULTS)
    parser.add_argument("--rerender", action="store_true", help="rewrite scale.md and scale.png from the last run in scale.jsonl (no measuring)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.rerender:
        rerender(args.results)
        return
    size = args.size_mb or (20 if args.quick else 1000)
    base_mb = args.base_mb or (10 if args.quick else 100)
    vocab_size = args.vocab_size or (8000 if args.quick else 32000)
    libraries = [name.strip() for name in args.libraries.split(",")]
    path = scaled_corpus(size, args.seed, base_mb=base_mb, local=args.local_corpus)
    base = corpus.build(base_mb, local=args.local_corpus)
    info, base_info = corpus.describe(path), corpus.describe(base)
    rec = harness.Recorder("scale", {"size_mb": size, "base_mb": base_mb, "seed": args.seed, "vocab_size": vocab_size, "threads": args.threads,
                                     "edit_rate": EDIT_RATE, "hf_encode_mb": args.hf_encode_mb or (None if args.quick else 200), "quick": args.quick},
                           args.results)
    rows = []

    def record(row: dict, **extra: object) -> None:
        row.update(extra)
        rows.append(row)
        rec.add(kind="run", corpus_info=info, **row)
        status = row.get("error") or f"{row['seconds']:.1f} s, peak RSS {row['peak_rss_mb']:.0f} MB"
        print(f"  {row['task']:6} {row['library']:8} {status}  {({k: row[k] for k in ('vocab', 'ids', 'distinct_pretokens') if k in row})}", flush=True)

    tokenizer_file = corpus.CACHE / f"scale_tokfree_{vocab_size}.json"
    for name, corpus_path in (("base", base), ("scaled", path)):
        record(run({"task": "count", "path": str(corpus_path)}, args.threads, args.timeout), corpus=name)
    for library in libraries:
        spec = {"task": "train", "library": library, "path": str(path), "vocab_size": vocab_size}
        if library == "tokfree":
            spec["save"] = str(tokenizer_file)
        record(run(spec, args.threads, args.timeout))
    if not args.skip_encode and tokenizer_file.exists():
        out = corpus.CACHE / "scale_ids.bin"
        for library in libraries:
            spec = {"task": "encode", "library": library, "path": str(path), "tokenizer": str(tokenizer_file), "threads": args.threads, "out": str(out),
                    "max_mb": args.hf_encode_mb or (None if args.quick else 200)}
            record(run(spec, args.threads, args.timeout))
        out.unlink(missing_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    _report(rec, rows, info, base_info, args.results)
    print(f"wrote {rec.write()}, scale.md, scale.png")


if __name__ == "__main__":
    main()
