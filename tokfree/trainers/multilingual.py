"""Multilingual BPE with a vocabulary shared out to even out token premiums across languages.

The token premium of a language L is CTC(L) / CTC(reference) on parallel text (CTC: corpus token
count). Arnett et al. 2025 ("Explaining and Mitigating Crosslingual Tokenizer Inequities") find
that vocabulary size and pre-tokenization drive premiums, and that giving each language the
vocabulary size at which its CTC reaches a common target shrinks the spread of CTC across
languages. This module implements that procedure and uses it to build one shared tokenizer:

1. `vocab_curves`: per language, one BPE at the largest size of a grid; every smaller size is the
   same tokenizer with its merge list cut (`truncate`: BPE training is greedy, so the first n
   merges of a longer run are the merges of a run to n). CTC of each size on the language's
   parallel text, then a monotone fit CTC(V) (`fit_curve`): a power law a * V^-b (least squares
   in log-log), a + b * ln V, or a power law falling to a floor, c + a * V^-b; "auto" keeps the
   highest R^2. On the Bible the floored power law fits best by far (R^2 >= 0.999 against 0.79-0.96
   and 0.78-0.91): a language's CTC levels off once its text's frequent words are tokens.
2. `optimal_vocab_sizes`: per language the size at which its fitted curve reaches a target CTC
   (default: the reference language's CTC at a reference size, i.e. premium 1).
3. `train_multilingual_bpe(balance="premium")`: a common target is searched so that the union of
   each language's first (V_L - base) merges, interleaved by relative rank and deduplicated, has
   exactly the requested number of tokens. The union is a valid BPE merge list: each merge's two
   parts are made by earlier merges of its own language, which come earlier in the union too.
   `balance=None` is the baseline: one BPE on all languages' text together.

Languages that share a script interfere in the union: another language's merge can take bytes
that a language's own later merges needed, so its CTC in the union is above its own tokenizer's
at V_L (on the Bible at 64k, +10-25% for the five Latin-script languages, -2% to +1% for the others).
`refine` measures that and corrects the allocation. docs/multilingual.md has the measurements.

It does not measure premiums on other corpora (that is `tokfree.eval.premiums`) and does not
sample or reweight training text: each language's tokenizer sees all of its text.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from tokfree.errors import TokfreeError
from tokfree.io.parts import TokenizerParts
from tokfree.tokenizer import Tokenizer
from tokfree.io.sources import TextInputs, iter_texts
from tokfree.trainers.bpe import train_bpe

__all__ = [
    "DEFAULT_SIZES", "CurveFit", "LanguageAllocation", "MultilingualReport", "VocabCurve", "fit_curve", "interleave_merges",
    "optimal_vocab_sizes", "train_multilingual_bpe", "truncate", "vocab_curves",
]  # fmt: skip

#: The default grid of `vocab_curves` (doubling from 512 to 32,768).
DEFAULT_SIZES: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384, 32768)
FORMS = ("auto", "power", "log", "shifted")


# --- truncation -----------------------------------------------------------------------------------


def _base_size(parts: TokenizerParts) -> int:
    return len(parts.special_tokens) + sum(1 for _, token in parts.vocab if len(token) == 1)


def truncate(tokenizer: Tokenizer, vocab_size: int) -> Tokenizer:
    """`tokenizer` with only the merges that make its first `vocab_size` tokens.

    For a tokenizer trained by `train_bpe` this equals training to `vocab_size` on the same text
    (BPE's merges are chosen greedily, so a shorter run is a prefix of a longer one), ids included:
    special tokens, then the 256 bytes, then one token per merge in merge order.

    Args:
        tokenizer: a byte-level BPE tokenizer whose vocabulary is its special tokens, the 256 byte
            tokens and one token per merge, numbered in that order (what `train_bpe`,
            `extend_bpe` and `train_multilingual_bpe` make). Merges that make a token already
            made by an earlier merge are kept when they come before the cut.
        vocab_size: tokens to keep, counting special and byte tokens.

    Raises:
        TokfreeError: `vocab_size` below the special + byte tokens or above the tokenizer's size,
            or a tokenizer whose ids do not follow its merges (e.g. a tiktoken vocabulary).

    Example:
        >>> from tokfree import train_bpe
        >>> tok = train_bpe(iter(["low lower lowest"] * 20), 262, show_progress=False)
        >>> truncate(tok, 259).vocab_size
        259
    """
    parts = tokenizer.to_parts()
    base = _base_size(parts)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not base <= vocab_size <= tokenizer.vocab_size:
        raise TokfreeError(
            f"vocab_size={vocab_size!r} cannot truncate a tokenizer of {tokenizer.vocab_size} tokens: "
            f"pass an int from {base} (its special and byte tokens) to {tokenizer.vocab_size}"
        )
    if parts.merge_by_rank:
        raise TokfreeError("truncate() needs a tokenizer with HF merge semantics; a tiktoken (merge_by_rank) vocabulary has no merge order to cut")
    tokens = dict(parts.vocab)
    next_id = base
    kept: list[tuple[int, int]] = []
    seen: set[bytes] = {token for token in tokens.values() if len(token) == 1}
    for left, right in parts.merges:
        made = tokens[left] + tokens[right]
        if made not in seen:
            if next_id >= vocab_size:
                break
            if tokens.get(next_id) != made:
                raise TokfreeError(
                    f"the tokenizer's token {next_id} is {tokens.get(next_id)!r}, not {made!r} made by merge {len(kept)}: its ids do not "
                    "follow its merge order, so it cannot be truncated; truncate() works on tokenizers trained by tokfree"
                )
            seen.add(made)
            next_id += 1
        kept.append((left, right))
    vocab = [(token_id, token) for token_id, token in parts.vocab if token_id < next_id]
    return Tokenizer(TokenizerParts(
        parts.pre_tokenizer, vocab, kept, parts.special_tokens, parts.ignore_merges, False, parts.normalizer,
        parts.non_special_tokens, parts.normalized_tokens,
    ))  # fmt: skip


# --- curves ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveFit:
    """A fitted monotone curve CTC(V).

    Attributes:
        form: "power": CTC = a * V**-b (least squares on ln CTC = ln a - b ln V);
            "log": CTC = a + b * ln V (least squares);
            "shifted": CTC = c + a * V**-b, a power law falling to a floor c (the CTC the text's
            own vocabulary allows; c by a 1-D search for the best R^2, a and b by least squares
            on ln(CTC - c)). c is 0 for the other forms.
        a, b, c: the parameters.
        r2: the coefficient of determination on the measured CTCs (not their logs), so the forms
            are judged on the same numbers.
    """

    form: str
    a: float
    b: float
    c: float
    r2: float

    def __call__(self, vocab_size: float) -> float:
        """The fitted CTC at `vocab_size`."""
        if self.form == "log":
            return self.a + self.b * math.log(vocab_size)
        return self.c + self.a * vocab_size ** (-self.b)

    @property
    def decreasing(self) -> bool:
        """Whether CTC falls as the vocabulary grows (the fit can be inverted)."""
        return self.b < 0 if self.form == "log" else self.b > 0 and self.a > 0

    def inverse(self, ctc: float) -> float:
        """The vocabulary size at which the curve equals `ctc`: inf when it never falls that low
        (at or below the floor c, or a curve that does not fall), 0 when it is always below."""
        if not self.decreasing:
            return math.inf if ctc < self(1.0) else 0.0
        if self.form == "log":
            return math.exp(min((ctc - self.a) / self.b, 700.0))
        if ctc <= self.c:
            return math.inf
        return math.exp(min(-math.log((ctc - self.c) / self.a) / self.b, 700.0))


def _least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through (xs, ys)."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    return mean_y - slope * mean_x, slope


def _r2(fit: CurveFit, sizes: Sequence[int], ctcs: Sequence[float]) -> float:
    mean = sum(ctcs) / len(ctcs)
    total = sum((c - mean) ** 2 for c in ctcs)
    residual = sum((c - fit(v)) ** 2 for v, c in zip(sizes, ctcs))
    return 1.0 - residual / total if total > 0 else 1.0


def _power(sizes: Sequence[int], ctcs: Sequence[float], floor: float, form: str) -> CurveFit:
    intercept, slope = _least_squares([math.log(v) for v in sizes], [math.log(c - floor) for c in ctcs])
    fit = CurveFit(form, math.exp(intercept), -slope, floor, 0.0)
    return CurveFit(form, fit.a, fit.b, floor, _r2(fit, sizes, ctcs))


def _shifted(sizes: Sequence[int], ctcs: Sequence[float]) -> CurveFit:
    """The floor c in [0, min CTC) with the best R^2: a grid of 64, then golden-section refinement."""
    top = min(ctcs)
    best = max((_power(sizes, ctcs, top * i / 64, "shifted") for i in range(64)), key=lambda fit: fit.r2)
    low, high = max(0.0, best.c - top / 64), min(top * (1 - 1e-9), best.c + top / 64)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if _power(sizes, ctcs, left, "shifted").r2 >= _power(sizes, ctcs, right, "shifted").r2:
            high = right
        else:
            low = left
    refined = _power(sizes, ctcs, (low + high) / 2, "shifted")
    return refined if refined.r2 >= best.r2 else best


def fit_curve(sizes: Sequence[int], ctcs: Sequence[float], form: str = "auto") -> CurveFit:
    """Fits CTC(V) to measured points.

    Args:
        sizes: vocabulary sizes (at least two distinct; "shifted" needs three).
        ctcs: the CTC measured at each size (positive).
        form: "power", "log", "shifted" (see `CurveFit`), or "auto": every form that the points
            allow, the one with the highest R^2 on `ctcs` (ties: power, log, shifted).

    Raises:
        TokfreeError: too few distinct sizes, a non-positive value, or an unknown form.

    Example:
        >>> fit = fit_curve([1000, 4000, 16000], [2000 * v ** -0.25 for v in (1000, 4000, 16000)], "power")
        >>> fit.form, round(fit.a), round(fit.b, 3)
        ('power', 2000, 0.25)
    """
    if form not in FORMS:
        raise TokfreeError(f"form={form!r} is not a curve form; choose one of {', '.join(FORMS)}")
    needed = 3 if form == "shifted" else 2
    if len(sizes) != len(ctcs) or len(set(sizes)) < needed:
        raise TokfreeError(
            f"fitting a curve (form={form!r}) needs CTCs at {needed} or more distinct vocabulary sizes, got sizes {list(sizes)}; measure more sizes"
        )
    if min(sizes) <= 0 or min(ctcs) <= 0:
        raise TokfreeError(f"sizes {list(sizes)} and CTCs {list(ctcs)} must be positive to fit a curve")
    fits = []
    if form in ("auto", "power"):
        fits.append(_power(sizes, ctcs, 0.0, "power"))
    if form in ("auto", "log"):
        intercept, slope = _least_squares([math.log(v) for v in sizes], list(ctcs))
        log = CurveFit("log", intercept, slope, 0.0, 0.0)
        fits.append(CurveFit("log", log.a, log.b, 0.0, _r2(log, sizes, ctcs)))
    if form == "shifted" or (form == "auto" and len(set(sizes)) >= 3):
        fits.append(_shifted(sizes, ctcs))
    best = fits[0]
    for fit in fits[1:]:
        if fit.r2 > best.r2 + 1e-12:
            best = fit
    return best


@dataclass(frozen=True)
class VocabCurve:
    """CTC against vocabulary size for one language, measured and fitted.

    Attributes:
        language: the language code.
        sizes: the vocabulary sizes measured (the grid, cut at `learned`), ascending.
        ctc: the CTC at each size on the language's parallel text.
        learned: the size the language's tokenizer reached (below the largest grid size when its
            text ran out of pairs seen `min_frequency` times).
        fitted: the chosen fit.
        fits: every form fitted (form -> fit), to compare their R^2.
        tokenizer: the language's tokenizer at `learned` (every size is a truncation of it).
        texts: the parallel texts the CTCs were measured on.
    """

    language: str
    sizes: tuple[int, ...]
    ctc: tuple[int, ...]
    learned: int
    fitted: CurveFit
    fits: dict[str, CurveFit] = field(default_factory=dict, repr=False, compare=False)
    tokenizer: Tokenizer | None = field(default=None, repr=False, compare=False)
    texts: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def fit(self, vocab_size: float) -> float:
        """The fitted CTC at `vocab_size`."""
        return self.fitted(vocab_size)

    def size_for(self, ctc: float) -> float:
        """The vocabulary size (not rounded, not clipped) at which the fitted curve reaches `ctc`
        (inf when it never does)."""
        return self.fitted.inverse(ctc)

    @property
    def params(self) -> dict[str, float | str]:
        """The chosen fit: form, a, b, c and R^2."""
        return {"form": self.fitted.form, "a": self.fitted.a, "b": self.fitted.b, "c": self.fitted.c, "r2": self.fitted.r2}

    @property
    def r2(self) -> float:
        """R^2 of the chosen fit on the measured CTCs."""
        return self.fitted.r2


def _parallel_texts(parallel: object, languages: Sequence[str], reference: str) -> dict[str, list[str]]:
    """Each language's texts of the segments every language in `languages` and `reference` has."""
    segments: Mapping[str, Mapping[str, str]] = getattr(parallel, "segments", None)  # type: ignore[assignment]
    if segments is None:
        raise TokfreeError(f"parallel is a {type(parallel).__name__}; pass a tokfree.eval.ParallelCorpus (load_udhr(), load_parallel_jsonl(path))")
    name = getattr(parallel, "name", "the parallel corpus")
    wanted = list(dict.fromkeys([*languages, reference]))
    missing = [language for language in wanted if language not in segments]
    if missing:
        known = ", ".join(sorted(segments)[:8]) + (", ..." if len(segments) > 8 else "")
        raise TokfreeError(
            f"language(s) {', '.join(map(repr, missing))} not in the parallel corpus {name!r} ({known}); use its language codes "
            "for the corpora (UDHR codes: eng, spa, pes_1, ...), or pass parallel text that has them"
        )
    shared = [segment_id for segment_id in segments[wanted[0]] if all(segment_id in segments[language] for language in wanted)]
    if not shared:
        raise TokfreeError(f"the languages {', '.join(wanted)} share no segment of {name!r}; premiums need parallel segments")
    return {language: [segments[language][segment_id] for segment_id in shared] for language in wanted}


