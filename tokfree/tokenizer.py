"""`Tokenizer`: pre-tokenizer + byte-level BPE model + special tokens, compiled into the Rust core.

This module is the Python face of the tokenizer: argument checking, file formats and the
tiktoken-style special-token policy. Encoding and decoding run in Rust (`tokfree._rust`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from typing import Literal, NamedTuple, Union

from tokfree import _rust
from tokfree._text import call_on_text, call_on_texts
from tokfree.errors import TokenizerFileError, TokfreeError, UnknownIdError
from tokfree.io.hf import parts_from_hf, parts_to_hf
from tokfree.io.native import is_native, parts_from_native, parts_to_native
from tokfree.io.parts import TokenizerParts

__all__ = ["Encoding", "Tokenizer"]

SpecialSpec = Union[Literal["all"], Collection[str]]

# Refuse tokenizer files larger than this before parsing: the biggest real ones (o200k-sized
# vocabularies with merges) are ~30 MB, and a hostile 10 GB JSON must not be read into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024


class Encoding(NamedTuple):
    """Ids with the byte span each one covers in the UTF-8 text (`text.encode()[start:end]`)."""

    ids: list[int]
    offsets: list[tuple[int, int]]


def _special_arg(spec: SpecialSpec, name: str) -> object:
    """Passes "all" through; turns any other collection into a list for Rust (a str is refused)."""
    if spec == "all":
        return "all"
    if isinstance(spec, (str, bytes)):
        raise TokfreeError(f'{name}={spec!r}: pass "all" or a collection of special-token strings, e.g. {{"<|endoftext|>"}}')
    return list(spec)


class Tokenizer:
    """A byte-level BPE tokenizer.

    Build one with `tokfree.train_bpe` or `Tokenizer.from_file`; the constructor takes
    `TokenizerParts`.

    Example:
        >>> tok = Tokenizer.from_file("tokenizer.json")
        >>> tok.decode(tok.encode("Hello world")) == "Hello world"
        True
    """

    def __init__(self, parts: TokenizerParts) -> None:
        self._core = _rust.Tokenizer(parts.pre_tokenizer, parts.vocab, parts.merges, parts.special_tokens, parts.ignore_merges)

    @classmethod
    def _from_core(cls, core: _rust.Tokenizer) -> Tokenizer:
        tokenizer = cls.__new__(cls)
        tokenizer._core = core
        return tokenizer

    # --- encoding -------------------------------------------------------------------------------

    def encode(
        self,
        text: str,
        *,
        offsets: bool = False,
        allowed_special: SpecialSpec = (),
        disallowed_special: SpecialSpec = "all",
    ) -> list[int] | Encoding:
        """Token ids of `text`.

        Args:
            text: the text to encode.
            offsets: also return each id's byte span in `text.encode("utf-8")`.
            allowed_special: special tokens whose text becomes their id ("all" or a collection).
            disallowed_special: special tokens whose text raises `SpecialTokenError` (default "all");
                special text neither allowed nor disallowed is encoded as plain text.

        Returns:
            `list[int]`, or `Encoding(ids, offsets)` when `offsets` is true.

        Raises:
            SpecialTokenError: `text` contains a disallowed special token.
            TokfreeError: `text` is not a str or holds a lone surrogate.

        Example:
            >>> tok.encode("<|endoftext|>", allowed_special="all")
            [0]
        """
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        result = call_on_text(self._core.encode, text, allowed, disallowed, offsets)
        return Encoding(*result) if offsets else result

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        num_threads: int | None = None,
        allowed_special: SpecialSpec = (),
        disallowed_special: SpecialSpec = "all",
    ) -> list[list[int]]:
        """`encode` for many texts, in parallel in Rust with the GIL released.

        Args:
            texts: the texts; each is encoded on its own.
            num_threads: threads to use (None: all cores).
            allowed_special, disallowed_special: as in `encode`.

        Returns:
            One id list per text, in input order.
        """
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        if isinstance(texts, str):
            raise TokfreeError("encode_batch takes a list of texts, got one str; use encode() or wrap it: [text]")
        return call_on_texts(self._core.encode_batch, list(texts), allowed, disallowed, num_threads)

    @staticmethod
    def _policy(allowed_special: SpecialSpec, disallowed_special: SpecialSpec) -> tuple[object, object]:
        # The default policy is precomputed in Rust; None selects it without any per-call work.
        if allowed_special == () and disallowed_special == "all":
            return None, None
        return _special_arg(allowed_special, "allowed_special"), _special_arg(disallowed_special, "disallowed_special")

    # --- decoding -------------------------------------------------------------------------------

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes of `ids` (exact: no replacement happens here).

        Raises:
            UnknownIdError: an id is not in the vocabulary.
        """
        try:
            return self._core.decode_bytes(ids)
        except (TypeError, OverflowError):
            bad = next((i for i in ids if not isinstance(i, int) or isinstance(i, bool)), None)
            raise UnknownIdError(f"ids must be ints, got {bad!r} ({type(bad).__name__}); pass the list encode() returned") from None

    def decode(self, ids: Sequence[int], *, errors: str = "replace") -> str:
        """The text of `ids`; invalid UTF-8 (e.g. a cut in the middle of a character) is handled by `errors`."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    # --- vocabulary -----------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of tokens: model tokens plus special tokens."""
        return self._core.vocab_size

    @property
    def pre_tokenizer(self) -> str:
        """The pre-tokenizer preset name, or the custom regex."""
        return self._core.pre_tokenizer

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special-token text -> id."""
        return dict(self._core.special_tokens())

    def token_to_id(self, token: str | bytes) -> int | None:
        """The id of the token with this text (str, as UTF-8) or these bytes, or None."""
        if isinstance(token, str):
            token = token.encode("utf-8", errors="surrogatepass")
        return self._core.token_to_id(bytes(token))

    def id_to_token(self, token_id: int) -> bytes | None:
        """The bytes of token `token_id`, or None if there is no such id."""
        return self._core.id_to_token(token_id)

    def to_parts(self) -> TokenizerParts:
        """Everything that defines this tokenizer, as plain Python values."""
        return TokenizerParts(
            pre_tokenizer=self._core.pre_tokenizer,
            vocab=[(token_id, bytes(token)) for token_id, token in self._core.model_vocab()],
            merges=self._core.merges(),
            special_tokens=self._core.special_tokens(),
            ignore_merges=self._core.ignore_merges,
        )

    # --- files ----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, format: Literal["hf", "tokfree"] = "hf") -> None:
        """Writes the tokenizer as HF `tokenizer.json` (default) or tokfree JSON.

        Saving the same tokenizer twice gives byte-identical files.
        """
        parts = self.to_parts()
        if format == "hf":
            text = parts_to_hf(parts)
        elif format == "tokfree":
            text = parts_to_native(parts)
        else:
            raise TokfreeError(f"format={format!r} is not a tokenizer format; use 'hf' or 'tokfree'")
        with open(path, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """Loads a HF `tokenizer.json` (byte-level BPE) or a tokfree JSON file (detected).

        Raises:
            InputFileError: the file is missing or unreadable.
            TokenizerFileError: the file is malformed or uses a feature tokfree cannot reproduce.
        """
        from tokfree.errors import InputFileError

        name = os.fspath(path)
        try:
            size = os.path.getsize(name)
            if size > MAX_FILE_BYTES:
                raise TokenizerFileError(f"{name}: {size} bytes is larger than any real tokenizer file (limit {MAX_FILE_BYTES}); check the path")
            with open(name, "rb") as file:
                raw = file.read()
        except OSError as err:
            raise InputFileError(f"cannot read tokenizer file {name!r}: {err.strerror}; check the path") from None
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise TokenizerFileError(f"{name}: not valid JSON ({type(err).__name__}: {err}); pass a tokenizer.json file") from None
        parts = parts_from_native(document, name) if is_native(document) else parts_from_hf(document, name)
        return cls(parts)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, pre_tokenizer={self.pre_tokenizer!r}, special_tokens={len(self.special_tokens)})"
