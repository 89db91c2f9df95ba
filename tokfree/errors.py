"""The exceptions tokfree raises on bad input.

Every message names the offending value, the rule it breaks and the fix. `TokfreeError` derives from
`ValueError`, so code that already catches `ValueError` (as tiktoken users do) keeps working.
"""

from __future__ import annotations

__all__ = [
    "TokfreeError",
    "PatternError",
    "TokenizerFileError",
    "SpecialTokenError",
    "UnknownIdError",
    "EmptyCorpusError",
    "InputFileError",
    "DataError",
]


class TokfreeError(ValueError):
    """Base class of every error tokfree raises on user input (bad argument values raise it directly)."""


class PatternError(TokfreeError):
    """A pre-tokenizer regex that does not compile, or that failed while matching."""


class TokenizerFileError(TokfreeError):
    """A tokenizer file that is malformed, or uses a feature tokfree cannot reproduce exactly."""


class SpecialTokenError(TokfreeError):
    """Special-token text in user input where the caller did not allow it."""


class UnknownIdError(TokfreeError):
    """An id that is not in the vocabulary."""


class EmptyCorpusError(TokfreeError):
    """Training input with no text in it."""


class InputFileError(TokfreeError):
    """An input file that is missing, unreadable or not valid UTF-8, or a glob that matches nothing."""


class DataError(TokfreeError):
    """A fetched vocabulary that is missing or corrupt, or a fetch that could not complete."""
