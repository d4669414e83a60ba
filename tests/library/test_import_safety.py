"""What an import may do to the files on disk: a model's own file is never its duplicate, only an unchanged model
file inside the model folders goes to the trash, twins resolve in favour of the one with the metadata, and
a model taken out of the library is back in the inbox at once. Every test checks the trash itself
(XDG_DATA_HOME points into the test's folder) and that the file that must survive is there byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import Daemon, digests, poll, write_model

CIVITAI_INFO = {"id": 456, "modelId": 123, "baseModel": "SDXL 1.0", "trainedWords": ["jugg style"],
                "description": "<p>the well-named original</p>", "model": {"nsfw": False}}


def trashed(tmp_path: Path) -> list[str]:
    folder = tmp_path / "xdg-data" / "Trash" / "files"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def _import(d: Daemon, ids: list[int], strategy: str | None = None, delete_files: bool = False) -> dict:
    return await d.call("POST", "/api/pending/import",
                        {"ids": ids, "conflict_strategy": strategy, "delete_files": delete_files})


async def rows_at(d: Daemon, *paths: str | Path, statuses: tuple[str, ...] = ("ready", "conflict")) -> list[dict]:
    """Wait until every path has a hashed pending row; the rows in the order of the paths."""
    wanted = [str(p) for p in paths]

    async def found() -> list[dict] | None:
        by_path = {r["path"]: r for r in await d.pending()}
        rows = [by_path.get(p) for p in wanted]
        return rows if all(r is not None and r["status"] in statuses for r in rows) else None  # type: ignore

    return await poll(found, f"hashed rows for {wanted}")


def alias_yaml(tmp_path: Path, loras: str) -> Path:
    """An extra_model_paths.yaml naming `loras` as a LoRA folder, the way shared-model set-ups name one folder
    twice (once inside ComfyUI/models, once by its real place)."""
    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(f"shared:\n  loras: {json.dumps(loras)}\n")
    return yaml_file


# -- 1. a model's own file, named by another path, is never a duplicate ---------------------------------------
async def _alias_is_the_models_path(d: Daemon, tmp_path: Path, real: Path, alias: str) -> None:
    original = real.read_bytes()
    events, task = await d.events()
    first, second = await rows_at(d, real, alias)
    assert first["sha256"] == second["sha256"]
    report = await _import(d, [first["id"]])
    assert report["imported"] == [{"id": first["id"], "sha256": first["sha256"]}]
    # The other name is the model's file: no conflict, no duplicate to delete, gone from the inbox at once.
    report = await _import(d, [second["id"]], "delete", delete_files=True)
    assert report["deleted"] == [] and report["conflicts"] == []
    assert real.read_bytes() == original and trashed(tmp_path) == []
    assert await d.pending() == []
    assert events.of("pending.removed", id=second["id"])
    model = await d.get(f"/api/models/{first['sha256']}")
    assert model["status"] == "ok" and model["path"] == str(real) and model["copies"] == [alias]
    await d.rescan()
    assert await d.pending() == []  # it does not come back as pending either
    assert real.read_bytes() == original and trashed(tmp_path) == []
    task.cancel()


async def test_a_symlinked_folder_names_the_models_own_file(daemon_factory, models: Path, tmp_path: Path):
    real = write_model(models / "loras" / "only-copy.safetensors", size=256 * 1024)
    os.symlink(models / "loras", tmp_path / "linked-loras")
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off",
                             "--extra-model-paths", str(alias_yaml(tmp_path, str(tmp_path / "linked-loras"))))
    await _alias_is_the_models_path(d, tmp_path, real, str(tmp_path / "linked-loras" / real.name))


async def test_a_proc_self_root_path_names_the_models_own_file(daemon_factory, models: Path, tmp_path: Path):
    real = write_model(models / "loras" / "only-copy.safetensors", size=256 * 1024)
    via_proc = "/proc/self/root" + str(models / "loras")
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off",
                             "--extra-model-paths", str(alias_yaml(tmp_path, via_proc)))
    await _alias_is_the_models_path(d, tmp_path, real, via_proc + "/" + real.name)


async def test_a_bind_mount_names_the_models_own_file(daemon_factory, models: Path, tmp_path: Path):
    real = write_model(models / "loras" / "only-copy.safetensors", size=256 * 1024)
    mount_point = tmp_path / "bound-loras"
    mount_point.mkdir()
    done = subprocess.run(["mount", "--bind", str(models / "loras"), str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount --bind refused: {done.stderr.decode().strip()}")
    try:
        d = await daemon_factory("--models-root", str(models), "--watch-mode", "off",
                                 "--extra-model-paths", str(alias_yaml(tmp_path, str(mount_point))))
        await _alias_is_the_models_path(d, tmp_path, real, str(mount_point / real.name))
        await d.close()
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


async def test_both_names_in_one_batch_make_one_model_and_trash_nothing(daemon_factory, models: Path, tmp_path):
    real = write_model(models / "loras" / "both.safetensors")
    original = real.read_bytes()
    via_proc = "/proc/self/root" + str(models / "loras")
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off",
                             "--extra-model-paths", str(alias_yaml(tmp_path, via_proc)))
    alias = via_proc + "/" + real.name
    first, second = await rows_at(d, alias, real)
    report = await _import(d, [first["id"], second["id"]], "delete", delete_files=True)
    assert sorted(i["id"] for i in report["imported"]) == sorted([first["id"], second["id"]])
    assert report["deleted"] == report["failed"] == report["conflicts"] == []
    model = await d.get(f"/api/models/{first['sha256']}")
    assert sorted([model["path"], *model["copies"]]) == sorted([alias, str(real)])
    assert real.read_bytes() == original and trashed(tmp_path) == [] and await d.pending() == []


async def test_a_hard_link_is_the_same_file_and_joins_the_model_when_it_is_imported(daemon: Daemon, models: Path,
                                                                                    tmp_path: Path):
    real = write_model(models / "loras" / "linked.safetensors")
    link = models / "vae" / "hard-link.safetensors"
    os.link(real, link)
    events, task = await daemon.events()
    first, second = await rows_at(daemon, real, link)
    await _import(daemon, [first["id"]])
    assert await daemon.pending() == []  # no twin left behind: it is the model's own file
    assert events.of("pending.removed", id=second["id"])
    model = await daemon.get(f"/api/models/{first['sha256']}")
    assert (model["path"], model["copies"]) == (str(real), [str(link)])
    assert digests(link)[0] == first["sha256"] and trashed(tmp_path) == []
    task.cancel()


async def test_an_alias_hashed_after_the_import_joins_the_model(daemon_factory, models: Path, tmp_path: Path):
    """The other name turns up only once the model exists: it is filed as the model's path, never as a conflict."""
    real = write_model(models / "loras" / "late.safetensors")
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0",
                             "--extra-model-paths", str(alias_yaml(tmp_path, str(tmp_path / "linked-loras"))))
    (sha,) = await d.import_files(real)
    os.symlink(models / "loras", tmp_path / "linked-loras")
    await d.rescan()
    assert await d.pending() == []
    model = await d.get(f"/api/models/{sha}")
    assert model["path"] == str(real) and model["copies"] == [str(tmp_path / "linked-loras" / real.name)]
    assert digests(real)[0] == sha and trashed(tmp_path) == []


