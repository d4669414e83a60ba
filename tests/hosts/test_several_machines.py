"""One library for several machines: two daemons (two host_ids with their own models folders and data_dirs) on one
real PostgreSQL. What one host files is in the other's library, a change through either reaches the other's
event stream, content on both hosts is one model with a file on each, and a model is missing only when no host
has its file."""

from __future__ import annotations

import io
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from playwright.async_api import Page, expect
from store.store_backends import migrated_database

from conftest import Daemon, EventLog, digests, poll, write_model
from pg_server import PgServer


async def _two_hosts(
    daemon_factory: Callable[..., Awaitable[Daemon]], pg_server: PgServer, tmp_path: Path
) -> tuple[Daemon, Daemon, Path, Path]:
    """Host A and host B, each with its own models folder and data_dir, on one database, with the images in one
    folder both mount (as on a NAS)."""
    url = (await migrated_database(pg_server)).dsn
    hosts = []
    for name in ("host-a", "host-b"):
        models = tmp_path / name / "models"
        (models / "loras").mkdir(parents=True)
        daemon = await daemon_factory("--models-root", str(models), "--database-url", url, "--host-id", name,
                                      "--auto-import", "no_conflict", "--images-dir", str(tmp_path / "shared-images"),
                                      data_dir=tmp_path / name / "data")
        hosts.append((daemon, models))
    (a, a_models), (b, b_models) = hosts
    return a, b, a_models, b_models


@pytest.fixture
async def hosts(
    daemon_factory: Callable[..., Awaitable[Daemon]], pg_server: PgServer, tmp_path: Path
) -> tuple[Daemon, Daemon, Path, Path]:
    return await _two_hosts(daemon_factory, pg_server, tmp_path)


async def _event(log: EventLog, type_: str, **match: Any) -> dict[str, Any]:
    async def seen() -> dict[str, Any] | None:
        found = log.of(type_, **match)
        return found[0] if found else None

    return await poll(seen, f"a {type_} event matching {match}")


async def _model(d: Daemon, sha256: str) -> dict[str, Any] | None:
    status, body = await d.request("GET", f"/api/models/{sha256}")
    return body if status == 200 else None


async def test_a_file_filed_on_one_host_is_in_the_other_hosts_library_and_stream(hosts) -> None:
    _, b, a_models, _ = hosts
    b_events, task = await b.events()
    try:
        lora = write_model(a_models / "loras" / "from-a.safetensors")
        sha, _ = digests(lora)
        started = time.monotonic()
        added = await _event(b_events, "model.added", sha256=sha)
        latency = time.monotonic() - started
        assert added["path"] == str(lora)
        model = await poll(lambda: _model(b, sha), "the model in B's library")
        assert model["name"] == "from-a" and model["status"] == "ok"
        assert [(f["host"], f["path"]) for f in model["files"]] == [("host-a", str(lora))]
        listed = await b.get("/api/models?status=all")
        assert [m["sha256"] for m in listed["models"]] == [sha]
        print(f"file written on A to model.added on B's stream: {latency:.2f} s (settle included)")
    finally:
        task.cancel()


async def test_an_edit_through_one_host_reaches_the_others_stream(hosts) -> None:
    a, b, a_models, _ = hosts
    sha, _ = digests(write_model(a_models / "loras" / "edited.safetensors"))
    await poll(lambda: _model(b, sha), "the model in B's library")
    a_events, task = await a.events()
    try:
        await b.call("PATCH", f"/api/models/{sha}", {"name": "Named on B", "tags": ["from-b"]})
        await _event(a_events, "model.updated", sha256=sha)
        model = await _model(a, sha)
        assert model is not None and model["name"] == "Named on B" and model["tags"] == ["from-b"]
    finally:
        task.cancel()


async def test_the_same_content_on_both_hosts_is_one_model_with_a_file_on_each(hosts) -> None:
    a, b, a_models, b_models = hosts
    on_a = write_model(a_models / "loras" / "same-a.safetensors", seed=b"twins")
    on_b = write_model(b_models / "loras" / "same-b.safetensors", seed=b"twins")
    sha, _ = digests(on_a)

    async def on_both() -> dict[str, Any] | None:
        model = await _model(a, sha)
        return model if model is not None and len(model["files"]) == 2 else None

    model = await poll(on_both, "one model with a file on each host")
    assert sorted((f["host"], f["path"]) for f in model["files"]) == [("host-a", str(on_a)), ("host-b", str(on_b))]
    for d in (a, b):
        listed = await d.get("/api/models?status=all")
        assert [m["sha256"] for m in listed["models"]] == [sha]
        assert not await d.pending(), "no queue item is left on either host"
    # Each host's nodes load their own file.
    assert (await a.get(f"/api/models/{sha}/path"))["path"] == str(on_a)
    assert (await b.get(f"/api/models/{sha}/path"))["path"] == str(on_b)


