"""A model's other files on SQLite: the same content under other paths."""

from __future__ import annotations

import time

from hikaze_mm.store.library_records import copied_models, recorded_stat
from hikaze_mm.store.records import CopiedModel, FileStat, ModelRow
from hikaze_mm.store.sqlite.database import Database, first_row
from hikaze_mm.store.sqlite.file_index import SQLiteFileIndex
from hikaze_mm.store.sqlite.rows import IN_JSON, MODEL_COLUMNS, SET_STAT, json_list, model_row
from hikaze_mm.store.sqlite.search_index import reindex


class SQLiteCopies:
    def __init__(self, db: Database, index: SQLiteFileIndex):
        self._db = db
        self._index = index

    async def copy_at(self, path: str) -> tuple[str, FileStat] | None:
        row = await self._db.one(
            "SELECT sha256, size_bytes, mtime_ns, inode, device FROM model_copies WHERE path = ?", (path,), fresh=True
        )
        return (row[0], recorded_stat(*row[1:])) if row else None

    async def copies_of(self, sha256: str) -> list[str]:
        return [r[0] for r in await self._db.all(
            "SELECT path FROM model_copies WHERE sha256 = ? ORDER BY added_at, path", (sha256,), fresh=True)]

    async def remove_copy(self, path: str) -> None:
        async with self._db.write() as db:
            await db.execute("DELETE FROM model_copies WHERE path = ?", (path,))
        self._index.untrack_copy(path)

    async def move_copy(self, src: str, dest: str, stat: FileStat) -> None:
        async with self._db.write() as db:
            await db.execute(f"UPDATE model_copies SET path = ?, {SET_STAT} WHERE path = ?", (dest, *stat, src))
        self._index.move_copy(src, dest, stat)

    async def promote_copy(self, sha256: str, path: str, type_: str, stat: FileStat) -> ModelRow | None:
        """The model's main file is gone but this copy remains: the copy becomes the main path."""
        async with self._db.write() as db:
            await db.execute("DELETE FROM model_copies WHERE path = ?", (path,))
            row = model_row(await first_row(
                db,
                f"UPDATE models SET path = ?, type = ?, {SET_STAT}, status = 'ok', missing_since = NULL, "
                f"updated_at = ? WHERE sha256 = ? RETURNING {MODEL_COLUMNS}",
                (path, type_, *stat, time.time(), sha256),
            ))
            await reindex(db, sha256)
        self._index.untrack_copy(path)
        return self._index.track_model(row)

    async def models_with_copies(self, limit: int, offset: int) -> tuple[list[CopiedModel], int]:
        # Copies are few next to models, so the page is found from model_copies' index rather than by a scan of
        # every model.
        rows = await self._db.all(
            f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 IN (SELECT sha256 FROM model_copies) "
            "ORDER BY name COLLATE NOCASE, sha256 LIMIT ? OFFSET ?", (limit, offset))
        models = [ModelRow(*r) for r in rows]
        copies = await self._db.all(
            f"SELECT sha256, path, size_bytes, mtime_ns, inode, device FROM model_copies WHERE sha256 IN {IN_JSON} "
            "ORDER BY added_at, path", (json_list([m.sha256 for m in models]),))
        total = await self._db.one("SELECT COUNT(DISTINCT sha256) FROM model_copies")
        return copied_models(models, copies), total[0]
