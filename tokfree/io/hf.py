"""Hugging Face `tokenizer.json` (v1.0) for byte-level BPE: read into `TokenizerParts`, write from them.

Reading accepts what tokfree reproduces exactly and refuses the rest with a `TokenizerFileError`
naming the field, so a file never encodes differently in silence. Accepted: a BPE model (typed or
legacy untyped) over the full 256-byte alphabet, merges as pairs or legacy "a b" strings,
`ignore_merges`; a `ByteLevel` pre-tokenizer (add_prefix_space false; `use_regex` true is the
"gpt2" preset) alone or in a `Sequence` after one `Split` (a regex or a literal string, behavior
Isolated; or Removed with invert for a preset regex, which matches every character); normalizer
none, NFC or NFKC (alone or as a one-step `Sequence`); no truncation or padding; added tokens with
their `special` and `normalized` flags (`lstrip`, `rstrip`, `single_word` are refused by name).
Writing produces a file HF `tokenizers` loads and encodes identically; the same parts always give
byte-identical text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tokfree.errors import TokenizerFileError, TokfreeError
from tokfree.io.bytelevel import bytes_to_unicode, unicode_to_bytes
from tokfree.io.parts import TokenizerParts
from tokfree.normalize import FORMS, normalize
from tokfree.pretokenize import PRESETS

__all__ = ["check_added_tokens", "parts_from_hf", "parts_to_hf"]

_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}


def _pre_tokenizer_json(pre_tokenizer: str) -> dict[str, Any]:
    if pre_tokenizer == "gpt2":
        # HF's built-in ByteLevel regex is exactly the GPT-2 pattern.
        return {**_BYTE_LEVEL, "use_regex": True}
    if pre_tokenizer == "none":
        return {**_BYTE_LEVEL, "use_regex": False}
    pattern = PRESETS.get(pre_tokenizer) or pre_tokenizer
    split = {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}
    return {"type": "Sequence", "pretokenizers": [split, {**_BYTE_LEVEL, "use_regex": False}]}


def _can_overlap(first: str, second: str) -> bool:
    """True if some text holds occurrences of `first` and `second` that share a character."""
    if first in second or second in first:
        return True
    return any(first.endswith(second[:k]) or second.endswith(first[:k]) for k in range(1, min(len(first), len(second))))


def check_added_tokens(parts: TokenizerParts, where: str) -> None:
    """Refuses added-token flags whose HF meaning tokfree would not reproduce.

    HF matches `normalized: false` tokens in the raw text first and `normalized: true` tokens in the
    normalized text after; tokfree matches all special tokens in one leftmost-longest pass. The two
    agree when no token of one kind can overlap a token of the other kind in any text, and (with a
    normalizer) when normalizing a `normalized: true` token leaves it unchanged.

    Raises:
        TokenizerFileError: naming the tokens and the fix.
    """
    contents = {content for content, _ in parts.special_tokens}
    if parts.normalizer is not None and parts.normalizer not in FORMS:
        raise TokenizerFileError(f"{where}: normalizer {parts.normalizer!r} is not supported; use one of {', '.join(FORMS)} or None")
    for field in ("normalized_tokens", "non_special_tokens"):
        stray = sorted(set(getattr(parts, field)) - contents)
        if stray:
            raise TokenizerFileError(f"{where}: {field} names {stray[0]!r}, which is not one of the special tokens")
    normalized = set(parts.normalized_tokens)
    raw = contents - normalized
    for token in sorted(normalized):
        clash = next((other for other in sorted(raw) if _can_overlap(token, other)), None)
        if clash is not None:
            raise TokenizerFileError(
                f'{where}: the added tokens {token!r} ("normalized": true) and {clash!r} ("normalized": false) can overlap '
                "in a text; HF matches them in two passes, tokfree in one, which may pick differently; give both the same "
                '"normalized" flag'
            )
        if parts.normalizer is not None:
            try:
                stable = normalize(token, parts.normalizer) == token
            except TokfreeError:
                stable = False
            if not stable:
                raise TokenizerFileError(
                    f'{where}: the added token {token!r} is "normalized": true but changes under {parts.normalizer}; '
                    f'HF would match its normalized form; write the token in {parts.normalizer} form or set "normalized": false'
                )


def _hf_merges(parts: TokenizerParts, strings: dict[int, str]) -> list[list[str]]:
    """The merges as HF pairs; for `merge_by_rank`, every split of each token, grouped by rank.

    HF's own converter for tiktoken files writes the same list: per token in rank order, every
    split into two tokens, sorted by the ranks of the two sides. HF then breaks ties between
    different splits of one token by this order, tiktoken by position; they differ only when two
    overlapping splits of one token are both present in a piece (the parity tests find none in
    real text).
    """
    if not parts.merge_by_rank:
        return [[strings[left], strings[right]] for left, right in parts.merges]
    by_bytes = {token: token_id for token_id, token in parts.vocab}
    token_bytes = dict(parts.vocab)
    pairs: list[list[str]] = []
    made: set[bytes] = set()
    for left, right in parts.merges:
        merged = token_bytes[left] + token_bytes[right]
        if merged in made:
            raise TokenizerFileError(
                f"cannot write tokenizer.json: the token {merged!r} is made by more than one merge, which has no HF "
                "equivalent under tiktoken's rank rule (merge_by_rank); save it with format='tokfree'"
            )
        made.add(merged)
        splits = []
        for cut in range(1, len(merged)):
            a, b = by_bytes.get(merged[:cut]), by_bytes.get(merged[cut:])
            if a is not None and b is not None:
                splits.append((a, b))
        pairs.extend([strings[a], strings[b]] for a, b in sorted(splits))
    return pairs


def _normalizer_json(normalizer: str | None) -> dict[str, Any] | None:
    return None if normalizer is None else {"type": normalizer}


def parts_to_hf(parts: TokenizerParts) -> str:
    """The `tokenizer.json` text for `parts` (deterministic: same parts, same bytes)."""
    specials = {content: token_id for content, token_id in parts.special_tokens}
    strings = {token_id: bytes_to_unicode(token) for token_id, token in parts.vocab}
    non_special, normalized = set(parts.non_special_tokens), set(parts.normalized_tokens)
    # HF keeps added tokens in the model vocab too and re-derives their ids from it on load.
    vocab_entries = sorted([*((i, s) for i, s in strings.items()), *((i, c) for c, i in specials.items())])
    document = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": token_id,
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": content in normalized,
                "special": content not in non_special,
            }
            for content, token_id in sorted(parts.special_tokens, key=lambda item: item[1])
        ],
        "normalizer": _normalizer_json(parts.normalizer),
        "pre_tokenizer": _pre_tokenizer_json(parts.pre_tokenizer),
        "post_processor": None,
        "decoder": {**_BYTE_LEVEL, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": parts.ignore_merges,
            "vocab": {string: token_id for token_id, string in vocab_entries},
            "merges": _hf_merges(parts, strings),
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _fail(path: str, field: str, problem: str, fix: str) -> TokenizerFileError:
    return TokenizerFileError(f"{path}: {field} {problem}; {fix}")


def _pre_tokenizer_from_json(node: Any, path: str) -> str:
    """The tokfree pre-tokenizer (preset name or regex) equivalent to a `pre_tokenizer` node."""
    unsupported = "tokfree reads ByteLevel, or Sequence[Split(Regex, Isolated), ByteLevel(use_regex=false)]"
    if not isinstance(node, dict):
        raise _fail(path, "pre_tokenizer", f"is {node!r}", f"a byte-level BPE needs a ByteLevel pre-tokenizer ({unsupported})")
    kind = node.get("type")
    if kind == "ByteLevel":
        _check_byte_level(node, path)
        return "gpt2" if node.get("use_regex", True) else "none"
    if kind == "Sequence":
        steps = node.get("pretokenizers")
        if isinstance(steps, list) and len(steps) == 1:
            return _pre_tokenizer_from_json(steps[0], path)
        if isinstance(steps, list) and len(steps) == 2 and isinstance(steps[1], dict) and steps[1].get("type") == "ByteLevel":
            split, byte_level = steps
            _check_byte_level(byte_level, path)
            if byte_level.get("use_regex", True):
                raise _fail(path, "pre_tokenizer", "runs the GPT-2 regex after a Split", unsupported)
            return _split_pattern(split, path)
    raise _fail(path, "pre_tokenizer", f"of type {kind!r} (or this combination) is not supported yet", unsupported)


def _check_byte_level(node: dict[str, Any], path: str) -> None:
    if node.get("add_prefix_space"):
        raise _fail(
            path,
            "pre_tokenizer ByteLevel.add_prefix_space",
            "is true, which tokfree does not reproduce yet",
            "train with ByteLevel(add_prefix_space=False), or prepend the space to your text yourself",
        )


def _split_pattern(split: Any, path: str) -> str:
    if not isinstance(split, dict) or split.get("type") != "Split":
        kind = split.get("type") if isinstance(split, dict) else split
        raise _fail(path, "pre_tokenizer", f"step {kind!r} before ByteLevel is not a Split", "tokfree reproduces Split(Regex, Isolated) before ByteLevel")
    behavior, invert = split.get("behavior"), split.get("invert", False)
    removed_inverted = behavior == "Removed" and invert is True
    if not (behavior == "Isolated" and invert is False) and not removed_inverted:
        raise _fail(
            path, "pre_tokenizer Split", f"has behavior={behavior!r}, invert={invert!r}",
            "tokfree reproduces behavior 'Isolated' with invert false (or 'Removed' with invert true for a preset regex)",
        )
    pattern = split.get("pattern", {})
    if isinstance(pattern, dict) and isinstance(pattern.get("Regex"), str):
        regex = pattern["Regex"]
    elif isinstance(pattern, dict) and isinstance(pattern.get("String"), str):
        regex = re.escape(pattern["String"])
    else:
        raise _fail(path, "pre_tokenizer Split.pattern", f"is {pattern!r}", 'write {"Regex": "..."} or {"String": "..."}')
    for name, preset_pattern in PRESETS.items():
        if preset_pattern == regex:
            return name
    if removed_inverted:
        # Removed + invert keeps the matches and drops the text between them: the same pieces only
        # when the regex matches every character, which tokfree knows for its presets alone.
        raise _fail(
            path, "pre_tokenizer Split", "is 'Removed' with invert true over a custom regex, which drops text the regex does not match",
            "use behavior 'Isolated' with invert false (tokfree keeps unmatched text as its own piece)",
        )
    return regex


def _normalizer_from_json(node: Any, path: str) -> str | None:
    """None, "NFC" or "NFKC" for a `normalizer` node; anything else is refused by name."""
    if node is None:
        return None
    kind = node.get("type") if isinstance(node, dict) else None
    if kind in FORMS:
        return kind
    if kind == "Sequence" and isinstance(node.get("normalizers"), list) and len(node["normalizers"]) <= 1:
        steps = node["normalizers"]
        return _normalizer_from_json(steps[0], path) if steps else None
    kinds = [step.get("type") if isinstance(step, dict) else step for step in node.get("normalizers", [])] if kind == "Sequence" else None
    shown = f"Sequence{kinds}" if kinds is not None else repr(kind if kind is not None else node)
    raise _fail(
        path, "normalizer", f"{shown} is not supported", f"tokfree reproduces {' and '.join(FORMS)} (alone or as a one-step Sequence), or none",
    )


def _checked_model(model: Any, path: str) -> dict[str, Any]:
    if not isinstance(model, dict):
        raise _fail(path, "model", "is missing", "a tokenizer.json needs a BPE model with vocab and merges")
    if model.get("type", "BPE") != "BPE":
        raise _fail(path, "model.type", f"is {model.get('type')!r}", "tokfree reads byte-level BPE models only")
    if "vocab" not in model or "merges" not in model:
        raise _fail(path, "model", "has no vocab or merges", "a BPE model needs both")
    if model.get("dropout") not in (None, 0, 0.0):
        raise _fail(path, "model.dropout", f"is {model['dropout']!r}", "dropout makes encoding random; set it to null")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key) not in (None, ""):
            raise _fail(path, f"model.{key}", f"is {model[key]!r}", "byte-level BPE uses none; set it to null")
    if not isinstance(model["vocab"], dict) or not isinstance(model["merges"], list):
        raise _fail(path, "model", "vocab must be an object and merges a list", "fix the file")
    return model


def _merge_pairs(merges: list[Any], path: str) -> list[tuple[str, str]]:
    pairs = []
    for line, merge in enumerate(merges):
        if isinstance(merge, str):
            if merge.startswith("#version"):
                continue
            parts = merge.split(" ")
            if len(parts) != 2:
                raise _fail(path, f"model.merges[{line}]", f"{merge!r} does not split into two tokens", 'write "left right" or ["left", "right"]')
            pairs.append((parts[0], parts[1]))
        elif isinstance(merge, list) and len(merge) == 2 and all(isinstance(side, str) for side in merge):
            pairs.append((merge[0], merge[1]))
        else:
            raise _fail(path, f"model.merges[{line}]", f"is {merge!r}", 'write "left right" or ["left", "right"]')
    return pairs


def _special_tokens(document: dict[str, Any], vocab: dict[str, int], path: str) -> tuple[list[tuple[str, int]], set[str], set[str]]:
    """Added tokens with the ids HF would assign on load (refusing files whose ids disagree), and
    the contents HF marks `"special": false` and `"normalized": true`."""
    added = document.get("added_tokens") or []
    if not isinstance(added, list):
        raise _fail(path, "added_tokens", "is not a list", "fix the file")
    non_special: set[str] = set()
    normalized: set[str] = set()
    specials: list[tuple[str, int]] = []
    assigned: dict[str, int] = {}
    next_id = len(vocab)
    for number, token in enumerate(added):
        if not isinstance(token, dict) or not isinstance(token.get("content"), str) or not isinstance(token.get("id"), int):
            raise _fail(path, f"added_tokens[{number}]", f"is {token!r}", "each added token needs an integer id and a content string")
        content = token["content"]
        if not content:
            continue  # HF ignores empty added tokens
        for flag in ("lstrip", "rstrip", "single_word"):
            if token.get(flag):
                raise _fail(
                    path, f"added_tokens[{number}].{flag}", f"is true for {content!r}, which tokfree does not reproduce",
                    f"set {flag} to false (strip whitespace around the token in your text yourself)",
                )
        for flag in ("special", "normalized"):
            if not isinstance(token.get(flag, False), bool):
                raise _fail(path, f"added_tokens[{number}].{flag}", f"is {token.get(flag)!r}", "flags are true or false")
        if token.get("special", True) is False:
            non_special.add(content)
        if token.get("normalized", False):
            normalized.add(content)
        if content in assigned:
            expected = assigned[content]
        elif content in vocab:
            expected = vocab[content]
        else:
            expected = next_id
        if expected != token["id"]:
            raise _fail(
                path, f"added_tokens[{number}]", f"{content!r} has id {token['id']} but HF would load it as id {expected}",
                "give added tokens the ids HF assigns (their vocab id, or the next free id after the vocab)",
            )
        if expected == next_id:
            next_id += 1
        assigned[content] = expected
        next_id = max(next_id, expected + 1)
        specials.append((content, expected))
    return sorted(set(specials), key=lambda item: item[1]), non_special, normalized


def parts_from_hf(document: Any, path: str = "tokenizer.json") -> TokenizerParts:
    """`TokenizerParts` from a parsed `tokenizer.json` document.

    Raises:
        TokenizerFileError: a malformed file, or one using a feature tokfree cannot reproduce exactly.
    """
    if not isinstance(document, dict):
        raise _fail(path, "the top level", "is not a JSON object", "pass a tokenizer.json file")
    if document.get("version", "1.0") != "1.0":
        raise _fail(path, "version", f"is {document['version']!r}", 'tokfree reads tokenizer.json version "1.0"')
    for key in ("truncation", "padding"):
        if document.get(key) is not None:
            raise _fail(path, key, "is set, which tokfree does not reproduce yet", f"set {key} to null")
    if document.get("post_processor") not in (None,) and (document["post_processor"] or {}).get("type") != "ByteLevel":
        raise _fail(
            path, "post_processor", f"of type {document['post_processor'].get('type')!r} adds tokens tokfree would not",
            "set post_processor to null (add BOS/EOS ids yourself)",
        )
    decoder = document.get("decoder")
    if decoder is not None and (not isinstance(decoder, dict) or decoder.get("type") != "ByteLevel"):
        raise _fail(path, "decoder", f"is {decoder!r}", "tokfree decodes byte-level BPE (decoder ByteLevel or null)")
    model = _checked_model(document.get("model"), path)
    pre_tokenizer = _pre_tokenizer_from_json(document.get("pre_tokenizer"), path)
    normalizer = _normalizer_from_json(document.get("normalizer"), path)
    vocab: dict[str, int] = model["vocab"]
    special_tokens, non_special, normalized = _special_tokens(document, vocab, path)
    special_ids = {token_id for _, token_id in special_tokens}

    token_bytes: dict[str, bytes] = {}
    for string, token_id in vocab.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise _fail(path, f"model.vocab[{string!r}]", f"has id {token_id!r}", "ids are non-negative integers")
        if token_id in special_ids:
            continue
        decoded = unicode_to_bytes(string)
        if decoded is None:
            raise _fail(
                path, f"model.vocab[{string!r}]", "has characters outside the byte-level alphabet",
                "tokfree reads byte-level BPE vocabularies (GPT-2 byte-to-unicode strings)",
            )
        token_bytes[string] = decoded
    merges = []
    for rank, (left, right) in enumerate(_merge_pairs(model["merges"], path)):
        for side in (left, right, left + right):
            if side not in vocab:
                raise _fail(path, f"model.merges[{rank}]", f"({left!r}, {right!r}) uses {side!r}, which is not in the vocab", "every merge and its result must be vocab tokens")
            if vocab[side] in special_ids:
                raise _fail(path, f"model.merges[{rank}]", f"({left!r}, {right!r}) uses the added token {side!r}", "merges may not build added tokens")
        merges.append((vocab[left], vocab[right]))
    model_vocab = sorted((token_id, token_bytes[string]) for string, token_id in vocab.items() if token_id not in special_ids)
    parts = TokenizerParts(
        pre_tokenizer=pre_tokenizer,
        vocab=model_vocab,
        merges=merges,
        special_tokens=special_tokens,
        ignore_merges=bool(model.get("ignore_merges", False)),
        normalizer=normalizer,
        non_special_tokens=tuple(sorted(non_special)),
        normalized_tokens=tuple(sorted(normalized)),
    )
    check_added_tokens(parts, path)
    return parts
