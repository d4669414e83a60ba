"""Which files this host has, on PostgreSQL: the index of `store.file_index` over this host's rows only (the
other hosts' paths name files this machine cannot see), and the queries it cannot answer.

The load reads a cursor a chunk at a time inside one read-only repeatable-read transaction, so it sees one
snapshot of the database, as the changes noted meanwhile assume, and it builds the index on the event loop
between fetches, a few milliseconds at a time, rather than holding the loop for the whole load."""

from __future__ import annotations

from hikaze_mm.store.file_index import KeptFileIndex, Known
from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.rows import MODEL_COLUMNS, PENDING_COLUMNS, PgContext
from hikaze_mm.store.records import FileStat, ModelRow, PendingRow

FILE_COLUMNS = "path, size_bytes, mtime_ns, inode, device"
# Rows built into the index between two fetches: the event loop waits 10 ms at most for a chunk, and 300,000 rows
# load in under a second.
READ_CHUNK = 2_000
SAME_FILE = "host = $1 AND device = $2 AND inode = $3 AND size_bytes = $4 AND mtime_ns = $5"


class PgFileIndex(KeptFileIndex):
    def __init__(self, ctx: PgContext):
        super().__init__()
        self._ctx = ctx

    async def rows_for_file(self, stat: FileStat) -> tuple[list[PendingRow], list[ModelRow]]:
        """Rows whose recorded file is this one (same device, inode, size and mtime on this host): the candidates
        for a move."""
        args = (self._ctx.host, stat.device, stat.inode, stat.size, stat.mtime_ns)
        db = self._ctx.db
        pending = await db.all(f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE {SAME_FILE} ORDER BY id", args)
        models = await db.all(f"SELECT {MODEL_COLUMNS} FROM models WHERE {SAME_FILE} ORDER BY sha256", args)
        return [PendingRow(*r) for r in pending], [ModelRow(*r) for r in models]

    async def known_paths(self, paths: list[str]) -> set[str]:
        """Which of these paths of this host a pending row or a model (missing ones too) has."""
        rows = await self._ctx.db.all(
            "SELECT path FROM pending_import WHERE host = $1 AND path = ANY($2::text[]) UNION "
            "SELECT path FROM models WHERE host = $1 AND path = ANY($2::text[])", (self._ctx.host, texts(paths)))
        return {r[0] for r in rows}

    async def _read(self) -> Known:
        known = Known()
        loads = (
            (known.load_pending, f"SELECT id, {FILE_COLUMNS}, status FROM pending_import WHERE host = $1"),
            (known.load_models, f"SELECT sha256, {FILE_COLUMNS}, status FROM models WHERE host = $1"),
            (known.load_copies, f"SELECT sha256, {FILE_COLUMNS} FROM model_copies WHERE host = $1"),
        )
        db = self._ctx.db
        with db.reaching():
            async with db.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                for load, sql in loads:
                    cursor = await conn.cursor(sql, self._ctx.host)
                    while rows := await cursor.fetch(READ_CHUNK):
                        load(rows)
        return known
