"""Bad input gets the right TokfreeError, with a message that names the value."""

from __future__ import annotations

import json

import pytest

import tokfree
from tokfree import TokfreeError, errors


@pytest.fixture(scope="module")
def tok():
    return tokfree.train_bpe(iter(["hello world, hello tokfree"] * 5), 270, special_tokens=["<|endoftext|>", "<pad>"], show_progress=False)


def test_vocab_size_below_alphabet():
    with pytest.raises(TokfreeError, match="257"):
        tokfree.train_bpe(iter(["abc"]), 256, special_tokens=["<s>"], show_progress=False)


def test_bad_training_arguments():
    with pytest.raises(TokfreeError, match="min_frequency"):
        tokfree.train_bpe(iter(["abc"]), 300, min_frequency=-1, show_progress=False)
    with pytest.raises(TokfreeError, match="duplicates"):
        tokfree.train_bpe(iter(["abc"]), 300, special_tokens=["<s>", "<s>"], show_progress=False)
    with pytest.raises(TokfreeError, match="bytes"):
        tokfree.train_bpe(iter([b"abc"]), 300, show_progress=False)


def test_empty_corpus():
    with pytest.raises(errors.EmptyCorpusError):
        tokfree.train_bpe(iter([]), 300, show_progress=False)
    with pytest.raises(errors.EmptyCorpusError):
        tokfree.train_bpe(iter(["", ""]), 300, show_progress=False)


def test_missing_file_and_empty_glob(tmp_path):
    with pytest.raises(errors.InputFileError, match="nope.txt"):
        tokfree.train_bpe(str(tmp_path / "nope.txt"), 300, show_progress=False)
    with pytest.raises(errors.InputFileError, match=r"\*\.md"):
        tokfree.train_bpe([str(tmp_path / "*.md")], 300, show_progress=False)
    # A list of documents mistaken for paths: the message shows the start of the value, not all of it.
    document = "word " * 2000
    with pytest.raises(errors.InputFileError, match=r"10000 characters.*iter\(texts\)") as caught:
        tokfree.train_bpe([document], 300, show_progress=False)
    assert len(str(caught.value)) < 400


def test_invalid_utf8_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine text\n\xff\xfe broken")
    with pytest.raises(TokfreeError, match="bad.txt"):
        tokfree.train_bpe(str(path), 300, show_progress=False)


def test_invalid_regex():
    with pytest.raises(errors.PatternError, match=r"\(unclosed"):
        tokfree.train_bpe(iter(["abc"]), 300, pre_tokenizer="(unclosed", show_progress=False)
    with pytest.raises(errors.PatternError):
        tokfree.pretokenize.split("abc", "[z-a]")


def test_unknown_id_in_decode(tok):
    with pytest.raises(errors.UnknownIdError, match="123456"):
        tok.decode([1, 123456])
    with pytest.raises(errors.UnknownIdError, match=rf"-1 .*valid ids are 0\.\.{tok.vocab_size - 1}\)"):
        tok.decode_bytes([-1])
    with pytest.raises(errors.UnknownIdError):
        tok.decode_bytes(["a"])


def test_special_token_policy(tok):
    text = "hi <|endoftext|>"
    with pytest.raises(errors.SpecialTokenError, match=r"<\|endoftext\|>.*byte 3"):
        tok.encode(text)
    with pytest.raises(errors.SpecialTokenError):
        tok.encode_batch(["fine", text])
    # Hand-derived: "<|endoftext|>" is id 0; plain text gives its bytes back and no special id.
    assert tok.encode(text, allowed_special={"<|endoftext|>"})[-1] == 0
    assert tok.encode(text, allowed_special="all")[-1] == 0
    plain = tok.encode(text, disallowed_special=())
    assert 0 not in plain and tok.decode(plain) == text
    # Allowing one special does not allow another.
    with pytest.raises(errors.SpecialTokenError, match="<pad>"):
        tok.encode("<pad><|endoftext|>", allowed_special={"<|endoftext|>"})
    with pytest.raises(TokfreeError, match="not a special token"):
        tok.encode(text, allowed_special={"<nope>"})
    with pytest.raises(TokfreeError, match="collection"):
        tok.encode(text, allowed_special="<|endoftext|>")


