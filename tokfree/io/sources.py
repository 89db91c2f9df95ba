"""Where training text comes from: files, compressed files, JSONL, Hugging Face datasets, or texts.

Every trainer takes its `inputs` through this module, so they all accept the same things:

- a path or glob, or a list/tuple of them. Plain text files are one document each (the trainers
  hand them to Rust's chunked reader, see `is_plain_text`); `.gz`, `.bz2`, `.xz` and `.zst` files
  are decompressed in Python and streamed in bounded pieces; JSONL files (`.jsonl`, `.jsonl.gz`,
  ...) hold one record per line, whose `text_column` field is one document.
- a `datasets.Dataset` or `datasets.IterableDataset`: each row's `text_column` is one document.
- any other iterable of str: each text is one document.

A streamed file is cut only right after a line break that follows a non-space character and
precedes an ASCII letter or digit. No preset pre-tokenizer has a piece that crosses such a cut (the
newline ends the piece before it or is a piece of its own, and no piece starts with a newline
followed by letters or digits), so the pieces count exactly like the whole file.

It does not count, normalize for a tokenizer, or train: that is `tokfree.trainers`. `datasets` is
imported only when a dataset is passed (`import tokfree` stays light).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import glob
import gzip
import json
import lzma
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Union

from tokfree.errors import InputFileError, TokfreeError

if TYPE_CHECKING:
    import datasets  # type: ignore[import-untyped]

__all__ = [
    "PathInput", "TextInputs", "Texts", "can_reread", "check_column", "file_texts", "is_dataset", "is_plain_text", "iter_texts", "names_files",
    "normalized_texts", "resolve_files",
]  # fmt: skip

PathInput = Union[str, "os.PathLike[str]"]
#: What every trainer's `inputs` may be (see the module docs).
TextInputs = Union[PathInput, list[PathInput], tuple[PathInput, ...], Iterable[str], "datasets.Dataset", "datasets.IterableDataset"]

#: The column (dataset) or field (JSONL) that holds the text when `text_column` is None.
DEFAULT_TEXT_COLUMN = "text"
# A streamed file is yielded in pieces of at least this many characters (cut at the next safe line
# break): big enough that Rust's counting threads stay busy, small enough to stay a few MB.
_PIECE_CHARS = 8 * 1024 * 1024
# Bytes read from a (decompressing) file per call.
_READ_BYTES = 1 << 20
# Rows fetched from a dataset per batch (Arrow -> Python lists costs less per row in batches).
_DATASET_BATCH = 1000
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")
_JSONL = (".jsonl", ".ndjson")


class Texts(Iterator[str]):
    """An iterator of texts that knows how many there are (when it does) and what one is called,
    for progress bars: a dataset's texts are its rows, with `total` = `len(dataset)`."""

    def __init__(self, texts: Iterable[str], *, total: int | None = None, unit: str = "text") -> None:
        self._texts = iter(texts)
        self.total = total
        self.unit = unit

    def __iter__(self) -> Iterator[str]:
        return self._texts  # a for loop then runs the generator itself, not a __next__ per text

    def __next__(self) -> str:
        return next(self._texts)

    def __length_hint__(self) -> int:
        return self.total or 0


def _is_path(item: object) -> bool:
    return isinstance(item, (str, os.PathLike))


def names_files(inputs: object) -> bool:
    """Whether `inputs` names files (a path, a glob, or a list/tuple of them) rather than texts."""
    return _is_path(inputs) or isinstance(inputs, (list, tuple))


def is_dataset(inputs: object) -> bool:
    """Whether `inputs` is a `datasets.Dataset` or `datasets.IterableDataset`.

    Raises:
        TokfreeError: `inputs` is a `DatasetDict` (naming its splits: pick one).
    """
    module = sys.modules.get("datasets")
    if module is None:  # a dataset cannot exist before its library is imported
        return False
    if isinstance(inputs, (module.DatasetDict, module.IterableDatasetDict)):
        splits = ", ".join(repr(name) for name in inputs)
        raise TokfreeError(
            f"inputs is a {type(inputs).__name__} with the splits {splits}; pass one split, e.g. inputs[{next(iter(inputs), 'train')!r}]"
        )
    return isinstance(inputs, (module.Dataset, module.IterableDataset))


def can_reread(inputs: object) -> bool:
    """Whether iterating `inputs` twice gives the same texts (files and datasets do; a generator
    does not, so a trainer that reads its input twice keeps such texts in memory)."""
    return names_files(inputs) or is_dataset(inputs)


