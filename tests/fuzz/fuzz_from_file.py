"""Fuzzes the tokenizer file loaders on mutated files: only TokfreeError may escape.

The first byte picks the loader: `Tokenizer.from_file` (HF tokenizer.json or tokfree JSON, detected),
`Tokenizer.from_tiktoken` (rank file) or `Tokenizer.from_gpt2_files` (vocab.json and merges.txt,
separated by SEPARATOR in the input; without it the input is cut in the middle). The rest is written
to temporary files. A file that loads is then used: encode, decode, save again and reload.

    python tests/fuzz/fuzz_from_file.py tests/fuzz/corpus/from_file -max_total_time=600
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris

sys.path.insert(0, os.path.dirname(__file__))
from _harness import instrument_tokfree, run  # noqa: E402

with instrument_tokfree():
    from tokfree import Tokenizer
    from tokfree.errors import TokfreeError

#: Between vocab.json and merges.txt in a gpt2-files input.
SEPARATOR = b"\n\x00SPLIT\x00\n"
KINDS = ("from_file", "tiktoken", "gpt2")
TMP = tempfile.mkdtemp(prefix="tokfree-fuzz-")
TEXT = "Hello world <|endoftext|> 123 naïve 中文\n\n  x"


def _write(name: str, data: bytes) -> str:
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def load(kind: str, body: bytes) -> Tokenizer:
    """The tokenizer the loader of `kind` makes of `body`."""
    if kind == "from_file":
        return Tokenizer.from_file(_write("tokenizer.json", body))
    if kind == "tiktoken":
        return Tokenizer.from_tiktoken(_write("ranks.tiktoken", body), pre_tokenizer="gpt2", special_tokens={"<|endoftext|>": 1 << 20})
    vocab, sep, merges = body.partition(SEPARATOR)
    if not sep:
        vocab, merges = body[: len(body) // 2], body[len(body) // 2 :]
    return Tokenizer.from_gpt2_files(_write("vocab.json", vocab), _write("merges.txt", merges))


def test_one(data: bytes) -> None:
    if not data:
        return
    kind = KINDS[data[0] % len(KINDS)]
    try:
        tok = load(kind, data[1:])
    except TokfreeError:
        return
    try:
        ids = tok.encode(TEXT, allowed_special="all")
        tok.decode(ids)
        tok.encode_batch([TEXT, ""], num_threads=1)
        for i in range(min(tok.vocab_size, 64)):
            tok.id_to_token(i)
        tok.save(os.path.join(TMP, "again.json"), format="tokfree")
        again = Tokenizer.from_file(os.path.join(TMP, "again.json"))
    except TokfreeError:
        return
    if again.encode(TEXT, allowed_special="all") != ids:
        raise AssertionError(f"{kind}: saving as tokfree JSON and reloading changed the ids of {TEXT!r}")


if __name__ == "__main__":
    run(test_one)
