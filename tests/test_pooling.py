"""tokfree.nn.pooling: word poolers, word batches and WordPoolLM.

Expected values come from hand computation (means, last states, targets of a short text), from
brute force (every byte perturbed, every word of at most 2 bytes enumerated) or from invariances
(padding, other words' bytes), never from the code under test.
"""

from __future__ import annotations

import doctest
import itertools
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from _word_models_helpers import assert_bits_per_byte, assert_training_lowers_loss  # noqa: E402
import tokfree.nn.pooling as pooling_module  # noqa: E402
from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.nn.pooling import (  # noqa: E402
    POOLER_KINDS,
    LastPooler,
    MeanPooler,
    WordBatch,
    WordPoolLM,
    WordPoolLMConfig,
    batch_words,
    make_pooler,
)
from tokfree.words import word_boundaries  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = WordPoolLMConfig(d_model=32, n_layers=2, n_heads=2, d_byte=16, n_byte_heads=2, n_encoder_layers=1, n_decoder_layers=1, max_words=48, max_word_bytes=8)


def tiny_model(seed: int = 0, **changes) -> WordPoolLM:
    fields = {**TINY.__dict__, **changes}
    return WordPoolLM(WordPoolLMConfig(**fields), seed=seed).eval()


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def poolers(d: int = 8):
    torch.manual_seed(0)
    return {kind: make_pooler(kind, d, n_heads=2, n_queries=q, max_word_bytes=8).eval() for kind, q in
            [("mean", 1), ("last", 1), ("query", 1), ("query", 3), ("prefix", 1), ("prefix", 2)]}


# --- poolers ----------------------------------------------------------------------------------------


def test_mean_and_last_by_hand():
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [0.0, 0.0]]])
    ids = torch.tensor([[0, 0, 0, 1, -1]])
    words, mask = MeanPooler(2)(x, ids)
    assert words.tolist() == [[[3.0, 4.0], [7.0, 8.0]]] and mask.tolist() == [[True, True]]
    words, mask = LastPooler(2)(x, ids, num_words=3)
    assert words.tolist() == [[[5.0, 6.0], [7.0, 8.0], [0.0, 0.0]]] and mask.tolist() == [[True, True, False]]


@pytest.mark.parametrize("name", ["mean", "last", "query", "prefix"])
def test_pooler_shapes_masks_and_padding(name):
    for kind, pooler in poolers().items():
        if kind != name:
            continue
        g = generator(1)
        x = torch.randn(2, 7, 8, generator=g)
        ids = torch.tensor([[0, 0, 1, 1, 1, 2, -1], [-1, 0, 1, 1, -1, -1, -1]])
        words, mask = pooler(x, ids, num_words=4)
        assert words.shape == (2, 4, 8)
        assert mask.tolist() == [[True, True, True, False], [True, True, False, False]]
        assert torch.all(words[~mask] == 0)
        # More padding (positions and empty word slots) with random states changes nothing.
        x_pad = torch.cat((x, torch.randn(2, 5, 8, generator=g)), dim=1)
        ids_pad = torch.cat((ids, torch.full((2, 5), -1)), dim=1)
        x_pad[0, 6] = 100.0
        words_pad, mask_pad = pooler(x_pad, ids_pad, num_words=6)
        assert torch.equal(mask_pad[:, :4], mask) and not mask_pad[:, 4:].any()
        assert torch.allclose(words_pad[:, :4], words, atol=1e-6)


@pytest.mark.parametrize("kind", POOLER_KINDS)
def test_word_vector_depends_only_on_its_own_bytes(kind):
    """Changing word j (its states, or its length) or moving word i elsewhere leaves word i's vector alone."""
    for name, pooler in poolers().items():
        if name != kind:
            continue
        g = generator(2)
        word = torch.randn(3, 8, generator=g)
        reference, _ = pooler(word[None], torch.zeros(1, 3, dtype=torch.long))
        for trial in range(6):
            before, after = trial % 3, (trial * 2) % 4
            others_before = torch.randn(before, 8, generator=g)
            others_after = torch.randn(after, 8, generator=g)
            x = torch.cat((others_before, word, others_after))[None]
            target = 1 if before else 0
            ids = torch.tensor([0] * before + [target] * 3 + [target + 1] * after)[None]
            words, _ = pooler(x, ids)
            assert torch.allclose(words[0, target], reference[0, 0], atol=1e-6), (kind, trial)


