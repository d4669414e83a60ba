"""Which files the store knows: an in-memory index of every pending row's and model's path and fingerprint,
loaded when the store opens and kept in step by every part of the store after each write commits, so a walk of
the whole library compares against it without a query.

At a million files loading takes seconds, so it runs in a thread of its own while the daemon starts and serves:
the changes committed meanwhile are noted in order and applied on top of the loaded index (each note sets a row's
final state, so one the load already saw is applied again harmlessly). Only the walks, which read the index
whole, wait for it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hikaze_mm.store.records import FileIndex, FileStat, Fingerprint, ModelRow, PendingRow
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.rows import FILE_COLUMNS, MODEL_COLUMNS, PENDING_COLUMNS
from hikaze_mm.store.sqlite.text import from_db

KNOWN_PATHS_CHUNK = 500  # far below SQLite's limit of bound values
READ_CHUNK = 10_000  # rows fetched at a time while loading: no list of every row at once


class SQLiteFileIndex:
    def __init__(self, db: Database):
        self._db = db
        self._pending_files: dict[int, tuple[str, Fingerprint, str]] = {}  # id -> (path, fingerprint, status)
        self._pending_paths: dict[str, tuple[Fingerprint, str]] = {}
        self._model_files: dict[str, tuple[str, Fingerprint, str]] = {}  # sha256 -> (path, fingerprint, status)
        self._model_paths: dict[str, tuple[str, Fingerprint]] = {}  # path -> (sha256, fingerprint), ok models
        self._copies: dict[str, tuple[str, Fingerprint]] = {}  # path -> (sha256, fingerprint), other copies
        self._loading: asyncio.Task[None] | None = None
        self._asked = asyncio.Event()
        self._copying = asyncio.Lock()
        # The changes committed while the index loads, in order, to apply once it is in.
        self._noted: list[tuple[Callable[..., None], tuple[Any, ...]]] | None = None

    # -- FileIndexStore -------------------------------------------------------------------------------------
    async def loaded(self) -> None:
        while self._loading is None and self._noted is not None:  # opened, and no walk asked for it yet
            await self._asked.wait()
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def file_index(self) -> FileIndex:
        """A copy of the index as it stands. At a million files copying takes tens of milliseconds, so it is made
        in a thread, with the changes committed meanwhile noted and applied once it is done (the copy is of one
        moment, and the event loop is never held for all of it)."""
        if self._loading is None and self._noted is not None:
            self._start_loading()
        await self.loaded()
        async with self._copying:
            self._noted = []
            try:
                return await asyncio.to_thread(self._copy)
            finally:
                self._apply_noted()

    def _copy(self) -> FileIndex:
        # Each copy is one step that holds the GIL (about 15 ms for 500,000 entries); between them the loop runs.
        models_ok = self._copies.copy()
        models_ok.update(self._model_paths)
        return FileIndex(self._pending_paths.copy(), models_ok, self._model_files.copy())

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

    # -- loading --------------------------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Note every change from now on; the index itself is read when a walk first asks for it, after its own
        walking (three threads of Python sharing the GIL at start-up would slow the API's answers)."""
        self._noted = []
        self._asked = asyncio.Event()

    def _start_loading(self) -> None:
        self._loading = asyncio.create_task(self._load(), name="file-index")
        self._asked.set()

    async def stop_loading(self) -> None:
        """Wait for a load still running (its thread cannot be stopped halfway), whatever became of it."""
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)

    async def _load(self) -> None:
        try:
            loaded = await asyncio.to_thread(_read_index, self._db.path)
            self._pending_files, self._pending_paths, self._model_files, self._model_paths, self._copies = loaded
        finally:
            self._apply_noted()

    def _apply_noted(self) -> None:
        noted, self._noted = self._noted or [], None
        for change, args in noted:
            change(*args)

    def _change(self, change: Callable[..., None], *args: Any) -> None:
        if self._noted is not None:
            self._noted.append((change, args))
        else:
            change(*args)

    # -- kept in step by the other parts, after their writes commit ----------------------------------------------
    def track_pending(self, row: PendingRow | None) -> PendingRow | None:
        if row is not None:
            self._change(self._track_pending, row)
        return row

    def untrack_pending(self, pending_id: int) -> None:
        self._change(self._untrack_pending, pending_id)

    def track_model(self, row: ModelRow | None) -> ModelRow | None:
        if row is not None:
            self._change(self._track_model, row)
        return row

    def forget_model(self, sha256: str, paths: list[str]) -> None:
        self._change(self._forget_model, sha256, paths)

    def track_copy(self, path: str, sha256: str, stat: FileStat) -> None:
        self._change(self._set_copy, path, sha256, tuple(stat))

    def untrack_copy(self, path: str) -> None:
        self._change(self._untrack_copy, path)

    def move_copy(self, src: str, dest: str, stat: FileStat) -> None:
        self._change(self._move_copy, src, dest, tuple(stat))

    def _track_pending(self, row: PendingRow) -> None:
        self._untrack_pending(row.id)
        fingerprint = tuple(row.stat)
        self._pending_files[row.id] = (row.path, fingerprint, row.status)
        self._pending_paths[row.path] = (fingerprint, row.status)

    def _untrack_pending(self, pending_id: int) -> None:
        old = self._pending_files.pop(pending_id, None)
        if old is not None:
            self._pending_paths.pop(old[0], None)

    def _track_model(self, row: ModelRow) -> None:
        old = self._model_files.get(row.sha256)
        if old is not None and self._model_paths.get(old[0], ("",))[0] == row.sha256:
            del self._model_paths[old[0]]
        # The fingerprint as stored, NULLs included, like the one loaded at start.
        self._model_files[row.sha256] = (row.path, row.fingerprint, row.status)
        if row.status == "ok":
            self._model_paths[row.path] = (row.sha256, row.fingerprint)

    def _forget_model(self, sha256: str, paths: list[str]) -> None:
        self._model_files.pop(sha256, None)
        for path in paths:
            if self._model_paths.get(path, ("",))[0] == sha256:
                del self._model_paths[path]
            if self._copies.get(path, ("",))[0] == sha256:
                del self._copies[path]

    def _set_copy(self, path: str, sha256: str, fingerprint: Fingerprint) -> None:
        self._copies[path] = (sha256, fingerprint)

    def _untrack_copy(self, path: str) -> None:
        self._copies.pop(path, None)

    def _move_copy(self, src: str, dest: str, fingerprint: Fingerprint) -> None:
        entry = self._copies.pop(src, None)
        if entry is not None:
            self._copies[dest] = (entry[0], fingerprint)


