"""`TokenLM`: what `ByteLM` needs from a tokenized language model.

This module only states the interface (a `typing.Protocol`); adapters for torch and Hugging Face
models live in `tokfree.bytelevel.adapters`, toy models in `tokfree.bytelevel.toy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["TokenLM"]


@runtime_checkable
class TokenLM(Protocol):
    """A token-level LM: log-probabilities of the next token after token contexts.

    Attributes:
        vocab_size: number of ids the model scores (>= the tokenizer's ids; extra ids, such as an
            end-of-text id the tokenizer does not have, are allowed).
        eos_id: the id whose probability is "the text ends here", or None if the model never ends.

    Example:
        >>> lp = lm.next_logprobs([[], [15496]])   # start of text, and after one token
        >>> lp.shape == (2, lm.vocab_size)
        True
    """

    vocab_size: int
    eos_id: int | None

    def next_logprobs(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """Log-probabilities of the next token after each context.

        Args:
            contexts: token-id contexts; an empty context means the start of the text.

        Returns:
            float64 array of shape (len(contexts), vocab_size): natural-log probabilities, each row
            logsumexp 0 (-inf allowed for impossible tokens).
        """
        ...
