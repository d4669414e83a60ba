"""The store backends the contract tests run against, and a SQLite store for the tests of that backend alone.

Each backend is in BACKENDS: an async context that gives an opened, empty store (SQLite in a temporary folder,
PostgreSQL in a fresh database of the session's server) and removes it afterwards.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.postgres.database import migrate
from hikaze_mm.store.postgres.store import PostgresStore
from hikaze_mm.store.records import FileStat, HashRecord, Meta, ModelRow, PendingRow, Promotion
from hikaze_mm.store.sqlite.migration_functions import FUNCTIONS
from hikaze_mm.store.sqlite.store import SQLiteStore
from pg_server import PgDatabase, PgServer, create_database, drop_database

STAT = FileStat(10, 1, 2, 3)


def sqlite_store(path: Path) -> SQLiteStore:
    """A SQLite store (not opened yet) applying the library's metadata rules, as the daemon builds it."""
    return SQLiteStore(path, RULES, HOST)


def with_migration_functions(conn: sqlite3.Connection) -> sqlite3.Connection:
    """A plain connection that can run the migrations, as the store's writer can."""
    for name, (arity, function) in FUNCTIONS.items():
        conn.create_function(name, arity, function, deterministic=True)
    return conn


HOST = "test-host"


@asynccontextmanager
async def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


_MIGRATED: dict[Path, str] = {}  # server folder -> a database `db migrate` made, which each test's copies


async def migrated_database(server: PgServer) -> PgDatabase:
    """A fresh database of the server with the whole schema, as `hikaze-mm db migrate` makes it."""
    template = _MIGRATED.get(server.folder)
    if template is None:
        made = await create_database(server)
        await migrate(made.dsn)
        _MIGRATED[server.folder] = template = made.name
    return await create_database(server, template)


@asynccontextmanager
async def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """A store on a fresh database of the session's PostgreSQL server."""
    server: PgServer = request.getfixturevalue("pg_server")
    database = await migrated_database(server)
    try:
        store = PostgresStore(database.dsn, HOST, RULES)
        await store.open()
        try:
            yield store
        finally:
            await store.close()
    finally:
        await drop_database(database)


@pytest.fixture(name="dsn")
async def dsn_fixture(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh migrated database of the session's PostgreSQL server, dropped afterwards."""
    database = await migrated_database(pg_server)
    try:
        yield database.dsn
    finally:
        await drop_database(database)


@pytest.fixture(name="hosts")
async def hosts_fixture(dsn: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """The stores of two hosts, `here` and `there`, on one database."""
    here, there = PostgresStore(dsn, "here", RULES), PostgresStore(dsn, "there", RULES)
    await here.open()
    await there.open()
    try:
        yield here, there
    finally:
        await there.close()
        await here.close()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], AbstractAsyncContextManager[Stores]]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(name="stores", params=sorted(BACKENDS))
async def stores_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """An opened, empty store of each backend in turn."""
    async with BACKENDS[request.param](request, tmp_path) as store:
        yield store


def sha(c: str) -> str:
    """A well-formed content id made of one repeated hex digit."""
    return c * 64


async def hashed_row(
    stores: Stores, path: str, sha256: str, *, status: str = "ready", conflict: str | None = None,
    meta: Meta | None = None, stat: FileStat = STAT,
) -> PendingRow:
    """A pending row for `path` whose file has been hashed."""
    row = await stores.pending.add_pending(path, os.path.basename(path), "loras", stat)
    recorded = await stores.pending.record_hash(row.id, HashRecord(sha256, sha256, stat, status, conflict, meta or {}))
    assert recorded is not None
    return recorded


async def new_model(
    stores: Stores, name: str, sha256: str, *, meta: Meta | None = None,
    images: list[tuple[int, int, int]] | None = None,
) -> ModelRow:
    """A model in the library, imported as new from its own pending row."""
    path = f"/m/loras/{name}.safetensors"
    row = await hashed_row(stores, path, sha256, meta=meta)
    model, _ = await stores.imports.promote(
        Promotion(row.id, sha256, "new", name, "loras", "unknown", meta or {}, path, STAT, [], images or [])
    )
    return model
