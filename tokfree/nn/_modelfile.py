"""Config validation and the safetensors + JSON folder format shared by the word-level models (private).

The format is `CausalLM`'s (`tokfree/nn/lm.py`): ``config.json`` = ``{"format": ..., "version": ...,
"config": {...}}`` with sorted keys, and ``model.safetensors`` = float32 tensors named as in
``state_dict()``. Loading checks every name, shape and dtype; nothing is unpickled.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import Tensor, nn

from tokfree.errors import TokfreeError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

# A config.json holds a dozen numbers; anything this large is not one (and is refused unread).
MAX_CONFIG_BYTES = 1 << 20

C = TypeVar("C")
M = TypeVar("M", bound=nn.Module)


def check_positive_int(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    """Raises `TokfreeError` unless `value` is a positive int (or None when `optional`)."""
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        extra = " or None" if optional else ""
        raise TokfreeError(f"{owner}.{name} is {value!r}; it must be a positive integer{extra}")


def check_heads(owner: str, width_name: str, width: int, heads_name: str, heads: int) -> None:
    """Raises `TokfreeError` unless `heads` divides `width` into even head widths (rotary pairs)."""
    if width % heads or (width // heads) % 2:
        raise TokfreeError(
            f"{owner}.{width_name}={width} with {heads_name}={heads} gives heads of width {width / heads:g}; "
            f"{heads_name} must divide {width_name} into even widths (rotary positions rotate channel pairs)"
        )


def check_dropout(owner: str, value: object) -> None:
    """Raises `TokfreeError` unless `value` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise TokfreeError(f"{owner}.dropout is {value!r}; it must be a number in [0, 1)")


def config_from_dict(cls: type[C], fields: object, what: str) -> C:
    """A frozen config dataclass from its `asdict` form; `TokfreeError` on missing, unknown or bad fields."""
    if not isinstance(fields, dict):
        raise TokfreeError(f"a {what} config must be a JSON object, got {type(fields).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]  # type: ignore[arg-type]
    unknown = sorted(set(fields) - set(names))
    missing = sorted(set(required) - set(fields))
    if unknown:
        raise TokfreeError(f"{what} config has unknown field(s) {unknown}; the fields are {names}")
    if missing:
        raise TokfreeError(f"{what} config lacks the required field(s) {missing}")
    try:
        return cls(**fields)
    except TypeError as error:  # pragma: no cover - the names are checked above
        raise TokfreeError(f"{what} config: {error}") from None


def save_model(folder: str | os.PathLike[str], *, format_tag: str, version: int, config: Any, model: nn.Module) -> None:
    """Writes `config.json` and `model.safetensors` (float32) into `folder`, creating it."""
    from safetensors.torch import save_file

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    document = {"format": format_tag, "version": version, "config": dataclasses.asdict(config)}
    (path / CONFIG_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tensors = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, str(path / WEIGHTS_FILE), metadata={"format": "pt"})


def read_config(config_path: Path, *, format_tag: str, version: int, what: str) -> dict[str, Any]:
    """The checked `config.json` document of a saved model folder (format tag and version match).

    Raises:
        TokfreeError: the file is unreadable, larger than `MAX_CONFIG_BYTES`, not JSON (or nested
            too deeply to parse), or of another format or version.
    """
    try:
        size = config_path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise TokfreeError(f"{config_path} is {size} bytes, larger than any {what} config (limit {MAX_CONFIG_BYTES}); check the folder")
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except RecursionError:
        raise TokfreeError(f"{config_path}: the JSON nests too deeply to parse; a {what} config is one flat object") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TokfreeError(f"{config_path} is not a readable JSON file ({error})") from None
    if not isinstance(document, dict) or document.get("format") != format_tag:
        raise TokfreeError(f'{config_path} is not a tokfree {what} config (expected "format": "{format_tag}")')
    if document.get("version") != version:
        raise TokfreeError(f"{config_path} has version {document.get('version')!r}; this tokfree reads version {version}")
    return document


def load_model(
    folder: str | os.PathLike[str],
    *,
    format_tag: str,
    version: int,
    config_cls: type[C],
    build: Callable[[C], M],
    what: str,
) -> M:
    """Reads a folder written by `save_model`; `build(config)` makes the (CPU) model to fill.

    Raises:
        TokfreeError: a missing or unreadable file, a config of another format or version or with
            bad fields, or weights with a missing, extra, misshapen or non-float32 tensor.
    """
    from safetensors import safe_open

    path = Path(folder)
    config_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
    for file in (config_path, weights_path):
        if not file.is_file():
            raise TokfreeError(f"{file} does not exist; a {what} folder holds {CONFIG_FILE} and {WEIGHTS_FILE} (written by {what}.save)")
    document = read_config(config_path, format_tag=format_tag, version=version, what=what)
    try:
        config = config_from_dict(config_cls, document.get("config"), what)
    except TokfreeError as error:
        raise TokfreeError(f"{config_path}: {error}") from None
    model = build(config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    try:
        with safe_open(str(weights_path), framework="pt") as weights:
            names = set(weights.keys())
            missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
            if missing or extra:
                raise TokfreeError(f"{weights_path} does not match {config_path}: missing tensor(s) {missing}, unexpected tensor(s) {extra}")
            state: dict[str, Tensor] = {}
            for name in sorted(expected):
                tensor = weights.get_tensor(name)
                if tensor.dtype != torch.float32:
                    raise TokfreeError(f"{weights_path}: tensor {name!r} has dtype {tensor.dtype}; {what} weights are float32")
                if tuple(tensor.shape) != expected[name]:
                    raise TokfreeError(
                        f"{weights_path}: tensor {name!r} has shape {tuple(tensor.shape)}, but {config_path} implies {expected[name]}"
                    )
                state[name] = tensor
    except TokfreeError:
        raise
    except Exception as error:  # safetensors raises its own SafetensorError (and OSError) on a corrupt file
        raise TokfreeError(f"{weights_path} is not a readable safetensors file ({type(error).__name__}: {error})") from None
    model.load_state_dict(state, strict=True)
    return model
