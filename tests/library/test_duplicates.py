"""Models with copies (GET /api/duplicates) and moving one of their files to the trash
(POST /api/models/{sha256}/copies/trash): only through the file guards, and never the model's last file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from conftest import Daemon, digests, write_model

Start = Callable[..., Awaitable[Daemon]]


def trashed(tmp_path: Path) -> list[str]:
    folder = tmp_path / "xdg-data" / "Trash" / "files"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def with_copies(d: Daemon, main: Path, *copies: Path, scan: bool = False) -> str:
    """A model at `main` whose content is also at each of `copies`, merged in as its copies."""
    write_model(main, seed=main.name.encode())
    for c in copies:
        c.parent.mkdir(parents=True, exist_ok=True)
        c.write_bytes(main.read_bytes())
    if scan:
        await d.rescan()
    (sha,) = await d.import_files(main)
    if scan:
        await d.rescan()
    for c in copies:
        row = await d.wait_row(c, status="conflict")
        report = await d.call("POST", "/api/pending/import", {"ids": [row["id"]], "conflict_strategy": "merge"})
        assert report["imported"] == [{"id": row["id"], "sha256": sha}], report
    return sha


async def trash(d: Daemon, sha: str, path: Path | str, expect: int) -> dict[str, Any]:
    return await d.call("POST", f"/api/models/{sha}/copies/trash", {"path": str(path)}, expect=expect)


async def test_lists_models_with_copies_by_name_with_each_file_and_pages(daemon: Daemon, models: Path):
    b = await with_copies(daemon, models / "loras" / "b.safetensors", models / "loras" / "old" / "b copy.safetensors",
                          models / "vae" / "b.safetensors")
    a = await with_copies(daemon, models / "loras" / "a.safetensors", models / "checkpoints" / "a.safetensors")
    await daemon.import_files(write_model(models / "loras" / "single.safetensors"))

    listing = await daemon.get("/api/duplicates")
    assert listing["total"] == 2 and [m["sha256"] for m in listing["models"]] == [a, b]
    files = listing["models"][1]["files"]
    assert [(f["path"], f["folder"], f["main"]) for f in files] == [
        (str(models / "loras" / "b.safetensors"), "loras", True),
        (str(models / "loras" / "old" / "b copy.safetensors"), "loras/old", False),
        (str(models / "vae" / "b.safetensors"), "vae", False),
    ]
    assert all(f["root"] == str(models) and f["size_bytes"] == 64 * 1024 and not f["changed"] for f in files)
    assert listing["models"][1]["size_bytes"] == 64 * 1024 and listing["models"][1]["type"] == "loras"

    page = await daemon.get("/api/duplicates?limit=1&offset=1")
    assert page["total"] == 2 and [m["sha256"] for m in page["models"]] == [b]
    assert (await daemon.request("GET", "/api/duplicates?limit=-1"))[0] == 400


async def test_trashing_a_copy_moves_it_to_the_trash_and_forgets_it(daemon: Daemon, models: Path, tmp_path: Path):
    main, copy = models / "loras" / "kept.safetensors", models / "vae" / "extra.safetensors"
    sha = await with_copies(daemon, main, copy)
    (copy.parent / "extra.civitai.info").write_text("{}")

    answer = await trash(daemon, sha, copy, 200)
    assert answer == {"trashed": [str(copy), str(copy.parent / "extra.civitai.info")], "main": str(main)}
    assert not copy.exists() and trashed(tmp_path) == ["extra.civitai.info", "extra.safetensors"]
    model = await daemon.get(f"/api/models/{sha}")
    assert (model["path"], model["copies"], model["status"]) == (str(main), [], "ok")
    assert digests(main)[0] == sha
    assert await daemon.get("/api/duplicates") == {"models": [], "total": 0}
    await trash(daemon, sha, copy, 404)  # gone from the record: asking again finds nothing


async def test_the_main_file_goes_only_when_a_copy_takes_its_place(daemon: Daemon, models: Path, tmp_path: Path):
    main, copy = models / "loras" / "first.safetensors", models / "loras" / "sub" / "second.safetensors"
    sha = await with_copies(daemon, main, copy)

    assert await trash(daemon, sha, main, 200) == {"trashed": [str(main)], "main": str(copy)}
    assert not main.exists() and trashed(tmp_path) == ["first.safetensors"]
    model = await daemon.get(f"/api/models/{sha}")
    assert (model["path"], model["copies"], model["status"]) == (str(copy), [], "ok")
    # Now it is the model's only file: refused, and it stays.
    refused = await trash(daemon, sha, copy, 409)
    assert "only file" in refused["error"] and copy.exists()
    assert (await daemon.get(f"/api/models/{sha}"))["path"] == str(copy)


async def test_refuses_a_path_that_is_not_a_file_of_that_model(daemon: Daemon, models: Path):
    one = await with_copies(daemon, models / "loras" / "one.safetensors", models / "vae" / "one.safetensors")
    two = await with_copies(daemon, models / "loras" / "two.safetensors", models / "vae" / "two.safetensors")
    stranger = write_model(models / "checkpoints" / "stranger.safetensors")
    for sha, path in ((one, models / "vae" / "two.safetensors"), (one, stranger),
                      (one, str(models / "vae" / ".." / "vae" / "one.safetensors")), (one, "/etc/passwd")):
        refused = await trash(daemon, sha, path, 404)
        assert "not a copy" in refused["error"]
    await trash(daemon, "0" * 64, models / "vae" / "one.safetensors", 404)
    for body in ({}, {"path": ""}, {"path": 5}, {"path": "x", "also": 1}):
        await daemon.call("POST", f"/api/models/{one}/copies/trash", body, expect=400)
    assert all(p.exists() for p in (models / "vae" / "one.safetensors", models / "vae" / "two.safetensors", stranger))
    assert [m["sha256"] for m in (await daemon.get("/api/duplicates"))["models"]] == [one, two]


async def test_refuses_a_copy_outside_the_model_folders_and_leaves_it(daemon_factory: Start, models: Path,
                                                                       tmp_path: Path):
    extra = tmp_path / "extra-loras"
    extra.mkdir()
    d = await daemon_factory("--models-root", str(models), "--model-folder", f"loras={extra}")
    outside = extra / "far.safetensors"
    sha = await with_copies(d, models / "loras" / "near.safetensors", outside)
    await d.close()
    # The folder is no longer a model folder; the copy's record outlives that (a folder out of reach is not empty).
    d = await daemon_factory("--models-root", str(models))
    listing = await d.get("/api/duplicates")
    assert [f["root"] for f in listing["models"][0]["files"]] == [str(models), None]

    refused = await trash(d, sha, outside, 409)
    assert "outside the model folders" in refused["error"]
    assert outside.exists() and trashed(tmp_path) == []
    assert (await d.get(f"/api/models/{sha}"))["copies"] == [str(outside)]


async def test_refuses_a_file_changed_since_it_was_hashed(daemon_factory: Start, models: Path, tmp_path: Path):
    # No watcher, so nothing hashes the changed file again before the request comes.
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0")
    main, copy = models / "loras" / "main.safetensors", models / "vae" / "copy.safetensors"
    sha = await with_copies(d, main, copy, scan=True)
    with copy.open("ab") as f:
        f.write(b"more")
    listing = await d.get("/api/duplicates")
    assert [(f["size_bytes"], f["changed"]) for f in listing["models"][0]["files"]] == [
        (64 * 1024, False), (64 * 1024 + 4, True)]

    refused = await trash(d, sha, copy, 409)
    assert "changed since it was hashed" in refused["error"]
    # Nor does the main file go when its only copy is no longer the same content.
    assert "only file" in (await trash(d, sha, main, 409))["error"]
    assert main.exists() and copy.exists() and trashed(tmp_path) == []
