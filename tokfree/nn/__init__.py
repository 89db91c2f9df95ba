"""Torch models: transformer layers, a small causal LM over token ids, the byte tokenizer and the
sequence-shortening ops and the tokenizer-free models (MrT5, word pooling, hierarchical).

Importing this package imports torch; `import tokfree` does not.
"""

from tokfree.nn.byte_tokenizer import ByteTokenizer
from tokfree.nn.layers import (
    Attention,
    Block,
    CrossAttention,
    LayerCache,
    RMSNorm,
    RotaryEmbedding,
    ScoreMeter,
    SwiGLU,
    attention_mask,
    swiglu_width,
)
from tokfree.nn.lm import CausalLM, CausalLMConfig, KVCache
from tokfree.nn.hierarchical import HierarchicalLM, HierarchicalLMConfig
from tokfree.nn.mrt5 import MrT5, MrT5Config, PIController, collate_pairs, corrupt_spans, mrt5_loss
from tokfree.nn.pooling import POOLER_KINDS, WordBatch, WordPooler, WordPoolLM, WordPoolLMConfig, batch_words, make_pooler
from tokfree.nn.shortening import (
    Compacted,
    boundaries_to_segment_ids,
    compact,
    gather_positions,
    pool_segments,
    upsample_segments,
)

__all__ = [
    "POOLER_KINDS",
    "Attention",
    "Block",
    "ByteTokenizer",
    "CausalLM",
    "CausalLMConfig",
    "Compacted",
    "CrossAttention",
    "HierarchicalLM",
    "HierarchicalLMConfig",
    "KVCache",
    "LayerCache",
    "MrT5",
    "MrT5Config",
    "PIController",
    "RMSNorm",
    "RotaryEmbedding",
    "ScoreMeter",
    "SwiGLU",
    "WordBatch",
    "WordPoolLM",
    "WordPoolLMConfig",
    "WordPooler",
    "attention_mask",
    "batch_words",
    "boundaries_to_segment_ids",
    "collate_pairs",
    "compact",
    "corrupt_spans",
    "gather_positions",
    "make_pooler",
    "mrt5_loss",
    "pool_segments",
    "swiglu_width",
    "upsample_segments",
]