def test_query_pooler_gives_padding_no_weight():
    """Huge values in padding slots of the canvas (other rows' longer words) change nothing."""
    pooler = poolers()["query"]
    g = generator(3)
    x = torch.randn(2, 6, 8, generator=g)
    ids = torch.tensor([[0, 1, 1, 1, 1, 1], [0, 0, -1, -1, -1, -1]])
    words, _ = pooler(x, ids)
    x2 = x.clone()
    x2[1, 2:] = 1e6
    words2, _ = pooler(x2, ids)
    assert torch.allclose(words, words2, atol=1e-6)


def test_pooler_errors():
    with pytest.raises(TokfreeError, match="not known"):
        make_pooler("max", 8)
    pooler = MeanPooler(4)
    with pytest.raises(TokfreeError, match="torch.long"):
        pooler(torch.randn(1, 3, 4), torch.zeros(1, 2, dtype=torch.long))
    q = poolers(4)["query"]
    with pytest.raises(TokfreeError, match="not consecutive"):
        q(torch.randn(1, 3, 4), torch.tensor([[0, 1, 0]]))
    with pytest.raises(TokfreeError, match="below -1"):
        q(torch.randn(1, 3, 4), torch.tensor([[0, -2, 0]]))


# --- word batches -----------------------------------------------------------------------------------


def test_batch_words_by_hand_and_lossless():
    texts = ["Hello, world!", "", "howAreYou"]
    batch = batch_words(texts, max_word_bytes=16)
    assert batch.byte_ids.shape == (3, 13)
    assert batch.byte_ids[0].tolist() == list(b"Hello, world!")
    assert batch.byte_ids[1].tolist() == [256] * 13
    assert batch.word_ids[0].tolist() == [0] * 6 + [1] * 7
    assert batch.word_ids[2].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] + [-1] * 4
    assert batch.lengths.tolist() == [13, 0, 9] and batch.num_words.tolist() == [2, 0, 3] and batch.n_bytes == 22
    assert batch.complete_words is None
    # Any bytes: invalid UTF-8 is kept (its own words), and the words cover the input exactly.
    data = b"caf\xc3\xa9 \xff\xfe ok\xe6\x97"
    batch = batch_words([data], max_word_bytes=4)
    ids, words = batch.byte_ids[0].tolist(), batch.word_ids[0].tolist()
    joined = b"".join(bytes(ids[i] for i in range(len(ids)) if words[i] == w) for w in range(max(words) + 1))
    assert joined == data
    assert [len([w for w in words if w == k]) <= 4 for k in range(max(words) + 1)]
    with pytest.raises(TokfreeError, match="single text"):
        batch_words("abc", max_word_bytes=8)
    with pytest.raises(TokfreeError, match="str or bytes"):
        batch_words([3], max_word_bytes=8)
    with pytest.raises(TokfreeError, match=">= 4"):
        batch_words(["abc"], max_word_bytes=2, online=True)


def test_batch_words_matches_the_splitter():
    text = "The naïve café's menu: 12.5 €, howAreYou?\n\n  Done."
    batch = batch_words([text], max_word_bytes=6)
    bounds = word_boundaries(text, max_bytes=6)
    expected = [k for k, (a, b) in enumerate(zip(bounds, bounds[1:])) for _ in range(b - a)]
    assert batch.word_ids[0].tolist() == expected


# --- WordPoolLM ------------------------------------------------------------------------------------


