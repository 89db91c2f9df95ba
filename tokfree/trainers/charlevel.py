"""Character-level BPE: small vocabularies of short tokens, for OCR correction and similar tasks.

Follows the KL3M char tokenizers (kl3m-004-char-{4k,8k,16k}: NFKC, the GPT-2 pre-tokenizer,
tokens of at most 3 characters at 4k/8k and 4 at 16k) and does one thing better: the cap counts
characters, not byte-level symbols, so "é" or "中" costs one character of the budget instead of
two or three (KL3M's cap, HF's `max_token_length`, penalises every non-ASCII script).
Short tokens keep token boundaries close to character boundaries, so damaged text
("Thc Vnited S tates") is split much like the clean text: see `tokfree.eval.boundary_consistency`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from tokfree.errors import TokfreeError
from tokfree.tokenizer import Tokenizer
from tokfree.io.sources import TextInputs, normalized_texts
from tokfree.trainers.bpe import train_bpe

def default_max_chars(vocab_size: int) -> int:
    """The character cap for a vocabulary size when none is given (KL3M's choice)."""
    return 3 if vocab_size <= 8192 else 4


def train_charlevel(
    inputs: TextInputs,
    vocab_size: int = 4096,
    *,
    text_column: str | None = None,
    max_token_chars: int | None = None,
    normalizer: str | None = "NFKC",
    pre_tokenizer: str = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    show_progress: bool = True,
) -> Tokenizer:
    """Trains a character-level BPE tokenizer (byte-level underneath, so any text round-trips).

    Args:
        inputs: files/globs, a dataset or an iterable of texts, as for `train_bpe`.
        text_column: the dataset column or JSONL field holding the text (None: "text"), as for `train_bpe`.
        vocab_size: 4096, 8192 or 16384 in KL3M; any size of at least 256 + special tokens works.
            The cap can end training short of it on a small corpus, when no pair within the cap
            is left with `min_frequency` occurrences (1.8 M characters of the bundled English and
            legal text give about 4.4k tokens at 3 characters and 7.2k at 4): check `vocab_size`
            of the result.
        max_token_chars: longest token in characters (default: 3 up to 8192 tokens, else 4).
        normalizer: "NFKC" (KL3M's choice; the tokenizer applies it when encoding too), "NFC" or None.
        pre_tokenizer, special_tokens, min_frequency, show_progress: as for `train_bpe`.

    Example:
        >>> tok = train_charlevel(["The United States Senate"] * 50, 300, show_progress=False)
        >>> max(len(tok.id_to_token(i)) for i in range(tok.vocab_size)) <= 3
        True
    """
    if normalizer not in (None, "NFC", "NFKC"):
        raise TokfreeError(f"normalizer={normalizer!r}: use 'NFKC', 'NFC' or None")
    if max_token_chars is None:
        max_token_chars = default_max_chars(vocab_size) if isinstance(vocab_size, int) else 3
    texts = inputs if normalizer is None else normalized_texts(inputs, normalizer, text_column=text_column)
    tokenizer = train_bpe(
        texts,
        vocab_size,
        text_column=text_column,
        pre_tokenizer=pre_tokenizer,
        special_tokens=special_tokens,
        min_frequency=min_frequency,
        max_token_chars=max_token_chars,
        show_progress=show_progress,
    )
    if normalizer is None:
        return tokenizer
    return Tokenizer(dataclasses.replace(tokenizer.to_parts(), normalizer=normalizer))
