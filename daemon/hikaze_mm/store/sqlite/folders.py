"""The folders models sit in, with how many models each holds, read from the tally the database keeps."""

from __future__ import annotations

from hikaze_mm.store.records import ModelQuery
from hikaze_mm.store.sqlite.database import Database


class SQLiteFolders:
    def __init__(self, db: Database):
        self._db = db

    async def folder_counts(self, query: ModelQuery) -> list[tuple[str, int]]:
        where: list[str] = []
        args: list[object] = []
        if query.type:
            where.append("type = ? COLLATE NOCASE")
            args.append(query.type)
        if query.status != "all":
            where.append("status = ?")
            args.append(query.status)
        if query.hide_nsfw:
            where.append("hidden = 0")
        clause = " WHERE " + " AND ".join(where) if where else ""
        rows = await self._db.cached(
            f"SELECT dir, sum(n) AS models FROM folder_tally{clause} GROUP BY dir HAVING models > 0", tuple(args)
        )
        return [(d, n) for d, n in rows]
