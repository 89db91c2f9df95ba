"""tiktoken rank files (`.tiktoken`): read into `TokenizerParts`, write from them.

A rank file is text, one token per line: the base64 of the token's bytes, one space, its rank
(= its id). It holds nothing else: tiktoken takes the pre-tokenizer regex and the special tokens
in code. tiktoken encodes a piece as one token when the piece is a token, else by repeatedly
joining the adjacent parts whose concatenation has the lowest rank. tokfree reproduces that with
merges derived from the ranks (`_rust.derive_merges`), `merge_by_rank` and `ignore_merges`.

Reading is stricter than tiktoken (which skips junk characters in base64 and lets a repeated
token overwrite the earlier one): every malformed line is an error naming its number.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from tokfree import _rust
from tokfree.errors import TokenizerFileError
from tokfree.io.files import MAX_VOCAB_SIZE, read_bytes
from tokfree.io.parts import TokenizerParts

__all__ = ["TIKTOKEN_PATTERNS", "parts_from_tiktoken", "parts_to_tiktoken", "read_ranks"]

#: tiktoken's published `pat_str` values (tiktoken_ext/openai_public.py) -> the tokfree preset
#: that splits identically, so `from_tiktoken(path, pre_tokenizer=encoding._pat_str)` works.
TIKTOKEN_PATTERNS: dict[str, str] = {
    # gpt2, r50k_base, p50k_base
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""": "gpt2",
    # cl100k_base
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""": "gpt4",
    # o200k_base
    "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ): "o200k",
}

_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_RANK = re.compile(rb"[0-9]+")


def read_ranks(path: str) -> list[tuple[int, bytes]]:
    """The (rank, token bytes) entries of a rank file, sorted by rank.

    Raises:
        InputFileError: the file cannot be read.
        TokenizerFileError: a line is not `base64 rank`, or a token or rank repeats (with the line number).
    """
    data = read_bytes(path)
    lines = data.count(b"\n") + 1
    if lines > MAX_VOCAB_SIZE:
        raise TokenizerFileError(
            f"{path}: {lines} lines, so possibly more than {MAX_VOCAB_SIZE} tokens, more than any real rank file holds; check the file"
        )
    ranks: dict[int, int] = {}  # rank -> line number
    tokens: dict[bytes, int] = {}  # token -> line number
    entries: list[tuple[int, bytes]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.removesuffix(b"\r")
        if not line:
            continue  # blank lines (and the final newline) carry nothing, as in tiktoken
        fields = line.split(b" ")
        if len(fields) != 2 or not _BASE64.fullmatch(fields[0]) or not _RANK.fullmatch(fields[1]):
            shown = line[:60].decode("utf-8", errors="replace")
            raise TokenizerFileError(
                f"{path}: line {number} is {shown!r}, not '<base64 of the token bytes> <rank>' "
                "(standard base64 alphabet, one space, a decimal rank); fix or regenerate the file"
            )
        try:
            token = base64.b64decode(fields[0], validate=True)
        except binascii.Error as err:
            raise TokenizerFileError(f"{path}: line {number}: {fields[0][:60].decode()!r} is not valid base64 ({err}); fix or regenerate the file") from None
        rank = int(fields[1])
        if rank >= 1 << 31:
            raise TokenizerFileError(f"{path}: line {number}: rank {rank} is too large (ranks must be below 2^31)")
        if rank in ranks:
            raise TokenizerFileError(f"{path}: line {number}: rank {rank} was already given on line {ranks[rank]}; each rank may appear once")
        if token in tokens:
            raise TokenizerFileError(
                f"{path}: line {number}: the token {token!r} was already listed on line {tokens[token]}; each token may appear once"
            )
        ranks[rank] = number
        tokens[token] = number
        entries.append((rank, token))
    if not entries:
        raise TokenizerFileError(f"{path}: the file has no ranks; pass a .tiktoken rank file")
    entries.sort()
    return entries


def _special_tokens(special_tokens: Mapping[str, int] | None, path: str) -> list[tuple[str, int]]:
    if special_tokens is None:
        return []
    if not isinstance(special_tokens, Mapping):
        raise TokenizerFileError(f"special_tokens={special_tokens!r}: pass a dict of special-token text -> id, e.g. {{'<|endoftext|>': 100257}}")
    specials = []
    for content, token_id in special_tokens.items():
        if not isinstance(content, str) or not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise TokenizerFileError(f"special_tokens entry {content!r}: {token_id!r} must map a str to a non-negative int id")
        specials.append((content, token_id))
    return sorted(specials, key=lambda item: item[1])


def parts_from_tiktoken(path: str, *, pre_tokenizer: str, special_tokens: Mapping[str, int] | None = None) -> TokenizerParts:
    """`TokenizerParts` with tiktoken's semantics from a rank file.

    Args:
        path: the `.tiktoken` file.
        pre_tokenizer: a preset, a custom regex, or a tiktoken `pat_str` (mapped to its preset).
        special_tokens: content -> id (the file has none).

    Raises:
        TokenizerFileError: see `read_ranks`; or a token no two lower-ranked tokens make.
    """
    if not isinstance(pre_tokenizer, str):
        raise TokenizerFileError(f"pre_tokenizer={pre_tokenizer!r}: pass a preset name (gpt2, gpt4, o200k, ...) or a regex")
    vocab = read_ranks(path)
    try:
        merges = _rust.derive_merges(vocab)
    except TokenizerFileError as err:
        raise TokenizerFileError(f"{path}: {err}") from None
    return TokenizerParts(
        pre_tokenizer=TIKTOKEN_PATTERNS.get(pre_tokenizer, pre_tokenizer),
        vocab=vocab,
        merges=merges,
        special_tokens=_special_tokens(special_tokens, path),
        ignore_merges=True,
        merge_by_rank=True,
    )


def parts_to_tiktoken(parts: TokenizerParts) -> str:
    """The rank-file text for `parts` (token ids are written as ranks, in id order).

    Raises:
        TokenizerFileError: tiktoken would encode with this file differently from `parts`: HF merge
            semantics (`merge_by_rank` false), merges other than the ones the ranks imply (ids
            that are not ranks), or a normalizer.
    """
    fix = "save it as a Hugging Face tokenizer.json instead (format='hf'), which expresses it exactly"
    if parts.normalizer is not None:
        raise TokenizerFileError(f"cannot write a tiktoken rank file: this tokenizer normalizes text ({parts.normalizer}), which tiktoken does not; {fix}")
    if not parts.merge_by_rank:
        raise TokenizerFileError(
            "cannot write a tiktoken rank file: this tokenizer applies its merge list (HF semantics), while tiktoken merges "
            "any pair whose concatenation is a token, by that token's rank, which can give other ids for the same "
            f"vocabulary; {fix}"
        )
    try:
        implied = _rust.derive_merges(parts.vocab)
    except TokenizerFileError as err:
        raise TokenizerFileError(f"cannot write a tiktoken rank file: with the ids as ranks, {err}; {fix}") from None
    if implied != list(parts.merges):
        first = next(rank for rank, (ours, theirs) in enumerate(zip(parts.merges, implied)) if ours != theirs) if len(implied) == len(parts.merges) else min(len(implied), len(parts.merges))
        raise TokenizerFileError(
            "cannot write a tiktoken rank file: the ids are not ranks; read as ranks they imply other merges than this "
            f"tokenizer's (first difference at merge #{first}: {parts.merges[first] if first < len(parts.merges) else None} "
            f"here, {implied[first] if first < len(implied) else None} implied by the ids); {fix}"
        )
    lines = [f"{base64.b64encode(token).decode('ascii')} {token_id}\n" for token_id, token in sorted(parts.vocab)]
    return "".join(lines)
