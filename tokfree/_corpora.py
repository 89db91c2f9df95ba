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
