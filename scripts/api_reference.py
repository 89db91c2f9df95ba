"""Write docs/api.md, the API reference, from the docstrings and signatures of tokfree's public names.

The public surface is what `__all__` exports: `tokfree` itself, each public subpackage
(`tokfree.merging`, `tokfree.nn`, ...) and each public top-level module that defines `__all__`
(`tokfree.errors`, `tokfree.words`, ...). For each module: its docstring, then every exported
class (signature, docstring, public methods and properties) and function (signature, docstring),
and the exported constants. A name exported by several modules is written out once, where it
first appears, and referred to elsewhere. Private names (a leading underscore) never appear.

It imports every subpackage, torch, numba and dask ones included. The output depends only on the
code (no addresses, no hash order), so tests/test_docs.py regenerates it in memory and compares.

Usage: python scripts/api_reference.py [--out docs/api.md]   (or `make docs`)
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ForwardRef

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "api.md"
HEADER = """# API reference

Generated from the docstrings by `scripts/api_reference.py` (`make docs`); do not edit by hand.
`tests/test_docs.py` fails when it is out of date. The user guide is [index.md](index.md).
"""
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# Longer constants (tables of regexes, vocabularies) are summarised rather than printed.
_LONGEST_CONSTANT = 300


class _Raw:
    """Text that `inspect.Signature` prints as it is (no quotes around string annotations)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def public_modules() -> list[ModuleType]:
    """tokfree, then its public subpackages and its public top-level modules with `__all__`, by name."""
    import tokfree

    modules = []
    for info in sorted(pkgutil.iter_modules(tokfree.__path__), key=lambda info: info.name):
        if info.name.startswith("_") or info.name == "cli":  # the CLI is documented by `tokfree --help`
            continue
        module = importlib.import_module(f"tokfree.{info.name}")
        if hasattr(module, "__all__"):
            modules.append(module)
    return [tokfree, *modules]


def value_repr(value: Any) -> str:
    """A repr that is the same in every run: sets sorted (at any depth), addresses removed."""
    if isinstance(value, (set, frozenset)):
        items = ", ".join(sorted(value_repr(item) for item in value))
        return f"{type(value).__name__}({{{items}}})" if items else f"{type(value).__name__}()"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{value_repr(k)}: {value_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = ", ".join(value_repr(item) for item in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    return _ADDRESS.sub("", repr(value))


def constant_text(name: str, value: Any) -> str:
    """`NAME = value`, or for a long value its type and size (and a dict's keys): the module has the rest."""
    text = f"{name} = {value_repr(value)}"
    if len(text) > _LONGEST_CONSTANT:
        size = f"{len(value)} entries" if hasattr(value, "__len__") else "a long value"
        keys = f"; keys {value_repr(list(value))}" if isinstance(value, dict) else ""
        text = f"{name}: {type(value).__name__} ({size}{keys})"
    return code_span(text)


def code_span(text: str) -> str:
    """`text` as inline code, with a longer fence when it holds a backtick."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def annotation_text(annotation: Any) -> Any:
    """The annotation as written (string annotations from `from __future__ import annotations`)."""
    if annotation is inspect.Parameter.empty:
        return annotation
    if isinstance(annotation, str):
        return _Raw(annotation)
    if isinstance(annotation, ForwardRef):  # NamedTuple fields keep string annotations this way
        return _Raw(annotation.__forward_arg__)
    return _Raw(inspect.formatannotation(annotation))


def signature_text(obj: Callable[..., Any], *, drop_self: bool = False) -> str:
    """`(args) -> result` of a function, method or class, or `(...)` when Python cannot tell."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parameters = list(signature.parameters.values())
    if drop_self and parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    cleaned = [
        parameter.replace(
            annotation=annotation_text(parameter.annotation),
            default=parameter.default if parameter.default is inspect.Parameter.empty else _Raw(value_repr(parameter.default)),
        )
        for parameter in parameters
    ]
    return str(signature.replace(parameters=cleaned, return_annotation=annotation_text(signature.return_annotation)))


def fenced(doc: str | None) -> list[str]:
    """A docstring as a fenced text block (keeps the Args/Returns layout), or nothing."""
    if not doc:
        return []
    return ["```text", *doc.replace("```", "'''").splitlines(), "```", ""]


def docstring_block(obj: Any) -> list[str]:
    """`obj`'s docstring (inherited ones included, as `inspect.getdoc` finds them) as a text block."""
    return fenced(inspect.getdoc(obj))


def own_docstring(obj: Any) -> str | None:
    """The object's own docstring, not one inherited from a base outside tokfree (e.g. `object`)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def class_members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties defined by `cls` or its tokfree bases, own ones first."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not getattr(klass, "__module__", "").startswith("tokfree"):
            continue
        for name, attribute in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            if isinstance(attribute, (staticmethod, classmethod)):
                attribute = attribute.__func__
            if isinstance(attribute, property) or inspect.isfunction(attribute) or inspect.ismethoddescriptor(attribute):
                seen.add(name)
                yield name, attribute


def describe_class(qualified: str, cls: type) -> list[str]:
    """A class: signature, docstring, then each public method and property."""
    kind = "dataclass" if dataclasses.is_dataclass(cls) else "class"
    lines = [f"### `{qualified}`", "", f"{kind} `{cls.__name__}{signature_text(cls)}`", ""]
    lines += fenced(own_docstring(cls))
    for name, member in class_members(cls):
        if isinstance(member, property):
            returns = inspect.signature(member.fget).return_annotation if member.fget else inspect.Parameter.empty
            suffix = "" if returns is inspect.Parameter.empty else f": {annotation_text(returns)!r}"
            lines += [f"#### `{cls.__name__}.{name}` (property)", "", f"`{name}{suffix}`", ""]
        else:
            lines += [f"#### `{cls.__name__}.{name}`", "", f"`{name}{signature_text(member, drop_self=True)}`", ""]
        lines += docstring_block(member)
    return lines


def describe(module: ModuleType, name: str, obj: Any, first_seen: dict[int, str]) -> list[str]:
    """One exported name of `module`: written out where it first appears, referred to after."""
    qualified = f"{module.__name__}.{name}"
    if isinstance(obj, (type, ModuleType)) or callable(obj):
        if id(obj) in first_seen:
            return [f"### `{qualified}`", "", f"The same object as `{first_seen[id(obj)]}`.", ""]
        first_seen[id(obj)] = qualified
    if isinstance(obj, ModuleType):
        return [f"### `{qualified}`", "", f"The module `{obj.__name__}`.", ""]
    if isinstance(obj, type):
        return describe_class(qualified, obj)
    if callable(obj):
        return [f"### `{qualified}`", "", f"`{name}{signature_text(obj)}`", "", *docstring_block(obj)]
    return [f"### `{qualified}`", "", constant_text(name, obj), ""]


def render(modules: list[ModuleType]) -> str:
    """The whole reference as Markdown."""
    lines = [HEADER, "## Modules", ""]
    lines += [f"- [`{module.__name__}`](#{module.__name__.replace('.', '')})" for module in modules]
    lines.append("")
    first_seen: dict[int, str] = {}
    for module in modules:
        lines += [f"## {module.__name__}", ""]
        lines += docstring_block(module)
        for name in module.__all__:
            if name.startswith("_"):  # __version__ and the like: not an API to describe
                continue
            lines += describe(module, name, getattr(module, name), first_seen)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the reference (default docs/api.md)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write it (default: docs/api.md)")
    args = parser.parse_args(argv)
    text = render(public_modules())
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
