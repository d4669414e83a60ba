"""POST /api/workflows/check against a real daemon's library with moved, renamed and same-named files: every model
reference of a workflow (ComfyUI's loaders, the Hikaze payloads, rgthree rows, LoRA Manager's list, a subgraph's
nodes), read from the UI format, the API prompt, a PNG's text chunks, A1111's parameters and a WebP's EXIF, is
found, elsewhere (with the name to use here) or missing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from workflow_fixtures import (
    SUBGRAPH_ID,
    a1111_parameters,
    api_node,
    checkpoint_payload,
    comfy_png,
    comfy_webp,
    lora_manager_widgets,
    lora_payload,
    png,
    rgthree_widgets,
    subgraph,
    ui_node,
    ui_workflow,
)

from conftest import Daemon, write_model

ROUTE = "/api/workflows/check"


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Library:
    """The daemon's models folder: a checkpoint where the workflow expects it, one renamed, two LoRAs of the same
    file name in different folders, one renamed into another folder, one only in the import queue, a VAE."""

    def __init__(self, models: Path):
        self.models = models
        self.juggernaut = write_model(models / "checkpoints" / "sdxl" / "juggernaut.safetensors")
        self.dreamshaper = write_model(models / "checkpoints" / "renamed" / "dreamshaper_8.safetensors")
        self.foo_style = write_model(models / "loras" / "style" / "foo.safetensors", seed=b"foo-style")
        self.foo_other = write_model(models / "loras" / "other" / "foo.safetensors", seed=b"foo-other")
        self.detail = write_model(models / "loras" / "renamed" / "detail-tweaker.safetensors")
        self.queued = write_model(models / "loras" / "queued" / "only-queued.safetensors")
        self.vae = write_model(models / "vae" / "ae.safetensors")

    async def ready(self, d: Daemon) -> dict[Path, str]:
        """Everything hashed, all but the queued LoRA imported; the models' sha256s by file."""
        imported = [self.juggernaut, self.dreamshaper, self.foo_style, self.foo_other, self.detail, self.vae]
        shas = await d.import_files(*imported)
        await d.wait_row(self.queued)
        return dict(zip(imported, shas, strict=True))


@pytest.fixture
async def library(daemon_factory, tmp_path: Path) -> tuple[Daemon, Library, dict[Path, str]]:
    lib = Library(tmp_path / "models")
    d = await daemon_factory("--models-root", str(lib.models))
    return d, lib, await lib.ready(d)


def ui_doc(lib: Library, shas: dict[Path, str]) -> dict[str, Any]:
    """A workflow as the front end saves it, naming the library's files as another machine had them."""
    queued_sha = sha_of(lib.queued)
    nodes = [
        ui_node(4, "CheckpointLoaderSimple", ["sdxl/juggernaut.safetensors"],
                outputs=[{"name": "MODEL", "type": "MODEL", "links": [1]}]),
        ui_node(10, "LoraLoader", ["old\\foo.safetensors", 0.8, 1.0],
                inputs=[{"name": "model", "type": "MODEL", "link": 1}, {"name": "clip", "type": "CLIP", "link": 2}]),
        ui_node(11, "VAELoader", ["ae.safetensors"]),
        ui_node(13, "VAELoader", ["taesdxl"]),  # a built-in decoder, no file
        ui_node(14, "CheckpointLoader", ["v1-inference.yaml", "nowhere/missing.safetensors"]),
        ui_node(20, "HikazeCheckpointLoader", [checkpoint_payload(str(lib.juggernaut), shas[lib.juggernaut],
                                                                  "Juggernaut")]),
        ui_node(21, "HikazeLoraPowerLoader", [lora_payload(
            {"name": "Detail", "full_path": "/old/machine/loras/detail_v1.safetensors", "sha256": shas[lib.detail]},
            {"name": "queued", "full_path": "/old/machine/loras/q.safetensors", "sha256": queued_sha},
            {"name": "Gone", "full_path": "/old/machine/loras/gone.safetensors", "sha256": "ab" * 32},
        ), "<lora:foo:0.5> and <lora:style/foo:0.4:0.2>"]),
        ui_node(22, "Power Lora Loader (rgthree)", rgthree_widgets("style/foo.safetensors", "gone.safetensors", None)),
        ui_node(23, "Lora Loader (LoraManager)", lora_manager_widgets("detail-tweaker", "absent")),
        ui_node(5, SUBGRAPH_ID, [], inputs=[{"name": "model", "type": "MODEL", "link": 3}]),
    ]
    inner = [ui_node(12, "LoraLoaderModelOnly", {"lora_name": "style/foo", "strength_model": 1.0})]
    return ui_workflow(nodes, [subgraph(SUBGRAPH_ID, inner)])


