"""Reading and writing tokenizer files: `hf` (tokenizer.json), `tiktoken` (rank files), `gpt2`
(vocab.json + merges.txt, read only) and `native` (tokfree JSON), all through `TokenizerParts`."""

from tokfree.io.parts import TokenizerParts

__all__ = ["TokenizerParts"]
