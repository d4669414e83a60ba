"""Hostile bodies for POST /api/workflows/check: too large, too deep, too many nodes, not JSON, not a workflow,
damaged or booby-trapped images, the wrong type. Each is a 4xx that says what is wrong, never a 5xx; the daemon
keeps serving and the library is as it was."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from workflow_fixtures import (
    api_node,
    comfy_png,
    comfy_webp,
    png_chunk,
    raw_png,
    ui_node,
    ui_workflow,
    zlib_bomb,
)

from conftest import Daemon, write_model

ROUTE = "/api/workflows/check"
GOOD = ui_workflow([ui_node(4, "CheckpointLoaderSimple", ["base.safetensors"])])


@pytest.fixture
async def checked(daemon: Daemon, models: Path) -> Daemon:
    (await daemon.import_files(write_model(models / "checkpoints" / "base.safetensors")))
    return daemon


async def post(d: Daemon, body: bytes, content_type: str) -> tuple[int, Any]:
    return await d.request("POST", ROUTE, data=body, headers={"Content-Type": content_type})


async def still_serving(d: Daemon, before: Any) -> None:
    answer = await d.call("POST", ROUTE, GOOD)
    assert answer["counts"] == {"found": 1, "elsewhere": 0, "missing": 0}
    assert await d.get("/api/models") == before


def nested(depth: int) -> bytes:
    return b'{"nodes": [], "x": ' + b"[" * depth + b"]" * depth + b"}"


def many_nodes(count: int) -> bytes:
    node = b'{"id": 1, "type": "KSampler", "widgets_values": []}'
    return b'{"nodes": [' + b",".join([node] * count) + b"]}"


def webp_with_exif(exif: bytes) -> bytes:
    """A real WebP from Pillow with its EXIF chunk's content replaced by `exif` (the RIFF sizes kept right)."""
    image = Image.new("RGB", (4, 4))
    out = io.BytesIO()
    image.save(out, "WEBP", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    data = out.getvalue()
    at = data.index(b"EXIF")
    size = int.from_bytes(data[at + 4:at + 8], "little")
    rest = data[at + 8 + size + (size & 1):]
    chunk = b"EXIF" + len(exif).to_bytes(4, "little") + exif + b"\0" * (len(exif) & 1)
    body = data[12:at] + chunk + rest
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body


REFUSED = [
    ("not JSON", b"this is not json", "application/json", 400, "not valid JSON"),
    ("empty", b"", "application/json", 400, "empty"),
    ("JSON array", b"[1, 2, 3]", "application/json", 400, "JSON array"),
    ("JSON string", b'"nodes"', "application/json", 400, "not a JSON object"),
    ("not a workflow", b'{"hello": "world"}', "application/json", 400, "not a workflow"),
    ("a workflow field that is not one", b'{"workflow": {"links": []}}', "application/json", 400, "`nodes` list"),
    ("depth 101", nested(100), "application/json", 400, "100 levels"),
    ("depth 10,000", nested(10_000), "application/json", 400, "100 levels"),
    ("20,001 nodes", many_nodes(20_001), "application/json", 400, "20001 nodes"),
    ("a million nodes, cut by the object cap", many_nodes(1_000_000), "application/json", 400, "JSON objects"),
    ("not UTF-8", b'{"nodes": ["\xff\xfe"]}', "application/json", 400, "UTF-8"),
    ("truncated PNG", comfy_png(GOOD, None)[:30], "image/png", 400, "cut off"),
    ("not a PNG", b"GIF89a" + bytes(100), "image/png", 400, "not a PNG"),
    ("a PNG without a workflow", raw_png(png_chunk(b"tEXt", b"Comment\0hello")), "image/png", 400,
     "carries no workflow"),
    ("a PNG whose workflow is not JSON", raw_png(png_chunk(b"tEXt", b"workflow\0{nope")), "image/png", 400,
     "not valid JSON"),
    ("a PNG whose zTXt inflates to 4 GiB", raw_png(png_chunk(b"zTXt", b"workflow\0\0" + zlib_bomb(4))), "image/png",
     400, "inflates to more than"),
    ("a WebP with broken EXIF", webp_with_exif(b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + bytes(40)), "image/webp",
     400, "EXIF"),
    ("not a WebP", b"RIFF\x00\x00\x00\x00WAVEfmt ", "image/webp", 400, "not a WebP"),
    ("a WebP without a workflow", webp_with_exif(b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
     "image/webp", 400, "carries no workflow"),
    ("plain text", json.dumps(GOOD).encode(), "text/plain", 415, "image/png"),
    ("a JPEG", b"\xff\xd8\xff\xe0" + bytes(20), "image/jpeg", 415, "image/webp"),
]


@pytest.mark.parametrize(("what", "body", "content_type", "status", "says"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_a_hostile_body_is_refused_with_the_reason(checked: Daemon, what: str, body: bytes, content_type: str,
                                                         status: int, says: str):
    before = await checked.get("/api/models")
    code, answer = await post(checked, body, content_type)
    assert code == status, (what, answer)
    assert says in answer["error"], answer
    await still_serving(checked, before)


async def test_a_body_over_64_mib_is_413_declared_or_streamed(checked: Daemon):
    before = await checked.get("/api/models")
    body = b'{"nodes": [], "pad": "' + b"x" * (65 * 1024 * 1024) + b'"}'
    try:
        code, answer = await post(checked, body, "application/json")
    except aiohttp.ClientError as e:  # the daemon may answer and close before the whole body is sent
        pytest.fail(f"no 413 for a declared 65 MiB body: {e!r}")
    assert code == 413 and "64 MiB" in answer["error"], answer

    async def chunks():
        for _ in range(65):
            yield b"x" * (1024 * 1024)

    assert checked.session is not None
    async with checked.session.post(checked.url + ROUTE, data=chunks(),
                                    headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413 and "64 MiB" in (await resp.json())["error"]
    await still_serving(checked, before)


async def test_a_png_that_claims_100000_by_100000_pixels_is_read_without_decoding_them(checked: Daemon):
    prompt = {"4": api_node("CheckpointLoaderSimple", {"ckpt_name": "base.safetensors"})}
    body = raw_png(png_chunk(b"tEXt", b"prompt\0" + json.dumps(prompt).encode()), width=100_000, height=100_000)
    code, answer = await post(checked, body, "image/png")
    assert code == 200, answer
    assert answer["counts"] == {"found": 1, "elsewhere": 0, "missing": 0}
    code, answer = await post(checked, raw_png(width=100_000, height=100_000), "image/png")
    assert code == 400 and "carries no workflow" in answer["error"]


async def test_a_webp_made_by_comfyui_is_read(checked: Daemon):
    code, answer = await post(checked, comfy_webp(GOOD, None), "image/webp")
    assert code == 200 and answer["source"] == "webp" and answer["counts"]["found"] == 1, answer


async def test_a_payload_path_outside_the_model_folders_is_never_looked_at(checked: Daemon, tmp_path: Path):
    outside = write_model(tmp_path / "elsewhere" / "secret.safetensors")
    payload = json.dumps({"ckpt_path": str(outside), "sha256": "", "name": ""})
    workflow = ui_workflow([ui_node(1, "HikazeCheckpointLoader", [payload])])
    (ref,) = (await checked.call("POST", ROUTE, workflow))["references"]
    assert (ref["status"], ref["path"], ref["use"]) == ("missing", None, None)
    inside = json.dumps({"ckpt_path": str(tmp_path / "models" / "checkpoints" / ".." / ".." / "elsewhere" /
                                          "secret.safetensors"), "sha256": "", "name": ""})
    (ref,) = (await checked.call("POST", ROUTE, ui_workflow([ui_node(1, "HikazeCheckpointLoader", [inside])])))[
        "references"]
    assert ref["status"] == "missing" and ref["path"] is None
