"""A hostile review of the routes that move files to the trash (POST /api/models/bulk with `trash` and `remove`,
POST /api/models/{sha256}/copies/trash): each attack either is refused with nothing lost, or was a hole that is now
closed. Nothing the user has on disk may be lost, and a model never claims a file it no longer has."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from library.test_duplicates import trash, trashed, with_copies

from conftest import Daemon, digests

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
