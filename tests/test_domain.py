"""train_domain_bpe (the KL3M recipe) and its curated tokens."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from tokenizers import Tokenizer as HFTokenizer

from tokfree import Tokenizer, TokfreeError
from tokfree._corpora import read_documents
from tokfree.pretokenize import split
from tokfree.trainers.domain import DOMAIN_PATTERN, DOMAIN_SUPERWORD_PATTERN, KL3M_SPECIAL_TOKENS, TOKEN_CATEGORIES, DomainTrainingReport, domain_tokens, train_domain_bpe

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def legal() -> tuple[list[str], list[str]]:
    documents = read_documents(DATA / "legal" / "spdx_licenses.jsonl.gz")
    return documents[:100], documents[100:]


@pytest.fixture(scope="module")
def trained(legal: tuple[list[str], list[str]]) -> tuple[Tokenizer, DomainTrainingReport]:
    report: list[DomainTrainingReport] = []
    tokenizer = train_domain_bpe(iter(legal[0]), 6000, pad_to_multiple_of=256, show_progress=False, report=report)
    return tokenizer, report[0]


def test_domain_pattern_keeps_legal_units_whole() -> None:
    # Hand-derived: GPT-2 alone would give " (", "a", ")" and "U", ".", "S", ...
    assert split("See (a) and (iv), 15 U.S.C. § 78 <div>", DOMAIN_PATTERN) == [
        "See", " (a)", " and", " (iv)", ",", " 15", " U.S.C.", " §", " 78", " <div>"
    ]  # fmt: skip
    assert split("don't", DOMAIN_PATTERN) == ["don", "'t"]


def test_curated_tokens_are_single_pieces() -> None:
    tokens = domain_tokens()
    assert len(tokens) == len(set(tokens)) > 1000
    assert all(len(token) > 1 and split(token, DOMAIN_PATTERN) == [token] for token in tokens)
    for expected in ["(a)", " (iv)", " (IV)", "(12)", " 2019", "§§", " U.S.C.", "e.g.", "<div", "</p>", "\n\n\n", '":', " 150"]:
        assert expected in tokens
    assert "et al." not in tokens  # two pieces under the pattern: unreachable, left out
    assert domain_tokens(["years"]) == [t for y in range(1900, 2051) for t in (str(y), f" {y}")]


def test_unknown_category() -> None:
    with pytest.raises(TokfreeError, match="unknown token categories"):
        domain_tokens(["years", "emoji"])
    assert "enumerations" in TOKEN_CATEGORIES


def test_vocabulary_layout(trained: tuple[Tokenizer, DomainTrainingReport]) -> None:
    tokenizer, report = trained
    assert tokenizer.vocab_size == 6144  # 6000 rounded up to a multiple of 256
    assert tokenizer.special_tokens == {token: i for i, token in enumerate(KL3M_SPECIAL_TOKENS)}
    assert tokenizer.normalizer == "NFKC"
    assert report.curated_tokens == len(domain_tokens())
    # Everything but the specials and bytes was learned or needed by a curated token.
    assert report.learned + report.curated_merges + report.learned_after + report.whitespace_padding >= 6144 - 13 - 256
    assert report.whitespace_padding == 0 and report.learned_after > 0


def test_every_curated_token_is_one_id(trained: tuple[Tokenizer, DomainTrainingReport]) -> None:
    tokenizer, _ = trained
    for token, ids in zip(domain_tokens(), tokenizer.encode_batch(domain_tokens())):
        assert len(ids) == 1, token
        assert tokenizer.id_to_token(ids[0]) == token.encode()


def test_curated_numbers_never_split_longer_numbers(trained: tuple[Tokenizer, DomainTrainingReport]) -> None:
    # KL3M's added tokens would cut " 2019" out of " 120190"; here it is one pre-token, and the
    # curated " 2019" token cannot form inside it (its chain needs the piece to start with " 2019").
    tokenizer, _ = trained
    year = tokenizer.encode(" 2019")[0]
    for text in [" 120190", " 20190", "f(a)", " 2019x"]:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert year not in tokenizer.encode(" 120190")


def test_round_trip_after_nfkc(trained: tuple[Tokenizer, DomainTrainingReport], legal: tuple[list[str], list[str]]) -> None:
    tokenizer, _ = trained
    for text in legal[1] + ["ﬁnancial ① Ⅳ", "naïve café 中文 🙂"]:
        assert tokenizer.decode(tokenizer.encode(text)) == unicodedata.normalize("NFKC", text)


def test_hf_tokenizers_loads_it_with_identical_ids(trained: tuple[Tokenizer, DomainTrainingReport], legal: tuple[list[str], list[str]], tmp_path: Path) -> None:
    tokenizer, _ = trained
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    hf = HFTokenizer.from_file(str(path))
    for text in legal[1][:15] + ["(a) (iv) § 12 U.S.C. 2019 <p>x</p>"]:
        assert hf.encode(text).ids == tokenizer.encode(text)


def test_deterministic(legal: tuple[list[str], list[str]]) -> None:
    corpus = legal[0][:20]
    first = train_domain_bpe(iter(corpus), 4096, show_progress=False)
    second = train_domain_bpe(iter(corpus), 4096, show_progress=False)
    assert first.to_parts() == second.to_parts()


def test_whitespace_padding_when_the_corpus_runs_out() -> None:
    # Two short words cannot fill 2048 tokens: KL3M's runs of spaces/newlines make up the rest.
    report: list[DomainTrainingReport] = []
    tokenizer = train_domain_bpe(iter(["lex lata (a)"] * 10), 2048, curated_tokens=["(a)"], pad_to_multiple_of=None, show_progress=False, report=report)
    assert tokenizer.vocab_size == 2048 and len(tokenizer.encode(" (a)")) == 1
    padding = report[0].whitespace_padding
    assert padding > 0
    padded = [tokenizer.id_to_token(i) for i in range(2048 - padding, 2048)]
    assert all(token.strip(b" ") == b"" or token.strip(b"\n") == b"" for token in padded)
    assert len(set(padded)) == padding


def test_whitespace_padding_skips_runs_already_there() -> None:
    # 16 spaces (and its halves) are learned; padding makes 3, 5, 6, 7, ... and never remakes one.
    report: list[DomainTrainingReport] = []
    corpus = ["lex" + " " * 16 + "\n"] * 10
    tokenizer = train_domain_bpe(iter(corpus), 1024, curated_tokens=[], pad_to_multiple_of=None, show_progress=False, report=report)
    assert tokenizer.token_to_id(b" " * 16) is not None
    assert tokenizer.vocab_size == 1024
    tokens = [tokenizer.id_to_token(i) for i in range(1024) if tokenizer.id_to_token(i) is not None]
    assert len(tokens) == len(set(tokens)) == 1024  # specials included: no two ids share bytes


def test_stops_at_the_next_multiple_when_the_corpus_runs_out() -> None:
    report: list[DomainTrainingReport] = []
    tokenizer = train_domain_bpe(iter(["lex lata (a)"] * 10), 32768, curated_tokens=["(a)"], show_progress=False, report=report)
    assert tokenizer.vocab_size == 384  # 13 + 256 + a few merges -> the next multiple of 128
    assert 0 < report[0].whitespace_padding < 128


def test_curated_token_the_pattern_splits() -> None:
    with pytest.raises(TokfreeError, match="split by the pre-tokenizer"):
        train_domain_bpe(iter(["x"]), 1024, curated_tokens=["et al."], show_progress=False)


def test_too_small() -> None:
    with pytest.raises(TokfreeError, match="too small"):
        train_domain_bpe(iter(["x"]), 269, pad_to_multiple_of=None, show_progress=False)
    with pytest.raises(TokfreeError, match="curated tokens need"):
        train_domain_bpe(iter(["x"]), 512, show_progress=False)


@pytest.fixture(scope="module")
def superword(legal: tuple[list[str], list[str]]) -> Tokenizer:
    return train_domain_bpe(iter(legal[0]), 6144, superword_transition=4096, show_progress=False)


def test_superword_domain_tokens_span_words_within_the_rules(superword: Tokenizer, legal: tuple[list[str], list[str]]) -> None:
    assert superword.pre_tokenizer == DOMAIN_SUPERWORD_PATTERN and superword.vocab_size == 6144
    tokens = [superword.id_to_token(i) for i in range(13, superword.vocab_size)]
    multiword = [t for t in tokens if len([w for w in t.split(b" ") if w]) >= 2]
    assert len(multiword) > 500  # e.g. " of the", ", and"
    assert all(len([w for w in t.split(b" ") if w]) <= 4 and b": " not in t for t in tokens)
    for token, ids in zip(domain_tokens(), superword.encode_batch(domain_tokens())):
        if split(token, DOMAIN_SUPERWORD_PATTERN) == [token]:
            assert len(ids) == 1, token
    plain = train_domain_bpe(iter(legal[0]), 6144, show_progress=False)
    held_out = legal[1]
    assert sum(map(len, superword.encode_batch(held_out))) < 0.9 * sum(map(len, plain.encode_batch(held_out)))  # 0.85 measured


def test_superword_domain_round_trip_and_hf_parity(superword: Tokenizer, legal: tuple[list[str], list[str]], tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    superword.save(path)
    hf = HFTokenizer.from_file(str(path))
    for text in legal[1][:15] + ["See (12) and (a) of 15 U.S.C. § 78, in 2019:\n\n  the Licensee (2019 edition)", "naïve ① 中文"]:
        assert superword.decode(superword.encode(text)) == unicodedata.normalize("NFKC", text)
        assert hf.encode(text).ids == superword.encode(text)


def test_domain_superword_pattern_pieces() -> None:
    assert split("see (12) and (a) of 15 U.S.C. § 78, in 2019 the\n\n  x", DOMAIN_SUPERWORD_PATTERN) == [
        "see", " (12)", " and (a) of", " 15", " U.S.C. §", " 78", ", in", " 2019", " the", "\n\n", "  ", "x"
    ]  # fmt: skip
    assert split("(2019 edition)", DOMAIN_SUPERWORD_PATTERN) == ["(", "2019", " edition)"]


def test_superword_transition_checked(legal: tuple[list[str], list[str]]) -> None:
    with pytest.raises(TokfreeError, match="superword_transition"):
        train_domain_bpe(iter(legal[0][:5]), 4096, superword_transition=8192, show_progress=False)
