"""Streaming file encode (tokfree.io.stream): the chunked ids equal `encode` of the whole text.

The oracle is the whole-text `Tokenizer.encode` (no chunking at all), on random texts written to
a file and streamed with tiny chunks, for every pre-tokenizer preset, a custom regex, NFC/NFKC
normalizers and special tokens (also ones containing a newline, which a cut could split).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokfree
from tokfree.errors import InputFileError, SpecialTokenError, TokfreeError
from tokfree.io import stream
from tqdm.auto import tqdm

from conftest import PRESETS, ROOT

# Pieces that exercise the cut rule: newlines before letters/digits (the cut points), CRLF, runs
# of spaces before a newline (gpt2's `\s+(?!\S)`), apostrophes, numbers, non-ASCII letters,
# combining marks (NFC composes "e\u0301"), compatibility characters (NFKC), emoji, special tokens.
PIECES = ["a", "Zq", "7", "42", " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "'s", "'LL", "é", "e\u0301", "ﬁ", "Ｂ",
          "日本", "🙂", ".", "!?", "<|endoftext|>", "<pad>", "<|endo", "\nab", "x\na"]
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
CUSTOM = r"\p{L}+|\p{N}|[^\s\p{L}\p{N}]+|\s+"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _file(data: bytes) -> str:
    handle, name = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return name


def _streamed(tok: tokfree.Tokenizer, text: str, chunk_bytes: int, **options) -> list[int]:
    name = _file(text.encode("utf-8"))
    try:
        arrays = list(tok.iter_encode_file(name, chunk_bytes=chunk_bytes, **options))
    finally:
        os.unlink(name)
    assert all(a.dtype == np.uint32 and a.ndim == 1 for a in arrays)
    return np.concatenate(arrays).tolist() if arrays else []


@pytest.fixture(scope="module")
def custom(documents) -> tokfree.Tokenizer:
    return tokfree.train_bpe(iter(documents), 600, pre_tokenizer=CUSTOM, special_tokens=["<|endoftext|>", "<pad>"], show_progress=False)


def _max_id(parts) -> int:
    return max(max(i for i, _ in parts.vocab), max(i for _, i in parts.special_tokens))


def _with(tok: tokfree.Tokenizer, **changes) -> tokfree.Tokenizer:
    return tokfree.Tokenizer(dataclasses.replace(tok.to_parts(), **changes))


@pytest.mark.filterwarnings("ignore:pre-tokenizer 'none' has no known safe cut")
@pytest.mark.parametrize("preset", PRESETS)
@FAST
@given(text=texts, chunk_bytes=st.integers(1, 40), threads=st.sampled_from([1, 2]))
def test_streamed_ids_equal_whole_text_encode(trained, preset, text, chunk_bytes, threads):
    tok = trained(preset)
    expected = tok.encode(text, allowed_special="all")
    assert _streamed(tok, text, chunk_bytes, allowed_special="all", num_threads=threads) == expected
    # Special text neither allowed nor disallowed is plain text, in the stream as in encode.
    assert _streamed(tok, text, chunk_bytes, disallowed_special=()) == tok.encode(text, disallowed_special=())


@pytest.mark.parametrize("normalizer", ["NFC", "NFKC"])
@FAST
@given(text=texts, chunk_bytes=st.integers(1, 40))
def test_normalizers_stream_exactly(trained, normalizer, text, chunk_bytes):
    tok = _with(trained("gpt4"), normalizer=normalizer)
    assert _streamed(tok, text, chunk_bytes, allowed_special="all") == tok.encode(text, allowed_special="all")


@FAST
@given(text=texts, chunk_bytes=st.integers(1, 40))
def test_special_token_containing_a_newline_is_never_cut(trained, text, chunk_bytes):
    # "\nab" and "x\na" contain cut points (a newline before a letter); a cut inside one would split it.
    base = trained("gpt2")
    parts = base.to_parts()
    top = _max_id(parts)
    tok = _with(base, special_tokens=[*parts.special_tokens, ("\nab", top + 1), ("x\na", top + 2)])
    assert _streamed(tok, text, chunk_bytes, allowed_special="all") == tok.encode(text, allowed_special="all")


def test_newline_special_token_with_a_normalizer_is_refused(trained, tmp_path):
    base = trained("gpt2")
    parts = base.to_parts()
    tok = _with(base, normalizer="NFC", special_tokens=[*parts.special_tokens, ("\nab", _max_id(parts) + 1)])
    path = tmp_path / "a.txt"
    path.write_text("a\nb\n")
    with pytest.raises(TokfreeError, match="contains a newline"):
        tok.iter_encode_file(path)


@FAST
@given(text=texts, chunk_bytes=st.integers(1, 40))
def test_custom_regex_is_exact_as_one_chunk(custom, text, chunk_bytes):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = _streamed(custom, text, chunk_bytes, allowed_special="all")
    assert got == custom.encode(text, allowed_special="all")
    assert any("no known safe cut" in str(w.message) for w in caught)


def test_disallowed_special_raises_as_encode_does(trained, tmp_path):
    tok = trained("gpt2")
    path = tmp_path / "s.txt"
    path.write_text("hello\nworld\n" * 50 + "<|endoftext|>\n")
    with pytest.raises(SpecialTokenError):
        tok.encode(path.read_text())
    with pytest.raises(SpecialTokenError):
        list(tok.iter_encode_file(path, chunk_bytes=16))


def test_chunks_are_bounded_and_grow_only_over_a_stretch_without_cuts(trained, tmp_path):
    tok = trained("gpt2")
    long_line = "x" * 5000  # no newline before an alphanumeric for 5000 bytes: one chunk
    data = ("short line\n" * 400 + long_line + "\n" + "tail line\n" * 400).encode()
    path = tmp_path / "c.txt"
    path.write_bytes(data)
    with tqdm(disable=True) as bar:
        pieces = list(stream._chunks(tok, str(path), 256, [], bar))
    assert b"".join(data for _, data in pieces) == data
    assert [offset for offset, _ in pieces] == list(np.cumsum([0] + [len(d) for _, d in pieces[:-1]]))
    sizes = [len(d) for _, d in pieces]
    assert max(sizes) <= 2 * (len(long_line) + 256)  # the grown chunk doubles until it holds a cut: < 2x (stretch + chunk)
    # Elsewhere a chunk is the 256 bytes read plus what was left after the last cut (under a line).
    assert sum(size <= 256 + 11 for size in sizes) >= len(sizes) - 2


def test_text_without_newlines_is_one_chunk(trained):
    tok = trained("gpt4")
    text = "no newline at all, " * 300
    assert _streamed(tok, text, 64) == tok.encode(text)


def test_invalid_utf8_names_the_byte_offset(trained, tmp_path):
    tok = trained("gpt2")
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line\n" * 100 + b"caf\xe9\n" + b"more\n" * 10)
    with pytest.raises(InputFileError, match=r"offset 1003 \(0xe9\) is not valid UTF-8"):
        list(tok.iter_encode_file(path, chunk_bytes=64))


def test_missing_file_and_bad_arguments_raise_at_call_time(trained, tmp_path):
    tok = trained("gpt2")
    with pytest.raises(InputFileError, match="no such file"):
        tok.iter_encode_file(tmp_path / "missing.txt")
    path = tmp_path / "a.txt"
    path.write_text("a\n")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(TokfreeError, match="chunk_bytes"):
            tok.iter_encode_file(path, chunk_bytes=bad)
    with pytest.raises(TokfreeError, match="num_threads"):
        tok.iter_encode_file(path, num_threads=0)
    with pytest.raises(TokfreeError, match="dtype"):
        tok.encode_file(path, tmp_path / "o.bin", dtype="int64")


def test_empty_file(trained, tmp_path):
    tok = trained("gpt2")
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert list(tok.iter_encode_file(path)) == []
    assert tok.encode_file(path, tmp_path / "o.bin") == 0
    assert (tmp_path / "o.bin").read_bytes() == b""


@pytest.mark.parametrize("dtype", ["uint32", "int32"])
def test_encode_file_writes_little_endian_ids(trained, documents, tmp_path, dtype):
    tok = trained("gpt2")
    text = "\n".join(documents)[:20000]
    path = tmp_path / "in.txt"
    path.write_bytes(text.encode("utf-8"))
    out = tmp_path / "ids.bin"
    count = tok.encode_file(path, out, dtype=dtype, chunk_bytes=512, num_threads=2)
    ids = np.fromfile(out, dtype="<u4" if dtype == "uint32" else "<i4")
    assert count == len(ids) and ids.tolist() == tok.encode(text)


def test_cli_encode_out_streams_to_a_file(trained, tmp_path):
    tok = trained("gpt2")
    tok.save(tmp_path / "tok.json")
    text = "Hello world\nsecond line <|endoftext|>\n" * 30
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "ids.bin"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "tokfree", "encode", "--tokenizer", str(tmp_path / "tok.json"), "--out", str(out),
                          "--allow-special", str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert np.fromfile(out, dtype="<u4").tolist() == tok.encode(text, allowed_special="all")
    assert "wrote" in run.stderr
    refused = subprocess.run([sys.executable, "-m", "tokfree", "encode", "--tokenizer", str(tmp_path / "tok.json"), "--out", str(out), "-"],
                             capture_output=True, text=True, env=env, input="x", timeout=120)
    assert refused.returncode == 2 and "not stdin" in refused.stderr


def test_streaming_memory_is_bounded(trained, tmp_path):
    """A 40 MB file streams in a subprocess whose peak RSS grows by far less than the file."""
    tok = trained("gpt2")
    tok.save(tmp_path / "tok.json")
    path = tmp_path / "big.txt"
    line = ("The quick brown fox jumps over the lazy dog 1234.\n" * 20).encode()
    with path.open("wb") as file:
        for _ in range(40_000_000 // len(line)):
            file.write(line)
    script = (
        "import sys, tokfree\n"
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024\n"
        "tok = tokfree.Tokenizer.from_file(sys.argv[1]); before = hwm()\n"
        "n = sum(a.size for a in tok.iter_encode_file(sys.argv[2]))\n"
        "print(n, hwm() - before)\n"
    )
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "tok.json"), str(path)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    count, grown_mb = run.stdout.split()
    assert int(count) > 1_000_000
    assert float(grown_mb) < 40, f"peak RSS grew by {grown_mb} MB while streaming a 40 MB file"


def test_method_default_chunk_is_the_module_default():
    assert tokfree.Tokenizer.iter_encode_file.__kwdefaults__["chunk_bytes"] == stream.DEFAULT_CHUNK_BYTES
    assert tokfree.Tokenizer.encode_file.__kwdefaults__["chunk_bytes"] == stream.DEFAULT_CHUNK_BYTES
