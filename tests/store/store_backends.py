"""The store backends the contract tests run against, and a SQLite store for the tests of that backend alone.

A second backend joins the contract suite by adding its factory to BACKENDS: an async function that builds an
opened, empty store in a temporary folder.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import FileStat, HashRecord, Meta, ModelRow, PendingRow, Promotion
from hikaze_mm.store.sqlite.migration_functions import FUNCTIONS
from hikaze_mm.store.sqlite.store import SQLiteStore

STAT = FileStat(10, 1, 2, 3)


def sqlite_store(path: Path) -> SQLiteStore:
    """A SQLite store (not opened yet) applying the library's metadata rules, as the daemon builds it."""
    return SQLiteStore(path, RULES)


def with_migration_functions(conn: sqlite3.Connection) -> sqlite3.Connection:
    """A plain connection that can run the migrations, as the store's writer can."""
    for name, (arity, function) in FUNCTIONS.items():
        conn.create_function(name, arity, function, deterministic=True)
    return conn


async def _open_sqlite(tmp_path: Path) -> Stores:
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    return store


BACKENDS: dict[str, Callable[[Path], Awaitable[Stores]]] = {"sqlite": _open_sqlite}


@pytest.fixture(name="stores", params=sorted(BACKENDS))
async def stores_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """An opened, empty store of each backend in turn."""
    store = await BACKENDS[request.param](tmp_path)
    yield store
    await store.close()


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
