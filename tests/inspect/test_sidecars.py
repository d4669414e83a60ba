"""Sidecar files other tools write beside a model: each format alone, all together, and broken ones."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hikaze_mm.inspect import sidecar_tags
from hikaze_mm.inspect.base_model import normalise
from hikaze_mm.inspect.sidecars import MAX_SIDECAR_BYTES, read_sidecars
from hikaze_mm.store.records import MAX_TAG_NAME

CIVITAI_VERSION: dict[str, Any] = {
    "id": 128713,
    "modelId": 4201,
    "name": "v1.0",
    "createdAt": "2023-07-14T12:00:00.000Z",
    "baseModel": "SD 1.5",
    "baseModelType": "Standard",
    "trainedWords": ["mychar", "red hair, blue eyes"],
    "description": "<p>First release.</p>",
    "model": {"name": "My Char", "type": "LORA", "nsfw": False, "poi": False},
    "files": [{"name": "mychar.safetensors", "sizeKB": 147_000.5, "type": "Model",
               "hashes": {"SHA256": "AB" * 32, "AutoV2": "ABABABABAB", "BLAKE3": "CD" * 32}}],
    "images": [{"url": "https://image.civitai.com/x/y/width=512/1.jpeg", "nsfwLevel": 1, "width": 512}],
    "downloadUrl": "https://civitai.com/api/download/models/128713",
}

LORA_MANAGER: dict[str, Any] = {
    "file_name": "mychar",
    "model_name": "My Char",
    "file_path": "/models/loras/mychar.safetensors",
    "size": 150_528_512,
    "modified": 1_700_000_000.0,
    "sha256": "ab" * 32,
    "base_model": "Illustrious",
    "preview_url": "/models/loras/mychar.preview.png",
    "preview_nsfw_level": 8,
    "notes": "",
    "from_civitai": True,
    "civitai": {"id": 990001, "modelId": 880001, "baseModel": "Illustrious", "trainedWords": ["mychar_ill"],
                "description": "<p>Version notes</p>", "model": {"name": "My Char", "type": "LORA", "nsfw": False}},
    "tags": ["character", "anime"],
    "modelDescription": "<p>A character LoRA.</p>",
    "civitai_deleted": False,
    "favorite": False,
    "usage_tips": "{\"strength\": 0.8}",
}

STABILITY_MATRIX: dict[str, Any] = {
    "ModelId": 257749,
    "ModelName": "Pony Diffusion V6 XL",
    "ModelDescription": "<p>Pony Diffusion V6 is a versatile SDXL finetune.</p>",
    "Nsfw": True,
    "Tags": ["anime", "base model"],
    "ModelType": "Checkpoint",
    "VersionId": 290640,
    "VersionName": "V6 (start with this one)",
    "VersionDescription": None,
    "BaseModel": "Pony",
    "FileMetadata": {"Fp": "fp16", "Size": "pruned", "Format": "SafeTensor"},
    "ImportedAt": "2024-05-01T10:00:00+00:00",
    "Hashes": {"SHA256": "67AB2FD8EC439A89B3FEDB15CC65F54336AF163C7EB5E4F2ACC98F090A29B0B3"},
    "TrainedWords": ["score_9", "score_8_up"],
    "UserTitle": None,
    "ThumbnailImageUrl": None,
}

A1111: dict[str, Any] = {
    "description": "Trained on 40 images.",
    "sd version": "SDXL",
    "activation text": "mychar, smiling ,",
    "preferred weight": 0.8,
    "negative text": "lowres",
    "notes": "works best at 0.7",
}


def model(tmp_path: Path, name: str = "mychar.safetensors") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x00" * 16)
    return path


def sidecar(model_path: Path, suffix: str, content: Any) -> Path:
    path = model_path.with_name(model_path.stem + suffix)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def test_no_sidecars_give_nothing(tmp_path: Path):
    assert read_sidecars(str(model(tmp_path))) == {}


def test_civitai_helper_info(tmp_path: Path):
    m = model(tmp_path)
    sidecar(m, ".civitai.info", CIVITAI_VERSION)
    assert read_sidecars(str(m)) == {
        "description": "<p>First release.</p>",
        "trigger_words": ["mychar", "red hair, blue eyes"],
        "base_model": "SD 1.x",
        "links": ["https://civitai.com/models/4201?modelVersionId=128713"],
        "nsfw": False,
        "sources": ["mychar.civitai.info"],
    }


def test_lora_manager_metadata(tmp_path: Path):
    m = model(tmp_path)
    sidecar(m, ".metadata.json", LORA_MANAGER)
    assert read_sidecars(str(m)) == {
        "description": "<p>A character LoRA.</p>",
        "trigger_words": ["mychar_ill"],
        "base_model": "Illustrious",
        "links": ["https://civitai.com/models/880001?modelVersionId=990001"],
        "nsfw": True,  # the model says no, but its preview is rated X
        "tags": ["character", "anime"],
        "sources": ["mychar.metadata.json"],
    }


def test_lora_manager_metadata_of_a_model_not_from_civitai(tmp_path: Path):
    m = model(tmp_path)
    local = {"file_name": "mychar", "base_model": "Unknown", "civitai": {}, "preview_nsfw_level": 0,
             "modelDescription": "", "tags": []}
    sidecar(m, ".metadata.json", local)
    assert read_sidecars(str(m)) == {"sources": ["mychar.metadata.json"]}


def test_stability_matrix_connected_model_info(tmp_path: Path):
    m = model(tmp_path, "ponyDiffusionV6XL_v6.safetensors")
    sidecar(m, ".cm-info.json", STABILITY_MATRIX)
    assert read_sidecars(str(m)) == {
        "description": "<p>Pony Diffusion V6 is a versatile SDXL finetune.</p>",
        "trigger_words": ["score_9", "score_8_up"],
        "base_model": "Pony",
        "links": ["https://civitai.com/models/257749?modelVersionId=290640"],
        "nsfw": True,
        "sources": ["ponyDiffusionV6XL_v6.cm-info.json"],
    }


def test_a1111_user_metadata(tmp_path: Path):
    m = model(tmp_path)
    sidecar(m, ".json", A1111)
    assert read_sidecars(str(m)) == {
        "description": "Trained on 40 images.",
        "trigger_words": ["mychar", "smiling"],
        "base_model": "SDXL",
        "sources": ["mychar.json"],
    }


def test_all_four_merge_in_order_of_precedence(tmp_path: Path):
    m = model(tmp_path)
    civitai = {**CIVITAI_VERSION, "baseModel": "NoobAI"}  # not in the vocabulary: loses to a recognised one
    sidecar(m, ".civitai.info", civitai)
    sidecar(m, ".metadata.json", {**LORA_MANAGER, "base_model": "Other", "preview_nsfw_level": 1})
    sidecar(m, ".cm-info.json", {**STABILITY_MATRIX, "Nsfw": False, "BaseModel": "SDXL 1.0",
                                 "TrainedWords": ["MyChar", "score_9"]})
    sidecar(m, ".json", A1111)
    found = read_sidecars(str(m))
    assert found["description"] == "<p>A character LoRA.</p>"
    assert found["base_model"] == "SDXL"
    assert found["trigger_words"] == ["mychar_ill", "MyChar", "score_9", "red hair, blue eyes", "smiling"]
    assert found["links"] == ["https://civitai.com/models/880001?modelVersionId=990001",
                              "https://civitai.com/models/257749?modelVersionId=290640",
                              "https://civitai.com/models/4201?modelVersionId=128713"]
    assert found["nsfw"] is False
    assert found["sources"] == ["mychar.metadata.json", "mychar.cm-info.json", "mychar.civitai.info", "mychar.json"]
    assert "errors" not in found


def test_an_unrecognised_base_model_is_kept_as_written(tmp_path: Path):
    m = model(tmp_path)
    sidecar(m, ".civitai.info", {"baseModel": " Hunyuan Video ", "modelId": 5})
    assert read_sidecars(str(m)) == {"base_model": "Hunyuan Video", "links": ["https://civitai.com/models/5"],
                                     "sources": ["mychar.civitai.info"]}


@pytest.mark.parametrize(
    ("label", "base"),
    [
        ("SD 1.4", "SD 1.x"), ("SD 1.5", "SD 1.x"), ("SD 1.5 LCM", "SD 1.x"), ("SD1", "SD 1.x"),
        ("SD 2.0", "SD 2.x"), ("SD 2.1 768", "SD 2.x"), ("SD2", "SD 2.x"),
        ("SDXL 1.0", "SDXL"), ("SDXL 0.9", "SDXL"), ("SDXL Lightning", "SDXL"), ("SDXL", "SDXL"),
        ("SD 3", "SD3"), ("SD 3.5 Large", "SD3"), ("SD 3.5 Medium", "SD3"), ("flux_v1", "Flux"),
        ("Flux.1 D", "Flux"), ("Flux.1 S", "Flux"), ("Flux.1 Kontext", "Flux"), ("flux-1-dev", "Flux"),
        ("Pony", "Pony"), ("Illustrious", "Illustrious"),
        ("Pony V7", None), ("Flux.2 D", None), ("NoobAI", None), ("Hunyuan Video", None), ("Other", None),
        ("Unknown", None), ("", None),
    ],
)
def test_base_model_labels(label: str, base: str | None):
    assert normalise(label) == base


BROKEN: list[tuple[str, bytes, str]] = [
    ("invalid-json", b'{"trainedWords": ["a",', "not valid JSON"),
    ("not-utf8", b'{"description": "caf\xe9"}', "not UTF-8"),
    ("array", b'[{"trainedWords": ["a"]}]', "a JSON list, not an object"),
    ("nested", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize(("content", "says"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_an_unreadable_sidecar_is_an_error_and_the_others_still_count(tmp_path: Path, content: bytes, says: str):
    m = model(tmp_path)
    sidecar(m, ".civitai.info", content)
    sidecar(m, ".json", A1111)
    found = read_sidecars(str(m))
    assert found["sources"] == ["mychar.json"] and found["base_model"] == "SDXL"
    assert len(found["errors"]) == 1 and found["errors"][0].startswith("mychar.civitai.info: ")
    assert says in found["errors"][0]


def test_fields_of_the_wrong_type_are_reported_and_skipped(tmp_path: Path):
    m = model(tmp_path)
    sidecar(m, ".civitai.info", {"trainedWords": "mychar", "baseModel": 15, "description": ["x"],
                                 "model": "LORA", "modelId": "abc", "id": True})
    sidecar(m, ".metadata.json", {"civitai": [], "preview_nsfw_level": "R", "modelDescription": 3})
    sidecar(m, ".cm-info.json", {"TrainedWords": ["ok", 7, None], "Nsfw": "yes", "ModelId": -1})
    found = read_sidecars(str(m))
    # A string where a list belongs is still words: split like free text.
    assert found["trigger_words"] == ["ok", "mychar"]
    assert "base_model" not in found and "description" not in found and "links" not in found
    assert "nsfw" not in found
    assert found["errors"] == [
        "mychar.metadata.json: civitai is not an object",
        "mychar.metadata.json: modelDescription is not a string",
        "mychar.metadata.json: preview_nsfw_level is not a number",
        "mychar.cm-info.json: TrainedWords holds entries that are not strings",
        "mychar.cm-info.json: Nsfw is not true or false",
        "mychar.cm-info.json: ModelId is not a number",
        "mychar.civitai.info: description is not a string",
        "mychar.civitai.info: baseModel is not a string",
        "mychar.civitai.info: model is not an object",
        "mychar.civitai.info: modelId is not a number",
        "mychar.civitai.info: id is not a number",
    ]
    assert found["sources"] == ["mychar.metadata.json", "mychar.cm-info.json", "mychar.civitai.info"]


def test_an_oversized_sidecar_is_not_read(tmp_path: Path):
    m = model(tmp_path)
    big = m.with_name("mychar.civitai.info")
    with big.open("wb") as f:
        f.truncate(MAX_SIDECAR_BYTES + 1)  # sparse: costs no disk and is never read
    found = read_sidecars(str(m))
    assert "sources" not in found
    assert found["errors"] == [f"mychar.civitai.info: {MAX_SIDECAR_BYTES + 1} bytes, over the "
                               f"{MAX_SIDECAR_BYTES}-byte limit"]


def test_a_directory_or_fifo_under_a_sidecar_name_is_skipped(tmp_path: Path):
    m = model(tmp_path)
    m.with_name("mychar.json").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(m.with_name("mychar.civitai.info"))
    found = read_sidecars(str(m))
    assert "mychar.json: not a regular file" in found["errors"]
    assert "sources" not in found


def test_a_byte_order_mark_is_tolerated(tmp_path: Path):
    m = model(tmp_path)
    sidecar(m, ".json", b"\xef\xbb\xbf" + json.dumps(A1111).encode())
    assert read_sidecars(str(m))["sources"] == ["mychar.json"]


def test_a_model_name_with_dots_keeps_them_in_the_sidecar_names(tmp_path: Path):
    m = model(tmp_path, "my.char.v2.safetensors")
    sidecar(m, ".civitai.info", CIVITAI_VERSION)
    assert read_sidecars(str(m))["sources"] == ["my.char.v2.civitai.info"]


# -- tags -----------------------------------------------------------------------------------------------------
def test_civitai_tags_as_names_and_as_objects_from_all_files(tmp_path: Path):
    m = model(tmp_path)
    sidecar(m, ".civitai.info", {**CIVITAI_VERSION, "model": {"nsfw": False, "tags": ["Anime", {"name": "style"}]},
                                 "tags": [" character ", "anime"]})
    sidecar(m, ".metadata.json", {"civitai": {"model": {"tags": ["concept"]}}, "tags": ["STYLE", "clothing"]})
    assert read_sidecars(str(m))["tags"] == ["concept", "STYLE", "clothing", "Anime", "character"]


def test_hostile_tags_are_left_out_and_capped_without_failing(tmp_path: Path):
    m = model(tmp_path)
    many = [f"tag{i}" for i in range(100_000)]
    junk = ["", "   ", 7, None, True, {"name": 3}, {"id": 1}, ["x"], "x" * 65, "bell\x07", "y" * 64, "ok"]
    sidecar(m, ".civitai.info", {**CIVITAI_VERSION, "model": {"tags": [*junk, *many]}})
    found = read_sidecars(str(m))
    assert found["tags"][:2] == ["y" * 64, "ok"] and len(found["tags"]) == 50
    assert found["errors"] == ["mychar.civitai.info: model.tags holds entries that are neither names nor objects "
                               "with a name"]
    sidecar(m, ".civitai.info", {**CIVITAI_VERSION, "model": {"tags": "style, anime"}, "tags": {"a": 1}})
    found = read_sidecars(str(m))
    assert "tags" not in found and found["description"] == "<p>First release.</p>"
    assert found["errors"] == ["mychar.civitai.info: model.tags is not a list",
                               "mychar.civitai.info: tags is not a list"]


def test_sidecar_tag_names_are_held_to_the_store_s_limit():
    assert sidecar_tags.MAX_TAG_NAME == MAX_TAG_NAME
    assert sidecar_tags.tag_name("x" * MAX_TAG_NAME) == "x" * MAX_TAG_NAME
    assert sidecar_tags.tag_name("x" * (MAX_TAG_NAME + 1)) is None
