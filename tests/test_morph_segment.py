"""The Rust segmenter (`MorphLexicon.segment`) against its reference twin, on random lexicons."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tokfree._reference import morph as reference
from tokfree.models.morph import MorphLexicon

_ALPHABET = "abıçğ"
_forms = st.lists(st.text(_ALPHABET, min_size=1, max_size=4), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.lists(_forms, min_size=1, max_size=8), st.lists(_forms, max_size=8), st.lists(st.text(_ALPHABET, max_size=12), min_size=1, max_size=10))
def test_rust_segmenter_matches_reference(roots, suffixes, words):
    lexicon = MorphLexicon(roots, suffixes)
    for word in words:
        fast = [(m.kind, m.text, m.class_index) for m in lexicon.segment(word)]
        assert fast == reference.segment(word, lexicon.root_of, lexicon.suffix_of)
        assert "".join(text for _, text, _ in fast) == word


def test_segment_by_hand():
    lexicon = MorphLexicon([["ev"], ["kitap", "kitab"], ["kale"], ["kalem"]], [["ler", "lar"], ["de", "da"], ["ı", "i"], ["m"]])
    assert [(m.kind, m.text) for m in lexicon.segment("evlerde")] == [("root", "ev"), ("suffix", "ler"), ("suffix", "de")]
    assert [(m.kind, m.text) for m in lexicon.segment("kitabı")] == [("root", "kitab"), ("suffix", "ı")]
    assert lexicon.segment("kitabı")[0].class_index == lexicon.segment("kitap")[0].class_index == 1
    assert [m.text for m in lexicon.segment("kalem")] == ["kalem"]  # longest root, not kale+m
    assert [(m.kind, m.text) for m in lexicon.segment("qqlar")] == [("rest", "qq"), ("suffix", "lar")]
    assert [(m.kind, m.text) for m in lexicon.segment("xyz")] == [("rest", "xyz")]
