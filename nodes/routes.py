"""The node package's routes on ComfyUI's own server: the front end asks ComfyUI, same-origin, about the daemon."""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import autostart
from .announce import announce_in_background
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


async def daemon_status(request: web.Request) -> web.Response:
    """{"url", "reachable", "version"}; the probe runs in a thread so ComfyUI's event loop never waits on it."""
    return web.json_response(await asyncio.to_thread(lambda: DaemonClient().status()))


async def start_daemon(request: web.Request) -> web.Response:
    """{"started", "reason"}; the front end asks only when the user turned on the autostart setting."""
    return web.json_response(await asyncio.to_thread(autostart.start))
