"""Fill-in-the-middle training examples (SPM order, split at token boundaries) for `train_lm`.

An example is built from `content`, the tokens of one stretch of one document (of a random
length, see `fim_window`), and a split point `j` drawn uniformly from 0..len(content):

    [S] <|fim_prefix|> <|fim_suffix|> content[j:] <|fim_middle|> content[:j] [S]

that is the "SPM" variant of Bavarian et al. 2022 (the suffix first, then prefix and middle as one
left-to-right stretch, which the LM ends with the separator `[S]` where the suffix begins). Where
the prefix ends and the middle begins is invisible in the sequence, so one split point is enough.

The split is at a *token* boundary of the document's own tokenization, so everything after
`<|fim_middle|>` is a canonical tokenization of its bytes: the cheapest FIM data pipeline, and
the one whose models are hurt most when a user's prefix ends mid-token. That is the case the exact
byte-level conversion (`tokfree.bytelevel.fim(mode="spm")`) repairs at inference, with no retraining
(splitting at characters and tokenizing the parts separately is the training-side fix).
"""

from __future__ import annotations

import numpy as np

from tokfree.errors import TokfreeError

__all__ = ["FIM_TOKENS", "fim_token_ids", "spm_example", "fim_window"]

#: The FIM special tokens, in the (PRE, SUF, MID) order `tokfree.bytelevel.fim` takes its `fim_ids` in.
FIM_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")

#: Tokens an SPM example adds around its content: [S] PRE SUF ... MID ... [S].
SPM_EXTRA = 5


def fim_token_ids(tokenizer: object) -> tuple[int, int, int]:
    """The (PRE, SUF, MID) ids of `tokenizer`'s FIM special tokens.

    Raises:
        TokfreeError: one is missing (train the tokenizer with
            `special_tokens=["<|endoftext|>", *FIM_TOKENS]`).
    """
    specials = getattr(tokenizer, "special_tokens", {})
    missing = [name for name in FIM_TOKENS if name not in specials]
    if missing:
        raise TokfreeError(
            f"the tokenizer has no special token {', '.join(missing)}; train it with "
            'special_tokens=["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]'
        )
    pre, suf, mid = (int(specials[name]) for name in FIM_TOKENS)
    return pre, suf, mid


def spm_example(content: np.ndarray, split: int, *, fim_ids: tuple[int, int, int], separator: int) -> np.ndarray:
    """`[S] PRE SUF content[split:] MID content[:split] [S]` as int64 (see the module docstring).

    Example:
        >>> spm_example(np.array([10, 11, 12]), 1, fim_ids=(1, 2, 3), separator=0).tolist()
        [0, 1, 2, 11, 12, 3, 10, 0]
    """
    if not 0 <= split <= len(content):
        raise TokfreeError(f"split {split} is outside 0..{len(content)} (the content's length)")
    pre, suf, mid = fim_ids
    head = np.array([separator, pre, suf], dtype=np.int64)
    return np.concatenate([head, content[split:], [mid], content[:split], [separator]]).astype(np.int64)


def fim_window(
    stream: np.ndarray, start: int, length: int, rng: np.random.Generator, *, fim_ids: tuple[int, int, int], separator: int
) -> tuple[np.ndarray, np.ndarray]:
    """One FIM training row of `length` inputs (and `length` targets) from the stream at `start`.

    The content is the tokens from `start` (a start on a separator moves past it), of a length
    drawn uniformly from 1..`length + 1 - SPM_EXTRA`, cut before the first separator (one document
    only); the split point is uniform. A random length matters: with full rows the end of the
    middle would always fall at the last position, and a model learns to stop by position instead
    of by reading the suffix. Short rows are padded: inputs with the separator, targets with -100
    (ignored by the loss).

    Returns:
        (inputs, targets), int64 arrays of shape (length,).
    """
    budget = length + 1 - SPM_EXTRA
    if budget < 1:
        raise TokfreeError(f"a FIM row needs length >= {SPM_EXTRA}, got {length}")
    if stream[start] == separator:
        start += 1
    content = stream[start : start + int(rng.integers(1, budget + 1))]
    stops = np.flatnonzero(content == separator)
    if len(stops):
        content = content[: stops[0]]
    example = spm_example(content, int(rng.integers(0, len(content) + 1)), fim_ids=fim_ids, separator=separator)
    inputs = np.full(length, separator, dtype=np.int64)
    targets = np.full(length, -100, dtype=np.int64)
    inputs[: len(example) - 1] = example[:-1]
    targets[: len(example) - 1] = example[1:]
    return inputs, targets