def _check_sizes(sizes: Iterable[int], base: int) -> list[int]:
    grid = sorted(set(sizes))
    if not grid or any(isinstance(v, bool) or not isinstance(v, int) or v <= base for v in grid):
        raise TokfreeError(f"sizes={list(sizes)!r}: give vocabulary sizes as ints above {base} (the special and byte tokens), e.g. {list(DEFAULT_SIZES)}")
    return grid


def _check_corpora(corpora: object) -> dict[str, TextInputs]:
    if not isinstance(corpora, Mapping) or not corpora:
        raise TokfreeError("corpora must be a non-empty dict of language code -> texts or files, e.g. {'eng': ['eng.txt'], 'fra': texts}")
    return dict(corpora)


def vocab_curves(
    corpora: Mapping[str, TextInputs],
    parallel: object | None = None,
    sizes: Iterable[int] = DEFAULT_SIZES,
    *,
    text_column: str | None = None,
    reference: str = "eng",
    pre_tokenizer: str = "gpt4",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    form: str = "auto",
    show_progress: bool = True,
) -> dict[str, VocabCurve]:
    """Per language: BPE at every size of `sizes`, its CTC on parallel text, and a fitted curve.

    Each language is trained once, at the largest size; the smaller sizes are truncations.

    Args:
        corpora: language code -> training text (files/globs, a dataset or texts, as for
            `train_bpe`; each language is read once). The codes must be codes of `parallel`.
        parallel: a `tokfree.eval.ParallelCorpus` (default: `load_udhr()`, the 499 complete UDHR
            versions). CTC runs over the segments that every language of `corpora` and
            `reference` has, so all curves count the same content.
        sizes: the grid of vocabulary sizes (counting special and byte tokens).
        text_column: the dataset column or JSONL field holding the text (None: "text"), as for `train_bpe`.
        reference: the reference language; it must be in `corpora` (`optimal_vocab_sizes` and the
            premium balance read its curve).
        pre_tokenizer, special_tokens, min_frequency: as for `train_bpe`.
        form: the curve form: "power", "log", "shifted" or "auto" (the best R^2 per language; see
            `fit_curve`).
        show_progress: a progress bar over the languages.

    Returns:
        language code -> `VocabCurve`, in the order of `corpora`.

    Raises:
        TokfreeError: a language missing from `parallel`, a reference missing from `corpora`,
            sizes not above the special + byte tokens, or a language whose text gives fewer
            than two distinct sizes (give it more text or smaller sizes).

    Example:
        >>> curves = vocab_curves({"eng": eng_texts, "hin": hin_texts}, sizes=[1024, 2048, 4096])
        >>> curves["hin"].size_for(curves["eng"].fit(4096))   # Hindi's size for English's CTC at 4k
    """
    corpora = _check_corpora(corpora)
    if reference not in corpora:
        raise TokfreeError(f"reference={reference!r} is not a language of corpora ({', '.join(corpora)}); train it too, or pick another reference")
    specials = list(special_tokens)
    base = 256 + len(specials)
    grid = _check_sizes(sizes, base)
    if form not in FORMS:
        raise TokfreeError(f"form={form!r} is not a curve form; choose one of {', '.join(FORMS)}")
    if parallel is None:
        from tokfree.eval.premiums import load_udhr

        parallel = load_udhr()
    texts = _parallel_texts(parallel, list(corpora), reference)
    curves: dict[str, VocabCurve] = {}
    for language, inputs in tqdm(corpora.items(), desc="vocab curves", unit="language", disable=not show_progress):
        full = train_bpe(inputs, grid[-1], text_column=text_column, pre_tokenizer=pre_tokenizer, special_tokens=specials, min_frequency=min_frequency, show_progress=False)
        measured = sorted({min(size, full.vocab_size) for size in grid})
        if len(measured) < 2:
            raise TokfreeError(
                f"language {language!r}: its text gave only {full.vocab_size} tokens, so the sizes {grid} yield one point; "
                "give it more text or smaller sizes"
            )
        ctcs = tuple(sum(map(len, truncate(full, size).encode_batch(texts[language], disallowed_special=()))) for size in measured)
        fits = {name: fit_curve(measured, ctcs, name) for name in FORMS[1:] if len(measured) >= (3 if name == "shifted" else 2)}
        fitted = fit_curve(measured, ctcs, form)
        curves[language] = VocabCurve(language, tuple(measured), ctcs, full.vocab_size, fitted, fits, full, tuple(texts[language]))
    return curves


