"""Model files with hostile names: newlines, quotes, non-ASCII, the longest name a filesystem allows, and bytes
that are not UTF-8."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Daemon, poll, write_model

NAMES = (
    "new\nline.safetensors",
    "quo\"te's `back` $(x).safetensors",
    "模型 ünïcödé ✓.safetensors",
    "a" * (255 - len(".safetensors")) + ".safetensors",  # 255 bytes, the usual limit of one name
    " leading and trailing .safetensors",
)


async def test_hostile_names_are_listed_and_imported(daemon: Daemon, models: Path) -> None:
    paths = [write_model(models / "loras" / name, seed=name.encode()) for name in NAMES]
    # A name in another system's encoding cannot be stored as text: it is left out, named in the log, and must not
    # hold up the files beside it.
    bad = os.fsencode(models / "loras") + b"/caf\xe9-latin1.safetensors"
    with open(bad, "wb") as f:
        f.write(b"not utf-8 " * 100)
    shas = await daemon.import_files(*paths)
    listed = {m["sha256"]: m for m in (await daemon.get("/api/models?limit=100"))["models"]}
    for path, sha in zip(paths, shas, strict=True):
        detail = await daemon.get(f"/api/models/{sha}")
        assert detail["path"] == str(path) and detail["file_name"] == path.name
        assert listed[sha]["file_name"] == path.name
    assert len(listed) == len(NAMES)

    async def warned() -> bool:
        return "caf\\udce9-latin1.safetensors" in daemon.log() and "not valid UTF-8" in daemon.log()

    await poll(warned, "the left-out file to be named in the log")
    assert (await daemon.get("/api/status"))["last_scan"]["finished_at"] is not None
