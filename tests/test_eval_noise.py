"""OCR-like noise and boundary consistency: hand-worked cases and properties of the edit record."""

from __future__ import annotations

import pytest

import tokfree
from tokfree import TokfreeError
from tokfree.eval import Edit, boundary_consistency, ocr_noise
from tokfree.io.parts import TokenizerParts

TEXT = "The modern clerk filed 1990 claims in Oslo, then went home.\n" * 20


def apply(clean: str, edits: list[Edit]) -> str:
    """An independent replay of the edits on the clean text."""
    out, at = [], 0
    for edit in edits:
        out.append(clean[at : edit.start])
        out.append(edit.replacement)
        at = edit.end
    out.append(clean[at:])
    return "".join(out)


@pytest.fixture(scope="module")
def tok() -> tokfree.Tokenizer:
    # Bytes plus "th", "the", " the" (see test_eval_compression.py).
    vocab = [(b, bytes([b])) for b in range(256)] + [(256, b"th"), (257, b"the"), (258, b" the")]
    return tokfree.Tokenizer(TokenizerParts("gpt2", vocab, [(116, 104), (256, 101), (32, 257)], []))


@pytest.mark.parametrize("seed", range(5))
def test_edits_replay_to_the_noisy_text(seed):
    noisy, edits = ocr_noise(TEXT, 0.05, seed=seed)
    assert apply(TEXT, edits) == noisy
    assert all(a.end <= b.start for a, b in zip(edits, edits[1:]))  # ascending, non-overlapping
    assert all(not TEXT[e.start : e.end].isspace() for e in edits)  # whitespace is left alone
    assert 0.02 * len(TEXT) < len(edits) < 0.08 * len(TEXT)  # about the asked rate (non-space chars)
    assert ocr_noise(TEXT, 0.05, seed=seed) == (noisy, edits)  # seeded
    assert ocr_noise(TEXT, 0.0, seed=seed) == (TEXT, [])


def test_hand_worked_consistency(tok):
    # "the cat" -> [the][ ][c][a][t]: boundaries 3, 4, 5, 6. Drop the "c" (edit [4, 5)): boundaries
    # 4 and 5 touch it; 3 and 6 remain. Noisy "the at" -> [the][ ][a][t]: boundaries 3, 4, 5, and
    # 6 shifts to 5: both kept.
    edits = [Edit(4, 5, "")]
    assert boundary_consistency(tok, "the cat", apply("the cat", edits), edits) == (2, 2)
    # "the the" -> [the][ the]: boundary 3. Damage "t" of the first word to "b": "bhe the" ->
    # [b][h][e][ the]: boundary 3 still there (the edit [0, 1) does not touch 3).
    edits = [Edit(0, 1, "b")]
    assert boundary_consistency(tok, "the the", "bhe the", edits) == (1, 1)
    # Damage inside " the" of "the the the" (h -> b at 5): "the tbe the" -> [the][ ][t][b][e][ the]
    # clean boundaries 3, 7; 3 and 7 are away from [5, 6] and both survive.
    edits = [Edit(5, 6, "b")]
    assert boundary_consistency(tok, "the the the", "the tbe the", edits) == (2, 2)


def test_a_boundary_lost_away_from_the_damage_counts(tok):
    # "thethe" -> pre-token "thethe": merges th, th, the, the -> [the][the]: boundary 3. Drop the
    # final "e" (edit [5, 6)): "theth" -> [the][th]: boundary 3 kept. Drop the first "t" instead
    # ([0, 1)): "hethe" -> [h][e][the]: 3 shifts to 2, a boundary: kept.
    assert boundary_consistency(tok, "thethe", "theth", [Edit(5, 6, "")]) == (1, 1)
    assert boundary_consistency(tok, "thethe", "hethe", [Edit(0, 1, "")]) == (1, 1)
    # "the cat" vs a noisy text whose tokens merged across the old boundary 3: "thecat" (the space
    # dropped is an edit [3, 4), which touches 3 and 4; boundaries 5, 6 shift by -1 and survive).
    assert boundary_consistency(tok, "the cat", "thecat", [Edit(3, 4, "")]) == (2, 2)


def test_bad_rate_is_named():
    with pytest.raises(TokfreeError, match="rate=1.5"):
        ocr_noise("abc", 1.5, seed=0)


def test_normalizing_tokenizers_measure_the_normalized_text(tok):
    nfkc = tokfree.Tokenizer(TokenizerParts("gpt2", tok.to_parts().vocab, tok.to_parts().merges, [], normalizer="NFKC"))
    assert boundary_consistency(nfkc, "the cat", "the at", [Edit(4, 5, "")]) == (2, 2)
    with pytest.raises(TokfreeError, match="normalize the clean text first"):
        boundary_consistency(nfkc, "the ﬁ cat", "the ﬁ at", [Edit(6, 7, "")])
