"""The real daemon on the fixture sources (`web_sources`): a tag the user deleted from the whole library, or
renamed, is not fetched back onto the models that carried it, neither by a fetch (forced or not) nor by the
background queue taking the remembered record; and "every model lacking metadata" asks again about a model whose
"not found" is more than a week old, not about one from yesterday."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from test_daemon_lookups import Start, idle_lookups, one_model, source_args

from conftest import Daemon, digests, poll, write_model
from web_sources import WebSources, sample_version

DAY_S = 86400.0


async def _tag_id(daemon: Daemon, name: str) -> int:
    return next(t["id"] for t in (await daemon.get("/api/tags"))["tags"] if t["name"] == name)


async def _fetched_again(daemon: Daemon, sha: str, web_sources: WebSources) -> dict[str, Any]:
    """The model after a fetch, a forced fetch, and a pass of the background queue (from the remembered record,
    with no request), each of which takes no tag."""
    for body in ({}, {"force": True}):
        answer = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch", body)
        assert answer["state"] == "found" and answer["changed"]["tags"] == [], answer
    asked = len(web_sources.requests)
    assert (await daemon.call("POST", "/api/metadata/fetch", {"sha256s": [sha]}, expect=202))["queued"] == 1
    await poll(idle_lookups(daemon), "the queued lookup to finish")
    assert len(web_sources.requests) == asked
    model: dict[str, Any] = await daemon.get(f"/api/models/{sha}")
    return model


async def test_a_tag_deleted_from_the_library_is_not_fetched_back(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "deleted", 40)
    first = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert "style" in first["changed"]["tags"]
    await daemon.call("DELETE", f"/api/tags/{await _tag_id(daemon, 'style')}")
    model = await _fetched_again(daemon, sha, web_sources)
    assert "style" not in model["tags"] and model["removed_tags"] == ["style"]
    marked = [name for mark in model["meta_json"]["fetched"]["tags"] for name in mark["names"]]
    assert "style" not in marked and sorted(marked) == sorted(model["tags"])  # each of the web's tags marked once
    assert "style" not in [t["name"] for t in (await daemon.get("/api/tags"))["tags"]]


async def test_a_renamed_tag_is_not_fetched_back_under_its_old_name(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "renamed", 41)
    await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    lighting = await _tag_id(daemon, "lighting")
    renamed = await daemon.call("PATCH", f"/api/tags/{lighting}", {"name": "light-and-shade"})
    assert renamed == {"id": lighting, "name": "light-and-shade"}
    model = await _fetched_again(daemon, sha, web_sources)
    assert "light-and-shade" in model["tags"] and "lighting" not in model["tags"]
    assert model["removed_tags"] == ["lighting"]


async def test_every_model_lacking_metadata_takes_a_week_old_not_found_and_not_yesterdays(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    old, recent = (write_model(models / "loras" / f"{name}.safetensors") for name in ("old", "recent"))
    args = ("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    daemon = await daemon_factory(*args)
    shas = await daemon.import_files(old, recent)
    for sha in shas:
        assert (await daemon.call("POST", f"/api/models/{sha}/metadata/fetch"))["state"] == "not_found"
    assert daemon.terminate() == 0
    now = time.time()
    for sha, age in zip(shas, (8 * DAY_S, DAY_S), strict=True):
        await daemon.db.rows("UPDATE web_lookups SET checked_at = ? WHERE sha256 = ?", now - age, sha)
    for n, path in enumerate((old, recent)):
        web_sources.add(sample_version(42 + n, digests(path)[0]))  # the sources know both by now
    daemon = await daemon_factory(*args, data_dir=daemon.data_dir)
    asked = web_sources.count("by-hash")
    assert (await daemon.call("POST", "/api/metadata/fetch", {}, expect=202))["queued"] == 1
    await poll(idle_lookups(daemon), "the stale not-found to be looked up again")
    assert web_sources.count("by-hash") == asked + 1
    assert (await daemon.get(f"/api/models/{shas[0]}"))["meta_json"]["web"]["source"] == "civitai"
    assert "web" not in (await daemon.get(f"/api/models/{shas[1]}"))["meta_json"]
    lookup = await daemon.call("POST", f"/api/models/{shas[1]}/metadata/fetch")
    assert lookup["state"] == "not_found" and lookup["remembered"]  # yesterday's word still stands