def test_batch_reports_the_first_failing_text(tok):
    # Texts finish in any order on several threads; the error raised is always the lowest index's.
    texts = ["fine"] * 300 + ["x <pad>"] + ["fine"] * 300 + ["y <|endoftext|>"] * 50
    for threads in (None, 1, 2, 3):
        with pytest.raises(errors.SpecialTokenError, match="<pad>"):
            tok.encode_batch(texts, num_threads=threads)
    # The batch is still usable afterwards, and allowing the specials makes it succeed.
    assert len(tok.encode_batch(texts, allowed_special="all", num_threads=2)) == len(texts)


def test_wrong_types(tok):
    with pytest.raises(TokfreeError, match="str"):
        tok.encode(b"bytes")
    with pytest.raises(TokfreeError, match="list of texts"):
        tok.encode_batch("one string")
    with pytest.raises(TokfreeError, match="num_threads"):
        tok.encode_batch(["a"], num_threads=0)


def _write(tmp_path, document) -> str:
    path = tmp_path / "tokenizer.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return str(path)


def test_malformed_tokenizer_files(tok, tmp_path):
    with pytest.raises(errors.InputFileError, match="missing.json"):
        tokfree.Tokenizer.from_file(tmp_path / "missing.json")
    with pytest.raises(errors.TokenizerFileError, match="JSON"):
        tokfree.Tokenizer.from_file(_write(tmp_path, '{"model": '))
    with pytest.raises(errors.TokenizerFileError, match="JSON"):
        tokfree.Tokenizer.from_file(_write(tmp_path, "[" * 100_000 + "]" * 100_000))
    with pytest.raises(errors.TokenizerFileError, match="model"):
        tokfree.Tokenizer.from_file(_write(tmp_path, {"version": "1.0"}))
    tok.save(tmp_path / "good.json")
    good = json.loads((tmp_path / "good.json").read_text(encoding="utf-8"))

    no_merges = json.loads(json.dumps(good))
    del no_merges["model"]["merges"]
    with pytest.raises(errors.TokenizerFileError, match="merges"):
        tokfree.Tokenizer.from_file(_write(tmp_path, no_merges))

    bad_merge = json.loads(json.dumps(good))
    bad_merge["model"]["merges"].append(["zzz_missing", "h"])
    with pytest.raises(errors.TokenizerFileError, match="zzz_missing"):
        tokfree.Tokenizer.from_file(_write(tmp_path, bad_merge))

    missing_byte = json.loads(json.dumps(good))
    del missing_byte["model"]["vocab"]["ā"]  # byte 0x01, which no merge uses
    with pytest.raises(TokfreeError, match="0x01"):
        tokfree.Tokenizer.from_file(_write(tmp_path, missing_byte))

    wrong_id = json.loads(json.dumps(good))
    wrong_id["added_tokens"][0]["id"] = 5000
    with pytest.raises(errors.TokenizerFileError, match="5000"):
        tokfree.Tokenizer.from_file(_write(tmp_path, wrong_id))

    not_byte_level = json.loads(json.dumps(good))
    not_byte_level["model"]["vocab"]["€uro"] = 9999
    with pytest.raises(errors.TokenizerFileError, match="byte-level"):
        tokfree.Tokenizer.from_file(_write(tmp_path, not_byte_level))


def test_error_catalogue_lists_every_class_and_its_example_runs():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+Error)` \|", doc, flags=re.M))  # the classes table (the limits table names constants)
    assert rows == set(errors.__all__)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.TokfreeError) and issubclass(getattr(errors, name), ValueError)
    (example,) = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    exec(compile(example, "docs/errors.md", "exec"), {})
