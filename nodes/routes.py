"""The node package's routes on ComfyUI's own server: the front end asks ComfyUI, same-origin, about the daemon."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlencode

from aiohttp import web

from . import autostart
from .announce import announce_in_background
from .daemon import DaemonClient
from .lora_words import panel_words

SHA256 = re.compile(r"[0-9a-f]{64}")


def register_with_comfyui() -> None:
    """Add the routes to ComfyUI's server; outside ComfyUI (tests, scripts) there is none and nothing happens."""
    try:
        from server import PromptServer
    except ImportError:
        return
    instance = getattr(PromptServer, "instance", None)
    if instance is not None:
        register(instance.routes)
        # At start-up every custom node has registered its folders and the listen address is final. The
        # announcement runs in its own thread: ComfyUI starts at once, with the daemon up or down.
        app = getattr(instance, "app", None)
        if isinstance(app, web.Application):
            app.on_startup.append(_announce_on_startup)


async def _announce_on_startup(app: web.Application) -> None:
    announce_in_background()


def register(routes: web.RouteTableDef) -> None:
    routes.get("/hikaze/daemon")(daemon_status)
    routes.post("/hikaze/daemon/start")(start_daemon)
    routes.get("/hikaze/lora/trigger-words")(lora_trigger_words)
    routes.post("/hikaze/workflows/check")(check_workflow)


async def daemon_status(request: web.Request) -> web.Response:
    """{"url", "reachable", "version"}; the probe runs in a thread so ComfyUI's event loop never waits on it."""
    return web.json_response(await asyncio.to_thread(lambda: DaemonClient().status()))


async def start_daemon(request: web.Request) -> web.Response:
    """{"started", "reason"}; the front end asks only when the user turned on the autostart setting."""
    return web.json_response(await asyncio.to_thread(autostart.start))


async def lora_trigger_words(request: web.Request) -> web.Response:
    """`?sha256=&path=` (either; sha256 wins) -> {"words", "reachable"}: a LoRA row's words for its toggles. The
    daemon sends no CORS headers, so the panel asks ComfyUI, same-origin, and ComfyUI asks the daemon."""
    sha256 = request.query.get("sha256", "").strip().lower()
    path = request.query.get("path", "").strip()
    if sha256 and not SHA256.fullmatch(sha256):
        return web.json_response({"error": f"sha256 must be 64 hex digits, got {sha256[:80]!r}"}, status=400)
    if not sha256 and not path:
        return web.json_response({"error": "give the LoRA's sha256 or its path"}, status=400)
    return web.json_response(await asyncio.to_thread(panel_words, sha256, path))


# The daemon reads no larger workflow or image; a larger body is refused here before it is read.
MAX_CHECK_BYTES = 64 * 1024 * 1024


async def check_workflow(request: web.Request) -> web.Response:
    """The daemon's workflow check (POST /api/workflows/check) for the front end, which cannot read the daemon's
    answer itself: the daemon sends no CORS headers, so only a same-origin route can hand it over. The body and its
    type go as they came, with the `comfyui` origin the front end names; the answer comes back as the daemon gave it."""
    if (request.content_length or 0) > MAX_CHECK_BYTES:
        return _too_big()
    body = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > MAX_CHECK_BYTES:
            return _too_big()
    origin = request.query.get("comfyui", "")
    path = "/api/workflows/check" + (f"?{urlencode({'comfyui': origin})}" if origin else "")
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    status, answer = await asyncio.to_thread(DaemonClient().relay, path, body, content_type)
    return web.json_response(answer, status=status)


def _too_big() -> web.Response:
    return web.json_response({"error": "the body is larger than 64 MiB; the workflow check reads no more"}, status=413)
