"""`train_bpe(max_token_chars=...)`: no token touches more characters than the cap (property test
over random multilingual corpora and caps), and text still round-trips exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import tokfree
from tokfree import TokfreeError

import pytest

WORDS = ["the", "naïve", "café", "straße", "中文", "字符", "ελληνικά", "данные", "🙂🙂", "OCR", "rn", "m", "1990"]


def chars_touched(token: bytes) -> int:
    """Independent count: characters whose bytes the token holds at least one of."""
    continuation = sum(1 for byte in token if byte & 0xC0 == 0x80)
    starts = len(token) - continuation
    return starts + (1 if token and token[0] & 0xC0 == 0x80 else 0)


@settings(max_examples=25, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=5, max_size=60),
    cap=st.integers(min_value=1, max_value=6),
    pre_tokenizer=st.sampled_from(["gpt2", "none"]),
)
def test_no_token_exceeds_the_character_cap(words, cap, pre_tokenizer):
    text = " ".join(words)
    tok = tokfree.train_bpe(iter([text] * 5), 256 + 200, min_frequency=1, max_token_chars=cap, pre_tokenizer=pre_tokenizer, show_progress=False)
    tokens = [tok.id_to_token(i) for i in range(tok.vocab_size)]
    assert all(chars_touched(token) <= cap for token in tokens)
    assert tok.decode(tok.encode(text)) == text


def test_the_cap_counts_characters_not_bytes():
    text = "中文字符 " * 50  # 3-byte characters: a byte cap of 6 allows two of them, a character cap of 6 six
    by_chars = tokfree.train_bpe(iter([text]), 300, min_frequency=1, max_token_chars=6, show_progress=False)
    by_bytes = tokfree.train_bpe(iter([text]), 300, min_frequency=1, max_token_length=6, show_progress=False)
    chars = lambda tok: [chars_touched(tok.id_to_token(i)) for i in range(tok.vocab_size)]  # noqa: E731
    byte_lengths = lambda tok: [len(tok.id_to_token(i)) for i in range(tok.vocab_size)]  # noqa: E731
    assert max(byte_lengths(by_bytes)) <= 6 and max(chars(by_chars)) <= 6
    assert max(byte_lengths(by_chars)) >= 12  # "中文字符" whole: 4 characters, 12 bytes
    assert len(by_chars.encode(text)) < len(by_bytes.encode(text))


def test_bad_cap_is_named():
    with pytest.raises(TokfreeError, match="max_token_chars=0"):
        tokfree.train_bpe(iter(["abc"]), 300, max_token_chars=0, show_progress=False)