# --- sizes ----------------------------------------------------------------------------------------


def _size_range(curve: VocabCurve, min_size: int | None, max_size: int | None) -> tuple[int, int]:
    low = curve.sizes[0] if min_size is None else min_size
    high = curve.learned if max_size is None else min(max_size, curve.learned)
    return low, max(low, high)


def optimal_vocab_sizes(
    curves: Mapping[str, VocabCurve],
    *,
    target: float | None = None,
    reference: str = "eng",
    reference_size: int | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
) -> dict[str, int]:
    """Per language, the vocabulary size at which its fitted CTC reaches `target`.

    The size is the smallest integer whose fitted CTC is at most the target (premium at most the
    target premium), clipped to [min_size, max_size]. The default range is each curve's measured
    range, from its smallest grid size to the size it learned (a fit is not trusted outside the
    sizes it was measured at, and no merges exist beyond `learned`).

    Args:
        curves: from `vocab_curves`.
        target: the target CTC (default: the reference's fitted CTC at `reference_size`: premium 1).
        reference: the reference language (a key of `curves`), when `target` is None.
        reference_size: the reference's vocabulary size for the default target (default: the
            largest size its curve measured).
        min_size, max_size: override the clipping range (max_size is still capped at `learned`).

    Returns:
        language code -> vocabulary size (counting special and byte tokens).

    Raises:
        TokfreeError: no curves, an unknown reference, or a non-positive target.

    Example:
        >>> optimal_vocab_sizes(curves, reference_size=8192)   # o200k, the Bible (benchmarks/premiums.py)
        {'eng': 8192, 'spa': 13084, 'fra': 23485, 'ita': 23886, 'rus': 5394, 'arb': 1639, 'pes_1': 2540, 'tgl': 21916, 'hin': 17786}
    """
    if not curves:
        raise TokfreeError("curves is empty; compute them with vocab_curves(corpora, parallel, sizes)")
    if target is None:
        if reference not in curves:
            raise TokfreeError(f"reference={reference!r} has no curve ({', '.join(curves)}); pass one of these or an explicit target CTC")
        ref = curves[reference]
        target = ref.fit(ref.sizes[-1] if reference_size is None else reference_size)
    if not target > 0:
        raise TokfreeError(f"target={target!r} must be a positive CTC (a token count)")
    return _sizes_for(curves, dict.fromkeys(curves, target), min_size, max_size)


