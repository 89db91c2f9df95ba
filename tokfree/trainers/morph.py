"""Training morphological tokenizers: MorphBPE (BPE whose merges never cross a morpheme boundary)
and the hybrid tokenizer (lexicon + allomorph rule + MorphBPE fallback).

Boundary-constrained training works by counting morphs instead of words: each word is segmented by
the lexicon and every morph becomes its own pre-token, so no pair that straddles a boundary is ever
counted, let alone merged. The merge loop itself is `train_bpe`'s (Rust).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm.auto import tqdm

from tokfree.models.hybrid import _CHUNK, _LETTERS, WHITESPACE, HybridTokenizer
from tokfree.models.morph import Language, MorphLexicon, load_language
from tokfree.pretokenize import split
from tokfree.tokenizer import Tokenizer
from tokfree.io.sources import TextInputs, can_reread, iter_texts
from tokfree.trainers.bpe import train_bpe

__all__ = ["morph_pieces", "train_hybrid", "train_morph_bpe"]

# Morphs are handed to the BPE trainer one per line; a line break is one byte, so it adds no pair.
_MORPH_PER_LINE = "[^\n]+"


def _morphs_of_word(word: str, language: Language, lexicon: MorphLexicon) -> list[str]:
    """`word` cut at the lexicon's morph boundaries (case kept: lowercasing is one-for-one)."""
    lower = "".join(map(language.lower_char, word))
    pieces, at = [], 0
    for morph in lexicon.segment(lower):
        pieces.append(word[at : at + len(morph.text)])
        at += len(morph.text)
    return pieces


def morph_pieces(text: str, language: Language, lexicon: MorphLexicon, *, pre_tokenizer: str | None = None) -> Iterator[str]:
    """The pieces of `text` that boundary-constrained BPE counts.

    With `pre_tokenizer=None`, the hybrid tokenizer's chunks (letter runs lowercased and cut into
    morphs; whitespace dropped; other runs whole). With a preset such as "gpt2", its pre-tokens,
    each cut at the morph boundaries of the letters it holds (the leading space stays with the
    first morph).

    Example:
        >>> list(morph_pieces("evlerde", language, lexicon))
        ['ev', 'ler', 'de']
    """
    if pre_tokenizer is None:
        for match in _CHUNK.finditer(text):
            chunk = match.group()
            if chunk in WHITESPACE:
                continue
            if _LETTERS.fullmatch(chunk):
                yield from (m.text for m in lexicon.segment("".join(map(language.lower_char, chunk))))
            else:
                yield chunk
        return
    for token in split(text, pre_tokenizer):
        at = 0
        for match in _LETTERS.finditer(token):
            if match.start() > at and not token[at : match.start()].isspace():
                yield token[at : match.start()]
                at = match.start()
            morphs = _morphs_of_word(match.group(), language, lexicon)
            morphs[0] = token[at : match.start()] + morphs[0]
            yield from morphs
            at = match.end()
        if at < len(token):
            yield token[at:]


def _morph_lines(
    inputs: TextInputs, text_column: str | None, language: Language, lexicon: MorphLexicon, pre_tokenizer: str | None, show_progress: bool
) -> Iterator[str]:
    counts: Counter[str] = Counter()
    texts = iter_texts(inputs, text_column=text_column)
    for text in tqdm(texts, desc="segmenting", unit=texts.unit, total=texts.total, disable=not show_progress):
        counts.update(morph_pieces(text, language, lexicon, pre_tokenizer=pre_tokenizer))
    # Each distinct morph once per occurrence, in a fixed order: the trainer sees the same counts.
    for piece, count in sorted(counts.items()):
        if "\n" in piece:
            continue
        yield "\n".join([piece] * count)


def _with_pre_tokenizer(trained: Tokenizer, pre_tokenizer: str) -> Tokenizer:
    """`trained` (counted one morph per line) with the pre-tokenizer it will encode with."""
    return Tokenizer(dataclasses.replace(trained.to_parts(), pre_tokenizer=pre_tokenizer))


def _language(language: str | Path | tuple[Language, MorphLexicon]) -> tuple[Language, MorphLexicon]:
    return language if isinstance(language, tuple) else load_language(language)


