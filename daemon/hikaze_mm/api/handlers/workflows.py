"""The workflow check: which of a workflow's models resolve here, are here under another name, or are missing."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.api.errors import BadRequest, error
from hikaze_mm.api.origin_policy import origin_or_none
from hikaze_mm.api.parts import PARTS
from hikaze_mm.workflows.errors import WorkflowError
from hikaze_mm.workflows.folders import KindFolders, announced_folders, own_folders

MAX_BODY = 64 * 1024 * 1024  # a workflow, or an image that carries one
_CHUNK = 256 * 1024


class _TooLarge(Exception):
    pass


async def _body(request: web.Request) -> bytes:
    """The body with this route's own cap (the app's is 1 MiB), read as it arrives."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _TooLarge
    chunks, size = [], 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _folders(request: web.Request) -> KindFolders:
    parts = request.app[PARTS]
    raw = request.query.get("comfyui")
    if raw is None or raw == "":
        return own_folders(parts.roots)
    origin = origin_or_none(raw)
    peer = next((p for p in parts.peers.peers() if p.origin == origin), None)
    if peer is None:
        raise BadRequest(f"no ComfyUI at {raw[:200]!r} has announced its folders to this daemon (its node pack "
                         "does so when ComfyUI starts); leave out `comfyui` to check against the daemon's folders")
    return announced_folders(peer.folders)


async def check_workflow(request: web.Request) -> web.Response:
    # The guard has checked that the body is JSON, a PNG or a WebP.
    folders = _folders(request)
    try:
        body = await _body(request)
    except _TooLarge:
        return error(413, f"the body is larger than {MAX_BODY // (1024 * 1024)} MiB")
    try:
        answer = await request.app[PARTS].workflows.check(body, request.content_type, folders)
    except WorkflowError as e:
        raise BadRequest(str(e)) from None
    return web.json_response(answer)
