"""The node package's routes on ComfyUI's own server: the front end asks ComfyUI, same-origin, about the daemon."""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import autostart
from .daemon import DaemonClient


def register_with_comfyui() -> None:
    """Add the routes to ComfyUI's server; outside ComfyUI (tests, scripts) there is none and nothing happens."""
    try:
        from server import PromptServer
    except ImportError:
        return
    instance = getattr(PromptServer, "instance", None)
    if instance is not None:
        register(instance.routes)


def register(routes: web.RouteTableDef) -> None:
    routes.get("/hikaze/daemon")(daemon_status)
    routes.post("/hikaze/daemon/start")(start_daemon)


async def daemon_status(request: web.Request) -> web.Response:
    """{"url", "reachable", "version"}; the probe runs in a thread so ComfyUI's event loop never waits on it."""
    return web.json_response(await asyncio.to_thread(lambda: DaemonClient().status()))


async def start_daemon(request: web.Request) -> web.Response:
    """{"started", "reason"}; the front end asks only when the user turned on the autostart setting."""
    return web.json_response(await asyncio.to_thread(autostart.start))
