"""The manager page: the built Vue bundle (`web/dist`), served at `/`.

The bundle is found in the installed package (a wheel carries it as `hikaze_mm/web`), else in the git checkout
this module runs from; `HIKAZE_MM_WEB_DIST` points elsewhere (a bundle being developed).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import web

ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
# Asset names carry a content hash, so they may be cached for good; the page itself is checked every time.
ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}


def is_page_path(path: str) -> bool:
    return path in ("/", "/index.html", "/favicon.svg") or path.startswith("/assets/")


def page_dir() -> Path | None:
    package = Path(__file__).resolve().parents[1]
    override = os.environ.get("HIKAZE_MM_WEB_DIST")
    candidates = [Path(override)] if override else [package / "web", package.parents[1] / "web" / "dist"]
    return next((c for c in candidates if (c / "index.html").is_file()), None)


def _page_headers(frame_origins: Iterable[str]) -> dict[str, str]:
    # The picker runs in an iframe inside ComfyUI, so framing is allowed from the origins the daemon trusts with
    # the picker's answer, and from nowhere else (a foreign page framing the manager could trick clicks).
    ancestors = " ".join(("'self'", *sorted(set(frame_origins))))
    return {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            f"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}"
        ),
    }


def add_page_routes(app: web.Application, frame_origins: Callable[[], Iterable[str]]) -> None:
    """`frame_origins` is asked at every request for the page, so a ComfyUI that announces itself later may frame
    it without a restart."""
    folder = page_dir()

    async def index(_: web.Request) -> web.StreamResponse:
        if folder is None:
            return web.json_response(
                {"error": "the manager page is not built: run `npm ci && npm run build` in web/"}, status=404
            )
        return web.FileResponse(folder / "index.html", headers=_page_headers(frame_origins()))

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = folder / request.match_info.get("dir", "") / name if folder else None
        if path is None or not ASSET_NAME.match(name) or not await asyncio.to_thread(path.is_file):
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=ASSET_HEADERS)

    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get(r"/{dir:assets}/{name}", asset)
    app.router.add_get(r"/{name:favicon\.svg}", asset)
