"""Token premiums (Petrov et al. 2023): how many times the tokens of a reference language a tokenizer
spends on the same content in another language, measured on parallel text.

The premium of language L is CTC(L) / CTC(reference), where CTC (corpus token count) is the total
number of tokens the tokenizer produces for the segments, each segment encoded on its own and no
special tokens added. Both counts run over the same segments: those L and the reference both have.
A report lists every language but the reference (whose premium is 1 by definition) and summarises
the distribution of their premiums (mean, median, min, max, coefficient of variation).

Parallel corpora: the Universal Declaration of Human Rights (`load_udhr`, 499 complete versions in
`data/_parity/`), the gettext catalogs of an installed program (`load_gettext`, e.g. GNU coreutils'
messages in 43 languages), and any file in the JSON Lines format of `load_parallel_jsonl` (the
committed `data/_parity/coreutils.jsonl.gz` is one). This module does not align or clean text,
and does not detect languages: segment ids say what is parallel. docs/premiums.md has the details.
"""

from __future__ import annotations

import gettext
import gzip
import hashlib
import json
import statistics
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from tokfree.errors import EmptyCorpusError, InputFileError, TokfreeError
from tokfree.eval.scripts import script_of
from tokfree.tokenizer import Tokenizer

_DATA = Path(__file__).resolve().parents[2] / "data"
#: The UDHR versions (`load_udhr`'s default file; provenance in data/SOURCE.md).
UDHR_PATH = _DATA / "_parity" / "udhr.jsonl.gz"
#: GNU coreutils' messages in its fully translated languages, extracted from Debian's catalogs by
#: scripts/build_parity_gettext.py (read with `load_parallel_jsonl`).
COREUTILS_PATH = _DATA / "_parity" / "coreutils.jsonl.gz"
#: Sections of a complete UDHR version: the preamble and articles 1-30.
UDHR_SECTIONS = 31


@dataclass(frozen=True)
class ParallelCorpus:
    """The same content in several languages, cut into segments whose ids align across languages.

    Attributes:
        name: what the corpus is ("udhr", "gettext:coreutils", a file's name).
        segments: language code -> {segment id -> text}. A language may lack segments; premiums
            compare only the segments a language shares with the reference.
        names: language code -> display name (a missing entry displays the code).
        reference: the default reference language (a key of `segments`).

    Raises:
        EmptyCorpusError: no languages.
        TokfreeError: the reference is not a language of the corpus, or a text is not a str.
    """

    name: str
    segments: dict[str, dict[str, str]]
    names: dict[str, str]
    reference: str

    def __post_init__(self) -> None:
        if not self.segments:
            raise EmptyCorpusError(f"parallel corpus {self.name!r} has no languages; give it at least a reference and one other language")
        if self.reference not in self.segments:
            raise TokfreeError(
                f"reference language {self.reference!r} is not in the parallel corpus {self.name!r}; "
                f"use one of its {len(self.segments)} languages ({_examples(self.segments)})"
            )
        for language, segments in self.segments.items():
            if not isinstance(segments, dict):
                raise TokfreeError(f"language {language!r} of {self.name!r}: segments must be a dict of segment id -> text, got {type(segments).__name__}")
            for segment_id, text in segments.items():
                if not isinstance(text, str):
                    raise TokfreeError(
                        f"language {language!r}, segment {segment_id!r} of {self.name!r}: text must be str, "
                        f"got {type(text).__name__}; decode it first"
                    )


def _examples(codes: Iterable[str], limit: int = 6) -> str:
    codes = list(codes)
    return ", ".join(codes[:limit]) + (", ..." if len(codes) > limit else "")


# --- reading parallel corpora ---------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON Lines file, gzipped when it ends in .gz."""
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputFileError(
                        f"{path}: line {number} is not valid JSON ({err.msg}); the file must hold one JSON object per line (JSON Lines)"
                    ) from None
                if not isinstance(record, dict):
                    raise InputFileError(f"{path}: line {number} is a JSON {type(record).__name__}, not an object; write one object per line")
                records.append((number, record))
    except OSError as err:  # includes gzip.BadGzipFile
        raise InputFileError(f"cannot read {str(path)!r}: {err.strerror or err}; check the path (a .gz name must be gzipped)") from None
    except (UnicodeDecodeError, EOFError) as err:
        raise InputFileError(f"{str(path)!r} is not UTF-8 JSON Lines ({err}); write it as UTF-8 (gzip only when the name ends in .gz)") from None
    return records


