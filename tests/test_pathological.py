"""Worst-case inputs (one giant pre-token, runs of whitespace, random bytes) encode exactly.

The long-piece merge loop has shortcuts (a run of one byte is merged as a whole; merges are
served rank by rank), so the oracle here is HF `tokenizers`, which merges every word with its own
heap, loading the same tokenizer.json. Sizes are 256 KiB by default; 1 and 4 MiB are `slow`.
"""

from __future__ import annotations

import random

import pytest

tokenizers = pytest.importorskip("tokenizers", reason="HF tokenizers is not installed (pip install tokfree[hf])")

pytestmark = pytest.mark.hf

KIB = 1024


def pathological(kind: str, size: int, prose: str) -> str:
    rng = random.Random(size)
    if kind == "one letter":
        return "a" * size
    if kind == "one two-byte letter":
        return "é" * (size // 2)
    if kind == "spaces":
        return " " * size
    if kind == "spaces then a word":
        return " " * size + "word"
    if kind == "newlines":
        return "\n" * size
    if kind == "crlf":
        return "\r\n" * (size // 2)
    if kind == "random bytes":
        return bytes(rng.randrange(256) for _ in range(size)).decode("utf-8", errors="replace")
    if kind == "letters without spaces":
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(size))
    if kind == "prose without spaces":
        squeezed = "".join(prose.split())
        return (squeezed * (size // max(len(squeezed), 1) + 1))[:size]
    raise ValueError(kind)


KINDS = [
    "one letter",
    "one two-byte letter",
    "spaces",
    "spaces then a word",
    "newlines",
    "crlf",
    "random bytes",
    "letters without spaces",
    "prose without spaces",
]


def check_against_hf(tok, text: str, tmp_path) -> None:
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    mine = tok.encode(text)
    theirs = hf.encode(text, add_special_tokens=False).ids
    if mine != theirs:
        first = next(i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b) if len(mine) == len(theirs) else "length"
        pytest.fail(f"{len(mine)} ids vs HF's {len(theirs)}; first difference at {first}")
    assert tok.decode_bytes(mine) == text.encode()


@pytest.mark.parametrize("preset", ["gpt2", "gpt4", "o200k"])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_hf_at_256_kib(trained, documents, preset, kind, tmp_path):
    check_against_hf(trained(preset), pathological(kind, 256 * KIB, documents[0]), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("size", [1024 * KIB, 4096 * KIB])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_hf_at_1_and_4_mib(trained, documents, kind, size, tmp_path):
    check_against_hf(trained("gpt2"), pathological(kind, size, documents[0]), tmp_path)
