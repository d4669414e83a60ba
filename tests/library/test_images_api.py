"""Model images through the real daemon: uploads in every accepted format, numbering that never reuses a number,
the cached tier files, covers, hostile uploads, path tricks in every path parameter, and the local-only guard."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict
from PIL import Image
from yarl import URL

from conftest import Daemon, write_model

TIERS = ("high", "medium", "low")
MAX_UPLOAD = 32 * 1024 * 1024


# -- helpers ------------------------------------------------------------------------------------------------------
def encode(im: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def alpha_png(size: tuple[int, int] = (64, 48)) -> bytes:
    """Left half opaque red, right half fully transparent."""
    im = Image.new("RGBA", size, (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (size[0] // 2, 0, size[0], size[1]))
    return encode(im, "PNG")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG that claims 20,000 x 20,000 RGB pixels, in a few dozen bytes: the pixels are never made."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))


def multipart(data: bytes, field: str = "image", filename: str = "upload.bin") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(field, data, filename=filename, content_type="application/octet-stream")
    return form


async def upload(d: Daemon, sha: str, data: bytes, expect: int = 201) -> dict[str, Any]:
    status, body = await d.request("POST", f"/api/models/{sha}/images", data=multipart(data))
    assert status == expect, (status, body)
    return body


async def raw(d: Daemon, method: str, path: str, **kw: Any) -> tuple[int, CIMultiDict[str], bytes]:
    """A request whose path goes out exactly as written (no client-side quoting or dot-segment removal)."""
    assert d.session is not None
    async with d.session.request(method, URL(d.url + path, encoded=True), **kw) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


async def model(d: Daemon, models: Path, name: str = "pics") -> str:
    path = write_model(models / "loras" / f"{name}.safetensors")
    (row,) = await d.ready_rows(path)
    report = await d.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    assert report["imported"] == [{"id": row["id"], "sha256": row["sha256"]}]
    return row["sha256"]


async def state(d: Daemon, sha: str) -> tuple[Any, ...]:
    """What a client sees of the model's images, and which image files exist."""
    return (
        await d.get(f"/api/models/{sha}/images"),
        (await d.get(f"/api/models/{sha}"))["images"],
        sorted(p.name for p in (d.data_dir / "images").glob("*.webp")),
    )


def decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "WEBP"
    im.load()
    return im


# -- uploads --------------------------------------------------------------------------------------------------
async def test_upload_each_format_and_fetch_every_tier(daemon: Daemon, models: Path):
    sha = await model(daemon, models)
    sources = [
        ("PNG", alpha_png((64, 48))),
        ("JPEG", encode(Image.new("RGB", (80, 60), (10, 200, 10)), "JPEG", quality=90)),
        ("WEBP", encode(Image.new("RGB", (50, 50), (10, 10, 200)), "WEBP")),
        ("GIF", encode(Image.new("P", (30, 20), 3), "GIF")),
    ]
    answers = []
    for fmt, data in sources:
        answer = await upload(daemon, sha, data)
        assert set(answer) == {"seq", "width", "height", "urls"}, fmt
        assert answer["urls"] == {t: f"/api/images/{sha}/{answer['seq']}/{t}" for t in TIERS}
        answers.append(answer)
    assert [a["seq"] for a in answers] == [0, 1, 2, 3]
    assert [(a["width"], a["height"]) for a in answers] == [(64, 48), (80, 60), (50, 50), (30, 20)]
    listing = await daemon.get(f"/api/models/{sha}/images")
    assert [(i["seq"], i["width"], i["height"]) for i in listing["images"]] == [
        (a["seq"], a["width"], a["height"]) for a in answers]
    assert [i["urls"] for i in listing["images"]] == [a["urls"] for a in answers]
    for answer in answers:
        for tier, url in answer["urls"].items():
            status, headers, body = await raw(daemon, "GET", url)
            assert status == 200, (url, body[:200])
            assert headers["Content-Type"] == "image/webp"
            assert "immutable" in headers["Cache-Control"] and "max-age=" in headers["Cache-Control"]
            etag = headers.get("ETag")
            assert etag, f"{url} has no ETag"
            im = decoded(body)
            assert im.size == (answer["width"], answer["height"]), tier  # small images are never upscaled
            status, headers, body = await raw(daemon, "GET", url, headers={"If-None-Match": etag})
            assert status == 304 and body == b"", url
    # The PNG's transparency survives; the JPEG's colour does too.
    png_high = decoded((await raw(daemon, "GET", answers[0]["urls"]["high"]))[2])
    assert png_high.mode == "RGBA"
    assert png_high.getpixel((5, 5))[3] == 255 and png_high.getpixel((60, 40))[3] == 0
    jpeg_high = decoded((await raw(daemon, "GET", answers[1]["urls"]["high"]))[2]).convert("RGB")
    r, g, b = jpeg_high.getpixel((40, 30))
    assert g > 150 and r < 60 and b < 60


