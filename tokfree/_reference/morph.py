"""Reference twin of the hybrid tokenizer's segmenter (`rust_ext/src/morph.rs`): plain dicts and
a dynamic programme over suffixes, obviously correct and slow. Used as a test oracle.
"""

from __future__ import annotations

ROOT, SUFFIX, REST = "root", "suffix", "rest"


def suffix_chain(text: str, suffix_of: dict[str, int]) -> list[tuple[str, str, int]] | None:
    """The fewest suffixes that spell `text` exactly (on ties, the longest first suffix), or None."""
    n = len(text)
    longest = max(map(len, suffix_of), default=0)
    # best[i] = (suffix count, end of the first suffix) for the best chain spelling text[i:].
    best: list[tuple[int, int] | None] = [None] * (n + 1)
    best[n] = (0, n)
    for start in range(n - 1, -1, -1):
        for end in range(min(n, start + longest), start, -1):
            rest = best[end]
            current = best[start]
            if rest is not None and text[start:end] in suffix_of and (current is None or rest[0] + 1 < current[0]):
                best[start] = (rest[0] + 1, end)
    if best[0] is None:
        return None
    pieces, at = [], 0
    while at < n:
        end = best[at][1]  # type: ignore[index]
        pieces.append((SUFFIX, text[at:end], suffix_of[text[at:end]]))
        at = end
    return pieces


def segment(word: str, root_of: dict[str, int], suffix_of: dict[str, int]) -> list[tuple[str, str, int]]:
    """(kind, text, class index or -1) per piece, by the rule of `MorphLexicon.segment`."""
    if not word:
        return []
    roots = [end for end in range(len(word), 0, -1) if word[:end] in root_of]
    for end in roots:
        chain = suffix_chain(word[end:], suffix_of)
        if chain is not None:
            return [(ROOT, word[:end], root_of[word[:end]]), *chain]
    if roots and roots[0] >= 2:
        return [(ROOT, word[: roots[0]], root_of[word[: roots[0]]]), (REST, word[roots[0] :], -1)]
    for start in range(2, len(word)):
        chain = suffix_chain(word[start:], suffix_of)
        if chain is not None:
            return [(REST, word[:start], -1), *chain]
    return [(REST, word, -1)]
