"""Token stability under OCR-like noise: character-level BPE vs byte-level BPE of the same size.

Issue 4, item 6. For each vocabulary size it trains, on the same text (the bundled English and
legal corpora without their held-out documents, NFKC-normalized) and with the same pre-tokenizer
(GPT-2's) and `min_frequency=2`:

- `char`: `train_charlevel(texts, size)`, KL3M's setup (NFKC, tokens of at most 3 characters up
  to 8192 tokens, 4 above);
- `byte`: `train_bpe(texts, size)`, byte-level BPE without a cap on token length;
- `byte@N`: byte-level BPE with the vocabulary size N the character-level trainer actually reached,
  when the cap stopped it short of `size` (1.8 M characters of training text do not hold enough
  frequent short strings to fill 8k or 16k), so that one comparison is at equal size in fact, not only in name.

Held out: every fifth document (index % 5 == 0) of each corpus, NFKC-normalized; no tokenizer
sees it in training. Each held-out document is damaged with `ocr_noise(doc, rate, seed=...)` (the
seed derived from `--seeds` and the document's index, the same damage for every tokenizer) and
measured with `noise_stability`; counts are summed over the documents, so each seed gives one
value per measure, and the report gives the mean over the seeds and their standard deviation.

    .venv/bin/python benchmarks/noise.py [--rates 0.01 0.03 0.1] [--seeds 0 1 2]
                                         [--vocab-sizes 4096 8192 16384] [--corpus bundled] [--no-progress]

Writes `benchmarks/results/noise.md` and `benchmarks/results/noise.png` (about 100 s on 2 cores).
`--corpus domain` uses the train / heldout splits of `data/_domain/{english,legal}` instead (4.8x the
training text, 3.3x the held-out text; writes `noise_domain.{md,png}`, several minutes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from tokfree._corpora import domain_documents, load_corpora  # noqa: E402
from tokfree.eval import MEASURES, NoiseStability, noise_stability, ocr_noise  # noqa: E402
from tokfree.trainers import train_charlevel  # noqa: E402
from tokfree.trainers.bpe import train_bpe  # noqa: E402

DATA = harness.HERE.parent / "data"
CORPORA = ("english", "legal")
HELD_OUT_EVERY = 5
#: The measures the report leads with (docs/eval.md says why), and which way is better.
HEADLINE = ("boundary_agreement", "changed_boundaries_per_edit", "resegmented_chars_per_edit")
LOWER_IS_BETTER = {"lost_boundaries_per_edit", "added_boundaries_per_edit", "changed_boundaries_per_edit", "resegmented_chars_per_edit"}
SHORT = {
    "boundary_recall": "boundary recall", "boundary_precision": "boundary precision",
    "word_boundary_recall": "word boundary recall", "boundary_agreement": "boundary agreement",
    "lost_boundaries_per_edit": "lost boundaries / edit", "added_boundaries_per_edit": "added boundaries / edit",
    "changed_boundaries_per_edit": "changed boundaries / edit", "token_recall": "token recall",
    "word_token_recall": "word token recall", "resegmented_chars_per_edit": "re-segmented chars / edit",
    "stable_char_share": "stable char share",
}


def split_corpora(corpus: str = "bundled") -> tuple[list[str], list[str]]:
    """(training documents, held-out documents), both NFKC-normalized: the bundled corpora without
    every fifth document, or the train / heldout splits of the domain corpora (`data/_domain`)."""
    train, held_out = [], []
    if corpus == "domain":
        for name in CORPORA:
            train += domain_documents(DATA, name, "train")
            held_out += domain_documents(DATA, name, "heldout")
    else:
        corpora = load_corpora(DATA)
        for name in CORPORA:
            for index, document in enumerate(corpora[name]):
                (held_out if index % HELD_OUT_EVERY == 0 else train).append(document)
    return [unicodedata.normalize("NFKC", d) for d in train], [unicodedata.normalize("NFKC", d) for d in held_out]


def train_tokenizers(train: list[str], vocab_size: int) -> dict[str, object]:
    """The tokenizers compared at one nominal vocabulary size, by label."""
    char = train_charlevel(iter(train), vocab_size, show_progress=False)
    tokenizers = {"char": char, "byte": train_bpe(iter(train), vocab_size, pre_tokenizer="gpt2", show_progress=False)}
    if char.vocab_size < vocab_size:
        tokenizers[f"byte@{char.vocab_size}"] = train_bpe(iter(train), char.vocab_size, pre_tokenizer="gpt2", show_progress=False)
    return tokenizers


def chars_touched(token: bytes) -> int:
    """Characters a token holds at least one byte of (how the character cap counts)."""
    continuations = sum(1 for byte in token if byte & 0xC0 == 0x80)
    return len(token) - continuations + (1 if token and token[0] & 0xC0 == 0x80 else 0)


def measure(tokenizer, documents: list[str], damaged: list[tuple[str, list]]) -> NoiseStability:
    """The counts of one tokenizer on the held-out documents under one draw of damage, summed."""
    total = NoiseStability()
    for clean, (noisy, edits) in zip(documents, damaged):
        total = total + noise_stability(tokenizer, clean, noisy, edits)
    return total


def cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {spread:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.01, 0.03, 0.1], help="edits per non-space character")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="noise seeds (one run each)")
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--corpus", choices=("bundled", "domain"), default="bundled",
                        help="bundled: data/english + data/legal, every fifth document held out (writes noise.md); "
                             "domain: the train/heldout splits of data/_domain/{english,legal} (writes noise_domain.md)")
    parser.add_argument("--no-progress", action="store_true", help="print nothing while running")
    args = parser.parse_args(argv)

    def progress(message: str) -> None:
        if not args.no_progress:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    recorder = harness.Recorder("noise", {"rates": args.rates, "seeds": args.seeds, "vocab_sizes": args.vocab_sizes,
                                          "corpus": args.corpus, "corpora": list(CORPORA),
                                          "held_out": f"index % {HELD_OUT_EVERY} == 0" if args.corpus == "bundled" else "heldout split"})
    train, held_out = split_corpora(args.corpus)
    progress(f"training on {len(train)} documents ({sum(map(len, train)):,} chars), "
             f"held out {len(held_out)} ({sum(map(len, held_out)):,} chars)")
    # The damage, drawn once per rate and seed and shared by every tokenizer.
    damage = {(rate, seed): [ocr_noise(doc, rate, seed=seed * 1_000_003 + index) for index, doc in enumerate(held_out)]
              for rate in args.rates for seed in args.seeds}
    edits = {key: sum(len(e) for _, e in value) for key, value in damage.items()}

    rows: list[dict[str, object]] = []  # one per vocab size, rate and tokenizer
    sizes: list[dict[str, object]] = []
    for vocab_size in args.vocab_sizes:
        tokenizers = train_tokenizers(train, vocab_size)
        for label, tok in tokenizers.items():
            tokens = sum(len(tok.encode(doc)) for doc in held_out)
            longest = max(chars_touched(tok.id_to_token(i)) for i in range(tok.vocab_size))
            sizes.append({"vocab size": vocab_size, "tokenizer": label, "actual vocab": tok.vocab_size,
                          "tokens/char (clean held-out)": tokens / sum(map(len, held_out)), "longest token (chars)": longest})
        for rate in args.rates:
            for label, tok in tokenizers.items():
                per_seed = [measure(tok, held_out, damage[rate, seed]).summary() for seed in args.seeds]
                rows.append({"vocab": vocab_size, "rate": rate, "tokenizer": label,
                             **{name: [run[name] for run in per_seed] for name in MEASURES}})
                progress(f"  {vocab_size:>6} {rate:<5} {label:<10} " + "  ".join(
                    f"{SHORT[name]} {statistics.fmean(rows[-1][name]):.3f}" for name in HEADLINE))

    results = harness.RESULTS
    results.mkdir(parents=True, exist_ok=True)
    stem = "noise" if args.corpus == "bundled" else "noise_domain"
    text = report(recorder, rows, sizes, edits, held_out, time.perf_counter() - started)
    (results / f"{stem}.md").write_text(text, encoding="utf-8")
    plot(results / f"{stem}.png", rows, args)
    progress(f"wrote {results / stem}.md and .png in {time.perf_counter() - started:.0f} s")
    return 0


def report(recorder, rows, sizes, edits, held_out, seconds) -> str:
    """The Markdown report: machine line, tokenizers, headline comparison, every measure."""
    chars = sum(map(len, held_out))
    lines = [recorder.header("Token stability under OCR-like noise: character-level vs byte-level BPE"),
             f"Held-out text: {len(held_out)} documents, {chars:,} characters (NFKC). Edits per run: "
             + ", ".join(f"rate {rate}: {statistics.fmean(v for (r, _), v in edits.items() if r == rate):,.0f}"
                         for rate in sorted({r for r, _ in edits})) + f". Run time {seconds:.0f} s.",
             "",
             "Each cell: mean over the seeds ± their standard deviation. Measures (`tokfree.eval.NoiseStability`, "
             "defined in docs/eval.md): ↑ = higher is better, ↓ = lower is better. `byte@N` is byte-level BPE at the "
             "size N the character-level trainer reached.",
             "", "## Tokenizers", "", harness.markdown_table(sizes, list(sizes[0])), ""]

    lines += ["## Headline: char vs byte of the same size", "",
              "Means over the seeds, char-level / byte-level of the same nominal size, then which is better and by how "
              "much (shares: the difference; per-edit counts: the difference relative to byte-level); where the character-level trainer "
              "stopped short of the size, the comparison with byte-level BPE of the size it reached follows after `;`. "
              "Boundary recall is the issue's first measure (`boundary_consistency`), kept for reference.", ""]
    headline = []
    by_key = {(row["vocab"], row["rate"], row["tokenizer"]): row for row in rows}
    for row in rows:
        if row["tokenizer"] != "char":
            continue
        key = (row["vocab"], row["rate"])
        byte = by_key[(*key, "byte")]
        matched = next((by_key[k] for k in by_key if k[:2] == key and k[2].startswith("byte@")), None)
        entry = {"vocab": row["vocab"], "rate": row["rate"]}
        for name in ("boundary_recall", *HEADLINE):
            arrow = "↓" if name in LOWER_IS_BETTER else "↑"
            char_mean, byte_mean = statistics.fmean(row[name]), statistics.fmean(byte[name])
            text = f"{char_mean:.3f} / {byte_mean:.3f}, {_wins(name, char_mean, byte_mean)}"
            if matched is not None:
                matched_mean = statistics.fmean(matched[name])
                text += f"; {matched['tokenizer']} {matched_mean:.3f}, {_wins(name, char_mean, matched_mean)}"
            entry[f"{SHORT[name]} {arrow}"] = text
        headline.append(entry)
    lines += [harness.markdown_table(headline, list(headline[0])), ""]

    lines += ["## All measures", ""]
    columns = ["vocab", "rate", "tokenizer"] + [f"{SHORT[name]} {'↓' if name in LOWER_IS_BETTER else '↑'}" for name in MEASURES]
    table = [{"vocab": row["vocab"], "rate": row["rate"], "tokenizer": row["tokenizer"],
              **{columns[3 + i]: cell(row[name]) for i, name in enumerate(MEASURES)}} for row in rows]
    lines += [harness.markdown_table(table, columns), ""]
    return "\n".join(lines)


def _wins(name: str, char: float, byte: float) -> str:
    """Which of the two is better on a measure, and by how much (shares: the difference; per-edit
    counts: the difference relative to byte-level's value)."""
    better = char < byte if name in LOWER_IS_BETTER else char > byte
    winner = "char" if better else "byte"
    if name in LOWER_IS_BETTER:
        return f"{winner} better by {abs(char - byte) / byte:.0%}" if byte else winner
    return f"{winner} better by {abs(char - byte):.3f}"


def plot(path: Path, rows, args) -> None:
    """One panel per measure: the measure against the noise rate, a line per vocab size and tokenizer
    (error bars: standard deviation over the seeds)."""
    plt = harness._pyplot()
    measures = ("boundary_recall", "boundary_precision", "token_recall", *HEADLINE)
    figure, axes = plt.subplots(2, 3, figsize=(13, 7.5), squeeze=False)
    colours = dict(zip(args.vocab_sizes, ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")))
    series = {}
    for row in rows:
        series.setdefault((row["vocab"], row["tokenizer"]), []).append(row)
    for axis, name in zip(axes.flat, measures):
        for (vocab, label), points in series.items():
            means = [statistics.fmean(r[name]) for r in points]
            spreads = [statistics.stdev(r[name]) if len(r[name]) > 1 else 0.0 for r in points]
            style = "-" if label == "char" else ("--" if label == "byte" else ":")
            axis.errorbar([r["rate"] for r in points], means, yerr=spreads, linestyle=style, marker="o", markersize=3,
                          capsize=2, color=colours.get(vocab, "#888888"), label=f"{label} ({vocab:,})")
        axis.set_xscale("log")
        axis.set_xlabel("edits per non-space character", fontsize=8)
        better = "lower" if name in LOWER_IS_BETTER else "higher"
        axis.set_title(f"{SHORT[name]} ({better} is better){' *' if name in HEADLINE else ''}", fontsize=9)
        axis.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=min(len(labels), 8), fontsize=7)
    figure.suptitle("OCR-like noise on held-out English + legal text: character-level BPE (solid) vs byte-level BPE of the "
                    "same nominal size (dashed) and of char's actual size (dotted); * = adopted measures", fontsize=9)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
