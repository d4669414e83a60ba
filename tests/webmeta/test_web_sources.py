"""The stand-ins for Civitai and CivArchive (tests/web_sources.py) themselves: the documents have the real sites'
shapes, the hashes match as the real sites match them, and the switches and the request log do what the tests of
the lookup rely on."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import blake3
import pytest
from multidict import CIMultiDictProxy
from PIL import Image as PILImage

from web_sources import (
    CLOUDFLARE_CHALLENGE,
    DELETED_AT,
    Image,
    WebSources,
    sample_version,
    web_sources_fixture,  # noqa: F401  (the `web_sources` fixture)
)

SHA = hashlib.sha256(b"a made-up LoRA").hexdigest()
BLAKE3 = blake3.blake3(b"a made-up LoRA").hexdigest()
OTHER = hashlib.sha256(b"another made-up LoRA").hexdigest()
WRONG = hashlib.sha256(b"the file Civitai hashed by mistake").hexdigest()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def fetch(session: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """The status, the body (parsed when it is JSON, else text) and the headers."""
    async with session.get(url, **kw) as resp:
        body = await resp.read()
        parsed = json.loads(body) if resp.content_type == "application/json" else body.decode(errors="replace")
        return resp.status, parsed, resp.headers


async def test_by_hash_answers_civitais_version_document_for_the_sha256_any_case(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    v = web_sources.add(sample_version(1, SHA, blake3=BLAKE3))
    for asked in (SHA, SHA.upper()):
        status, doc, headers = await fetch(session, f"{web_sources.civitai}/api/v1/model-versions/by-hash/{asked}")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert doc["id"] == v.version_id and doc["modelId"] == v.model_id
        assert doc["name"] == v.version_name and doc["description"] == v.version_notes
        assert doc["baseModel"] == v.base_model and doc["trainedWords"] == v.trained_words
        assert isinstance(doc["nsfwLevel"], int) and doc["createdAt"] == v.created_at
        assert doc["model"] == {"name": v.model_name, "type": "LORA", "nsfw": False, "poi": False, "minor": False}
        assert "tags" not in doc and "creator" not in doc  # only the model's document has them
        [file] = doc["files"]
        assert file["name"] == v.file and file["type"] == "Model" and file["primary"] is True
        assert file["id"] == v.file_id and file["sizeKB"] == v.size_kb
        assert file["hashes"] == {"SHA256": SHA.upper(), "AutoV2": SHA[:10].upper(), "BLAKE3": BLAKE3.upper()}
        assert file["downloadUrl"].startswith(f"{web_sources.civitai}/api/download/models/{v.version_id}")
        assert doc["downloadUrl"] == f"{web_sources.civitai}/api/download/models/{v.version_id}"
        png, jpeg = doc["images"]
        assert (png["type"], png["width"], png["height"]) == ("image", 640, 960)
        assert (jpeg["type"], jpeg["width"], jpeg["height"]) == ("image", 512, 512)
        for image in doc["images"]:
            assert image["url"].startswith(f"{web_sources.civitai}/images/") and "/original=true/" in image["url"]
            assert isinstance(image["nsfwLevel"], int) and len(image["hash"]) == 28
            assert {"prompt", "negativePrompt", "seed", "steps", "sampler", "cfgScale"} <= image["meta"].keys()


async def test_by_hash_matches_the_autov2_and_the_blake3_civitai_lists(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(1, OTHER))
    v = web_sources.add(sample_version(2, SHA, blake3=BLAKE3))
    for asked in (SHA[:10], SHA[:10].upper(), BLAKE3, BLAKE3.upper()):
        status, doc, _ = await fetch(session, f"{web_sources.civitai}/api/v1/model-versions/by-hash/{asked}")
        assert (status, doc["id"]) == (200, v.version_id), asked


async def test_unknown_hashes_ids_and_paths_are_refused_as_the_real_sites_refuse_them(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    v = web_sources.add(sample_version(1, SHA))
    status, doc, headers = await fetch(session, f"{web_sources.civitai}/api/v1/model-versions/by-hash/{OTHER}")
    assert (status, doc) == (404, {"error": "Model not found"})
    assert "s-maxage" in headers["Cache-Control"]  # Civitai's edge caches its 404s too
    # No BLAKE3 listed: a BLAKE3 matches nothing.
    assert (await fetch(session, f"{web_sources.civitai}/api/v1/model-versions/by-hash/{BLAKE3}"))[0] == 404
    status, doc, _ = await fetch(session, f"{web_sources.civitai}/api/v1/models/{v.model_id + 1}")
    assert (status, doc) == (404, {"error": f"No model with id {v.model_id + 1}"})
    status, doc, _ = await fetch(session, f"{web_sources.civarchive}/api/sha256/{OTHER}")
    assert (status, doc) == (404, {"error": "Not found"})
    status, text, headers = await fetch(session, f"{web_sources.civitai}/api/v1/models-versions/by-hash/{SHA}")
    assert status == 404 and headers["Content-Type"].startswith("text/html") and "could not be found" in text
    assert web_sources.hits(None) == web_sources.hits(None, "civitai") and web_sources.count(None) == 1


async def test_a_deleted_version_is_gone_from_civitai_and_marked_on_civarchive(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    v = web_sources.add(sample_version(3, SHA))
    v.deleted = True  # the answers are built when asked: a test may change a version after adding it
    status, doc, _ = await fetch(session, f"{web_sources.civitai}/api/v1/model-versions/by-hash/{SHA}")
    assert (status, doc) == (404, {"error": "Model not found"})
    status, doc, _ = await fetch(session, f"{web_sources.civitai}/api/v1/models/{v.model_id}")
    assert (status, doc) == (404, {"error": f"No model with id {v.model_id}"})
    status, doc, _ = await fetch(session, f"{web_sources.civarchive}/api/sha256/{SHA}")
    assert status == 200
    assert doc["data"]["deletedAt"] == DELETED_AT and doc["data"]["version"]["deletedAt"] == DELETED_AT


async def test_civarchive_answers_its_own_shape_for_any_case(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    older = web_sources.add(sample_version(4, OTHER))
    v = web_sources.add(sample_version(4, SHA, version_id=older.version_id + 1, version_name="v4.1"))
    for asked in (SHA, SHA.upper()):
        status, doc, _ = await fetch(session, f"{web_sources.civarchive}/api/sha256/{asked}")
        assert status == 200
        data = doc["data"]
        assert (data["id"], data["name"], data["type"]) == (v.model_id, v.model_name, "LORA")
        assert data["description"] == v.description and data["tags"] == v.tags
        assert data["is_nsfw"] is False and data["nsfw_level"] == 1 and data["creator_username"] == v.creator
        assert data["deletedAt"] is None
        version = data["version"]
        assert (version["id"], version["modelId"], version["name"]) == (v.version_id, v.model_id, "v4.1")
        assert version["baseModel"] == v.base_model and version["trigger"] == v.trained_words
        assert version["description"] == v.version_notes and version["nsfw_level"] == 1
        assert version["deletedAt"] is None
        [file] = version["files"]
        assert file["sha256"] == SHA and file["name"] == v.file and file["sizeKB"] == v.size_kb
        assert file["is_primary"] is False and file["mirrors"] == []
        assert [(i["width"], i["height"]) for i in version["images"]] == [(640, 960), (512, 512)]
        assert all(i["meta"]["prompt"] and isinstance(i["nsfwLevel"], int) for i in version["images"])
        assert [(s["id"], s["name"]) for s in data["versions"]] == [(v.version_id, "v4.1"), (older.version_id,
                                                                                             older.version_name)]


async def test_a_wrong_listed_sha256_shows_while_the_real_one_still_finds_the_version(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    v = web_sources.add(sample_version(5, SHA, listed_sha256=WRONG))
    for asked in (SHA, WRONG):
        status, doc, _ = await fetch(session, f"{web_sources.civitai}/api/v1/model-versions/by-hash/{asked}")
        assert (status, doc["id"]) == (200, v.version_id)
        assert doc["files"][0]["hashes"] == {"SHA256": WRONG.upper(), "AutoV2": WRONG[:10].upper()}
        status, doc, _ = await fetch(session, f"{web_sources.civarchive}/api/sha256/{asked}")
        assert (status, doc["data"]["version"]["files"][0]["sha256"]) == (200, WRONG)


async def test_the_model_document_has_the_description_tags_creator_and_versions_newest_first(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    first = web_sources.add(sample_version(6, OTHER))
    second = web_sources.add(sample_version(6, SHA, version_id=first.version_id + 1, version_name="v6.1",
                                            nsfw_level=4))
    web_sources.add(sample_version(7, WRONG, model_id=first.model_id, version_id=first.version_id + 2, deleted=True))
    status, doc, _ = await fetch(session, f"{web_sources.civitai}/api/v1/models/{first.model_id}")
    assert status == 200
    assert (doc["id"], doc["name"], doc["type"]) == (first.model_id, first.model_name, "LORA")
    assert "<script>" in doc["description"] and "onclick=" in doc["description"]
    assert doc["tags"] == first.tags and doc["creator"]["username"] == first.creator
    assert doc["nsfw"] is True and doc["nsfwLevel"] == 5  # the flags of all its versions
    assert [e["id"] for e in doc["modelVersions"]] == [second.version_id, first.version_id]  # not the deleted one
    for entry in doc["modelVersions"]:
        assert "modelId" not in entry and "model" not in entry
        assert {"name", "description", "baseModel", "trainedWords", "files", "images", "downloadUrl"} <= entry.keys()
    assert doc["modelVersions"][0]["files"][0]["hashes"]["SHA256"] == SHA.upper()


async def test_the_pictures_decode_to_their_size_and_colour(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    v = sample_version(8, SHA)
    v.images += [Image("clip-8.mp4", 720, 1280, kind="video", meta=None),
                 Image("elsewhere-8.png", 300, 200, site="cdn", colour=(10, 200, 30))]
    web_sources.add(v)
    _, doc, _ = await fetch(session, f"{web_sources.civitai}/api/v1/model-versions/by-hash/{SHA}")
    *pictures, video, elsewhere = doc["images"]
    for entry, image in zip(pictures, v.images, strict=False):
        async with session.get(entry["url"]) as resp:
            assert resp.status == 200 and resp.content_type == f"image/{image.fmt.lower()}"
            decoded = PILImage.open(io.BytesIO(await resp.read()))
        assert decoded.format == image.fmt and decoded.size == (image.width, image.height)
        centre = decoded.convert("RGB").getpixel((image.width // 2, image.height // 2))
        assert isinstance(centre, tuple)
        assert all(abs(a - b) <= 3 for a, b in zip(centre, image.colour, strict=True))  # JPEG is lossy
    assert video["type"] == "video" and video["meta"] is None
    async with session.get(video["url"]) as resp:
        assert resp.status == 200 and resp.content_type == "video/mp4" and await resp.read()
    # A picture named on the CDN: another host than the API's.
    assert urlsplit(elsewhere["url"]).hostname == "localhost" != urlsplit(web_sources.civitai).hostname
    assert elsewhere["url"].startswith(web_sources.cdn)
    async with session.get(elsewhere["url"]) as resp:
        assert PILImage.open(io.BytesIO(await resp.read())).size == (300, 200)
    assert [r.site for r in web_sources.hits("image")] == ["civitai", "civitai", "civitai", "cdn"]
    # The plain `/images/<name>` serves it too, as does CivArchive; an unknown name is a 404.
    assert (await fetch(session, f"{web_sources.civarchive}/images/{v.images[0].name}"))[0] == 200
    assert (await fetch(session, f"{web_sources.cdn}/images/no-such.png"))[0] == 404


async def test_fail_answers_the_next_requests_of_the_route_then_the_real_answer(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(9, SHA))
    url = f"{web_sources.civitai}/api/v1/model-versions/by-hash/{SHA}"
    web_sources.fail("by-hash", 429, retry_after="2")
    web_sources.fail("by-hash", 503, times=2, body=CLOUDFLARE_CHALLENGE, content_type="text/html")
    web_sources.fail("by-hash", 200, body="<html>We're adjusting a few things</html>", content_type="text/html")
    status, doc, headers = await fetch(session, url)
    assert (status, doc, headers["Retry-After"]) == (429, {"error": "Too Many Requests"}, "2")
    for _ in range(2):
        status, text, headers = await fetch(session, url)
        assert status == 503 and headers["Content-Type"].startswith("text/html") and "Just a moment..." in text
        assert "Retry-After" not in headers
    status, text, _ = await fetch(session, url)
    assert status == 200 and text.startswith("<html>")
    # Another route is not touched; then this one answers as before.
    assert (await fetch(session, f"{web_sources.civarchive}/api/sha256/{SHA}"))[0] == 200
    status, doc, _ = await fetch(session, url)
    assert status == 200 and doc["files"][0]["hashes"]["SHA256"] == SHA.upper()


async def test_slow_starts_the_answer_late_once(web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(10, SHA))
    url = f"{web_sources.civarchive}/api/sha256/{SHA}"
    web_sources.slow("archive", 0.5)
    started = time.monotonic()
    assert (await fetch(session, url))[0] == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    assert (await fetch(session, url))[0] == 200
    assert time.monotonic() - started < 0.5
    web_sources.slow("archive", 5)  # longer than a client waits; the fixture's teardown does not wait for it
    with pytest.raises(asyncio.TimeoutError):
        await fetch(session, url, timeout=aiohttp.ClientTimeout(total=0.2))


async def test_redirect_sends_a_302_to_the_location(web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(11, SHA))
    elsewhere = f"{web_sources.civarchive}/api/sha256/{SHA}"
    web_sources.redirect("by-hash", elsewhere, times=2)
    url = f"{web_sources.civitai}/api/v1/model-versions/by-hash/{SHA}"
    status, _, headers = await fetch(session, url, allow_redirects=False)
    assert (status, headers["Location"]) == (302, elsewhere)
    status, doc, _ = await fetch(session, url)  # followed: CivArchive's answer
    assert status == 200 and doc["data"]["version"]["files"][0]["sha256"] == SHA
    assert [r.site for r in web_sources.requests] == ["civitai", "civitai", "civarchive"]


async def test_oversize_streams_that_many_bytes(web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    v = web_sources.add(sample_version(12, SHA))
    url = f"{web_sources.civitai}/api/v1/model-versions/by-hash/{SHA}"
    web_sources.oversize("by-hash", 3_000_000, times=2)
    async with session.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "application/json" and resp.content_length is None
        body = await resp.read()
    assert len(body) == 3_000_000 and body.startswith(b'{"junk": "')
    async with session.get(url) as resp:  # a client that stops at its limit
        assert len(await resp.content.read(65536)) > 0
        resp.close()
    assert (await fetch(session, url))[0] == 200  # the site is fine afterwards
    web_sources.oversize("image", 1_000_000)
    async with session.get(web_sources.image_url(v.images[0])) as resp:
        body = await resp.read()
    assert resp.content_type == "image/png" and len(body) == 1_000_000 and body.startswith(b"\x89PNG")


async def test_the_request_log_and_wait_for(web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    v = web_sources.add(sample_version(13, SHA))
    web_sources.slow("model", 0.5)
    request = asyncio.create_task(fetch(session, f"{web_sources.civitai}/api/v1/models/{v.model_id}?x=1",
                                        headers={"Authorization": "Bearer made-up"}))
    [hit] = await web_sources.wait_for("model", 1, timeout=5)
    assert not request.done()  # logged when it arrived, before the answer
    assert (hit.site, hit.route, hit.method, hit.path, hit.query) == (
        "civitai", "model", "GET", f"/api/v1/models/{v.model_id}", "x=1")
    assert hit.headers["authorization"] == "Bearer made-up" and "user-agent" in hit.headers
    assert (await request)[0] == 200
    await fetch(session, f"{web_sources.civarchive}/api/sha256/{SHA}")
    assert web_sources.count("model") == 1 and web_sources.count("archive") == 1 and web_sources.count("by-hash") == 0
    assert web_sources.hits("archive", "civitai") == []
    assert web_sources.requests[0].at <= web_sources.requests[1].at <= time.monotonic()
    with pytest.raises(AssertionError, match="waiting for 2 archive"):
        await web_sources.wait_for("archive", 2, timeout=0.2)
