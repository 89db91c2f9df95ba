"""Superword (SuperBPE) and supertoken tokenizers against BPE of the same size, in English and
other languages, and cross-lingual token premiums (issue 5): the whole report in one command.

Trains, on the general English train split of `data/_domain` (4.45 MB of public-domain novels) and
on the train split of the parallel Bible in each other language (`tokfree data fetch bible`), for
each size in `--sizes`:

- `bpe`: `train_bpe` with the GPT-4 pre-tokenizer (the stage-1 pre-tokenizer of the others);
- `superbpe`: `train_superword` (SuperBPE's curriculum, transition t = half the size, tokens of up
  to 4 words, no ": ");
- `supertoken`: `train_superword(method="supertoken")` (TokenAdapt: BPE on seeded random chunks);

and measures on the held-out English split: bytes per token (all UTF-8 bytes / all tokens), the
change in tokens against `bpe`, and encode time (min of `--repeats` runs of `encode_batch` with one
thread over the held-out documents, the same call for all three), as a ratio to `bpe`. Before timing,
every tokenizer is saved as `tokenizer.json` and loaded by HF `tokenizers`: the ids must be equal.
Where `bpe` runs out of pairs seen twice before the size, `bpe-full` (min_frequency=1) fills it.

Then the premium sections of `premiums.py` (vocabulary sizing per language, premium distributions
over all UDHR languages for GPT-2, cl100k_base, o200k_base and our multilingual tokenizers).

    .venv/bin/python benchmarks/superword.py [--sizes 16384 32768 65536] [--repeats 5] [--languages ...] [--no-progress]

Needs `tokfree data fetch` and `tokfree data fetch bible`. Writes `benchmarks/results/superword.md`
and its PNGs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import premiums  # noqa: E402

from tokfree import Tokenizer, train_bpe  # noqa: E402
from tokfree._corpora import bible_documents, domain_documents  # noqa: E402
from tokfree.data._bible import TRANSLATIONS  # noqa: E402
from tokfree.trainers import train_superword  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data"
RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("bpe", "superbpe", "supertoken")


def _train(kind: str, texts: list[str], size: int, progress: bool) -> Tokenizer:
    if kind in ("bpe", "bpe-full"):
        return train_bpe(iter(texts), size, pre_tokenizer="gpt4", min_frequency=2 if kind == "bpe" else 1, show_progress=progress)
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


def _plot_languages(rows: list[dict], sizes: list[int], path: Path) -> None:
    """One panel per nominal size: tokens vs BPE per language, a bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    languages = list(dict.fromkeys(r["corpus"] for r in rows))
    figure, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.8), sharey=True, squeeze=False)
    for axis, size in zip(axes[0], sizes):
        for offset, kind in zip((-0.2, 0.2), ("superbpe", "supertoken")):
            values = [next(100 * r["vs_bpe"] for r in rows if r["corpus"] == lang and r["size"] == size and r["kind"] == kind) for lang in languages]
            axis.bar([i + offset for i in range(len(languages))], values, width=0.4, label=kind)
        axis.set_xticks(range(len(languages)), languages, rotation=45, fontsize=8)
        axis.axhline(0, color="gray", linewidth=0.8)
        axis.set_title(f"{size // 1024}k", fontsize=10)
    axes[0][0].set_ylabel("tokens vs BPE of the same size (%)")
    axes[0][0].legend(fontsize=8)
    figure.suptitle("Held-out Bible text (books 60-66), lower is better")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _compare(corpus: str, train: list[str], held_out: list[str], sizes: list[int], repeats: int, progress: bool) -> list[dict]:
    """Rows of bpe, superbpe, supertoken (and bpe-full if bpe stopped early) per size."""
    held_out_bytes = sum(len(text.encode("utf-8")) for text in held_out)
    rows: list[dict] = []
    for size in sizes:
        tokenizers = {kind: _train(kind, train, size, progress) for kind in KINDS}
        if tokenizers["bpe"].vocab_size < size:
            tokenizers["bpe-full"] = _train("bpe-full", train, size, progress)
        bpe_tokens = sum(map(len, tokenizers["bpe"].encode_batch(held_out)))
        bpe_seconds = _encode_seconds(tokenizers["bpe"], held_out, repeats)
        for kind, tokenizer in tokenizers.items():
            tokens = sum(map(len, tokenizer.encode_batch(held_out)))
            seconds = bpe_seconds if kind == "bpe" else _encode_seconds(tokenizer, held_out, repeats)
            assert all(tokenizer.decode(tokenizer.encode(text)) == text for text in held_out), kind
            rows.append({
                "corpus": corpus, "size": size, "kind": kind, "vocab": tokenizer.vocab_size, "bytes_per_token": held_out_bytes / tokens,
                "vs_bpe": tokens / bpe_tokens - 1, "speed_ratio": seconds / bpe_seconds, "seconds": seconds,
                "hf_mismatches": _hf_mismatches(tokenizer, held_out),
            })  # fmt: skip
            print(f"{corpus} {size} {kind}: vocab {tokenizer.vocab_size}, {rows[-1]['bytes_per_token']:.3f} bytes/token, "
                  f"{100 * rows[-1]['vs_bpe']:+.1f}% tokens, encode x{rows[-1]['speed_ratio']:.2f}", flush=True)  # fmt: skip
    return rows