def by_place(answer: dict[str, Any]) -> dict[tuple[str, str, int | None], dict[str, Any]]:
    return {(r["node_id"], r["widget"], r["entry"]): r for r in answer["references"]}


async def post(d: Daemon, body: bytes, content_type: str, query: str = "") -> tuple[int, Any]:
    return await d.request("POST", ROUTE + query, data=body, headers={"Content-Type": content_type})


async def test_a_ui_workflow_s_references_are_found_elsewhere_or_missing(library):
    d, lib, shas = library
    answer = await d.call("POST", ROUTE, ui_doc(lib, shas))
    refs = by_place(answer)
    assert answer["source"] == "ui"

    ckpt = refs[("4", "ckpt_name", None)]
    assert (ckpt["status"], ckpt["use"], ckpt["path"], ckpt["kind"]) == (
        "found", "sdxl/juggernaut.safetensors", str(lib.juggernaut), "checkpoints")
    assert ckpt["model"]["sha256"] == shas[lib.juggernaut]

    foo = refs[("10", "lora_name", None)]  # by file name, two same-named files: the first in order, and both
    assert (foo["status"], foo["by"], foo["use"], foo["choices"]) == (
        "elsewhere", "name", "other/foo.safetensors", ["other/foo.safetensors", "style/foo.safetensors"])
    assert foo["path"] == str(lib.foo_other) and foo["name"] == "old\\foo.safetensors"

    assert refs[("11", "vae_name", None)]["status"] == "found"
    assert not any(r["node_id"] == "13" for r in answer["references"])
    missing = refs[("14", "ckpt_name", None)]
    assert (missing["status"], missing["use"], missing["path"], missing["model"]) == ("missing", None, None, None)

    payload = refs[("20", "hikaze_payload", None)]
    assert (payload["status"], payload["path"], payload["name"], payload["sha256"]) == (
        "found", str(lib.juggernaut), "Juggernaut", shas[lib.juggernaut])

    detail = refs[("21", "hikaze_payload", 1)]  # moved and renamed: by its sha256
    assert (detail["status"], detail["by"], detail["path"], detail["use"]) == (
        "elsewhere", "sha256", str(lib.detail), "renamed/detail-tweaker.safetensors")
    assert detail["model"]["sha256"] == shas[lib.detail]
    queued = refs[("21", "hikaze_payload", 2)]  # only in the import queue: here, but no model yet
    assert (queued["status"], queued["by"], queued["path"], queued["model"]) == (
        "elsewhere", "sha256", str(lib.queued), None)
    gone = refs[("21", "hikaze_payload", 3)]
    assert (gone["status"], gone["sha256"]) == ("missing", "ab" * 32)
    assert refs[("21", "lora_text", 1)]["status"] == "elsewhere"  # <lora:foo:...>: a same-named file
    assert refs[("21", "lora_text", 2)]["use"] == "style/foo.safetensors"  # .safetensors optional
    assert refs[("21", "lora_text", 2)]["status"] == "found"

    assert refs[("22", "lora_1", None)]["status"] == "found"
    assert refs[("22", "lora_2", None)]["status"] == "missing"
    assert ("22", "lora_3", None) not in refs  # a row with no LoRA chosen

    manager = refs[("23", "loras", 1)]  # LoRA Manager finds a LoRA by its file name anywhere in the folders
    assert (manager["status"], manager["use"], manager["path"]) == ("found", "detail-tweaker", str(lib.detail))
    assert refs[("23", "loras", 2)]["status"] == "missing"

    inner = refs[("5:12", "lora_name", None)]  # in a subgraph: instance id, then the inner node's
    assert (inner["status"], inner["use"], inner["node_type"]) == (
        "found", "style/foo.safetensors", "LoraLoaderModelOnly")

    statuses = [r["status"] for r in answer["references"]]
    assert answer["counts"] == {s: statuses.count(s) for s in ("found", "elsewhere", "missing")}


