"""The store on SQLite: one writer connection (WAL, BEGIN IMMEDIATE, one transaction per change) and one
read-only connection, so API reads never wait behind a write."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from hikaze_mm.pipeline.walk import FileStat
from hikaze_mm.store.backup import backup_before_migration
from hikaze_mm.store.interfaces import FileIndex, HashRecord, ModelRow, PendingRow, StorageFull
from hikaze_mm.store.sqlite.checks import inspect_database
from hikaze_mm.store.sqlite.library import MODEL_COLUMNS, PENDING_COLUMNS, LibrarySQL, first_row
from hikaze_mm.store.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION
from hikaze_mm.store.sqlite.text import from_db

Fingerprint = tuple[Any, ...]


def _pending(row: Any) -> PendingRow | None:
    return PendingRow(*row) if row is not None else None


def _model(row: Any) -> ModelRow | None:
    return ModelRow(*row) if row is not None else None


def _disk_full(error: sqlite3.Error) -> bool:
    """SQLITE_FULL: a page or the WAL could not grow (Python before 3.11 gives only the message)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_FULL)
    return "database or disk is full" in str(error)


def _name(path: str) -> str:
    return os.path.basename(path)


async def _connect(path: Path, *, read_only: bool) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None, timeout=30)
    db.text_factory = from_db
    await db.execute("PRAGMA busy_timeout = 30000")
    await db.execute("PRAGMA foreign_keys = ON")
    if read_only:
        await db.execute("PRAGMA query_only = ON")
    else:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
    return db


