"""Usage reporting from inside ComfyUI: the hook on the prompt queue (as main.py's prompt worker drives it), which
loaders and inputs it reads, and the reporter's way to the daemon (a stand-in of POST /api/usage on loopback that
can be down, refuse, close the connection or lose its answer)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web

from comfy_stubs import Comfy, PromptQueue, import_pack, install
from conftest import free_port, poll, write_model
from usage_daemon import UsageDaemon

KINDS = ("vae", "text_encoders", "diffusion_models", "controlnet", "upscale_models", "clip_vision", "style_models")
HEX = set("0123456789abcdef")


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> int:
    # Nothing listens on a fresh free port until a test serves the stand-in daemon there.
    port = free_port()
    monkeypatch.setenv("HIKAZE_MM_URL", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HIKAZE_MM_TOKEN", raising=False)
    return port


@pytest.fixture
def comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, port: int) -> Comfy:
    comfy = install(monkeypatch, tmp_path / "ComfyUI")
    for kind in KINDS:
        folder = tmp_path / "ComfyUI" / "models" / kind
        folder.mkdir(parents=True)
        comfy.folders[kind] = [folder]
    return comfy


@pytest.fixture
def queue(comfy: Comfy) -> PromptQueue:
    return comfy.give_prompt_queue()


@pytest.fixture
def pack(queue: PromptQueue, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return import_pack(monkeypatch)


def part(pack: ModuleType, name: str) -> Any:
    return sys.modules[f"{pack.__name__}.nodes.{name}"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def prompt(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {str(i): n for i, n in enumerate(nodes, 1)}


def loras_payload(*entries: dict[str, Any]) -> str:
    return json.dumps({"version": 2, "loras": list(entries)})


@contextlib.asynccontextmanager
async def serving(daemon: UsageDaemon, port: int) -> AsyncIterator[UsageDaemon]:
    runner = web.AppRunner(daemon.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield daemon
    finally:
        await runner.cleanup()


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    async def probe() -> Any:
        return check()

    return await poll(probe, what, timeout)


# -- what the walk reads -------------------------------------------------------------------------------------------
def test_the_walk_reads_every_loaders_file_inputs_and_skips_links(pack: ModuleType) -> None:
    walk = part(pack, "usage_walk")
    payload = json.dumps({"ckpt_path": "/m/ckpt.safetensors", "sha256": "ab" * 32})
    the_prompt = {
        "1": node("CheckpointLoaderSimple", ckpt_name="sd15.safetensors"),
        "2": node("LoraLoader", model=["1", 0], clip=["1", 1], lora_name="a.safetensors", strength_model=0.8,
                  strength_clip=1.0),
        "3": node("LoraLoader", model=["2", 0], clip=["2", 1], lora_name="zero.safetensors", strength_model=0,
                  strength_clip=0.0),
        "4": node("LoraLoaderModelOnly", model=["3", 0], lora_name="off.safetensors", strength_model=0),
        "5": node("LoraLoaderModelOnly", model=["4", 0], lora_name="linked.safetensors", strength_model=["30", 0]),
        "6": node("UNETLoader", unet_name="flux/dev.safetensors", weight_dtype="default"),
        "7": node("VAELoader", vae_name="ae.safetensors"),
        "8": node("CLIPLoader", clip_name="t5.safetensors", type="stable_diffusion"),
        "9": node("DualCLIPLoader", clip_name1="l.safetensors", clip_name2=["30", 0], type="flux"),
        "10": node("TripleCLIPLoader", clip_name1="l.sft", clip_name2="g.sft", clip_name3="t5xxl.sft"),
        "11": node("ControlNetLoader", control_net_name="canny.safetensors"),
        "12": node("DiffControlNetLoader", model=["1", 0], control_net_name="depth.pth"),
        "13": node("UpscaleModelLoader", model_name="4x.pth"),
        "14": node("CLIPVisionLoader", clip_name="vit-h.safetensors"),
        "15": node("StyleModelLoader", style_model_name="redux.safetensors"),
        "16": node("unCLIPCheckpointLoader", ckpt_name="unclip.ckpt"),
        "17": node("ImageOnlyCheckpointLoader", ckpt_name="svd.safetensors"),
        "18": node("KSampler", model=["5", 0], seed=1, steps=20, sampler_name="euler", scheduler="normal"),
        "19": node("CheckpointLoader", config_name="v1.yaml", ckpt_name=42),
        "20": node("Power Lora Loader (rgthree)", model=["1", 0], clip=["1", 1],
                   PowerLoraLoaderHeaderWidget={"type": "PowerLoraLoaderHeaderWidget"},
                   lora_1={"on": True, "lora": "style/ink.safetensors", "strength": 0.7, "strengthTwo": None},
                   lora_2={"on": False, "lora": "off-row.safetensors", "strength": 1, "strengthTwo": None},
                   lora_3={"on": True, "lora": "nothing.safetensors", "strength": 0, "strengthTwo": None},
                   lora_4={"on": True, "lora": "clip-only.safetensors", "strength": 0, "strengthTwo": 0.5},
                   **{"➕ Add Lora": ""}),
        "21": node("HikazeCheckpointLoader", hikaze_payload=payload),
        "22": node("HikazeLoraPowerLoader", model=["21", 0], hikaze_payload=["40", 0], lora_text="<lora:x:0.5>"),
        "23": "not a node",
        "24": {"class_type": 5, "inputs": {}},
        "25": node("LoraLoader", lora_name="a.safetensors"),  # a duplicate: the reporter makes it one use
    }

    found = [(r.node, r.kind, r.text, r.form != walk.NAME) for r in walk.references(the_prompt)]

    assert found == [
        ("CheckpointLoaderSimple", "checkpoints", "sd15.safetensors", False),
        ("LoraLoader", "loras", "a.safetensors", False),
        ("LoraLoaderModelOnly", "loras", "linked.safetensors", False),
        ("UNETLoader", "diffusion_models", "flux/dev.safetensors", False),
        ("VAELoader", "vae", "ae.safetensors", False),
        ("CLIPLoader", "text_encoders", "t5.safetensors", False),
        ("DualCLIPLoader", "text_encoders", "l.safetensors", False),
        ("TripleCLIPLoader", "text_encoders", "l.sft", False),
        ("TripleCLIPLoader", "text_encoders", "g.sft", False),
        ("TripleCLIPLoader", "text_encoders", "t5xxl.sft", False),
        ("ControlNetLoader", "controlnet", "canny.safetensors", False),
        ("DiffControlNetLoader", "controlnet", "depth.pth", False),
        ("UpscaleModelLoader", "upscale_models", "4x.pth", False),
        ("CLIPVisionLoader", "clip_vision", "vit-h.safetensors", False),
        ("StyleModelLoader", "style_models", "redux.safetensors", False),
        ("unCLIPCheckpointLoader", "checkpoints", "unclip.ckpt", False),
        ("ImageOnlyCheckpointLoader", "checkpoints", "svd.safetensors", False),
        ("Power Lora Loader (rgthree)", "loras", "style/ink.safetensors", False),
        ("Power Lora Loader (rgthree)", "loras", "clip-only.safetensors", False),
        ("HikazeCheckpointLoader", "checkpoints", payload, True),
        ("HikazeLoraPowerLoader", "loras", "<lora:x:0.5>", True),
        ("LoraLoader", "loras", "a.safetensors", False),
    ]
    assert walk.references(None) == walk.references([1, 2]) == walk.references({}) == []


# -- through the queue to the daemon -------------------------------------------------------------------------------
async def test_every_model_a_prompt_loaded_reaches_the_daemon_once_per_prompt(
    pack: ModuleType, comfy: Comfy, queue: PromptQueue, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIKAZE_MM_TOKEN", "s3cret-token")  # read per request, as DaemonClient does
    ckpt = write_model(comfy.folders["checkpoints"][0] / "sd15.safetensors")
    lora_a = write_model(comfy.folders["loras"][0] / "style" / "a.safetensors")
    lora_b = write_model(comfy.folders["loras"][0] / "b.safetensors")
    vae = write_model(comfy.folders["vae"][0] / "ae.safetensors")
    deep = write_model(comfy.folders["loras"][0] / "sub" / "folder" / "deep.safetensors")
    (comfy.folders["loras"][0] / "same-as-a.safetensors").symlink_to(lora_a)
    daemon = UsageDaemon({sha(f): [str(f)] for f in (ckpt, lora_a, lora_b, vae, deep)})
    the_prompt = prompt(
        node("CheckpointLoaderSimple", ckpt_name="sd15.safetensors"),
        node("LoraLoader", model=["1", 0], clip=["1", 1], lora_name="style/a.safetensors", strength_model=1.0,
             strength_clip=1.0),
        node("LoraLoaderModelOnly", model=["2", 0], lora_name="same-as-a.safetensors", strength_model=0.5),
        node("Power Lora Loader (rgthree)", model=["3", 0],
             lora_1={"on": True, "lora": "style/a.safetensors", "strength": 1, "strengthTwo": None}),
        node("HikazeLoraPowerLoader", model=["4", 0], hikaze_payload=loras_payload(
            {"name": "A", "full_path": str(lora_a), "sha256": sha(lora_a)},
            {"name": "b"},  # a name in ComfyUI's folders, ".safetensors" added as the node adds it
            {"full_path": "/nowhere/off.safetensors", "enabled": False},
        ), lora_text="a prompt with <lora:deep:0.5> (the node finds it in its sub-folder), <lora:zero:0:0> and "
                     "<lora:b>, which the list has"),
        node("HikazeCheckpointLoader", hikaze_payload=json.dumps({"ckpt_path": str(ckpt), "sha256": sha(ckpt)})),
        node("VAELoader", vae_name="ae.safetensors"),
        node("VAELoader", vae_name="pixel_space"),  # not a file: nothing the daemon could count
        node("UNETLoader", unet_name="gone.safetensors", weight_dtype="default"),
    )

    async with serving(daemon, port):
        before = time.time()
        prompt_id = queue.run(the_prompt)
        after = time.time()
        await until(lambda: len(daemon.counted_ids) >= 5, "the first prompt's uses")
        queue.run(the_prompt, success=False)  # a failed prompt still loaded its models (or meant to)
        await until(lambda: len(daemon.counted_ids) >= 10, "the second prompt's uses")

    # The queue did what ComfyUI's does: the prompt moved from running to the history.
    assert queue.currently_running == {} and queue.history[prompt_id]["status"]["status_str"] == "success"
    first = daemon.requests[0]["body"]["uses"]
    assert sorted((u["node"], u["kind"], u["path"], u["sha256"]) for u in first) == sorted([
        ("CheckpointLoaderSimple", "checkpoints", str(ckpt), sha(ckpt)),
        ("LoraLoader", "loras", str(lora_a), sha(lora_a)),
        ("HikazeLoraPowerLoader", "loras", str(lora_b), None),
        ("VAELoader", "vae", str(vae), None),
        ("HikazeLoraPowerLoader", "loras", str(deep), None),
    ])
    for use in first:
        assert len(use["id"]) == 32 and set(use["id"]) <= HEX
        assert before <= use["at"] <= after
    assert len(daemon.counted_ids) == 10 and len(daemon.uses_received()) == 10
    assert daemon.use_count == {sha(f): 2 for f in (ckpt, lora_a, lora_b, vae, deep)}
    assert {r["authorization"] for r in daemon.requests} == {"Bearer s3cret-token"}
    reporter = [t for t in threading.enumerate() if t.name == "hikaze-usage"]
    assert reporter and all(t.daemon for t in reporter)  # ComfyUI's exit never waits for it


async def test_with_the_daemon_down_uses_wait_and_then_arrive_once_through_refusals_and_lost_answers(
    pack: ModuleType, comfy: Comfy, queue: PromptQueue, port: int
) -> None:
    ckpt = write_model(comfy.folders["checkpoints"][0] / "ckpt.safetensors")
    loras = [write_model(comfy.folders["loras"][0] / f"l{i}.safetensors") for i in range(3)]
    daemon = UsageDaemon({sha(f): [str(f)] for f in (ckpt, *loras)}, mode="unavailable")

    for lora in loras:  # the daemon does not listen at all
        started = time.perf_counter()
        queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name),
                         node("LoraLoaderModelOnly", lora_name=lora.name, strength_model=1)))
        assert time.perf_counter() - started < 0.5  # the queue never waits on the daemon
    assert len(queue.history) == 3 and queue.currently_running == {}

    async with serving(daemon, port):
        up = time.monotonic()
        await until(lambda: len(daemon.requests) >= 1, "a first attempt once the daemon listens")
        assert time.monotonic() - up < 3  # the reporter asks again about every second
        await until(lambda: len(daemon.requests) >= 2, "an attempt after the 503")
        daemon.mode = "close"
        await until(lambda: daemon.requests[-1]["mode"] == "close", "an attempt whose connection is closed")
        daemon.mode = "lose_answer"
        await until(lambda: daemon.answers, "a batch counted whose answer is lost")
        daemon.mode = "ok"
        await until(lambda: daemon.requests[-1]["mode"] == "ok", "the batch sent again")

        sent = [r["body"]["uses"] for r in daemon.requests if r["mode"] != "close"]
        assert all(len(uses) == 6 for uses in sent)  # every attempt carries every waiting use, with the same ids
        assert all({u["id"] for u in uses} == {u["id"] for u in sent[0]} for uses in sent)
        assert daemon.answers == [{"counted": 6, "repeated": 0, "unknown": 0},
                                  {"counted": 0, "repeated": 6, "unknown": 0}]
        assert daemon.use_count == {sha(ckpt): 3, **{sha(lora): 1 for lora in loras}}

        # Nothing is left waiting: the next prompt's request holds its own use alone.
        queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)))
        await until(lambda: daemon.use_count[sha(ckpt)] == 4, "the next prompt's use")
        assert len(daemon.requests[-1]["body"]["uses"]) == 1


async def test_a_batch_the_daemon_refuses_is_dropped_and_does_not_hold_up_the_next(
    pack: ModuleType, comfy: Comfy, queue: PromptQueue, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = write_model(comfy.folders["checkpoints"][0] / "ckpt.safetensors")
    daemon = UsageDaemon({sha(ckpt): [str(ckpt)]}, mode="refuse")
    caplog.set_level(logging.INFO, "hikaze.nodes")
    async with serving(daemon, port):
        queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)))
        await until(lambda: daemon.requests, "the refused request")
        await until(lambda: "the daemon refused 1 model uses (HTTP 400: uses[0].kind: refused by the test)"
                    in caplog.text, "the log line about the refusal")
        daemon.mode = "ok"
        queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)))
        await until(lambda: daemon.use_count.get(sha(ckpt)) == 1, "the next prompt's use")
    assert [len(r["body"]["uses"]) for r in daemon.requests] == [1, 1]
    assert daemon.requests[0]["body"]["uses"][0]["id"] != daemon.requests[1]["body"]["uses"][0]["id"]


async def test_batches_hold_at_most_1000_uses(pack: ModuleType, queue: PromptQueue, port: int) -> None:
    daemon = UsageDaemon({})
    many = loras_payload(*({"full_path": f"/library/loras/l{i:04d}.safetensors"} for i in range(2500)))
    async with serving(daemon, port):
        queue.run(prompt(node("HikazeLoraPowerLoader", hikaze_payload=many)))
        await until(lambda: len(daemon.counted_ids) == 2500, "every use")
    assert [len(r["body"]["uses"]) for r in daemon.requests] == [1000, 1000, 500]
    assert sum(a["unknown"] for a in daemon.answers) == 2500  # files the library does not have: dropped there


async def test_uses_beyond_the_cap_drop_the_oldest_with_a_line_when_it_starts_and_one_when_it_ends(
    pack: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    reporter_module, walk = part(pack, "usage_reporter"), part(pack, "usage_walk")
    refused: list[list[dict[str, Any]]] = []
    taken: list[list[dict[str, Any]]] = []
    daemon_up, tried = threading.Event(), threading.Event()

    def send(batch: list[dict[str, Any]]) -> tuple[int, str]:
        if not daemon_up.is_set():
            refused.append(list(batch))
            tried.set()
            return 0, "the daemon at x did not answer (refused)"
        taken.append(list(batch))
        return 200, ""

    caplog.set_level(logging.INFO, "hikaze.nodes")
    reporter = reporter_module.Reporter(send, capacity=5, retry_s=0.05)
    refs = [walk.Reference("LoraLoader", "loras", f"/library/l{i}.safetensors", walk.NAME) for i in range(8)]
    reporter.submit(time.time(), refs)
    await until(tried.is_set, "a first attempt")
    daemon_up.set()
    await until(lambda: "dropped in all" in caplog.text, "the line with the total")

    assert [u["path"] for u in refused[0]] == [f"/library/l{i}.safetensors" for i in range(3, 8)]
    assert taken == [refused[0]]  # the same uses, ids and all, once the daemon answers
    drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert drops == ["Hikaze: more than 5 model uses wait for the daemon; the oldest are dropped until it takes them",
                     "Hikaze: 3 model uses were dropped in all, the oldest, while more than 5 waited"]


async def test_a_daemon_without_the_usage_route_is_asked_again_in_minutes_not_every_second(
    pack: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    reporter_module, walk = part(pack, "usage_reporter"), part(pack, "usage_walk")
    tries: list[float] = []

    def send(batch: list[dict[str, Any]]) -> tuple[int, str]:
        tries.append(time.monotonic())
        return (404, "not found") if len(tries) < 3 else (200, "")

    caplog.set_level(logging.INFO, "hikaze.nodes")
    reporter = reporter_module.Reporter(send, retry_s=0.001, look_s=0.001, too_old_retry_s=0.3)
    reporter.submit(time.time(), [walk.Reference("LoraLoader", "loras", "/library/l.safetensors", walk.NAME)])
    await until(lambda: len(tries) == 3, "the third try, which the daemon takes")
    # An older daemon's 404 is not an outage: the next try waits the long interval, not the one-second retry.
    assert tries[1] - tries[0] >= 0.3 and tries[2] - tries[1] >= 0.3, tries
    waits = [r.getMessage() for r in caplog.records if "older than usage reports" in r.getMessage()]
    assert len(waits) == 1, waits


# -- the hook in ComfyUI -------------------------------------------------------------------------------------------
async def test_the_hook_never_raises_into_comfyui_and_keeps_task_dones_own_behaviour(
    pack: ModuleType, comfy: Comfy, queue: PromptQueue, port: int, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ckpt = write_model(comfy.folders["checkpoints"][0] / "ckpt.safetensors")
    daemon = UsageDaemon({sha(ckpt): [str(ckpt)]})
    usage, reporter_module = part(pack, "usage"), part(pack, "usage_reporter")
    caplog.set_level(logging.DEBUG, "hikaze.nodes")

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a fault in the walk")

    walk = usage.references
    monkeypatch.setattr(usage, "references", broken)
    ids = [queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name))) for _ in range(2)]
    assert set(queue.history) == set(ids) and queue.currently_running == {}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "could not be noted" in r.getMessage()]
    assert len(warnings) == 1 and "a fault in the walk" in caplog.text  # once in full, not once per prompt
    monkeypatch.setattr(usage, "references", walk)
    monkeypatch.setattr(reporter_module, "uses_of", broken)

    # ComfyUI's own failures stay its own: an unknown item raises as the unwrapped task_done does.
    with pytest.raises(KeyError):
        queue.task_done(12345, {}, None)
    # An item not shaped as expected is not ours to judge: the original runs and nothing is noted.
    queue.currently_running[7] = ("odd",)
    with pytest.raises(IndexError):
        queue.task_done(7, {}, None)

    async with serving(daemon, port):
        queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)))  # the reporter fails on it
        await until(lambda: "the models of a prompt could not be read" in caplog.text, "the reporter's failure")
        monkeypatch.setattr(reporter_module, "uses_of", part(pack, "usage_files").uses_of)
        queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)))  # and goes on with the next
        await until(lambda: daemon.use_count.get(sha(ckpt)) == 1, "the use after the failure")


async def test_installing_twice_counts_once(
    comfy: Comfy, queue: PromptQueue, port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = write_model(comfy.folders["checkpoints"][0] / "ckpt.safetensors")
    daemon = UsageDaemon({sha(ckpt): [str(ckpt)]})
    caplog.set_level(logging.INFO, "hikaze.nodes")
    first = import_pack(monkeypatch)
    second = import_pack(monkeypatch, "hikaze-model-manager-copy")  # the folder twice under custom_nodes
    assert part(first, "usage").install_usage_hook() == part(second, "usage").install_usage_hook() == "already"
    assert queue.task_done.__wrapped__.__func__ is PromptQueue.task_done  # one wrapper around ComfyUI's own
    assert caplog.text.count("reported to the daemon when a prompt ends") == 1
    async with serving(daemon, port):
        for _ in range(3):
            queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)))
        await until(lambda: daemon.use_count.get(sha(ckpt), 0) >= 3, "three uses")
        queue.run(prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)))
        await until(lambda: daemon.use_count[sha(ckpt)] >= 4, "the fourth use")
        assert daemon.use_count[sha(ckpt)] == 4 and len(daemon.uses_received()) == 4


async def test_without_task_done_an_on_prompt_handler_counts_at_queue_time(
    comfy: Comfy, port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = write_model(comfy.folders["checkpoints"][0] / "ckpt.safetensors")
    daemon = UsageDaemon({sha(ckpt): [str(ckpt)]})
    handlers = comfy.give_on_prompt_handlers()
    caplog.set_level(logging.INFO, "hikaze.nodes")
    pack = import_pack(monkeypatch)
    import_pack(monkeypatch, "hikaze-model-manager-copy")
    assert len(handlers.handlers) == 1 and "when a prompt is queued" in caplog.text
    body = {"prompt": prompt(node("CheckpointLoaderSimple", ckpt_name=ckpt.name)), "client_id": "c1"}
    async with serving(daemon, port):
        assert handlers.trigger(body) is body
        assert handlers.trigger({"no prompt": True}) == {"no prompt": True}
        await until(lambda: daemon.use_count.get(sha(ckpt)) == 1, "the use counted at queue time")
    assert part(pack, "usage").install_usage_hook() == "already"


def test_a_comfyui_without_either_hook_is_told_in_its_log(
    comfy: Comfy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hikaze.nodes")
    threads = set(threading.enumerate())
    pack = import_pack(monkeypatch)
    assert "offers no hook to see the prompts it runs" in caplog.text
    assert part(pack, "usage").install_usage_hook() == "none"
    assert set(threading.enumerate()) == threads


def test_a_server_the_hook_cannot_read_still_loads_the_nodes(
    comfy: Comfy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Unreadable:
        @property
        def task_done(self) -> Any:
            raise RuntimeError("a server shaped otherwise")

    comfy.prompt_server.prompt_queue = Unreadable()
    caplog.set_level(logging.INFO, "hikaze.nodes")
    pack = import_pack(monkeypatch)
    assert set(pack.NODE_CLASS_MAPPINGS) == {"HikazeCheckpointLoader", "HikazeLoraPowerLoader"}
    assert "the usage hook could not be installed" in caplog.text and "a server shaped otherwise" in caplog.text
