"""The real daemon looking its models up in the fixture sources on loopback (`web_sources`): the record fills what
the user has not set and nothing they set or removed, the previews are stored in three tiers, "not found" is
remembered and errors are not, new models are looked up by themselves, a bulk lookup runs in the background and
goes on after a restart, and the key is never shown."""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PIL import Image

from conftest import Daemon, digests, poll, write_model
from web_sources import WebSources, sample_version

KEY = "civitai-secret-key-42"
Start = Callable[..., Awaitable[Daemon]]


def source_args(sources: WebSources, *more: str) -> tuple[str, ...]:
    return ("--metadata-source", "civitai", "--metadata-source", "civarchive",
            "--civitai-api-base", sources.civitai, "--civarchive-api-base", sources.civarchive,
            "--civitai-api-key", KEY, "--metadata-rate", "50", *more)


async def imported(daemon: Daemon, path: Path) -> str:
    (sha,) = await daemon.import_files(path)
    return sha


async def one_model(start: Start, models: Path, sources: WebSources, name: str,
                    known: int | None) -> tuple[Daemon, str]:
    """A daemon on the fixture sources (looking up only when asked) with one model imported, which the sources
    know as sample version `known` (None: unknown everywhere); the daemon and the model's sha256."""
    path = write_model(models / "loras" / f"{name}.safetensors")
    sha, _ = digests(path)
    if known is not None:
        sources.add(sample_version(known, sha))
    daemon = await start("--models-root", str(models), *source_args(sources, "--metadata-auto", "never"))
    await imported(daemon, path)
    return daemon, sha


async def test_a_fetch_fills_the_model_and_stores_its_previews(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "nimbus", 1)
    version = web_sources.versions[-1]
    answer = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert answer["state"] == "found" and answer["source"] == "civitai" and not answer["remembered"]
    assert answer["changed"] == {"fields": ["community_links", "description", "trigger_words"],
                                 "tags": version.tags, "images": 2}
    model = await daemon.get(f"/api/models/{sha}")
    meta = model["meta_json"]
    assert meta["description"] == version.description and meta["trigger_words"] == version.trained_words
    assert meta["fetched"]["description"]["source"] == "civitai"
    assert meta["web"]["model_name"] == version.model_name and meta["web"]["version_id"] == version.version_id
    assert meta["web"]["images"][0]["meta"] == version.images[0].meta  # generation parameters kept beside it
    assert sorted(model["tags"]) == sorted(version.tags)
    assert model["base_model"] != "unknown"
    assert [(i["width"], i["height"]) for i in model["images"]] == [(640, 960), (512, 512)]
    for tier in ("low", "medium", "high"):
        async with daemon.session.get(daemon.url + model["images"][0]["urls"][tier]) as resp:  # type: ignore[union-attr]
            assert resp.status == 200
            picture = Image.open(io.BytesIO(await resp.read()))
            assert picture.format == "WEBP" and not picture.info.get("exif")
    assert KEY not in daemon.log() and KEY not in str(answer) and KEY not in str(await daemon.get("/api/status"))


async def test_what_the_user_set_or_removed_stays_as_they_left_it(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "mine", 2)
    version = web_sources.versions[-1]
    await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    removed = version.tags[0]
    await daemon.call("PATCH", f"/api/models/{sha}", {
        "meta_json": {"description": "my own words", "trigger_words": []}, "tags_remove": [removed]})
    again = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch", {"force": True})
    assert again["state"] == "found" and again["changed"]["fields"] == [] and again["changed"]["tags"] == []
    assert again["changed"]["images"] == 0  # each preview is fetched once
    model = await daemon.get(f"/api/models/{sha}")
    assert model["meta_json"]["description"] == "my own words" and model["meta_json"]["trigger_words"] == []
    assert removed not in model["tags"] and len(model["images"]) == 2


