"""tokfree.nn (layers, CausalLM, KV cache, safetensors files) and tokfree.training.train_lm."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import load_file, save_file  # noqa: E402

import tokfree  # noqa: E402
from tokfree._corpora import domain_documents  # noqa: E402
from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.nn import Attention, CausalLM, CausalLMConfig, RMSNorm  # noqa: E402
from tokfree.training.train_lm import evaluate_lm, main, read_texts, train_lm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = CausalLMConfig(vocab_size=61, d_model=32, n_layers=2, n_heads=2, max_len=48)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def tiny_model(seed: int = 0, config: CausalLMConfig = TINY) -> CausalLM:
    return CausalLM(config, seed=seed).eval()


def random_ids(b: int, t: int, seed: int = 0, vocab: int = TINY.vocab_size) -> torch.Tensor:
    return torch.randint(0, vocab, (b, t), generator=torch.Generator().manual_seed(seed))


# --- layers against hand-written oracles ------------------------------------------------------


def test_rmsnorm_matches_definition():
    norm = RMSNorm(6)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
    x = torch.tensor([[3.0, -1.0, 2.0, 0.5, 0.0, 4.0]])
    rms = math.sqrt(sum(v * v for v in x[0].tolist()) / 6 + 1e-6)
    expected = [v / rms * w for v, w in zip(x[0].tolist(), range(1, 7))]
    assert norm(x)[0].tolist() == pytest.approx(expected, rel=1e-6)


def _naive_attention(attn: Attention, x: torch.Tensor, positions: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) masked) v with rotary written out per pair of channels (float64)."""
    b, t, d = x.shape
    h, dh = attn.n_heads, attn.head_dim
    x = x.detach()
    w_qkv = attn.qkv.weight.detach().double()
    q, k, v = (x.double() @ w_qkv.T).view(b, t, 3, h, dh).unbind(2)  # (B, T, H, Dh)

    def rotate(z):
        out = torch.empty_like(z)
        half = dh // 2
        for i in range(half):
            theta = positions.double() / (10000 ** (2 * i / dh))  # (B, T)
            c, s = theta.cos()[..., None], theta.sin()[..., None]
            a, bb = z[..., i], z[..., i + half]
            out[..., i] = a * c - bb * s
            out[..., i + half] = bb * c + a * s
        return out

    q, k = rotate(q), rotate(k)
    scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(dh)
    scores = scores.masked_fill(~visible[:, None], float("-inf"))
    y = torch.einsum("bhts,bshd->bthd", scores.softmax(-1), v.double()).reshape(b, t, d)
    return y @ attn.out.weight.detach().double().T


def test_attention_matches_naive_softmax_attention():
    torch.manual_seed(0)
    attn = Attention(24, 3, 64).eval()
    x = torch.randn(2, 7, 24)
    positions = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 6, 7, 8, 9]])
    y, _ = attn(x, positions)
    visible = torch.ones(7, 7, dtype=torch.bool).tril()[None].expand(2, 7, 7)
    assert torch.allclose(y.double(), _naive_attention(attn, x, positions, visible), atol=1e-5)


def test_attention_bias_and_key_mask():
    torch.manual_seed(1)
    attn = Attention(16, 2, 32, causal=False).eval()
    x = torch.randn(1, 5, 16)
    positions = torch.arange(5)[None]
    key_mask = torch.tensor([[True, True, False, True, True]])
    y, _ = attn(x, positions, key_mask=key_mask)
    visible = key_mask[:, None, :].expand(1, 5, 5).clone()
    visible[0, 2, 2] = True  # a padding query sees itself (its output is never used)
    expected = _naive_attention(attn, x, positions, visible)
    real = [0, 1, 3, 4]
    assert torch.allclose(y[0, real].double(), expected[0, real], atol=1e-5)
    # A bias of -1e4 on key 1 is the same as masking it.
    bias = torch.zeros(1, 1, 5, 5)
    bias[..., 1] = -1e4
    y_bias, _ = attn(x, positions, key_mask=key_mask, bias=bias)
    visible[:, :, 1] = False
    visible[0, 1, 1] = True
    expected = _naive_attention(attn, x, positions, visible)
    assert torch.allclose(y_bias[0, [0, 3, 4]].double(), expected[0, [0, 3, 4]], atol=1e-5)


