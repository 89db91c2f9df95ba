"""tokfree.merging.embeddings: mean rows, the hypernetwork, its training, the LRU cache, merged evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import load_file, save_file  # noqa: E402

import tokfree  # noqa: E402
from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.merging.embeddings import (  # noqa: E402
    EmbeddingCache,
    EmbeddingHypernet,
    HypernetConfig,
    MergedEmbedder,
    MergedRows,
    mean_embeddings,
    merged_bits_per_byte,
    merged_logits,
    train_hypernet,
    vocabulary_examples,
)
from tokfree.merging.plan import plan_merges  # noqa: E402
from tokfree.nn import CausalLM, CausalLMConfig  # noqa: E402
from tokfree.training.train_lm import evaluate_lm, read_texts, separator_id, token_stream, train_lm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEQ = 32

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def english() -> tuple[list[str], list[str]]:
    train = read_texts(ROOT / "data/_domain/english/train.jsonl.gz")
    heldout = read_texts(ROOT / "data/_domain/english/heldout.jsonl.gz")
    return [d[:6000] for d in train[:6]], [heldout[0][:2500], heldout[1][:1500]]


@pytest.fixture(scope="module")
def tok(english):
    return tokfree.train_bpe(iter(english[0]), 400, pre_tokenizer="gpt4", special_tokens=["<|endoftext|>"], show_progress=False)


@pytest.fixture(scope="module")
def models(tok, english) -> dict[str, CausalLM]:
    """A tied and an untied tiny LM, trained for a few steps so their rows are not pure noise."""
    out = {}
    for name, tie in (("tied", True), ("untied", False)):
        config = CausalLMConfig(vocab_size=tok.vocab_size, d_model=32, n_layers=1, n_heads=2, max_len=64, tie_embeddings=tie)
        out[name], _ = train_lm(tok, english[0], config, steps=80, batch_size=8, seq_len=SEQ, lr=3e-3, seed=0, show_progress=False)
    return out


def _batch(tok, texts, rows=4, width=SEQ) -> np.ndarray:
    stream = token_stream(tok, texts, separator=separator_id(tok))
    return stream[: rows * width].reshape(rows, width)


# --- mean_embeddings ----------------------------------------------------------------------------


def test_mean_embeddings_matches_a_hand_loop():
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(20, 5, generator=gen, dtype=torch.float64)
    lengths = [3, 1, 4, 2]
    pieces = np.full((4, 4), -1)
    rng = np.random.default_rng(0)
    for r, n in enumerate(lengths):
        pieces[r, :n] = rng.integers(0, 20, size=n)
    got = mean_embeddings(pieces, lengths, weight)
    for r, n in enumerate(lengths):
        expected = [sum(float(weight[pieces[r, k], d]) for k in range(n)) / n for d in range(5)]
        assert got[r].tolist() == pytest.approx(expected, abs=1e-12)
    assert mean_embeddings(np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64), weight).shape == (0, 5)


@pytest.mark.parametrize(
    "pieces, lengths, message",
    [
        ([[1, 2]], [0], "piece_lengths"),
        ([[1, 2]], [3], "piece_lengths"),
        ([[1, 20]], [2], "base id 20"),
        ([[-1, 2]], [2], "base id -1"),
        ([1, 2], [2], "matrix"),
        ([[1.0, 2.0]], [2], "integers"),
    ],
)
def test_mean_embeddings_rejects_bad_input(pieces, lengths, message):
    with pytest.raises(TokfreeError, match=message):
        mean_embeddings(np.array(pieces), lengths, torch.zeros(20, 3))


# --- the hypernetwork ---------------------------------------------------------------------------


@pytest.mark.parametrize("untied", [False, True])
@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_untrained_hypernet_returns_exactly_the_mean(untied, pooling):
    gen = torch.Generator().manual_seed(2)
    w_in, w_out = torch.randn(50, 16, generator=gen), torch.randn(50, 16, generator=gen)
    config = HypernetConfig(d_model=16, hidden=16, n_heads=2, max_pieces=3, untied=untied, pooling=pooling, predict_bias=True)
    hn = EmbeddingHypernet(config, seed=0)
    pieces = np.array([[3, 4, -1, -1, -1], [7, -1, -1, -1, -1], [1, 2, 3, 4, 5]])  # the last row is past max_pieces
    rows = hn(pieces, w_in, w_out if untied else None)
    lengths = [2, 1, 5]
    assert torch.equal(rows.inputs, mean_embeddings(pieces, lengths, w_in))
    assert torch.equal(rows.outputs, mean_embeddings(pieces, lengths, w_out if untied else w_in))
    assert torch.equal(rows.bias, torch.zeros(3))


def test_untrained_hypernet_equals_mean_on_a_real_plan(tok, english, models):
    model = models["untied"]
    plan = plan_merges(_batch(tok, english[1]), tokenizer=tok, target_ratio=0.8)
    assert plan.n_merges > 0
    hn = EmbeddingHypernet(HypernetConfig.for_model(model, hidden=16, n_heads=2), seed=3)
    by_hn = MergedEmbedder(model, hn).embed(plan)
    by_mean = MergedEmbedder(model, "mean").embed(plan)
    for a, b in zip(by_hn, by_mean):
        assert torch.equal(a, b)


def test_hypernet_rejects_bad_arguments():
    hn = EmbeddingHypernet(HypernetConfig(d_model=8, hidden=8, n_heads=2, untied=True), seed=0)
    w = torch.zeros(10, 8)
    with pytest.raises(TokfreeError, match="output_weight"):
        hn([[1, 2]], w)
    with pytest.raises(TokfreeError, match="wide"):
        hn([[1, 2]], torch.zeros(10, 4), torch.zeros(10, 4))
    with pytest.raises(TokfreeError, match="right padding"):
        hn([[1, -1, 2]], w, w)
    with pytest.raises(TokfreeError, match="base id 10"):
        hn([[1, 10]], w, w)
    with pytest.raises(TokfreeError, match="n_heads"):
        HypernetConfig(d_model=8, hidden=8, n_heads=3)
    with pytest.raises(TokfreeError, match="pooling"):
        HypernetConfig(d_model=8, pooling="max")
    model = CausalLM(CausalLMConfig(vocab_size=10, d_model=8, n_layers=1, n_heads=2), seed=0)  # tied
    with pytest.raises(TokfreeError, match="untied"):
        MergedEmbedder(model, hn)


def _saved_hypernet(tmp_path) -> tuple[EmbeddingHypernet, Path]:
    hn = EmbeddingHypernet(HypernetConfig(d_model=8, hidden=8, n_heads=2, untied=True, predict_bias=True), seed=0)
    with torch.no_grad():  # move the zero-initialised heads so the round trip is not trivially the mean
        for p in hn.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    folder = tmp_path / "hn"
    hn.save(folder)
    return hn, folder


def test_save_load_round_trip(tmp_path):
    hn, folder = _saved_hypernet(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = EmbeddingHypernet.load(folder)
    assert loaded.config == hn.config and not loaded.training
    gen = torch.Generator().manual_seed(4)
    w_in, w_out = torch.randn(30, 8, generator=gen), torch.randn(30, 8, generator=gen)
    pieces = [[1, 2, 3], [4, 5, -1]]
    hn.eval()
    for a, b in zip(hn(pieces, w_in, w_out), loaded(pieces, w_in, w_out)):
        assert torch.equal(a, b)
    assert not torch.equal(hn(pieces, w_in, w_out).inputs, mean_embeddings(pieces, [3, 2], w_in))
    hn.save(tmp_path / "again")
    for name in ("config.json", "model.safetensors"):
        assert (folder / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.__setitem__("format", "tokfree.CausalLM"), "not a tokfree EmbeddingHypernet"),
        (lambda d: d.__setitem__("version", 2), "version"),
        (lambda d: d["config"].__setitem__("width", 3), "unknown"),
        (lambda d: d["config"].pop("d_model"), "lacks"),
        (lambda d: d["config"].__setitem__("pooling", "max"), "pooling"),
        (lambda d: d["config"].__setitem__("hidden", 16), "shape"),  # config and weights disagree
        (lambda d: d["config"].__setitem__("predict_bias", False), "unexpected"),
    ],
)
def test_malformed_config_raises(tmp_path, edit, message):
    _, folder = _saved_hypernet(tmp_path)
    document = json.loads((folder / "config.json").read_text())
    edit(document)
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(TokfreeError, match=message):
        EmbeddingHypernet.load(folder)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.__setitem__("project.weight", t["project.weight"].double()), "dtype"),
        (lambda t: t.__setitem__("position.weight", torch.zeros(3, 8)), "shape"),
        (lambda t: t.pop("input_head.2.weight"), "missing"),
        (lambda t: t.__setitem__("extra", torch.zeros(1)), "unexpected"),
    ],
)
def test_malformed_weights_raise(tmp_path, edit, message):
    _, folder = _saved_hypernet(tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(TokfreeError, match=message):
        EmbeddingHypernet.load(folder)


def test_corrupt_or_missing_files_raise(tmp_path):
    _, folder = _saved_hypernet(tmp_path)
    (folder / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(TokfreeError, match="safetensors"):
        EmbeddingHypernet.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(TokfreeError, match="JSON"):
        EmbeddingHypernet.load(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(TokfreeError, match="does not exist"):
        EmbeddingHypernet.load(folder)


# --- training -----------------------------------------------------------------------------------


def test_vocabulary_examples_cut_tokens_into_smaller_vocabulary_tokens(tok):
    ids, pieces, lengths = vocabulary_examples(tok, seed=0, max_pieces=4)
    special = set(tok.special_tokens.values())
    multi = [i for i in range(tok.vocab_size) if i not in special and len(tok.id_to_token(i)) >= 2]
    assert sorted(ids.tolist()) == multi  # every multi-byte BPE token is made by a merge
    for t, row, n in zip(ids, pieces, lengths):
        assert 2 <= n <= 4 and (row[n:] == -1).all()
        assert all(0 <= p < tok.vocab_size and p not in special for p in row[:n])
        assert b"".join(tok.id_to_token(int(p)) for p in row[:n]) == tok.id_to_token(int(t))
        assert all(len(tok.id_to_token(int(p))) < len(tok.id_to_token(int(t))) for p in row[:n])
    again = vocabulary_examples(tok, seed=0, max_pieces=4)
    assert all(np.array_equal(a, b) for a, b in zip((ids, pieces, lengths), again))
    deeper = vocabulary_examples(tok, seed=0, split=1.0)[2]
    assert deeper.mean() > lengths.mean()  # splitting every node gives more pieces


def _relative_error(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred - target).pow(2).sum() / target.pow(2).sum())


@pytest.mark.parametrize("kind", ["tied", "untied"])
def test_regression_beats_the_mean_on_heldout_vocabulary_tokens(tok, models, kind):
    model = models[kind]
    all_ids = vocabulary_examples(tok)[0]
    heldout = all_ids[np.random.default_rng(0).permutation(len(all_ids))[: len(all_ids) // 5]]
    config = HypernetConfig.for_model(model, hidden=32, n_heads=2, n_layers=1)
    hn, log = train_hypernet(
        model, tok, objective="regression", steps=120, batch_size=64, lr=3e-3, seed=0, config=config,
        exclude_tokens=heldout.tolist(), show_progress=False,
    )  # fmt: skip
    assert len(log.loss) == 120 and log.examples == len(all_ids) - len(heldout)
    ids, pieces, lengths = vocabulary_examples(tok, token_ids=heldout.tolist(), seed=1)
    embedder = MergedEmbedder(model, hn)
    rows = embedder.embed_pieces(pieces, lengths)
    with torch.no_grad():
        targets_in, targets_out = model.embed.weight[ids], model.output_weight[ids]
        mean_in = mean_embeddings(pieces, lengths, model.embed.weight)
        mean_out = mean_embeddings(pieces, lengths, model.output_weight)
    hn_in, hn_out = _relative_error(rows.inputs, targets_in), _relative_error(rows.outputs, targets_out)
    base_in, base_out = _relative_error(mean_in, targets_in), _relative_error(mean_out, targets_out)
    assert hn_in < base_in and hn_out < base_out
    assert hn_in + hn_out < 0.7 * (base_in + base_out)


def test_training_is_deterministic_and_leaves_the_lm_alone(tok, english, models):
    model = models["untied"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = HypernetConfig.for_model(model, hidden=16, n_heads=2, n_layers=1)
    runs = []
    for _ in range(2):
        runs.append(
            train_hypernet(
                model, tok, objective="lm", texts=english[0], steps=4, batch_size=4, seq_len=SEQ, lr=3e-3, seed=5,
                config=config, show_progress=False,
            )  # fmt: skip
        )
    (a, log_a), (b, log_b) = runs
    assert log_a.loss == log_b.loss and all(math.isfinite(x) for x in log_a.loss)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert all(r <= 0.9 + 1e-9 for r in log_a.length_ratio) and min(log_a.new_tokens) > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.training and all(p.requires_grad for p in model.parameters())
    # the lm objective moved the hypernet away from the mean
    start = EmbeddingHypernet(config, seed=5)
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), start.state_dict().values()))
    # continuing from a given hypernet trains a copy
    c, _ = train_hypernet(model, tok, objective="regression", steps=2, batch_size=8, lr=1e-3, seed=0, hypernet=a, show_progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert c is not a


def test_lm_objective_lowers_the_loss_it_optimises(tok, english, models):
    """One short document whose stream is exactly one window: every step sees the same batch."""
    model = models["tied"]
    doc = tok.decode(tok.encode(english[1][1])[:56])
    seq_len = len(token_stream(tok, [doc], separator=separator_id(tok))) - 1
    assert seq_len <= model.config.max_len
    config = HypernetConfig.for_model(model, hidden=32, n_heads=2, n_layers=1, predict_bias=True)
    hn, log = train_hypernet(
        model, tok, objective="lm", texts=[doc], steps=40, batch_size=2, seq_len=seq_len, lr=3e-3, seed=0,
        target_ratios=(0.8, 0.8), config=config, show_progress=False,
    )  # fmt: skip
    assert len(set(log.new_tokens)) == 1 and log.new_tokens[0] > 0  # the same plan every step
    assert log.loss[-1] < log.loss[0] - 0.1
    assert torch.count_nonzero(hn.input_head[2].weight) and torch.count_nonzero(hn.output_head[2].weight)
    assert torch.count_nonzero(hn.bias_head[2].weight)  # the zero-initialised bias head learns too
    mean = merged_bits_per_byte(model, tok, [doc], target_ratio=0.8, seq_len=seq_len)
    trained = merged_bits_per_byte(model, tok, [doc], target_ratio=0.8, seq_len=seq_len, embedder=MergedEmbedder(model, hn))
    assert trained.length_ratio == mean.length_ratio
    assert trained.bits_per_byte < mean.bits_per_byte  # the window it was trained on


def test_lm_objective_with_previous_plans(tok, english, models):
    model = models["untied"]
    config = HypernetConfig.for_model(model, hidden=16, n_heads=2, n_layers=1)
    kwargs = dict(objective="lm", texts=english[0], steps=3, batch_size=3, seq_len=SEQ, lr=1e-3, seed=1, config=config, show_progress=False)
    _, own = train_hypernet(model, tok, **kwargs)
    _, previous = train_hypernet(model, tok, plan_from="previous", **kwargs)
    assert all(math.isfinite(x) for x in previous.loss) and min(previous.new_tokens) > 0
    # another batch's plan shortens this batch less than its own plan would
    assert np.mean(previous.length_ratio) > np.mean(own.length_ratio)
    with pytest.raises(TokfreeError, match="fewer than 2000 window"):
        train_hypernet(model, tok, **{**kwargs, "batch_size": 1000}, plan_from="previous")


def test_train_hypernet_rejects_bad_arguments(tok, models):
    model = models["tied"]
    base = dict(steps=1, batch_size=2, lr=1e-3, seed=0, show_progress=False)
    with pytest.raises(TokfreeError, match="objective"):
        train_hypernet(model, tok, objective="mse", **base)
    with pytest.raises(TokfreeError, match="texts"):
        train_hypernet(model, tok, objective="lm", **base)
    with pytest.raises(TokfreeError, match="target_ratios"):
        train_hypernet(model, tok, objective="lm", texts=["a b"], target_ratios=(0.9, 0.5), **base)
    with pytest.raises(TokfreeError, match="steps"):
        train_hypernet(model, tok, **{**base, "steps": 0})
    untied = EmbeddingHypernet(HypernetConfig(d_model=32, hidden=16, n_heads=2, untied=True))
    with pytest.raises(TokfreeError, match="untied"):
        train_hypernet(model, tok, hypernet=untied, **base)


# --- the cache ----------------------------------------------------------------------------------


def _rows(value: float, dim: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((dim,), value), torch.full((dim,), -value)


def test_cache_is_lru_and_never_exceeds_its_capacity():
    cache = EmbeddingCache(3, 3)
    for i in range(3):
        cache.put((i, i), *_rows(i))
    assert cache.keys() == [(0, 0), (1, 1), (2, 2)]
    assert cache.get((0, 0)).inputs.tolist() == [0.0, 0.0, 0.0]  # refreshes (0, 0)
    cache.put((3, 3), *_rows(3))  # evicts the least recently used: (1, 1)
    assert len(cache) == 3 and (1, 1) not in cache and cache.keys() == [(2, 2), (0, 0), (3, 3)]
    assert cache.get((1, 1)) is None and (cache.hits, cache.misses) == (1, 1)
    got = cache.get((3, 3))
    assert got.inputs.tolist() == [3.0] * 3 and got.outputs.tolist() == [-3.0] * 3 and float(got.bias) == 0.0
    cache.put((0, 0), *_rows(9), bias=2.0)  # overwrite in place, no eviction
    assert len(cache) == 3 and cache.get((0, 0)).inputs.tolist() == [9.0] * 3 and float(cache.get((0, 0)).bias) == 2.0
    rng = np.random.default_rng(0)
    for _ in range(200):
        key = tuple(int(x) for x in rng.integers(0, 6, size=2))
        cache.put(key, *_rows(1.0))
        assert len(cache) <= 3
    assert cache.keys()[-1] == key


def test_cache_protects_the_current_batch():
    cache = EmbeddingCache(3, 3)
    for i in range(3):
        cache.put((i,), *_rows(i))
    cache.put((7,), *_rows(7), protected=[(0,), (1,)])  # (0,) is oldest but protected: (2,) goes
    assert set(cache.keys()) == {(0,), (1,), (7,)}
    assert cache.evict(1, protected=[(0,), (7,)]) == [(1,)]
    cache.put((8,), *_rows(8))
    with pytest.raises(TokfreeError, match="capacity"):
        cache.put((9,), *_rows(9), protected=[(0,), (7,), (8,)])
    assert set(cache.keys()) == {(0,), (7,), (8,)}  # nothing was evicted
    with pytest.raises(TokfreeError, match="capacity"):
        cache.evict(2, protected=[(0,), (7,)])
    with pytest.raises(TokfreeError, match=r"\(3,\)"):
        cache.put((5,), torch.zeros(4), torch.zeros(3))


def test_cache_fetch_computes_only_misses_and_keeps_the_batch():
    cache = EmbeddingCache(4, 2)
    calls = []

    def compute(keys):
        calls.append(list(keys))
        v = torch.tensor([[float(sum(k)), float(len(k))] for k in keys])
        return MergedRows(v, -v, v[:, 0])

    rows = cache.fetch([(1, 2), (3,), (1, 2)], compute)
    assert calls == [[(1, 2), (3,)]] and rows.inputs.tolist() == [[3.0, 2.0], [3.0, 1.0], [3.0, 2.0]]
    assert rows.bias.tolist() == [3.0, 3.0, 3.0] and (cache.hits, cache.misses) == (0, 2)
    cache.fetch([(5,), (6,)], compute)  # full now: (1, 2), (3,), (5,), (6,)
    rows = cache.fetch([(3,), (9,), (10,)], compute)  # evicts (1, 2) then (5,), never (3,)
    assert calls[-1] == [(9,), (10,)] and rows.inputs[:, 0].tolist() == [3.0, 9.0, 10.0]
    assert set(cache.keys()) == {(3,), (6,), (9,), (10,)} and len(cache) == 4
    with pytest.raises(TokfreeError, match="at least 5"):
        cache.fetch([(20,), (21,), (22,), (23,), (24,)], compute)


# --- merged batches through the frozen LM -------------------------------------------------------


@pytest.mark.parametrize("kind", ["tied", "untied"])
def test_merged_logits_match_a_hand_computation(tok, english, models, kind):
    model = models[kind]
    plan = plan_merges(_batch(tok, english[1]), tokenizer=tok, target_ratio=0.8)
    rows = MergedEmbedder(model, "mean").embed(plan)
    logits = merged_logits(model, plan.ids, rows, first_new_id=plan.first_new_id, attention_mask=plan.attention_mask)
    V, M = model.config.vocab_size, plan.n_merges
    assert logits.shape == (*plan.ids.shape, V + M)
    with torch.no_grad():
        ids = torch.from_numpy(plan.ids)
        table = torch.cat((model.embed.weight, mean_embeddings(plan.pieces, plan.piece_lengths, model.embed.weight)))
        emb = table[torch.where(ids >= plan.first_new_id, ids - plan.first_new_id + V, ids)]
        hidden, _ = model.hidden_states(embeddings=emb, attention_mask=torch.from_numpy(plan.attention_mask))
        out = torch.cat((model.output_weight, mean_embeddings(plan.pieces, plan.piece_lengths, model.output_weight)))
        expected = hidden @ out.T
    assert torch.allclose(logits, expected, atol=1e-5)
    # a batch without merges gives the model's own logits
    base = torch.from_numpy(_batch(tok, english[1], rows=2))
    empty = MergedRows(torch.zeros(0, 32), torch.zeros(0, 32), torch.zeros(0))
    assert torch.allclose(merged_logits(model, base, empty, first_new_id=tok.vocab_size), model(base), atol=1e-6)
    with pytest.raises(TokfreeError, match="new ids"):
        merged_logits(model, [[V + M + 5]], rows, first_new_id=plan.first_new_id)


@pytest.mark.parametrize("kind", ["tied", "untied"])
def test_unmerged_bits_per_byte_equal_evaluate_lm(tok, english, models, kind):
    model = models[kind]
    loss, bpb, tokens, n_bytes = evaluate_lm(model, tok, english[1], seq_len=SEQ, batch_size=3)
    for ratio in (None, 1.0):
        result = merged_bits_per_byte(model, tok, english[1], target_ratio=ratio, seq_len=SEQ, batch_size=3)
        assert result.bits_per_byte == pytest.approx(bpb, abs=1e-6)
        assert result.loss == pytest.approx(loss, abs=1e-6)
        assert (result.tokens, result.base_tokens, result.bytes) == (tokens, tokens, n_bytes)
        assert result.length_ratio == 1.0 and result.new_tokens == 0


@pytest.mark.parametrize("kind", ["tied", "untied"])
def test_merged_bits_per_byte_shortens_and_counts_the_same_bytes(tok, english, models, kind):
    model = models[kind]
    _, bpb, tokens, n_bytes = evaluate_lm(model, tok, english[1], seq_len=SEQ, batch_size=4)
    result = merged_bits_per_byte(model, tok, english[1], target_ratio=0.85, seq_len=SEQ, batch_size=4)
    assert result.bytes == n_bytes and result.base_tokens == tokens
    assert result.length_ratio <= 0.85 and result.tokens < tokens and result.new_tokens > 0
    assert math.isfinite(result.bits_per_byte) and result.bits_per_byte > 0
    # an untrained hypernet is the mean exactly; a cache changes nothing but the work done
    hn = EmbeddingHypernet(HypernetConfig.for_model(model, hidden=16, n_heads=2), seed=0)
    cache = EmbeddingCache(4096, 32)
    embedder = MergedEmbedder(model, hn, cache=cache)
    cached = merged_bits_per_byte(model, tok, english[1], target_ratio=0.85, seq_len=SEQ, batch_size=4, embedder=embedder)
    assert cached == result
    assert cache.misses > 0 and cache.hits > 0  # frequent words recur across batches
    misses = cache.misses
    assert merged_bits_per_byte(model, tok, english[1], target_ratio=0.85, seq_len=SEQ, batch_size=4, embedder=embedder) == result
    assert cache.misses == misses  # the second pass is served from the cache


def test_previous_batch_plans_merge_without_seeing_the_batch(tok, english, models):
    model = models["untied"]
    _, bpb, tokens, _ = evaluate_lm(model, tok, english[1], seq_len=SEQ, batch_size=4)
    common = dict(target_ratio=0.85, seq_len=SEQ, plan_from="previous")
    single = merged_bits_per_byte(model, tok, english[1], batch_size=1000, **common)  # one batch: nothing before it
    assert single.length_ratio == 1.0 and single.bits_per_byte == pytest.approx(bpb, abs=1e-6)
    previous = merged_bits_per_byte(model, tok, english[1], batch_size=4, **common)
    own = merged_bits_per_byte(model, tok, english[1], target_ratio=0.85, seq_len=SEQ, batch_size=4)
    assert own.length_ratio < previous.length_ratio < 1.0
    assert previous.base_tokens == tokens and previous.bytes == own.bytes and previous.new_tokens > 0


def test_a_fixed_plan_from_training_text(tok, english, models):
    model = models["tied"]
    train = _batch(tok, english[0], rows=8)
    plan = plan_merges(train, tokenizer=tok, target_ratio=0.8, min_count=2, first_new_id=model.config.vocab_size)
    _, bpb, tokens, n_bytes = evaluate_lm(model, tok, english[1], seq_len=SEQ, batch_size=4)
    fixed = merged_bits_per_byte(model, tok, english[1], target_ratio=None, seq_len=SEQ, batch_size=4, plan_from=plan)
    assert fixed.base_tokens == tokens and fixed.bytes == n_bytes and fixed.length_ratio < 1.0
    assert fixed.new_tokens == plan.n_merges * math.ceil(len(_windows_of(tok, english[1])) / 4)
    config = HypernetConfig.for_model(model, hidden=16, n_heads=2, n_layers=1)
    _, log = train_hypernet(
        model, tok, objective="lm", texts=english[0], steps=2, batch_size=2, seq_len=SEQ, lr=1e-3, seed=0, config=config,
        plan_from=plan, show_progress=False,
    )  # fmt: skip
    assert log.new_tokens == [plan.n_merges] * 2 and all(math.isfinite(x) for x in log.loss)
    with pytest.raises(TokfreeError, match="target_ratio=None"):
        merged_bits_per_byte(model, tok, english[1], target_ratio=0.8, seq_len=SEQ, plan_from=plan)
    other = plan_merges(train, tokenizer=tok, target_ratio=0.8, first_new_id=model.config.vocab_size + 5)
    with pytest.raises(TokfreeError, match="first_new_id"):
        merged_bits_per_byte(model, tok, english[1], target_ratio=None, seq_len=SEQ, plan_from=other)


def test_a_list_of_fixed_plans_draws_one_per_step(tok, english, models):
    model = models["tied"]
    vocab = model.config.vocab_size
    plans = [plan_merges(_batch(tok, english[0], rows=8), tokenizer=tok, target_ratio=r, first_new_id=vocab) for r in (0.95, 0.7)]
    assert plans[0].n_merges != plans[1].n_merges
    config = HypernetConfig.for_model(model, hidden=16, n_heads=2, n_layers=1)
    _, log = train_hypernet(
        model, tok, objective="lm", texts=english[0], steps=8, batch_size=2, seq_len=SEQ, lr=1e-3, seed=0, config=config,
        plan_from=plans, show_progress=False,
    )  # fmt: skip
    assert set(log.new_tokens) == {p.n_merges for p in plans}  # both were drawn
    with pytest.raises(TokfreeError, match="single MergePlan"):
        merged_bits_per_byte(model, tok, english[1], target_ratio=None, seq_len=SEQ, plan_from=plans)
    with pytest.raises(TokfreeError, match="first new id"):
        train_hypernet(model, tok, objective="lm", texts=english[0], steps=1, batch_size=2, seq_len=SEQ, lr=1e-3, seed=0,
                       config=config, plan_from=[plans[0], plan_merges(_batch(tok, english[0], rows=2), tokenizer=tok, first_new_id=vocab + 1)],
                       show_progress=False)


def _windows_of(tok, texts):
    from tokfree.training.train_lm import _windows

    return _windows(token_stream(tok, texts, separator=separator_id(tok)), SEQ)[0]


def test_merged_bits_per_byte_rejects_bad_arguments(tok, english, models):
    model = models["tied"]
    with pytest.raises(TokfreeError, match="target_ratio"):
        merged_bits_per_byte(model, tok, english[1], target_ratio=1.5, seq_len=SEQ)
    with pytest.raises(TokfreeError, match="no held-out text"):
        merged_bits_per_byte(model, tok, [], target_ratio=0.8, seq_len=SEQ)
    with pytest.raises(TokfreeError, match="max_len"):
        merged_bits_per_byte(model, tok, english[1], target_ratio=0.8, seq_len=65)
    with pytest.raises(TokfreeError, match="plan_from"):
        merged_bits_per_byte(model, tok, english[1], target_ratio=0.8, seq_len=SEQ, plan_from="next")
    with pytest.raises(TokfreeError, match="another model"):
        merged_bits_per_byte(model, tok, english[1], target_ratio=0.8, seq_len=SEQ, embedder=MergedEmbedder(models["untied"]))
