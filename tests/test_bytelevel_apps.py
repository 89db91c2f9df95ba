"""tokfree.bytelevel applications: mid-token completion, scoring, token healing baselines, FIM and
ensembles, checked against brute-force enumeration over every text of toy sources."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

import tokfree
from tokfree.bytelevel import EOT, ByteEnsemble, ByteLM, complete, fim, fim_prompt, fim_score, score_continuation
from tokfree.bytelevel.bytelm import sample_byte
from tokfree.bytelevel.toy import GreedyTokenizer, MarkovSource, PushforwardLM, SequenceLM

SYMBOLS = [" ", "\n", "1", "a", ".", "é"]
CORPUS = ["a a.  11 1é é.a\n\n a1 aé. \n a  a 111 1111 .. é é", "aa a. 1.1 a\n a é é é1"] * 3
GREEDY = [b"aa", b"a ", b" a", b"a.", b"\xc3\xa9", b"\xa9a", b"1 ", b" \xc3", b"11", b"111", b".\n", b"\n\n"]


def make_tokenizer(kind: str):
    if kind == "greedy":
        return GreedyTokenizer(GREEDY)
    return tokfree.train_bpe(iter(CORPUS), 296, pre_tokenizer=kind, show_progress=False, min_frequency=1, max_token_length=4)


class Oracle:
    """Brute force over every text of a distribution: prefix masses and complete-text masses."""

    def __init__(self, texts: dict[str, float] | dict[bytes, float]) -> None:
        self.texts = texts
        self.mass: dict[bytes, float] = defaultdict(float)
        self.ends: dict[bytes, float] = defaultdict(float)
        for text, p in texts.items():
            data = text.encode() if isinstance(text, str) else text
            self.ends[data] += p
            for k in range(len(data) + 1):
                self.mass[data[:k]] += p

    def probs(self, x: bytes) -> np.ndarray:
        """(257,) P(next byte | x), P(end | x)."""
        out = np.array([self.mass.get(x + bytes([b]), 0.0) for b in range(256)] + [self.ends.get(x, 0.0)])
        return out / self.mass[x]

    def logp(self, x: bytes) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.probs(x))

    def complete(self, x: bytes, max_bytes: int, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0) -> bytes:
        """The same sampling loop as `complete`, on the brute-force distributions."""
        rng = np.random.default_rng(seed)
        out = b""
        while len(out) < max_bytes:
            choice = sample_byte(self.logp(x + out), temperature=temperature, top_p=top_p, rng=rng)
            if choice == EOT:
                break
            out += bytes([choice])
        return out


@pytest.fixture(scope="module")
def source():
    return MarkovSource(SYMBOLS, max_len=4, seed=1).texts()


@pytest.fixture(scope="module")
def models(source):
    out = {}
    for kind in ["none", "greedy"]:
        tok = make_tokenizer(kind)
        out[kind] = ByteLM(PushforwardLM(source, tok), tok)
    return out


def _is_mid_token(blm: ByteLM, prompt: bytes) -> bool:
    """Whether every cover of `prompt` with mass has its last token crossing the prompt's end."""
    state = blm.prefill(prompt)
    state._expand()
    return all(extra > 0 for _, extra, logq in state.covers if logq > -math.inf)


# --- completion and scoring ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["none", "greedy"])
def test_complete_from_mid_token_prompt_equals_brute_force(kind, source, models):
    blm = models[kind]
    oracle = Oracle(source)
    prompts = [b"a", b"1", b"\xc3", b"a ", b" \xc3", b"11", b"a.", b"\n", b"1 a", b"aa"]
    prompts = [p for p in prompts if oracle.mass.get(p, 0) > 0]
    assert sum(_is_mid_token(blm, p) for p in prompts) >= 3  # the point of the test: prompts ending inside a token
    for prompt in prompts:
        assert complete(blm, prompt, max_bytes=6) == oracle.complete(prompt, 6)
        for seed in range(3):
            expected = oracle.complete(prompt, 6, temperature=0.9, top_p=0.95, seed=seed)
            assert complete(blm, prompt, max_bytes=6, temperature=0.9, top_p=0.95, seed=seed) == expected
        for continuation in [b"", b"a", b" 1", b"\xa9", b".\n"]:
            full = prompt + continuation
            want = math.log(oracle.mass[full] / oracle.mass[prompt]) if oracle.mass.get(full, 0) > 0 else -math.inf
            assert score_continuation(blm, prompt, continuation) == pytest.approx(want, abs=1e-9)
            want_end = math.log(oracle.ends[full] / oracle.mass[prompt]) if oracle.ends.get(full, 0) > 0 else -math.inf
            assert score_continuation(blm, prompt, continuation, eot=True) == pytest.approx(want_end, abs=1e-9)


