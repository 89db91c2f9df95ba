"""Concurrency: the same ids from 8 Python threads at once, from forked and spawned worker pools
(after the parent has used the tokenizer and its Rust thread pool), and from `datasets.map`;
a Tokenizer pickles by its JSON.

Every pool test runs under a timeout, so a deadlock fails the test instead of hanging it.
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest

import tokfree
from tokfree.io.parts import TokenizerParts

TIMEOUT = 60  # seconds for a pool to finish; the work itself takes well under one


def texts() -> list[str]:
    words = ["hello", " world", " naïve", " café", "\n", " 123", " ünïcödé", " the", " lll", " hehe", "  ", "!?"]
    return ["".join(words[(i * 7 + j) % len(words)] for j in range(i % 40 + 1)) for i in range(400)]


def build() -> tokfree.Tokenizer:
    """Bytes plus a few merges (so the merge loop and its cache run) and one special token."""
    vocab = [(b, bytes([b])) for b in range(256)]
    merges = [(104, 101), (108, 108), (256, 257), (32, 119), (111, 114)]
    for left, right in merges:
        vocab.append((len(vocab), vocab[left][1] + vocab[right][1]))
    return tokfree.Tokenizer(TokenizerParts("gpt2", vocab, merges, [("<|endoftext|>", len(vocab))]))


@pytest.fixture(scope="module")
def tok() -> tokfree.Tokenizer:
    return build()


@pytest.fixture(scope="module")
def serial(tok) -> list[list[int]]:
    return [tok.encode(text) for text in texts()]


def test_eight_python_threads_encode_like_one(tok, serial):
    corpus = texts()
    with ThreadPoolExecutor(max_workers=8) as pool:
        singles = list(pool.map(tok.encode, corpus))
        batches = list(pool.map(lambda chunk: tok.encode_batch(corpus[chunk::8]), range(8)))
        with_offsets = list(pool.map(lambda text: tok.encode(text, offsets=True).ids, corpus))
    assert singles == serial
    assert with_offsets == serial
    for chunk, batch in enumerate(batches):
        assert batch == serial[chunk::8]


# --- pickling -------------------------------------------------------------------------------------


def test_pickle_round_trip_is_by_json(tok, serial):
    data = pickle.dumps(tok)
    assert b"<|endoftext|>" in data and b"tokfree" in data  # the JSON text travels, not internals
    copy = pickle.loads(data)
    assert isinstance(copy, tokfree.Tokenizer)
    assert [copy.encode(text) for text in texts()] == serial
    assert copy.to_parts() == tok.to_parts()
    assert copy.encode("<|endoftext|>", allowed_special="all") == tok.encode("<|endoftext|>", allowed_special="all")


def test_pickle_keeps_normalizer_and_added_flags(tok):
    import dataclasses

    parts = dataclasses.replace(tok.to_parts(), normalizer="NFKC", non_special_tokens=("<|endoftext|>",))
    original = tokfree.Tokenizer(parts)
    copy = pickle.loads(pickle.dumps(original))
    assert copy.to_parts() == parts
    assert copy.encode("ｈｅｌｌｏ") == original.encode("ｈｅｌｌｏ") == original.encode("hello")


def test_hybrid_tokenizer_pickles_by_json():
    from pathlib import Path

    from tokfree.trainers.morph import train_hybrid

    turkish = Path(__file__).resolve().parent.parent / "data" / "morph" / "turkish"
    hybrid = train_hybrid(iter(["ev evler evde Evler"] * 5), turkish, bpe_vocab_size=260, show_progress=False)
    data = pickle.dumps(hybrid)
    assert b'"model":"hybrid"' in data
    copy = pickle.loads(data)
    assert copy.to_json() == hybrid.to_json()
    for text in ("evler", "Evde ev", "kitap"):
        assert copy.encode(text) == hybrid.encode(text)


# --- worker processes -----------------------------------------------------------------------------

_WORKER_TOK: tokfree.Tokenizer | None = None


def _set_worker_tokenizer(tok: tokfree.Tokenizer) -> None:
    global _WORKER_TOK
    _WORKER_TOK = tok


def _encode_chunk(chunk: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    """Runs in a worker: one text at a time and as a batch on the Rust pool (2 threads)."""
    tok = _WORKER_TOK if _WORKER_TOK is not None else _INHERITED
    return [tok.encode(text) for text in chunk], tok.encode_batch(chunk, num_threads=2)


_INHERITED: tokfree.Tokenizer | None = None


def _run_pool(method: str, serial: list[list[int]], initargs: tuple) -> None:
    corpus = texts()
    chunks = [corpus[i::4] for i in range(4)]
    context = multiprocessing.get_context(method)
    with context.Pool(2, initializer=_set_worker_tokenizer if initargs else None, initargs=initargs) as pool:
        pending = pool.map_async(_encode_chunk, chunks)
        results = pending.get(timeout=TIMEOUT)  # a deadlocked worker raises TimeoutError here
    for chunk, (singles, batch) in enumerate(results):
        assert singles == serial[chunk::4]
        assert batch == serial[chunk::4]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_forked_workers_after_the_parent_used_the_rust_pool(tok, serial):
    """The parent starts the Rust thread pools (encode_batch with 2 and all threads) before
    forking; the children inherit the pools' bookkeeping but not their threads."""
    global _INHERITED
    corpus = texts()
    assert tok.encode_batch(corpus, num_threads=2) == serial
    assert tok.encode_batch(corpus) == serial
    _INHERITED = tok
    try:
        _run_pool("fork", serial, ())
    finally:
        _INHERITED = None


def _train(_: int) -> list[int]:
    tok = tokfree.train_bpe(iter(["hello world hehe, lll"] * 50), 270, show_progress=False)
    return tok.encode("hello world")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_forked_workers_can_train_after_the_parent_trained():
    """Training counts on a Rust pool too: a child forked after the parent trained must not wait
    on the parent's pool threads."""
    expected = _train(0)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map_async(_train, range(2)).get(timeout=TIMEOUT) == [expected] * 2


def test_spawned_workers_get_the_tokenizer_by_pickle(tok, serial):
    _run_pool("spawn", serial, (tok,))


# --- datasets -------------------------------------------------------------------------------------


def test_datasets_map_with_two_processes(tok, serial, tmp_path):
    datasets = pytest.importorskip("datasets")
    corpus = texts()[:64]
    table = datasets.Dataset.from_dict({"text": corpus})

    def add_ids(batch):
        return {"ids": tok.encode_batch(batch["text"])}

    tok.encode_batch(corpus)  # the parent has used the Rust pool before datasets forks
    mapped = table.map(add_ids, batched=True, batch_size=8, num_proc=2, cache_file_name=str(tmp_path / "cache.arrow"))
    assert mapped["ids"] == serial[:64]
