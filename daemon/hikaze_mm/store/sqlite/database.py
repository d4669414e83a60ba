"""The one SQLite database every part of the store works through: one writer connection (WAL, BEGIN IMMEDIATE,
one transaction per change) and read-only connections, so API reads never wait behind a write."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from hikaze_mm.store.backup import backup_before_migration
from hikaze_mm.store.errors import StorageFull
from hikaze_mm.store.sqlite.checkpoints import BACKSTOP_PAGES, KEPT_WAL_BYTES, Checkpointer
from hikaze_mm.store.sqlite.checks import closed_cleanly, file_state, inspect_database
from hikaze_mm.store.sqlite.migration_functions import FUNCTIONS as MIGRATION_FUNCTIONS
from hikaze_mm.store.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION
from hikaze_mm.store.sqlite.text import from_db

SQLITE_FULL = 13  # sqlite3.SQLITE_FULL, which Python only names from 3.11
MAX_CACHED_ANSWERS = 256


def _disk_full(error: sqlite3.Error) -> bool:
    """SQLITE_FULL: a page or the WAL could not grow (Python before 3.11 gives only the message)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == SQLITE_FULL)
    return "database or disk is full" in str(error)


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
        await db.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        await db.execute(f"PRAGMA journal_size_limit = {KEPT_WAL_BYTES}")
    return db


async def first_row(db: aiosqlite.Connection, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Any:
    rows = list(await db.execute_fetchall(sql, args))
    return rows[0] if rows else None


class Database:
    def __init__(self, path: Path):
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # A second reader for the slow tallies (tag and base-model counts over the whole library): on the first
        # they would hold up every page and detail queued behind them.
        self._tally_reader: aiosqlite.Connection | None = None
        self.checkpoints: Checkpointer | None = None
        self._lock = asyncio.Lock()
        self.generation = 0  # how many write transactions that touch the library have committed
        self._answers: dict[tuple[str, tuple[Any, ...]], tuple[int, list[Any]]] = {}

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Nothing writes to an existing file (not even the switch to WAL) before it is known to be sound: a damaged
        # or newer database stays as it is for the user to restore or upgrade, never migrated or re-created over.
        # The store is opened only under the daemon lock, so the probe may remove the side files it made. SQLite's
        # check of every page is left out for a file exactly as this store left it at a clean close (checked when
        # it was opened, and written by nothing but SQLite since): a crash, another program or a restored copy
        # changes what the note says, and then every page is checked.
        check = await asyncio.to_thread(_changed_since_closed, self.path)
        version = await asyncio.to_thread(functools.partial(inspect_database, self.path, tidy=True, check=check))
        if 0 < version < SCHEMA_VERSION:
            await asyncio.to_thread(backup_before_migration, self.path, version)
        self._db = await _connect(self.path, read_only=False)
        try:
            await self._migrate()
            self._reader = await _connect(self.path, read_only=True)
            self._tally_reader = await _connect(self.path, read_only=True)
            self.checkpoints = Checkpointer(self.path)
            await self.checkpoints.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        opened = self._tally_reader is not None
        if self.checkpoints is not None:
            await self.checkpoints.stop()
            self.checkpoints = None
        for conn in (self._tally_reader, self._reader, self._db):
            if conn is not None:
                await conn.close()
        self._db = self._reader = self._tally_reader = None
        if opened:
            await asyncio.to_thread(_note_closed, self.path)

    async def _migrate(self) -> None:
        assert self._db is not None
        (version,) = await first_row(self._db, "PRAGMA user_version")
        for name, (arity, function) in MIGRATION_FUNCTIONS.items():
            await self._db.create_function(name, arity, function, deterministic=True)
        for number in range(version + 1, SCHEMA_VERSION + 1):
            async with self.write() as db:
                for statement in _statements(MIGRATIONS[number - 1]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {number}")

    @asynccontextmanager
    async def write(self, library: bool = True) -> AsyncIterator[aiosqlite.Connection]:
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
                    if self.checkpoints is not None:
                        self.checkpoints.wrote()
                except BaseException:
                    # SQLite may have rolled back by itself already (a full disk at COMMIT, for one); a writer
                    # left inside a transaction would refuse every later write.
                    if self._db.in_transaction:
                        await self._rollback()
                    raise
            except sqlite3.Error as e:
                if _disk_full(e):
                    raise StorageFull(f"the change could not be saved: the disk holding the database "
                                      f"({self.path.parent}) is full; free some space there and try again") from e
                raise
            if library:
                self.generation += 1

    async def _rollback(self) -> None:
        assert self._db is not None
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.OperationalError:
            # A COMMIT cancelled while the connection's thread ran it ends the transaction before this ROLLBACK,
            # queued behind it, runs: nothing is left to undo, and the cancellation must go on, not this error.
            if self._db.in_transaction:
                raise

    async def one(self, sql: str, args: tuple[Any, ...] = (), *, fresh: bool = False) -> Any:
        rows = await self.all(sql, args, fresh=fresh)
        return rows[0] if rows else None

    async def all(
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

    async def cached(self, sql: str, args: tuple[Any, ...], *, tally: bool = False) -> list[Any]:
        """Counts and tallies are taken once per state of the database: paging through a result asks for the same
        total again and again, and on a large library counting is the slow part."""
        key = (sql, args)
        generation = self.generation  # before the read: a write committing meanwhile makes this answer stale
        cached = self._answers.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        rows = await self.all(sql, args, tally=tally)
        if len(self._answers) > MAX_CACHED_ANSWERS:
            self._answers.clear()
        self._answers[key] = (generation, rows)
        return rows


def _changed_since_closed(path: Path) -> bool:
    """Whether the file may have changed since this store's last clean close; the note goes either way, before
    anything is written, so a crash from here on leaves none."""
    note = closed_cleanly(path)
    try:
        noted = json.loads(note.read_text())
    except (OSError, ValueError):
        return True
    note.unlink(missing_ok=True)
    return noted != file_state(path)


def _note_closed(path: Path) -> None:
    if file_state(path) is None:
        return  # another connection still has the file open, or changes wait in a journal: check it next time
    note = closed_cleanly(path)
    tmp = note.with_name(note.name + ".tmp")
    with contextlib.suppress(OSError):  # no note costs only the check next time
        # A write by anything else right after this one could land within the same tick of the filesystem's
        # clock and leave size and mtime as they are; an mtime with nanoseconds of our own choosing, which no
        # later write sets by chance, tells it apart.
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns // 10**9 * 10**9 + secrets.randbelow(10**9)))
        tmp.write_text(json.dumps(file_state(path)))
        os.replace(tmp, note)


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
