"""Which files the store knows: an in-memory index of every pending row's and model's path and fingerprint,
loaded when the store opens and kept in step by every part of the store after each write commits, so a walk of
the whole library compares against it without a query."""

from __future__ import annotations

from hikaze_mm.store.records import FileIndex, FileStat, Fingerprint, ModelRow, PendingRow
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.rows import FILE_COLUMNS, MODEL_COLUMNS, PENDING_COLUMNS

KNOWN_PATHS_CHUNK = 500  # far below SQLite's limit of bound values


class SQLiteFileIndex:
    def __init__(self, db: Database):
        self._db = db
        self._pending_files: dict[int, tuple[str, Fingerprint, str]] = {}  # id -> (path, fingerprint, status)
        self._pending_paths: dict[str, tuple[Fingerprint, str]] = {}
        self._model_files: dict[str, tuple[str, Fingerprint, str]] = {}  # sha256 -> (path, fingerprint, status)
        self._model_paths: dict[str, tuple[str, Fingerprint]] = {}  # path -> (sha256, fingerprint), ok models
        self._copies: dict[str, tuple[str, Fingerprint]] = {}  # path -> (sha256, fingerprint), other copies

    # -- FileIndexStore -------------------------------------------------------------------------------------
    async def file_index(self) -> FileIndex:
        return FileIndex(
            self._pending_paths.copy(), {**self._copies, **self._model_paths}, self._model_files.copy()
        )

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

    # -- kept in step by the other parts, after their writes commit ----------------------------------------------
    async def load(self) -> None:
        # Built whole rather than row by row through track_*: at 200,000 files that is a third of a second less
        # before the daemon is ready.
        pending = await self._db.all(f"SELECT id, {FILE_COLUMNS}, status FROM pending_import")
        self._pending_files = {r[0]: (r[1], r[2:6], r[6]) for r in pending}
        self._pending_paths = {r[1]: (r[2:6], r[6]) for r in pending}
        models = await self._db.all(f"SELECT sha256, {FILE_COLUMNS}, status FROM models")
        self._model_files = {r[0]: (r[1], r[2:6], r[6]) for r in models}
        self._model_paths = {r[1]: (r[0], r[2:6]) for r in models if r[6] == "ok"}
        self._copies = {r[1]: (r[0], r[2:6]) for r in await self._db.all(f"SELECT sha256, {FILE_COLUMNS} "
                                                                          "FROM model_copies")}

    def track_pending(self, row: PendingRow | None) -> PendingRow | None:
        if row is not None:
            self.untrack_pending(row.id)
            fingerprint = tuple(row.stat)
            self._pending_files[row.id] = (row.path, fingerprint, row.status)
            self._pending_paths[row.path] = (fingerprint, row.status)
        return row

    def untrack_pending(self, pending_id: int) -> None:
        old = self._pending_files.pop(pending_id, None)
        if old is not None:
            self._pending_paths.pop(old[0], None)

    def track_model(self, row: ModelRow | None) -> ModelRow | None:
        if row is None:
            return None
        old = self._model_files.get(row.sha256)
        if old is not None and self._model_paths.get(old[0], ("",))[0] == row.sha256:
            del self._model_paths[old[0]]
        # The fingerprint as stored, NULLs included, like the one loaded at start.
        self._model_files[row.sha256] = (row.path, row.fingerprint, row.status)
        if row.status == "ok":
            self._model_paths[row.path] = (row.sha256, row.fingerprint)
        return row

    def forget_model(self, sha256: str, paths: list[str]) -> None:
        self._model_files.pop(sha256, None)
        for path in paths:
            if self._model_paths.get(path, ("",))[0] == sha256:
                del self._model_paths[path]
            if self._copies.get(path, ("",))[0] == sha256:
                del self._copies[path]

    def track_copy(self, path: str, sha256: str, stat: FileStat) -> None:
        self._copies[path] = (sha256, tuple(stat))

    def untrack_copy(self, path: str) -> None:
        self._copies.pop(path, None)

    def move_copy(self, src: str, dest: str, stat: FileStat) -> None:
        entry = self._copies.pop(src, None)
        if entry is not None:
            self._copies[dest] = (entry[0], tuple(stat))