async def test_the_tags_base_model_and_images_a_fetch_took_say_where_and_when_until_the_user_changes_them(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "marked", 9)
    version = web_sources.versions[-1]
    await daemon.call("PATCH", f"/api/models/{sha}", {"tags": ["mine"]})
    before = time.time()
    await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    model = await daemon.get(f"/api/models/{sha}")
    fetched = model["meta_json"]["fetched"]
    (group,) = fetched["tags"]
    assert group["source"] == "civitai" and before <= group["at"] <= time.time()
    assert group["names"] == version.tags and "mine" not in group["names"]  # the user's tag is not the web's
    assert model["base_model"] != "unknown" and fetched["base_model"] == {"source": "civitai", "at": group["at"]}
    images = model["meta_json"]["web"]["images"]
    assert sorted(i["seq"] for i in images) == sorted(i["seq"] for i in model["images"])
    assert all(i["source"] == "civitai" and i["at"] == group["at"] for i in images)

    # A tag taken off, by a PATCH or the bulk bar, is no longer marked; a user's base model drops that mark.
    first, second = version.tags[:2]
    await daemon.call("PATCH", f"/api/models/{sha}", {"tags_remove": [first]})
    await daemon.call("POST", "/api/models/bulk", {"action": "tags_remove", "sha256s": [sha], "tags": [second]})
    await daemon.call("POST", "/api/models/bulk", {"action": "set_base_model", "sha256s": [sha],
                                                   "base_model": "Pony"})
    model = await daemon.get(f"/api/models/{sha}")
    fetched = model["meta_json"]["fetched"]
    assert fetched["tags"] == [{**group, "names": version.tags[2:]}]
    assert model["base_model"] == "Pony" and "base_model" not in fetched
    assert "description" in fetched  # the other marks stay

    # Fetched again, nothing comes back: the removed tags stay off, the user's base model stays, no mark returns.
    again = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch", {"force": True})
    assert again["changed"] == {"fields": [], "tags": [], "images": 0}
    model = await daemon.get(f"/api/models/{sha}")
    assert model["base_model"] == "Pony" and "base_model" not in model["meta_json"]["fetched"]
    assert model["meta_json"]["fetched"]["tags"] == [{**group, "names": version.tags[2:]}]
    assert first not in model["tags"] and second not in model["tags"]


async def test_not_found_is_remembered_for_a_week_and_an_error_never(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, sha = await one_model(daemon_factory, models, web_sources, "unknown", None)
    web_sources.fail("by-hash", 503, times=3, body="<title>Just a moment...</title>", content_type="text/html")
    status, answer = await daemon.request("POST", f"/api/models/{sha}/metadata/fetch")
    assert status == 502 and "no answer to go by" in answer["error"]
    first = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert first["state"] == "not_found" and not first["remembered"]  # the outage was not taken for "not found"
    asked = web_sources.count("by-hash")
    second = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    assert second["state"] == "not_found" and second["remembered"] and web_sources.count("by-hash") == asked
    forced = await daemon.call("POST", f"/api/models/{sha}/metadata/fetch", {"force": True})
    assert not forced["remembered"] and web_sources.count("by-hash") == asked + 1


async def test_a_model_kept_away_from_the_web_is_never_looked_up(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    path = write_model(models / "loras" / "private.safetensors")
    sha, _ = digests(path)
    web_sources.add(sample_version(3, sha))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    await imported(daemon, path)
    await daemon.call("PATCH", f"/api/models/{sha}", {"meta_json": {"never_fetch": True}})
    status, answer = await daemon.request("POST", f"/api/models/{sha}/metadata/fetch", json={"force": True})
    assert status == 409 and "never_fetch" in answer["error"]
    assert (await daemon.call("POST", "/api/metadata/fetch", {}, expect=202))["queued"] == 0
    assert web_sources.requests == []


async def test_a_new_model_is_looked_up_by_itself(daemon_factory: Start, models: Path,
                                                  web_sources: WebSources) -> None:
    path = write_model(models / "loras" / "fresh.safetensors")
    sha, _ = digests(path)
    version = web_sources.add(sample_version(4, sha))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources))
    await imported(daemon, path)

    async def filled() -> dict[str, Any] | None:
        model = await daemon.get(f"/api/models/{sha}")
        return model if model["meta_json"].get("web") and len(model["images"]) == 2 else None

    model = await poll(filled, "the new model to be looked up")
    assert model["meta_json"]["trigger_words"] == version.trained_words


