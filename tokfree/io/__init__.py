"""Reading and writing tokenizer files: `hf` (tokenizer.json) and `native` (tokfree JSON)."""

from tokfree.io.parts import TokenizerParts

__all__ = ["TokenizerParts"]
