"""`train_domain_bpe`: the KL3M domain-BPE recipe (legal, financial, code text), improved.

KL3M (kl3m-004-128k): NFKC, cased, a fixed block of 13 special tokens at ids 0-12, byte-level BPE
with the GPT-2 pre-tokenizer, then thousands of curated "custom" strings (whitespace runs,
Markdown/HTML/JSON pieces, years, numbers, enumerations like "(a)", citation abbreviations) added
as HF *added tokens*, and the vocabulary padded to a power of two with runs of spaces/newlines.

What this trainer does differently, and why:
* Curated tokens are ordinary BPE tokens, reached by merges after pre-tokenization. HF added tokens
  are cut out of the raw text before anything else, anywhere they occur: with KL3M's list "2019"
  is cut out of "120190", "(a)" out of "f(a)", "10" out of "3.1010". Here a curated token only
  forms where the pre-tokenizer makes it a piece, so it never splits a longer number or word.
* The pre-tokenizer (`DOMAIN_PATTERN`) is GPT-2's with three alternatives in front, so that the
  units legal text is made of can be pieces at all: enumerations "(a)", "(iv)", "(12)"; dotted
  abbreviations "U.S.C.", "e.g."; and HTML/XML tags "<div", "</p>". (GPT-2's rules split "(a)"
  into three pieces, so no BPE vocabulary could hold it.)
* The vocabulary is filled to its size (rounded up to `pad_to_multiple_of`) with *learned* merges
  (`extend_bpe` on the same corpus), not with runs of hundreds of spaces. When the corpus has no
  pair left before that size, the vocabulary stops at the next multiple (KL3M's whitespace runs
  fill only that last stretch) instead of padding thousands of tokens no text will use.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable, Sequence

from tokfree.errors import TokfreeError
from tokfree.pretokenize import split
from tokfree.tokenizer import Tokenizer
from tokfree.io.sources import TextInputs, can_reread, normalized_texts
from tokfree.trainers.bpe import count_pretokens, train_counted
from tokfree.trainers.extend import extend_counted

__all__ = ["DOMAIN_PATTERN", "DOMAIN_SUPERWORD_PATTERN", "KL3M_SPECIAL_TOKENS", "TOKEN_CATEGORIES", "domain_tokens", "train_domain_bpe"]

#: KL3M's special-token block, ids 0-12 in this order (kl3m-004).
KL3M_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|start|>", "<|end|>", "<|pad|>", "<|unk|>", "<|sep|>", "<|cls|>", "<|mask|>",
    "<|system|>", "</|system|>", "<|user|>", "</|user|>", "<|instruction|>", "</|instruction|>",
)  # fmt: skip

#: GPT-2's pre-tokenizer with enumerations, dotted abbreviations and markup tags kept whole.
DOMAIN_PATTERN = (
    r" ?\((?:[0-9]{1,3}|[A-Za-z]|[ivxlcdm]{2,6}|[IVXLCDM]{2,6})\)"
    r"| ?(?:[A-Za-z]{1,3}\.){2,}"
    r"| ?</?[A-Za-z][A-Za-z0-9]{0,9}>?"
    r"|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
)

#: The superword stage's pre-tokenizer (and the encoder's, after it): enumerations with digits,
#: runs of words and their spaces (no digit, line break or "(" + digit inside), digit runs with
#: their leading space (years and section numbers stay whole, as in GPT-2), line breaks, spaces.
DOMAIN_SUPERWORD_PATTERN = r" ?\(\p{N}{1,3}\)|(?: ?(?:[^\p{N}\r\n (]|\((?!\p{N}))+)+| ?\p{N}+|[\r\n]+| +"

_ROMAN = ("ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii", "xviii", "xix", "xx")
_HTML_TAGS = (
    "a", "abbr", "b", "blockquote", "body", "br", "caption", "code", "div", "em", "footer", "h1", "h2", "h3", "h4",
    "head", "header", "hr", "html", "i", "img", "li", "link", "meta", "nav", "ol", "p", "pre", "section", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "title", "tr", "u", "ul",
)  # fmt: skip
#: Citation and reference abbreviations of US and EU legal text (a hand-picked core of what KL3M
#: fetches from Free Law Project's reporters-db at training time; no network here).
CITATION_ABBREVIATIONS: tuple[str, ...] = (
    "U.S.", "U.S.C.", "C.F.R.", "S.Ct.", "L.Ed.", "F.R.D.", "B.R.", "N.E.", "N.W.", "S.E.", "S.W.", "P.L.",
    "e.g.", "i.e.", "a.m.", "p.m.", "cf.", "et al.", "et seq.", "id.", "Id.", "ibid.", "supra", "infra", "viz.",
    "Art.", "Arts.", "Sec.", "Secs.", "No.", "Nos.", "para.", "paras.", "subpara.", "Reg.", "Dir.", "Stat.",
    "Fed.", "Supp.", "Cir.", "Ct.", "App.", "Cong.", "Rev.", "Pub.", "Ann.", "ch.", "cl.", "v.", "vs.",
    "USC", "CFR", "TFEU", "TEU", "GDPR", "OJ", "EU", "EEA", "ECJ", "CJEU", "ECHR", "SEC", "IRS", "IFRS", "GAAP",
)  # fmt: skip


def _with_space(tokens: Iterable[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        out += [token, " " + token]
    return out


def _category_tokens() -> dict[str, list[str]]:
    enumerations = [f"({c})" for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    enumerations += [f"({n})" for n in range(1, 100)]
    enumerations += [f"({r})" for r in _ROMAN] + [f"({r.upper()})" for r in _ROMAN]
    markdown = ["#" * n for n in range(2, 7)] + ["**", "~~", "```", "![", "](", "://", "---", "***", "___", "|---", "---|"]
    markdown += [c * n for c in ".-=_*~" for n in range(2, 9)]
    html = [f"<{t}" for t in _HTML_TAGS] + [f"</{t}>" for t in _HTML_TAGS] + [f"<{t}>" for t in _HTML_TAGS]
    html += [" href=", " src=", " alt=", " title=", " class=", " id=", "/>", "<!--", "-->", "&amp;", "&lt;", "&gt;", "&nbsp;", "&quot;"]
    json_pieces = ['{"', '"}', '["', '"]', '":', '","', '":"', '": "', '", "', " null", " true", " false"]
    whitespace = [c * n for c in " \t\n" for n in range(2, 9)] + ["\r\n", "\r\n\r\n", "\n\n\n\n"]
    return {
        "whitespace": whitespace,
        "markdown": markdown,
        "html": html,
        "json": json_pieces,
        "enumerations": _with_space(enumerations),
        "sections": ["§", " §", "§§", " §§", "¶", " ¶", " Article", " Articles", " Section", " Sections", " Annex", " Recital"],
        "citations": _with_space(CITATION_ABBREVIATIONS),
        "years": _with_space(str(year) for year in range(1900, 2051)),
        "numbers": _with_space(str(n) for n in range(10, 200)),
    }


#: The categories `domain_tokens` knows, in order.
TOKEN_CATEGORIES: tuple[str, ...] = tuple(_category_tokens())


def domain_tokens(categories: Sequence[str] = TOKEN_CATEGORIES, *, pre_tokenizer: str = DOMAIN_PATTERN) -> list[str]:
    """The curated tokens of `categories`, each one pre-token under `pre_tokenizer` (so BPE can
    reach it), multi-character, de-duplicated, in category order.

    Strings the pre-tokenizer splits (e.g. "et al." is two pieces, "word" + " al.") are left out:
    a BPE vocabulary entry that no pre-token can equal would be dead weight.
    """
    table = _category_tokens()
    unknown = [c for c in categories if c not in table]
    if unknown:
        raise TokfreeError(f"unknown token categories {unknown}; choose from {list(table)}")
    seen: set[str] = set()
    out: list[str] = []
    for category in categories:
        for token in table[category]:
            if len(token) > 1 and token not in seen and split(token, pre_tokenizer) == [token]:
                seen.add(token)
                out.append(token)
    return out


def _check(vocab_size: object, pad_to_multiple_of: object, floor: int) -> int:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TokfreeError(f"vocab_size={vocab_size!r} must be an int")
    if pad_to_multiple_of is not None and (isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
        raise TokfreeError(f"pad_to_multiple_of={pad_to_multiple_of!r} must be None or a positive int (e.g. 64 or 128)")
    target = vocab_size if pad_to_multiple_of is None else -(-vocab_size // pad_to_multiple_of) * pad_to_multiple_of
    if target <= floor:
        raise TokfreeError(f"vocab_size={vocab_size} is too small: it must exceed 256 byte tokens + the special tokens = {floor}")
    return target


def _append_merges(tokenizer: Tokenizer, new: list[tuple[int, int]]) -> Tokenizer:
    """`tokenizer` with the merges `new` ranked last, each making its concatenation (a new id
    unless those bytes already are a token)."""
    parts = tokenizer.to_parts()
    token_of = dict(parts.vocab)
    id_of = {token: token_id for token_id, token in parts.vocab}
    next_id = max([*token_of, *(token_id for _, token_id in parts.special_tokens)]) + 1
    vocab = list(parts.vocab)
    for left, right in new:
        token = token_of[left] + token_of[right]
        if token not in id_of:
            id_of[token], token_of[next_id] = next_id, token
            vocab.append((next_id, token))
            next_id += 1
    return Tokenizer(dataclasses.replace(parts, vocab=vocab, merges=[*parts.merges, *new]))


def _force(tokenizer: Tokenizer, tokens: list[str]) -> tuple[Tokenizer, int]:
    """Appends merges until every string of `tokens` encodes to one id; returns the tokenizer and
    the number of merges appended.

    Each round appends, for every string still split, the merge of its first two pieces. These
    rank after every learned merge, so they only fire where the learned merges leave exactly those
    pieces side by side: in the curated string itself (or a longer piece that starts with it).
    Every round shortens the encoding of every string still split (some appended merge applies),
    so it ends after at most as many rounds as the longest encoding has pieces.
    """
    appended = 0
    pending = [token for token, ids in zip(tokens, tokenizer.encode_batch(tokens)) if len(ids) > 1]
    while pending:
        merges = list(dict.fromkeys((ids[0], ids[1]) for ids in tokenizer.encode_batch(pending)))
        tokenizer = _append_merges(tokenizer, merges)
        appended += len(merges)
        pending = [token for token, ids in zip(pending, tokenizer.encode_batch(pending)) if len(ids) > 1]
    return tokenizer, appended


def _pad_with_whitespace(tokenizer: Tokenizer, size: int) -> Tokenizer:
    """KL3M's fallback: runs of spaces and newlines (alternating, each the shortest run not yet a
    token, made by merging the run one shorter with one more character) until `size` tokens."""
    parts = tokenizer.to_parts()
    next_id = max([token_id for token_id, _ in parts.vocab] + [token_id for _, token_id in parts.special_tokens]) + 1
    ids = {token: token_id for token_id, token in parts.vocab}
    length = {" ": 1, "\n": 1}
    merges: list[tuple[int, int]] = []
    while tokenizer.vocab_size + len(merges) < size:
        char = " \n"[len(merges) % 2]
        while (char * (length[char] + 1)).encode() in ids:  # runs already present only lengthen the chain
            length[char] += 1
        run = (char * (length[char] + 1)).encode()
        merges.append((ids[run[:-1]], ids[char.encode()]))
        ids[run] = next_id
        next_id += 1
        length[char] += 1
    return _append_merges(tokenizer, merges) if merges else tokenizer


@dataclasses.dataclass(frozen=True)
class DomainTrainingReport:
    """What `train_domain_bpe` did: learned merges before and after the curated tokens, the merges
    the curated tokens needed, and the whitespace runs added when the corpus ran out of pairs."""

    learned: int
    curated_tokens: int
    curated_merges: int
    learned_after: int
    whitespace_padding: int


def train_domain_bpe(
    inputs: TextInputs,
    vocab_size: int = 32768,
    *,
    text_column: str | None = None,
    curated_tokens: Iterable[str] | None = None,
    special_tokens: Iterable[str] = KL3M_SPECIAL_TOKENS,
    normalizer: str | None = "NFKC",
    pre_tokenizer: str = DOMAIN_PATTERN,
    pad_to_multiple_of: int | None = 128,
    min_frequency: int = 2,
    max_token_length: int | None = None,
    show_progress: bool = True,
    report: list[DomainTrainingReport] | None = None,
    superword_transition: int | None = None,
    max_words_per_token: int = 4,
) -> Tokenizer:
    """Trains a cased domain BPE tokenizer with the KL3M recipe (see the module docs).

    Args:
        inputs: files/globs, a dataset or an iterable of texts, as for `train_bpe`.
        text_column: the dataset column or JSONL field holding the text (None: "text"), as for `train_bpe`.
        vocab_size: tokens in the result, counting special and byte tokens, rounded up to a multiple
            of `pad_to_multiple_of`. When the corpus has no pair left to merge before that size, the
            result stops at the next multiple instead (None: exactly `vocab_size`, padded with
            whitespace runs if need be).
        curated_tokens: strings that must each be one token (default: `domain_tokens()`, about
            1,300 strings). Each must be one pre-token under `pre_tokenizer`; NFKC is applied first.
        special_tokens: the fixed special block, ids 0, 1, ... (default: KL3M's 13).
        normalizer: "NFKC" (KL3M), "NFC" or None; the tokenizer applies it when encoding too.
        pre_tokenizer: `DOMAIN_PATTERN` (default), a preset name or a regex.
        pad_to_multiple_of: round the vocabulary size up to a multiple of this (GPU-friendly
            embedding tables); the extra slots are learned merges.
        min_frequency, max_token_length, show_progress: as for `train_bpe`.
        report: if a list is given, a `DomainTrainingReport` is appended to it.
        superword_transition: None (default): plain subword BPE. An int t: SuperBPE's curriculum
            on top of the recipe: the recipe runs up to t tokens, then merges continue on text
            split only by `DOMAIN_SUPERWORD_PATTERN` (lines, digit runs, enumerations), so tokens
            may span up to `max_words_per_token` words (" of the Licensor", ", and"); the
            tokenizer then splits text with that pattern. See `tokfree.trainers.superword`.
        max_words_per_token: the superword stage's limit on words per token (SuperBPE's 4).

    Raises:
        TokfreeError: a bad argument, or a curated token the pre-tokenizer splits (named).
    """
    if normalizer not in (None, "NFC", "NFKC"):
        raise TokfreeError(f"normalizer={normalizer!r}: use 'NFKC', 'NFC' or None")
    specials = list(special_tokens)
    curated = domain_tokens(pre_tokenizer=pre_tokenizer) if curated_tokens is None else list(dict.fromkeys(curated_tokens))
    if normalizer is not None:
        curated = list(dict.fromkeys(unicodedata.normalize(normalizer, token) for token in curated))
    split_ones = [token for token in curated if split(token, pre_tokenizer) != [token]]
    if split_ones:
        raise TokfreeError(
            f"{len(split_ones)} curated tokens are split by the pre-tokenizer, so no BPE token can equal them, e.g. "
            f"{split_ones[:5]}; drop them, or choose a pre_tokenizer that keeps them whole (see DOMAIN_PATTERN)"
        )
    target = _check(vocab_size, pad_to_multiple_of, 256 + len(specials))
    superword = superword_transition is not None
    if superword:
        if isinstance(superword_transition, bool) or not isinstance(superword_transition, int) or not 256 + len(specials) < superword_transition <= target:
            raise TokfreeError(f"superword_transition={superword_transition!r} must be an int above {256 + len(specials)} and at most the vocabulary size {target}")
        if curated_tokens is None:  # the default list: keep what stage 2 can reach ("<h1" is two pieces there)
            curated = [token for token in curated if split(token, DOMAIN_SUPERWORD_PATTERN) == [token]]
        split_ones = [token for token in curated if split(token, DOMAIN_SUPERWORD_PATTERN) != [token]]
        if split_ones:
            raise TokfreeError(f"{len(split_ones)} curated tokens are split by DOMAIN_SUPERWORD_PATTERN (stage 2), e.g. {split_ones[:5]}; drop them")
    stage1_target = superword_transition if superword else target
    # Learn first what the curated tokens cannot need (they need at most one merge per byte after
    # the first), force them, then fill the rest with learned merges again.
    reserve = sum(len(token.encode()) - 1 for token in curated)
    first_size = max(256 + len(specials), stage1_target - reserve)

    # Stage 2 reads the corpus again: files and datasets are re-read, texts are kept.
    kept = None if not superword or can_reread(inputs) else list(inputs)  # type: ignore[arg-type]

    def corpus() -> TextInputs:
        source = inputs if kept is None else iter(kept)
        return source if normalizer is None else normalized_texts(source, normalizer, text_column=text_column)

    counter = count_pretokens(corpus(), pre_tokenizer, text_column=text_column, show_progress=show_progress)
    tokenizer = train_counted(counter.copy(), first_size, specials, min_frequency, max_token_length, None, show_progress)
    learned = tokenizer.vocab_size - 256 - len(specials)
    tokenizer, curated_merges = _force(tokenizer, curated)
    if tokenizer.vocab_size > stage1_target:
        raise TokfreeError(
            f"the {len(curated)} curated tokens need {tokenizer.vocab_size - 256 - len(specials)} tokens, more than vocab_size={vocab_size} "
            f"leaves after 256 bytes + {len(specials)} special tokens; raise vocab_size or pass fewer curated_tokens"
        )
    if normalizer is not None:
        tokenizer = Tokenizer(dataclasses.replace(tokenizer.to_parts(), normalizer=normalizer))
    before_fill = tokenizer.vocab_size
    if before_fill < stage1_target:
        tokenizer = extend_counted(tokenizer, counter, stage1_target - before_fill, min_frequency, max_token_length, None, show_progress)
    if superword and tokenizer.vocab_size < target:
        stage2 = count_pretokens(corpus(), DOMAIN_SUPERWORD_PATTERN, text_column=text_column, show_progress=show_progress)
        tokenizer = extend_counted(
            tokenizer, stage2, target - tokenizer.vocab_size, min_frequency, max_token_length, None, show_progress,
            max_words=max_words_per_token, forbidden=(b": ",), same_pre_tokenizer=False,
        )  # fmt: skip
    learned_after = tokenizer.vocab_size - before_fill
    if tokenizer.vocab_size < target and pad_to_multiple_of is not None:
        # The corpus ran out of pairs: stop at the next multiple rather than pad thousands of runs.
        target = -(-tokenizer.vocab_size // pad_to_multiple_of) * pad_to_multiple_of
    padding = target - tokenizer.vocab_size
    tokenizer = _pad_with_whitespace(tokenizer, target)
    if report is not None:
        report.append(DomainTrainingReport(learned, len(curated), curated_merges, learned_after, padding))
    return tokenizer
