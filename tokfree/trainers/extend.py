"""`extend_bpe`: domain adaptation of an existing BPE tokenizer by appending merges.

The base vocabulary stays exactly as it is: every base id keeps its bytes, every base merge its
rank, every special token its id, and new tokens take ids above the largest existing one. A new
merge is learned on domain text *as the base tokenizer segments it* and only when its bytes are not
already a token, so encoding with the extended tokenizer is "encode with the base, then apply the
new merges": an LM's embedding table only grows (append rows for the new ids), and text the new
merges never touch encodes to the same ids as before.
"""

from __future__ import annotations

import dataclasses

from tqdm.auto import tqdm

from tokfree import _rust
from tokfree.errors import TokfreeError
from tokfree.tokenizer import Tokenizer
from tokfree.io.sources import TextInputs, normalized_texts
from tokfree.trainers.bpe import check_merge_limits, count_pretokens

__all__ = ["extend_bpe"]


def extend_bpe(
    base: Tokenizer,
    inputs: TextInputs,
    new_tokens: int,
    *,
    text_column: str | None = None,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    max_token_chars: int | None = None,
    show_progress: bool = True,
) -> Tokenizer:
    """Returns `base` with up to `new_tokens` more tokens, learned on `inputs`.

    Args:
        base: any tokfree byte-level BPE tokenizer (trained here, or loaded from GPT-2 files, a
            tiktoken file or an HF tokenizer.json).
        inputs: domain text: files/globs, a dataset or an iterable of texts, as for `train_bpe`.
        new_tokens: how many tokens to add at most (fewer if no pair occurs `min_frequency` times).
        text_column: the dataset column or JSONL field holding the text (None: "text"), as for `train_bpe`.
        min_frequency, max_token_length, max_token_chars: as for `train_bpe`, for the new tokens.
        show_progress: show tqdm progress bars.

    Example:
        >>> from tokfree import train_bpe
        >>> base = train_bpe(iter(["the cat sat"] * 20), 270, show_progress=False)
        >>> grown = extend_bpe(base, iter(["habeas corpus"] * 20), 5, show_progress=False)
        >>> grown.vocab_size, len(grown.encode(" corpus")) < len(base.encode(" corpus"))
        (275, True)
    """
    if not isinstance(base, Tokenizer):
        raise TokfreeError(f"base is a {type(base).__name__}; pass a tokfree.Tokenizer (Tokenizer.from_file(path) loads one)")
    if isinstance(new_tokens, bool) or not isinstance(new_tokens, int) or new_tokens < 0:
        raise TokfreeError(f"new_tokens={new_tokens!r} must be a non-negative int")
    check_merge_limits(min_frequency, max_token_length, max_token_chars)
    if new_tokens == 0:
        return base
    # The base tokenizer encodes normalized text, so the new merges are learned on it too.
    texts = inputs if base.normalizer is None else normalized_texts(inputs, base.normalizer, text_column=text_column)
    counter = count_pretokens(texts, base.pre_tokenizer, text_column=text_column, show_progress=show_progress)
    return extend_counted(base, counter, new_tokens, min_frequency, max_token_length, max_token_chars, show_progress)


def extend_counted(
    base: Tokenizer,
    counter: _rust.PretokenCounter,
    new_tokens: int,
    min_frequency: int,
    max_token_length: int | None,
    max_token_chars: int | None,
    show_progress: bool,
    *,
    max_words: int | None = None,
    forbidden: tuple[bytes, ...] = (),
    same_pre_tokenizer: bool = True,
) -> Tokenizer:
    """`extend_bpe` on counted pre-tokens (consumes `counter`). The result splits text with the
    counter's pre-tokenizer; unless `same_pre_tokenizer` is False it must be `base`'s.
    `max_words`/`forbidden`: SuperBPE's limits on new tokens (words per token, byte strings)."""
    bar = tqdm(total=new_tokens, desc="new merges", unit="tok", disable=not show_progress)

    def progress(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    try:
        core = _rust.extend_bpe(
            base._core,
            counter,
            new_tokens,
            min_frequency,
            max_token_length=max_token_length,
            max_token_chars=max_token_chars,
            max_words=max_words,
            forbidden=list(forbidden),
            same_pre_tokenizer=same_pre_tokenizer,
            progress=progress if show_progress else None,
        )
    finally:
        bar.close()
    # What lives outside the Rust core (the normalizer, HF added-token flags) comes from the base.
    outside_core = {"ignore_merges", "merge_by_rank", "normalizer", "non_special_tokens", "normalized_tokens"}
    base_parts = base.to_parts()
    extra = {name: getattr(base_parts, name) for name in outside_core}
    return Tokenizer(dataclasses.replace(Tokenizer._from_core(core).to_parts(), **extra))