class SQLiteStore(LibrarySQL):
    def __init__(self, path: Path):
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # A second reader for the slow tallies (tag and base-model counts over the whole library): on the first
        # they would hold up every page and detail queued behind them.
        self._tally_reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        # Path, fingerprint and status of every pending row and model, kept in step with every write below:
        # a walk of the whole library compares against it without a query.
        self._pending_files: dict[int, tuple[str, Fingerprint, str]] = {}  # id -> (path, fingerprint, status)
        self._pending_paths: dict[str, tuple[Fingerprint, str]] = {}
        self._model_files: dict[str, tuple[str, Fingerprint, str]] = {}  # sha256 -> (path, fingerprint, status)
        self._model_paths: dict[str, tuple[str, Fingerprint]] = {}  # path -> (sha256, fingerprint), ok models
        self._copies: dict[str, tuple[str, Fingerprint]] = {}  # path -> (sha256, fingerprint), other copies
        self._generation = 0
        self._answers: dict[tuple[str, tuple[Any, ...]], tuple[int, list[Any]]] = {}

    # -- life cycle -----------------------------------------------------------------------------------------
    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Nothing writes to an existing file (not even the switch to WAL) before it is known to be sound: a damaged
        # or newer database stays as it is for the user to restore or upgrade, never migrated or re-created over.
        # The store is opened only under the daemon lock, so the probe may remove the side files it made.
        version = await asyncio.to_thread(functools.partial(inspect_database, self.path, tidy=True))
        if 0 < version < SCHEMA_VERSION:
            await asyncio.to_thread(backup_before_migration, self.path, version)
        self._db = await _connect(self.path, read_only=False)
        try:
            await self._migrate()
            self._reader = await _connect(self.path, read_only=True)
            self._tally_reader = await _connect(self.path, read_only=True)
            await self._load_file_index()
        except BaseException:
            await self._db.close()
            self._db = None
            raise

    async def close(self) -> None:
        for conn in (self._tally_reader, self._reader, self._db):
            if conn is not None:
                await conn.close()
        self._db = self._reader = self._tally_reader = None

    async def _migrate(self) -> None:
        assert self._db is not None
        async with self._db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        for number in range(version + 1, SCHEMA_VERSION + 1):
            async with self._write() as db:
                for statement in _statements(MIGRATIONS[number - 1]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {number}")

    @asynccontextmanager
    async def _write(self, library: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """One logical change: all of it or none of it. A change that touches no model, tag or pending tag
        (`library=False`: the pipeline's row updates while files settle and hash) keeps the cached library
        counts, which would otherwise be recounted after every hashed file."""
        assert self._db is not None, "store is not open"
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    await self._db.execute("COMMIT")
                except BaseException:
                    # SQLite may have rolled back by itself already (a full disk at COMMIT, for one); a writer
                    # left inside a transaction would refuse every later write.
                    if self._db.in_transaction:
                        await self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                if _disk_full(e):
                    raise StorageFull(f"the change could not be saved: the disk holding the database "
                                      f"({self.path.parent}) is full; free some space there and try again") from e
                raise
            if library:
                self._generation += 1

    async def _one(self, sql: str, args: tuple[Any, ...] = (), *, fresh: bool = False) -> Any:
        rows = await self._all(sql, args, fresh=fresh)
        return rows[0] if rows else None

    async def _all(
        self, sql: str, args: tuple[Any, ...] = (), *, fresh: bool = False, tally: bool = False
    ) -> list[Any]:
        """Rows for the API come from the reader connection, slow tallies from their own. A `fresh` read, for a
        decision that a write will follow, goes through the writer between its transactions, so it sees every
        committed change."""
        if fresh:
            assert self._db is not None, "store is not open"
            async with self._lock:
                return list(await self._db.execute_fetchall(sql, args))
        reader = self._tally_reader if tally else self._reader
        assert reader is not None, "store is not open"
        # execute_fetchall is one trip to the connection's thread and leaves no statement open (an open one
        # would pin this connection to an old snapshot).
        return list(await reader.execute_fetchall(sql, args))

    # -- reading --------------------------------------------------------------------------------------------
    async def pending(self, pending_id: int) -> PendingRow | None:
        return _pending(await self._one(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE id = ?", (pending_id,), fresh=True
        ))

    async def pending_by_path(self, path: str) -> PendingRow | None:
        return _pending(await self._one(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE path = ?", (path,), fresh=True
        ))

    async def pending_detail(self, pending_id: int) -> dict[str, Any] | None:
        row = await self._one(
            f"SELECT {PENDING_COLUMNS}, meta_json FROM pending_import WHERE id = ?", (pending_id,)
        )
        if row is None:
            return None
        item = PendingRow(*row[:-1]).to_wire()
        item["meta_json"] = json.loads(row[-1] or "{}")
        tags = await self._all(
            "SELECT t.id, t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id "
            "WHERE p.pending_id = ? ORDER BY t.name",
            (pending_id,),
        )
        item["tags"] = [{"id": i, "name": n} for i, n in tags]
        images = await self._all(
            "SELECT seq, width, height FROM pending_images WHERE pending_id = ? ORDER BY seq", (pending_id,)
        )
        item["images"] = [{"seq": s, "width": w, "height": h} for s, w, h in images]
        return item

    async def list_pending(
        self, statuses: tuple[str, ...] | None, type_: str | None, limit: int, offset: int
    ) -> tuple[list[PendingRow], int]:
        where: list[str] = []
        args: list[Any] = []
        if statuses is not None:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if type_ is not None:
            where.append("type = ? COLLATE NOCASE")
            args.append(type_)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        (total,) = await self._one(f"SELECT count(*) FROM pending_import {clause}", tuple(args))
        rows = await self._all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import {clause} ORDER BY id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [PendingRow(*r) for r in rows], total

    async def pending_in_flight(self) -> list[PendingRow]:
        rows = await self._all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE status IN ('settling', 'hashing') ORDER BY id",
            fresh=True,
        )
        return [PendingRow(*r) for r in rows]

    async def model(self, sha256: str) -> ModelRow | None:
        return _model(await self._one(f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 = ?", (sha256,), fresh=True))

    async def model_by_path(self, path: str) -> ModelRow | None:
        return _model(await self._one(
            f"SELECT {MODEL_COLUMNS} FROM models WHERE path = ? ORDER BY status = 'ok' DESC LIMIT 1", (path,),
            fresh=True,
        ))

    async def rows_for_file(self, stat: FileStat) -> tuple[list[PendingRow], list[ModelRow]]:
        """Rows whose recorded file is this one (same device, inode, size and mtime): the candidates for a move."""
        args = (stat.device, stat.inode, stat.size, stat.mtime_ns)
        cond = "device = ? AND inode = ? AND size_bytes = ? AND mtime_ns = ?"
        pending = await self._all(f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE {cond}", args, fresh=True)
        models = await self._all(f"SELECT {MODEL_COLUMNS} FROM models WHERE {cond}", args, fresh=True)
        return [PendingRow(*r) for r in pending], [ModelRow(*r) for r in models]

    async def file_index(self) -> FileIndex:
        return FileIndex(
            self._pending_paths.copy(), {**self._copies, **self._model_paths}, self._model_files.copy()
        )

    async def _load_file_index(self) -> None:
        # Built whole rather than row by row through the _track_* helpers: at 200,000 files that is a third of
        # a second less before the daemon is ready.
        cols = "path, size_bytes, mtime_ns, inode, device"
        pending = await self._all(f"SELECT id, {cols}, status FROM pending_import")
        self._pending_files = {r[0]: (r[1], r[2:6], r[6]) for r in pending}
        self._pending_paths = {r[1]: (r[2:6], r[6]) for r in pending}
        models = await self._all(f"SELECT sha256, {cols}, status FROM models")
        self._model_files = {r[0]: (r[1], r[2:6], r[6]) for r in models}
        self._model_paths = {r[1]: (r[0], r[2:6]) for r in models if r[6] == "ok"}
        self._copies = {r[1]: (r[0], r[2:6]) for r in await self._all(f"SELECT sha256, {cols} FROM model_copies")}

    def _forget_model(self, sha256: str, paths: list[str]) -> None:
        self._model_files.pop(sha256, None)
        for path in paths:
            if self._model_paths.get(path, ("",))[0] == sha256:
                del self._model_paths[path]
            if self._copies.get(path, ("",))[0] == sha256:
                del self._copies[path]

    def _track_pending_file(self, pending_id: int, path: str, fingerprint: Fingerprint, status: str) -> None:
        self._untrack_pending(pending_id)
        self._pending_files[pending_id] = (path, fingerprint, status)
        self._pending_paths[path] = (fingerprint, status)

    def _untrack_pending(self, pending_id: int) -> None:
        old = self._pending_files.pop(pending_id, None)
        if old is not None:
            self._pending_paths.pop(old[0], None)

    def _track_model_file(self, sha256: str, path: str, fingerprint: Fingerprint, status: str) -> None:
        old = self._model_files.get(sha256)
        if old is not None and self._model_paths.get(old[0], ("",))[0] == sha256:
            del self._model_paths[old[0]]
        self._model_files[sha256] = (path, fingerprint, status)
        if status == "ok":
            self._model_paths[path] = (sha256, fingerprint)

    def _track_pending(self, row: PendingRow | None) -> PendingRow | None:
        if row is not None:
            self._track_pending_file(row.id, row.path, tuple(row.stat), row.status)
        return row

    def _track_model(self, row: ModelRow | None) -> ModelRow | None:
        if row is not None:  # the fingerprint as stored, NULLs included, like the one loaded at start
            self._track_model_file(row.sha256, row.path, (row.size_bytes, row.mtime_ns, row.inode, row.device),
                                   row.status)
        return row

    async def counts(self) -> dict[str, Any]:
        by_status = dict.fromkeys(("settling", "hashing", "ready", "conflict", "error", "ignored"), 0)
        for status, n in await self._all("SELECT status, count(*) FROM pending_import GROUP BY status"):
            by_status[status] = n
        models = dict(await self._all("SELECT status, count(*) FROM models GROUP BY status"))
        return {
            "models": models.get("ok", 0) + models.get("missing", 0),
            "missing": models.get("missing", 0),
            "pending": by_status,
        }

    # -- writing --------------------------------------------------------------------------------------------
    # Each method is one transaction; the file index is updated only once it has committed.
    async def reset_in_flight(self) -> int:
        async with self._write(library=False) as db:
            rows = await db.execute_fetchall(
                "UPDATE pending_import SET status = 'settling', updated_at = ? WHERE status = 'hashing' "
                f"RETURNING {PENDING_COLUMNS}",
                (time.time(),),
            )
        for r in rows:
            self._track_pending(PendingRow(*r))
        return len(rows)

    async def add_pending(self, path: str, name: str, type_: str, stat: FileStat) -> PendingRow:
        now = time.time()
        async with self._write(library=False) as db:
            row = PendingRow(*await first_row(
                db,
                "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, "
                "discovered_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'settling', ?, ?) "
                f"RETURNING {PENDING_COLUMNS}",
                (path, stat.size, stat.mtime_ns, stat.inode, stat.device, type_, name, now, now),
            ))
        self._track_pending(row)
        return row

    async def add_pending_many(self, files: list[tuple[str, str, FileStat]]) -> list[PendingRow]:
        """New files found by a walk, in one transaction; a path that got a row meanwhile is left alone."""
        now = time.time()
        added: list[PendingRow] = []
        async with self._write(library=False) as db:
            for path, type_, st in files:
                row = await first_row(
                    db,
                    "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, "
                    "discovered_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'settling', ?, ?) "
                    f"ON CONFLICT (path) DO NOTHING RETURNING {PENDING_COLUMNS}",
                    (path, st.size, st.mtime_ns, st.inode, st.device, type_, _name(path), now, now),
                )
                if row is not None:
                    added.append(PendingRow(*row))
        for row in added:
            self._track_pending(row)
        return added

    async def _update_pending(
        self, pending_id: int, sets: str, args: tuple[Any, ...], stat: FileStat | None = None
    ) -> PendingRow | None:
        if stat is not None:
            sets += ", size_bytes = ?, mtime_ns = ?, inode = ?, device = ?"
            args = (*args, stat.size, stat.mtime_ns, stat.inode, stat.device)
        async with self._write(library=False) as db:
            row = _pending(await first_row(
                db,
                f"UPDATE pending_import SET {sets}, updated_at = ? WHERE id = ? RETURNING {PENDING_COLUMNS}",
                (*args, time.time(), pending_id),
            ))
        return self._track_pending(row)

    async def resettle_pending(self, pending_id: int, stat: FileStat) -> PendingRow | None:
        return await self._update_pending(
            pending_id,
            "status = 'settling', sha256 = NULL, blake3 = NULL, conflict_sha256 = NULL, error = NULL, "
            "hashed_at = NULL",
            (),
            stat,
        )

    async def set_pending_status(
        self, pending_id: int, status: str, stat: FileStat | None = None
    ) -> PendingRow | None:
        return await self._update_pending(pending_id, "status = ?", (status,), stat)

    async def set_pending_conflict(
        self, pending_id: int, status: str, conflict_sha256: str | None
    ) -> PendingRow | None:
        return await self._update_pending(pending_id, "status = ?, conflict_sha256 = ?", (status, conflict_sha256))

    async def set_pending_error(self, pending_id: int, error: str, stat: FileStat | None) -> PendingRow | None:
        return await self._update_pending(pending_id, "status = 'error', error = ?", (error,), stat)

    async def record_hash(self, pending_id: int, record: HashRecord) -> PendingRow | None:
        return await self._update_pending(
            pending_id,
            "status = ?, sha256 = ?, blake3 = ?, conflict_sha256 = ?, error = NULL, hashed_at = ?, meta_json = ?",
            (record.status, record.sha256, record.blake3, record.conflict_sha256, time.time(),
             json.dumps(record.meta_json)),
            record.stat,
        )

    async def move_pending(self, pending_id: int, path: str, name: str, type_: str) -> PendingRow | None:
        async with self._write() as db:
            # A row already at the destination describes a file that the move just replaced.
            replaced = await db.execute_fetchall(
                "DELETE FROM pending_import WHERE path = ? AND id != ? RETURNING id", (path, pending_id)
            )
            row = _pending(await first_row(
                db,
                "UPDATE pending_import SET path = ?, name = ?, type = ?, updated_at = ? WHERE id = ? "
                f"RETURNING {PENDING_COLUMNS}",
                (path, name, type_, time.time(), pending_id),
            ))
        for (gone,) in replaced:
            self._untrack_pending(gone)
        return self._track_pending(row)

    async def delete_pending(self, pending_id: int) -> bool:
        async with self._write() as db:
            deleted = await first_row(db, "DELETE FROM pending_import WHERE id = ? RETURNING id", (pending_id,))
        self._untrack_pending(pending_id)
        return deleted is not None

    async def relink_model(
        self, sha256: str, path: str, type_: str, stat: FileStat, pending_id: int | None
    ) -> ModelRow | None:
        now = time.time()
        async with self._write() as db:
            if pending_id is not None:
                await db.execute("DELETE FROM pending_import WHERE id = ?", (pending_id,))
            row = _model(await first_row(
                db,
                "UPDATE models SET path = ?, name = CASE WHEN name = '' THEN ? ELSE name END, type = ?, "
                "size_bytes = ?, mtime_ns = ?, inode = ?, device = ?, status = 'ok', missing_since = NULL, "
                f"updated_at = ? WHERE sha256 = ? RETURNING {MODEL_COLUMNS}",
                (path, _name(path), type_, stat.size, stat.mtime_ns, stat.inode, stat.device, now, sha256),
            ))
        if pending_id is not None:
            self._untrack_pending(pending_id)
        return self._track_model(row)

    async def set_model_missing(self, sha256: str) -> ModelRow | None:
        now = time.time()
        async with self._write() as db:
            row = _model(await first_row(
                db,
                "UPDATE models SET status = 'missing', missing_since = coalesce(missing_since, ?), updated_at = ? "
                f"WHERE sha256 = ? RETURNING {MODEL_COLUMNS}",
                (now, now, sha256),
            ))
        return self._track_model(row)

    # -- sessions -------------------------------------------------------------------------------------------
    async def add_session(self, id_sha256: str, token_fp: str, created_at: float, expires_at: float) -> None:
        async with self._write(library=False) as db:
            await db.execute("INSERT INTO sessions (id_sha256, token_fp, created_at, expires_at) VALUES (?, ?, ?, ?)",
                             (id_sha256, token_fp, created_at, expires_at))

    async def session(self, id_sha256: str) -> tuple[str, float] | None:
        row = await self._one("SELECT token_fp, expires_at FROM sessions WHERE id_sha256 = ?", (id_sha256,))
        return (row[0], row[1]) if row is not None else None

    async def drop_sessions(self, keep_token_fp: str, now: float) -> int:
        """Forgets the sessions that expired or were issued under another auth_token."""
        async with self._write(library=False) as db:
            cur = await db.execute("DELETE FROM sessions WHERE expires_at <= ? OR token_fp != ?", (now, keep_token_fp))
            return cur.rowcount


def _statements(script: str) -> list[str]:
    """Split a migration into statements (ours never put a semicolon inside a literal)."""
    parts, current = [], ""
    for piece in script.split(";"):
        current += piece
        if sqlite3.complete_statement(current + ";"):
            if current.strip():
                parts.append(current.strip())
            current = ""
        else:
            current += ";"
    return parts
