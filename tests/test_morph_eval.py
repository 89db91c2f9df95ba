"""Morphology metrics (hand-derived values), the hunspell reader, and a language from a hunspell file."""

import pytest

from tokfree.eval.morphology import MorphemeLexicon, boundaries, boundary_scores, round_trip_rate, token_shares
from tokfree.errors import TokfreeError
from tokfree.io.hunspell import read_hunspell
from tokfree.models.morph import load_language
from tokfree.trainers.morph import train_hybrid


def test_token_shares_count_unique_tokens():
    lexicon = MorphemeLexicon({"ev", "kitap"}, {"ler", "de"}, accepts_word=lambda w: w == "evler")
    tokens = ["ev", "ler", "ler", "ler", "Ġde", "evler", "xq", " ", "<uppercase>"]
    shares = token_shares(tokens, lexicon)
    # unique units: ev, ler, de, evler, xq -> pure 3/5, valid 4/5 (whitespace and markers skipped)
    assert shares["unique_tokens"] == 5
    assert shares["pure_share"] == pytest.approx(60.0)
    assert shares["language_share"] == pytest.approx(80.0)
    weighted = token_shares(tokens, lexicon, weighted=True)
    # occurrences: ev 1, ler 3, de 1, evler 1, xq 1 = 7 -> pure 5/7
    assert weighted["pure_share"] == pytest.approx(500 / 7)


def test_boundary_scores_partial_gold():
    assert boundaries(["ev", "ler", "de"]) == {2, 5}
    assert boundaries(["evlerde"]) == set()
    # word 1: gold {2}, root_end 2 -> annotated {1, 2}; predicted {2, 5}: 5 is unscored -> tp 1, scored 1
    # word 2: gold {5}, root_end 5 -> annotated {1..5}; predicted {3}: a cut inside the root -> fp
    scores = boundary_scores([{2, 5}, {3}], [([2], 2), ([5], 5)])
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(50.0)


def test_round_trip_rate():
    assert round_trip_rate(str.upper, str.lower, ["abc", "ABC", "x"]) == pytest.approx(200 / 3)


def test_hunspell_reader(tmp_path):
    (tmp_path / "t.aff").write_text("SET UTF-8\nSFX S Y 3\nSFX S y ies [^aeiou]y\nSFX S 0 s [aeiou]y\nSFX S 0 s [^y]\n", encoding="utf-8")
    (tmp_path / "t.dic").write_text("3\ncity/S\nday/S\ncat/S\n", encoding="utf-8")
    dictionary = read_hunspell(tmp_path / "t.aff", tmp_path / "t.dic")
    assert dictionary.accepts("cities") and dictionary.accepts("days") and dictionary.accepts("cats")
    assert not dictionary.accepts("citys") and not dictionary.accepts("daies") and not dictionary.accepts("dogs")
    assert dictionary.stem_forms("city") == ["city", "cit"]
    roots, suffixes = dictionary.lexicon_classes()
    assert ["city", "cit"] in roots and suffixes == [["ies", "s"]]


def test_hunspell_bad_condition(tmp_path):
    (tmp_path / "t.aff").write_text("SFX S Y 1\nSFX S 0 s [abc\n", encoding="utf-8")
    (tmp_path / "t.dic").write_text("0\n", encoding="utf-8")
    with pytest.raises(TokfreeError, match="condition"):
        read_hunspell(tmp_path / "t.aff", tmp_path / "t.dic")


def test_english_language_from_hunspell_is_lossless():
    language, lexicon = load_language("data/morph/english")
    assert [m.text for m in lexicon.segment("cities")] == ["cit", "ies"]
    assert lexicon.segment("cities")[0].class_index == lexicon.segment("city")[0].class_index
    text = "The cities walked happily into Python's parsers, 42 times.\n"
    tok = train_hybrid(iter([text * 3]), (language, lexicon), bpe_vocab_size=300, min_frequency=1, show_progress=False)
    for sample in (text, "Unseen WORDS: naïve café, ǅ, ß!", "walks walked walking"):
        assert tok.decode(tok.encode(sample)) == sample


def test_language_file_errors(tmp_path):
    with pytest.raises(TokfreeError, match="language.json"):
        load_language(tmp_path)
    (tmp_path / "language.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(TokfreeError, match="tokfree-morph-language"):
        load_language(tmp_path)


def test_tokenizer_from_file_points_to_hybrid_loader(tmp_path):
    from tokfree import Tokenizer
    from tokfree.errors import TokenizerFileError

    language, lexicon = load_language("data/morph/english")
    tok = train_hybrid(iter(["cats and dogs " * 5]), (language, lexicon), bpe_vocab_size=260, min_frequency=1, show_progress=False)
    tok.save(tmp_path / "h.json")
    with pytest.raises(TokenizerFileError, match="HybridTokenizer.from_file"):
        Tokenizer.from_file(tmp_path / "h.json")
