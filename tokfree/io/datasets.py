"""Encoding a Hugging Face dataset's text column into a new column of ids (`Tokenizer.map_encode`).

The work is `datasets`' own `map(batched=True)`: each batch of texts goes to `encode_batch`
(Rust, GIL released). With `num_proc`, datasets pickles the tokenizer into its worker processes
(a `Tokenizer` pickles as its tokfree JSON). It does not read training text: that is
`tokfree.io.sources`. Imported only when `map_encode` is called, so `import tokfree` does not
import `datasets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import datasets  # type: ignore[import-untyped]

from tokfree.errors import TokfreeError
from tokfree.io.sources import check_column, is_dataset

if TYPE_CHECKING:
    from tokfree.tokenizer import Tokenizer

__all__ = ["map_encode"]

class _EncodeColumn:
    """The batched map function: texts of `column` -> ids in `output_column` (a class, not a
    closure, so that it pickles into worker processes and datasets can fingerprint it)."""

    def __init__(self, tokenizer: Tokenizer, column: str, output_column: str, options: dict[str, Any]) -> None:
        self.tokenizer = tokenizer
        self.column = column
        self.output_column = output_column
        self.options = options

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[list[int]]]:
        return {self.output_column: self.tokenizer.encode_batch(batch[self.column], **self.options)}


def _check_count(value: object, name: str, *, minimum: int = 1) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise TokfreeError(f"{name}={value!r} must be None or an int >= {minimum}")


def map_encode(
    tokenizer: Tokenizer,
    dataset: datasets.Dataset | datasets.IterableDataset,
    *,
    column: str,
    output_column: str,
    num_proc: int | None,
    batch_size: int,
    show_progress: bool,
    **encode_options: Any,
) -> datasets.Dataset | datasets.IterableDataset:
    """`dataset` with the ids of its `column` (`tokenizer.encode_batch(texts, **encode_options)`)
    in a new `output_column`: the body of `Tokenizer.map_encode`, which documents the arguments.

    Raises:
        TokfreeError: not a dataset (or a DatasetDict), a missing column, `num_proc` with an
            IterableDataset, bad counts, or a row that is not a str (from `encode_batch`).
    """
    if not is_dataset(dataset):
        raise TokfreeError(
            f"map_encode takes a datasets.Dataset or IterableDataset, got {type(dataset).__name__}; "
            "for a list of texts use tok.encode_batch(texts)"
        )
    _check_count(num_proc, "num_proc")
    _check_count(encode_options.get("num_threads"), "num_threads")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise TokfreeError(f"batch_size={batch_size!r} must be an int >= 1 (texts per encode_batch call)")
    check_column(dataset, column, "column")
    tokenizer.encode_batch([], **encode_options)  # bad options (special-token names...) fail here, not in a worker
    if encode_options.get("num_threads") is None and num_proc is not None and num_proc > 1:
        # The processes already use the cores; Rust threads on top would oversubscribe them.
        encode_options = {**encode_options, "num_threads": 1}
    function = _EncodeColumn(tokenizer, column, output_column, encode_options)
    if isinstance(dataset, datasets.IterableDataset):
        if num_proc is not None:
            raise TokfreeError(
                f"num_proc={num_proc!r} is not available for an IterableDataset (datasets maps it lazily, in one process); "
                "drop num_proc (Rust encodes each batch on all cores), or load a Dataset instead of streaming"
            )
        return dataset.map(function, batched=True, batch_size=batch_size)
    enabled = datasets.is_progress_bar_enabled()
    if not show_progress:
        datasets.disable_progress_bars()
    try:
        return dataset.map(function, batched=True, batch_size=batch_size, num_proc=num_proc, desc="encoding")
    finally:
        if enabled and not show_progress:
            datasets.enable_progress_bars()