def test_complete_stop_strings_and_errors(models):
    blm = models["greedy"]
    full = complete(blm, b"", max_bytes=8)
    assert len(full) >= 2
    stop = full[1:2]
    cut = complete(blm, b"", max_bytes=8, stop=stop)
    assert cut == full[: full.index(stop)]
    assert complete(blm, b"", max_bytes=1) == full[:1]
    for method in ["naive", "healing"]:
        plain = complete(blm, b"", max_bytes=8, method=method)
        want = plain[: plain.index(stop)] if stop in plain else plain
        assert complete(blm, b"", max_bytes=8, stop=[stop], method=method) == want
    with pytest.raises(tokfree.TokfreeError):
        complete(blm, b"a", max_bytes=3, method="beam")
    with pytest.raises(tokfree.TokfreeError):
        complete(blm, b"a", max_bytes=3, stop=[b""])
    with pytest.raises(tokfree.TokfreeError):
        fim(blm, b"a", b"b", mode="psm", max_bytes=3)


def test_token_baselines_agree_with_byte_level_on_complete_texts(source, models):
    """From the start of text with the true token LM, the canonical path carries all the mass of a
    complete text: naive == healing == byte-level == log P(text)."""
    for kind, blm in models.items():
        for text in ["a 1.", "é\n a", "11é", "a"]:
            want = math.log(source[text])
            for method in ["byte", "naive", "healing"]:
                assert score_continuation(blm, b"", text, eot=True, method=method) == pytest.approx(want, abs=1e-9), (kind, method)


# --- token healing: hand-constructed cases ------------------------------------------------------


def test_healing_fixes_naive_on_a_split_token():
    # "ab" is one token: after the prompt "a" tokenized as [a], the LM never saw "b" follow the token "a".
    tok = GreedyTokenizer([b"ab"])
    texts = {"ab": 0.6, "a": 0.1, "ac": 0.3}
    blm = ByteLM(PushforwardLM(texts, tok), tok)
    assert Oracle(texts).complete(b"a", 5) == b"b"
    assert complete(blm, b"a", max_bytes=5, method="naive") == b"c"  # wrong
    assert complete(blm, b"a", max_bytes=5, method="healing") == b"b"  # healed: [] then a token starting with "a"
    assert complete(blm, b"a", max_bytes=5) == b"b"
    assert score_continuation(blm, b"a", b"b", eot=True) == pytest.approx(math.log(0.6), abs=1e-12)
    assert score_continuation(blm, b"a", b"b", eot=True, method="healing") == pytest.approx(math.log(0.6), abs=1e-12)
    assert score_continuation(blm, b"a", b"b", eot=True, method="naive") == -math.inf
    # naive scores "c" as q(c | [a]) q(eos | [a, c]) = 0.3 / 0.4
    assert score_continuation(blm, b"a", b"c", eot=True, method="naive") == pytest.approx(math.log(0.75), abs=1e-12)


def test_healing_fails_when_the_true_token_spans_two_prompt_tokens():
    # "abc" tokenizes as [ab, c]; the likely text "abcd" is the single token "abcd", which starts
    # before the one token healing backs off.
    tok = GreedyTokenizer([b"ab", b"abcd"])
    texts = {"abcd": 0.7, "abce": 0.2, "ab": 0.1}
    blm = ByteLM(PushforwardLM(texts, tok), tok)
    assert [tok.id_to_token(i) for i in tok.encode("abc")] == [b"ab", b"c"]
    assert Oracle(texts).complete(b"abc", 5) == b"d"
    assert complete(blm, b"abc", max_bytes=5, method="naive") == b"e"
    assert complete(blm, b"abc", max_bytes=5, method="healing") == b"e"
    assert complete(blm, b"abc", max_bytes=5) == b"d"
    assert score_continuation(blm, b"abc", b"d", eot=True) == pytest.approx(math.log(0.7 / 0.9), abs=1e-12)
    assert score_continuation(blm, b"abc", b"d", eot=True, method="healing") == -math.inf
    assert score_continuation(blm, b"abc", b"d", eot=True, method="naive") == -math.inf


