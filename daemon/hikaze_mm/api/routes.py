"""The HTTP API. Handlers parse and check the request, ask the service or the store, and shape the answer;
they hold no logic of their own. Every error is JSON `{"error": ...}`; bad input is a 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from hikaze_mm import __version__
from hikaze_mm.api.comfy_peers import PeerError
from hikaze_mm.api.origin_policy import Refusal, check_write, origin_or_none, picker_may_answer
from hikaze_mm.api.page import add_page_routes, is_page_path
from hikaze_mm.api.sessions import SESSION_S
from hikaze_mm.app import Service
from hikaze_mm.config.roots import within
from hikaze_mm.legacy.importer import LegacyRunning
from hikaze_mm.legacy.reader import LegacyError
from hikaze_mm.library.images import MAX_UPLOAD_BYTES
from hikaze_mm.library.importer import STRATEGIES
from hikaze_mm.library.service import LibraryError
from hikaze_mm.pipeline.reconcile import ScanRunning
from hikaze_mm.store.interfaces import ACTIVE_STATUSES, PENDING_STATUSES, SORT_KEYS, ModelQuery, StorageFull

log = logging.getLogger(__name__)

SERVICE = web.AppKey("service", Service)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
SSE_KEEPALIVE_S = 15.0
SESSION_PATH = "/api/session"
EVENTS_PATH = "/api/events"
SESSION_COOKIE = "hikaze_mm_session"
MAX_LIMIT = 1000
MAX_ID = 2**63 - 1  # SQLite's integer range
MAX_BATCH = 10_000
# Each tag and each word of a search is one more condition of its SQL, and SQLite refuses an expression more than
# 1000 deep: the limits keep far below that (a model carries at most 200 tags anyway).
MAX_FILTER_TAGS = 200
MAX_WORDS = 100
MAX_DEPTH = 32  # levels of objects and lists in a JSON body; the API's own need at most three
# An image's name never points at other pixels (numbers are not reused), so it may be cached for good.
IMAGE_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "Content-Type": "image/webp",
    "X-Content-Type-Options": "nosniff",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, details: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"error": message, **(details or {})}, status=status)


class BadRequest(Exception):
    pass


def _int_param(request: web.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    # ASCII digits only: int() also takes "٣", "1_000" and " 5", and gives up on more than 4300 digits.
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise BadRequest(f"`{name}` must be a whole number, got {raw[:80]!r}")
    if len(digits) > len(str(maximum)) or not minimum <= int(raw) <= maximum:
        raise BadRequest(f"`{name}` must be between {minimum} and {maximum}, got {raw[:80]}")
    return int(raw)


def _choice_param(request: web.Request, name: str, choices: tuple[str, ...] | None) -> str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if choices is not None and raw not in choices:
        raise BadRequest(f"`{name}` must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _bool_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return False
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest(f"`{name}` must be true, false, 1 or 0, got {raw!r}")
    return raw in ("true", "1")


def _path_id(request: web.Request) -> int:
    return _whole(request.match_info["id"], "a pending id", 1)


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as `{}`."""
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest("the body is not valid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    _check_values(body)
    return body


def _check_values(body: dict[str, Any]) -> None:
    """No body the API takes nests deeper than a few levels, and a deeper one would take the recursion limit of
    whatever walks it next; JSON may also escape half a surrogate pair, which no database or file name can hold.
    Walked with a stack of its own, since json.loads may return more levels than Python can recurse."""
    todo: list[tuple[Any, int]] = [(body, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, str):
            if any("\ud800" <= c <= "\udfff" for c in value):
                raise BadRequest("the body holds a string that is not valid Unicode (a lone surrogate escape)")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadRequest(f"the body nests objects and lists more than {MAX_DEPTH} levels deep")
            items = [x for pair in value.items() for x in pair] if isinstance(value, dict) else value
            todo.extend((v, depth + 1) for v in items)


def _whole(raw: str, what: str, minimum: int = 0) -> int:
    """A path segment that must be a whole number (ASCII digits only: `²` is a digit to str.isdigit)."""
    # The length goes first: int() refuses strings of more than 4300 digits with a ValueError.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_ID)) or not minimum <= int(raw) <= MAX_ID:
        raise BadRequest(f"{what} is a whole number of at least {minimum}, got {raw[:80]!r}")
    return int(raw)


# -- middlewares ------------------------------------------------------------------------------------------------
def _host_port(value: str) -> tuple[str, str]:
    if value.startswith("["):
        host, _, rest = value.partition("]")
        return host + "]", rest.lstrip(":")
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host.lower(), port


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """DNS rebinding and cross-site requests: a page on another site must not drive the local daemon."""
    settings = request.app[SERVICE].settings
    host_header = request.headers.get("Host", "")
    host, port = _host_port(host_header)
    names = {*LOOPBACK_NAMES, *(h.lower() for h in settings.allowed_hosts)}
    if settings.host not in LOOPBACK_NAMES:
        names.add(settings.host.lower())
    if host not in names or port not in ("", str(settings.port)):
        return error(403, f"Host {host_header!r} is not this daemon; use http://127.0.0.1:{settings.port} "
                          "or add the name to `allowed_hosts`")
    if settings.auth_token and not _open_without_token(request) and not await _carries_token(request):
        return error(401, "this daemon wants `Authorization: Bearer <auth_token>` (the page asks for it once)")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            check_write(request, frozenset(settings.allowed_origins), request.match_info.handler is upload_image)
        except Refusal as e:
            return error(e.status, str(e))
    return await handler(request)


def _open_without_token(request: web.Request) -> bool:
    """The health check, the page's static files (they hold no data) and the exchange of the token for a
    cookie need no token."""
    if request.path == "/api/health" or (request.path == SESSION_PATH and request.method == "POST"):
        return True
    return request.method in ("GET", "HEAD") and is_page_path(request.path)


async def _carries_token(request: web.Request) -> bool:
    sessions = request.app[SERVICE].sessions
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Bearer" and sessions.token_matches(given):
        return True
    # The page cannot set headers on an EventSource or an <img>, so it carries a session id in a cookie.
    return await sessions.valid(request.cookies.get(SESSION_COOKIE, ""))


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


# -- handlers ---------------------------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def start_session(request: web.Request) -> web.Response:
    """Trades the token, typed once into the page, for a session id in a cookie the browser sends with every
    request."""
    service = request.app[SERVICE]
    client = request.remote or ""
    wait = service.sessions.retry_after(client)
    if wait is not None:
        response = error(429, f"too many wrong tokens from this address; try again in {wait} s")
        response.headers["Retry-After"] = str(wait)
        return response
    body = await _json_body(request)
    _only(body, ("token",))
    if not service.settings.auth_token:
        return web.json_response({"auth": False})
    given = body.get("token")
    if not isinstance(given, str) or not service.sessions.token_matches(given):
        service.sessions.failed(client)
        return error(401, "that is not this daemon's auth_token")
    response = web.json_response({"auth": True})
    response.set_cookie(SESSION_COOKIE, await service.sessions.issue(), httponly=True, samesite="Strict",
                        path="/", max_age=SESSION_S)
    return response


async def picker_origin_check(request: web.Request) -> web.Response:
    """Whether the picker may post the user's choice to `origin`; the page asks before it posts."""
    raw = request.query.get("origin", "")
    origin = origin_or_none(raw)
    if origin is None:
        raise BadRequest(f"`origin` must be an origin such as http://127.0.0.1:8188, got {raw[:200]!r}")
    service = request.app[SERVICE]
    allowed = picker_may_answer(origin, request, frozenset(service.settings.allowed_origins),
                                service.comfy_peers.origins())
    return web.json_response({"origin": origin, "allowed": allowed})


async def status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].status())


