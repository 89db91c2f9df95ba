"""The file formats on small, offline inputs: tiktoken rank files (against tiktoken itself),
GPT-2 vocab.json + merges.txt, HF tokenizer.json normalizers and added-token flags (against HF
tokenizers), and every refusal path: each names the line, field or token and the fix."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import unicodedata

import pytest

import tokfree
from tokfree import TokfreeError
from tokfree.errors import InputFileError, TokenizerFileError
from tokfree.io.bytelevel import BYTE_TO_CHAR, bytes_to_unicode
from tokfree.io.hf import parts_to_hf

tiktoken = pytest.importorskip("tiktoken")
tokenizers = pytest.importorskip("tokenizers")

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def write_ranks(path, entries: list[tuple[bytes, int]]) -> None:
    path.write_text("".join(f"{base64.b64encode(token).decode()} {rank}\n" for token, rank in entries))


def byte_entries() -> list[tuple[bytes, int]]:
    return [(bytes([b]), b) for b in range(256)]


# --- tiktoken rank files ------------------------------------------------------------------------


def test_random_rank_files_encode_like_tiktoken(tmp_path):
    """Random BPE-like rank files: tokfree.from_tiktoken == tiktoken.Encoding on random text."""
    rng = random.Random(7)
    checked = 0
    for case in range(200):
        alphabet = "ab c"[: 2 + case % 3]
        entries = byte_entries()
        known = {token for token, _ in entries}
        pool = [ch.encode() for ch in alphabet]
        for _ in range(rng.randint(5, 60)):
            joined = rng.choice(pool) + rng.choice(pool)
            if joined not in known:
                known.add(joined)
                entries.append((joined, len(entries)))
                pool.append(joined)
        path = tmp_path / f"case{case}.tiktoken"
        write_ranks(path, entries)
        try:
            tok = tokfree.Tokenizer.from_tiktoken(path, pre_tokenizer="gpt2")
        except TokenizerFileError as err:
            assert "cannot be built" in str(err)
            continue
        checked += 1
        reference = tiktoken.Encoding(f"case{case}", pat_str=GPT2_PATTERN, mergeable_ranks=dict(entries), special_tokens={})
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(60)]
        assert tok.encode_batch(texts) == reference.encode_ordinary_batch(texts), f"case {case}"
    assert checked >= 30


def test_rank_file_round_trip_is_byte_identical(tmp_path):
    entries = byte_entries() + [(b"ab", 256), (b"abc", 257), (b" a", 258)]
    write_ranks(tmp_path / "r.tiktoken", entries)
    tok = tokfree.Tokenizer.from_tiktoken(tmp_path / "r.tiktoken", pre_tokenizer="gpt2", special_tokens={"<|end|>": 300})
    assert tok.merge_by_rank and tok.to_parts().ignore_merges
    tok.save(tmp_path / "again.tiktoken", format="tiktoken")
    assert (tmp_path / "again.tiktoken").read_bytes() == (tmp_path / "r.tiktoken").read_bytes()
    assert tok.encode("abc<|end|>", allowed_special="all") == [257, 300]


@pytest.mark.parametrize(
    "content, message",
    [
        ("YQ== 0\nYg==  1\n", "line 2"),
        ("YQ== 0\nY!== 1\n", "line 2"),
        ("YQ==\n", "line 1"),
        ("YQ== -1\n", "line 1"),
        ("YQ== 0 extra\n", "line 1"),
        ("YQ==\t0\n", "line 1"),
        ("YQ 0\n", "line 1: 'YQ' is not valid base64"),
        ("YQ== 0\nYg== 0\n", "line 2: rank 0 was already given on line 1"),
        ("YQ== 0\nYQ== 1\n", "line 2: the token b'a' was already listed on line 1"),
        ("\n\n", "has no ranks"),
    ],
)
def test_malformed_rank_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.tiktoken"
    path.write_text(content)
    with pytest.raises(TokenizerFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tokfree.Tokenizer.from_tiktoken(path, pre_tokenizer="gpt2")


def test_rank_file_with_unreachable_token_or_missing_byte(tmp_path):
    write_ranks(tmp_path / "r.tiktoken", byte_entries() + [(b"abc", 256)])
    with pytest.raises(TokenizerFileError, match=r'"abc" \(rank 256\) cannot be built'):
        tokfree.Tokenizer.from_tiktoken(tmp_path / "r.tiktoken", pre_tokenizer="gpt2")
    write_ranks(tmp_path / "r.tiktoken", [(b"a", 0), (b"b", 1), (b"ab", 2)])
    with pytest.raises(TokenizerFileError, match="0x00"):
        tokfree.Tokenizer.from_tiktoken(tmp_path / "r.tiktoken", pre_tokenizer="gpt2")
    with pytest.raises(InputFileError, match="missing.tiktoken"):
        tokfree.Tokenizer.from_tiktoken(tmp_path / "missing.tiktoken", pre_tokenizer="gpt2")


def test_special_tokens_must_not_reuse_a_rank(tmp_path):
    write_ranks(tmp_path / "r.tiktoken", byte_entries())
    with pytest.raises(TokenizerFileError, match="already a model token"):
        tokfree.Tokenizer.from_tiktoken(tmp_path / "r.tiktoken", pre_tokenizer="gpt2", special_tokens={"<s>": 5})


def test_save_tiktoken_refuses_what_tiktoken_would_encode_differently(trained, tmp_path):
    tok = trained("gpt2")  # HF merge semantics
    with pytest.raises(TokenizerFileError, match="merge list"):
        tok.save(tmp_path / "x.tiktoken", format="tiktoken")
    # merge_by_rank with merges other than the ones the ids imply: the ids are not ranks.
    vocab = [(b, bytes([b])) for b in range(256)] + [(256, b"ab"), (257, b"bc"), (258, b"abc")]
    parts = tokfree.io.TokenizerParts("gpt2", vocab, [(97, 98), (98, 99), (97, 257)], [], merge_by_rank=True)
    with pytest.raises(TokenizerFileError, match="ids are not ranks.*merge #2"):
        tokfree.Tokenizer(parts).save(tmp_path / "x.tiktoken", format="tiktoken")
    with pytest.raises(TokenizerFileError, match="normalizes"):
        fine = dataclasses.replace(parts, merges=[(97, 98), (98, 99), (256, 99)], normalizer="NFC")
        tokfree.Tokenizer(fine).save(tmp_path / "x.tiktoken", format="tiktoken")
    with pytest.raises(TokfreeError, match="format='bogus'"):
        tok.save(tmp_path / "x", format="bogus")


# --- GPT-2 vocab.json + merges.txt --------------------------------------------------------------


def write_gpt2(tmp_path, extra_vocab: dict[str, int] | None = None, merges: str = "#version: 0.2\na b\n") -> tuple:
    vocab = {char: i for i, char in enumerate(BYTE_TO_CHAR)}
    vocab["ab"] = 256
    vocab.update(extra_vocab or {})
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp_path / "merges.txt").write_text(merges, encoding="utf-8")
    return tmp_path / "vocab.json", tmp_path / "merges.txt"


def test_gpt2_files_specials_and_non_byte_level_entries(tmp_path):
    files = write_gpt2(tmp_path, {"<|endoftext|>": 257, "<unk>€": 258})
    tok = tokfree.Tokenizer.from_gpt2_files(*files)
    # <|endoftext|> by default; "€" is outside the byte-level alphabet, so "<unk>€" can only be special.
    assert tok.special_tokens == {"<|endoftext|>": 257, "<unk>€": 258}
    assert tok.encode("ab<|endoftext|>", allowed_special="all") == [256, 257]
    plain = tokfree.Tokenizer.from_gpt2_files(*files, special_tokens=["<unk>€", "<new>"])
    assert plain.special_tokens == {"<unk>€": 258, "<new>": 259}
    assert plain.token_to_id("<|endoftext|>") == 257  # a plain model token now, reachable by no merge
    hf = plain.to_hf()
    text = "xab <|endoftext|> <new>ab"
    assert plain.encode(text, allowed_special="all") == hf.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize(
    "vocab_text, merges, error, message",
    [
        ("{not json", "a b\n", TokenizerFileError, "not valid JSON"),
        ('{"a": 0, "b": 0}', "a b\n", TokenizerFileError, "share the id 0"),
        ('["a"]', "a b\n", TokenizerFileError, "not a JSON object"),
        (None, "#version: 0.2\na b\n\nb a\n", TokenizerFileError, "line 3"),
        (None, "#version: 0.2\na b c\n", TokenizerFileError, "line 2"),
        (None, "#version: 0.2\na x\n", TokenizerFileError, "'ax', which is not in"),
        (None, "#version: 0.2\na b\nab <|endoftext|>\n", TokenizerFileError, "uses the special token"),
    ],
)
def test_malformed_gpt2_files(tmp_path, vocab_text, merges, error, message):
    vocab_path, merges_path = write_gpt2(tmp_path, {"<|endoftext|>": 257}, merges)
    if vocab_text is not None:
        vocab_path.write_text(vocab_text)
    with pytest.raises(error, match=message):
        tokfree.Tokenizer.from_gpt2_files(vocab_path, merges_path)


def test_gpt2_files_missing(tmp_path):
    with pytest.raises(InputFileError, match="nope.json"):
        tokfree.Tokenizer.from_gpt2_files(tmp_path / "nope.json", tmp_path / "merges.txt")


# --- HF tokenizer.json: normalizers, added-token flags, pre-tokenizers --------------------------


def hf_document(tok: tokfree.Tokenizer) -> dict:
    return json.loads(parts_to_hf(tok.to_parts()))


def load_both(document: dict, tmp_path) -> tuple[tokfree.Tokenizer, object]:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return tokfree.Tokenizer.from_file(path), tokenizers.Tokenizer.from_file(str(path))


def assert_same(tok, hf, texts: list[str]) -> None:
    mine = tok.encode_batch(texts, allowed_special="all")
    theirs = [encoding.ids for encoding in hf.encode_batch(texts, add_special_tokens=False)]
    for text, a, b in zip(texts, mine, theirs):
        assert a == b, text


NORMALIZATION_TEXTS = [
    "cafe\u0301 cafe\u0301<|endoftext|>\u0301 re\u0301sume\u0301",  # decomposed accents, one right after a special token
    "ﬁne ①②③ ＡＢＣ ｶﾀｶﾅ ㍿ x²",  # compatibility characters (NFKC changes them, NFC does not)
    "한국어 \u1100\u1161\u11a8 Ω Å K",  # Hangul jamo compose; singleton decompositions
    "a\u0323\u0302 q\u0307\u0323 \u1e0b\u0323",  # combining marks in non-canonical order
    "<|endoftext|>e\u0301<pad>",
]


@pytest.mark.parametrize("form", ["NFC", "NFKC"])
def test_normalizers_match_hf(trained, documents, form, tmp_path):
    document = hf_document(trained("gpt2"))
    document["normalizer"] = {"type": form}
    tok, hf = load_both(document, tmp_path)
    assert tok.normalizer == form
    assert_same(tok, hf, NORMALIZATION_TEXTS + documents[-60:])
    # A one-step Sequence is the same normalizer; the export writes it back as the bare form.
    document["normalizer"] = {"type": "Sequence", "normalizers": [{"type": form}]}
    again, _ = load_both(document, tmp_path)
    assert again.normalizer == form and json.loads(parts_to_hf(again.to_parts()))["normalizer"] == {"type": form}
    assert tok.encode_batch(documents[:20]) == again.encode_batch(documents[:20])
    with pytest.raises(TokfreeError, match="offsets=True is not available"):
        tok.encode("abc", offsets=True)


def test_normalizer_refuses_characters_whose_tables_differ(trained, tmp_path):
    document = hf_document(trained("gpt2"))
    document["normalizer"] = {"type": "NFKC"}
    tok, _ = load_both(document, tmp_path)
    with pytest.raises(TokfreeError, match=r"U\+32FF"):
        tok.encode("era \u32ff")
    with pytest.raises(TokfreeError, match=r"U\+1AC1"):
        tok.encode_batch(["fine", "a\u1ac1"])


def test_unstable_sets_cover_every_difference_from_hf():
    """Every code point whose NFC/NFKC differs between Python's tables and HF's is in UNSTABLE.

    Each probe is a line of its own; lines are joined by "\\n", which never composes or reorders,
    so one call normalizes all probes."""
    from tokfree.normalize import UNSTABLE

    code_points = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000 and cp != 0x0A]
    single, decomposed = (lambda c: c), (lambda c: unicodedata.normalize("NFD", c))
    # Mark ordering is the same in both forms, so the two ordering probes run once (for NFC).
    ordering = [lambda c: "a" + c + "\u0334", lambda c: "a\u0345" + c]
    for form, probes in (("NFC", [single, decomposed, *ordering]), ("NFKC", [single, decomposed])):
        hf = getattr(tokenizers.normalizers, form)()
        for probe in probes:
            lines = [probe(chr(cp)) for cp in code_points]
            theirs = hf.normalize_str("\n".join(lines)).split("\n")
            ours = [unicodedata.normalize(form, line) for line in lines]
            differing = {cp for cp, a, b in zip(code_points, ours, theirs) if a != b}
            assert differing <= UNSTABLE[form], sorted(hex(cp) for cp in differing - UNSTABLE[form])[:10]


def test_added_token_flags_match_hf_and_survive_export(trained, tmp_path):
    document = hf_document(trained("gpt2"))
    document["normalizer"] = {"type": "NFC"}
    eot, pad = document["added_tokens"]
    pad["normalized"] = True  # matched in the normalized text
    pad["special"] = False
    tok, hf = load_both(document, tmp_path)
    assert tok.to_parts().normalized_tokens == ("<pad>",) and tok.to_parts().non_special_tokens == ("<pad>",)
    assert_same(tok, hf, NORMALIZATION_TEXTS + ["x<pad>y <|endoftext|><pad>", "<pa\u0064>"])
    assert json.loads(parts_to_hf(tok.to_parts()))["added_tokens"] == document["added_tokens"]
    # Special text between normalized pieces follows the tiktoken policy like everywhere else.
    with pytest.raises(tokfree.errors.SpecialTokenError, match="<pad>"):
        tok.encode("a <pad>")
    assert pad["id"] not in tok.encode("a <pad> <|endoftext|>", disallowed_special=())
    # The tokfree format keeps every flag.
    tok.save(tmp_path / "native.json", format="tokfree")
    assert tokfree.Tokenizer.from_file(tmp_path / "native.json").to_parts() == tok.to_parts()


def test_split_removed_inverted_preset_is_accepted(trained, documents, tmp_path):
    document = hf_document(trained("gpt4"))
    split = document["pre_tokenizer"]["pretokenizers"][0]
    split["behavior"], split["invert"] = "Removed", True
    tok, hf = load_both(document, tmp_path)
    assert tok.pre_tokenizer == "gpt4"
    assert_same(tok, hf, documents[:40])


def _refused(document: dict, tmp_path, message: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=message):
        tokfree.Tokenizer.from_file(path)


BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}


@pytest.mark.parametrize(
    "normalizer, message",
    [
        ({"type": "Lowercase"}, "normalizer 'Lowercase' is not supported"),
        ({"type": "NFD"}, "normalizer 'NFD' is not supported"),
        ({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}, r"Sequence\['NFC', 'Lowercase'\]"),
        ({"type": "Replace", "pattern": {"String": " "}, "content": "_"}, "'Replace'"),
    ],
)
def test_unsupported_normalizers_are_refused(trained, tmp_path, normalizer, message):
    document = hf_document(trained("gpt2"))
    document["normalizer"] = normalizer
    _refused(document, tmp_path, message)


@pytest.mark.parametrize(
    "pre_tokenizer, message",
    [
        ({"type": "Digits", "individual_digits": True}, "'Digits'"),
        ({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}, "'Metaspace'"),
        ({**BYTE_LEVEL, "add_prefix_space": True}, "add_prefix_space"),
        ({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, BYTE_LEVEL]}, "'Digits' before ByteLevel"),
        (
            {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Isolated", "invert": False}, {**BYTE_LEVEL, "use_regex": True}]},
            "GPT-2 regex after a Split",
        ),
        (
            {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "MergedWithPrevious", "invert": False}, BYTE_LEVEL]},
            "behavior='MergedWithPrevious'",
        ),
        (
            {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "[a-z]+"}, "behavior": "Removed", "invert": True}, BYTE_LEVEL]},
            "drops text the regex does not match",
        ),
    ],
)
def test_unsupported_pre_tokenizers_are_refused(trained, tmp_path, pre_tokenizer, message):
    document = hf_document(trained("gpt2"))
    document["pre_tokenizer"] = pre_tokenizer
    _refused(document, tmp_path, message)


@pytest.mark.parametrize("flag", ["lstrip", "rstrip", "single_word"])
def test_added_token_strip_and_word_flags_are_refused_by_name(trained, tmp_path, flag):
    document = hf_document(trained("gpt2"))
    document["added_tokens"][1][flag] = True
    _refused(document, tmp_path, rf"added_tokens\[1\]\.{flag} is true for '<pad>'")


def test_added_tokens_that_hf_matches_in_two_passes_are_refused(trained, tmp_path):
    document = hf_document(trained("gpt2"))
    document["added_tokens"][1]["content"] = "<|endoftext|>x"  # overlaps <|endoftext|>
    document["model"]["vocab"]["<|endoftext|>x"] = document["added_tokens"][1]["id"]
    del document["model"]["vocab"]["<pad>"]
    document["added_tokens"][1]["normalized"] = True
    _refused(document, tmp_path, "can overlap")
    # A normalized token that its normalizer would change: HF matches another string.
    document = hf_document(trained("gpt2"))
    document["normalizer"] = {"type": "NFKC"}
    document["added_tokens"][1].update(content="<ﬁ>", normalized=True)
    document["model"]["vocab"]["<ﬁ>"] = document["model"]["vocab"].pop("<pad>")
    _refused(document, tmp_path, "changes under NFKC")


def test_to_hf_of_merge_by_rank_lists_every_split(tmp_path):
    entries = byte_entries() + [(b"bc", 256), (b"ab", 257), (b"abc", 258)]
    write_ranks(tmp_path / "r.tiktoken", entries)
    tok = tokfree.Tokenizer.from_tiktoken(tmp_path / "r.tiktoken", pre_tokenizer="gpt2")
    merges = json.loads(parts_to_hf(tok.to_parts()))["model"]["merges"]
    # abc (rank 258) is made by (a, bc) and, under tiktoken's rule, also by (ab, c): both listed, by rank order of the sides.
    assert merges == [["b", "c"], ["a", "b"], ["a", "bc"], ["ab", "c"]]
    hf = tok.to_hf()
    reference = tiktoken.Encoding("r", pat_str=GPT2_PATTERN, mergeable_ranks=dict(entries), special_tokens={})
    for text in ["abc", "abcabc", "aabcc", "zabcab"]:
        assert tok.encode(text) == hf.encode(text).ids == reference.encode_ordinary(text)
    assert bytes_to_unicode(b"ab") == "ab"


def test_gpt2_hub_style_tokenizer_json(tmp_path):
    """GPT-2's tokenizer.json as HF ships it: untyped model, legacy "a b" merges with a #version
    entry, <|endoftext|> normalized, a ByteLevel post-processor."""
    from conftest import ROOT

    files = tokfree.Tokenizer.from_gpt2_files(ROOT / "data/gpt2/encoder.json", ROOT / "data/gpt2/vocab.bpe")
    document = hf_document(files)
    model = document["model"]
    del model["type"], model["ignore_merges"], model["byte_fallback"]
    model.update(continuing_subword_prefix="", end_of_word_suffix="")
    model["merges"] = ["#version: 0.2"] + [f"{left} {right}" for left, right in model["merges"]]
    document["added_tokens"][0]["normalized"] = True
    document["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}
    document["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False}
    tok, hf = load_both(document, tmp_path)
    assert tok.to_parts().merges == files.to_parts().merges and tok.pre_tokenizer == "gpt2"
    texts = [*NORMALIZATION_TEXTS, "Hello  world!! it's 2024\n\n\tdone <|endoftext|>", "ſ'S 'll I'M"]
    assert_same(tok, hf, texts)
    assert tok.encode_batch(texts, allowed_special="all") == files.encode_batch(texts, allowed_special="all")
