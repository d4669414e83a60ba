"""Stand-ins for Civitai and CivArchive on loopback, for the tests of the lookup of model metadata by SHA-256 (the
tests have no internet, and must not depend on what the real sites say today).

Three aiohttp sites, each on a port of its own:

- `civitai`: `GET /api/v1/model-versions/by-hash/{hash}` and `GET /api/v1/models/{id}`, answering documents shaped
  like Civitai's (field names, the case of the hashes, the 404 bodies), and the pictures those documents name;
- `civarchive`: `GET /api/sha256/{hash}`, shaped like CivArchive's, and pictures;
- `cdn`: pictures only, named `http://localhost:<port>` so that its host differs from the other two: a picture a
  document names there comes from a host the daemon does not trust.

The data are our own, made up (`sample_version` makes realistic ones); a test adds `Version`s to the `WebSources`
the `web_sources` fixture gives, and may change them afterwards (say, mark one deleted): every answer is built from
them when the request arrives. Switches make the next requests of a route fail, lag, redirect or answer too much,
as the real sites do on a bad day, and every request is logged, so that a test can tell what the daemon asked for
and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import html
import io
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeVar, cast

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from PIL import Image as PILImage

Route = Literal["by-hash", "model", "archive", "image"]
Site = Literal["civitai", "civarchive", "cdn"]
ROUTES: tuple[Route, ...] = ("by-hash", "model", "archive", "image")
DEADLINE_S = 30.0

# What a deleted version's (and, when all its versions are deleted, a model's) `deletedAt` says on CivArchive.
DELETED_AT = "2025-03-02T17:41:09.000Z"
# Civitai's edge caches its public answers, 404s included (research notes §1, "Caching"): the same headers here.
BY_HASH_CACHE = "public, s-maxage=3600, stale-while-revalidate=1800"
MODEL_CACHE = "public, s-maxage=300, stale-while-revalidate=150"
# Bodies for `.fail`: what Cloudflare sends instead of the API when it challenges a client, and Civitai's
# maintenance page. Both are HTML (send them with content_type="text/html").
CLOUDFLARE_CHALLENGE = (
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
    "<meta http-equiv=\"refresh\" content=\"390\"></head><body><div class=\"main-wrapper\" role=\"main\">"
    "<h1>Checking if the site connection is secure</h1><noscript>Enable JavaScript and cookies to continue"
    "</noscript><script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=0\"></script>"
    "</div></body></html>"
)
MAINTENANCE_PAGE = (
    "<!DOCTYPE html><html><head><title>Civitai | Maintenance</title></head><body>"
    "<h1>We're adjusting a few things, be back in a few minutes...</h1></body></html>"
)
# What a path no route knows gets: an HTML page, as the real site's web framework answers, not JSON.
NOT_FOUND_PAGE = "<!DOCTYPE html><html><head><title>404: This page could not be found</title></head>" \
    "<body><h1>404</h1><h2>This page could not be found.</h2></body></html>"

_BLURHASH_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


@dataclass
class Image:
    """A picture (or a video) a version shows. Its bytes are drawn when first asked for: a plain `colour` field of
    `width` x `height` in `fmt`, so that a test can check what the daemon downloaded. A video is a few bytes of junk
    served as video/mp4."""

    name: str  # the file name, the last part of its URL; unique among all versions' images
    width: int
    height: int
    nsfw_level: int = 1
    kind: Literal["image", "video"] = "image"
    meta: dict[str, Any] | None = None  # the generation parameters (Civitai's `meta`), or None
    site: Site = "civitai"  # the site whose URL the documents name
    fmt: Literal["PNG", "JPEG"] = "PNG"
    colour: tuple[int, int, int] = (200, 120, 40)

    @property
    def content_type(self) -> str:
        if self.kind == "video":
            return "video/mp4"
        return "image/png" if self.fmt == "PNG" else "image/jpeg"

    def data(self) -> bytes:
        if self.kind == "video":
            return b"\x00\x00\x00\x18ftypmp42" + hashlib.sha256(self.name.encode()).digest() * 4
        return _drawn(self.width, self.height, self.colour, self.fmt)

    @property
    def blurhash(self) -> str:
        """A made-up string of blurhash's alphabet and length (nothing decodes it)."""
        digest = hashlib.sha256(self.name.encode()).digest()
        return "L" + "".join(_BLURHASH_DIGITS[b % len(_BLURHASH_DIGITS)] for b in digest[:27])


