"""FIM training examples (tokfree.training.fim) and FIM training in train_lm, against hand-built
sequences and a task only a model that reads the suffix can solve."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tokfree  # noqa: E402
from tokfree.bytelevel import ByteLM, fim_score  # noqa: E402
from tokfree.bytelevel.adapters import TorchTokenLM  # noqa: E402
from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.nn import CausalLMConfig  # noqa: E402
from tokfree.training.fim import FIM_TOKENS, fim_token_ids, fim_window, spm_example  # noqa: E402
from tokfree.training.train_lm import train_lm  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")
IDS = (1, 2, 3)


def test_spm_example_layout():
    content = np.array([10, 11, 12, 13])
    assert spm_example(content, 0, fim_ids=IDS, separator=0).tolist() == [0, 1, 2, 10, 11, 12, 13, 3, 0]
    assert spm_example(content, 3, fim_ids=IDS, separator=0).tolist() == [0, 1, 2, 13, 3, 10, 11, 12, 0]
    assert spm_example(content, 4, fim_ids=IDS, separator=0).tolist() == [0, 1, 2, 3, 10, 11, 12, 13, 0]
    with pytest.raises(TokfreeError, match="outside 0..4"):
        spm_example(content, 5, fim_ids=IDS, separator=0)


def test_fim_window_stays_in_one_document_and_pads():
    stream = np.array([0, 5, 6, 7, 0, 8, 9, 10, 11, 12, 13, 14, 0], dtype=np.int64)
    seen = Counter()
    for seed in range(300):
        rng = np.random.default_rng(seed)
        inputs, targets = fim_window(stream, 0, 10, rng, fim_ids=IDS, separator=0)  # starts on [S]: skipped
        real = targets != -100
        example = np.concatenate([inputs[:1], targets[real]])
        assert example[:3].tolist() == [0, 1, 2] and example[-1] == 0
        split = int(np.flatnonzero(example == 3)[0])
        suffix, stretch = example[3:split], example[split + 1 : -1]
        content = stretch.tolist() + suffix.tolist()
        assert content == [5, 6, 7][: len(content)] and content  # a start of the first document, in order
        assert (inputs[~real] == 0).all() and real.sum() == len(example) - 1
        assert inputs[: real.sum()].tolist() == example[:-1].tolist()
        seen[len(stretch), len(content)] += 1
    assert sorted(seen) == sorted((a, b) for b in (1, 2, 3) for a in range(b + 1))  # every split of every length
    lengths = Counter()
    for seed in range(300):
        inputs, targets = fim_window(stream, 5, 10, np.random.default_rng(seed), fim_ids=IDS, separator=0)
        n = int((targets != -100).sum()) - 4  # content tokens: [S] PRE SUF ... MID ... [S] predicts n + 4
        assert set(inputs.tolist()) - {0, 1, 2, 3} == set(range(8, 8 + n))
        lengths[n] += 1
    assert sorted(lengths) == [1, 2, 3, 4, 5, 6] and min(lengths.values()) > 25  # uniform lengths up to the budget of 6
    with pytest.raises(TokfreeError, match="length >= 5"):
        fim_window(stream, 0, 3, np.random.default_rng(0), fim_ids=IDS, separator=0)


def test_fim_token_ids_and_train_lm_validation():
    docs = ["def f(x):\n    return x + 1\n"] * 20
    plain = tokfree.train_bpe(iter(docs), 300, special_tokens=["<|endoftext|>"], show_progress=False)
    with pytest.raises(TokfreeError, match="fim_prefix"):
        fim_token_ids(plain)
    config = CausalLMConfig(vocab_size=300, d_model=32, n_layers=1, n_heads=2, max_len=16)
    with pytest.raises(TokfreeError, match="fim_suffix"):
        train_lm(plain, docs, config, steps=1, batch_size=1, seq_len=16, lr=1e-3, seed=0, fim_rate=0.5)
    with pytest.raises(TokfreeError, match="fim_rate"):
        train_lm(plain, docs, config, steps=1, batch_size=1, seq_len=16, lr=1e-3, seed=0, fim_rate=1.5)
    fim_tok = tokfree.train_bpe(iter(docs), 300, special_tokens=["<|endoftext|>", *FIM_TOKENS], show_progress=False)
    assert fim_token_ids(fim_tok) == (1, 2, 3)


def test_fim_training_teaches_the_model_to_read_the_suffix():
    """Documents `<w>=<w>;` for random 4-letter words: the middle `<w>=` after the prefix is only
    predictable from the suffix `<w>;`, so a FIM-trained model must beat a left-to-right one on it."""
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefgh") for _ in range(4)) for _ in range(400)]
    docs = [f"{w}={w};" for w in words]
    tok = tokfree.train_bpe(iter(docs), 270, pre_tokenizer="none", special_tokens=["<|endoftext|>", *FIM_TOKENS], show_progress=False)
    config = CausalLMConfig(vocab_size=tok.vocab_size, d_model=64, n_layers=2, n_heads=4, max_len=32)
    kwargs = dict(steps=250, batch_size=32, seq_len=32, lr=1e-2, seed=0, show_progress=False)
    scores = {}
    for rate in (0.0, 1.0):
        model, _ = train_lm(tok, docs, config, fim_rate=rate, **kwargs)
        blm = ByteLM(TorchTokenLM(model, bos_id=0, eos_id=0), tok)
        heldout = ["hgfe", "dcba", "bead", "fade"]
        scores[rate] = [fim_score(blm, b"", f"{w}=".encode(), f"{w};".encode(), mode="spm", fim_ids=fim_token_ids(tok)) for w in heldout]
    assert np.mean(scores[1.0]) > np.mean(scores[0.0]) + 2.0, scores
