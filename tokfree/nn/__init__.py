"""Torch models: transformer layers, a small causal LM over token ids, the byte tokenizer and the
sequence-shortening ops of the byte-level models (more models join later).

Importing this package imports torch; `import tokfree` does not.
"""

from tokfree.nn.byte_tokenizer import ByteTokenizer
from tokfree.nn.layers import Attention, Block, LayerCache, RMSNorm, RotaryEmbedding, SwiGLU, attention_mask, swiglu_width
from tokfree.nn.lm import CausalLM, CausalLMConfig, KVCache
from tokfree.nn.shortening import (
    Compacted,
    boundaries_to_segment_ids,
    compact,
    gather_positions,
    pool_segments,
    upsample_segments,
)

__all__ = [
    "Attention",
    "Block",
    "ByteTokenizer",
    "CausalLM",
    "CausalLMConfig",
    "Compacted",
    "KVCache",
    "LayerCache",
    "RMSNorm",
    "RotaryEmbedding",
    "SwiGLU",
    "attention_mask",
    "boundaries_to_segment_ids",
    "compact",
    "gather_positions",
    "pool_segments",
    "swiglu_width",
    "upsample_segments",
]