def resolve_files(inputs: PathInput | list[PathInput] | tuple[PathInput, ...]) -> list[str]:
    """Every file named by `inputs` (paths or globs), in order, each glob sorted.

    Raises:
        TokfreeError: `inputs` mixes paths with other things.
        InputFileError: a path that is not a file and matches no file as a glob.
    """
    items = [inputs] if _is_path(inputs) else list(inputs)  # type: ignore[arg-type]
    files: list[str] = []
    for item in items:
        if not _is_path(item):
            raise TokfreeError(
                f"inputs mixes paths with {type(item).__name__}; pass only paths/globs, or an iterator of texts (e.g. iter(texts))"
            )
        name = os.fspath(item)  # type: ignore[arg-type]
        if os.path.isfile(name):
            files.append(name)
            continue
        matches = sorted(path for path in glob.glob(name, recursive=True) if os.path.isfile(path))
        if not matches:
            shown = repr(name) if len(name) <= 80 else f"{name[:60]!r}... ({len(name)} characters)"
            raise InputFileError(
                f"input {shown} is not a file and matches no file as a glob; check the path "
                f"(to train on in-memory text, pass an iterator of strings, e.g. iter(texts))"
            )
        files.extend(matches)
    return files


def _compression(path: str) -> str | None:
    """The compression suffix of `path` (".gz", ...), or None."""
    return next((suffix for suffix in _COMPRESSED if path.endswith(suffix)), None)


def _is_jsonl(path: str) -> bool:
    suffix = _compression(path)
    stem = path[: -len(suffix)] if suffix else path
    return stem.endswith(_JSONL)


def is_plain_text(path: str) -> bool:
    """Whether `path` is read as plain UTF-8 text (not compressed, not JSONL), which Rust can stream."""
    return _compression(path) is None and not _is_jsonl(path)


def _zstd_open() -> Callable[[str], IO[bytes]]:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+

        return lambda path: zstd.open(path, "rb")  # type: ignore[no-any-return]
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        raise InputFileError(
            "reading .zst files needs the zstandard package (or Python 3.14+); install it: pip install zstandard, "
            "or decompress the file first (zstd -d FILE)"
        ) from None
    return lambda path: zstandard.open(path, "rb")  # type: ignore[no-any-return]


def _open_bytes(path: str) -> IO[bytes]:
    suffix = _compression(path)
    openers: dict[str | None, Callable[[str], IO[bytes]]] = {
        None: lambda name: open(name, "rb"),
        ".gz": lambda name: gzip.open(name, "rb"),  # type: ignore[dict-item,return-value]
        ".bz2": lambda name: bz2.open(name, "rb"),
        ".xz": lambda name: lzma.open(name, "rb"),
    }
    opener = _zstd_open() if suffix == ".zst" else openers[suffix]
    try:
        return opener(path)
    except OSError as err:
        raise InputFileError(f"cannot read {path}: {err.strerror or err}; check the path") from None


@contextlib.contextmanager
def _reading(path: str) -> Iterator[None]:
    """Turns a decompressor's failure while reading `path` into an InputFileError naming the file."""
    try:
        yield
    except (OSError, EOFError, lzma.LZMAError) as err:
        raise _read_error(path, err) from None
    except Exception as err:  # zstandard.ZstdError derives from Exception only
        if type(err).__module__.startswith(("zstandard", "compression")):
            raise _read_error(path, err) from None
        raise


def _read_error(path: str, err: Exception) -> InputFileError:
    what = _compression(path) or "the"
    return InputFileError(f"cannot read {path}: {type(err).__name__}: {err}; {what} data is corrupt or truncated: check or re-create the file")


def _safe_cut(text: str, start: int) -> int:
    """The last position after `start` where `text` can be cut without changing any preset's
    pre-tokens: right after a "\\n" that follows a non-space character and precedes an ASCII
    letter or digit (0: none)."""
    end = len(text) - 1  # the newline needs a character after it
    while True:
        at = text.rfind("\n", max(start, 1), end)
        if at < 0:
            return 0
        after = text[at + 1]
        if after.isascii() and after.isalnum() and not text[at - 1].isspace():
            return at + 1
        end = at