# --- fill in the middle -------------------------------------------------------------------------


def test_fim_psm_equals_brute_force_over_middles():
    """A toy FIM model: texts of a Markov source split at every (i <= j) character pair uniformly,
    trained as <PRE> enc(prefix) <SUF> enc(suffix) <MID> enc(middle) <EOS>."""
    texts = MarkovSource([" ", "a", "1", "é"], max_len=4, seed=3).texts()
    tok = GreedyTokenizer(GREEDY)
    size = tok.vocab_size
    pre, suf, mid, eos = size, size + 1, size + 2, size + 3
    seqs: dict[tuple[int, ...], float] = defaultdict(float)
    for text, p in texts.items():
        n = len(text)
        weight = p * 2 / ((n + 1) * (n + 2))
        for i in range(n + 1):
            for j in range(i, n + 1):
                enc = lambda s: tuple(tok.encode(s))  # noqa: E731
                seqs[(pre,) + enc(text[:i]) + (suf,) + enc(text[j:]) + (mid,) + enc(text[i:j]) + (eos,)] += weight
    blm = ByteLM(SequenceLM(seqs, size + 4, eos), tok)
    rng = np.random.default_rng(0)
    keys = sorted(texts)
    checked = 0
    for _ in range(12):
        text = keys[rng.integers(len(keys))]
        n = len(text)
        i = int(rng.integers(n + 1))
        j = int(rng.integers(i, n + 1))
        prefix, suffix = text[:i].encode(), text[j:].encode()
        # brute force: P(middle | prefix, suffix) over every text and split giving this prefix and suffix
        middles: dict[str, float] = defaultdict(float)
        for t, p in texts.items():
            a, b = len(text[:i]), len(t) - len(text[j:])
            if b >= a and t[:a].encode() == prefix and t[b:].encode() == suffix:
                middles[t[a:b]] += p * 2 / ((len(t) + 1) * (len(t) + 2))
        oracle = Oracle(middles)
        context = (pre,) + tuple(tok.encode(prefix.decode())) + (suf,) + tuple(tok.encode(suffix.decode())) + (mid,)
        stack = [(b"", blm.prefill(b"", context_ids=context))]
        while stack:  # every byte prefix of every middle, incrementally
            x, state = stack.pop()
            expected = oracle.probs(x)
            np.testing.assert_allclose(np.exp(state.logp_next()), expected, atol=1e-9)
            checked += 1
            for b in np.nonzero(expected[:256])[0]:
                stack.append((x + bytes([b]), state.advance(int(b))))
        assert fim(blm, prefix, suffix, mode="psm", fim_ids=(pre, suf, mid), max_bytes=8, middle_end="text") == oracle.complete(b"", 8)
        assert fim(blm, prefix, suffix, mode="psm", fim_ids=(pre, suf, mid), max_bytes=8, middle_end="text", temperature=1.0, seed=5) == oracle.complete(b"", 8, 1.0, seed=5)
    assert checked > 50


