"""Type stubs for the compiled module ``tokfree._rust`` (rust_ext/src/py/mod.rs).

Checked against the built extension by ``python -m mypy.stubtest tokfree._rust``
(tests/test_stubs.py). Argument types are what PyO3 accepts: a Rust ``Vec`` takes any sequence
(not ``str``), ``PathBuf`` takes ``str`` or ``os.PathLike``. Ids are ``int`` in ``0..2**32-1``.
"""

from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from typing import Literal, final, overload

__all__ = [
    "Tokenizer",
    "PretokenCounter",
    "MorphLexicon",
    "split_spans",
    "preset_patterns",
    "train_bpe",
    "extend_bpe",
    "derive_merges",
    "bytelevel_valid_mask",
    "word_boundaries",
    "word_boundaries_batch",
    "last_safe_cut",
]

# `"all"` or a collection of special-token strings (tiktoken's convention).
_SpecialSpec = str | Iterable[str]
# `progress(done, total)`, called with the GIL held now and then during training.
_Progress = Callable[[int, int], object]

@final
class Tokenizer:
    """The compiled tokenizer; the Python class ``tokfree.Tokenizer`` wraps it."""

    def __new__(
        cls,
        pre_tokenizer: str,
        vocab: Sequence[tuple[int, bytes]],
        merges: Sequence[tuple[int, int]],
        special_tokens: Sequence[tuple[str, int]],
        ignore_merges: bool = False,
        merge_by_rank: bool = False,
    ) -> Tokenizer: ...
    @overload
    def encode(
        self,
        text: str,
        allowed_special: _SpecialSpec | None = None,
        disallowed_special: _SpecialSpec | None = None,
        offsets: Literal[False] = False,
    ) -> list[int]: ...
    @overload
    def encode(
        self,
        text: str,
        allowed_special: _SpecialSpec | None = None,
        disallowed_special: _SpecialSpec | None = None,
        *,
        offsets: Literal[True],
    ) -> tuple[list[int], list[tuple[int, int]]]: ...
    @overload
    def encode(
        self,
        text: str,
        allowed_special: _SpecialSpec | None,
        disallowed_special: _SpecialSpec | None,
        offsets: bool,
    ) -> list[int] | tuple[list[int], list[tuple[int, int]]]: ...
    def encode_batch(
        self,
        texts: Sequence[str],
        allowed_special: _SpecialSpec | None = None,
        disallowed_special: _SpecialSpec | None = None,
        num_threads: int | None = None,
    ) -> list[list[int]]: ...
    def decode_bytes(self, ids: Sequence[int]) -> bytes: ...
    def id_to_token(self, id: int) -> bytes | None: ...
    def token_to_id(self, token: bytes) -> int | None: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def pre_tokenizer(self) -> str:
        """The preset name, or the custom regex."""
    @property
    def ignore_merges(self) -> bool: ...
    @property
    def merge_by_rank(self) -> bool: ...
    def model_vocab(self) -> list[tuple[int, bytes]]: ...
    def merges(self) -> list[tuple[int, int]]: ...
    def special_tokens(self) -> list[tuple[str, int]]: ...

@final
class PretokenCounter:
    """Streams a corpus into distinct pre-tokens with counts; ``train_bpe`` consumes it."""

    def __new__(cls, pre_tokenizer: str) -> PretokenCounter: ...
    def add_texts(self, texts: Sequence[str], num_threads: int | None = None) -> None: ...
    def add_file(self, path: str | PathLike[str]) -> None: ...
    def copy(self) -> PretokenCounter: ...
    def distinct(self) -> int: ...
    @property
    def pre_tokenizer(self) -> str: ...
    def to_bytes(self) -> bytes:
        """Versioned, length-prefixed (pre-token, count) pairs in byte order, plus the pre-tokenizer."""
    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> PretokenCounter: ...
    @staticmethod
    def merge_exports(exports: Sequence[bytes | bytearray]) -> bytes:
        """The export of the sum of ``to_bytes`` outputs (same pre-tokenizer), merged as sorted lists."""
    def merge(self, other: PretokenCounter) -> None:
        """Adds ``other``'s counts (``other`` is left unchanged; same pre-tokenizer required)."""
    def __reduce__(self) -> tuple[Callable[[bytes], PretokenCounter], tuple[bytes]]: ...

@final
class MorphLexicon:
    """The hybrid tokenizer's segmenter: root and suffix tries."""

    def __new__(cls, roots: Sequence[tuple[str, int]], suffixes: Sequence[tuple[str, int]]) -> MorphLexicon: ...
    def segment(self, word: str) -> list[tuple[int, int, int, int]]:
        """(kind 0 root / 1 suffix / 2 rest, start char, end char, class index or -1) per piece."""

def split_spans(text: str, pre_tokenizer: str) -> list[tuple[int, int]]: ...
def preset_patterns() -> list[tuple[str, str | None]]: ...
def derive_merges(tokens: Sequence[tuple[int, bytes]]) -> list[tuple[int, int]]: ...
def train_bpe(
    counter: PretokenCounter,
    vocab_size: int,
    min_frequency: int,
    max_token_length: int | None,
    special_tokens: Sequence[str],
    progress: _Progress | None = None,
    max_token_chars: int | None = None,
) -> Tokenizer: ...
def extend_bpe(
    tokenizer: Tokenizer,
    counter: PretokenCounter,
    new_tokens: int,
    min_frequency: int,
    max_token_length: int | None = None,
    max_token_chars: int | None = None,
    max_words: int | None = None,
    forbidden: Sequence[bytes] = ...,
    same_pre_tokenizer: bool = True,
    progress: _Progress | None = None,
) -> Tokenizer: ...
def bytelevel_valid_mask(
    tokenizer: Tokenizer,
    window: bytes,
    window_ids: Sequence[int],
    candidates: Sequence[int],
    probes: Sequence[bytes],
) -> list[bool]: ...
def word_boundaries(text: str, max_bytes: int | None = None) -> list[int]: ...
def word_boundaries_batch(
    texts: Sequence[str], max_bytes: int | None = None, num_threads: int | None = None
) -> list[list[int]]: ...
def last_safe_cut(tokenizer: Tokenizer, data: bytes, end: int | None = None) -> int | None: ...