def _file_pieces(path: str) -> Iterator[str]:
    """The UTF-8 text of the (possibly compressed) file `path`, in pieces cut at safe line breaks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes of the file decoded so far, for error messages
    text, searched = "", 0
    with _open_bytes(path) as file:
        while True:
            with _reading(path):
                block = file.read(_READ_BYTES)
            try:
                pending = len(decoder.getstate()[0])
                text += decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                byte = offset - pending + error.start
                raise InputFileError(f"{path} is not valid UTF-8 (byte {byte}): {error.reason}; re-encode it as UTF-8") from None
            offset += len(block)
            if not block:
                break
            if len(text) >= _PIECE_CHARS:
                cut = _safe_cut(text, searched)
                if cut:
                    yield text[:cut]
                    text, searched = text[cut:], 0
                else:
                    searched = max(0, len(text) - 1)
    if text or offset == 0:
        yield text


def _jsonl_texts(path: str, column: str) -> Iterator[str]:
    """The `column` field of each record of the JSONL file `path` (blank lines skipped)."""
    with _open_bytes(path) as file:
        number = 0
        while True:
            number += 1
            with _reading(path):
                raw = file.readline()
            if not raw:
                return
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputFileError(f"{path} line {number} is not valid UTF-8 (byte {error.start} of the line): {error.reason}; re-encode the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as err:
                raise InputFileError(f"{path} line {number} is not JSON ({err}); a JSONL file holds one JSON object per line") from None
            if not isinstance(record, dict):
                raise InputFileError(f"{path} line {number} is a JSON {type(record).__name__}, not an object; write one object per line, e.g. {{\"text\": ...}}")
            if column not in record:
                raise InputFileError(
                    f"{path} line {number} has no field {column!r} (it has {', '.join(map(repr, record)) or 'none'}); "
                    f"pass text_column= naming the field that holds the text"
                )
            value = record[column]
            if not isinstance(value, str):
                raise InputFileError(f"{path} line {number}: field {column!r} is {type(value).__name__}, not str; store the text as a JSON string")
            yield value


def file_texts(path: str, *, text_column: str | None = None) -> Iterator[str]:
    """The texts of one file: a JSONL file's records' `text_column` fields, or the text of any
    other file (decompressed by its suffix) in pieces cut where no pre-token crosses.

    Raises:
        InputFileError: unreadable, corrupt, not UTF-8, not JSONL, a record without the field.
    """
    if _is_jsonl(path):
        yield from _jsonl_texts(path, text_column or DEFAULT_TEXT_COLUMN)
    else:
        yield from _file_pieces(path)


def check_column(dataset: datasets.Dataset | datasets.IterableDataset, column: str, argument: str) -> None:
    """Raises a TokfreeError listing the columns unless `dataset` has `column` (named by the
    caller's `argument`); an IterableDataset that does not know its columns passes."""
    names = dataset.column_names
    if names is not None and column not in names:
        raise TokfreeError(
            f"the dataset has no column {column!r}; its columns are {', '.join(map(repr, names))}: pass {argument}= naming the text column"
        )


def _dataset_texts(dataset: datasets.Dataset | datasets.IterableDataset, column: str) -> Iterator[str]:
    check_column(dataset, column, "text_column")
    row = 0
    for batch in dataset.select_columns([column]).iter(batch_size=_DATASET_BATCH):
        if column not in batch:
            raise TokfreeError(f"the dataset has no column {column!r} (row {row} has {', '.join(map(repr, batch))}); pass text_column= naming it")
        for value in batch[column]:
            if not isinstance(value, str):
                raise TokfreeError(
                    f"row {row} of column {column!r} is {type(value).__name__} ({str(value)[:40]!r}), not str; "
                    f"fill or drop such rows first, e.g. dataset.filter(lambda row: isinstance(row[{column!r}], str))"
                )
            yield value
            row += 1


def iter_texts(inputs: TextInputs, *, text_column: str | None = None) -> Texts:
    """The texts of `inputs` (see the module docs), one document after another.

    Args:
        inputs: a path/glob or list/tuple of them, a `datasets.Dataset` / `IterableDataset`, or
            an iterable of str (passed through unchecked: the consumer checks each is a str).
        text_column: the dataset column or JSONL field holding the text (None: "text").

    Returns:
        A `Texts` iterator (`total` is the row count of a `Dataset`, else None).

    Raises:
        TokfreeError: a DatasetDict, a missing dataset column, a non-str value (naming the row),
            bytes instead of text.
        InputFileError: a missing file, a glob matching nothing, a corrupt or non-UTF-8 file.

    Example:
        >>> list(iter_texts(iter(["a", "b"])))
        ['a', 'b']
    """
    if names_files(inputs):
        files = resolve_files(inputs)  # type: ignore[arg-type]
        return Texts((text for path in files for text in file_texts(path, text_column=text_column)))
    if isinstance(inputs, (bytes, bytearray)):
        raise TokfreeError("inputs is bytes; decode it to str, or pass a file path")
    if is_dataset(inputs):
        total = len(inputs) if hasattr(inputs, "__len__") else None  # type: ignore[arg-type]
        return Texts(_dataset_texts(inputs, text_column or DEFAULT_TEXT_COLUMN), total=total, unit="row")  # type: ignore[arg-type]
    return Texts(inputs)  # type: ignore[arg-type]


def normalized_texts(inputs: TextInputs, form: str, *, text_column: str | None = None) -> Texts:
    """`iter_texts(inputs)` in Unicode normal form `form` ("NFC", "NFKC", ...), keeping its count."""
    texts = iter_texts(inputs, text_column=text_column)
    return Texts((unicodedata.normalize(form, text) for text in texts), total=texts.total, unit=texts.unit)  # type: ignore[arg-type]
