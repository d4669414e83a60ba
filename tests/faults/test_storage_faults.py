"""The data folder's own faults: a full disk under the database (every write route answers 507 with the reason,
and nothing stored is lost), and a data folder that cannot be written (one line naming it, exit code 2)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_faults import assert_consistent, small_tmpfs

from conftest import Daemon, digests, free_port, poll, run_cli, write_model

NOTES = "n" * 60_000  # many pages more in the WAL


@contextlib.contextmanager
def wal_pinned(data_dir: Path) -> Iterator[None]:
    """Another program reading the database (a backup, say) all along: the WAL cannot start over from its
    beginning, so every write needs room of its own on the disk, as it does once the WAL has filled its file."""
    conn = sqlite3.connect(data_dir / "library.sqlite3", isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM models").fetchone()
        yield
    finally:
        conn.close()


async def wal_to_its_end(d: Daemon, sha: str, data_dir: Path) -> None:
    """Edits until the WAL grows its file: what an earlier, longer WAL left in the file is used up, so the next
    write needs new room. Run with the WAL pinned, or a checkpoint may start it over from the beginning."""
    wal = data_dir / "library.sqlite3-wal"
    start = wal.stat().st_size
    for i in range(200):
        await d.call("PATCH", f"/api/models/{sha}", {"meta_json": {"description": f"{i} {NOTES}"}})
        if wal.stat().st_size > start:
            return
    raise AssertionError(f"the WAL never grew past {start} bytes")


def fill(folder: Path) -> Path:
    """Fill the filesystem of `folder` up to the last block; the filler file to remove afterwards."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


@pytest.mark.sqlite_only(reason="the disk under its file, which is in data_dir, fills up; its WAL is pinned")
async def test_disk_full_under_the_database_answers_507_and_loses_nothing(daemon_factory, models: Path,
                                                                          tmp_path: Path):
    data_dir = tmp_path / "data"
    with small_tmpfs(data_dir, 4096):
        d: Daemon = await daemon_factory("--models-root", str(models), data_dir=data_dir)
        (sha,) = await d.import_files(write_model(models / "checkpoints" / "kept.safetensors"))
        with wal_pinned(data_dir):
            await wal_to_its_end(d, sha, data_dir)
            before = await d.call("PATCH", f"/api/models/{sha}",
                                  {"name": "first edit", "tags": ["kept"], "meta_json": {"description": "stays"}})
            filler = fill(data_dir)
            # The tag goes first: a failed write leaves the WAL grown by what it could write, room a smaller write
            # after it could use.
            writes = [
                ("POST", "/api/tags", {"name": "new-tag"}),
                ("PATCH", f"/api/models/{sha}", {"name": "lost", "meta_json": {"notes": NOTES}}),
                ("PATCH", f"/api/models/{sha}", {"tags": ["kept", "new-tag"], "meta_json": {"notes": NOTES}}),
            ]
            for method, path, body in writes:
                status, answer = await d.request(method, path, json=body)
                assert status == 507, (path, status, answer)
                assert "full" in answer["error"] and str(data_dir) in answer["error"], answer
                assert "Traceback" not in answer["error"], answer
            assert await d.get(f"/api/models/{sha}") == before
            assert [t["name"] for t in (await d.get("/api/tags"))["tags"]] == ["kept"]
            filler.unlink()
        # The writer is not left inside a failed transaction: the next write goes through.
        after = await d.call("PATCH", f"/api/models/{sha}", {"name": "second edit", "meta_json": {"notes": NOTES}})
        assert after["name"] == "second edit" and after["tags"] == ["kept"]
        assert after["meta_json"]["description"] == "stays"
        await d.close()
        await assert_consistent(d.db)
        assert await d.db.rows("SELECT name FROM models") == [("second edit",)]


def remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def test_a_read_only_data_folder_is_one_line_and_exit_2(models: Path, tmp_path: Path):
    data_dir = tmp_path / "data"
    with small_tmpfs(data_dir, 4096):
        # A data folder a daemon ran in before (its database and lock file are there), then mounted read-only.
        first = run_cli("scan", "--data-dir", str(data_dir), "--models-root", str(models))
        assert first.returncode == 0, first.stderr
        database = (data_dir / "library.sqlite3").read_bytes()
        (data_dir / "sub").mkdir()
        remount_read_only(data_dir)
        for folder in (data_dir, data_dir / "sub" / "not-yet"):
            result = run_cli("serve", "--data-dir", str(folder), "--models-root", str(models),
                             "--port", str(free_port()))
            assert result.returncode == 2, result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert str(folder) in lines[0] and "read-only" in lines[0].lower() and "data_dir" in lines[0], lines
        assert (data_dir / "library.sqlite3").read_bytes() == database


@pytest.mark.sqlite_only(reason="the disk under its file, which is in data_dir, fills up; its WAL is pinned")
async def test_a_full_disk_pauses_the_pipeline_and_it_catches_up_by_itself(daemon_factory, models: Path,
                                                                            tmp_path: Path):
    """Files that vanish or appear while the database's disk is full: their outcome cannot be written yet. The
    daemon keeps running (a restart would meet the same full disk) and, once there is room, catches up by itself."""
    data_dir = tmp_path / "data"
    with small_tmpfs(data_dir, 4096):
        d: Daemon = await daemon_factory("--models-root", str(models), data_dir=data_dir)
        kept = write_model(models / "loras" / "kept.safetensors")
        (sha,) = await d.import_files(kept)
        with wal_pinned(data_dir):
            await wal_to_its_end(d, sha, data_dir)
            await d.call("PATCH", f"/api/models/{sha}", {"tags": ["mine"], "meta_json": {"notes": "typed by hand"}})
            filler = fill(data_dir)
            kept.unlink()
            new = write_model(models / "loras" / "new.safetensors", size=256 * 1024)

            async def paused() -> bool:
                return "event=pipeline.disk_full" in d.log()

            await poll(paused, "the daemon to say it waits for room")
            assert d.proc is not None and d.proc.poll() is None, d.log()[-3000:]
            assert (await d.get("/api/health"))["status"] == "ok"
            filler.unlink()

        async def caught_up() -> bool:
            model = await d.get(f"/api/models/{sha}")
            rows = [r for r in (await d.get("/api/pending"))["pending"] if r["path"] == str(new)]
            return model["status"] == "missing" and bool(rows) and rows[0]["status"] == "ready"

        await poll(caught_up, "the vanished model and the new file to be caught up", timeout=120)
        assert d.proc.poll() is None
        (row,) = [r for r in (await d.get("/api/pending"))["pending"] if r["path"] == str(new)]
        assert row["sha256"] == digests(new)[0]
        model = await d.get(f"/api/models/{sha}")
        assert model["tags"] == ["mine"] and model["meta_json"]["notes"] == "typed by hand"
        await d.close()
        await assert_consistent(d.db)
