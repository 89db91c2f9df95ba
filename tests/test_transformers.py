"""tokfree <-> Hugging Face transformers: `to_transformers`, `save_pretrained`, `from_transformers`.

The oracle for ids is tokfree's own `encode` (itself checked against HF `tokenizers` and tiktoken
elsewhere); transformers is the code under test here: its `__call__` on the bundled corpora, on
a saved folder loaded with `AutoTokenizer.from_pretrained` offline, its special-token attributes,
and padding and truncation, whose expected ids are written out by hand from the unpadded ids.
Every test runs with HF_HUB_OFFLINE=1 and with sockets blocked, so any Hub access fails it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers reads it at import time

import tokfree
import tokfree.data
from tokfree._corpora import load_corpora
from conftest import ROOT
from tokfree.errors import DataError, InputFileError, TokenizerFileError, TokfreeError
from tokfree.io.parts import TokenizerParts

transformers = pytest.importorskip("transformers")

SPECIALS = ["<s>", "</s>", "<pad>", "<unk>", "<|endoftext|>"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 and no network: a connection attempt is recorded and fails the test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args[:1])
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, *args: refuse(*args))
    yield
    assert attempts == [], f"the test tried to reach the network: {attempts}"


@pytest.fixture(scope="module")
def tok() -> tokfree.Tokenizer:
    """A small tokenizer with the usual named special tokens (ids 0..4 in SPECIALS order)."""
    english = load_corpora(ROOT / "data")["english"]
    return tokfree.train_bpe(iter(english), 600, pre_tokenizer="gpt4", special_tokens=SPECIALS, show_progress=False)


@pytest.fixture(scope="module")
def lines(documents) -> list[str]:
    """The lines of every fourth document (about 18,000)."""
    return [line for document in documents[::4] for line in document.splitlines()]


def _variants(trained):
    """(name, tokenizer) for the parity tests: the GPT-2 regex (HF's built-in ByteLevel one), and the
    cl100k one as a Split with an NFKC normalizer (the `tok` fixture covers it without)."""
    yield "gpt2", trained("gpt2")
    yield "gpt4+NFKC", tokfree.Tokenizer(dataclasses.replace(trained("gpt4").to_parts(), normalizer="NFKC"))


# --- encoding parity on the bundled corpora ---------------------------------------------------------


def test_to_transformers_and_saved_folder_encode_identically(trained, documents, tmp_path):
    for name, tokenizer in _variants(trained):
        expected = tokenizer.encode_batch(documents)
        assert tokenizer.to_transformers()(documents)["input_ids"] == expected, name
        tokenizer.save_pretrained(tmp_path / name)
        loaded = transformers.AutoTokenizer.from_pretrained(tmp_path / name)
        assert loaded(documents)["input_ids"] == expected, name
        decoded = loaded.batch_decode(expected)
        assert decoded == [tokenizer.decode(ids) for ids in expected], name
        if tokenizer.normalizer is None:
            assert decoded == documents, name


def test_every_line(tok, lines):
    # Lines start and end where documents do not (leading spaces, no trailing newline).
    assert tok.to_transformers()(lines)["input_ids"] == tok.encode_batch(lines)


def test_add_bos_eos_wrap_each_document(tok, documents, tmp_path):
    documents = documents[::8]  # the template is the same for every text; a sample keeps this fast
    tok.save_pretrained(tmp_path, bos_token="<s>", eos_token="</s>", add_bos=True, add_eos=True)
    for fast in (tok.to_transformers(bos_token="<s>", eos_token="</s>", add_bos=True, add_eos=True),
                 transformers.AutoTokenizer.from_pretrained(tmp_path)):
        plain = tok.encode_batch(documents)
        assert fast(documents)["input_ids"] == [[0] + ids + [1] for ids in plain]
        assert fast(documents, add_special_tokens=False)["input_ids"] == plain
        assert fast.decode(fast("hi there")["input_ids"], skip_special_tokens=True) == "hi there"
    only_bos = tok.to_transformers(bos_token="<s>", add_bos=True)
    assert only_bos("hi")["input_ids"] == [0] + tok.encode("hi")
    only_eos = tok.to_transformers(add_eos=True)  # the default EOS, <|endoftext|> = 4
    assert only_eos("hi")["input_ids"] == tok.encode("hi") + [4]


def test_bos_eos_with_colons_and_spaces(tmp_path):
    # transformers' own "token:0" template strings cannot hold these; the template is written as JSON.
    odd = tokfree.train_bpe(iter(["hello world"] * 5), 270, special_tokens=["<bos: 1>", "</ s>"], show_progress=False)
    odd.save_pretrained(tmp_path, bos_token="<bos: 1>", eos_token="</ s>", add_bos=True, add_eos=True)
    for fast in (odd.to_transformers(bos_token="<bos: 1>", eos_token="</ s>", add_bos=True, add_eos=True),
                 transformers.AutoTokenizer.from_pretrained(tmp_path)):
        assert fast("hello world")["input_ids"] == [0] + odd.encode("hello world") + [1]
        assert (fast.bos_token_id, fast.eos_token_id) == (0, 1)


def test_special_token_text_is_matched_as_transformers_does(tok):
    fast = tok.to_transformers()
    text = "a<pad>b<|endoftext|>"
    assert fast(text)["input_ids"] == tok.encode(text, allowed_special="all")
    assert fast.decode(fast(text)["input_ids"]) == text
    assert fast.decode(fast(text)["input_ids"], skip_special_tokens=True) == "ab"
    assert fast(text, split_special_tokens=True)["input_ids"] == tok.encode(text, disallowed_special=())


def test_decode_of_cut_utf8_matches(tok):
    fast = tok.to_transformers()
    ids = [tok.token_to_id(b"\xc3"), tok.token_to_id(b"a"), tok.token_to_id(b"\xe2"), tok.token_to_id(b"\x82")]
    assert fast.decode(ids) == tok.decode(ids) == "\ufffda\ufffd"


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_real_vocabularies(name, documents, tmp_path):
    try:
        real = tokfree.data.load(name)
    except DataError as err:
        pytest.skip(f"the real vocabularies were not fetched (run `make data` or `tokfree data fetch`): {err}")
    expected = real.encode_batch(documents)
    real.save_pretrained(tmp_path)
    loaded = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert (loaded.eos_token, loaded.eos_token_id) == ("<|endoftext|>", real.special_tokens["<|endoftext|>"])
    assert loaded(documents)["input_ids"] == expected
    # Back through HF's merges (a tiktoken-rule vocabulary comes back as an ordinary merge list).
    back = tokfree.Tokenizer.from_transformers(loaded)
    assert back.encode_batch(documents[::4]) == expected[::4]


def test_folder_loaded_as_gpt2_tokenizer(tmp_path, documents):
    # transformers' own GPT2Tokenizer class (named in tokenizer_config.json, as Hub folders do)
    # rebuilds its backend from the folder; ids and the tokfree round trip stay the same.
    gpt2 = tokfree.Tokenizer.from_gpt2_files(ROOT / "data/gpt2/encoder.json", ROOT / "data/gpt2/vocab.bpe")
    gpt2.save_pretrained(tmp_path)
    config_path = tmp_path / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update(tokenizer_class="GPT2Tokenizer", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    config_path.write_text(json.dumps(config), encoding="utf-8")
    loaded = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "GPT2Tokenizer"
    assert (loaded.bos_token_id, loaded.eos_token_id, loaded.unk_token_id) == (50256, 50256, 50256)
    sample = documents[::10]
    assert loaded(sample)["input_ids"] == gpt2.encode_batch(sample)
    assert tokfree.Tokenizer.from_transformers(loaded).to_parts() == gpt2.to_parts()


# --- special tokens ---------------------------------------------------------------------------------


def test_special_token_attributes(tok, tmp_path):
    options = dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    tok.save_pretrained(tmp_path, **options)
    for fast in (tok.to_transformers(**options), transformers.AutoTokenizer.from_pretrained(tmp_path)):
        assert (fast.bos_token, fast.eos_token, fast.pad_token, fast.unk_token) == ("<s>", "</s>", "<pad>", "<unk>")
        assert (fast.bos_token_id, fast.eos_token_id, fast.pad_token_id, fast.unk_token_id) == (0, 1, 2, 3)
        assert len(fast) == tok.vocab_size  # naming tokens added none
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert {key: config[key] for key in options} == options


def test_default_eos_is_endoftext_when_present(tok, trained):
    fast = tok.to_transformers()
    assert (fast.eos_token, fast.eos_token_id) == ("<|endoftext|>", 4)
    assert (fast.bos_token, fast.pad_token, fast.unk_token) == (None, None, None)
    assert tok.to_transformers(eos_token=None).eos_token is None
    without = tokfree.train_bpe(iter(["hello world"] * 3), 260, special_tokens=["<pad>"], show_progress=False)
    assert without.to_transformers().eos_token is None
    assert len(without.to_transformers()) == without.vocab_size


def test_named_token_must_be_a_special_token(tok):
    with pytest.raises(TokfreeError, match=r"pad_token='<mask>' is not a special token.*'<s>', '</s>', '<pad>'.*special_tokens=\["):
        tok.to_transformers(pad_token="<mask>")
    with pytest.raises(TokfreeError, match="not a special token"):
        tok.to_transformers(bos_token="the")  # a model token, not a special one
    with pytest.raises(TokfreeError, match="add_bos=True needs the bos_token option: .*'<s>', '</s>'"):
        tok.to_transformers(add_bos=True)
    with pytest.raises(TokfreeError, match="add_eos=True needs the eos_token option"):
        tok.to_transformers(eos_token=None, add_eos=True)
    without = tokfree.train_bpe(iter(["hello world"] * 3), 260, special_tokens=["<pad>"], show_progress=False)
    with pytest.raises(TokfreeError, match=r"the default, '<\|endoftext\|>', is not one of them\): '<pad>'"):
        without.to_transformers(add_eos=True)
    with pytest.raises(TokfreeError, match="add_eos=1 must be True or False"):
        tok.to_transformers(add_eos=1)
    with pytest.raises(TokfreeError, match="padding_side='up' is not a side"):
        tok.to_transformers(padding_side="up")
    with pytest.raises(TokfreeError, match="model_max_length=0 must be a positive int"):
        tok.to_transformers(model_max_length=0)


# --- padding and truncation -------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding(tok, tmp_path, side):
    short, long = tok.encode("a"), tok.encode("hello world, hello")
    assert len(short) == 1 and len(long) >= 4
    pad = [2] * (len(long) - 1)
    want_short = short + pad if side == "right" else pad + short
    mask_short = [1] + [0] * len(pad) if side == "right" else [0] * len(pad) + [1]
    tok.save_pretrained(tmp_path, pad_token="<pad>", padding_side=side)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["padding_side"] == side
    for fast in (tok.to_transformers(pad_token="<pad>", padding_side=side), transformers.AutoTokenizer.from_pretrained(tmp_path)):
        batch = fast(["a", "hello world, hello"], padding=True, return_attention_mask=True)
        assert batch["input_ids"] == [want_short, long]
        assert batch["attention_mask"] == [mask_short, [1] * len(long)]
        fixed = fast("a", padding="max_length", max_length=3)
        assert fixed["input_ids"] == (short + [2, 2] if side == "right" else [2, 2] + short)
        assert fixed["attention_mask"] == ([1, 0, 0] if side == "right" else [0, 0, 1])


def test_padding_needs_a_pad_token(tok):
    with pytest.raises(ValueError, match="pad"):
        tok.to_transformers()(["a", "hello world"], padding=True)


@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation(tok, tmp_path, side):
    text = "hello world, hello world, hello world"
    ids = tok.encode(text)
    assert len(ids) > 8
    options = dict(bos_token="<s>", eos_token="</s>", model_max_length=6, truncation_side=side)
    tok.save_pretrained(tmp_path, **options)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert (config["truncation_side"], config["model_max_length"]) == (side, 6)
    for fast in (tok.to_transformers(**options), transformers.AutoTokenizer.from_pretrained(tmp_path)):
        cut = ids[:6] if side == "right" else ids[-6:]
        assert fast(text, truncation=True)["input_ids"] == cut
        assert fast(text, truncation=True, max_length=3)["input_ids"] == (ids[:3] if side == "right" else ids[-3:])
        assert fast(text)["input_ids"] == ids  # no truncation unless asked
    wrapped = tok.to_transformers(**options, add_bos=True, add_eos=True)
    # Room is kept for BOS and EOS: 6 = 1 + 4 + 1.
    assert wrapped(text, truncation=True)["input_ids"] == [0] + (ids[:4] if side == "right" else ids[-4:]) + [1]


# --- from_transformers ------------------------------------------------------------------------------


def test_round_trip_keeps_the_parts(trained, tok, documents, tmp_path):
    for name, tokenizer in [*_variants(trained), ("llama3", trained("llama3")), ("specials", tok)]:
        back = tokfree.Tokenizer.from_transformers(tokenizer.to_transformers(pad_token="<pad>"))
        assert back.to_parts() == tokenizer.to_parts(), name
        tokenizer.save_pretrained(tmp_path / name)
        from_folder = tokfree.Tokenizer.from_transformers(tmp_path / name)
        assert from_folder.to_parts() == tokenizer.to_parts(), name
        assert tokfree.Tokenizer.from_transformers(str(tmp_path / name)).to_parts() == tokenizer.to_parts(), name
        loaded = tokfree.Tokenizer.from_transformers(transformers.AutoTokenizer.from_pretrained(tmp_path / name))
        assert loaded.encode_batch(documents) == tokenizer.encode_batch(documents), name


def test_after_calls_with_padding_and_truncation(tok):
    # transformers leaves padding/truncation switched on in its backend after such a call.
    fast = tok.to_transformers(pad_token="<pad>", model_max_length=4)
    fast(["a", "hello world hello world"], padding=True, truncation=True)
    assert tokfree.Tokenizer.from_transformers(fast).to_parts() == tok.to_parts()


def test_tokens_added_in_transformers_carry_over(tok):
    fast = tok.to_transformers()
    fast.add_tokens(["<new>", "brown fox"])  # plain added tokens ("special": false)
    fast.add_special_tokens({"additional_special_tokens": ["<extra>"]})
    text = "hello <new> brown fox <extra> the"
    back = tokfree.Tokenizer.from_transformers(fast)
    assert {name: back.special_tokens[name] for name in ["<new>", "brown fox", "<extra>"]} == {
        "<new>": tok.vocab_size, "brown fox": tok.vocab_size + 1, "<extra>": tok.vocab_size + 2}
    assert back.encode(text, allowed_special="all") == fast(text)["input_ids"]
    assert back.to_parts().non_special_tokens == ("<new>", "brown fox")


def test_template_is_refused_unless_ignored(tok, tmp_path):
    fast = tok.to_transformers(bos_token="<s>", add_bos=True)
    with pytest.raises(TokenizerFileError, match=r"post_processor 'TemplateProcessing' adds \['<s>'\].*ignore_post_processor=True"):
        tokfree.Tokenizer.from_transformers(fast)
    assert tokfree.Tokenizer.from_transformers(fast, ignore_post_processor=True).to_parts() == tok.to_parts()
    tok.save_pretrained(tmp_path, eos_token="</s>", add_eos=True)
    with pytest.raises(TokenizerFileError, match=r"tokenizer.json: post_processor .*'</s>'"):
        tokfree.Tokenizer.from_transformers(tmp_path)
    assert tokfree.Tokenizer.from_transformers(tmp_path, ignore_post_processor=True).to_parts() == tok.to_parts()


def test_from_transformers_errors(tok, tmp_path):
    with pytest.raises(InputFileError, match=r"has no tokenizer.json.*save_pretrained"):
        tokfree.Tokenizer.from_transformers(tmp_path)
    with pytest.raises(InputFileError, match="is not a folder.*never downloads"):
        tokfree.Tokenizer.from_transformers("gpt2")
    with pytest.raises(TokfreeError, match="PreTrainedTokenizerFast or a save_pretrained folder, got Tokenizer"):
        tokfree.Tokenizer.from_transformers(tok)

    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import WordLevel

    word_level = transformers.PreTrainedTokenizerFast(tokenizer_object=HFTokenizer(WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")))
    with pytest.raises(TokenizerFileError, match="model.type"):
        tokfree.Tokenizer.from_transformers(word_level)


def test_tokfree_only_tokenizer_is_refused(tok):
    # Under tiktoken's rank rule "abc" made by two merges has no tokenizer.json form.
    vocab = [(i, bytes([i])) for i in range(256)] + [(256, b"ab"), (257, b"bc"), (258, b"abc")]
    parts = TokenizerParts("gpt2", vocab, [(97, 98), (98, 99), (256, 99), (97, 257)], [], ignore_merges=True, merge_by_rank=True)
    with pytest.raises(TokenizerFileError, match=r"to_transformers: .*b'abc' is made by more than one merge.*format='tokfree'"):
        tokfree.Tokenizer(parts).to_transformers()


# --- packaging --------------------------------------------------------------------------------------


def test_import_tokfree_does_not_import_transformers():
    code = "import sys, tokfree; assert 'transformers' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_missing_transformers_names_the_extra(tok, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` raise ImportError
    with pytest.raises(TokfreeError, match=re.escape("pip install tokfree[transformers]")):
        tok.to_transformers()


def test_docs_examples_run(tmp_path, monkeypatch):
    page = (ROOT / "docs" / "transformers.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "data", Path(tmp_path) / "data")
    namespace: dict = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"docs/transformers.md block {number}", "exec"), namespace)
