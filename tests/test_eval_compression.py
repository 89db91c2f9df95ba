"""tokfree.eval compression metrics on hand-worked examples (a tokenizer with three known merges)."""

from __future__ import annotations

import pytest

import tokfree
from tokfree import TokfreeError
from tokfree.eval import compression, term_fragmentation
from tokfree.io.parts import TokenizerParts

T, H, E, SPACE = ord("t"), ord("h"), ord("e"), ord(" ")
TH, THE, SPACE_THE = 256, 257, 258


@pytest.fixture(scope="module")
def tok() -> tokfree.Tokenizer:
    # Bytes, then "th" = t+h, "the" = th+e, " the" = " "+the; one special token.
    vocab = [(b, bytes([b])) for b in range(256)] + [(TH, b"th"), (THE, b"the"), (SPACE_THE, b" the")]
    merges = [(T, H), (TH, E), (SPACE, THE)]
    return tokfree.Tokenizer(TokenizerParts("gpt2", vocab, merges, [("<|endoftext|>", 259)]))


def test_hand_worked_document(tok):
    # "the cat" -> pre-tokens "the" | " cat" -> [the] + [" ", c, a, t]: 5 tokens, 7 bytes, 7 chars.
    # Words: "the" touched by [the] (whole); "cat" by c, a, t (the " " token ends where it starts).
    report = compression(tok, ["the cat"])
    assert (report.bytes, report.chars, report.tokens, report.words) == (7, 7, 5, 2)
    assert report.bytes_per_token == pytest.approx(7 / 5)
    assert report.tokens_per_char == pytest.approx(5 / 7)
    assert report.fertility == pytest.approx((1 + 3) / 2)
    assert report.whole_word_share == pytest.approx(1 / 2)
    assert report.distinct_ids == 5  # the, " ", c, a, t
    assert report.vocab_use == pytest.approx(5 / 260)


def test_leading_space_token_keeps_a_word_whole_and_counts_add_up(tok):
    # "the the" -> [the, " the"]: both words whole. With "the cat" the corpus has 4 words, 3 whole.
    report = compression(tok, ["the the", "the cat"])
    assert report.documents == 2
    assert (report.tokens, report.words, report.whole_words, report.word_tokens) == (2 + 5, 4, 3, 1 + 1 + 1 + 3)
    assert report.distinct_ids == 6  # the, " the", " ", c, a, t


def test_non_ascii_words_are_located_in_bytes(tok):
    # "é é": 2 bytes each; pre-tokens "é" | " é" -> [0xC3, 0xA9] + [" ", 0xC3, 0xA9]: 5 tokens.
    # Word 1 is touched by 2 tokens, word 2 by 2 (the " " token stops where the word starts).
    report = compression(tok, ["é é"])
    assert (report.bytes, report.chars, report.tokens, report.words) == (5, 3, 5, 2)
    assert report.fertility == pytest.approx(2.0)
    assert report.whole_word_share == 0.0


def test_special_tokens_and_empty_documents(tok):
    report = compression(tok, ["the<|endoftext|>", ""])
    # "the" then the special id (one word "the<|endoftext|>" touched by both tokens).
    assert (report.documents, report.tokens, report.words, report.word_tokens) == (2, 2, 1, 2)
    empty = compression(tok, [])
    assert (empty.bytes_per_token, empty.fertility, empty.vocab_use) == (0.0, 0.0, 0.0)


def test_term_fragmentation(tok):
    # " the" is one token, " cat" four; bare: "the" one, "cat" three.
    assert term_fragmentation(tok, ["the", "cat"]) == pytest.approx((1 + 4) / 2)
    assert term_fragmentation(tok, ["the", "cat"], leading_space=False) == pytest.approx((1 + 3) / 2)


def test_bad_input_is_named(tok):
    with pytest.raises(TokfreeError, match="wrap it"):
        compression(tok, "the cat")
    with pytest.raises(TokfreeError, match="must be str"):
        compression(tok, [b"the cat"])
    with pytest.raises(TokfreeError, match="empty"):
        term_fragmentation(tok, ["the", "  "])
    with pytest.raises(TokfreeError, match="wrap it"):
        term_fragmentation(tok, "the")