# -- 3. only an unchanged model file inside the model folders goes to the trash -------------------------------
async def test_a_duplicate_changed_since_it_was_hashed_is_not_trashed(daemon_factory, models: Path, tmp_path):
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0")
    kept = write_model(models / "loras" / "kept.safetensors", seed=b"same")
    dup = write_model(models / "checkpoints" / "dup.safetensors", seed=b"same")
    await d.rescan()
    kept_row, dup_row = await rows_at(d, kept, dup)
    await _import(d, [kept_row["id"]])
    edited = b"the user's own edit" * 100
    dup.write_bytes(edited)  # no watcher: the row still holds the fingerprint of the file that was hashed
    report = await _import(d, [dup_row["id"]], "delete", delete_files=True)
    assert report["deleted"] == [] and [f["id"] for f in report["failed"]] == [dup_row["id"]]
    assert "changed since it was hashed" in report["failed"][0]["error"]
    assert dup.read_bytes() == edited and trashed(tmp_path) == []
    assert (await d.get(f"/api/pending/{dup_row['id']}"))["status"] == "conflict"  # the row stays
    assert digests(kept)[0] == kept_row["sha256"]


async def test_a_duplicate_outside_the_model_folders_is_not_trashed(daemon_factory, models: Path, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "loras").mkdir(parents=True)
    dup = write_model(elsewhere / "loras" / "dup.safetensors", seed=b"same")
    kept = write_model(models / "loras" / "kept.safetensors", seed=b"same")
    d = await daemon_factory("--models-root", str(models), "--models-root", str(elsewhere), "--watch-mode", "off")
    kept_row, dup_row = await rows_at(d, kept, dup)
    await _import(d, [kept_row["id"]])
    await d.close()
    # The folder is no longer a model folder; its row is kept (an unconfigured folder proves nothing gone).
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off", data_dir=d.data_dir)
    await d.wait_idle()
    assert [r["id"] for r in await d.pending()] == [dup_row["id"]]
    report = await _import(d, [dup_row["id"]], "delete", delete_files=True)
    assert report["deleted"] == [] and [f["id"] for f in report["failed"]] == [dup_row["id"]]
    assert "outside the model folders" in report["failed"][0]["error"]
    assert digests(dup)[0] == kept_row["sha256"] and trashed(tmp_path) == []
    assert [r["id"] for r in await d.pending()] == [dup_row["id"]]


