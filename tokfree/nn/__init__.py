"""Torch models: transformer layers and a small causal LM over token ids (more models join later).

Importing this package imports torch; `import tokfree` does not.
"""

from tokfree.nn.layers import Attention, Block, LayerCache, RMSNorm, RotaryEmbedding, SwiGLU, attention_mask, swiglu_width
from tokfree.nn.lm import CausalLM, CausalLMConfig, KVCache

__all__ = [
    "Attention",
    "Block",
    "CausalLM",
    "CausalLMConfig",
    "KVCache",
    "LayerCache",
    "RMSNorm",
    "RotaryEmbedding",
    "SwiGLU",
    "attention_mask",
    "swiglu_width",
]