async def test_numbers_are_never_reused_after_a_delete(daemon: Daemon, models: Path):
    sha = await model(daemon, models)
    first = await upload(daemon, sha, alpha_png())
    second = await upload(daemon, sha, alpha_png((10, 10)))
    assert (first["seq"], second["seq"]) == (0, 1)
    assert await daemon.call("DELETE", f"/api/models/{sha}/images/{second['seq']}") == {"deleted": 1}
    for url in second["urls"].values():
        status, _, _ = await raw(daemon, "GET", url)
        assert status == 404
    assert sorted(p.name for p in (daemon.data_dir / "images").glob(f"{sha}_1_*")) == []
    third = await upload(daemon, sha, alpha_png((12, 12)))
    assert third["seq"] == 2  # not 1: a cached /1/ URL must never show other pixels
    await daemon.call("DELETE", f"/api/models/{sha}/images/0")
    await daemon.call("DELETE", f"/api/models/{sha}/images/2")
    assert (await daemon.get(f"/api/models/{sha}/images"))["images"] == []
    assert (await upload(daemon, sha, alpha_png()))["seq"] == 3
    code, body = await daemon.request("DELETE", f"/api/models/{sha}/images/2")
    assert code == 404 and "no image" in body["error"]
    # Even a model deleted and imported again continues its numbering.
    path = models / "loras" / "pics.safetensors"
    await daemon.call("DELETE", f"/api/models/{sha}")
    await daemon.wait_idle()
    await daemon.call("POST", "/api/scan", expect=202)
    row = await daemon.wait_row(path)
    await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    assert (await upload(daemon, sha, alpha_png()))["seq"] == 4


async def test_cover_is_set_shown_and_falls_back(daemon: Daemon, models: Path):
    sha = await model(daemon, models)
    seqs = [(await upload(daemon, sha, alpha_png((8 + i, 8))))["seq"] for i in range(3)]
    urls = {s: {t: f"/api/images/{sha}/{s}/{t}" for t in TIERS} for s in seqs}

    async def covers() -> tuple[Any, Any, Any]:
        item = (await daemon.get("/api/models"))["models"][0]
        return item["cover"], (await daemon.get(f"/api/models/{sha}"))["cover"], \
            (await daemon.get(f"/api/models/{sha}/images"))["cover"]

    assert await covers() == (urls[0], urls[0], urls[0])  # no cover chosen: the first image
    assert await daemon.call("PUT", f"/api/models/{sha}/cover", {"seq": 2}) == {"cover": urls[2]}
    assert await covers() == (urls[2], urls[2], urls[2])
    for bad, status in (({"seq": 7}, 404), ({"seq": "1"}, 400), ({"seq": True}, 400), ({"seq": -1}, 400),
                        ({}, 400), ({"seq": 1, "x": 1}, 400)):
        code, body = await daemon.request("PUT", f"/api/models/{sha}/cover", json=bad)
        assert code == status and body["error"], (bad, body)
        assert await covers() == (urls[2], urls[2], urls[2])
    code, body = await daemon.request("PUT", f"/api/models/{'0' * 64}/cover", json={"seq": 0})
    assert code == 404
    await daemon.call("DELETE", f"/api/models/{sha}/images/2")  # the cover goes: back to the first image
    assert await covers() == (urls[0], urls[0], urls[0])
    await daemon.call("DELETE", f"/api/models/{sha}/images/0")
    assert await covers() == (urls[1], urls[1], urls[1])
    await daemon.call("DELETE", f"/api/models/{sha}/images/1")
    assert await covers() == (None, None, None)