@functools.lru_cache(maxsize=64)
def _drawn(width: int, height: int, colour: tuple[int, int, int], fmt: str) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(buf, fmt)
    return buf.getvalue()


@dataclass
class Version:
    """One model version with its one file, as both sites know it. Model-level fields (model_name, model_type,
    description, tags, creator) should agree across the versions of one model; the model's documents take them
    from its newest version (the highest version_id)."""

    sha256: str  # the file's real SHA-256, lower-case hex
    model_id: int
    version_id: int
    model_name: str
    version_name: str
    base_model: str = "SD 1.5"
    model_type: str = "LORA"
    trained_words: list[str] = field(default_factory=list)
    description: str = ""  # the model's description (HTML)
    version_notes: str | None = None  # the version's own description (HTML), often missing
    tags: list[str] = field(default_factory=list)
    nsfw_level: int = 1  # Civitai's bit flags: PG=1 PG13=2 R=4 X=8 XXX=16
    images: list[Image] = field(default_factory=list)
    # The SHA256 Civitai lists for the file; None: the real one. Another hash simulates Civitai's wrong hashes: the
    # sites still answer for the real one (as if matched by another kind of hash) but name the listed one.
    listed_sha256: str | None = None
    blake3: str | None = None  # the BLAKE3 Civitai lists for the file (lower-case hex); None: it lists none
    deleted: bool = False  # Civitai answers 404 for it; CivArchive answers it with `deletedAt` set
    on_civitai: bool = True
    on_civarchive: bool = True
    file_name: str | None = None  # None: made from the model's and the version's names
    size_kb: float = 36_864.0
    created_at: str = "2024-05-14T09:21:37.412Z"
    creator: str | None = "hikaze_fixture"  # None: no `creator` (Civitai omits its own account)
    mode: Literal["Archived", "TakenDown"] | None = None  # Archived: no files on Civitai; TakenDown: no images

    @property
    def listed(self) -> str:
        """The SHA-256 the sites list for the file, lower case."""
        return (self.listed_sha256 or self.sha256).lower()

    @property
    def autov2(self) -> str:
        """The first 10 hex digits of the listed SHA-256, upper case, as Civitai's AutoV2."""
        return self.listed[:10].upper()

    @property
    def civitai_hashes(self) -> dict[str, str]:
        hashes = {"AutoV2": self.autov2, "SHA256": self.listed.upper()}
        if self.blake3 is not None:
            hashes["BLAKE3"] = self.blake3.upper()
        return hashes

    @property
    def file(self) -> str:
        if self.file_name is not None:
            return self.file_name
        stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{self.model_name} {self.version_name}").strip("_")
        return f"{stem}.safetensors"

    @property
    def file_id(self) -> int:
        return self.version_id + 500_000


@dataclass
class Request:
    """One request any of the sites got, logged when it arrives (before a `.slow` delay)."""

    site: Site
    route: Route | None  # None: a path no route knows
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Switch:
    times: int  # how many more requests it applies to


@dataclass
class _Answer(_Switch):
    """A switch's answer for the next `times` requests of a route, instead of the real one."""

    kind: Literal["fail", "redirect", "oversize"] = "fail"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    content_type: str = "application/json"
    size: int = 0


@dataclass
class _Delay(_Switch):
    seconds: float = 0.0


_S = TypeVar("_S", bound=_Switch)


