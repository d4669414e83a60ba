"""The store backends the contract tests run against, and a SQLite store for the tests of that backend alone.

A second backend joins the contract suite by adding its factory to BACKENDS: an async function that builds an
opened, empty store in a temporary folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.sqlite.store import SQLiteStore


def sqlite_store(path: Path) -> SQLiteStore:
    """A SQLite store (not opened yet) applying the library's metadata rules, as the daemon builds it."""
    return SQLiteStore(path, RULES)


async def _open_sqlite(tmp_path: Path) -> Stores:
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    return store


BACKENDS: dict[str, Callable[[Path], Awaitable[Stores]]] = {"sqlite": _open_sqlite}


@pytest.fixture(params=sorted(BACKENDS))
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """An opened, empty store of each backend in turn."""
    store = await BACKENDS[request.param](tmp_path)
    yield store
    await store.close()
