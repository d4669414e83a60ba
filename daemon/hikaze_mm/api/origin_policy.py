"""Which web pages may change the library, frame the manager page and receive the picker's answer.

A browser lets any page send a "simple" request to any address without asking first: GET, HEAD, or a POST whose
Content-Type is text/plain, a form or multipart. Everything else is preflighted with OPTIONS, which this daemon
never grants. So a request that changes something is refused unless

- its Origin, when it has one, is the daemon's own (scheme, host and port) or in `allowed_origins`: `Origin: null`
  (a sandboxed frame, a `data:` page, a page with `Referrer-Policy: no-referrer`) never is;
- it is not marked `Sec-Fetch-Site: cross-site`, unless its Origin is allowed;
- its body is what the route reads: `application/json` (a POST says so even without a body, as the one method a
  page may send bare), multipart/form-data for the image upload, where the Origin check is what stands guard, or
  `image/png` / `image/webp` for the workflow check (types a page cannot send without a preflight either).

Plain clients (curl, the CLI, the ComfyUI nodes) send no Origin and pass with the right Content-Type.
"""

from __future__ import annotations

from aiohttp import web

from hikaze_mm.config.origins import BadOrigin, normalise_origin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_TYPE = "application/json"
FORM_TYPE = "multipart/form-data"
IMAGE_TYPES = frozenset({"image/png", "image/webp"})


class Refusal(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def origin_or_none(raw: str) -> str | None:
    """`raw` as a bare origin (lower-case host, no trailing slash), or None if it is not one."""
    try:
        return normalise_origin(raw)
    except BadOrigin:
        return None


def own_origin(request: web.Request) -> str | None:
    """The origin the request was addressed to: the page the daemon serves lives there."""
    return origin_or_none(f"{request.scheme}://{request.host}")


def check_write(request: web.Request, allowed: frozenset[str], takes_form: bool, takes_images: bool = False) -> None:
    """Raises Refusal when `request`, which changes something, may come from another site's page."""
    raw = request.headers.get("Origin")
    origin = origin_or_none(raw) if raw is not None else None
    if raw is not None:
        if raw.strip().lower() == "null":
            raise Refusal(403, "a request with `Origin: null` (a sandboxed frame or a data: page) may not change "
                               "anything here")
        if origin is None or (origin != own_origin(request) and origin not in allowed):
            raise Refusal(403, f"Origin {raw[:200]!r} may not change anything here; add it to `allowed_origins`")
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site" and origin not in allowed:
        raise Refusal(403, "cross-site requests may not change anything; add the page's origin to "
                           "`allowed_origins`")
    if request.match_info.http_exception is not None:
        return  # no such route or method: the 404 or 405 says so
    declared = request.headers.get("Content-Type")
    kind = request.content_type  # aiohttp's parse: lower-case, without parameters
    if takes_form:
        if kind != FORM_TYPE:
            raise Refusal(415, "send the image as multipart/form-data in a field named `image`")
    elif takes_images and kind in IMAGE_TYPES:
        return
    elif takes_images and kind != JSON_TYPE:
        raise Refusal(415, f"this route reads a workflow as `{JSON_TYPE}`, or a PNG or WebP that carries one as "
                           f"`image/png` or `image/webp`, not {declared[:100] if declared else 'no Content-Type'}")
    elif (declared is not None or request.method == "POST" or request.body_exists) and kind != JSON_TYPE:
        raise Refusal(415, f"this route reads JSON: send `Content-Type: {JSON_TYPE}` (with a POST also when "
                           f"there is no body), not {declared[:100] if declared else 'no Content-Type'}")


def picker_may_answer(origin: str, request: web.Request, allowed: frozenset[str],
                      comfy_origins: frozenset[str]) -> bool:
    """The picker posts the user's choice (paths and hashes) only to the daemon's own page, an origin in
    `allowed_origins`, or a ComfyUI whose node pack has announced itself."""
    return origin == own_origin(request) or origin in allowed or origin in comfy_origins
