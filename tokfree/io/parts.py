"""`TokenizerParts`: everything that defines a byte-level BPE tokenizer, as plain Python values.

File formats convert to and from it; `tokfree.Tokenizer` compiles it into the Rust core.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenizerParts:
    """The parts of a byte-level BPE tokenizer.

    Attributes:
        pre_tokenizer: a preset name (see `tokfree.pretokenize.PRESETS`) or a custom regex.
        vocab: model tokens as (id, bytes), sorted by id (special tokens are not in it).
        merges: (left id, right id) in rank order.
        special_tokens: (content, id) in id order.
        ignore_merges: a pre-token whose bytes are a token encodes to that one id.
    """

    pre_tokenizer: str
    vocab: list[tuple[int, bytes]]
    merges: list[tuple[int, int]]
    special_tokens: list[tuple[str, int]]
    ignore_merges: bool = False
