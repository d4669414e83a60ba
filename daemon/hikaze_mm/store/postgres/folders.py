"""The folders models sit in, with how many models each holds, read from the tally the database keeps: every
host's models, as the library's other counts (a folder is a path of some host's)."""

from __future__ import annotations

from hikaze_mm.store.listing import tally_where, where
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.postgres.search import SQL
from hikaze_mm.store.records import ModelQuery


class PgFolders:
    def __init__(self, ctx: PgContext):
        self._db = ctx.db

    async def folder_counts(self, query: ModelQuery) -> list[tuple[str, int]]:
        conditions, args = tally_where(query, SQL, base_model=False)
        rows = await self._db.cached(
            f"SELECT dir, sum(n)::bigint FROM folder_tally{where(conditions)} GROUP BY dir HAVING sum(n) > 0 "
            "ORDER BY dir", args.tuple())
        return [(d, n) for d, n in rows]