async def test_an_api_prompt_skips_links_and_numbers_subgraph_nodes_as_comfyui_runs_them(library):
    d, _, _ = library
    prompt = {
        "4": api_node("CheckpointLoaderSimple", {"ckpt_name": "juggernaut.safetensors"}),
        "10": api_node("LoraLoader", {"lora_name": "style/foo.safetensors", "strength_model": 1, "strength_clip": 1,
                                      "model": ["4", 0], "clip": ["4", 1]}),
        "5:12": api_node("UNETLoader", {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}),
        "22": api_node("Power Lora Loader (rgthree)", {
            "PowerLoraLoaderHeaderWidget": {"type": "PowerLoraLoaderHeaderWidget"},
            "lora_1": {"on": True, "lora": "other\\foo.safetensors", "strength": 1, "strengthTwo": None},
            "➕ Add Lora": "", "model": ["4", 0], "clip": ["4", 1]}),
        "23": api_node("Lora Loader (LoraManager)", {"text": "<lora:foo:1>", "model": ["4", 0], "loras": {
            "__value__": [{"name": "foo", "strength": 1, "active": True}]}}),
    }
    answer = await d.call("POST", ROUTE, prompt)
    refs = by_place(answer)
    assert answer["source"] == "api"
    ckpt = refs[("4", "ckpt_name", None)]  # the same file name in a sub-folder
    assert (ckpt["status"], ckpt["use"]) == ("elsewhere", "sdxl/juggernaut.safetensors")
    assert refs[("10", "lora_name", None)]["status"] == "found"
    unet = refs[("5:12", "unet_name", None)]
    assert (unet["status"], unet["kind"]) == ("missing", "diffusion_models")
    rgthree = refs[("22", "lora_1", None)]  # a Windows path is read with either separator
    assert (rgthree["status"], rgthree["use"]) == ("found", "other/foo.safetensors")
    assert refs[("23", "loras", 1)]["status"] == "found"
    assert len(answer["references"]) == 5


async def test_workflow_and_prompt_together_answer_each_widget_once(library):
    d, _, _ = library
    workflow = ui_workflow([ui_node(4, "CheckpointLoaderSimple", ["sdxl/juggernaut.safetensors"])])
    prompt = {"4": api_node("CheckpointLoaderSimple", {"ckpt_name": "sdxl/juggernaut.safetensors"}),
              "7": api_node("VAELoader", {"vae_name": "ae.safetensors"})}
    answer = await d.call("POST", ROUTE, {"workflow": workflow, "prompt": prompt})
    assert answer["source"] == "ui"
    assert sorted(r["node_id"] for r in answer["references"]) == ["4", "7"]


async def test_a_png_s_workflow_and_prompt_chunks_and_a_webp_s_exif_are_read(library):
    d, lib, shas = library
    workflow = ui_doc(lib, shas)
    prompt = {"30": api_node("CLIPLoader", {"clip_name": "t5xxl.safetensors", "type": "flux"})}
    from_json = by_place(await d.call("POST", ROUTE, {"workflow": workflow, "prompt": prompt}))

    status, answer = await post(d, comfy_png(workflow, prompt, compressed=("workflow",)), "image/png")
    assert status == 200, answer
    assert answer["source"] == "png" and by_place(answer) == from_json

    status, answer = await post(d, comfy_webp(workflow, prompt), "image/webp")
    assert status == 200, answer
    assert answer["source"] == "webp" and by_place(answer) == from_json