class WebSources:
    """The three sites' data, switches and request log. `civitai`, `civarchive` and `cdn` are the base URLs, without
    a trailing slash."""

    def __init__(self) -> None:
        self.civitai = ""
        self.civarchive = ""
        self.cdn = ""
        self.versions: list[Version] = []
        self.requests: list[Request] = []
        self._answers: dict[Route, list[_Answer]] = {r: [] for r in ROUTES}
        self._delays: dict[Route, list[_Delay]] = {r: [] for r in ROUTES}
        self._arrived = asyncio.Condition()

    # The data.

    def add(self, version: Version) -> Version:
        """Both sites know `version` from now on (unless its `on_civitai` / `on_civarchive` say otherwise)."""
        self.versions.append(version)
        return version

    def image_url(self, image: Image) -> str:
        """Where the documents say `image` is: Civitai's shape `<base>/images/<uuid>/original=true/<name>`."""
        base = {"civitai": self.civitai, "civarchive": self.civarchive, "cdn": self.cdn}[image.site]
        return f"{base}/images/{uuid.uuid5(uuid.NAMESPACE_URL, image.name)}/original=true/{image.name}"

    # The switches: each applies to the next `times` requests of `route` (on any site, for "image"). Answers
    # (`fail`, `redirect`, `oversize`) are used in the order they were set; a delay adds to any answer.

    def fail(
        self, route: Route, status: int, times: int = 1, retry_after: str | None = None, body: str | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Answer `status` with `body` (default: `{"error": "<the status's phrase>"}`, or the phrase alone when the
        content type is not JSON), and a Retry-After header when given. E.g. 429 with Retry-After "2"; 503 with
        CLOUDFLARE_CHALLENGE as text/html; 200 with an HTML body."""
        if body is None:
            phrase = HTTPStatus(status).phrase
            body = json.dumps({"error": phrase}) if content_type == "application/json" else phrase
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        self._answers[route].append(_Answer(times, "fail", status, headers, body, content_type))

    def slow(self, route: Route, seconds: float, times: int = 1) -> None:
        """Start the answer only `seconds` after the request arrived (the server's latency)."""
        self._delays[route].append(_Delay(times, seconds))

    def redirect(self, route: Route, location: str, times: int = 1) -> None:
        """Answer 302 to `location`, an absolute URL."""
        self._answers[route].append(_Answer(times, "redirect", 302, {"Location": location}))

    def oversize(self, route: Route, size_bytes: int, times: int = 1) -> None:
        """Answer 200 with a body of `size_bytes` bytes, streamed without a Content-Length: JSON-looking junk, or
        for "image" a PNG signature and junk."""
        content_type = "image/png" if route == "image" else "application/json"
        self._answers[route].append(_Answer(times, "oversize", content_type=content_type, size=size_bytes))

    # The log.

    def hits(self, route: Route | None, site: Site | None = None) -> list[Request]:
        """The logged requests of `route` (None: of paths no route knows), of one site or all."""
        return [r for r in self.requests if r.route == route and (site is None or r.site == site)]

    def count(self, route: Route | None, site: Site | None = None) -> int:
        return len(self.hits(route, site))

    async def wait_for(self, route: Route, n: int, timeout: float = DEADLINE_S) -> list[Request]:
        """Once `n` requests of `route` have arrived, those logged so far; an AssertionError after `timeout`."""
        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(lambda: self.count(route) >= n), timeout)
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting for {n} {route} request(s); got {self.count(route)}: "
                    f"{[(r.site, r.method, r.path) for r in self.requests]}") from None
        return self.hits(route)

    # The answers.

    def civitai_match(self, hash_: str) -> Version | None:
        """The version Civitai's by-hash answers for `hash_`: the first added of those it publishes whose file it
        lists with that SHA256, AutoV2 or BLAKE3, or whose real SHA-256 it is."""
        wanted = hash_.upper()
        for v in self.versions:
            if v.on_civitai and not v.deleted and wanted in {v.sha256.upper(), *v.civitai_hashes.values()}:
                return v
        return None

    def civarchive_match(self, hash_: str) -> Version | None:
        """The version CivArchive answers for `hash_` (its listed or its real SHA-256), deleted ones included."""
        wanted = hash_.lower()
        for v in self.versions:
            if v.on_civarchive and wanted in {v.sha256.lower(), v.listed}:
                return v
        return None

    def civitai_model(self, model_id: int) -> list[Version]:
        """The versions Civitai shows for a model, newest first; none when it is unknown or deleted."""
        found = [v for v in self.versions if v.model_id == model_id and v.on_civitai and not v.deleted]
        return sorted(found, key=lambda v: v.version_id, reverse=True)

    def _image_doc(self, image: Image) -> dict[str, Any]:
        return {
            "url": self.image_url(image),
            "nsfwLevel": image.nsfw_level,
            "width": image.width,
            "height": image.height,
            "hash": image.blurhash,
            "type": image.kind,
            "metadata": {"hash": image.blurhash, "width": image.width, "height": image.height},
            "meta": image.meta,
            "availability": "Public",
            "hasMeta": image.meta is not None,
            "hasPositivePrompt": bool(image.meta and image.meta.get("prompt")),
            "onSite": False,
            "minor": False,
            "poi": False,
            "remixOfId": None,
        }

    def version_doc(self, v: Version, *, in_model: bool = False) -> dict[str, Any]:
        """Civitai's version document (by-hash's answer); `in_model`: as an entry of the model's `modelVersions`,
        without the model's fields, and `primary` only where true."""
        download = f"{self.civitai}/api/download/models/{v.version_id}"
        files: list[dict[str, Any]] = [] if v.mode == "Archived" else [{
            "id": v.file_id,
            "sizeKB": v.size_kb,
            "name": v.file,
            "type": "Model",
            "pickleScanResult": "Success",
            "pickleScanMessage": "No Pickle imports",
            "virusScanResult": "Success",
            "virusScanMessage": None,
            "scannedAt": v.created_at,
            "metadata": {"format": "SafeTensor", "size": "pruned", "fp": "fp16"},
            "hashes": v.civitai_hashes,
            "primary": True,
            "downloadUrl": f"{download}?type=Model&format=SafeTensor",
        }]
        doc: dict[str, Any] = {
            "id": v.version_id,
            "modelId": v.model_id,
            "name": v.version_name,
            "description": v.version_notes,
            "baseModel": v.base_model,
            "baseModelType": "Standard",
            "air": f"urn:air:sd1:{v.model_type.lower()}:civitai:{v.model_id}@{v.version_id}",
            "status": "Published",
            "availability": "Public",
            "nsfwLevel": v.nsfw_level,
            "createdAt": v.created_at,
            "updatedAt": v.created_at,
            "publishedAt": v.created_at,
            "trainedWords": list(v.trained_words),
            "stats": {"downloadCount": 1000 + v.version_id % 997, "thumbsUpCount": 10 + v.version_id % 89},
            "model": {"name": v.model_name, "type": v.model_type, "nsfw": v.nsfw_level >= 4, "poi": False,
                      "minor": False, **({"mode": v.mode} if v.mode else {})},
            "files": files,
            "images": [] if v.mode == "TakenDown" else [self._image_doc(i) for i in v.images],
        }
        if v.mode != "Archived":
            doc["downloadUrl"] = download
        if in_model:
            del doc["modelId"], doc["model"]
        return doc

    def model_doc(self, versions: list[Version]) -> dict[str, Any]:
        """Civitai's model document for a model's (published) versions, newest first."""
        newest = versions[0]
        level = functools.reduce(lambda a, b: a | b, (v.nsfw_level for v in versions))
        entries = [self.version_doc(v, in_model=True) for v in versions]
        doc: dict[str, Any] = {
            "id": newest.model_id,
            "name": newest.model_name,
            "description": newest.description,
            "allowNoCredit": True,
            "allowCommercialUse": ["Image"],
            "allowDerivatives": True,
            "allowDifferentLicense": True,
            "type": newest.model_type,
            "minor": False,
            "poi": False,
            "nsfw": level >= 4,
            "nsfwLevel": level,
            **({"mode": newest.mode} if newest.mode else {}),
            "stats": {"downloadCount": sum(e["stats"]["downloadCount"] for e in entries), "favoriteCount": 0},
            "tags": list(newest.tags),
            "modelVersions": entries,
        }
        if newest.creator is not None:
            doc["creator"] = {"username": newest.creator, "image": None}
        return doc

    def archive_doc(self, v: Version) -> dict[str, Any]:
        """CivArchive's answer for `v`'s hash: the model at the top (under `data`), the version under `version`."""
        siblings = sorted((s for s in self.versions if s.model_id == v.model_id and s.on_civarchive),
                          key=lambda s: s.version_id, reverse=True)
        model = siblings[0]
        version = {
            "id": v.version_id,
            "modelId": v.model_id,
            "name": v.version_name,
            "baseModel": v.base_model,
            "description": v.version_notes,
            "downloadCount": 1000 + v.version_id % 997,
            "ratingCount": 0,
            "rating": 0,
            "nsfw_level": v.nsfw_level,
            "trigger": list(v.trained_words),
            "deletedAt": DELETED_AT if v.deleted else None,
            "files": [{
                "id": v.file_id,
                "name": v.file,
                "type": "Model",
                "sizeKB": v.size_kb,
                "downloadUrl": f"{self.civarchive}/api/download/models/{v.version_id}",
                "sha256": v.listed,
                "is_primary": False,  # CivArchive says false even for the main file (research notes §5)
                "mirrors": [],
            }],
            "images": [{
                "id": 10 * v.version_id + n,
                "url": self.image_url(i),
                "nsfwLevel": i.nsfw_level,
                "width": i.width,
                "height": i.height,
                "meta": i.meta,
            } for n, i in enumerate(v.images)],
        }
        return {"data": {
            "id": model.model_id,
            "name": model.model_name,
            "type": model.model_type,
            "description": model.description,
            "tags": list(model.tags),
            "is_nsfw": any(s.nsfw_level >= 4 for s in siblings),
            "nsfw_level": functools.reduce(lambda a, b: a | b, (s.nsfw_level for s in siblings)),
            "creator_username": model.creator,
            "creator_name": model.creator,
            "creator_url": f"/users/{model.creator}" if model.creator else None,
            "deletedAt": DELETED_AT if all(s.deleted for s in siblings) else None,
            "platform": "civitai",
            "version": version,
            "versions": [{"id": s.version_id, "name": s.version_name, "href": f"/models/{s.model_id}?modelVersionId="
                          f"{s.version_id}"} for s in siblings],
        }}

    def image(self, name: str) -> Image | None:
        for v in self.versions:
            for i in v.images:
                if i.name == name:
                    return i
        return None

    # The servers.

    def _app(self, site: Site) -> web.Application:
        app = web.Application(middlewares=[self._middleware(site)])
        if site == "civitai":
            app.router.add_get("/api/v1/model-versions/by-hash/{hash}", self._by_hash, name="by-hash")
            app.router.add_get("/api/v1/models/{id}", self._model, name="model")
        if site == "civarchive":
            app.router.add_get("/api/sha256/{hash}", self._archive, name="archive")
        app.router.add_get("/images/{tail:.+}", self._image, name="image")
        return app

    def _middleware(self, site: Site) -> Middleware:
        @web.middleware
        async def logged(request: web.Request, handler: Handler) -> web.StreamResponse:
            name = request.match_info.route.name
            route = cast("Route | None", name if name in ROUTES else None)
            self.requests.append(Request(site, route, request.method, request.path, request.query_string,
                                         {k.lower(): v for k, v in request.headers.items()}))
            async with self._arrived:
                self._arrived.notify_all()
            if route is None:
                try:
                    return await handler(request)  # aiohttp's refusal, e.g. 405 for a POST
                except web.HTTPNotFound:
                    return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")
            delay = _take(self._delays[route])
            if delay is not None:
                await asyncio.sleep(delay.seconds)  # the server's latency, not the test's synchronisation
            answer = _take(self._answers[route])
            if answer is None:
                return await handler(request)
            if answer.kind == "oversize":
                return await _stream_junk(request, answer)
            return web.Response(status=answer.status, headers=answer.headers, text=answer.body,
                                content_type=None if answer.kind == "redirect" else answer.content_type)

        return logged

    async def _by_hash(self, request: web.Request) -> web.Response:
        version = self.civitai_match(request.match_info["hash"])
        headers = {"Cache-Control": BY_HASH_CACHE}
        if version is None:
            return web.json_response({"error": "Model not found"}, status=404, headers=headers)
        return web.json_response(self.version_doc(version), headers=headers)

    async def _model(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        headers = {"Cache-Control": MODEL_CACHE}
        if not raw.isdigit() or int(raw) > 2**31 - 1:
            return web.json_response({"error": f"Invalid id: {raw}"}, status=400, headers=headers)
        versions = self.civitai_model(int(raw))
        if not versions:
            return web.json_response({"error": f"No model with id {int(raw)}"}, status=404, headers=headers)
        return web.json_response(self.model_doc(versions), headers=headers)

    async def _archive(self, request: web.Request) -> web.Response:
        version = self.civarchive_match(request.match_info["hash"])
        if version is None:
            return web.json_response({"error": "Not found"}, status=404)
        return web.json_response(self.archive_doc(version))

    async def _image(self, request: web.Request) -> web.Response:
        """Any known picture by its name, the last part of the path (the parts before it, such as Civitai's
        `<uuid>/original=true`, are not checked)."""
        image = self.image(request.match_info["tail"].rsplit("/", 1)[-1])
        if image is None:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        return web.Response(body=image.data(), content_type=image.content_type)


def _take(queue: list[_S]) -> _S | None:
    """The first switch of `queue`, used once more (and dropped when used up); None when there is none."""
    if not queue:
        return None
    first = queue[0]
    first.times -= 1
    if first.times <= 0:
        queue.pop(0)
    return first


async def _stream_junk(request: web.Request, answer: _Answer) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": answer.content_type})
    response.enable_chunked_encoding()
    await response.prepare(request)
    head = b"\x89PNG\r\n\x1a\n" if answer.content_type == "image/png" else b'{"junk": "'
    chunk = b"x" * 65536
    left = answer.size
    try:
        piece = head[:left]
        await response.write(piece)
        left -= len(piece)
        while left > 0:
            piece = chunk[:left]
            await response.write(piece)
            left -= len(piece)
        await response.write_eof()
    except ConnectionError:  # the client stopped reading, as it should past its limit
        pass
    return response


@contextlib.asynccontextmanager
async def running_web_sources() -> AsyncIterator[WebSources]:
    """The three sites for the `async with` block, on ports the system chose, stopped after it however it ends."""
    sources = WebSources()
    runners: list[web.AppRunner] = []
    try:
        for site in ("civitai", "civarchive", "cdn"):
            # A short shutdown: an answer a test left `.slow` is cut off rather than waited for.
            runner = web.AppRunner(sources._app(site), shutdown_timeout=0.25)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            port = runner.addresses[0][1]
            host = "localhost" if site == "cdn" else "127.0.0.1"
            setattr(sources, site, f"http://{host}:{port}")
        yield sources
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


@pytest.fixture(name="web_sources")
async def web_sources_fixture() -> AsyncIterator[WebSources]:
    """The three sites for one test. Its function is named apart so that a module importing it (`from web_sources
    import web_sources_fixture`) may name its tests' argument `web_sources` without shadowing the import."""
    async with running_web_sources() as sources:
        yield sources


# Realistic made-up data.

_ADJECTIVES = ("Juggernaut", "Velvet", "Nimbus", "Copperleaf", "Starling", "Obsidian", "Marigold", "Tidewater")
_KINDS = ("Style LoRA", "Character LoRA", "Detail Tweaker", "Lighting LoRA", "Ink Wash LoRA")
_CREATORS = ("lanternfish_ai", "moss_and_pixels", "k0bold_works", "quietmeadow")
_SAMPLERS = ("DPM++ 2M Karras", "Euler a", "DPM++ SDE Karras", "UniPC")


def sample_version(n: int, sha256: str, **overrides: Any) -> Version:
    """A realistic made-up version number `n` for the file whose SHA-256 is `sha256`: varied names, trigger words,
    an HTML description with a `<script>` and an `onclick` (for the sanitiser), tags, and two pictures with
    generation parameters (a PNG of 640x960 and a JPEG of 512x512). `overrides` replace any field."""
    adjective = _ADJECTIVES[n % len(_ADJECTIVES)]
    kind = _KINDS[n % len(_KINDS)]
    model_id = 100_000 + 37 * n
    version_id = 200_000 + 53 * n
    model_name = f"{adjective} {kind} v{n}"
    word = adjective.lower()
    description = (
        f"<h2>{html.escape(model_name)}</h2>"
        f"<p>Trained on 120 made-up pictures. Use <b>{word}style</b> at a weight of <i>0.6-0.9</i>.</p>"
        f'<p>Changelog and tips: <a href="https://example.invalid/notes/{n}" onclick="window.hacked = true">'
        "notes</a></p>"
        "<script>window.hacked = true</script>"
        '<img src="https://example.invalid/banner.jpeg" alt="banner">'
    )

    def meta(seed: int, size: str) -> dict[str, Any]:
        return {
            "prompt": f"masterpiece, best quality, {word}style, 1girl, lantern light, rain, <lora:{word}_v{n}:0.8>",
            "negativePrompt": "lowres, bad anatomy, watermark, signature",
            "seed": seed,
            "steps": 20 + n % 15,
            "sampler": _SAMPLERS[(n + seed) % len(_SAMPLERS)],
            "cfgScale": 7 if seed % 2 else 5.5,
            "clipSkip": 2,
            "Size": size,
            "Model": "madeUpMix_v3",
            "hashes": {"model": "A1B2C3D4E5", f"lora:{word}_v{n}": sha256[:10]},
            "resources": [{"name": f"{word}_v{n}", "type": "lora", "weight": 0.8, "hash": sha256[:10]}],
        }

    images = [
        Image(f"v{version_id}-1.png", 640, 960, meta=meta(1_000_003 * n + 1, "640x960"), fmt="PNG",
              colour=((40 * n) % 256, 90, 160)),
        Image(f"v{version_id}-2.jpeg", 512, 512, nsfw_level=2, meta=meta(1_000_003 * n + 2, "512x512"), fmt="JPEG",
              colour=(220, (30 * n) % 256, 60)),
    ]
    fields: dict[str, Any] = {
        "sha256": sha256.lower(),
        "model_id": model_id,
        "version_id": version_id,
        "model_name": model_name,
        "version_name": f"v{n}.{n % 3}",
        "base_model": ("SD 1.5", "SDXL 1.0", "Pony", "Illustrious")[n % 4],
        "trained_words": [f"{word}style", "lantern light", f"{word} palette"][: 1 + n % 3],
        "description": description,
        "version_notes": None if n % 2 else f"<p>Retrained at dim 32; fixes <em>washed-out</em> colours (v{n}).</p>",
        "tags": ["style", "lighting", word],
        "images": images,
        "created_at": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T09:{n % 60:02d}:37.412Z",
        "creator": _CREATORS[n % len(_CREATORS)],
        "size_kb": 18_432.0 + 1024 * (n % 7),
    }
    fields.update(overrides)
    return Version(**fields)
