"""Reading tokenizer files from disk with tokfree's errors (missing file, absurd size, bad JSON).

Every tokenizer loader reads through `read_bytes` (and `read_json` for JSON files), so the limits
below hold for all of them. It does not interpret the contents beyond JSON: the format readers
(`hf.py`, `native.py`, `gpt2.py`, `tiktoken.py`) do that.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from tokfree.errors import InputFileError, TokenizerFileError

__all__ = ["MAX_FILE_BYTES", "MAX_JSON_VALUES", "MAX_VOCAB_SIZE", "check_vocab_size", "read_bytes", "read_json", "read_text"]

# Refuse tokenizer files larger than this before reading: the biggest real ones (o200k-sized
# vocabularies with merges) are ~30 MB, and a hostile 10 GB file must not be read into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024
# Tokens (model + special) a tokenizer may have. The largest real vocabularies are ~262k (Gemma);
# 2M leaves room for 8x that, while a 10M-entry vocab (GBs of Python objects) is refused.
MAX_VOCAB_SIZE = 1 << 21
# JSON values (array elements and object members) a tokenizer file may hold, checked before
# parsing by counting commas (each value after the first in a container needs one, so commas
# bound the values from above; commas inside strings only make the bound looser). A vocab of
# MAX_VOCAB_SIZE with as many merges written as pairs has 3 commas per token, within this limit.
MAX_JSON_VALUES = 4 * MAX_VOCAB_SIZE


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


def read_json(path: str, what: str) -> Any:
    """The parsed JSON document in the tokenizer file `path` (a `what`, named in errors).

    Raises:
        InputFileError: the file is missing or unreadable.
        TokenizerFileError: the file is too large, holds more than `MAX_JSON_VALUES` values, is
            not UTF-8 JSON, or nests too deeply for the parser.
    """
    raw = read_bytes(path)
    commas = raw.count(b",")
    if commas >= MAX_JSON_VALUES:
        raise TokenizerFileError(
            f"{path}: {commas} commas, so possibly more than {MAX_JSON_VALUES} JSON values, more than any real {what} holds "
            f"(tokfree reads vocabularies of up to {MAX_VOCAB_SIZE} tokens); check the file"
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise TokenizerFileError(f"{path}: the JSON nests too deeply to parse (no {what} nests more than a few levels); check the file") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise TokenizerFileError(f"{path}: not valid JSON ({type(err).__name__}: {err}); pass a {what}") from None


def check_vocab_size(size: int, where: str) -> None:
    """Refuses a vocabulary of more than `MAX_VOCAB_SIZE` tokens.

    Raises:
        TokenizerFileError: naming the size and the limit.
    """
    if size > MAX_VOCAB_SIZE:
        raise TokenizerFileError(
            f"{where}: {size} tokens is more than any real vocabulary (limit {MAX_VOCAB_SIZE}); check the file, or split the vocabulary"
        )


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
