"""Text as a database holds it: names that are not valid UTF-8, stored so they come back byte for byte.

A Linux file name is bytes. Python turns bytes that are not UTF-8 (a name written under another system's
encoding, `caf\\xe9.safetensors`) into lone surrogates (`caf\\udce9`, PEP 383) so the same `str` opens the same
file again. SQLite and PostgreSQL text must be UTF-8, which has no lone surrogates, so at the database boundary
each such surrogate becomes an escape of two private-use characters, and the escape character itself is doubled:
the mapping is reversible for every string, and a name that is valid UTF-8 (nearly all of them) is stored
unchanged. Above the store, paths are always the PEP 383 strings the filesystem calls take; JSON carries them as
`\\udce9`. Both backends use this one mapping, so a library copied from one to the other keeps its names.
"""

from __future__ import annotations

import re

ESCAPE = "\uef00"
_BYTE_BASE = 0xEF00  # an undecodable byte 0xXX (always 0x80-0xFF) is written as ESCAPE + chr(_BYTE_BASE + 0xXX)
_TO_DB = re.compile(f"[{ESCAPE}\udc80-\udcff]")
_FROM_DB = re.compile(f"{ESCAPE}([{ESCAPE}\uef80-\uefff])")


def _escape_one(m: re.Match[str]) -> str:
    c = m.group()
    return ESCAPE + (ESCAPE if c == ESCAPE else chr(_BYTE_BASE + ord(c) - 0xDC00))


def _unescape_one(m: re.Match[str]) -> str:
    c = m.group(1)
    return ESCAPE if c == ESCAPE else chr(0xDC00 + ord(c) - _BYTE_BASE)


def to_db(text: str) -> str:
    if text.isascii():
        return text
    return _TO_DB.sub(_escape_one, text)


def from_db_text(text: str) -> str:
    return _FROM_DB.sub(_unescape_one, text) if ESCAPE in text else text
