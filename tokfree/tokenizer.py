"""`Tokenizer`: pre-tokenizer + byte-level BPE model + special tokens, compiled into the Rust core.

This module is the Python face of the tokenizer: argument checking, file formats and the
tiktoken-style special-token policy. Encoding and decoding run in Rust (`tokfree._rust`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, Union

from tokfree import _rust
from tokfree._text import call_on_text, call_on_texts, require_str
from tokfree import normalize as _normalize
from tokfree.errors import TokenizerFileError, TokfreeError, UnknownIdError
from tokfree.io.files import check_vocab_size, read_json
from tokfree.io.gpt2 import parts_from_gpt2_files
from tokfree.io.hf import check_added_tokens, parts_from_hf, parts_to_hf
from tokfree.io.native import is_native, parts_from_native, parts_to_native
from tokfree.io.parts import MAX_ID, TokenizerParts, out_of_range_id
from tokfree.io.tiktoken import parts_from_tiktoken, parts_to_tiktoken

if TYPE_CHECKING:
    from collections.abc import Iterator

    import datasets
    import numpy as np
    import tokenizers
    import transformers
    from typing_extensions import Unpack
    from tokfree.io.transformers import TransformersOptions

__all__ = ["Encoding", "Tokenizer"]

SpecialSpec = Union[Literal["all"], Collection[str]]


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
        check_vocab_size(len(parts.vocab) + len(parts.special_tokens), "tokenizer")
        check_added_tokens(parts, "tokenizer")
        bad = out_of_range_id(parts)
        if bad is not None:
            raise TokenizerFileError(f"tokenizer: {bad}; ids are integers from 0 to {MAX_ID}; fix the file or the parts")
        self._core = _rust.Tokenizer(
            parts.pre_tokenizer, parts.vocab, parts.merges, parts.special_tokens, parts.ignore_merges, parts.merge_by_rank
        )
        self._set_added_flags(parts)

    @classmethod
    def _from_core(cls, core: _rust.Tokenizer) -> Tokenizer:
        tokenizer = cls.__new__(cls)
        tokenizer._core = core
        tokenizer._set_added_flags(TokenizerParts("none", [], [], []))
        return tokenizer

    def _set_added_flags(self, parts: TokenizerParts) -> None:
        """The parts the Rust core does not need: the normalizer and HF's added-token flags."""
        self._normalizer = parts.normalizer
        self._non_special = tuple(parts.non_special_tokens)
        self._normalized = tuple(parts.normalized_tokens)
        # With a normalizer, special tokens not matched in normalized text are cut out of the raw text first.
        raw = [content for content, _ in parts.special_tokens if content not in set(self._normalized)]
        self._raw_matcher = _normalize.raw_token_matcher(raw) if parts.normalizer else None

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
        if self._normalizer is not None:
            return self._encode_normalized([text], allowed, disallowed, offsets=offsets)[0]
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
        if self._normalizer is not None:
            return self._encode_normalized(list(texts), allowed, disallowed, num_threads=num_threads)
        return call_on_texts(self._core.encode_batch, list(texts), allowed, disallowed, num_threads)

    def map_encode(
        self,
        dataset: datasets.Dataset | datasets.IterableDataset,
        *,
        column: str = "text",
        output_column: str = "input_ids",
        num_proc: int | None = None,
        batch_size: int = 1000,
        num_threads: int | None = None,
        allowed_special: SpecialSpec = (),
        disallowed_special: SpecialSpec = "all",
        show_progress: bool = True,
    ) -> datasets.Dataset | datasets.IterableDataset:
        """Encodes a Hugging Face dataset's text column into a new column of ids, with `datasets.map`.

        Args:
            dataset: a `datasets.Dataset` or `IterableDataset` (a `DatasetDict`: pass one split).
            column: the column holding the texts.
            output_column: the new column, one list of ids per row (an existing one is replaced).
            num_proc: worker processes for `Dataset.map` (None: this process); not available for
                an IterableDataset, which datasets maps lazily.
            batch_size: rows per `encode_batch` call.
            num_threads: Rust threads per `encode_batch` (None: all cores, or 1 per worker when
                num_proc > 1 so that the processes do not oversubscribe the cores).
            allowed_special, disallowed_special: as in `encode`.
            show_progress: show datasets' progress bar (an IterableDataset is mapped lazily: no bar).

        Returns:
            A new dataset with `output_column` added (an IterableDataset is encoded as it is read).

        Raises:
            TokfreeError: not a dataset, a DatasetDict, a missing column, num_proc with an
                IterableDataset, or a row that is not a str.

        Example:
            >>> ds = datasets.Dataset.from_dict({"text": ["hello world", "low lower"]})
            >>> tok.map_encode(ds)["input_ids"] == tok.encode_batch(ds["text"])
            True
        """
        from tokfree.io.datasets import map_encode

        return map_encode(
            self, dataset, column=column, output_column=output_column, num_proc=num_proc, batch_size=batch_size, num_threads=num_threads,
            allowed_special=allowed_special, disallowed_special=disallowed_special, show_progress=show_progress,
        )  # fmt: skip

    def _encode_normalized(
        self, texts: list[str], allowed: object, disallowed: object, *, offsets: bool = False, num_threads: int | None = None
    ) -> list:
        """`encode` for a tokenizer with a normalizer: raw special tokens are cut out first, the
        text between them is normalized, then encoded (where `normalized_tokens` are matched)."""
        if offsets:
            raise TokfreeError(
                f"offsets=True is not available: this tokenizer normalizes text ({self._normalizer}) before encoding, so its "
                f"ids do not map to byte spans of your text; to get offsets into the normalized text, normalize it yourself "
                f"(unicodedata.normalize({self._normalizer!r}, text)) and encode it with "
                "Tokenizer(dataclasses.replace(tok.to_parts(), normalizer=None))"
            )
        specials = dict(self._core.special_tokens())
        allowed_set = self._special_set(allowed, specials, default=())
        disallowed_set = self._special_set(disallowed, specials, default=specials)
        # Inside normalized text only the `normalized_tokens` are special tokens (as in HF).
        inner_allowed = [content for content in self._normalized if content in allowed_set]
        inner_disallowed = [content for content in self._normalized if content in disallowed_set]
        pieces: list[str] = []
        layout: list[list[int]] = []  # per text: >= 0 an index into pieces, < 0 a special id as -1 - id
        for number, text in enumerate(texts):
            require_str(text, f"text #{number}" if len(texts) > 1 else "text")
            cut = _normalize.segments(text, self._normalizer, self._raw_matcher, allowed_set, disallowed_set)
            slots = []
            for is_special, piece in cut:
                if is_special:
                    slots.append(-1 - specials[piece])
                else:
                    slots.append(len(pieces))
                    pieces.append(piece)
            layout.append(slots)
        encoded = call_on_texts(self._core.encode_batch, pieces, inner_allowed, inner_disallowed, num_threads)
        result = []
        for slots in layout:
            ids: list[int] = []
            for slot in slots:
                if slot < 0:
                    ids.append(-1 - slot)
                else:
                    ids.extend(encoded[slot])
            result.append(ids)
        return result

    @staticmethod
    def _special_set(spec: object, specials: dict[str, int], default: Collection[str]) -> set[str]:
        """A policy argument as a set of special-token contents (names checked as Rust checks them)."""
        if spec is None:
            return set(default)
        if spec == "all":
            return set(specials)
        names = set(spec)  # type: ignore[call-overload]
        unknown = sorted(names - set(specials))
        if unknown:
            raise TokfreeError(
                f"{unknown[0]!r} is not a special token of this tokenizer; its special tokens are {sorted(specials)}"
            )
        return names

    @staticmethod
    def _policy(allowed_special: SpecialSpec, disallowed_special: SpecialSpec) -> tuple[object, object]:
        # The default policy is precomputed in Rust; None selects it without any per-call work.
        if allowed_special == () and disallowed_special == "all":
            return None, None
        return _special_arg(allowed_special, "allowed_special"), _special_arg(disallowed_special, "disallowed_special")

    def iter_encode_file(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_bytes: int = 1 << 20,  # tokfree.io.stream.DEFAULT_CHUNK_BYTES (that module imports numpy)
        allowed_special: SpecialSpec = (),
        disallowed_special: SpecialSpec = "all",
        num_threads: int | None = 1,
        show_progress: bool = False,
    ) -> Iterator[np.ndarray]:
        """Encodes a UTF-8 file in bounded chunks, yielding each chunk's ids (memory follows
        `chunk_bytes`, not the file; see `tokfree.io.stream` for the cut rule).

        Args:
            path: a UTF-8 text file.
            chunk_bytes: bytes of text per chunk (a stretch with no safe cut grows its chunk).
            allowed_special, disallowed_special: as in `encode`.
            num_threads: threads encoding chunks at once (None: all cores).
            show_progress: show a tqdm bar over the file's bytes.

        Returns:
            An iterator of uint32 arrays, shape (n,), whose concatenation equals
            `encode(data.decode("utf-8"))` for the file's bytes `data` (no newline translation).

        Raises:
            InputFileError: the file is missing, or holds invalid UTF-8 (the message names the
                byte offset; the chunks before it have been yielded by then).
            SpecialTokenError: the file contains a disallowed special token.
            TokfreeError: a bad argument, or a tokenizer that normalizes text and has a special
                token containing a newline (a cut could not be checked).

        Example:
            >>> ids = np.concatenate(list(tok.iter_encode_file("corpus.txt")))
        """
        from tokfree.io.stream import iter_encode_file

        return iter_encode_file(self, path, chunk_bytes=chunk_bytes, allowed_special=allowed_special, disallowed_special=disallowed_special,
                                num_threads=num_threads, show_progress=show_progress)

    def encode_file(
        self,
        path: str | os.PathLike[str],
        out: str | os.PathLike[str],
        *,
        dtype: Literal["uint32", "int32"] = "uint32",
        chunk_bytes: int = 1 << 20,
        allowed_special: SpecialSpec = (),
        disallowed_special: SpecialSpec = "all",
        num_threads: int | None = 1,
        show_progress: bool = False,
    ) -> int:
        """Encodes a UTF-8 file in bounded chunks into `out`, raw little-endian 4-byte ids.

        Args:
            path: a UTF-8 text file.
            out: the id file to write, replaced (on an error it holds the ids encoded so far);
                read it back with `np.memmap(out, dtype="<u4")`.
            dtype: "uint32" or "int32" (4-byte little-endian ids either way).
            chunk_bytes, allowed_special, disallowed_special, num_threads, show_progress: as in
                `iter_encode_file`.

        Returns:
            The number of ids written.

        Raises:
            InputFileError, SpecialTokenError, TokfreeError: as in `iter_encode_file`; also a
                dtype other than "uint32"/"int32".

        Example:
            >>> n = tok.encode_file("corpus.txt", "corpus.bin")
        """
        from tokfree.io.stream import encode_file

        return encode_file(self, path, out, dtype=dtype, chunk_bytes=chunk_bytes, allowed_special=allowed_special,
                           disallowed_special=disallowed_special, num_threads=num_threads, show_progress=show_progress)

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
    def normalizer(self) -> str | None:
        """None, "NFC" or "NFKC": the normalization applied to text between special tokens."""
        return self._normalizer

    @property
    def merge_by_rank(self) -> bool:
        """True when merges follow tiktoken's rule (any split of a token merges at its rank)."""
        return self._core.merge_by_rank

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
            merge_by_rank=self._core.merge_by_rank,
            normalizer=self._normalizer,
            non_special_tokens=self._non_special,
            normalized_tokens=self._normalized,
        )

    # --- files ----------------------------------------------------------------------------------

    def to_hf(self) -> "tokenizers.Tokenizer":
        """A Hugging Face `tokenizers.Tokenizer` that encodes identically (built from the
        `tokenizer.json` that `save(path)` writes).

        It encodes like `encode(text, allowed_special="all")` (HF always matches added tokens;
        pass `add_special_tokens=False` to its `encode`). A `merge_by_rank` (tiktoken) vocabulary
        is written the way HF's own converter writes tiktoken files: every split of each token
        into two tokens is a merge, grouped by token rank, with `ignore_merges: true`.

        Raises:
            TokfreeError: HF `tokenizers` is not installed (`pip install tokfree[hf]`).

        Example:
            >>> hf = tok.to_hf()
            >>> hf.encode("hello world", add_special_tokens=False).ids == tok.encode("hello world")
            True
        """
        try:
            import tokenizers
        except ImportError:
            raise TokfreeError("to_hf() needs HF tokenizers: pip install tokfree[hf] (or pip install tokenizers)") from None
        return tokenizers.Tokenizer.from_str(parts_to_hf(self.to_parts()))

    def to_transformers(self, **options: Unpack[TransformersOptions]) -> "transformers.PreTrainedTokenizerFast":
        """A Hugging Face `transformers.PreTrainedTokenizerFast` that encodes identically, with
        named special tokens, an optional BOS/EOS template and padding/truncation settings.

        Its `tokenizer(text, add_special_tokens=False)["input_ids"]` equals
        `encode(text, allowed_special="all")` (transformers matches special-token text);
        with `add_bos`/`add_eos` its default call gives `[bos] + ids + [eos]`. `decode` equals
        `tok.decode` (transformers' space clean-up is switched off).

        Args:
            bos_token, eos_token, pad_token, unk_token: special tokens of this tokenizer to name
                (None: unnamed). `eos_token` defaults to "<|endoftext|>" when the tokenizer has it.
            add_bos, add_eos: insert the BOS / EOS id around each text when transformers adds
                special tokens (its default); default False.
            padding_side, truncation_side: "right" (default) or "left".
            model_max_length: where `truncation=True` cuts without `max_length` (None: no limit).

        Returns:
            A `PreTrainedTokenizerFast`; `.save_pretrained(folder)` writes what
            `AutoTokenizer.from_pretrained(folder)` loads (or use `Tokenizer.save_pretrained`).

        Raises:
            TokfreeError: transformers is not installed (`pip install tokfree[transformers]`), an
                option is invalid, or a named token is not one of `special_tokens` (the message
                lists them).
            TokenizerFileError: tokenizer.json cannot express this tokenizer (it is saved with
                format="tokfree" only).

        Example:
            >>> fast = tok.to_transformers(pad_token="<pad>", padding_side="left")
            >>> fast("hello world")["input_ids"] == tok.encode("hello world")
            True
        """
        from tokfree.io.transformers import to_transformers

        return to_transformers(self, **options)

    def save_pretrained(self, path: str | os.PathLike[str], **options: Unpack[TransformersOptions]) -> list[str]:
        """Writes a transformers tokenizer folder (tokenizer.json, tokenizer_config.json) that
        `transformers.AutoTokenizer.from_pretrained(path)` loads offline and that encodes identically.

        Args:
            path: the folder (created if missing).
            **options: as in `to_transformers` (special tokens, add_bos/add_eos, padding_side,
                truncation_side, model_max_length); they are kept in tokenizer_config.json.

        Returns:
            The paths of the files written.

        Raises:
            TokfreeError, TokenizerFileError: as `to_transformers`.

        Example:
            >>> _ = tok.save_pretrained("my-tokenizer", pad_token="<pad>")
            >>> transformers.AutoTokenizer.from_pretrained("my-tokenizer")("hi")["input_ids"] == tok.encode("hi")
            True
        """
        from tokfree.io.transformers import save_pretrained

        return save_pretrained(self, path, **options)

    @classmethod
    def from_transformers(cls, source: object, *, ignore_post_processor: bool = False) -> Tokenizer:
        """The tokenizer of a transformers `PreTrainedTokenizerFast`, or of a folder `save_pretrained` wrote.

        A folder is read from disk (its tokenizer.json), never from the Hub; an object through its
        `backend_tokenizer`. Padding and truncation are call options in transformers and are not
        part of a tokfree Tokenizer; a post-processor that adds no ids is dropped.

        Args:
            source: a `PreTrainedTokenizerFast` (e.g. from `AutoTokenizer.from_pretrained`) or a folder path.
            ignore_post_processor: drop a post-processor that adds ids (BOS/EOS, CLS/SEP); the ids
                then equal transformers' with `add_special_tokens=False`. Default False: refuse it.

        Raises:
            InputFileError: a path that is not a folder, or a folder without tokenizer.json.
            TokenizerFileError: what tokfree cannot reproduce (the message names the field and fix).
            TokfreeError: `source` is neither a fast tokenizer nor a path.

        Example:
            >>> same = Tokenizer.from_transformers(tok.to_transformers())
            >>> same.to_parts() == tok.to_parts()
            True
        """
        from tokfree.io.transformers import parts_from_transformers

        return cls(parts_from_transformers(source, ignore_post_processor=ignore_post_processor))

    def save(self, path: str | os.PathLike[str], *, format: Literal["hf", "tokfree", "tiktoken"] = "hf") -> None:
        """Writes the tokenizer as HF `tokenizer.json` (default), tokfree JSON or a tiktoken rank file.

        Saving the same tokenizer twice gives byte-identical files.

        `format="tiktoken"` writes the `.tiktoken` rank file (`base64(token) id` per line). That
        format holds the ranks only: the pre-tokenizer regex and the special tokens are given in
        code when loading, as tiktoken does (`from_tiktoken(path, pre_tokenizer=tok.pre_tokenizer,
        special_tokens=tok.special_tokens)`, or `tiktoken.Encoding(pat_str=..., special_tokens=...)`).

        Raises:
            TokenizerFileError: `format="tiktoken"` for a tokenizer tiktoken would encode differently
                (HF merge semantics, ids that are not ranks, a normalizer); the message says which.
        """
        parts = self.to_parts()
        if format == "hf":
            text = parts_to_hf(parts)
        elif format == "tokfree":
            text = parts_to_native(parts)
        elif format == "tiktoken":
            text = parts_to_tiktoken(parts)
        else:
            raise TokfreeError(f"format={format!r} is not a tokenizer format; use 'hf', 'tokfree' or 'tiktoken'")
        with open(path, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)

    @classmethod
    def from_tiktoken(
        cls,
        path: str | os.PathLike[str],
        *,
        pre_tokenizer: str,
        special_tokens: Mapping[str, int] | None = None,
    ) -> Tokenizer:
        """Loads a tiktoken rank file (`.tiktoken`: `base64(token) rank` per line), with tiktoken's semantics.

        The ranks are the ids; merges are derived from the ranks and follow tiktoken's rule
        (`merge_by_rank`, `ignore_merges`), so ids equal `tiktoken.Encoding`'s built from the same file.

        Args:
            path: the rank file.
            pre_tokenizer: a preset ("gpt2", "gpt4" for cl100k_base, "o200k"), a custom regex, or
                one of tiktoken's published `pat_str` values (recognised as its preset).
            special_tokens: content -> id, as given to `tiktoken.Encoding` (not part of the file).

        Raises:
            InputFileError: the file cannot be read.
            TokenizerFileError: a malformed line (with its number), or a token no merge of two
                lower-ranked tokens makes.

        Example:
            >>> tok = Tokenizer.from_tiktoken("cl100k_base.tiktoken", pre_tokenizer="gpt4",
            ...                               special_tokens={"<|endoftext|>": 100257})
        """
        return cls(parts_from_tiktoken(os.fspath(path), pre_tokenizer=pre_tokenizer, special_tokens=special_tokens))

    @classmethod
    def from_gpt2_files(
        cls,
        vocab_json: str | os.PathLike[str],
        merges_txt: str | os.PathLike[str],
        *,
        pre_tokenizer: str = "gpt2",
        special_tokens: Collection[str] | None = None,
    ) -> Tokenizer:
        """Loads a GPT-2 style `vocab.json` + `merges.txt` pair (OpenAI's `encoder.json` + `vocab.bpe`).

        HF merge semantics (the merge list decides), as HF `tokenizers` reads these files.

        Args:
            vocab_json: byte-level token string -> id.
            merges_txt: `#version` line, then one `left right` merge per line, in rank order.
            pre_tokenizer: a preset or custom regex (GPT-2's own is "gpt2").
            special_tokens: vocab entries that are special tokens (keep their vocab id; an entry not
                in the vocab gets the next free id, as HF assigns added tokens). None: "<|endoftext|>"
                if the vocab has it. Entries that are not byte-level strings are special tokens too.

        Raises:
            InputFileError: a file cannot be read.
            TokenizerFileError: malformed JSON or merge line (with its number), or a merge of unknown tokens.
        """
        return cls(parts_from_gpt2_files(os.fspath(vocab_json), os.fspath(merges_txt), pre_tokenizer=pre_tokenizer, special_tokens=special_tokens))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """Loads a HF `tokenizer.json` (byte-level BPE) or a tokfree JSON file (detected).

        Raises:
            InputFileError: the file is missing or unreadable.
            TokenizerFileError: the file is malformed or uses a feature tokfree cannot reproduce.
        """
        name = os.fspath(path)
        document = read_json(name, "tokenizer.json file")
        if is_native(document) and document.get("model") == "hybrid":
            raise TokenizerFileError(f"{name} is a hybrid morphological tokenizer; load it with tokfree.models.hybrid.HybridTokenizer.from_file")
        parts = parts_from_native(document, name) if is_native(document) else parts_from_hf(document, name)
        return cls(parts)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickles by the tokfree JSON text that `save(path, format="tokfree")` writes (which
        expresses every tokenizer), never by the Rust internals: a worker process rebuilds it as
        `from_file` would, so `multiprocessing` and `datasets.map` can ship a Tokenizer."""
        return _from_native_text, (type(self), parts_to_native(self.to_parts()))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, pre_tokenizer={self.pre_tokenizer!r}, special_tokens={len(self.special_tokens)})"


def _from_native_text(cls: type[Tokenizer], text: str) -> Tokenizer:
    """The tokenizer `Tokenizer.__reduce__` pickled (checked like a tokfree JSON file)."""
    return cls(parts_from_native(json.loads(text), "pickled Tokenizer"))