def load_udhr(path: str | Path | None = None, *, complete_only: bool = True) -> ParallelCorpus:
    """The Universal Declaration of Human Rights as a parallel corpus, one language per version.

    Segment "0" is the preamble and "1".."30" the articles (a section's title and paragraphs joined
    with newlines). The reference is English ("eng"), or the first version of a file without it.

    Args:
        path: a UDHR JSON Lines file (records with `code`, `name` and `sections`, each
            `{kind, title, paragraphs}`, as in `data/_parity/udhr.jsonl.gz`, the default).
        complete_only: keep only the versions with all 31 sections (499 of the 532 bundled). The
            others lack the preamble or stop early: their articles are numbered in order, which
            aligns them only when no article in the middle is missing.

    Returns:
        A `ParallelCorpus` named "udhr", keyed by the UDHR version codes ("eng", "fra", "cmn_hans").

    Raises:
        InputFileError: the file is missing or is not UDHR JSON Lines.

    Example:
        >>> udhr = load_udhr()
        >>> len(udhr.segments), udhr.segments["eng"]["1"][:9]
        (499, 'Article 1')
    """
    path = UDHR_PATH if path is None else Path(path)
    if not path.exists():
        raise InputFileError(f"UDHR file {str(path)!r} not found; data/_parity/udhr.jsonl.gz ships with the repository (not the wheel): pass its path")
    segments: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    seen: set[str] = set()
    for number, record in _read_jsonl(path):
        try:
            code, sections = record["code"], record["sections"]
            texts: dict[str, str] = {}
            articles = 0
            for section in sections:
                if section["kind"] == "preamble":
                    key = "0"
                else:
                    articles += 1
                    key = str(articles)
                texts[key] = "\n".join(part for part in [section.get("title") or "", *section["paragraphs"]] if part)
        except (KeyError, TypeError):
            raise InputFileError(
                f"{path}: line {number} is not a UDHR record; each needs 'code' and 'sections' "
                "([{kind, title, paragraphs}]) as in data/_parity/udhr.jsonl.gz (other corpora: load_parallel_jsonl)"
            ) from None
        if code in seen:
            raise InputFileError(f"{path}: line {number} repeats the version code {code!r}; keep one record per code")
        seen.add(code)
        if complete_only and len(sections) != UDHR_SECTIONS:
            continue
        segments[code] = texts
        names[code] = record.get("name") or code
    if not segments:
        kind = " complete (31-section)" if complete_only else ""
        raise EmptyCorpusError(f"{path} holds no{kind} UDHR version; pass complete_only=False or another file")
    return ParallelCorpus("udhr", segments, names, "eng" if "eng" in segments else next(iter(segments)))


def load_parallel_jsonl(path: str | Path) -> ParallelCorpus:
    """A parallel corpus from JSON Lines: one object per language,
    `{"language": "spa", "name": "Spanish", "segments": {"<segment id>": "text", ...}}`.

    `name` is optional (the code displays instead) and other keys are ignored. The first line's
    language is the default reference. The corpus is named after the file ("coreutils" for
    `coreutils.jsonl.gz`). Gzipped when the name ends in .gz.

    Raises:
        InputFileError: the file is missing, not JSON Lines, a line lacks these fields or has
            them with the wrong types, or a language appears twice.
        EmptyCorpusError: the file has no lines.

    Example:
        >>> corpus = load_parallel_jsonl(COREUTILS_PATH)
        >>> corpus.reference, sorted(corpus.segments)[:3]
        ('en', ['de', 'en', 'et'])
    """
    path = Path(path)
    segments: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    for number, record in _read_jsonl(path):
        language, texts, name = record.get("language"), record.get("segments"), record.get("name", record.get("language"))
        if not isinstance(language, str) or not language:
            raise InputFileError(
                f"{path}: line {number} has no 'language' string; "
                'each line is {"language": code, "name": ..., "segments": {id: text}}'
            )
        if not isinstance(texts, dict) or not all(isinstance(text, str) for text in texts.values()):
            raise InputFileError(f"{path}: line {number} (language {language!r}): 'segments' must be an object of segment id -> text string")
        if not isinstance(name, str):
            raise InputFileError(f"{path}: line {number} (language {language!r}): 'name' must be a string; drop it or quote it")
        if language in segments:
            raise InputFileError(f"{path}: line {number} repeats language {language!r}; keep one line per language")
        segments[language], names[language] = texts, name
    if not segments:
        raise EmptyCorpusError(f"{path} holds no language; write one JSON object per language per line")
    corpus_name = path.name.removesuffix(".gz").removesuffix(".jsonl")
    return ParallelCorpus(corpus_name, segments, names, next(iter(segments)))


