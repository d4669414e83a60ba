"""A hostile review of the routes that move files to the trash (POST /api/models/bulk with `trash` and `remove`,
POST /api/models/{sha256}/copies/trash): each attack either is refused with nothing lost, or was a hole that is now
closed. Nothing the user has on disk may be lost, and a model never claims a file it no longer has."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from library.test_duplicates import trash, trashed, with_copies

from conftest import Daemon, digests, write_model
from hikaze_mm.api.requests import MAX_EXCEPT

BULK = "/api/models/bulk"
Start = Callable[..., Awaitable[Daemon]]


async def quiet(factory: Start, models: Path) -> Daemon:
    """A daemon with no watcher and no rescans: what is on disk changes behind its back, as between two scans."""
    return await factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0")


# -- a copy goes only while the model's main file is still there, as hashed ----------------------------------
async def test_a_copy_is_kept_when_the_main_file_changed_since_it_was_hashed(daemon_factory: Start, models: Path,
                                                                             tmp_path: Path):
    d = await quiet(daemon_factory, models)
    main, copy = models / "loras" / "main.safetensors", models / "vae" / "copy.safetensors"
    sha = await with_copies(d, main, copy, scan=True)
    main.write_bytes(b"something else entirely")  # the user overwrote it: the copy is now the model's only content

    refused = await trash(d, sha, copy, 409)
    assert "main file" in refused["error"]
    assert copy.exists() and digests(copy)[0] == sha and trashed(tmp_path) == []


async def test_a_copy_is_kept_when_the_main_file_is_gone(daemon_factory: Start, models: Path, tmp_path: Path):
    d = await quiet(daemon_factory, models)
    main, copy = models / "loras" / "main.safetensors", models / "vae" / "copy.safetensors"
    sha = await with_copies(d, main, copy, scan=True)
    main.unlink()  # not noticed yet: the record still says the model is ok

    assert "main file" in (await trash(d, sha, copy, 409))["error"]
    assert copy.exists() and trashed(tmp_path) == []
    # Once a scan has seen it, the model is missing or lives on in the copy; either way the copy is not trashed.
    await d.rescan()
    model = await d.get(f"/api/models/{sha}")
    if model["path"] == str(copy):
        assert "only file" in (await trash(d, sha, copy, 409))["error"]
    else:
        assert "main file" in (await trash(d, sha, copy, 409))["error"]
    assert copy.exists() and trashed(tmp_path) == []


# -- the main file goes only when its successor really holds the same content -------------------------------
async def test_the_main_file_stays_when_the_copy_was_rewritten_in_place_with_its_size_and_time(
        daemon_factory: Start, models: Path, tmp_path: Path):
    d = await quiet(daemon_factory, models)
    main, copy = models / "loras" / "main.safetensors", models / "vae" / "copy.safetensors"
    sha = await with_copies(d, main, copy, scan=True)
    before = copy.stat()
    with copy.open("r+b") as f:  # same inode, same size, then the old mtime put back: the stat cannot tell
        f.write(b"\xff" * 16)
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))

    refused = await trash(d, sha, main, 409)
    assert "only file" in refused["error"]
    assert main.exists() and digests(main)[0] == sha and trashed(tmp_path) == []
    assert (await d.get(f"/api/models/{sha}"))["path"] == str(main)


# -- what held: each of these attacks is refused and nothing is lost -----------------------------------------
async def test_a_copy_replaced_by_a_link_to_the_main_file_is_not_trashed(daemon_factory: Start, models: Path,
                                                                         tmp_path: Path):
    d = await quiet(daemon_factory, models)
    main, copy = models / "loras" / "main.safetensors", models / "vae" / "copy.safetensors"
    sha = await with_copies(d, main, copy, scan=True)
    copy.unlink()
    copy.symlink_to(main)  # trashing "the copy" would follow nothing, but the user must remove a link themselves

    assert "symbolic link" in (await trash(d, sha, copy, 409))["error"]
    answer = await d.call("POST", BULK, {"action": "trash", "sha256s": [sha]})
    assert not answer["results"][0]["ok"] and "symbolic link" in answer["results"][0]["error"]
    assert main.exists() and copy.is_symlink() and digests(main)[0] == sha and trashed(tmp_path) == []


async def test_other_spellings_of_a_file_name_nothing(daemon: Daemon, models: Path, tmp_path: Path):
    main, copy = models / "loras" / "main.safetensors", models / "vae" / "copy.safetensors"
    sha = await with_copies(daemon, main, copy)
    for spelled in (f"{models}//vae/copy.safetensors", f"{copy}/", f"{models}/loras/../vae/copy.safetensors",
                    f"{models}/vae/./copy.safetensors", f"{models}//loras/main.safetensors",
                    f"{models}/vae/../loras/main.safetensors", "vae/copy.safetensors"):
        await trash(daemon, sha, spelled, 404)
    assert main.exists() and copy.exists() and trashed(tmp_path) == []


async def test_two_requests_at_once_on_the_two_files_leave_one(daemon: Daemon, models: Path, tmp_path: Path):
    main, copy = models / "loras" / "main.safetensors", models / "vae" / "copy.safetensors"
    sha = await with_copies(daemon, main, copy)
    answers = await asyncio.gather(
        daemon.request("POST", f"/api/models/{sha}/copies/trash", json={"path": str(main)}),
        daemon.request("POST", f"/api/models/{sha}/copies/trash", json={"path": str(copy)}))
    assert sorted(status for status, _ in answers) == [200, 409], answers
    left = [p for p in (main, copy) if p.exists()]
    assert len(left) == 1 and digests(left[0])[0] == sha and len(trashed(tmp_path)) == 1
    model = await daemon.get(f"/api/models/{sha}")
    assert (model["path"], model["status"], model["copies"]) == (str(left[0]), "ok", [])


async def test_an_except_list_beyond_its_limit_is_refused_whole(daemon: Daemon, models: Path, tmp_path: Path):
    await daemon.import_files(write_model(models / "loras" / "a.safetensors"))
    huge = [f"{i:064x}" for i in range(MAX_EXCEPT + 1)]
    status, _ = await daemon.request("POST", BULK, json={"action": "trash", "filter": {}, "except": huge})
    assert status == 400 and trashed(tmp_path) == []


async def test_a_bulk_trash_meeting_a_model_removed_meanwhile_answers_for_it(daemon: Daemon, models: Path,
                                                                              tmp_path: Path):
    paths = [write_model(models / "loras" / f"m{i}.safetensors") for i in range(6)]
    shas = await daemon.import_files(*paths)
    removing = [daemon.request("DELETE", f"/api/models/{s}") for s in shas[:3]]
    _, answer = (await asyncio.gather(asyncio.gather(*removing),
                                      daemon.call("POST", BULK, {"action": "trash", "sha256s": shas})))
    for result in answer["results"]:
        assert result["ok"] or "no model" in result["error"], result
    # Whatever was removed first kept its file; whatever was trashed is in the trash, nowhere lost.
    in_trash = set(trashed(tmp_path))
    assert all(p.exists() != (p.name in in_trash) for p in paths)


async def test_a_preview_another_model_file_also_uses_is_not_trashed_with_this_one(daemon: Daemon, models: Path,
                                                                                     tmp_path: Path):
    # `x.preview.png` is the preview of `x.safetensors` and also the `<stem>.png` of `x.preview.safetensors`.
    one = write_model(models / "loras" / "x.safetensors", seed=b"one")
    other = write_model(models / "loras" / "x.preview.safetensors", seed=b"other")
    shared = models / "loras" / "x.preview.png"
    shared.write_bytes(b"a preview both show")
    own = models / "loras" / "x.civitai.info"
    own.write_text("{}")
    sha, _ = await daemon.import_files(one, other)

    answer = await daemon.call("POST", BULK, {"action": "trash", "sha256s": [sha]})
    assert answer["results"][0]["ok"], answer
    assert shared.exists() and other.exists() and trashed(tmp_path) == ["x.civitai.info", "x.safetensors"]
