"""Hostile and malformed files: each gets a clear `TokfreeError` within bounded time and memory.

Every loader is fed the file a careless or hostile source could hand it: unknown or duplicate ids,
merges of missing tokens or that would form a cycle, strings outside the byte-to-unicode alphabet,
invalid UTF-8, absurd sizes (a sparse 1 GB file, ten million entries), deeply nested JSON, and
safetensors with the wrong shapes or dtypes. Nothing here may raise anything but a TokfreeError.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path

import pytest

import tokfree
from tokfree.errors import InputFileError, TokenizerFileError, TokfreeError
from tokfree.io.bytelevel import BYTE_TO_CHAR
from tokfree.io.files import MAX_FILE_BYTES, MAX_JSON_VALUES, MAX_VOCAB_SIZE
from tokfree.io.parts import TokenizerParts
from tokfree.models.hybrid import HybridTokenizer

ROOT = Path(__file__).resolve().parent.parent
SPECIAL = "<|endoftext|>"


def small_tokenizer() -> tokfree.Tokenizer:
    """256 bytes, the merges (h, e) -> 256 and (l, l) -> 257, and one special token (id 258)."""
    vocab = [(b, bytes([b])) for b in range(256)] + [(256, b"he"), (257, b"ll")]
    return tokfree.Tokenizer(TokenizerParts("gpt2", vocab, [(104, 101), (108, 108)], [(SPECIAL, 258)]))


def hf_document() -> dict:
    return json.loads(tokfree.io.hf.parts_to_hf(small_tokenizer().to_parts()))


def native_document() -> dict:
    return json.loads(tokfree.io.native.parts_to_native(small_tokenizer().to_parts()))


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def refused(path: Path, error: type[TokfreeError], message: str | None, *, load=tokfree.Tokenizer.from_file) -> TokfreeError:
    with pytest.raises(error, match=message) as info:
        load(path)
    return info.value


def test_the_fixture_loads(tmp_path):
    """The unmutated documents load: every refusal below is caused by its one mutation."""
    for name, document in (("hf", hf_document()), ("native", native_document())):
        tok = tokfree.Tokenizer.from_file(write_json(tmp_path / f"{name}.json", document))
        assert tok.encode("hello") == [256, 257, 111]


# --- ids and merges -------------------------------------------------------------------------------


def test_hf_duplicate_ids_are_refused(tmp_path):
    document = hf_document()
    document["model"]["vocab"]["Ġhe"] = 256  # "he" has id 256 too
    refused(write_json(tmp_path / "t.json", document), TokenizerFileError, "256")


def test_hf_negative_and_non_integer_ids_are_refused(tmp_path):
    for bad in (-1, "7", 1.5, True, None):
        document = hf_document()
        document["model"]["vocab"]["he"] = bad
        refused(write_json(tmp_path / "t.json", document), TokenizerFileError, "ids are non-negative integers")


def test_hf_huge_id_is_refused_without_allocating_for_it(tmp_path):
    document = hf_document()
    document["model"]["vocab"]["he"] = 2**31 + 5
    start = time.perf_counter()
    with pytest.raises(TokenizerFileError):
        tokfree.Tokenizer.from_file(write_json(tmp_path / "t.json", document))
    assert time.perf_counter() - start < 5


def test_hf_merge_of_missing_token_is_refused(tmp_path):
    document = hf_document()
    document["model"]["merges"].append(["x", "yz"])
    refused(write_json(tmp_path / "t.json", document), TokenizerFileError, r"model.merges\[2\].*'yz'.*not in the vocab")


def test_hf_merge_whose_result_is_missing_is_refused(tmp_path):
    document = hf_document()
    del document["model"]["vocab"]["ll"]
    refused(write_json(tmp_path / "t.json", document), TokenizerFileError, "'ll', which is not in the vocab")


def test_merges_that_form_a_cycle_are_refused(tmp_path):
    """tokfree JSON lists merges as ids: (256, 257) makes "hell", which is no token; a merge whose
    result is one of its own inputs ("he" + "" ...) cannot be written, so the cycle is a merge that
    makes a token from a token it is needed to make: "he" listed as made from "he" and "h"."""
    document = native_document()
    document["merges"].append([256, 104])  # "heh": not a token
    refused(write_json(tmp_path / "a.json", document), TokenizerFileError, None)
    document = native_document()
    document["merges"].insert(0, [256, 257])  # rank 0 uses 256 before the merge that makes it
    refused(write_json(tmp_path / "b.json", document), TokenizerFileError, None)


def test_native_unknown_merge_ids_are_refused(tmp_path):
    for merge in ([104, 999], [-1, 101], [104.5, 101], ["h", "e"], [104]):
        document = native_document()
        document["merges"].append(merge)
        refused(write_json(tmp_path / "t.json", document), TokenizerFileError, None)


def test_native_duplicate_ids_and_tokens_are_refused(tmp_path):
    document = native_document()
    document["vocab"].append([256, "xy"])
    refused(write_json(tmp_path / "a.json", document), TokenizerFileError, "256")
    document = native_document()
    document["vocab"].append([300, "he"])
    refused(write_json(tmp_path / "b.json", document), TokenizerFileError, None)


def test_special_id_that_is_a_model_id_is_refused(tmp_path):
    document = native_document()
    document["special_tokens"] = [[SPECIAL, 256]]
    refused(write_json(tmp_path / "t.json", document), TokenizerFileError, "already a model token")


def test_strings_outside_the_byte_alphabet_are_refused(tmp_path):
    outside = "\u0400"  # Cyrillic Ѐ: not one of the 256 byte characters
    assert outside not in BYTE_TO_CHAR
    document = hf_document()
    document["model"]["vocab"][outside] = 259
    refused(write_json(tmp_path / "a.json", document), TokenizerFileError, "outside the byte-level alphabet")
    document = native_document()
    document["vocab"].append([259, "a" + outside])
    refused(write_json(tmp_path / "b.json", document), TokenizerFileError, "byte-level string")


def test_invalid_utf8_is_refused(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(b'{"version": "1.0", "model": {"vocab": {"\xff\xfe": 0}}}')
    refused(path, TokenizerFileError, "not valid JSON")
    vocab, merges = tmp_path / "vocab.json", tmp_path / "merges.txt"
    vocab.write_bytes(b'{"a": 0, "\xc3": 1}')
    merges.write_text("#version: 0.2\n")
    with pytest.raises(TokenizerFileError, match="not valid JSON"):
        tokfree.Tokenizer.from_gpt2_files(vocab, merges)
    vocab.write_text('{"a": 0, "b": 1, "ab": 2}')
    merges.write_bytes(b"a \xffb\n")
    with pytest.raises(TokenizerFileError, match="not UTF-8"):
        tokfree.Tokenizer.from_gpt2_files(vocab, merges)


@pytest.mark.parametrize("document", [None, [], "tokenizer", 3, {"model": []}, {"model": {"vocab": [], "merges": {}}}])
def test_wrong_json_types_are_refused(tmp_path, document):
    refused(write_json(tmp_path / "t.json", document), TokenizerFileError, None)


def test_tokfree_json_of_wrong_types_is_refused(tmp_path):
    for key, value in (("vocab", {"a": 1}), ("vocab", [[1]]), ("merges", 5), ("special_tokens", [["<s>"]]), ("pre_tokenizer", 7), ("normalizer", "NFD")):
        document = native_document()
        document[key] = value
        refused(write_json(tmp_path / "t.json", document), TokenizerFileError, None)


# --- sizes ----------------------------------------------------------------------------------------


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as file:
        file.truncate(size)  # no blocks written: reading it would take the time and memory
    return path


@pytest.mark.parametrize("loader", ["from_file", "from_tiktoken", "from_gpt2_files", "hybrid"])
def test_a_1gb_file_is_refused_before_reading(tmp_path, loader):
    big = sparse_file(tmp_path / "big", 1 << 30)
    assert 1 << 30 > MAX_FILE_BYTES
    small = write_json(tmp_path / "vocab.json", {"a": 0})
    load = {
        "from_file": tokfree.Tokenizer.from_file,
        "from_tiktoken": lambda p: tokfree.Tokenizer.from_tiktoken(p, pre_tokenizer="gpt2"),
        "from_gpt2_files": lambda p: tokfree.Tokenizer.from_gpt2_files(small, p),
        "hybrid": HybridTokenizer.from_file,
    }[loader]
    start = time.perf_counter()
    refused(big, TokenizerFileError, f"1073741824 bytes.*limit {MAX_FILE_BYTES}", load=load)
    assert time.perf_counter() - start < 1  # refused from the size alone, no read


def test_ten_million_entry_vocab_fails_fast(tmp_path):
    """A 10M-entry vocab is refused before parsing: counting separators bounds the entries."""
    entries = 10_000_000
    assert entries > MAX_VOCAB_SIZE
    path = tmp_path / "vocab.json"
    with open(path, "wb") as file:  # {"0":0,"1":0,...}: ~190 MB, written in blocks
        file.write(b"{")
        step = 500_000
        for block in range(0, entries, step):
            file.write(b",".join(b'"%d":0' % i for i in range(block, block + step)))
            file.write(b"," if block + step < entries else b"}")
    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\n")
    start = time.perf_counter()
    with pytest.raises(TokenizerFileError, match=f"more than {MAX_JSON_VALUES}"):
        tokfree.Tokenizer.from_gpt2_files(path, merges)
    with pytest.raises(TokenizerFileError, match=f"more than {MAX_JSON_VALUES}"):
        tokfree.Tokenizer.from_file(path)
    assert time.perf_counter() - start < 10


def test_ten_million_line_rank_file_fails_fast(tmp_path):
    path = tmp_path / "big.tiktoken"
    line = base64.b64encode(b"ab") + b" 1\n"
    with open(path, "wb") as file:
        for _ in range(10):
            file.write(line * 1_000_000)
    start = time.perf_counter()
    with pytest.raises(TokenizerFileError, match=f"more than {MAX_VOCAB_SIZE}"):
        tokfree.Tokenizer.from_tiktoken(path, pre_tokenizer="gpt2")
    assert time.perf_counter() - start < 10


def test_vocab_size_limit_holds_for_parts():
    vocab = [(b, bytes([b])) for b in range(256)]
    specials = [(f"<{i}>", 256 + i) for i in range(MAX_VOCAB_SIZE)]
    with pytest.raises(TokenizerFileError, match=f"limit {MAX_VOCAB_SIZE}"):
        tokfree.Tokenizer(TokenizerParts("gpt2", vocab, [], specials))


# --- nesting --------------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("loader", ["from_file", "from_gpt2_files", "hybrid"])
def test_deeply_nested_json_is_a_tokfree_error(tmp_path, loader):
    path = tmp_path / "deep.json"
    path.write_text('{"model": ' + nested(100_000) + "}")
    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\n")
    load = {
        "from_file": tokfree.Tokenizer.from_file,
        "from_gpt2_files": lambda p: tokfree.Tokenizer.from_gpt2_files(p, merges),
        "hybrid": HybridTokenizer.from_file,
    }[loader]
    refused(path, TokenizerFileError, "nest", load=load)


def test_hybrid_file_errors_are_tokfree_errors(tmp_path):
    missing = tmp_path / "missing.json"
    refused(missing, InputFileError, "missing.json", load=HybridTokenizer.from_file)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"format": "tokfree", "model": "hybrid", "x": "\xff"}')
    refused(bad, TokenizerFileError, "not valid JSON", load=HybridTokenizer.from_file)
    bad.write_text(json.dumps({"format": "tokfree", "model": "hybrid", "language": 3, "classes": 4}))
    refused(bad, TokenizerFileError, None, load=HybridTokenizer.from_file)


def test_hybrid_fallback_vocab_is_checked(tmp_path):
    """A hybrid file's BPE fallback is read like a tokfree JSON file (the same checks apply)."""
    from tokfree.trainers.morph import train_hybrid

    hybrid = train_hybrid(iter(["ev evler evde"] * 5), ROOT / "data" / "morph" / "turkish", bpe_vocab_size=260, show_progress=False)
    path = tmp_path / "hybrid.json"
    hybrid.save(path)
    assert HybridTokenizer.from_file(path).encode("evler") == hybrid.encode("evler")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["fallback"]["merges"].append([0, 99999])
    refused(write_json(path, document), TokenizerFileError, None, load=HybridTokenizer.from_file)


