"""OCR-like noise and boundary consistency: hand-worked cases and properties of the edit record."""

from __future__ import annotations

import pytest

import tokfree
from tokfree import TokfreeError
from tokfree.eval import MEASURES, Edit, NoiseStability, boundary_consistency, noise_stability, ocr_noise, typo_noise
from tokfree.eval.noise import KEYBOARD_NEIGHBOURS
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


@pytest.mark.parametrize("seed", range(5))
def test_typo_edits_replay_and_are_typos(seed):
    noisy, edits = typo_noise(TEXT, 0.05, seed=seed)
    assert apply(TEXT, edits) == noisy
    assert all(a.end <= b.start for a, b in zip(edits, edits[1:]))
    assert all(not TEXT[e.start : e.end].isspace() and not e.replacement.isspace() for e in edits)
    assert 0.02 * len(TEXT) < len(edits) < 0.08 * len(TEXT)
    for e in edits:
        source = TEXT[e.start : e.end]
        swap = len(source) == 2 and e.replacement == source[::-1]
        drop = len(source) == 1 and e.replacement == ""
        near = len(source) == 1 and len(e.replacement) == 1 and e.replacement.lower() in KEYBOARD_NEIGHBOURS[source.lower()]
        insert = len(source) == 1 and len(e.replacement) == 2 and e.replacement[1] == source and e.replacement[0].lower() in KEYBOARD_NEIGHBOURS[source.lower()]
        assert swap or drop or near or insert, e
    kinds = {len(e.replacement) - (e.end - e.start) for e in edits}
    assert kinds == {-1, 0, 1}  # drops, swaps/substitutions and insertions all occur
    assert typo_noise(TEXT, 0.05, seed=seed) == (noisy, edits)
    assert typo_noise(TEXT, 0.0, seed=seed) == (TEXT, [])
    with pytest.raises(TokfreeError, match="rate=1.5"):
        typo_noise(TEXT, 1.5, seed=seed)


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


# --- noise_stability --------------------------------------------------------------------------------


def parts_tokenizer(merges: list[bytes]) -> tokfree.Tokenizer:
    """Bytes plus `merges` (each the concatenation of two earlier tokens), ranked in that order."""
    vocab = [(b, bytes([b])) for b in range(256)]
    ids = {token: i for i, token in vocab}
    pairs = []
    for token in merges:
        left, right = next((token[:k], token[k:]) for k in range(1, len(token)) if token[:k] in ids and token[k:] in ids)
        pairs.append((ids[left], ids[right]))
        ids[token] = len(vocab)
        vocab.append((len(vocab), token))
    return tokfree.Tokenizer(TokenizerParts("gpt2", vocab, pairs, []))


@pytest.fixture(scope="module")
def short_tok() -> tokfree.Tokenizer:
    return parts_tokenizer([b"th"])  # a "character-level" twin of `tok`: tokens of at most 2 characters


def counts(stability: NoiseStability) -> dict[str, int]:
    return {name: value for name, value in vars(stability).items() if value}  # the non-zero counts


def test_long_token_is_resegmented_whole(tok):
    # "the the" -> [the][ the]: boundary 3. Drop the "h" of the second word (edit [5, 6)):
    # "the te" -> [the][ ][t][e]: boundaries 3, 4, 5; in the noisy text the edit is [5, 5].
    # Boundaries: clean 3 kept (1 of 1). Noisy 3 is in the clean text; 4 maps back to clean 4 (no edit
    # before it), not a clean boundary: added; 5 touches the edit. Precision 1/2, 1 change per edit.
    # Damaged word "the" [4, 7): no clean boundary inside; offsets 4..7 without 5, 6 (touching):
    # 4 (clean no, noisy yes) disagrees, 7 (the end: neither) agrees -> agreement 1/2.
    # Tokens: [the] kept; [ the] overlaps the edit, so it is lost, and its unedited characters
    # " ", "t", "e" (3, 4, 6) are re-segmented: 3 per edit; of them 4 and 6 are in the damaged word,
    # whose unedited characters are "t", "e" (2): stable share 0. No clean token of the word
    # overlaps no edit: word_token_recall has nothing to count (1.0).
    s = noise_stability(tok, "the the", "the te", [Edit(5, 6, "")])
    assert counts(s) == {"edits": 1, "boundaries": 1, "kept_boundaries": 1, "noisy_boundaries": 2, "confirmed_boundaries": 1,
                         "word_offsets": 2, "agreeing_offsets": 1, "tokens": 1, "kept_tokens": 1,
                         "resegmented_chars": 3, "word_chars": 2, "resegmented_word_chars": 2}
    assert s.summary() == {"boundary_recall": 1.0, "boundary_precision": 0.5, "word_boundary_recall": 1.0, "boundary_agreement": 0.5,
                           "lost_boundaries_per_edit": 0.0, "added_boundaries_per_edit": 1.0, "changed_boundaries_per_edit": 1.0,
                           "token_recall": 1.0, "word_token_recall": 1.0,
                           "resegmented_chars_per_edit": 3.0, "stable_char_share": 0.0}


