"""The parity corpus: at least 10 MB of real documents for the real-vocabulary parity tests.

Parts (each a list of documents, built deterministically from what a Debian/Python machine has):
- `udhr`: every version of the Universal Declaration of Human Rights in `data/_parity/` (532
  versions, ~450 languages, ~6.8 MB), one document per version;
- `english`: English man pages (roff source) and `/usr/share/doc` texts, cut into ~8 KB documents;
- `code`: the Python standard library's `.py` files, cut the same way;
- `random`: seeded random bytes decoded with errors="replace", and seeded random code points
  (every plane, assigned or not, no surrogates), the inputs where tables and edge cases differ.
The English and code parts fill the budget to `min_bytes` from whatever the machine has; a
machine with too little text gets more standard-library code. Nothing is written to disk.
"""

from __future__ import annotations

import gzip
import json
import random
import sysconfig
from pathlib import Path

from tokfree._corpora import cut_documents

ROOT = Path(__file__).resolve().parent.parent
UDHR = ROOT / "data" / "_parity" / "udhr.jsonl.gz"
MAX_FILE = 256 * 1024
DOC_BYTES = 8192


def _read_text(path: Path) -> str | None:
    try:
        data = path.read_bytes()[: 8 * MAX_FILE]
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        text = data[:MAX_FILE].decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None
    return text if text.strip() else None


def _fill(paths: list[Path], budget: int, seed: int) -> list[str]:
    """Documents from a seeded shuffle of `paths` until `budget` bytes."""
    paths = sorted(paths)
    random.Random(seed).shuffle(paths)
    docs: list[str] = []
    total = 0
    for path in paths:
        if total >= budget:
            break
        text = _read_text(path)
        if text is None:
            continue
        for doc in cut_documents(text, DOC_BYTES):
            docs.append(doc)
            total += len(doc.encode("utf-8"))
    return docs


def udhr() -> list[str]:
    """One document per UDHR version: title, then every paragraph of every section."""
    docs = []
    with gzip.open(UDHR, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            paragraphs = [record.get("title") or ""]
            for section in record["sections"]:
                paragraphs.append(section.get("title") or "")
                paragraphs.extend(section["paragraphs"])
            docs.append("\n\n".join(p for p in paragraphs if p) + "\n")
    return docs


def english(budget: int) -> list[str]:
    man = [p for p in Path("/usr/share/man").glob("man*/*") if p.is_file()]
    doc = [p for p in Path("/usr/share/doc").rglob("*") if p.is_file() and not p.is_symlink() and p.suffix in ("", ".gz", ".txt", ".md", ".rst")]
    return _fill(man + doc, budget, seed=1)


def code(budget: int) -> list[str]:
    return _fill(list(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")), budget, seed=2)


def random_text(count: int = 300, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for number in range(count):
        size = rng.randint(1, 4000)
        if number % 2 == 0:
            docs.append(rng.randbytes(size).decode("utf-8", errors="replace"))
        else:
            # Mostly the BMP, some of every other plane; surrogates have no UTF-8 form.
            points = [rng.randrange(0x10000) if rng.random() < 0.8 else rng.randrange(0x10000, 0x110000) for _ in range(size // 3 + 1)]
            docs.append("".join(chr(p) for p in points if not 0xD800 <= p < 0xE000))
    return docs


def build(min_bytes: int = 10_000_000) -> dict[str, list[str]]:
    """Part name -> documents, together at least `min_bytes` of UTF-8."""
    parts = {"udhr": udhr(), "random": random_text()}
    have = sum(len(doc.encode("utf-8")) for docs in parts.values() for doc in docs)
    missing = max(min_bytes - have, 0)
    parts["english"] = english(max(missing // 2, 1_500_000))
    have += sum(len(doc.encode("utf-8")) for doc in parts["english"])
    parts["code"] = code(max(min_bytes - have, 1_000_000))
    return parts
