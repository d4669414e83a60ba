"""A ComfyUI's node pack tells the daemon which folders that ComfyUI loads models from; the daemon compares them
with the folders it watches, per type, and says which ones it does not watch (in /api/status)."""

from __future__ import annotations

from pathlib import Path

from conftest import Daemon

ORIGIN = "http://127.0.0.1:8188"


async def test_the_folders_comfyui_loads_from_that_the_daemon_does_not_watch_are_listed(
    daemon_factory, tmp_path: Path
):
    models, shared = tmp_path / "ComfyUI" / "models", tmp_path / "shared"
    for folder in ("checkpoints", "loras", "clip", "t2i_adapter", "loras/.hidden"):
        (models / folder).mkdir(parents=True)
    for folder in ("sd", "lora", "linked-target"):
        (shared / folder).mkdir(parents=True)
    (tmp_path / "nodes").mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(models / "loras")  # ComfyUI may name a watched folder through a link
    d: Daemon = await daemon_factory("--models-root", str(models), "--model-folder", f"vae={shared / 'lora'}")
    folders = {
        "checkpoints": [str(models / "checkpoints"), str(shared / "sd")],
        "loras": [str(models / "loras"), str(shared / "lora"), str(alias), str(models / "loras" / ".hidden"),
                  str(tmp_path / "not-there")],
        "text_encoders": [str(models / "clip")],
        "controlnet": [str(models / "t2i_adapter")],
        "custom_nodes": [str(tmp_path / "nodes")],
        "ipadapter": [str(shared / "linked-target")],  # a custom node's folder
    }

    peer = await d.call("POST", "/api/comfyui/announce", {"origin": ORIGIN, "folders": folders})

    expected = {
        "checkpoints": [str(shared / "sd")],
        # watched, but as vae: ComfyUI's LoRAs would be filed under another type
        "loras": [str(shared / "lora"), str(models / "loras" / ".hidden")],
        "ipadapter": [str(shared / "linked-target")],
    }
    assert peer["missing"] == expected
    assert peer["folders"] == folders
    (entry,) = (await d.get("/api/status"))["comfyui"]
    assert entry["origin"] == ORIGIN and entry["missing"] == expected


async def test_a_daemon_watching_every_folder_reports_nothing_missing(daemon_factory, tmp_path: Path):
    shared = tmp_path / "shared"
    for folder in ("sd", "lora"):
        (shared / folder).mkdir(parents=True)
    d: Daemon = await daemon_factory("--model-folder", f"checkpoints={shared / 'sd'}",
                                     "--model-folder", f"loras={shared / 'lora'}")
    folders = {"checkpoints": [str(shared / "sd")], "loras": [str(shared / "lora") + "/"]}
    peer = await d.call("POST", "/api/comfyui/announce", {"origin": ORIGIN, "folders": folders})
    assert peer["missing"] == {}
    assert (await d.get("/api/status"))["comfyui"][0]["missing"] == {}


async def test_the_page_names_the_folders_comfyui_loads_from_that_the_daemon_does_not_watch(
    daemon_factory, tmp_path: Path, page
):
    from playwright.async_api import expect

    models, shared = tmp_path / "ComfyUI" / "models", tmp_path / "shared" / "Lora"
    (models / "loras").mkdir(parents=True)
    shared.mkdir(parents=True)
    d: Daemon = await daemon_factory("--models-root", str(models))
    await page.goto(d.url + "/")
    notice = page.get_by_test_id("comfy-folders-notice")
    await expect(page.get_by_test_id("type-tabs")).to_be_visible()
    await expect(notice).to_have_count(0)  # no ComfyUI has said anything yet

    folders = {"loras": [str(models / "loras"), str(shared)]}
    for origin in (ORIGIN, "http://localhost:8188"):  # one ComfyUI, two of its loopback origins
        await d.call("POST", "/api/comfyui/announce", {"origin": origin, "folders": folders})
    await page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")

    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text(f"ComfyUI at {ORIGIN}, http://localhost:8188 loads models from folders")
    await expect(notice.locator("li")).to_have_count(1)
    await expect(notice.locator("li .type")).to_have_text("loras")
    await expect(notice.locator("li code")).to_have_text([str(shared)])  # the watched folder is not named
    await notice.get_by_role("button").click()
    await expect(notice).to_have_count(0)