@pytest.mark.parametrize("kind", ["none", "gpt2", "greedy"])
def test_fim_spm_equals_brute_force_when_the_prefix_ends_mid_token(kind):
    """A toy SPM model trained the way `tokfree.training.fim` builds examples: every text of a
    Markov source, split at each token boundary j of its own encoding (uniformly), as
    <PRE> <SUF> toks[j:] <MID> toks[:j] <EOS>. Byte-level FIM must equal brute force over every
    (text, split) consistent with the suffix's tokens, for prefixes that end anywhere."""
    texts = MarkovSource(SYMBOLS[:4], max_len=5, seed=4).texts()
    tok = make_tokenizer(kind)
    size = tok.vocab_size
    pre, suf, mid, eos = size, size + 1, size + 2, size + 3
    seqs: dict[tuple[int, ...], float] = defaultdict(float)
    for text, p in texts.items():
        toks = tuple(tok.encode(text))
        for j in range(len(toks) + 1):
            seqs[(pre, suf) + toks[j:] + (mid,) + toks[:j] + (eos,)] += p / (len(toks) + 1)
    blm = ByteLM(SequenceLM(seqs, size + 4, eos), tok)
    ids = (pre, suf, mid)
    rng = np.random.default_rng(1)
    keys = sorted(texts)
    mid_token = checked = 0
    for _ in range(14):
        text = keys[rng.integers(len(keys))].encode()
        i = int(rng.integers(len(text) + 1))
        j = int(rng.integers(i, len(text) + 1))
        prefix, middle, suffix = text[:i], text[i:j], text[j:]
        context, prompt = fim_prompt(blm, prefix, suffix, mode="spm", fim_ids=ids)
        assert prompt == prefix and context[:2] == (pre, suf) and context[-1] == mid
        streams: dict[bytes, float] = defaultdict(float)  # bytes after <MID>, given the suffix's tokens
        for t, p in texts.items():
            toks = tuple(tok.encode(t))
            for k in range(len(toks) + 1):
                if (pre, suf) + toks[k:] + (mid,) == context:
                    streams[b"".join(tok.id_to_token(x) for x in toks[:k])] += p / (len(toks) + 1)
        oracle = Oracle(streams)
        if oracle.mass.get(prefix, 0.0) == 0.0:
            continue
        mid_token += i not in np.cumsum([0, *[len(tok.id_to_token(x)) for x in tok.encode(text.decode())]])
        state = blm.prefill(prefix, context_ids=context, end="boundary")
        for b in middle:
            np.testing.assert_allclose(np.exp(state.logp_next()), oracle.probs(state.data), atol=1e-9)
            state = state.advance(b)
            checked += 1
        expected = math.log(oracle.ends[text[:j]] / oracle.mass[prefix]) if oracle.ends.get(text[:j]) else -math.inf
        assert fim_score(blm, prefix, middle, suffix, mode="spm", fim_ids=ids) == pytest.approx(expected, abs=1e-9)
        assert fim(blm, prefix, suffix, mode="spm", fim_ids=ids, max_bytes=6) == oracle.complete(prefix, 6)
        for method in ("naive", "healing"):  # the baselines run on the same prompt and context
            assert isinstance(fim(blm, prefix, suffix, mode="spm", fim_ids=ids, max_bytes=6, method=method), bytes)
    assert checked > 10 and mid_token > 0


@pytest.mark.parametrize("kind", ["none", "greedy"])
def test_fim_plain_equals_brute_force_over_candidate_middles(kind, source, models):
    blm = models[kind]
    oracle = Oracle(source)
    for prefix, suffix in [(b"a", b"."), (b"1", b"a"), (b"\xc3", b" "), (b"", b"1")]:
        candidates: list[bytes] = []
        for k in range(4):  # the documented candidate set: every prefix of 4 sampled continuations
            text = oracle.complete(prefix, 3, temperature=1.0, seed=7 + k)
            candidates += [text[:cut] for cut in range(len(text) + 1) if text[:cut] not in candidates]
        best, best_score = b"", -math.inf
        for middle in candidates:
            full = prefix + middle + suffix
            want = math.log(oracle.ends[full] / oracle.mass[prefix]) if oracle.ends.get(full, 0) > 0 else -math.inf
            assert score_continuation(blm, prefix, middle + suffix, eot=True) == pytest.approx(want, abs=1e-9)
            if want > best_score:
                best, best_score = middle, want
        got = fim(blm, prefix, suffix, mode="plain", max_bytes=3, temperature=1.0, seed=7, num_candidates=4)
        assert got == best
        # the token-level baselines run through the same candidate/ranking machinery
        assert isinstance(fim(blm, prefix, suffix, mode="plain", max_bytes=3, method="healing"), bytes)


