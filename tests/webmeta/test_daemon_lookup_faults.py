"""The lookups' defences, through the real daemon (`hikaze-mm serve`) and the fixture sources on loopback: a 429 is
waited out when its Retry-After is short and fails the fetch when it is long (an error, never "not found"), Civitai's
404 falls back to CivArchive, a redirect or a preview on a host that is not a source is never contacted, an answer
over the size cap is refused, and a "not found" is believed for a week and asked again after it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from store.store_backends import sqlite_store
from test_daemon_lookups import Start, one_model, source_args

from conftest import Daemon, Databases, digests, poll, write_model
from hikaze_mm.store.records import LookupState
from hikaze_mm.webmeta.client import MAX_IMAGE_BYTES, MAX_JSON_BYTES
from web_sources import Image, WebSources, sample_version

DAY_S = 86400.0


class Elsewhere:
    """A site on another loopback port that no setting names: it answers every GET with `body` (what the daemon
    would take, were it to follow a link there) and counts what it is asked."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: list[str] = []
        self.body = b"{}"
        self.content_type = "application/json"

    async def answer(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        return web.Response(body=self.body, content_type=self.content_type)


@pytest.fixture
async def elsewhere() -> AsyncIterator[Elsewhere]:
    site = Elsewhere()
    app = web.Application()
    app.router.add_get("/{tail:.*}", site.answer)
    runner = web.AppRunner(app, shutdown_timeout=0.25)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    site.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield site
    finally:
        await runner.cleanup()


async def remembered(daemon: Daemon, sha256: str) -> list[tuple[Any, ...]]:
    """What the library remembers the sources said about a content (no row: nothing)."""
    return await daemon.db.rows("SELECT state, source FROM web_lookups WHERE sha256 = ?", sha256)


async def fetch_error(daemon: Daemon, sha256: str, body: dict[str, Any] | None = None) -> str:
    """The error a fetch of the model answers with, which must be the 502 of "no answer to go by"."""
    status, answer = await daemon.request("POST", f"/api/models/{sha256}/metadata/fetch", json=body)
    assert status == 502, (status, answer)
    error: str = answer["error"]
    assert "not found" not in error.lower(), error
    return error


async def test_a_short_retry_after_is_waited_out_within_the_fetch(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "patient", 40)
    web_sources.fail("by-hash", 429, retry_after="1")
    answer = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert answer["state"] == "found" and answer["source"] == "civitai" and answer["changed"]["images"] == 2
    first, second = web_sources.hits("by-hash")
    # The daemon's own backoff may be shorter than the second asked for; the wait is the source's.
    assert second.at - first.at >= 0.99, second.at - first.at
    assert web_sources.count("archive") == 0  # not taken for an outage of Civitai
    model = await daemon.get(f"/api/models/{sha}")
    assert model["meta_json"]["web"]["source"] == "civitai" and len(model["images"]) == 2
    assert await remembered(daemon, sha) == [("found", "civitai")]


async def test_a_long_retry_after_fails_the_fetch_and_pauses_the_source_without_remembering_not_found(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    path = write_model(models / "loras" / "limited.safetensors")
    sha, _ = digests(path)
    web_sources.add(sample_version(41, sha, on_civarchive=False))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    await daemon.import_files(path)
    web_sources.fail("by-hash", 429, retry_after="3600")
    started = time.monotonic()
    error = await fetch_error(daemon, sha)
    assert time.monotonic() - started < 10, "an hour's Retry-After was waited for within the request"
    assert "429" in error and "3600" in error, error
    assert web_sources.count("by-hash") == 1 and web_sources.count("archive") == 1

    # Civitai is left alone for the hour it asked: the next fetch, even forced, fails without asking it.
    assert "pause" in await fetch_error(daemon, sha, {"force": True})
    await daemon.call("POST", "/api/metadata/fetch", {"sha256s": [sha]}, expect=202)

    async def put_back() -> dict[str, Any] | None:
        lookups = (await daemon.get("/api/status"))["lookups"]
        return lookups if lookups["failed"] >= 1 and not lookups["running"] else None

    lookups = await poll(put_back, "the queued lookup to fail and wait")
    assert lookups["queued"] == 1 and lookups["done"] == 0 and lookups["not_found"] == 0, lookups
    assert "pause" in lookups["last_error"], lookups
    assert web_sources.count("by-hash") == 1
    assert await remembered(daemon, sha) == []  # neither "not found" nor anything else
    assert "web" not in (await daemon.get(f"/api/models/{sha}"))["meta_json"]


async def test_a_model_civitai_no_longer_has_is_filled_from_civarchive(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    path = write_model(models / "loras" / "deleted.safetensors")
    sha, _ = digests(path)
    version = web_sources.add(sample_version(42, sha, deleted=True))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    await daemon.import_files(path)
    answer = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert answer["state"] == "found" and answer["source"] == "civarchive", answer
    assert answer["changed"]["images"] == 2 and "trigger_words" in answer["changed"]["fields"]
    assert web_sources.count("by-hash", "civitai") == 1 and web_sources.count("archive", "civarchive") == 1
    model = await daemon.get(f"/api/models/{sha}")
    meta = model["meta_json"]
    assert meta["web"]["source"] == "civarchive" and meta["web"]["model_name"] == version.model_name
    assert meta["trigger_words"] == version.trained_words
    assert meta["fetched"]["trigger_words"]["source"] == "civarchive"
    assert sorted(model["tags"]) == sorted(version.tags) and len(model["images"]) == 2
    assert await remembered(daemon, sha) == [("found", "civarchive")]


async def test_a_redirect_to_a_host_that_is_not_a_source_is_not_followed(
        daemon_factory: Start, models: Path, web_sources: WebSources, elsewhere: Elsewhere) -> None:
    path = write_model(models / "loras" / "redirected.safetensors")
    sha, _ = digests(path)
    version = web_sources.add(sample_version(43, sha, on_civarchive=False))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    await daemon.import_files(path)
    elsewhere.body = json.dumps(web_sources.version_doc(version)).encode()
    web_sources.redirect("by-hash", f"{elsewhere.url}/api/v1/model-versions/by-hash/{sha}")
    error = await fetch_error(daemon, sha)
    assert "refused" in error and elsewhere.url.removeprefix("http://") in error, error
    assert elsewhere.hits == []
    assert await remembered(daemon, sha) == []
    assert "web" not in (await daemon.get(f"/api/models/{sha}"))["meta_json"]

    # A preview redirected there is left out too; the record and the other preview are taken.
    elsewhere.body, elsewhere.content_type = version.images[0].data(), version.images[0].content_type
    web_sources.redirect("image", f"{elsewhere.url}/images/{version.images[0].name}")
    answer = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert answer["state"] == "found" and answer["changed"]["images"] == 1, answer
    assert elsewhere.hits == []
    assert len((await daemon.get(f"/api/models/{sha}"))["images"]) == 1


async def test_an_answer_over_the_size_cap_is_refused_and_nothing_is_stored(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "bloated", 44)
    web_sources.oversize("by-hash", MAX_JSON_BYTES + 256 * 1024)
    web_sources.oversize("archive", MAX_JSON_BYTES + 256 * 1024)
    error = await fetch_error(daemon, sha)
    assert f"more than the {MAX_JSON_BYTES} bytes" in error, error
    assert await remembered(daemon, sha) == []
    model = await daemon.get(f"/api/models/{sha}")
    assert "web" not in model["meta_json"] and model["images"] == [] and model["tags"] == []

    # Not remembered as anything: the next fetch asks again. Its first preview is over the image cap: left out,
    # and fetched by the fetch after.
    web_sources.oversize("image", MAX_IMAGE_BYTES + 64 * 1024)
    answer = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert answer["state"] == "found" and not answer["remembered"] and answer["changed"]["images"] == 1, answer
    again = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch", {"force": True})
    assert again["changed"]["images"] == 1
    assert len((await daemon.get(f"/api/models/{sha}"))["images"]) == 2


async def test_not_found_older_than_a_week_is_asked_again_and_a_newer_one_is_not(
        daemon_factory: Start, databases: Databases, models: Path, web_sources: WebSources, tmp_path: Path) -> None:
    stale, fresh = (write_model(models / "loras" / f"{name}.safetensors") for name in ("stale", "fresh"))
    stale_sha, fresh_sha = digests(stale)[0], digests(fresh)[0]
    version = web_sources.add(sample_version(45, stale_sha))
    web_sources.add(sample_version(46, fresh_sha))  # known by now, but "not found" yesterday is believed
    now = time.time()
    data_dir = tmp_path / "data"

    async def said_not_found(file: Path) -> None:
        store = sqlite_store(file)
        await store.open()
        try:
            for sha, age in ((stale_sha, 8 * DAY_S), (fresh_sha, DAY_S)):
                await store.lookups.save_lookup(LookupState(sha, "not_found", None, now - age, [], None))
        finally:
            await store.close()

    data_dir.mkdir()
    await databases.filled(data_dir, said_not_found)
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    await daemon.import_files(stale, fresh)

    answer = await daemon.call("POST", f"/api/models/{fresh_sha}/metadata/fetch")
    assert answer["state"] == "not_found" and answer["remembered"], answer
    assert abs(answer["checked_at"] - (now - DAY_S)) < 1
    assert web_sources.requests == []

    answer = await daemon.call("POST", f"/api/models/{stale_sha}/metadata/fetch")
    assert answer["state"] == "found" and not answer["remembered"], answer
    assert [r.path.rsplit("/", 1)[-1] for r in web_sources.hits("by-hash")] == [stale_sha]
    assert (await daemon.get(f"/api/models/{stale_sha}"))["meta_json"]["web"]["model_name"] == version.model_name
    assert await remembered(daemon, stale_sha) == [("found", "civitai")]


async def test_a_preview_on_a_host_that_is_not_a_source_is_not_fetched(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    path = write_model(models / "loras" / "elsewhere.safetensors")
    sha, _ = digests(path)
    version = sample_version(47, sha)
    stray = Image("v47-stray.png", 320, 320, site="cdn", colour=(10, 200, 10))
    version.images.insert(1, stray)  # between the two the sources serve
    web_sources.add(version)
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    await daemon.import_files(path)
    answer = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert answer["state"] == "found" and answer["changed"]["images"] == 2, answer
    assert web_sources.count("image", "cdn") == 0
    assert web_sources.count("image", "civitai") == 2
    model = await daemon.get(f"/api/models/{sha}")
    assert [(i["width"], i["height"]) for i in model["images"]] == [(640, 960), (512, 512)]
    assert model["meta_json"]["trigger_words"] == version.trained_words

