"""Change tokenization under a trained LM: batch-level merges, embeddings for the merged tokens,
tokenizer transplantation and an output layer for large dynamic vocabularies.

`plan_merges` needs numpy (and uses numba when installed); the embedding, transplant and output
modules import torch.
"""

from tokfree.merging.plan import BOUNDARIES, MergePlan, plan_merges

__all__ = ["BOUNDARIES", "MergePlan", "plan_merges"]
