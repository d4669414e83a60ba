"""The lookups' memory and queue over time, in process on a real SQLite store and the fixture sources, with the
clock in the test's hands: "not found" is believed for a week and asked again after it, a failed lookup waits a
minute and then twice as long each time, and a deleted preview is not fetched again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from store.store_backends import new_model, sha, sqlite_store

from hikaze_mm.events.bus import EventBus
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.web_lookups import NOT_FOUND_KEPT_S, RETRY_BASE_S, WebLookups
from hikaze_mm.store.sqlite.store import SQLiteStore
from hikaze_mm.webmeta.lookup import SourceSite, build
from web_sources import Image, WebSources, sample_version


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = sqlite_store(tmp_path / "library.sqlite3")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def lookups(store: SQLiteStore, web_sources: WebSources,
                  tmp_path: Path) -> AsyncIterator[tuple[WebLookups, Clock]]:
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        sites = [SourceSite("civitai", web_sources.civitai), SourceSite("civarchive", web_sources.civarchive)]
        lookup = build(session, sites, 100.0, None, "hikaze-mm/test", backoff=0.01)
        yield WebLookups(store, lookup, ImageFiles(tmp_path / "images"), EventBus(), asyncio.Semaphore(1), clock), clock


async def test_not_found_is_asked_again_after_a_week(store: SQLiteStore, web_sources: WebSources,
                                                     lookups: tuple[WebLookups, Clock]) -> None:
    web, clock = lookups
    await new_model(store, "unknown", sha("a"))
    assert (await web.fetch_model(sha("a"), False))["state"] == "not_found"
    clock.now += NOT_FOUND_KEPT_S - 1
    assert (await web.fetch_model(sha("a"), False))["remembered"]
    clock.now += 2
    assert not (await web.fetch_model(sha("a"), False))["remembered"]
    assert web_sources.count("by-hash") == 2


async def test_a_failed_lookup_waits_a_minute_then_twice_as_long(store: SQLiteStore, web_sources: WebSources,
                                                                 lookups: tuple[WebLookups, Clock]) -> None:
    web, clock = lookups
    await new_model(store, "flaky", sha("b"))
    web_sources.fail("by-hash", 500, times=6)  # two lookups' worth: each tries three times
    await web.queue([sha("b")], False)
    waits = []
    for _ in range(2):
        (item,) = await store.lookups.due_lookups(clock.now, 10)
        await web._one(item)
        assert await store.lookups.due_lookups(clock.now, 10) == []  # not due before its wait is over
        later = clock.now
        while not await store.lookups.due_lookups(later, 10):
            later += 1
        waits.append(later - clock.now)
        clock.now = later
    assert 0.8 * RETRY_BASE_S <= waits[0] <= 1.2 * RETRY_BASE_S + 1
    assert 1.6 * RETRY_BASE_S <= waits[1] <= 2.4 * RETRY_BASE_S + 1
    assert await store.lookups.lookup_state(sha("b")) is None  # an outage is not remembered as anything
    web_sources.add(sample_version(1, sha("b")))
    (item,) = await store.lookups.due_lookups(clock.now, 10)
    await web._one(item)
    state = await store.lookups.lookup_state(sha("b"))
    assert state is not None and state.state == "found" and await store.lookups.queued_lookups() == 0


async def test_a_deleted_preview_is_not_fetched_again(store: SQLiteStore, web_sources: WebSources,
                                                      lookups: tuple[WebLookups, Clock]) -> None:
    web, _ = lookups
    await new_model(store, "pictured", sha("c"))
    web_sources.add(sample_version(2, sha("c")))
    assert (await web.fetch_model(sha("c"), False))["changed"]["images"] == 2
    await store.images.delete_image(sha("c"), 0)
    again = await web.fetch_model(sha("c"), True)
    assert again["changed"]["images"] == 0 and web_sources.count("image") == 2
    detail = await store.models.model_detail(sha("c"))
    assert detail is not None and [i["seq"] for i in detail["images"]] == [1]


async def test_previews_come_only_from_allowed_hosts_and_within_the_size_cap(
        store: SQLiteStore, web_sources: WebSources, lookups: tuple[WebLookups, Clock]) -> None:
    web, _ = lookups
    await new_model(store, "hosted", sha("d"))
    images = [Image("here.png", 64, 64), Image("elsewhere.png", 64, 64, site="cdn"), Image("big.png", 64, 64)]
    web_sources.add(sample_version(3, sha("d"), images=images))
    web_sources.oversize("image", 41 * 1024 * 1024)  # the first image asked for: over the cap
    answer = await web.fetch_model(sha("d"), False)
    assert answer["state"] == "found" and answer["changed"]["images"] == 1
    assert [r for r in web_sources.requests if r.site == "cdn"] == []  # never asked
    assert answer["changed"]["fields"]  # the record's text is taken though some previews were not
    detail = await store.models.model_detail(sha("d"))
    assert detail is not None and [i["width"] for i in detail["images"]] == [64]


async def test_a_record_taken_while_civitai_was_down_is_asked_for_again_later(
        store: SQLiteStore, web_sources: WebSources, lookups: tuple[WebLookups, Clock]) -> None:
    web, clock = lookups
    await new_model(store, "archived copy", sha("e"))
    web_sources.add(sample_version(5, sha("e")))
    web_sources.fail("by-hash", 500, times=3)  # one lookup's tries
    answer = await web.fetch_model(sha("e"), False)
    assert answer["state"] == "found" and answer["source"] == "civarchive" and answer["changed"]["fields"]
    # Queued to ask again, forced (the record in memory would otherwise answer), after the first wait.
    assert await store.lookups.due_lookups(clock.now, 10) == []
    clock.now += 1.2 * RETRY_BASE_S + 1
    (item,) = await store.lookups.due_lookups(clock.now, 10)
    assert item.force
    web_sources.fail("by-hash", 500, times=3)  # still down: found again from the archive, and put back again
    await web._one(item)
    (again,) = await store.lookups.due_lookups(clock.now + 2.4 * RETRY_BASE_S + 1, 10)
    assert again.force and again.attempts == 2
    clock.now += 2.4 * RETRY_BASE_S + 1
    await web._one(again)  # Civitai answers: its record is taken, and the lookup leaves the queue
    state = await store.lookups.lookup_state(sha("e"))
    assert state is not None and state.source == "civitai" and await store.lookups.queued_lookups() == 0
    assert web_sources.count("by-hash") == 7
