"""Trainers: corpora -> tokenizers."""

from tokfree.trainers.bpe import train_bpe

__all__ = ["train_bpe"]
