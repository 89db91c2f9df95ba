"""tokfree.merging.transplantation: TokenAdapt-style tokenizer transplantation.

Expected rows are computed here by hand (float64, loops over one token's pieces and over the whole
old vocabulary), never through the module's private helpers.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import tokfree  # noqa: E402
from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.merging import METHODS, Transplanted, transplant, transplant_model  # noqa: E402
from tokfree.nn import CausalLM, CausalLMConfig  # noqa: E402
from tokfree.training.train_lm import read_texts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EOT = "<|endoftext|>"
KINDS = {"shared", "combined", "local", "global", "mean", "random"}
EPS = 1e-5  # TokenAdapt's temperature safety term

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def train(texts: list[str], vocab_size: int, specials: tuple[str, ...] = (EOT,)) -> tokfree.Tokenizer:
    return tokfree.train_bpe(iter(texts), vocab_size, pre_tokenizer="gpt4", special_tokens=list(specials), show_progress=False)


@pytest.fixture(scope="module")
def english() -> list[str]:
    return read_texts(ROOT / "data/_domain/english/train.jsonl.gz")[:40]


@pytest.fixture(scope="module")
def old_tok(english) -> tokfree.Tokenizer:
    return train(english, 400)


@pytest.fixture(scope="module")
def new_tok(english) -> tokfree.Tokenizer:
    code = read_texts(ROOT / "data/_domain/code/train.jsonl.gz")[:20]
    return train(code + english[:10], 900, specials=(EOT, "<pad>"))


@pytest.fixture(scope="module")
def emb(old_tok) -> torch.Tensor:
    return torch.randn(old_tok.vocab_size, 16, generator=torch.Generator().manual_seed(1))


def ngram_embedder(dim: int = 256, calls: list | None = None):
    """A deterministic external text space: hashed character 1..3-grams of "<s>", each adding a
    signed weight in [0.5, 1.5) (real-valued, so distinct strings rarely tie exactly)."""

    def embed(strings: list[str]) -> torch.Tensor:
        if calls is not None:
            calls.append(list(strings))
        out = torch.zeros(len(strings), dim, dtype=torch.float64)
        for row, s in enumerate(strings):
            padded = f"<{s}>"
            for n in (1, 2, 3):
                for i in range(len(padded) - n + 1):
                    h = zlib.crc32(padded[i : i + n].encode("utf-8", "surrogatepass"))
                    weight = 0.5 + ((h >> 9) % 1024) / 1024
                    out[row, h % dim] += weight if (h >> 8) & 1 else -weight
        return out.numpy()

    return embed


# --- independent oracle ---------------------------------------------------------------------------


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    return float(a @ b) / max(na * nb, 1e-12)


def softmax(xs: list[float]) -> list[float]:
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def expected_rows(E, old, token: bytes, *, k, tau, W, threshold, space=None):
    """(local or None, global or None, row) for a valid-UTF-8 new token, from the TokenAdapt formulas.

    space: None (X = rows of E, X(new) = mean of its pieces' rows) or a callable over strings.
    """
    E = E.double()
    pieces = old.encode(token.decode("utf-8"), disallowed_special=())
    specials = set(old.special_tokens.values())
    candidates = [i for i in range(old.vocab_size) if i not in specials]
    if space is None:
        x_s = sum(E[p] for p in pieces) / len(pieces)
        x_of = {i: E[i] for i in candidates}
    else:
        x_s = torch.as_tensor(space([token.decode("utf-8")])[0]).double()
        vecs = torch.as_tensor(space([old.decode([i]) for i in candidates])).double()
        x_of = dict(zip(candidates, vecs))
    w1 = softmax([cos(x_s, x_of[p]) for p in pieces])
    lens = [len(old.id_to_token(p)) / len(token) for p in pieces]
    w = softmax([((a + b) / 2) / (tau + EPS) for a, b in zip(w1, lens)])
    local = sum(wi * E[p] for wi, p in zip(w, pieces))
    sims = sorted(((cos(x_s, x_of[i]), i) for i in candidates), key=lambda t: (-t[0], t[1]))[:k]  # ties: smaller id
    wg = softmax([s / (tau + EPS) for s, _ in sims])
    wg = [v if s >= threshold else 0.0 for v, (s, _) in zip(wg, sims)]
    glob = None
    if sum(wg) > 0:
        glob = sum((v / sum(wg)) * E[i] for v, (_, i) in zip(wg, sims))
    if glob is None:
        row = local
    elif W == 0:
        row = local
    elif W == 1:
        row = glob
    else:
        row = (1 - W) * local + W * glob
    return local, glob, row


def probe_tokens(old, new, count: int = 6) -> list[tuple[int, bytes]]:
    """New model tokens that are not old tokens, valid UTF-8, at least 2 old pieces: a fixed spread."""
    old_bytes = {old.id_to_token(i) for i in range(old.vocab_size)}
    specials = set(new.special_tokens.values())
    found = []
    for i in range(new.vocab_size):
        token = new.id_to_token(i)
        if i in specials or token in old_bytes:
            continue
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(old.encode(text, disallowed_special=())) >= 2:
            found.append((i, token))
    assert len(found) >= count
    step = len(found) // count
    return found[::step][:count]


def expected_map(old, new) -> dict[int, int]:
    old_special = old.special_tokens
    old_ids = {}
    for i in range(old.vocab_size):
        if i not in old_special.values():
            old_ids.setdefault(old.id_to_token(i), i)
    new_special = {v: s for s, v in new.special_tokens.items()}
    out = {}
    for i in range(new.vocab_size):
        j = old_special.get(new_special[i]) if i in new_special else old_ids.get(new.id_to_token(i))
        if j is not None:
            out[i] = j
    return out


# --- shared rows, idempotence, counts -------------------------------------------------------------


def test_shared_rows_are_bit_identical_copies(old_tok, new_tok, emb):
    out_emb = torch.randn(emb.shape, generator=torch.Generator().manual_seed(2))
    result = transplant((emb, out_emb), old_tok, new_tok)
    mapping = expected_map(old_tok, new_tok)
    assert result.new_to_old == mapping
    assert result.shared == result.counts["shared"] == len(mapping) > 256
    assert mapping[new_tok.special_tokens[EOT]] == old_tok.special_tokens[EOT]
    assert new_tok.special_tokens["<pad>"] not in mapping  # a special the old tokenizer lacks
    dst, src = torch.tensor(list(mapping)), torch.tensor(list(mapping.values()))
    assert torch.equal(result.input[dst], emb[src])
    assert torch.equal(result.output[dst], out_emb[src])


def test_shared_rows_keep_half_precision_bits(old_tok, new_tok, emb):
    half = emb.to(torch.bfloat16)
    result = transplant(half, old_tok, new_tok)
    assert result.input.dtype == torch.bfloat16
    dst, src = torch.tensor(list(result.new_to_old)), torch.tensor(list(result.new_to_old.values()))
    assert torch.equal(result.input[dst], half[src])


@pytest.mark.parametrize("method", METHODS)
def test_same_tokenizer_reproduces_the_matrices(old_tok, emb, method):
    out_emb = emb.flip(0).contiguous()
    tied = transplant(emb, old_tok, old_tok, method=method)
    assert torch.equal(tied.input, emb) and tied.output is None and tied.tied
    untied = transplant((emb, out_emb), old_tok, old_tok, method=method)
    assert torch.equal(untied.input, emb) and torch.equal(untied.output, out_emb)
    assert untied.counts == {**dict.fromkeys(KINDS, 0), "shared": old_tok.vocab_size}


@pytest.mark.parametrize("method", METHODS)
def test_counts_add_up_to_the_new_vocabulary(old_tok, new_tok, emb, method):
    result = transplant(emb, old_tok, new_tok, method=method)
    assert set(result.counts) == KINDS
    assert sum(result.counts.values()) == new_tok.vocab_size == result.vocab_size
    estimated = new_tok.vocab_size - result.shared
    expect = {"hybrid": "combined", "local": "local", "global": "global", "mean": "mean", "random": "random"}[method]
    # the <pad> special is spelled by old pieces too, so every non-shared row gets the method's estimate here
    assert result.counts[expect] == estimated


# --- the estimates against the hand computation --------------------------------------------------


@pytest.mark.parametrize(
    ("W", "threshold", "space"),
    [(0.0, 0.0, None), (1.0, -1.0, None), (0.3, 0.0, None), (0.3, 0.3, None), (0.5, 0.2, "ngram"), (1.0, -1.0, "ngram")],
)
def test_hybrid_rows_match_hand_computation(old_tok, new_tok, emb, W, threshold, space):
    aux = ngram_embedder() if space else None
    result = transplant(emb, old_tok, new_tok, global_weight=W, threshold=threshold, aux_embeddings=aux, k=3, temperature=0.3)
    for new_id, token in probe_tokens(old_tok, new_tok):
        local, glob, row = expected_rows(emb, old_tok, token, k=3, tau=0.3, W=W, threshold=threshold, space=aux)
        assert torch.allclose(result.input[new_id].double(), row, atol=1e-5), token
        if W == 0.0:
            assert torch.allclose(result.input[new_id].double(), local, atol=1e-5)
        if W == 1.0 and glob is not None:
            assert torch.allclose(result.input[new_id].double(), glob, atol=1e-5)


def test_local_and_global_methods_match_hand_computation(old_tok, new_tok, emb):
    local_only = transplant(emb, old_tok, new_tok, method="local")
    global_only = transplant(emb, old_tok, new_tok, method="global", threshold=-1.0, k=5)
    for new_id, token in probe_tokens(old_tok, new_tok):
        local, _, _ = expected_rows(emb, old_tok, token, k=3, tau=0.3, W=0.0, threshold=0.0)
        _, glob, _ = expected_rows(emb, old_tok, token, k=5, tau=0.3, W=1.0, threshold=-1.0)
        assert torch.allclose(local_only.input[new_id].double(), local, atol=1e-5)
        assert torch.allclose(global_only.input[new_id].double(), glob, atol=1e-5)


def test_weights_sum_to_one_so_a_constant_shift_passes_through(old_tok, new_tok, emb):
    # In an external space the weights do not depend on E, so E + c gives rows + c exactly when
    # every weight vector sums to 1 (random rows shift too: their mean is mean(E) + c, std unchanged).
    aux = ngram_embedder()
    for method in ("hybrid", "local", "global", "mean"):
        base = transplant(emb, old_tok, new_tok, method=method, aux_embeddings=aux)
        shifted = transplant(emb + 3.0, old_tok, new_tok, method=method, aux_embeddings=aux)
        assert torch.allclose(shifted.input, base.input + 3.0, atol=1e-4), method


def test_constant_rows_give_constant_estimates(old_tok, new_tok):
    row = torch.linspace(-1.0, 2.0, 16)
    flat = row.expand(old_tok.vocab_size, 16).contiguous()
    result = transplant(flat, old_tok, new_tok, threshold=-1.0)
    assert result.counts["random"] == 0
    assert torch.allclose(result.input, row.expand_as(result.input), atol=1e-5)


def test_untied_output_uses_the_same_weights(old_tok, new_tok, emb):
    # Default space: the weights depend on E_in only, so E_out = 2 E_in gives output = 2 input.
    result = transplant((emb, 2.0 * emb), old_tok, new_tok)
    assert result.counts["random"] == 0
    assert torch.allclose(result.output, 2.0 * result.input, atol=1e-5)


def test_zero_temperature_makes_local_weights_one_hot(old_tok, new_tok, emb):
    result = transplant(emb, old_tok, new_tok, method="local", temperature=1e-9)
    checked = 0
    for new_id, token in probe_tokens(old_tok, new_tok, count=20):
        pieces = old_tok.encode(token.decode(), disallowed_special=())
        E = emb.double()
        x_s = sum(E[p] for p in pieces) / len(pieces)
        w1 = softmax([cos(x_s, E[p]) for p in pieces])
        scores = [(a + len(old_tok.id_to_token(p)) / len(token)) / 2 for a, p in zip(w1, pieces)]
        ranked = sorted(scores, reverse=True)
        if ranked[0] - ranked[1] < 1e-3:  # a near-tie splits the weight: not one-hot
            continue
        best = pieces[scores.index(ranked[0])]
        assert torch.allclose(result.input[new_id], emb[best], atol=1e-6)
        checked += 1
    assert checked >= 5


def test_large_temperature_makes_local_weights_uniform(old_tok, new_tok, emb):
    result = transplant(emb, old_tok, new_tok, method="local", temperature=1e6)
    for new_id, token in probe_tokens(old_tok, new_tok):
        pieces = old_tok.encode(token.decode(), disallowed_special=())
        assert torch.allclose(result.input[new_id], emb[pieces].mean(0), atol=1e-5)


def test_threshold_above_every_cosine_falls_back_to_local(old_tok, new_tok, emb):
    local = transplant(emb, old_tok, new_tok, method="local")
    masked = transplant(emb, old_tok, new_tok, method="hybrid", threshold=1.5)
    assert torch.equal(masked.input, local.input)
    assert masked.counts == local.counts
    # nothing to fall back to: every estimated row is random (and seeded like the random method)
    only_global = transplant(emb, old_tok, new_tok, method="global", threshold=1.5)
    assert only_global.counts["random"] == new_tok.vocab_size - only_global.shared
    assert torch.equal(only_global.input, transplant(emb, old_tok, new_tok, method="random").input)


def test_mean_method_covers_invalid_utf8_tokens_byte_by_byte(english):
    # Old vocabulary: single bytes only, so a token's old pieces are exactly its bytes.
    old = train(english[:2], 257)
    assert old.vocab_size == 257
    udhr = read_texts(ROOT / "data/multilingual/udhr_sample.jsonl.gz")
    new = train(udhr, 500)
    invalid = []
    for i in range(new.vocab_size):
        token = new.id_to_token(i)
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            if len(token) > 1:
                invalid.append(i)
    assert len(invalid) >= 10  # partial characters, e.g. b"\xe0\xa4"
    emb = torch.randn(257, 8, generator=torch.Generator().manual_seed(3))
    result = transplant(emb, old, new, method="mean")
    assert result.counts["random"] == 0
    specials = set(new.special_tokens.values())
    for i in range(new.vocab_size):
        if i in specials:
            continue
        ids = [old.token_to_id(bytes([b])) for b in new.id_to_token(i)]
        assert torch.allclose(result.input[i], emb[ids].mean(0), atol=1e-6)
    hybrid = transplant(emb, old, new)  # the other estimates take the same pieces
    assert hybrid.counts["random"] == 0 and torch.isfinite(hybrid.input).all()


# --- external space -------------------------------------------------------------------------------


def test_external_embedder_is_called_once_with_decoded_strings(old_tok, new_tok, emb):
    calls: list = []
    aux = ngram_embedder(calls=calls)
    with_aux = transplant(emb, old_tok, new_tok, aux_embeddings=aux)
    assert len(calls) == 1
    strings = set(calls[0])
    assert len(strings) == len(calls[0])  # each distinct string once
    for new_id, _ in probe_tokens(old_tok, new_tok):
        assert new_tok.decode([new_id]) in strings
    assert old_tok.decode([300]) in strings
    default = transplant(emb, old_tok, new_tok)
    assert not torch.equal(with_aux.input, default.input)
    unique = [i for i in range(new_tok.vocab_size) if i not in with_aux.new_to_old]
    assert sum(with_aux.counts.values()) == new_tok.vocab_size and len(unique) == new_tok.vocab_size - with_aux.shared


@pytest.mark.parametrize(
    "bad",
    [
        lambda strings: torch.zeros(len(strings) - 1, 4),
        lambda strings: torch.zeros(len(strings), 4, dtype=torch.long),
        lambda strings: torch.zeros(len(strings)),
        lambda strings: torch.full((len(strings), 4), float("nan")),
        lambda strings: "not an array",
    ],
)
def test_bad_external_embedder_raises(old_tok, new_tok, emb, bad):
    with pytest.raises(TokfreeError, match="aux_embeddings"):
        transplant(emb, old_tok, new_tok, aux_embeddings=bad)


# --- random rows, padding -------------------------------------------------------------------------


def test_random_rows_are_seeded_and_follow_the_old_statistics(old_tok, new_tok):
    emb = torch.randn(old_tok.vocab_size, 16, generator=torch.Generator().manual_seed(4)) * 0.5 + 2.0
    a = transplant(emb, old_tok, new_tok, method="random", seed=7)
    b = transplant(emb, old_tok, new_tok, method="random", seed=7)
    c = transplant(emb, old_tok, new_tok, method="random", seed=8)
    assert torch.equal(a.input, b.input) and not torch.equal(a.input, c.input)
    fresh = torch.tensor([i for i in range(new_tok.vocab_size) if i not in a.new_to_old])
    rows = a.input[fresh]
    assert abs(float(rows.mean()) - float(emb.mean())) < 0.05
    assert abs(float(rows.std()) - float(emb.std())) < 0.05
    untied = transplant((emb, emb * 0.0 + 5.0), old_tok, new_tok, method="random", seed=7)
    assert torch.equal(untied.input, a.input)  # the input matrix is drawn first
    assert torch.allclose(untied.output[fresh], torch.full_like(rows, 5.0))  # std 0: the mean
    hybrid = [transplant(emb, old_tok, new_tok, seed=1).input for _ in range(2)]
    assert torch.equal(hybrid[0], hybrid[1])


@pytest.mark.parametrize("multiple_of", [1, 64, 128])
def test_rows_are_padded_to_a_multiple(old_tok, new_tok, emb, multiple_of):
    result = transplant((emb, emb + 1), old_tok, new_tok, multiple_of=multiple_of)
    rows = -(-new_tok.vocab_size // multiple_of) * multiple_of
    assert result.input.shape == result.output.shape == (rows, emb.shape[1])
    assert result.vocab_size == new_tok.vocab_size
    assert torch.isfinite(result.input).all()


# --- models ---------------------------------------------------------------------------------------


def tiny_lm(vocab_size: int, *, tied: bool) -> CausalLM:
    config = CausalLMConfig(vocab_size=vocab_size, d_model=16, n_layers=1, n_heads=2, max_len=64, tie_embeddings=tied)
    return CausalLM(config, seed=0).eval()


@pytest.mark.parametrize("tied", [True, False])
def test_to_model_installs_the_matrices_and_copies_the_rest(old_tok, new_tok, tied):
    model = tiny_lm(old_tok.vocab_size, tied=tied)
    result = transplant(model, old_tok, new_tok, multiple_of=64)
    assert result.tied == tied
    new_model = result.to_model(model)
    assert new_model.config.vocab_size == result.input.shape[0] == -(-new_tok.vocab_size // 64) * 64
    assert new_model.config.tie_embeddings == tied
    assert torch.equal(new_model.embed.weight, result.input)
    if tied:
        assert new_model.lm_head is None
        assert new_model.output_weight is new_model.embed.weight
    else:
        assert torch.equal(new_model.lm_head.weight, result.output)
        assert not torch.equal(new_model.lm_head.weight, new_model.embed.weight)
    old_state, new_state = model.state_dict(), new_model.state_dict()
    assert set(old_state) == set(new_state)
    for name, value in old_state.items():
        if name not in ("embed.weight", "lm_head.weight"):
            assert torch.equal(new_state[name], value), name
    assert model.config.vocab_size == old_tok.vocab_size  # the old model is untouched
    ids = torch.tensor([new_tok.encode("def transplant(x):\n    return x + 1\n")])
    logits = new_model(ids)
    assert logits.shape == (1, ids.shape[1], new_model.config.vocab_size)
    assert torch.isfinite(logits).all()


def test_transplant_model_is_transplant_then_to_model(old_tok, new_tok):
    model = tiny_lm(old_tok.vocab_size, tied=False)
    direct = transplant_model(model, old_tok, new_tok, k=2, seed=3)
    via = transplant(model, old_tok, new_tok, k=2, seed=3).to_model(model)
    for name, value in direct.state_dict().items():
        assert torch.equal(value, via.state_dict()[name]), name


def test_shared_tokens_keep_their_logits(old_tok, new_tok):
    # A text whose new-tokenizer ids are all shared sees exactly the old model's logits on them.
    model = tiny_lm(old_tok.vocab_size, tied=True)
    new_model = transplant_model(model, old_tok, new_tok)
    result = transplant(model, old_tok, new_tok)
    text = " the and of"
    new_ids = new_tok.encode(text)
    assert all(i in result.new_to_old for i in new_ids)
    old_ids = [result.new_to_old[i] for i in new_ids]
    with torch.no_grad():
        old_logits = model(torch.tensor([old_ids]))[0]
        new_logits = new_model(torch.tensor([new_ids]))[0]
    shared_new = torch.tensor(list(result.new_to_old))
    shared_old = torch.tensor(list(result.new_to_old.values()))
    assert torch.allclose(new_logits[:, shared_new], old_logits[:, shared_old], atol=1e-5)


def test_to_model_refuses_a_mismatched_model(old_tok, new_tok, emb):
    tied_result = transplant(tiny_lm(old_tok.vocab_size, tied=True), old_tok, new_tok)
    with pytest.raises(TokfreeError, match="tied"):
        tied_result.to_model(tiny_lm(old_tok.vocab_size, tied=False))
    with pytest.raises(TokfreeError, match="d_model"):
        transplant(emb[:, :8], old_tok, new_tok).to_model(tiny_lm(old_tok.vocab_size, tied=True))
    with pytest.raises(TokfreeError, match="CausalLM"):
        tied_result.to_model(emb)
    with pytest.raises(TokfreeError, match="CausalLM"):
        transplant_model(emb, old_tok, new_tok)


# --- argument checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "knn"}, "method"),
        ({"k": 0}, "k=0"),
        ({"k": 2.5}, "k=2.5"),
        ({"k": True}, "k=True"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
        ({"global_weight": 1.5}, "global_weight"),
        ({"global_weight": -0.1}, "global_weight"),
        ({"threshold": float("nan")}, "threshold"),
        ({"aux_embeddings": "nomic"}, "aux_embeddings"),
        ({"multiple_of": 0}, "multiple_of"),
        ({"seed": "0"}, "seed"),
        ({"show_progress": 1}, "show_progress"),
    ],
)
def test_bad_options_raise(old_tok, new_tok, emb, kwargs, match):
    with pytest.raises(TokfreeError, match=match):
        transplant(emb, old_tok, new_tok, **kwargs)


def test_bad_matrices_and_tokenizers_raise(old_tok, new_tok, emb):
    with pytest.raises(TokfreeError, match="rows"):
        transplant(emb[:-1], old_tok, new_tok)
    with pytest.raises(TokfreeError, match="float"):
        transplant(emb.long(), old_tok, new_tok)
    with pytest.raises(TokfreeError, match="shape"):
        transplant(emb[0], old_tok, new_tok)
    with pytest.raises(TokfreeError, match="same shape"):
        transplant((emb, emb[:, :8]), old_tok, new_tok)
    with pytest.raises(TokfreeError, match="model_embeddings"):
        transplant(emb.numpy(), old_tok, new_tok)
    with pytest.raises(TokfreeError, match="new_tokenizer"):
        transplant(emb, old_tok, "gpt2")


def test_result_is_frozen(old_tok, emb):
    result = transplant(emb, old_tok, old_tok)
    assert isinstance(result, Transplanted)
    with pytest.raises(AttributeError):
        result.shared = 0  # type: ignore[misc]


def test_equal_similarities_pick_the_smaller_old_ids(old_tok, new_tok, emb):
    # Every old token looks the same in this space, so the 2 neighbours are the two smallest
    # non-special old ids (1 and 2; id 0 is <|endoftext|>), weighted equally.
    def flat_space(strings: list[str]) -> torch.Tensor:
        return torch.ones(len(strings), 4)

    result = transplant(emb, old_tok, new_tok, method="global", k=2, threshold=-1.0, aux_embeddings=flat_space)
    assert old_tok.special_tokens == {EOT: 0}
    fresh = [i for i in range(new_tok.vocab_size) if i not in result.new_to_old]
    expected = (emb[1] + emb[2]) / 2
    assert torch.allclose(result.input[fresh], expected.expand(len(fresh), -1), atol=1e-6)


def test_old_normalizer_does_not_change_the_pieces_bytes():
    # NFKC would rewrite the ligature "ﬁ" to "fi"; the pieces must spell the token's own bytes.
    import dataclasses

    plain = train(["abc"], 257)
    old = tokfree.Tokenizer(dataclasses.replace(plain.to_parts(), normalizer="NFKC"))
    assert old.encode("ﬁ") == old.encode("fi")
    new = train(["ﬁ ﬁﬁ ﬁ"] * 20, 262)
    ligature = new.token_to_id("ﬁ")
    assert ligature is not None
    emb = torch.randn(257, 8, generator=torch.Generator().manual_seed(5))
    result = transplant(emb, old, new, method="mean")
    ids = [old.token_to_id(bytes([b])) for b in "ﬁ".encode()]
    assert torch.allclose(result.input[ligature], emb[ids].mean(0), atol=1e-6)


def test_to_model_keeps_the_model_dtype(old_tok, new_tok):
    model = tiny_lm(old_tok.vocab_size, tied=True).to(torch.bfloat16)
    new_model = transplant_model(model, old_tok, new_tok)
    assert new_model.embed.weight.dtype == torch.bfloat16
    assert torch.equal(new_model.blocks[0].mlp.down.weight, model.blocks[0].mlp.down.weight)


def test_lm_text_embedder_is_the_mean_hidden_state_after_a_separator(old_tok, new_tok):
    from tokfree.merging import lm_text_embedder

    model = CausalLM(CausalLMConfig(vocab_size=old_tok.vocab_size, d_model=32, n_layers=1, n_heads=2, max_len=64), seed=0)
    strings = [" the", "ing and", "", "x" * 50]
    got = torch.as_tensor(lm_text_embedder(model, old_tok, batch_size=3)(strings))
    sep = old_tok.token_to_id(EOT)
    for row, s in enumerate(strings):  # one string at a time, no padding
        ids = [sep, *old_tok.encode(s)[:32]]
        hidden, _ = model.hidden_states(torch.tensor([ids]))
        expected = hidden[0, 1:].mean(0) if len(ids) > 1 else hidden[0, 0]
        assert torch.allclose(got[row], expected, atol=1e-5), s
    result = transplant(model, old_tok, new_tok, aux_embeddings=lm_text_embedder(model, old_tok))
    assert result.counts["shared"] == result.shared and result.input.shape[0] == new_tok.vocab_size
    with pytest.raises(TokfreeError, match="positive integers"):
        lm_text_embedder(model, old_tok, max_tokens=0)
