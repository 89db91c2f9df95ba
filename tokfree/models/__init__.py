"""Models that are not plain byte-level BPE: the hybrid morphological tokenizer and its lexicon."""

from tokfree.models.hybrid import HybridTokenizer
from tokfree.models.morph import Language, Morph, MorphLexicon, expand_template, load_language

__all__ = ["HybridTokenizer", "Language", "Morph", "MorphLexicon", "expand_template", "load_language"]