async def test_a1111_parameters_with_model_and_lora_hashes(library):
    d, lib, shas = library
    dream, detail = shas[lib.dreamshaper], shas[lib.detail]
    text = a1111_parameters("a castle <lora:detail_v1:0.8> <lora:foo:0.3>", {
        "Steps": "30", "Sampler": "DPM++ 2M", "CFG scale": "7", "Seed": "42", "Size": "832x1216",
        "Model hash": dream[:10], "Model": "dreamshaper8",
        "Lora hashes": '"detail_v1: 0123456789ab, foo: ffffffffffff"',
        "Hashes": json.dumps({"model": dream[:10], "lora:detail_v1": detail[:10]}), "Version": "v1.10.1"})
    status, answer = await post(d, png({"parameters": text}), "image/png")
    assert status == 200, answer
    refs = by_place(answer)
    model = refs[("parameters", "Model", None)]
    assert (model["status"], model["by"], model["autov2"], model["use"], model["path"]) == (
        "elsewhere", "autov2", dream[:10], "dreamshaper_8", str(lib.dreamshaper))
    assert model["model"]["sha256"] == dream
    lora = refs[("parameters", "lora", 1)]  # Civitai's AutoV2; A1111's own AutoV3 cannot be compared
    assert (lora["status"], lora["by"], lora["autov2"], lora["use"]) == (
        "elsewhere", "autov2", detail[:10], "detail-tweaker")
    foo = refs[("parameters", "lora", 2)]  # A1111 finds a LoRA by its name anywhere
    assert (foo["status"], foo["use"]) == ("found", "foo")


async def test_hashes_in_an_image_s_parameters_join_its_workflow_s_references(library):
    d, lib, shas = library
    detail = shas[lib.detail]
    workflow = ui_workflow([ui_node(10, "LoraLoader", ["detail_v1.safetensors", 1, 1])])
    text = a1111_parameters("x", {"Steps": "1", "Hashes": json.dumps({"lora:detail_v1": detail[:10]})})
    status, answer = await post(d, png({"workflow": json.dumps(workflow), "parameters": text}), "image/png")
    assert status == 200, answer
    (ref,) = answer["references"]
    assert (ref["status"], ref["by"], ref["use"]) == ("elsewhere", "autov2", "renamed/detail-tweaker.safetensors")


async def test_against_an_announced_comfyui_its_own_folders_count(library, tmp_path: Path):
    d, lib, _ = library
    extra = write_model(tmp_path / "comfy-extra" / "loras" / "extra.safetensors")
    origin = "http://127.0.0.1:8188"
    await d.call("POST", "/api/comfyui/announce", {"origin": origin, "folders": {
        "loras": [str(extra.parent), str(lib.models / "loras" / "style")]}})
    prompt = {"1": api_node("LoraLoader", {"lora_name": "extra.safetensors"}),
              "2": api_node("LoraLoader", {"lora_name": "foo.safetensors"})}

    refs = by_place(await d.call("POST", f"{ROUTE}?comfyui={origin}", prompt))
    assert refs[("1", "lora_name", None)]["path"] == str(extra)  # a folder the daemon does not watch
    assert (refs[("2", "lora_name", None)]["status"], refs[("2", "lora_name", None)]["use"]) == (
        "found", "foo.safetensors")
    own = by_place(await d.call("POST", ROUTE, prompt))
    assert own[("1", "lora_name", None)]["status"] == "missing"
    assert own[("2", "lora_name", None)]["status"] == "elsewhere"

    status, answer = await d.request("POST", f"{ROUTE}?comfyui=http://127.0.0.1:9999", json=prompt)
    assert status == 400 and "has announced" in answer["error"]