def load_gettext(
    domain: str = "coreutils", locale_dir: str | Path = "/usr/share/locale", *, reference: str = "en", min_coverage: float = 0.9
) -> ParallelCorpus:
    """The messages of a program's gettext catalogs (`<locale_dir>/<ll>/LC_MESSAGES/<domain>.mo`)
    as a parallel corpus: the English source strings (msgids, language "en") and their translations.

    The English messages are all the msgids of all the catalogs kept or not (a .mo file holds
    only translated messages), without the header entry. A plural message counts once, by its singular forms
    (msgid and msgstr[0]); a message with a context (msgctxt) is its own segment, its English text
    the msgid. Segment ids are the first 16 hex digits of the msgid's SHA-1 (with its context), so
    they stay the same whichever catalogs are installed; segments follow the msgids' sorted order.

    Args:
        domain: the gettext domain (the .mo file's name).
        locale_dir: the folder holding `<locale>/LC_MESSAGES/`.
        reference: the default reference language ("en", or a catalog's locale such as "de").
        min_coverage: keep the languages whose catalog has at least this share of the messages
            of the most complete catalog (0.9: 21 of coreutils 9.1's 43 languages; 1.0: the 8
            complete ones). Not a share of all the msgids: catalogs built from older templates
            keep obsolete messages, which would make the union unreachable (glib20's is 1,690
            msgids where an up-to-date catalog has 1,211).

    Raises:
        InputFileError: no readable catalog of `domain` under `locale_dir` (an unreadable one
            among readable ones is skipped with a warning).
        TokfreeError: `min_coverage` outside [0, 1], or the reference is not kept.

    Example:
        >>> corpus = load_gettext("coreutils", min_coverage=1.0)
        >>> sorted(corpus.segments)
        ['de', 'en', 'et', 'fr', 'hr', 'ko', 'tr', 'uk', 'zh_CN']
    """
    if not 0.0 <= min_coverage <= 1.0:
        raise TokfreeError(f"min_coverage={min_coverage}: coverage is a share of the messages; pass a value in [0, 1]")
    paths = sorted(Path(locale_dir).glob(f"*/LC_MESSAGES/{domain}.mo"))
    if not paths:
        raise InputFileError(
            f"no {domain}.mo catalog under {str(locale_dir)!r}/*/LC_MESSAGES/; install the program's translations "
            f"(Debian: the {domain} package with its locales) or read the committed extract: load_parallel_jsonl(COREUTILS_PATH)"
        )
    source: dict[str, str] = {}  # msgid (with context) -> English text
    catalogs: dict[str, dict[str, str]] = {}  # locale -> msgid -> translation
    names: dict[str, str] = {"en": "English"}
    for path in paths:
        locale = path.parent.parent.name
        if locale == "en":  # the source language itself
            continue
        try:
            with open(path, "rb") as file:
                translations = gettext.GNUTranslations(file)
        except (OSError, UnicodeDecodeError, LookupError, ValueError) as err:
            # Real catalogs can be broken (glib20's mn has "Plural-Forms: 2"): one should not sink the rest.
            warnings.warn(f"skipping the gettext catalog {str(path)!r}, which Python's gettext cannot read ({err!r})", stacklevel=2)
            continue
        messages: dict[str, str] = {}
        for key, text in translations._catalog.items():  # the stdlib keeps the messages only here
            if isinstance(key, tuple):  # plural: (msgid, n) -> msgstr[n]
                if key[1] != 0:
                    continue
                key = key[0]
            if key == "":  # the header entry
                continue
            messages[key] = text
            source[key] = key.rpartition("\x04")[2]
        catalogs[locale] = messages
        team = translations.info().get("language-team", "").split("<")[0].strip()
        names[locale] = team or locale
    if not catalogs:
        raise InputFileError(f"none of the {len(paths)} {domain}.mo catalog(s) under {str(locale_dir)!r} could be read (see the warnings); reinstall them")
    order = sorted(source)
    ids = {msgid: hashlib.sha1(msgid.encode("utf-8")).hexdigest()[:16] for msgid in order}
    segments = {"en": {ids[msgid]: source[msgid] for msgid in order}}
    most = max(len(messages) for messages in catalogs.values())
    for locale, messages in catalogs.items():
        if len(messages) >= min_coverage * most:
            segments[locale] = {ids[msgid]: messages[msgid] for msgid in order if msgid in messages}
    if reference not in segments:
        raise TokfreeError(
            f"reference {reference!r} is not among the {domain} catalogs kept (coverage >= {min_coverage}): "
            f"{_examples(segments)}; pick one of them or lower min_coverage"
        )
    return ParallelCorpus(f"gettext:{domain}", segments, {code: names[code] for code in segments}, reference)


