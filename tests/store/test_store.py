"""The SQLite store: numbered migrations, refusing a newer schema, one transaction per change."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from store_backends import sqlite_store, with_migration_functions

from conftest import run_cli
from hikaze_mm.pipeline.walk import FileStat
from hikaze_mm.store.errors import SchemaTooNew
from hikaze_mm.store.records import HashRecord, ModelQuery, Promotion
from hikaze_mm.store.sqlite import file_index as file_index_sql
from hikaze_mm.store.sqlite.migrations import SCHEMA_VERSION

STAT = FileStat(10, 1, 2, 3)


async def test_fresh_database_is_migrated_and_in_wal_mode(tmp_path: Path):
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    row = await store.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    await store.close()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"models", "tags", "model_tags", "pending_import", "pending_tags"} <= tables
    assert row.status == "settling" and row.id == 1


async def test_reopening_keeps_data(tmp_path: Path):
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    await store.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    await store.close()
    await store.open()
    rows, total = await store.pending.list_pending(None, None, 10, 0)
    await store.close()
    assert total == 1 and rows[0].path == "/m/loras/a.safetensors"


async def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path):
    db = tmp_path / "data" / "library.sqlite3"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = sqlite_store(db)
    with pytest.raises(SchemaTooNew):
        await store.open()
    result = run_cli("serve", "--data-dir", str(db.parent), "--models-root", str(tmp_path / "m"), "--port", "1")
    assert result.returncode == 2 and "newer than this hikaze-mm" in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


async def test_failed_change_rolls_back_whole(tmp_path: Path):
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    first = await store.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    with pytest.raises(sqlite3.IntegrityError):
        await store.pending.add_pending("/m/loras/a.safetensors", "again", "loras", STAT)
    rows, total = await store.pending.list_pending(None, None, 10, 0)
    assert total == 1 and rows[0] == first
    second = await store.pending.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", STAT)
    await store.close()
    assert second.id == 2


async def test_a_write_cancelled_while_its_commit_runs_stays_cancelled(tmp_path: Path):
    """At shutdown a hash worker was cancelled while its COMMIT ran in the connection's thread: the ROLLBACK queued
    behind it found no transaction, and its error took the place of the cancellation, so the worker went on and the
    daemon did not stop (a CI run's teardown timed out)."""
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    conn = store.db._db
    execute = conn.execute
    hold = threading.Event()

    async def commit_then_cancelled(sql: str, *args: Any) -> Any:
        if sql != "COMMIT":
            return await execute(sql, *args)
        # The connection's thread is held, so the COMMIT is still queued when the cancellation arrives (aiosqlite's
        # own queue, the one every call goes through).
        entered = threading.Event()

        def hold_the_thread() -> None:
            entered.set()
            hold.wait(5)

        held = asyncio.ensure_future(conn._execute(hold_the_thread))
        commit = asyncio.ensure_future(execute(sql, *args))
        await asyncio.to_thread(entered.wait, 5)  # the thread is held, and the COMMIT queued behind it
        asyncio.get_running_loop().call_later(0.05, hold.set)
        commit.add_done_callback(lambda _: held.cancel())
        raise asyncio.CancelledError

    conn.execute = commit_then_cancelled  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await store.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    conn.execute = execute  # type: ignore[method-assign]
    # The COMMIT ran, so the row is there; and the connection takes the next change.
    rows, _total = await store.pending.list_pending(None, None, 10, 0)
    assert [r.path for r in rows] == ["/m/loras/a.safetensors"]
    await store.pending.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", STAT)
    await store.close()


async def test_reset_in_flight_turns_hashing_back_to_settling(tmp_path: Path):
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    row = await store.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    await store.pending.set_pending_status(row.id, "hashing")
    assert await store.pending.reset_in_flight() == 1
    assert (await store.pending.pending(row.id)).status == "settling"
    await store.close()


async def test_file_index_stays_equal_to_the_database(tmp_path: Path):
    """The walk compares against an in-memory index the store keeps in step with its writes; after any mix of
    writes it must equal the index a fresh start loads from the file."""
    db = tmp_path / "db.sqlite3"
    store = sqlite_store(db)
    await store.open()
    a = await store.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    b, c = await store.pending.add_pending_many([
        ("/m/loras/b.safetensors", "loras", FileStat(20, 2, 3, 4)),
        ("/m/vae/c.safetensors", "vae", FileStat(30, 3, 4, 5)),
    ])
    await store.pending.move_pending(a.id, "/m/vae/c.safetensors", "c.safetensors", "vae")  # replaces c's row
    await store.pending.set_pending_status(b.id, "hashing", FileStat(21, 9, 3, 4))
    await store.pending.reset_in_flight()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO models (sha256, path, name, type, size_bytes, mtime_ns, inode, device, created_at, "
            "updated_at) VALUES (?, '/m/x.safetensors', 'x', 'loras', 5, 1, 1, 1, 0, 0)", ("a" * 64,)
        )
    await store.close()
    await store.open()
    await store.models.relink_model("a" * 64, "/m/loras/b.safetensors", "loras", FileStat(21, 9, 3, 4), b.id)
    await store.models.set_model_missing("a" * 64)
    await store.models.relink_model("a" * 64, "/m/loras/new.safetensors", "loras", FileStat(7, 7, 7, 7), None)
    await store.pending.delete_pending(c.id)
    live = await store.files.file_index()
    await store.close()

    fresh = sqlite_store(db)
    await fresh.open()
    loaded = await fresh.files.file_index()
    await fresh.close()
    assert live == loaded
    assert live.pending == {"/m/vae/c.safetensors": ((10, 1, 2, 3), "settling")}
    assert live.models_ok == {"/m/loras/new.safetensors": ("a" * 64, (7, 7, 7, 7))}


async def test_schema_1_database_is_migrated_with_its_data(tmp_path: Path):
    """A database written by the first release of this daemon is upgraded in place, never dropped."""
    from hikaze_mm.store.sqlite.database import _statements
    from hikaze_mm.store.sqlite.migrations import MIGRATIONS

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
    store = sqlite_store(db)
    await store.open()
    detail = await store.models.model_detail("b" * 64)
    found, total, _ = await store.search.list_models(ModelQuery(q="x.safe"))
    await store.close()
    assert total == 1 and found[0]["name"] == "Kept"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert detail["name"] == "Kept" and detail["tags"] == ["style"] and detail["base_model"] == "unknown"
    assert detail["meta_json"] == {"description": "mine"}


def _schema(db: Path, version: int) -> None:
    """An empty database as release `version` of the schema left it."""
    from hikaze_mm.store.sqlite.database import _statements
    from hikaze_mm.store.sqlite.migrations import MIGRATIONS

    with with_migration_functions(sqlite3.connect(db)) as conn:
        for script in MIGRATIONS[:version]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def _nsfw_column(db: Path) -> dict[str, tuple[int, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sha256, nsfw, json_extract(meta_json, '$.nsfw') FROM models").fetchall()
    conn.close()
    return {sha: (flag, meta) for sha, flag, meta in rows}


async def test_schema_3_database_gets_the_nsfw_flag_from_its_metadata(tmp_path: Path):
    db = tmp_path / "v3.sqlite3"
    _schema(db, 3)
    metas = {"a": '{"nsfw": true}', "b": '{"nsfw": false}', "c": '{"description": "x"}', "d": '{"nsfw": 1}',
             "e": '{"nsfw": null}', "f": '{"nsfw": ""}', "g": '{"nsfw": "yes"}'}
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO models (sha256, path, name, type, size_bytes, created_at, updated_at, meta_json) "
            "VALUES (?, ?, ?, 'loras', 5, 0, 0, ?)",
            [(k * 64, f"/m/loras/{k}.safetensors", k, meta) for k, meta in metas.items()],
        )
    conn.close()
    store = sqlite_store(db)
    await store.open()
    shown, total, _ = await store.search.list_models(ModelQuery(hide_nsfw=True))
    await store.close()
    assert {sha[0]: flag for sha, (flag, _) in _nsfw_column(db).items()} == {
        "a": 1, "b": 0, "c": 0, "d": 1, "e": 0, "f": 0, "g": 1}
    assert [m["name"] for m in shown] == ["b", "c", "e", "f"] and total == 4
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        for index in ("models_by_name", "models_by_size", "models_by_created", "models_by_updated"):
            columns = [r[2] for r in conn.execute(f"PRAGMA index_info({index})")]
            assert columns[-1] == "nsfw" and columns[0] == "status", (index, columns)
    conn.close()


async def test_hidden_nsfw_page_walks_the_sort_index_alone(tmp_path: Path):
    db = tmp_path / "db.sqlite3"
    _schema(db, SCHEMA_VERSION)
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO models (sha256, path, name, type, size_bytes, created_at, updated_at, nsfw) "
            "VALUES (?, ?, ?, 'loras', 5, 0, 0, ?)",
            [(k * 64, f"/m/loras/{k}.safetensors", k, k == "b") for k in "abc"],
        )
    conn.close()
    store = sqlite_store(db)
    await store.open()
    seen: list[tuple[str, tuple[Any, ...]]] = []
    read = store.db.all

    async def recording(sql: str, args: tuple[Any, ...] = (), **kw: bool) -> list[Any]:
        seen.append((sql, args))
        return await read(sql, args, **kw)

    store.db.all = recording  # type: ignore[method-assign]
    for sort in ("name", "size", "created", "updated"):
        await store.search.list_models(ModelQuery(hide_nsfw=True, sort=sort))
    store.db.all = read  # type: ignore[method-assign]
    pages = [(sql, args) for sql, args in seen if "ORDER BY" in sql and "LIMIT" in sql]
    assert len(pages) == 4
    for sql, args in pages:
        plan = " / ".join(r[3] for r in await store.db.all("EXPLAIN QUERY PLAN " + sql, args))
        assert "USING COVERING INDEX models_by_" in plan and "TEMP B-TREE" not in plan, (sql, plan)
    await store.close()


async def test_nsfw_flag_follows_every_write_of_the_metadata(tmp_path: Path):
    db = tmp_path / "db.sqlite3"
    store = sqlite_store(db)
    await store.open()
    shas = []
    for name, meta in (("new", {"nsfw": True}), ("plain", {})):
        row = await store.pending.add_pending(f"/m/loras/{name}.safetensors", name, "loras", STAT)
        sha = (name[0] * 64)
        await store.pending.record_hash(row.id, HashRecord(sha, sha, STAT, "ready", None, {}))
        await store.imports.promote(Promotion(row.id, sha, "new", name, "loras", "unknown", meta, row.path, STAT, [],
                                              []))
        shas.append(sha)
    new, plain = shas
    assert _nsfw_column(db) == {new: (1, 1), plain: (0, None)}
    await store.models.update_model(plain, name=None, tags=None, meta_change={"nsfw": True})
    await store.models.update_model(new, name=None, tags=None, meta_change={"nsfw": False})
    assert _nsfw_column(db) == {new: (0, 0), plain: (1, 1)}
    await store.models.enrich_model(new, {"nsfw": True}, [])  # fills what is empty, and `false` is empty
    assert _nsfw_column(db)[new] == (1, 1)
    await store.models.update_model(new, name=None, tags=None, meta_change={"nsfw": False})
    row = await store.pending.add_pending("/m/loras/again.safetensors", "again", "loras", STAT)
    await store.pending.record_hash(row.id, HashRecord(new, new, STAT, "conflict", new, {}))
    await store.imports.promote(Promotion(row.id, new, "override", "again", "loras", "unknown", {"nsfw": True},
                                          row.path, STAT, [], []))
    assert _nsfw_column(db)[new] == (1, 1)
    await store.close()


async def test_excluded_tags_give_the_same_pages_tested_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A page near the start seeks each model's excluded tags; a deep one lists the excluded models first."""
    import hikaze_mm.store.sqlite.search as search_sql

    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    for i in range(12):
        row = await store.pending.add_pending(f"/m/loras/m{i:02}.safetensors", f"m{i:02}", "loras", STAT)
        sha = f"{i:02}" * 32
        await store.pending.record_hash(row.id, HashRecord(sha, sha, STAT, "ready", None, {}))
        await store.imports.promote(Promotion(row.id, sha, "new", f"m{i:02}", "loras", "unknown", {"nsfw": i % 5 == 0},
                                      row.path, STAT, [], []))
        await store.models.update_model(sha, name=None, meta_change=None,
                                 tags=[t for t, every in (("NSFW", 3), ("style", 2), ("xl", 4)) if i % every == 0])
    queries = [ModelQuery(hide_nsfw=True, limit=4, offset=o) for o in (0, 4, 8)] + [
        ModelQuery(exclude_tags=["style"], sort="size"), ModelQuery(exclude_tags=["xl", "nsfw"], hide_nsfw=True),
        ModelQuery(hide_nsfw=True, tags=["style"], status="all")]
    seeking = [await store.search.list_models(q) for q in queries]
    monkeypatch.setattr(search_sql, "SEEK_EXCLUDED_UP_TO", -1)
    listing = [await store.search.list_models(q) for q in queries]
    await store.close()
    assert seeking == listing
    assert [m["name"] for q in seeking[:3] for m in q[0]] == ["m01", "m02", "m04", "m07", "m08", "m11"]
    assert seeking[0][1] == 6


async def test_files_settling_and_hashing_keep_the_cached_library_counts(tmp_path: Path):
    """Counting a large library is the slow part of a page; the pipeline's row updates while files hash must not
    throw the counts away, and any change to the library must."""
    store = sqlite_store(tmp_path / "db.sqlite3")
    await store.open()
    row = await store.pending.add_pending("/m/loras/a.safetensors", "a", "loras", STAT)
    sha = "a" * 64
    await store.pending.record_hash(row.id, HashRecord(sha, sha, STAT, "ready", None, {}))
    await store.imports.promote(Promotion(row.id, sha, "new", "a", "loras", "unknown", {}, row.path, STAT, [], []))
    assert (await store.search.list_models(ModelQuery(type="loras")))[1] == 1
    generation = store.db.generation
    other = await store.pending.add_pending("/m/loras/b.safetensors", "b", "loras", STAT)
    await store.pending.set_pending_status(other.id, "hashing")
    await store.pending.record_hash(other.id, HashRecord("b" * 64, "b" * 64, STAT, "ready", None, {}))
    await store.pending.reset_in_flight()
    assert store.db.generation == generation
    await store.models.update_model(sha, name=None, tags=["new"], meta_change=None)
    assert store.db.generation > generation
    assert [t["name"] for t in await store.tags.list_tags()] == ["new"]
    await store.close()


@pytest.mark.parametrize("snapshot", ["before the writes", "after the writes"])
async def test_writes_while_the_file_index_loads_end_up_in_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             snapshot: str):
    """The index loads in a thread while the daemon already writes: whether the load's snapshot of the database
    came before or after a write, the index ends up as the database is."""
    db = tmp_path / "db.sqlite3"
    store = sqlite_store(db)
    await store.open()
    kept = await store.pending.add_pending("/m/loras/kept.safetensors", "kept.safetensors", "loras", STAT)
    gone = await store.pending.add_pending("/m/loras/gone.safetensors", "gone.safetensors", "loras", STAT)
    model = await _promoted(store, "/m/loras/model.safetensors", "a" * 64)
    await store.close()

    written, reading = threading.Event(), threading.Event()
    real = file_index_sql._read_index

    def read(path: Path) -> Any:
        reading.set()
        if snapshot == "before the writes":
            loaded = real(path)
            written.wait(30)
            return loaded
        written.wait(30)
        return real(path)

    monkeypatch.setattr(file_index_sql, "_read_index", read)
    store = sqlite_store(db)
    await store.open()
    try:
        asked = asyncio.create_task(store.files.file_index())  # a walk asks: the index starts loading
        await asyncio.to_thread(reading.wait, 30)
        await store.pending.set_pending_status(kept.id, "hashing")
        await store.pending.delete_pending(gone.id)
        added = await store.pending.add_pending("/m/vae/new.safetensors", "new.safetensors", "vae", STAT)
        await store.models.set_model_missing(model.sha256)
        other = await _promoted(store, "/m/loras/other.safetensors", "b" * 64)
        await store.copies.move_copy("/m/loras/nowhere.safetensors", "/m/loras/x.safetensors", STAT)
        written.set()
        await asked
        index = await store.files.file_index()
    finally:
        written.set()
        await store.close()
    assert index.pending == {kept.path: (tuple(STAT), "hashing"), added.path: (tuple(STAT), "settling")}
    assert index.models == {model.sha256: (model.path, model.fingerprint, "missing"),
                            other.sha256: (other.path, other.fingerprint, "ok")}
    assert index.models_ok == {other.path: (other.sha256, other.fingerprint)}


async def _promoted(store: Any, path: str, sha256: str) -> Any:
    row = await store.pending.add_pending(path, path.rsplit("/", 1)[1], "loras", STAT)
    await store.pending.record_hash(row.id, HashRecord(sha256, sha256, STAT, "ready", None, {}))
    model, _ = await store.imports.promote(Promotion(row.id, sha256, "new", "m", "loras", "unknown", {}, path, STAT,
                                                     [], []))
    return model
