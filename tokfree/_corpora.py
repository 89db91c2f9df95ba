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
