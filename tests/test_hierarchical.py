"""tokfree.nn.hierarchical (HierarchicalLM) and the online word splitting it relies on.

Causality is checked by brute force: every byte of several texts (multi-byte characters, invalid
UTF-8, camelCase, runs of spaces, UAX #29 look-ahead cases) is replaced, the text re-split, and
no earlier prediction may move. Generation is checked against teacher forcing step by step.
"""

from __future__ import annotations

import doctest
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from _word_models_helpers import assert_bits_per_byte, assert_training_lowers_loss  # noqa: E402
import tokfree.nn.hierarchical as hierarchical_module  # noqa: E402
from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.nn._segment import CONTEXT_BYTES, split_bytes, split_bytes_online  # noqa: E402
from tokfree.nn.hierarchical import HierarchicalLM, HierarchicalLMConfig  # noqa: E402
from tokfree.nn.pooling import POOLER_KINDS, WordBatch, batch_words  # noqa: E402
from tokfree.words import word_boundaries, word_boundaries_batch  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = HierarchicalLMConfig(
    d_model=32, n_layers=2, n_heads=2, d_byte=16, n_byte_heads=2, n_encoder_layers=1, n_decoder_layers=1,
    max_bytes=96, max_words=64, max_word_bytes=6,
)  # fmt: skip

# Texts where a whole-text split would leak the future: multi-byte characters starting words,
# invalid and truncated UTF-8, camelCase, space runs, a fraction slash (UAX #29 WB11/12 look ahead).
TRICKY = [
    "a 日本 x",
    "howAreYou  ok",
    "1⁄2 and 3.5",
    "e\u0301t\u00e9, \U0001f1fa\U0001f1f8!",
    "Tabs\tand\nlines",
]
TRICKY_BYTES = [t.encode() for t in TRICKY] + [b"ab\xff cd\xe6\x97 e\xc3", b"\xf0\x9f\x98 z"]


def tiny_model(seed: int = 0, **changes) -> HierarchicalLM:
    model = HierarchicalLM(HierarchicalLMConfig(**{**TINY.__dict__, **changes}), seed=seed).eval()
    # The guide projection starts at zero (see the model); give it weight so that the word path
    # matters in these untrained models (otherwise causality would hold trivially for it).
    with torch.no_grad():
        model.to_guide.weight.copy_(torch.randn(model.to_guide.weight.shape, generator=torch.Generator().manual_seed(seed)) * 0.3)
    return model


# --- online splitting --------------------------------------------------------------------------


def test_complete_words_by_hand():
    batch = batch_words(["Hello, world!", "a 日本"], max_word_bytes=16, online=True)
    assert batch.word_ids[0].tolist() == [0] * 6 + [1] * 7
    assert batch.complete_words[0].tolist() == [0] * 7 + [1] * 7  # " world!" starts at byte 6: known after 7 bytes
    # "a", " 日", "本": the space is known to start a word after byte 1; 本 only once its 3 bytes are in.
    assert batch.word_ids[1].tolist() == [0, 1, 1, 1, 1, 2, 2, 2] + [-1] * 5
    assert batch.complete_words[1].tolist()[:9] == [0, 0, 1, 1, 1, 1, 1, 1, 2]


def _assert_prefix_stable(data: bytes, cap: int | None) -> None:
    (starts, decided), = split_bytes_online([data], max_bytes=cap)
    full = set(zip(starts, decided))
    assert starts == sorted(set(starts)) and (not data or starts[0] == 0)
    assert all(d > s for s, d in zip(starts[1:], decided[1:]))
    if cap is not None:
        ends = starts[1:] + [len(data)]
        assert all(e - s <= cap for s, e in zip(starts, ends))
    for k in range(1, len(data) + 1):
        (s2, d2), = split_bytes_online([data[:k]], max_bytes=cap)
        assert {(s, d) for s, d in full if d <= k} == {(s, d) for s, d in zip(s2, d2) if d <= k}, (data, k)


PIECES = ["a", "b", "A", "Z", "1", "9", " ", "  ", "\n", "\r\n", "\t", ".", ",", "_", "(", "⁄", "é", "\u0301", "日", "本",
          "\U0001f1fa", "\U0001f1f8", "\u200d", "'", '"']  # fmt: skip
BAD = [b"\xff", b"\xe6\x97", b"\xc3", b"\x80", b"\xf0\x9f", b"\xed\xa0\x80"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES).map(str.encode), st.sampled_from(BAD)), max_size=20), st.sampled_from([None, 4, 5, 8]))
def test_online_split_is_prefix_stable(pieces, cap):
    """A decision, once its bytes are read, never changes when more bytes arrive."""
    _assert_prefix_stable(b"".join(pieces), cap)


def test_online_split_equals_the_splitter_on_real_text(documents):
    text = "\n".join(documents)[:120_000]
    data = text.encode()
    (starts, _), = split_bytes_online([data], max_bytes=16)
    assert starts == word_boundaries(text, max_bytes=16)[:-1]


