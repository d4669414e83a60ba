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
_FROM_DB = re.compile(f"{ESCAPE}([{ESCAPE}\uef01\uef80-\uefff])")
# PostgreSQL's text and jsonb hold no NUL at all, which SQLite's text does: there NUL is escaped too.
_NUL = ESCAPE + "\uef01"
# `\u0000` in JSON text: preceded by an even number of backslashes, so it is the escape, not text after a `\\`.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _escape_one(m: re.Match[str]) -> str:
    c = m.group()
    return ESCAPE + (ESCAPE if c == ESCAPE else chr(_BYTE_BASE + ord(c) - 0xDC00))


def _unescape_one(m: re.Match[str]) -> str:
    c = m.group(1)
    if c == ESCAPE:
        return ESCAPE
    return "\0" if c == "\uef01" else chr(0xDC00 + ord(c) - _BYTE_BASE)


def to_db(text: str) -> str:
    if text.isascii():
        return text
    return _TO_DB.sub(_escape_one, text)


def to_pg(text: str) -> str:
    """`to_db`, and NUL escaped as well."""
    escaped = to_db(text)
    return escaped.replace("\0", _NUL) if "\0" in escaped else escaped


def json_to_pg(text: str) -> str:
    """JSON text for jsonb: `to_db`, and each `\\u0000` escape (jsonb refuses it) written as the escaped NUL, which
    `from_db_text` turns back into a NUL character (then `json.loads(..., strict=False)` reads it)."""
    escaped = to_db(text)
    return _JSON_NUL.sub(lambda m: m.group(1) + _NUL, escaped) if "\\u0000" in escaped else escaped


def from_db_text(text: str) -> str:
    return _FROM_DB.sub(_unescape_one, text) if ESCAPE in text else text
