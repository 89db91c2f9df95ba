"""Morphological lexicons: a language's data files -> root and suffix classes -> word segmentations.

A language is described by files, not code (format in docs/morph.md):
- `language.json`: case pairs that `str.lower` gets wrong (Turkish İ/i, I/ı), character classes
  and vowel-harmony classes (the context the allomorph rule reads), archiphonemes for suffix
  templates, and the names of the two lexicon files;
- a roots file, one class per line: `canonical<TAB>allomorph<TAB>...` (optionally gzipped);
- a suffixes file, one class per line: `name<TAB>template`, where an archiphoneme letter expands to
  its letters (the same letter takes one value per template) and `(x)` is optional;
- or, instead of the two lexicon files, a hunspell `.aff` + `.dic` pair (`"hunspell": [aff, dic]`):
  stems become root classes (with the shortened forms their rules attach to), each suffix flag a class.

Every surface form of a class shares the class's id. `MorphLexicon.segment` splits one lowercase
word into root + suffixes (longest root whose remainder is a chain of suffixes), or marks the parts
it cannot analyse for the BPE fallback. This module knows nothing about ids, case or whitespace.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tokfree import _rust
from tokfree.errors import TokfreeError
from tokfree.io.files import read_text

__all__ = ["Language", "MorphLexicon", "Morph", "expand_template", "load_language"]

ROOT, SUFFIX, REST = "root", "suffix", "rest"
_KINDS = (ROOT, SUFFIX, REST)
_OPTIONAL = re.compile(r"\(([^()]+)\)")


@dataclass(frozen=True)
class Language:
    """The language facts the hybrid tokenizer needs (see the module docstring)."""

    name: str
    lower_pairs: dict[str, str]
    char_classes: dict[str, str]
    harmony_classes: dict[str, str]
    archiphonemes: dict[str, str] = field(default_factory=dict)

    def lower_char(self, char: str) -> str:
        """`char` lowercased one-for-one (a character whose lowercase is longer stays as it is)."""
        mapped = self.lower_pairs.get(char)
        if mapped is not None:
            return mapped
        lowered = char.lower()
        return lowered if len(lowered) == 1 else char

    def upper_char(self, char: str) -> str:
        for upper, lower in self.lower_pairs.items():
            if lower == char:
                return upper
        raised = char.upper()
        return raised if len(raised) == 1 else char

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "lower": self.lower_pairs,
            "char_classes": self.char_classes,
            "harmony_classes": self.harmony_classes,
            "archiphonemes": self.archiphonemes,
        }

    @classmethod
    def from_json(cls, document: dict, where: str = "language") -> Language:
        try:
            language = cls(
                name=str(document["name"]),
                lower_pairs={str(k): str(v) for k, v in document.get("lower", {}).items()},
                char_classes={str(k): str(v) for k, v in document.get("char_classes", {}).items()},
                harmony_classes={str(k): str(v) for k, v in document.get("harmony_classes", {}).items()},
                archiphonemes={str(k): str(v) for k, v in document.get("archiphonemes", {}).items()},
            )
        except (KeyError, AttributeError, TypeError) as err:
            raise TokfreeError(f"{where}: malformed language description ({type(err).__name__}: {err}); see docs/morph.md") from None
        for upper, lower in language.lower_pairs.items():
            if len(upper) != 1 or len(lower) != 1:
                raise TokfreeError(f"{where}: case pair {upper!r}->{lower!r} must map one character to one character")
        return language


def expand_template(template: str, archiphonemes: dict[str, str]) -> list[str]:
    """Every surface form of a suffix template, in a fixed order.

    Example:
        >>> expand_template("(y)lA", {"A": "ae"})
        ['yla', 'yle', 'la', 'le']
    """
    optional = _OPTIONAL.findall(template)
    forms: list[str] = []
    for keep in itertools.product((True, False), repeat=len(optional)):
        choices = iter(keep)
        text = _OPTIONAL.sub(lambda m: m.group(1) if next(choices) else "", template)
        letters = sorted({c for c in text if c in archiphonemes}, key=text.index)
        for values in itertools.product(*(archiphonemes[c] for c in letters)):
            table = dict(zip(letters, values))
            form = "".join(table.get(c, c) for c in text)
            if form and form not in forms:
                forms.append(form)
    return forms


def _read_lines(path: Path) -> list[str]:
    """The non-blank, non-comment lines of a lexicon file."""
    return [line for line in read_text(path, "lexicon file").splitlines() if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class Morph:
    """One piece of a segmented word: `kind` is root, suffix or rest (for the BPE fallback)."""

    kind: str
    text: str
    class_index: int = -1


class MorphLexicon:
    """Root and suffix classes with a longest-match segmenter.

    Args:
        roots: root classes, each a list of surface forms (canonical first).
        suffixes: suffix classes, each a list of surface forms.

    A surface form belongs to the first class that lists it (roots before suffixes).
    """

    def __init__(self, roots: list[list[str]], suffixes: list[list[str]]) -> None:
        self.classes: list[tuple[str, tuple[str, ...]]] = [(ROOT, tuple(f)) for f in roots] + [(SUFFIX, tuple(f)) for f in suffixes]
        self.root_of: dict[str, int] = {}
        self.suffix_of: dict[str, int] = {}
        for index, (kind, forms) in enumerate(self.classes):
            if not forms or any(not f for f in forms):
                raise TokfreeError(f"lexicon class {index} ({forms!r}) has an empty form; every form needs at least one character")
            table = self.root_of if kind == ROOT else self.suffix_of
            for form in forms:
                table.setdefault(form, index)
        self._core = _rust.MorphLexicon(list(self.root_of.items()), list(self.suffix_of.items()))

    def __len__(self) -> int:
        return len(self.classes)

    def segment(self, word: str) -> list[Morph]:
        """Splits a lowercase word: the longest root whose remainder is a suffix chain (fewest
        suffixes); else the longest root (at least 2 characters) followed by a rest; else a rest of
        at least 2 characters followed by a suffix chain; else the whole word as a rest. The search
        runs over character tries in Rust (`rust_ext/src/morph.rs`; twin: `tokfree._reference.morph`).

        Example:
            >>> MorphLexicon([["ev"]], [["ler", "lar"], ["de", "da"]]).segment("evlerde")
            [Morph(kind='root', text='ev', class_index=0), Morph(kind='suffix', text='ler', class_index=1), Morph(kind='suffix', text='de', class_index=2)]
        """
        return [Morph(_KINDS[kind], word[start:end], index) for kind, start, end, index in self._core.segment(word)]


def load_language(folder: str | Path) -> tuple[Language, MorphLexicon]:
    """Reads a language folder (`language.json` + the roots and suffixes files it names).

    Raises:
        TokfreeError: a missing or malformed file, naming it.

    Example:
        >>> language, lexicon = load_language("data/morph/turkish")
    """
    folder = Path(folder)
    description = folder / "language.json"
    try:
        document = json.loads(description.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TokfreeError(f"cannot read {description}: {err}; a language folder needs a language.json (docs/morph.md)") from None
    if document.get("format") != "tokfree-morph-language":
        raise TokfreeError(f"{description}: \"format\" must be \"tokfree-morph-language\" (docs/morph.md)")
    language = Language.from_json(document, str(description))
    if "hunspell" in document:
        from tokfree.io.hunspell import read_hunspell

        aff, dic = document["hunspell"]
        roots, suffixes = read_hunspell(folder / aff, folder / dic).lexicon_classes(lambda word: "".join(map(language.lower_char, word)))
        return language, MorphLexicon(roots, suffixes)
    roots = [line.split("\t") for line in _read_lines(folder / document["roots"])]
    suffixes = []
    for line in _read_lines(folder / document["suffixes"]):
        name, _, template = line.partition("\t")
        if not template:
            raise TokfreeError(f"{folder / document['suffixes']}: line {line!r} is not name<TAB>template")
        suffixes.append(expand_template(template.strip(), language.archiphonemes))
    return language, MorphLexicon(roots, suffixes)