def test_rotary_attention_depends_only_on_relative_positions():
    torch.manual_seed(2)
    attn = Attention(16, 2, 64).eval()
    x = torch.randn(1, 6, 16)
    y0, _ = attn(x, torch.arange(6)[None])
    y1, _ = attn(x, torch.arange(30, 36)[None])
    assert torch.allclose(y0, y1, atol=1e-5)


# --- CausalLM -----------------------------------------------------------------------------------


def test_kv_cache_equals_full_forward():
    model = tiny_model()
    ids = random_ids(3, 20)
    full = model(ids)
    pieces, past = [], None
    for lo, hi in [(0, 7), (7, 8), (8, 15), (15, 16), (16, 20)]:
        logits, past = model.forward_cached(ids[:, lo:hi], past)
        pieces.append(logits)
    assert past.size == 20 and past.lengths.tolist() == [20, 20, 20]
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)
    # Token by token, one step each.
    past, steps = None, []
    for i in range(20):
        logits, past = model.forward_cached(ids[:, i : i + 1], past)
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


@pytest.mark.parametrize("side", ["left", "right", "both"])
def test_padding_mask_gives_unpadded_logits(side):
    model = tiny_model()
    rows = [random_ids(1, n, seed=n)[0] for n in (9, 4, 13)]
    width = 17
    ids = torch.zeros(3, width, dtype=torch.long)
    mask = torch.zeros(3, width, dtype=torch.bool)
    starts = []
    for i, row in enumerate(rows):
        start = {"left": width - len(row), "right": 0, "both": (width - len(row)) // 2}[side]
        ids[i, start : start + len(row)] = row
        mask[i, start : start + len(row)] = True
        starts.append(start)
    padded = model(ids, mask)
    for i, row in enumerate(rows):
        alone = model(row[None])[0]
        got = padded[i, starts[i] : starts[i] + len(row)]
        assert torch.allclose(got, alone, atol=1e-5), side


def test_padded_cache_then_steps_equal_rows_alone():
    model = tiny_model()
    rows = [random_ids(1, n, seed=10 + n)[0] for n in (3, 8, 5)]
    width = 8
    ids = torch.zeros(3, width, dtype=torch.long)
    mask = torch.zeros(3, width, dtype=torch.bool)
    for i, row in enumerate(rows):  # left padded prefill
        ids[i, width - len(row) :] = row
        mask[i, width - len(row) :] = True
    _, past = model.forward_cached(ids, attention_mask=mask)
    assert past.lengths.tolist() == [3, 8, 5]
    extra = random_ids(3, 4, seed=99)
    logits, past = model.forward_cached(extra, past)
    for i, row in enumerate(rows):
        alone = model(torch.cat([row, extra[i]])[None])[0, -4:]
        assert torch.allclose(logits[i], alone, atol=1e-5)


def test_log_probs_normalised_and_errors():
    model = tiny_model()
    lp = model.log_probs(random_ids(2, 5))
    assert lp.shape == (2, 5, TINY.vocab_size)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2, 5), atol=1e-5)
    with pytest.raises(TokfreeError, match="max_len"):
        model(random_ids(1, TINY.max_len + 1))
    with pytest.raises(TokfreeError, match="outside"):
        model(torch.tensor([[1, TINY.vocab_size]]))
    with pytest.raises(TokfreeError, match="batch, time"):
        model(torch.tensor([1, 2, 3]))
    _, past = model.forward_cached(random_ids(2, 3))
    with pytest.raises(TokfreeError, match="rows"):
        model.forward_cached(random_ids(1, 1), past)


def test_config_validation():
    with pytest.raises(TokfreeError, match="divisible|even"):
        CausalLMConfig(vocab_size=10, d_model=30, n_heads=4)
    with pytest.raises(TokfreeError, match="vocab_size"):
        CausalLMConfig(vocab_size=0)
    with pytest.raises(TokfreeError, match="dropout"):
        CausalLMConfig(vocab_size=10, dropout=1.5)
    assert CausalLMConfig(vocab_size=10, d_model=96).ff_width == 256  # 8/3 * 96 = 256


def test_seeded_init_is_deterministic():
    a, b, c = tiny_model(3), tiny_model(3), tiny_model(4)
    for (name, x), (_, y), (_, z) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(x, y), name
    assert not torch.equal(a.embed.weight, c.embed.weight)