def _sizes_for(curves: Mapping[str, VocabCurve], targets: Mapping[str, float], min_size: int | None = None, max_size: int | None = None) -> dict[str, int]:
    """Per language, the smallest size whose fitted CTC is at most its target, clipped."""
    sizes = {}
    for language, curve in curves.items():
        low, high = _size_range(curve, min_size, max_size)
        wanted = curve.size_for(targets[language])
        sizes[language] = high if wanted >= high else max(low, math.ceil(wanted - 1e-9))
    return sizes


# --- the union of merge lists ---------------------------------------------------------------------

Merge = tuple[bytes, bytes]


def interleave_merges(merge_lists: Sequence[Sequence[Merge]]) -> list[Merge]:
    """One merge list from several: merge i of list L (of n_L) is placed at relative rank
    (i + 1) / n_L, ties in list order; a merge already placed is dropped (first occurrence kept).

    Each merge is (left bytes, right bytes). If every input list is a valid BPE merge list (each
    part is a single byte or made by an earlier merge of its list), so is the result: a part made
    by an earlier merge of L has a lower relative rank, so it is placed before.

    Example:
        >>> interleave_merges([[(b"a", b"b"), (b"ab", b"c")], [(b"x", b"y")]])
        [(b'a', b'b'), (b'ab', b'c'), (b'x', b'y')]
    """
    placed = sorted(
        ((i + 1) / len(merges), number, i) for number, merges in enumerate(merge_lists) for i in range(len(merges))
    )  # (i + 1) / n is correctly rounded, so equal ranks of different lists compare equal and fall to list order
    seen: set[Merge] = set()
    out: list[Merge] = []
    for _, number, i in placed:
        merge = merge_lists[number][i]
        if merge not in seen:
            seen.add(merge)
            out.append(merge)
    return out