def test_byte_pair_shortcut_agrees_with_the_splitter():
    """The (byte, byte) table the online splitter uses instead of a call, against the call itself."""
    rng = random.Random(0)
    alphabet = "abcXYZ019 .,;:_-()'\"\n\t/"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    for text in texts:
        data = text.encode()
        (starts, _), = split_bytes_online([data])
        asked = set()
        windows = [data[max(0, s - CONTEXT_BYTES) : s + 1].decode() for s in range(1, len(data))]
        for s, bounds in zip(range(1, len(data)), word_boundaries_batch(windows)):
            if s - max(0, s - CONTEXT_BYTES) in bounds:
                asked.add(s)
        assert set(starts[1:]) == asked, text


def test_split_bytes_is_lossless_on_any_bytes():
    rng = random.Random(1)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 30)))
        bounds = split_bytes(data, max_bytes=4)
        assert bounds[0] == 0 and bounds[-1] == len(data) and all(a < b for a, b in zip(bounds, bounds[1:]))
        (starts, _), = split_bytes_online([data], max_bytes=4)
        assert (starts + [len(data)] if data else [0]) == sorted(set(starts + [len(data)]))


# --- the model ---------------------------------------------------------------------------------------


def test_shapes_and_normalisation():
    model = tiny_model()
    batch = model.make_batch(["Hello, world!", "", b"\xff\xfe"])
    logits = model(batch)
    assert logits.shape == (3, 14, 259) and logits.dtype == torch.float32
    assert torch.all(logits[..., [256, 258]] == float("-inf"))
    probs = logits.log_softmax(-1).exp().sum(-1)
    assert torch.allclose(probs, torch.ones_like(probs), atol=1e-5)
    logp = model.next_byte_log_probs("Hello")
    assert logp.shape == (259,) and logp.dtype == torch.float64
    assert float(torch.logsumexp(logp, 0)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kind", POOLER_KINDS)
def test_padding_never_changes_outputs(kind):
    model = tiny_model(pooler=kind)
    texts = ["The cat sat.", "Hi", "A longer line, with punctuation; and more words", ""]
    batch = model.make_batch(texts)
    together = model(batch)
    for row, text in enumerate(texts):
        alone = model(model.make_batch([text]))[0]
        n = len(text.encode()) + 1
        assert torch.allclose(together[row, :n], alone[:n], atol=1e-5)
    assert model.log_prob(texts, batch_size=1) == pytest.approx(model.log_prob(texts, batch_size=4), abs=1e-4)


@pytest.mark.parametrize("kind", POOLER_KINDS)
def test_causality_by_brute_force(kind):
    """Replacing byte t (and re-splitting) never changes the predictions made before reading it."""
    model = tiny_model(pooler=kind, n_queries=2 if kind in ("query", "prefix") else 1)
    rng = random.Random(2)
    moved = 0
    for data in TRICKY_BYTES:
        base = model(model.make_batch([data]))[0]
        for t in range(len(data)):
            for value in rng.sample(range(256), 2) + [0x20, 0xE6]:
                if value == data[t]:
                    continue
                changed = data[:t] + bytes([value]) + data[t + 1 :]
                logits = model(model.make_batch([changed]))[0]
                assert torch.allclose(logits[: t + 1], base[: t + 1], atol=1e-5, rtol=0), (kind, data, t, value)
                moved += int(not torch.allclose(logits[t + 1 :], base[t + 1 :]))
        # A different suffix altogether (other length, other words) changes nothing earlier either.
        for t in range(0, len(data), 3):
            changed = data[:t] + b"ZZ top\xe6\x97\xa5"
            logits = model(model.make_batch([changed]))[0]
            assert torch.allclose(logits[: t + 1], base[: t + 1], atol=1e-5, rtol=0)
    assert moved > 0


def test_guide_comes_only_from_finished_words():
    """Changing the backbone's inputs for word w (its pooled bytes) moves no prediction inside words <= w."""
    model = tiny_model()
    text = b"one two three"
    batch = model.make_batch([text])
    base = model(batch)[0]
    words = batch.word_ids[0].tolist()
    for w in range(max(words) + 1):
        # Perturb the pooler output of word w through a hook; positions that do not yet know word w is
        # finished (complete_words <= w) must not move.
        def hook(module, args, output, w=w):
            pooled, mask = output
            pooled = pooled.clone()
            pooled[:, w] += 10.0
            return pooled, mask

        handle = model.pooler.register_forward_hook(hook)
        logits = model(batch)[0]
        handle.remove()
        unaware = batch.complete_words[0] <= w
        assert torch.allclose(logits[unaware], base[unaware], atol=1e-6)
        if bool((~unaware).any()):
            assert not torch.allclose(logits[~unaware], base[~unaware])


def test_generation_path_equals_teacher_forcing():
    """log_prob(text) = sum of next_byte_log_probs over its prefixes (re-split each time) + the end."""
    model = tiny_model()
    for data in TRICKY_BYTES[:4] + TRICKY_BYTES[-2:]:
        stepwise = sum(float(model.next_byte_log_probs(data[:p])[data[p]]) for p in range(len(data)))
        end = float(model.next_byte_log_probs(data)[257])
        assert model.log_prob([data])[0] == pytest.approx(stepwise + end, abs=1e-3)
        assert model.log_prob([data], end_of_text=False)[0] == pytest.approx(stepwise, abs=1e-3)


def test_generate_is_seeded_and_lossless():
    model = tiny_model()
    a = model.generate(b"Hello wo", 24, seed=7)
    assert a == model.generate(b"Hello wo", 24, seed=7)
    assert isinstance(a, bytes) and len(a) <= 24
    others = {model.generate(b"Hello wo", 24, seed=s) for s in range(4)}
    assert len(others) > 1
    greedy = model.generate("Hello wo", 10, temperature=0)
    assert greedy == model.generate("Hello wo", 10, temperature=0, seed=3)
    assert model.generate("x", 0) == b""
    assert len(model.generate("x", 16, top_p=0.5, seed=1)) <= 16
    # Whatever bytes come out, the model scores them again exactly, and they survive a round trip.
    text = b"Hello wo" + a
    assert text.decode("utf-8", "surrogateescape").encode("utf-8", "surrogateescape") == text
    batch = model.make_batch([text])
    ids, words = batch.byte_ids[0].tolist(), batch.word_ids[0].tolist()
    assert b"".join(bytes(i for i, w in zip(ids, words) if w == k) for k in range(max(words) + 1)) == text
    with pytest.raises(TokfreeError, match="temperature"):
        model.generate("x", 3, temperature=-1)
    with pytest.raises(TokfreeError, match="top_p"):
        model.generate("x", 3, top_p=0)
    with pytest.raises(TokfreeError, match="max_bytes"):
        model.generate("x", -1)


def test_generation_keeps_a_window_past_max_bytes():
    model = tiny_model(max_bytes=24, max_words=8)
    out = model.generate("a b c d e f g h i j k", 5, seed=0)  # 21 bytes, 11 words > max_words
    assert len(out) <= 5


def test_bits_per_byte_and_limits():
    model = tiny_model()
    assert_bits_per_byte(model, ["x y", "zz\xe9"], 7)
    with pytest.raises(TokfreeError, match="max_bytes"):
        model.make_batch(["x" * 97])
    with pytest.raises(TokfreeError, match="max_words"):
        model.make_batch(["\n" * 80])
    with pytest.raises(TokfreeError, match="complete_words"):
        model(WordBatch(torch.tensor([[1, 2]]), torch.tensor([[0, 0]])))


def test_training_steps_lower_the_loss():
    assert_training_lowers_loss(tiny_model)


# --- files and configs -----------------------------------------------------------------------------


def test_guide_starts_at_zero():
    model = HierarchicalLM(TINY, seed=0)
    assert torch.count_nonzero(model.to_guide.weight) == 0


@pytest.mark.parametrize("tied", [True, False])
def test_save_load_round_trip(tmp_path, tied):
    model = tiny_model(seed=4, pooler="last", tie_embeddings=tied)
    assert (model.head is None) == tied
    model.save(tmp_path / "h")
    loaded = HierarchicalLM.load(tmp_path / "h")
    assert loaded.config == model.config and not loaded.training
    batch = model.make_batch(["round trip, please", "ok"])
    assert torch.equal(loaded(batch), model(batch))
    document = json.loads((tmp_path / "h" / "config.json").read_text())
    assert document == {"format": "tokfree.HierarchicalLM", "version": 1, "config": model.config.__dict__}
    first = (tmp_path / "h" / "model.safetensors").read_bytes()
    loaded.save(tmp_path / "h2")
    assert (tmp_path / "h2" / "model.safetensors").read_bytes() == first


def test_load_errors(tmp_path):
    model = tiny_model()
    model.save(tmp_path / "h")
    (tmp_path / "h" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(TokfreeError, match="readable safetensors"):
        HierarchicalLM.load(tmp_path / "h")
    model.save(tmp_path / "h")
    path = tmp_path / "h" / "config.json"
    document = json.loads(path.read_text())
    document["version"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(TokfreeError, match="version"):
        HierarchicalLM.load(tmp_path / "h")
    path.write_text("{")
    with pytest.raises(TokfreeError, match="JSON"):
        HierarchicalLM.load(tmp_path / "h")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"max_bytes": 0}, "max_bytes"),
        ({"max_word_bytes": 3}, "max_word_bytes"),
        ({"n_layers": 0}, "n_layers"),
        ({"d_model": 32, "n_heads": 3}, "even widths"),
        ({"pooler": "attention"}, "pooler"),
        ({"dropout": -0.1}, "dropout"),
        ({"byte_d_ff": 0}, "byte_d_ff"),
        ({"tie_embeddings": "yes"}, "tie_embeddings"),
    ],
)
def test_bad_config_raises(changes, message):
    with pytest.raises(TokfreeError, match=message):
        HierarchicalLMConfig(**{**TINY.__dict__, **changes})


def test_docstring_examples():
    failures, _ = doctest.testmod(hierarchical_module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