def test_tied_and_untied_parameter_counts():
    tied = CausalLM(TINY)
    untied = CausalLM(CausalLMConfig(**{**TINY.to_dict(), "tie_embeddings": False}))
    d, v, ff, layers = TINY.d_model, TINY.vocab_size, TINY.ff_width, TINY.n_layers
    per_layer = 4 * d * d + 3 * d * ff + 2 * d  # qkv + out, SwiGLU, two norms
    assert tied.num_parameters() == v * d + layers * per_layer + d
    assert untied.num_parameters() == tied.num_parameters() + v * d


# --- files --------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    model = tiny_model(5, CausalLMConfig(**{**TINY.to_dict(), "tie_embeddings": False}))
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = CausalLM.load(tmp_path / "m")
    assert loaded.config == model.config and not loaded.training
    ids = random_ids(2, 11)
    assert torch.equal(loaded(ids), model(ids))
    model.save(tmp_path / "again")  # identical bytes for identical weights
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "m" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def _saved(tmp_path) -> Path:
    folder = tmp_path / "model"
    tiny_model().save(folder)
    return folder


def _edit_weights(folder: Path, edit) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.__setitem__("norm.weight", torch.ones(7)), "shape"),
        (lambda t: t.__setitem__("embed.weight", t["embed.weight"][:-1].clone()), "shape"),
        (lambda t: t.__setitem__("norm.weight", t["norm.weight"].half()), "dtype"),
        (lambda t: t.__setitem__("norm.weight", t["norm.weight"].double()), "dtype"),
        (lambda t: t.__setitem__("norm.weight", torch.ones(TINY.d_model, dtype=torch.int64)), "dtype"),
        (lambda t: t.pop("blocks.1.mlp.up.weight"), "missing"),
        (lambda t: t.__setitem__("lm_head.weight", torch.zeros(TINY.vocab_size, TINY.d_model)), "unexpected"),
    ],
)
def test_malformed_weights_raise(tmp_path, edit, message):
    folder = _saved(tmp_path)
    _edit_weights(folder, edit)
    with pytest.raises(TokfreeError, match=message):
        CausalLM.load(folder)


def test_corrupt_or_missing_files_raise(tmp_path):
    folder = _saved(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(TokfreeError, match="safetensors"):
        CausalLM.load(folder)
    (folder / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(TokfreeError, match="safetensors"):
        CausalLM.load(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(TokfreeError, match="does not exist"):
        CausalLM.load(folder)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["config"].pop("vocab_size"), "lacks"),
        (lambda d: d["config"].__setitem__("rope", 1), "unknown"),
        (lambda d: d["config"].__setitem__("n_heads", 3), "n_heads"),
        (lambda d: d["config"].__setitem__("d_model", "32"), "d_model"),
        (lambda d: d["config"].__setitem__("n_layers", 3), "missing"),  # config and weights disagree
        (lambda d: d["config"].__setitem__("vocab_size", 60), "shape"),
        (lambda d: d.__setitem__("format", "gpt2"), "not a tokfree CausalLM"),
        (lambda d: d.__setitem__("version", 9), "version"),
        (lambda d: d.__setitem__("config", [1]), "JSON object"),
    ],
)
def test_malformed_config_raises(tmp_path, edit, message):
    folder = _saved(tmp_path)
    document = json.loads((folder / "config.json").read_text())
    edit(document)
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(TokfreeError, match=message):
        CausalLM.load(folder)


