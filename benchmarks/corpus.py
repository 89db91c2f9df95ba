"""Builds the benchmark corpus from English text that every Debian/Python machine already has.

Documents: English man pages (`/usr/share/man/man*/`, roff source), `/usr/share/doc` texts
(copyright files, READMEs, changelogs), and the Python standard library's `.py` files. They are
deduplicated, shuffled with a fixed seed and concatenated up to the requested size; the result is
cached in `benchmarks/.corpus/` (git-ignored). The encode benchmark cuts it into ~8 KB documents.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import sys
import sysconfig
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".corpus"
MAX_FILE = 1 << 20


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()[: 4 * MAX_FILE]
        if path.suffix == ".gz":
            data = gzip.decompress(data)[:MAX_FILE]
        text = data[:MAX_FILE].decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None
    return text if text.strip() else None


def _candidates() -> list[Path]:
    paths = sorted(Path("/usr/share/man").glob("man*/*.gz"))
    paths += sorted(p for p in Path("/usr/share/doc").rglob("*") if p.is_file() and not p.is_symlink() and p.suffix in ("", ".gz", ".txt", ".md", ".rst"))
    paths += sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    return paths


def build(size_mb: int) -> Path:
    """The path of a corpus of about `size_mb` MB (built once, then cached)."""
    CACHE.mkdir(exist_ok=True)
    out = CACHE / f"corpus_{size_mb}mb.txt"
    if out.exists():
        return out
    documents, seen = [], set()
    for path in _candidates():
        text = _read(path)
        if text is None:
            continue
        digest = hashlib.sha1(text.encode()).digest()
        if digest not in seen:
            seen.add(digest)
            documents.append(text)
    random.Random(1234).shuffle(documents)
    target = size_mb * 1_000_000
    pieces, total = [], 0
    while total < target:  # repeat the pool if the machine has less text than asked for
        for text in documents:
            pieces.append(text)
            total += len(text.encode())
            if total >= target:
                break
    out.write_text("\n".join(pieces), encoding="utf-8")
    return out


def documents(path: Path, doc_bytes: int = 8192) -> list[str]:
    """`path` cut into documents of about `doc_bytes`, at line ends."""
    docs, current, size = [], [], 0
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        current.append(line)
        size += len(line)
        if size >= doc_bytes:
            docs.append("".join(current))
            current, size = [], 0
    if current:
        docs.append("".join(current))
    return docs


if __name__ == "__main__":
    print(build(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
