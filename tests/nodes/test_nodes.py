"""The ComfyUI node package: importing it, the payloads, finding files (also through the real daemon), loading
checkpoints and LoRAs into stand-ins of ComfyUI's modules, IS_CHANGED, VALIDATE_INPUTS and the daemon routes."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from comfy_stubs import Comfy, Thing, import_pack
from conftest import Daemon, free_port, poll, write_model
from pack_fixtures import comfy_fixture, loras_fixture, pack_fixture  # noqa: F401  (comfy, pack, loras)

HEAVY = ("torch", "comfy", "folder_paths", "hikaze_mm", "sqlite3", "aiosqlite", "watchdog")


def lora_loader(pack: ModuleType) -> Any:
    return pack.NODE_CLASS_MAPPINGS["HikazeLoraPowerLoader"]


def checkpoint_loader(pack: ModuleType) -> Any:
    return pack.NODE_CLASS_MAPPINGS["HikazeCheckpointLoader"]


def document(*entries: dict[str, Any]) -> str:
    return json.dumps({"version": 2, "loras": list(entries)})


CKPT = Thing("ckpt")


def apply(pack: ModuleType, payload: str, clip: Any = CKPT) -> tuple[Any, Any, str]:
    return lora_loader(pack)().load_loras(Thing("ckpt"), payload, clip)


# -- the package ------------------------------------------------------------------------------------------------
def test_importing_the_package_outside_comfyui_has_no_side_effects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for var in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(home))
    monkeypatch.chdir(home)
    threads, modules = set(threading.enumerate()), set(sys.modules)

    pack = import_pack(monkeypatch)

    assert set(pack.NODE_CLASS_MAPPINGS) == {"HikazeCheckpointLoader", "HikazeLoraPowerLoader"}
    assert pack.NODE_DISPLAY_NAME_MAPPINGS == {
        "HikazeCheckpointLoader": "Hikaze Checkpoint Loader", "HikazeLoraPowerLoader": "Hikaze LoRA Power Loader",
    }
    assert pack.WEB_DIRECTORY == "./web/comfyui"
    assert set(threading.enumerate()) == threads
    heavy = [m for m in set(sys.modules) - modules if m.split(".")[0] in HEAVY]
    assert heavy == []
    assert list(home.iterdir()) == []


def test_inside_comfyui_the_import_registers_the_routes_and_nothing_else(
    comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads, modules = set(threading.enumerate()), set(sys.modules)
    import_pack(monkeypatch)
    assert set(threading.enumerate()) == threads
    assert sorted((r.method, r.path) for r in comfy.routes) == [("GET", "/hikaze/daemon"),
                                                                 ("GET", "/hikaze/lora/trigger-words"),
                                                                 ("POST", "/hikaze/daemon/start"),
                                                                 ("POST", "/hikaze/workflows/check")]
    assert comfy.checkpoints == comfy.torch_loads == comfy.lora_calls == []
    heavy = [m for m in set(sys.modules) - modules if m.split(".")[0] in HEAVY]
    assert heavy == []
    # The daemon hears of this ComfyUI when its server starts, once every custom node has registered its folders.
    assert "_announce_on_startup" in [hook.__name__ for hook in comfy.app.on_startup]


def test_the_node_classes_use_the_classic_api(pack: ModuleType) -> None:
    ckpt, lora = checkpoint_loader(pack), lora_loader(pack)
    assert ckpt.RETURN_TYPES == ("MODEL", "CLIP", "VAE") and ckpt.FUNCTION == "load_checkpoint"
    assert lora.RETURN_TYPES == ("MODEL", "CLIP", "STRING") and lora.RETURN_NAMES[2] == "trigger_words"
    widget = ckpt.INPUT_TYPES()["required"]["hikaze_payload"]
    assert widget[0] == "STRING" and widget[1]["multiline"] is True
    assert json.loads(widget[1]["default"]) == {"ckpt_path": "", "sha256": ""}
    inputs = lora.INPUT_TYPES()
    assert inputs["required"]["model"] == ("MODEL",) and inputs["optional"]["clip"] == ("CLIP",)
    assert json.loads(inputs["required"]["hikaze_payload"][1]["default"]) == {"version": 2, "loras": []}
    # ComfyUI skips its own checks for the inputs VALIDATE_INPUTS names, and for all of them with **kwargs.
    assert list(inspect.signature(ckpt.VALIDATE_INPUTS).parameters) == ["hikaze_payload"]
    assert list(inspect.signature(lora.VALIDATE_INPUTS).parameters) == ["hikaze_payload", "lora_text"]
    for node in (ckpt, lora):
        assert callable(getattr(node, node.FUNCTION))
        assert node.CATEGORY == "Hikaze"


# -- the LoRA payload ---------------------------------------------------------------------------------------------
SHA = "ab" * 32
FULL = {"name": "Full", "full_path": "/m/full.safetensors", "sha256": SHA.upper(), "strength_model": 0.5,
        "strength_clip": -0.25, "enabled": False}


@pytest.mark.parametrize(("payload", "expected"), [
    (document(FULL), [("Full", "/m/full.safetensors", SHA, 0.5, -0.25, False)]),
    (json.dumps({"LoRAs": [FULL]}), [("Full", "/m/full.safetensors", SHA, 0.5, -0.25, False)]),
    (json.dumps({"version": "1", "LoRAList": [FULL]}), [("Full", "/m/full.safetensors", SHA, 0.5, -0.25, False)]),
    (json.dumps([FULL]), [("Full", "/m/full.safetensors", SHA, 0.5, -0.25, False)]),
    (document({"full_path": "a.safetensors"}), [("", "a.safetensors", "", 1.0, 1.0, True)]),
    (document({"name": "a", "strength_model": "0.75", "strength_clip": None}), [("a", "", "", 0.75, 1.0, True)]),
    (document({"name": "a", "strength_model": -2, "strength_clip": ""}), [("a", "", "", -2.0, 1.0, True)]),
    (json.dumps([{"on": True, "lora": "sub/a.safetensors", "strength": 0.8}]),
     [("sub/a.safetensors", "", "", 0.8, 0.8, True)]),
    (json.dumps([{"on": False, "lora": "a", "strength": 0.8, "strengthTwo": None},
                 {"on": True, "lora": "b", "strength": 1, "strengthTwo": 0.3}, {"lora": "c"}]),
     [("a", "", "", 0.8, 0.8, False), ("b", "", "", 1.0, 0.3, True), ("c", "", "", 1.0, 1.0, True)]),
    (document(), []),
    ("", []),
    ("  \n", []),
])
def test_lora_payload_shapes_aliases_and_defaults(
    pack: ModuleType, payload: str, expected: list[tuple[Any, ...]]
) -> None:
    entries = pack.nodes.payload.parse_lora_list(payload)
    got = [(e.name, e.full_path, e.sha256, e.strength_model, e.strength_clip, e.enabled) for e in entries]
    assert got == expected
    assert [e.number for e in entries] == list(range(1, len(expected) + 1))
    assert lora_loader(pack).VALIDATE_INPUTS(hikaze_payload=payload) is True


@pytest.mark.parametrize(("payload", "message"), [
    ("{not json", "the LoRA payload is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    ("42", 'the LoRA payload must be a JSON object like {"version": 2, "loras": []} or a list, got 42'),
    ('{"version": 2}', 'the LoRA payload has no "loras" list (also read: LoRAs, LoRAList, loRAList)'),
    ('{"loras": [], "LoRAs": []}', "the LoRA payload has both loras and LoRAs; keep one list"),
    ('{"version": 3, "loras": []}', "the LoRA payload's version must be 1 or 2, got 3"),
    ('{"version": true, "loras": []}', "the LoRA payload's version must be 1 or 2, got true"),
    ('{"loras": {"a": 1}}', 'the LoRA payload\'s "loras" must be a list, got {"a": 1}'),
    ('{"loras": [], "lora": []}', "the LoRA payload: unknown field(s) lora; it takes version, loras"),
    (json.dumps([{"full_path": "a"}, {"full_path": "b", "strength_model": "abc"}]),
     'LoRA 2: strength_model must be a number, got "abc"'),
    (document({"full_path": "a", "strength_clip": True}), "LoRA 1: strength_clip must be a number, got true"),
    (document({"full_path": "a", "strength_clip": [1]}), "LoRA 1: strength_clip must be a number, got [1]"),
    (document({"full_path": "a", "enabled": "yes"}), 'LoRA 1: enabled must be true or false, got "yes"'),
    (document({"full_path": 3}), "LoRA 1: full_path must be a string, got 3"),
    (document({"full_path": "a", "sha256": "abc"}), 'LoRA 1: sha256 must be 64 hex digits, got "abc"'),
    (document({"full_path": "a", "strenght_model": 1}),
     "LoRA 1: unknown field(s) strenght_model; it takes name, full_path, sha256, strength_model, strength_clip, "
     "enabled"),
    (json.dumps([{"on": True, "lora": "a", "strength_model": 1}]),
     "LoRA 1 mixes Hikaze fields (strength_model) with rgthree fields (lora, on)"),
    (json.dumps([{"lora": "a", "strength": "NaN"}]), 'LoRA 1: strength must be a number, got "NaN"'),
    (json.dumps([{"lora": "a", "on": 1}]), "LoRA 1: on must be true or false, got 1"),
    (json.dumps(["a.safetensors"]), 'LoRA 1 must be an object, got "a.safetensors"'),
    (document({"enabled": True}), "LoRA 1: no file; set full_path (or name), or turn the entry off"),
    (json.dumps([{"on": True, "lora": None, "strength": 1}]), "LoRA 1: no file"),
])
def test_a_wrong_lora_payload_names_the_entry_and_field(pack: ModuleType, payload: str, message: str) -> None:
    PayloadError = pack.nodes.payload.PayloadError
    with pytest.raises(PayloadError) as e:
        pack.nodes.payload.parse_lora_list(payload)
    assert str(e.value).startswith(message)
    assert lora_loader(pack).VALIDATE_INPUTS(hikaze_payload=payload) == str(e.value)
    with pytest.raises(PayloadError):  # the run refuses it too: it never goes on with no LoRAs
        apply(pack, payload)


def test_entries_that_apply_nothing_need_no_file(pack: ModuleType) -> None:
    payload = document({"enabled": False}, {"strength_model": 0, "strength_clip": 0})
    assert lora_loader(pack).VALIDATE_INPUTS(hikaze_payload=payload) is True
    assert apply(pack, payload) == (Thing("ckpt"), Thing("ckpt"), "")


@pytest.mark.parametrize(("payload", "message"), [
    ("", "the checkpoint payload is not valid JSON"),
    ("[]", 'the checkpoint payload must be a JSON object like {"ckpt_path": "", "sha256": ""}, got []'),
    ('{"ckpt_path": "", "sha256": ""}', "no checkpoint chosen: ckpt_path is empty"),
    ('{"sha256": ""}', "no checkpoint chosen"),
    ('{"ckpt_path": 1}', "the checkpoint payload: ckpt_path must be a string, got 1"),
    ('{"ckpt_path": "a", "sha": "x"}', "the checkpoint payload: unknown field(s) sha; it takes ckpt_path, sha256"),
    ('{"ckpt_path": "a", "sha256": "xyz"}', 'the checkpoint payload: sha256 must be 64 hex digits, got "xyz"'),
])
def test_a_wrong_checkpoint_payload_is_reported_before_the_queue_runs(
    pack: ModuleType, payload: str, message: str
) -> None:
    node = checkpoint_loader(pack)
    result = node.VALIDATE_INPUTS(hikaze_payload=payload)
    assert isinstance(result, str) and result.startswith(message)
    assert node.VALIDATE_INPUTS(hikaze_payload='{"ckpt_path": "x.safetensors"}') is True
    assert node.VALIDATE_INPUTS() is True  # a linked payload is checked when the node runs


# -- loading --------------------------------------------------------------------------------------------------------
def test_loras_are_applied_in_order_with_their_strengths(pack: ModuleType, comfy: Comfy, loras: Path) -> None:
    a, b, c, d = (write_model(loras / f"{n}.safetensors") for n in "abcd")
    e = write_model(loras / "style" / "e.safetensors")
    payload = json.dumps({"LoRAs": [
        {"name": "A", "full_path": str(a), "strength_model": 0.5, "strength_clip": 0.25},
        {"full_path": str(b), "enabled": False},
        {"full_path": str(c), "strength_model": 0, "strength_clip": 0},
        {"name": "d", "strength_model": 0, "strength_clip": 0.3},  # a name without extension, one strength 0
        {"full_path": "style/e.safetensors", "strength_model": -1.5},  # relative to the loras folder
        {"name": "A again", "full_path": str(a), "strength_model": 0.1, "strength_clip": 0.1},
    ]})

    model, clip, words = apply(pack, payload)

    assert comfy.torch_loads == [(str(a), True), (str(d), True), (str(e), True), (str(a), True)]
    assert [(call[3], call[4]) for call in comfy.lora_calls] == [(0.5, 0.25), (0, 0.3), (-1.5, 1.0), (0.1, 0.1)]
    assert model.patches == ((str(a), 0.5), (str(d), 0), (str(e), -1.5), (str(a), 0.1))
    assert clip.patches == ((str(a), 0.25), (str(d), 0.3), (str(e), 1.0), (str(a), 0.1))
    # each call gets what the previous one returned: the chain, never the first model again
    assert comfy.lora_calls[1][0] == Thing("ckpt", ((str(a), 0.5),))
    assert words == ""


def test_rgthree_rows_resolve_names_tolerantly_and_clip_may_be_none(
    pack: ModuleType, comfy: Comfy, loras: Path
) -> None:
    exact = write_model(loras / "people" / "exact.safetensors")
    stem = write_model(loras / "stem.pt")
    deep = write_model(loras / "deep" / "er" / "base.safetensors")
    payload = json.dumps([
        {"on": True, "lora": "people/exact.safetensors", "strength": 1, "strengthTwo": None},
        {"on": True, "lora": "stem", "strength": 0.6, "strengthTwo": 0.2},
        {"on": True, "lora": "old/folder/base.safetensors", "strength": 0.4},  # moved: found by its file name
        {"on": False, "lora": "ghost.safetensors", "strength": 1},
    ])

    model, clip, _ = apply(pack, payload, clip=None)

    assert [path for path, _ in comfy.torch_loads] == [str(exact), str(stem), str(deep)]
    assert [call[1] for call in comfy.lora_calls] == [None, None, None]
    assert [(call[3], call[4]) for call in comfy.lora_calls] == [(1.0, 1.0), (0.6, 0.2), (0.4, 0.4)]
    assert clip is None
    assert model.patches == ((str(exact), 1.0), (str(stem), 0.6), (str(deep), 0.4))


def test_a_missing_lora_fails_the_node_naming_what_was_tried(pack: ModuleType, comfy: Comfy, loras: Path) -> None:
    present = write_model(loras / "present.safetensors")
    gone = "/nowhere/gone.safetensors"
    payload = document({"full_path": str(present)}, {"name": "Gone", "full_path": gone, "sha256": SHA})
    url = os.environ["HIKAZE_MM_URL"]

    with pytest.raises(FileNotFoundError) as e:
        apply(pack, payload)

    message = str(e.value)
    assert message.startswith("LoRA 2 (Gone): file not found; tried /nowhere/gone.safetensors (no such file); ")
    assert f"the daemon at {url} did not answer" in message
    assert "a file named gone.safetensors anywhere in ComfyUI's loras folders" in message
    assert comfy.torch_loads == []  # all files are found before the first is loaded

    with pytest.raises(FileNotFoundError, match=r"LoRA 1 \(ghost\): file not found; tried ghost and "
                                                r"ghost.safetensors in ComfyUI's loras folders; the daemon "
                                                r"\(not asked: the payload has no sha256\)"):
        apply(pack, json.dumps([{"lora": "ghost"}]))


def test_a_file_name_found_twice_is_not_guessed(pack: ModuleType, loras: Path) -> None:
    for folder in ("one", "two"):
        write_model(loras / folder / "pytorch_lora_weights.safetensors")
    with pytest.raises(FileNotFoundError, match=r"several: one/pytorch_lora_weights\.safetensors, two/"):
        apply(pack, document({"full_path": "/old/pytorch_lora_weights.safetensors"}))


def test_with_the_daemon_down_saved_paths_load_and_trigger_words_are_empty(
    pack: ModuleType, comfy: Comfy, loras: Path
) -> None:
    lora = write_model(loras / "kept.safetensors")
    ckpt = write_model(comfy.folders["checkpoints"][0] / "kept.safetensors")

    _, _, words = apply(pack, document({"full_path": str(lora), "sha256": SHA}))
    out = checkpoint_loader(pack)().load_checkpoint(json.dumps({"ckpt_path": str(ckpt), "sha256": SHA}))

    assert words == ""
    assert comfy.torch_loads == [(str(lora), True)]
    assert len(out) == 3 and out[0] == Thing(str(ckpt))


def test_the_checkpoint_loader_loads_through_comfy(pack: ModuleType, comfy: Comfy) -> None:
    ckpt = write_model(comfy.folders["checkpoints"][0] / "sdxl" / "base.safetensors")
    model, clip, vae = checkpoint_loader(pack)().load_checkpoint('{"ckpt_path": "sdxl/base", "sha256": ""}')
    assert comfy.checkpoints == [{"path": str(ckpt), "output_vae": True, "output_clip": True,
                                  "embedding_directory": [str(comfy.folders["embeddings"][0])]}]
    assert model == clip == vae == Thing(str(ckpt))
    with pytest.raises(FileNotFoundError, match=r'^the checkpoint "Nope": file not found; tried /gone/nope.ckpt'):
        checkpoint_loader(pack)().load_checkpoint('{"ckpt_path": "/gone/nope.ckpt", "name": "Nope"}')


def test_is_changed_follows_the_payload_and_the_files(pack: ModuleType, loras: Path) -> None:
    lora = write_model(loras / "a.safetensors")
    payload = document({"full_path": str(lora)}, {"full_path": "/gone.safetensors", "enabled": False})
    node = lora_loader(pack)
    first = node.IS_CHANGED(hikaze_payload=payload)
    assert node.IS_CHANGED(hikaze_payload=payload) == first

    write_model(lora, size=1000)  # replaced under the same name
    second = node.IS_CHANGED(hikaze_payload=payload)
    assert second != first

    st = lora.stat()
    os.utime(lora, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same size, touched
    third = node.IS_CHANGED(hikaze_payload=payload)
    assert third not in (first, second)

    assert node.IS_CHANGED(hikaze_payload=payload.replace("false", "true")) != third
    missing = node.IS_CHANGED(hikaze_payload=document({"name": "Gone", "full_path": "/gone.safetensors"}))
    assert json.loads(missing)[1] == [["LoRA 1 (Gone)", "not found"]]

    ckpt = checkpoint_loader(pack)
    ckpt_file = write_model(loras.parent / "checkpoints" / "c.safetensors")
    ckpt_payload = json.dumps({"ckpt_path": str(ckpt_file)})
    before = ckpt.IS_CHANGED(hikaze_payload=ckpt_payload)
    write_model(ckpt_file, size=10)
    assert ckpt.IS_CHANGED(hikaze_payload=ckpt_payload) != before


def test_is_changed_takes_every_input_as_comfyui_passes_them(pack: ModuleType, loras: Path) -> None:
    # ComfyUI calls IS_CHANGED with every input of the node, a linked one as None (it is not run yet); a
    # TypeError there made ComfyUI treat the node as changed on every queue, so nothing after it was cached.
    lora = write_model(loras / "a.safetensors")
    payload = document({"full_path": str(lora)})
    node = lora_loader(pack)
    alone = node.IS_CHANGED(hikaze_payload=payload)
    assert node.IS_CHANGED(model=None, clip=None, hikaze_payload=payload) == alone
    assert node.IS_CHANGED(model=None, hikaze_payload=payload) == alone  # clip is optional, so it may be absent
    assert node.IS_CHANGED(model=None, clip=None, hikaze_payload=None) == ""
    assert checkpoint_loader(pack).IS_CHANGED(hikaze_payload=json.dumps({"ckpt_path": "x"})) != ""
    # lora_text, optional, may be absent too, or given
    assert node.IS_CHANGED(model=None, clip=None, hikaze_payload=payload, lora_text="") == alone
    # ComfyUI still checks the other inputs itself: VALIDATE_INPUTS names only the texts.
    assert list(inspect.signature(node.VALIDATE_INPUTS).parameters) == ["hikaze_payload", "lora_text"]
    assert list(inspect.signature(checkpoint_loader(pack).VALIDATE_INPUTS).parameters) == ["hikaze_payload"]


# -- with the real daemon --------------------------------------------------------------------------------------------
async def test_moved_files_are_found_through_the_daemon_with_their_trigger_words(
    daemon: Daemon, models: Path, pack: ModuleType, comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's folders are not ComfyUI's here: only the daemon can know where the files went.
    old_lora = write_model(models / "loras" / "hero.safetensors")
    other = write_model(models / "loras" / "side.safetensors")
    old_ckpt = write_model(models / "checkpoints" / "base.safetensors")
    lora_sha, other_sha, ckpt_sha = await daemon.import_files(old_lora, other, old_ckpt)
    await daemon.call("PATCH", f"/api/models/{lora_sha}", {"meta_json": {"trigger_words": ["hero", "cape"]}})
    await daemon.call("PATCH", f"/api/models/{other_sha}", {"meta_json": {"trigger_words": ["cape", "city"]}})
    new_lora, new_ckpt = models / "loras" / "heroes" / "hero.safetensors", models / "checkpoints" / "sd" / "b.sft"
    for old, new in ((old_lora, new_lora), (old_ckpt, new_ckpt)):
        new.parent.mkdir()
        old.rename(new)

    async def moved() -> bool:
        paths = [(await daemon.get(f"/api/models/{sha}/path"))["path"] for sha in (lora_sha, ckpt_sha)]
        return paths == [str(new_lora), str(new_ckpt)]

    await poll(moved, "the daemon to see both files moved")
    monkeypatch.setenv("HIKAZE_MM_URL", daemon.url)
    payload = document({"name": "Hero", "full_path": str(old_lora), "sha256": lora_sha, "strength_model": 0.7},
                       {"full_path": str(other), "sha256": other_sha})

    model, _, words = await asyncio.to_thread(apply, pack, payload)
    out = await asyncio.to_thread(
        checkpoint_loader(pack)().load_checkpoint, json.dumps({"ckpt_path": str(old_ckpt), "sha256": ckpt_sha})
    )

    assert model.patches == ((str(new_lora), 0.7), (str(other), 1.0))
    assert words == "hero, cape, city"
    assert out[0] == Thing(str(new_ckpt))
    fingerprint = json.loads(await asyncio.to_thread(lora_loader(pack).IS_CHANGED, hikaze_payload=payload))
    assert [f[0] for f in fingerprint[1]] == [str(new_lora), str(other)]


async def test_a_daemon_with_a_token_answers_when_the_token_is_set(
    daemon_factory: Any, models: Path, pack: ModuleType, loras: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    daemon.session.headers["Authorization"] = "Bearer s3cret"
    lora = write_model(models / "loras" / "t.safetensors")
    (sha,) = await daemon.import_files(lora)
    await daemon.call("PATCH", f"/api/models/{sha}", {"meta_json": {"trigger_words": ["tok"]}})
    monkeypatch.setenv("HIKAZE_MM_URL", daemon.url)
    payload = document({"full_path": str(lora), "sha256": sha})

    assert (await asyncio.to_thread(apply, pack, payload))[2] == ""  # refused (401), which is not an error
    monkeypatch.setenv("HIKAZE_MM_TOKEN", "s3cret")
    assert (await asyncio.to_thread(apply, pack, payload))[2] == "tok"


# -- routes ------------------------------------------------------------------------------------------------------------
async def routes_client(comfy: Comfy) -> TestClient:
    app = web.Application()
    app.add_routes(comfy.routes)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_the_daemon_route_says_whether_the_daemon_answers(
    daemon: Daemon, pack: ModuleType, comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await routes_client(comfy)
    try:
        down = os.environ["HIKAZE_MM_URL"]
        resp = await client.get("/hikaze/daemon")
        assert resp.status == 200 and await resp.json() == {"url": down, "reachable": False, "version": None}

        monkeypatch.setenv("HIKAZE_MM_URL", daemon.url + "/")
        version = (await daemon.get("/api/health"))["version"]
        resp = await client.get("/hikaze/daemon")
        assert await resp.json() == {"url": daemon.url, "reachable": True, "version": version}
    finally:
        await client.close()


@pytest.mark.parametrize("source", ["installed", "checkout"])
async def test_the_start_route_starts_one_daemon_watching_exactly_comfyuis_folders(
    source: str, tmp_path: Path, pack: ModuleType, comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIKAZE_MM_CONFIG", "")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # the child's database, never the user's
    autostart = pack.nodes.autostart
    if source == "checkout":
        monkeypatch.setattr(autostart, "find_spec", lambda name: None)
    # As with --extra-model-paths-config: ComfyUI's LoRAs and checkpoints are also kept outside its models folder.
    shared = tmp_path / "shared"
    comfy.folders["loras"].append(shared / "Lora")
    comfy.folders["checkpoints"].append(shared / "Stable-diffusion")
    write_model(comfy.folders["loras"][0] / "seen.safetensors")
    outside = write_model(shared / "Lora" / "sub" / "shared.safetensors")
    write_model(comfy.base / "models" / "unknown" / "not-loaded.safetensors")  # ComfyUI loads nothing from here
    client = await routes_client(comfy)
    try:
        resp = await client.post("/hikaze/daemon/start")
        answer = await resp.json()
        assert answer["started"] is True, answer
        status = await (await client.get("/hikaze/daemon")).json()
        assert status["reachable"] is True
        again = await (await client.post("/hikaze/daemon/start")).json()
        assert again == {"started": False, "reason": f"the daemon already answers at {status['url']}"}

        async def daemon_status() -> dict[str, Any]:
            async with client.session.get(status["url"] + "/api/status") as r:
                return await r.json()

        roots = {(r["path"], r["type"]) for r in (await daemon_status())["roots"]}
        assert roots == {(str(p), kind) for kind in ("checkpoints", "loras", "embeddings")
                         for p in comfy.folders[kind]}
        # The started daemon was told where this ComfyUI listens, and sees every folder it loads from.
        assert [(c["origin"], c["missing"]) for c in (await daemon_status())["comfyui"]] == \
            [("http://127.0.0.1:8188", {})]

        async def found() -> list[str]:
            async with client.session.get(status["url"] + "/api/pending") as r:
                paths = [item["path"] for item in (await r.json())["pending"]]
            return paths if str(outside) in paths else []

        assert "not-loaded.safetensors" not in " ".join(await poll(found, "the shared LoRA to be found"))
    finally:
        await client.close()
        await asyncio.to_thread(autostart.stop)
    assert autostart._child.returncode is not None


# -- the workflow check, passed on ------------------------------------------------------------------------------------
CHECK_ANSWER = {"source": "ui", "references": [], "counts": {"found": 0, "elsewhere": 0, "missing": 0}}


class CheckStandIn:
    """Stands in for the daemon's POST /api/workflows/check (built on another branch of issue 17): it keeps what
    arrived and answers a contract-6 document, or the error it is given."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], str, bytes, str]] = []
        self.answer: tuple[int, dict[str, Any]] = (200, CHECK_ANSWER)

    async def check(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.query), request.content_type, await request.read(),
                          request.headers.get("Authorization", "")))
        status, body = self.answer
        return web.json_response(body, status=status)

    async def start(self) -> TestServer:
        app = web.Application(client_max_size=65 * 1024 * 1024)
        app.router.add_post("/api/workflows/check", self.check)
        server = TestServer(app)
        await server.start_server()
        return server


