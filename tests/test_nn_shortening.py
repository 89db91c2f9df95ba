"""tokfree.nn.shortening (compaction, segment ids, pooling, upsampling) against per-row loops.

Every vectorised op is compared with a brute-force reference written here with Python loops over
rows, positions and segments (boolean indexing, explicit means and maxima).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from tokfree.errors import TokfreeError  # noqa: E402
from tokfree.nn import (  # noqa: E402
    ByteTokenizer,
    boundaries_to_segment_ids,
    compact,
    gather_positions,
    pool_segments,
    upsample_segments,
)
from tokfree.words import word_boundaries_batch  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- compact ---------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.integers(0, 12), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_compact_equals_boolean_indexing(b, t, p_keep, seed):
    g = generator(seed)
    x = torch.randn(b, t, 3, generator=g)
    keep = torch.rand(b, t, generator=g) < p_keep
    out = compact(x, keep)
    counts = [int(keep[row].sum()) for row in range(b)]
    new_len = max(counts)
    assert out.values.shape == (b, new_len, 3)
    assert out.mask.shape == out.positions.shape == (b, new_len)
    assert out.mask.dtype == torch.bool and out.positions.dtype == torch.long
    for row in range(b):
        n = counts[row]
        assert torch.equal(out.values[row, :n], x[row][keep[row]])
        assert torch.equal(out.positions[row, :n], keep[row].nonzero().flatten())
        assert out.mask[row, :n].all() and not out.mask[row, n:].any()
        assert (out.values[row, n:] == 0).all() and (out.positions[row, n:] == 0).all()


def test_compact_any_trailing_shape_and_dtype():
    keep = torch.tensor([[True, False, True], [False, False, True]])
    ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    out = compact(ids, keep)
    assert out.values.tolist() == [[5, 7], [10, 0]] and out.values.dtype == torch.long
    flags = compact(torch.ones(2, 3, dtype=torch.bool), keep).values
    assert flags.tolist() == [[True, True], [True, False]]
    x = torch.randn(2, 3, 2, 4, dtype=torch.float64)
    out = compact(x, keep)
    assert out.values.shape == (2, 2, 2, 4) and out.values.dtype == torch.float64
    assert torch.equal(out.values[1, 0], x[1, 2]) and (out.values[1, 1] == 0).all()


def test_compact_nothing_kept():
    out = compact(torch.randn(2, 4, 3), torch.zeros(2, 4, dtype=torch.bool))
    assert out.values.shape == (2, 0, 3) and out.mask.shape == (2, 0)
    out = compact(torch.randn(0, 4, 3), torch.zeros(0, 4, dtype=torch.bool))
    assert out.values.shape == (0, 0, 3)


def test_compact_gradient_reaches_kept_entries_only():
    x = torch.randn(2, 5, 3, requires_grad=True)
    keep = torch.tensor([[True, False, True, True, False], [False, True, False, False, False]])
    weights = torch.randn(2, 3, 3)
    (compact(x, keep).values * weights).sum().backward()
    for row in range(2):
        kept = keep[row].nonzero().flatten()
        for j, position in enumerate(kept.tolist()):
            assert torch.equal(x.grad[row, position], weights[row, j])
        assert (x.grad[row][~keep[row]] == 0).all()


def test_gather_positions_compacts_a_second_tensor():
    g = generator(1)
    x = torch.randn(3, 7, 4, generator=g)
    other = torch.randint(0, 100, (3, 7), generator=g)
    keep = torch.rand(3, 7, generator=g) < 0.5
    out = compact(x, keep)
    assert torch.equal(gather_positions(other, out.positions, out.mask), compact(other, keep).values)


def test_compact_errors():
    with pytest.raises(TokfreeError, match="keep has shape"):
        compact(torch.randn(2, 4, 3), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(TokfreeError, match="bool mask"):
        compact(torch.randn(2, 4, 3), torch.ones(2, 4))
    with pytest.raises(TokfreeError, match="batch and a time axis"):
        compact(torch.randn(4), torch.ones(4, dtype=torch.bool))


# --- boundaries -> segment ids ------------------------------------------------------------------


def brute_segment_ids(boundaries, length, offset):
    ids = [[-1] * length for _ in boundaries]
    for row, cuts in enumerate(boundaries):
        for k in range(len(cuts) - 1):
            for position in range(offset + cuts[k], offset + cuts[k + 1]):
                if position < length:
                    ids[row][position] = k
    return ids


rows_of_cuts = st.lists(st.lists(st.integers(0, 20), max_size=8).map(lambda c: sorted(set(c))), min_size=0, max_size=5)


@settings(max_examples=300, deadline=None)
@given(rows_of_cuts, st.integers(0, 25), st.integers(0, 3))
def test_segment_ids_equal_brute_force(boundaries, length, offset):
    ids = boundaries_to_segment_ids(boundaries, length, offset=offset)
    assert ids.dtype == torch.long and ids.shape == (len(boundaries), length)
    assert ids.tolist() == brute_segment_ids(boundaries, length, offset)


def test_segment_ids_from_words_and_byte_batch():
    texts = ["Hello, world!", "howAreYou", ""]
    batch = ByteTokenizer().encode_batch(texts, add_bos=True, add_eos=True, return_tensors="pt")
    ids = boundaries_to_segment_ids(word_boundaries_batch(texts), batch["input_ids"].shape[1], offset=1)
    # Row 0: BOS, "Hello," (6 bytes) is word 0, " world!" (7 bytes) word 1, then EOS.
    assert ids[0].tolist() == [-1] + [0] * 6 + [1] * 7 + [-1]
    assert ids[1].tolist() == [-1, 0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1, -1, -1, -1]
    assert ids[2].tolist() == [-1] * 15


def test_segment_ids_errors():
    with pytest.raises(TokfreeError, match=r"boundaries\[1\] = \[0, 5, 3\] is not a strictly increasing"):
        boundaries_to_segment_ids([[0, 2], [0, 5, 3]], 8)
    with pytest.raises(TokfreeError, match="strictly increasing"):
        boundaries_to_segment_ids([[-1, 2]], 8)
    with pytest.raises(TokfreeError, match="list of per-row"):
        boundaries_to_segment_ids([[0, "a"]], 8)
    with pytest.raises(TokfreeError, match="length"):
        boundaries_to_segment_ids([[0, 2]], -1)
    with pytest.raises(TokfreeError, match="offset"):
        boundaries_to_segment_ids([[0, 2]], 4, offset=-1)


# --- pooling ----------------------------------------------------------------------------------------


def random_segment_ids(b: int, t: int, g: torch.Generator) -> torch.Tensor:
    """Contiguous runs of ids per row, -1 padding at both ends of some rows."""
    ids = torch.full((b, t), -1, dtype=torch.long)
    for row in range(b):
        start = int(torch.randint(0, 3, (1,), generator=g))
        end = t - int(torch.randint(0, 3, (1,), generator=g))
        segment, position = 0, start
        while position < end:
            run = int(torch.randint(1, 4, (1,), generator=g))
            ids[row, position : min(position + run, end)] = segment
            segment, position = segment + 1, position + run
    return ids


def brute_pool(x, ids, reduce, num_segments):
    b = x.shape[0]
    pooled = torch.zeros(b, num_segments, *x.shape[2:], dtype=x.dtype)
    mask = torch.zeros(b, num_segments, dtype=torch.bool)
    for row in range(b):
        for segment in range(num_segments):
            members = [x[row, t] for t in range(x.shape[1]) if ids[row, t] == segment]
            if members:
                stacked = torch.stack(members)
                pooled[row, segment] = stacked.mean(0) if reduce == "mean" else stacked.max(0).values
                mask[row, segment] = True
    return pooled, mask


@pytest.mark.parametrize("reduce", ["mean", "max"])
@pytest.mark.parametrize("seed", range(6))
def test_pool_equals_per_segment_loop(reduce, seed):
    g = generator(seed)
    b, t = 1 + seed % 3, 4 + 3 * seed
    x = torch.randn(b, t, 5, generator=g, dtype=torch.float64)
    ids = random_segment_ids(b, t, g)
    num = int(ids.max()) + 1
    pooled, mask = pool_segments(x, ids, reduce=reduce)
    want, want_mask = brute_pool(x, ids, reduce, num)
    assert pooled.dtype == torch.float64 and pooled.shape == (b, num, 5)
    assert torch.equal(mask, want_mask)
    torch.testing.assert_close(pooled, want, rtol=1e-12, atol=1e-12)
    # More segments than used: extra slots are zero and masked.
    wide, wide_mask = pool_segments(x, ids, reduce=reduce, num_segments=num + 2)
    assert torch.equal(wide[:, :num], pooled) and (wide[:, num:] == 0).all() and not wide_mask[:, num:].any()


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_padding_never_leaks_into_pools(reduce):
    g = generator(3)
    x = torch.randn(3, 10, 4, generator=g)
    ids = random_segment_ids(3, 10, g)
    poisoned = x.clone()
    poisoned[ids < 0] = float("nan")
    clean, mask = pool_segments(x, ids, reduce=reduce)
    dirty, dirty_mask = pool_segments(poisoned, ids, reduce=reduce)
    assert torch.equal(clean, dirty) and torch.equal(mask, dirty_mask)
    assert not dirty.isnan().any()


def test_pool_half_precision_sums_in_float32():
    x = torch.full((1, 4096, 2), 1.0 + 1 / 64)  # a bf16 running sum of 4096 of these would drift
    ids = torch.zeros(1, 4096, dtype=torch.long)
    pooled, _ = pool_segments(x.bfloat16(), ids)
    assert pooled.dtype == torch.bfloat16
    assert float(pooled[0, 0, 0]) == pytest.approx(1 + 1 / 64, abs=1e-3)


def test_pool_gradients():
    g = generator(5)
    x = torch.randn(2, 7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    ids = random_segment_ids(2, 7, g)
    assert torch.autograd.gradcheck(lambda v: pool_segments(v, ids)[0], (x,))
    assert torch.autograd.gradcheck(lambda v: pool_segments(v, ids, reduce="max")[0], (x,))
    pool_segments(x, ids)[0].sum().backward()
    assert (x.grad[ids < 0] == 0).all() and (x.grad[ids >= 0] != 0).all()


def test_pool_errors():
    x = torch.randn(1, 3, 2)
    with pytest.raises(TokfreeError, match="floating point"):
        pool_segments(torch.ones(1, 3, 2, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(TokfreeError, match="torch.long"):
        pool_segments(x, torch.zeros(1, 3, dtype=torch.int32))
    with pytest.raises(TokfreeError, match="segment_ids has shape"):
        pool_segments(x, torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(TokfreeError, match="below -1"):
        pool_segments(x, torch.tensor([[0, -2, 0]]))
    with pytest.raises(TokfreeError, match="num_segments > 2"):
        pool_segments(x, torch.tensor([[0, 1, 2]]), num_segments=2)
    with pytest.raises(TokfreeError, match="reduce='sum'"):
        pool_segments(x, torch.zeros(1, 3, dtype=torch.long), reduce="sum")  # type: ignore[arg-type]


# --- upsampling -------------------------------------------------------------------------------------


def brute_upsample(segments, ids, shift, fill):
    b, t = ids.shape
    out = torch.zeros(b, t, *segments.shape[2:], dtype=segments.dtype)
    for row in range(b):
        for position in range(t):
            source = int(ids[row, position]) - shift
            if ids[row, position] >= 0 and source >= 0:
                out[row, position] = segments[row, source]
            elif fill is not None:
                out[row, position] = fill
    return out


@pytest.mark.parametrize("shift", [0, 1, 2])
@pytest.mark.parametrize("with_fill", [False, True])
def test_upsample_equals_loop(shift, with_fill):
    g = generator(shift + 10 * with_fill)
    ids = random_segment_ids(3, 11, g)
    segments = torch.randn(3, int(ids.max()) + 1, 4, generator=g)
    fill = torch.randn(4, generator=g) if with_fill else None
    out = upsample_segments(segments, ids, shift=shift, fill=fill)
    assert out.shape == (3, 11, 4)
    assert torch.equal(out, brute_upsample(segments, ids, shift, fill))


def test_upsample_after_pool():
    # Bytes whose states are constant per word: mean-pooling then upsampling gives them back.
    g = generator(7)
    ids = random_segment_ids(2, 12, g)
    per_segment = torch.randn(2, int(ids.max()) + 1, 3, generator=g)
    x = upsample_segments(per_segment, ids)
    pooled, mask = pool_segments(x, ids)
    back = upsample_segments(pooled, ids)
    assert back.shape == x.shape
    torch.testing.assert_close(back, x)
    torch.testing.assert_close(pooled[mask], per_segment[mask])


def test_causal_shift_sees_only_earlier_segments():
    ids = torch.tensor([[0, 0, 1, 1, 1, 2]])
    segments = torch.randn(1, 3, 2, requires_grad=True)
    fill = torch.zeros(2, requires_grad=True)
    out = upsample_segments(segments, ids, shift=1, fill=fill)
    for position, segment in enumerate(ids[0].tolist()):
        # d out[position] / d segments[k] is non-zero only for k = segment - 1.
        grad = torch.autograd.grad(out[0, position].sum(), (segments, fill), retain_graph=True)
        touched = [k for k in range(3) if grad[0][0, k].abs().sum() > 0]
        assert touched == ([segment - 1] if segment >= 1 else [])
        assert (grad[1].abs().sum() > 0) == (segment == 0)


def test_upsample_gradients():
    g = generator(9)
    ids = random_segment_ids(2, 9, g)
    segments = torch.randn(2, int(ids.max()) + 1, 3, generator=g, dtype=torch.float64, requires_grad=True)
    fill = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, f: upsample_segments(s, ids, shift=1, fill=f), (segments, fill))


def test_upsample_errors():
    segments = torch.randn(1, 2, 3)
    with pytest.raises(TokfreeError, match="past the 2 segments"):
        upsample_segments(segments, torch.tensor([[0, 1, 2]]))
    with pytest.raises(TokfreeError, match="shift=-1"):
        upsample_segments(segments, torch.tensor([[0, 1]]), shift=-1)
    with pytest.raises(TokfreeError, match="torch.long"):
        upsample_segments(segments, torch.tensor([[0, 1]], dtype=torch.int32))
    with pytest.raises(TokfreeError, match=r"\(B, S, D\)"):
        upsample_segments(torch.randn(2, 3), torch.tensor([[0, 1]]))


# --- an end-to-end use and the GPU -----------------------------------------------------------------


def test_bytes_to_word_vectors_and_back():
    texts = ["Hello, world!", "tokfree pools bytes", "a"]
    tok = ByteTokenizer()
    batch = tok.encode_batch(texts, add_bos=True, return_tensors="pt")
    ids = boundaries_to_segment_ids(word_boundaries_batch(texts), batch["input_ids"].shape[1], offset=1)
    embed = torch.nn.Embedding(tok.vocab_size, 8)
    states = embed(batch["input_ids"])
    words, mask = pool_segments(states, ids)
    assert mask.sum(1).tolist() == [2, 3, 1]
    # Word 1 of row 1 is " pools": the mean of the embeddings of its 6 bytes.
    torch.testing.assert_close(words[1, 1], embed(torch.tensor(list(b" pools"))).mean(0))
    decoder_input = upsample_segments(words, ids, shift=1)
    assert decoder_input.shape == states.shape
    words.sum().backward()
    assert embed.weight.grad is not None and embed.weight.grad[tok.PAD_ID].abs().sum() == 0


@pytest.mark.gpu
def test_ops_on_cuda_match_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    g = generator(11)
    x = torch.randn(3, 10, 4, generator=g)
    keep = torch.rand(3, 10, generator=g) < 0.5
    ids = random_segment_ids(3, 10, g)
    cpu = compact(x, keep)
    gpu = compact(x.cuda(), keep.cuda())
    for a, b in zip(cpu, gpu):
        assert torch.equal(a, b.cpu())
    for reduce in ("mean", "max"):
        pooled, mask = pool_segments(x.cuda(), ids.cuda(), reduce=reduce)
        want, want_mask = pool_segments(x, ids, reduce=reduce)
        torch.testing.assert_close(pooled.cpu(), want)
        assert torch.equal(mask.cpu(), want_mask)
    up = upsample_segments(want.cuda(), ids.cuda(), shift=1)
    torch.testing.assert_close(up.cpu(), upsample_segments(want, ids, shift=1))
    segment_ids = boundaries_to_segment_ids([[0, 3, 5]], 6, device="cuda")
    assert segment_ids.device.type == "cuda"
