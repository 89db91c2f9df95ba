"""Trainers: corpora -> tokenizers."""

from tokfree.trainers.bpe import train_bpe
from tokfree.trainers.charlevel import train_charlevel

__all__ = ["train_bpe", "train_charlevel"]