async def test_the_cover_is_served_by_the_model_for_other_origins(daemon: Daemon, models: Path):
    """ComfyUI's node tooltip shows the cover by URL without reading the API: the URL follows the cover."""
    sha = await model(daemon, models)
    assert daemon.session is not None
    async with daemon.session.get(f"{daemon.url}/api/models/{sha}/cover/low") as resp:
        assert resp.status == 404 and "no images" in (await resp.json())["error"]
    first, second = [await upload(daemon, sha, alpha_png((8 + i, 8))) for i in range(2)]

    async def cover_bytes() -> bytes:
        async with daemon.session.get(f"{daemon.url}/api/models/{sha}/cover/low") as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"
            assert resp.headers["Content-Type"] == "image/webp"
            return await resp.read()

    async def tier_bytes(seq: int) -> bytes:
        async with daemon.session.get(f"{daemon.url}/api/images/{sha}/{seq}/low") as resp:
            return await resp.read()

    assert await cover_bytes() == await tier_bytes(first["seq"])
    await daemon.call("PUT", f"/api/models/{sha}/cover", {"seq": second["seq"]})
    assert await cover_bytes() == await tier_bytes(second["seq"])
    for path, status in ((f"/api/models/{sha}/cover/huge", 400), (f"/api/models/{'0' * 64}/cover/low", 404),
                         ("/api/models/nothex/cover/low", 400), (f"/api/models/{sha}/cover/..%2F..", 400)):
        async with daemon.session.get(daemon.url + path) as resp:
            assert resp.status in (status, 404) and (await resp.json())["error"], path


