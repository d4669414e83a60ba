"""POST /api/workflows/check on what a real ComfyUI wrote (tests/fixtures/comfyui/, both front ends): its UI
workflow with a subgraph, its API prompt, the PNG and WebP it saved, and the same with both Hikaze loaders, against
a library built as the fixtures' README says (some files at the workflow's names, some moved, the LoRAs the Hikaze
payloads hash present under other names, some missing). Every reference's status, `by` and `use` is asserted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import Daemon, write_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui"
FRONT_ENDS = {"1.27.10": FIXTURES, "1.58.1": FIXTURES / "frontend-1.58.1"}
CONTENT_TYPES = {".json": "application/json", ".png": "image/png", ".webp": "image/webp"}
CORE = {"ui_workflow.json": "ui", "api_prompt.json": "api", "saved.png": "png", "saved.webp": "webp"}
HIKAZE = {"hikaze_ui_workflow.json": "ui", "hikaze_api_prompt.json": "api", "hikaze.png": "png"}

# Where each file the library holds sits below the models root; the LoRAs are the fixtures' own bytes.
ANY_BYTES = ("checkpoints/SD1.5/random-sd15.safetensors", "vae/random-vae.safetensors",
             "upscale_models/x2/random-compact-x2.safetensors")
LORA_COPIES = {"style/random-style.safetensors": "loras/style/random-style.safetensors",
               "random-detail.safetensors": "loras/old/random-detail.safetensors",
               "subgraph/random-inner.safetensors": "loras/renamed-inner.safetensors"}

Place = tuple[str, str, int | None]
Expected = dict[Place, tuple[str, str, str, str | None, str | None, str | None]]
# (node id, widget, entry) -> (node type, kind, status, by, use, the file below the models root)
CORE_EXPECTED: Expected = {
    ("1", "ckpt_name", None): ("CheckpointLoaderSimple", "checkpoints", "found", None,
                               "SD1.5/random-sd15.safetensors", "checkpoints/SD1.5/random-sd15.safetensors"),
    ("2", "lora_name", None): ("LoraLoader", "loras", "found", None, "style/random-style.safetensors",
                               "loras/style/random-style.safetensors"),
    ("4", "lora_name", None): ("LoraLoaderModelOnly", "loras", "elsewhere", "name", "old/random-detail.safetensors",
                               "loras/old/random-detail.safetensors"),
    ("5", "clip_name", None): ("CLIPLoader", "text_encoders", "missing", None, None, None),
    ("8", "control_net_name", None): ("ControlNetLoader", "controlnet", "missing", None, None, None),
    ("13", "unet_name", None): ("UNETLoader", "diffusion_models", "missing", None, None, None),
    ("15", "vae_name", None): ("VAELoader", "vae", "found", None, "random-vae.safetensors",
                               "vae/random-vae.safetensors"),
    ("19", "model_name", None): ("UpscaleModelLoader", "upscale_models", "elsewhere", "name",
                                 "x2/random-compact-x2.safetensors", "upscale_models/x2/random-compact-x2.safetensors"),
    # Inside the subgraph: its content is here as renamed-inner, but ComfyUI's workflows carry no hash to find it by.
    ("22:3", "lora_name", None): ("LoraLoader", "loras", "missing", None, None, None),
}
HIKAZE_EXPECTED: Expected = {
    # Its sha256 is of a 2 GB file no test makes. A file of the same name is here with other bytes: not that
    # content, so no name match is offered.
    ("1", "hikaze_payload", None): ("HikazeCheckpointLoader", "checkpoints", "missing", None, None, None),
    ("2", "hikaze_payload", 1): ("HikazeLoraPowerLoader", "loras", "elsewhere", "sha256",
                                 "style/random-style.safetensors", "loras/style/random-style.safetensors"),
    ("2", "hikaze_payload", 2): ("HikazeLoraPowerLoader", "loras", "elsewhere", "sha256",
                                 "old/random-detail.safetensors", "loras/old/random-detail.safetensors"),
    # Disabled in the payload, still a model the workflow names.
    ("2", "hikaze_payload", 3): ("HikazeLoraPowerLoader", "loras", "elsewhere", "sha256",
                                 "renamed-inner.safetensors", "loras/renamed-inner.safetensors"),
}


class RealLibrary:
    def __init__(self, models: Path, front_end: Path):
        self.models = models
        self.files = [write_model(models / rel) for rel in ANY_BYTES]
        for source, rel in LORA_COPIES.items():
            (models / rel).parent.mkdir(parents=True, exist_ok=True)
            self.files.append(Path(shutil.copyfile(front_end / "models" / "loras" / source, models / rel)))
        self.shas: dict[str, str] = {}

    async def import_all(self, d: Daemon) -> None:
        shas = await d.import_files(*self.files)
        self.shas = {str(p.relative_to(self.models)): sha for p, sha in zip(self.files, shas, strict=True)}


@pytest.fixture(params=sorted(FRONT_ENDS))
async def real(request, daemon_factory, tmp_path: Path) -> tuple[Daemon, RealLibrary, Path]:
    front_end = FRONT_ENDS[request.param]
    lib = RealLibrary(tmp_path / "models", front_end)
    d = await daemon_factory("--models-root", str(lib.models))
    await lib.import_all(d)
    return d, lib, front_end


async def check(d: Daemon, fixture: Path) -> dict[str, Any]:
    status, answer = await d.request("POST", "/api/workflows/check", data=fixture.read_bytes(),
                                     headers={"Content-Type": CONTENT_TYPES[fixture.suffix]})
    assert status == 200, answer
    return answer


def assert_answers(answer: dict[str, Any], lib: RealLibrary, expected: Expected) -> None:
    refs = {(r["node_id"], r["widget"], r["entry"]): r for r in answer["references"]}
    assert sorted(refs, key=str) == sorted(expected, key=str)
    for place, (node_type, kind, status, by, use, rel) in expected.items():
        ref = refs[place]
        seen = (ref["node_type"], ref["kind"], ref["status"], ref["by"], ref["use"], ref["path"])
        assert seen == (node_type, kind, status, by, use, None if rel is None else str(lib.models / rel)), place
        # A library file's model is named with it; a missing one names none (the library holds no such content).
        assert (ref["model"] or {}).get("sha256") == (None if rel is None else lib.shas[rel]), place
    statuses = [r["status"] for r in answer["references"]]
    assert answer["counts"] == {s: statuses.count(s) for s in ("found", "elsewhere", "missing")}


@pytest.mark.parametrize("name", sorted(CORE))
async def test_comfyui_s_own_loaders_and_a_subgraph(real, name: str):
    d, lib, front_end = real
    answer = await check(d, front_end / name)
    assert answer["source"] == CORE[name]
    assert_answers(answer, lib, CORE_EXPECTED)
    missing = {r["node_id"]: r["name"] for r in answer["references"] if r["status"] == "missing"}
    assert missing == {"5": "random-clip-l.safetensors", "8": "random-controlnet.safetensors",
                       "13": "random-unet.safetensors", "22:3": "subgraph/random-inner.safetensors"}


@pytest.mark.parametrize("name", sorted(HIKAZE))
async def test_the_hikaze_payloads_are_found_by_the_content_they_hash(real, name: str):
    d, lib, front_end = real
    answer = await check(d, front_end / name)
    assert answer["source"] == HIKAZE[name]
    assert_answers(answer, lib, HIKAZE_EXPECTED)
    made = {m["name"]: m["sha256"] for m in json.loads((front_end / "models.json").read_text())["models"]}
    refs = {r["entry"]: r for r in answer["references"]}
    # Each entry keeps the sha256 and saved name the payload carries, from the machine that made it.
    assert refs[None]["sha256"] == made["SD1.5/random-sd15.safetensors"] != lib.shas[ANY_BYTES[0]]
    for entry, source in ((1, "style/random-style.safetensors"), (2, "random-detail.safetensors"),
                          (3, "subgraph/random-inner.safetensors")):
        assert refs[entry]["sha256"] == made[source] == lib.shas[LORA_COPIES[source]]
    assert [refs[e]["name"] for e in (None, 1, 2, 3)] == ["Random SD1.5", "Random Style", "Random Detail",
                                                         "Random Inner"]


async def test_an_image_answers_as_the_workflow_it_carries(real):
    d, _, front_end = real
    for image, workflow in (("saved.png", "ui_workflow.json"), ("saved.webp", "ui_workflow.json"),
                            ("hikaze.png", "hikaze_ui_workflow.json")):
        from_image = (await check(d, front_end / image))["references"]
        assert from_image == (await check(d, front_end / workflow))["references"], image
