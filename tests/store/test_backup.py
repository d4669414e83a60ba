"""Data safety: a backup before every migration, a damaged or newer database refused untouched, backup and
restore for the user, and verify re-hashing the library against the recorded hashes."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_backends import sqlite_store
from test_store import _schema

from conftest import DEADLINE_S, Daemon, free_port, run_cli, write_model
from hikaze_mm.pipeline.walk import FileStat
from hikaze_mm.store.sqlite import database as database_sql
from hikaze_mm.store.sqlite.migrations import SCHEMA_VERSION

PAGE = 4096


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command with no terminal on stdin, as under a script or a service manager."""
    return subprocess.run(
        [sys.executable, "-m", "hikaze_mm", *args], capture_output=True, text=True, timeout=DEADLINE_S,
        stdin=subprocess.DEVNULL, env={**os.environ, "HIKAZE_MM_CONFIG": ""},
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def library(db: Path, *paths: str) -> None:
    """A current database holding a pending row for each path; closed, so everything is in the main file."""
    store = sqlite_store(db)
    await store.open()
    await store.pending.add_pending_many([(p, "loras", FileStat(10 + i, i, i, 1)) for i, p in enumerate(paths)])
    await store.close()


def pending_paths(db: Path) -> set[str]:
    return {r[0] for r in query(db, "SELECT path FROM pending_import")}


# -- backup before migration ------------------------------------------------------------------------------------
def _v3_with_model(db: Path, name: str) -> None:
    _schema(db, 3)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO models (sha256, path, name, type, size_bytes, created_at, updated_at) "
                     "VALUES (?, ?, ?, 'loras', 5, 0, 0)", ("a" * 64, f"/m/loras/{name}.safetensors", name))
    conn.close()


