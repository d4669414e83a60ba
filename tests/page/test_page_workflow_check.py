"""The page's "Check a workflow" view in real Chromium. The daemon route (POST /api/workflows/check, contract 6 of
issue 17) is built on another branch, so these tests answer it with a Playwright route stub that returns contract-6
documents: they test the page (what it sends, how it shows the answer and the daemon's errors), not the daemon."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo
from playwright.async_api import Page, Route, expect

from browser import shot
from conftest import Daemon

SHA = "5f" * 32

ANSWER: dict[str, Any] = {
    "source": "png",
    "references": [
        {"node_id": "4", "node_type": "CheckpointLoaderSimple", "widget": "ckpt_name", "entry": None,
         "kind": "checkpoints", "name": "sdxl/juggernautXL_v9.safetensors", "sha256": None, "autov2": None,
         "status": "found", "use": "sdxl/juggernautXL_v9.safetensors",
         "path": "/models/checkpoints/sdxl/juggernautXL_v9.safetensors",
         "model": {"sha256": "ab" * 32, "name": "Juggernaut XL v9"}, "by": None, "choices": [], "choice_paths": []},
        {"node_id": "10", "node_type": "LoraLoader", "widget": "lora_name", "entry": None, "kind": "loras",
         "name": "style\\watercolor.safetensors", "sha256": None, "autov2": "5F5F5F5F5F", "status": "elsewhere",
         "use": "painting/watercolor_v2.safetensors", "path": "/models/loras/painting/watercolor_v2.safetensors",
         "model": {"sha256": SHA, "name": "Watercolor"}, "by": "autov2", "choices": [], "choice_paths": []},
        {"node_id": "5:12", "node_type": "HikazeLoraPowerLoader", "widget": "hikaze_payload", "entry": 2,
         "kind": "loras", "name": "detail.safetensors", "sha256": None, "autov2": None, "status": "elsewhere",
         "use": "a/detail.safetensors", "path": "/models/loras/a/detail.safetensors", "model": None, "by": "name",
         "choices": ["a/detail.safetensors", "b/detail.safetensors"],
         "choice_paths": ["/models/loras/a/detail.safetensors", "/models/loras/b/detail.safetensors"]},
        {"node_id": "7", "node_type": "Power Lora Loader (rgthree)", "widget": "lora_1", "entry": None,
         "kind": "loras", "name": "gone/人物.safetensors", "sha256": "9c" * 32, "autov2": None, "status": "missing",
         "use": None, "path": None, "model": None, "by": None, "choices": [], "choice_paths": []},
    ],
    "counts": {"found": 1, "elsewhere": 2, "missing": 1},
}


def png_with_workflow() -> bytes:
    info = PngInfo()
    info.add_text("workflow", json.dumps({"nodes": [{"id": 10, "type": "LoraLoader"}]}))
    info.add_text("prompt", json.dumps({"10": {"class_type": "LoraLoader", "inputs": {}}}))
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, "PNG", pnginfo=info)
    return out.getvalue()


class Stub:
    """Answers the check route with a contract-6 document (or an error) and keeps what the page sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.status, self.body = 200, ANSWER

    async def handle(self, route: Route) -> None:
        request = route.request
        self.sent.append((request.headers.get("content-type", ""), request.post_data_buffer or b""))
        await route.fulfill(status=self.status, content_type="application/json", body=json.dumps(self.body))


async def open_check(page: Page, d: Daemon) -> Stub:
    stub = Stub()
    await page.route("**/api/workflows/check*", stub.handle)
    await page.goto(d.url + "/")
    await page.get_by_test_id("workflow-check-toggle").click()
    await expect(page).to_have_url(re.compile(r"mode=check"))
    await expect(page.get_by_test_id("workflow-check-view")).to_be_visible()
    await expect(page.get_by_test_id("type-tabs")).to_have_count(0)
    return stub


async def drop(page: Page, name: str, data: bytes, mime: str) -> None:
    """A file dropped on the drop zone as the browser delivers one dragged from the desktop."""
    transfer = await page.evaluate_handle(
        """([name, bytes, mime]) => {
             const t = new DataTransfer();
             t.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
             return t;
           }""",
        [name, list(data), mime],
    )
    zone = page.get_by_test_id("workflow-drop")
    await zone.dispatch_event("dragover", {"dataTransfer": transfer})
    await zone.dispatch_event("drop", {"dataTransfer": transfer})


async def no_sideways_scroll(page: Page) -> None:
    view = page.get_by_test_id("workflow-check-view")
    widths = await view.evaluate("v => [v.scrollWidth, v.clientWidth, document.documentElement.scrollWidth]")
    assert widths[0] <= widths[1] and widths[2] <= await page.evaluate("innerWidth"), widths


