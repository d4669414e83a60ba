"""Models already in the library: duplicates become conflicts, a missing model is relinked by content,
a vanished file marks its model missing and keeps everything the user entered."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from conftest import Daemon, Databases, LibraryDb, digests, poll, write_model
from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.sqlite.store import SQLiteStore

MODEL_COLUMNS = ("path", "status", "name", "type", "meta_json")


async def _library(databases: Databases, data_dir: Path, *models: tuple[Path, str]) -> LibraryDb:
    """A database holding models (path, status) with user metadata, as the import of issue 3 leaves it."""

    async def fill(file: Path) -> None:
        store = SQLiteStore(file, RULES)
        await store.open()
        await store.close()
        with sqlite3.connect(store.path) as conn:
            for path, status in models:
                sha, b3 = digests(path)
                st = path.stat()
                conn.execute(
                    "INSERT INTO models (sha256, blake3, path, name, type, size_bytes, mtime_ns, inode, device, "
                    "status, created_at, updated_at, meta_json) VALUES (?, ?, ?, ?, 'loras', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sha, b3, str(path), "My favourite", st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, status,
                     time.time(), time.time(), json.dumps({"description": "hand written"})),
                )

    return await databases.filled(data_dir, fill)


async def _daemon_with_model(daemon_factory, databases: Databases, models: Path, tmp_path: Path, name: str):
    """A library holding one model whose file is in place, and the daemon idle on it."""
    path = write_model(models / "loras" / name)
    db = await _library(databases, tmp_path / "data", (path, "ok"))
    d: Daemon = await daemon_factory("--models-root", str(models))
    await d.wait_idle()
    return path, db, digests(path)[0], d


async def _model(db: LibraryDb, sha: str) -> dict:
    (row,) = await db.rows(f"SELECT {', '.join(MODEL_COLUMNS)} FROM models WHERE sha256 = ?", sha)
    return dict(zip(MODEL_COLUMNS, row, strict=True))


async def test_copy_of_a_library_model_is_a_conflict(daemon_factory, databases, models: Path, tmp_path: Path):
    original = write_model(models / "loras" / "orig.safetensors")
    await _library(databases, tmp_path / "data", (original, "ok"))
    d: Daemon = await daemon_factory("--models-root", str(models))
    copy = write_model(models / "loras" / "copy.safetensors", seed=b"orig.safetensors")
    row = await d.wait_row(copy, status="conflict")
    assert row["conflict_sha256"] == row["sha256"] == digests(original)[0]
    assert [r["path"] for r in await d.pending()] == [str(copy)]
    counts = (await d.get("/api/status"))["counts"]
    assert counts["models"] == 1 and counts["pending"]["conflict"] == 1


async def test_missing_model_is_relinked_by_content(daemon_factory, databases, models: Path, tmp_path: Path):
    elsewhere = write_model(tmp_path / "old-disk" / "lost.safetensors")
    db = await _library(databases, tmp_path / "data", (elsewhere, "missing"))
    elsewhere.unlink()
    d: Daemon = await daemon_factory("--models-root", str(models))
    events, task = await d.events()
    back = write_model(models / "loras" / "found-again.safetensors", seed=b"lost.safetensors")
    sha = digests(back)[0]
    await poll(lambda: _has(events.of("model.relinked", sha256=sha)), "the relink event")
    model = await _model(db, sha)
    assert (model["path"], model["status"], model["name"]) == (str(back), "ok", "My favourite")
    assert json.loads(model["meta_json"]) == {"description": "hand written"}
    await d.wait_idle()
    assert await d.pending() == []
    task.cancel()


async def test_vanished_model_file_is_missing_and_keeps_its_data(daemon_factory, databases, models: Path,
                                                                 tmp_path: Path):
    path, db, sha, d = await _daemon_with_model(daemon_factory, databases, models, tmp_path, "keep.safetensors")
    path.unlink()

    async def missing() -> bool:
        return (await _model(db, sha))["status"] == "missing"

    await poll(missing, "the model to be marked missing")
    model = await _model(db, sha)
    assert model["name"] == "My favourite" and json.loads(model["meta_json"]) == {"description": "hand written"}
    assert (await d.get("/api/status"))["counts"]["missing"] == 1


async def test_moved_model_keeps_its_identity(daemon_factory, databases, models: Path, tmp_path: Path):
    path, db, sha, d = await _daemon_with_model(daemon_factory, databases, models, tmp_path, "before.safetensors")
    dest = models / "checkpoints" / "after.safetensors"
    path.rename(dest)

    async def moved() -> bool:
        return (await _model(db, sha))["path"] == str(dest)

    await poll(moved, "the model's path to follow the move")
    model = await _model(db, sha)
    assert (model["status"], model["type"]) == ("ok", "checkpoints")
    await d.wait_idle()
    assert await d.pending() == [] and (await d.get("/api/status"))["session"]["files_hashed"] == 0


async def test_model_moved_while_daemon_was_down_is_found_by_inode(daemon_factory, databases, models: Path,
                                                                   tmp_path: Path):
    path = write_model(models / "loras" / "offline.safetensors")
    db = await _library(databases, tmp_path / "data", (path, "ok"))
    sha = digests(path)[0]
    dest = models / "loras" / "renamed-offline.safetensors"
    path.rename(dest)
    d: Daemon = await daemon_factory("--models-root", str(models))
    await d.wait_idle()
    assert (await _model(db, sha))["path"] == str(dest)
    assert await d.pending() == [] and (await d.get("/api/status"))["session"]["files_hashed"] == 0


async def _has(items: list) -> bool:
    return bool(items)
