"""The byte tokenizer of tokfree's byte-level models: UTF-8 bytes as ids, plus three special ids.

Ids 0-255 are the byte values themselves, so ``ids == list(text.encode("utf-8"))`` with no table;
above them sit ``PAD_ID = 256``, ``EOS_ID = 257`` and ``BOS_ID = 258`` (``VOCAB_SIZE = 259``).
Byte models need no trained vocabulary: this class only adds the special ids, batching, padding
and tensor output. It does not split words (`tokfree.words` does) and does not normalize text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from tokfree._text import require_str, surrogate_error
from tokfree.errors import TokfreeError, UnknownIdError

__all__ = ["ByteTokenizer"]


class ByteTokenizer:
    """Bytes 0-255 as ids, with padding (256), end-of-sequence (257) and beginning-of-sequence (258).

    Example:
        >>> tok = ByteTokenizer()
        >>> tok.encode("hé", add_bos=True)
        [258, 104, 195, 169]
        >>> tok.decode([258, 104, 195, 169, 257, 256])
        'hé'
        >>> batch = tok.encode_batch(["hi", "a"], add_eos=True)
        >>> batch["input_ids"], batch["attention_mask"]
        ([[104, 105, 257], [97, 257, 256]], [[1, 1, 1], [1, 1, 0]])
    """

    PAD_ID = 256
    EOS_ID = 257
    BOS_ID = 258
    VOCAB_SIZE = 259

    @property
    def vocab_size(self) -> int:
        """259: the 256 byte values and the three special ids."""
        return self.VOCAB_SIZE

    @property
    def special_ids(self) -> dict[str, int]:
        """``{"pad": 256, "eos": 257, "bos": 258}``."""
        return {"pad": self.PAD_ID, "eos": self.EOS_ID, "bos": self.BOS_ID}

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """The UTF-8 bytes of `text` as ids, optionally between BOS and EOS.

        Args:
            text: the text.
            add_bos: put `BOS_ID` first.
            add_eos: put `EOS_ID` last.

        Returns:
            The ids (each byte value is its own id).

        Raises:
            TokfreeError: `text` is not a `str` or holds a lone surrogate.

        Example:
            >>> ByteTokenizer().encode("Hi!", add_eos=True)
            [72, 105, 33, 257]
        """
        data = self._bytes(text, "text")
        return [self.BOS_ID] * add_bos + list(data) + [self.EOS_ID] * add_eos

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of `ids`, skipping the special ids (lossless: ``decode_bytes(encode(t)) == t.encode()``).

        Raises:
            UnknownIdError: an id is not in 0..258.

        Example:
            >>> ByteTokenizer().decode_bytes([258, 195, 169, 256])
            b'\\xc3\\xa9'
        """
        out = bytearray()
        for position, value in enumerate(ids):
            index = int(value)
            if 0 <= index < 256:
                out.append(index)
            elif not self.PAD_ID <= index < self.VOCAB_SIZE:
                raise UnknownIdError(
                    f"id {index} at position {position} is not a byte tokenizer id (valid: 0-255 bytes, 256 pad, 257 eos, "
                    "258 bos); pass ids made by ByteTokenizer"
                )
        return bytes(out)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`, skipping special ids; bytes that are not valid UTF-8 become U+FFFD.

        Accepts a list, a 1-D tensor or array, or any iterable of ints.

        Raises:
            UnknownIdError: an id is not in 0..258.

        Example:
            >>> ByteTokenizer().decode([104, 105, 257])
            'hi'
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()  # a tensor or array: one conversion instead of one per element
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        max_length: int | None = None,
        padding: bool | Literal["max_length"] = True,
        return_tensors: Literal["pt", "np"] | None = None,
    ) -> dict[str, Any]:
        """Ids and attention masks for a batch of texts, right-padded with `PAD_ID`.

        Args:
            texts: the texts.
            add_bos: start every row with `BOS_ID`.
            add_eos: end every row with `EOS_ID` (after truncation, so it is always there).
            max_length: the most ids per row, specials included; longer texts lose their last
                bytes (possibly in the middle of a character). None: no limit.
            padding: True pads to the longest row; "max_length" pads to `max_length`; False
                leaves rows at their own lengths (only without `return_tensors`, or when all rows
                are equally long).
            return_tensors: None for lists, "pt" for torch.long tensors, "np" for int64 arrays.

        Returns:
            ``{"input_ids": (B, T), "attention_mask": (B, T)}``, the mask 1 for real ids (BOS and
            EOS included) and 0 for padding.

        Raises:
            TokfreeError: a text is not a `str`; `max_length` is smaller than the special ids
                it must hold; an unknown `padding` or `return_tensors`; padding=False with tensors
                of ragged rows.

        Example:
            >>> out = ByteTokenizer().encode_batch(["abc", "d"], add_bos=True, return_tensors="pt")
            >>> out["input_ids"]
            tensor([[258,  97,  98,  99],
                    [258, 100, 256, 256]])
            >>> out["attention_mask"]
            tensor([[1, 1, 1, 1],
                    [1, 1, 0, 0]])
        """
        import numpy as np

        if isinstance(texts, str):
            raise TokfreeError("texts is a single str; pass a list of texts (e.g. [text]), or call encode(text)")
        if return_tensors not in (None, "pt", "np"):
            raise TokfreeError(f"return_tensors={return_tensors!r} is not known; pass None (lists), 'pt' (torch) or 'np' (numpy)")
        if padding not in (True, False, "max_length"):
            raise TokfreeError(f"padding={padding!r} is not known; pass True (to the longest row), 'max_length' or False")
        specials = int(add_bos) + int(add_eos)
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < max(specials, 1)):
            raise TokfreeError(
                f"max_length={max_length!r} cannot hold a row: it must be an int >= {max(specials, 1)} (the BOS/EOS ids asked for "
                "count toward it); pass a larger max_length or None"
            )
        if padding == "max_length" and max_length is None:
            raise TokfreeError("padding='max_length' needs max_length; pass max_length=N, or padding=True to pad to the longest row")
        room = None if max_length is None else max_length - specials
        datas = [self._bytes(text, f"texts[{number}]")[:room] for number, text in enumerate(texts)]
        lengths = np.array([len(d) + specials for d in datas], dtype=np.int64)
        if padding is False and return_tensors is not None and len(set(lengths.tolist())) > 1:
            raise TokfreeError(
                f"padding=False gives rows of lengths {sorted(set(lengths.tolist()))[:5]}, which do not fit in one tensor; "
                "pass padding=True, or return_tensors=None for lists"
            )
        width = max_length if padding == "max_length" else int(lengths.max(initial=0))
        # All bytes in one buffer, then one scatter into the padded matrix (no per-row loop in numpy).
        flat = np.frombuffer(b"".join(datas), dtype=np.uint8).astype(np.int64)
        sizes = lengths - specials
        ids = np.full((len(datas), width), self.PAD_ID, dtype=np.int64)
        rows = np.repeat(np.arange(len(datas)), sizes)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(sizes) - sizes, sizes) + int(add_bos)
        ids[rows, cols] = flat
        if add_bos and len(datas):
            ids[:, 0] = self.BOS_ID
        if add_eos and len(datas):
            ids[np.arange(len(datas)), lengths - 1] = self.EOS_ID
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        if return_tensors == "np":
            return {"input_ids": ids, "attention_mask": mask}
        if return_tensors == "pt":
            import torch

            return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if padding is False:
            return {
                "input_ids": [row[:n] for row, n in zip(ids.tolist(), lengths.tolist())],
                "attention_mask": [[1] * n for n in lengths.tolist()],
            }
        return {"input_ids": ids.tolist(), "attention_mask": mask.tolist()}

    @staticmethod
    def _bytes(text: object, what: str) -> bytes:
        require_str(text, what)
        try:
            return text.encode("utf-8")  # type: ignore[union-attr]
        except UnicodeEncodeError:
            raise surrogate_error([text], what) from None  # type: ignore[list-item]

    def __repr__(self) -> str:
        return "ByteTokenizer(vocab_size=259, pad=256, eos=257, bos=258)"