# --- ensembles ----------------------------------------------------------------------------------


def _walk(state, oracle: Oracle, limit: int):
    """(prefix, state) for every byte prefix of the support up to `limit` bytes."""
    stack = [(b"", state)]
    while stack:
        x, state = stack.pop()
        yield x, state
        if len(x) < limit:
            for b in np.nonzero(oracle.probs(x)[:256])[0]:
                stack.append((x + bytes([b]), state.advance(int(b))))


@pytest.mark.parametrize("mode", ["mixture", "product", "posterior"])
def test_ensemble_of_one_source_through_two_tokenizers_is_a_no_op(mode, source, models):
    oracle = Oracle(source)
    ens = ByteEnsemble([models["none"], models["greedy"]], [0.3, 0.7], mode=mode)
    worst, count = 0.0, 0
    for x, state in _walk(ens.prefill(b""), oracle, 4):
        p = np.exp(state.logp_next())
        worst = max(worst, np.abs(p - oracle.probs(x)).max(), np.abs(p - np.exp(models["greedy"].prefill(x).logp_next())).max())
        count += 1
    assert count > 200 and worst < 1e-9
    for text in ["a 1.", "é\n a", "11é"]:
        assert ens.score(text) == pytest.approx(math.log(source[text]), abs=1e-9)
        assert ens.score(text) == pytest.approx(models["none"].score(text), abs=1e-9)


def test_ensemble_of_two_sources_equals_brute_force(source):
    other = MarkovSource(SYMBOLS, max_len=4, seed=2).texts()
    tok_a, tok_b = make_tokenizer("gpt2"), make_tokenizer("greedy")
    blm_a, blm_b = ByteLM(PushforwardLM(source, tok_a), tok_a), ByteLM(PushforwardLM(other, tok_b), tok_b)
    oa, ob = Oracle(source), Oracle(other)
    w = np.array([0.25, 0.75])
    union = Oracle({t: 0.5 * source.get(t, 0) + 0.5 * other.get(t, 0) for t in set(source) | set(other)})
    mixture = ByteEnsemble([blm_a, blm_b], w, mode="mixture")
    product = ByteEnsemble([blm_a, blm_b], w, mode="product")
    posterior = ByteEnsemble([blm_a, blm_b], w, mode="posterior")
    both = 0
    for x, state in _walk(mixture.prefill(b""), union, 3):
        in_a, in_b = oa.mass.get(x, 0) > 0, ob.mass.get(x, 0) > 0
        pa = oa.probs(x) if in_a else None
        pb = ob.probs(x) if in_b else None
        expected = w[0] * pa + w[1] * pb if in_a and in_b else pa if in_a else pb  # a model giving x probability 0 drops out
        np.testing.assert_allclose(np.exp(state.logp_next()), expected, atol=1e-9)
        if in_a and in_b:
            both += 1
            mass_a, mass_b = oa.mass[x], ob.mass[x]
            post = w[0] * mass_a * pa + w[1] * mass_b * pb
            np.testing.assert_allclose(np.exp(posterior.prefill(x).logp_next()), post / post.sum(), atol=1e-9)
            with np.errstate(divide="ignore"):
                geo = np.exp(w[0] * np.log(pa) + w[1] * np.log(pb))
            if geo.sum() > 0:
                lp = product.prefill(x).logp_next()
                assert abs(np.exp(lp).sum() - 1) < 1e-12
                np.testing.assert_allclose(np.exp(lp), geo / geo.sum(), atol=1e-9)
    assert both > 50
    for text in ["a 1.", "é\n a", "11é", "a"]:
        want = math.log(w[0] * source.get(text, 0) + w[1] * other.get(text, 0))
        assert posterior.score(text) == pytest.approx(want, abs=1e-9)
    greedy = mixture.generate(b"a", 5, temperature=0)
    assert greedy == complete(mixture, b"a", max_bytes=5)
    with pytest.raises(tokfree.TokfreeError):
        ByteEnsemble([blm_a, blm_b], [1.0, -1.0])
    with pytest.raises(tokfree.TokfreeError):
        ByteEnsemble([blm_a], mode="sum")
