"""Reading tokenizer files from disk with tokfree's errors (missing file, absurd size)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from tokfree.errors import InputFileError, TokenizerFileError

__all__ = ["MAX_FILE_BYTES", "read_bytes", "read_text"]

# Refuse tokenizer files larger than this before reading: the biggest real ones (o200k-sized
# vocabularies with merges) are ~30 MB, and a hostile 10 GB file must not be read into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024


def read_bytes(path: str) -> bytes:
    """The contents of the tokenizer file `path`.

    Raises:
        InputFileError: the file is missing or unreadable.
        TokenizerFileError: the file is larger than any real tokenizer file.
    """
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise TokenizerFileError(f"{path}: {size} bytes is larger than any real tokenizer file (limit {MAX_FILE_BYTES}); check the path")
        with open(path, "rb") as file:
            return file.read()
    except OSError as err:
        raise InputFileError(f"cannot read tokenizer file {path!r}: {err.strerror}; check the path") from None


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The UTF-8 text of a data file (gunzipped when its name ends in .gz).

    Raises:
        TokfreeError: the file is unreadable or not UTF-8; the message names `what` it is.
    """
    from tokfree.errors import TokfreeError

    opener = gzip.open if Path(path).suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as file:  # type: ignore[operator]
            return file.read()
    except (OSError, UnicodeDecodeError) as err:
        raise TokfreeError(f"cannot read {what} {path}: {err}; check the path, and that the file is UTF-8 text") from None
