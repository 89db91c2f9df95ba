"""Training loops for tokfree's torch models (imports torch when a submodule is imported).

`tokfree.training.train_lm` trains `tokfree.nn.CausalLM` over a tokenizer's ids (function
`train_lm`, CLI `python -m tokfree.training.train_lm`). Tokenizer training lives in
`tokfree.trainers`. Nothing is re-exported here: the function `train_lm` would shadow its module.
"""

__all__: list[str] = []