# -- refused uploads ------------------------------------------------------------------------------------------
async def test_bad_uploads_are_refused_and_change_nothing(daemon: Daemon, models: Path):
    sha = await model(daemon, models)
    await upload(daemon, sha, alpha_png())
    before = await state(daemon, sha)
    good = encode(Image.new("RGB", (40, 40), (1, 2, 3)), "PNG")
    cases: list[tuple[str, Any, int, str]] = [
        ("corrupt PNG", multipart(good[:60]), 400, "corrupt"),
        ("corrupt JPEG", multipart(b"\xff\xd8\xff\xe0" + b"\x00" * 200), 400, "corrupt"),
        ("text", multipart(b"just some notes about this model\n"), 415, "not an image"),
        ("empty", multipart(b""), 415, "not an image"),
        ("SVG", multipart(b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'), 400, "SVG"),
        ("BMP", multipart(encode(Image.new("RGB", (4, 4)), "BMP")), 400, "BMP"),
        ("bomb", multipart(png_bomb()), 400, "megapixels"),
        ("no image field", multipart(good, field="file"), 400, "`image`"),
        ("not multipart", good, 415, "multipart"),
        ("json", None, 415, "multipart"),
    ]
    for what, data, status, words in cases:
        kw = {"json": {"image": "x"}} if data is None else {"data": data}
        code, body = await daemon.request("POST", f"/api/models/{sha}/images", **kw)
        assert code == status and words in body["error"], (what, code, body)
        assert await state(daemon, sha) == before, what
    # Nothing was reserved by the refusals: the next upload takes the next number.
    assert (await upload(daemon, sha, good))["seq"] == 1


async def test_oversized_upload_is_413(daemon: Daemon, models: Path):
    sha = await model(daemon, models)
    before = await state(daemon, sha)
    data = b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD + 1 - 8)
    try:
        code, body = await daemon.request("POST", f"/api/models/{sha}/images", data=multipart(data))
    except aiohttp.ClientError as e:  # the daemon may answer and close before the whole body is sent
        pytest.fail(f"the daemon did not answer an oversized upload with a 413: {e!r}")
    assert code == 413 and "32 MiB" in body["error"], body
    assert await state(daemon, sha) == before
    assert (await upload(daemon, sha, alpha_png()))["seq"] == 0  # and the daemon is fine afterwards


async def test_upload_to_an_unknown_or_malformed_model(daemon: Daemon, models: Path):
    sha = await model(daemon, models)
    before = await state(daemon, sha)
    for target, status, words in (("0" * 64, 404, "no model"), (sha.upper(), 400, "sha256"),
                                  (sha[:-1], 400, "sha256")):
        code, body = await daemon.request("POST", f"/api/models/{target}/images", data=multipart(alpha_png()))
        assert code == status and words in body["error"], (target, body)
        code, body = await daemon.request("GET", f"/api/models/{target}/images")
        assert code == status, (target, body)
    assert await state(daemon, sha) == before
    assert not list((daemon.data_dir / "images").glob(f"{'0' * 64}_*"))


# -- path parameters ------------------------------------------------------------------------------------------
ROUTES = [  # method, path template, body
    ("GET", "/api/pending/{id}", None),
    ("GET", "/api/models/{sha}", None),
    ("PATCH", "/api/models/{sha}", {"name": "hacked"}),
    ("DELETE", "/api/models/{sha}", None),
    ("GET", "/api/models/{sha}/path", None),
    ("GET", "/api/models/{sha}/images", None),
    ("POST", "/api/models/{sha}/images", "upload"),
    ("DELETE", "/api/models/{sha}/images/{seq}", None),
    ("PUT", "/api/models/{sha}/cover", {"seq": 0}),
    ("GET", "/api/images/{sha}/{seq}/{tier}", None),
    ("PATCH", "/api/tags/{id}", {"name": "hacked"}),
    ("DELETE", "/api/tags/{id}", None),
]
TRICKS = [
    "..%2F..%2Fetc%2Fpasswd",
    "..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fsecret",
    "..%5C..%5Csecret",
    "%00",
    "{good}%00",
    "{good}%00.webp",
    "{good}%2F..%2F..%2Fsecret",
    "{upper}",
    "..",
    "...",
    "%2e%2e",
    "..%2F",
    "{good}%0A",
    "-1",
    "1e3",
    "%20{good}",
    "+{good}",
    "{good}_0",
]


async def test_path_tricks_in_every_path_parameter(daemon: Daemon, models: Path, tmp_path: Path):
    sha = await model(daemon, models)
    await upload(daemon, sha, alpha_png())
    await daemon.call("PUT", f"/api/models/{sha}/cover", {"seq": 0})
    tag = await daemon.call("POST", "/api/tags", {"name": "keep"}, expect=201)
    await daemon.call("PATCH", f"/api/models/{sha}", {"tags": ["keep"]})
    pending_row = await daemon.wait_row(write_model(models / "vae" / "queued.safetensors"))
    # Files outside data_dir that a path trick could try to reach; their bytes must never come back.
    marker = b"SECRET-OUTSIDE-DATA-DIR"
    for name in ("secret", "secret.webp", *(f"{sha}_0_{t}.webp" for t in TIERS)):
        (tmp_path / name).write_bytes(marker)
    good = {"sha": sha, "seq": "0", "tier": "high", "id": None}
    before = (await daemon.get(f"/api/models/{sha}"), await daemon.get("/api/tags"),
              await daemon.get(f"/api/pending/{pending_row['id']}"))
    seen, wrong = 0, []
    for method, template, body in ROUTES:
        params = [p for p in ("sha", "seq", "tier", "id") if "{" + p + "}" in template]
        for param in params:
            valid = {**good, "id": str(tag["id"] if "tags" in template else pending_row["id"])}
            for trick in TRICKS:
                value = trick.replace("{good}", valid[param]).replace("{upper}", valid[param].upper())
                if value == valid[param]:
                    continue  # "{upper}" of a number is the number itself
                path = template
                for p in params:
                    path = path.replace("{" + p + "}", value if p == param else valid[p])
                kw: dict[str, Any] = {}
                if body == "upload":
                    kw["data"] = multipart(alpha_png())
                elif body is not None:
                    kw["json"] = body
                status, headers, content = await raw(daemon, method, path, **kw)
                seen += 1
                if status not in (400, 404) or marker in content or b"root:" in content:
                    wrong.append(f"{method} {path} -> {status} {content[:160]!r}")
                elif not headers.get("Content-Type", "").startswith("application/json") or b'"error"' not in content:
                    wrong.append(f"{method} {path} -> {status} without a JSON error: {content[:160]!r}")
    assert wrong == [], f"{len(wrong)} of {seen} tricks were not refused with 400/404:\n" + "\n".join(wrong)
    assert (await daemon.get(f"/api/models/{sha}"), await daemon.get("/api/tags"),
            await daemon.get(f"/api/pending/{pending_row['id']}")) == before
    assert "Traceback" not in daemon.log()


async def test_dot_segments_never_leave_the_api(daemon: Daemon, models: Path, tmp_path: Path):
    sha = await model(daemon, models)
    await upload(daemon, sha, alpha_png())
    before = await daemon.get(f"/api/models/{sha}")
    for path in (
        "/api/images/../../../../../../etc/passwd",
        f"/api/images/{sha}/0/../../../../../../../etc/passwd",
        f"/api/images/{sha}/../../../../etc/passwd/high",
        "/api/images/%2e%2e/%2e%2e/%2e%2e/etc/passwd/high",
        f"/api/models/{sha}/images/../../../../etc/passwd",
        "/api/pending/../../../etc/passwd",
        "/api/tags/../../../../etc/passwd",
    ):
        for method in ("GET", "DELETE"):
            status, _, content = await raw(daemon, method, path)
            assert status in (400, 404), (method, path, status, content[:300])
            assert b"root:" not in content
    assert await daemon.get(f"/api/models/{sha}") == before


# -- the local-only guard -------------------------------------------------------------------------------------
async def test_foreign_host_and_origin_are_refused(daemon: Daemon, models: Path):
    sha = await model(daemon, models)
    first = await upload(daemon, sha, alpha_png())
    before = await state(daemon, sha)
    code, body = await daemon.request("GET", first["urls"]["high"], headers={"Host": "evil.example"})
    assert code == 403 and "evil.example" in body["error"]
    code, body = await daemon.request("GET", f"/api/models/{sha}/images",
                                      headers={"Host": f"evil.example:{daemon.port}"})
    assert code == 403 and body["error"]
    code, body = await daemon.request("POST", f"/api/models/{sha}/images", data=multipart(alpha_png()),
                                      headers={"Origin": "http://evil.example"})
    assert code == 403 and "Origin" in body["error"]
    for method, path, payload in (("DELETE", f"/api/models/{sha}/images/0", None),
                                  ("PUT", f"/api/models/{sha}/cover", {"seq": 0}),
                                  ("DELETE", f"/api/models/{sha}", None)):
        code, body = await daemon.request(method, path, json=payload, headers={"Origin": "http://evil.example"})
        assert code == 403, (method, path, body)
    assert await state(daemon, sha) == before
    # The daemon's own origin is fine.
    await daemon.request("POST", f"/api/models/{sha}/images", data=multipart(alpha_png()),
                         headers={"Origin": daemon.url})
    assert len((await daemon.get(f"/api/models/{sha}/images"))["images"]) == 2
