"""Batch-level BPE (`tokfree.merging.plan_merges`): hand-derived plans, the Numba kernel against its
numpy twin and the pure-Python reference, lossless apply/unmerge, and boundaries never crossed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokfree import TokfreeError
from tokfree._kernels.merging import merge_loop_numba, merge_loop_numpy
from tokfree._reference import merging as ref
from tokfree.merging import plan_merges
from tokfree.pretokenize import split_spans

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WHITESPACE = b" \t\n\r\x0b\x0c"


def padded(rows: list[list[int]], *, left: bool = False, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    width = max((len(r) for r in rows), default=0)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for i, r in enumerate(rows):
        if r:
            sl = slice(width - len(r), width) if left else slice(0, len(r))
            ids[i, sl], mask[i, sl] = r, True
    return ids, mask


def rows_of(ids, mask) -> list[list[int]]:
    ids, mask = np.asarray(ids), np.asarray(mask)
    return [ids[i][mask[i]].tolist() for i in range(len(ids))]


# --------------------------------------------------------------------------- hand-derived plans


def test_hand_derived_plan_with_no_boundaries():
    # Counts: (1,2) x3, (2,3) x2, (2,1) x1 -> merge (1,2)=10: [10 10 3] [10 3];
    # then (10,3) x2 -> 11: [10 11] [11]; then (10,11) x1 -> 12: [12] [11].
    ids, mask = padded([[1, 2, 1, 2, 3], [1, 2, 3]])
    plan = plan_merges(ids, mask, boundary="none", first_new_id=10)
    assert plan.merges.tolist() == [[1, 2], [10, 3], [10, 11]]
    assert rows_of(plan.ids, plan.attention_mask) == [[12], [11]]
    assert plan.constituents(12) == (1, 2, 1, 2, 3)
    assert plan.lengths_before.tolist() == [5, 3] and plan.lengths_after.tolist() == [1, 1]


def test_overlapping_pairs_merge_left_to_right():
    ids, mask = padded([[5, 5, 5]])
    plan = plan_merges(ids, mask, boundary="none", n_merges=1)
    assert plan.first_new_id == 6  # largest id + 1 without a tokenizer
    assert rows_of(plan.ids, plan.attention_mask) == [[6, 5]]


def test_ties_go_to_the_smallest_pair_whatever_the_row_order():
    a = plan_merges(*padded([[3, 4], [1, 2]]), boundary="none", first_new_id=9, n_merges=1)
    b = plan_merges(*padded([[1, 2], [3, 4]]), boundary="none", first_new_id=9, n_merges=1)
    assert a.merges.tolist() == b.merges.tolist() == [[1, 2]]


def test_special_ids_and_padding_never_merge():
    ids, mask = padded([[7, 1, 2, 7, 1, 2], [1, 2]])
    plan = plan_merges(ids, mask, boundary="none", special_ids=[7], first_new_id=10)
    assert rows_of(plan.ids, plan.attention_mask) == [[7, 10, 7, 10], [10]]
    # padding (id 0 here) is never counted: [1 2 pad pad] has no (2, 0) pair
    assert all(0 not in pair for pair in plan.merges.tolist())


def test_limits_n_merges_target_ratio_and_min_count():
    ids, mask = padded([[1, 2, 1, 2, 3], [1, 2, 3]])
    assert plan_merges(ids, mask, boundary="none", n_merges=0).n_merges == 0
    half = plan_merges(ids, mask, boundary="none", target_ratio=0.5, first_new_id=10)
    # 8 tokens; after (1,2): 5; after (10,3): 3 <= 4 -> stop after two merges
    assert half.n_merges == 2 and half.length_ratio == 3 / 8
    assert plan_merges(ids, mask, boundary="none", min_count=3, first_new_id=10).merges.tolist() == [[1, 2]]


# --------------------------------------------------------------------------- kernel twins


@st.composite
def flat_batches(draw):
    n = draw(st.integers(1, 80))
    tokens = np.array(draw(st.lists(st.integers(0, draw(st.integers(1, 6))), min_size=n, max_size=n)), dtype=np.int64)
    joinable = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    return tokens, joinable, draw(st.integers(0, 40)), draw(st.integers(1, 3))


@FAST
@given(flat_batches())
def test_numba_numpy_and_reference_agree(case):
    tokens, joinable, max_merges, min_count = case
    joinable[-1] = False
    kw = dict(first_new_id=100, max_merges=max_merges, min_count=min_count)
    fast = merge_loop_numba(tokens, joinable, **kw)
    twin = merge_loop_numpy(tokens, joinable, **kw)
    merges, rows = ref.plan([list(zip(tokens.tolist(), joinable.tolist()))], **kw)
    assert fast[0].tolist() == twin[0].tolist() == [list(p) for p in merges]
    assert fast[1].tolist() == twin[1].tolist() == [t for t, _ in rows[0]]
    assert fast[2].tolist() == twin[2].tolist() == [j for _, j in rows[0]]
    # replaying the merges gives the same tokens
    replay = merge_loop_numba(tokens, joinable, first_new_id=100, fixed=fast[0], max_merges=10**6)
    assert replay[1].tolist() == fast[1].tolist()


def test_each_merge_shortens_by_its_occurrences():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 5, 400)
    joinable = rng.random(400) < 0.8
    merges, _, _ = merge_loop_numba(tokens, joinable, first_new_id=10, max_merges=30)
    lengths = [merge_loop_numpy(tokens, joinable, first_new_id=10, max_merges=m)[1].size for m in range(31)]
    assert all(a > b for a, b in zip(lengths, lengths[1:]))  # min_count 1: every merge replaces >= 1
    row = list(zip(tokens.tolist(), joinable.tolist()))
    for m, (a, b) in enumerate(merges.tolist()):  # the drop is the non-overlapping occurrences
        occurrences, i = 0, 0
        while i + 1 < len(row):
            if row[i][1] and (row[i][0], row[i + 1][0]) == (a, b):
                occurrences, i = occurrences + 1, i + 2
            else:
                i += 1
        assert lengths[m] - lengths[m + 1] == occurrences
        row = ref.apply([row], [(a, b)], first_new_id=10 + m)[0]


# --------------------------------------------------------------------------- with a real tokenizer


TEXT = st.lists(st.sampled_from(list("ab cd\n\te.,'é日") + ["<|endoftext|>", "  ", "ing", " the"]), max_size=30).map("".join)


def encode_rows(tok, texts: list[str]) -> list[list[int]]:
    return [tok.encode(t, allowed_special="all") for t in texts]


@FAST
@given(st.lists(TEXT, min_size=1, max_size=5), st.booleans(), st.sampled_from(["word", "pretoken", "none"]), st.sampled_from(["numba", "numpy"]))
def test_unmerge_of_apply_is_the_identity(trained, texts, left, boundary, backend):
    tok = trained("gpt4")
    rows = encode_rows(tok, texts)
    ids, mask = padded(rows, left=left)
    plan = plan_merges(ids, mask, tokenizer=tok, boundary=boundary, backend=backend)
    applied = plan.apply(ids, mask)
    assert np.array_equal(applied[0], plan.ids) and np.array_equal(applied[1], plan.attention_mask)
    back, back_mask = plan.unmerge(*applied, width=ids.shape[1])
    assert np.array_equal(back, ids) and np.array_equal(back_mask, mask)
    for r, row in enumerate(rows_of(plan.ids, plan.attention_mask)):  # the bytes are unchanged
        assert b"".join(plan.token_bytes(t) for t in row) == tok.decode_bytes(rows[r])


@FAST
@given(st.lists(TEXT, min_size=1, max_size=5))
def test_merges_never_cross_words_pretokens_or_special_tokens(trained, texts):
    tok = trained("gpt4")
    specials = set(tok.special_tokens.values())
    rows = encode_rows(tok, texts)
    ids, mask = padded(rows)
    for boundary in ("word", "pretoken", "none"):
        plan = plan_merges(ids, mask, tokenizer=tok, boundary=boundary)
        for new in range(plan.first_new_id, plan.first_new_id + plan.n_merges):
            assert not specials & set(plan.constituents(new))
            if boundary == "word":
                assert not any(c in WHITESPACE for c in plan.token_bytes(new)[1:])
        if boundary != "pretoken":
            continue
        for r, row in enumerate(rows_of(plan.ids, plan.attention_mask)):
            # Oracle: the pre-token spans of each stretch between special tokens, by byte offset.
            cuts, offset, stretch = set(), 0, b""
            for t in rows[r] + [None]:
                if t is None or t in specials:
                    cuts |= {offset - len(stretch) + s for s, _ in split_spans(stretch.decode("utf-8"), "gpt4")}
                    cuts |= {offset - len(stretch)}
                    if t is not None:
                        offset += len(tok.id_to_token(t))
                        cuts.add(offset)
                    stretch = b""
                else:
                    stretch += tok.id_to_token(t)
                    offset += len(tok.id_to_token(t))
            start = 0
            for t in row:
                end = start + len(plan.token_bytes(t))
                assert not {c for c in cuts if start < c < end}, (texts[r], plan.token_bytes(t))
                start = end


def test_word_boundary_keeps_the_leading_space(trained):
    tok = trained("gpt4")
    ids, mask = padded([tok.encode(" unbelievable unbelievable tokenization")])
    plan = plan_merges(ids, mask, tokenizer=tok, boundary="word")
    words = [plan.token_bytes(int(t)) for t in plan.ids[0]]
    assert words == [b" unbelievable", b" unbelievable", b" tokenization"]


def test_torch_in_torch_out(trained):
    torch = pytest.importorskip("torch")
    tok = trained("gpt4")
    ids, mask = padded(encode_rows(tok, ["the cat sat on the mat", "the cat"]))
    plan = plan_merges(torch.from_numpy(ids).int(), torch.from_numpy(mask), tokenizer=tok)
    assert isinstance(plan.ids, torch.Tensor) and plan.ids.dtype == torch.int32
    assert plan.attention_mask.dtype == torch.bool
    again = plan_merges(ids.astype(np.int32), mask.astype(np.int64), tokenizer=tok)
    assert again.ids.dtype == np.int32 and again.attention_mask.dtype == np.int64
    assert np.array_equal(plan.ids.numpy(), again.ids)


def test_bad_input_raises(trained):
    tok = trained("gpt4")
    ids, mask = padded([[1, 2, 3]])
    with pytest.raises(TokfreeError, match="padding inside a row"):
        plan_merges(ids, np.array([[True, False, True]]), tokenizer=tok)
    with pytest.raises(TokfreeError, match="needs the tokenizer"):
        plan_merges(ids, mask, boundary="word")
    with pytest.raises(TokfreeError, match="first_new_id"):
        plan_merges(np.array([[tok.vocab_size]]), tokenizer=tok)
    with pytest.raises(TokfreeError, match="target_ratio"):
        plan_merges(ids, mask, tokenizer=tok, target_ratio=1.5)
    with pytest.raises(TokfreeError, match="integers"):
        plan_merges(ids.astype(float), mask, tokenizer=tok)
    with pytest.raises(TokfreeError, match="boundary"):
        plan_merges(ids, mask, tokenizer=tok, boundary="sentence")
    plan = plan_merges(ids, mask, tokenizer=tok, boundary="none")
    with pytest.raises(TokfreeError, match="neither a base id nor a new id"):
        plan.unmerge(np.array([[plan.first_new_id + plan.n_merges]]))
    with pytest.raises(TokfreeError, match="unmerge merged ids first"):
        plan.apply(plan.ids)