# --- counting tokens ------------------------------------------------------------------------------


def _token_counts(tokenizer: Any, texts: list[str]) -> list[int]:
    """The number of tokens of each text, no special tokens added (special-token text is text)."""
    if isinstance(tokenizer, Tokenizer):
        results: Iterable[Any] = tokenizer.encode_batch(texts, disallowed_special=())
    elif hasattr(tokenizer, "encode_ordinary_batch"):  # tiktoken
        results = tokenizer.encode_ordinary_batch(texts)
    elif hasattr(tokenizer, "encode_batch"):
        if type(tokenizer).__module__.split(".")[0] == "tokenizers":  # HF adds [CLS]/<s> unless told not to
            results = tokenizer.encode_batch(texts, add_special_tokens=False)
        else:
            results = tokenizer.encode_batch(texts)
    elif hasattr(tokenizer, "encode"):
        results = [tokenizer.encode(text) for text in texts]
    elif callable(tokenizer):
        results = [tokenizer(text) for text in texts]
    else:
        raise TokfreeError(
            f"cannot count tokens with a {type(tokenizer).__name__}: pass a tokfree Tokenizer, an object with "
            "encode_batch or encode, or a function from str to a sequence of ids"
        )
    counts = []
    for result in results:
        try:
            counts.append(len(getattr(result, "ids", result)))
        except TypeError:
            raise TokfreeError(f"the tokenizer returned a {type(result).__name__} for a text, not a sequence of ids; wrap it so it returns ids") from None
    if len(counts) != len(texts):
        raise TokfreeError(f"the tokenizer returned {len(counts)} encodings for {len(texts)} texts; its encode_batch must return one per text")
    return counts


def corpus_token_count(tokenizer: Tokenizer | Any, texts: Sequence[str]) -> int:
    """CTC: the total number of tokens of `texts`, each encoded on its own, no special tokens added.

    Args:
        tokenizer: a tokfree `Tokenizer` (special-token text in `texts` is encoded as text); a
            tiktoken `Encoding` (`encode_ordinary_batch`); an HF `tokenizers.Tokenizer`
            (`add_special_tokens=False`); any object with `encode_batch` or `encode` returning id
            sequences (or objects with `.ids`); or a function from str to a sequence of ids. For a
            `transformers` tokenizer pass `lambda text: tok.encode(text, add_special_tokens=False)`.
        texts: the texts.

    Example:
        >>> corpus_token_count(str.split, ["a b c", "d e"])
        5
    """
    if isinstance(texts, str):
        raise TokfreeError("corpus_token_count() takes a list of texts, got one str; wrap it: [text]")
    return sum(_token_counts(tokenizer, list(texts)))


# --- premiums -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PremiumRow:
    """The premium of one language: `tokens / reference_tokens` over the `segments` it shares with
    the reference; `script` is the dominant script of those texts (`script_of`)."""

    language: str
    name: str
    script: str
    tokens: int
    reference_tokens: int
    premium: float
    segments: int


