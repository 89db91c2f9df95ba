"""Encoding with byte offsets for the metrics, also for tokenizers that normalize their input.

A normalizing tokenizer (NFC/NFKC) cannot give offsets into the caller's text, so the metrics
normalize the text themselves and encode it with a twin that does not normalize again (built once
per tokenizer).
"""

from __future__ import annotations

import dataclasses
import unicodedata
import weakref

from tokfree.tokenizer import Tokenizer

_TWINS: weakref.WeakKeyDictionary[Tokenizer, Tokenizer] = weakref.WeakKeyDictionary()


def _without_normalizer(tokenizer: Tokenizer) -> Tokenizer:
    twin = _TWINS.get(tokenizer)
    if twin is None:
        twin = Tokenizer(dataclasses.replace(tokenizer.to_parts(), normalizer=None))
        _TWINS[tokenizer] = twin
    return twin


def normalized_encoding(tokenizer: Tokenizer, text: str, **policy: object) -> tuple[str, list[int], list[tuple[int, int]]]:
    """(the text the tokenizer encodes, its ids, their byte spans in that text)."""
    if tokenizer.normalizer is None:
        ids, spans = tokenizer.encode(text, offsets=True, **policy)
        return text, ids, spans
    text = unicodedata.normalize(tokenizer.normalizer, text)
    ids, spans = _without_normalizer(tokenizer).encode(text, offsets=True, **policy)
    return text, ids, spans
