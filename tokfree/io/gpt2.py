"""GPT-2 style `vocab.json` + `merges.txt` (OpenAI's `encoder.json` + `vocab.bpe`) into `TokenizerParts`.

`vocab.json` maps byte-level token strings (GPT-2's byte-to-unicode table) to ids; `merges.txt`
starts with a `#version` line and lists one merge per line, `left right`, in rank order. The
semantics are HF's (the merge list decides), as HF `tokenizers` reads the pair. Special tokens
such as GPT-2's `<|endoftext|>` sit in `vocab.json` like any token: the caller names them (default
`<|endoftext|>`), and an entry that is not a byte-level string can only be a special token.
"""

from __future__ import annotations

from collections.abc import Collection

from tokfree.errors import TokenizerFileError
from tokfree.io.bytelevel import unicode_to_bytes
from tokfree.io.files import read_bytes, read_json
from tokfree.io.parts import TokenizerParts

__all__ = ["parts_from_gpt2_files", "read_merges"]

DEFAULT_SPECIAL = "<|endoftext|>"


def _read_vocab(path: str) -> dict[str, int]:
    vocab = read_json(path, "GPT-2 vocab.json (encoder.json)")
    if not isinstance(vocab, dict):
        raise TokenizerFileError(f"{path}: the top level is not a JSON object; vocab.json maps token strings to ids")
    ids: dict[int, str] = {}
    for string, token_id in vocab.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise TokenizerFileError(f"{path}: the token {string!r} has id {token_id!r}; ids are non-negative integers")
        if token_id in ids:
            raise TokenizerFileError(f"{path}: the tokens {ids[token_id]!r} and {string!r} share the id {token_id}; give each token its own id")
        ids[token_id] = string
    return vocab


def read_merges(path: str) -> list[tuple[str, str]]:
    """The merges of a `merges.txt`, in rank order, as HF reads them.

    Lines starting with `#version` are skipped; every other line must be `left right` (one space).
    A final newline is fine; an empty line elsewhere is an error, as in HF.

    Raises:
        TokenizerFileError: a malformed line, with its number.
    """
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TokenizerFileError(f"{path}: not UTF-8 (byte {err.start}); pass a GPT-2 merges.txt (vocab.bpe)") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    merges = []
    for number, line in enumerate(lines, start=1):
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise TokenizerFileError(f"{path}: line {number} is {line[:60]!r}, not 'left right' (two tokens, one space); fix the file")
        merges.append((parts[0], parts[1]))
    return merges


def parts_from_gpt2_files(
    vocab_path: str, merges_path: str, *, pre_tokenizer: str = "gpt2", special_tokens: Collection[str] | None = None
) -> TokenizerParts:
    """`TokenizerParts` (HF semantics) from `vocab.json` and `merges.txt`.

    Args:
        vocab_path, merges_path: the two files.
        pre_tokenizer: a preset or custom regex.
        special_tokens: vocab entries to treat as special tokens (they keep their id); a content
            not in the vocab gets the next free id. None: `<|endoftext|>` if the vocab has it.

    Raises:
        TokenizerFileError: malformed files, merges of unknown tokens or of special tokens.
    """
    vocab = _read_vocab(vocab_path)
    if special_tokens is None:
        wanted = [DEFAULT_SPECIAL] if DEFAULT_SPECIAL in vocab else []
    elif isinstance(special_tokens, str):
        raise TokenizerFileError(f"special_tokens={special_tokens!r}: pass a collection of strings, e.g. ['<|endoftext|>']")
    else:
        wanted = list(special_tokens)
    specials: dict[str, int] = {}
    next_id = max(vocab.values(), default=-1) + 1
    for content in wanted:
        if not isinstance(content, str) or not content:
            raise TokenizerFileError(f"special token {content!r}: special tokens are non-empty strings")
        if content in specials:
            continue
        if content in vocab:
            specials[content] = vocab[content]
        else:
            specials[content] = next_id
            next_id += 1
    model: dict[str, bytes] = {}
    for string, token_id in vocab.items():
        if string in specials:
            continue
        token = unicode_to_bytes(string)
        if token is None:
            specials[string] = token_id  # not expressible as bytes: it can only be matched as text
        else:
            model[string] = token
    merges = []
    for rank, (left, right) in enumerate(read_merges(merges_path)):
        for side in (left, right, left + right):
            if side in specials:
                raise TokenizerFileError(f"{merges_path}: merge #{rank} ({left!r}, {right!r}) uses the special token {side!r}; merges may only join model tokens")
            if side not in model:
                raise TokenizerFileError(
                    f"{merges_path}: merge #{rank} ({left!r}, {right!r}) uses {side!r}, which is not in {vocab_path}; every merge and its result must be vocab tokens"
                )
        merges.append((vocab[left], vocab[right]))
    return TokenizerParts(
        pre_tokenizer=pre_tokenizer,
        vocab=sorted((vocab[string], token) for string, token in model.items()),
        merges=merges,
        special_tokens=sorted(specials.items(), key=lambda item: item[1]),
    )
