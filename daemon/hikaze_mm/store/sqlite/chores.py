"""Chores on SQLite: one-off work over what an earlier version stored, and the models and rows it goes through."""

from __future__ import annotations

import json

from hikaze_mm.store.interfaces import MetadataRules
from hikaze_mm.store.records import Meta
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.models import take_sidecar_tags
from hikaze_mm.store.sqlite.search_index import reindex


class SQLiteChores:
    def __init__(self, db: Database, rules: MetadataRules):
        self._db = db
        self._rules = rules

    async def chores(self) -> list[str]:
        return [r[0] for r in await self._db.all("SELECT name FROM chores ORDER BY name", fresh=True)]

    async def chore_done(self, name: str) -> None:
        async with self._db.write() as db:
            await db.execute("DELETE FROM chores WHERE name = ?", (name,))

    async def model_files(self, after: str, limit: int) -> list[tuple[str, str]]:
        return [(sha, path) for sha, path in await self._db.all(
            "SELECT sha256, path FROM models WHERE sha256 > ? AND status = 'ok' ORDER BY sha256 LIMIT ?",
            (after, limit), fresh=True)]

    async def pending_files(self, after: int, limit: int) -> list[tuple[int, str]]:
        return [(i, path) for i, path in await self._db.all(
            "SELECT id, path FROM pending_import WHERE id > ? AND sha256 IS NOT NULL "
            "AND json_type(meta_json, '$.sidecars.tags') IS NULL ORDER BY id LIMIT ?", (after, limit), fresh=True)]

    async def add_pending_sidecar_tags(self, tags: dict[int, list[str]]) -> int:
        noted = 0
        async with self._db.write() as db:
            for pending_id, names in tags.items():
                # Only where none is noted yet: a row hashed again meanwhile read its sidecars afresh.
                cursor = await db.execute(
                    "UPDATE pending_import SET meta_json = json_set(meta_json, '$.sidecars.tags', json(?)) "
                    "WHERE id = ? AND json_type(meta_json, '$.sidecars.tags') IS NULL", (json.dumps(names), pending_id))
                noted += cursor.rowcount
        return noted

    async def add_sidecar_tags(self, tags: dict[str, list[str]]) -> dict[str, list[str]]:
        taken: dict[str, list[str]] = {}
        async with self._db.write() as db:
            for sha256, names in tags.items():
                incoming: Meta = {"sidecars": {"tags": names}}
                joined = await take_sidecar_tags(db, self._rules, sha256, incoming, None)
                if joined:
                    await reindex(db, sha256)
                    taken[sha256] = joined
        return taken
