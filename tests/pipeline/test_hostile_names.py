"""Model files with hostile names: newlines, quotes, non-ASCII, the longest name a filesystem allows, and bytes
that are not UTF-8 (a name written under another system's encoding)."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Daemon, poll, run_cli, write_model

NAMES = (
    "new\nline.safetensors",
    "quo\"te's `back` $(x).safetensors",
    "模型 ünïcödé ✓.safetensors",
    "a" * (255 - len(".safetensors")) + ".safetensors",  # 255 bytes, the usual limit of one name
    " leading and trailing .safetensors",
    "escape \uef00\uefe9 look-alike.safetensors",  # the characters the database's own escape uses
)
# Latin-1, Shift-JIS and a stray continuation byte: none of them UTF-8
NOT_UTF8 = (b"caf\xe9-latin1.safetensors", b"\x83\x82\x83f\x83\x8b.safetensors", b"half-\xbf.safetensors")


def not_utf8(folder: Path, name: bytes) -> Path:
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + name))  # PEP 383: the bytes ride along as \udcXX
    write_model(path, seed=name)
    return path


async def test_hostile_names_are_listed_and_imported(daemon: Daemon, models: Path) -> None:
    paths = [write_model(models / "loras" / name, seed=name.encode()) for name in NAMES]
    paths += [not_utf8(models / "loras", name) for name in NOT_UTF8]
    shas = await daemon.import_files(*paths)
    listed = {m["sha256"]: m for m in (await daemon.get("/api/models?limit=100"))["models"]}
    assert len(listed) == len(paths)
    for path, sha in zip(paths, shas, strict=True):
        detail = await daemon.get(f"/api/models/{sha}")
        assert detail["path"] == str(path) and detail["file_name"] == path.name
        assert os.fsencode(detail["path"]) == os.fsencode(path)  # byte for byte, so the file opens again
        assert listed[sha]["file_name"] == path.name
        by_sha = await daemon.get(f"/api/models/{sha}/path")
        assert by_sha["path"] == str(path)
    found = (await daemon.get("/api/models?q=latin1"))["models"]
    assert [m["file_name"] for m in found] == [os.fsdecode(NOT_UTF8[0])]

    # a walk finds every file where the database says it is: nothing new, nothing gone, nothing hashed again
    await daemon.rescan()
    last = (await daemon.get("/api/status"))["last_scan"]
    assert (last["new_or_changed"], last["gone"]) == (0, 0), last
    assert "Traceback" not in daemon.log()

    # the database holds valid UTF-8 text; another program reading it sees the escaped form, not garbage
    stored = [r[0] for r in await daemon.db.rows("SELECT path FROM models")]
    assert len(stored) == len(paths) and "caf\uef00\uefe9-latin1.safetensors" in {Path(p).name for p in stored}


async def test_not_utf8_names_move_and_verify(daemon: Daemon, models: Path) -> None:
    path = not_utf8(models / "checkpoints", NOT_UTF8[0])
    [sha] = await daemon.import_files(path)
    moved = Path(os.fsdecode(os.fsencode(models / "checkpoints") + b"/moved-\xe9.safetensors"))
    os.rename(path, moved)

    async def followed() -> bool:
        return (await daemon.get(f"/api/models/{sha}"))["path"] == str(moved)

    await poll(followed, "the model to follow its file")
    done = run_cli("verify", "--data-dir", str(daemon.data_dir), *daemon.database_args)
    assert done.returncode == 0 and "checked 1 of 1 files: 0 problems" in done.stdout, done.stdout + done.stderr
