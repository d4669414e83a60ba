"""The folders models sit in, with how many models each holds, read from the tally the database keeps."""

from __future__ import annotations

from hikaze_mm.store.listing import tally_where, where
from hikaze_mm.store.records import ModelQuery
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.search import SQL


class SQLiteFolders:
    def __init__(self, db: Database):
        self._db = db

    async def folder_counts(self, query: ModelQuery) -> list[tuple[str, int]]:
        conditions, args = tally_where(query, SQL, base_model=False)
        rows = await self._db.cached(
            f"SELECT dir, sum(n) AS models FROM folder_tally{where(conditions)} GROUP BY dir HAVING models > 0",
            args.tuple(),
        )
        return [(d, n) for d, n in rows]