def test_config_not_json_raises(tmp_path):
    folder = _saved(tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(TokfreeError, match="JSON"):
        CausalLM.load(folder)


@pytest.mark.gpu
def test_cuda_bf16_close_to_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = tiny_model()
    ids = random_ids(2, 16)
    cpu = model.log_probs(ids)
    gpu = CausalLM(TINY, device="cuda")
    gpu.load_state_dict(model.state_dict())
    out = gpu.eval().log_probs(ids.cuda()).cpu()
    assert out.dtype == torch.float32
    assert torch.allclose(out, cpu, atol=0.1)


# --- training -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def code_split():
    """About 200 KB of the code corpus to train on, 40 KB held out."""

    def take(docs, limit):
        out, size = [], 0
        for doc in docs:
            if size >= limit:
                break
            out.append(doc[:20000])
            size += len(out[-1])
        return out

    data = ROOT / "data"
    return take(domain_documents(data, "code", "train"), 200_000), take(domain_documents(data, "code", "heldout"), 40_000)


@pytest.fixture(scope="module")
def code_tokenizer(code_split):
    train, _ = code_split
    return tokfree.train_bpe(iter(train), 400, pre_tokenizer="gpt4", special_tokens=["<|endoftext|>"], show_progress=False)


def _small_config(tok) -> CausalLMConfig:
    return CausalLMConfig(vocab_size=tok.vocab_size, d_model=48, n_layers=2, n_heads=2, max_len=64)


def test_training_beats_unigram_entropy(code_split, code_tokenizer):
    train, heldout = code_split
    tok = code_tokenizer
    # The oracle: the entropy (nats) of the training tokens' unigram distribution, separators included.
    counts = Counter()
    for doc in train:
        counts.update(tok.encode(doc, disallowed_special=()))
    counts[tok.token_to_id("<|endoftext|>")] += len(train) + 1
    total = sum(counts.values())
    unigram = -sum(c / total * math.log(c / total) for c in counts.values())
    config = _small_config(tok)
    untrained, *_ = evaluate_lm(CausalLM(config, seed=0), tok, heldout, seq_len=64)
    assert untrained > unigram  # the bar is not met by chance
    model, log = train_lm(
        tok, train, config, steps=60, batch_size=16, seq_len=64, lr=1e-2, seed=0, show_progress=False, heldout=heldout
    )
    assert log.heldout_loss < unigram - 0.15, (log.heldout_loss, unigram)
    assert log.heldout_bits_per_byte == pytest.approx(log.heldout_loss * log.heldout_tokens / math.log(2) / log.heldout_bytes)
    assert log.train_loss[-1] < log.train_loss[0]


def test_evaluate_lm_counts_tokens_and_bytes(code_tokenizer):
    """A model with all-zero weights predicts the uniform distribution: loss = ln V exactly."""
    tok = code_tokenizer
    model = CausalLM(_small_config(tok))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    texts = ["def f(x):\n    return x\n", "", "print('é')\n" * 30]
    loss, bpb, tokens, n_bytes = evaluate_lm(model, tok, texts, seq_len=16, batch_size=3)
    expected_tokens = sum(len(tok.encode(t)) for t in texts) + len(texts)  # each document + its separator
    assert tokens == expected_tokens
    assert n_bytes == sum(len(t.encode()) for t in texts)
    assert loss == pytest.approx(math.log(tok.vocab_size), rel=1e-9)
    assert bpb == pytest.approx(tokens * math.log2(tok.vocab_size) / n_bytes, rel=1e-9)


def test_training_is_deterministic_with_a_seed(code_split, code_tokenizer):
    train, _ = code_split
    config = _small_config(code_tokenizer)
    kwargs = dict(steps=6, batch_size=4, seq_len=32, lr=3e-3, show_progress=False)
    m1, log1 = train_lm(code_tokenizer, train, config, seed=7, **kwargs)
    m2, log2 = train_lm(code_tokenizer, train, config, seed=7, **kwargs)
    m3, log3 = train_lm(code_tokenizer, train, config, seed=8, **kwargs)
    assert log1.train_loss == log2.train_loss
    for (name, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), name
    assert log1.train_loss != log3.train_loss


def test_train_lm_fine_tunes_an_init_model_in_place(code_split, code_tokenizer):
    train, heldout = code_split
    config = _small_config(code_tokenizer)
    kwargs = dict(batch_size=8, seq_len=32, lr=1e-2, show_progress=False)
    base, _ = train_lm(code_tokenizer, train, config, steps=20, seed=0, **kwargs)
    before, *_ = evaluate_lm(base, code_tokenizer, heldout, seq_len=32)
    tuned, _ = train_lm(code_tokenizer, train, config, steps=20, seed=1, init=base, **kwargs)
    assert tuned is base  # trained in place
    after, *_ = evaluate_lm(tuned, code_tokenizer, heldout, seq_len=32)
    fresh, _ = train_lm(code_tokenizer, train, config, steps=20, seed=1, **kwargs)
    assert after < before and after < evaluate_lm(fresh, code_tokenizer, heldout, seq_len=32)[0]
    other = CausalLMConfig(vocab_size=config.vocab_size, d_model=32, n_layers=1, n_heads=2, max_len=64)
    with pytest.raises(TokfreeError, match="init has config"):
        train_lm(code_tokenizer, train, other, steps=1, seed=0, init=base, **kwargs)


def test_hidden_states_from_embeddings_equal_the_forward(code_tokenizer):
    model = CausalLM(CausalLMConfig(vocab_size=code_tokenizer.vocab_size, d_model=32, n_layers=2, n_heads=2, max_len=16, tie_embeddings=False), seed=0)
    ids = torch.randint(0, code_tokenizer.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, :3] = False
    hidden, _ = model.hidden_states(embeddings=model.embed(ids), attention_mask=mask)
    logits = hidden @ model.output_weight.T
    assert model.output_weight is model.lm_head.weight
    assert torch.allclose(logits, model(ids, mask), atol=1e-5)
    with pytest.raises(TokfreeError, match="not both"):
        model.hidden_states(ids, embeddings=model.embed(ids))
    with pytest.raises(TokfreeError, match="embeddings must be"):
        model.hidden_states(embeddings=torch.zeros(2, 3, 31))


def test_train_lm_rejects_bad_arguments(code_split, code_tokenizer):
    train, _ = code_split
    small = CausalLMConfig(vocab_size=300, d_model=32, n_layers=1, n_heads=2, max_len=32)
    with pytest.raises(TokfreeError, match="vocab_size"):
        train_lm(code_tokenizer, train, small, steps=1, batch_size=1, seq_len=8, lr=1e-3, seed=0)
    config = _small_config(code_tokenizer)
    with pytest.raises(TokfreeError, match="max_len"):
        train_lm(code_tokenizer, train, config, steps=1, batch_size=1, seq_len=65, lr=1e-3, seed=0)
    with pytest.raises(TokfreeError, match="fewer than one window"):
        train_lm(code_tokenizer, ["x"], config, steps=1, batch_size=1, seq_len=32, lr=1e-3, seed=0)
    no_eos = tokfree.train_bpe(iter(train[:3]), 260, show_progress=False)
    with pytest.raises(TokfreeError, match="end-of-text"):
        train_lm(no_eos, train, CausalLMConfig(vocab_size=260, d_model=32, n_layers=1, n_heads=2), steps=1, batch_size=1, seq_len=8, lr=1e-3, seed=0)


def test_cli_trains_saves_and_loads(tmp_path, code_split, code_tokenizer):
    train, heldout = code_split
    data = tmp_path / "corpus"
    data.mkdir()
    for i, doc in enumerate(train[:6] + heldout[:2]):
        (data / f"{i:02d}.txt").write_text(doc, encoding="utf-8")
    assert len(read_texts(data)) == 8
    code_tokenizer.save(tmp_path / "tok.json")
    args = ["--tokenizer", str(tmp_path / "tok.json"), "--data", str(data), "--heldout-fraction", "0.25", "--out", str(tmp_path / "run"),
            "--steps", "3", "--batch-size", "2", "--seq-len", "32", "--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--quiet"]  # fmt: skip
    assert main(args) == 0
    log = json.loads((tmp_path / "run" / "training.json").read_text())
    assert log["steps"] == 3 and log["heldout_bits_per_byte"] > 0
    model = CausalLM.load(tmp_path / "run")
    assert model.config.vocab_size == code_tokenizer.vocab_size
    assert tokfree.Tokenizer.from_file(tmp_path / "run" / "tokenizer.json").vocab_size == code_tokenizer.vocab_size

    pair = ["--pair", "300,340", "--data", str(data), "--heldout-fraction", "0.25", "--out", str(tmp_path / "pair"),
            "--steps", "2", "--batch-size", "2", "--seq-len", "16", "--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--quiet"]  # fmt: skip
    assert main(pair) == 0
    for size in (300, 340):
        folder = tmp_path / "pair" / f"bpe-{size}"
        assert CausalLM.load(folder).config.vocab_size == size
        assert tokfree.Tokenizer.from_file(folder / "tokenizer.json").vocab_size == size
    assert main(["--pair", "300", "--data", str(data), "--out", str(tmp_path / "x"), "--quiet"]) == 2  # no held-out text
