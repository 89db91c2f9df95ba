"""Fuzzes the byte-level API: ByteLM over an exact toy token LM (tokfree.bytelevel.toy).

For a fuzzed prompt (any bytes, often not UTF-8 or of probability 0) and fuzzed continuation bytes:
`prefill` then `advance` byte by byte; every `logp_next` is 257 log-probs that sum to 1 (or are all
-inf when the prefix is impossible); chained log-probs plus end of text equal `score`; `generate`
with fuzzed temperature/top_p returns at most max_bytes. Only TokfreeError may escape.

    python tests/fuzz/fuzz_bytelevel.py tests/fuzz/corpus/bytelevel -max_total_time=600
"""

from __future__ import annotations

import math
import os
import sys

import atheris
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _harness import instrument_tokfree, run  # noqa: E402

with instrument_tokfree(trace_comparisons=False):
    import tokfree
    from tokfree.bytelevel import EOT, ByteLM
    from tokfree.bytelevel.toy import MarkovSource, PushforwardLM
    from tokfree.errors import TokfreeError

TEXTS = MarkovSource([" ", "a", "1", "é", "\n"], max_len=4, seed=0).texts()
TOK = tokfree.train_bpe(iter(list(TEXTS) * 3), 270, pre_tokenizer="gpt2", min_frequency=1, show_progress=False)
BLM = ByteLM(PushforwardLM(TEXTS, TOK), TOK)


def _check(logp: np.ndarray, where: bytes) -> float:
    if logp.shape != (257,) or np.isnan(logp).any() or (logp > 1e-9).any():
        raise AssertionError(f"logp_next after {where!r} is not 257 log-probs: {logp!r}")
    total = float(np.logaddexp.reduce(logp))
    if total != -math.inf and abs(total) > 1e-6:
        raise AssertionError(f"logp_next after {where!r} sums to exp({total}), not 1")
    return total


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    prompt = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8))
    rest = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 6))
    temperature = fdp.ConsumeFloatInRange(0.0, 2.0)
    top_p = fdp.ConsumeFloatInRange(0.0, 1.0)
    try:
        state = BLM.prefill(prompt)
        chained = 0.0
        for k, byte in enumerate(rest):
            logp = state.logp_next()
            if _check(logp, prompt + rest[:k]) == -math.inf:
                break
            chained += float(logp[byte])
            state = state.advance(byte)
        else:
            logp = state.logp_next()
            _check(logp, prompt + rest)
            if not prompt and chained + float(logp[EOT]) > -math.inf:
                whole = BLM.score(rest)
                if abs(whole - (chained + float(logp[EOT]))) > 1e-6:
                    raise AssertionError(f"score({rest!r}) = {whole}, chained log-probs give {chained + float(logp[EOT])}")
        out = BLM.generate(prompt, 4, temperature=temperature, top_p=top_p, seed=0)
    except TokfreeError:
        return
    if len(out) > 4:
        raise AssertionError(f"generate({prompt!r}, 4) returned {len(out)} bytes")


if __name__ == "__main__":
    run(test_one)
