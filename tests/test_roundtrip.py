"""Lossless: decode_bytes(encode(x)) == x.encode() for arbitrary text and every bundled document."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import PRESETS
from tokfree import TokfreeError


@pytest.mark.parametrize("preset", PRESETS)
def test_bundled_documents_round_trip(trained, documents, preset):
    tok = trained(preset)
    for ids, text in zip(tok.encode_batch(documents), documents):
        assert tok.decode_bytes(ids) == text.encode("utf-8")


@pytest.mark.parametrize("preset", ["gpt2", "gpt4", "o200k"])
def test_arbitrary_unicode_round_trips(trained, preset):
    tok = trained(preset)

    # Surrogates (category Cs) have no UTF-8 form; they are tested separately below.
    @settings(max_examples=1500, deadline=None)
    @given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
    def check(text):
        # Arbitrary text may spell a special token (hypothesis tries string constants it finds in
        # the package, such as "<|endoftext|>"): encode it as plain text.
        encoding = tok.encode(text, offsets=True, disallowed_special=())
        data = text.encode("utf-8")
        assert tok.decode_bytes(encoding.ids) == data
        assert tok.decode(encoding.ids) == text
        # Offsets tile the text: contiguous, each span exactly the bytes of its token.
        at = 0
        for token_id, (start, end) in zip(encoding.ids, encoding.offsets):
            assert start == at and data[start:end] == tok.id_to_token(token_id)
            at = end
        assert at == len(data)

    check()


def test_lone_surrogates_are_refused_clearly(trained):
    tok = trained("gpt2")
    for text in ["abc\ud800", "\udcff", "x\udc80y"]:
        with pytest.raises(TokfreeError, match="surrogate") as info:
            tok.encode(text)
        index = next(i for i, char in enumerate(text) if 0xD800 <= ord(char) < 0xE000)
        assert f"index {index}" in str(info.value)
    with pytest.raises(TokfreeError, match="#1"):
        tok.encode_batch(["fine", "bad\ud800"])


def test_cut_characters_decode_with_replacement(trained):
    tok = trained("gpt2")
    ids = tok.encode("é")  # two bytes; a 2000-token vocab may or may not merge them
    first_byte = tok.token_to_id(b"\xc3")
    assert tok.decode([first_byte]) == "\ufffd"
    assert tok.decode(ids) == "é"
