"""Measuring tokenizers: compression and vocabulary use on a corpus, fragmentation of domain terms,
stability of token boundaries under OCR-like noise."""

from tokfree.eval.compression import CompressionReport, compression, term_fragmentation
from tokfree.eval.noise import MEASURES, Edit, NoiseStability, boundary_consistency, noise_stability, ocr_noise

__all__ = [
    "MEASURES", "CompressionReport", "Edit", "NoiseStability", "boundary_consistency", "compression", "noise_stability",
    "ocr_noise", "term_fragmentation",
]
