"""Fuzzes encode/decode round trips: `decode_bytes(encode(text)) == text.encode()` for every tokenizer family.

Families: byte-level BPE trained with every pre-tokenizer preset, the real GPT-2 vocabulary files,
the superword tokenizer (SuperBPE), the character-level recipe (NFKC: the round trip gives the
normalized text), and the hybrid morphological tokenizer (English lexicon). Texts are arbitrary
Unicode, bytes decoded with errors="surrogatepass" (lone surrogates: encode must raise TokfreeError)
or errors="replace". Each encode path is exercised (plain, allowed special tokens, offsets, batch),
and `pretokenize.split_spans` must cover the text. Only TokfreeError may escape.

    python tests/fuzz/fuzz_roundtrip.py tests/fuzz/corpus/roundtrip -max_total_time=600
"""

from __future__ import annotations

import sys

import atheris

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _harness import ROOT, instrument_tokfree, run, training_texts  # noqa: E402

with instrument_tokfree():
    import tokfree
    from tokfree import pretokenize
    from tokfree.errors import TokfreeError
    from tokfree.models.hybrid import HybridTokenizer
    from tokfree.normalize import normalize
    from tokfree.trainers.charlevel import train_charlevel
    from tokfree.trainers.morph import train_hybrid
    from tokfree.trainers.superword import train_superword

SPECIAL = "<|endoftext|>"


def _tokenizers() -> list[tuple[str, object]]:
    texts = training_texts(20)
    toks: list[tuple[str, object]] = [
        (f"bpe-{preset}", tokfree.train_bpe(iter(texts), 600, pre_tokenizer=preset, special_tokens=[SPECIAL], show_progress=False))
        for preset in pretokenize.PRESETS
    ]
    toks.append(("gpt2-files", tokfree.Tokenizer.from_gpt2_files(ROOT / "data/gpt2/encoder.json", ROOT / "data/gpt2/vocab.bpe", special_tokens=[SPECIAL])))
    toks.append(("superword", train_superword(iter(texts), 800, transition=500, special_tokens=[SPECIAL], show_progress=False)))
    toks.append(("charlevel", train_charlevel(iter(texts), 400, special_tokens=[SPECIAL], show_progress=False)))
    toks.append(("hybrid", train_hybrid(iter(texts[:5]), str(ROOT / "data/morph/english"), bpe_vocab_size=400, show_progress=False)))
    return toks


TOKENIZERS = _tokenizers()
PRESETS = list(pretokenize.PRESETS)


def _text(fdp: atheris.FuzzedDataProvider, mode: int) -> str:
    n = fdp.ConsumeIntInRange(0, 256)
    if mode == 0:
        return fdp.ConsumeUnicodeNoSurrogates(n)
    if mode == 1:
        return fdp.ConsumeUnicode(n)  # may hold lone surrogates
    raw = fdp.ConsumeBytes(n)
    try:
        return raw.decode("utf-8", errors="surrogatepass" if mode == 2 else "replace")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace")


def _encode(tok: object, text: str, path: int) -> list[int]:
    """One encode path; returns ids and checks offsets when it asks for them."""
    if isinstance(tok, HybridTokenizer):
        return tok.encode(text) if path % 2 == 0 else tok.encode_batch([text, text])[1]
    if path == 0:
        return tok.encode(text)
    if path == 1:
        return tok.encode(text, allowed_special="all")
    if path == 2:
        batch = tok.encode_batch([text, "", text], num_threads=2)
        if batch[0] != batch[2] or batch[1] != []:
            raise AssertionError(f"encode_batch gave different ids for the same text: {batch!r}")
        return batch[0]
    enc = tok.encode(text, offsets=True)
    data = text.encode("utf-8")
    for i, (start, end) in zip(enc.ids, enc.offsets):
        if data[start:end] != tok.id_to_token(i):
            raise AssertionError(f"offsets {(start, end)} of id {i} cover {data[start:end]!r}, token is {tok.id_to_token(i)!r}")
    return enc.ids


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    name, tok = TOKENIZERS[fdp.ConsumeIntInRange(0, len(TOKENIZERS) - 1)]
    path = fdp.ConsumeIntInRange(0, 3)
    preset = PRESETS[fdp.ConsumeIntInRange(0, len(PRESETS) - 1)]
    text = _text(fdp, fdp.ConsumeIntInRange(0, 3))
    try:
        expected = text.encode("utf-8")
    except UnicodeEncodeError:
        expected = None
    form = getattr(tok, "_normalizer", None)
    try:
        if expected is not None and form is not None:
            # Inside the try: normalize refuses what encode refuses (e.g. NFKC that differs from HF's tables).
            expected = normalize(text, form).encode("utf-8")
        spans = pretokenize.split_spans(text, preset)
        ids = _encode(tok, text, path)
    except TokfreeError:
        return
    if expected is None:
        raise AssertionError(f"{name}: a text with a lone surrogate was accepted: {text!r}")
    if [s for s in spans] and (spans[0][0] != 0 or spans[-1][1] != len(text.encode("utf-8")) or any(a[1] != b[0] for a, b in zip(spans, spans[1:]))):
        raise AssertionError(f"split_spans({text!r}, {preset!r}) = {spans!r} does not cover the text")
    if not spans and text:
        raise AssertionError(f"split_spans({text!r}, {preset!r}) is empty")
    if path == 1 and form is not None:
        return  # special tokens cut out of the raw text: the normalized expectation does not apply
    got = tok.decode_bytes(ids)
    if got != expected:
        raise AssertionError(f"{name} path {path}: decode_bytes(encode({text!r})) = {got!r}, expected {expected!r}")


if __name__ == "__main__":
    run(test_one)
