"""`HybridTokenizer`: a root/affix lexicon with a BPE fallback, case and whitespace markers, lossless.

Encoding, per chunk of the text:
- `" "`, `"\\n"`, `"\\t"`: one whitespace token each;
- a run of letters: split at case changes ("YouTube" -> You|Tube); each part is lowercased with the
  language's case pairs and preceded by `<uppercase>` (first letter upper) or `<allcaps>`; a run
  whose case cannot be rebuilt from markers exactly is kept as it is. Each lowercase part is
  segmented by the lexicon (`MorphLexicon.segment`); what it cannot analyse goes to the BPE;
- anything else (digits, punctuation, other scripts, invalid-looking Unicode): the byte-level BPE.

Allomorphs share one id (lar/ler, kitap/kitab). The decoder picks the surface form with a
deterministic rule: a table from (the class's alternation pattern, the last harmony class and the
last character class of the word so far, the character class of the next token) to a form, fitted on
training text. Where the rule would pick the wrong form, the encoder puts an explicit
`<variant:k>` token before the id. So decode(encode(x)) == x for every string x.

HF `tokenizer.json` cannot express any of this: save with `format="tokfree"`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence

from tokfree.errors import TokenizerFileError, TokfreeError
from tokfree.io.files import read_json
from tokfree.io.native import parts_from_native, parts_to_native
from tokfree.models.morph import REST, ROOT, Language, MorphLexicon
from tokfree.tokenizer import Tokenizer

__all__ = ["HybridTokenizer"]

UPPERCASE, ALLCAPS = "<uppercase>", "<allcaps>"
WHITESPACE = (" ", "\n", "\t")
# A chunk is a letter run, one whitespace token, or a run of anything else.
_CHUNK = re.compile(r"[^\W\d_]+|[ \n\t]|(?:(?![ \n\t])[\W\d_])+")
_LETTERS = re.compile(r"[^\W\d_]+")
END = "end"
_WORD_CACHE_LIMIT = 1 << 18


def _signature(forms: Sequence[str]) -> tuple[str, ...]:
    """What differs between a class's forms (lar/ler -> ("ar", "er")): classes with the same
    alternation share one rule."""
    prefix = os.path.commonprefix(list(forms))
    return tuple(form[len(prefix) :] for form in forms)


class _Context:
    """The context the allomorph rule reads, updated one surface at a time (linear in the text)."""

    def __init__(self, language: Language) -> None:
        self.harmony = {c: name for name, chars in language.harmony_classes.items() for c in chars}
        self.classes = {c: name for name, chars in reversed(language.char_classes.items()) for c in chars}
        self.reset()

    def reset(self) -> None:
        self.last_harmony, self.last_class = "none", "none"

    def feed(self, surface: str) -> None:
        for char in surface:
            self.last_harmony = self.harmony.get(char, self.last_harmony)
        if surface:
            self.last_class = self.classes.get(surface[-1], "other")

    def char_class(self, surface: str) -> str:
        return self.classes.get(surface[0], "other") if surface else "other"


class HybridTokenizer:
    """Lexicon segmentation + allomorph ids + case/whitespace markers + BPE fallback; lossless.

    Build one with `tokfree.trainers.morph.train_hybrid`, or load one with `from_file`.

    Example:
        >>> tok = train_hybrid(texts, "data/morph/turkish", bpe_vocab_size=2000)
        >>> tok.decode(tok.encode("Kitabı İstanbul'da okudum.")) == "Kitabı İstanbul'da okudum."
        True
    """

    def __init__(
        self,
        language: Language,
        lexicon: MorphLexicon,
        fallback: Tokenizer,
        *,
        rules: dict[tuple[int, str, str, str], int] | None = None,
        special_tokens: Iterable[str] = (),
    ) -> None:
        self.language = language
        self.lexicon = lexicon
        self.fallback = fallback
        self.rules = dict(rules or {})
        specials = list(special_tokens)
        n_variants = max((len(forms) for _, forms in lexicon.classes), default=1)
        self.variant_tokens = [f"<variant:{k}>" for k in range(n_variants)]
        self._fixed = [*specials, UPPERCASE, ALLCAPS, *WHITESPACE, *self.variant_tokens]
        if len(set(self._fixed)) != len(self._fixed):
            raise TokfreeError(f"special_tokens {specials!r} repeat a marker name; choose other names")
        self.special_tokens = {token: index for index, token in enumerate(specials)}
        self._fixed_id = {token: index for index, token in enumerate(self._fixed)}
        self.uppercase_id, self.allcaps_id = self._fixed_id[UPPERCASE], self._fixed_id[ALLCAPS]
        self.whitespace_ids = {self._fixed_id[w]: w for w in WHITESPACE}
        self.variant_base = self._fixed_id[self.variant_tokens[0]]
        self.class_base = len(self._fixed)
        self.bpe_base = self.class_base + len(lexicon)
        self._signatures: dict[tuple[str, ...], int] = {}
        self.class_signature = [self._signatures.setdefault(_signature(forms), len(self._signatures)) for _, forms in lexicon.classes]
        # Word frequencies are Zipfian: caching each distinct chunk skips case handling and
        # segmentation for every repeat (bounded, so a stream of unique words cannot grow it forever).
        self._chunk_cache: dict[str, list[tuple[int, str]]] = {}
        self._word_cache: dict[str, list[tuple[int, str]]] = {}

    # --- sizes and lookups ---------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.bpe_base + self.fallback.vocab_size

    def token_forms(self, token_id: int) -> tuple[str, ...]:
        """Every surface form of a lexicon id (one for the other ids), canonical first."""
        if self.class_base <= token_id < self.bpe_base:
            return self.lexicon.classes[token_id - self.class_base][1]
        surface = self.id_to_token(token_id)
        return () if surface is None else (surface.decode("utf-8", errors="replace"),)

    def id_to_token(self, token_id: int) -> bytes | None:
        """The bytes of a token (a lexicon id: its canonical form), or None if there is no such id."""
        if 0 <= token_id < self.class_base:
            return self._fixed[token_id].encode("utf-8")
        if token_id < self.bpe_base and token_id >= 0:
            return self.lexicon.classes[token_id - self.class_base][1][0].encode("utf-8")
        return self.fallback.id_to_token(token_id - self.bpe_base) if token_id >= 0 else None

    def token_kind(self, token_id: int) -> str:
        """"special", "marker", "whitespace", "variant", "root", "suffix" or "bpe"."""
        if token_id < len(self.special_tokens):
            return "special"
        if token_id in (self.uppercase_id, self.allcaps_id):
            return "marker"
        if token_id in self.whitespace_ids:
            return "whitespace"
        if token_id < self.class_base:
            return "variant"
        if token_id < self.bpe_base:
            return self.lexicon.classes[token_id - self.class_base][0]
        return "bpe"

    # --- encoding ------------------------------------------------------------------------------

    def _split_case(self, run: str) -> list[str]:
        """Cuts a letter run before a capital that follows a lowercase letter, and before the last
        capital of a capital run followed by lowercase ("HTMLParser" -> HTML|Parser)."""
        upper = [char != self.language.lower_char(char) for char in run]
        cuts = [0]
        for i in range(1, len(run)):
            if upper[i] and (not upper[i - 1] or (i + 1 < len(run) and not upper[i + 1])):
                cuts.append(i)
        cuts.append(len(run))
        return [run[a:b] for a, b in zip(cuts, cuts[1:])]

    def _case_parts(self, run: str) -> list[tuple[int | None, str]] | None:
        """(marker id or None, lowercase text) parts that `_apply_case` turns back into `run`."""
        lang = self.language
        parts: list[tuple[int | None, str]] = []
        for part in self._split_case(run):
            lower = "".join(map(lang.lower_char, part))
            if part == lower:
                parts.append((None, lower))
            elif part == lang.upper_char(lower[0]) + lower[1:]:
                parts.append((self.uppercase_id, lower))
            elif len(part) > 1 and part == "".join(map(lang.upper_char, lower)):
                parts.append((self.allcaps_id, lower))
            else:
                return None
        rebuilt = self._apply_case([piece for marker, lower in parts for piece in ((marker,) if marker is not None else ()) + (lower,)])
        return parts if rebuilt == run else None

    def _word_pieces(self, word: str) -> list[tuple[int, str]]:
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        pieces: list[tuple[int, str]] = []
        for morph in self.lexicon.segment(word):
            if morph.kind == REST:
                pieces.extend(self._bpe_pieces(morph.text))
            else:
                pieces.append((self.class_base + morph.class_index, morph.text))
        if len(self._word_cache) < _WORD_CACHE_LIMIT:
            self._word_cache[word] = pieces
        return pieces

    def _bpe_pieces(self, text: str) -> list[tuple[int, str]]:
        ids = self.fallback.encode(text)
        return [(self.bpe_base + i, self._canonical(self.bpe_base + i)) for i in ids]

    def _canonical(self, token_id: int) -> str:
        """A lexicon id's first form, or a BPE token's bytes (a partial character as surrogates)."""
        if token_id < self.bpe_base:
            return self.lexicon.classes[token_id - self.class_base][1][0]
        return self.fallback.id_to_token(token_id - self.bpe_base).decode("utf-8", errors="surrogateescape")

    def _pieces(self, text: str) -> list[tuple[int, str]]:
        """(id, surface) before variant tokens are added; markers have an empty surface."""
        pieces: list[tuple[int, str]] = []
        for match in _CHUNK.finditer(text):
            chunk = match.group()
            if chunk in WHITESPACE:
                pieces.append((self._fixed_id[chunk], chunk))
            else:
                cached = self._chunk_cache.get(chunk)
                if cached is None:
                    cached = self._chunk_pieces(chunk)
                    if len(self._chunk_cache) < _WORD_CACHE_LIMIT:
                        self._chunk_cache[chunk] = cached
                pieces.extend(cached)
        return pieces

    def _chunk_pieces(self, chunk: str) -> list[tuple[int, str]]:
        if not _LETTERS.fullmatch(chunk):
            return self._bpe_pieces(chunk)
        pieces: list[tuple[int, str]] = []
        for marker, lower in self._case_parts(chunk) or [(None, chunk)]:
            if marker is not None:
                pieces.append((marker, ""))
            pieces.extend(self._word_pieces(lower))
        return pieces

    def _next_class(self, context: _Context, next_id: int | None) -> str:
        """The rule's view of the next (non-variant) token: "end" for none, whitespace, markers and
        specials; else the character class of its canonical surface's first character."""
        if next_id is None or next_id < self.class_base:
            return END
        return context.char_class(self._canonical(next_id))

    def _rule_key(self, context: _Context, token_id: int, next_class: str) -> tuple[int, str, str, str]:
        return (self.class_signature[token_id - self.class_base], context.last_harmony, context.last_class, next_class)

    def walk(self, pieces: list[tuple[int, str]]):
        """Yields (index, rule key or None) over `pieces` while tracking context (used by training)."""
        context = _Context(self.language)
        for index, (token_id, surface) in enumerate(pieces):
            key = None
            if self.class_base <= token_id < self.bpe_base and len(self.token_forms(token_id)) > 1:
                next_id = pieces[index + 1][0] if index + 1 < len(pieces) else None
                key = self._rule_key(context, token_id, self._next_class(context, next_id))
            yield index, key
            if token_id in self.whitespace_ids:
                context.reset()
            else:
                context.feed(surface)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; `decode` gives `text` back exactly.

        Raises:
            TokfreeError: `text` is not a str, or holds a lone surrogate (it has no UTF-8 form).
        """
        if not isinstance(text, str):
            raise TokfreeError(f"text must be str, not {type(text).__name__}; decode bytes first")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise TokfreeError(f"text holds a lone surrogate at index {err.start}; it has no UTF-8 form, so it cannot be encoded") from None
        pieces = self._pieces(text)
        ids: list[int] = []
        for index, key in self.walk(pieces):
            token_id, surface = pieces[index]
            if key is not None:
                actual = self.token_forms(token_id).index(surface)
                if self.rules.get(key, 0) != actual:
                    ids.append(self.variant_base + actual)
            ids.append(token_id)
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def tokenize(self, text: str) -> list[str]:
        """The surface string of each token of `encode(text)` (markers as their names)."""
        return self._surfaces(self.encode(text))

    # --- decoding ------------------------------------------------------------------------------

    def _surfaces(self, ids: Sequence[int]) -> list[str]:
        """The surface of each id in context: lexicon ids resolved, markers as their names."""
        context = _Context(self.language)
        out: list[str] = []
        pending: int | None = None
        real = [i for i in ids if not (self.variant_base <= i < self.class_base)]
        position = 0
        for token_id in ids:
            if not isinstance(token_id, int) or token_id < 0 or token_id >= self.vocab_size:
                raise TokfreeError(f"id {token_id!r} is not a token of this tokenizer (vocab_size {self.vocab_size})")
            if self.variant_base <= token_id < self.class_base:
                pending = token_id - self.variant_base
                out.append(self._fixed[token_id])
                continue
            position += 1
            if pending is not None and not (self.class_base <= token_id < self.bpe_base and len(self.token_forms(token_id)) > 1):
                raise TokfreeError(f"<variant:{pending}> before id {token_id}: a variant token must come just before a lexicon id with several forms")
            if self.class_base <= token_id < self.bpe_base:
                forms = self.token_forms(token_id)
                choice = 0
                if len(forms) > 1:
                    next_id = real[position] if position < len(real) else None
                    choice = pending if pending is not None else self.rules.get(self._rule_key(context, token_id, self._next_class(context, next_id)), 0)
                if choice >= len(forms):
                    raise TokfreeError(f"<variant:{choice}> before id {token_id}, which has only {len(forms)} forms {forms!r}")
                surface = forms[choice]
            elif token_id >= self.bpe_base:
                surface = self._canonical(token_id)
            else:
                surface = self._fixed[token_id]
            pending = None
            out.append(surface)
            if token_id in self.whitespace_ids:
                context.reset()
            elif token_id >= self.class_base:
                context.feed(surface)
        if pending is not None:
            raise TokfreeError(f"the ids end with <variant:{pending}>; a variant token must come just before a lexicon id with several forms")
        return out

    def _apply_case(self, pieces: list[str | int]) -> str:
        """Joins lowercase pieces, applying each marker id to the letters that follow it."""
        text: list[str] = []
        marker: int | None = None
        for piece in pieces:
            if isinstance(piece, int):
                marker = piece
                continue
            if marker == self.uppercase_id and piece:
                piece = self.language.upper_char(piece[0]) + piece[1:]
            elif marker == self.allcaps_id:
                run = _LETTERS.match(piece)
                end = run.end() if run else 0
                piece = "".join(map(self.language.upper_char, piece[:end])) + piece[end:]
            marker = None
            text.append(piece)
        return "".join(text)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The exact bytes of `ids` (the inverse of `encode`)."""
        return self.decode(ids, errors="surrogateescape").encode("utf-8", errors="surrogateescape")

    def decode(self, ids: Sequence[int], *, errors: str = "replace") -> str:
        """The text of `ids`: `decode(encode(x)) == x` for every str x.

        Raises:
            TokfreeError: an id outside the vocabulary, or a variant token naming a missing form.
        """
        surfaces = self._surfaces(list(ids))
        pieces: list[str | int] = []
        raw: list[str] = []
        for token_id, surface in zip(ids, surfaces):
            if token_id in (self.uppercase_id, self.allcaps_id):
                pieces.append(self._join(raw, errors))
                raw = []
                pieces.append(token_id)
            elif not (self.variant_base <= token_id < self.class_base):
                raw.append(surface)
        pieces.append(self._join(raw, errors))
        return self._apply_case(pieces)

    @staticmethod
    def _join(surfaces: list[str], errors: str) -> str:
        data = "".join(surfaces).encode("utf-8", errors="surrogateescape")
        return data.decode("utf-8", errors=errors)

    # --- files ---------------------------------------------------------------------------------

    def to_json(self) -> str:
        document = {
            "format": "tokfree",
            "version": 1,
            "model": "hybrid",
            "language": self.language.to_json(),
            "special_tokens": list(self.special_tokens),
            "classes": [[kind, list(forms)] for kind, forms in self.lexicon.classes],
            "rules": [[*key, choice] for key, choice in sorted(self.rules.items())],
            "fallback": json.loads(parts_to_native(self.fallback.to_parts())),
        }
        return json.dumps(document, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n"

    def save(self, path: str | os.PathLike[str], *, format: str = "tokfree") -> None:
        """Writes the tokenizer as tokfree JSON (the only format that can hold it).

        Raises:
            TokfreeError: `format="hf"` or `"tiktoken"`: neither can express lexicon segmentation
                or context-dependent allomorph decoding.
        """
        if format != "tokfree":
            raise TokfreeError(
                f"format={format!r}: a hybrid morphological tokenizer cannot be written as {format} "
                "(it has no lexicon segmentation, case markers or allomorph decoding); use save(path, format='tokfree')"
            )
        with open(path, "w", encoding="utf-8", newline="\n") as file:
            file.write(self.to_json())

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> HybridTokenizer:
        """Loads a hybrid tokenizer saved with `save`.

        Raises:
            InputFileError: the file is missing or unreadable.
            TokenizerFileError: not a hybrid tokfree file, or a malformed one (size and JSON are
                checked as by `Tokenizer.from_file`).
        """
        name = os.fspath(path)
        return cls._from_document(read_json(name, "hybrid tokenizer file"), name)

    @classmethod
    def _from_document(cls, document: object, name: str) -> HybridTokenizer:
        """The tokenizer in a parsed hybrid tokfree JSON document (`name` says where it came from)."""
        if not isinstance(document, dict) or document.get("model") != "hybrid" or document.get("format") != "tokfree":
            raise TokenizerFileError(f"{name} is not a hybrid tokfree tokenizer (no \"model\": \"hybrid\"); load it with Tokenizer.from_file")
        try:
            language = Language.from_json(document["language"], name)
            roots = [forms for kind, forms in document["classes"] if kind == ROOT]
            suffixes = [forms for kind, forms in document["classes"] if kind != ROOT]
            if [kind for kind, _ in document["classes"]] != [ROOT] * len(roots) + ["suffix"] * len(suffixes):
                raise TokenizerFileError(f"{name}: classes must list every root class before the suffix classes")
            rules = {(int(s), str(h), str(c), str(n)): int(choice) for s, h, c, n, choice in document["rules"]}
            fallback = Tokenizer(parts_from_native(document["fallback"], name))
            return cls(language, MorphLexicon(roots, suffixes), fallback, rules=rules, special_tokens=document["special_tokens"])
        except (KeyError, TypeError, ValueError) as err:
            raise TokenizerFileError(f"{name}: malformed hybrid tokenizer ({type(err).__name__}: {err}); re-save it with tokfree") from None

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickles by `to_json()` (what `save` writes), never by internals, as `Tokenizer` does."""
        return _from_json_text, (type(self), self.to_json())

    def __repr__(self) -> str:
        return f"HybridTokenizer(language={self.language.name!r}, vocab_size={self.vocab_size}, classes={len(self.lexicon)})"


def _from_json_text(cls: type[HybridTokenizer], text: str) -> HybridTokenizer:
    """The tokenizer `HybridTokenizer.__reduce__` pickled (checked like a hybrid tokenizer file)."""
    return cls._from_document(json.loads(text), "pickled HybridTokenizer")
