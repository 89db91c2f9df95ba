"""Measuring tokenizers: compression and vocabulary use on a corpus, fragmentation of domain terms."""

from tokfree.eval.compression import CompressionReport, compression, term_fragmentation

__all__ = ["CompressionReport", "compression", "term_fragmentation"]
