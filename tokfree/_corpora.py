"""Reads the bundled corpora in `data/` (used by `tokfree demo` and the tests).

Layout: one folder per corpus under `data/`; each holds `.txt` files (one document each) and/or
`.jsonl` / `.jsonl.gz` files (one JSON object per line with a "text" field). Other files
(SOURCE.md, licences) are skipped.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def read_documents(path: Path) -> list[str]:
    """The documents of one corpus file."""
    if path.suffix == ".txt":
        return [path.read_text(encoding="utf-8")]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines if line.strip()]


def cut_documents(text: str, doc_bytes: int = 8192) -> list[str]:
    """`text` cut into documents of about `doc_bytes` UTF-8 bytes, at line ends."""
    docs, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        size += len(line.encode("utf-8"))
        if size >= doc_bytes:
            docs.append("".join(current))
            current, size = [], 0
    if current:
        docs.append("".join(current))
    return docs


def load_corpora(data_dir: Path) -> dict[str, list[str]]:
    """Corpus name (folder) -> its documents, folders and files in sorted order."""
    corpora: dict[str, list[str]] = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        documents: list[str] = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and (path.suffix == ".txt" or path.name.endswith((".jsonl", ".jsonl.gz"))):
                documents.extend(read_documents(path))
        if documents:
            corpora[folder.name] = documents
    return corpora


DOMAINS = ("legal", "financial", "code", "english")
DOMAIN_SPLITS = ("train", "heldout")
TERM_DOMAINS = ("legal", "financial", "code")


def domain_documents(data_dir: Path, domain: str, split: str) -> list[str]:
    """The documents of one split of a domain corpus in `data_dir/_domain/` (issue 4; built by
    `scripts/build_domain_corpora.py`, provenance in `data/_domain/SOURCE.md`). `data_dir` is the
    `data/` directory, as for `load_corpora`; `split` is "train" or "heldout"."""
    from tokfree.errors import TokfreeError

    if domain not in DOMAINS:
        raise TokfreeError(f"domain {domain!r} is not a domain corpus; choose one of {', '.join(DOMAINS)}")
    if split not in DOMAIN_SPLITS:
        raise TokfreeError(f"split {split!r} is not a split of the domain corpora; choose one of {', '.join(DOMAIN_SPLITS)}")
    return read_documents(Path(data_dir) / "_domain" / domain / f"{split}.jsonl.gz")


def domain_terms(data_dir: Path, domain: str) -> list[str]:
    """The hand-picked terms of a domain (`data_dir/_domain/terms/<domain>.txt`: one per line, `#`
    lines are comments), for measuring how a tokenizer splits domain vocabulary (KL3M-style)."""
    from tokfree.errors import TokfreeError

    if domain not in TERM_DOMAINS:
        raise TokfreeError(f"domain {domain!r} has no term list; choose one of {', '.join(TERM_DOMAINS)}")
    text = (Path(data_dir) / "_domain" / "terms" / f"{domain}.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


BIBLE_SPLITS = ("train", "heldout")
BIBLE_SOURCES = ("auto", "full", "sample")
#: The committed sample (`scripts/build_multilingual_corpora.py`): held-out books 60-66 + John (train).
BIBLE_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "_multilingual" / "bible"


def bible_source(source: str = "auto", *, cache: Path | None = None) -> str:
    """Which Bible corpus `bible_documents(..., source=source)` reads: "full" (the fetched cache,
    `tokfree data fetch bible`) or "sample" (the committed `data/_multilingual/bible/`). "auto" is
    "full" when the fetched corpus is in the cache, else "sample"."""
    from tokfree.errors import TokfreeError

    if source not in BIBLE_SOURCES:
        raise TokfreeError(f"source={source!r} is not a Bible source; choose one of {', '.join(BIBLE_SOURCES)}")
    if source != "auto":
        return source
    from tokfree.data._bible import _manifest_ok
    from tokfree.data._fetch import cache_dir

    return "full" if _manifest_ok((cache or cache_dir()) / "bible") else "sample"


def bible_documents(code: str, split: str, *, source: str = "auto", data_dir: Path | None = None, cache: Path | None = None) -> list[str]:
    """The chapters (one document each, verses joined by "\\n") of one split of the parallel Bible.

    Args:
        code: a UDHR language code of `tokfree.data._bible.TRANSLATIONS` (eng, spa, fra, ita, rus,
            arb, pes_1, tgl, hin).
        split: "train" (books 1-59; the sample has only John) or "heldout" (books 60-66, the same
            in both sources).
        source: "full" (the fetched corpus), "sample" (committed) or "auto" (see `bible_source`;
            it warns when it falls back to the sample's train split).
        data_dir: the sample's folder (default `data/_multilingual/bible`).
        cache: the fetch cache (default `tokfree.data.cache_dir()`).

    Raises:
        TokfreeError: unknown code, split or source; source="full" and the corpus was not fetched.
    """
    from tokfree.data._bible import TRANSLATIONS
    from tokfree.data._fetch import cache_dir
    from tokfree.errors import DataError, TokfreeError

    if code not in TRANSLATIONS:
        raise TokfreeError(f"language {code!r} is not in the Bible corpus; choose one of {', '.join(TRANSLATIONS)}")
    if split not in BIBLE_SPLITS:
        raise TokfreeError(f"split {split!r} is not a split of the Bible corpus; choose one of {', '.join(BIBLE_SPLITS)}")
    resolved = bible_source(source, cache=cache)
    if resolved == "sample":
        if source == "auto" and split == "train":
            import warnings

            warnings.warn(
                "the full Bible corpus is not in the cache: using the committed sample's train split (John only); "
                "run `tokfree data fetch bible` for books 1-59, or pass source='sample' to silence this",
                stacklevel=2,
            )
        return read_documents(Path(data_dir or BIBLE_SAMPLE) / f"{code}.{split}.jsonl.gz")
    folder = (cache or cache_dir()) / "bible"
    path = folder / f"{code}.{split}.jsonl.gz"
    if not path.is_file():
        raise DataError(f"the full Bible corpus is not in the cache ({path} does not exist); run `tokfree data fetch bible` once (or pass source='sample')")
    return read_documents(path)


def bible_parallel_path(data_dir: Path | None = None) -> Path:
    """The committed held-out Bible (books 60-66, verse-aligned) as premiums JSONL: one line per
    language `{"language", "name", "segments": {"book:chapter:verse": text}}`."""
    return Path(data_dir or BIBLE_SAMPLE.parent) / "bible_heldout.parallel.jsonl.gz"
