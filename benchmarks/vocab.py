"""The shared vocabularies the encode and pathological benches use, trained once and cached.

- tokfree, tiktoken and HF `tokenizers` use ONE vocabulary: a byte-level BPE with the GPT-2
  pre-tokenizer trained by tokfree on the vocabulary corpus (100 MB by default), saved as
  - `tokenizer.json` (HF format; what HF loads),
  - `tokfree.json` (tokfree's own format; what tokfree loads),
  - `ranks.tiktoken` (base64 token + rank per line, rank = id; with `pattern.txt`, what tiktoken loads),
  so that each bench child imports only the library it measures. `parity()` checks the three give
  identical ids before anything is timed.
- sentencepiece cannot load a byte-level BPE, so it trains its own BPE of the same size on the same
  corpus (research/perf-anchors.md settings); its tokens differ, so its bytes/token is reported too.

Files live in `benchmarks/.corpus/vocab/<corpus>_<size>/`, with `meta.json` naming the corpus
sha256; a changed corpus or `--retrain` trains again.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path

import corpus

SPECIAL_TOKENS = ["<|endoftext|>"]
PRE_TOKENIZER = "gpt2"
# research/perf-anchors.md: spm BPE trained on all lines, full character coverage, bytes for the rest.
SPM_OPTIONS = {"model_type": "bpe", "character_coverage": 1.0, "byte_fallback": True, "input_sentence_size": 0,
               "max_sentence_length": 65536, "num_threads": 2}


@dataclass(frozen=True)
class Vocab:
    """Paths of one shared vocabulary and what it was trained on."""

    directory: Path

    @property
    def hf_json(self) -> Path:
        return self.directory / "tokenizer.json"

    @property
    def tokfree_json(self) -> Path:
        return self.directory / "tokfree.json"

    @property
    def ranks(self) -> Path:
        return self.directory / "ranks.tiktoken"

    @property
    def pattern(self) -> Path:
        return self.directory / "pattern.txt"

    @property
    def spm_model(self) -> Path:
        return self.directory / "spm.model"

    @property
    def meta(self) -> dict[str, object]:
        return json.loads((self.directory / "meta.json").read_text())


def shared(corpus_path: Path, vocab_size: int, *, retrain: bool = False, log=print) -> Vocab:
    """The shared vocabulary trained on `corpus_path` with `vocab_size` tokens (trained if needed)."""
    vocab = Vocab(corpus.CACHE / "vocab" / f"{corpus_path.stem}_{vocab_size}")
    corpus_sha = corpus.sha256(corpus_path)
    meta_path = vocab.directory / "meta.json"
    if not retrain and meta_path.exists() and vocab.meta.get("corpus_sha256") == corpus_sha and vocab.spm_model.exists():
        return vocab
    vocab.directory.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {"corpus": corpus.describe(corpus_path), "corpus_sha256": corpus_sha, "vocab_size": vocab_size}
    meta.update(_train_tokfree(vocab, corpus_path, vocab_size, log))
    meta.update(_train_spm(vocab, corpus_path, vocab_size, log))
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return vocab


def _train_tokfree(vocab: Vocab, corpus_path: Path, vocab_size: int, log) -> dict[str, object]:
    import tokfree
    from tokfree.pretokenize import PRESETS

    log(f"training the shared {vocab_size}-token byte-level BPE with tokfree on {corpus_path.name}...")
    started = time.perf_counter()
    tok = tokfree.train_bpe(str(corpus_path), vocab_size, pre_tokenizer=PRE_TOKENIZER, special_tokens=SPECIAL_TOKENS, show_progress=False)
    seconds = time.perf_counter() - started
    tok.save(vocab.hf_json)
    tok.save(vocab.tokfree_json, format="tokfree")
    parts = tok.to_parts()
    # tiktoken merges by token rank; tokfree gives ids in merge order, so rank = id reproduces the
    # same BPE (checked by parity(), not assumed).
    with vocab.ranks.open("w", encoding="ascii") as file:
        for token_id, token in sorted(parts.vocab):
            file.write(f"{base64.b64encode(token).decode()} {token_id}\n")
    vocab.pattern.write_text(PRESETS[PRE_TOKENIZER], encoding="utf-8")
    (vocab.directory / "special_tokens.json").write_text(json.dumps(dict(parts.special_tokens)))
    return {"tokfree_vocab_size": tok.vocab_size, "tokfree_train_seconds": seconds, "pre_tokenizer": PRE_TOKENIZER, "special_tokens": SPECIAL_TOKENS}


def _train_spm(vocab: Vocab, corpus_path: Path, vocab_size: int, log) -> dict[str, object]:
    import sentencepiece as spm

    log(f"training sentencepiece's own {vocab_size}-token BPE on {corpus_path.name}...")
    started = time.perf_counter()
    spm.SentencePieceTrainer.train(input=str(corpus_path), model_prefix=str(vocab.directory / "spm"), vocab_size=vocab_size,
                                   minloglevel=2, **SPM_OPTIONS)
    return {"spm_vocab_size": spm.SentencePieceProcessor(model_file=str(vocab.spm_model)).vocab_size(),
            "spm_train_seconds": time.perf_counter() - started, "spm_options": SPM_OPTIONS}


# --- loading, one library at a time (bench children import only what they measure) ----------------


def load_tokfree(vocab: Vocab):
    import tokfree

    return tokfree.Tokenizer.from_file(vocab.tokfree_json)


def load_hf(vocab: Vocab):
    import tokenizers

    return tokenizers.Tokenizer.from_file(str(vocab.hf_json))


def load_tiktoken(vocab: Vocab):
    import tiktoken

    ranks = {}
    for line in vocab.ranks.read_text(encoding="ascii").splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    specials = json.loads((vocab.directory / "special_tokens.json").read_text())
    return tiktoken.Encoding("tokfree-bench", pat_str=vocab.pattern.read_text(encoding="utf-8"), mergeable_ranks=ranks, special_tokens=specials)


def load_spm(vocab: Vocab):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(vocab.spm_model))


def parity(vocab: Vocab, docs: list[str]) -> dict[str, object]:
    """Token-for-token comparison of tokfree, tiktoken and HF on `docs` (every document).

    Returns counts of documents whose ids differ, total tokens per library, whether tokfree's ids
    decode back to the text, and the index of the first differing document (if any).
    """
    tok, enc, hf = load_tokfree(vocab), load_tiktoken(vocab), load_hf(vocab)
    mine = tok.encode_batch(docs)
    theirs_tiktoken = enc.encode_ordinary_batch(docs)
    theirs_hf = [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]
    differ_tiktoken = [i for i, (a, b) in enumerate(zip(mine, theirs_tiktoken)) if a != b]
    differ_hf = [i for i, (a, b) in enumerate(zip(mine, theirs_hf)) if a != b]
    return {
        "documents": len(docs),
        "tokens": {"tokfree": sum(map(len, mine)), "tiktoken": sum(map(len, theirs_tiktoken)), "hf": sum(map(len, theirs_hf))},
        "differ_tiktoken": len(differ_tiktoken),
        "differ_hf": len(differ_hf),
        "first_differing": min(differ_tiktoken + differ_hf, default=None),
        "tokfree_round_trip": all(tok.decode(ids) == doc for ids, doc in zip(mine, docs)),
    }
