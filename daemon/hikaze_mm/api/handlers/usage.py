"""What ComfyUI used: the node pack's uses of model files, counted; and the model at a file's path."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.api.params import json_body
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import UsageRequest, model_path
from hikaze_mm.library.service import LibraryError


async def count_uses(request: web.Request) -> web.Response:
    asked = UsageRequest.from_body(await json_body(request))
    return web.json_response(await request.app[PARTS].usage.count(asked.uses))


async def model_by_path(request: web.Request) -> web.Response:
    parts = request.app[PARTS]
    path = model_path(request.query)
    sha256 = await parts.usage.model_at(path)
    if sha256 is None:
        raise LibraryError(404, f"no model of the library has its file at {path[:300]!r} on this machine")
    return web.json_response(await parts.library.model(sha256))