async def list_pending(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    statuses = _statuses(request)
    type_ = _choice_param(request, "type", None)
    limit = _int_param(request, "limit", 100, 0, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, MAX_ID)
    rows, total = await service.store.list_pending(statuses, type_, limit, offset)
    return web.json_response({"pending": [r.to_wire() for r in rows], "total": total})


def _statuses(request: web.Request) -> tuple[str, ...] | None:
    """`status`: one status, several separated by commas, or `active` for every status but `ignored`."""
    raw = request.query.get("status")
    if raw is None or raw == "":
        return None
    statuses: list[str] = []
    for name in raw.split(","):
        if name != "active" and name not in PENDING_STATUSES:
            raise BadRequest(f"`status` must be one of {', '.join((*PENDING_STATUSES, 'active'))} or several "
                             f"of them separated by commas, got {raw[:200]!r}")
        statuses.extend(ACTIVE_STATUSES if name == "active" else (name,))
    return tuple(dict.fromkeys(statuses))


async def get_pending(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].library.pending(_path_id(request)))


async def start_scan(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _json_body(request)
    unknown = set(body) - {"roots"}
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}; the only field is `roots`")
    only = None
    if "roots" in body:
        wanted = body["roots"]
        if not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted) or not wanted:
            raise BadRequest("`roots` must be a non-empty list of folder paths from GET /api/status")
        # `within` compares strings: "<root>/../elsewhere" would pass for a folder in the root unless normalised.
        wanted = [os.path.normpath(p) for p in wanted]
        if not all(os.path.isabs(p) for p in wanted):
            raise BadRequest("`roots` must hold absolute folder paths, as GET /api/status lists them")
        tops = service.roots.top_level()
        only = [r for r in tops if any(within(r.path, p) or within(p, r.path) for p in wanted)]
        strays = [p for p in wanted if not any(within(p, r.path) for r in service.roots)]
        if strays:
            raise BadRequest(f"not a configured model folder: {', '.join(strays)}")
    try:
        service.reconciler.start(only)
    except ScanRunning:
        return error(409, "a scan is already running; watch GET /api/events for its progress")
    return web.json_response({"status": "started"}, status=202)


