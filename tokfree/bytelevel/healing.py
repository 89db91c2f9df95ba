"""Token-level baselines for completing a prompt that may end mid-token: naive prompting and token
healing (guidance-style, k=1). `tokfree.bytelevel.fim.complete` and `score_continuation` reach them
with `method="naive"` / `method="healing"`; the byte-level method is the exact one.

* naive: the prompt is tokenized as is, enc(prompt), and tokens are decoded after it.
* healing: enc(prompt) minus its last token t (bytes r) is the context; the first generated token
  is restricted to tokens whose bytes start with r (their probabilities renormalised over that
  set), its bytes after r are the first output bytes; decoding then continues as naive. If the LM
  gives every token starting with r probability 0 (possible with toy LMs), healing generates nothing
  and scores -inf.

Both decode only text tokens of the tokenizer and the LM's `eos_id` (other ids, such as special
tokens, are masked and the row renormalised). Prompts that end inside a UTF-8 character are encoded
as enc(complete characters) followed by single-byte tokens for the partial character.

This module works on token ids and never computes byte-level probabilities (`bytelm.py` does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tokfree.bytelevel.bytelm import sample_byte
from tokfree.bytelevel.covers import utf8_tail
from tokfree.errors import TokfreeError

if TYPE_CHECKING:
    from tokfree.bytelevel.bytelm import ByteLM

__all__: list[str] = []


def _encode_loose(bytelm: ByteLM, data: bytes) -> tuple[int, ...]:
    """enc(data) for any byte string: leading UTF-8 continuation bytes and a trailing partial
    character become single-byte tokens, the complete characters in between are encoded as text.

    Raises:
        TokfreeError: a byte that must stay alone has no single-byte token in the vocabulary.
    """
    head = 0
    while head < len(data) and 0x80 <= data[head] < 0xC0:
        head += 1
    tail = utf8_tail(data[head:])
    if tail is None:  # invalid in the middle: give up on text encoding for the rest
        tail = len(data) - head
    body = data[head : len(data) - tail]
    try:
        ids = bytelm.canonicality.encode_text(body)
    except UnicodeDecodeError:
        ids, head, tail = (), len(data), 0
    single = _single_bytes(bytelm)
    out = []
    for byte in data[:head]:
        out.append(_byte_id(single, byte))
    out.extend(ids)
    for byte in data[len(data) - tail :]:
        out.append(_byte_id(single, byte))
    return tuple(out)


def _single_bytes(bytelm: ByteLM) -> dict[int, int]:
    return {token[0]: token_id for token_id, token in bytelm.vocab.bytes_of.items() if len(token) == 1}


def _byte_id(single: dict[int, int], byte: int) -> int:
    if byte not in single:
        raise TokfreeError(f"byte 0x{byte:02x} has no single-byte token: the token-level baselines cannot encode this prompt; use method='byte'")
    return single[byte]


def _text_row(bytelm: ByteLM, row: np.ndarray) -> np.ndarray:
    """`row` with everything but text tokens and eos masked, renormalised (log)."""
    out = np.full_like(row, -np.inf)
    order = bytelm.vocab.order
    out[order] = row[order]
    eos = bytelm.lm.eos_id
    if eos is not None:
        out[eos] = row[eos]
    total = np.logaddexp.reduce(out)
    if total == -np.inf:
        raise TokfreeError("the LM gives probability 0 to every text token and to eos after this context")
    return out - total


def _healing_split(bytelm: ByteLM, prompt: bytes, context_ids: tuple[int, ...]) -> tuple[tuple[int, ...], bytes]:
    """(context for the first step, dropped bytes r): k=1 healing."""
    ids = _encode_loose(bytelm, prompt)
    if not ids:
        return context_ids, b""
    return context_ids + ids[:-1], bytelm.vocab.bytes_of[ids[-1]]


def _restrict(bytelm: ByteLM, row: np.ndarray, dropped: bytes) -> np.ndarray | None:
    """Log-probs restricted to the text tokens starting with `dropped`, renormalised; None when the
    LM gives all of them probability 0 (healing is then undefined: nothing is generated, scores are -inf)."""
    lo, hi = bytelm.vocab.prefix_range(dropped)
    ids = bytelm.vocab.order[lo:hi]
    out = np.full_like(row, -np.inf)
    out[ids] = row[ids]
    total = np.logaddexp.reduce(out)
    if total == -np.inf:
        return None
    return out - total


def _complete_tokens(
    bytelm: ByteLM,
    prompt: bytes,
    *,
    heal: bool,
    max_bytes: int,
    stop: Sequence[bytes],
    temperature: float,
    top_p: float,
    seed: int | None,
    context_ids: tuple[int, ...],
) -> bytes:
    """Token-level decoding after `prompt` (naive, or k=1 healing); bytes after the prompt, cut at
    `max_bytes` and before the first stop string completed within them."""
    rng = np.random.default_rng(seed)
    if heal:
        context, dropped = _healing_split(bytelm, prompt, context_ids)
    else:
        context, dropped = context_ids + _encode_loose(bytelm, prompt), b""
    context = list(context)
    eos = bytelm.lm.eos_id
    out = bytearray()
    first = True
    while len(out) < max_bytes:
        row = _text_row(bytelm, bytelm._call([tuple(context)])[0])
        if first and dropped:
            row = _restrict(bytelm, row, dropped)
            if row is None:
                break
        choice = sample_byte(row, temperature=temperature, top_p=top_p, rng=rng)
        if choice == eos:
            break
        token = bytelm.vocab.bytes_of[choice]
        out += token[len(dropped) :] if first else token
        first = False
        context.append(choice)
        if _stop_at(bytes(out[:max_bytes]), stop) is not None:
            break
    return _finish(bytes(out), stop, max_bytes)


def _score_tokens(
    bytelm: ByteLM,
    prompt: bytes,
    continuation: bytes,
    *,
    heal: bool,
    eot: bool,
    context_ids: tuple[int, ...],
) -> float:
    """log-prob of one token path spelling `continuation` after `prompt` (see `fim.score_continuation`)."""
    if heal:
        context, dropped = _healing_split(bytelm, prompt, context_ids)
    else:
        context, dropped = context_ids + _encode_loose(bytelm, prompt), b""
    path = _encode_loose(bytelm, dropped + continuation)
    if dropped and not bytelm.vocab.bytes_of[path[0]].startswith(dropped):
        return -math.inf  # the canonical path of r + continuation does not start with a healing token
    eos = bytelm.lm.eos_id
    targets = list(path) + ([eos] if eot else [])
    if eot and eos is None:
        return -math.inf
    if not targets:
        return 0.0
    contexts = [tuple(context) + path[:k] for k in range(len(targets))]
    rows = bytelm._call(contexts)
    total = 0.0
    for k, (row, target) in enumerate(zip(rows, targets)):
        row = _text_row(bytelm, row)
        if k == 0 and dropped:
            row = _restrict(bytelm, row, dropped)
            if row is None:
                return -math.inf
        total += float(row[target])
    return total


def _stop_at(out: bytes, stop: Sequence[bytes]) -> int | None:
    """Start of the stop string that is completed first in `out` (earliest end, then earliest start)."""
    best = None
    for s in stop:
        at = out.find(s)
        if at >= 0:
            key = (at + len(s), at)
            if best is None or key < best:
                best = key
    return None if best is None else best[1]


def _finish(out: bytes, stop: Sequence[bytes], max_bytes: int) -> bytes:
    """`out` cut at `max_bytes`, then before the first stop string completed within it."""
    out = out[:max_bytes]
    at = _stop_at(out, stop)
    return out if at is None else out[:at]
