"""Toy sources, tokenizers and token LMs whose distributions are known in closed form.

`MarkovSource` is a distribution over short texts (a Markov chain over a few characters with an end
of text, forced at a maximum length). `PushforwardLM` is the exact token LM that source induces
through a tokenizer, computed by enumerating every text: the ground truth `ByteLM` must recover.
`GreedyTokenizer` is greedy longest-match (MPE / WordPiece-style without "##") over a given
vocabulary, with the small interface `ByteLM` uses. For tests and documentation, not for real data.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["GreedyTokenizer", "MarkovSource", "PushforwardLM"]


class MarkovSource:
    """Texts made of `symbols` (characters): P(s) = start[s0] * prod trans[s_i][s_i+1] * stop.

    Args:
        symbols: the alphabet (each a str of one or more characters).
        max_len: texts stop after this many symbols.
        seed: the random transition table (Dirichlet(1) rows over symbols + end of text).

    Example:
        >>> source = MarkovSource(["a", "b", " "], max_len=4, seed=0)
        >>> abs(sum(source.texts().values()) - 1) < 1e-12
        True
    """

    def __init__(self, symbols: Sequence[str], *, max_len: int, seed: int = 0) -> None:
        self.symbols = list(symbols)
        self.max_len = max_len
        rng = np.random.default_rng(seed)
        k = len(self.symbols)
        self.start = rng.dirichlet(np.ones(k + 1))  # (k+1,): first symbol or empty text
        self.trans = rng.dirichlet(np.ones(k + 1), size=k)  # (k, k+1): next symbol or end

    def texts(self) -> dict[str, float]:
        """Every text with positive probability -> its probability (sums to 1)."""
        out: dict[str, float] = {"": float(self.start[-1])}
        frontier = [("", -1, 1.0)]
        for length in range(1, self.max_len + 1):
            nxt = []
            for text, last, p in frontier:
                row = self.start if last < 0 else self.trans[last]
                for j, symbol in enumerate(self.symbols):
                    q = p * row[j]
                    s = text + symbol
                    if length == self.max_len:
                        out[s] = out.get(s, 0.0) + q
                    else:
                        out[s] = out.get(s, 0.0) + q * self.trans[j][-1]
                        nxt.append((s, j, q))
            frontier = nxt
        return out


class SequenceLM:
    """The exact token LM of a distribution over token sequences (each ending with `eos_id`, if
    there is one): q(next | context) = mass of the sequences continuing the context that way / mass
    of those starting with it. Contexts of mass 0 get a uniform row. `calls` records the number of
    contexts of each `next_logprobs` call.
    """

    def __init__(self, sequences: dict[tuple[int, ...], float], vocab_size: int, eos_id: int | None) -> None:
        self.vocab_size, self.eos_id = vocab_size, eos_id
        self._children: dict[tuple[int, ...], dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self._mass: dict[tuple[int, ...], float] = defaultdict(float)
        self.calls: list[int] = []
        for sequence, p in sequences.items():
            for k in range(len(sequence)):
                self._mass[sequence[:k]] += p
                self._children[sequence[:k]][sequence[k]] += p

    def next_logprobs(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """(len(contexts), vocab_size) float64 log q(next | context)."""
        self.calls.append(len(contexts))
        out = np.full((len(contexts), self.vocab_size), -np.inf)
        for row, context in enumerate(contexts):
            key = tuple(context)
            total = self._mass.get(key, 0.0)
            if total <= 0:
                out[row] = -math.log(self.vocab_size)
                continue
            for token_id, mass in self._children[key].items():
                out[row, token_id] = math.log(mass / total)
        return out


class PushforwardLM(SequenceLM):
    """The exact token LM of a text distribution through a tokenizer (a `TokenLM`).

    q(t_1..t_k) = sum of P(s) over texts s whose encoding starts with t_1..t_k; the next-token
    log-probabilities are ratios of these masses, and the extra id `eos_id` = `tokenizer.vocab_size`
    ends the text.
    """

    def __init__(self, texts: dict[str, float], tokenizer: Any) -> None:
        eos_id = tokenizer.vocab_size
        kwargs = {"disallowed_special": ()} if hasattr(tokenizer, "to_hf") else {}
        sequences: dict[tuple[int, ...], float] = defaultdict(float)
        for text, p in texts.items():
            sequences[(*tokenizer.encode(text, **kwargs), eos_id)] += p
        super().__init__(sequences, tokenizer.vocab_size + 1, eos_id)

    def logprob(self, ids: Sequence[int]) -> float:
        """log q(token stream starts with `ids`)."""
        mass = self._mass.get(tuple(ids), 0.0)
        return math.log(mass) if mass > 0 else -math.inf


class GreedyTokenizer:
    """Greedy longest-match tokenizer over `vocab` (bytes); every single byte is added as a token.

    Ids: `vocab` in order (duplicates dropped), then the missing single bytes in byte order.

    Example:
        >>> tok = GreedyTokenizer([b"ab", b"abc"])
        >>> [tok.id_to_token(i) for i in tok.encode("abcab")]
        [b'abc', b'ab']
    """

    pre_tokenizer = "none"
    special_tokens: dict[str, int] = {}

    def __init__(self, vocab: Sequence[bytes]) -> None:
        self._tokens: list[bytes] = []
        for token in itertools.chain(vocab, (bytes([b]) for b in range(256))):
            if token and token not in self._tokens:
                self._tokens.append(bytes(token))
        self._ids = {token: i for i, token in enumerate(self._tokens)}
        self._max = max(len(t) for t in self._tokens)
        self.special_tokens = {}

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def encode_bytes(self, data: bytes) -> list[int]:
        """Greedy longest match over raw bytes."""
        out, i = [], 0
        while i < len(data):
            for size in range(min(self._max, len(data) - i), 0, -1):
                token_id = self._ids.get(data[i : i + size])
                if token_id is not None:
                    out.append(token_id)
                    i += size
                    break
        return out

    def encode(self, text: str) -> list[int]:
        return self.encode_bytes(text.encode("utf-8"))

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        return b"".join(self._tokens[i] for i in ids)

    def id_to_token(self, token_id: int) -> bytes | None:
        return self._tokens[token_id] if 0 <= token_id < len(self._tokens) else None

    def token_to_id(self, token: bytes) -> int | None:
        return self._ids.get(bytes(token))
