"""The ComfyUIs the manager works with: a node pack announcing where its ComfyUI listens, and the picker asking
whether it may answer a page."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.api.comfy_peers import PeerError
from hikaze_mm.api.errors import BadRequest
from hikaze_mm.api.origin_policy import picker_may_answer
from hikaze_mm.api.params import json_body, only
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import picker_origin


async def picker_origin_check(request: web.Request) -> web.Response:
    """Whether the picker may post the user's choice to `origin`; the page asks before it posts."""
    origin = picker_origin(request.query)
    parts = request.app[PARTS]
    allowed = picker_may_answer(origin, request, frozenset(parts.access.allowed_origins), parts.peers.origins())
    return web.json_response({"origin": origin, "allowed": allowed})


async def announce_comfyui(request: web.Request) -> web.Response:
    """The node pack inside a ComfyUI says where that ComfyUI listens and which folders it loads models from."""
    body = await json_body(request)
    only(body, ("origin", "folders"))
    try:
        peer = await request.app[PARTS].peers.announce(body.get("origin"), body.get("folders"))
    except PeerError as e:
        raise BadRequest(str(e)) from None
    return web.json_response(peer.to_wire())
