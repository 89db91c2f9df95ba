"""tokfree.nn.ByteTokenizer: ids, lossless round trips, padding, truncation and tensor types."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from tokfree.errors import TokfreeError, UnknownIdError  # noqa: E402
from tokfree.nn import ByteTokenizer  # noqa: E402

TOK = ByteTokenizer()
PAD, EOS, BOS = 256, 257, 258
texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)


def test_ids_are_documented_values():
    assert (TOK.PAD_ID, TOK.EOS_ID, TOK.BOS_ID, TOK.vocab_size) == (256, 257, 258, 259)
    assert TOK.special_ids == {"pad": 256, "eos": 257, "bos": 258}
    # 'h' = 0x68, 'é' = C3 A9, '€' = E2 82 AC.
    assert TOK.encode("hé€") == [0x68, 0xC3, 0xA9, 0xE2, 0x82, 0xAC]
    assert TOK.encode("", add_bos=True, add_eos=True) == [BOS, EOS]
    assert TOK.encode("a", add_bos=True, add_eos=True) == [BOS, 97, EOS]


@settings(max_examples=500, deadline=None)
@given(texts, st.lists(st.sampled_from([PAD, EOS, BOS]), max_size=3), st.integers(0, 30))
def test_round_trip_skips_specials(text, specials, where):
    ids = TOK.encode(text)
    assert TOK.decode(ids) == text
    assert TOK.decode_bytes(ids) == text.encode("utf-8")
    where = min(where, len(ids))
    assert TOK.decode(ids[:where] + specials + ids[where:]) == text
    assert TOK.decode(torch.tensor(ids, dtype=torch.long)) == text
    assert TOK.decode(np.array(ids, dtype=np.int64)) == text


def test_decode_invalid_utf8_is_replaced():
    assert TOK.decode([0xC3]) == "\ufffd"
    assert TOK.decode_bytes([0xC3]) == b"\xc3"


@pytest.mark.parametrize("bad", [-1, 259, 10**6])
def test_unknown_ids(bad):
    with pytest.raises(UnknownIdError, match=f"id {bad} at position 1"):
        TOK.decode([97, bad])


def test_encode_batch_pads_right():
    out = TOK.encode_batch(["abc", "", "de"], add_bos=True, add_eos=True)
    assert out["input_ids"] == [
        [BOS, 97, 98, 99, EOS],
        [BOS, EOS, PAD, PAD, PAD],
        [BOS, 100, 101, EOS, PAD],
    ]
    assert out["attention_mask"] == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]]


def test_encode_batch_truncates_keeping_specials():
    out = TOK.encode_batch(["abcdef", "xy"], add_bos=True, add_eos=True, max_length=4)
    assert out["input_ids"] == [[BOS, 97, 98, EOS], [BOS, 120, 121, EOS]]
    out = TOK.encode_batch(["abcdef", "x"], max_length=3)
    assert out["input_ids"] == [[97, 98, 99], [120, PAD, PAD]]
    # Truncation counts bytes, so it may cut a character: 'é' is C3 A9.
    assert TOK.encode_batch(["ééé"], max_length=3)["input_ids"] == [[0xC3, 0xA9, 0xC3]]


def test_padding_modes():
    out = TOK.encode_batch(["ab", "c"], padding="max_length", max_length=5)
    assert out["input_ids"] == [[97, 98, PAD, PAD, PAD], [99, PAD, PAD, PAD, PAD]]
    assert out["attention_mask"] == [[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]]
    out = TOK.encode_batch(["ab", "c"], padding=False, add_eos=True)
    assert out == {"input_ids": [[97, 98, EOS], [99, EOS]], "attention_mask": [[1, 1, 1], [1, 1]]}
    same = TOK.encode_batch(["ab", "cd"], padding=False, return_tensors="pt")
    assert same["input_ids"].tolist() == [[97, 98], [99, 100]]
    assert TOK.encode_batch([])["input_ids"] == []


@pytest.mark.parametrize("kind", ["pt", "np"])
def test_tensor_types(kind):
    out = TOK.encode_batch(["hi", "a"], add_bos=True, return_tensors=kind)
    ids, mask = out["input_ids"], out["attention_mask"]
    if kind == "pt":
        assert isinstance(ids, torch.Tensor) and ids.dtype == torch.long and mask.dtype == torch.long
    else:
        assert isinstance(ids, np.ndarray) and ids.dtype == np.int64 and mask.dtype == np.int64
    assert ids.shape == mask.shape == (2, 3)
    assert ids.tolist() == [[BOS, 104, 105], [BOS, 97, PAD]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    empty = TOK.encode_batch([], return_tensors=kind)["input_ids"]
    assert tuple(empty.shape) == (0, 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, max_size=5), st.booleans(), st.booleans(), st.one_of(st.none(), st.integers(2, 12)))
def test_batch_rows_equal_single_encodes(batch, add_bos, add_eos, max_length):
    out = TOK.encode_batch(batch, add_bos=add_bos, add_eos=add_eos, max_length=max_length, return_tensors="pt")
    ids, mask = out["input_ids"], out["attention_mask"]
    for row, text in enumerate(batch):
        data = list(text.encode("utf-8"))
        if max_length is not None:
            data = data[: max_length - add_bos - add_eos]
        want = [BOS] * add_bos + data + [EOS] * add_eos
        n = int(mask[row].sum())
        assert ids[row, :n].tolist() == want
        assert (ids[row, n:] == PAD).all() and (mask[row, n:] == 0).all()
    if batch:
        assert ids.shape[1] == max(int(m.sum()) for m in mask)


def test_errors():
    with pytest.raises(TokfreeError, match="must be str, got bytes"):
        TOK.encode(b"abc")  # type: ignore[arg-type]
    with pytest.raises(TokfreeError, match=r"texts\[1\] must be str"):
        TOK.encode_batch(["a", 1])  # type: ignore[list-item]
    with pytest.raises(TokfreeError, match="lone surrogate U\\+D800"):
        TOK.encode("\ud800")
    with pytest.raises(TokfreeError, match="single str"):
        TOK.encode_batch("abc")
    with pytest.raises(TokfreeError, match="max_length=1 cannot hold a row"):
        TOK.encode_batch(["abc"], add_bos=True, add_eos=True, max_length=1)
    with pytest.raises(TokfreeError, match="max_length=0"):
        TOK.encode_batch(["abc"], max_length=0)
    with pytest.raises(TokfreeError, match="needs max_length"):
        TOK.encode_batch(["abc"], padding="max_length")
    with pytest.raises(TokfreeError, match="return_tensors='tf'"):
        TOK.encode_batch(["abc"], return_tensors="tf")  # type: ignore[arg-type]
    with pytest.raises(TokfreeError, match="padding='longest'"):
        TOK.encode_batch(["abc"], padding="longest")  # type: ignore[arg-type]
    with pytest.raises(TokfreeError, match="padding=False gives rows of lengths"):
        TOK.encode_batch(["abc", "d"], padding=False, return_tensors="pt")
