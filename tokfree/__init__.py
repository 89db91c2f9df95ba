"""tokfree: tokenizers for people who train and serve language models.

The public surface: `train_bpe` learns a byte-level BPE vocabulary, `Tokenizer` encodes and
decodes (exact, fast, Rust core), `Encoding` is ids with byte offsets, and `TokfreeError` is the
base of every error raised on bad input.
"""

from tokfree.errors import TokfreeError
from tokfree.tokenizer import Encoding, Tokenizer
from tokfree.trainers.bpe import train_bpe

__all__ = ["Encoding", "Tokenizer", "TokfreeError", "__version__", "train_bpe"]

__version__ = "0.1.0"
