"""Compression metrics of a tokenizer on a corpus, each defined once here.

Words are maximal runs of non-whitespace characters (`str.split()`'s words), located in the text.
A token *touches* a word when their byte spans overlap, so a token " the" touches the word "the".
Everything is measured in context (the whole document is encoded once, with offsets), so the
numbers are the ones a model trained on these documents would see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

from tokfree.errors import TokfreeError
from tokfree.eval._offsets import normalized_encoding
from tokfree.tokenizer import Tokenizer

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class CompressionReport:
    """Counts over a corpus; the metrics are properties derived from them."""

    documents: int
    bytes: int
    chars: int
    tokens: int
    words: int
    #: Sum over words of the number of tokens touching the word.
    word_tokens: int
    #: Words touched by exactly one token.
    whole_words: int
    #: Distinct ids in all the encodings.
    distinct_ids: int
    vocab_size: int

    @property
    def bytes_per_token(self) -> float:
        """UTF-8 bytes per token (higher = better compression)."""
        return self.bytes / self.tokens if self.tokens else 0.0

    @property
    def tokens_per_char(self) -> float:
        """Tokens per character (lower = better compression)."""
        return self.tokens / self.chars if self.chars else 0.0

    @property
    def fertility(self) -> float:
        """Tokens per word: the mean number of tokens touching a word."""
        return self.word_tokens / self.words if self.words else 0.0

    @property
    def whole_word_share(self) -> float:
        """Share of words that one token covers (with its neighbouring whitespace or punctuation)."""
        return self.whole_words / self.words if self.words else 0.0

    @property
    def vocab_use(self) -> float:
        """Share of the vocabulary (model and special tokens) used at least once on the corpus."""
        return self.distinct_ids / self.vocab_size if self.vocab_size else 0.0


def _byte_offsets(text: str) -> list[int] | None:
    """Byte offset of each character index (and of the end); None when they are equal (ASCII)."""
    if text.isascii():
        return None
    return [0, *accumulate(len(char.encode("utf-8")) for char in text)]


def _word_spans(text: str) -> list[tuple[int, int]]:
    """Byte spans of the words of `text`."""
    offsets = _byte_offsets(text)
    spans = [match.span() for match in _WORD.finditer(text)]
    if offsets is None:
        return spans
    return [(offsets[start], offsets[end]) for start, end in spans]


def _touching(token_spans: list[tuple[int, int]], word_spans: list[tuple[int, int]]) -> tuple[int, int]:
    """(sum over words of the tokens touching each, words touched by exactly one token); both
    span lists ascending and each tiling or inside the text, so one forward sweep does it."""
    total = whole = 0
    first = 0
    for word_start, word_end in word_spans:
        while first < len(token_spans) and token_spans[first][1] <= word_start:
            first += 1
        count = 0
        index = first
        while index < len(token_spans) and token_spans[index][0] < word_end:
            count += 1
            index += 1
        total += count
        whole += count == 1
    return total, whole


def compression(tokenizer: Tokenizer, texts: Iterable[str]) -> CompressionReport:
    """Compression and vocabulary use of `tokenizer` on the documents `texts`.

    Special-token text is encoded as its special id. With a normalizing tokenizer (NFC/NFKC),
    characters and words are counted in the normalized text, which is what gets encoded.

    Example:
        >>> report = compression(tok, ["the cat sat"])
        >>> report.bytes_per_token, report.fertility
    """
    if isinstance(texts, str):
        raise TokfreeError("compression() takes documents (a list of str), got one str; wrap it: [text]")
    documents = n_bytes = n_chars = n_tokens = n_words = word_tokens = whole_words = 0
    used: set[int] = set()
    for text in texts:
        if not isinstance(text, str):
            raise TokfreeError(f"compression() documents must be str, got {type(text).__name__}; decode bytes first")
        text, ids, spans = normalized_encoding(tokenizer, text, allowed_special="all")
        words = _word_spans(text)
        touching, whole = _touching(spans, words)
        documents += 1
        n_bytes += len(text.encode("utf-8"))
        n_chars += len(text)
        n_tokens += len(ids)
        n_words += len(words)
        word_tokens += touching
        whole_words += whole
        used.update(ids)
    return CompressionReport(
        documents=documents,
        bytes=n_bytes,
        chars=n_chars,
        tokens=n_tokens,
        words=n_words,
        word_tokens=word_tokens,
        whole_words=whole_words,
        distinct_ids=len(used),
        vocab_size=tokenizer.vocab_size,
    )


def term_fragmentation(tokenizer: Tokenizer, terms: Iterable[str], *, leading_space: bool = True) -> float:
    """Mean number of tokens per term (e.g. legal or financial terms from a list).

    `leading_space`: encode each term as it appears after a space inside a sentence (" term"),
    which is how byte-level tokenizers with a space-prefix convention meet it; False encodes the
    bare term (as at the start of a text).
    """
    if isinstance(terms, str):
        raise TokfreeError("term_fragmentation() takes a list of terms, got one str; wrap it: [term]")
    cleaned = [term.strip() for term in terms]
    if not cleaned or any(not term for term in cleaned):
        raise TokfreeError("term_fragmentation() needs at least one term and no empty ones; drop blank lines from the term list")
    texts = [(" " + term) if leading_space else term for term in cleaned]
    counts = [len(ids) for ids in tokenizer.encode_batch(texts, disallowed_special=())]
    return sum(counts) / len(counts)
