"""Trainers: corpora -> tokenizers."""

from tokfree.trainers.bpe import train_bpe
from tokfree.trainers.charlevel import train_charlevel
from tokfree.trainers.domain import train_domain_bpe
from tokfree.trainers.extend import extend_bpe
from tokfree.trainers.morph import train_hybrid, train_morph_bpe
from tokfree.trainers.multilingual import VocabCurve, optimal_vocab_sizes, train_multilingual_bpe, truncate, vocab_curves
from tokfree.trainers.superword import train_superword

__all__ = [
    "VocabCurve", "extend_bpe", "optimal_vocab_sizes", "train_bpe", "train_charlevel", "train_domain_bpe", "train_multilingual_bpe",
    "train_hybrid", "train_morph_bpe", "train_superword", "truncate", "vocab_curves",
]  # fmt: skip