def test_forward_shapes_and_targets_by_hand():
    model = tiny_model()
    batch = model.make_batch(["Hi you", "a"])
    out = model(batch)
    # Row 0: "Hi", " you" + end slot; row 1: "a" + end slot. Longest word 4 bytes -> 5 slots.
    assert out.logits.shape == (2, 3, 5, 259) and out.targets.shape == (2, 3, 5)
    eos = 257
    assert out.targets[0].tolist() == [[72, 105, eos, -100, -100], [32, 121, 111, 117, eos], [eos, -100, -100, -100, -100]]
    assert out.targets[1].tolist() == [[97, eos, -100, -100, -100], [eos, -100, -100, -100, -100], [-100] * 5]
    real = out.targets >= 0
    logp = out.logits[real].log_softmax(-1)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(int(real.sum())), atol=1e-5)
    assert torch.all(out.logits[real][:, [256, 258]] == float("-inf"))
    # The loss is the sum of the per-slot log-softmax terms.
    picked = logp.gather(-1, out.targets[real][:, None])[:, 0]
    nll = model.nll(batch)
    rows = torch.arange(2)[:, None, None].expand_as(out.targets)[real]
    assert torch.allclose(nll, -torch.zeros(2).index_add(0, rows, picked), atol=1e-4)
    without_end = model(batch, end_of_text=False).targets
    assert without_end[0, 2].tolist() == [-100] * 5 and without_end[1, 1].tolist() == [-100] * 5


@pytest.mark.parametrize("kind", POOLER_KINDS)
def test_padding_never_changes_outputs(kind):
    model = tiny_model(pooler=kind)
    texts = ["The cat sat.", "Hi", "A much longer line, with punctuation; and more words"]
    together = model.nll(model.make_batch(texts))
    alone = torch.cat([model.nll(model.make_batch([t])) for t in texts])
    assert torch.allclose(together, alone, atol=1e-4)
    # log_prob with any batch size agrees.
    assert model.log_prob(texts, batch_size=1) == pytest.approx(model.log_prob(texts, batch_size=3), abs=1e-4)


@pytest.mark.parametrize("kind", POOLER_KINDS)
def test_word_encoder_ignores_other_words(kind):
    model = tiny_model(pooler=kind, n_queries=2 if kind in ("query", "prefix") else 1)
    a = model.make_batch(["one two six"])
    b = model.make_batch(["one xyz six"])  # word 1 changed, same lengths
    words_a, _ = model.encode_words(a)
    words_b, _ = model.encode_words(b)
    assert torch.allclose(words_a[0, [0, 2]], words_b[0, [0, 2]], atol=1e-6)
    assert not torch.allclose(words_a[0, 1], words_b[0, 1], atol=1e-4)
    # The same word elsewhere (other words around it) has the same vector.
    alone, _ = model.encode_words(model.make_batch(["six"]))
    first, _ = model.encode_words(model.make_batch(["six one"]))
    assert torch.allclose(alone[0, 0], first[0, 0], atol=1e-6)


def test_causality_by_brute_force():
    """Changing byte j of word k never changes a prediction of word < k, nor of word k's bytes <= j."""
    model = tiny_model()
    text = b"ab cd, efg!\nhi"
    batch = model.make_batch([text])
    base = model(batch, end_of_text=True).logits[0]
    word_ids = batch.word_ids[0].tolist()
    starts = {w: word_ids.index(w) for w in set(word_ids)}
    changed_later = 0
    for position in range(len(text)):
        k = word_ids[position]
        j = position - starts[k]
        for value in (0, 65, 200, 255):
            if value == text[position]:
                continue
            ids = batch.byte_ids.clone()
            ids[0, position] = value
            logits = model(WordBatch(ids, batch.word_ids), end_of_text=True).logits[0]
            assert torch.equal(logits[:k], base[:k]), (position, value)
            assert torch.equal(logits[k, : j + 1], base[k, : j + 1]), (position, value)
            changed_later += int(not torch.allclose(logits[k + 1 :], base[k + 1 :]))
    assert changed_later > 0  # later words do see it


def test_word_probabilities_sum_to_one_by_enumeration():
    """With words of at most 2 bytes, p(word + end) over every byte string of length 0..2 sums to 1."""
    model = tiny_model(max_word_bytes=2)
    candidates = [b""] + [bytes([a]) for a in range(256)] + [bytes(p) for p in itertools.product(range(256), repeat=2)]
    assert len(candidates) == 1 + 256 + 65536
    for context in ["", "ab cd"]:
        logp = model.next_word_log_probs(context, candidates, batch_size=20000)
        assert float(torch.logsumexp(logp, 0).exp()) == pytest.approx(1.0, abs=1e-4)