def test_short_tokens_keep_the_damage_local(short_tok):
    # The same damage with tokens of at most 2 characters: "the the" -> [th][e][ ][th][e]
    # (boundaries 2, 3, 4, 6); "the te" -> [th][e][ ][t][e] (boundaries 2, 3, 4, 5).
    # Clean 2, 3, 4 kept, 6 touches the edit [5, 6]: 3 of 3. Noisy 2, 3, 4 confirmed, 5 touches [5, 5].
    # Damaged word [4, 7): boundary 4 kept (1 of 1); offsets 4 (both) and 7 (neither) agree.
    # Tokens: [th] [e] [ ] kept, [th] of the second word overlaps the edit (lost), its [e] moves
    # to [5, 6) and is kept: 4 of 4, of them 1 of 1 in the damaged word. Re-segmented: "t" (4) only.
    s = noise_stability(short_tok, "the the", "the te", [Edit(5, 6, "")])
    assert counts(s) == {"edits": 1, "boundaries": 3, "kept_boundaries": 3, "noisy_boundaries": 3, "confirmed_boundaries": 3,
                         "word_boundaries": 1, "kept_word_boundaries": 1, "word_offsets": 2, "agreeing_offsets": 2,
                         "tokens": 4, "kept_tokens": 4, "word_tokens": 1, "kept_word_tokens": 1,
                         "resegmented_chars": 1, "word_chars": 2, "resegmented_word_chars": 1}
    assert s.changed_boundaries_per_edit == 0.0
    assert s.resegmented_chars_per_edit == 1.0
    assert s.stable_char_share == 0.5


def test_damage_that_moves_a_boundary_away_from_it():
    # Merges ab, bc, cd in that order. "xbcd" -> [x][bc][d] (boundaries 1, 3). Edit x -> a at the
    # start ([0, 1)): "abcd" -> ab first, then bc is impossible, cd -> [ab][cd] (boundary 2).
    # Clean 1 touches [0, 1]; 3 is lost (0 of 1). Noisy 2 is not clean: precision 0 of 1. 2 changes.
    # Damaged word "xbcd" [0, 4): boundary 3 lost (0 of 1); offsets 2 and 3 disagree, 4 agrees: 1 of 3.
    # Tokens: [x] overlaps the edit; [bc] and [d] are gone (0 of 2, both in the word). Re-segmented:
    # "b", "c", "d" (3 per edit) = all 3 unedited characters of the word.
    tok = parts_tokenizer([b"ab", b"bc", b"cd"])
    s = noise_stability(tok, "xbcd", "abcd", [Edit(0, 1, "a")])
    assert counts(s) == {"edits": 1, "boundaries": 1, "noisy_boundaries": 1, "word_boundaries": 1, "word_offsets": 3,
                         "agreeing_offsets": 1, "tokens": 2, "word_tokens": 2, "resegmented_chars": 3, "word_chars": 3,
                         "resegmented_word_chars": 3}
    assert (s.lost_boundaries_per_edit, s.added_boundaries_per_edit, s.changed_boundaries_per_edit) == (1.0, 1.0, 2.0)
    assert s.boundary_agreement == pytest.approx(1 / 3)
    assert boundary_consistency(tok, "xbcd", "abcd", [Edit(0, 1, "a")]) == (0, 1)


def test_edit_at_the_end(tok):
    # "the cat" -> [the][ ][c][a][t] (boundaries 3, 4, 5, 6). Drop the final "t" ([6, 7)):
    # "the ca" -> [the][ ][c][a] (3, 4, 5). Clean 6 touches [6, 7]; 3, 4, 5 kept. Noisy 3, 4, 5
    # confirmed (the noisy edit [6, 6] touches none). Word "cat" [4, 7): boundaries 4, 5 kept;
    # offsets 4, 5 (both boundaries) agree, 6 and 7 touch. Tokens: [t] is the edit; 4 of 4 kept,
    # [c] and [a] in the word. Nothing re-segmented; "c", "a" unedited in the word.
    s = noise_stability(tok, "the cat", "the ca", [Edit(6, 7, "")])
    assert counts(s) == {"edits": 1, "boundaries": 3, "kept_boundaries": 3, "noisy_boundaries": 3, "confirmed_boundaries": 3,
                         "word_boundaries": 2, "kept_word_boundaries": 2, "word_offsets": 2, "agreeing_offsets": 2,
                         "tokens": 4, "kept_tokens": 4, "word_tokens": 2, "kept_word_tokens": 2, "word_chars": 2}
    assert s.summary() == {name: 0.0 if name.endswith("per_edit") else 1.0 for name in MEASURES}