async def test_the_check_route_passes_the_workflow_and_its_type_on_and_the_daemons_answer_back(
    pack: ModuleType, comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in = CheckStandIn()
    server = await stand_in.start()
    monkeypatch.setenv("HIKAZE_MM_URL", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("HIKAZE_MM_TOKEN", "s3cret")
    client = await routes_client(comfy)
    try:
        workflow = json.dumps({"workflow": {"nodes": [{"id": 3, "type": "LoraLoader"}]}}).encode()
        resp = await client.post("/hikaze/workflows/check", params={"comfyui": "http://127.0.0.1:8188"},
                                 data=workflow, headers={"Content-Type": "application/json"})
        assert (resp.status, await resp.json()) == (200, CHECK_ANSWER)
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
        resp = await client.post("/hikaze/workflows/check", data=png, headers={"Content-Type": "image/png"})
        assert resp.status == 200
        assert stand_in.seen == [
            ({"comfyui": "http://127.0.0.1:8188"}, "application/json", workflow, "Bearer s3cret"),
            ({}, "image/png", png, "Bearer s3cret"),
        ]

        # The daemon's refusal comes back with its status and its words.
        stand_in.answer = (400, {"error": "the image carries no workflow: no workflow or prompt text chunk"})
        resp = await client.post("/hikaze/workflows/check", data=png, headers={"Content-Type": "image/png"})
        assert (resp.status, await resp.json()) == (400, {"error": stand_in.answer[1]["error"]})

        # Past the daemon's limit nothing is passed on.
        resp = await client.post("/hikaze/workflows/check", data=b"{" + b" " * (64 * 1024 * 1024),
                                 headers={"Content-Type": "application/json"})
        assert resp.status == 413 and "64 MiB" in (await resp.json())["error"]
        assert len(stand_in.seen) == 3
    finally:
        await client.close()
        await server.close()


async def test_the_check_route_says_when_the_daemon_does_not_answer_and_relays_the_real_daemon(
    daemon: Daemon, pack: ModuleType, comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await routes_client(comfy)
    try:
        down = os.environ["HIKAZE_MM_URL"]
        resp = await client.post("/hikaze/workflows/check", json={"nodes": []})
        assert resp.status == 502
        assert (await resp.json())["error"].startswith(f"the daemon at {down} did not answer (")

        # The real daemon's answer, and its refusal, come back as it gave them.
        monkeypatch.setenv("HIKAZE_MM_URL", daemon.url)
        resp = await client.post("/hikaze/workflows/check", json={"nodes": []})
        assert (resp.status, await resp.json()) == (
            200, {"source": "ui", "references": [], "counts": {"found": 0, "elsewhere": 0, "missing": 0}})
        resp = await client.post("/hikaze/workflows/check", data=b"[1]", headers={"Content-Type": "application/json"})
        answer = await resp.json()
        assert resp.status == 400 and isinstance(answer["error"], str) and answer["error"], (resp.status, answer)
    finally:
        await client.close()


async def start_comfyui(comfy: Comfy) -> TestServer:
    """ComfyUI's server starting: its app's start-up hooks run, as when ComfyUI begins to listen."""
    server = TestServer(comfy.app)
    await server.start_server()
    return server


async def test_comfyui_starting_tells_a_running_daemon_its_origins_and_folders(
    daemon_factory: Any, tmp_path: Path, pack: ModuleType, comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = await daemon_factory("--models-root", str(comfy.base / "models"), "--auth-token", "s3cret")
    daemon.session.headers["Authorization"] = "Bearer s3cret"
    monkeypatch.setenv("HIKAZE_MM_URL", daemon.url)
    monkeypatch.setenv("HIKAZE_MM_TOKEN", "s3cret")
    comfy.args.listen, comfy.args.port = "0.0.0.0,::", 8190  # `--listen` without an address
    shared = tmp_path / "shared" / "Lora"
    shared.mkdir(parents=True)
    comfy.folders["loras"].append(shared)

    server = await start_comfyui(comfy)
    try:
        async def told() -> list[dict[str, Any]]:
            peers = (await daemon.get("/api/status"))["comfyui"]
            return peers if len(peers) == 3 else []

        peers = await poll(told, "the daemon to hear of this ComfyUI")
    finally:
        await server.close()
    assert [p["origin"] for p in peers] == ["http://127.0.0.1:8190", "http://localhost:8190", "http://[::1]:8190"]
    folders = {kind: [str(p) for p in paths] for kind, paths in comfy.folders.items()}
    assert all(p["folders"] == folders for p in peers)
    # The daemon watches ComfyUI's own models folder, not the yaml's: that one is named.
    assert all(p["missing"] == {"loras": [str(shared)]} for p in peers)


def test_with_the_daemon_down_comfyui_starts_at_once_and_the_announcement_gives_up(
    pack: ModuleType, comfy: Comfy
) -> None:
    # What the start-up hook runs: a daemon thread, so ComfyUI neither waits for it nor is kept alive by it.
    thread = pack.nodes.announce.announce_in_background()
    assert thread.name == "hikaze-announce" and thread.daemon
    thread.join(timeout=30)
    assert not thread.is_alive()
    answer = pack.nodes.announce.announce()
    assert answer["announced"] == [] and "did not answer" in answer["reason"]


@pytest.mark.parametrize(("listen", "tls", "origins"), [
    ("127.0.0.1", False, ["http://127.0.0.1:8188"]),
    ("0.0.0.0", True, ["https://127.0.0.1:8188", "https://localhost:8188"]),
    ("::", False, ["http://127.0.0.1:8188", "http://localhost:8188", "http://[::1]:8188"]),
    ("::1,127.0.0.1", False, ["http://[::1]:8188", "http://127.0.0.1:8188"]),
    ("localhost", False, ["http://localhost:8188"]),
])
def test_the_origins_announced_are_where_comfyui_listens(
    pack: ModuleType, comfy: Comfy, listen: str, tls: bool, origins: list[str]
) -> None:
    comfy.args.listen = listen
    if tls:
        comfy.args.tls_keyfile, comfy.args.tls_certfile = "key.pem", "cert.pem"
    assert pack.nodes.announce.comfy_origins() == origins


async def test_the_start_route_refuses_an_address_it_cannot_serve(
    pack: ModuleType, comfy: Comfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"https://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HIKAZE_MM_URL", url)
    client = await routes_client(comfy)
    try:
        answer = await (await client.post("/hikaze/daemon/start")).json()
    finally:
        await client.close()
    assert answer == {"started": False, "reason": f"{url} is not an http address on this machine; start the daemon "
                                                  "there"}
    assert pack.nodes.autostart._child is None
