"""Token premiums across languages: vocabulary-size curves per language and a premium-balanced
multilingual BPE against a plain one and the real vocabularies (issue 5, items 4-5).

Training text: the Bible in 9 languages (`tokfree data fetch bible`: books 1-59 of eng, spa, fra,
ita, rus, arb, pes_1, tgl, hin; the same content in every language). For each pre-tokenizer in
`--pre-tokenizers` (default gpt4 and o200k):

- `vocab_curves` on the Bible held-out books 60-66 (verse-aligned; never trained on): CTC at each
  size of `--grid` per language, fitted (power, log and floored power law; the best R^2 is used);
- `plain-<pre>`: one BPE of `--size` tokens on all 9 languages' text (`balance=None`);
- `balanced-<pre>`: `train_multilingual_bpe(balance="premium")` of the same size from those
  curves (refine=0: the fitted curves only);
- `balanced-<pre>-udhr` (o200k only): the same with the curves measured on the UDHR itself, so the
  9 training languages' UDHR premiums are in-sample for it (shown to size the effect of tuning
  on the test text);
- a refinement sweep (`refine` 1 and 2) on the Bible curves.

Peers: GPT-2, cl100k_base and o200k_base (`tokfree data fetch`). Every tokenizer's token premiums
(CTC(L) / CTC(eng), `tokfree.eval.premiums`) are measured on the 499 complete UDHR versions, on
the UDHR versions of the 9 training languages, and on the Bible held-out books.

    .venv/bin/python benchmarks/premiums.py [--quick] [--size 65536] [--no-progress]

`--quick` uses the committed sample (John per language) with small sizes (~20 s). Writes
`benchmarks/results/premiums.md`, `premiums_curves.png` and `premiums_distribution.png`
(`--quick`: `premiums_quick.*`). `premium_sections(tokenizers, ...)` returns the premium part of
the report as Markdown for other reports (e.g. superword tokenizers).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from tokfree import Tokenizer, data  # noqa: E402
from tokfree._corpora import bible_documents, bible_parallel_path, bible_source  # noqa: E402
from tokfree.data._bible import TRANSLATIONS  # noqa: E402
from tokfree.eval.premiums import ParallelCorpus, PremiumReport, load_parallel_jsonl, load_udhr, token_premiums  # noqa: E402
from tokfree.trainers import optimal_vocab_sizes, train_multilingual_bpe, vocab_curves  # noqa: E402
from tokfree.trainers.multilingual import MultilingualReport, VocabCurve  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
LANGUAGES = tuple(TRANSLATIONS)
PEERS = ("gpt2", "cl100k_base", "o200k_base")
GRID = (512, 1024, 2048, 4096, 8192, 16384, 32768)
QUICK_GRID = (300, 500, 1000, 2000)


# --- premiums of any set of tokenizers (reusable) --------------------------------------------------


def premium_reports(
    tokenizers: Mapping[str, Tokenizer], *, udhr: ParallelCorpus | None = None, bible: ParallelCorpus | None = None,
    languages: Sequence[str] = LANGUAGES,
) -> dict[str, dict[str, PremiumReport]]:  # fmt: skip
    """tokenizer name -> {"udhr": all UDHR languages, "udhr9": the training languages' UDHR, "bible9":
    the Bible held-out (when `bible` is given)} -> its `PremiumReport`."""
    udhr = udhr or load_udhr()
    out: dict[str, dict[str, PremiumReport]] = {}
    for name, tokenizer in tokenizers.items():
        reports = {"udhr": token_premiums(tokenizer, udhr), "udhr9": token_premiums(tokenizer, udhr, languages=languages)}
        if bible is not None:
            reports["bible9"] = token_premiums(tokenizer, bible, languages=languages)
        out[name] = reports
        print(f"{name}: UDHR CV {reports['udhr'].cv:.3f}, training languages CV {reports['udhr9'].cv:.3f}", flush=True)
    return out


def _plot_distributions(reports: Mapping[str, Mapping[str, PremiumReport]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    names = list(reports)
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1.3, 1]})
    colours = plt.get_cmap("tab10").colors
    for number, name in enumerate(names):
        premiums = reports[name]["udhr"].premiums
        style = "--" if name.startswith("plain") else ":" if name in PEERS else "-"
        left.plot(range(1, len(premiums) + 1), premiums, style, color=colours[number % len(colours)],
                  label=f"{name} (CV {reports[name]['udhr'].cv:.2f})", linewidth=1.4)  # fmt: skip
    left.set(yscale="log", xlabel="UDHR languages, sorted by premium", ylabel="token premium vs English (log)",
             title=f"All {len(reports[names[0]]['udhr'].rows) + 1} complete UDHR versions")  # fmt: skip
    left.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
    left.legend(fontsize=7)
    data9 = [reports[name]["udhr9"].premiums for name in names]
    right.boxplot(data9, orientation="horizontal", showmeans=True)
    for row, premiums in enumerate(data9, 1):
        right.scatter(premiums, [row] * len(premiums), s=10, color="tab:red", zorder=3)
    right.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    right.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
    right.set(xscale="log", xlabel="token premium vs English (log)", title="UDHR, the 8 other training languages")
    right.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.tick_params(axis="x", which="minor", labelsize=7)
    right.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def premium_sections(
    tokenizers: Mapping[str, Tokenizer], *, reports: Mapping[str, Mapping[str, PremiumReport]] | None = None,
    udhr: ParallelCorpus | None = None, bible: ParallelCorpus | None = None, languages: Sequence[str] = LANGUAGES,
    plot: Path | None = None, heading: str = "##",
) -> str:  # fmt: skip
    """The premium part of a report as Markdown: a summary table (mean / median / max / CV of the
    premiums over all UDHR languages, over the training languages' UDHR and, with `bible`, over the
    Bible held-out), total UDHR tokens, and one premium per training language and tokenizer.

    Args:
        tokenizers: name -> tokenizer (any, e.g. superword tokenizers); ignored when `reports` is given.
        reports: premium reports already measured (`premium_reports`).
        udhr, bible: the parallel corpora (default: `load_udhr()`, no Bible).
        languages: the training languages (UDHR codes).
        plot: write the distribution PNG here and link it (by file name).
        heading: the Markdown heading level of the sections.
    """
    reports = reports if reports is not None else premium_reports(tokenizers, udhr=udhr, bible=bible, languages=languages)
    names = list(reports)
    first = reports[names[0]]
    with_bible = all("bible9" in r for r in reports.values())
    lines = [
        f"{heading} Token premiums (CTC(L) / CTC(eng)) on parallel text",
        "",
        f"UDHR: the {len(first['udhr'].rows) + 1} complete versions (segments: preamble + 30 articles); \"training languages\": the "
        f"UDHR versions of {', '.join(languages)} (English is the reference, so {len(first['udhr9'].rows)} premiums)"
        + ("; Bible: the held-out books 60-66 of the same languages (727 verses)." if with_bible else "."),
        "CV = population standard deviation / mean of the premiums (0: every language costs the same). "
        "Total tokens: all UDHR versions together, English included (the absolute cost).",
        "",
        "| tokenizer | vocab | UDHR mean | median | max | **CV** | training langs mean | max | **CV** |"
        + (" Bible mean | max | **CV** |" if with_bible else "")
        + " UDHR total tokens |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|" + ("--:|--:|--:|" if with_bible else "") + "--:|",
    ]
    for name in names:
        r = reports[name]
        all_, nine = r["udhr"], r["udhr9"]
        total = sum(row.tokens for row in all_.rows) + all_.rows[0].reference_tokens
        cells = [f"{all_.mean:.3f}", f"{all_.median:.3f}", f"{all_.max:.2f} ({all_.rows[-1].language})", f"**{all_.cv:.3f}**",
                 f"{nine.mean:.3f}", f"{nine.max:.3f} ({nine.rows[-1].language})", f"**{nine.cv:.3f}**"]  # fmt: skip
        if with_bible:
            b = r["bible9"]
            cells += [f"{b.mean:.3f}", f"{b.max:.3f} ({b.rows[-1].language})", f"**{b.cv:.3f}**"]
        vocab = tokenizers[name].vocab_size if name in tokenizers else ""
        lines.append(f"| {name} | {vocab:,} | " + " | ".join(cells) + f" | {total:,} |")
    lines += [
        "",
        f"{heading}# Premium per training language (UDHR)",
        "",
        "| tokenizer | " + " | ".join(language for language in languages if language != first["udhr9"].reference) + " |",
        "|---|" + "--:|" * (len(languages) - 1),
    ]
    for name in names:
        nine = reports[name]["udhr9"]
        lines.append(f"| {name} | " + " | ".join(f"{nine.row(language).premium:.3f}" for language in languages if language != nine.reference) + " |")
    if plot is not None:
        _plot_distributions(reports, plot)
        lines += ["", f"![premium distributions]({plot.name})"]
    return "\n".join(lines) + "\n"


# --- curves ---------------------------------------------------------------------------------------


def _plot_curves(curves_by_pre: Mapping[str, Mapping[str, VocabCurve]], chosen: Mapping[str, Mapping[str, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(curves_by_pre), figsize=(6.5 * len(curves_by_pre), 5), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for axis, (pre, curves) in zip(axes[0], curves_by_pre.items()):
        low = min(curve.sizes[0] for curve in curves.values())
        high = max(curve.sizes[-1] for curve in curves.values())
        for number, (language, curve) in enumerate(curves.items()):
            colour = colours[number % len(colours)]
            axis.scatter(curve.sizes, curve.ctc, color=colour, s=14)
            xs = [low * (high / low) ** (i / 100) for i in range(101)]
            xs = [x for x in xs if x <= curve.learned * 1.001]
            axis.plot(xs, [curve.fit(x) for x in xs], color=colour, linewidth=1, label=f"{language} ({curve.fitted.form}, R² {curve.r2:.3f})")
            size = chosen[pre][language]
            axis.scatter([size], [curve.fit(size)], color=colour, marker="*", s=90, edgecolors="black", linewidths=0.5, zorder=4)
        axis.set(xscale="log", xlabel="vocabulary size (log)", ylabel="CTC on the Bible held-out (tokens)",
                 title=f"pre-tokenizer {pre}: measured (dots), fitted (lines), V_L of the balanced tokenizer (stars)")  # fmt: skip
        axis.title.set_fontsize(9)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _curve_section(pre: str, curves: Mapping[str, VocabCurve], report: MultilingualReport, reference_size: int, grid: Sequence[int]) -> list[str]:
    at_reference = optimal_vocab_sizes(curves, reference_size=reference_size)
    lines = [
        f"### pre-tokenizer `{pre}`",
        "",
        "CTC (tokens on the Bible held-out) per vocabulary size of the grid, and at the size where the language's own BPE "
        "stopped (`learned`: no pair left that occurs twice) when that is below the grid's top. R² of each form on the "
        "measured points; the best is used.",
        "",
        "| language | " + " | ".join(f"{s:,}" for s in grid) + " | learned | CTC there | R² power | R² log | R² floored | fit used | "
        f"V for premium 1 vs eng at {reference_size:,} | V_L in balanced |",
        "|---|" + "--:|" * len(grid) + "--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    allocation = {a.language: a for a in report.allocations}
    for language, curve in curves.items():
        measured = dict(zip(curve.sizes, curve.ctc))
        cells = [f"{measured[s]:,}" if s in measured else "" for s in grid]
        fits = curve.fits
        p = curve.fitted
        form = f"{p.form}: {p.c:,.0f} + {p.a:.3g}·V^-{p.b:.3f}" if p.form != "log" else f"log: {p.a:,.0f} {p.b:+,.0f}·ln V"
        lines.append(
            f"| {language} | " + " | ".join(cells) + f" | {curve.learned:,} | {curve.ctc[-1]:,} | {fits['power'].r2:.4f} | "
            f"{fits['log'].r2:.4f} | {fits['shifted'].r2:.4f} | {form} | {at_reference[language]:,} | {allocation[language].size:,} |"
        )
    lines += [
        "",
        f"The balanced tokenizer's allocation (common target CTC {report.target_ctc:,.0f}; \"placed first\": merges of the "
        "union this language put there; \"CTC in the result\": the balanced tokenizer on the language's Bible held-out):",
        "",
        *report.to_markdown().splitlines()[2:],
        "",
    ]
    return lines


# --- the run --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    lines, stem = report(argv)
    (RESULTS / f"{stem}.md").write_text("\n".join(lines))
    print(f"wrote {RESULTS / f'{stem}.md'}, {stem}_curves.png and {stem}_distribution.png")
    return 0


def report(argv: list[str] | None = None) -> tuple[list[str], str]:
    """Trains and measures everything, saves the PNGs; returns the Markdown lines and the file stem
    (`benchmarks/superword.py` puts the lines into its report)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="committed sample, small sizes (a smoke test)")
    parser.add_argument("--size", type=int, default=None, help="total vocabulary of the multilingual tokenizers (default 65536; quick 2048)")
    parser.add_argument("--pre-tokenizers", nargs="+", default=["gpt4", "o200k"])
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    progress = not args.no_progress
    started = time.time()
    source = "sample" if args.quick else "full"
    if source == "full" and bible_source() != "full":
        raise SystemExit("the full Bible corpus is not in the cache: run `tokfree data fetch bible` (or use --quick for the committed sample)")
    size = args.size or (2048 if args.quick else 65536)
    grid = QUICK_GRID if args.quick else GRID
    reference_size = grid[-3]
    stem = "premiums_quick" if args.quick else "premiums"

    texts = {code: bible_documents(code, "train", source=source) for code in LANGUAGES}
    bible = load_parallel_jsonl(bible_parallel_path())
    udhr = load_udhr()

    def corpora() -> dict:
        return {code: iter(documents) for code, documents in texts.items()}

    tokenizers: dict[str, Tokenizer] = {name: data.load(name) for name in PEERS}
    curves_by_pre: dict[str, dict[str, VocabCurve]] = {}
    balance_reports: dict[str, MultilingualReport] = {}
    sweep: dict[str, Tokenizer] = {}  # "<pre> refine=<k>" -> the balanced tokenizer with refinement
    sweep_sizes = [total for total in ((1024,) if args.quick else (16384, 32768)) if total < size]
    by_size: dict[tuple[str, int], dict[str, Tokenizer]] = {}  # (pre, size) -> {"plain": ..., "balanced": ...}
    for pre in args.pre_tokenizers:

        def balanced(total: int, curves: dict[str, VocabCurve], refine: int = 0, report: list | None = None, pre: str = pre) -> Tokenizer:
            return train_multilingual_bpe(
                {}, total, balance="premium", curves=curves, refine=refine, pre_tokenizer=pre, report=report, show_progress=progress
            )

        curves = vocab_curves(corpora(), bible, grid, pre_tokenizer=pre, show_progress=progress)
        curves_by_pre[pre] = curves
        tokenizers[f"plain-{pre}"] = train_multilingual_bpe(corpora(), size, pre_tokenizer=pre, show_progress=progress)
        report: list[MultilingualReport] = []
        tokenizers[f"balanced-{pre}"] = balanced(size, curves, report=report)
        balance_reports[pre] = report[0]
        for refine in (1, 2):
            sweep[f"{pre} refine={refine}"] = balanced(size, curves, refine)
        for total in sweep_sizes:
            plain = train_multilingual_bpe(corpora(), total, pre_tokenizer=pre, show_progress=progress)
            by_size[(pre, total)] = {"plain": plain, "balanced": balanced(total, curves)}
        if pre == "o200k":
            udhr_curves = vocab_curves(corpora(), udhr, grid, pre_tokenizer=pre, show_progress=progress)
            tokenizers[f"balanced-{pre}-udhr"] = balanced(size, udhr_curves)
        print(f"{pre}: curves and tokenizers done ({time.time() - started:.0f} s)", flush=True)

    reports = premium_reports(tokenizers, udhr=udhr, bible=bible)
    sweep_reports = premium_reports(sweep, udhr=udhr, bible=bible)
    size_reports = {
        key: {kind: premium_reports({f"{kind}-{key[0]}-{key[1]}": tok}, udhr=udhr, bible=bible)[f"{kind}-{key[0]}-{key[1]}"] for kind, tok in pair.items()}
        for key, pair in by_size.items()
    }

    RESULTS.mkdir(exist_ok=True)
    chosen = {pre: {a.language: a.size for a in r.allocations} for pre, r in balance_reports.items()}
    _plot_curves(curves_by_pre, chosen, RESULTS / f"{stem}_curves.png")
    premium_text = premium_sections(tokenizers, reports=reports, languages=LANGUAGES, plot=RESULTS / f"{stem}_distribution.png")
    machine = harness.machine()
    train_bytes = {code: sum(len(t.encode("utf-8")) for t in documents) for code, documents in texts.items()}
    size_name = f"{size // 1024}k" if size % 1024 == 0 else f"{size:,}"
    lines = [
        "# Token premiums: per-language vocabulary curves and a premium-balanced multilingual BPE",
        "",
        f"`python benchmarks/premiums.py{' --quick' if args.quick else ''}{f' --size {args.size}' if args.size else ''}` "
        f"({time.time() - started:.0f} s); git {machine['git']}, {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}.",
        "",
        f"Training text: the Bible ({'committed sample: John only' if args.quick else 'books 1-59, `tokfree data fetch bible`'}), "
        "the same content in each language: " + ", ".join(f"{code} {b / 1e6:.2f} MB" for code, b in train_bytes.items()) + ". "
        f"Multilingual tokenizers: {size:,} tokens (256 bytes + merges, no special tokens). Curves: the grid "
        f"{', '.join(f'{s:,}' for s in grid)}, measured on the Bible held-out (books 60-66, never trained on), so the UDHR "
        "premiums of `balanced-*` are out of sample; `balanced-o200k-udhr` measured its curves on the UDHR itself (in sample for "
        "the training languages' UDHR premiums, out of sample for the other 490 languages).",
        "",
        "## Summary",
        "",
    ]
    for pre in args.pre_tokenizers:
        plain, balanced = reports[f"plain-{pre}"], reports[f"balanced-{pre}"]
        lines.append(
            f"- **{pre}, {size_name}**: CV of the premiums, plain → balanced: training languages' UDHR "
            f"{plain['udhr9'].cv:.3f} → {balanced['udhr9'].cv:.3f}, all {len(plain['udhr'].rows) + 1} UDHR languages "
            f"{plain['udhr'].cv:.3f} → {balanced['udhr'].cv:.3f}, Bible held-out {plain['bible9'].cv:.3f} → {balanced['bible9'].cv:.3f}; "
            f"max premium on the training languages' UDHR {plain['udhr9'].max:.3f} ({plain['udhr9'].rows[-1].language}) → "
            f"{balanced['udhr9'].max:.3f} ({balanced['udhr9'].rows[-1].language})."
        )
    if "balanced-o200k-udhr" in reports:
        tuned = reports["balanced-o200k-udhr"]
        lines.append(
            f"- **curves on the UDHR** (o200k): training languages' UDHR CV {tuned['udhr9'].cv:.3f} (in sample), all UDHR "
            f"{tuned['udhr'].cv:.3f}, Bible {tuned['bible9'].cv:.3f}."
        )
    peers_cv = ", ".join(f"{name} {reports[name]['udhr'].cv:.3f}" for name in PEERS)
    lines += [f"- **real vocabularies**, CV over all UDHR languages: {peers_cv}.", ""]
    lines.append(premium_text)
    lines += [
        "## Refinement (measured CTC in the union fed back into the allocation)",
        "",
        "`refine=k`: after each union, each language's curve is scaled by its measured CTC in the union / its fitted CTC, and "
        "the search runs again. It evens out the Bible held-out (the text the curves are measured on), not necessarily other text.",
        "",
        "| pre-tokenizer | refine | Bible CV | training langs' UDHR CV | all UDHR CV |",
        "|---|--:|--:|--:|--:|",
    ]
    for pre in args.pre_tokenizers:
        r0 = reports[f"balanced-{pre}"]
        lines.append(f"| {pre} | 0 | {r0['bible9'].cv:.3f} | {r0['udhr9'].cv:.3f} | {r0['udhr'].cv:.3f} |")
        for refine in (1, 2):
            r = sweep_reports[f"{pre} refine={refine}"]
            lines.append(f"| {pre} | {refine} | {r['bible9'].cv:.3f} | {r['udhr9'].cv:.3f} | {r['udhr'].cv:.3f} |")
    lines += [
        "",
        "## Other total sizes (plain vs balanced, same curves)",
        "",
        "| pre-tokenizer | size | plain: training langs' UDHR CV | balanced | plain: all UDHR CV | balanced | plain: Bible CV | balanced |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for pre in args.pre_tokenizers:
        for total in [*sweep_sizes, size]:
            pair = size_reports[(pre, total)] if total != size else {"plain": reports[f"plain-{pre}"], "balanced": reports[f"balanced-{pre}"]}
            cells = [f"{pair[kind][corpus].cv:.3f}" for corpus in ("udhr9", "udhr", "bible9") for kind in ("plain", "balanced")]
            lines.append(f"| {pre} | {total:,} | " + " | ".join(cells) + " |")
    lines += ["", "## Vocabulary-size curves (CTC vs vocabulary size per language)", ""]
    for pre in args.pre_tokenizers:
        lines += _curve_section(pre, curves_by_pre[pre], balance_reports[pre], reference_size, grid)
    lines += [f"![vocabulary curves]({stem}_curves.png)", ""]
    print(f"premiums: done ({time.time() - started:.0f} s)")
    return lines, stem


if __name__ == "__main__":
    raise SystemExit(main())
