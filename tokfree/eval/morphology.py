"""Morphology metrics: language-token share and pure-morpheme share (over unique tokens, as in
"Tokens with Meaning"), morpheme-boundary precision/recall/F1 against gold segmentations, tokens
per word, and round-trip rate.

The token shares are lexicon-based (the paper also queries the ITU web service, which no machine
here can reach): a token is *pure* if it is a root or an affix of the lexicon, and a *language
token* if it is pure or a word the language's dictionary accepts. Report them as "lexicon" figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["MorphemeLexicon", "boundaries", "boundary_scores", "round_trip_rate", "token_shares"]

# Word-boundary marks the peers put on tokens (GPT-2 "Ġ", sentencepiece "▁").
_MARKS = "Ġ▁ "


@dataclass
class MorphemeLexicon:
    """What counts as a valid unit. `lower` lowercases a token before lookup (language rules)."""

    roots: set[str]
    affixes: set[str]
    accepts_word: Callable[[str], bool] | None = None
    lower: Callable[[str], str] = str.lower

    def normalize(self, token: str) -> str:
        return self.lower(token.lstrip(_MARKS))

    def is_pure(self, token: str) -> bool:
        unit = self.normalize(token)
        return unit in self.roots or unit in self.affixes

    def is_valid(self, token: str) -> bool:
        unit = self.normalize(token)
        return self.is_pure(unit) or (self.accepts_word is not None and bool(unit) and self.accepts_word(unit))


def token_shares(tokens: Iterable[str], lexicon: MorphemeLexicon, *, weighted: bool = False) -> dict[str, float]:
    """Language-token share and pure-morpheme share of the tokens a tokenizer produced.

    Args:
        tokens: the surface string of every token produced on the evaluation text (markers and
            pure-whitespace tokens are skipped).
        lexicon: the units that count.
        weighted: False (the paper's figure): over unique tokens; True: over token occurrences.

    Returns:
        {"language_share", "pure_share"} as percentages, and "unique_tokens".

    Example:
        >>> token_shares(["ev", "ler", "xq"], MorphemeLexicon({"ev"}, {"ler"}))["pure_share"]
        66.66666666666667
    """
    counts = Counter(lexicon.normalize(t) for t in tokens if t.strip() and not (t.startswith("<") and t.endswith(">")))
    counts.pop("", None)
    weight = (lambda unit: counts[unit]) if weighted else (lambda unit: 1)
    total = sum(weight(u) for u in counts) or 1
    return {
        "language_share": 100.0 * sum(weight(u) for u in counts if lexicon.is_valid(u)) / total,
        "pure_share": 100.0 * sum(weight(u) for u in counts if lexicon.is_pure(u)) / total,
        "unique_tokens": float(len(counts)),
    }


def boundaries(pieces: Sequence[str]) -> set[int]:
    """Inner character offsets where one piece ends and the next begins: ["ev", "ler"] -> {2}."""
    cuts, at = set(), 0
    for piece in pieces[:-1]:
        at += len(piece)
        cuts.add(at)
    return cuts


def boundary_scores(predicted: Iterable[set[int]], gold: Iterable[tuple[Sequence[int], int]]) -> dict[str, float]:
    """Morpheme-boundary precision, recall and F1 (in %), micro-averaged over words.

    The gold may be partial, as the treebank's is: it marks the end of the root and the
    derivation joins, but not every inflectional boundary. So a word's gold is (boundaries,
    root_end): positions inside the root (1 .. root_end-1) are known non-boundaries, the gold
    boundaries are known boundaries, and predicted cuts elsewhere are not scored.

    Example:
        >>> boundary_scores([{2, 5}], [([2], 2)])["precision"]   # cut at 5 is unscored
        100.0
    """
    hits = scored = relevant = 0
    for cuts, (gold_cuts, root_end) in zip(predicted, gold):
        wanted = set(gold_cuts)
        annotated = wanted | set(range(1, root_end))
        hits += len(cuts & wanted)
        scored += len(cuts & annotated)
        relevant += len(wanted)
    precision = 100.0 * hits / scored if scored else 0.0
    recall = 100.0 * hits / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def round_trip_rate(encode: Callable[[str], object], decode: Callable[[object], str], texts: Iterable[str]) -> float:
    """Percentage of `texts` for which decode(encode(text)) == text."""
    total = same = 0
    for text in texts:
        total += 1
        same += decode(encode(text)) == text
    return 100.0 * same / total if total else 0.0
