"""train_superword: SuperBPE's two-stage curriculum and TokenAdapt's supertokens."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

from tokfree import Tokenizer, TokfreeError, train_bpe
from tokfree._corpora import read_documents
from tokfree.pretokenize import PRESETS, split
from tokfree.trainers.superword import CHUNK_BUCKETS, SUPERWORD_PATTERN, chunk_randomly, train_superword

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def english() -> tuple[list[str], list[str]]:
    documents = read_documents(DATA / "english" / "python_docs.jsonl.gz")
    return documents[:40], documents[40:]


@pytest.fixture(scope="module")
def superbpe(english: tuple[list[str], list[str]]) -> Tokenizer:
    return train_superword(iter(english[0]), 3000, transition=1500, show_progress=False)


def words(token: bytes) -> int:
    return len([word for word in token.split(b" ") if word])


def test_stage_one_is_plain_bpe(superbpe: Tokenizer, english: tuple[list[str], list[str]]) -> None:
    stage1 = train_bpe(iter(english[0]), 1500, pre_tokenizer="gpt4", show_progress=False)
    assert superbpe.to_parts().merges[: len(stage1.to_parts().merges)] == stage1.to_parts().merges
    assert superbpe.to_parts().vocab[:1500] == stage1.to_parts().vocab


def test_stage_two_makes_multiword_tokens_within_the_rules(superbpe: Tokenizer) -> None:
    assert superbpe.vocab_size == 3000 and superbpe.pre_tokenizer == "superword" and PRESETS["superword"] == SUPERWORD_PATTERN
    tokens = [superbpe.id_to_token(i) for i in range(superbpe.vocab_size)]
    assert sum(words(t) >= 2 for t in tokens[1500:]) > 200  # 284 here; the rest glue punctuation, e.g. b"()"
    assert all(words(t) <= 4 and b": " not in t for t in tokens[1500:])
    assert all(words(t) <= 1 for t in tokens[:1500])  # stage 1 never crossed a space


def test_fewer_tokens_than_bpe_of_the_same_size(superbpe: Tokenizer, english: tuple[list[str], list[str]]) -> None:
    bpe = train_bpe(iter(english[0]), 3000, pre_tokenizer="gpt4", show_progress=False)
    held_out = english[1]
    # 0.965 here at 3k tokens; the gain grows with the vocabulary (benchmarks/superword.py: -29% at 64k)
    assert sum(map(len, superbpe.encode_batch(held_out))) < 0.98 * sum(map(len, bpe.encode_batch(held_out)))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("the of and, .:\n0123456789()é")) | st.characters(exclude_categories=("Cs",)), max_size=300))
def test_round_trip(superbpe: Tokenizer, text: str) -> None:
    assert superbpe.decode(superbpe.encode(text)) == text


def test_hf_loads_it_with_identical_ids(superbpe: Tokenizer, english: tuple[list[str], list[str]], tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    superbpe.save(path)
    hf = HFTokenizer.from_file(str(path))
    for text in english[1][:10] + ["in the 12345 of the, and: the\r\n\n  x"]:
        assert hf.encode(text).ids == superbpe.encode(text)


@pytest.fixture(scope="module")
def superbpe_in_hf(superbpe: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> HFTokenizer:
    path = tmp_path_factory.mktemp("superbpe") / "tokenizer.json"
    superbpe.save(path)
    return HFTokenizer.from_file(str(path))


# Words, space runs and punctuation: the encoder merges stage 1 word by word and stage 2 on the
# ids (`rust_ext/src/bpe/phased.rs`); HF merges each line as one piece.
@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["the", " the", " of", " and", ",", ".", " ", "  ", "\t", "\n", "é", "class", " function", "(x)", ":"]), max_size=80).map("".join))
def test_ids_equal_hf_on_word_and_space_mixes(superbpe: Tokenizer, superbpe_in_hf: HFTokenizer, text: str) -> None:
    assert superbpe.encode(text) == superbpe_in_hf.encode(text).ids


def test_default_transition_is_half_the_size_but_at_least_the_bytes() -> None:
    texts = ["the cat sat on the mat, and the dog sat on the log"] * 50
    small = train_superword(iter(texts), 300, show_progress=False)  # t = 256: stage 2 only
    assert small.decode(small.encode(texts[0])) == texts[0] and len(small.encode(texts[0])) < 10
    stage1 = train_bpe(iter(texts), 400, pre_tokenizer="gpt4", show_progress=False)
    halves = train_superword(iter(texts), 800, show_progress=False)  # t = 400: stage 1 is that BPE
    assert [halves.id_to_token(i) for i in range(stage1.vocab_size)] == [stage1.id_to_token(i) for i in range(stage1.vocab_size)]


def test_the_pattern_splits_digits_and_lines_only() -> None:
    assert split("In 2024, the cost was 1234567.\n\nOf the", SUPERWORD_PATTERN) == [
        "In ", "202", "4", ", the cost was ", "123", "456", "7", ".", "\n\n", "Of the"
    ]  # fmt: skip


@settings(max_examples=200)
@given(st.text(max_size=400), st.integers(0, 2**32))
def test_chunks_concatenate_back_and_have_the_sampled_lengths(text: str, seed: int) -> None:
    chunks = chunk_randomly(text, random.Random(seed))
    assert "".join(chunks) == text
    shortest, longest = CHUNK_BUCKETS[0][0], CHUNK_BUCKETS[-1][1]
    assert all(shortest <= len(c) <= longest for c in chunks[:-1])
    assert not chunks or len(chunks[-1]) <= longest
    assert chunks == chunk_randomly(text, random.Random(seed))


def test_supertokens(english: tuple[list[str], list[str]]) -> None:
    first = train_superword(iter(english[0]), 2000, method="supertoken", seed=1, show_progress=False)
    again = train_superword(iter(english[0]), 2000, method="supertoken", seed=1, show_progress=False)
    other = train_superword(iter(english[0]), 2000, method="supertoken", seed=2, show_progress=False)
    assert first.to_parts() == again.to_parts() != other.to_parts()
    tokens = [first.id_to_token(i) for i in range(256, first.vocab_size)]
    assert sum(words(t) >= 2 for t in tokens) > 50 and all(words(t) <= 4 for t in tokens)
    for text in english[1][:5]:
        assert first.decode(first.encode(text)) == text


def test_files_are_read_for_both_stages(english: tuple[list[str], list[str]], tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(english[0]), encoding="utf-8")
    from_file = train_superword(str(path), 2000, transition=1000, show_progress=False)
    from_text = train_superword(iter(["\n".join(english[0])]), 2000, transition=1000, show_progress=False)
    assert from_file.to_parts() == from_text.to_parts()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"method": "magic"}, "method="), ({"transition": 100}, "transition="), ({"transition": 9000}, "transition="),
     ({"max_words_per_token": 0}, "max_words_per_token"), ({"vocab_size": 256}, "vocab_size=")],
)  # fmt: skip
def test_bad_arguments(kwargs: dict, message: str) -> None:
    arguments = {"vocab_size": 1000, **kwargs}
    with pytest.raises(TokfreeError, match=message):
        train_superword(iter(["a b"]), show_progress=False, **arguments)


def test_invalid_utf8_file_is_named(tmp_path: Path) -> None:
    from tokfree.errors import InputFileError

    path = tmp_path / "latin1.txt"
    path.write_bytes("café the cat".encode("latin-1"))
    for method in ("superbpe", "supertoken"):
        with pytest.raises(InputFileError, match="latin1.txt is not valid UTF-8"):
            train_superword(str(path), 600, method=method, show_progress=False)