def train_morph_bpe(
    inputs: TextInputs,
    language: str | Path | tuple[Language, MorphLexicon],
    vocab_size: int,
    *,
    text_column: str | None = None,
    pre_tokenizer: str = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    show_progress: bool = True,
) -> Tokenizer:
    """Trains MorphBPE: byte-level BPE whose merges never cross a morph boundary of the lexicon.

    Args:
        inputs: paths/globs, a dataset or an iterable of texts (as `train_bpe`).
        language: a language folder (`tokfree.models.morph.load_language`) or a loaded pair.
        text_column: the dataset column or JSONL field holding the text (None: "text"), as for `train_bpe`.
        vocab_size, special_tokens, min_frequency: as `train_bpe`.
        pre_tokenizer: the pre-tokenizer the trained tokenizer encodes with.

    Returns:
        A `Tokenizer` (plain byte-level BPE: it saves as HF tokenizer.json).
    """
    pair = _language(language)
    lines = _morph_lines(inputs, text_column, *pair, pre_tokenizer, show_progress)
    trained = train_bpe(lines, vocab_size, pre_tokenizer=_MORPH_PER_LINE, special_tokens=special_tokens, min_frequency=min_frequency, show_progress=show_progress)
    return _with_pre_tokenizer(trained, pre_tokenizer)


def train_hybrid(
    inputs: TextInputs,
    language: str | Path | tuple[Language, MorphLexicon],
    *,
    text_column: str | None = None,
    bpe_vocab_size: int = 4096,
    special_tokens: Iterable[str] = ("<pad>", "<eos>"),
    min_frequency: int = 2,
    show_progress: bool = True,
) -> HybridTokenizer:
    """Trains a hybrid tokenizer: the language's lexicon, a MorphBPE fallback, and the allomorph rule.

    Args:
        inputs: training text, as `train_bpe` takes it: a path/glob or a list of them, a dataset,
            or an iterable of texts (held in memory: the text is read twice).
        language: a language folder such as "data/morph/turkish" (docs/morph.md), or a loaded pair.
        text_column: the dataset column or JSONL field holding the text (None: "text"), as for `train_bpe`.
        bpe_vocab_size: size of the BPE fallback (256 bytes + merges).
        special_tokens: given ids 0, 1, ...
        min_frequency: as `train_bpe`.

    Returns:
        A `HybridTokenizer` whose `decode(encode(x)) == x` for every string.

    Example:
        >>> tok = train_hybrid(texts, "data/morph/turkish", bpe_vocab_size=1000, show_progress=False)
    """
    texts = None if can_reread(inputs) else list(inputs)  # type: ignore[arg-type]
    lang, lexicon = _language(language)
    fallback = train_bpe(
        _morph_lines(inputs if texts is None else iter(texts), text_column, lang, lexicon, None, show_progress), bpe_vocab_size, pre_tokenizer=_MORPH_PER_LINE, min_frequency=min_frequency, show_progress=show_progress
    )
    tokenizer = HybridTokenizer(lang, lexicon, _with_pre_tokenizer(fallback, "none"), special_tokens=special_tokens)
    again = iter_texts(inputs if texts is None else iter(texts), text_column=text_column)
    tokenizer.rules = fit_rules(tokenizer, again, show_progress=show_progress)
    return tokenizer


def fit_rules(tokenizer: HybridTokenizer, texts: Iterable[str], *, show_progress: bool = False) -> dict[tuple[int, str, str, str], int]:
    """The allomorph rule table: for each context, the form the training text uses most often
    (ties to the lower form index). Contexts where form 0 wins are left out (0 is the default)."""
    votes: dict[tuple[int, str, str, str], Counter[int]] = {}
    for text in tqdm(texts, desc="fitting allomorph rule", unit="text", disable=not show_progress):
        pieces = tokenizer._pieces(text)
        for index, key in tokenizer.walk(pieces):
            if key is not None:
                token_id, surface = pieces[index]
                votes.setdefault(key, Counter())[tokenizer.token_forms(token_id).index(surface)] += 1
    rules = {}
    for key, counter in votes.items():
        choice = min(counter, key=lambda form: (-counter[form], form))
        if choice:
            rules[key] = choice
    return rules
