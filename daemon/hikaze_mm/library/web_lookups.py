"""Looking models up on the web by their content, and what the library keeps of the answers.

One model at once when the user asks (`fetch_model`, answered with what changed), or many through the queue in
the database (`queue`, drained by `run` in the background; a restart resumes it). What the sources said is kept by
content: "found" with its record, "not found" for a week (a lookup within it answers from memory unless forced),
and an outage never counts as either: the lookup waits and is tried again, with backoff, and an earlier record
stays as it was. A record a later source gave while an earlier one was down is taken, and the lookup is queued to
ask the sources again later. A model the user keeps away from the web (`never_fetch`) is never looked up.

The record fills what the user has not set (`library.fetched`, applied by the store in one write); its preview
images are downloaded from the hosts the lookup allows, checked and re-encoded like uploads, each fetched once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import LookupProgressed, ModelUpdated, PendingUpdated
from hikaze_mm.inspect.base_model import normalise
from hikaze_mm.library.fetched import fetched_image_urls, web_summary
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.images import ImageError, encode_tiers
from hikaze_mm.library.service import LibraryError
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import ImageStore, LookupStore, ModelStore, PendingStore, SearchStore
from hikaze_mm.store.records import LookupState, ModelQuery, PendingRow, QueuedLookup, WebTaken
from hikaze_mm.webmeta.client import SourceError
from hikaze_mm.webmeta.lookup import FAILED, FOUND, NOT_FOUND, Lookup, Outcome
from hikaze_mm.webmeta.sources import WebRecord

log = logging.getLogger(__name__)

NOT_FOUND_KEPT_S = 7 * 86400  # a "not found" is believed this long
RETRY_BASE_S = 60.0  # a failed lookup waits this long, doubling per failure, up to RETRY_CAP_S
RETRY_CAP_S = 6 * 3600.0
MAX_ATTEMPTS = 12  # about 20 hours of waits in all: then it leaves the queue, and the user may ask again
BATCH = 16  # queued lookups read at once
IDLE_WAKE_S = 60.0  # how often an idle worker looks at the queue for lookups that are due again


class LookupStores(Protocol):
    models: ModelStore
    pending: PendingStore
    images: ImageStore
    lookups: LookupStore
    search: SearchStore


@dataclass
class Progress:
    """The last run of the queue: from the moment it found lookups due to the moment it found none."""

    done: int = 0
    found: int = 0
    not_found: int = 0
    failed: int = 0  # lookups put back for later after an outage or a limit
    last_error: str | None = None

    def to_wire(self, queued: int, running: bool) -> dict[str, Any]:
        return {"queued": queued, "running": running, "done": self.done, "found": self.found,
                "not_found": self.not_found, "failed": self.failed, "last_error": self.last_error}


class WebLookups:
    def __init__(self, store: LookupStores, lookup: Lookup | None, files: ImageFiles, bus: EventBus,
                 encoding: asyncio.Semaphore, clock: Callable[[], float] = time.time):
        self.store = store
        self.lookup = lookup  # None: the lookups are off (`metadata_sources` is empty)
        self.files = files
        self.bus = bus
        self._encoding = encoding  # the library's: one image decoded at a time
        self._clock = clock
        self._wake = asyncio.Event()
        self.progress = Progress()
        self._running = False
        self._queued = 0
        # One taking of a record per content at a time: a click while the queue takes the same content would
        # otherwise download its previews twice.
        self._taking: dict[str, asyncio.Lock] = {}

    # -- one model, now -------------------------------------------------------------------------------------------
    async def fetch_model(self, sha256: str, force: bool) -> dict[str, Any]:
        """Look one model up and take what its record offers; what happened, and what changed."""
        self._enabled()
        model = await self._lookable(sha256)
        state, record, remembered = await self._ask(sha256, model["blake3"], force)
        taken = await self._take(sha256, record) if record is not None else None
        return _answer(state, (taken.fields, taken.tags, taken.images) if taken else None, remembered=remembered)

    async def fetch_pending(self, pending_id: int, force: bool) -> dict[str, Any]:
        """Look a hashed file of the queue up, so its row shows the source's names and previews before it is
        imported (the model it becomes then takes the record from memory)."""
        self._enabled()
        row = await self.store.pending.pending(pending_id)
        if row is None:
            raise LibraryError(404, f"no pending item {pending_id}")
        if row.sha256 is None:
            raise LibraryError(409, "this file is not hashed yet: it is looked up by its content")
        meta = await self.store.pending.pending_meta(pending_id) or {}
        if meta.get("never_fetch") is True:
            raise LibraryError(409, "this file is kept away from the web (`never_fetch`); clear that to look it up")
        state, record, remembered = await self._ask(row.sha256, row.blake3, force)
        images = await self._take_pending(row, record) if record is not None else 0
        return _answer(state, ([], [], images) if record is not None else None, remembered=remembered)

    async def _ask(self, sha256: str, blake3: str | None, force: bool) -> tuple[LookupState, WebRecord | None, bool]:
        """What the sources say of a content: from memory when they said "not found" less than a week ago (unless
        forced), else asked now and remembered; an answer that is no answer raises (502), remembering nothing."""
        assert self.lookup is not None
        now = self._clock()
        remembered = await self.store.lookups.lookup_state(sha256)
        if not force and _believed_not_found(remembered, now):
            assert remembered is not None
            return remembered, None, True
        outcome = await self.lookup.lookup(sha256, blake3)
        if outcome.state == FAILED:
            retry = f" (try again in {outcome.retry_after:.0f} s)" if outcome.retry_after else ""
            raise LibraryError(502, f"the metadata sources gave no answer to go by{retry}: " + "; ".join(outcome.notes),
                               {"notes": outcome.notes, "retry_after": outcome.retry_after})
        state = await self._remember(sha256, outcome, now)
        if outcome.partial:  # the source that gave no answer is asked again later, in the background
            await self.store.lookups.queue_lookups([sha256], True, now)
            await self.store.lookups.delay_lookup(sha256, now + _wait(0, outcome), force=True)
            self._wake.set()
        return state, outcome.record, False

    def _enabled(self) -> None:
        if self.lookup is None:
            raise LibraryError(409, "the metadata lookups are off: `metadata_sources` names no source")

    async def _lookable(self, sha256: str) -> dict[str, Any]:
        """The model's detail, when it may be looked up."""
        detail = await self.store.models.model_detail(sha256)
        if detail is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        if detail["meta_json"].get("never_fetch") is True:
            raise LibraryError(409, "this model is kept away from the web (`never_fetch`); clear that to look it up")
        return detail

    async def _remember(self, sha256: str, outcome: Outcome, now: float) -> LookupState:
        record = outcome.record
        state = LookupState(sha256, outcome.state, record.source if record else None, now, outcome.notes,
                            record.to_json() if record else None)
        await self.store.lookups.save_lookup(state)
        return state

    def _lock(self, sha256: str) -> asyncio.Lock:
        lock = self._taking.get(sha256)
        if lock is None:
            lock = self._taking[sha256] = asyncio.Lock()
        return lock

    async def _take(self, sha256: str, record: WebRecord) -> WebTaken | None:
        """The record into the model: its images not fetched before (pictures only) downloaded and encoded, then
        one write of the store. The images' files are removed again if the write did not take them."""
        async with self._lock(sha256):
            try:
                return await self._take_now(sha256, record)
            finally:
                if not self._lock(sha256).locked():
                    self._taking.pop(sha256, None)

    async def _take_now(self, sha256: str, record: WebRecord) -> WebTaken | None:
        detail = await self.store.models.model_detail(sha256)
        if detail is None:
            return None
        known = fetched_image_urls(detail["meta_json"])
        doc = record.to_json()
        fresh = [i for i in doc["images"] if i["kind"] == "image" and i["url"] not in known]
        encoded = await self._download(fresh)
        seqs = await self.store.images.reserve_image_seqs(sha256, len(encoded)) if encoded else []
        images: list[tuple[int, int, int]] = []
        taken: WebTaken | None = None
        try:
            for seq, (image, picture) in zip(seqs, encoded, strict=True):
                await asyncio.to_thread(self.files.write_model, sha256, seq, picture)
                image.update(seq=seq, width=picture.width, height=picture.height)
                images.append((seq, picture.width, picture.height))
            taken = await self.store.models.take_web_record(sha256, doc, normalise(record.base_model), images)
        finally:
            if taken is None and seqs:
                await asyncio.to_thread(self.files.remove_model, sha256, seqs)
        if taken is not None:
            self.bus.publish(ModelUpdated(sha256=sha256))
        return taken

    async def _take_pending(self, row: PendingRow, record: WebRecord) -> int:
        """The record's previews (not taken before) as the row's images, and the source's facts noted in its
        metadata; how many images it took."""
        assert row.sha256 is not None
        async with self._lock(row.sha256):
            return await self._take_pending_now(row, row.sha256, record)

    async def _take_pending_now(self, row: PendingRow, sha256: str, record: WebRecord) -> int:
        pending_id = row.id
        meta = await self.store.pending.pending_meta(pending_id)
        if meta is None:
            return 0
        known = fetched_image_urls(meta)
        doc = record.to_json()
        fresh = [i for i in doc["images"] if i["kind"] == "image" and i["url"] not in known]
        encoded = await self._download(fresh)
        have = [seq for seq, _, _ in await self.store.images.pending_images(pending_id)]
        first = max(have, default=-1) + 1
        for seq, (image, picture) in enumerate(encoded, start=first):
            image.update(seq=seq, width=picture.width, height=picture.height)
        # Noted first, only while the row still holds this content (its file may have changed meanwhile): a row
        # that went or changed takes no image.
        if not await self.store.pending.note_pending_web(pending_id, sha256,
                                                         web_summary(meta.get("web"), doc, self._clock(), sha256)):
            return 0
        for seq, (_, picture) in enumerate(encoded, start=first):
            await asyncio.to_thread(self.files.write_pending, pending_id, seq, picture)
            await self.store.images.add_pending_image(pending_id, seq, picture.width, picture.height, "web")
        self.bus.publish(PendingUpdated(id=row.id, path=row.path, status=row.status, sha256=row.sha256))
        return len(encoded)

    async def _download(self, images: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Any]]:
        """Each image's bytes, checked and encoded as an upload is; one that fails is left out (and tried again
        by the next fetch, since it was not taken)."""
        assert self.lookup is not None
        done = []
        for image in images:
            try:
                data, _ = await self.lookup.client.image(image["url"])
                async with self._encoding:
                    picture = await asyncio.to_thread(encode_tiers, data)
            except (SourceError, ImageError) as e:
                log.info("a preview of a looked-up model was not taken: %s", e)
                continue
            except Exception:  # one odd preview does not keep the record's text from the model
                log.exception("a preview of a looked-up model was not taken")
                continue
            done.append((image, picture))
        return done

    # -- many models, in the background ---------------------------------------------------------------------------
    async def queue(self, shas: list[str], force: bool) -> int:
        """Queued for the background lookups; how many are waiting now."""
        self._enabled()
        if shas:
            await self.store.lookups.queue_lookups(list(dict.fromkeys(shas)), force, self._clock())
            self._wake.set()
        self._queued = await self.store.lookups.queued_lookups()
        return self._queued

    async def queue_remembered(self, shas: list[str]) -> None:
        """Those of these contents a source has a record of in memory queued, to take it with no request (a file of
        the queue looked up before its import, then imported as a new model)."""
        known = []
        for sha in shas:
            state = await self.store.lookups.lookup_state(sha)
            if state is not None and state.state == FOUND and state.record is not None:
                known.append(sha)
        if known:
            await self.queue(known, False)

    async def queue_pending(self, ids: list[int], force: bool) -> int:
        """The hashed files among these rows of the queue queued; how many lookups are waiting now."""
        rows = await self.store.pending.pending_rows(ids)
        return await self.queue([row.sha256 for row, _ in rows.values() if row.sha256 is not None], force)

    async def queue_unlooked(self) -> int:
        """Every model not looked up yet, not found a week ago or more, or given up on (and not kept away) queued;
        how many are waiting now."""
        after = ""
        while page := await self.store.lookups.unlooked_models(after, 1000, self._clock() - NOT_FOUND_KEPT_S):
            await self.queue(page, False)
            after = page[-1]
        return await self.queue([], False)

    async def queue_matching(self, query: ModelQuery, force: bool) -> int:
        """Every model matching a filter of the library queued; how many are waiting now."""
        after = None
        while keys := await self.store.search.model_keys(query, after, 1000):
            await self.queue(keys, force)
            after = keys[-1]
        return await self.queue([], force)

    async def status(self) -> dict[str, Any]:
        return self.progress.to_wire(self._queued, self._running)

    async def run(self) -> None:
        """Drain the queue for as long as the daemon runs: what is due, oldest first; idle, wait to be woken. A
        shared database that went away is waited for: the queue is in it."""
        if self.lookup is None:
            return
        while True:
            try:
                await self._pass()
            except StoreUnreachable:
                await asyncio.sleep(IDLE_WAKE_S)

    async def _pass(self) -> None:
        self._queued = await self.store.lookups.queued_lookups()
        self._wake.clear()
        due = await self.store.lookups.due_lookups(self._clock(), BATCH)
        if not due:
            if self._running:
                self._running = False
                self._publish()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_WAKE_S)
            return
        if not self._running:  # a new run: the last one's totals stay shown until now
            self._running = True
            self.progress = Progress()
        for item in due:
            try:
                await self._one(item)
            except StoreUnreachable:
                raise
            except Exception as e:  # one content's trouble (a record the library refused): not the queue's
                log.exception("looking up %s failed", item.sha256, extra={"event": "lookup.failed"})
                await self._put_back(item, Outcome(FAILED, notes=[str(e)]), self._clock())
            self._queued = await self.store.lookups.queued_lookups()
            self._publish()

    async def _one(self, item: QueuedLookup) -> None:
        """One queued content: the model that has it, else the first hashed file of the queue that has it."""
        now = self._clock()
        sha256 = item.sha256
        model = await self.store.models.model_detail(sha256)
        rows = [] if model is not None else await self.store.pending.pending_twins(sha256)
        meta = model["meta_json"] if model is not None else (
            await self.store.pending.pending_meta(rows[0].id) or {} if rows else {})
        if (model is None and not rows) or meta.get("never_fetch") is True:
            await self.store.lookups.drop_lookup(sha256, item.asks)  # gone, or kept away since it was queued
            return
        record: WebRecord | None = None
        outcome: Outcome | None = None
        remembered = await self.store.lookups.lookup_state(sha256)
        if not item.force and remembered is not None and (
                _believed_not_found(remembered, now) or (remembered.state == FOUND and remembered.record)):
            # Asked about before (as a pending file, or on another host of a shared library): no request needed.
            state = remembered.state
            record = WebRecord.from_json(remembered.record) if remembered.record is not None else None
        else:
            assert self.lookup is not None
            blake3 = model.get("blake3") if model is not None else rows[0].blake3
            outcome = await self.lookup.lookup(sha256, blake3)
            if outcome.state == FAILED:
                await self._put_back(item, outcome, now)
                return
            await self._remember(sha256, outcome, now)
            state, record = outcome.state, outcome.record
        if record is not None:
            if model is not None:
                await self._take(sha256, record)
            else:
                await self._take_pending(rows[0], record)
                # Imported while it was looked up: the model it became takes the record too (the row's previews
                # it took along are known to it; any the row had not yet are fetched for it).
                await self._take(sha256, record)
        self._count(state)
        if outcome is not None and outcome.partial:
            await self._put_back(item, outcome, now)
        else:
            await self.store.lookups.drop_lookup(sha256, item.asks)

    async def _put_back(self, item: QueuedLookup, outcome: Outcome, now: float) -> None:
        """A lookup that got no answer to go by waits in the queue: a minute, then twice as long each time. One
        whose record came from a later source while an earlier one was down asks them all again then (counted as
        found, not failed: its record was taken)."""
        if not outcome.partial:
            self.progress.failed += 1
        self.progress.last_error = "; ".join(outcome.notes)[:500]
        if item.attempts + 1 >= MAX_ATTEMPTS:
            log.warning("gave up looking up %s after %d tries: %s", item.sha256, MAX_ATTEMPTS,
                        self.progress.last_error)
            await self.store.lookups.drop_lookup(item.sha256, item.asks)
            return
        await self.store.lookups.delay_lookup(item.sha256, now + _wait(item.attempts, outcome), force=outcome.partial)

    def _count(self, state: str) -> None:
        self.progress.done += 1
        if state == FOUND:
            self.progress.found += 1
        else:
            self.progress.not_found += 1

    def _publish(self) -> None:
        self.bus.publish(LookupProgressed(**self.progress.to_wire(self._queued, self._running)))


def _wait(attempts: int, outcome: Outcome) -> float:
    """Seconds until a lookup is tried again after `attempts` failures before this one: at least what a source
    asked for."""
    wait = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** attempts) * random.uniform(0.8, 1.2)
    return max(wait, outcome.retry_after or 0.0)


def _believed_not_found(state: LookupState | None, now: float) -> bool:
    return state is not None and state.state == NOT_FOUND and now - state.checked_at < NOT_FOUND_KEPT_S


def _answer(state: LookupState, changed: tuple[list[str], list[str], int] | None, *,
            remembered: bool) -> dict[str, Any]:
    """The API's answer: what the sources said, and what it changed (fields filled, tags and images added)."""
    return {
        "state": state.state, "source": state.source, "checked_at": state.checked_at, "remembered": remembered,
        "notes": state.notes, "record": state.record,
        "changed": {"fields": changed[0], "tags": changed[1], "images": changed[2]} if changed else None,
    }
