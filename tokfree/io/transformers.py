"""Hugging Face `transformers` tokenizers: build a `PreTrainedTokenizerFast` from a tokfree
`Tokenizer`, write a `save_pretrained` folder, and read one back.

The bridge is the `tokenizer.json` that `tokfree.io.hf` writes and reads: `to_transformers` wraps
`Tokenizer.to_hf()` and adds what transformers keeps beside it (the named special tokens, the BOS/EOS
template, padding and truncation sides, `model_max_length`), so the ids are HF `tokenizers`' ids,
which equal tokfree's. Reading goes the other way through `parts_from_hf`, after removing what
transformers decides per call (the backend's truncation and padding state) and a post-processor that
adds nothing. It never contacts the Hub: a folder is read from disk, an object through its backend.

It does not handle slow (Python) tokenizers, pairs of texts beyond the template, or chat templates.
`transformers` is imported only when one of these functions runs; `import tokfree` never imports it.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from tokfree.errors import InputFileError, TokenizerFileError, TokfreeError
from tokfree.io.files import read_json
from tokfree.io.hf import parts_from_hf, parts_to_hf
from tokfree.io.parts import TokenizerParts

if TYPE_CHECKING:
    import transformers

    from tokfree.tokenizer import Tokenizer

__all__ = ["DEFAULT_EOS", "TransformersOptions", "parts_from_transformers", "save_pretrained", "to_transformers"]

#: The EOS token `to_transformers` names when the tokenizer has it and `eos_token` is not given
#: (GPT-2, cl100k_base, o200k_base and tokfree's own training examples end documents with it).
DEFAULT_EOS = "<|endoftext|>"

Side = Literal["left", "right"]

# Token texts transformers' own template strings ("<s>:0 $A:0") can hold.
_TEMPLATE_SAFE = re.compile(r"[^\s:]+")


class TransformersOptions(TypedDict, total=False):
    """The keyword options of `Tokenizer.to_transformers` and `Tokenizer.save_pretrained`.

    Every named token must be one of the tokenizer's special tokens (`tok.special_tokens`).

    Attributes:
        bos_token: the BOS token (default None: none).
        eos_token: the EOS token (default `DEFAULT_EOS`, "<|endoftext|>", which applies only when the
            tokenizer has it; None: no EOS token).
        pad_token: the padding token (default None: `padding=True` is refused by transformers).
        unk_token: the unknown token (default None; byte-level BPE never emits one).
        add_bos: prepend the BOS id when transformers is called with `add_special_tokens=True`
            (its default); needs `bos_token`. Default False.
        add_eos: append the EOS id likewise; needs an EOS token. Default False.
        padding_side: "right" (default) or "left": where `padding=True` puts the pad ids.
        truncation_side: "right" (default) or "left": which end `truncation=True` cuts.
        model_max_length: the length `truncation=True` cuts to when no `max_length` is given
            (default None: no limit).
    """

    bos_token: str | None
    eos_token: str | None
    pad_token: str | None
    unk_token: str | None
    add_bos: bool
    add_eos: bool
    padding_side: Side
    truncation_side: Side
    model_max_length: int | None


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise TokfreeError(
            "this needs Hugging Face transformers, which is not installed: pip install tokfree[transformers] "
            "(or pip install transformers)"
        ) from None
    return transformers


def _listed(specials: dict[str, int]) -> str:
    """The special tokens in id order, for error messages."""
    return ", ".join(repr(content) for content in sorted(specials, key=specials.__getitem__)) or "none"


def _named_specials(tok: Tokenizer, names: dict[str, str | None]) -> dict[str, str]:
    """The named special tokens that are set, each checked to be a special token of `tok`."""
    specials = tok.special_tokens
    chosen = {}
    for field, name in names.items():
        if name is None:
            continue
        if not isinstance(name, str):
            raise TokfreeError(f"{field}={name!r}: name a special token by its text (a str), e.g. {field}={DEFAULT_EOS!r}")
        if name not in specials:
            if field == "eos_token" and name == DEFAULT_EOS:
                continue  # the default EOS applies only to tokenizers that have it
            raise TokfreeError(
                f"{field}={name!r} is not a special token of this tokenizer (its special tokens: {_listed(specials)}); name one of "
                f"them, or train with special_tokens=[..., {name!r}] (transformers would add it as a new token, "
                "which changes how its text encodes)"
            )
        chosen[field] = name
    return chosen


def _check_side(name: str, value: object) -> None:
    if value not in ("left", "right"):
        raise TokfreeError(f"{name}={value!r} is not a side; use 'right' or 'left'")


def _template(named: dict[str, str], specials: dict[str, int], add_bos: bool, add_eos: bool) -> dict[str, Any] | None:
    """A `TemplateProcessing` node (tokenizer.json form) that puts BOS before and EOS after each
    sequence, or None for no template. Written as JSON rather than with transformers' or tokenizers'
    "token:0" strings, which cannot hold a token containing ":" or whitespace."""
    for flag, on, field in (("add_bos", add_bos, "bos_token"), ("add_eos", add_eos, "eos_token")):
        if not isinstance(on, bool):
            raise TokfreeError(f"{flag}={on!r} must be True or False")
        if on and field not in named:
            default = f" (the default, {DEFAULT_EOS!r}, is not one of them)" if field == "eos_token" else ""
            raise TokfreeError(
                f"{flag}=True needs the {field} option: name one of this tokenizer's special tokens{default}: {_listed(specials)}"
            )
    if not (add_bos or add_eos):
        return None

    def sequence(name: str, type_id: int) -> list[dict[str, Any]]:
        bos = [{"SpecialToken": {"id": named["bos_token"], "type_id": type_id}}] if add_bos else []
        eos = [{"SpecialToken": {"id": named["eos_token"], "type_id": type_id}}] if add_eos else []
        return [*bos, {"Sequence": {"id": name, "type_id": type_id}}, *eos]

    used = [named[field] for field, on in (("bos_token", add_bos), ("eos_token", add_eos)) if on]
    return {
        "type": "TemplateProcessing",
        "single": sequence("A", 0),
        "pair": sequence("A", 0) + sequence("B", 1),
        "special_tokens": {token: {"id": token, "ids": [specials[token]], "tokens": [token]} for token in used},
    }


def _backend(tok: Tokenizer, template: dict[str, Any] | None) -> Any:
    """The HF `tokenizers.Tokenizer` of `tok` with the template as its post-processor."""
    try:
        import tokenizers
    except ImportError:  # transformers depends on tokenizers; this is a broken install
        raise TokfreeError("transformers needs HF tokenizers, which is not installed: pip install tokfree[transformers]") from None
    try:
        document = json.loads(parts_to_hf(tok.to_parts()))
    except TokenizerFileError as err:
        raise TokenizerFileError(
            f"to_transformers: transformers loads a tokenizer from tokenizer.json, which cannot express this one ({err}); "
            "tokfree still encodes it and saves it with format='tokfree', but transformers cannot load it"
        ) from None
    document["post_processor"] = template
    return tokenizers.Tokenizer.from_str(json.dumps(document))


def to_transformers(
    tok: Tokenizer,
    *,
    bos_token: str | None = None,
    eos_token: str | None = DEFAULT_EOS,
    pad_token: str | None = None,
    unk_token: str | None = None,
    add_bos: bool = False,
    add_eos: bool = False,
    padding_side: Side = "right",
    truncation_side: Side = "right",
    model_max_length: int | None = None,
) -> transformers.PreTrainedTokenizerFast:
    """A `transformers.PreTrainedTokenizerFast` that encodes like `tok` (see `Tokenizer.to_transformers`).

    Raises:
        TokfreeError: transformers is missing, an option is invalid, or a named token is not one of
            `tok`'s special tokens.
        TokenizerFileError: `tok` cannot be written as tokenizer.json (save it with format="tokfree").
    """
    transformers_module = _import_transformers()
    _check_side("padding_side", padding_side)
    _check_side("truncation_side", truncation_side)
    if model_max_length is not None and (not isinstance(model_max_length, int) or isinstance(model_max_length, bool) or model_max_length < 1):
        raise TokfreeError(f"model_max_length={model_max_length!r} must be a positive int (or None for no limit)")
    named = _named_specials(tok, {"bos_token": bos_token, "eos_token": eos_token, "pad_token": pad_token, "unk_token": unk_token})
    backend = _backend(tok, _template(named, tok.special_tokens, add_bos, add_eos))
    options: dict[str, Any] = {
        "padding_side": padding_side,
        "truncation_side": truncation_side,
        # tok.decode keeps the text exactly; transformers' clean-up would turn "a ." into "a.".
        "clean_up_tokenization_spaces": False,
        # transformers otherwise names no tokens; unset ones are passed as None so none is invented.
        "bos_token": None,
        "eos_token": None,
        "pad_token": None,
        "unk_token": None,
        **named,
    }
    if model_max_length is not None:
        options["model_max_length"] = model_max_length
    if all(_TEMPLATE_SAFE.fullmatch(named[field]) for field in named if field in ("bos_token", "eos_token")):
        # transformers 5 then reports add_bos_token/add_eos_token truly; naming them makes it rebuild the
        # same template from "token:0" strings, which break on ":" and whitespace (then ours is kept as is).
        options.update(add_bos_token=add_bos, add_eos_token=add_eos)
    return transformers_module.PreTrainedTokenizerFast(tokenizer_object=backend, **options)


def save_pretrained(tok: Tokenizer, path: str | os.PathLike[str], **options: Any) -> list[str]:
    """Writes the folder `transformers.AutoTokenizer.from_pretrained(path)` loads (see `Tokenizer.save_pretrained`).

    Returns:
        The paths of the files written.
    """
    written = to_transformers(tok, **options).save_pretrained(os.fspath(path))
    return [os.fspath(name) for name in written]


def _adds_tokens(processor: Any) -> bool:
    """True if the post-processor node inserts ids into a single sequence."""
    if processor is None:
        return False
    kind = processor.get("type") if isinstance(processor, dict) else None
    if kind == "ByteLevel":
        return False
    if kind == "Sequence" and isinstance(processor.get("processors"), list):
        return any(_adds_tokens(step) for step in processor["processors"])
    if kind == "TemplateProcessing" and isinstance(processor.get("single"), list):
        return any(not (isinstance(piece, dict) and set(piece) == {"Sequence"}) for piece in processor["single"])
    return True


def _template_tokens(processor: Any) -> list[str]:
    """The special tokens a post-processor node names (for the error message)."""
    if not isinstance(processor, dict):
        return []
    if processor.get("type") == "Sequence":
        return [token for step in processor.get("processors") or [] for token in _template_tokens(step)]
    found = list(processor.get("special_tokens") or {})
    found += [value[0] for key in ("cls", "sep") if isinstance(value := processor.get(key), list) and value]
    return found


def _document_from_source(source: Any) -> tuple[dict[str, Any], str]:
    """The tokenizer.json document of a transformers tokenizer or a save_pretrained folder, and its name."""
    if isinstance(source, (str, os.PathLike)):
        folder = os.fspath(source)
        if not os.path.isdir(folder):
            raise InputFileError(
                f"{folder!r} is not a folder; pass the folder save_pretrained wrote (tokfree never downloads: fetch a Hub "
                "tokenizer with transformers first), or load a tokenizer.json file with Tokenizer.from_file"
            )
        path = os.path.join(folder, "tokenizer.json")
        if not os.path.isfile(path):
            raise InputFileError(
                f"{folder!r} has no tokenizer.json (the fast-tokenizer file tokfree reads); write one with "
                f"transformers.AutoTokenizer.from_pretrained({folder!r}).save_pretrained({folder!r}), which converts a "
                "slow tokenizer where transformers can"
            )
        return read_json(path, "tokenizer.json file"), path
    backend = getattr(source, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "to_str"):
        raise TokfreeError(
            f"from_transformers takes a transformers PreTrainedTokenizerFast or a save_pretrained folder, got "
            f"{type(source).__name__} without a backend_tokenizer; load the fast tokenizer "
            "(AutoTokenizer.from_pretrained(path, use_fast=True)) or pass its folder"
        )
    return json.loads(backend.to_str()), f"{type(source).__name__} {getattr(source, 'name_or_path', '') or ''}".strip()


def parts_from_transformers(source: Any, *, ignore_post_processor: bool = False) -> TokenizerParts:
    """`TokenizerParts` of a transformers fast tokenizer or a save_pretrained folder (see `Tokenizer.from_transformers`).

    Raises:
        InputFileError: a path that is not a folder, or a folder without tokenizer.json.
        TokenizerFileError: a post-processor that adds ids (unless `ignore_post_processor`), or
            anything `Tokenizer.from_file` refuses in a tokenizer.json.
        TokfreeError: `source` is neither a fast tokenizer nor a path.
    """
    document, where = _document_from_source(source)
    if not isinstance(document, dict):
        return parts_from_hf(document, where)  # refuses it with the HF reader's message
    # transformers enables truncation and padding on its backend for each call and saves whatever the
    # last call left; they are call options there, not part of the tokenizer.
    document = {**document, "truncation": None, "padding": None}
    processor = document.get("post_processor")
    if _adds_tokens(processor):
        if not ignore_post_processor:
            tokens = _template_tokens(processor)
            raise TokenizerFileError(
                f"{where}: post_processor {processor.get('type') if isinstance(processor, dict) else processor!r} adds "
                f"{tokens or 'tokens'} around each text (transformers' add_special_tokens=True), which a tokfree Tokenizer "
                "does not do; pass ignore_post_processor=True to load it without them (its ids then equal transformers' "
                "with add_special_tokens=False), and add those ids yourself"
            )
    document["post_processor"] = None
    return parts_from_hf(document, where)
