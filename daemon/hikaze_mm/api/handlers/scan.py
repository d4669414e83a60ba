"""What the daemon is doing: the status document, starting a scan, and the event stream that follows it all."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from hikaze_mm.api.errors import error
from hikaze_mm.api.params import json_body
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import ScanRequest
from hikaze_mm.pipeline.reconcile import ScanRunning

log = logging.getLogger(__name__)
SSE_KEEPALIVE_S = 15.0


async def status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[PARTS].status())


async def start_scan(request: web.Request) -> web.Response:
    parts = request.app[PARTS]
    asked = ScanRequest.from_body(await json_body(request), parts.roots)
    try:
        parts.scans.start(asked.folders)
    except ScanRunning:
        return error(409, "a scan is already running; watch GET /api/events for its progress")
    return web.json_response({"status": "started"}, status=202)


async def events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    with request.app[PARTS].events.subscribe() as sub:
        try:
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
        except ConnectionResetError:
            # The client went away: the usual end of a stream, found out at the next write. An error answer
            # could not reach anyone.
            log.debug("event stream closed by the client")
    return response
