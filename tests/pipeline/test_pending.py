"""The import queue as an inbox uses it: lists by several statuses, retrying items in error, and the previews
of pending items."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from PIL import Image

from conftest import Daemon, digests, poll, write_model
from hikaze_mm.store.records import FILE_GONE


def unreadable(path: Path) -> Path:
    """A regular file whose first read fails with EIO, even for root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("/proc/self/mem", path)
    return path


async def test_status_takes_several_statuses_and_active(daemon: Daemon, models: Path):
    ignored = write_model(models / "loras" / "set-aside.safetensors")
    (row,) = await daemon.ready_rows(ignored)
    report = await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    await daemon.call("DELETE", f"/api/models/{report['imported'][0]['sha256']}", {"ignore_file": True})
    ready = await daemon.wait_row(write_model(models / "loras" / "ready.safetensors"))
    broken = await daemon.wait_row(unreadable(models / "vae" / "broken.safetensors"), status="error")
    ignored_row = await daemon.wait_row(ignored, status="ignored")

    async def ids(query: str) -> tuple[list[int], int]:
        answer = await daemon.get(f"/api/pending?{query}")
        return [r["id"] for r in answer["pending"]], answer["total"]

    everything = sorted([ready["id"], broken["id"], ignored_row["id"]])
    assert await ids("") == (everything, 3)  # without a status: every item, ignored ones included
    assert await ids("status=active") == (sorted([ready["id"], broken["id"]]), 2)
    assert await ids("status=ready,error") == (sorted([ready["id"], broken["id"]]), 2)
    assert await ids("status=error,ignored") == (sorted([broken["id"], ignored_row["id"]]), 2)
    assert await ids("status=active,ignored") == (everything, 3)
    assert await ids("status=settling,hashing") == ([], 0)
    assert await ids("status=active&type=vae") == ([broken["id"]], 1)
    assert await ids("status=active&limit=1&offset=1") == ([max(ready["id"], broken["id"])], 2)
    for bad in ("ready,", "ready,,error", "Ready", "ready, error", "inbox", "active;ignored"):
        code, body = await daemon.request("GET", f"/api/pending?status={bad}")
        assert code == 400 and "`status` must be one of" in body["error"], (bad, body)


async def test_retry_hashes_items_in_error_again(daemon_factory, models: Path):
    # Without a watcher, a file replaced behind the daemon's back is noticed only when asked to look again.
    d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0")
    fixed = unreadable(models / "loras" / "fixed.safetensors")
    vanished = unreadable(models / "loras" / "vanished.safetensors")
    good = write_model(models / "loras" / "good.safetensors")
    await d.rescan()
    fixed_row, vanished_row = [await d.wait_row(p, status="error") for p in (fixed, vanished)]
    (good_row,) = await d.ready_rows(good)
    events, task = await d.events()

    # Still unreadable: it goes through settling and hashing and ends in error again, with the reason.
    answer = await d.call("POST", "/api/pending/retry", {"ids": [fixed_row["id"], good_row["id"], 424242]})
    assert answer == {"retried": [fixed_row["id"]], "failed": [
        {"id": good_row["id"], "error": "not in error (it is ready); only items in error are retried"},
        {"id": 424242, "error": "no pending item with this id"}]}

    async def statuses() -> list[str] | None:
        seen = [e["status"] for e in events.of("pending.updated", id=fixed_row["id"])]
        return seen if seen[-1:] == ["error"] else None

    assert await poll(statuses, "the retried item to fail again") == ["settling", "hashing", "error"]
    assert "Input/output error" in (await d.get(f"/api/pending/{fixed_row['id']}"))["error"]

    # Readable now: the same item is hashed and becomes ready.
    fixed.unlink()
    write_model(fixed)
    assert (await d.call("POST", "/api/pending/retry", {"ids": [fixed_row["id"]]}))["retried"] == [fixed_row["id"]]
    row = await d.wait_row(fixed, status="ready")
    assert row["id"] == fixed_row["id"] and (row["sha256"], row["blake3"]) == digests(fixed)
    assert row["error"] is None

    # Gone: the item stays in error, with that as its reason.
    vanished.unlink()
    answer = await d.call("POST", "/api/pending/retry", {"ids": [vanished_row["id"]]})
    assert answer == {"retried": [], "failed": [{"id": vanished_row["id"], "error": f"{FILE_GONE}: {vanished}"}]}
    detail = await d.get(f"/api/pending/{vanished_row['id']}")
    assert (detail["status"], detail["error"]) == ("error", FILE_GONE)
    assert events.of("pending.updated", id=vanished_row["id"], status="error")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    for bad in ({"ids": []}, {"ids": ["1"]}, {"ids": [0]}, {"ids": [True]}, {"ids": [1], "force": True}, {}):
        code, body = await d.request("POST", "/api/pending/retry", json=bad)
        assert code == 400 and body["error"], (bad, body)
    assert (await d.get(f"/api/pending/{fixed_row['id']}"))["status"] == "ready"


async def test_previews_of_pending_items(daemon: Daemon, models: Path):
    shown = models / "loras" / "shown.safetensors"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(shown.with_suffix(".preview.png"))
    write_model(shown)
    bare = write_model(models / "loras" / "bare.safetensors")
    row, bare_row = await daemon.ready_rows(shown, bare)
    pending_id = row["id"]

    detail = await daemon.get(f"/api/pending/{pending_id}")
    assert detail["images"] == [{"seq": 0, "width": 40, "height": 30, "urls": {
        tier: f"/api/pending/{pending_id}/images/0/{tier}" for tier in ("high", "medium", "low")}}]
    assert (await daemon.get(f"/api/pending/{bare_row['id']}"))["images"] == []
    assert daemon.session is not None
    for tier, url in detail["images"][0]["urls"].items():
        async with daemon.session.get(daemon.url + url) as resp:
            assert (resp.status, resp.content_type) == (200, "image/webp")
            assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            stored = daemon.data_dir / "images" / "pending" / f"{pending_id}_0_{tier}.webp"
            assert await resp.read() == stored.read_bytes()

    for path, status, words in (
        (f"/api/pending/{pending_id}/images/1/low", 404, "no image 1"),
        (f"/api/pending/{bare_row['id']}/images/0/low", 404, "no image 0"),
        ("/api/pending/424242/images/0/low", 404, "no image 0"),
        (f"/api/pending/{pending_id}/images/0/huge", 400, "unknown tier"),
        (f"/api/pending/{pending_id}/images/0/..%2F..%2Flibrary.sqlite3", 400, "unknown tier"),
        (f"/api/pending/{pending_id}/images/abc/low", 400, "image number"),
        (f"/api/pending/{pending_id}/images/-1/low", 400, "image number"),
        ("/api/pending/0/images/0/low", 400, "pending id"),
        ("/api/pending/x/images/0/low", 400, "pending id"),
    ):
        code, body = await daemon.request("GET", path)
        assert code == status and words in body["error"], (path, code, body)

    # Imported, the preview belongs to the model; the pending item and its image URLs are gone.
    report = await daemon.call("POST", "/api/pending/import", {"ids": [pending_id]})
    model = await daemon.get(f"/api/models/{report['imported'][0]['sha256']}")
    assert [(i["width"], i["height"]) for i in model["images"]] == [(40, 30)]
    code, _ = await daemon.request("GET", f"/api/pending/{pending_id}/images/0/low")
    assert code == 404
