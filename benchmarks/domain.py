"""Domain BPE vs general tokenizers on held-out legal, financial and code text (issue 4, item 5).

For each domain of `data/_domain` (legal = SPDX licences + EU regulations, financial = DORA/CSRD +
the GnuCash guide, code = the Python standard library), on its held-out split (which no training
touches):

- `domain-16k/32k/64k`: `train_domain_bpe` (the KL3M recipe: NFKC, cased, 13 special tokens, the
  curated tokens, padded to a multiple of 128) on that domain's train split;
- `domain-sw-16k/32k/64k`: the same recipe with SuperBPE's curriculum on top
  (`superword_transition` = half the size, then tokens of up to 4 words);
- `general-16k/32k/64k`: `train_bpe` (GPT-2 pre-tokenizer) of the same size on the general English
  train split (public-domain novels); `general-sw-*`: `train_superword` (SuperBPE, t = half) on it,
  so that superword domain tokenizers are also compared with superword general ones;
- `gpt2`, `cl100k_base`, `o200k_base`: the real vocabularies (`tokfree data fetch`);
- `gpt2+4k`: GPT-2 extended with 4,096 merges learned on the domain's train split (`extend_bpe`).

Measured: tokens per character (KL3M's TPC: all tokens / all characters, lower is better), its
change against cl100k_base, and domain-term fragmentation (mean tokens per term of
`data/_domain/terms/<domain>.txt`, each term encoded after a space).

    .venv/bin/python benchmarks/domain.py [--sizes 16384 32768 65536] [--no-progress]

Writes `benchmarks/results/domain.md` and `benchmarks/results/domain.png`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from tokfree import Tokenizer, data, train_bpe  # noqa: E402
from tokfree._corpora import domain_documents, domain_terms  # noqa: E402
from tokfree.eval import term_fragmentation  # noqa: E402
from tokfree.trainers import extend_bpe, train_domain_bpe, train_superword  # noqa: E402
from tokfree.trainers.domain import DomainTrainingReport  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RESULTS = Path(__file__).resolve().parent / "results"
DOMAINS = ("legal", "financial", "code")
PEERS = ("gpt2", "cl100k_base", "o200k_base")
ADAPT_MERGES = 4096


def _name(size: int) -> str:
    return f"{size // 1024}k"


def _tokens_per_char(tokenizer: Tokenizer, documents: list[str]) -> float:
    tokens = sum(len(ids) for ids in tokenizer.encode_batch(documents, disallowed_special=()))
    return tokens / sum(len(document) for document in documents)


def _color(name: str) -> str:
    prefixes = {"domain-sw": "tab:purple", "domain": "tab:blue", "general-sw": "tab:brown", "general": "tab:orange", "gpt2+": "tab:green"}
    return next((color for prefix, color in prefixes.items() if name.startswith(prefix)), "tab:gray")


def _plot(rows: dict[str, dict[str, tuple[float, float, int]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(rows), figsize=(5.2 * len(rows), 9), squeeze=False)
    for column, (domain, results) in enumerate(rows.items()):
        names = list(results)
        colors = [_color(n) for n in names]
        for row, (label, index) in enumerate([("tokens per character", 0), ("tokens per domain term", 1)]):
            axis = axes[row][column]
            values = [results[n][index] for n in names]
            axis.barh(names, values, color=colors)
            axis.invert_yaxis()
            axis.set_title(f"{domain}: {label}", fontsize=10)
            for y, value in enumerate(values):
                axis.text(value, y, f" {value:.3f}" if index == 0 else f" {value:.2f}", va="center", fontsize=7)
            axis.set_xlim(0, max(values) * 1.2)
            axis.tick_params(labelsize=8)
    figure.suptitle(
        "Held-out domain text (lower is better); blue: domain BPE, purple: + superword tokens, "
        "orange: general BPE, brown: + superword tokens, green: GPT-2 + domain merges",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16384, 32768, 65536])
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    progress = not args.no_progress
    started = time.time()

    peers = {name: data.load(name) for name in PEERS}
    general_train = domain_documents(DATA, "english", "train")
    general = {size: train_bpe(iter(general_train), size, show_progress=progress) for size in args.sizes}
    general_sw = {size: train_superword(iter(general_train), size, show_progress=progress) for size in args.sizes}

    rows: dict[str, dict[str, tuple[float, float, int]]] = {}
    trained_notes: list[str] = []
    for domain in DOMAINS:
        train, held_out, terms = domain_documents(DATA, domain, "train"), domain_documents(DATA, domain, "heldout"), domain_terms(DATA, domain)
        tokenizers: dict[str, Tokenizer] = {}
        for size in args.sizes:
            report: list[DomainTrainingReport] = []
            tokenizers[f"domain-{_name(size)}"] = train_domain_bpe(iter(train), size, show_progress=progress, report=report)
            r = report[0]
            trained_notes.append(
                f"| {domain} | {_name(size)} | {r.learned} | {r.curated_tokens} | {r.curated_merges} | {r.learned_after} | {r.whitespace_padding} |"
            )
        for size in args.sizes:
            report = []
            tokenizers[f"domain-sw-{_name(size)}"] = train_domain_bpe(
                iter(train), size, superword_transition=size // 2, show_progress=progress, report=report
            )
            r = report[0]
            trained_notes.append(
                f"| {domain} | sw-{_name(size)} | {r.learned} | {r.curated_tokens} | {r.curated_merges} | {r.learned_after} | {r.whitespace_padding} |"
            )
        for size in args.sizes:
            tokenizers[f"general-{_name(size)}"] = general[size]
        for size in args.sizes:
            tokenizers[f"general-sw-{_name(size)}"] = general_sw[size]
        tokenizers.update(peers)
        tokenizers[f"gpt2+{_name(ADAPT_MERGES)}"] = extend_bpe(peers["gpt2"], iter(train), ADAPT_MERGES, show_progress=progress)
        rows[domain] = {
            name: (_tokens_per_char(tokenizer, held_out), term_fragmentation(tokenizer, terms), tokenizer.vocab_size)
            for name, tokenizer in tokenizers.items()
        }
        print(f"{domain}: " + ", ".join(f"{n} {v[0]:.4f}" for n, v in rows[domain].items()), flush=True)

    RESULTS.mkdir(exist_ok=True)
    _plot(rows, RESULTS / "domain.png")
    machine = harness.machine()
    lines = [
        "# Domain BPE on held-out domain text",
        "",
        f"`python benchmarks/domain.py --sizes {' '.join(map(str, args.sizes))}` ({time.time() - started:.0f} s); "
        f"git {machine['git']}, {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}.",
        "",
        "Tokens per character (TPC, KL3M's measure: all tokens / all characters of the held-out split, lower is",
        "better), its change against cl100k_base, and tokens per domain term (`data/_domain/terms/`, each term",
        "encoded after a space). Corpora, splits and term lists: `data/_domain/SOURCE.md`.",
        "",
    ]
    middle = f"domain-{_name(sorted(args.sizes)[len(args.sizes) // 2])}"
    general_middle = middle.replace("domain", "general")
    lines += ["## Summary", "", f"`{middle}` against cl100k_base and a general BPE of the same size, on each held-out split:", ""]
    for domain, results in rows.items():
        tpc, per_term, vocab = results[middle]
        cl100k_tpc, cl100k_term, _ = results["cl100k_base"]
        sw_tpc, sw_term, sw_vocab = results[middle.replace("domain", "domain-sw")]
        lines.append(
            f"- **{domain}**: `{middle}` {100 * (tpc / cl100k_tpc - 1):+.1f}% tokens vs cl100k_base (vocab {vocab:,} vs 100,261), "
            f"{100 * (tpc / results[general_middle][0] - 1):+.1f}% vs `{general_middle}`, "
            f"{per_term:.2f} tokens per domain term vs {cl100k_term:.2f} ({100 * (per_term / cl100k_term - 1):+.0f}%); "
            f"with superword tokens (`{middle.replace('domain', 'domain-sw')}`, vocab {sw_vocab:,}) "
            f"{100 * (sw_tpc / cl100k_tpc - 1):+.1f}% tokens vs cl100k_base, "
            f"{100 * (sw_tpc / results[general_middle.replace('general', 'general-sw')][0] - 1):+.1f}% vs `{general_middle.replace('general', 'general-sw')}`, "
            f"{sw_term:.2f} tokens per term."
        )
    adapted = f"gpt2+{_name(ADAPT_MERGES)}"
    lines += [
        f"- **domain adaptation** (`{adapted}`: GPT-2 + {ADAPT_MERGES:,} merges, every GPT-2 id kept): "
        + "; ".join(f"{domain} {100 * (results[adapted][0] / results['gpt2'][0] - 1):+.1f}% tokens vs gpt2" for domain, results in rows.items())
        + ".",
        "",
    ]
    for domain, results in rows.items():
        cl100k = results["cl100k_base"][0]
        lines += [f"## {domain}", "", "| tokenizer | vocab | tokens/char | vs cl100k_base | tokens/term |", "|---|---:|---:|---:|---:|"]
        for name, (tpc, per_term, vocab) in results.items():
            lines.append(f"| {name} | {vocab:,} | {tpc:.4f} | {100 * (tpc / cl100k - 1):+.1f}% | {per_term:.2f} |")
        lines.append("")
    lines += [
        "## What the domain trainer did",
        "",
        "Merges learned before the curated tokens, curated tokens, merges they needed, merges learned after them to",
        "fill the size (rounded up to a multiple of 128), and KL3M's whitespace runs that fill up to the next multiple of 128",
        "when the corpus ran out of pairs first (then the vocabulary is smaller than its nominal size: the corpus is too small for it).",
        "",
        "| domain | size | learned | curated tokens | curated merges | learned after | whitespace padding |",
        "|---|---|---:|---:|---:|---:|---:|",
        *trained_notes,
        "",
        "![domain](domain.png)",
        "",
    ]
    (RESULTS / "domain.md").write_text("\n".join(lines))
    print(f"wrote {RESULTS / 'domain.md'} and domain.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
