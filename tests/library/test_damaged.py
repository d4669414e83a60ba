"""Model files whose header cannot be read are flagged damaged, with the reason in words, and are imported only
when the user confirms (issue 14, item 5)."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from conftest import Daemon, poll, safetensors_bytes, write_model
from hikaze_mm.inspect.damage import size_in_words


def _hostile_files(loras: Path) -> dict[str, Path]:
    files = {
        # 16 bytes whose length word says 2^63.
        "huge": loras / "huge-length.safetensors",
        "random": loras / "random.safetensors",
        "truncated": loras / "truncated.safetensors",
    }
    files["huge"].write_bytes(struct.pack("<Q", 2**63) + b"\x00" * 8)
    files["random"].write_bytes(random.Random(14).randbytes(100))
    whole = safetensors_bytes({"w": [4, 4]}, {"ss_base_model_version": "sdxl_base_v1-0"})
    files["truncated"].write_bytes(whole[:40])
    return files


async def test_unreadable_headers_are_flagged_with_the_reason(daemon: Daemon, models: Path):
    loras = models / "loras"
    files = _hostile_files(loras)
    good = loras / "good.safetensors"
    good.write_bytes(safetensors_bytes({"w": [4, 4]}, {}))
    pickled = write_model(models / "checkpoints" / "old.ckpt")  # a format the probe does not read
    rows = await daemon.ready_rows(*files.values(), good, pickled)
    by_name = {Path(row["path"]).name: row for row in rows}

    listing = {Path(row["path"]).name: row for row in await daemon.pending()}
    for name, row in by_name.items():
        detail = await daemon.get(f"/api/pending/{row['id']}")
        for shown in (listing[name], detail):
            assert shown["damaged"] is (name not in ("good.safetensors", "old.ckpt")), (name, shown)
    reason = {name: listing[name]["damaged_reason"] for name in listing}
    assert reason["huge-length.safetensors"] == "the header says it is 8.00 EiB long, the file is 16 bytes"
    assert reason["random.safetensors"]
    assert reason["truncated.safetensors"].startswith("the header says it is ")
    assert reason["truncated.safetensors"].endswith("long, the file is 40 bytes")
    assert reason["good.safetensors"] is None and reason["old.ckpt"] is None


async def test_import_refuses_damaged_rows_unless_confirmed(daemon: Daemon, models: Path):
    files = _hostile_files(models / "loras")
    good = write_model(models / "loras" / "good.safetensors")
    rows = await daemon.ready_rows(files["huge"], files["random"], good)
    ids = [row["id"] for row in rows]

    report = await daemon.call("POST", "/api/pending/import", {"ids": ids})
    assert report["imported"] == [{"id": rows[2]["id"], "sha256": rows[2]["sha256"]}]
    assert [entry["id"] for entry in report["refused"]] == ids[:2]
    assert report["refused"][0]["reason"] == "the header says it is 8.00 EiB long, the file is 16 bytes"
    assert report["failed"] == []
    assert {row["id"] for row in await daemon.pending(status="ready")} & set(ids) == set(ids[:2])
    # Refused in the order asked, whichever order the store answers in.
    again = await daemon.call("POST", "/api/pending/import", {"ids": ids[1::-1]})
    assert [entry["id"] for entry in again["refused"]] == ids[1::-1] and again["imported"] == []

    report = await daemon.call("POST", "/api/pending/import", {"ids": ids[:2], "confirm_damaged": True})
    assert [entry["id"] for entry in report["imported"]] == ids[:2] and report["refused"] == []
    listing = {model["file_name"]: model for model in (await daemon.get("/api/models"))["models"]}
    assert listing["huge-length.safetensors"]["damaged"] is True
    assert listing["good.safetensors"]["damaged"] is False
    detail = await daemon.get(f"/api/models/{rows[0]['sha256']}")
    assert detail["damaged"] is True
    assert detail["damaged_reason"] == "the header says it is 8.00 EiB long, the file is 16 bytes"


async def _refused_by_auto_import(d: Daemon, count: int) -> None:
    async def logged() -> bool:
        return len([ln for ln in d.log().splitlines() if " event=import.refused " in ln]) >= count

    await poll(logged, f"auto-import to turn down {count} damaged files")


async def test_auto_import_leaves_damaged_rows_in_the_inbox(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict")
    files = _hostile_files(models / "loras")
    good = write_model(models / "loras" / "good.safetensors")

    async def good_imported() -> dict | None:
        listing = await d.get("/api/models")
        return listing if listing["total"] == 1 else None

    listing = await poll(good_imported, "the sound file to be imported on its own")
    assert listing["models"][0]["file_name"] == good.name
    rows = await d.ready_rows(*files.values())
    assert all(row["damaged"] for row in rows)
    await _refused_by_auto_import(d, 3)
    assert (await d.get("/api/models"))["total"] == 1
    assert len(await d.pending(status="ready")) == 3


async def test_a_daemon_restarted_with_auto_import_keeps_damaged_rows(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models))
    files = _hostile_files(models / "loras")
    await d.ready_rows(*files.values())
    await d.close()
    d = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict")
    await _refused_by_auto_import(d, 3)
    assert (await d.get("/api/models"))["total"] == 0
    assert len(await d.pending(status="ready")) == 3


@pytest.mark.parametrize(("size", "words"), [
    (1, "1 byte"), (1023, "1023 bytes"), (1536, "1.50 KiB"), (10 * 1024, "10.0 KiB"),
    (700 * 1024**2, "700 MiB"), (2**63, "8.00 EiB"),
])
def test_sizes_in_reasons_use_the_units_the_page_uses(size: int, words: str):
    # The page writes sizes in binary units (format.ts); a reason shown beside them must not say MB for MiB.
    assert size_in_words(size) == words
