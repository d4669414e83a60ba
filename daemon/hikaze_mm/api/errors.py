"""Errors as answers: every refusal is JSON `{"error": ...}`, bad input a 4xx with what is wrong, never a 500.
What the handlers and the request parsing raise becomes that answer here, in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hikaze_mm.api.parts import PARTS
from hikaze_mm.library.service import LibraryError
from hikaze_mm.store.errors import StorageFull, StoreUnreachable

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # about how soon the daemon has asked an absent database again

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """The request is refused with a 400; the message says what is wrong and what to send instead."""


def error(status: int, message: str, details: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"error": message, **(details or {})}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as e:
        return error(400, str(e))
    except LibraryError as e:
        return error(e.status, str(e), e.details)
    except StorageFull as e:  # from any write of the store, so every write route answers it alike
        return error(507, str(e))
    except StoreUnreachable as e:  # a shared database's server is away: from any route that needs it
        request.app[PARTS].database.lost(e)
        response = error(503, f"the library's database is unreachable ({e}); the daemon retries, and what it "
                              "finds in the folders meanwhile waits for it")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
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
