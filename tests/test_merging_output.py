"""TopKOutput and generate (tokfree.merging.output): top-k over large output matrices, exact and IVF.

Every expected value comes from an independent oracle in this file: `torch.topk` of the full logit
matrix, float64 dot products, a brute-force argmax decoding loop. CPU only, seeded, a few seconds.
"""

from __future__ import annotations

import doctest
import math

import pytest

torch = pytest.importorskip("torch")

from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.merging import output as output_module  # noqa: E402
from tokfree.merging.output import TopKOutput, generate  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def clustered(n: int, d: int, n_clusters: int, seed: int, *, n_queries: int = 32, bias_std: float = 0.5):
    """Rows in `n_clusters` directions with spread, varying norms and biases; queries near the centres."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_clusters, d, generator=g)
    rows = centres[torch.randint(n_clusters, (n,), generator=g)] + 0.5 * torch.randn(n, d, generator=g)
    rows = rows * torch.exp(0.2 * torch.randn(n, 1, generator=g)) / math.sqrt(d)
    bias = bias_std * torch.randn(n, generator=g)
    queries = centres[torch.randint(n_clusters, (n_queries,), generator=g)] + 0.5 * torch.randn(n_queries, d, generator=g)
    return rows, bias, queries


def full_topk(hidden, weight, bias, k):
    """The oracle: every logit at once, then torch.topk."""
    logits = hidden.float() @ weight.float().T
    if bias is not None:
        logits = logits + bias.float()
    values, ids = logits.topk(k, dim=1)
    return ids, values


@pytest.fixture(scope="module")
def big():
    """50k clustered rows (D=32, 100 clusters), the exact top-10 of 32 queries, and an IVF index."""
    weight, bias, queries = clustered(50_000, 32, 100, seed=1)
    ivf = TopKOutput(weight, bias, index="ivf", seed=0, show_progress=False)
    return weight, bias, queries, ivf


# -- exact index ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 256, 1999, 2000, 100_000])
def test_exact_index_is_torch_topk_of_the_full_logits(chunk_size):
    g = torch.Generator().manual_seed(chunk_size)
    weight, bias, hidden = torch.randn(2000, 24, generator=g), torch.randn(2000, generator=g), torch.randn(5, 24, generator=g)
    out = TopKOutput(weight, bias, chunk_size=chunk_size)
    full = hidden @ weight.T + bias
    for k in (1, 10, 2000):
        ids, logits = out.candidates(hidden, k)
        want_ids, want_values = full_topk(hidden, weight, bias, k)
        assert ids.dtype == torch.long and logits.dtype == torch.float32 and ids.shape == (5, k)
        torch.testing.assert_close(logits, want_values, rtol=1e-6, atol=1e-5)
        if k < 2000:
            assert torch.equal(ids, want_ids)
        else:
            # sorting all 2000 logits meets gaps of ~5e-7, below float32 rounding of a chunked matmul:
            # the same rows, in an order whose full logits are sorted up to that rounding
            assert torch.equal(ids.sort(1).values, want_ids.sort(1).values)
            torch.testing.assert_close(full.gather(1, ids), want_values, rtol=1e-6, atol=1e-5)


def test_exact_index_without_bias_and_with_half_precision_rows():
    g = torch.Generator().manual_seed(3)
    weight, hidden = torch.randn(3000, 16, generator=g), torch.randn(4, 16, generator=g)
    ids, logits = TopKOutput(weight, chunk_size=500).candidates(hidden, 20)
    want_ids, want_values = full_topk(hidden, weight, None, 20)
    assert torch.equal(ids, want_ids)
    torch.testing.assert_close(logits, want_values, rtol=1e-6, atol=1e-5)
    # bf16 rows are scored in float32 (the logits of the bf16 values, not of a bf16 matmul).
    half = weight.bfloat16()
    ids, logits = TopKOutput(half, chunk_size=500).candidates(hidden.bfloat16(), 20)
    want_ids, want_values = full_topk(hidden.bfloat16(), half, None, 20)
    assert logits.dtype == torch.float32
    assert torch.equal(ids, want_ids)
    torch.testing.assert_close(logits, want_values, rtol=1e-6, atol=1e-5)


# -- IVF index --------------------------------------------------------------------------------------


def test_ivf_recall_on_clustered_rows(big):
    weight, bias, queries, ivf = big
    reference, _ = full_topk(queries, weight, bias, 10)
    assert ivf.n_lists == round(math.sqrt(50_000))
    assert int(ivf.list_sizes.sum()) == 50_000
    assert ivf.recall(queries, 10, reference=reference) >= 0.9  # the default n_probe
    assert ivf.recall(queries, 10, reference=reference, n_probe=8) >= 0.9
    # recall() computes the same reference itself when none is given
    assert ivf.recall(queries, 10, n_probe=8) == ivf.recall(queries, 10, reference=reference, n_probe=8)


def test_ivf_visiting_every_list_is_exact(big):
    weight, bias, queries, ivf = big
    ids, logits = ivf.candidates(queries, 10, n_probe=ivf.n_lists)
    want_ids, want_values = full_topk(queries, weight, bias, 10)
    assert torch.equal(ids, want_ids)
    torch.testing.assert_close(logits, want_values, rtol=1e-6, atol=1e-5)
    assert ivf.recall(queries, 10, n_probe=ivf.n_lists) == 1.0


@pytest.mark.parametrize("partition", ["direction", "norm-completed"])
def test_ivf_with_chunks_smaller_than_lists_and_k_is_exact_with_every_list(partition):
    weight, bias, queries = clustered(6000, 16, 12, seed=12, n_queries=4)
    ivf = TopKOutput(weight[:5000], bias[:5000], index="ivf", partition=partition, n_lists=20, chunk_size=37, show_progress=False)
    ivf.extend(weight[5000:], bias[5000:])  # 1000 rows stay in the append buffer
    ids, logits = ivf.candidates(queries, 50, n_probe=20)
    want_ids, want_values = full_topk(queries, weight, bias, 50)
    assert torch.equal(ids, want_ids)
    torch.testing.assert_close(logits, want_values, rtol=1e-6, atol=1e-5)


def test_ivf_norm_completed_partition_is_exact_with_every_list():
    weight, bias, queries = clustered(5000, 16, 20, seed=4, n_queries=8)
    ivf = TopKOutput(weight, bias, index="ivf", partition="norm-completed", n_lists=40, show_progress=False)
    assert ivf.recall(queries, 10, n_probe=40) == 1.0
    assert torch.equal(ivf.candidates(queries, 10, n_probe=40)[0], full_topk(queries, weight, bias, 10)[0])
    assert ivf.recall(queries, 10, n_probe=10) >= 0.8


def test_ivf_always_returns_k_rows_even_when_the_probed_lists_are_small():
    weight, bias, queries = clustered(2000, 8, 10, seed=5, n_queries=6)
    ivf = TopKOutput(weight, bias, index="ivf", n_lists=100, n_probe=1, show_progress=False)
    ids, logits = ivf.candidates(queries, 500)
    assert ids.shape == (6, 500) and int(ids.min()) >= 0
    assert all(len(set(row)) == 500 for row in ids.tolist())
    assert bool((logits[:, :-1] >= logits[:, 1:]).all())


def test_ivf_build_is_deterministic_for_a_seed():
    weight, bias, queries = clustered(4000, 16, 30, seed=6, n_queries=8)
    a = TopKOutput(weight, bias, index="ivf", n_lists=50, n_probe=3, seed=7, show_progress=False)
    b = TopKOutput(weight, bias, index="ivf", n_lists=50, n_probe=3, seed=7, show_progress=False)
    assert torch.equal(a.list_sizes, b.list_sizes)
    assert torch.equal(a.candidates(queries, 10)[0], b.candidates(queries, 10)[0])


@pytest.mark.parametrize("index", ["exact", "ivf"])
def test_candidate_logits_are_the_recomputed_dot_products(big, index):
    weight, bias, queries, ivf = big
    out = ivf if index == "ivf" else TopKOutput(weight, bias, chunk_size=8192)
    ids, logits = out.candidates(queries, 25)
    # float64 oracle, one dot product per candidate
    want = (queries.double()[:, None, :] * weight.double()[ids]).sum(-1) + bias.double()[ids]
    torch.testing.assert_close(logits.double(), want, rtol=0, atol=2e-5)
    assert bool((logits[:, :-1] >= logits[:, 1:]).all())  # best first
    assert all(len(set(row)) == 25 for row in ids.tolist())  # no row twice


def test_log_probs_are_a_softmax_over_the_candidates(big):
    weight, bias, queries, ivf = big
    for out in (ivf, TopKOutput(weight, bias)):
        ids, lp = out.log_probs(queries, 16)
        cand_ids, logits = out.candidates(queries, 16)
        assert torch.equal(ids, cand_ids)
        torch.testing.assert_close(lp.exp().sum(1), torch.ones(len(queries)), rtol=0, atol=1e-5)
        want = logits.double() - torch.logsumexp(logits.double(), dim=1, keepdim=True)
        torch.testing.assert_close(lp.double(), want, rtol=0, atol=1e-5)


# -- extend ---------------------------------------------------------------------------------------------


def test_extend_then_search_finds_an_added_row_that_is_the_exact_argmax(big):
    weight, bias, queries, _ = big
    ivf = TopKOutput(weight, bias, index="ivf", seed=0, show_progress=False)
    # A query pointing along an existing row; the new row is that row three times longer, so it is
    # that query's argmax (it lands in the same list as the row it copies).
    source = int(full_topk(queries[:1], weight, bias, 1)[0])
    query = weight[source : source + 1] / weight[source].norm() * queries[0].norm()
    new_row = 3.0 * weight[source : source + 1]
    new_ids = ivf.extend(new_row, torch.tensor([float(bias[source])]))
    assert new_ids.tolist() == [50_000] and ivf.num_rows == 50_001
    all_rows, all_bias = torch.cat((weight, new_row)), torch.cat((bias, bias[source : source + 1]))
    assert int(full_topk(query, all_rows, all_bias, 1)[0]) == 50_000  # the oracle agrees it is the argmax
    ids, logits = ivf.candidates(query, 5)
    assert int(ids[0, 0]) == 50_000
    assert math.isclose(float(logits[0, 0]), float(query.double() @ new_row.double()[0] + bias[source]), abs_tol=1e-4)
    assert int(ivf.greedy(query, 5)[0]) == 50_000
    assert int(ivf.list_sizes.sum()) == 50_001


def test_extend_many_rows_keeps_every_row_findable():
    weight, bias, queries = clustered(20_000, 16, 40, seed=8, n_queries=12)
    ivf = TopKOutput(weight[:10_000], bias[:10_000], index="ivf", n_lists=60, show_progress=False)
    exact = TopKOutput(weight[:10_000], bias[:10_000], chunk_size=3000)
    # small appends stay in the append buffer; the 5000-row one passes the repack threshold
    for start, stop in ((10_000, 10_010), (10_010, 10_500), (10_500, 15_500), (15_500, 20_000)):
        assert ivf.extend(weight[start:stop], bias[start:stop]).tolist() == list(range(start, stop))
        exact.extend(weight[start:stop], bias[start:stop])
        want_ids, want_values = full_topk(queries, weight[:stop], bias[:stop], 10)
        for out in (ivf, exact):
            ids, logits = out.candidates(queries, 10, n_probe=None if out is exact else 60)
            assert torch.equal(ids, want_ids)
            torch.testing.assert_close(logits, want_values, rtol=1e-6, atol=1e-5)
        assert int(ivf.list_sizes.sum()) == stop
    assert ivf.recall(queries, 10) >= 0.9


def test_extend_without_bias_gives_zero_bias_and_an_output_without_bias_accepts_biased_rows():
    g = torch.Generator().manual_seed(9)
    weight, extra, hidden = torch.randn(300, 8, generator=g), torch.randn(20, 8, generator=g), torch.randn(3, 8, generator=g)
    out = TopKOutput(weight)
    out.extend(extra, torch.full((20,), 2.0))
    want = full_topk(hidden, torch.cat((weight, extra)), torch.cat((torch.zeros(300), torch.full((20,), 2.0))), 7)
    assert torch.equal(out.candidates(hidden, 7)[0], want[0])
    biased = TopKOutput(weight, torch.ones(300))
    biased.extend(extra)
    want = full_topk(hidden, torch.cat((weight, extra)), torch.cat((torch.ones(300), torch.zeros(20))), 7)
    assert torch.equal(biased.candidates(hidden, 7)[0], want[0])


# -- sampling and generation ------------------------------------------------------------------------


def test_sample_is_reproducible_and_follows_the_truncated_distribution():
    g = torch.Generator().manual_seed(10)
    weight, hidden = torch.randn(400, 8, generator=g), torch.randn(1, 8, generator=g)
    out = TopKOutput(weight)
    many = hidden.expand(20_000, 8)
    draws, lp = out.sample(many, k=4, generator=torch.Generator().manual_seed(0))
    again, _ = out.sample(many, k=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)
    ids, log_probs = out.log_probs(hidden, 4)
    assert set(draws.tolist()) <= set(ids[0].tolist())
    freq = torch.tensor([(draws == i).float().mean().item() for i in ids[0].tolist()])
    torch.testing.assert_close(freq, log_probs[0].exp(), rtol=0, atol=0.015)
    # the reported log-prob is the truncated distribution's at temperature 1, whatever the temperature
    hot, hot_lp = out.sample(many[:50], k=4, temperature=3.0, generator=torch.Generator().manual_seed(1))
    table = dict(zip(ids[0].tolist(), log_probs[0].tolist()))
    assert all(math.isclose(table[i], v, abs_tol=1e-6) for i, v in zip(hot.tolist(), hot_lp.tolist()))
    # temperature 0 is greedy
    top, top_lp = out.sample(hidden, k=4, temperature=0.0)
    assert top.tolist() == [int(ids[0, 0])] and torch.equal(out.greedy(hidden, 4)[0], top)
    assert math.isclose(float(top_lp), float(log_probs[0, 0]), abs_tol=1e-6)


def _tiny_dynamic_lm(seed: int = 0):
    """A tiny random CausalLM over 300 base ids plus 200 'merged' ids with their own input and output rows."""
    from tokfree.nn import CausalLM, CausalLMConfig

    model = CausalLM(CausalLMConfig(vocab_size=300, d_model=32, n_layers=1, n_heads=2), seed=seed).eval()
    g = torch.Generator().manual_seed(seed + 1)
    merged = 0.02 * torch.randn(200, 32, generator=g)
    out_rows = torch.cat((model.output_weight.detach(), merged))  # tied, like the base model
    out_bias = 0.01 * torch.randn(500, generator=g)
    # A random untrained LM mostly echoes its input; feeding id j the input embedding of perm[j]
    # makes greedy decoding walk through the permutation, base and merged ids alike.
    in_rows = out_rows[torch.randperm(500, generator=g)]
    return model, in_rows, out_rows, out_bias


def _stepper(model, in_rows, past):
    """step_fn for generate: ids (B,) -> the next (B, D) hidden state, keeping the KV cache."""
    state = {"past": past, "calls": 0}

    def step(ids):
        state["calls"] += 1
        hidden, state["past"] = model.hidden_states(embeddings=in_rows[ids][:, None, :], past=state["past"])
        return hidden[:, -1]

    return step, state


def test_greedy_generate_equals_a_brute_force_argmax_loop():
    model, in_rows, out_rows, out_bias = _tiny_dynamic_lm()
    prompt = torch.tensor([[5, 17, 42, 99], [7, 8, 9, 10]])
    with torch.no_grad():
        hidden, past = model.hidden_states(prompt)
    steps = 12
    # Brute force: every logit, argmax, feed the chosen row's input embedding.
    want_ids, want_lp = [], []
    with torch.no_grad():
        h, cache = hidden[:, -1], past
        for _ in range(steps):
            logits = h @ out_rows.T + out_bias
            best = logits.argmax(1)
            top = logits.topk(20, dim=1).values
            want_ids.append(best)
            want_lp.append(top[:, 0] - torch.logsumexp(top, dim=1))
            h, cache = model.hidden_states(embeddings=in_rows[best][:, None, :], past=cache)
            h = h[:, -1]
    want_ids, want_lp = torch.stack(want_ids, 1), torch.stack(want_lp, 1)
    assert bool((want_ids >= 300).any()) and bool((want_ids < 300).any())  # both kinds of token occur
    exact = TopKOutput(out_rows, out_bias, chunk_size=64)
    every_list = TopKOutput(out_rows, out_bias, index="ivf", n_lists=16, n_probe=16, show_progress=False)
    for out in (exact, every_list):
        step, state = _stepper(model, in_rows, past)
        ids, lp = generate(step, out, hidden[:, -1], max_tokens=steps, k=20)
        assert torch.equal(ids, want_ids)
        torch.testing.assert_close(lp, want_lp, rtol=0, atol=1e-5)
        assert state["calls"] == steps - 1  # never called after the last token


def test_generate_stops_rows_at_stop_ids():
    model, in_rows, out_rows, out_bias = _tiny_dynamic_lm()
    prompt = torch.tensor([[5, 17, 42, 99], [7, 8, 9, 10]])
    out = TopKOutput(out_rows, out_bias)
    with torch.no_grad():
        hidden, past = model.hidden_states(prompt)
    step, _ = _stepper(model, in_rows, past)
    free, _ = generate(step, out, hidden[:, -1], max_tokens=10, k=8)
    stop = int(free[0, 3])  # row 0's fourth token
    first_stop = [row.index(stop) if stop in row else None for row in free.tolist()]
    step, state = _stepper(model, in_rows, past)
    ids, lp = generate(step, out, hidden[:, -1], max_tokens=10, k=8, stop_ids=[stop])
    for r, cut in enumerate(first_stop):
        end = 10 if cut is None else cut + 1
        assert ids[r, :end].tolist() == free[r, :end].tolist()  # the stop id itself is kept
        assert ids[r, end:].tolist() == [-1] * (10 - end) and lp[r, end:].tolist() == [0.0] * (10 - end)
    if all(c is not None for c in first_stop):
        assert state["calls"] == max(first_stop)  # the loop ends once every row has stopped


def test_sampled_generate_is_reproducible_with_a_generator():
    model, in_rows, out_rows, out_bias = _tiny_dynamic_lm()
    out = TopKOutput(out_rows, out_bias)
    with torch.no_grad():
        hidden, past = model.hidden_states(torch.tensor([[1, 2, 3]]))
    runs = []
    for _ in range(2):
        step, _ = _stepper(model, in_rows, past)
        generator = torch.Generator().manual_seed(3)
        runs.append(generate(step, out, hidden[:, -1], max_tokens=8, k=50, temperature=1.0, generator=generator))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert bool((runs[0][1] <= 0).all())


# -- validation -----------------------------------------------------------------------------------------


def test_bad_inputs_raise_tokfree_error():
    weight = torch.randn(100, 8)
    out = TopKOutput(weight)
    ivf = TopKOutput(weight, index="ivf", n_lists=10, show_progress=False)
    hidden = torch.randn(2, 8)
    cases = [
        (lambda: TopKOutput(weight.numpy()), "weight is a ndarray"),
        (lambda: TopKOutput(torch.randn(10)), r"weight has shape \(10,\)"),
        (lambda: TopKOutput(torch.ones(10, 4, dtype=torch.long)), "float tensor"),
        (lambda: TopKOutput(torch.empty(0, 4)), "0 rows"),
        (lambda: TopKOutput(torch.full((3, 2), float("nan"))), "NaN or infinite"),
        (lambda: TopKOutput(weight, torch.zeros(99)), r"bias has shape \(99,\)"),
        (lambda: TopKOutput(weight, torch.zeros(100, dtype=torch.long)), "bias has dtype"),
        (lambda: TopKOutput(weight, index="hnsw"), "index='hnsw'"),
        (lambda: TopKOutput(weight, n_lists=4), "applies to index='ivf' only"),
        (lambda: TopKOutput(weight, index="ivf", partition="cosine"), "partition='cosine'"),
        (lambda: TopKOutput(weight, index="ivf", n_lists=101), r"n_lists=101 must be an int in 1\.\.100"),
        (lambda: TopKOutput(weight, index="ivf", n_lists=10, n_probe=11), "n_probe=11"),
        (lambda: TopKOutput(weight, index="ivf", n_lists=10, train_size=5), "train_size=5"),
        (lambda: TopKOutput(weight, chunk_size=0), "chunk_size=0"),
        (lambda: out.candidates(torch.randn(2, 7), 3), r"hidden has shape \(2, 7\); it must be \(batch, 8\)"),
        (lambda: out.candidates(torch.randn(2, 1, 8), 3), r"hidden\[:, -1\]"),
        (lambda: out.candidates(torch.ones(2, 8, dtype=torch.long), 3), "hidden has dtype"),
        (lambda: out.candidates(hidden, 0), r"k=0 must be an int in 1\.\.100"),
        (lambda: out.candidates(hidden, 101), "k=101"),
        (lambda: out.candidates(hidden, 2.0), "k=2.0"),
        (lambda: ivf.candidates(hidden, 3, n_probe=0), "n_probe=0"),
        (lambda: out.sample(hidden, k=3, temperature=-1.0), "temperature=-1.0"),
        (lambda: out.sample(hidden, k=3, temperature=float("nan")), "temperature=nan"),
        (lambda: out.recall(hidden, 3, reference=torch.zeros(2, 4, dtype=torch.long)), r"reference is \(2, 4\)"),
        (lambda: out.recall(hidden, 3, reference=torch.zeros(2, 3)), "reference has dtype"),
        (lambda: out.extend(torch.randn(3, 7)), r"weight_rows has shape \(3, 7\); it must be \(rows, 8\)"),
        (lambda: out.extend(torch.randn(3, 8), torch.zeros(2)), r"bias_rows has shape \(2,\)"),
        (lambda: out.extend(torch.full((1, 8), float("inf"))), "NaN or infinite"),
        (lambda: TopKOutput(weight.half()).extend(torch.full((1, 8), 1e6)), "overflow torch.float16"),
        (lambda: generate(lambda ids: hidden, out, hidden, max_tokens=-1), "max_tokens=-1"),
        (lambda: generate(lambda ids: hidden, out, hidden, max_tokens=2, stop_ids=[100]), "stop id 100"),
        (lambda: generate(lambda ids: hidden, "out", hidden, max_tokens=2), "pass a TopKOutput"),
        (lambda: generate(lambda ids: hidden, out, torch.randn(2, 5), max_tokens=2), "prompt_state has shape"),
        (lambda: generate(lambda ids: hidden[:, None], out, hidden, max_tokens=2), r"step_fn returned \(2, 1, 8\)"),
        (lambda: generate(lambda ids: hidden, out, hidden, max_tokens=2, k=0), "k=0"),
    ]
    for call, message in cases:
        with pytest.raises(TokfreeError, match=message):
            call()
    # the output is still usable after the rejected calls
    assert out.num_rows == 100 and ivf.num_rows == 100


def test_empty_batch_and_zero_tokens():
    out = TopKOutput(torch.randn(50, 4))
    ids, logits = out.candidates(torch.empty(0, 4), 5)
    assert ids.shape == (0, 5) and logits.shape == (0, 5)
    ids, lp = generate(lambda ids: torch.zeros(1, 4), out, torch.randn(1, 4), max_tokens=0, k=5)
    assert ids.shape == (1, 0) and lp.shape == (1, 0)


def test_module_docstring_examples():
    failures, _ = doctest.testmod(output_module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    weight, bias, queries = clustered(20_000, 32, 50, seed=11, n_queries=8)
    for index in ("exact", "ivf"):
        kwargs = {} if index == "exact" else {"n_lists": 100, "n_probe": 100, "show_progress": False}
        cpu = TopKOutput(weight, bias, index=index, **kwargs).candidates(queries, 10)
        gpu = TopKOutput(weight.cuda(), bias.cuda(), index=index, **kwargs).candidates(queries.cuda(), 10)
        assert gpu[0].device.type == "cuda"
        assert torch.equal(gpu[0].cpu(), cpu[0])
        torch.testing.assert_close(gpu[1].cpu(), cpu[1], rtol=1e-5, atol=1e-4)
