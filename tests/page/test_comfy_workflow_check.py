"""The ComfyUI extension's "Check this workflow's models" in real Chromium, with the built bundle.

A small aiohttp app plays ComfyUI: a stub `/scripts/app.js` whose graph holds a LoraLoader, an rgthree Power Lora
Loader whose first row was removed (its rows are lora_2 and lora_3), a Hikaze LoRA loader inside a subgraph with a
payload and a LoRA text, and a LoRA Manager list, and the node pack's `/hikaze/workflows/check` route answered
by a stub with contract-6 documents (the daemon's route is built on another branch; tests/nodes checks that the
pack's route passes the check on). These tests check the extension: what it sends, the dialog, and the rewrite.
`HIKAZE_MM_EXT_DIST` names a folder the extension was built into (`HIKAZE_EXT_OUT`), else web/comfyui is used.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from browser import EXTENSION_BUNDLE as BUNDLE
from browser import shot
from conftest import free_port

LORA_TEXT = "masterpiece, <lora:detail:0.8>, ink wash <lora:style:0.5>"
PAYLOAD = {"version": 2, "loras": [
    {"name": "Detail", "full_path": "/old/detail.safetensors", "sha256": "", "strength_model": 0.8,
     "strength_clip": 0.6, "enabled": True},
]}

APP_JS = """
function makeNode(id, type, widgets, subgraph) {
  return { id, type, comfyClass: type, subgraph, changes: [],
    widgets: Object.entries(widgets).map(([name, value]) => ({ name, value, callback() {} })),
    onWidgetChanged(name) { this.changes.push(name); } };
}
function makeGraph(nodes) {
  return { nodes, getNodeById: (id) => nodes.find((n) => n.id === id) ?? null };
}
const inner = makeGraph([
  makeNode(12, "HikazeLoraPowerLoader", { hikaze_payload: PAYLOAD_TEXT, lora_text: LORA_TEXT }),
]);
const root = makeGraph([
  makeNode(3, "LoraLoader", { lora_name: "style.safetensors", strength_model: 1, strength_clip: 1 }),
  makeNode(4, "Power Lora Loader (rgthree)", { header: {},
    lora_2: { on: true, lora: "gone.safetensors", strength: 0.5 }, lora_3: { on: true, lora: "kept.safetensors" } }),
  makeNode(5, "a1b2-subgraph", {}, inner),
  makeNode(8, "Lora Loader (LoraManager)", { loras: [{ name: "old", strength: 1, active: true }] }),
]);
export const app = {
  extensions: [], dirty: 0, tracked: [],
  registerExtension(extension) { this.extensions.push(extension); },
  graph: Object.assign(root, {
    serialize: () => ({ nodes: root.nodes.map((n) => ({ id: n.id, type: n.type })), links: [],
                        definitions: { subgraphs: [{ id: "a1b2-subgraph", nodes: [{ id: 12 }] }] } }),
    setDirtyCanvas() { app.dirty += 1; },
  }),
  extensionManager: {
    setting: { get: (id) => (id === "Hikaze.DaemonURL" ? "http://127.0.0.1:1" : undefined) },
    workflow: { activeWorkflow: { changeTracker: {
      beforeChange() { app.tracked.push("before"); }, afterChange() { app.tracked.push("after"); } } } },
  },
};
"""

PAGE = """<!doctype html><html><head><title>fake ComfyUI</title></head><body style="background:#202020">
<script type="module">
  import { app } from "/scripts/app.js";
  await import("/extensions/hikaze/hikaze-model-manager.js");
  window.app = app;
  window.ext = app.extensions.find((e) => e.name === "Hikaze.ModelManager");
  window.ready = true;
