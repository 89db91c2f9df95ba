"""Measuring tokenizers: compression and vocabulary use on a corpus, fragmentation of domain terms,
stability of token boundaries under OCR-like noise, token premiums across languages on parallel text,
morphology (language-token and pure-morpheme shares, morpheme-boundary F1, round trip)."""

from tokfree.eval.compression import CompressionReport, compression, term_fragmentation
from tokfree.eval.morphology import MorphemeLexicon, boundaries, boundary_scores, round_trip_rate, token_shares
from tokfree.eval.noise import MEASURES, Edit, NoiseStability, boundary_consistency, noise_stability, ocr_noise, typo_noise
from tokfree.eval.premiums import (
    ParallelCorpus, PremiumReport, PremiumRow, corpus_token_count, load_gettext, load_parallel_jsonl, load_udhr,
    token_premiums,
)
from tokfree.eval.scripts import script_of

__all__ = [
    "MEASURES", "CompressionReport", "Edit", "MorphemeLexicon", "boundaries", "boundary_scores", "round_trip_rate", "token_shares", "NoiseStability", "ParallelCorpus", "PremiumReport", "PremiumRow",
    "boundary_consistency", "compression", "corpus_token_count", "load_gettext", "load_parallel_jsonl", "load_udhr",
    "noise_stability", "ocr_noise", "script_of", "term_fragmentation", "token_premiums", "typo_noise",
]
