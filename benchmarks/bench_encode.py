"""Encode speed: tokfree vs tiktoken vs HF tokenizers, same vocabulary, same corpus, one run.

A byte-level BPE with the gpt2 preset is trained by tokfree on the corpus, saved as tokenizer.json
(loaded by HF `tokenizers`) and turned into a `tiktoken.Encoding` (ranks = ids). Ids are checked
to agree before anything is timed. Then: MB/s on one thread (a loop over ~8 KB documents), batch
encoding on 2 threads, and pathological 1 MiB inputs against 1 MiB of prose.

    python benchmarks/bench_encode.py [--size-mb 10] [--vocab-size 32000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import harness  # noqa: E402

import tokfree  # noqa: E402
from tokfree.pretokenize import PRESETS  # noqa: E402


def peers(tok: tokfree.Tokenizer, path: Path):
    import tiktoken
    import tokenizers

    tok.save(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    parts = tok.to_parts()
    ranks = {token: token_id for token_id, token in parts.vocab}
    enc = tiktoken.Encoding("tokfree-bench", pat_str=PRESETS["gpt2"], mergeable_ranks=ranks, special_tokens=dict(parts.special_tokens))
    return hf, enc


def pathological_inputs(prose: str) -> dict[str, str]:
    rng = random.Random(7)
    mib = 1 << 20
    return {
        "prose": prose[:mib],
        "one letter": "a" * mib,
        "spaces": " " * mib,
        "newlines": "\n" * mib,
        "random bytes": bytes(rng.getrandbits(8) for _ in range(mib)).decode("utf-8", errors="replace"),
        "letters, no spaces": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(mib)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=10)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    path = corpus.build(args.size_mb)
    docs = corpus.documents(path)
    total_mb = sum(len(d.encode()) for d in docs) / 1e6
    print(f"corpus: {path.name}, {len(docs)} documents, {total_mb:.1f} MB; training a {args.vocab_size} vocabulary...")
    tok = tokfree.train_bpe(str(path), args.vocab_size, pre_tokenizer="gpt2", special_tokens=["<|endoftext|>"], show_progress=False)
    hf, enc = peers(tok, corpus.CACHE / "bench_tokenizer.json")

    sample = docs[:: max(1, len(docs) // 300)]
    mine = tok.encode_batch(sample)
    mismatch_tiktoken = sum(a != enc.encode_ordinary(d) for a, d in zip(mine, sample))
    mismatch_hf = sum(a != b.ids for a, b in zip(mine, hf.encode_batch(sample, add_special_tokens=False)))
    print(f"parity on {len(sample)} documents: {mismatch_tiktoken} differ from tiktoken, {mismatch_hf} from HF")

    runs = {
        ("encode, 1 thread", "tokfree"): lambda: [tok.encode(d) for d in docs],
        ("encode, 1 thread", "tiktoken"): lambda: [enc.encode_ordinary(d) for d in docs],
        ("encode, 1 thread", "hf tokenizers"): lambda: [hf.encode(d, add_special_tokens=False).ids for d in docs],
        ("encode_batch, 1 thread", "tokfree"): lambda: tok.encode_batch(docs, num_threads=1),
        ("encode_batch, 2 threads", "tokfree"): lambda: tok.encode_batch(docs, num_threads=2),
        ("encode_batch, 2 threads", "tiktoken"): lambda: enc.encode_ordinary_batch(docs, num_threads=2),
        ("encode_batch, 2 threads", "hf tokenizers"): lambda: [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)],
    }
    rows = []
    for (what, library), run in runs.items():
        seconds = harness.median_seconds(run, repeats=args.repeats)
        rows.append({"what": what, "library": library, "MB/s": total_mb / seconds, "seconds": seconds})
    speed = {(r["what"], r["library"]): r["MB/s"] for r in rows}
    for row in rows:
        row["x tiktoken"] = row["MB/s"] / speed[("encode, 1 thread", "tiktoken")]
        row["x tokfree 1 thread"] = row["MB/s"] / speed[("encode, 1 thread", "tokfree")]

    for name, text in pathological_inputs("".join(docs)).items():
        for library, run in (("tokfree", lambda t=text: tok.encode(t)), ("tiktoken", lambda t=text: enc.encode_ordinary(t))):
            try:
                seconds = harness.median_seconds(run, repeats=args.repeats)
                rows.append({"what": f"1 MiB {name}", "library": library, "seconds": seconds, "MB/s": 1.048576 / seconds})
            except BaseException as err:  # tiktoken's Rust panics arrive as PanicException (a BaseException)
                rows.append({"what": f"1 MiB {name}", "library": library, "error": f"{type(err).__name__}: {str(err)[:60]}"})
    prose_seconds = next(r["seconds"] for r in rows if r["what"] == "1 MiB prose" and r["library"] == "tokfree")
    for row in rows:
        if row["what"].startswith("1 MiB") and row["library"] == "tokfree":
            row["x prose time"] = row["seconds"] / prose_seconds

    table = harness.print_table(rows, ["what", "library", "MB/s", "x tiktoken", "x tokfree 1 thread", "x prose time", "error"])
    harness.record("encode", [{**r, "corpus_mb": total_mb, "vocab_size": args.vocab_size, "parity_mismatches": {"tiktoken": mismatch_tiktoken, "hf": mismatch_hf}} for r in rows])
    (harness.RESULTS / "encode.md").write_text(f"# encode benchmark ({time.strftime('%Y-%m-%d')}, {harness.machine()})\n\n```\n{table}\n```\n", encoding="utf-8")
    main_rows = [r for r in rows if not r["what"].startswith("1 MiB")]
    harness.bar_chart(harness.RESULTS / "encode.png", [f"{r['library']}\n{r['what']}" for r in main_rows], [r["MB/s"] for r in main_rows],
                      title=f"encode speed, {total_mb:.0f} MB, {args.vocab_size}-token gpt2-style BPE", ylabel="MB/s")


if __name__ == "__main__":
    main()
