"""tokfree.bytelevel: exactness against brute-force enumeration over every text of a toy source,
consistency of the API, incremental == from-scratch covers, Rust masks == the Python twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tokfree
from tokfree.bytelevel import EOT, ByteLM
from tokfree.bytelevel.covers import _PROBES
from tokfree.bytelevel.toy import GreedyTokenizer, MarkovSource, PushforwardLM

# Space, newline, digit, letter, punctuation and one 2-byte character (research E1b).
SYMBOLS = [" ", "\n", "1", "a", ".", "é"]
CORPUS = ["a a.  11 1é é.a\n\n a1 aé. \n a  a 111 1111 .. é é", "aa a. 1.1 a\n a é é é1"] * 3
KINDS = ["none", "gpt2", "gpt4", "greedy"]


def make_tokenizer(kind: str):
    if kind == "greedy":
        return GreedyTokenizer([b"aa", b"a ", b" a", b"a.", b"\xc3\xa9", b"\xa9a", b"1 ", b" \xc3", b"11", b"111", b".\n", b"\n\n"])
    return tokfree.train_bpe(iter(CORPUS), 296, pre_tokenizer=kind, show_progress=False, min_frequency=1, max_token_length=4)


@pytest.fixture(scope="module")
def source():
    texts = MarkovSource(SYMBOLS, max_len=4, seed=1).texts()
    mass: dict[bytes, float] = {}
    for text, p in texts.items():
        data = text.encode()
        for k in range(len(data) + 1):
            mass[data[:k]] = mass.get(data[:k], 0.0) + p
    return texts, mass, {text.encode(): p for text, p in texts.items()}


def truth(x: bytes, mass, ends) -> np.ndarray:
    """Brute force: P(next byte | x) and P(end | x) by summing over all texts."""
    out = np.array([mass.get(x + bytes([b]), 0.0) for b in range(256)] + [ends.get(x, 0.0)])
    return out / mass[x]


@pytest.mark.parametrize("kind", KINDS)
def test_exact_against_brute_force(kind, source):
    texts, mass, ends = source
    tok = make_tokenizer(kind)
    lm = PushforwardLM(texts, tok)
    blm = ByteLM(lm, tok)
    worst = worst_prefill = worst_naive = 0.0
    stack = [(b"", blm.prefill(b""))]
    while stack:  # every byte prefix of the support, incrementally (Algorithm B)
        x, state = stack.pop()
        p = np.exp(state.logp_next())
        expected = truth(x, mass, ends)
        assert abs(p.sum() - 1) < 1e-9
        worst = max(worst, np.abs(p - expected).max())
        for b in np.nonzero(expected[:256])[0]:
            stack.append((x + bytes([b]), state.advance(int(b))))
        if len(x) > 0 and x.decode("utf-8", "ignore").encode() == x:  # naive: q(. | enc(x)) by first byte
            ids = list(tok.encode(x.decode()))
            row = np.exp(lm.next_logprobs([ids])[0])
            naive = np.zeros(257)
            for t in range(tok.vocab_size):
                token = tok.id_to_token(t)
                if token:
                    naive[token[0]] += row[t]
            naive[EOT] = row[lm.eos_id]
            worst_naive = max(worst_naive, np.abs(naive - expected).max())
    keys = sorted(k for k in mass if mass[k] > 0)
    for index in np.random.default_rng(0).choice(len(keys), 150, replace=False):  # from scratch (Algorithm A)
        x = keys[index]
        worst_prefill = max(worst_prefill, np.abs(np.exp(blm.prefill(x).logp_next()) - truth(x, mass, ends)).max())
    assert worst < 1e-9 and worst_prefill < 1e-9
    assert worst_naive > 0.1  # tokenization bias: the token-level estimate is far off


@pytest.mark.parametrize("kind", ["gpt2", "greedy"])
def test_score_equals_chain_and_token_likelihood(kind, source):
    texts, _, _ = source
    tok = make_tokenizer(kind)
    lm = PushforwardLM(texts, tok)
    blm = ByteLM(lm, tok)
    for text in ["a 1.", "é\n a", "  a", "11é"]:
        state, chain = blm.prefill(b""), 0.0
        for b in text.encode():
            chain += state.logp_next()[b]
            state = state.advance(b)
        chain += state.logp_next()[EOT]
        ids = list(tok.encode(text))
        token_level = lm.logprob(ids) + lm.next_logprobs([ids])[0, lm.eos_id]
        assert blm.score(text) == pytest.approx(chain, abs=1e-9)
        assert chain == pytest.approx(token_level, abs=1e-9)
        assert math.log(texts[text]) == pytest.approx(chain, abs=1e-9)


def _cover_set(state):
    ids = [(c, extra) for c, extra, logq in state.covers if logq > -math.inf]
    return sorted(ids)


@pytest.mark.parametrize("kind", ["none", "gpt4"])
def test_incremental_covers_equal_from_scratch(kind, source):
    texts, _, _ = source
    tok = make_tokenizer(kind)
    blm = ByteLM(PushforwardLM(texts, tok), tok)

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4), st.integers(0, 1))
    def check(symbols, cut):
        data = "".join(symbols).encode()
        data = data[: len(data) - cut]
        state = blm.prefill(b"")
        for b in data:
            state = state.advance(b)
        state._expand()
        scratch = blm.prefill(data)
        scratch._expand()
        inc = {c: q for c, _, q in state.covers if q > -math.inf}
        fresh = {c: q for c, _, q in scratch.covers if q > -math.inf}
        assert set(inc) == set(fresh)
        if inc:  # masses agree up to the common reference shift
            shift = [inc[c] - fresh[c] for c in inc]
            assert max(shift) - min(shift) < 1e-9
        np.testing.assert_allclose(state.logp_next(), scratch.logp_next(), atol=1e-9)

    check()


@pytest.mark.parametrize("kind", ["none", "gpt2", "gpt4"])
def test_rust_mask_equals_python_reference(kind):
    tok = make_tokenizer(kind)
    blm = ByteLM(PushforwardLM({"a": 1.0}, tok), tok)
    canon = blm.canonicality
    assert canon._rust is not None
    texts = ["a", "a ", "a  ", " \n", "1é", "é", "11", "a.", "\n\n", ""]
    for text in texts:
        data = text.encode()
        for cut in range(len(data) + 1):
            head = data[: len(data) - cut]
            for ids in canon.lefts(head):
                key = ids[max(0, len(ids) - 2) :]
                window = head[len(tok.decode_bytes(list(ids[: len(ids) - len(key)]))) :]
                rust = np.asarray(canon._rust(tok._core, window, list(key), canon.vocab.order.tolist(), _PROBES))
                np.testing.assert_array_equal(rust, canon.mask_reference(key, window))


def test_lm_calls_per_byte_and_prefill_batched(source):
    texts, _, _ = source
    tok = make_tokenizer("gpt2")
    blm = ByteLM(PushforwardLM(texts, tok), tok)
    state = blm.prefill("a ".encode())
    state.logp_next()
    assert len(blm.calls) == 1  # one batched prefill call, nothing more for the first distribution
    assert blm.calls[0] <= 2 * blm.vocab.max_len + 2
    blm.calls.clear()
    for b in b"1.":
        state = state.advance(b)
        state.logp_next()
    assert sum(blm.calls) <= 2  # about one context per byte


def test_generate_is_seeded_and_stops(source):
    texts, _, _ = source
    tok = make_tokenizer("gpt4")
    blm = ByteLM(PushforwardLM(texts, tok), tok)
    first = blm.generate(b"a", 10, temperature=0.8, top_p=0.9, seed=3)
    assert first == blm.generate(b"a", 10, temperature=0.8, top_p=0.9, seed=3)
    assert len(first) <= 3  # the source stops after 4 characters
    assert ("a" + first.decode()) in texts
    greedy = blm.generate(b"", 10, temperature=0)
    assert greedy.decode() in texts
    with pytest.raises(tokfree.TokfreeError):
        blm.generate(b"", 5, top_p=0)
