"""A model's images (upload, list, remove, the cover) and the image files of models and pending rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from hikaze_mm.api.errors import BadRequest, error
from hikaze_mm.api.params import image_seq, json_body, model_id, pending_id
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import CoverRequest
from hikaze_mm.library.images import MAX_UPLOAD_BYTES

# An image's name never points at other pixels (numbers are not reused), so it may be cached for good.
IMAGE_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "Content-Type": "image/webp",
    "X-Content-Type-Options": "nosniff",
}


class _TooLarge(Exception):
    pass


async def _image_part(request: web.Request) -> BodyPartReader | None:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "image":
                return part
    except (ValueError, HttpProcessingError) as e:
        raise BadRequest(f"the multipart body is malformed: {e}") from None
    return None


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    """The part's bytes as they arrive, with our own size cap (aiohttp's applies to whole-body reads only)."""
    size = 0
    while True:
        try:
            chunk = await part.read_chunk(256 * 1024)
        except (ValueError, HttpProcessingError) as e:
            raise BadRequest(f"the multipart body is malformed: {e}") from None
        if not chunk:
            return
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise _TooLarge
        yield chunk


async def upload_image(request: web.Request) -> web.Response:
    # The guard has checked that the body is multipart/form-data.
    part = await _image_part(request)
    if part is None:
        raise BadRequest("no multipart field named `image`")
    sha256 = model_id(request)
    try:
        answer = await request.app[PARTS].library.add_image(sha256, _chunks(part))
    except _TooLarge:
        return error(413, f"the image is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    return web.json_response(answer, status=201)


async def list_images(request: web.Request) -> web.Response:
    return web.json_response(await request.app[PARTS].library.images(model_id(request)))


async def delete_image(request: web.Request) -> web.Response:
    seq = image_seq(request)
    await request.app[PARTS].library.delete_image(model_id(request), seq)
    return web.json_response({"deleted": seq})


async def set_cover(request: web.Request) -> web.Response:
    asked = CoverRequest.from_body(await json_body(request))
    return web.json_response(await request.app[PARTS].library.set_cover(model_id(request), asked.seq))


async def _stored_image(
    locate: Callable[[], Path], exists: Callable[[], Awaitable[bool]], missing: str
) -> web.StreamResponse:
    """One tier of a stored image: the path parts are checked first, then the row, then the file."""
    try:
        path = locate()
    except ValueError as e:
        raise BadRequest(str(e)) from None
    if not await exists() or not await asyncio.to_thread(path.is_file):
        return error(404, missing)
    return web.FileResponse(path, headers=IMAGE_HEADERS)


async def get_image(request: web.Request) -> web.StreamResponse:
    sha256, seq, tier = request.match_info["sha256"], image_seq(request), request.match_info["tier"]
    parts = request.app[PARTS]
    return await _stored_image(lambda: parts.images.model_file(sha256, seq, tier),
                               lambda: parts.listings.images.image_exists(sha256, seq),
                               f"no image {seq} ({tier}) for model {sha256}")


async def get_cover(request: web.Request) -> web.StreamResponse:
    sha256 = model_id(request)
    path = await request.app[PARTS].library.cover_file(sha256, request.match_info["tier"])
    if not await asyncio.to_thread(path.is_file):
        return error(404, f"the cover of model {sha256} is not on disk")
    # The cover can change, so it is revalidated; its URL stays the same.
    return web.FileResponse(path, headers={**IMAGE_HEADERS, "Cache-Control": "no-cache"})


async def get_pending_image(request: web.Request) -> web.StreamResponse:
    row, seq, tier = pending_id(request), image_seq(request), request.match_info["tier"]
    parts = request.app[PARTS]
    return await _stored_image(lambda: parts.images.pending_file(row, seq, tier),
                               lambda: parts.listings.images.pending_image_exists(row, seq),
                               f"no image {seq} ({tier}) for pending item {row}")
