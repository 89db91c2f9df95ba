"""Distributed training and encoding on Dask (tokfree.distributed) and the counter export they ship.

The oracle is the single-process path: `tokfree.train_bpe(iter(texts))` and `encode_batch` on the
same texts; the export format is checked against a small parser of its documented layout and
`collections.Counter` over `tokfree.pretokenize.split`.
"""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tokfree
from tokfree import _rust
from tokfree.errors import PatternError, SpecialTokenError, TokfreeError
from tokfree.pretokenize import split
from tokfree.trainers.bpe import train_counted

db = pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

from tokfree.distributed import count_pretokens_dask, encode_dask, train_bpe_dask  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client():
    """A real cluster: two worker processes with one thread each, no dashboard."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="2GiB"
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def parse_export(data: bytes) -> tuple[str, dict[bytes, int]]:
    """The documented layout of `PretokenCounter.to_bytes`, read independently of Rust."""
    assert data[:8] == b"TKFCOUNT"
    version, spec_len = struct.unpack_from("<II", data, 8)
    assert version == 1
    at = 16 + spec_len
    spec = data[16:at].decode()
    (entries,) = struct.unpack_from("<Q", data, at)
    at += 8
    counts: dict[bytes, int] = {}
    for _ in range(entries):
        (length,) = struct.unpack_from("<I", data, at)
        key = data[at + 4 : at + 4 + length]
        (count,) = struct.unpack_from("<Q", data, at + 4 + length)
        counts[key] = count
        at += 12 + length
    assert at == len(data)
    return spec, counts


def counter_of(texts: list[str], pre_tokenizer: str = "gpt2") -> _rust.PretokenCounter:
    counter = _rust.PretokenCounter(pre_tokenizer)
    counter.add_texts(texts)
    return counter


texts_strategy = st.lists(st.text(st.sampled_from("ab c\n\t1é.'"), max_size=30), max_size=12)


@settings(max_examples=60, deadline=None)
@given(texts_strategy, st.sampled_from(["gpt2", "gpt4", "whitespace", "none"]))
def test_export_holds_the_counts_of_the_pre_tokens_in_byte_order(texts, pre_tokenizer):
    data = counter_of(texts, pre_tokenizer).to_bytes()
    spec, counts = parse_export(data)
    want = Counter(piece.encode() for text in texts for piece in split(text, pre_tokenizer) if piece)
    assert spec == pre_tokenizer
    assert counts == dict(want)
    assert list(counts) == sorted(counts)
    again = _rust.PretokenCounter.from_bytes(data)
    assert again.to_bytes() == data and again.pre_tokenizer == pre_tokenizer
    assert pickle.loads(pickle.dumps(again)).to_bytes() == data


@settings(max_examples=60, deadline=None)
@given(texts_strategy, st.integers(1, 4), st.randoms(use_true_random=False))
def test_merging_parts_in_any_order_equals_counting_everything(texts, parts, rng):
    whole = counter_of(texts).to_bytes()
    pieces = [counter_of(texts[i::parts]) for i in range(parts)]
    rng.shuffle(pieces)
    before = [piece.to_bytes() for piece in pieces]
    merged = _rust.PretokenCounter("gpt2")
    for piece in pieces:
        merged.merge(piece)
    assert merged.to_bytes() == whole
    assert [piece.to_bytes() for piece in pieces] == before  # merge leaves its argument unchanged
    assert _rust.PretokenCounter.merge_exports(before) == whole


def test_merge_refuses_another_pre_tokenizer_and_consumed_counters():
    counter = counter_of(["a b"])
    with pytest.raises(TokfreeError, match='"gpt4".*"gpt2"'):
        counter.merge(counter_of(["a b"], "gpt4"))
    counter.merge(counter)  # itself: counts double, no deadlock
    assert parse_export(counter.to_bytes())[1] == {b"a": 2, b" b": 2}
    used = counter_of(["a"])
    train_counted(used, 256, [], 2, None, None, False)
    with pytest.raises(TokfreeError, match="already consumed"):
        counter.merge(used)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_hostile_bytes_raise_tokfree_error(junk):
    good = counter_of(["low lower lowest"]).to_bytes()
    for data in (junk, good[:8] + junk, good[: len(junk) % len(good)], good + junk[:1]):
        try:
            counter = _rust.PretokenCounter.from_bytes(data)
        except TokfreeError:
            continue
        assert counter.to_bytes() == data  # what is accepted is a canonical export


def test_hostile_bytes_name_the_problem():
    header = b"TKFCOUNT" + struct.pack("<II", 1, 4) + b"gpt2"
    cases = {
        b"": "header needs 8 bytes",
        b"TKFCOUNT" + struct.pack("<II", 2, 0): "format version 2",
        header + struct.pack("<Q", 2**64 - 1): "pre-tokens announced",
        header + struct.pack("<QI", 1, 2**32 - 1) + b"x" * 9: "needs 4294967295 bytes",
        header + struct.pack("<QI", 1, 1) + b"a" + struct.pack("<Q", 0): "count 0",
    }
    for data, message in cases.items():
        with pytest.raises(TokfreeError, match=message):
            _rust.PretokenCounter.from_bytes(data)
    with pytest.raises(PatternError):
        _rust.PretokenCounter.from_bytes(b"TKFCOUNT" + struct.pack("<II", 1, 1) + b"(" + struct.pack("<Q", 0))
    good = counter_of(["a b"]).to_bytes()
    with pytest.raises(TokfreeError, match="export #1 counts pre-tokens split by \"gpt4\""):
        _rust.PretokenCounter.merge_exports([good, counter_of(["a"], "gpt4").to_bytes()])
    with pytest.raises(TokfreeError, match="malformed"):
        _rust.PretokenCounter.merge_exports([good, good[:-1]])


def saved(tok: tokfree.Tokenizer, path: Path) -> bytes:
    tok.save(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("pre_tokenizer", "npartitions", "specials"),
    [("gpt2", 1, []), ("gpt4", 3, ["<|endoftext|>"]), ("gpt2", 16, ["<|endoftext|>", "<pad>"])],
)
def test_cluster_training_writes_the_single_process_tokenizer_json(client, documents, tmp_path, pre_tokenizer, npartitions, specials):
    options = dict(pre_tokenizer=pre_tokenizer, special_tokens=specials, min_frequency=2, show_progress=False)
    want = saved(tokfree.train_bpe(iter(documents), 1200, **options), tmp_path / "single.json")
    got = train_bpe_dask(db.from_sequence(documents, npartitions=npartitions), 1200, split_every=2, **options)
    assert saved(got, tmp_path / "dask.json") == want


def test_cluster_training_from_a_dataframe_and_from_records(client, documents, tmp_path):
    texts = documents[::3]
    want = saved(tokfree.train_bpe(iter(texts), 700, show_progress=False), tmp_path / "single.json")
    frame = dd.from_pandas(pd.DataFrame({"text": texts, "n": range(len(texts))}), npartitions=5)
    records = db.from_sequence([{"text": t} for t in reversed(texts)], npartitions=4)
    for collection, column in ((frame, "text"), (frame["text"], None), (records, "text")):
        got = train_bpe_dask(collection, 700, text_column=column, show_progress=False)
        assert saved(got, tmp_path / "dask.json") == want


def test_cluster_counter_equals_one_counter(client, documents):
    want = counter_of(documents, "gpt4").to_bytes()
    got = count_pretokens_dask(db.from_sequence(documents, npartitions=6), "gpt4", split_every=3)
    assert got.to_bytes() == want


def test_cluster_encoding_gives_the_ids_of_encode_batch(client, documents, trained):
    tok = trained("gpt2")
    texts = documents[:60] + ["<|endoftext|> after", ""]
    want = tok.encode_batch(texts, allowed_special="all")
    bag = encode_dask(tok, db.from_sequence(texts, npartitions=5), allowed_special="all")
    assert bag.compute() == want
    frame = dd.from_pandas(pd.DataFrame({"text": texts}), npartitions=4)
    ids = encode_dask(tok, frame, text_column="text", allowed_special="all").compute()
    assert list(ids.index) == list(range(len(texts))) and [list(x) for x in ids] == want


def test_worker_errors_reach_the_client(client):
    with pytest.raises(TokfreeError, match="must be str"):
        count_pretokens_dask(db.from_sequence(["fine", 3], npartitions=2))
    tok = tokfree.train_bpe(iter(["ab ab"]), 257, special_tokens=["<s>"], show_progress=False)
    with pytest.raises(SpecialTokenError):
        encode_dask(tok, db.from_sequence(["a <s>"], npartitions=1)).compute()


def test_bad_arguments_fail_before_any_task_runs():
    bag = db.from_sequence(["a"], npartitions=1)  # no cluster: these never compute
    with pytest.raises(TokfreeError, match="vocab_size=100"):
        train_bpe_dask(bag, 100)
    with pytest.raises(TokfreeError, match="duplicates"):
        train_bpe_dask(bag, 300, special_tokens=["<s>", "<s>"])
    with pytest.raises(PatternError):
        count_pretokens_dask(bag, "(unclosed")
    with pytest.raises(TokfreeError, match="num_threads=0"):
        count_pretokens_dask(bag, num_threads=0)
    with pytest.raises(TokfreeError, match="dask.bag.Bag of str"):
        count_pretokens_dask(["a", "b"])  # type: ignore[arg-type]
    frame = dd.from_pandas(pd.DataFrame({"body": ["a"]}), npartitions=1)
    with pytest.raises(TokfreeError, match=r"text_column=None is not a column.*\['body'\]"):
        count_pretokens_dask(frame)
    with pytest.raises(TokfreeError, match="pass a tokfree.Tokenizer"):
        encode_dask("gpt2", bag)  # type: ignore[arg-type]


def test_importing_tokfree_does_not_import_dask():
    code = "import sys, tokfree, tokfree.distributed; print('dask' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