async def test_a_symlinked_file_is_not_trashed(daemon_factory, models: Path, tmp_path: Path):
    secret = write_model(tmp_path / "outside" / "secret.safetensors", seed=b"same")
    kept = write_model(models / "loras" / "kept.safetensors", seed=b"same")
    link = models / "vae" / "link.safetensors"
    os.symlink(secret, link)
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off")
    kept_row, link_row = await rows_at(d, kept, link)
    await _import(d, [kept_row["id"]])
    report = await _import(d, [link_row["id"]], "delete", delete_files=True)
    assert report["deleted"] == [] and [f["id"] for f in report["failed"]] == [link_row["id"]]
    assert "symbolic link" in report["failed"][0]["error"]
    assert link.is_symlink() and digests(secret)[0] == kept_row["sha256"] and trashed(tmp_path) == []


# -- 5. twins in the inbox ----------------------------------------------------------------------------------
async def test_the_twin_of_an_imported_file_turns_conflict_at_once(daemon: Daemon, models: Path):
    a = write_model(models / "loras" / "twin-a.safetensors", seed=b"twin")
    b = write_model(models / "vae" / "twin-b.safetensors", seed=b"twin")
    ra, rb = await rows_at(daemon, a, b, statuses=("ready",))
    events, task = await daemon.events()
    await _import(daemon, [ra["id"]])
    # No waiting: the import's own transaction turned the twin.
    row = await daemon.get(f"/api/pending/{rb['id']}")
    assert (row["status"], row["conflict_sha256"]) == ("conflict", ra["sha256"])
    assert [r["id"] for r in await daemon.pending(status="ready")] == []
    assert [r["id"] for r in await daemon.pending(status="conflict")] == [rb["id"]]

    async def told() -> list[dict[str, Any]]:
        return events.of("pending.updated", id=rb["id"], status="conflict", conflict_sha256=ra["sha256"])

    await poll(told, "the event stream to say the twin is a conflict now")
    assert digests(b)[0] == ra["sha256"]
    task.cancel()


# -- 6. a batch of twins keeps the file with the metadata -------------------------------------------------------
async def test_a_batch_of_twins_keeps_the_well_named_original(daemon_factory, models: Path, tmp_path: Path):
    folder = models / "checkpoints"
    copy = write_model(folder / "juggernautXL_v9 (1).safetensors", seed=b"jugg")
    os.utime(copy, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))  # the copy is the older file
    original = write_model(folder / "juggernautXL_v9.safetensors", seed=b"jugg")
    info = folder / "juggernautXL_v9.civitai.info"
    info.write_text(json.dumps(CIVITAI_INFO))
    preview = folder / "juggernautXL_v9.preview.png"
    Image.new("RGB", (30, 20), (200, 10, 10)).save(preview)
    kept = {p: p.read_bytes() for p in (original, info, preview)}
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off")
    copy_row, original_row = await rows_at(d, copy, original)

    report = await _import(d, [copy_row["id"], original_row["id"]], "delete", delete_files=True)
    assert report["imported"] == [{"id": original_row["id"], "sha256": original_row["sha256"]}]
    assert report["deleted"] == [copy_row["id"]] and report["failed"] == []
    model = await d.get(f"/api/models/{original_row['sha256']}")
    assert (model["path"], model["name"]) == (str(original), "juggernautXL_v9")
    assert model["meta_json"]["trigger_words"] == ["jugg style"]
    assert model["meta_json"]["description"] == CIVITAI_INFO["description"]
    assert [(i["width"], i["height"]) for i in model["images"]] == [(30, 20)]
    assert {p: p.read_bytes() for p in kept} == kept
    assert not copy.exists() and trashed(tmp_path) == ["juggernautXL_v9 (1).safetensors"]


