"""Character-level BPE (`tokfree.trainers.train_charlevel`): the cap, NFKC and round trips."""

from __future__ import annotations

import unicodedata

import pytest
from test_char_cap import chars_touched

import tokfree
from tokfree.trainers import train_charlevel


@pytest.fixture(scope="module")
def english(corpora) -> list[str]:
    return corpora["english"]


@pytest.mark.parametrize(("vocab_size", "cap"), [(1024, 3), (9000, 4)])
def test_default_cap_and_round_trip(english, vocab_size, cap):
    tok = train_charlevel(iter(english), vocab_size, show_progress=False)
    assert max(chars_touched(tok.id_to_token(i)) for i in range(tok.vocab_size)) <= cap
    text = "Thc Vnited S tates 5enate — naïve ﬁnance, 中文"
    assert tok.normalizer == "NFKC"
    assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFKC", text)
    assert tok.encode("ﬁ") == tok.encode("fi")  # NFKC folds the ligature when encoding too


def test_bad_normalizer_is_named():
    with pytest.raises(tokfree.TokfreeError, match="normalizer='NFD'"):
        train_charlevel(["abc"], 300, normalizer="NFD", show_progress=False)
