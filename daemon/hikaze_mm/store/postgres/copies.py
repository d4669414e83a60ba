"""A model's other files on PostgreSQL: the same content under other paths, each on one host. Every lookup and
change is of this host's copies: a path names a file only on the host that has it, and the duplicates a daemon
lists are those it can reach (and trash)."""

from __future__ import annotations

import time

from hikaze_mm.store.library_records import copied_models, recorded_stat
from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.file_index import PgFileIndex
from hikaze_mm.store.postgres.models import set_file
from hikaze_mm.store.postgres.rows import MODEL_COLUMNS, PgContext, model_row
from hikaze_mm.store.postgres.search_index import reindex
from hikaze_mm.store.records import CopiedModel, FileStat, ModelRow


class PgCopies:
    def __init__(self, ctx: PgContext, index: PgFileIndex):
        self._ctx = ctx
        self._index = index

    async def copy_at(self, path: str) -> tuple[str, FileStat] | None:
        row = await self._ctx.db.one(
            "SELECT sha256, size_bytes, mtime_ns, inode, device FROM model_copies WHERE host = $1 AND path = $2",
            (self._ctx.host, path))
        return (row[0], recorded_stat(*row[1:])) if row else None

    async def copies_of(self, sha256: str) -> list[str]:
        return [r[0] for r in await self._ctx.db.all(
            "SELECT path FROM model_copies WHERE sha256 = $1 AND host = $2 ORDER BY added_at, path",
            (sha256, self._ctx.host))]

    async def remove_copy(self, path: str) -> None:
        async with self._ctx.db.write() as conn:
            await conn.execute("DELETE FROM model_copies WHERE host = $1 AND path = $2", self._ctx.host, path)
        self._index.untrack_copy(path)

    async def move_copy(self, src: str, dest: str, stat: FileStat) -> None:
        async with self._ctx.db.write() as conn:
            await conn.execute(f"UPDATE model_copies SET {set_file(1)} WHERE host = $1 AND path = $7",
                               self._ctx.host, dest, *stat, src)
        self._index.move_copy(src, dest, stat)

    async def promote_copy(self, sha256: str, path: str, type_: str, stat: FileStat) -> ModelRow | None:
        """The model's main file is gone but this copy remains: the copy becomes the main path."""
        async with self._ctx.db.write() as conn:
            await conn.execute("DELETE FROM model_copies WHERE host = $1 AND path = $2", self._ctx.host, path)
            row = model_row(await conn.fetchrow(
                f"UPDATE models SET {set_file(1)}, type = $7, status = 'ok', missing_since = NULL, updated_at = $8 "
                f"WHERE sha256 = $9 RETURNING {MODEL_COLUMNS}", self._ctx.host, path, *stat, type_, time.time(),
                sha256))
            await reindex(conn, sha256)
        self._index.untrack_copy(path)
        return self._index.track_model(row)

    async def models_with_copies(self, limit: int, offset: int) -> tuple[list[CopiedModel], int]:
        """The models that have copies on this host, by name, each with those copies."""
        db, host = self._ctx.db, self._ctx.host
        # Copies are few next to models, so the page is found from model_copies' index rather than by a scan of
        # every model.
        models = [ModelRow(*r) for r in await db.all(
            f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 IN (SELECT sha256 FROM model_copies WHERE host = $1) "
            "ORDER BY lower(name), sha256 LIMIT $2 OFFSET $3", (host, limit, offset))]
        copies = await db.all(
            "SELECT sha256, path, size_bytes, mtime_ns, inode, device FROM model_copies "
            "WHERE host = $1 AND sha256 = ANY($2::text[]) ORDER BY added_at, path",
            (host, texts([m.sha256 for m in models])))
        total = await db.value("SELECT count(DISTINCT sha256) FROM model_copies WHERE host = $1", (host,))
        return copied_models(models, copies), total