async def events(request: web.Request) -> web.StreamResponse:
    bus = request.app[SERVICE].bus
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    with bus.subscribe() as sub:
        try:
            await response.prepare(request)
            await response.write(b": connected\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(sub.get(), SSE_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                payload = json.dumps({"type": event.type, **event.data})
                await response.write(f"id: {event.id}\nevent: {event.type}\ndata: {payload}\n\n".encode())
        except ConnectionResetError:
            # The client went away: the usual end of a stream, found out at the next write. An error answer
            # could not reach anyone.
            log.debug("event stream closed by the client")
    return response


# -- import ------------------------------------------------------------------------------------------------------
def _ids(body: dict[str, Any]) -> list[int]:
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_BATCH:
        raise BadRequest(f"`ids` must be a list of 1 to {MAX_BATCH} pending ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_ID for i in ids):
        raise BadRequest("`ids` must hold pending ids (positive whole numbers)")
    return list(dict.fromkeys(ids))


def _only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


async def import_pending(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("ids", "conflict_strategy", "delete_files"))
    ids = _ids(body)
    strategy = body.get("conflict_strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise BadRequest(f"`conflict_strategy` must be null or one of {', '.join(STRATEGIES)}, got {strategy!r}")
    delete_files = body.get("delete_files", False)
    if not isinstance(delete_files, bool):
        raise BadRequest("`delete_files` must be true or false")
    report = await request.app[SERVICE].importer.import_ids(ids, strategy, delete_files)
    return web.json_response(asdict(report))


async def restore_pending(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("ids",))
    return web.json_response(await request.app[SERVICE].importer.restore(_ids(body)))


async def retry_pending(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("ids",))
    return web.json_response(await request.app[SERVICE].decisions.retry(_ids(body)))


# -- library ---------------------------------------------------------------------------------------------------
def _names(request: web.Request, name: str) -> list[str]:
    names = [t.strip() for raw in request.query.getall(name, []) for t in raw.split(",") if t.strip()]
    if len(names) > MAX_FILTER_TAGS:
        raise BadRequest(f"`{name}` names {len(names)} tags; at most {MAX_FILTER_TAGS}")
    return names


def _words(request: web.Request) -> str | None:
    q = request.query.get("q") or None
    if q is not None and len(q.split()) > MAX_WORDS:
        raise BadRequest(f"`q` has {len(q.split())} words; at most {MAX_WORDS}")
    return q


def _model_filters(request: web.Request) -> dict[str, Any]:
    """The filters GET /api/models and GET /api/facets share."""
    return {
        "type": _choice_param(request, "type", None),
        "q": _words(request),
        "tags": _names(request, "tags"),
        "exclude_tags": _names(request, "exclude_tags"),
        "base_model": _choice_param(request, "base_model", None),
        "status": _choice_param(request, "status", ("ok", "missing", "all")) or "ok",
        "hide_nsfw": _bool_param(request, "hide_nsfw"),
    }


async def list_models(request: web.Request) -> web.Response:
    query = ModelQuery(
        **_model_filters(request),
        sort=_choice_param(request, "sort", SORT_KEYS) or "name",
        limit=_int_param(request, "limit", 100, 0, MAX_LIMIT),
        offset=_int_param(request, "offset", 0, 0, MAX_ID),
    )
    return web.json_response(await request.app[SERVICE].library.list_models(query))


async def facets(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].library.facets(ModelQuery(**_model_filters(request))))


async def get_model(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].library.model(request.match_info["sha256"]))


async def get_model_path(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].library.model_path(request.match_info["sha256"]))


