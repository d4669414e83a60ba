"""POST /api/pending/import: new models, each conflict strategy, batches, and the rows that cannot be imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Daemon, digests, poll, write_model


async def _import(d: Daemon, ids: list[int], strategy: str | None = None, delete_files: bool = False) -> dict:
    return await d.call("POST", "/api/pending/import",
                        {"ids": ids, "conflict_strategy": strategy, "delete_files": delete_files})


async def _library_with(d: Daemon, models: Path, name: str = "orig") -> tuple[dict, Path]:
    """One imported model, tagged and described, whose file sits in loras/."""
    path = write_model(models / "loras" / f"{name}.safetensors", seed=name.encode())
    (row,) = await d.ready_rows(path)
    report = await _import(d, [row["id"]])
    assert report["imported"] == [{"id": row["id"], "sha256": row["sha256"]}]
    await d.call("PATCH", f"/api/models/{row['sha256']}",
                 {"name": "Mine", "tags": ["style"], "meta_json": {"description": "kept"}})
    return row, path


async def test_ready_row_becomes_a_model(daemon: Daemon, models: Path):
    path = write_model(models / "loras" / "fresh.safetensors")
    (row,) = await daemon.ready_rows(path)
    report = await _import(daemon, [row["id"]])
    assert report == {"imported": [{"id": row["id"], "sha256": row["sha256"]}], "conflicts": [], "ignored": [],
                      "deleted": [], "failed": [], "refused": [], "trashed": []}
    assert await daemon.pending() == []
    model = await daemon.get(f"/api/models/{row['sha256']}")
    assert (model["path"], model["name"], model["type"], model["status"]) == (str(path), "fresh", "loras", "ok")
    assert model["blake3"] == digests(path)[1] and model["size_bytes"] == path.stat().st_size
    assert model["copies"] == [] and model["images"] == [] and model["cover"] is None
    assert await daemon.get(f"/api/models/{row['sha256']}/path") == {"path": str(path), "status": "ok"}
    listing = await daemon.get("/api/models")
    assert listing["total"] == 1 and listing["models"][0]["file_name"] == "fresh.safetensors"


async def test_conflict_is_reported_when_no_strategy(daemon: Daemon, models: Path):
    original, _ = await _library_with(daemon, models)
    dup = write_model(models / "checkpoints" / "dup.safetensors", seed=b"orig")
    row = await daemon.wait_row(dup, status="conflict")
    report = await _import(daemon, [row["id"]])
    assert [c["id"] for c in report["conflicts"]] == [row["id"]]
    assert report["conflicts"][0]["existing"]["sha256"] == original["sha256"]
    assert report["conflicts"][0]["pending"]["path"] == str(dup)
    assert [r["id"] for r in await daemon.pending()] == [row["id"]]


async def test_override_takes_the_pending_side(daemon: Daemon, models: Path):
    original, old_path = await _library_with(daemon, models)
    dup = write_model(models / "checkpoints" / "better-name.safetensors", seed=b"orig")
    row = await daemon.wait_row(dup, status="conflict")
    report = await _import(daemon, [row["id"]], "override")
    assert report["imported"] == [{"id": row["id"], "sha256": original["sha256"]}]
    model = await daemon.get(f"/api/models/{original['sha256']}")
    assert (model["path"], model["name"], model["type"]) == (str(dup), "better-name", "checkpoints")
    assert model["copies"] == [str(old_path)]  # the old file still exists: it is a copy now
    assert model["tags"] == ["style"] and model["meta_json"]["description"] == "kept"
    assert await daemon.pending() == []


async def test_merge_keeps_the_model_and_records_a_copy(daemon: Daemon, models: Path):
    original, old_path = await _library_with(daemon, models)
    dup = write_model(models / "checkpoints" / "other.safetensors", seed=b"orig")
    row = await daemon.wait_row(dup, status="conflict")
    await _import(daemon, [row["id"]], "merge")
    model = await daemon.get(f"/api/models/{original['sha256']}")
    assert (model["path"], model["name"], model["type"]) == (str(old_path), "Mine", "loras")
    assert model["copies"] == [str(dup)]
    await daemon.call("POST", "/api/scan", expect=202)
    await daemon.wait_idle()
    assert await daemon.pending() == []  # a copy never comes back as a pending row

    old_path.unlink()  # the main file goes: the copy takes over

    async def promoted() -> dict | None:
        m = await daemon.get(f"/api/models/{original['sha256']}")
        return m if m["path"] == str(dup) else None

    m = await poll(promoted, "the copy to become the main path")
    assert m["status"] == "ok" and m["copies"] == []
    dup.unlink()  # the last file goes: now it is missing, with everything kept

    async def missing() -> dict | None:
        m = await daemon.get(f"/api/models/{original['sha256']}")
        return m if m["status"] == "missing" else None

    m = await poll(missing, "the model to be missing")
    assert m["name"] == "Mine" and m["tags"] == ["style"] and m["meta_json"]["description"] == "kept"


async def test_ignore_keeps_the_row_and_walks_do_not_bring_it_back(daemon: Daemon, models: Path):
    await _library_with(daemon, models)
    dup = write_model(models / "vae" / "dup.safetensors", seed=b"orig")
    row = await daemon.wait_row(dup, status="conflict")
    assert (await _import(daemon, [row["id"]], "ignore"))["ignored"] == [row["id"]]
    await daemon.call("POST", "/api/scan", expect=202)
    await daemon.wait_idle()
    rows = await daemon.pending()
    assert [(r["id"], r["status"]) for r in rows] == [(row["id"], "ignored")]
    assert [r["id"] for r in await daemon.pending(status="ignored")] == [row["id"]]
    restored = await daemon.call("POST", "/api/pending/restore", {"ids": [row["id"]]})
    assert restored == {"restored": [row["id"]], "failed": []}
    assert (await daemon.get(f"/api/pending/{row['id']}"))["status"] == "conflict"


async def test_delete_removes_the_row_and_trashes_the_file_only_when_asked(daemon: Daemon, models: Path, tmp_path):
    await _library_with(daemon, models)
    keep = write_model(models / "vae" / "keep.safetensors", seed=b"orig")
    trash = write_model(models / "checkpoints" / "trash.safetensors", seed=b"orig")
    rows = [await daemon.wait_row(p, status="conflict") for p in (keep, trash)]
    assert (await _import(daemon, [rows[0]["id"]], "delete"))["deleted"] == [rows[0]["id"]]
    assert keep.exists()
    assert (await _import(daemon, [rows[1]["id"]], "delete", delete_files=True))["deleted"] == [rows[1]["id"]]
    assert not trash.exists()
    trashed = list((tmp_path / "xdg-data" / "Trash" / "files").iterdir())
    assert [p.name for p in trashed] == ["trash.safetensors"] and digests(trashed[0]) == digests(keep)

    await daemon.call("POST", "/api/scan", expect=202)  # the kept file is offered again; `ignore` is for that

    async def only_keep_left() -> bool:
        return [r["path"] for r in await daemon.pending()] == [str(keep)]

    await poll(only_keep_left, "the kept file to come back as a pending row after the walk")


@pytest.mark.parametrize("strategy", ["override", "merge", "ignore", "delete"])
async def test_strategy_does_not_touch_rows_without_conflict(daemon: Daemon, models: Path, strategy: str):
    path = write_model(models / "loras" / f"solo-{strategy}.safetensors")
    (row,) = await daemon.ready_rows(path)
    report = await _import(daemon, [row["id"]], strategy)
    assert report["imported"] == [{"id": row["id"], "sha256": row["sha256"]}]
    assert path.exists()


async def test_two_identical_rows_in_one_batch(daemon: Daemon, models: Path):
    a = write_model(models / "loras" / "twin-a.safetensors", seed=b"twin")
    b = write_model(models / "loras" / "twin-b.safetensors", seed=b"twin")
    ra, rb = await daemon.ready_rows(a, b)
    report = await _import(daemon, [ra["id"], rb["id"]])
    assert report["imported"] == [{"id": ra["id"], "sha256": ra["sha256"]}]
    assert [c["id"] for c in report["conflicts"]] == [rb["id"]]
    report = await _import(daemon, [rb["id"]], "merge")
    assert report["imported"] == [{"id": rb["id"], "sha256": ra["sha256"]}]
    assert (await daemon.get(f"/api/models/{ra['sha256']}"))["copies"] == [str(b)]


async def test_rows_that_cannot_be_imported_fail_with_a_reason(daemon: Daemon, models: Path):
    await daemon.wait_idle()
    report = await _import(daemon, [424242])
    assert report["failed"] == [{"id": 424242, "error": "no pending item with this id"}]
    code, body = await daemon.request("POST", "/api/pending/import", json={"ids": [1], "conflict_strategy": "nuke"})
    assert code == 400 and "conflict_strategy" in body["error"]
    for bad in ({"ids": []}, {"ids": ["1"]}, {"ids": [1], "delete_files": "yes"}, {"ids": [1], "x": 1}):
        code, body = await daemon.request("POST", "/api/pending/import", json=bad)
        assert code == 400, bad


async def test_auto_import_takes_rows_without_conflict(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict")
    first = write_model(models / "loras" / "auto.safetensors", seed=b"auto")

    async def imported() -> dict | None:
        listing = await d.get("/api/models")
        return listing if listing["total"] == 1 else None

    listing = await poll(imported, "the file to be imported on its own")
    assert listing["models"][0]["file_name"] == "auto.safetensors"
    dup = write_model(models / "vae" / "auto-copy.safetensors", seed=b"auto")
    row = await d.wait_row(dup, status="conflict")  # a duplicate still waits for the user
    assert row["conflict_sha256"] == digests(first)[0]
