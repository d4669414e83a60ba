"""The guard before every handler: a request must be addressed to this daemon by a name it answers to (DNS
rebinding), carry the token when one is set, and, if it changes something, come from no other site's page. A
page on another site must not drive the local daemon."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Middleware

from hikaze_mm.api.errors import Handler, error
from hikaze_mm.api.origin_policy import Refusal, check_write
from hikaze_mm.api.page import is_page_path
from hikaze_mm.api.parts import PARTS
from hikaze_mm.config.origins import LOOPBACK_HOSTS, bracketed

SESSION_PATH = "/api/session"
SESSION_COOKIE = "hikaze_mm_session"


def guard(takes_form: Collection[Handler], takes_images: Collection[Handler] = ()) -> Middleware:
    """The guard, for an app whose handlers in `takes_form` read multipart/form-data, those in `takes_images` JSON
    or a PNG or WebP, and all others JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        access = request.app[PARTS].access
        host_header = request.headers.get("Host", "")
        host, port = _host_port(host_header)
        names = {*LOOPBACK_HOSTS, *map(bracketed, LOOPBACK_HOSTS), *(h.lower() for h in access.allowed_hosts)}
        if access.host not in LOOPBACK_HOSTS:
            names.add(access.host.lower())
        if host not in names or port not in ("", str(access.port)):
            return error(403, f"Host {host_header!r} is not this daemon; use http://127.0.0.1:{access.port} "
                              "or add the name to `allowed_hosts`")
        if access.auth_token and not _open_without_token(request) and not await _carries_token(request):
            return error(401, "this daemon wants `Authorization: Bearer <auth_token>` (the page asks for it once)")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            try:
                route = request.match_info.handler
                check_write(request, frozenset(access.allowed_origins), route in takes_form,
                            route in takes_images)
            except Refusal as e:
                return error(e.status, str(e))
        return await handler(request)

    return middleware


def _host_port(value: str) -> tuple[str, str]:
    if value.startswith("["):
        host, _, rest = value.partition("]")
        return host + "]", rest.lstrip(":")
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host.lower(), port


def _open_without_token(request: web.Request) -> bool:
    """The health check, the page's static files (they hold no data) and the exchange of the token for a
    cookie need no token."""
    if request.path == "/api/health" or (request.path == SESSION_PATH and request.method == "POST"):
        return True
    return request.method in ("GET", "HEAD") and is_page_path(request.path)


async def _carries_token(request: web.Request) -> bool:
    sessions = request.app[PARTS].sessions
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Bearer" and sessions.token_matches(given):
        return True
    # The page cannot set headers on an EventSource or an <img>, so it carries a session id in a cookie.
    return await sessions.valid(request.cookies.get(SESSION_COOKIE, ""))
