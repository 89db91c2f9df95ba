"""Measuring tokenizers: compression and vocabulary use on a corpus, fragmentation of domain terms,
stability of token boundaries under OCR-like noise."""

from tokfree.eval.compression import CompressionReport, compression, term_fragmentation
from tokfree.eval.noise import Edit, boundary_consistency, ocr_noise

__all__ = ["CompressionReport", "Edit", "boundary_consistency", "compression", "ocr_noise", "term_fragmentation"]
