"""Training input from compressed files, JSONL, Hugging Face datasets and iterators, and
`Tokenizer.map_encode`.

The oracle is the iterator-of-str path: every other input holding the same documents must train a
byte-identical tokenizer (tokfree JSON). A plain file is one document, while an iterator gives one
document per text, and with a preset pre-tokenizer the two can differ only at document edges. The
documents here each end in a line break after a non-space character and begin with an ASCII
letter, so no pre-token crosses a document edge (the newline is a piece of its own under gpt2 and
ends the piece before it under gpt4): one file of the documents concatenated then counts exactly
like the documents one by one, and all five inputs must agree.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tokfree
from tokfree.errors import InputFileError, TokfreeError
from tokfree.io import sources
from tokfree.trainers.charlevel import train_charlevel
from tokfree.trainers.domain import train_domain_bpe
from tokfree.trainers.extend import extend_bpe
from tokfree.trainers.superword import train_superword

datasets = pytest.importorskip("datasets")

ROOT = Path(__file__).resolve().parent.parent
WORDS = "the quick brown fox jumps over lazy dog naïve café 2024 lower lowest newer widest".split()


def documents(count: int = 120) -> list[str]:
    """Documents ending in "<non-space>.\\n" and starting with an ASCII letter (see the module docs)."""
    docs = []
    for i in range(count):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 9)]
        line = " ".join(words)
        docs.append(f"{line.capitalize()} {i}.\n" if i % 4 else f"Doc {i}: {line},  {line}!\n")
    return docs


DOCS = documents()


def tokfree_json(tok: tokfree.Tokenizer, tmp_path: Path, name: str = "tok.json") -> bytes:
    path = tmp_path / name
    tok.save(path, format="tokfree")
    return path.read_bytes()


def write_jsonl(path: Path, docs: list[str], column: str = "text", opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as file:
        for number, doc in enumerate(docs):
            file.write(json.dumps({"id": number, column: doc}) + "\n")
    return path


def write_text(path: Path, text: str) -> Path:
    openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    with openers.get(path.suffix, open)(path, "wt", encoding="utf-8") as file:
        file.write(text)
    return path


@pytest.fixture()
def inputs(tmp_path):
    """The same documents as every kind of input."""
    text = "".join(DOCS)
    return {
        "plain file": write_text(tmp_path / "docs.txt", text),
        "gz": write_text(tmp_path / "docs.txt.gz", text),
        "bz2": write_text(tmp_path / "docs.txt.bz2", text),
        "xz": write_text(tmp_path / "docs.txt.xz", text),
        "jsonl": write_jsonl(tmp_path / "docs.jsonl", DOCS),
        "jsonl.gz": write_jsonl(tmp_path / "docs.jsonl.gz", DOCS, opener=gzip.open),
        "dataset": datasets.Dataset.from_dict({"text": DOCS, "id": list(range(len(DOCS)))}),
        "iterable dataset": datasets.Dataset.from_dict({"text": DOCS}).to_iterable_dataset(num_shards=2),
    }


KINDS = ["plain file", "gz", "bz2", "xz", "jsonl", "jsonl.gz", "dataset", "iterable dataset"]


def test_documents_do_not_interact_at_their_edges():
    # The premise of the oracle: one text of all documents counts like the documents one by one.
    for preset in ("gpt2", "gpt4"):
        one = tokfree.train_bpe(iter(["".join(DOCS)]), 400, pre_tokenizer=preset, show_progress=False)
        many = tokfree.train_bpe(iter(DOCS), 400, pre_tokenizer=preset, show_progress=False)
        assert one.to_parts() == many.to_parts()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("preset", ["gpt2", "gpt4"])
def test_train_bpe_every_input_equals_the_iterator(kind, preset, inputs, tmp_path):
    want = tokfree_json(tokfree.train_bpe(iter(DOCS), 420, pre_tokenizer=preset, min_frequency=2, show_progress=False), tmp_path, "want.json")
    got = tokfree.train_bpe(inputs[kind], 420, pre_tokenizer=preset, min_frequency=2, show_progress=False)
    assert tokfree_json(got, tmp_path) == want


def test_streamed_pieces_count_like_the_whole_file(tmp_path, monkeypatch):
    # Tiny pieces force many cuts; each must fall where no pre-token crosses, under every preset.
    text = "".join(DOCS) + "Tail  \n\nwith spaces \n  before\r\nbreaks\n123\n456 end"
    plain = write_text(tmp_path / "c.txt", text)
    packed = write_text(tmp_path / "c.txt.gz", text)
    monkeypatch.setattr(sources, "_PIECE_CHARS", 50)
    monkeypatch.setattr(sources, "_READ_BYTES", 37)
    pieces = list(sources.file_texts(str(packed)))
    assert len(pieces) > 20 and "".join(pieces) == text
    for piece, following in zip(pieces, pieces[1:]):
        assert re.search(r"\S\n$", piece) and re.match(r"[A-Za-z0-9]", following), (piece, following)
    for preset in ("gpt2", "gpt4", "o200k", "llama3", "whitespace", "superword"):
        want = tokfree.train_bpe(str(plain), 350, pre_tokenizer=preset, min_frequency=1, show_progress=False)
        got = tokfree.train_bpe(str(packed), 350, pre_tokenizer=preset, min_frequency=1, show_progress=False)
        assert got.to_parts() == want.to_parts(), preset


def test_mixed_list_and_glob_of_files(inputs, tmp_path):
    got = tokfree.train_bpe([inputs["plain file"], str(tmp_path / "*.gz"), inputs["jsonl"]], 400, show_progress=False)
    # The glob matches docs.jsonl.gz and docs.txt.gz: with the two others, the documents four times.
    assert got.to_parts() == tokfree.train_bpe(iter(DOCS * 4), 400, show_progress=False).to_parts()


def test_text_column(tmp_path):
    table = datasets.Dataset.from_dict({"body": DOCS, "title": ["x"] * len(DOCS)})
    path = write_jsonl(tmp_path / "docs.jsonl", DOCS, column="body")
    want = tokfree.train_bpe(iter(DOCS), 400, show_progress=False).to_parts()
    assert tokfree.train_bpe(table, 400, text_column="body", show_progress=False).to_parts() == want
    assert tokfree.train_bpe(path, 400, text_column="body", show_progress=False).to_parts() == want


def test_every_trainer_takes_datasets_and_compressed_files(inputs, tmp_path):
    table, packed = inputs["dataset"], inputs["gz"]
    runs = {
        "charlevel": lambda source: train_charlevel(source, 300, show_progress=False),
        "domain": lambda source: train_domain_bpe(source, 512, curated_tokens=[], special_tokens=(), show_progress=False),
        "superbpe": lambda source: train_superword(source, 330, transition=300, show_progress=False),
        "supertoken": lambda source: train_superword(source, 300, method="supertoken", show_progress=False),
        "extend": lambda source: extend_bpe(tokfree.train_bpe(iter(DOCS), 280, show_progress=False), source, 20, show_progress=False),
    }
    for name, run in runs.items():
        want = tokfree_json(run(iter(DOCS)), tmp_path, "want.json")
        assert tokfree_json(run(table), tmp_path) == want, name
        if name != "supertoken":  # it chunks each document at random: one file is one document
            assert tokfree_json(run(packed), tmp_path) == want, name


def test_multilingual_takes_datasets(tmp_path):
    from tokfree.trainers.multilingual import train_multilingual_bpe

    half = len(DOCS) // 2
    want = train_multilingual_bpe({"eng": iter(DOCS[:half]), "fra": iter(DOCS[half:])}, 400, show_progress=False)
    table = {"eng": datasets.Dataset.from_dict({"t": DOCS[:half]}), "fra": datasets.Dataset.from_dict({"t": DOCS[half:]})}
    got = train_multilingual_bpe(table, 400, text_column="t", show_progress=False)
    assert got.to_parts() == want.to_parts()


def test_morph_trainer_takes_datasets():
    from tokfree.trainers.morph import train_morph_bpe

    turkish = ["Evlerde kitaplar var.\n", "Evler büyük.\n", "Kitaplarımız evde.\n"] * 10
    language = ROOT / "data/morph/turkish"
    if not language.is_dir():
        pytest.skip("no bundled Turkish lexicon")
    want = train_morph_bpe(iter(turkish), language, 300, show_progress=False)
    got = train_morph_bpe(datasets.Dataset.from_dict({"text": turkish}), language, 300, show_progress=False)
    assert got.to_parts() == want.to_parts()


# --- errors ---------------------------------------------------------------------------------------


def test_dataset_dict_is_refused_naming_its_splits():
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": DOCS}), "test": datasets.Dataset.from_dict({"text": DOCS})})
    with pytest.raises(TokfreeError, match=r"DatasetDict with the splits 'train', 'test'; pass one split, e.g. inputs\['train'\]"):
        tokfree.train_bpe(splits, 300, show_progress=False)


def test_missing_column_lists_the_columns():
    table = datasets.Dataset.from_dict({"body": DOCS, "id": list(range(len(DOCS)))})
    with pytest.raises(TokfreeError, match=r"no column 'text'; its columns are 'body', 'id': pass text_column="):
        tokfree.train_bpe(table, 300, show_progress=False)


def test_non_string_row_is_named():
    table = datasets.Dataset.from_dict({"text": ["fine text\n", "more\n", None, "x\n"]})
    with pytest.raises(TokfreeError, match=r"row 2 of column 'text' is NoneType"):
        tokfree.train_bpe(table, 300, show_progress=False)
    numbers = datasets.Dataset.from_dict({"text": [1, 2, 3]})
    with pytest.raises(TokfreeError, match=r"row 0 of column 'text' is int"):
        tokfree.train_bpe(numbers, 300, show_progress=False)


def test_jsonl_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n\n{"body": "b"}\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad.jsonl line 3 has no field 'text' \(it has 'body'\); pass text_column="):
        tokfree.train_bpe(bad, 300, show_progress=False)
    bad.write_text('{"text": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"line 2 is not JSON"):
        tokfree.train_bpe(bad, 300, show_progress=False)
    bad.write_text('{"text": 5}\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"line 1: field 'text' is int, not str"):
        tokfree.train_bpe(bad, 300, show_progress=False)
    bad.write_bytes(b'{"text": "a"}\n' * 3000 + b'{"text": "caf\xe9"}\n')
    with pytest.raises(InputFileError, match=r"bad.jsonl line 3001 is not valid UTF-8 \(byte 13 of the line\)"):
        tokfree.train_bpe(bad, 300, show_progress=False)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b'{"text": "a b c"}\n' * 100)[:-12])
    with pytest.raises(InputFileError, match=r"cut.jsonl.gz: EOFError.*\.gz data is corrupt or truncated"):
        tokfree.train_bpe(cut, 300, show_progress=False)


def test_corrupt_and_non_utf8_compressed_files(tmp_path):
    truncated = tmp_path / "cut.txt.gz"
    truncated.write_bytes(gzip.compress("".join(DOCS).encode())[:-20])
    with pytest.raises(InputFileError, match=r"cut.txt.gz: EOFError.*\.gz data is corrupt or truncated"):
        tokfree.train_bpe(truncated, 300, show_progress=False)
    latin = tmp_path / "latin.txt.xz"
    latin.write_bytes(lzma.compress(b"hello caf\xe9 world"))
    with pytest.raises(InputFileError, match=r"latin.txt.xz is not valid UTF-8 \(byte 9\)"):
        tokfree.train_bpe(latin, 300, show_progress=False)


def test_utf8_error_offset_counts_from_the_file_start(tmp_path, monkeypatch):
    # Read in 7-byte blocks, the bad byte (after 2-byte characters) is still named by its file offset.
    path = tmp_path / "bad.txt"
    path.write_bytes("héllo wörld\n".encode() * 5 + b"caf\xe9\n")
    monkeypatch.setattr(sources, "_READ_BYTES", 7)
    offset = len("héllo wörld\n".encode()) * 5 + 3
    with pytest.raises(InputFileError, match=rf"bad.txt is not valid UTF-8 \(byte {offset}\)"):
        list(sources.file_texts(str(path)))
    with pytest.raises(InputFileError, match=rf"bad.txt is not valid UTF-8 \(byte {offset}\)"):
        train_charlevel(path, 300, show_progress=False)  # NFKC: read in Python, not by Rust


def test_zst_files(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    path = tmp_path / "docs.txt.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress("".join(DOCS).encode()))
    want = tokfree.train_bpe(iter(DOCS), 400, show_progress=False).to_parts()
    assert tokfree.train_bpe(path, 400, show_progress=False).to_parts() == want


def test_zst_without_zstandard_names_the_fix(tmp_path, monkeypatch):
    path = tmp_path / "docs.txt.zst"
    path.write_bytes(b"not really zstd")
    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setitem(sys.modules, "compression", None)
    with pytest.raises(InputFileError, match=r"needs the zstandard package .*pip install zstandard"):
        tokfree.train_bpe(path, 300, show_progress=False)


def test_existing_errors_are_unchanged(tmp_path):
    with pytest.raises(InputFileError, match="is not a file and matches no file as a glob"):
        tokfree.train_bpe(str(tmp_path / "missing*.txt"), 300, show_progress=False)
    with pytest.raises(TokfreeError, match="inputs is bytes"):
        tokfree.train_bpe(b"bytes", 300, show_progress=False)
    with pytest.raises(TokfreeError, match=r"text #1 must be str"):
        tokfree.train_bpe(iter(["a", 5]), 300, show_progress=False)


def test_import_tokfree_does_not_import_datasets():
    code = "import sys, tokfree; tokfree.train_bpe(iter(['a b a b']), 258, show_progress=False); print('datasets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_progress_bar_counts_rows_with_total(capsys):
    table = datasets.Dataset.from_dict({"text": DOCS})
    tokfree.train_bpe(table, 260, show_progress=True)
    assert f"{len(DOCS)}/{len(DOCS)}" in capsys.readouterr().err
    tokfree.train_bpe(table, 260, show_progress=False)
    assert capsys.readouterr().err == ""


# --- map_encode -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tok():
    return tokfree.train_bpe(iter(DOCS), 400, special_tokens=["<|endoftext|>"], show_progress=False)


@pytest.mark.parametrize("num_proc", [None, 2])
def test_map_encode_adds_the_ids(tok, num_proc):
    table = datasets.Dataset.from_dict({"text": DOCS, "id": list(range(len(DOCS)))})
    mapped = tok.map_encode(table, num_proc=num_proc, batch_size=16, show_progress=False)
    assert mapped.column_names == ["text", "id", "input_ids"]
    assert mapped["input_ids"] == tok.encode_batch(DOCS)
    assert mapped["id"] == list(range(len(DOCS)))


def test_map_encode_iterable_dataset(tok):
    stream = datasets.Dataset.from_dict({"body": DOCS}).to_iterable_dataset(num_shards=3)
    mapped = tok.map_encode(stream, column="body", output_column="ids", batch_size=7)
    assert [row["ids"] for row in mapped] == tok.encode_batch(DOCS)
    with pytest.raises(TokfreeError, match=r"num_proc=2 is not available for an IterableDataset"):
        tok.map_encode(stream, column="body", num_proc=2)


def test_map_encode_special_tokens(tok):
    table = datasets.Dataset.from_dict({"text": ["end<|endoftext|>"]})
    with pytest.raises(TokfreeError, match="endoftext"):
        tok.map_encode(table, show_progress=False)
    mapped = tok.map_encode(table, allowed_special="all", show_progress=False)
    assert mapped["input_ids"][0][-1] == 0


def test_map_encode_errors(tok):
    table = datasets.Dataset.from_dict({"body": DOCS})
    with pytest.raises(TokfreeError, match=r"no column 'text'; its columns are 'body': pass column="):
        tok.map_encode(table)
    with pytest.raises(TokfreeError, match=r"DatasetDict with the splits 'train'"):
        tok.map_encode(datasets.DatasetDict({"train": table}), column="body")
    with pytest.raises(TokfreeError, match=r"takes a datasets.Dataset or IterableDataset, got list"):
        tok.map_encode(DOCS)  # type: ignore[arg-type]
    with pytest.raises(TokfreeError, match=r"num_proc=0 must be None or an int >= 1"):
        tok.map_encode(table, column="body", num_proc=0)

