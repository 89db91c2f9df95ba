"""Exact byte-level LMs from tokenized LMs: `ByteLM` turns a `TokenLM` and its tokenizer into
next-byte probabilities (256 bytes + end of text), sampling and scoring; `complete`,
`score_continuation` and `fim` continue prompts that end mid-token and fill the middle (with the
token-level baselines, naive and token healing, behind `method=`); `ByteEnsemble` combines ByteLMs
whose tokenizers differ. See docs/bytelevel.md.

Imports numpy only (no torch); torch/HF adapters live in `tokfree.bytelevel.adapters`.
"""

from tokfree.bytelevel.bytelm import EOT, ByteLM, ByteState
from tokfree.bytelevel.ensemble import ByteEnsemble, EnsembleState
from tokfree.bytelevel.fim import complete, fim, fim_prompt, fim_score, score_continuation
from tokfree.bytelevel.protocol import TokenLM

__all__ = ["EOT", "ByteEnsemble", "ByteLM", "ByteState", "EnsembleState", "TokenLM", "complete", "fim", "fim_prompt", "fim_score", "score_continuation"]
