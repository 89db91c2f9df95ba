"""Parity on real vocabularies: tokfree's ids equal tiktoken's and HF tokenizers' for gpt2,
cl100k_base and o200k_base, document for document, on the >= 10 MB parity corpus; and the
round trips through tokenizer.json and .tiktoken files keep every id.

The oracles are built independently of tokfree: `tiktoken.Encoding` from the same rank file with
the pattern and special tokens tiktoken publishes (tiktoken_ext/openai_public.py), and HF
`tokenizers` loading our export (`to_hf()`, `save()`). Needs `make data` (or `tokfree data fetch`);
skipped with that reason otherwise.
"""

from __future__ import annotations

import difflib
import hashlib

import pytest

import parity_corpus
import tokfree
import tokfree.data
from conftest import ROOT
from tokfree.errors import DataError
from tokfree.io.tiktoken import TIKTOKEN_PATTERNS

tiktoken = pytest.importorskip("tiktoken")
tokenizers = pytest.importorskip("tokenizers")

NAMES = ["gpt2", "cl100k_base", "o200k_base"]
# tokfree name -> the tiktoken_ext constructor with the same rank file (GPT-2's ranks are r50k_base).
TIKTOKEN_NAME = {"gpt2": "r50k_base", "cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}


def _published() -> dict[str, dict]:
    """tiktoken's own definitions (pattern, specials, expected sha256), without any download:
    the file loaders are swapped for recorders while the constructors run."""
    import tiktoken_ext.openai_public as public

    hashes: dict[str, object] = {}

    def record_rank_file(url, expected_hash=None):
        hashes["rank_file"] = expected_hash
        return {}

    def record_data_gym(vocab_bpe_file, encoder_json_file, vocab_bpe_hash=None, encoder_json_hash=None):
        hashes["data_gym"] = (encoder_json_hash, vocab_bpe_hash)
        return {}

    saved = public.load_tiktoken_bpe, public.data_gym_to_mergeable_bpe_ranks
    public.load_tiktoken_bpe, public.data_gym_to_mergeable_bpe_ranks = record_rank_file, record_data_gym
    try:
        definitions = {}
        for name in ["gpt2", "r50k_base", "cl100k_base", "o200k_base"]:
            hashes.clear()
            definition = getattr(public, name)()
            definitions[name] = {**definition, **hashes}
    finally:
        public.load_tiktoken_bpe, public.data_gym_to_mergeable_bpe_ranks = saved
    return definitions


PUBLISHED = _published()


def _fetched(name: str):
    try:
        return tokfree.data.load(name)
    except DataError as err:
        pytest.skip(f"the real vocabularies were not fetched (run `make data` or `tokfree data fetch`): {err}")


@pytest.fixture(scope="module")
def vocab():
    cache: dict[str, tokfree.Tokenizer] = {}

    def get(name: str) -> tokfree.Tokenizer:
        if name not in cache:
            cache[name] = _fetched(name)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    parts = parity_corpus.build()
    return [doc for docs in parts.values() for doc in docs]


def _reference(name: str):
    """tiktoken's Encoding for `name`, from the fetched rank file and tiktoken's published pattern/specials."""
    from tiktoken.load import load_tiktoken_bpe

    definition = PUBLISHED[TIKTOKEN_NAME[name]]
    path = tokfree.data.cache_dir() / tokfree.data.ENCODINGS[name].file
    return tiktoken.Encoding(
        name, pat_str=definition["pat_str"], mergeable_ranks=load_tiktoken_bpe(str(path)), special_tokens=definition["special_tokens"]
    )


def assert_same_ids(mine: list[list[int]], theirs: list[list[int]], docs: list[str], decode, who: str) -> None:
    """Zero mismatching documents; else the first one, with a diff of the token sequences."""
    assert len(mine) == len(theirs) == len(docs)
    bad = [i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b]
    if not bad:
        return
    i = bad[0]
    show = lambda ids: [repr(decode([t])) + f"={t}" for t in ids]  # noqa: E731
    diff = "\n".join(list(difflib.unified_diff(show(theirs[i]), show(mine[i]), who, "tokfree", n=3, lineterm=""))[:40])
    pytest.fail(f"{len(bad)} of {len(docs)} documents differ from {who}; first: document #{i} {docs[i][:120]!r}\n{diff}")


def test_parity_corpus_is_big_and_varied(corpus):
    parts = parity_corpus.build()
    assert set(parts) == {"udhr", "english", "code", "random"}
    assert len(parts["udhr"]) == 532
    assert sum(len(doc.encode("utf-8")) for doc in corpus) >= 10_000_000


def test_fetch_contract_is_tiktokens_published_hashes():
    for name, spec in tokfree.data.ENCODINGS.items():
        assert spec.sha256 == PUBLISHED[TIKTOKEN_NAME[name]]["rank_file"], name
        assert spec.special_tokens == PUBLISHED[TIKTOKEN_NAME[name]]["special_tokens"], name
        assert TIKTOKEN_PATTERNS[PUBLISHED[TIKTOKEN_NAME[name]]["pat_str"]] == spec.pre_tokenizer, name
    # The bundled GPT-2 files are the ones tiktoken's gpt2 encoding checks.
    encoder_hash, merges_hash = PUBLISHED["gpt2"]["data_gym"]
    assert hashlib.sha256((ROOT / "data/gpt2/encoder.json").read_bytes()).hexdigest() == encoder_hash
    assert hashlib.sha256((ROOT / "data/gpt2/vocab.bpe").read_bytes()).hexdigest() == merges_hash


@pytest.mark.parametrize("name", NAMES)
def test_tiktoken_parity(vocab, corpus, name):
    tok, reference = vocab(name), _reference(name)
    assert tok.special_tokens == reference._special_tokens
    assert tok.vocab_size == len(reference._mergeable_ranks) + len(reference._special_tokens)
    mine = tok.encode_batch(corpus, disallowed_special=())
    assert_same_ids(mine, reference.encode_ordinary_batch(corpus), corpus, reference.decode, "tiktoken")
    # Special tokens in the text: allowed -> their ids, as tiktoken does.
    specials = list(tok.special_tokens)
    mixed = [doc[:500] + specials[i % len(specials)] + doc[500:1000] for i, doc in enumerate(corpus[::20])]
    assert_same_ids(
        tok.encode_batch(mixed, allowed_special="all"), reference.encode_batch(mixed, allowed_special="all"), mixed, reference.decode, "tiktoken"
    )


@pytest.mark.parametrize("name", NAMES)
def test_hf_tokenizers_parity_on_our_export(vocab, corpus, name):
    tok = vocab(name)
    hf = tok.to_hf()
    theirs = [encoding.ids for encoding in hf.encode_batch(corpus, add_special_tokens=False)]
    assert_same_ids(tok.encode_batch(corpus, allowed_special="all"), theirs, corpus, tok.decode, "HF tokenizers")


def test_llama3_pre_tokenizer_with_cl100k_ranks_matches_hf(vocab, corpus):
    """Llama 3's shape: cl100k-style ranks with Llama 3's Split regex (HF form), ignore_merges."""
    import dataclasses

    tok = tokfree.Tokenizer(dataclasses.replace(vocab("cl100k_base").to_parts(), pre_tokenizer="llama3"))
    hf = tok.to_hf()
    sample = corpus[::4]
    theirs = [encoding.ids for encoding in hf.encode_batch(sample, add_special_tokens=False)]
    assert_same_ids(tok.encode_batch(sample, allowed_special="all"), theirs, sample, tok.decode, "HF tokenizers")


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_through_tokenizer_json(vocab, corpus, name, tmp_path):
    tok = vocab(name)
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    again = tokfree.Tokenizer.from_file(path)
    assert again.special_tokens == tok.special_tokens and again.vocab_size == tok.vocab_size
    sample = corpus[::3]
    assert_same_ids(again.encode_batch(sample, allowed_special="all"), tok.encode_batch(sample, allowed_special="all"), sample, tok.decode, "the original")
    again.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_through_tiktoken_file(vocab, corpus, name, tmp_path):
    tok = vocab(name)
    path = tmp_path / f"{name}.tiktoken"
    tok.save(path, format="tiktoken")
    # Byte-identical to the published file: same ranks, same order, same spelling.
    assert path.read_bytes() == (tokfree.data.cache_dir() / tokfree.data.ENCODINGS[name].file).read_bytes()
    again = tokfree.Tokenizer.from_tiktoken(path, pre_tokenizer=tok.pre_tokenizer, special_tokens=tok.special_tokens)
    assert again.to_parts() == tok.to_parts()
    sample = corpus[::5]
    assert again.encode_batch(sample, allowed_special="all") == tok.encode_batch(sample, allowed_special="all")


def test_gpt2_files_equal_the_gpt2_rank_file(vocab, corpus):
    """OpenAI's encoder.json + vocab.bpe (HF merge-list semantics) and gpt2.tiktoken (rank semantics)."""
    files = tokfree.Tokenizer.from_gpt2_files(ROOT / "data/gpt2/encoder.json", ROOT / "data/gpt2/vocab.bpe")
    ranks = vocab("gpt2")
    assert files.special_tokens == ranks.special_tokens == {"<|endoftext|>": 50256}
    assert files.vocab_size == ranks.vocab_size == 50257
    assert all(files.id_to_token(i) == ranks.id_to_token(i) for i in range(50256))
    assert_same_ids(files.encode_batch(corpus, allowed_special="all"), ranks.encode_batch(corpus, allowed_special="all"), corpus, ranks.decode, "gpt2.tiktoken")


def test_tiktoken_pattern_strings_select_the_presets(vocab):
    tok = vocab("cl100k_base")
    path = tokfree.data.cache_dir() / "cl100k_base.tiktoken"
    again = tokfree.Tokenizer.from_tiktoken(path, pre_tokenizer=PUBLISHED["cl100k_base"]["pat_str"])
    assert again.pre_tokenizer == tok.pre_tokenizer == "gpt4"