def test_lengthening_edit_shifts_later_offsets(tok):
    # "them the" -> [the][m][ the] (boundaries 3, 4). m -> rn ([3, 4), +1): "thern the" ->
    # [the][r][n][ the] (3, 4, 5). Clean 3 and 4 touch [3, 4]: none counted. Noisy 3, 4, 5 all
    # touch the noisy edit [3, 5]. Tokens: [the] kept, [m] is the edit, [ the] moves to [5, 9): kept.
    s = noise_stability(tok, "them the", "thern the", [Edit(3, 4, "rn")])
    assert counts(s) == {"edits": 1, "word_offsets": 3, "agreeing_offsets": 3, "tokens": 2, "kept_tokens": 2,
                         "word_tokens": 1, "kept_word_tokens": 1, "word_chars": 3}


def test_multibyte_characters_are_counted_once():
    # Bytes only. "naïve" is n a ï(2 bytes) v e; dropping "v" (character 3, bytes [4, 5)) keeps every
    # other token (the two bytes of "ï" included) and re-segments nothing.
    tok = parts_tokenizer([])
    s = noise_stability(tok, "naïve", "naïe", [Edit(3, 4, "")])
    assert (s.boundaries, s.kept_boundaries, s.tokens, s.kept_tokens, s.resegmented_chars, s.word_chars) == (3, 3, 5, 5, 0, 4)


def test_no_edits_and_empty_text(tok):
    s = noise_stability(tok, TEXT, TEXT, [])
    assert s.edits == 0 and s.boundaries == s.kept_boundaries > 0 and s.tokens == s.kept_tokens > 0
    assert s.summary() == {name: 0.0 if name.endswith("per_edit") else 1.0 for name in MEASURES}
    assert noise_stability(tok, "", "", []) == NoiseStability()
    assert NoiseStability().summary() == s.summary()


@pytest.mark.parametrize("seed", range(3))
def test_counts_add_up_and_bytes_alone_are_perfectly_stable(tok, seed):
    noisy, edits = ocr_noise(TEXT, 0.05, seed=seed)
    s = noise_stability(tok, TEXT, noisy, edits)
    assert (s.kept_boundaries, s.boundaries) == boundary_consistency(tok, TEXT, noisy, edits)  # ASCII: same offsets
    assert s.kept_word_boundaries <= s.word_boundaries <= s.boundaries and s.kept_word_tokens <= s.word_tokens <= s.tokens
    assert s.resegmented_word_chars <= min(s.word_chars, s.resegmented_chars)
    assert all(0.0 <= value <= 1.0 for name, value in s.summary().items() if not name.endswith("per_edit"))
    halves = [noise_stability(tok, TEXT[:600], *ocr_noise(TEXT[:600], 0.05, seed=seed)),
              noise_stability(tok, TEXT[600:], *ocr_noise(TEXT[600:], 0.05, seed=seed))]
    assert (halves[0] + halves[1]).edits == halves[0].edits + halves[1].edits
    # With one token per character nothing outside the edits can change.
    bytes_only = noise_stability(parts_tokenizer([]), TEXT, noisy, edits)
    assert bytes_only.changed_boundaries_per_edit == bytes_only.resegmented_chars_per_edit == 0.0
    assert bytes_only.boundary_agreement == bytes_only.token_recall == 1.0


def test_edits_must_match_the_texts(tok):
    with pytest.raises(TokfreeError, match="do not turn the clean text"):
        noise_stability(tok, "the cat", "the at", [Edit(5, 6, "")])
    with pytest.raises(TokfreeError, match="ascending, disjoint"):
        noise_stability(tok, "the cat", "the a", [Edit(5, 6, ""), Edit(4, 5, "")])
    with pytest.raises(TokfreeError, match="non-empty"):
        noise_stability(tok, "the cat", "the xcat", [Edit(4, 4, "x")])
    with pytest.raises(TokfreeError, match="inside|spans of the clean text"):
        noise_stability(tok, "ab", "a", [Edit(1, 3, "")])


def test_noise_stability_needs_normalized_text(tok):
    nfkc = tokfree.Tokenizer(TokenizerParts("gpt2", tok.to_parts().vocab, tok.to_parts().merges, [], normalizer="NFKC"))
    assert noise_stability(nfkc, "the cat", "the at", [Edit(4, 5, "")]) == noise_stability(tok, "the cat", "the at", [Edit(4, 5, "")])
    with pytest.raises(TokfreeError, match="normalize the clean text first"):
        noise_stability(nfkc, "the ﬁ cat", "the ﬁ at", [Edit(6, 7, "")])


def test_adding_other_things_is_refused():
    with pytest.raises(TypeError):
        NoiseStability() + 1


def test_edits_on_whitespace_damage_no_word(tok):
    # ocr_noise never edits whitespace, but a caller may: "the cat" with the space dropped ([3, 4))
    # damages no word, so the word counts stay empty; [the][ ][c][a][t] -> "thecat" = [the][c][a][t]:
    # boundaries 3, 4 touch the edit, 5 and 6 shift to 4 and 5 and survive.
    s = noise_stability(tok, "the cat", "thecat", [Edit(3, 4, "")])
    assert (s.boundaries, s.kept_boundaries, s.word_offsets, s.word_chars, s.resegmented_chars) == (2, 2, 0, 0, 0)