def test_teacher_forcing_equals_word_by_word_scoring():
    """log_prob(text) = sum over words of next_word_log_probs(text so far, [word]) + the end."""
    model = tiny_model()
    text = "We met at noon, then left."
    data = text.encode()
    bounds = word_boundaries(text, max_bytes=TINY.max_word_bytes)
    total = 0.0
    for a, b in zip(bounds, bounds[1:]):
        total += float(model.next_word_log_probs(data[:a], [data[a:b]])[0])
    total += float(model.next_word_log_probs(data, [b""])[0])
    assert model.log_prob([text])[0] == pytest.approx(total, abs=1e-3)
    assert model.log_prob([text], end_of_text=False)[0] == pytest.approx(total - float(model.next_word_log_probs(data, [b""])[0]), abs=1e-3)


def test_bits_per_byte_counts_every_byte():
    assert_bits_per_byte(tiny_model(), ["x y", "zz"], 5)


def test_training_steps_lower_the_loss():
    assert_training_lowers_loss(tiny_model)


def test_limits_raise():
    model = tiny_model()
    with pytest.raises(TokfreeError, match="max_words"):
        model.make_batch([" a" * 60])
    with pytest.raises(TokfreeError, match="max_word_bytes"):
        model.next_word_log_probs("", [b"x" * 9])
    manual = WordBatch(torch.tensor([[1] * 10]), torch.zeros(1, 10, dtype=torch.long))
    with pytest.raises(TokfreeError, match="max_word_bytes"):
        model(manual)


# --- files and configs -----------------------------------------------------------------------------


@pytest.mark.parametrize("tied", [True, False])
def test_save_load_round_trip(tmp_path, tied):
    model = tiny_model(seed=5, pooler="prefix", n_queries=2, tie_embeddings=tied)
    assert (model.head is None) == tied
    model.save(tmp_path / "m")
    loaded = WordPoolLM.load(tmp_path / "m")
    assert loaded.config == model.config and not loaded.training
    batch = model.make_batch(["round trip, please"])
    assert torch.equal(loaded.nll(batch), model.nll(batch))
    document = json.loads((tmp_path / "m" / "config.json").read_text())
    assert document["format"] == "tokfree.WordPoolLM" and document["version"] == 1
    first = (tmp_path / "m" / "model.safetensors").read_bytes()
    loaded.save(tmp_path / "m2")
    assert (tmp_path / "m2" / "model.safetensors").read_bytes() == first


def test_load_errors(tmp_path):
    with pytest.raises(TokfreeError, match="does not exist"):
        WordPoolLM.load(tmp_path / "nothing")
    model = tiny_model()
    model.save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    document = json.loads(path.read_text())
    document["format"] = "tokfree.CausalLM"
    path.write_text(json.dumps(document))
    with pytest.raises(TokfreeError, match="not a tokfree WordPoolLM config"):
        WordPoolLM.load(tmp_path / "m")
    document["format"] = "tokfree.WordPoolLM"
    document["config"]["d_byte"] = 32
    path.write_text(json.dumps(document))
    with pytest.raises(TokfreeError, match="shape"):
        WordPoolLM.load(tmp_path / "m")
    document["config"]["colour"] = 1
    path.write_text(json.dumps(document))
    with pytest.raises(TokfreeError, match="unknown field"):
        WordPoolLM.load(tmp_path / "m")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"d_model": 0}, "d_model"),
        ({"d_model": 30, "n_heads": 4}, "even widths"),
        ({"d_byte": 16, "n_byte_heads": 16}, "even widths"),
        ({"pooler": "max"}, "pooler"),
        ({"n_queries": 0}, "n_queries"),
        ({"n_encoder_layers": -1}, "n_encoder_layers"),
        ({"max_word_bytes": 0}, "max_word_bytes"),
        ({"dropout": 1.0}, "dropout"),
        ({"d_ff": 2.5}, "d_ff"),
        ({"max_words": True}, "max_words"),
        ({"tie_embeddings": 1}, "tie_embeddings"),
    ],
)
def test_bad_config_raises(changes, message):
    with pytest.raises(TokfreeError, match=message):
        WordPoolLMConfig(**{**TINY.__dict__, **changes})


def test_docstring_examples():
    failures, _ = doctest.testmod(pooling_module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