# --- weights --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from tokfree.merging.embeddings import EmbeddingHypernet, HypernetConfig
    from tokfree.nn.lm import CausalLM, CausalLMConfig

    root = tmp_path_factory.mktemp("models")
    lm = CausalLM(CausalLMConfig(vocab_size=10, d_model=8, n_layers=1, n_heads=2, max_len=16), seed=0)
    lm.save(root / "lm")
    hn = EmbeddingHypernet(HypernetConfig(d_model=8, hidden=8, n_heads=2), seed=0)
    hn.save(root / "hn")
    return {"lm": (CausalLM, root / "lm"), "hn": (EmbeddingHypernet, root / "hn")}


def copy_model(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("config.json", "model.safetensors"):
        (target / name).write_bytes((source / name).read_bytes())
    return target


@pytest.mark.parametrize("which", ["lm", "hn"])
def test_safetensors_with_wrong_shape_or_dtype_is_refused(saved_models, tmp_path, which):
    import torch
    from safetensors.torch import load_file, save_file

    cls, source = saved_models[which]
    for case, change in (
        ("shape", lambda t: torch.zeros(t.shape[0] + 1, *t.shape[1:])),
        ("dtype", lambda t: t.to(torch.float64)),
        ("int", lambda t: t.to(torch.int64)),
    ):
        folder = copy_model(source, tmp_path / f"{which}-{case}")
        tensors = load_file(str(folder / "model.safetensors"))
        name = sorted(tensors)[0]
        tensors[name] = change(tensors[name])
        save_file(tensors, str(folder / "model.safetensors"))
        with pytest.raises(TokfreeError, match=re.escape(name)):
            cls.load(folder)


@pytest.mark.parametrize("which", ["lm", "hn"])
def test_corrupt_safetensors_and_configs_are_refused(saved_models, tmp_path, which):
    cls, source = saved_models[which]
    folder = copy_model(source, tmp_path / f"{which}-header")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes((10**12).to_bytes(8, "little") + data[8:])  # header length past the end
    with pytest.raises(TokfreeError, match="not a readable safetensors file"):
        cls.load(folder)
    folder = copy_model(source, tmp_path / f"{which}-deep")
    (folder / "config.json").write_text(nested(100_000))
    with pytest.raises(TokfreeError, match="config"):
        cls.load(folder)
    folder = copy_model(source, tmp_path / f"{which}-big")
    os.remove(folder / "config.json")
    sparse_file(folder / "config.json", 1 << 30)
    start = time.perf_counter()
    with pytest.raises(TokfreeError, match="config"):
        cls.load(folder)
    assert time.perf_counter() - start < 1


# --- nothing evaluates or unpickles what it loads -------------------------------------------------


def test_no_loader_unpickles_or_evaluates():
    """The package never calls pickle/marshal/eval/exec, nor torch.load without weights_only=True."""
    pattern = re.compile(r"\b(pickle\.loads?|marshal\.loads?|cloudpickle|dill|yaml\.load|np\.load|numpy\.load)\b|(?<![.\w])(eval|exec)\(|torch\.load\((?![^)]*weights_only=True)")
    found = []
    for path in sorted((ROOT / "tokfree").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line.split("#")[0]):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, found
