"""Parity with Hugging Face `tokenizers` on tokenizer.json files, in both directions."""

from __future__ import annotations

import pytest

from conftest import PRESETS

tokenizers = pytest.importorskip("tokenizers", reason="HF tokenizers is not installed (pip install tokfree[hf])")

import tokfree  # noqa: E402

pytestmark = pytest.mark.hf


@pytest.mark.parametrize("preset", PRESETS)
def test_tokfree_file_encodes_identically_in_hf(trained, documents, preset, tmp_path):
    tok = trained(preset)
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    mine = tok.encode_batch(documents)
    theirs = [encoding.ids for encoding in hf.encode_batch(documents, add_special_tokens=False)]
    mismatched = [i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b]
    assert not mismatched, f"{len(mismatched)} documents differ, first: {documents[mismatched[0]][:80]!r}"
    # Special tokens: HF matches added tokens in text, as tokfree does with allowed_special="all".
    text = "a<|endoftext|>b <pad>"
    assert tok.encode(text, allowed_special="all") == hf.encode(text, add_special_tokens=False).ids


def test_saving_is_byte_identical_and_loads_back(trained, documents, tmp_path):
    tok = trained("gpt4")
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    tok.save(first)
    tokfree.Tokenizer.from_file(first).save(second)
    assert first.read_bytes() == second.read_bytes()
    tok.save(tmp_path / "native.json", format="tokfree")
    native = tokfree.Tokenizer.from_file(tmp_path / "native.json")
    assert native.encode_batch(documents[:50]) == tok.encode_batch(documents[:50])


def _hf_trained(documents, pre_tokenizer):
    from tokenizers import decoders, models, pre_tokenizers, trainers

    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizer
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2500, special_tokens=["<|endoftext|>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    hf.train_from_iterator(documents, trainer)
    return hf


@pytest.mark.parametrize("variant", ["bytelevel", "split+bytelevel"])
def test_hf_trained_file_encodes_identically_in_tokfree(documents, variant, tmp_path):
    from tokenizers import Regex, pre_tokenizers

    if variant == "bytelevel":
        pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        pattern = tokfree.pretokenize.PRESETS["o200k"]
        pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), "isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf = _hf_trained(documents, pre)
    path = tmp_path / "hf.json"
    hf.save(str(path))
    tok = tokfree.Tokenizer.from_file(path)
    assert tok.vocab_size == hf.get_vocab_size()
    assert tok.special_tokens == {"<|endoftext|>": 0, "<pad>": 1}
    theirs = [encoding.ids for encoding in hf.encode_batch(documents, add_special_tokens=False)]
    assert tok.encode_batch(documents) == theirs


def test_hf_features_tokfree_cannot_reproduce_are_refused(documents, tmp_path):
    from tokenizers import normalizers, pre_tokenizers

    hf = _hf_trained(documents[:20], pre_tokenizers.ByteLevel(add_prefix_space=True))
    hf.save(str(tmp_path / "prefix.json"))
    with pytest.raises(tokfree.errors.TokenizerFileError, match="add_prefix_space"):
        tokfree.Tokenizer.from_file(tmp_path / "prefix.json")
    hf = _hf_trained(documents[:20], pre_tokenizers.ByteLevel(add_prefix_space=False))
    hf.normalizer = normalizers.Lowercase()
    hf.save(str(tmp_path / "lowercase.json"))
    with pytest.raises(tokfree.errors.TokenizerFileError, match="normalizer 'Lowercase' is not supported"):
        tokfree.Tokenizer.from_file(tmp_path / "lowercase.json")
