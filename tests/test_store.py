"""The SQLite store: numbered migrations, refusing a newer schema, one transaction per change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import run_cli
from hikaze_mm.migrations import SCHEMA_VERSION
from hikaze_mm.sqlite_store import SQLiteStore
from hikaze_mm.store import SchemaTooNew
from hikaze_mm.walk import FileStat

STAT = FileStat(10, 1, 2, 3)


async def test_fresh_database_is_migrated_and_in_wal_mode(tmp_path: Path):
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    row = await store.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    await store.close()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"models", "tags", "model_tags", "pending_import", "pending_tags"} <= tables
    assert row.status == "settling" and row.id == 1


async def test_reopening_keeps_data(tmp_path: Path):
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    await store.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    await store.close()
    await store.open()
    rows, total = await store.list_pending(None, None, 10, 0)
    await store.close()
    assert total == 1 and rows[0].path == "/m/loras/a.safetensors"


async def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path):
    db = tmp_path / "data" / "library.sqlite3"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = SQLiteStore(db)
    with pytest.raises(SchemaTooNew):
        await store.open()
    result = run_cli("serve", "--data-dir", str(db.parent), "--models-root", str(tmp_path / "m"), "--port", "1")
    assert result.returncode == 2 and "newer than this hikaze-mm" in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


async def test_failed_change_rolls_back_whole(tmp_path: Path):
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    first = await store.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    with pytest.raises(sqlite3.IntegrityError):
        await store.add_pending("/m/loras/a.safetensors", "again", "loras", STAT)
    rows, total = await store.list_pending(None, None, 10, 0)
    assert total == 1 and rows[0] == first
    second = await store.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", STAT)
    await store.close()
    assert second.id == 2


async def test_reset_in_flight_turns_hashing_back_to_settling(tmp_path: Path):
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    row = await store.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    await store.set_pending_status(row.id, "hashing")
    assert await store.reset_in_flight() == 1
    assert (await store.pending(row.id)).status == "settling"
    await store.close()
