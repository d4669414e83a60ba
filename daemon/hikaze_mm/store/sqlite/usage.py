"""What ComfyUI used, on SQLite: the models at the files it loaded, and the uses counted, each once ever."""

from __future__ import annotations

from hikaze_mm.store.records import Use, UsesCounted
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.rows import IN_JSON, json_list
from hikaze_mm.store.usage_counts import by_model, first_of_each, report


class SQLiteUsage:
    def __init__(self, db: Database):
        self._db = db

    async def models_at(self, paths: list[str]) -> dict[str, str]:
        found = {path: sha for path, sha in await self._db.all(
            f"SELECT path, sha256 FROM model_copies WHERE path IN {IN_JSON}", (json_list(paths),))}
        # A main file over a copy's row; `ok` last, so it wins over a missing model's stale path.
        found.update((path, sha) for path, sha in await self._db.all(
            f"SELECT path, sha256 FROM models WHERE path IN {IN_JSON} ORDER BY status = 'ok'", (json_list(paths),)))
        return found

    async def models_named(self, sha256s: list[str]) -> set[str]:
        return {r[0] for r in await self._db.all(
            f"SELECT sha256 FROM models WHERE sha256 IN {IN_JSON}", (json_list(sha256s),))}

    async def files_at(self, device: int, inode: int) -> list[tuple[str, str]]:
        return [(path, sha) for path, sha in await self._db.all(
            "SELECT path, sha256 FROM models WHERE device = ?1 AND inode = ?2 "
            "UNION ALL SELECT path, sha256 FROM model_copies WHERE device = ?1 AND inode = ?2", (device, inode))]

    async def count_uses(self, uses: list[Use], now: float, forget_before: float) -> UsesCounted:
        first = first_of_each(uses)
        async with self._db.write() as db:
            await db.execute("DELETE FROM counted_uses WHERE counted_at < ?", (forget_before,))
            # The key keeps each id once: what the insert hands back is what was not counted before.
            new = {r[0] for r in await db.execute_fetchall(
                f"INSERT INTO counted_uses (id, counted_at) SELECT value, ? FROM {IN_JSON} WHERE true "
                "ON CONFLICT (id) DO NOTHING RETURNING id", (now, json_list(list(first))))}
            gained = by_model(first, new)
            models = []
            for sha, (n, at) in gained.items():
                rows = list(await db.execute_fetchall(
                    "UPDATE models SET use_count = use_count + ?, last_used_at = max(last_used_at, ?) "
                    "WHERE sha256 = ? RETURNING use_count, last_used_at", (n, at, sha)))
                models += [(sha, count, last) for count, last in rows]
        return report(uses, new, gained, models)
