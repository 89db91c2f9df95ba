"""Exact byte-level LMs from tokenized LMs: `ByteLM` turns a `TokenLM` and its tokenizer into
next-byte probabilities (256 bytes + end of text), sampling and scoring. See docs/bytelevel.md.

Imports numpy only (no torch); torch/HF adapters live in `tokfree.bytelevel.adapters`.
"""

from tokfree.bytelevel.bytelm import EOT, ByteLM, ByteState
from tokfree.bytelevel.protocol import TokenLM

__all__ = ["EOT", "ByteLM", "ByteState", "TokenLM"]
