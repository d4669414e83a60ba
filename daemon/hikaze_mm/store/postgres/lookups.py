"""The metadata lookups on PostgreSQL: the sources' last word per content is every host's (the record is about the
content, not a file), the queue of contents to look up is this host's own."""

from __future__ import annotations

from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.records import LookupState, QueuedLookup


class PgLookups:
    def __init__(self, ctx: PgContext):
        self._db = ctx.db
        self._host = ctx.host

    async def lookup_state(self, sha256: str) -> LookupState | None:
        row = await self._db.one("SELECT sha256, state, source, checked_at, notes, record FROM web_lookups "
                                 "WHERE sha256 = $1", (sha256,))
        return LookupState(row[0], row[1], row[2], row[3], row[4], row[5]) if row is not None else None

    async def save_lookup(self, state: LookupState) -> None:
        async with self._db.write(library=False) as conn:
            await conn.execute(
                "INSERT INTO web_lookups (sha256, state, source, checked_at, notes, record) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO UPDATE SET state = EXCLUDED.state, "
                "source = EXCLUDED.source, checked_at = EXCLUDED.checked_at, notes = EXCLUDED.notes, "
                "record = EXCLUDED.record",
                state.sha256, state.state, state.source, state.checked_at, state.notes, state.record)

    async def queue_lookups(self, shas: list[str], force: bool, now: float) -> None:
        async with self._db.write(library=False) as conn:
            await conn.execute(
                "INSERT INTO lookup_queue (host, sha256, force, queued_at, not_before) "
                "SELECT $1, sha, $3, $4, $4 FROM unnest($2::text[]) AS sha "
                "ON CONFLICT (host, sha256) DO UPDATE SET force = lookup_queue.force OR EXCLUDED.force, "
                "not_before = least(lookup_queue.not_before, EXCLUDED.not_before), attempts = 0, "
                "asks = lookup_queue.asks + 1",
                self._host, texts(list(dict.fromkeys(shas))), force, now)

    async def due_lookups(self, now: float, limit: int) -> list[QueuedLookup]:
        rows = await self._db.all("SELECT sha256, force, attempts, asks FROM lookup_queue WHERE host = $1 "
                                  "AND not_before <= $2 ORDER BY not_before, queued_at LIMIT $3",
                                  (self._host, now, limit))
        return [QueuedLookup(r[0], r[1], r[2], r[3]) for r in rows]

    async def delay_lookup(self, sha256: str, not_before: float, *, force: bool = False) -> None:
        async with self._db.write(library=False) as conn:
            await conn.execute("UPDATE lookup_queue SET not_before = $3, attempts = attempts + 1, force = force OR $4 "
                               "WHERE host = $1 AND sha256 = $2", self._host, sha256, not_before, force)

    async def drop_lookup(self, sha256: str, asks: int) -> None:
        async with self._db.write(library=False) as conn:
            await conn.execute("DELETE FROM lookup_queue WHERE host = $1 AND sha256 = $2 AND asks = $3",
                               self._host, sha256, asks)

    async def queued_lookups(self) -> int:
        return int(await self._db.value("SELECT count(*) FROM lookup_queue WHERE host = $1", (self._host,)))

    async def unlooked_models(self, after: str, limit: int, not_found_before: float) -> list[str]:
        # Said as "no word worth keeping" (NOT EXISTS), not as a join whose misses are wanted: the planner then
        # walks the models' key beside web_lookups' (a merge or nested-loop anti join), where the join's filter,
        # misjudged, had it scan and sort both tables for every page.
        rows = await self._db.all(
            "SELECT m.sha256 FROM models m WHERE m.sha256 > $1 "
            "AND NOT EXISTS (SELECT 1 FROM web_lookups w WHERE w.sha256 = m.sha256 AND (w.state = 'found' "
            "OR (w.state = 'not_found' AND w.checked_at >= $3))) "
            "AND NOT EXISTS (SELECT 1 FROM lookup_queue q WHERE q.host = $4 AND q.sha256 = m.sha256) "
            "AND m.meta_json -> 'never_fetch' IS DISTINCT FROM 'true'::jsonb ORDER BY m.sha256 LIMIT $2",
            (after, limit, not_found_before, self._host))
        return [r[0] for r in rows]
