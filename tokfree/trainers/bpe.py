"""`train_bpe`: learn a byte-level BPE vocabulary from files, datasets or an iterable of texts.

Input is streamed: plain files are read in bounded chunks by Rust; compressed and JSONL files,
datasets and texts are passed in batches (`tokfree.io.sources` reads them), and only
the distinct pre-tokens with their counts are kept, so memory follows the vocabulary of the corpus,
not its size. Pre-token counting is parallel; the merge loop is exact and deterministic (highest
count first, ties to the smallest pair by bytes). This module counts inputs and shows progress;
the algorithms live in Rust (`rust_ext/src/train/`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tqdm.auto import tqdm

from tokfree import _rust
from tokfree._text import call_on_texts
from tokfree.errors import TokfreeError
from tokfree.io.sources import TextInputs, file_texts, is_plain_text, iter_texts, names_files, resolve_files
from tokfree.tokenizer import Tokenizer

__all__ = ["train_bpe"]

# Texts are handed to Rust in batches of about this many characters: large enough that the
# threads stay busy, small enough that the batch (alive while Rust reads it) stays a few MB.
_BATCH_CHARS = 8 * 1024 * 1024


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        batch.append(text)
        size += len(text) if isinstance(text, str) else 0
        if size >= _BATCH_CHARS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _add_texts(counter: _rust.PretokenCounter, texts: Iterable[str], bar: tqdm | None = None) -> None:
    for batch in _batches(texts):
        call_on_texts(counter.add_texts, batch)
        if bar is not None:
            bar.update(len(batch))


def count_pretokens(
    inputs: TextInputs, pre_tokenizer: str, *, text_column: str | None = None, show_progress: bool = True
) -> _rust.PretokenCounter:
    """The distinct pre-tokens of `inputs` (as `tokfree.io.sources.iter_texts` takes them) with their counts.

    Plain text files go to Rust's chunked file reader; compressed and JSONL files, datasets and
    texts are passed to Rust in batches of about `_BATCH_CHARS` characters.
    """
    counter = _rust.PretokenCounter(pre_tokenizer)
    if names_files(inputs):
        files = resolve_files(inputs)  # type: ignore[arg-type]
        for path in tqdm(files, desc="counting files", unit="file", disable=not show_progress or len(files) < 2):
            if is_plain_text(path):
                counter.add_file(path)
            else:
                _add_texts(counter, file_texts(path, text_column=text_column))
    else:
        texts = iter_texts(inputs, text_column=text_column)
        with tqdm(desc=f"counting {texts.unit}s", unit=texts.unit, total=texts.total, disable=not show_progress) as bar:
            _add_texts(counter, texts, bar)
    return counter


def check_merge_limits(min_frequency: object, max_token_length: object, max_token_chars: object) -> None:
    """Raises TokfreeError unless the arguments shared by the merge loops are valid."""
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 0:
        raise TokfreeError(f"min_frequency={min_frequency!r} must be a non-negative int")
    if max_token_length is not None and (not isinstance(max_token_length, int) or max_token_length < 2):
        raise TokfreeError(f"max_token_length={max_token_length!r} must be None or an int >= 2 (a merged token has at least 2 bytes)")
    if max_token_chars is not None and (isinstance(max_token_chars, bool) or not isinstance(max_token_chars, int) or max_token_chars < 1):
        raise TokfreeError(f"max_token_chars={max_token_chars!r} must be None or an int >= 1")


def check_bpe_arguments(
    vocab_size: object, specials: list[str], min_frequency: object, max_token_length: object, max_token_chars: object
) -> None:
    """Raises TokfreeError unless `train_bpe`'s size, special-token and merge-limit arguments are valid."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256 + len(specials):
        raise TokfreeError(
            f"vocab_size={vocab_size!r} is too small: it must be an int of at least 256 byte tokens + "
            f"{len(specials)} special tokens = {256 + len(specials)}"
        )
    check_merge_limits(min_frequency, max_token_length, max_token_chars)
    for token in specials:
        if not isinstance(token, str) or not token:
            raise TokfreeError(f"special token {token!r} must be a non-empty str")
    if len(set(specials)) != len(specials):
        raise TokfreeError(f"special_tokens {specials!r} has duplicates; list each special token once")


def train_bpe(
    inputs: TextInputs,
    vocab_size: int,
    *,
    text_column: str | None = None,
    pre_tokenizer: str = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    max_token_length: int | None = None,
    max_token_chars: int | None = None,
    show_progress: bool = True,
) -> Tokenizer:
    """Trains a byte-level BPE tokenizer.

    Args:
        inputs: a path or glob, or a list/tuple of them (files, read as UTF-8 and streamed, each
            one document; `.gz`, `.bz2`, `.xz`, `.zst` are decompressed by their suffix; `.jsonl`
            files, compressed or not, hold one document per line, in the field `text_column`); a
            `datasets.Dataset` or `IterableDataset` (each row's `text_column` is a document); any
            other iterable (generator, iterator, ...) yields texts, each its own document.
        vocab_size: number of tokens, counting special tokens and the 256 byte tokens.
        text_column: the dataset column or JSONL field that holds the text (None: "text");
            ignored for plain text files and iterables of str.
        pre_tokenizer: a preset ("gpt2", "gpt4", "o200k", "llama3", "whitespace", "superword", "none") or a regex.
        special_tokens: special tokens, given ids 0, 1, ... in this order.
        min_frequency: a pair is merged only if it occurs at least this often; training stops early
            when no pair does.
        max_token_length: longest token in bytes (None: no limit).
        max_token_chars: longest token in characters (None: no limit): a token counts each
            character it touches once, so "é" (2 bytes) is one character, and a token holding part
            of a character counts that character.
        show_progress: show tqdm progress bars.

    Returns:
        The trained `Tokenizer`.

    Raises:
        TokfreeError: a bad argument value (e.g. vocab_size below 256 + special tokens), a
            `DatasetDict` (pass one split), a missing dataset column, or a row that is not a str.
        InputFileError: a missing file, a glob matching nothing, invalid UTF-8, a corrupt
            compressed file, or a JSONL line that is not an object with the `text_column` field.
        EmptyCorpusError: the input holds no text.
        PatternError: an invalid custom regex.

    Example:
        >>> tok = train_bpe(iter(["low lower lowest"] * 100), 260, show_progress=False)
        >>> tok.decode(tok.encode("lowest")) == "lowest"
        True
    """
    specials = list(special_tokens)
    check_bpe_arguments(vocab_size, specials, min_frequency, max_token_length, max_token_chars)
    counter = count_pretokens(inputs, pre_tokenizer, text_column=text_column, show_progress=show_progress)
    return train_counted(counter, vocab_size, specials, min_frequency, max_token_length, max_token_chars, show_progress)


def train_counted(
    counter: _rust.PretokenCounter,
    vocab_size: int,
    special_tokens: list[str],
    min_frequency: int,
    max_token_length: int | None,
    max_token_chars: int | None,
    show_progress: bool,
) -> Tokenizer:
    """The merge loop of `train_bpe` on counted pre-tokens (consumes `counter`; arguments checked)."""
    bar = tqdm(total=vocab_size, desc="merging", unit="tok", disable=not show_progress)
    base = 256 + len(special_tokens)

    def progress(done: int, total: int) -> None:
        bar.total = base + total
        bar.n = base + done
        bar.refresh()

    try:
        core = _rust.train_bpe(
            counter, vocab_size, min_frequency, max_token_length, special_tokens, progress if show_progress else None, max_token_chars
        )
    finally:
        bar.close()
    return Tokenizer._from_core(core)
