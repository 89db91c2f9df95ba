"""Superword (SuperBPE) and supertoken tokenizers against BPE of the same size (issue 5, English part).

Trains, on the general English train split of `data/_domain` (4.45 MB of public-domain novels), for
each size in `--sizes`:

- `bpe`: `train_bpe` with the GPT-4 pre-tokenizer (the stage-1 pre-tokenizer of the others);
- `superbpe`: `train_superword` (SuperBPE's curriculum, transition t = half the size, tokens of up
  to 4 words, no ": ");
- `supertoken`: `train_superword(method="supertoken")` (TokenAdapt: BPE on seeded random chunks);

and measures on the held-out English split: bytes per token (all UTF-8 bytes / all tokens), the
change in tokens against `bpe`, and encode time (min of `--repeats` runs of `encode_batch` with one
thread over the held-out documents, the same call for all three), as a ratio to `bpe`. Before timing,
every tokenizer is saved as `tokenizer.json` and loaded by HF `tokenizers`: the ids must be equal.

    .venv/bin/python benchmarks/superword.py [--sizes 16384 32768 65536] [--repeats 5] [--no-progress]

Writes `benchmarks/results/superword.md` and `benchmarks/results/superword.png`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from tokfree import Tokenizer, train_bpe  # noqa: E402
from tokfree._corpora import domain_documents  # noqa: E402
from tokfree.trainers import train_superword  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data"
RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("bpe", "superbpe", "supertoken")


def _train(kind: str, texts: list[str], size: int, progress: bool) -> Tokenizer:
    if kind == "bpe":
        return train_bpe(iter(texts), size, pre_tokenizer="gpt4", show_progress=progress)
    if kind == "superbpe":
        return train_superword(iter(texts), size, show_progress=progress)
    return train_superword(iter(texts), size, method="supertoken", show_progress=progress)


def _encode_seconds(tokenizer: Tokenizer, texts: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        tokenizer.encode_batch(texts, num_threads=1)
        best = min(best, time.perf_counter() - started)
    return best


def _hf_mismatches(tokenizer: Tokenizer, texts: list[str]) -> int:
    from tokenizers import Tokenizer as HFTokenizer

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tokenizer.json"
        tokenizer.save(path)
        hf = HFTokenizer.from_file(str(path))
    return sum(hf.encode(text, add_special_tokens=False).ids != ids for text, ids in zip(texts, tokenizer.encode_batch(texts)))


def _plot(rows: list[dict], sizes: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, marker in zip(KINDS, "os^"):
        points = [r for r in rows if r["kind"] == kind]
        left.plot([r["vocab"] for r in points], [r["bytes_per_token"] for r in points], marker=marker, label=kind)
        right.plot([r["size"] for r in points], [r["speed_ratio"] for r in points], marker=marker, label=kind)
    left.set(xscale="log", xlabel="vocabulary size (tokens actually learned)", ylabel="bytes per token (held-out English)", title="Compression (higher is better)")
    right.set(xscale="log", xlabel="nominal vocabulary size", ylabel="encode time / BPE's", title="Encode time vs BPE (lower is better)")
    right.axhline(2.0, color="gray", linestyle="--", linewidth=1)
    for axis in (left, right):
        axis.set_xticks(sizes, [f"{s // 1024}k" for s in sizes])
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16384, 32768, 65536])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    started = time.time()
    train, held_out = domain_documents(DATA, "english", "train"), domain_documents(DATA, "english", "heldout")
    held_out_bytes = sum(len(text.encode("utf-8")) for text in held_out)

    rows: list[dict] = []
    for size in args.sizes:
        tokenizers = {kind: _train(kind, train, size, not args.no_progress) for kind in KINDS}
        bpe_tokens = sum(map(len, tokenizers["bpe"].encode_batch(held_out)))
        bpe_seconds = _encode_seconds(tokenizers["bpe"], held_out, args.repeats)
        for kind, tokenizer in tokenizers.items():
            tokens = sum(map(len, tokenizer.encode_batch(held_out)))
            seconds = bpe_seconds if kind == "bpe" else _encode_seconds(tokenizer, held_out, args.repeats)
            assert all(tokenizer.decode(tokenizer.encode(text)) == text for text in held_out), kind
            rows.append({
                "size": size, "kind": kind, "vocab": tokenizer.vocab_size, "bytes_per_token": held_out_bytes / tokens,
                "vs_bpe": tokens / bpe_tokens - 1, "speed_ratio": seconds / bpe_seconds, "seconds": seconds,
                "hf_mismatches": _hf_mismatches(tokenizer, held_out),
            })  # fmt: skip
            print(f"{size} {kind}: vocab {tokenizer.vocab_size}, {rows[-1]['bytes_per_token']:.3f} bytes/token, "
                  f"{100 * rows[-1]['vs_bpe']:+.1f}% tokens, encode x{rows[-1]['speed_ratio']:.2f}", flush=True)  # fmt: skip

    RESULTS.mkdir(exist_ok=True)
    _plot(rows, args.sizes, RESULTS / "superword.png")
    machine = harness.machine()
    lines = [
        "# Superword and supertoken tokenizers vs BPE (held-out English)",
        "",
        f"`python benchmarks/superword.py --sizes {' '.join(map(str, args.sizes))} --repeats {args.repeats}` "
        f"({time.time() - started:.0f} s); git {machine['git']}, {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}.",
        "",
        f"Trained on `data/_domain/english/train` ({sum(map(len, train)) / 1e6:.2f} M characters), measured on "
        f"`english/heldout` ({held_out_bytes / 1e6:.2f} MB). Encode: min of {args.repeats} runs of `encode_batch(num_threads=1)` "
        "over the held-out documents. HF: documents whose ids differ when HF `tokenizers` loads the saved `tokenizer.json`.",
        "",
        "| nominal size | tokenizer | vocab | bytes/token | tokens vs bpe | encode s | encode vs bpe | HF mismatches |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size'] // 1024}k | {r['kind']} | {r['vocab']:,} | {r['bytes_per_token']:.3f} | {100 * r['vs_bpe']:+.1f}% | "
            f"{r['seconds']:.3f} | {r['speed_ratio']:.2f}x | {r['hf_mismatches']} |"
        )
    lines += [
        "",
        "`bpe` stops early when no pair occurs twice (the corpus is small): its vocab column is what it learned.",
        "",
        "![superword](superword.png)",
        "",
    ]
    (RESULTS / "superword.md").write_text("\n".join(lines))
    print(f"wrote {RESULTS / 'superword.md'} and superword.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
