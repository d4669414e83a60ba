"""Text as SQLite holds it: the escape of `store.text` applied to every value bound and read.

SQLite hands text back as bytes here (the connections' `text_factory`), so a database written by another program
with bytes that are not UTF-8 still opens.
"""

from __future__ import annotations

import sqlite3

from hikaze_mm.store.text import ESCAPE, from_db_text, to_db

__all__ = ["ESCAPE", "from_db", "to_db"]
_ESCAPE_UTF8 = ESCAPE.encode()


def from_db(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")  # "replace" only matters for a database written by another program
    return from_db_text(text) if _ESCAPE_UTF8 in raw else text


# Every str bound to a statement of any connection in this process goes through `to_db` (a str adapter costs
# about a tenth of a microsecond per value); each connection of ours reads text back with `from_db`.
sqlite3.register_adapter(str, to_db)