</script></body></html>"""


def reference(node_id: str, widget: str, status: str, **over: Any) -> dict[str, Any]:
    return {"node_id": node_id, "node_type": "LoraLoader", "widget": widget, "entry": None, "kind": "loras",
            "name": "style.safetensors", "sha256": None, "autov2": None, "status": status, "use": None,
            "path": None, "model": None, "by": None, "choices": [], "choice_paths": [], **over}


ANSWER = {
    "source": "ui",
    "references": [
        reference("3", "lora_name", "elsewhere", use="a/style.safetensors", path="/m/loras/a/style.safetensors",
                  by="name", choices=["a/style.safetensors", "b/style.safetensors"],
                  choice_paths=["/m/loras/a/style.safetensors", "/m/loras/b/style.safetensors"]),
        reference("4", "lora_1", "elsewhere", node_type="Power Lora Loader (rgthree)", name="gone.safetensors",
                  sha256="ab" * 32, use="kept/renamed.safetensors", path="/m/loras/kept/renamed.safetensors",
                  by="sha256"),
        reference("5:12", "hikaze_payload", "elsewhere", node_type="HikazeLoraPowerLoader", entry=1,
                  name="Detail", use="x/detail.safetensors", path="/m/loras/x/detail.safetensors", by="name",
                  model={"sha256": "cd" * 32, "name": "Detail v2"}),
        reference("5:12", "lora_text", "elsewhere", node_type="HikazeLoraPowerLoader", entry=2, name="style",
                  use="ink/style.safetensors", path="/m/loras/ink/style.safetensors", by="name"),
        reference("8", "loras", "elsewhere", node_type="Lora Loader (LoraManager)", entry=1, name="old",
                  use="new", path="/m/loras/new.safetensors", by="name"),
        reference("6", "ckpt_name", "missing", node_type="CheckpointLoaderSimple", kind="checkpoints",
                  name="sdxl.safetensors", autov2="31E35C80FC"),
    ],
    "counts": {"found": 0, "elsewhere": 5, "missing": 1},
}


class ComfyStandIn:
    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], str, Any]] = []
        self.answer: tuple[int, dict[str, Any]] = (200, ANSWER)

    async def check(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.query), request.content_type, await request.json()))
        status, body = self.answer
        return web.json_response(body, status=status)


@pytest.fixture
async def comfy() -> AsyncIterator[Callable[[], Awaitable[tuple[str, ComfyStandIn]]]]:
    runners: list[web.AppRunner] = []

    async def start() -> tuple[str, ComfyStandIn]:
        stand_in = ComfyStandIn()
        app_js = APP_JS.replace("PAYLOAD_TEXT", json.dumps(json.dumps(PAYLOAD, indent=2))).replace(
            "LORA_TEXT", json.dumps(LORA_TEXT))

        async def page(_: web.Request) -> web.Response:
            return web.Response(text=PAGE, content_type="text/html")

        async def script(_: web.Request) -> web.Response:
            return web.Response(text=app_js, content_type="text/javascript")

        async def bundle(_: web.Request) -> web.Response:
            return web.Response(body=BUNDLE.read_bytes(), content_type="text/javascript")

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/scripts/app.js", script)
        app.router.add_get("/extensions/hikaze/hikaze-model-manager.js", bundle)
        app.router.add_post("/hikaze/workflows/check", stand_in.check)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}", stand_in

    yield start
    for runner in runners:
        await runner.cleanup()


async def run_command(page: Page, url: str) -> None:
    await page.goto(url + "/")
    await page.wait_for_function("() => window.ready === true")
    # The command is found by its id and label, as in ComfyUI's command palette and Extensions menu.
    found = await page.evaluate("""() => {
        const c = ext.commands.find((c) => c.id === "Hikaze.CheckWorkflowModels");
        const menu = ext.menuCommands.some((m) => m.commands.includes("Hikaze.CheckWorkflowModels"));
        const canvas = ext.getCanvasMenuItems({}).filter(Boolean).map((i) => i.content);
        c.function();
        return [c.label, menu, canvas];
    }""")
    assert found == ["Check this workflow's models", True, ["Check this workflow's models"]]


async def widget(page: Page, path: str, name: str) -> Any:
    return await page.evaluate(
        """([path, name]) => {
            let node = null, graph = app.graph;
            for (const id of path) { node = graph.getNodeById(id); graph = node.subgraph; }
            return node.widgets.find((w) => w.name === name).value;
        }""",
        [path, name],
    )


async def test_the_command_lists_the_check_and_uses_the_names_found_here_in_one_undo_step(
    page: Page, comfy: Callable[[], Awaitable[tuple[str, ComfyStandIn]]]
) -> None:
    url, stand_in = await comfy()
    await run_command(page, url)
    dialog = page.get_by_test_id("hikaze-check-modal")
    await expect(dialog.get_by_test_id("hikaze-check-summary")).to_have_text("0 found, 5 elsewhere, 1 missing")
    assert stand_in.seen == [({"comfyui": url}, "application/json", {"workflow": {
        "nodes": [{"id": 3, "type": "LoraLoader"}, {"id": 4, "type": "Power Lora Loader (rgthree)"},
                  {"id": 5, "type": "a1b2-subgraph"}, {"id": 8, "type": "Lora Loader (LoraManager)"}],
        "links": [], "definitions": {"subgraphs": [{"id": "a1b2-subgraph", "nodes": [{"id": 12}]}]}}})]
    groups = dialog.get_by_test_id("hikaze-check-group")
    assert await groups.evaluate_all("gs => gs.map(g => g.dataset.status)") == ["missing", "elsewhere"]
    await expect(groups.first).to_contain_text("31E35C80FC")
    await expect(groups.nth(1).get_by_test_id("hikaze-check-ref")).to_have_count(5)
    await dialog.get_by_test_id("hikaze-check-choice").select_option("b/style.safetensors")
    await shot(page, "comfy-workflow-check")

    await dialog.get_by_test_id("hikaze-check-apply").click()
    await expect(dialog.get_by_test_id("hikaze-check-report")).to_have_text(
        "Changed 4 widgets; left 1 entry as it was:\n• #8 · loras #1, old: entries of Lora Loader (LoraManager)'s"
        " loras are not rewritten here; pick new in the node.")
    await expect(dialog.get_by_test_id("hikaze-check-apply")).to_be_disabled()
    assert await widget(page, [3], "lora_name") == "b/style.safetensors"
    # The check's first row is the node's first LoRA row, whatever rgthree named its widget.
    assert await widget(page, [4], "lora_2") == {"on": True, "lora": "kept/renamed.safetensors", "strength": 0.5}
    assert await widget(page, [4], "lora_3") == {"on": True, "lora": "kept.safetensors"}
    assert await widget(page, [5, 12], "lora_text") == (
        "masterpiece, <lora:detail:0.8>, ink wash <lora:ink/style.safetensors:0.5>")
    assert await widget(page, [8], "loras") == [{"name": "old", "strength": 1, "active": True}]
    written = await widget(page, [5, 12], "hikaze_payload")
    expected = json.loads(json.dumps(PAYLOAD))
    expected["loras"][0]["full_path"] = "/m/loras/x/detail.safetensors"
    expected["loras"][0]["sha256"] = "cd" * 32
    assert written == json.dumps(expected, indent=2)
    assert await page.evaluate("() => app.tracked") == ["before", "after"]
    assert await page.evaluate("() => app.dirty") > 0

    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)


async def test_the_daemons_error_is_shown_as_worded_and_nothing_is_changed(
    page: Page, comfy: Callable[[], Awaitable[tuple[str, ComfyStandIn]]]
) -> None:
    url, stand_in = await comfy()
    stand_in.answer = (502, {"error": "the daemon at http://127.0.0.1:8789 did not answer (Connection refused)"})
    await run_command(page, url)
    dialog = page.get_by_test_id("hikaze-check-modal")
    await expect(dialog.get_by_test_id("hikaze-check-error")).to_have_text(
        "The check failed: the daemon at http://127.0.0.1:8789 did not answer (Connection refused)")
    await expect(dialog.get_by_test_id("hikaze-check-apply")).to_have_count(0)

    stand_in.answer = (200, ANSWER)
    await dialog.get_by_test_id("hikaze-check-again").click()
    await expect(dialog.get_by_test_id("hikaze-check-summary")).to_have_text("0 found, 5 elsewhere, 1 missing")
    assert await widget(page, [3], "lora_name") == "style.safetensors"
    assert await page.evaluate("() => app.tracked") == []
