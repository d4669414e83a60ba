"""The SQLite store: numbered migrations, refusing a newer schema, one transaction per change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import run_cli
from hikaze_mm.migrations import SCHEMA_VERSION
from hikaze_mm.sqlite_store import SQLiteStore
from hikaze_mm.store import ModelQuery, SchemaTooNew
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


async def test_file_index_stays_equal_to_the_database(tmp_path: Path):
    """The walk compares against an in-memory index the store keeps in step with its writes; after any mix of
    writes it must equal the index a fresh start loads from the file."""
    db = tmp_path / "db.sqlite3"
    store = SQLiteStore(db)
    await store.open()
    a = await store.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    b, c = await store.add_pending_many([
        ("/m/loras/b.safetensors", "loras", FileStat(20, 2, 3, 4)),
        ("/m/vae/c.safetensors", "vae", FileStat(30, 3, 4, 5)),
    ])
    await store.move_pending(a.id, "/m/vae/c.safetensors", "c.safetensors", "vae")  # replaces c's row
    await store.set_pending_status(b.id, "hashing", FileStat(21, 9, 3, 4))
    await store.reset_in_flight()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO models (sha256, path, name, type, size_bytes, mtime_ns, inode, device, created_at, "
            "updated_at) VALUES (?, '/m/x.safetensors', 'x', 'loras', 5, 1, 1, 1, 0, 0)", ("a" * 64,)
        )
    await store.close()
    await store.open()
    await store.relink_model("a" * 64, "/m/loras/b.safetensors", "loras", FileStat(21, 9, 3, 4), b.id)
    await store.set_model_missing("a" * 64)
    await store.relink_model("a" * 64, "/m/loras/new.safetensors", "loras", FileStat(7, 7, 7, 7), None)
    await store.delete_pending(c.id)
    live = await store.file_index()
    await store.close()

    fresh = SQLiteStore(db)
    await fresh.open()
    loaded = await fresh.file_index()
    await fresh.close()
    assert live == loaded
    assert live.pending == {"/m/vae/c.safetensors": ((10, 1, 2, 3), "settling")}
    assert live.models_ok == {"/m/loras/new.safetensors": ("a" * 64, (7, 7, 7, 7))}


async def test_schema_1_database_is_migrated_with_its_data(tmp_path: Path):
    """A database written by the first release of this daemon is upgraded in place, never dropped."""
    from hikaze_mm.migrations import MIGRATIONS
    from hikaze_mm.sqlite_store import _statements

    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:
        for statement in _statements(MIGRATIONS[0]):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO models (sha256, path, name, type, size_bytes, created_at, updated_at, meta_json) "
            "VALUES (?, '/m/loras/x.safetensors', 'Kept', 'loras', 5, 0, 0, '{\"description\": \"mine\"}')",
            ("b" * 64,),
        )
        conn.execute("INSERT INTO tags (name) VALUES ('style')")
        conn.execute("INSERT INTO model_tags (sha256, tag_id) VALUES (?, 1)", ("b" * 64,))
    store = SQLiteStore(db)
    await store.open()
    detail = await store.model_detail("b" * 64)
    found, total = await store.list_models(ModelQuery(q="x.safe"))
    await store.close()
    assert total == 1 and found[0]["name"] == "Kept"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert detail["name"] == "Kept" and detail["tags"] == ["style"] and detail["base_model"] == "unknown"
    assert detail["meta_json"] == {"description": "mine"}
