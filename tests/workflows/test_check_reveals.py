"""What a workflow check can tell about the machine: only model files are ever `found`, and the filesystem's root
or a pseudo filesystem cannot be announced as a model folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from check_daemon import ROUTE, with_a_lora
from workflow_fixtures import api_node

from conftest import Daemon, write_model
from hikaze_mm.pipeline.mounts import pseudo_devices


@pytest.fixture
async def lora_daemon(daemon: Daemon, models: Path) -> Daemon:
    return await with_a_lora(daemon, models)


async def test_only_model_files_are_found_below_an_announced_folder(lora_daemon: Daemon, tmp_path: Path):
    folder = tmp_path / "comfy" / "loras"
    write_model(folder / "real.safetensors")
    (folder / "notes.txt").write_text("not a model")
    (folder / "bare").write_text("no extension")
    origin = "http://127.0.0.1:8188"
    await lora_daemon.call("POST", "/api/comfyui/announce", {"origin": origin, "folders": {"loras": [str(folder)]}})
    prompt = {str(n): api_node("LoraLoader", {"lora_name": name})
              for n, name in enumerate(["real.safetensors", "real", "notes.txt", "bare", "../loras/notes.txt"])}
    answer = await lora_daemon.call("POST", f"{ROUTE}?comfyui={origin}", prompt)
    assert [(r["name"], r["status"], r["path"]) for r in answer["references"]] == [
        ("real.safetensors", "found", str(folder / "real.safetensors")),
        ("real", "found", str(folder / "real.safetensors")),
        ("notes.txt", "missing", None), ("bare", "missing", None), ("../loras/notes.txt", "missing", None)]


def pseudo_folder() -> str | None:
    devices = pseudo_devices()
    return next((p for p in ("/proc", "/sys", "/dev/pts") if os.path.isdir(p) and os.stat(p).st_dev in devices),
                None)


async def test_the_root_and_pseudo_filesystems_are_refused_as_model_folders(lora_daemon: Daemon, tmp_path: Path):
    origin = "http://127.0.0.1:8188"
    pseudo = pseudo_folder()
    assert pseudo is not None, "no pseudo filesystem mounted to try"
    for folder in ("/", "//", "/etc/..", pseudo, os.path.join(pseudo, "self")):
        status, answer = await lora_daemon.request("POST", "/api/comfyui/announce", json={
            "origin": origin, "folders": {"checkpoints": [str(tmp_path)], "loras": [folder]}})
        assert status == 400 and repr(folder) in answer["error"] and "`folders.loras`" in answer["error"], answer
    assert (await lora_daemon.get("/api/status"))["comfyui"] == []
    status, answer = await lora_daemon.request("POST", f"{ROUTE}?comfyui={origin}",
                                               json={"1": api_node("LoraLoader", {"lora_name": "etc/passwd"})})
    assert status == 400 and "has announced" in answer["error"]
