"""What ComfyUI used, on PostgreSQL: the models at the files it loaded on this host, and the uses counted, each
once ever whichever daemon of the library a batch reaches (the key of `counted_uses` sees to it)."""

from __future__ import annotations

from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.records import Use, UsesCounted
from hikaze_mm.store.usage_counts import by_model, first_of_each, report


class PgUsage:
    def __init__(self, ctx: PgContext):
        self._db = ctx.db
        self._host = ctx.host

    async def models_at(self, paths: list[str]) -> dict[str, str]:
        args = (self._host, texts(paths))
        found = {path: sha for path, sha in await self._db.all(
            "SELECT path, sha256 FROM model_copies WHERE host = $1 AND path = ANY($2::text[])", args)}
        # A main file over a copy's row; `ok` last, so it wins over a missing model's stale path.
        found.update((path, sha) for path, sha in await self._db.all(
            "SELECT path, sha256 FROM models WHERE host = $1 AND path = ANY($2::text[]) ORDER BY status = 'ok'",
            args))
        return found

    async def models_named(self, sha256s: list[str]) -> set[str]:
        return {r[0] for r in await self._db.all(
            "SELECT sha256 FROM models WHERE sha256 = ANY($1::text[])", (texts(sha256s),))}

    async def files_at(self, device: int, inode: int) -> list[tuple[str, str]]:
        return [(path, sha) for path, sha in await self._db.all(
            "SELECT path, sha256 FROM models WHERE host = $1 AND device = $2 AND inode = $3 "
            "UNION ALL SELECT path, sha256 FROM model_copies WHERE host = $1 AND device = $2 AND inode = $3",
            (self._host, device, inode))]

    async def count_uses(self, uses: list[Use], now: float, forget_before: float) -> UsesCounted:
        first = first_of_each(uses)
        async with self._db.write() as conn:
            await conn.execute("DELETE FROM counted_uses WHERE counted_at < $1", forget_before)
            new = {r[0] for r in await conn.fetch(
                "INSERT INTO counted_uses (id, counted_at) SELECT id, $2 FROM unnest($1::text[]) AS id "
                "ON CONFLICT (id) DO NOTHING RETURNING id", texts(list(first)), now)}
            gained = by_model(first, new)
            rows = await conn.fetch(
                "UPDATE models m SET use_count = m.use_count + u.n, last_used_at = greatest(m.last_used_at, u.at) "
                "FROM unnest($1::text[], $2::bigint[], $3::float8[]) AS u (sha256, n, at) WHERE m.sha256 = u.sha256 "
                "RETURNING m.sha256, m.use_count, m.last_used_at",
                texts(list(gained)), [n for n, _ in gained.values()], [at for _, at in gained.values()])
        return report(uses, new, gained, [(r[0], r[1], r[2]) for r in rows])
