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
        special_tokens: (content, id) in id order: every token matched in the text before
            pre-tokenizing (HF's "added tokens").
        ignore_merges: a pre-token whose bytes are a token encodes to that one id.
        merge_by_rank: tiktoken's merge rule: besides each listed merge, every other split of the
            token it makes into two tokens merges at the same rank (see `BpeModel::new`).
        normalizer: None, "NFC" or "NFKC": applied to the text between special tokens before
            pre-tokenizing (as HF does), with Python's `unicodedata`.
        non_special_tokens: contents of special tokens that HF marks `"special": false` (it keeps
            them in `decode(skip_special_tokens=True)`); tokfree matches them like the others.
        normalized_tokens: contents of special tokens HF matches in the normalized text
            (`"normalized": true`) rather than in the raw text.
    """

    pre_tokenizer: str
    vocab: list[tuple[int, bytes]]
    merges: list[tuple[int, int]]
    special_tokens: list[tuple[str, int]]
    ignore_merges: bool = False
    merge_by_rank: bool = False
    normalizer: str | None = None
    non_special_tokens: tuple[str, ...] = ()
    normalized_tokens: tuple[str, ...] = ()


#: Ids and merge operands are u32 in the Rust core.
MAX_ID = 2**32 - 1


def out_of_range_id(parts: TokenizerParts) -> str | None:
    """Names the first id or merge operand outside 0..MAX_ID (which the Rust core cannot hold), or None."""
    for token_id, token in parts.vocab:
        if not 0 <= token_id <= MAX_ID:
            return f"vocab entry {token!r} has id {token_id}"
    for rank, (left, right) in enumerate(parts.merges):
        if not (0 <= left <= MAX_ID and 0 <= right <= MAX_ID):
            return f"merge {rank} joins ids ({left}, {right})"
    for content, token_id in parts.special_tokens:
        if not 0 <= token_id <= MAX_ID:
            return f"special token {content!r} has id {token_id}"
    return None
