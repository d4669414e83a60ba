"""Chores on PostgreSQL: one-off work over what an earlier version stored, and the models and rows it goes through.

Schema 1 starts with none (a new database holds nothing an earlier version left). A chore that reads files goes
through this host's files only: those are the ones this daemon can read."""

from __future__ import annotations

from hikaze_mm.store.postgres.models import take_sidecar_tags
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.postgres.search_index import reindex_many

# The rows whose sidecar tags are not noted yet (a JSON null is noted: nothing to add).
_NOT_NOTED = "meta_json #> '{sidecars,tags}' IS NULL"


class PgChores:
    def __init__(self, ctx: PgContext):
        self._ctx = ctx
        self._db = ctx.db

    async def chores(self) -> list[str]:
        return [r[0] for r in await self._db.all("SELECT name FROM chores ORDER BY name")]

    async def chore_done(self, name: str) -> None:
        async with self._db.write() as conn:
            await conn.execute("DELETE FROM chores WHERE name = $1", name)

    async def model_files(self, after: str, limit: int) -> list[tuple[str, str]]:
        return [(sha, path) for sha, path in await self._db.all(
            "SELECT sha256, path FROM models WHERE sha256 > $1 AND status = 'ok' AND host = $2 ORDER BY sha256 "
            "LIMIT $3", (after, self._ctx.host, limit))]

    async def pending_files(self, after: int, limit: int) -> list[tuple[int, str]]:
        return [(i, path) for i, path in await self._db.all(
            f"SELECT id, path FROM pending_import WHERE id > $1 AND host = $2 AND sha256 IS NOT NULL AND {_NOT_NOTED} "
            "ORDER BY id LIMIT $3", (after, self._ctx.host, limit))]

    async def add_pending_sidecar_tags(self, tags: dict[int, list[str]]) -> int:
        """One statement for the batch. Only where none is noted yet: a row hashed again meanwhile read its
        sidecars afresh. (A `sidecars` that is not an object, which no version writes, gives way.)"""
        async with self._db.write() as conn:
            done = await conn.execute(
                "UPDATE pending_import p SET meta_json = jsonb_set(p.meta_json, '{sidecars}', "
                "CASE jsonb_typeof(p.meta_json -> 'sidecars') WHEN 'object' THEN p.meta_json -> 'sidecars' "
                "ELSE '{}' END || jsonb_build_object('tags', given.value)) FROM jsonb_each($1::jsonb) AS given "
                f"WHERE p.id = given.key::bigint AND p.host = $2 AND p.{_NOT_NOTED}",
                {str(pending_id): names for pending_id, names in tags.items()}, self._ctx.host)
        return int(done.rsplit(" ", 1)[1])  # "UPDATE n"

    async def add_sidecar_tags(self, tags: dict[str, list[str]]) -> dict[str, list[str]]:
        taken: dict[str, list[str]] = {}
        async with self._db.write() as conn:
            for sha256, names in tags.items():
                joined = await take_sidecar_tags(conn, self._ctx.rules, sha256, {"sidecars": {"tags": names}}, None)
                if joined:
                    taken[sha256] = joined
            await reindex_many(conn, list(taken))
        return taken
