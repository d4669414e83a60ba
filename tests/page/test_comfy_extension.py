"""The built ComfyUI extension (web/comfyui/hikaze-model-manager.js) in real Chromium against the real daemon.

A small aiohttp app on another loopback port plays ComfyUI: it serves a stub `/scripts/app.js`, the
`/hikaze/daemon` route, the node pack's own `/hikaze/lora/trigger-words` route (over stand-ins of ComfyUI's modules)
and the shipped bundle at `/extensions/hikaze/` (or the one `HIKAZE_MM_EXT_DIST` names), and a page that builds fake
Hikaze nodes and hands them to the extension's `nodeCreated`. The picker itself is the daemon's real page in the
modal's iframe.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import FrameLocator, Page, expect

from browser import EXTENSION_BUNDLE as BUNDLE
from browser import shot
from comfy_stubs import import_pack, install
from conftest import Daemon, free_port, write_model

APP_JS = """
export const app = {
  extensions: [], sidebarTabs: [], dirty: 0,
  registerExtension(extension) { this.extensions.push(extension); },
  graph: { setDirtyCanvas() { app.dirty += 1; } },
  extensionManager: {
    setting: { get: (id) => (id === "Hikaze.DaemonURL" ? DAEMON_URL : undefined) },
    registerSidebarTab(tab) { app.sidebarTabs.push(tab); },
  },
};
"""

PAGE = """<!doctype html><html><head><title>fake ComfyUI</title><style>
  body { background: #202020; color: #ddd; font: 13px sans-serif; display: flex; gap: 16px; align-items: flex-start; }
  .node { width: 440px; padding: 8px; background: #353535; border-radius: 8px; }
  .node pre { max-height: 220px; overflow: auto; background: #222; padding: 4px; font-size: 10px; }
</style></head><body>
<div class="node" id="loras"><b>Hikaze LoRA Power Loader</b><pre></pre></div>
<div class="node" id="checkpoint"><b>Hikaze Checkpoint Loader</b><pre></pre></div>
<div id="sidebar"></div>
<script type="module">
  import { app } from "/scripts/app.js";
  window.seen = [];
  window.addEventListener("message", (e) => window.seen.push({ origin: e.origin, data: e.data }));
  await import("/extensions/hikaze/hikaze-model-manager.js");
  const ext = app.extensions.find((e) => e.name === "Hikaze.ModelManager");
  await ext.setup();
  function makeNode(comfyClass, host, payload) {
    const pre = host.querySelector("pre");
    pre.textContent = payload;
    const payloadWidget = { name: "hikaze_payload", type: "customtext", value: payload,
      callback(value) { node.callbacks.push(value); pre.textContent = value; } };
    const node = { comfyClass, type: comfyClass, widgets: [payloadWidget], properties: {}, size: [440, 120],
      callbacks: [], changes: [],
      addDOMWidget(name, type, element, options) {
        host.append(element);
        const widget = { name, type, element, options, value: "" };
        this.widgets.push(widget);
        return widget;
      },
      onWidgetChanged(name) { this.changes.push(name); } };
    ext.nodeCreated(node);
    return node;
  }
  Object.assign(window, { app, ext });
  window.loraNode = makeNode("HikazeLoraPowerLoader", document.getElementById("loras"), LORA_PAYLOAD);
  window.checkpointNode = makeNode("HikazeCheckpointLoader", document.getElementById("checkpoint"),
                                   JSON.stringify({ ckpt_path: "", sha256: "" }));
  window.ready = true;
</script></body></html>"""

ComfyFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ComfyFactory]:
    """Starts the stand-in ComfyUI; `route` is what its `GET /hikaze/daemon` does: "up", "down" or "missing"."""
    runners: list[web.AppRunner] = []
    pack_routes = install(monkeypatch, tmp_path / "ComfyUI").routes
    import_pack(monkeypatch)

    async def start(daemon_url: str, lora_payload: dict[str, Any], route: str = "up") -> str:
        async def page(_: web.Request) -> web.Response:
            html = PAGE.replace("LORA_PAYLOAD", json.dumps(json.dumps(lora_payload)))
            return web.Response(text=html, content_type="text/html")

        async def app_js(_: web.Request) -> web.Response:
            return web.Response(text=APP_JS.replace("DAEMON_URL", json.dumps(daemon_url)),
                                content_type="text/javascript")

        async def bundle(_: web.Request) -> web.Response:
            return web.Response(body=BUNDLE.read_bytes(), content_type="text/javascript")

        async def daemon_route(_: web.Request) -> web.Response:
            if route == "missing":
                raise web.HTTPNotFound()
            return web.json_response({"url": daemon_url, "reachable": route == "up", "version": "test"})

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/scripts/app.js", app_js)
        app.router.add_get("/extensions/hikaze/hikaze-model-manager.js", bundle)
        app.router.add_get("/hikaze/daemon", daemon_route)
        monkeypatch.setenv("HIKAZE_MM_URL", daemon_url)  # where the pack's routes ask the daemon
        app.add_routes([r for r in pack_routes if r.path == "/hikaze/lora/trigger-words"])
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        # What the node pack does inside a real ComfyUI, when a daemon answers: the daemon then lets this origin
        # frame the picker.
        async with aiohttp.ClientSession() as http:
            with contextlib.suppress(aiohttp.ClientConnectionError):
                await http.post(f"{daemon_url}/api/comfyui/announce", json={"origin": f"http://127.0.0.1:{port}"})
        return f"http://127.0.0.1:{port}/"

    yield start
    for runner in runners:
        await runner.cleanup()


async def open_comfy(page: Page, url: str) -> None:
    await page.goto(url)
    await page.wait_for_function("() => window.ready === true")


async def payload(page: Page, node: str) -> str:
    return await page.evaluate(f"() => {node}.widgets[0].value")


async def loras(page: Page) -> list[dict[str, Any]]:
    return json.loads(await payload(page, "loraNode"))["loras"]


def picker(page: Page) -> FrameLocator:
    return page.frame_locator("[data-testid=hikaze-picker-frame]")


async def test_lora_node_picks_through_the_modal_and_row_edits_rewrite_the_payload(
    daemon: Daemon, page: Page, models: Path, comfy: ComfyFactory
) -> None:
    old_path, new_path = models / "loras" / "old.safetensors", models / "loras" / "style" / "new.safetensors"
    old, new = await daemon.import_files(write_model(old_path), write_model(new_path))
    existing = {"name": "old", "full_path": str(old_path), "sha256": old, "strength_model": 0.4,
                "strength_clip": 0.7, "enabled": False}
    await open_comfy(page, await comfy(daemon.url, {"version": 2, "loras": [existing]}))
    rows = page.get_by_test_id("hikaze-lora-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first.get_by_test_id("hikaze-lora-name")).to_have_text("old")
    await expect(rows.first.get_by_test_id("hikaze-row-toggle")).not_to_be_checked()
    await expect(rows.first.get_by_test_id("hikaze-strength-model")).to_have_value("0.4")
    await expect(rows.first.get_by_test_id("hikaze-strength-clip")).to_have_value("0.7")
    await expect(page.get_by_test_id("hikaze-daemon-status").first).to_be_hidden()

    await page.get_by_test_id("hikaze-add-loras").click()
    frame = picker(page)
    await expect(frame.get_by_test_id("picker-item")).to_have_count(1)
    await frame.locator(f'[data-testid="model-card"][data-sha="{new}"]').click()
    await expect(frame.get_by_test_id("picker-item")).to_have_count(2)
    await shot(page, "comfy-picker-modal")
    await frame.get_by_test_id("picker-confirm").click()
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_have_count(0)

    added = {"name": "new", "full_path": str(new_path), "sha256": new, "strength_model": 1, "strength_clip": 1,
             "enabled": True}
    assert await payload(page, "loraNode") == json.dumps({"version": 2, "loras": [existing, added]}, indent=2)
    await expect(rows).to_have_count(2)
    await expect(rows.nth(1).get_by_test_id("hikaze-lora-name")).to_have_text("new")
    assert "hikaze_payload" in await page.evaluate("() => loraNode.changes")
    assert await page.evaluate("() => loraNode.callbacks.length") >= 1
    assert await page.evaluate("() => app.dirty") > 0
    await rows.nth(1).get_by_test_id("hikaze-lora-name").hover()
    await expect(page.get_by_test_id("hikaze-cover-tip")).to_contain_text(str(new_path))
    await shot(page, "comfy-lora-node")

    await rows.nth(1).get_by_test_id("hikaze-strength-model").fill("0.65")
    await rows.nth(1).get_by_test_id("hikaze-strength-model").press("Tab")
    await rows.first.get_by_test_id("hikaze-row-toggle").check()
    current = await loras(page)
    assert [e["strength_model"] for e in current] == [0.4, 0.65]
    assert [e["strength_clip"] for e in current] == [0.7, 1]
    assert [e["enabled"] for e in current] == [True, True]

    await page.get_by_test_id("hikaze-toggle-all").click()
    assert [e["enabled"] for e in await loras(page)] == [False, False]
    await rows.first.get_by_test_id("hikaze-move-down").click()
    assert [e["name"] for e in await loras(page)] == ["new", "old"]

    await page.get_by_test_id("hikaze-strength-mode").select_option("Single Strength")
    assert await page.evaluate("() => loraNode.properties['Show Strengths']") == "Single Strength"
    await expect(rows.first.get_by_test_id("hikaze-strength-clip")).to_have_count(0)
    await rows.first.get_by_test_id("hikaze-strength").fill("0.5")
    await rows.first.get_by_test_id("hikaze-strength").press("Tab")
    first = (await loras(page))[0]
    assert (first["strength_model"], first["strength_clip"]) == (0.5, 0.5)

    # The symbol buttons say what they do, and to which LoRA.
    await expect(rows.nth(1).get_by_role("button", name="Move old up")).to_be_enabled()
    await expect(rows.nth(1).get_by_role("button", name="Move old down")).to_be_disabled()
    await expect(rows.nth(1).get_by_role("button", name="Remove old from the list")).to_be_enabled()
    await rows.nth(1).get_by_test_id("hikaze-remove").click()
    await expect(rows).to_have_count(1)
    assert [e["name"] for e in await loras(page)] == ["new"]


async def test_hand_edits_and_loaded_workflows_redraw_the_list_and_broken_text_is_left_alone(
    daemon: Daemon, page: Page, comfy: ComfyFactory
) -> None:
    await open_comfy(page, await comfy(daemon.url, {"version": 2, "loras": []}))
    rows = page.get_by_test_id("hikaze-lora-row")
    await expect(rows).to_have_count(0)
    await expect(page.get_by_test_id("hikaze-lora-list")).to_contain_text("No LoRAs yet")

    broken = '{"loras": [{"name": "x", "strength_model": "lots"}]}'
    await page.evaluate("t => { const w = loraNode.widgets[0]; w.value = t; w.callback(t); }", broken)
    await expect(page.get_by_test_id("hikaze-payload-error").first).to_contain_text("strength_model is not a number")
    await expect(page.get_by_test_id("hikaze-add-loras")).to_be_disabled()
    assert await payload(page, "loraNode") == broken

    # rgthree rows typed by hand are read too.
    typed = json.dumps([{"on": True, "lora": "styles/ink.safetensors", "strength": 0.8}])
    await page.evaluate("t => { const w = loraNode.widgets[0]; w.value = t; w.callback(t); }", typed)
    await expect(page.get_by_test_id("hikaze-payload-error").first).to_be_hidden()
    await expect(rows).to_have_count(1)
    await expect(rows.first.get_by_test_id("hikaze-lora-name")).to_have_text("ink")
    assert await payload(page, "loraNode") == typed

    # A workflow load sets the value without a callback; ComfyUI then calls loadedGraphNode.
    loaded = {"version": 2, "loras": [
        {"name": f"l{i}", "full_path": f"/m/l{i}.safetensors", "sha256": "", "strength_model": 1,
         "strength_clip": 1, "enabled": True} for i in range(3)]}
    await page.evaluate("t => { loraNode.widgets[0].value = t; ext.loadedGraphNode(loraNode); }", json.dumps(loaded))
    await expect(rows).to_have_count(3)


async def test_checkpoint_pick_ignores_other_origins_and_frames(
    daemon: Daemon, page: Page, models: Path, comfy: ComfyFactory
) -> None:
    ckpt_path = models / "checkpoints" / "base.safetensors"
    (ckpt,) = await daemon.import_files(write_model(ckpt_path))
    comfy_url = await comfy(daemon.url, {"loras": []})
    await open_comfy(page, comfy_url)
    empty = await payload(page, "checkpointNode")
    await expect(page.get_by_test_id("hikaze-checkpoint-name")).to_have_text("(no checkpoint picked)")

    await page.get_by_test_id("hikaze-pick-checkpoint").click()
    frame = picker(page)
    await expect(frame.get_by_test_id("picker-confirm")).to_be_visible()
    forged = {"type": "hikaze-pick", "result": {"ckpt_path": "/evil.safetensors", "sha256": "", "name": "evil"}}
    await page.evaluate("m => window.postMessage(m, '*')", forged)
    # The daemon's own page in another frame (above the modal): the right origin, but not the modal's frame.
    await page.evaluate(
        "src => { const f = document.createElement('iframe'); f.id = 'rogue'; f.src = src;"
        " f.style.cssText = 'position:fixed;left:0;top:0;z-index:20000;width:900px;height:500px';"
        " document.body.append(f); }",
        f"{daemon.url}/?pick=checkpoint&origin={comfy_url.rstrip('/')}",
    )
    rogue = page.frame_locator("#rogue")
    await rogue.locator(f'[data-testid="model-card"][data-sha="{ckpt}"]').click()
    await rogue.get_by_test_id("picker-confirm").click()
    await page.wait_for_function("() => window.seen.length >= 2")
    assert [m["origin"] for m in await page.evaluate("() => window.seen")] == [comfy_url.rstrip("/"), daemon.url]
    assert await payload(page, "checkpointNode") == empty
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_be_visible()
    await page.evaluate("() => document.getElementById('rogue').remove()")

    await frame.locator(f'[data-testid="model-card"][data-sha="{ckpt}"]').click()
    await frame.get_by_test_id("picker-confirm").click()
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_have_count(0)
    picked = {"ckpt_path": str(ckpt_path), "sha256": ckpt, "name": "base"}
    assert await payload(page, "checkpointNode") == json.dumps(picked, indent=2)
    await expect(page.get_by_test_id("hikaze-checkpoint-name")).to_have_text("base")
    assert await page.evaluate("() => checkpointNode.changes") == ["hikaze_payload"]

    # Esc, the ✕ and the picker's Cancel all close without touching the payload.
    await page.get_by_test_id("hikaze-pick-checkpoint").click()
    await expect(picker(page).get_by_test_id("picker-cancel")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_have_count(0)
    await expect(page.get_by_test_id("hikaze-pick-checkpoint")).to_be_focused()  # focus is back where it was
    await page.get_by_test_id("hikaze-pick-checkpoint").click()
    await expect(page.get_by_role("button", name="Close without picking")).to_be_visible()
    await page.get_by_test_id("hikaze-picker-close").click()
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_have_count(0)
    await page.get_by_test_id("hikaze-pick-checkpoint").click()
    await picker(page).get_by_test_id("picker-cancel").click()
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_have_count(0)
    assert await payload(page, "checkpointNode") == json.dumps(picked, indent=2)


async def test_an_unreachable_daemon_is_said_in_the_node_and_the_text_still_works(
    page: Page, comfy: ComfyFactory
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    await open_comfy(page, await comfy(dead, {"loras": []}, route="down"))
    notice = page.get_by_test_id("hikaze-daemon-status")
    await expect(notice.first).to_be_visible()
    await expect(notice.first).to_contain_text(f"{dead} is not reachable")
    await page.get_by_test_id("hikaze-add-loras").click()
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_have_count(0)
    typed = json.dumps({"loras": [{"name": "kept", "full_path": "/m/kept.safetensors"}]})
    await page.evaluate("t => { const w = loraNode.widgets[0]; w.value = t; w.callback(t); }", typed)
    await expect(page.get_by_test_id("hikaze-lora-row")).to_have_count(1)
    await page.get_by_test_id("hikaze-row-toggle").uncheck()
    assert (await loras(page))[0]["enabled"] is False


async def test_without_the_comfy_route_the_browser_asks_the_daemon_and_the_sidebar_says_so(
    daemon: Daemon, page: Page, comfy: ComfyFactory
) -> None:
    await open_comfy(page, await comfy(daemon.url, {"loras": []}, route="missing"))
    await page.evaluate("() => app.sidebarTabs[0].render(document.getElementById('sidebar'))")
    await expect(page.locator("#sidebar")).to_contain_text(f"{daemon.url}: running")
    await expect(page.get_by_test_id("hikaze-daemon-status").first).to_be_hidden()
    assert await page.evaluate("() => ext.commands.map(c => c.label)") == ["Hikaze Model Manager",
                                                                           "Check this workflow's models"]


async def test_after_an_undo_the_rebuilt_nodes_panel_replaces_the_one_still_shown(
    daemon: Daemon, page: Page, comfy: ComfyFactory
) -> None:
    entry = {"name": "Detail Tweaker", "full_path": "/m/loras/add-detail.safetensors", "sha256": "",
             "strength_model": 1, "strength_clip": 1, "enabled": True}
    await open_comfy(page, await comfy(daemon.url, {"version": 2, "loras": [entry]}))
    await expect(page.get_by_test_id("hikaze-lora-name")).to_have_text("Detail Tweaker")  # the name, not the file
    # Nodes 2.0 finds a node's DOM widget by graph, node id and widget name, and keeps the element it mounted when
    # an undo rebuilds the node with the same id: the rebuilt node's own panel is never put on screen.
    await page.evaluate("""(undone) => {
        const graph = { id: "graph-1", nodes: new Map(), getNodeById(id) { return this.nodes.get(id); } };
        Object.assign(loraNode, { id: 7, graph });
        graph.nodes.set(7, loraNode);
        ext.loadedGraphNode(loraNode);
        const box = document.createElement("textarea");
        const widget = { name: "hikaze_payload", type: "customtext", value: undone, element: box,
                         get inputEl() { window.inputElRead = true; return box; } };
        const rebuilt = { comfyClass: "HikazeLoraPowerLoader", type: "HikazeLoraPowerLoader", widgets: [widget],
                          properties: {}, size: [440, 120], id: 7, graph,
                          addDOMWidget(name, type, element, options) {
                            const w = { name, type, element, options, value: "" };
                            this.widgets.push(w);
                            return w;
                          } };
        graph.nodes.set(7, rebuilt);
        loraNode.onRemoved?.();
        ext.nodeCreated(rebuilt);
        ext.loadedGraphNode(rebuilt);
        window.rebuilt = rebuilt;
    }""", json.dumps({"version": 2, "loras": [{**entry, "enabled": False}]}))

    toggle = page.get_by_test_id("hikaze-row-toggle")
    await expect(toggle).to_have_count(1)
    await expect(toggle).not_to_be_checked()  # what the undo restored, not what the old node held
    await toggle.check()
    assert json.loads(await payload(page, "rebuilt"))["loras"][0]["enabled"] is True
    assert json.loads(await payload(page, "loraNode"))["loras"][0]["enabled"] is True  # untouched since
    assert await page.evaluate("() => rebuilt.widgets.at(-1).element.isConnected") is True
    assert await page.evaluate("() => window.inputElRead === undefined")  # `element` is read, not `inputEl`


async def test_a_rows_trigger_words_are_toggles_kept_in_the_payload(
    daemon: Daemon, page: Page, models: Path, comfy: ComfyFactory
) -> None:
    hero_path, ink_path = models / "loras" / "hero.safetensors", models / "loras" / "ink.safetensors"
    hero, ink = await daemon.import_files(write_model(hero_path), write_model(ink_path))
    await daemon.call("PATCH", f"/api/models/{hero}", {"meta_json": {"trigger_words": ["hero", "red cape", "mask"]}})
    await daemon.call("PATCH", f"/api/models/{ink}", {"meta_json": {"trigger_words": ["ink"]}})
    entry = {"name": "Hero", "full_path": str(hero_path), "sha256": hero, "strength_model": 1, "strength_clip": 1,
             "enabled": True}
    second = {"name": "ink", "full_path": str(ink_path), "sha256": ink, "strength_model": 0.5, "strength_clip": 0.5,
              "enabled": True}
    await open_comfy(page, await comfy(daemon.url, {"version": 2, "loras": [entry, second]}))
    lines = page.get_by_test_id("hikaze-trigger-words")
    words = lines.first.get_by_test_id("hikaze-trigger-word")
    await expect(words).to_have_text(["hero", "red cape", "mask"])
    await expect(lines.nth(1).get_by_test_id("hikaze-trigger-word")).to_have_text(["ink"])
    for i in range(3):
        await expect(words.nth(i).get_by_role("checkbox")).to_be_checked()
    untouched = await payload(page, "loraNode")

    await words.nth(1).get_by_role("checkbox").uncheck()
    await words.nth(0).get_by_role("checkbox").uncheck()
    assert (await loras(page))[0]["trigger_words"] == ["mask"]
    assert "trigger_words" not in (await loras(page))[1]
    await expect(words.nth(1).get_by_role("checkbox")).not_to_be_checked()
    assert "hikaze_payload" in await page.evaluate("() => loraNode.changes")
    await shot(page, "comfy-lora-trigger-words")

    # Saved with the workflow and loaded again (a reload, an undo): the toggles show what the payload holds.
    saved = await payload(page, "loraNode")
    await page.evaluate("t => { loraNode.widgets[0].value = t; ext.loadedGraphNode(loraNode); }", untouched)
    await expect(words.nth(0).get_by_role("checkbox")).to_be_checked()
    await page.evaluate("t => { loraNode.widgets[0].value = t; ext.loadedGraphNode(loraNode); }", saved)
    await expect(words.nth(0).get_by_role("checkbox")).not_to_be_checked()
    await expect(words.nth(2).get_by_role("checkbox")).to_be_checked()

    # Ticking every word again takes the list away: the node outputs all of the LoRA's words, as before.
    await words.nth(0).get_by_role("checkbox").check()
    await words.nth(1).get_by_role("checkbox").check()
    assert json.loads(await payload(page, "loraNode")) == json.loads(untouched)

    # A row turned off keeps its words, dimmed; the picker's round trip keeps the ticked ones.
    await words.nth(2).get_by_role("checkbox").uncheck()
    await page.get_by_test_id("hikaze-row-toggle").first.uncheck()
    assert (await loras(page))[0]["trigger_words"] == ["hero", "red cape"]
    await expect(lines.first).to_have_class("hikaze-words hikaze-off")
    await page.get_by_test_id("hikaze-add-loras").click()
    await expect(picker(page).get_by_test_id("picker-item")).to_have_count(2)
    await picker(page).get_by_test_id("picker-confirm").click()
    await expect(page.get_by_test_id("hikaze-picker-modal")).to_have_count(0)
    assert (await loras(page))[0]["trigger_words"] == ["hero", "red cape"]