async def test_of_two_equally_bare_twins_the_older_file_becomes_the_model(daemon: Daemon, models: Path):
    newer = write_model(models / "loras" / "newer.safetensors", seed=b"bare twin")
    older = write_model(models / "vae" / "older.safetensors", seed=b"bare twin")
    os.utime(older, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    newer_row, older_row = await rows_at(daemon, newer, older)
    report = await _import(daemon, [newer_row["id"], older_row["id"]])
    assert report["imported"] == [{"id": older_row["id"], "sha256": older_row["sha256"]}]
    assert [c["id"] for c in report["conflicts"]] == [newer_row["id"]]
    assert (await daemon.get(f"/api/models/{older_row['sha256']}"))["path"] == str(older)


async def test_delete_merges_what_the_duplicate_knows_and_trashes_its_own_sidecars(daemon_factory, models: Path,
                                                                                  tmp_path: Path):
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0")
    bare = write_model(models / "loras" / "bare.safetensors", seed=b"jugg")
    await d.rescan()
    (sha,) = await d.import_files(bare)
    await d.call("PATCH", f"/api/models/{sha}", {"meta_json": {"notes": "mine"}})
    # A duplicate that knows more: its own sidecar and preview, and a sidecar it shares with another kept file.
    folder = models / "checkpoints"
    dup = write_model(folder / "jugg.safetensors", seed=b"jugg")
    (folder / "jugg.civitai.info").write_text(json.dumps(CIVITAI_INFO))
    Image.new("RGB", (16, 16), (1, 2, 3)).save(folder / "jugg.preview.png")
    shared_dup = write_model(folder / "shared.safetensors", seed=b"jugg")
    sibling = write_model(folder / "shared.ckpt", seed=b"another model")
    shared_info = folder / "shared.civitai.info"
    shared_info.write_text(json.dumps({**CIVITAI_INFO, "trainedWords": ["shared word"]}))
    await d.rescan()
    dup_row, shared_row, _ = await rows_at(d, dup, shared_dup, sibling)
    assert dup_row["status"] == shared_row["status"] == "conflict"

    report = await _import(d, [dup_row["id"], shared_row["id"]], "delete", delete_files=True)
    assert report["deleted"] == [dup_row["id"], shared_row["id"]] and report["failed"] == []
    model = await d.get(f"/api/models/{sha}")
    assert model["path"] == str(bare) and digests(bare)[0] == sha
    meta = model["meta_json"]
    assert meta["notes"] == "mine" and meta["description"] == CIVITAI_INFO["description"]
    assert meta["trigger_words"] == ["jugg style"]  # the model had none: the first duplicate's fill the gap
    assert [(i["width"], i["height"]) for i in model["images"]] == [(16, 16)]
    assert trashed(tmp_path) == sorted(["jugg.safetensors", "jugg.civitai.info", "jugg.preview.png",
                                        "shared.safetensors"])
    assert shared_info.exists() and sibling.exists()  # shared.ckpt still uses its sidecar
    assert sorted(p.name for p in folder.iterdir()) == ["shared.civitai.info", "shared.ckpt"]


# -- 7. removed from the library, back in the inbox ---------------------------------------------------------------
async def test_a_removed_model_is_back_in_the_inbox_at_once(daemon_factory, models: Path):
    d = await daemon_factory("--models-root", str(models), "--rescan-interval", "0")
    path = write_model(models / "loras" / "bye.safetensors")
    (sha,) = await d.import_files(path)
    twin = write_model(models / "vae" / "bye-twin.safetensors", seed=b"bye.safetensors")
    twin_row = await d.wait_row(twin, status="conflict")
    events, task = await d.events()
    await d.call("DELETE", f"/api/models/{sha}")
    rows = {r["path"]: r for r in await d.pending()}
    assert str(path) in rows  # no walk needed
    assert rows[str(twin)]["status"] == "ready"  # its content is no longer in the library

    back = await d.wait_row(path, status="ready")
    assert (back["sha256"], back["blake3"]) == digests(path)
    assert events.of("pending.added", id=back["id"], path=str(path))
    assert events.of("pending.updated", id=twin_row["id"], status="ready")
    # Imported again, it is the same model; the twin turns conflict.
    report = await _import(d, [back["id"]])
    assert report["imported"] == [{"id": back["id"], "sha256": sha}]
    assert (await d.get(f"/api/pending/{twin_row['id']}"))["status"] == "conflict"
    assert digests(path)[0] == sha
    task.cancel()


async def test_a_removed_model_whose_file_changed_meanwhile_is_hashed_afresh(daemon_factory, models: Path):
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0")
    path = write_model(models / "loras" / "edited.safetensors")
    await d.rescan()
    (sha,) = await d.import_files(path)
    write_model(path, seed=b"other bytes")  # no watcher: the library still holds the old fingerprint
    await d.call("DELETE", f"/api/models/{sha}")

    async def hashed_again() -> dict | None:
        rows = [r for r in await d.pending() if r["path"] == str(path) and r["status"] == "ready"]
        return rows[0] if rows and rows[0]["sha256"] != sha else None

    row = await poll(hashed_again, "the changed file to be hashed again")
    assert (row["sha256"], row["blake3"]) == digests(path)


async def test_a_removed_model_with_ignore_file_is_listed_under_ignored(daemon: Daemon, models: Path):
    path = write_model(models / "loras" / "never.safetensors")
    (sha,) = await daemon.import_files(path)
    events, task = await daemon.events()
    await daemon.call("DELETE", f"/api/models/{sha}", {"ignore_file": True})
    (row,) = await daemon.pending(status="ignored")
    assert (row["path"], row["sha256"]) == (str(path), sha)
    assert events.of("pending.added", id=row["id"], status="ignored")
    assert digests(path)[0] == sha
    task.cancel()
