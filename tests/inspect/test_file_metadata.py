"""What the daemon learns about a new file besides its hashes, end to end: the safetensors header (kohya metadata,
base model, trigger words), damaged headers that must not stop anything, and the sidecar files and preview images
other tools leave beside a model."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

from PIL import Image

from conftest import Daemon, digests, safetensors_bytes, write_model

TAG_FREQUENCY = {"10_mychar": {"mychar": 40, "blue hair": 12, "smile": 3}, "5_extra": {"blue hair": 2}}
KOHYA_METADATA = {
    "ss_base_model_version": "sdxl_base_v1-0",
    "ss_network_module": "networks.lora",
    "ss_network_dim": "4",
    "ss_output_name": "mychar",
    "ss_tag_frequency": json.dumps(TAG_FREQUENCY),
    "ss_dataset_dirs": json.dumps({"10_mychar": {"n_repeats": 10, "img_count": 40}}),
}
TRAINING_TAGS = [{"tag": "mychar", "count": 40}, {"tag": "blue hair", "count": 14}, {"tag": "smile", "count": 3}]
SDXL_LORA_TENSORS = {
    "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [4, 768],
    "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": [3072, 4],
    "lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha": [],
    "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": [4, 2048],
}


async def import_row(d: Daemon, row: dict[str, Any]) -> dict[str, Any]:
    report = await d.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    assert report["imported"] == [{"id": row["id"], "sha256": row["sha256"]}], report
    return await d.get(f"/api/models/{row['sha256']}")


def pending_image_files(d: Daemon, pending_id: int) -> list[str]:
    return sorted(p.name for p in (d.data_dir / "images" / "pending").glob(f"{pending_id}_*"))


async def test_kohya_lora_header_gives_base_model_and_training_tags_not_trigger_words(daemon: Daemon, models: Path):
    path = models / "loras" / "mychar.safetensors"
    path.write_bytes(safetensors_bytes(SDXL_LORA_TENSORS, KOHYA_METADATA))
    row = await daemon.wait_row(path)
    assert (row["sha256"], row["blake3"]) == digests(path)
    detail = await daemon.get(f"/api/pending/{row['id']}")
    meta = detail["meta_json"]
    header = meta["header"]
    assert header["format"] == "safetensors" and header["tensor_count"] == len(SDXL_LORA_TENSORS)
    assert "error" not in header
    # kohya's JSON-in-a-string values come back decoded; the other values stay as written
    assert header["metadata"]["ss_tag_frequency"] == TAG_FREQUENCY
    assert header["metadata"]["ss_dataset_dirs"] == {"10_mychar": {"n_repeats": 10, "img_count": 40}}
    assert header["metadata"]["ss_network_dim"] == "4"
    assert (header["base_model"], header["base_model_source"], header["kind_hint"]) == ("SDXL", "kohya", "lora")
    assert meta["base_model"] == "SDXL"
    # The captions are training tags, counted over the folders and most used first; nothing names a trigger word.
    assert "trigger_words" not in header and "trigger_words" not in meta
    assert detail["training_tags"] == TRAINING_TAGS
    assert "sidecars" not in meta  # none beside it
    model = await import_row(daemon, row)
    assert model["base_model"] == "SDXL"
    assert "trigger_words" not in model["meta_json"] and model["training_tags"] == TRAINING_TAGS
    assert model["header"]["metadata"]["ss_tag_frequency"] == TAG_FREQUENCY
    assert [m["name"] for m in (await daemon.get("/api/models?base_model=SDXL"))["models"]] == ["mychar"]
    # A training tag the user makes a trigger word is one, and is searched for as one; the tags stay as they were.
    edited = await daemon.call("PATCH", f"/api/models/{row['sha256']}", {"meta_add": {"trigger_words": ["blue hair"]}})
    assert edited["meta_json"]["trigger_words"] == ["blue hair"] and edited["header"] == model["header"]
    assert edited["training_tags"] == TRAINING_TAGS
    assert [m["name"] for m in (await daemon.get("/api/models?q=blue%20hair"))["models"]] == ["mychar"]


async def test_modelspec_trigger_phrase_gives_trigger_words_beside_the_training_tags(daemon: Daemon, models: Path):
    path = models / "loras" / "spec.safetensors"
    metadata = {**KOHYA_METADATA, "modelspec.trigger_phrase": "mychar, Blue Hair"}
    path.write_bytes(safetensors_bytes(SDXL_LORA_TENSORS, metadata))
    row = await daemon.wait_row(path)
    detail = await daemon.get(f"/api/pending/{row['id']}")
    assert detail["meta_json"]["trigger_words"] == ["mychar", "Blue Hair"]
    assert detail["training_tags"] == TRAINING_TAGS
    model = await import_row(daemon, row)
    assert model["meta_json"]["trigger_words"] == ["mychar", "Blue Hair"]


async def test_damaged_headers_give_ready_rows_with_an_error(daemon: Daemon, models: Path):
    loras = models / "loras"
    full = safetensors_bytes(SDXL_LORA_TENSORS, KOHYA_METADATA)
    # The length word promises a header the file does not hold.
    truncated = loras / "truncated.safetensors"
    truncated.write_bytes(full[:8 + 40])
    # A header declared at 200 MB: over the format's 100 MB limit, so it must not even be buffered.
    huge = loras / "huge-header.safetensors"
    huge.write_bytes(struct.pack("<Q", 200 * 1024 * 1024) + b'{"__metadata__": {}' + bytes(64 * 1024))
    # A complete header that is not JSON, and one that is not UTF-8.
    garbage = loras / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 16) + b"{not json at all" + bytes(1024))
    latin = loras / "latin1.safetensors"
    latin_header = b'{"a": "\xe9\xe9"}'
    latin.write_bytes(struct.pack("<Q", len(latin_header)) + latin_header + bytes(1024))
    # Under eight bytes: not even a length word.
    tiny = loras / "tiny.safetensors"
    tiny.write_bytes(b"{}")
    paths = [truncated, huge, garbage, latin, tiny]
    rows = await daemon.ready_rows(*paths)
    for path, row in zip(paths, rows, strict=True):
        assert (row["sha256"], row["blake3"]) == digests(path), path.name
        assert row["size_bytes"] == path.stat().st_size and row["error"] is None
        header = (await daemon.get(f"/api/pending/{row['id']}"))["meta_json"]["header"]
        if path is tiny:
            assert header == {"format": "unknown"}
            continue
        assert header["format"] == "safetensors" and header["error"], (path.name, header)
    headers = {p.name: (await daemon.get(f"/api/pending/{r['id']}"))["meta_json"]["header"]
               for p, r in zip(paths, rows, strict=True)}
    assert "ends" in headers["truncated.safetensors"]["error"]
    assert "limit" in headers["huge-header.safetensors"]["error"]
    assert "not valid JSON" in headers["garbage.safetensors"]["error"]
    assert "UTF-8" in headers["latin1.safetensors"]["error"]
    # Each looks damaged, and imports once the user confirms, keeping the header's error for the user to see.
    assert (await daemon.call("POST", "/api/pending/import", {"ids": [rows[1]["id"]]}))["refused"]
    report = await daemon.call("POST", "/api/pending/import", {"ids": [rows[1]["id"]], "confirm_damaged": True})
    assert report["imported"] == [{"id": rows[1]["id"], "sha256": rows[1]["sha256"]}], report
    model = await daemon.get(f"/api/models/{rows[1]['sha256']}")
    assert model["base_model"] == "unknown" and "limit" in model["header"]["error"]
    st = await daemon.get("/api/status")
    assert st["counts"]["pending"]["error"] == 0
    assert "Traceback" not in daemon.log()


CIVITAI_INFO = {
    "id": 128713,
    "modelId": 4201,
    "name": "v1.0",
    "baseModel": "SD 1.5",
    "trainedWords": ["mychar", "red hair, blue eyes"],
    "description": "<p>First release.</p>",
    "model": {"name": "My Char", "type": "LORA", "nsfw": False},
}


async def test_civitai_sidecar_and_preview_image(daemon: Daemon, models: Path):
    path = models / "loras" / "withinfo.safetensors"
    path.with_name("withinfo.civitai.info").write_text(json.dumps(CIVITAI_INFO))
    preview = Image.new("RGB", (120, 80), (200, 40, 40))
    out = io.BytesIO()
    preview.save(out, "PNG")
    path.with_name("withinfo.preview.png").write_bytes(out.getvalue())
    write_model(path)  # the model last, as a download would finish
    row = await daemon.wait_row(path)
    assert (row["sha256"], row["blake3"]) == digests(path)
    meta = (await daemon.get(f"/api/pending/{row['id']}"))["meta_json"]
    assert meta["description"] == "<p>First release.</p>"
    assert meta["trigger_words"] == ["mychar", "red hair, blue eyes"]
    assert meta["community_links"] == ["https://civitai.com/models/4201?modelVersionId=128713"]
    assert meta["base_model"] == "SD 1.x"
    assert meta["sidecars"]["sources"] == ["withinfo.civitai.info"]
    assert "nsfw" not in meta or meta["nsfw"] is False
    # one pending image: three tiers in the pending image folder
    assert pending_image_files(daemon, row["id"]) == [f"{row['id']}_0_{t}.webp" for t in ("high", "low", "medium")]
    # The sidecar and the preview are not model files: no rows of their own.
    assert [r["path"] for r in await daemon.pending()] == [str(path)]

    model = await import_row(daemon, row)
    assert model["base_model"] == "SD 1.x"
    assert model["meta_json"]["description"] == "<p>First release.</p>"
    assert model["meta_json"]["trigger_words"] == ["mychar", "red hair, blue eyes"]
    assert model["meta_json"]["community_links"] == ["https://civitai.com/models/4201?modelVersionId=128713"]
    (image,) = model["images"]
    assert (image["seq"], image["width"], image["height"]) == (0, 120, 80)
    assert model["cover"] == image["urls"]
    assert (await daemon.get("/api/models"))["models"][0]["image_count"] == 1
    assert daemon.session is not None
    for tier, url in image["urls"].items():
        async with daemon.session.get(daemon.url + url) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/webp", tier
            im = Image.open(io.BytesIO(await resp.read()))
            assert im.format == "WEBP" and im.size == (120, 80)
            r, g, b = im.convert("RGB").getpixel((60, 40))
            assert r > 150 and g < 90 and b < 90
    assert pending_image_files(daemon, row["id"]) == []  # the pending copies went with the row
    # The files beside the model were only read.
    assert path.with_name("withinfo.preview.png").read_bytes() == out.getvalue()
    assert json.loads(path.with_name("withinfo.civitai.info").read_text()) == CIVITAI_INFO


async def test_broken_sidecar_and_preview_do_not_stop_the_row(daemon: Daemon, models: Path):
    path = models / "loras" / "broken.safetensors"
    path.with_name("broken.civitai.info").write_text("{not json")
    path.with_name("broken.preview.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    write_model(path)
    row = await daemon.wait_row(path)
    assert (row["sha256"], row["blake3"]) == digests(path)
    meta = (await daemon.get(f"/api/pending/{row['id']}"))["meta_json"]
    assert any("broken.civitai.info" in e and "JSON" in e for e in meta["sidecars"]["errors"]), meta
    assert any("broken.preview.png" in e for e in meta["discovery_errors"]), meta
    assert pending_image_files(daemon, row["id"]) == []
    model = await import_row(daemon, row)
    assert model["images"] == [] and model["cover"] is None


async def test_sidecar_fills_what_the_header_lacks_and_header_wins_the_base_model(daemon: Daemon, models: Path):
    path = models / "loras" / "both.safetensors"
    info = {**CIVITAI_INFO, "baseModel": "SD 1.5", "trainedWords": ["fromsidecar", "MyChar"]}
    path.with_name("both.civitai.info").write_text(json.dumps(info))
    path.write_bytes(safetensors_bytes(SDXL_LORA_TENSORS, KOHYA_METADATA))
    row = await daemon.wait_row(path)
    meta = (await daemon.get(f"/api/pending/{row['id']}"))["meta_json"]
    assert meta["base_model"] == "SDXL"  # the file's own header cannot be stale; the sidecar's claim loses
    # the sidecar's words alone: the header's captions are training tags
    assert meta["trigger_words"] == ["fromsidecar", "MyChar"]
    assert meta["description"] == "<p>First release.</p>"
    model = await import_row(daemon, row)
    assert model["base_model"] == "SDXL"
    assert model["meta_json"]["trigger_words"] == ["fromsidecar", "MyChar"]
