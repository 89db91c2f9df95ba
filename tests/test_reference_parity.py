"""The Rust trainer and encoder agree with the pure-Python twin in tokfree/_reference/."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokfree
from tokfree._reference import bpe as reference

# Small alphabets make ties, repeated symbols ("aaaa") and duplicate-bytes merges frequent; the
# Unicode ones bring multi-byte characters, combining marks, emoji, CJK and RTL text.
ALPHABETS = [
    "ab ",
    "abc \n",
    "aab'st 1",
    "é\u0301中😀 a",
    "שלום עולם ab",
    "ـمرحبا 12",
    "AbC dE'S\t",
]
corpus = st.sampled_from(ALPHABETS).flatmap(lambda alphabet: st.lists(st.text(alphabet=alphabet, min_size=1, max_size=30), min_size=1, max_size=8))
settings_ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(
    texts=corpus,
    extra=st.integers(0, 40),
    preset=st.sampled_from(["gpt2", "gpt4", "o200k", "whitespace", "none"]),
    min_frequency=st.integers(0, 3),
    max_token_length=st.sampled_from([None, 2, 3, 5]),
    n_special=st.integers(0, 2),
)
def test_trainer_matches_reference(texts, extra, preset, min_frequency, max_token_length, n_special):
    specials = ["<s>", "</s>"][:n_special]
    vocab_size = 256 + n_special + extra
    expected_vocab, expected_merges = reference.train(
        texts, vocab_size, pre_tokenizer=preset, special_tokens=specials, min_frequency=min_frequency, max_token_length=max_token_length
    )
    tok = tokfree.train_bpe(
        iter(texts), vocab_size, pre_tokenizer=preset, special_tokens=specials,
        min_frequency=min_frequency, max_token_length=max_token_length, show_progress=False,
    )
    parts = tok.to_parts()
    assert parts.merges == expected_merges
    assert dict(parts.vocab) == expected_vocab
    assert parts.special_tokens == [(s, i) for i, s in enumerate(specials)]


@settings_
@given(texts=corpus, extra=st.integers(0, 60), preset=st.sampled_from(["gpt2", "gpt4", "o200k", "llama3", "whitespace"]), data=st.data())
def test_encoder_matches_reference(texts, extra, preset, data):
    tok = tokfree.train_bpe(iter(texts), 256 + extra, pre_tokenizer=preset, min_frequency=1, show_progress=False)
    parts = tok.to_parts()
    vocab = dict(parts.vocab)
    # Text from the training alphabet (where merges apply) and arbitrary Unicode.
    alphabet = "".join(set("".join(texts))) or "a"
    for text in [data.draw(st.text(alphabet=alphabet, max_size=80)), data.draw(st.text(max_size=40)), "".join(texts) * 3]:
        assert tok.encode(text) == reference.encode(text, vocab, parts.merges, pre_tokenizer=preset)


def test_reference_by_hand():
    # "aaab aaab": gpt2 pieces "aaab", " aaab" -> words (a,a,a,b) and (' ',a,a,a,b), count 1 each.
    # Step 1 counts: (a,a)=4, (a,b)=2, (' ',a)=1 -> merge (a,a) = "aa", words (aa,a,b), (' ',aa,a,b).
    # Step 2 counts: (aa,a)=2, (a,b)=2, (' ',aa)=1 -> tie at 2; as byte-string tuples ("a", "b") <
    # ("aa", "a") because "a" < "aa" -> merge (a,b) = "ab".
    vocab, merges = reference.train(["aaab aaab"], 258, min_frequency=1)
    a, b = ord("a"), ord("b")
    assert merges == [(a, a), (a, b)]
    assert vocab[256] == b"aa" and vocab[257] == b"ab"
    tok = tokfree.train_bpe(iter(["aaab aaab"]), 258, min_frequency=1, show_progress=False)
    assert tok.to_parts().merges == merges
    # Encoding "aaaab": (a,a) has rank 0, so it goes first, leftmost: aa a a b -> again: aa aa b;
    # (aa,aa) is no merge, and (aa,a) never forms.
    assert tok.encode("aaaab") == [256, 256, b]