async def patch_model(request: web.Request) -> web.Response:
    body = await _json_body(request)
    return web.json_response(await request.app[SERVICE].library.patch(request.match_info["sha256"], body))


async def delete_model(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("ignore_file",))
    ignore = body.get("ignore_file", False)
    if not isinstance(ignore, bool):
        raise BadRequest("`ignore_file` must be true or false")
    return web.json_response(await request.app[SERVICE].library.delete(request.match_info["sha256"], ignore))


async def list_types(request: web.Request) -> web.Response:
    return web.json_response({"types": await request.app[SERVICE].store.model_types()})


async def list_tags(request: web.Request) -> web.Response:
    return web.json_response({"tags": await request.app[SERVICE].store.list_tags()})


def _tag_id(request: web.Request) -> int:
    return _whole(request.match_info["id"], "a tag id", 1)


async def create_tag(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("name",))
    tag, created = await request.app[SERVICE].library.create_tag(body.get("name"))
    return web.json_response(tag, status=201 if created else 200)


async def rename_tag(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("name",))
    return web.json_response(await request.app[SERVICE].library.rename_tag(_tag_id(request), body.get("name")))


async def delete_tag(request: web.Request) -> web.Response:
    await request.app[SERVICE].library.delete_tag(_tag_id(request))
    return web.json_response({"deleted": _tag_id(request)})


# -- images ----------------------------------------------------------------------------------------------------
def _seq(raw: str) -> int:
    return _whole(raw, "an image number")


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
    try:
        answer = await request.app[SERVICE].library.add_image(request.match_info["sha256"], _chunks(part))
    except _TooLarge:
        return error(413, f"the image is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    return web.json_response(answer, status=201)


async def list_images(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].library.images(request.match_info["sha256"]))


async def delete_image(request: web.Request) -> web.Response:
    seq = _seq(request.match_info["seq"])
    await request.app[SERVICE].library.delete_image(request.match_info["sha256"], seq)
    return web.json_response({"deleted": seq})


async def set_cover(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("seq",))
    return web.json_response(await request.app[SERVICE].library.set_cover(request.match_info["sha256"],
                                                                          body.get("seq")))


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
    sha256, seq, tier = request.match_info["sha256"], _seq(request.match_info["seq"]), request.match_info["tier"]
    service = request.app[SERVICE]
    return await _stored_image(lambda: service.image_files.model_file(sha256, seq, tier),
                               lambda: service.store.image_exists(sha256, seq),
                               f"no image {seq} ({tier}) for model {sha256}")


async def get_cover(request: web.Request) -> web.StreamResponse:
    path = await request.app[SERVICE].library.cover_file(request.match_info["sha256"], request.match_info["tier"])
    if not await asyncio.to_thread(path.is_file):
        return error(404, f"the cover of model {request.match_info['sha256']} is not on disk")
    # The cover can change, so it is revalidated; its URL stays the same.
    return web.FileResponse(path, headers={**IMAGE_HEADERS, "Cache-Control": "no-cache"})


