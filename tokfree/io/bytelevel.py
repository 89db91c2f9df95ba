"""The GPT-2 byte <-> unicode table that `tokenizer.json` byte-level vocabularies are written in.

Printable bytes (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF) stand for themselves; the other 68 bytes, in
increasing order, are written as U+0100..U+0143 (space is 'Ġ', newline 'Ċ').
"""

from __future__ import annotations


def _byte_to_char() -> list[str]:
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    table, shifted = [], 0x100
    for byte in range(256):
        if byte in printable:
            table.append(chr(byte))
        else:
            table.append(chr(shifted))
            shifted += 1
    return table


BYTE_TO_CHAR: list[str] = _byte_to_char()
CHAR_TO_BYTE: dict[str, int] = {char: byte for byte, char in enumerate(BYTE_TO_CHAR)}


def bytes_to_unicode(token: bytes) -> str:
    """Token bytes -> the string `tokenizer.json` stores."""
    return "".join(BYTE_TO_CHAR[byte] for byte in token)


def unicode_to_bytes(token: str) -> bytes | None:
    """A `tokenizer.json` token string -> its bytes, or None if a character is outside the table."""
    try:
        return bytes(CHAR_TO_BYTE[char] for char in token)
    except KeyError:
        return None
