"""Reference byte-level BPE: the training and encoding rules of tokfree, written out literally.

Training: each distinct pre-token is a word of single-byte tokens weighted by its count. Each step
counts every adjacent window in every word (overlapping), keeps pairs seen at least
`max(min_frequency, 1)` times (and not longer than `max_token_length` bytes), and merges the most
frequent one, ties broken by the smallest (bytes(left), bytes(right)). Words are rewritten left to
right without overlap. A merge whose bytes already are a token reuses that id.
Encoding: per pre-token, merge the adjacent pair of lowest merge rank, leftmost first, until none.
"""

from __future__ import annotations

from collections import Counter

from tokfree._reference.pretokenize import split


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train(
    texts: list[str],
    vocab_size: int,
    *,
    pre_tokenizer: str = "gpt2",
    special_tokens: tuple[str, ...] | list[str] = (),
    min_frequency: int = 2,
    max_token_length: int | None = None,
) -> tuple[dict[int, bytes], list[tuple[int, int]]]:
    """Returns (id -> token bytes for model tokens, merges as id pairs in rank order)."""
    k = len(special_tokens)
    vocab = {k + byte: bytes([byte]) for byte in range(256)}
    ids = {token: token_id for token_id, token in vocab.items()}
    words = Counter(tuple(k + byte for byte in piece.encode("utf-8")) for text in texts for piece in split(text, pre_tokenizer))
    merges: list[tuple[int, int]] = []
    while k + len(vocab) < vocab_size:
        pairs: Counter[tuple[int, int]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        candidates = [
            (count, pair)
            for pair, count in pairs.items()
            if count >= max(min_frequency, 1)
            and (max_token_length is None or len(vocab[pair[0]]) + len(vocab[pair[1]]) <= max_token_length)
        ]
        if not candidates:
            break
        best_count = max(count for count, _ in candidates)
        pair = min((vocab[a], vocab[b], (a, b)) for count, (a, b) in candidates if count == best_count)[2]
        token = vocab[pair[0]] + vocab[pair[1]]
        if token not in ids:
            ids[token] = k + len(vocab)
            vocab[ids[token]] = token
        merges.append(pair)
        merged: Counter[tuple[int, ...]] = Counter()
        for word, count in words.items():
            merged[_merge_word(word, pair, ids[token])] += count
        words = merged
    return vocab, merges


def encode(
    text: str,
    vocab: dict[int, bytes],
    merges: list[tuple[int, int]],
    *,
    pre_tokenizer: str = "gpt2",
    ignore_merges: bool = False,
) -> list[int]:
    """Ids of `text` (no special tokens) under the HF merge rule."""
    ids = {token: token_id for token_id, token in vocab.items()}
    ranks = {pair: rank for rank, pair in enumerate(merges)}  # a repeated pair keeps its last rank
    out: list[int] = []
    for piece in split(text, pre_tokenizer):
        data = piece.encode("utf-8")
        if ignore_merges and data in ids:
            out.append(ids[data])
            continue
        word = [ids[bytes([byte])] for byte in data]
        while len(word) > 1:
            ranked = [(ranks[pair], i) for i, pair in enumerate(zip(word, word[1:])) if pair in ranks]
            if not ranked:
                break
            _, i = min(ranked)
            word[i : i + 2] = [ids[vocab[word[i]] + vocab[word[i + 1]]]]
        out.extend(word)
    return out