async def test_a_model_is_missing_only_when_no_host_has_its_file(hosts) -> None:
    a, b, a_models, b_models = hosts
    on_a = write_model(a_models / "loras" / "kept.safetensors", seed=b"kept")
    on_b = write_model(b_models / "loras" / "kept.safetensors", seed=b"kept")
    sha, _ = digests(on_a)

    async def files(d: Daemon, n: int) -> dict[str, Any] | None:
        model = await _model(d, sha)
        return model if model is not None and len(model["files"]) == n else None

    await poll(lambda: files(a, 2), "a file on each host")
    await b.call("PATCH", f"/api/models/{sha}", {"meta_json": {"description": "typed on B"}})
    on_a.unlink()
    model = await poll(lambda: files(b, 1), "A's file gone from the model")
    assert model["status"] == "ok" and model["files"][0]["host"] == "host-b"
    assert (await a.get(f"/api/models/{sha}/path"))["path"] != str(on_a)
    on_b.unlink()

    async def missing() -> dict[str, Any] | None:
        model = await _model(a, sha)
        return model if model is not None and model["status"] == "missing" else None

    model = await poll(missing, "the model missing once no host has it")
    assert model["meta_json"]["description"] == "typed on B"  # what the user typed outlives every file


async def test_an_image_added_through_one_host_is_shown_by_the_other(hosts) -> None:
    a, b, a_models, _ = hosts
    sha, _ = digests(write_model(a_models / "loras" / "pictured.safetensors"))
    await poll(lambda: _model(b, sha), "the model in B's library")
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, "PNG")
    form = aiohttp.FormData()
    form.add_field("image", out.getvalue(), filename="cover.png", content_type="image/png")
    status, added = await a.request("POST", f"/api/models/{sha}/images", data=form)
    assert status == 201, added
    model = await _model(b, sha)
    assert model is not None and [i["seq"] for i in model["images"]] == [0]
    assert b.session is not None
    async with b.session.get(b.url + model["images"][0]["urls"]["medium"]) as resp:
        assert resp.status == 200 and resp.content_type == "image/webp"
        assert Image.open(io.BytesIO(await resp.read())).size == (40, 30)


async def test_a_new_file_on_a_share_both_hosts_mount_is_read_once(
    daemon_factory: Callable[..., Awaitable[Daemon]], pg_server: PgServer, tmp_path: Path
) -> None:
    """The NAS is one folder; host B mounts it at another path (a symlink here), and each names it `nas`."""
    url = (await migrated_database(pg_server)).dsn
    nas = tmp_path / "nas"
    (nas / "loras").mkdir(parents=True)
    (tmp_path / "b-mount").symlink_to(nas)
    daemons = []
    for name, mount in (("host-a", nas), ("host-b", tmp_path / "b-mount")):
        daemons.append(await daemon_factory(
            "--models-root", str(mount), "--shared-root", f"{mount}=nas", "--database-url", url, "--host-id", name,
            "--auto-import", "no_conflict", data_dir=tmp_path / name / "data"))
    a, b = daemons
    await a.watching()
    await b.watching()
    lora = write_model(nas / "loras" / "on-the-nas.safetensors", 3 * 1024 * 1024)
    sha, _ = digests(lora)

    async def on_both() -> dict[str, Any] | None:
        model = await _model(a, sha)
        return model if model is not None and len(model["files"]) == 2 else None

    model = await poll(on_both, "the NAS file recorded on both hosts")
    assert sorted((f["host"], f["path"]) for f in model["files"]) == [
        ("host-a", str(lora)), ("host-b", str(tmp_path / "b-mount" / "loras" / "on-the-nas.safetensors"))]
    read = [(await d.get("/api/status"))["session"]["files_hashed"] for d in (a, b)]
    assert sorted(read) == [0, 1], read  # one host read it; the other used its hashes
    assert "event=hash.shared" in (a.log() + b.log())


async def test_the_page_of_one_host_names_the_other_hosts_files(hosts, page: Page) -> None:
    _, b, a_models, b_models = hosts
    on_a = write_model(a_models / "loras" / "both-a.safetensors", seed=b"both")
    write_model(b_models / "loras" / "both-b.safetensors", seed=b"both")
    only_a = write_model(a_models / "loras" / "only-a.safetensors")
    sha, _ = digests(on_a)
    sha_only, _ = digests(only_a)

    async def on_both() -> dict[str, Any] | None:
        model = await _model(b, sha)
        return model if model is not None and len(model["files"]) == 2 else None

    await poll(on_both, "a file on each host")
    await poll(lambda: _model(b, sha_only), "A's other model in B's library")
    await page.goto(f"{b.url}/?model={sha}")
    hosts_list = page.get_by_test_id("details-hosts")
    await expect(hosts_list).to_contain_text("host-a")
    await expect(hosts_list).to_contain_text(str(on_a))
    await expect(page.get_by_test_id("details-path")).to_have_text(str(b_models / "loras" / "both-b.safetensors"))
    # A model with no file on this host says where its file is.
    await page.goto(f"{b.url}/?model={sha_only}")
    await expect(page.get_by_test_id("details-info")).to_contain_text("on host-a")
    await expect(page.get_by_test_id("details-path")).to_have_text(str(only_a))
