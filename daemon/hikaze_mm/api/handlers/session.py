"""The health check and the exchange of the token for a session cookie."""

from __future__ import annotations

from aiohttp import web

from hikaze_mm import __version__
from hikaze_mm.api.errors import error
from hikaze_mm.api.params import json_body
from hikaze_mm.api.parts import PARTS
from hikaze_mm.api.requests import SessionRequest
from hikaze_mm.api.security import SESSION_COOKIE
from hikaze_mm.api.sessions import SESSION_S


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def start_session(request: web.Request) -> web.Response:
    """Trades the token, typed once into the page, for a session id in a cookie the browser sends with every
    request."""
    parts = request.app[PARTS]
    client = request.remote or ""
    wait = parts.sessions.retry_after(client)
    if wait is not None:
        response = error(429, f"too many wrong tokens from this address; try again in {wait} s")
        response.headers["Retry-After"] = str(wait)
        return response
    asked = SessionRequest.from_body(await json_body(request))
    if not parts.access.auth_token:
        return web.json_response({"auth": False})
    if asked.token is None or not parts.sessions.token_matches(asked.token):
        parts.sessions.failed(client)
        return error(401, "that is not this daemon's auth_token")
    response = web.json_response({"auth": True})
    response.set_cookie(SESSION_COOKIE, await parts.sessions.issue(), httponly=True, samesite="Strict",
                        path="/", max_age=SESSION_S)
    return response