Loaded = tuple[
    dict[int, tuple[str, Fingerprint, str]], dict[str, tuple[Fingerprint, str]],
    dict[str, tuple[str, Fingerprint, str]], dict[str, tuple[str, Fingerprint]], dict[str, tuple[str, Fingerprint]],
]


def _read_index(path: Path) -> Loaded:
    """Every file row, read on a connection of this thread's own inside one read transaction (one snapshot of
    the database), and built into the index's dicts."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30)
    conn.text_factory = from_db
    try:
        conn.execute("BEGIN")
        pending_files: dict[int, tuple[str, Fingerprint, str]] = {}
        pending_paths: dict[str, tuple[Fingerprint, str]] = {}
        for rows in _chunks(conn.execute(f"SELECT id, {FILE_COLUMNS}, status FROM pending_import")):
            for r in rows:
                fingerprint, status = r[2:6], r[6]
                pending_files[r[0]] = (r[1], fingerprint, status)
                pending_paths[r[1]] = (fingerprint, status)
        model_files: dict[str, tuple[str, Fingerprint, str]] = {}
        model_paths: dict[str, tuple[str, Fingerprint]] = {}
        for rows in _chunks(conn.execute(f"SELECT sha256, {FILE_COLUMNS}, status FROM models")):
            for r in rows:
                model_files[r[0]] = (r[1], r[2:6], r[6])
                if r[6] == "ok":
                    model_paths[r[1]] = (r[0], r[2:6])
        copies = {r[1]: (r[0], r[2:6]) for rows in _chunks(conn.execute(f"SELECT sha256, {FILE_COLUMNS} FROM "
                                                                           "model_copies")) for r in rows}
        conn.execute("COMMIT")
    finally:
        conn.close()
    return pending_files, pending_paths, model_files, model_paths, copies


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(READ_CHUNK):
        yield rows
