"""The page's sessions on PostgreSQL: only the sha256 of a session id is stored, and each host's daemon keeps its
own (a login is to one daemon, under that daemon's auth_token: another host's daemon, started with another token,
must not end it)."""

from __future__ import annotations

from hikaze_mm.store.postgres.rows import PgContext


class PgSessions:
    def __init__(self, ctx: PgContext):
        self._db = ctx.db
        self._host = ctx.host

    async def add_session(self, id_sha256: str, token_fp: str, created_at: float, expires_at: float) -> None:
        async with self._db.write(library=False) as conn:
            await conn.execute("INSERT INTO sessions (host, id_sha256, token_fp, created_at, expires_at) "
                               "VALUES ($1, $2, $3, $4, $5)", self._host, id_sha256, token_fp, created_at, expires_at)

    async def session(self, id_sha256: str) -> tuple[str, float] | None:
        row = await self._db.one("SELECT token_fp, expires_at FROM sessions WHERE host = $1 AND id_sha256 = $2",
                                 (self._host, id_sha256))
        return (row[0], row[1]) if row is not None else None

    async def drop_sessions(self, keep_token_fp: str, now: float) -> int:
        """Forgets this host's sessions that expired or were issued under another auth_token."""
        async with self._db.write(library=False) as conn:
            done = await conn.execute("DELETE FROM sessions WHERE host = $1 AND (expires_at <= $2 OR token_fp != $3)",
                                      self._host, now, keep_token_fp)
        return int(done.rsplit(" ", 1)[1])  # "DELETE n"
