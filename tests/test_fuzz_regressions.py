"""Inputs the atheris harnesses in tests/fuzz found crashing, minimised and inlined; each must now
raise a TokfreeError (or work), never anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokfree import Tokenizer
from tokfree.errors import TokenizerFileError

BYTE_LEVEL_A = "a"  # the byte-level string of b"a" (printable ASCII maps to itself)


def _native(vocab: list, merges: list, specials: list) -> str:
    return json.dumps({"format": "tokfree", "version": 1, "pre_tokenizer": "gpt2", "vocab": vocab, "merges": merges, "special_tokens": specials})


# fuzz_from_file, tokfree JSON: a vocab id of -55 (found by mutating the seed) reached the Rust
# constructor's u32 conversion and raised OverflowError. Merges, special ids and ids >= 2^32 went the same way.
@pytest.mark.parametrize(
    "document",
    [
        _native([[-55, BYTE_LEVEL_A]], [], []),
        _native([[2**40, BYTE_LEVEL_A]], [], []),
        _native([[0, BYTE_LEVEL_A]], [[-1, 0]], []),
        _native([[0, BYTE_LEVEL_A]], [], [["<|endoftext|>", -1]]),
        json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {BYTE_LEVEL_A: 2**40}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}, "decoder": {"type": "ByteLevel"}}),
    ],
    ids=["native-negative-id", "native-huge-id", "native-negative-merge", "native-negative-special", "hf-huge-id"],
)
def test_out_of_range_ids_are_a_file_error(tmp_path: Path, document: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="id"):
        Tokenizer.from_file(path)
