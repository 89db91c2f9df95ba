"""Change tokenization under a trained LM: batch-level merges, embeddings for the merged tokens,
tokenizer transplantation and an output layer for large dynamic vocabularies.

`plan_merges` needs numpy only (and uses numba when installed); the torch names (transplantation,
embeddings, the output layer) import torch on first use, so `from tokfree.merging import
plan_merges` does not.
"""

from importlib import import_module

from tokfree.merging.plan import BOUNDARIES, MergePlan, plan_merges

#: Public name -> the submodule that defines it (imported on first access: those import torch).
_TORCH_NAMES = {
    "METHODS": "transplantation",
    "lm_text_embedder": "transplantation",
    "Transplanted": "transplantation",
    "transplant": "transplantation",
    "transplant_model": "transplantation",
    "EmbeddingCache": "embeddings",
    "EmbeddingHypernet": "embeddings",
    "HypernetConfig": "embeddings",
    "HypernetLog": "embeddings",
    "MergedEmbedder": "embeddings",
    "MergedEval": "embeddings",
    "MergedRows": "embeddings",
    "OBJECTIVES": "embeddings",
    "POOLINGS": "embeddings",
    "mean_embeddings": "embeddings",
    "merged_bits_per_byte": "embeddings",
    "merged_logits": "embeddings",
    "train_hypernet": "embeddings",
    "vocabulary_examples": "embeddings",
    "INDEX_KINDS": "output",
    "PARTITIONS": "output",
    "TopKOutput": "output",
    "generate": "output",
}

__all__ = ["BOUNDARIES", "MergePlan", "plan_merges", *_TORCH_NAMES]


def __getattr__(name: str) -> object:
    if name in _TORCH_NAMES:
        return getattr(import_module(f"tokfree.merging.{_TORCH_NAMES[name]}"), name)
    raise AttributeError(f"module 'tokfree.merging' has no attribute {name!r}")