def _check_merge_list(merges: Sequence[Merge]) -> None:
    """Raises TokfreeError unless every merge's parts are single bytes or made by an earlier merge."""
    made: set[bytes] = set()
    for rank, (left, right) in enumerate(merges):
        for part in (left, right):
            if len(part) != 1 and part not in made:
                raise TokfreeError(f"merge {rank} ({left!r}, {right!r}) uses {part!r} before any merge makes it; the merge list is not a valid BPE")
        made.add(left + right)


def _merge_bytes(tokenizer: Tokenizer) -> list[Merge]:
    parts = tokenizer.to_parts()
    tokens = dict(parts.vocab)
    return [(tokens[left], tokens[right]) for left, right in parts.merges]


def _build(merges: Sequence[Merge], pre_tokenizer: str, specials: Sequence[str]) -> Tokenizer:
    """A tokenizer: special tokens (ids 0..), the 256 bytes, then one token per new merge result."""
    special_tokens = [(content, number) for number, content in enumerate(specials)]
    base = len(specials)
    vocab = [(base + byte, bytes([byte])) for byte in range(256)]
    ids = {token: token_id for token_id, token in vocab}
    pairs = []
    for left, right in merges:
        made = left + right
        if made not in ids:
            ids[made] = len(ids) + base
            vocab.append((ids[made], made))
        pairs.append((ids[left], ids[right]))
    return Tokenizer(TokenizerParts(pre_tokenizer, vocab, pairs, special_tokens))


