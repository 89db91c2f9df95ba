"""extend_bpe: domain adaptation keeps every base id and merge, and only appends.

Oracle: undoing the new merges (each new id -> the two ids it was made from, recursively) must give
the base tokenizer's ids for any text, since the new merges rank after every base merge.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokfree import Tokenizer, TokfreeError, train_bpe
from tokfree._corpora import read_documents
from tokfree.trainers import extend_bpe, train_charlevel

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def gpt2() -> Tokenizer:
    return Tokenizer.from_gpt2_files(DATA / "gpt2" / "encoder.json", DATA / "gpt2" / "vocab.bpe")


@pytest.fixture(scope="module")
def legal() -> tuple[list[str], list[str]]:
    documents = read_documents(DATA / "legal" / "spdx_licenses.jsonl.gz")
    return documents[:100], documents[100:]


@pytest.fixture(scope="module")
def adapted(gpt2: Tokenizer, legal: tuple[list[str], list[str]]) -> Tokenizer:
    return extend_bpe(gpt2, iter(legal[0]), 1000, show_progress=False)


def undo_new_merges(extended: Tokenizer, base: Tokenizer, ids: list[int]) -> list[int]:
    made_of = {}
    for left, right in extended.to_parts().merges[len(base.to_parts().merges) :]:
        made_of.setdefault(extended.token_to_id(extended.id_to_token(left) + extended.id_to_token(right)), (left, right))
    out: list[int] = []
    stack = list(reversed(ids))
    while stack:
        token_id = stack.pop()
        if token_id in made_of:
            stack.extend(reversed(made_of[token_id]))
        else:
            out.append(token_id)
    return out


def test_every_base_id_merge_and_special_is_kept(gpt2: Tokenizer, adapted: Tokenizer) -> None:
    base, grown = gpt2.to_parts(), adapted.to_parts()
    assert grown.vocab[: len(base.vocab)] == base.vocab
    assert grown.merges[: len(base.merges)] == base.merges
    assert grown.special_tokens == base.special_tokens
    new_ids = [token_id for token_id, _ in grown.vocab[len(base.vocab) :]]
    assert new_ids == list(range(50257, 50257 + len(new_ids)))  # just above <|endoftext|> = 50256
    assert len(new_ids) == 1000
    assert not {token for _, token in grown.vocab[len(base.vocab) :]} & {token for _, token in base.vocab}


def test_fewer_tokens_on_held_out_domain_text(gpt2: Tokenizer, adapted: Tokenizer, legal: tuple[list[str], list[str]]) -> None:
    held_out = legal[1]
    before = sum(len(ids) for ids in gpt2.encode_batch(held_out))
    after = sum(len(ids) for ids in adapted.encode_batch(held_out))
    assert after < 0.95 * before
    for text in held_out:
        assert adapted.decode(adapted.encode(text)) == text


def test_base_encoding_is_the_first_stage(gpt2: Tokenizer, adapted: Tokenizer, legal: tuple[list[str], list[str]]) -> None:
    for text in legal[1][:20]:
        assert undo_new_merges(adapted, gpt2, adapted.encode(text)) == gpt2.encode(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdefgh ()§.,\n0123456789éŁ")) | st.characters(exclude_categories=("Cs",)), max_size=200))
def test_base_encoding_is_the_first_stage_on_any_text(gpt2: Tokenizer, adapted: Tokenizer, text: str) -> None:
    ids = adapted.encode(text)
    assert undo_new_merges(adapted, gpt2, ids) == gpt2.encode(text)
    assert adapted.decode(ids) == text


def test_hand_worked_extension() -> None:
    # Base: 256 bytes + "ab" (merge a b). Domain "abcabc" x3, "abd" x2 (pre-tokenizer "none"):
    # base segments [ab, c, ab, c] and [ab, d]; (ab, c) = 6 is merged first, then (abc, abc) = 3.
    base = train_bpe(iter(["ab"] * 3), 257, pre_tokenizer="none", show_progress=False)
    assert base.id_to_token(256) == b"ab"
    grown = extend_bpe(base, iter(["abcabc"] * 3 + ["abd"] * 2), 2, min_frequency=1, show_progress=False)
    assert [grown.id_to_token(i) for i in (257, 258)] == [b"abc", b"abcabc"]
    assert grown.encode("abcabc") == [258]
    assert grown.encode("abd") == base.encode("abd") == [256, ord("d")]


def test_normalizing_base_learns_on_normalized_text() -> None:
    base = train_charlevel(iter(["ﬁle ﬁle file"] * 20), 270, show_progress=False)  # NFKC: "ﬁ" -> "fi"
    grown = extend_bpe(base, iter(["ﬁling ﬁling"] * 20), 5, max_token_chars=None, show_progress=False)
    assert grown.normalizer == "NFKC"
    assert grown.decode(grown.encode("ﬁling")) == "filing"
    assert all(b"\xef\xac\x81" not in grown.id_to_token(i) for i in range(base.vocab_size, grown.vocab_size))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"new_tokens": -1}, "new_tokens=-1"), ({"new_tokens": 5, "min_frequency": -2}, "min_frequency"), ({"new_tokens": 5, "max_token_chars": 0}, "max_token_chars")],
)
def test_bad_arguments(gpt2: Tokenizer, kwargs: dict, message: str) -> None:
    with pytest.raises(TokfreeError, match=message):
        extend_bpe(gpt2, iter(["text"]), show_progress=False, **kwargs)


def test_bad_base() -> None:
    with pytest.raises(TokfreeError, match="pass a tokfree.Tokenizer"):
        extend_bpe("gpt2", iter(["text"]), 5)  # type: ignore[arg-type]


def test_zero_new_tokens_is_the_base(gpt2: Tokenizer) -> None:
    assert extend_bpe(gpt2, iter(["x"]), 0) is gpt2
