"""A daemon killed mid-hash comes back with a consistent database and finishes the work."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from conftest import Daemon, poll


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def test_sigkill_mid_hash_then_restart_finishes(daemon_factory, models: Path):
    big = models / "checkpoints" / "huge.safetensors"
    with big.open("wb") as f:  # sparse: 2 GiB to hash, almost nothing on disk
        f.truncate(2 * 1024**3)
    first: Daemon = await daemon_factory("--models-root", str(models), settle=0.1)
    events, task = await first.events()
    await poll(lambda: _any(events.of("hash.progress", path=str(big))), "hashing to be under way", timeout=60)
    first.kill()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert await first.db.damage() == []
    assert await first.db.rows("SELECT status, sha256 FROM pending_import") == [("hashing", None)]

    expected = await asyncio.to_thread(_sha256, big)
    second: Daemon = await daemon_factory("--models-root", str(models), settle=0.1, data_dir=first.data_dir)
    row = await second.wait_row(big, timeout=120)
    assert row["sha256"] == expected
    assert (await second.get("/api/status"))["session"]["files_hashed"] == 1


async def test_sigterm_leaves_no_row_hashing(daemon_factory, models: Path):
    big = models / "checkpoints" / "huge.safetensors"
    with big.open("wb") as f:
        f.truncate(2 * 1024**3)
    d: Daemon = await daemon_factory("--models-root", str(models), settle=0.1)
    events, task = await d.events()
    await poll(lambda: _any(events.of("hash.progress", path=str(big))), "hashing to be under way", timeout=60)
    assert d.terminate() == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await d.db.rows("SELECT status FROM pending_import") == [("settling",)]
    assert "stopped" in d.log()


async def _any(items: list) -> bool:
    return bool(items)
