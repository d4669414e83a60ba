"""Metadata from the web: one model looked up now, or many queued for the lookups in the background."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.api.params import json_body, model_id, pending_id
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import FetchRequest, fetch_force


async def fetch_model_metadata(request: web.Request) -> web.Response:
    force = fetch_force(await json_body(request))
    return web.json_response(await request.app[PARTS].lookups.fetch_model(model_id(request), force))


async def fetch_pending_metadata(request: web.Request) -> web.Response:
    force = fetch_force(await json_body(request))
    return web.json_response(await request.app[PARTS].lookups.fetch_pending(pending_id(request), force))


async def fetch_metadata(request: web.Request) -> web.Response:
    asked = FetchRequest.from_body(await json_body(request))
    parts = request.app[PARTS]
    if asked.sha256s is not None:
        queued = await parts.lookups.queue(asked.sha256s, asked.force)
    elif asked.pending_ids is not None:
        queued = await parts.lookups.queue_pending(asked.pending_ids, asked.force)
    elif asked.filter is not None:
        query, folder = asked.filter
        queued = await parts.lookups.queue_matching(parts.folders.within(query, folder), asked.force)
    else:
        queued = await parts.lookups.queue_unlooked()
    return web.json_response({"queued": queued}, status=202)
