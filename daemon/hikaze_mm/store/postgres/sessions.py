"""The page's sessions on PostgreSQL: only the sha256 of a session id is stored."""

from __future__ import annotations

from hikaze_mm.store.postgres.rows import PgContext


class PgSessions:
    def __init__(self, ctx: PgContext):
        self._db = ctx.db

    async def add_session(self, id_sha256: str, token_fp: str, created_at: float, expires_at: float) -> None:
        async with self._db.write(library=False) as conn:
            await conn.execute("INSERT INTO sessions (id_sha256, token_fp, created_at, expires_at) "
                               "VALUES ($1, $2, $3, $4)", id_sha256, token_fp, created_at, expires_at)

    async def session(self, id_sha256: str) -> tuple[str, float] | None:
        row = await self._db.one("SELECT token_fp, expires_at FROM sessions WHERE id_sha256 = $1", (id_sha256,))
        return (row[0], row[1]) if row is not None else None

    async def drop_sessions(self, keep_token_fp: str, now: float) -> int:
        """Forgets the sessions that expired or were issued under another auth_token."""
        async with self._db.write(library=False) as conn:
            done = await conn.execute("DELETE FROM sessions WHERE expires_at <= $1 OR token_fp != $2",
                                      now, keep_token_fp)
        return int(done.rsplit(" ", 1)[1])  # "DELETE n"