def _cut_to_tokens(merges: Sequence[Merge], new_tokens: int) -> list[Merge]:
    """The longest prefix of `merges` that makes at most `new_tokens` new tokens."""
    made: set[bytes] = set()
    for index, (left, right) in enumerate(merges):
        token = left + right
        if len(token) > 1 and token not in made:
            if len(made) == new_tokens:
                return list(merges[:index])
            made.add(token)
    return list(merges)


# --- training -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageAllocation:
    """What one language got in a multilingual tokenizer.

    Attributes:
        language: the language code.
        size: "premium": V_L, the vocabulary size chosen for it (its first V_L - base merges are
            all in the result); None for the plain baseline.
        contributed: "premium": merges of the result that this language placed first.
        fitted_ctc: "premium": its fitted (monolingual) CTC at `size`.
        ctc: "premium": the result's CTC on the language's parallel text (the curves' text).
        learned: "premium": the size its own tokenizer reached.
    """

    language: str
    size: int | None = None
    contributed: int | None = None
    fitted_ctc: float | None = None
    ctc: int | None = None
    learned: int | None = None


@dataclass(frozen=True)
class MultilingualReport:
    """How `train_multilingual_bpe` built its tokenizer.

    Attributes:
        balance: None (one BPE on all text) or "premium".
        vocab_size: tokens in the result (fewer than asked when the languages ran out of merges).
        target_ctc: "premium": the common CTC target of the last round of the search.
        rounds: "premium": how many times the union was built (1 + refinement rounds).
        allocations: one per language, in the order of `corpora`.
        curves: "premium": the curves used (language -> `VocabCurve`); empty for the baseline.
    """

    balance: str | None
    vocab_size: int
    target_ctc: float | None
    rounds: int
    allocations: tuple[LanguageAllocation, ...]
    curves: dict[str, VocabCurve] = field(default_factory=dict, repr=False, compare=False)

    def to_markdown(self) -> str:
        """A Markdown table of the allocations."""
        head = f"balance={self.balance!r}, {self.vocab_size:,} tokens"
        if self.target_ctc is not None:
            head += f", target CTC {self.target_ctc:,.0f} after {self.rounds} round(s)"
        lines = [head, "", "| language | V_L | merges placed first | fitted CTC at V_L | CTC in the result | learned | fit (R²) |",
                 "|---|--:|--:|--:|--:|--:|---|"]  # fmt: skip
        for a in self.allocations:
            curve = self.curves.get(a.language)
            cells = [
                f"{a.size:,}" if a.size is not None else "", f"{a.contributed:,}" if a.contributed is not None else "",
                f"{a.fitted_ctc:,.0f}" if a.fitted_ctc is not None else "", f"{a.ctc:,}" if a.ctc is not None else "",
                f"{a.learned:,}" if a.learned is not None else "", f"{curve.fitted.form} ({curve.r2:.4f})" if curve else "",
            ]  # fmt: skip
            lines.append(f"| {a.language} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def _all_texts(corpora: Mapping[str, TextInputs], text_column: str | None) -> Iterable[str]:
    return itertools.chain.from_iterable(iter_texts(inputs, text_column=text_column) for inputs in corpora.values())


def _balanced_union(
    curves: Mapping[str, VocabCurve], merge_lists: Mapping[str, list[Merge]], targets_scale: Mapping[str, float], wanted: int, base: int
) -> tuple[float, dict[str, int], list[Merge]]:
    """The common target, the sizes and the union (cut to `wanted` new tokens) for per-language
    target scales (language L aims at CTC target * scale_L in its fitted curve)."""
    made_lists = {language: [left + right for left, right in merges] for language, merges in merge_lists.items()}

    def sizes(target: float) -> dict[str, int]:
        return _sizes_for(curves, {language: target * targets_scale[language] for language in curves})

    def union_tokens(target: float) -> int:
        tokens: set[bytes] = set()
        for language, size in sizes(target).items():
            tokens.update(made_lists[language][: size - base])
        return len(tokens)

    # Larger targets give smaller sizes: the largest target whose union still has `wanted` tokens.
    low = min(curve.fit(curve.learned) / targets_scale[language] for language, curve in curves.items()) * 0.5  # all at `learned`
    high = max(curve.fit(curve.sizes[0]) / targets_scale[language] for language, curve in curves.items()) * 2.0  # all at the smallest
    if union_tokens(low) < wanted:
        warnings.warn(
            f"the languages' merge lists together make only {union_tokens(low) + base:,} tokens, fewer than the "
            f"{wanted + base:,} asked for: the tokenizer is smaller (measure the curves up to a larger size, or give more text)",
            stacklevel=3,
        )
    else:
        for _ in range(100):  # bisection in log space; the union size only changes in steps
            middle = math.sqrt(low * high)
            if union_tokens(middle) >= wanted:
                low = middle
            else:
                high = middle
    chosen = sizes(low)
    union = interleave_merges([merge_lists[language][: size - base] for language, size in chosen.items()])
    return low, chosen, _cut_to_tokens(union, wanted)


def train_multilingual_bpe(
    corpora: Mapping[str, TextInputs],
    vocab_size: int,
    *,
    text_column: str | None = None,
    balance: str | None = None,
    parallel: object | None = None,
    sizes: Iterable[int] = DEFAULT_SIZES,
    curves: Mapping[str, VocabCurve] | None = None,
    refine: int = 0,
    reference: str = "eng",
    pre_tokenizer: str = "gpt4",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    report: list[MultilingualReport] | None = None,
    show_progress: bool = True,
) -> Tokenizer:
    """Trains one byte-level BPE tokenizer for several languages.

    Args:
        corpora: language code -> training text: files/globs, a dataset, or an iterator of texts
            (as for `train_bpe`: a list is a list of paths). Each language's text is used whole; with
            parallel corpora (the Bible) that is the same content in every language.
        vocab_size: tokens in the result, counting special and byte tokens.
        text_column: the dataset column or JSONL field holding the text of every corpus (None:
            "text"), as for `train_bpe`.
        balance: None: one BPE on all languages' text together. "premium": each language L gets
            the size V_L at which its fitted CTC curve reaches a common target, and the result's
            merges are the union of each language's first V_L - base merges (interleaved by
            relative rank, deduplicated, see `interleave_merges`); the target is searched so that
            the union has `vocab_size` tokens (the last interleaved merges are cut to hit it
            exactly).
        parallel: "premium": the parallel text the curves are measured on (default: UDHR; see
            `vocab_curves`). Measure premiums on other text than this, or the allocation is tuned
            on the test.
        sizes: "premium": the grid of `vocab_curves`; its largest size caps every V_L.
        curves: "premium": curves from `vocab_curves` to reuse (then `corpora` is not read and
            `parallel`, `sizes` are ignored).
        refine: "premium": rounds of correction after the first union. Merges of other languages
            change how a language is segmented (a shared script's merges interleave), so each
            round measures every language's CTC with the union on its parallel text, scales its
            fitted curve by measured / fitted, and searches again.
        reference: "premium": the reference language of the curves.
        pre_tokenizer, special_tokens, min_frequency: as for `train_bpe`.
        report: if a list is given, a `MultilingualReport` is appended to it.
        show_progress: show progress bars.

    Returns:
        The tokenizer: special tokens, the 256 bytes, then the merges' tokens in merge order.

    Raises:
        TokfreeError: an unknown balance, a vocab_size not above the special + byte tokens,
            refine < 0, or a language missing from the parallel text (see `vocab_curves`).

    Example:
        >>> tok = train_multilingual_bpe({"eng": iter(eng), "hin": iter(hin)}, 8192, balance="premium", parallel=bible)
    """
    if balance not in (None, "premium"):
        raise TokfreeError(f"balance={balance!r}: use None (one BPE on all text) or 'premium' (sizes that even out token premiums)")
    specials = list(special_tokens)
    base = 256 + len(specials)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= base:
        raise TokfreeError(
            f"vocab_size={vocab_size!r} is too small: it must be an int above 256 byte tokens + {len(specials)} special tokens = {base}"
        )
    if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
        raise TokfreeError(f"refine={refine!r} must be a non-negative int (rounds of correction; 0: the fitted curves only)")
    if balance is None:
        corpora = _check_corpora(corpora)
        tokenizer = train_bpe(
            _all_texts(corpora, text_column), vocab_size, pre_tokenizer=pre_tokenizer, special_tokens=specials, min_frequency=min_frequency,
            show_progress=show_progress,
        )  # fmt: skip
        if report is not None:
            report.append(MultilingualReport(None, tokenizer.vocab_size, None, 1, tuple(LanguageAllocation(language) for language in corpora)))
        return tokenizer

    if curves is None:
        curves = vocab_curves(
            corpora, parallel, sizes, text_column=text_column, reference=reference, pre_tokenizer=pre_tokenizer, special_tokens=specials,
            min_frequency=min_frequency, show_progress=show_progress,
        )  # fmt: skip
    curves = dict(curves)
    for language, curve in curves.items():
        if curve.tokenizer is None or curve.tokenizer.pre_tokenizer != pre_tokenizer or list(curve.tokenizer.special_tokens) != specials:
            raise TokfreeError(
                f"the curve of {language!r} was measured with other settings than pre_tokenizer={pre_tokenizer!r}, special_tokens={specials!r}; "
                "pass the same ones to vocab_curves and train_multilingual_bpe"
            )
    merge_lists = {language: _merge_bytes(curve.tokenizer) for language, curve in curves.items()}  # type: ignore[arg-type]
    scale = dict.fromkeys(curves, 1.0)
    for round_ in tqdm(range(refine + 1), desc="premium balance", unit="round", disable=not show_progress or refine == 0):
        target, chosen, union = _balanced_union(curves, merge_lists, scale, vocab_size - base, base)
        tokenizer = _build(union, pre_tokenizer, specials)
        measured = {
            language: sum(map(len, tokenizer.encode_batch(list(curve.texts), disallowed_special=()))) for language, curve in curves.items()
        }
        if round_ < refine:
            # Language L's CTC in the union is measured[L] where its own curve says fit(V_L): scale its curve so.
            scale = {language: curves[language].fit(chosen[language]) / measured[language] if measured[language] else 1.0 for language in curves}
    _check_merge_list(union)
    if report is not None:
        report.append(_premium_report(curves, merge_lists, chosen, union, measured, target, refine + 1, tokenizer.vocab_size, base))
    return tokenizer


def _premium_report(
    curves: dict[str, VocabCurve], merge_lists: Mapping[str, list[Merge]], chosen: Mapping[str, int], union: list[Merge],
    measured: Mapping[str, int], target: float, rounds: int, vocab_size: int, base: int,
) -> MultilingualReport:  # fmt: skip
    kept = set(union)
    placed: dict[Merge, tuple[float, int]] = {}  # merge -> (relative rank, language number) of its first placement
    numbers = {language: number for number, language in enumerate(merge_lists)}
    for language, merges in merge_lists.items():
        count = chosen[language] - base
        for i, merge in enumerate(merges[:count]):
            key = ((i + 1) / count, numbers[language])
            if merge in kept and (merge not in placed or key < placed[merge]):
                placed[merge] = key
    credit = dict.fromkeys(range(len(numbers)), 0)
    for _, number in placed.values():
        credit[number] += 1
    allocations = []
    for language, merges in merge_lists.items():
        count = chosen[language] - base
        prefix = next((i for i, merge in enumerate(merges[:count]) if merge not in kept), count)
        curve = curves[language]
        allocations.append(
            LanguageAllocation(language, base + prefix, credit[numbers[language]], curve.fit(base + prefix), measured[language], curve.learned)
        )
    return MultilingualReport("premium", vocab_size, target, rounds, tuple(allocations), curves)
