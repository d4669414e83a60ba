"""Models with copies: the list, and moving one of a model's files to the trash."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.api.errors import BadRequest
from hikaze_mm.api.params import int_param, json_body, model_id, only
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import MAX_LIMIT
from hikaze_mm.store.records import MAX_INTEGER

MAX_PATH = 4096  # bytes Linux takes in a path; a longer one cannot name a recorded file


async def list_duplicates(request: web.Request) -> web.Response:
    limit = int_param(request.query, "limit", 100, 0, MAX_LIMIT)
    offset = int_param(request.query, "offset", 0, 0, MAX_INTEGER)
    return web.json_response(await request.app[PARTS].duplicates.page(limit, offset))


async def trash_copy(request: web.Request) -> web.Response:
    sha256 = model_id(request)
    body = await json_body(request)
    only(body, ("path",))
    path = body.get("path")
    if not isinstance(path, str) or not path or len(path) > MAX_PATH or "\0" in path:
        raise BadRequest(f"`path` must be the full path of one of the model's files (at most {MAX_PATH} "
                         "characters, no NUL)")
    return web.json_response(await request.app[PARTS].duplicates.trash_file(sha256, path))
