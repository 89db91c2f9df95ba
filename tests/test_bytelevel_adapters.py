"""tokfree.bytelevel.adapters: TorchTokenLM and HFTokenLM against direct model calls."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tokfree.bytelevel.adapters import HFTokenLM, TorchTokenLM  # noqa: E402
from tokfree.bytelevel.protocol import TokenLM  # noqa: E402
from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.nn import CausalLM, CausalLMConfig  # noqa: E402

CONFIG = CausalLMConfig(vocab_size=53, d_model=32, n_layers=2, n_heads=2, max_len=40)
BOS = 0


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def model() -> CausalLM:
    return CausalLM(CONFIG, seed=0).eval()


def direct(model: CausalLM, context: list[int]) -> np.ndarray:
    """The oracle: one unbatched, uncached forward over [BOS] + context, float64 log-softmax."""
    with torch.no_grad():
        logits = model(torch.tensor([[BOS, *context]]))[0, -1]
    return torch.log_softmax(logits.double(), -1).numpy()


def logsumexp(rows: np.ndarray) -> np.ndarray:
    top = rows.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(rows - top).sum(axis=1, keepdims=True)))[:, 0]


def random_contexts(rng: np.random.Generator, n: int, max_len: int = 20) -> list[list[int]]:
    return [rng.integers(0, CONFIG.vocab_size, size=rng.integers(0, max_len + 1)).tolist() for _ in range(n)]


def test_is_a_token_lm(model):
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=1)
    assert isinstance(lm, TokenLM)
    assert lm.vocab_size == CONFIG.vocab_size and lm.eos_id == 1


def test_rows_normalised_and_equal_direct_calls(model):
    rng = np.random.default_rng(0)
    contexts = random_contexts(rng, 12)
    contexts += [contexts[0][:k] for k in range(len(contexts[0]))]  # prefixes in the same call
    contexts += [[], contexts[3], contexts[3]]  # start of text, duplicates
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=1)
    rows = lm.next_logprobs(contexts)
    assert rows.dtype == np.float64 and rows.shape == (len(contexts), CONFIG.vocab_size)
    np.testing.assert_allclose(logsumexp(rows), 0.0, atol=1e-12)
    for row, context in zip(rows, contexts):
        np.testing.assert_allclose(row, direct(model, context), atol=1e-5)


def test_cache_hits_are_identical_and_free(model):
    rng = np.random.default_rng(1)
    contexts = random_contexts(rng, 6)
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=None)
    first = lm.next_logprobs(contexts)
    forwards = lm.stats["forwards"]
    again = lm.next_logprobs(list(reversed(contexts)))
    assert np.array_equal(again, first[::-1])
    assert lm.stats["forwards"] == forwards and lm.stats["row_hits"] == len(contexts)


def test_extension_by_one_token_is_one_incremental_step(model):
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=None)
    context = [5, 9, 12, 7, 33, 2, 8]
    lm.next_logprobs([context])
    assert lm.stats["positions"] == len(context) + 1  # BOS + context, from scratch
    for token in [4, 17, 4, 50]:
        before = dict(lm.stats)
        row = lm.next_logprobs([context + [token]])[0]
        assert lm.stats["forwards"] == before["forwards"] + 1
        assert lm.stats["positions"] == before["positions"] + 1
        np.testing.assert_allclose(row, direct(model, context + [token]), atol=1e-5)
        context = context + [token]
    # Retokenised tail (drop two tokens, add three): fed from the cached prefix, 3 positions.
    before = dict(lm.stats)
    changed = context[:-2] + [1, 2, 3]
    np.testing.assert_allclose(lm.next_logprobs([changed])[0], direct(model, changed), atol=1e-5)
    assert lm.stats["positions"] == before["positions"] + 3


def test_batched_extensions_of_different_lengths(model):
    """Several cached contexts of different lengths extended in one call (left-padded caches)."""
    rng = np.random.default_rng(2)
    bases = [c for c in random_contexts(rng, 8, max_len=25)]
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=None)
    lm.next_logprobs(bases)
    extended = [b + rng.integers(0, CONFIG.vocab_size, size=rng.integers(1, 4)).tolist() for b in bases]
    before = dict(lm.stats)
    rows = lm.next_logprobs(extended)
    assert lm.stats["positions"] - before["positions"] == sum(len(e) - len(b) for e, b in zip(extended, bases))
    for row, context in zip(rows, extended):
        np.testing.assert_allclose(row, direct(model, context), atol=1e-5)


def test_random_call_sequences_with_tiny_caches(model):
    """Eviction everywhere (1-entry caches, small batches): answers stay those of direct calls."""
    rng = np.random.default_rng(3)
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=None, cache_size=1, row_cache_size=2, max_batch_tokens=30, max_backoff=2)
    history = random_contexts(rng, 3)
    for _ in range(12):
        calls = []
        for _ in range(rng.integers(1, 5)):
            base = history[rng.integers(len(history))]
            kind = rng.integers(3)
            if kind == 0:
                ctx = base + rng.integers(0, CONFIG.vocab_size, size=rng.integers(1, 3)).tolist()
            elif kind == 1:
                ctx = base[: rng.integers(0, len(base) + 1)]
            else:
                ctx = random_contexts(rng, 1)[0]
            calls.append(ctx[: CONFIG.max_len - 1])
        rows = lm.next_logprobs(calls)
        for row, context in zip(rows, calls):
            np.testing.assert_allclose(row, direct(model, context), atol=1e-5)
        history.extend(calls)


def test_long_contexts_raise_or_truncate(model):
    long = list(range(1, CONFIG.max_len + 5))
    with pytest.raises(TokfreeError, match="truncate"):
        TorchTokenLM(model, bos_id=BOS, eos_id=None).next_logprobs([long])
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=None, truncate=True)
    window = ([BOS] + long)[-CONFIG.max_len :]
    with torch.no_grad():
        expected = torch.log_softmax(model(torch.tensor([window]))[0, -1].double(), -1).numpy()
    rows = lm.next_logprobs([long, long[:10]])
    np.testing.assert_allclose(rows[0], expected, atol=1e-5)
    np.testing.assert_allclose(rows[1], direct(model, long[:10]), atol=1e-5)


def test_bad_arguments(model):
    lm = TorchTokenLM(model, bos_id=BOS, eos_id=None)
    with pytest.raises(TokfreeError, match="outside"):
        lm.next_logprobs([[1, CONFIG.vocab_size]])
    with pytest.raises(TokfreeError, match="bos_id"):
        TorchTokenLM(model, bos_id=CONFIG.vocab_size, eos_id=None)
    with pytest.raises(TokfreeError, match="CausalLM"):
        TorchTokenLM(object(), bos_id=0, eos_id=None)  # type: ignore[arg-type]


def test_hf_token_lm_matches_direct_calls():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=2, eos_token_id=96)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    lm = HFTokenLM(model, bos_id=96)
    assert isinstance(lm, TokenLM) and lm.eos_id == 96 and lm.vocab_size == 97
    contexts = [[], [5], [5, 6, 7], [8, 9, 10, 11, 12], [5, 6]]
    rows = lm.next_logprobs(contexts)
    np.testing.assert_allclose(logsumexp(rows), 0.0, atol=1e-12)
    for row, context in zip(rows, contexts):
        with torch.no_grad():
            logits = model(torch.tensor([[96, *context]])).logits[0, -1]
        np.testing.assert_allclose(row, torch.log_softmax(logits.double(), -1).numpy(), atol=1e-5)
    assert np.array_equal(lm.next_logprobs(contexts[::-1]), rows[::-1])
    with pytest.raises(TokfreeError, match="bos_id"):
        HFTokenLM(model).next_logprobs([[]])


class _HFLike(torch.nn.Module):
    """A CausalLM behind the transformers calling convention (input_ids, attention_mask -> .logits)."""

    def __init__(self, inner: CausalLM) -> None:
        super().__init__()
        self.inner = inner
        self.config = type("Config", (), {"vocab_size": inner.config.vocab_size, "eos_token_id": 2})()

    def forward(self, input_ids, attention_mask=None):
        return type("Output", (), {"logits": self.inner(input_ids, attention_mask)})()


def test_hf_token_lm_logic_without_transformers(model):
    lm = HFTokenLM(_HFLike(model), bos_id=BOS, max_batch_tokens=20)
    assert lm.eos_id == 2 and lm.vocab_size == CONFIG.vocab_size
    rng = np.random.default_rng(4)
    contexts = random_contexts(rng, 8)
    contexts += [contexts[1][:k] for k in range(len(contexts[1]))]
    rows = lm.next_logprobs(contexts)
    np.testing.assert_allclose(logsumexp(rows), 0.0, atol=1e-12)
    for row, context in zip(rows, contexts):
        np.testing.assert_allclose(row, direct(model, context), atol=1e-5)
    forwards = lm.stats["forwards"]
    assert np.array_equal(lm.next_logprobs(contexts), rows) and lm.stats["forwards"] == forwards
