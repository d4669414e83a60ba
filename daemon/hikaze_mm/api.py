"""The HTTP API. Handlers parse and check the request, ask the service or the store, and shape the answer;
they hold no logic of their own. Every error is JSON `{"error": ...}`; bad input is a 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import __version__
from .reconcile import ScanRunning
from .roots import within
from .service import Service
from .store import PENDING_STATUSES

log = logging.getLogger(__name__)

SERVICE = web.AppKey("service", Service)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
SSE_KEEPALIVE_S = 15.0
MAX_LIMIT = 1000
MAX_ID = 2**63 - 1  # SQLite's integer range

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class BadRequest(Exception):
    pass


def _int_param(request: web.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"`{name}` must be a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise BadRequest(f"`{name}` must be between {minimum} and {maximum}, got {value}")
    return value


def _choice_param(request: web.Request, name: str, choices: tuple[str, ...] | None) -> str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if choices is not None and raw not in choices:
        raise BadRequest(f"`{name}` must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _path_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"a pending id is a whole number, got {raw!r}") from None
    if not 1 <= value <= MAX_ID:
        raise BadRequest(f"a pending id is a positive number below 2^63, got {raw}")
    return value


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as `{}`."""
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest("the body is not valid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


# -- middlewares ------------------------------------------------------------------------------------------------
def _host_port(value: str) -> tuple[str, str]:
    if value.startswith("["):
        host, _, rest = value.partition("]")
        return host + "]", rest.lstrip(":")
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host.lower(), port


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """DNS rebinding and cross-site requests: a page on another site must not drive the local daemon."""
    settings = request.app[SERVICE].settings
    if settings.host in ("127.0.0.1", "localhost", "::1"):
        host, port = _host_port(request.headers.get("Host", ""))
        if host not in LOOPBACK_NAMES or port not in ("", str(settings.port)):
            return error(403, f"Host {request.headers.get('Host', '')!r} is not this daemon; "
                              f"use http://127.0.0.1:{settings.port}")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            return error(403, "cross-site requests may not change anything")
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            origin_host = origin.split("://", 1)[-1]
            if origin_host.lower() != request.headers.get("Host", "").lower():
                return error(403, f"Origin {origin!r} may not change anything here")
    return await handler(request)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as e:
        return error(400, str(e))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        if e.status == 404:
            return error(404, f"no such endpoint: {request.method} {request.path}")
        if e.status == 405:
            return error(405, f"{request.method} is not allowed on {request.path}")
        if e.status == 413:
            return error(413, "the request body is too large")
        return error(e.status, e.reason)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error(500, "internal error; the daemon log has the details")


# -- handlers ---------------------------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].status())


async def list_pending(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    status_ = _choice_param(request, "status", PENDING_STATUSES)
    type_ = _choice_param(request, "type", None)
    limit = _int_param(request, "limit", 100, 0, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, MAX_ID)
    rows, total = await service.store.list_pending(status_, type_, limit, offset)
    return web.json_response({"pending": [r.to_wire() for r in rows], "total": total})


async def get_pending(request: web.Request) -> web.Response:
    pending_id = _path_id(request)
    item = await request.app[SERVICE].store.pending_detail(pending_id)
    if item is None:
        return error(404, f"no pending item with id {pending_id}")
    return web.json_response(item)


async def start_scan(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _json_body(request)
    unknown = set(body) - {"roots"}
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}; the only field is `roots`")
    only = None
    if "roots" in body:
        wanted = body["roots"]
        if not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted) or not wanted:
            raise BadRequest("`roots` must be a non-empty list of folder paths from GET /api/status")
        tops = service.roots.top_level()
        only = [r for r in tops if any(within(r.path, p) or within(p, r.path) for p in wanted)]
        strays = [p for p in wanted if not any(within(p, r.path) for r in service.roots)]
        if strays:
            raise BadRequest(f"not a configured model folder: {', '.join(strays)}")
    try:
        service.reconciler.start(only)
    except ScanRunning:
        return error(409, "a scan is already running; watch GET /api/events for its progress")
    return web.json_response({"status": "started"}, status=202)


async def events(request: web.Request) -> web.StreamResponse:
    bus = request.app[SERVICE].bus
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    with bus.subscribe() as sub:
        await response.prepare(request)
        await response.write(b": connected\n\n")
        while True:
            try:
                event = await asyncio.wait_for(sub.get(), SSE_KEEPALIVE_S)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            payload = json.dumps({"type": event.type, **event.data})
            await response.write(f"id: {event.id}\nevent: {event.type}\ndata: {payload}\n\n".encode())
    return response


async def _close_streams(app: web.Application) -> None:
    app[SERVICE].bus.close()


def create_app(service: Service) -> web.Application:
    app = web.Application(middlewares=[errors, guard], client_max_size=1024 * 1024)
    app[SERVICE] = service
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/pending", list_pending)
    app.router.add_get("/api/pending/{id}", get_pending)
    app.router.add_post("/api/scan", start_scan)
    app.router.add_get("/api/events", events)
    app.on_shutdown.append(_close_streams)
    return app
