"""tokfree JSON (`"format": "tokfree", "version": 1`): for tokenizers `tokenizer.json` cannot express.

Tokens are written as GPT-2 byte-level strings (any bytes are expressible, and the file stays
readable); merges as id pairs. Same parts, same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from tokfree.errors import TokenizerFileError
from tokfree.io.bytelevel import bytes_to_unicode, unicode_to_bytes
from tokfree.io.parts import MAX_ID, TokenizerParts

__all__ = ["is_native", "parts_from_native", "parts_to_native"]

FORMAT_VERSION = 1


def is_native(document: Any) -> bool:
    """True for a parsed tokfree JSON document."""
    return isinstance(document, dict) and document.get("format") == "tokfree"


def parts_to_native(parts: TokenizerParts) -> str:
    """The tokfree JSON text for `parts`."""
    document = {
        "format": "tokfree",
        "version": FORMAT_VERSION,
        "pre_tokenizer": parts.pre_tokenizer,
        "ignore_merges": parts.ignore_merges,
        "merge_by_rank": parts.merge_by_rank,
        "normalizer": parts.normalizer,
        "non_special_tokens": list(parts.non_special_tokens),
        "normalized_tokens": list(parts.normalized_tokens),
        "special_tokens": [[content, token_id] for content, token_id in parts.special_tokens],
        "vocab": [[token_id, bytes_to_unicode(token)] for token_id, token in parts.vocab],
        "merges": [[left, right] for left, right in parts.merges],
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _token_id(value: Any, path: str) -> int:
    """`value` if it is an id (an int in 0..MAX_ID; JSON 1.5 or true are not), else a TokenizerFileError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise TokenizerFileError(f"{path}: {value!r} is not a token id; ids are integers from 0 to {MAX_ID} (fix the file, or re-save it with tokfree)")
    return value


def parts_from_native(document: dict[str, Any], path: str = "tokenizer.json") -> TokenizerParts:
    """`TokenizerParts` from a parsed tokfree JSON document (the Rust core validates ids and merges)."""
    if document.get("version") != FORMAT_VERSION:
        raise TokenizerFileError(f"{path}: tokfree format version {document.get('version')!r} is not supported; this tokfree reads version {FORMAT_VERSION}")
    try:
        vocab = []
        for token_id, string in document["vocab"]:
            token = unicode_to_bytes(string)
            if token is None or not isinstance(token_id, int) or isinstance(token_id, bool):
                raise TokenizerFileError(f"{path}: vocab entry [{token_id!r}, {string!r}] is not [id, byte-level string]; fix the file")
            vocab.append((token_id, token))
        merges = [(_token_id(left, path), _token_id(right, path)) for left, right in document["merges"]]
        specials = [(str(content), _token_id(token_id, path)) for content, token_id in document.get("special_tokens", [])]
        pre_tokenizer = document["pre_tokenizer"]
        normalizer = document.get("normalizer")
        non_special = tuple(str(content) for content in document.get("non_special_tokens", []))
        normalized = tuple(str(content) for content in document.get("normalized_tokens", []))
    except (KeyError, TypeError, ValueError) as err:
        raise TokenizerFileError(f"{path}: malformed tokfree JSON ({type(err).__name__}: {err}); re-save it with tokfree") from None
    if not isinstance(pre_tokenizer, str):
        raise TokenizerFileError(f"{path}: pre_tokenizer must be a preset name or a regex string, got {pre_tokenizer!r}")
    if normalizer is not None and not isinstance(normalizer, str):
        raise TokenizerFileError(f"{path}: normalizer must be null or a form name such as \"NFC\", got {normalizer!r}")
    return TokenizerParts(
        pre_tokenizer,
        vocab,
        merges,
        specials,
        ignore_merges=bool(document.get("ignore_merges", False)),
        merge_by_rank=bool(document.get("merge_by_rank", False)),
        normalizer=normalizer,
        non_special_tokens=non_special,
        normalized_tokens=normalized,
    )
