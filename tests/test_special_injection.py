"""Special-token injection: user text holding special-token strings never becomes special ids
unless the caller allows it, in every encode path.

The policy is tiktoken's: by default (`disallowed_special="all"`) special-token text in the input
raises `SpecialTokenError`; `allowed_special` names the ones that become their id; with
`disallowed_special=()` the rest is encoded as plain text. Expected plain-text ids are built by
hand from the bytes (the fixture has no merges across `<`, `|` and letters), never read back
from the tokenizer under test.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import tokfree
from tokfree import cli
from tokfree.errors import SpecialTokenError
from tokfree.io.parts import TokenizerParts

ROOT = Path(__file__).resolve().parent.parent
EOT, END = "<|endoftext|>", "<|end|>"  # END is a prefix of neither, but both start with "<|end"
EOT_ID, END_ID, PAD_ID = 256, 257, 258
PLACES = {"start": EOT + "ab", "middle": "ab" + EOT + "ab", "end": "ab" + EOT}


def plain(text: str) -> list[int]:
    """The ids of `text` as plain text: one id per byte (the vocabulary has no merges)."""
    return list(text.encode("utf-8"))


def special_ids(text: str) -> list[int]:
    """Hand-computed ids of `text` with every special token allowed (leftmost-longest)."""
    ids: list[int] = []
    at = 0
    while at < len(text):
        for content, token_id in ((EOT, EOT_ID), (END, END_ID), ("<pad>", PAD_ID)):
            if text.startswith(content, at):
                ids.append(token_id)
                at += len(content)
                break
        else:
            ids.extend(plain(text[at]))
            at += 1
    return ids


@pytest.fixture(scope="module", params=[None, "NFC"], ids=["raw", "normalizer"])
def tok(request) -> tokfree.Tokenizer:
    vocab = [(b, bytes([b])) for b in range(256)]
    parts = TokenizerParts("gpt2", vocab, [], [(EOT, EOT_ID), (END, END_ID), ("<pad>", PAD_ID)])
    return tokfree.Tokenizer(dataclasses.replace(parts, normalizer=request.param))


@pytest.mark.parametrize("place", sorted(PLACES))
def test_default_refuses_special_text_everywhere(tok, place):
    text = PLACES[place]
    with pytest.raises(SpecialTokenError, match=r"<\|endoftext\|>"):
        tok.encode(text)
    with pytest.raises(SpecialTokenError, match=r"<\|endoftext\|>"):
        tok.encode_batch(["fine", text])
    if tok.normalizer is None:
        with pytest.raises(SpecialTokenError, match=r"<\|endoftext\|>"):
            tok.encode(text, offsets=True)


@pytest.mark.parametrize("place", sorted(PLACES))
def test_disallowed_empty_encodes_special_text_as_plain_text(tok, place):
    text = PLACES[place]
    assert tok.encode(text, disallowed_special=()) == plain(text)
    assert tok.encode_batch([text, text], disallowed_special=()) == [plain(text)] * 2
    assert EOT_ID not in tok.encode(text, disallowed_special=())
    if tok.normalizer is None:
        encoding = tok.encode(text, offsets=True, disallowed_special=())
        assert encoding.ids == plain(text)
        assert encoding.offsets == [(i, i + 1) for i in range(len(text.encode()))]


@pytest.mark.parametrize("place", sorted(PLACES))
def test_allowed_special_gives_the_id_only_when_asked(tok, place):
    text = PLACES[place]
    assert tok.encode(text, allowed_special={EOT}) == special_ids(text)
    assert tok.encode(text, allowed_special="all") == special_ids(text)
    assert tok.encode_batch([text], allowed_special={EOT}) == [special_ids(text)]
    if tok.normalizer is None:
        encoding = tok.encode(text, offsets=True, allowed_special={EOT})
        assert encoding.ids == special_ids(text)
        start = text.index(EOT)
        assert encoding.offsets[encoding.ids.index(EOT_ID)] == (start, start + len(EOT))


def test_allowing_one_special_does_not_allow_the_others(tok):
    text = f"a{END}b{EOT}c"
    with pytest.raises(SpecialTokenError, match=r"<\|end\|>"):
        tok.encode(text, allowed_special={EOT})
    ids = tok.encode(text, allowed_special={EOT}, disallowed_special=())
    assert ids == [*plain("a" + END + "b"), EOT_ID, *plain("c")]
    assert tok.encode_batch([text], allowed_special={EOT}, disallowed_special=()) == [ids]


def test_overlapping_and_adjacent_specials(tok):
    """"<|end<|endoftext|>" holds one whole special token; a special token cut in half is none."""
    text = "<|end" + EOT + END + "<|endoftext" + "|>"
    assert tok.encode(text, allowed_special="all") == special_ids(text)
    assert tok.encode(text, allowed_special="all").count(EOT_ID) == 2
    assert tok.encode(text, disallowed_special=()) == plain(text)
    for cut in ("<|endoftext|", "|endoftext|>", "<|endo ftext|>", "<||>"):
        assert tok.encode(cut) == plain(cut)  # no special token in it: nothing to refuse


def test_normalization_does_not_create_special_tokens():
    """NFKC turns fullwidth "＜｜endoftext｜＞" into "<|endoftext|>"; that text came from the user,
    so it stays plain text even when special tokens are allowed (HF matches raw tokens before
    normalizing)."""
    vocab = [(b, bytes([b])) for b in range(256)]
    tok = tokfree.Tokenizer(TokenizerParts("gpt2", vocab, [], [(EOT, EOT_ID)], normalizer="NFKC"))
    fullwidth = "＜｜endoftext｜＞"
    assert fullwidth != EOT
    assert tok.encode(fullwidth) == plain(EOT)
    assert tok.encode(fullwidth, allowed_special="all") == plain(EOT)
    assert tok.encode_batch([fullwidth], allowed_special="all") == [plain(EOT)]


def test_policy_arguments_are_checked(tok):
    with pytest.raises(tokfree.TokfreeError, match="collection"):
        tok.encode("ab", allowed_special=EOT)  # a str would allow each character
    with pytest.raises(tokfree.TokfreeError, match="not a special token"):
        tok.encode("ab", allowed_special={"<|nope|>"})


# --- the command line ----------------------------------------------------------------------------


def test_cli_encode_refuses_special_text_unless_allowed(tmp_path, capsys):
    vocab = [(b, bytes([b])) for b in range(256)]
    path = tmp_path / "tok.json"
    tokfree.Tokenizer(TokenizerParts("gpt2", vocab, [], [(EOT, EOT_ID)])).save(path)
    text = tmp_path / "in.txt"
    text.write_text("ab" + EOT, encoding="utf-8")
    assert cli.main(["encode", "--tokenizer", str(path), str(text)]) == 2
    assert "<|endoftext|>" in capsys.readouterr().err
    assert cli.main(["encode", "--tokenizer", str(path), str(text), "--allow-special"]) == 0
    assert capsys.readouterr().out.split() == [str(i) for i in special_ids("ab" + EOT)]


# --- other encode entry points -------------------------------------------------------------------


def test_token_stream_encodes_special_text_as_plain_text(tok):
    np = pytest.importorskip("numpy")
    from tokfree.training.train_lm import token_stream

    stream = token_stream(tok, ["ab" + EOT, "c"], separator=EOT_ID)
    expected = [EOT_ID, *plain("ab" + EOT), EOT_ID, *plain("c"), EOT_ID]
    assert stream.dtype == np.int64
    assert stream.tolist() == expected  # the only EOT ids are the separators


def test_hybrid_tokenizer_never_matches_special_text():
    from tokfree.trainers.morph import train_hybrid

    hybrid = train_hybrid(
        iter(["ev evler evde"] * 5), ROOT / "data" / "morph" / "turkish", bpe_vocab_size=260,
        special_tokens=("<pad>", "<eos>"), show_progress=False,
    )  # fmt: skip
    specials = set(hybrid.special_tokens.values())
    for text in ("<pad>", "ev<eos>ler", "evler <pad><eos>"):
        ids = hybrid.encode(text)
        assert not specials & set(ids), (text, ids)
        assert hybrid.decode(ids) == text
        assert hybrid.encode_batch([text]) == [ids]
