"""Hunspell dictionaries (`.aff` affix rules + `.dic` stems): read them, check words, and turn them
into a morphological lexicon for `tokfree.models.morph`.

Supported: `SET UTF-8`, `FLAG` (single characters, `long`, `num`), `PFX`/`SFX` rules with strip,
affix and condition. Not supported (ignored): compounding, two-level affixes, `ICONV`/`OCONV`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tokfree.errors import TokfreeError
from tokfree.io.files import read_text

__all__ = ["HunspellDictionary", "read_hunspell"]


@dataclass(frozen=True)
class AffixRule:
    flag: str
    strip: str
    affix: str
    condition: re.Pattern[str]


class HunspellDictionary:
    """Stems with their affix flags, and the affix rules.

    Attributes:
        stems: stem -> set of flags.
        suffixes, prefixes: affix rules by flag.
    """

    def __init__(self, stems: dict[str, set[str]], suffixes: dict[str, list[AffixRule]], prefixes: dict[str, list[AffixRule]]) -> None:
        self.stems = stems
        self.suffixes = suffixes
        self.prefixes = prefixes
        self._by_suffix: dict[str, list[AffixRule]] = {}
        for rules in suffixes.values():
            for rule in rules:
                self._by_suffix.setdefault(rule.affix, []).append(rule)
        self._longest = max(map(len, self._by_suffix), default=0)

    def accepts(self, word: str) -> bool:
        """Whether `word` is a stem or a stem plus one suffix its flags allow (checked as given,
        then lowercased).

        Example:
            >>> english.accepts("cats"), english.accepts("catz")
            (True, False)
        """
        return self._accepts(word) or (word.lower() != word and self._accepts(word.lower()))

    def _accepts(self, word: str) -> bool:
        if word in self.stems:
            return True
        for size in range(1, min(self._longest, len(word) - 1) + 1):
            head, tail = word[:-size], word[-size:]
            for rule in self._by_suffix.get(tail, ()):
                stem = head + rule.strip
                if rule.flag in self.stems.get(stem, ()) and rule.condition.search(stem):
                    return True
        return False

    def stem_forms(self, stem: str) -> list[str]:
        """`stem` and the shortened forms its suffix rules attach to (happy -> happ for -ies)."""
        forms = [stem]
        for flag in sorted(self.stems.get(stem, ())):
            for rule in self.suffixes.get(flag, ()):
                if rule.strip and stem.endswith(rule.strip) and rule.condition.search(stem) and len(stem) > len(rule.strip):
                    form = stem[: -len(rule.strip)]
                    if form not in forms:
                        forms.append(form)
        return forms


    def lexicon_classes(self, lower: Callable[[str], str] = str.lower) -> tuple[list[list[str]], list[list[str]]]:
        """(root classes, suffix classes) for `tokfree.models.morph.MorphLexicon`: each alphabetic
        stem (lowercased) with its shortened forms, and each suffix flag's distinct affixes."""
        roots: dict[str, list[str]] = {}
        for stem in sorted(self.stems):
            if stem.isalpha():
                forms = roots.setdefault(lower(stem), [])
                forms.extend(lower(f) for f in self.stem_forms(stem) if lower(f) not in forms)
        suffixes = []
        for flag in sorted(self.suffixes):
            affixes = list(dict.fromkeys(rule.affix for rule in self.suffixes[flag] if rule.affix.isalpha()))
            if affixes:
                suffixes.append(affixes)
        return list(roots.values()), suffixes


def _flags(text: str, mode: str) -> list[str]:
    if mode == "num":
        return [flag for flag in text.split(",") if flag]
    if mode == "long":
        return [text[i : i + 2] for i in range(0, len(text), 2)]
    return list(text)


def read_hunspell(aff_path: str | Path, dic_path: str | Path) -> HunspellDictionary:
    """Reads a hunspell `.aff` + `.dic` pair (either may be gzipped).

    Raises:
        TokfreeError: unreadable files, or an affix rule whose condition is not a valid pattern.
    """
    aff_lines = read_text(aff_path, "hunspell file").splitlines()
    mode = "char"
    suffixes: dict[str, list[AffixRule]] = {}
    prefixes: dict[str, list[AffixRule]] = {}
    for number, line in enumerate(aff_lines, 1):
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "FLAG":
            mode = fields[1]
        if len(fields) < 4 or fields[0] not in ("SFX", "PFX") or fields[2] in ("Y", "N") and len(fields) == 4 and fields[3].isdigit():
            continue
        kind, flag, strip, affix = fields[:4]
        condition = fields[4] if len(fields) > 4 else "."
        strip = "" if strip == "0" else strip
        affix = "" if affix.split("/")[0] == "0" else affix.split("/")[0]
        try:
            pattern = re.compile((condition + "$") if kind == "SFX" else ("^" + condition))
        except re.error as err:
            raise TokfreeError(f"{aff_path} line {number}: condition {condition!r} is not a valid pattern ({err})") from None
        table = suffixes if kind == "SFX" else prefixes
        table.setdefault(flag, []).append(AffixRule(flag, strip, affix, pattern))
    stems: dict[str, set[str]] = {}
    dic_lines = read_text(dic_path, "hunspell file").splitlines()
    for line in dic_lines[1:]:
        entry = line.split("\t")[0].strip()
        if not entry:
            continue
        word, _, flags = entry.partition("/")
        stems.setdefault(word, set()).update(_flags(flags, mode))
    return HunspellDictionary(stems, suffixes, prefixes)
