"""Streaming encode of UTF-8 files: ids per bounded chunk, as numpy arrays or a raw `.bin` file.

A file is read in chunks of about `chunk_bytes` bytes, and each chunk is cut only where the
pre-tokenizer cannot join text across the cut (a newline followed by an ASCII letter or digit, on
the side of the newline the preset's rule says: `rust_ext/src/train/count.rs`, `CutRule`, the rule
training already counts files by). So the concatenated ids equal `tok.encode(whole_text)` exactly,
with whole_text = the file's bytes decoded as UTF-8 (no newline translation).

Memory is bounded by the chunk size: about `chunk_bytes * batch` bytes of text and the ids of that
text (`batch` = 4 chunks per thread when threads > 1, else 1). A stretch of the file with no safe
cut (one huge line, a file without newlines before ASCII alphanumerics) grows its chunk, doubling
it until a cut or the end of the file turns up (so a chunk stays below twice that stretch plus
`chunk_bytes`); a pre-tokenizer whose boundaries are not known (a custom
regex, "none", "superword") has no safe cut at all, so the whole file is one chunk (a warning says
so).

Special tokens: a cut is refused where a special token's text could straddle it (only possible
for special tokens containing a newline). With a normalizer (NFC/NFKC) cuts stay exact (a newline
before an ASCII alphanumeric is a normalization boundary), except that special tokens containing
a newline are then refused with an error, since they are matched in normalized text.

This module does not offer offsets, and does not read compressed files.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Literal, Union

import numpy as np
from tqdm.auto import tqdm

from tokfree import _rust
from tokfree.errors import InputFileError, TokfreeError

if TYPE_CHECKING:
    from tokfree.tokenizer import Tokenizer

__all__ = ["DEFAULT_CHUNK_BYTES", "iter_encode_file", "encode_file"]

SpecialSpec = Union[Literal["all"], Collection[str]]

#: Default chunk size: 1 MiB of text is ~25 ms of encoding, so per-chunk Python costs (~50 us) vanish.
DEFAULT_CHUNK_BYTES = 1 << 20
# Chunks handed to encode_batch at once per thread when threads > 1, so that unequal chunks still
# keep every thread busy until the batch ends.
_CHUNKS_PER_THREAD = 4
_DTYPES = {"uint32": np.dtype("<u4"), "int32": np.dtype("<i4")}


def _newline_specials(tok: Tokenizer) -> list[bytes]:
    """The special tokens (as UTF-8) that contain a newline: the only ones a cut can straddle.

    Raises:
        TokfreeError: the tokenizer normalizes text and has such a special token.
    """
    found = [content.encode("utf-8") for content in tok.special_tokens if "\n" in content]
    if found and tok.normalizer is not None:
        raise TokfreeError(
            f"cannot stream-encode with this tokenizer: its special token {found[0].decode()!r} contains a newline and it "
            f"normalizes text ({tok.normalizer}), so a safe cut cannot be checked in the raw file; encode the whole text "
            "with tok.encode(open(path, encoding='utf-8', newline='').read()) instead"
        )
    return found


def _straddles(buffer: bytes, cut: int, specials: list[bytes]) -> bool:
    """Whether a special token occurs across `cut`, or might (not enough bytes after the cut to tell)."""
    for special in specials:
        reach = len(special) - 1
        if cut + reach > len(buffer):
            return True
        if buffer.find(special, max(0, cut - reach), cut + reach) >= 0:
            return True  # every occurrence inside this window covers bytes on both sides of the cut
    return False


def _safe_cut(tok: Tokenizer, buffer: bytes, specials: list[bytes]) -> int | None:
    """The last position in `buffer` where it may be cut (no special token straddling), or None."""
    end = len(buffer)
    while True:
        cut = _rust.last_safe_cut(tok._core, buffer, end)
        if cut is None or not _straddles(buffer, cut, specials):
            return cut
        end = cut  # look further back: positions before this newline


def _chunks(tok: Tokenizer, path: str, chunk_bytes: int, specials: list[bytes], bar: tqdm) -> Iterator[tuple[int, bytes]]:
    """`(offset, bytes)` of consecutive pieces of the file, each ending at a safe cut (or the file's end)."""
    offset, buffer, size = 0, b"", chunk_bytes
    try:
        file = open(path, "rb")
    except OSError as err:
        raise InputFileError(f"{path}: cannot be read ({err.strerror}); pass the path of a readable UTF-8 text file") from None
    with file:
        while True:
            need = size - len(buffer)
            at_end = False
            if need > 0:
                data = file.read(need)
                at_end = len(data) < need
                buffer += data
                bar.update(len(data))
            if at_end:
                if buffer:
                    yield offset, buffer
                return
            cut = _safe_cut(tok, buffer, specials)
            if cut is None:
                size = max(size, len(buffer)) * 2  # no safe cut yet: grow the chunk (documented)
                continue
            yield offset, buffer[:cut]
            offset += cut
            buffer = buffer[cut:]
            size = len(buffer) + chunk_bytes


def _decode(data: bytes, offset: int, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(
            f"{path}: the byte at offset {offset + err.start} (0x{data[err.start]:02x}) is not valid UTF-8 ({err.reason}); "
            "tokfree encodes UTF-8 text only: convert the file (e.g. iconv -f latin1 -t utf-8) or repair it "
            "(data.decode('utf-8', 'replace'))"
        ) from None


def _check(tok: Tokenizer, path: str, chunk_bytes: int, num_threads: int | None) -> list[bytes]:
    """Checks the arguments (when the call is made, not when iteration starts); returns the
    newline-holding special tokens (`_newline_specials`)."""
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1:
        raise TokfreeError(f"chunk_bytes={chunk_bytes!r}: pass a positive int (bytes of text per chunk, default {DEFAULT_CHUNK_BYTES})")
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
        raise TokfreeError(f"num_threads={num_threads!r}: pass a positive number of threads, or None for all cores")
    if not os.path.isfile(path):
        raise InputFileError(f"{path}: no such file (or not a regular file); pass the path of a UTF-8 text file")
    specials = _newline_specials(tok)
    if _rust.last_safe_cut(tok._core, b"a\na\na") is None:  # this pre-tokenizer has no known cut at all
        warnings.warn(
            f"pre-tokenizer {tok.pre_tokenizer!r} has no known safe cut position, so {path} is encoded as one chunk "
            "(memory grows with the file); use a preset such as 'gpt2' or 'gpt4' to stream with bounded memory",
            stacklevel=4,
        )
    return specials


def iter_encode_file(tok: Tokenizer, path: str | os.PathLike[str], *, chunk_bytes: int, allowed_special: SpecialSpec,
                     disallowed_special: SpecialSpec, num_threads: int | None, show_progress: bool) -> Iterator[np.ndarray]:
    """`Tokenizer.iter_encode_file` (documented there): the arguments are checked now, the file
    is read as the iterator is consumed."""
    name = os.fspath(path)
    specials = _check(tok, name, chunk_bytes, num_threads)
    return _iter_ids(tok, name, chunk_bytes, specials, allowed_special, disallowed_special, num_threads or (os.cpu_count() or 1), show_progress)


def _iter_ids(tok: Tokenizer, name: str, chunk_bytes: int, specials: list[bytes], allowed_special: SpecialSpec,
              disallowed_special: SpecialSpec, threads: int, show_progress: bool) -> Iterator[np.ndarray]:
    """The generator behind `iter_encode_file` (arguments already checked)."""
    batch = 1 if threads == 1 else threads * _CHUNKS_PER_THREAD
    with tqdm(total=os.path.getsize(name), desc="encoding", unit="B", unit_scale=True, disable=not show_progress) as bar:
        texts: list[str] = []
        for offset, data in _chunks(tok, name, chunk_bytes, specials, bar):
            texts.append(_decode(data, offset, name))
            if len(texts) >= batch:
                yield from _encode(tok, texts, allowed_special, disallowed_special, threads)
                texts = []
        if texts:
            yield from _encode(tok, texts, allowed_special, disallowed_special, threads)


def _encode(tok: Tokenizer, texts: list[str], allowed: SpecialSpec, disallowed: SpecialSpec, threads: int) -> Iterator[np.ndarray]:
    lists = tok.encode_batch(texts, num_threads=threads, allowed_special=allowed, disallowed_special=disallowed)
    texts.clear()  # the caller's list: free the text before the ids are handed out
    for ids in lists:
        yield np.array(ids, dtype=np.uint32)


def encode_file(tok: Tokenizer, path: str | os.PathLike[str], out: str | os.PathLike[str], *, dtype: str, chunk_bytes: int,
                allowed_special: SpecialSpec, disallowed_special: SpecialSpec, num_threads: int | None, show_progress: bool) -> int:
    """`Tokenizer.encode_file` (documented there): writes each chunk's ids as it is encoded."""
    if dtype not in _DTYPES:
        raise TokfreeError(f"dtype={dtype!r}: pass 'uint32' or 'int32' (the id file holds 4-byte little-endian ids)")
    target = _DTYPES[dtype]
    chunks = iter_encode_file(tok, path, chunk_bytes=chunk_bytes, allowed_special=allowed_special,
                              disallowed_special=disallowed_special, num_threads=num_threads, show_progress=show_progress)
    written = 0
    with open(out, "wb") as file:
        for ids in chunks:
            if ids.size and dtype == "int32" and int(ids.max()) >= 2**31:
                raise TokfreeError(f"id {int(ids.max())} does not fit dtype='int32'; pass dtype='uint32'")
            file.write(ids.astype(target, copy=False).tobytes())
            written += ids.size
    return written