async def get_pending_image(request: web.Request) -> web.StreamResponse:
    pending_id, seq, tier = _path_id(request), _seq(request.match_info["seq"]), request.match_info["tier"]
    service = request.app[SERVICE]
    return await _stored_image(lambda: service.image_files.pending_file(pending_id, seq, tier),
                               lambda: service.store.pending_image_exists(pending_id, seq),
                               f"no image {seq} ({tier}) for pending item {pending_id}")


# -- legacy ----------------------------------------------------------------------------------------------------
async def migrate_legacy(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _only(body, ("db_path", "images_dir"))
    db_path, images_dir = body.get("db_path"), body.get("images_dir")
    if not isinstance(db_path, str) or not db_path.strip() or "\0" in db_path:
        raise BadRequest("`db_path` must be the path of a v1 database file (hikaze_mm.sqlite3)")
    if images_dir is not None and (not isinstance(images_dir, str) or "\0" in images_dir):
        raise BadRequest("`images_dir` must be a folder path or null")
    try:
        job = await request.app[SERVICE].legacy.start(db_path, images_dir)
    except LegacyError as e:
        raise BadRequest(str(e)) from None
    except LegacyRunning as e:
        return error(409, str(e))
    # It goes on in the background: `legacy.progress` / `legacy.done` events and GET /api/status follow it.
    return web.json_response(job.to_wire(), status=202)


async def announce_comfyui(request: web.Request) -> web.Response:
    """The node pack inside a ComfyUI says where that ComfyUI listens and which folders it loads models from."""
    body = await _json_body(request)
    _only(body, ("origin", "folders"))
    try:
        peer = await request.app[SERVICE].comfy_peers.announce(body.get("origin"), body.get("folders"))
    except PeerError as e:
        raise BadRequest(str(e)) from None
    return web.json_response(peer.to_wire())


async def _close_streams(app: web.Application) -> None:
    app[SERVICE].bus.close()


def create_app(service: Service) -> web.Application:
    app = web.Application(middlewares=[errors, guard], client_max_size=1024 * 1024)
    app[SERVICE] = service
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/status", status)
    app.router.add_post(SESSION_PATH, start_session)
    app.router.add_get("/api/pending", list_pending)
    app.router.add_get("/api/pending/{id}", get_pending)
    app.router.add_post("/api/scan", start_scan)
    app.router.add_get(EVENTS_PATH, events)
    app.router.add_post("/api/pending/import", import_pending)
    app.router.add_post("/api/pending/restore", restore_pending)
    app.router.add_post("/api/pending/retry", retry_pending)
    app.router.add_get("/api/pending/{id}/images/{seq}/{tier}", get_pending_image)
    app.router.add_get("/api/models", list_models)
    app.router.add_get("/api/facets", facets)
    app.router.add_get("/api/models/{sha256}", get_model)
    app.router.add_patch("/api/models/{sha256}", patch_model)
    app.router.add_delete("/api/models/{sha256}", delete_model)
    app.router.add_get("/api/models/{sha256}/path", get_model_path)
    app.router.add_get("/api/models/{sha256}/images", list_images)
    app.router.add_post("/api/models/{sha256}/images", upload_image)
    app.router.add_delete("/api/models/{sha256}/images/{seq}", delete_image)
    app.router.add_put("/api/models/{sha256}/cover", set_cover)
    app.router.add_get("/api/models/{sha256}/cover/{tier}", get_cover)
    app.router.add_get("/api/images/{sha256}/{seq}/{tier}", get_image)
    app.router.add_get("/api/types", list_types)
    app.router.add_get("/api/tags", list_tags)
    app.router.add_post("/api/tags", create_tag)
    app.router.add_patch("/api/tags/{id}", rename_tag)
    app.router.add_delete("/api/tags/{id}", delete_tag)
    app.router.add_post("/api/migrate/legacy", migrate_legacy)
    app.router.add_post("/api/comfyui/announce", announce_comfyui)
    app.router.add_get("/api/picker/origin-check", picker_origin_check)
    add_page_routes(app, lambda: (*service.settings.allowed_origins, *service.comfy_peers.origins()))
    app.on_shutdown.append(_close_streams)
    return app
