"""Contents by sha256 or a prefix of it on SQLite: the models with them and the files that hold them."""

from __future__ import annotations

from hikaze_mm.store.library_records import held_contents
from hikaze_mm.store.pending_records import HASHED_AS_IS
from hikaze_mm.store.records import HeldContent
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.rows import IN_JSON, json_list

# Each table is asked twice, by its sha256 index: for whole sha256s (?1) and for the range each prefix opens
# (?2: from the prefix up to the prefix followed by 'g', the first letter past the hex digits).
_SOURCES = (
    ("models m", "m.sha256, m.name, CASE WHEN m.status = 'ok' THEN m.path END", "m.sha256", ""),
    ("model_copies c", "c.sha256, NULL, c.path", "c.sha256", ""),
    ("pending_import q", "q.sha256, NULL, q.path", "q.sha256", f" AND q.status IN {HASHED_AS_IS}"),
)
_HELD = " UNION ALL ".join(
    f"SELECT {columns} FROM {table} WHERE {key} IN {IN_JSON.replace('?', '?1')}{extra} UNION ALL "
    f"SELECT {columns} FROM json_each(?2) p JOIN {table} ON {key} >= p.value AND {key} < p.value || 'g'{extra}"
    for table, columns, key, extra in _SOURCES
)


class SQLiteContents:
    def __init__(self, db: Database):
        self._db = db

    async def held(self, shas: list[str], prefixes: list[str]) -> list[HeldContent]:
        if not shas and not prefixes:
            return []
        return held_contents(await self._db.all(_HELD, (json_list(shas), json_list(prefixes))))
