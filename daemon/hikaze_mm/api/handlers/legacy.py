"""Bringing in the first version's database, which goes on in the background after the answer."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.api.errors import BadRequest, error
from hikaze_mm.api.params import json_body
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import LegacyRequest
from hikaze_mm.legacy.importer import LegacyRunning
from hikaze_mm.legacy.reader import LegacyError


async def migrate_legacy(request: web.Request) -> web.Response:
    asked = LegacyRequest.from_body(await json_body(request))
    try:
        job = await request.app[PARTS].legacy.start(asked.db_path, asked.images_dir)
    except LegacyError as e:
        raise BadRequest(str(e)) from None
    except LegacyRunning as e:
        return error(409, str(e))
    # It goes on in the background: `legacy.progress` / `legacy.done` events and GET /api/status follow it.
    return web.json_response(job.to_wire(), status=202)
