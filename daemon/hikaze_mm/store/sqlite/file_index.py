"""Which files the store knows, on SQLite: the index of `store.file_index`, read from the file in a thread of its
own (at a million rows it takes seconds of sqlite3 calls, which would hold the event loop), and the queries it
cannot answer."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hikaze_mm.store.file_index import KeptFileIndex, Known
from hikaze_mm.store.records import FileStat, ModelRow, PendingRow
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.rows import FILE_COLUMNS, MODEL_COLUMNS, PENDING_COLUMNS
from hikaze_mm.store.sqlite.text import from_db

KNOWN_PATHS_CHUNK = 500  # far below SQLite's limit of bound values
READ_CHUNK = 10_000  # rows fetched at a time while loading: no list of every row at once


class SQLiteFileIndex(KeptFileIndex):
    def __init__(self, db: Database):
        super().__init__()
        self._db = db

    async def rows_for_file(self, stat: FileStat) -> tuple[list[PendingRow], list[ModelRow]]:
        """Rows whose recorded file is this one (same device, inode, size and mtime): the candidates for a move."""
        args = (stat.device, stat.inode, stat.size, stat.mtime_ns)
        cond = "device = ? AND inode = ? AND size_bytes = ? AND mtime_ns = ?"
        pending = await self._db.all(f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE {cond}", args, fresh=True)
        models = await self._db.all(f"SELECT {MODEL_COLUMNS} FROM models WHERE {cond}", args, fresh=True)
        return [PendingRow(*r) for r in pending], [ModelRow(*r) for r in models]

    async def known_paths(self, paths: list[str]) -> set[str]:
        """Which of these paths a pending row or a model (missing ones too) has."""
        known: set[str] = set()
        for start in range(0, len(paths), KNOWN_PATHS_CHUNK):
            chunk = paths[start:start + KNOWN_PATHS_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = await self._db.all(f"SELECT path FROM pending_import WHERE path IN ({marks}) UNION "
                                      f"SELECT path FROM models WHERE path IN ({marks})", (*chunk, *chunk), fresh=True)
            known.update(r[0] for r in rows)
        return known

    async def _read(self) -> Known:
        return await asyncio.to_thread(_read_index, self._db.path)


def _read_index(path: Path) -> Known:
    """Every file row, read on a connection of this thread's own inside one read transaction (one snapshot of
    the database), and built into the index's tables."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30)
    conn.text_factory = from_db
    known = Known()
    try:
        conn.execute("BEGIN")
        for rows in _chunks(conn.execute(f"SELECT id, {FILE_COLUMNS}, status FROM pending_import")):
            known.load_pending(rows)
        for rows in _chunks(conn.execute(f"SELECT sha256, {FILE_COLUMNS}, status FROM models")):
            known.load_models(rows)
        for rows in _chunks(conn.execute(f"SELECT sha256, {FILE_COLUMNS} FROM model_copies")):
            known.load_copies(rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return known


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(READ_CHUNK):
        yield rows