async def test_a_bulk_lookup_reports_progress_and_goes_on_after_a_restart(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    paths = [write_model(models / "loras" / f"bulk{n}.safetensors") for n in range(6)]
    shas = [digests(p)[0] for p in paths]
    for n, sha in enumerate(shas[:5]):
        web_sources.add(sample_version(10 + n, sha))  # the sixth is known nowhere
    args = ("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    daemon = await daemon_factory(*args)
    await daemon.import_files(*paths)
    web_sources.slow("by-hash", 0.5, times=100)  # slow enough that the daemon is stopped part way
    log, task = await daemon.events()
    assert (await daemon.call("POST", "/api/metadata/fetch", {}, expect=202))["queued"] == 6
    await web_sources.wait_for("by-hash", 2)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(30) == 0
    task.cancel()
    assert log.of("lookup.progress"), "no progress on the event stream"
    daemon = await daemon_factory(*args, data_dir=daemon.data_dir)

    async def done() -> dict[str, Any] | None:
        lookups = (await daemon.get("/api/status"))["lookups"]
        return lookups if lookups["queued"] == 0 and not lookups["running"] else None

    await poll(done, "the queue to be drained after the restart", timeout=60)
    for sha in shas[:5]:
        assert (await daemon.get(f"/api/models/{sha}"))["meta_json"]["web"]["source"] == "civitai"
    assert "web" not in (await daemon.get(f"/api/models/{shas[5]}"))["meta_json"]


async def test_the_daemon_hashes_and_answers_while_a_lookup_hangs(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    first = write_model(models / "loras" / "waiting.safetensors")
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    await imported(daemon, first)
    web_sources.slow("by-hash", 20, times=1)  # the source holds the answer back (under the lookups' timeout)
    await daemon.call("POST", "/api/metadata/fetch", {}, expect=202)
    await web_sources.wait_for("by-hash", 1)
    second = write_model(models / "loras" / "meanwhile.safetensors")
    row = await daemon.wait_row(second, timeout=10)  # hashed while the lookup waits
    assert row["sha256"] == digests(second)[0]
    lookups = (await daemon.get("/api/status"))["lookups"]
    assert lookups["running"] and lookups["done"] == 0  # the lookup is still waiting for its answer


async def test_a_hashed_file_is_looked_up_before_import_and_its_model_takes_the_record_from_memory(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    path = write_model(models / "loras" / "inbox.safetensors")
    sha, _ = digests(path)
    version = web_sources.add(sample_version(5, sha))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources))
    row = await daemon.wait_row(path)

    async def shown() -> dict[str, Any] | None:
        detail = await daemon.get(f"/api/pending/{row['id']}")
        return detail if detail["meta_json"].get("web") and len(detail["images"]) == 2 else None

    detail = await poll(shown, "the queued file to be looked up")
    assert detail["meta_json"]["web"]["model_name"] == version.model_name
    assert "description" not in detail["meta_json"]  # nothing filled before the user imports it
    asked = len(web_sources.requests)
    await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})

    async def filled() -> dict[str, Any] | None:
        model = await daemon.get(f"/api/models/{sha}")
        return model if model["meta_json"].get("description") else None

    model = await poll(filled, "the model to take the remembered record")
    assert model["meta_json"]["trigger_words"] == version.trained_words
    assert sorted(model["tags"]) == sorted(version.tags)
    assert len(model["images"]) == 2 and len(web_sources.requests) == asked  # no request, no preview twice
    seqs = {i["seq"] for i in model["images"]}
    assert {i["seq"] for i in model["meta_json"]["web"]["images"]} == seqs  # numbered as the model's images
    status, answer = await daemon.request("POST", "/api/pending/999999/metadata/fetch")
    assert status == 404, answer


async def test_with_lookups_only_when_asked_a_file_looked_up_in_the_queue_still_fills_its_model_at_import(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    asked_for = write_model(models / "loras" / "asked.safetensors")
    left = write_model(models / "loras" / "left.safetensors")
    version = web_sources.add(sample_version(6, digests(asked_for)[0]))
    web_sources.add(sample_version(8, digests(left)[0]))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    rows = await daemon.ready_rows(asked_for, left)
    answer = await daemon.call("POST", f"/api/pending/{rows[0]['id']}/metadata/fetch", {})
    assert answer["state"] == "found" and answer["changed"] == {"fields": [], "tags": [], "images": 2}
    asked = len(web_sources.requests)
    sha, other = await daemon.import_files(asked_for, left)

    async def filled() -> dict[str, Any] | None:
        model = await daemon.get(f"/api/models/{sha}")
        return model if model["meta_json"].get("description") else None

    model = await poll(filled, "the model to take the remembered record")
    assert model["meta_json"]["trigger_words"] == version.trained_words and len(model["images"]) == 2
    await poll(idle_lookups(daemon), "the lookups to finish")
    assert len(web_sources.requests) == asked  # from memory; the file not asked about is not looked up
    assert "web" not in (await daemon.get(f"/api/models/{other}"))["meta_json"]


def idle_lookups(daemon: Daemon) -> Callable[[], Awaitable[bool]]:
    async def idle() -> bool:
        lookups = (await daemon.get("/api/status"))["lookups"]
        return not lookups["running"] and lookups["queued"] == 0

    return idle


async def test_files_of_the_queue_are_looked_up_in_bulk(daemon_factory: Start, models: Path,
                                                        web_sources: WebSources) -> None:
    paths = [write_model(models / "loras" / f"queued{n}.safetensors") for n in range(3)]
    for n, path in enumerate(paths):
        web_sources.add(sample_version(30 + n, digests(path)[0]))
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    rows = await daemon.ready_rows(*paths)
    await daemon.call("POST", "/api/metadata/fetch", {"pending_ids": [r["id"] for r in rows]}, expect=202)

    async def shown() -> bool:
        details = [await daemon.get(f"/api/pending/{r['id']}") for r in rows]
        return all(d["meta_json"].get("web") for d in details)

    await poll(shown, "the queued files to be looked up")
    status, answer = await daemon.request("POST", "/api/metadata/fetch", json={"pending_ids": [1], "sha256s": []})
    assert status == 400 and "not several" in answer["error"]
