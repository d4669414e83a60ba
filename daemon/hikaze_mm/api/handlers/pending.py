"""The import queue: its rows, one row's detail, and importing, restoring or retrying rows."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from hikaze_mm.api.params import json_body, pending_id
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import ImportRequest, PendingIds, PendingListing


async def list_pending(request: web.Request) -> web.Response:
    parts = request.app[PARTS]
    asked = PendingListing.from_query(request.query, parts.roots)
    return web.json_response(await parts.library.list_pending(asked.statuses, asked.type, asked.limit, asked.offset,
                                                              q=asked.q, folders=asked.folders))


async def get_pending(request: web.Request) -> web.Response:
    return web.json_response(await request.app[PARTS].library.pending(pending_id(request)))


async def import_pending(request: web.Request) -> web.Response:
    asked = ImportRequest.from_body(await json_body(request))
    report = await request.app[PARTS].imports.import_ids(asked.ids, asked.strategy, asked.delete_files,
                                                         asked.confirm_damaged)
    return web.json_response(asdict(report))


async def restore_pending(request: web.Request) -> web.Response:
    asked = PendingIds.from_body(await json_body(request))
    return web.json_response(await request.app[PARTS].imports.restore(asked.ids))


async def retry_pending(request: web.Request) -> web.Response:
    asked = PendingIds.from_body(await json_body(request))
    return web.json_response(await request.app[PARTS].retries.retry(asked.ids))