async def test_migration_backs_up_the_old_database_first(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    db = tmp_path / "data" / "library.sqlite3"
    db.parent.mkdir()
    _v3_with_model(db, "old")
    with caplog.at_level(logging.INFO, logger="hikaze_mm"):
        store = sqlite_store(db)
        await store.open()
        await store.close()
    (backup,) = (db.parent / "backups").iterdir()
    assert backup.name.startswith("library.") and backup.name.endswith(".v3.sqlite3")
    assert query(backup, "PRAGMA user_version") == [(3,)]
    assert query(backup, "SELECT name FROM models") == [("old",)]
    assert query(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert [r.getMessage() for r in caplog.records if str(backup) in r.getMessage()]


async def test_only_the_three_newest_migration_backups_are_kept(tmp_path: Path):
    db = tmp_path / "data" / "library.sqlite3"
    backups = db.parent / "backups"
    backups.mkdir(parents=True)
    others = [backups / "notes.txt", backups / "library.20200101T000000000000Z.sqlite3"]
    for other in others:
        other.write_text("the user's")
    for i in range(4):
        for f in db.parent.glob("library.sqlite3*"):
            f.unlink()
        _v3_with_model(db, f"run{i}")
        store = sqlite_store(db)
        await store.open()
        await store.close()
    kept = sorted(p for p in backups.iterdir() if p.name.endswith(".v3.sqlite3"))
    assert [query(p, "SELECT name FROM models")[0][0] for p in kept] == ["run1", "run2", "run3"]
    assert all(o.read_text() == "the user's" for o in others)


async def test_fresh_database_gets_no_backup(tmp_path: Path):
    store = sqlite_store(tmp_path / "data" / "library.sqlite3")
    await store.open()
    await store.close()
    await store.open()  # current schema: nothing to migrate, nothing to back up
    await store.close()
    assert not (tmp_path / "data" / "backups").exists()


# -- damaged or newer databases ---------------------------------------------------------------------------------
def _random(data: bytes) -> bytes:
    return os.urandom(len(data))


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _page_overwritten(data: bytes) -> bytes:
    middle = len(data) // PAGE // 2 * PAGE
    return data[:middle] + os.urandom(PAGE) + data[middle + PAGE:]


@pytest.mark.parametrize("damage", [_random, _truncated, _page_overwritten])
async def test_damaged_database_stops_the_daemon_and_stays_untouched(tmp_path: Path, damage):
    data_dir = tmp_path / "data"
    db = data_dir / "library.sqlite3"
    await library(db, *(f"/m/loras/{i:04}-{'x' * 200}.safetensors" for i in range(2000)))
    db.write_bytes(damage(db.read_bytes()))
    before = sha(db)
    result = run_cli("serve", "--data-dir", str(data_dir), "--models-root", str(tmp_path / "m"),
                     "--port", str(free_port()))
    assert result.returncode == 2, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("hikaze-mm:")]
    assert str(db) in line and "damaged" in line and "hikaze-mm restore" in line
    assert sha(db) == before
    assert sorted(p.name for p in data_dir.iterdir() if p.name.startswith("library")) == ["library.sqlite3"]


async def test_every_page_is_checked_unless_the_file_is_as_a_clean_close_left_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    checks: list[bool] = []
    real = database_sql.inspect_database

    def inspect(path: Path, **kw: bool) -> int:
        checks.append(kw.get("check", True))
        return real(path, **kw)

    monkeypatch.setattr(database_sql, "inspect_database", inspect)
    db = tmp_path / "library.sqlite3"

    async def open_close(close: bool = True) -> None:
        store = sqlite_store(db)
        await store.open()
        await store.pending.add_pending(f"/m/loras/{len(checks)}.safetensors", "x.safetensors", "loras",
                                        FileStat(1, 2, 3, 4))
        if close:
            await store.close()
        else:  # as a crash leaves it: the connections die with the process, nothing more is written
            assert store.db.checkpoints is not None
            await store.db.checkpoints.stop()
            for conn in (store.db._db, store.db._reader, store.db._tally_reader):
                assert conn is not None
                await conn.close()

    await open_close()  # a new file: nothing to check
    await open_close()
    assert checks[-1] is False  # as the last clean close left it
    await open_close(close=False)
    await open_close()
    assert checks[-1] is True  # after a crash
    conn = sqlite3.connect(db)  # another program writes to it, right after the clean close
    conn.execute("DELETE FROM pending_import WHERE id = 1")
    conn.commit()
    conn.close()
    await open_close()
    assert checks[-1] is True
    await open_close()
    assert checks[-1] is False
    (tmp_path / ".library.sqlite3.closed").write_text("not a note")
    await open_close()
    assert checks[-1] is True


async def test_newer_database_stops_the_daemon_and_stays_untouched(tmp_path: Path):
    data_dir = tmp_path / "data"
    db = data_dir / "library.sqlite3"
    await library(db, "/m/loras/a.safetensors")
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = sha(db)
    result = run_cli("serve", "--data-dir", str(data_dir), "--models-root", str(tmp_path / "m"),
                     "--port", str(free_port()))
    assert result.returncode == 2
    assert "newer than this hikaze-mm" in result.stderr and "hikaze-mm restore" in result.stderr
    assert sha(db) == before


# -- backup and restore -----------------------------------------------------------------------------------------
async def test_backup_then_restore_brings_the_data_back(tmp_path: Path):
    data_dir = tmp_path / "data"
    db = data_dir / "library.sqlite3"
    await library(db, "/m/loras/a.safetensors")
    made = cli("backup", "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip())
    assert backup.parent == data_dir / "backups" and pending_paths(backup) == {"/m/loras/a.safetensors"}

    store = sqlite_store(db)
    await store.open()
    await store.pending.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", FileStat(1, 2, 3, 4))
    await store.close()

    refused = cli("restore", str(backup), "--data-dir", str(data_dir))
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert "/m/loras/b.safetensors" in pending_paths(db)

    done = cli("restore", str(backup), "--yes", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert pending_paths(db) == {"/m/loras/a.safetensors"}
    saved = [Path(line.rsplit(" ", 1)[1]) for line in done.stdout.splitlines() if line.startswith("backed up")]
    assert len(saved) == 1 and pending_paths(saved[0]) == {"/m/loras/a.safetensors", "/m/loras/b.safetensors"}
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()

    store = sqlite_store(db)
    await store.open()  # the restored file is a working database
    assert (await store.pending.list_pending(None, None, 10, 0))[1] == 1
    await store.close()


async def test_backup_to_a_named_file(tmp_path: Path):
    data_dir = tmp_path / "data"
    await library(data_dir / "library.sqlite3", "/m/loras/a.safetensors")
    target = tmp_path / "elsewhere" / "copy.sqlite3"
    made = cli("backup", "--to", str(target), "--data-dir", str(data_dir))
    assert made.returncode == 0 and made.stdout.strip() == str(target)
    assert pending_paths(target) == {"/m/loras/a.safetensors"}
    again = cli("backup", "--to", str(target), "--data-dir", str(data_dir))
    assert again.returncode == 1 and "already exists" in again.stderr


async def test_restore_replaces_a_damaged_database_and_keeps_its_bytes(tmp_path: Path):
    data_dir = tmp_path / "data"
    db = data_dir / "library.sqlite3"
    await library(db, "/m/loras/a.safetensors")
    backup = Path(cli("backup", "--data-dir", str(data_dir)).stdout.strip())
    db.write_bytes(os.urandom(8192))
    damaged = sha(db)
    done = cli("restore", str(backup), "--yes", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert pending_paths(db) == {"/m/loras/a.safetensors"}
    (kept,) = (data_dir / "backups").glob("*.damaged.sqlite3")
    assert sha(kept) == damaged


async def test_restore_refuses_what_is_not_a_hikaze_database(tmp_path: Path):
    data_dir = tmp_path / "data"
    db = data_dir / "library.sqlite3"
    await library(db, "/m/loras/a.safetensors")
    before = sha(db)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(os.urandom(8192))
    other = tmp_path / "other.sqlite3"
    query(other, "CREATE TABLE t (x)")
    for source in (junk, other):
        result = cli("restore", str(source), "--yes", "--data-dir", str(data_dir))
        assert result.returncode == 2 and str(source) in result.stderr
    assert sha(db) == before and not (data_dir / "backups").exists()


async def test_restore_is_refused_while_the_daemon_runs_and_backup_works(tmp_path: Path, models: Path):
    daemon = Daemon(tmp_path, "--models-root", str(models))
    await daemon.start()
    try:
        made = cli("backup", "--data-dir", str(daemon.data_dir))
        assert made.returncode == 0, made.stderr
        backup = Path(made.stdout.strip())
        assert query(backup, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        refused = cli("restore", str(backup), "--yes", "--data-dir", str(daemon.data_dir))
        assert refused.returncode == 2 and "in use" in refused.stderr
        assert (await daemon.get("/api/health"))["status"] == "ok"
    finally:
        await daemon.close()
    assert sorted(p.name for p in (daemon.data_dir / "backups").iterdir()) == [backup.name]


# -- verify -----------------------------------------------------------------------------------------------------
async def _recorded_library(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    data_dir = tmp_path / "data"
    db = data_dir / "library.sqlite3"
    store = sqlite_store(db)
    await store.open()
    await store.close()
    files = {n: write_model(tmp_path / "models" / "loras" / f"{n}.safetensors") for n in ("a", "b", "c")}
    files["copy"] = tmp_path / "models" / "backup" / "b.safetensors"
    files["copy"].parent.mkdir()
    shutil.copy2(files["b"], files["copy"])
    conn = sqlite3.connect(db)
    with conn:
        for name in ("a", "b", "c"):
            st = files[name].stat()
            conn.execute(
                "INSERT INTO models (sha256, path, name, type, size_bytes, mtime_ns, inode, device, created_at, "
                "updated_at) VALUES (?, ?, ?, 'loras', ?, ?, ?, ?, 0, 0)",
                (sha(files[name]), str(files[name]), name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev),
            )
        st = files["copy"].stat()
        conn.execute("INSERT INTO model_copies (path, sha256, size_bytes, mtime_ns, added_at) VALUES (?, ?, ?, ?, 0)",
                     (str(files["copy"]), sha(files["b"]), st.st_size, st.st_mtime_ns))
    conn.close()
    return data_dir, files


async def test_verify_finds_files_changed_in_place_and_missing(tmp_path: Path):
    data_dir, files = await _recorded_library(tmp_path)
    c_sha = sha(files["c"])
    clean = cli("verify", "--data-dir", str(data_dir))
    assert clean.returncode == 0 and "checked 4 of 4 files: 0 problems" in clean.stdout

    # Same size, other bytes, the old mtime put back: only a full re-hash can tell.
    st = files["copy"].stat()
    data = bytearray(files["copy"].read_bytes())
    data[1000] ^= 0xFF
    files["copy"].write_bytes(data)
    os.utime(files["copy"], ns=(st.st_atime_ns, st.st_mtime_ns))
    files["c"].unlink()

    quick = cli("verify", "--changed-only", "--data-dir", str(data_dir))
    assert quick.returncode == 1
    assert quick.stdout.splitlines()[:-1] == [f"missing: {files['c']}: recorded as {c_sha}"]
    assert "checked 0 of 4 files" in quick.stdout

    full = cli("verify", "--data-dir", str(data_dir))
    assert full.returncode == 1
    problems = [line.split(": ")[:2] for line in full.stdout.splitlines()[:-1]]
    assert sorted(problems) == sorted([["missing", str(files["c"])], ["mismatch", str(files["copy"])]])
    assert "checked 3 of 4 files: 2 problems" in full.stdout

    os.utime(files["copy"], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    moved = cli("verify", "--changed-only", "--data-dir", str(data_dir))
    assert moved.returncode == 1 and f"mismatch: {files['copy']}" in moved.stdout
    assert "checked 1 of 4 files" in moved.stdout