def _table(rows: list[dict], *, language: bool) -> list[str]:
    first = "| language | nominal size |" if language else "| nominal size |"
    lines = [
        f"{first} tokenizer | vocab | bytes/token | tokens vs bpe | encode s | encode vs bpe | HF mismatches |",
        "|---" * (8 + language) + "|",
    ]
    for r in rows:
        lead = f"| {r['corpus']} | {r['size'] // 1024}k |" if language else f"| {r['size'] // 1024}k |"
        lines.append(
            f"{lead} {r['kind']} | {r['vocab']:,} | {r['bytes_per_token']:.3f} | {100 * r['vs_bpe']:+.1f}% | "
            f"{r['seconds']:.3f} | {r['speed_ratio']:.2f}x | {r['hf_mismatches']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16384, 32768, 65536])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--languages", nargs="*", default=[code for code in TRANSLATIONS if code != "eng"],
                        help="Bible languages besides English (UDHR codes; default: all)")
    parser.add_argument("--no-premiums", action="store_true", help="skip the token-premium part (premiums.py)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    started = time.time()
    train, held_out = domain_documents(DATA, "english", "train"), domain_documents(DATA, "english", "heldout")
    held_out_bytes = sum(len(text.encode("utf-8")) for text in held_out)

    rows = _compare("english", train, held_out, args.sizes, args.repeats, not args.no_progress)
    language_rows: list[dict] = []
    for code in args.languages:
        language_rows += _compare(
            code, bible_documents(code, "train", source="full"), bible_documents(code, "heldout", source="full"), args.sizes, args.repeats, not args.no_progress
        )
    premium_lines = [] if args.no_premiums else premiums.report(["--no-progress"] if args.no_progress else [])[0]
    RESULTS.mkdir(exist_ok=True)
    _plot([r for r in rows if r["kind"] in KINDS], args.sizes, RESULTS / "superword.png")
    if language_rows:
        _plot_languages(language_rows, args.sizes, RESULTS / "superword_languages.png")
    machine = harness.machine()
    lines = [
        "# Superword and supertoken tokenizers vs BPE (held-out English)",
        "",
        f"`python benchmarks/superword.py --sizes {' '.join(map(str, args.sizes))} --repeats {args.repeats}"
        f"{' --no-premiums' if args.no_premiums else ''}` "
        f"({time.time() - started:.0f} s); git {machine['git']}, {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}.",
        "",
        f"Trained on `data/_domain/english/train` ({sum(map(len, train)) / 1e6:.2f} M characters), measured on "
        f"`english/heldout` ({held_out_bytes / 1e6:.2f} MB). Encode: min of {args.repeats} runs of `encode_batch(num_threads=1)` "
        "over the held-out documents. HF: documents whose ids differ when HF `tokenizers` loads the saved `tokenizer.json`.",
        "",
    ]
    lines += _table(rows, language=False)
    lines += [
        "",
        "`bpe` stops when no pair occurs twice (the corpus is small): its vocab column is what it learned. `bpe-full` "
        "(min_frequency=1) merges pairs seen once too, until every training word is one token: the most vocabulary a "
        "word-level BPE can use on this corpus (tokens vs `bpe` in its row).",
        "",
        "![superword](superword.png)",
        "",
    ]
    if language_rows:
        lines += [
            "## Other languages (parallel Bible)",
            "",
            "Each language trained on its Bible train split (books 1-59 of the public-domain translation, CC-BY-SA for Hindi; "
            "`tokfree data fetch bible`) and measured on the held-out books 60-66, the same content in every language.",
            "",
        ]
        lines += _table(language_rows, language=True)
        lines += ["", "![languages](superword_languages.png)", ""]
    # The premium report's title becomes a section of this one, its sections subsections.
    lines += [("#" + line if line.startswith("#") else line) for line in premium_lines if not line.startswith("`python benchmarks/premiums.py")]
    (RESULTS / "superword.md").write_text("\n".join(lines))
    print(f"wrote {RESULTS / 'superword.md'} and its PNGs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
