"""The daemon on a loopback port, real folders, real watchdog: files dropped in become pending rows."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from conftest import Daemon, digests, poll, slow_write, write_model


async def test_copied_file_becomes_ready_row_with_both_hashes(daemon: Daemon, models: Path, tmp_path: Path):
    src = write_model(tmp_path / "outside" / "dream.safetensors", 3 * 1024 * 1024 + 17)
    dest = models / "checkpoints" / "dream.safetensors"
    shutil.copyfile(src, dest)

    row = await daemon.wait_row(dest)
    sha, b3 = digests(dest)
    assert (row["sha256"], row["blake3"]) == (sha, b3)
    assert row["type"] == "checkpoints" and row["name"] == "dream.safetensors"
    assert row["size_bytes"] == dest.stat().st_size and row["hashed_at"] >= row["discovered_at"]
    detail = await daemon.get(f"/api/pending/{row['id']}")
    assert detail["sha256"] == sha and detail["tags"] == [] and isinstance(detail["meta_json"], dict)


async def test_slow_writer_gives_one_row_hashed_once(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), settle=1.0)
    events, task = await d.events()
    path = models / "loras" / "slow.safetensors"
    await slow_write(path, chunks=8, pause=0.4)  # about 3 s of writing, pauses shorter than settle_seconds
    row = await d.wait_row(path)
    assert row["sha256"] == digests(path)[0]
    assert [r["path"] for r in await d.pending()] == [str(path)]
    await d.wait_idle()
    assert len(events.of("pending.updated", id=row["id"], status="hashing")) == 1
    assert len(events.of("pending.updated", id=row["id"], status="ready")) == 1
    task.cancel()


async def test_partial_download_renamed_at_the_end_is_picked_up_once(daemon: Daemon, models: Path):
    events, task = await daemon.events()
    part = models / "loras" / "style.safetensors.part"
    await slow_write(part, chunks=5, pause=0.1)
    final = models / "loras" / "style.safetensors"
    part.rename(final)
    row = await daemon.wait_row(final)
    await daemon.wait_idle()
    rows = await daemon.pending()
    assert [r["path"] for r in rows] == [str(final)]
    assert row["sha256"] == digests(final)[0]
    assert len(events.of("pending.added")) == 1
    assert len(events.of("pending.updated", status="ready")) == 1
    task.cancel()


async def test_file_beside_a_partial_sibling_waits_for_the_download(daemon: Daemon, models: Path):
    aria = models / "loras" / "big.safetensors.aria2"
    aria.write_bytes(b"control")
    target = write_model(models / "loras" / "big.safetensors", 200_000)
    # A file that arrives later settles later: once it is hashed, the target has had its chance too.
    control = write_model(models / "loras" / "control.safetensors")
    await daemon.wait_row(control)
    assert (await _row(daemon, target))["status"] == "settling"
    aria.unlink()
    assert (await daemon.wait_row(target))["sha256"] == digests(target)[0]


async def test_files_present_before_start_are_found(daemon_factory, models: Path):
    a = write_model(models / "checkpoints" / "old.ckpt")
    b = write_model(models / "vae" / "nested" / "deep" / "v.pt")
    d: Daemon = await daemon_factory("--models-root", str(models))
    assert (await d.wait_row(a))["type"] == "checkpoints"
    row = await d.wait_row(b)
    assert row["type"] == "vae" and row["sha256"] == digests(b)[0]


async def test_non_model_files_are_not_rows(daemon: Daemon, models: Path):
    for name in ("notes.txt", "preview.png", "info.json", "model.yaml", ".hidden.safetensors"):
        (models / "loras" / name).write_bytes(b"x" * 100)
    write_model(models / "stray.safetensors")  # a file directly in models/ has no type folder
    marker = write_model(models / "loras" / "real.safetensors")
    await daemon.wait_row(marker)
    await daemon.wait_idle()
    assert [r["path"] for r in await daemon.pending()] == [str(marker)]


async def test_rename_keeps_the_row_and_is_not_rehashed(daemon: Daemon, models: Path):
    src = write_model(models / "loras" / "a.safetensors", 500_000)
    row = await daemon.wait_row(src)
    events, task = await daemon.events()
    dest = models / "loras" / "sub" / "b.safetensors"
    dest.parent.mkdir()
    src.rename(dest)
    moved = await daemon.wait_row(dest)
    assert moved["id"] == row["id"] and moved["hashed_at"] == row["hashed_at"]
    assert moved["name"] == "b.safetensors"
    other = models / "checkpoints" / "b.safetensors"
    dest.rename(other)
    moved = await daemon.wait_row(other)
    assert moved["id"] == row["id"] and moved["type"] == "checkpoints"
    await daemon.wait_idle()
    assert events.of("pending.updated", status="hashing") == []
    assert (await daemon.get("/api/status"))["session"]["files_hashed"] == 1
    task.cancel()


async def test_deleting_the_file_removes_the_row(daemon: Daemon, models: Path):
    path = write_model(models / "loras" / "gone.safetensors")
    row = await daemon.wait_row(path)
    path.unlink()

    async def removed() -> bool:
        status, _ = await daemon.request("GET", f"/api/pending/{row['id']}")
        return status == 404

    await poll(removed, "the row to be removed")
    assert await daemon.pending() == []


async def test_two_identical_files_give_two_ready_rows(daemon: Daemon, models: Path):
    a = write_model(models / "loras" / "twin1.safetensors", seed=b"same")
    b = write_model(models / "checkpoints" / "twin2.safetensors", seed=b"same")
    ra, rb = await daemon.wait_row(a), await daemon.wait_row(b)
    assert ra["id"] != rb["id"]
    assert ra["sha256"] == rb["sha256"] == digests(a)[0]
    assert ra["conflict_sha256"] is None and rb["conflict_sha256"] is None


async def test_restart_reads_no_unchanged_file(daemon_factory, models: Path, tmp_path: Path):
    files = [write_model(models / "loras" / f"m{i}.safetensors", 100_000 + i) for i in range(5)]
    first: Daemon = await daemon_factory("--models-root", str(models))
    rows = {r["path"]: r for r in [await first.wait_row(f) for f in files]}
    assert first.terminate() == 0

    second: Daemon = await daemon_factory("--models-root", str(models))
    status = await second.wait_idle()
    assert status["session"] == {"files_hashed": 0, "bytes_hashed": 0}
    again = {r["path"]: r for r in await second.pending()}
    assert {p: r["hashed_at"] for p, r in again.items()} == {p: r["hashed_at"] for p, r in rows.items()}
    assert status["last_scan"]["files"] == 5 and status["last_scan"]["new_or_changed"] == 0


async def test_changed_file_is_hashed_again(daemon: Daemon, models: Path):
    path = write_model(models / "loras" / "edit.safetensors", 100_000)
    row = await daemon.wait_row(path)
    write_model(path, 120_000, seed=b"new content")
    future = time.time() + 5
    os.utime(path, (future, future))

    async def rehashed() -> dict | None:
        r = await _row(daemon, path)
        return r if r and r["status"] == "ready" and r["sha256"] != row["sha256"] else None

    again = await poll(rehashed, "the changed file to be hashed again")
    assert again["id"] == row["id"] and again["sha256"] == digests(path)[0]


async def test_missing_folder_is_picked_up_when_it_appears(daemon_factory, tmp_path: Path):
    later = tmp_path / "later-models"
    d: Daemon = await daemon_factory("--models-root", str(later))
    status = await d.get("/api/status")
    assert status["roots"] == [
        {"path": str(later), "type": None, "source": "models_roots", "exists": False, "mode": "off", "note": None}
    ]
    path = write_model(later / "loras" / "arrived.safetensors")
    assert (await d.wait_row(path))["sha256"] == digests(path)[0]
    status = await d.get("/api/status")
    assert status["roots"][0]["exists"] and status["roots"][0]["mode"] == "native"


async def test_symlinked_folder_is_followed_once(daemon_factory, models: Path, tmp_path: Path):
    nas = tmp_path / "nas" / "loras"
    outside = write_model(nas / "far.safetensors")
    os.symlink(nas, models / "loras" / "linked")
    os.symlink(models / "loras", models / "loras" / "loop")  # a cycle must not hang the walk
    d: Daemon = await daemon_factory("--models-root", str(models))
    linked = models / "loras" / "linked" / "far.safetensors"
    row = await d.wait_row(linked)
    assert row["sha256"] == digests(outside)[0]
    await d.wait_idle()
    assert [r["path"] for r in await d.pending()] == [str(linked)]
    status = await d.get("/api/status")
    assert status["linked_folders"] == [{"path": str(models / "loras" / "linked"), "real": str(nas), "mode": "native"}]
    later = write_model(nas / "dropped-later.safetensors")  # written through the real path, seen at the link
    assert (await d.wait_row(models / "loras" / "linked" / later.name))["sha256"] == digests(later)[0]


async def _row(daemon: Daemon, path: Path) -> dict | None:
    rows = [r for r in await daemon.pending() if r["path"] == str(path)]
    return rows[0] if rows else None


async def _has_row(daemon: Daemon, path: Path, status: str) -> bool:
    row = await _row(daemon, path)
    return row is not None and row["status"] == status


async def test_renamed_folder_keeps_rows_and_hashes(daemon: Daemon, models: Path):
    a = write_model(models / "loras" / "pack" / "a.safetensors")
    b = write_model(models / "loras" / "pack" / "deeper" / "b.safetensors")
    rows = [await daemon.wait_row(a), await daemon.wait_row(b)]
    (models / "loras" / "pack").rename(models / "loras" / "renamed")
    moved = [await daemon.wait_row(models / "loras" / "renamed" / "a.safetensors"),
             await daemon.wait_row(models / "loras" / "renamed" / "deeper" / "b.safetensors")]
    assert [r["id"] for r in moved] == [r["id"] for r in rows]
    await daemon.wait_idle()
    assert len(await daemon.pending()) == 2
    assert (await daemon.get("/api/status"))["session"]["files_hashed"] == 2


async def test_empty_root_is_offline_not_emptied(daemon_factory, tmp_path: Path):
    share = tmp_path / "share"
    path = write_model(share / "lora.safetensors")
    extra = tmp_path / "extra.yaml"
    extra.write_text(f"nas:\n  loras: {share}\n")
    first: Daemon = await daemon_factory("--extra-model-paths", str(extra))
    row = await first.wait_row(path)
    assert first.terminate() == 0
    hidden = tmp_path / "unmounted.safetensors"
    path.rename(hidden)  # the share is unmounted while the daemon is down: its mount point is empty
    second: Daemon = await daemon_factory("--extra-model-paths", str(extra), data_dir=first.data_dir)
    await second.wait_idle()
    assert await second.pending() == [row]