async def test_a_dropped_png_is_sent_as_its_bytes_and_the_answer_is_grouped_with_the_names_to_use(
    daemon: Daemon, page: Page
) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    stub = await open_check(page, daemon)
    image = png_with_workflow()
    await drop(page, "render.png", image, "image/png")

    await expect(page.get_by_test_id("workflow-summary")).to_have_text(
        "render.png, read as a PNG image: 1 found, 2 elsewhere, 1 missing")
    assert stub.sent == [("image/png", image)]
    groups = page.get_by_test_id("workflow-group")
    assert await groups.evaluate_all("gs => gs.map(g => g.dataset.status)") == ["missing", "elsewhere", "found"]
    assert await page.get_by_test_id("workflow-group-count").all_inner_texts() == ["1", "2", "1"]

    missing = groups.nth(0).get_by_test_id("workflow-ref")
    await expect(missing).to_contain_text("Power Lora Loader (rgthree)")
    await expect(missing).to_contain_text("#7 · lora_1")
    await expect(missing.get_by_test_id("workflow-ref-name")).to_have_text("gone/人物.safetensors")
    await expect(missing.get_by_test_id("workflow-ref-sha256")).to_have_text("9c" * 32)

    elsewhere = groups.nth(1).get_by_test_id("workflow-ref")
    await expect(elsewhere).to_have_count(2)
    by_hash, by_name = elsewhere.nth(0), elsewhere.nth(1)
    await expect(by_hash.get_by_test_id("workflow-ref-autov2")).to_have_text("5F5F5F5F5F")
    await expect(by_hash.get_by_test_id("workflow-use")).to_have_text(re.compile("painting/watercolor_v2.safetensors"))
    await expect(by_hash.get_by_test_id("workflow-by")).to_have_text("same content (AutoV2 hash)")
    await expect(by_name).to_contain_text("#5:12 · hikaze_payload #2")
    await expect(by_name.get_by_test_id("workflow-use")).to_have_count(2)
    await by_name.get_by_role("button", name="Copy the name to use here: b/detail.safetensors").click()
    await expect(page.get_by_text("Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == "b/detail.safetensors"

    found = groups.nth(2).get_by_test_id("workflow-ref")
    await expect(found.get_by_test_id("workflow-ref-path")).to_have_text(
        "/models/checkpoints/sdxl/juggernautXL_v9.safetensors")
    await expect(found).to_contain_text("Juggernaut XL v9")
    await shot(page, "workflow-check-1440")

    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(page.get_by_test_id("workflow-check-toggle")).to_be_visible()
    await no_sideways_scroll(page)
    await shot(page, "workflow-check-390")


async def test_a_picked_json_and_pasted_json_go_as_json_and_the_daemons_error_is_shown_as_worded(
    daemon: Daemon, page: Page
) -> None:
    stub = await open_check(page, daemon)
    workflow = json.dumps({"nodes": [], "links": []}).encode()
    stub.status, stub.body = 400, {"error": "the workflow has no nodes to check: send a ComfyUI workflow"}
    await page.get_by_test_id("workflow-file").set_input_files(
        files=[{"name": "empty.json", "mimeType": "application/json", "buffer": workflow}])
    error = page.get_by_test_id("workflow-error")
    await expect(error).to_have_text(
        "The check failed: the workflow has no nodes to check: send a ComfyUI workflow (400)")
    assert stub.sent == [("application/json", workflow)]

    stub.status, stub.body = 200, {**ANSWER, "source": "api"}
    await page.get_by_text("Or paste the workflow's JSON").click()
    prompt = '{"10": {"class_type": "LoraLoader", "inputs": {"lora_name": "x.safetensors"}}}'
    await page.get_by_test_id("workflow-paste").fill(prompt)
    await page.get_by_test_id("workflow-paste-check").click()
    await expect(page.get_by_test_id("workflow-summary")).to_contain_text("the pasted workflow, read as an API prompt")
    await expect(error).to_have_count(0)
    assert stub.sent[1] == ("application/json", prompt.encode())


async def test_a_file_that_is_no_workflow_is_refused_without_asking_the_daemon(daemon: Daemon, page: Page) -> None:
    stub = await open_check(page, daemon)
    await drop(page, "photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg")
    await expect(page.get_by_test_id("workflow-error")).to_have_text(
        "photo.jpg is not a workflow: drop a .json, .png or .webp file.")
    assert stub.sent == []

    await page.get_by_test_id("language").select_option("zh-CN")
    await expect(page.get_by_test_id("workflow-check-view").get_by_role("heading")).to_have_text("检查工作流")
