"""The metadata lookups on SQLite: the sources' last word per content, and the queue of contents to look up."""

from __future__ import annotations

import json

from hikaze_mm.store.records import LookupState, QueuedLookup
from hikaze_mm.store.sqlite.database import Database


class SQLiteLookups:
    def __init__(self, db: Database):
        self._db = db

    async def lookup_state(self, sha256: str) -> LookupState | None:
        row = await self._db.one("SELECT sha256, state, source, checked_at, notes, record FROM web_lookups "
                                 "WHERE sha256 = ?", (sha256,))
        if row is None:
            return None
        return LookupState(row[0], row[1], row[2], row[3], json.loads(row[4]),
                           json.loads(row[5]) if row[5] is not None else None)

    async def save_lookup(self, state: LookupState) -> None:
        async with self._db.write(library=False) as db:
            await db.execute(
                "INSERT OR REPLACE INTO web_lookups (sha256, state, source, checked_at, notes, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (state.sha256, state.state, state.source, state.checked_at, json.dumps(state.notes),
                 json.dumps(state.record) if state.record is not None else None))

    async def queue_lookups(self, shas: list[str], force: bool, now: float) -> None:
        async with self._db.write(library=False) as db:
            await db.executemany(
                "INSERT INTO lookup_queue (sha256, force, queued_at, not_before) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sha256) DO UPDATE SET force = max(force, excluded.force), "
                "not_before = min(not_before, excluded.not_before), attempts = 0, asks = asks + 1",
                [(sha, int(force), now, now) for sha in dict.fromkeys(shas)])

    async def due_lookups(self, now: float, limit: int) -> list[QueuedLookup]:
        rows = await self._db.all("SELECT sha256, force, attempts, asks FROM lookup_queue WHERE not_before <= ? "
                                  "ORDER BY not_before, queued_at LIMIT ?", (now, limit))
        return [QueuedLookup(r[0], bool(r[1]), r[2], r[3]) for r in rows]

    async def delay_lookup(self, sha256: str, not_before: float, *, force: bool = False) -> None:
        async with self._db.write(library=False) as db:
            await db.execute("UPDATE lookup_queue SET not_before = ?, attempts = attempts + 1, force = max(force, ?) "
                             "WHERE sha256 = ?", (not_before, int(force), sha256))

    async def drop_lookup(self, sha256: str, asks: int) -> None:
        async with self._db.write(library=False) as db:
            await db.execute("DELETE FROM lookup_queue WHERE sha256 = ? AND asks = ?", (sha256, asks))

    async def queued_lookups(self) -> int:
        return int((await self._db.one("SELECT count(*) FROM lookup_queue"))[0])

    async def unlooked_models(self, after: str, limit: int, not_found_before: float) -> list[str]:
        # Said as "no word worth keeping" (NOT EXISTS), not as a join whose misses are wanted: a walk of the models
        # by key, each looked up by key in web_lookups and lookup_queue, never a scan of those.
        rows = await self._db.all(
            "SELECT m.sha256 FROM models m WHERE m.sha256 > ?1 "
            "AND NOT EXISTS (SELECT 1 FROM web_lookups w WHERE w.sha256 = m.sha256 AND (w.state = 'found' "
            "OR (w.state = 'not_found' AND w.checked_at >= ?2))) "
            "AND NOT EXISTS (SELECT 1 FROM lookup_queue q WHERE q.sha256 = m.sha256) "
            "AND json_extract(m.meta_json, '$.never_fetch') IS NOT 1 ORDER BY m.sha256 LIMIT ?3",
            (after, not_found_before, limit))
        return [r[0] for r in rows]
