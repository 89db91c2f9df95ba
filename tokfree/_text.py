"""Checks on text arriving from users, on the way into Rust.

Lone surrogates (e.g. from `bytes.decode("utf-8", "surrogateescape")`) have no UTF-8 form. tokfree
refuses them with a clear error rather than guess a replacement, so nothing is lost silently. The
check costs nothing on the happy path: PyO3 raises `UnicodeEncodeError` while borrowing the UTF-8,
and only then do we look for the culprit.
"""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from tokfree.errors import TokfreeError

T = TypeVar("T")


def require_str(text: object, what: str = "text") -> None:
    """Raises a clear `TokfreeError` unless `text` is a `str`."""
    if not isinstance(text, str):
        raise TokfreeError(
            f"{what} must be str, got {type(text).__name__}; decode bytes first (e.g. data.decode('utf-8'))"
        )


def surrogate_error(texts: Iterable[str], what: str = "text") -> TokfreeError:
    """The error for the first text in `texts` that holds a lone surrogate."""
    for number, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            where = f"{what} #{number}" if number else what
            return TokfreeError(
                f"{where} holds the lone surrogate U+{ord(text[err.start]):04X} at index {err.start}, which has "
                f"no UTF-8 form; repair it first, e.g. text.encode('utf-8', 'replace').decode('utf-8')"
            )
    return TokfreeError(f"{what} could not be encoded as UTF-8")


def call_on_text(function: Callable[..., T], text: object, *args: object, what: str = "text", **kwargs: object) -> T:
    """`function(text, *args, **kwargs)` with tokfree's errors for non-str text and lone surrogates."""
    require_str(text, what)
    try:
        return function(text, *args, **kwargs)
    except UnicodeEncodeError:
        raise surrogate_error([text], what) from None  # type: ignore[list-item]


def call_on_texts(function: Callable[..., T], texts: list[str], *args: object, what: str = "text", **kwargs: object) -> T:
    """`call_on_text` for a list of texts (each must be a `str`)."""
    for number, text in enumerate(texts):
        if not isinstance(text, str):
            raise TokfreeError(
                f"{what} #{number} must be str, got {type(text).__name__}; decode bytes first (e.g. data.decode('utf-8'))"
            )
    try:
        return function(texts, *args, **kwargs)
    except UnicodeEncodeError:
        raise surrogate_error(texts, what) from None
