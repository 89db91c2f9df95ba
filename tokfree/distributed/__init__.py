"""Distributed training and encoding: pre-token counting as a map-reduce over a Dask collection.

Counting runs on the workers, one fresh counter per partition, and the counts are merged in a
tree; the merge loop then runs once on the client, so the trained tokenizer is byte-identical
to `tokfree.train_bpe` on the same texts. Encoding maps a shipped tokenizer over the partitions.
See docs/distributed.md. Needs the `dask` extra (`pip install tokfree[dask]`); importing
`tokfree` never imports dask, and this package imports it only when a name below is used.

Example:
    >>> import dask.bag as db
    >>> from tokfree.distributed import train_bpe_dask
    >>> texts = db.from_sequence(["low lower lowest"] * 100, npartitions=4)
    >>> tok = train_bpe_dask(texts, 260, show_progress=False, scheduler="sync")
    >>> tok.vocab_size
    260
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokfree.distributed.dask import count_pretokens_dask, encode_dask, train_bpe_dask

__all__ = ["count_pretokens_dask", "train_bpe_dask", "encode_dask"]


def __getattr__(name: str) -> Any:
    """Imports `tokfree.distributed.dask` (and so dask) on first use of one of its names."""
    if name in __all__:
        from tokfree.distributed import dask as _dask

        return getattr(_dask, name)
    raise AttributeError(f"module 'tokfree.distributed' has no attribute {name!r}")