@dataclass(frozen=True)
class PremiumReport:
    """Token premiums of a tokenizer on a parallel corpus.

    `rows` holds every measured language but the reference (premium 1 by definition), sorted by
    premium (ties by code); the statistics (`mean`, `median`, `min`, `max`, `cv`) are over these
    rows, so the reference never pulls them towards 1.
    """

    rows: tuple[PremiumRow, ...]
    reference: str
    reference_name: str
    corpus: str

    @property
    def premiums(self) -> list[float]:
        """The premiums of the rows, ascending."""
        return [row.premium for row in self.rows]

    @property
    def mean(self) -> float:
        """Mean premium across languages."""
        return statistics.fmean(self.premiums)

    @property
    def median(self) -> float:
        """Median premium across languages."""
        return statistics.median(self.premiums)

    @property
    def min(self) -> float:
        """Lowest premium."""
        return self.rows[0].premium

    @property
    def max(self) -> float:
        """Highest premium."""
        return self.rows[-1].premium

    @property
    def cv(self) -> float:
        """Coefficient of variation: population standard deviation / mean (0 = every language costs
        the same)."""
        return statistics.pstdev(self.premiums) / self.mean

    def summary(self) -> dict[str, float]:
        """languages, mean, median, min, max, cv by name."""
        return {"languages": len(self.rows), "mean": self.mean, "median": self.median, "min": self.min, "max": self.max, "cv": self.cv}

    def row(self, language: str) -> PremiumRow:
        """The row of `language` (the reference has none)."""
        for row in self.rows:
            if row.language == language:
                return row
        hint = "; the reference has premium 1 and no row" if language == self.reference else ""
        raise TokfreeError(f"language {language!r} is not in this report ({_examples(row.language for row in self.rows)}){hint}")

    def to_markdown(self, *, top: int | None = None) -> str:
        """A Markdown table (one row per language, ascending premium) and the statistics.

        `top`: list only the `top` languages with the highest premiums (the statistics still
        cover every language)."""
        shown = self.rows if top is None else self.rows[len(self.rows) - max(top, 0) :]
        reference = f"{self.reference} ({self.reference_name})" if self.reference_name != self.reference else self.reference
        lines = [
            f"Token premiums on {self.corpus}: tokens per language / tokens of {reference} on the same segments.",
            "",
            f"| language | name | script | segments | tokens | {self.reference} tokens | premium |",
            "|---|---|---|--:|--:|--:|--:|",
        ]
        for row in shown:
            name = row.name.replace("|", "\\|")
            lines.append(f"| {row.language} | {name} | {row.script} | {row.segments} | {row.tokens:,} | {row.reference_tokens:,} | {row.premium:.3f} |")
        if len(shown) < len(self.rows):
            lines += ["", f"({len(shown)} of {len(self.rows)} languages shown: the highest premiums.)"]
        lines += [
            "",
            f"- languages: {len(self.rows)} (the reference {self.reference} excluded)",
            f"- mean premium: {self.mean:.3f}",
            f"- median premium: {self.median:.3f}",
            f"- min premium: {self.min:.3f} ({self.rows[0].language})",
            f"- max premium: {self.max:.3f} ({self.rows[-1].language})",
            f"- CV (population std / mean): {self.cv:.3f}",
        ]
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path, *, title: str | None = None) -> None:
        """A PNG bar chart: one bar per language, grouped and coloured by script (groups in order of
        their mean premium), a dashed line at 1 (the reference). Language codes label the bars when
        there are at most 80; the legend below names the scripts. Needs matplotlib.

        Raises:
            TokfreeError: matplotlib is not installed."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise TokfreeError("plots need matplotlib: pip install matplotlib (or tokfree[dev])") from None
        groups: dict[str, list[PremiumRow]] = {}
        for row in self.rows:
            groups.setdefault(row.script, []).append(row)
        order = sorted(groups, key=lambda script: (statistics.fmean(r.premium for r in groups[script]), script))
        colours = plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors
        width = min(max(7.0, 0.12 * len(self.rows) + 0.25 * len(order) + 2.5), 16.0)
        figure, axis = plt.subplots(figsize=(width, 5.0))
        x, ticks, labels = 0.0, [], []
        for number, script in enumerate(order):
            members = groups[script]
            positions = [x + i for i in range(len(members))]
            axis.bar(positions, [row.premium for row in members], width=0.85, color=colours[number % len(colours)],
                     label=f"{script} ({len(members)})")
            ticks += positions
            labels += [row.language for row in members]
            x += len(members) + 1  # a gap between scripts
        axis.axhline(1.0, color="black", linestyle="--", linewidth=1, label=f"{self.reference} (reference)")
        if len(self.rows) <= 80:
            axis.set_xticks(ticks, labels, rotation=90, fontsize=7)
        else:
            axis.set_xticks([])
            axis.set_xlabel(f"{len(self.rows)} languages, grouped by script")
        axis.set_xlim(-1, x - 1)
        axis.set_ylabel(f"token premium (tokens / {self.reference} tokens)")
        axis.legend(fontsize=7, ncol=min(len(order) + 1, 8), loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(self.rows) <= 80 else -0.06),
                    title="script (languages)", title_fontsize=7, frameon=False)
        title = title or f"{self.corpus}: token premiums vs {self.reference}; mean {self.mean:.2f}, max {self.max:.2f}, CV {self.cv:.2f}"
        axis.set_title(textwrap.fill(title, int(width * 11)), fontsize=10)
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)


def token_premiums(
    tokenizer: Tokenizer | Any,
    corpus: ParallelCorpus,
    *,
    reference: str | None = None,
    languages: Iterable[str] | None = None,
    show_progress: bool = False,
) -> PremiumReport:
    """The token premium of every language of `corpus` (or of `languages`) against a reference.

    Each language's premium is CTC(language) / CTC(reference) over the segments both have; each
    language's segments are encoded in one `encode_batch` call, the reference's once.

    Args:
        tokenizer: what `corpus_token_count` accepts.
        corpus: a parallel corpus (`load_udhr`, `load_gettext`, `load_parallel_jsonl`).
        reference: the reference language (default: the corpus's).
        languages: the languages to measure (default: all); the reference is skipped.
        show_progress: a progress bar over the languages.

    Returns:
        A `PremiumReport` (rows without the reference, sorted by premium).

    Raises:
        TokfreeError: an unknown reference or language, a language sharing no segment with the
            reference, or a reference with no tokens on the shared segments.
        EmptyCorpusError: no language to measure besides the reference.

    Example:
        >>> report = token_premiums(tok, load_udhr())
        >>> report.row("fra").premium, report.mean, report.cv
    """
    reference = corpus.reference if reference is None else reference
    if reference not in corpus.segments:
        raise TokfreeError(
            f"reference language {reference!r} is not in the parallel corpus {corpus.name!r}; "
            f"use one of its {len(corpus.segments)} languages ({_examples(corpus.segments)})"
        )
    if languages is None:
        chosen = [language for language in corpus.segments if language != reference]
    else:
        if isinstance(languages, str):
            raise TokfreeError(f"languages={languages!r}: pass a list of language codes, e.g. [{languages!r}]")
        chosen = list(dict.fromkeys(language for language in languages if language != reference))
        unknown = [language for language in chosen if language not in corpus.segments]
        if unknown:
            raise TokfreeError(
                f"language(s) {', '.join(map(repr, unknown))} not in the parallel corpus {corpus.name!r}; "
                f"use its codes ({_examples(corpus.segments)})"
            )
    if not chosen:
        raise EmptyCorpusError(f"no language to compare with the reference {reference!r} in {corpus.name!r}; the corpus needs at least two languages")
    reference_segments = corpus.segments[reference]
    reference_counts = dict(zip(reference_segments, _token_counts(tokenizer, list(reference_segments.values()))))
    rows = []
    for language in tqdm(chosen, desc="token premiums", unit="language", disable=not show_progress):
        segments = corpus.segments[language]
        shared = [segment_id for segment_id in segments if segment_id in reference_counts]
        if not shared:
            raise TokfreeError(
                f"language {language!r} of {corpus.name!r} shares no segment id with the reference {reference!r} "
                f"(its ids: {_examples(segments, 3) or 'none'}); align the ids or leave it out (languages=...)"
            )
        texts = [segments[segment_id] for segment_id in shared]
        tokens = sum(_token_counts(tokenizer, texts))
        reference_tokens = sum(reference_counts[segment_id] for segment_id in shared)
        if reference_tokens == 0:
            raise TokfreeError(
                f"the reference {reference!r} has no tokens on the {len(shared)} segment(s) it shares with {language!r}, "
                "so no premium exists; give the reference text"
            )
        script = script_of("\n".join(texts))
        rows.append(PremiumRow(language, corpus.names.get(language, language), script, tokens, reference_tokens, tokens / reference_tokens, len(shared)))
    rows.sort(key=lambda row: (row.premium, row.language))
    return PremiumReport(tuple(rows), reference, corpus.names.get(reference, reference), corpus.name)
