"""Pre-tokenization: text -> pre-token spans (the pieces BPE never merges across).

The splitting itself runs in Rust (`tokfree._rust`): hand-written linear-time scanners for the
presets, fancy-regex for custom patterns. This module only exposes it to Python. It does not
normalize text and does not know about special tokens (the tokenizer cuts those out first).
"""

from __future__ import annotations

from tokfree import _rust
from tokfree._text import call_on_text

__all__ = ["PRESETS", "split", "split_spans"]

#: Preset name -> the regex with the same semantics (None for "none": the whole text is one piece).
PRESETS: dict[str, str | None] = dict(_rust.preset_patterns())


def split_spans(text: str, pre_tokenizer: str = "gpt2") -> list[tuple[int, int]]:
    """Byte spans of the pre-tokens of `text`.

    Args:
        text: the text to split.
        pre_tokenizer: a preset name from `PRESETS` or a custom regex; text a custom regex does
            not match becomes its own piece, so the spans always cover the text.

    Returns:
        `(start, end)` byte offsets into `text.encode("utf-8")`, contiguous and in order.

    Raises:
        PatternError: the custom regex does not compile or fails while matching.
        TokfreeError: `text` holds a lone surrogate (it has no UTF-8 form).

    Example:
        >>> split_spans("Hello world", "gpt2")
        [(0, 5), (5, 11)]
    """
    return call_on_text(_rust.split_spans, text, pre_tokenizer)


def split(text: str, pre_tokenizer: str = "gpt2") -> list[str]:
    """The pre-tokens of `text` as strings (see `split_spans`).

    Example:
        >>> split("Hello world!", "gpt2")
        ['Hello', ' world', '!']
    """
    spans = split_spans(text, pre_tokenizer)
    data = text.encode("utf-8")
    return [data[start:end].decode("utf-8") for start, end in spans]
