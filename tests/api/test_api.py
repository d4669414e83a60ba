"""The HTTP API: shapes, bad input answered with 4xx and a reason, the local-only guard, scan control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from conftest import Daemon, Databases, free_port, poll, write_model
from hikaze_mm.api.routes import create_app
from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("GET", "/api/pending/abc", None, 400, "whole number"),
        ("GET", "/api/pending/0", None, 400, "at least 1"),
        ("GET", "/api/pending/99999", None, 404, "no pending item"),
        ("GET", "/api/pending?status=bogus", None, 400, "`status` must be one of"),
        ("GET", "/api/pending?limit=-1", None, 400, "`limit` must be between"),
        ("GET", "/api/pending?limit=ten", None, 400, "whole number"),
        ("GET", "/api/pending?offset=-5", None, 400, "`offset`"),
        ("GET", "/api/pending?limit=100000", None, 400, "`limit`"),
        ("POST", "/api/scan", "{not json", 400, "not valid JSON"),
        ("POST", "/api/scan", "[1, 2]", 400, "JSON object"),
        ("POST", "/api/scan", '{"roots": "x"}', 400, "`roots`"),
        ("POST", "/api/scan", '{"roots": ["/not/a/root"]}', 400, "not a configured model folder"),
        ("POST", "/api/scan", '{"deep": true}', 400, "unknown field"),
        ("GET", "/api/nope", None, 404, "no such endpoint"),
        ("DELETE", "/api/pending", None, 405, "not allowed"),
        ("POST", "/api/health", "", 405, "not allowed"),
    ],
)
async def test_bad_input_gets_a_clear_4xx(daemon: Daemon, method, path, body, status, words):
    code, answer = await daemon.request(method, path, data=body)
    assert code == status, answer
    assert words in answer["error"]


async def test_bad_input_loses_nothing(daemon: Daemon, models: Path):
    path = write_model(models / "loras" / "keep.safetensors")
    row = await daemon.wait_row(path)
    for bad in ("/api/pending/x", "/api/pending?limit=-1", "/api/pending?status=nope"):
        assert (await daemon.request("GET", bad))[0] == 400
    assert (await daemon.request("POST", "/api/scan", data="{oops"))[0] == 400
    assert await daemon.pending() == [row]


async def test_health_status_and_listing_shapes(daemon: Daemon, models: Path):
    assert (await daemon.get("/api/health"))["status"] == "ok"
    paths = [write_model(models / t / f"{t}.safetensors") for t in ("loras", "vae", "checkpoints")]
    for p in paths:
        await daemon.wait_row(p)
    listing = await daemon.get("/api/pending?type=vae")
    assert listing["total"] == 1 and listing["pending"][0]["type"] == "vae"
    assert set(listing["pending"][0]) == {
        "id", "path", "name", "type", "size_bytes", "status", "sha256", "blake3", "conflict_sha256", "error",
        "discovered_at", "hashed_at", "damaged", "damaged_reason", "base_model", "trigger_words", "cover",
    }
    page = await daemon.get("/api/pending?limit=2&offset=2&status=ready")
    assert page["total"] == 3 and len(page["pending"]) == 1
    status = await daemon.get("/api/status")
    assert status["counts"]["pending"]["ready"] == 3 and status["counts"]["models"] == 0
    assert set(status["queues"]) == {"settling", "hashing", "queued"}


async def test_scan_endpoint_finds_files_the_watcher_cannot_see(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "off")
    await d.wait_idle()
    path = write_model(models / "loras" / "unseen.safetensors")
    code, body = await d.request("POST", "/api/scan", json={"roots": [str(models)]})
    assert (code, body) == (202, {"status": "started"})
    assert (await d.wait_row(path))["type"] == "loras"


@pytest.mark.parametrize(
    ("headers", "method", "path"),
    [
        ({"Host": "evil.example:8789"}, "GET", "/api/status"),
        ({"Origin": "http://evil.example"}, "POST", "/api/scan"),
        ({"Sec-Fetch-Site": "cross-site"}, "POST", "/api/scan"),
    ],
)
async def test_foreign_pages_are_refused(daemon: Daemon, headers, method, path):
    code, body = await daemon.request(method, path, headers=headers)
    assert code == 403 and body["error"]


async def test_same_origin_post_is_allowed(daemon: Daemon):
    await daemon.wait_idle()
    code, _ = await daemon.request("POST", "/api/scan", headers={"Origin": daemon.url})
    assert code == 202


@pytest.fixture
async def service(tmp_path: Path, models: Path, databases: Databases) -> AsyncIterator[App]:
    settings = Settings(models_roots=[models], data_dir=tmp_path / "data", settle_seconds=0.1,
                        watch_mode="off", rescan_interval=0, port=free_port(),
                        database_url=await databases.url(tmp_path / "data"))
    svc = App(settings, watch=False)
    await svc.start()
    yield svc
    await svc.stop()


async def test_second_scan_while_one_runs_is_409(service: App, models: Path):
    server = TestServer(create_app(service.api_parts()), host="127.0.0.1", port=service.settings.port)
    async with server, aiohttp.ClientSession() as http:
        await poll(_idle(service), "the start-up walk to finish")
        write_model(models / "loras" / "new.safetensors")
        async with service.decision_lock:  # holds the walk in its compare step
            async with http.post(server.make_url("/api/scan"), json={}) as resp:
                assert resp.status == 202
            await poll(_walked(service), "the walk to reach its compare step")
            async with http.post(server.make_url("/api/scan"), json={}) as resp:
                assert resp.status == 409
                assert "already running" in (await resp.json())["error"]
        await poll(_idle(service), "the scan to finish")


async def test_events_stream_reports_pending_changes(daemon: Daemon, models: Path):
    events, task = await daemon.events()
    path = write_model(models / "loras" / "evt.safetensors", 2_000_000)
    row = await daemon.wait_row(path)
    await poll(lambda: _has(events.of("pending.updated", id=row["id"], status="ready")), "the ready event")
    assert events.of("pending.added", id=row["id"])[0]["path"] == str(path)
    assert events.of("hash.progress", id=row["id"])[-1]["bytes_done"] == 2_000_000
    path.unlink()
    await poll(lambda: _has(events.of("pending.removed", id=row["id"])), "the removed event")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _has(items: list) -> bool:
    return bool(items)


def _idle(service: App):
    async def check() -> bool:
        walked = service.reconciler.last is not None  # the start-up walk waits for the watches: it may not have begun
        return walked and not service.reconciler.running and service.intake.idle() and not len(service.settler)
    return check


def _walked(service: App):
    async def check() -> bool:
        progress = service.reconciler.progress
        return progress is not None and progress.phase == "comparing"
    return check


async def test_a_comfyui_announces_where_it_listens_and_what_it_loads(daemon: Daemon, tmp_path: Path):
    folders = {"checkpoints": [str(tmp_path / "ckpt")], "loras": [str(tmp_path / "l1"), str(tmp_path / "l2")]}
    peer = await daemon.call("POST", "/api/comfyui/announce", {"origin": "HTTP://127.0.0.1:8188/", "folders": folders})
    assert peer["origin"] == "http://127.0.0.1:8188" and peer["folders"] == folders
    again = await daemon.call("POST", "/api/comfyui/announce", {"origin": "http://127.0.0.1:8188"})
    assert again["folders"] == {}
    assert [p["origin"] for p in (await daemon.get("/api/status"))["comfyui"]] == ["http://127.0.0.1:8188"]
    for bad in ({"origin": "javascript:alert(1)"}, {"origin": "http://x/path"}, {"origin": 5},
                {"origin": "http://127.0.0.1:8188", "folders": {"loras": ["relative/path"]}},
                {"origin": "http://127.0.0.1:8188", "port": 1}):
        status, answer = await daemon.request("POST", "/api/comfyui/announce", json=bad)
        assert status == 400 and answer["error"], bad
    assert len((await daemon.get("/api/status"))["comfyui"]) == 1
