"""Brings a first-version (v1) database into the import queue, as a job in the background.

Every v1 row becomes a pending row that keeps its metadata, tags and first image. Only a model file in the model
folders is taken in, and the pool hashes it like any other (a hash stored by v1 is never trusted, only compared).
A row that names anything else (a file outside the model folders, however its path is spelled, or not a model
file) is kept in error with the reason, and its file is never opened, stat'ed, hashed or trashed (`placement`).
Running it again adds what is missing and duplicates nothing: a path that already has a row or a model gets the
missing tags and empty fields filled.

A v1 database can hold tens of thousands of rows. The request only reads it (in a thread) and starts the job; the
job writes BATCH rows per transaction, so other writes (an edit, an import) get the writer between two batches,
and tells its progress on the event bus (`legacy.progress`, then `legacy.done`) and in the daemon's status.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from hikaze_mm.config.roots import RootSet
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import LegacyDone, LegacyProgressed, PendingAdded
from hikaze_mm.legacy.reader import LegacyError, LegacyItem, check_legacy, read_legacy
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.images import ImageError, encode_tiers_from_file
from hikaze_mm.library.metadata import merge as meta_merge
from hikaze_mm.pipeline.decisions import DecisionLock, FileDecisions
from hikaze_mm.pipeline.placement import NOT_A_MODEL, NOT_IN_A_TYPE_FOLDER, OUTSIDE, Placement, Placer, refused
from hikaze_mm.pipeline.settle import Settler
from hikaze_mm.pipeline.walk import FileStat, stat_file
from hikaze_mm.store.interfaces import FileIndexStore, ImageStore, ModelStore, PendingStore
from hikaze_mm.store.records import NewPending, PendingRow

log = logging.getLogger(__name__)
BATCH = 50  # v1 rows per transaction: a few milliseconds of the writer each


class LegacyRunning(Exception):
    """A migration is running; one at a time."""


@dataclass
class LegacyReport:
    source: str
    migrated: int = 0  # new pending rows
    merged: int = 0  # rows or models that already existed and got the v1 tags and metadata
    missing_files: int = 0  # rows kept for their metadata although their file is gone
    outside_folders: int = 0  # rows kept in error, their file never read: it is not in the model folders
    not_model_files: int = 0  # rows kept in error, their file never read: not a model file, or not in a type folder
    images_copied: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Files already hashed whose content is not what v1 claimed (files hashed later: their row's meta_json).
    hash_mismatches: list[dict[str, Any]] = field(default_factory=list)
    # What the reader noticed about rows it still took (an image not found, metadata keys it does not know).
    notes: list[dict[str, Any]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LegacyJob:
    id: int
    source: str
    images_dir: str | None
    rows: int  # v1 model rows, the skipped ones included
    report: LegacyReport
    state: str = "running"  # running | done | failed
    done: int = 0
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    error: str | None = None

    def progress(self) -> LegacyProgressed:
        return LegacyProgressed(id=self.id, state=self.state, source=self.source, images_dir=self.images_dir,
                                rows=self.rows, done=self.done, started_at=self.started_at,
                                finished_at=self.finished_at, error=self.error)

    def done_event(self) -> LegacyDone:
        return LegacyDone(**self.to_wire())

    def to_wire(self) -> dict[str, Any]:
        return {**self.progress().wire_data(), "report": self.report.to_wire()}


Placed = tuple[LegacyItem, Placement, FileStat | None]


class LegacyStore(Protocol):
    """The parts of the store that the first version's records are taken into."""

    pending: PendingStore
    files: FileIndexStore
    models: ModelStore
    images: ImageStore


class LegacyImporter:
    def __init__(self, store: LegacyStore, bus: EventBus, roots: RootSet, decisions: FileDecisions, lock: DecisionLock,
                 settler: Settler, files: ImageFiles):
        self.store = store
        self.bus = bus
        self.roots = roots
        self.decisions = decisions
        self.lock = lock
        self.settler = settler
        self.files = files
        self.job: LegacyJob | None = None  # the running one, else the last one
        self._task: asyncio.Task[LegacyJob] | None = None
        self._ids = itertools.count(1)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, db_path: str, images_dir: str | None) -> LegacyJob:
        """Reads the v1 database and starts bringing it in; LegacyError if it cannot be read, LegacyRunning if a
        migration is running."""
        self._check_free()
        # Only checked here, so the request answers at once; reading every row is the job's first step.
        source, rows = await asyncio.to_thread(check_legacy, db_path, images_dir)
        self._check_free()  # another request may have started one while this one checked its file
        job = self.job = LegacyJob(next(self._ids), source, images_dir, rows, LegacyReport(source))
        self._task = asyncio.create_task(self._run(job, db_path, images_dir), name="legacy-import")
        self.bus.publish(job.progress())
        return job

    async def wait(self) -> LegacyJob | None:
        """The job once it has ended (for the command line, which runs one without a daemon)."""
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.job

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _check_free(self) -> None:
        if self.running and self.job is not None:
            raise LegacyRunning(f"a v1 migration is running ({self.job.done} of {self.job.rows} rows of "
                                f"{self.job.source}); wait for its `legacy.done` event or watch GET /api/status")

    async def _run(self, job: LegacyJob, db_path: str, images_dir: str | None) -> LegacyJob:
        report = job.report
        try:
            export = await asyncio.to_thread(read_legacy, db_path, images_dir)
            report.skipped = [{"legacy_id": i, "reason": reason} for i, reason in export.skipped]
            report.notes = [{"legacy_id": item.legacy_id, "notes": item.notes} for item in export.items if item.notes]
            job.rows, job.done = len(export.items) + len(export.skipped), len(export.skipped)
            placer = await asyncio.to_thread(Placer, self.roots)
            for start in range(0, len(export.items), BATCH):
                batch = export.items[start:start + BATCH]
                try:
                    await self._batch(placer, batch, report)
                except Exception as e:
                    log.exception("v1 rows %s to %s could not be migrated", batch[0].legacy_id, batch[-1].legacy_id)
                    report.errors.extend({"legacy_id": item.legacy_id, "error": str(e)} for item in batch)
                job.done += len(batch)
                self.bus.publish(job.progress())
            job.state = "done"
        except asyncio.CancelledError:
            job.state, job.error = "failed", "the daemon stopped before the migration ended; run it again"
            raise
        except LegacyError as e:  # the file changed since the request checked it
            job.state, job.error = "failed", str(e)
        except Exception as e:
            log.exception("the v1 migration failed")
            job.state, job.error = "failed", f"the migration stopped: {e}"
        finally:
            job.finished_at = time.time()
            log.info("v1 database %s: %d migrated, %d merged, %d outside the model folders, %d not model files, "
                     "%d skipped, %d images, %d errors, %d rows with notes", job.source, report.migrated, report.merged,
                     report.outside_folders, report.not_model_files, len(report.skipped), report.images_copied,
                     len(report.errors), len(report.notes), extra={"event": "legacy.done"})
            self.bus.publish(job.done_event())
        return job

    async def _batch(self, placer: Placer, batch: list[LegacyItem], report: LegacyReport) -> None:
        placed = await asyncio.to_thread(_place, placer, batch)
        later: list[Placed] = []
        new: dict[str, Placed] = {}
        async with self.lock:
            known = await self.store.files.known_paths(list({placement.path for _, placement, _ in placed}))
            for entry in placed:
                path = entry[1].path
                if path in known or path in new:
                    later.append(entry)  # a row or model to merge into (or a second v1 row for the same file)
                else:
                    new[path] = entry
            rows = await self._insert(list(new.values()))
        for row in rows:
            await self._added(row, new.pop(row.path)[0], report)
        later.extend(new.values())  # paths that got a row between the check and the insert
        for entry in later:
            try:
                await self._merge(*entry, report)
            except Exception as e:
                log.exception("v1 row %s could not be migrated", entry[0].legacy_id)
                report.errors.append({"legacy_id": entry[0].legacy_id, "error": str(e)})

    async def _insert(self, entries: list[Placed]) -> list[PendingRow]:
        """New rows, in one transaction (under the decision lock); the ones with a file settle, then hash."""
        rows = await self.store.pending.add_pending_with_meta([_new_row(*entry) for entry in entries])
        for row in rows:
            if row.status == "settling":
                self.settler.touch(row.path)
        return rows

    async def _added(self, row: PendingRow, item: LegacyItem, report: LegacyReport) -> None:
        self.bus.publish(PendingAdded(id=row.id, path=row.path, status=row.status))
        report.migrated += 1
        if row.error is not None and row.error.startswith(OUTSIDE):
            report.outside_folders += 1
        elif row.error is not None and row.error.startswith((NOT_A_MODEL, NOT_IN_A_TYPE_FOLDER)):
            report.not_model_files += 1
        elif row.error is not None:
            report.missing_files += 1
        await self._copy_image(item, row.id, report)

    async def _merge(self, item: LegacyItem, placement: Placement, st: FileStat | None, report: LegacyReport) -> None:
        """A v1 row whose path has a pending row or a model: that one gets the v1 tags and the metadata it lacks."""
        path, meta = placement.path, _meta(item)
        async with self.lock:
            existing = await self.store.pending.pending_by_path(path)
            model = await self.store.models.model_by_path(path) if existing is None else None
            if existing is not None:
                stored = await self.store.pending.pending_meta(existing.id) or {}
                merged = with_legacy(stored, meta, existing.sha256)
                await self.store.pending.set_pending_meta(existing.id, merged, item.tags)
                if "legacy_sha256_mismatch" in merged:
                    report.hash_mismatches.append({"legacy_id": item.legacy_id, "path": path,
                                                   **merged["legacy_sha256_mismatch"]})
            elif model is not None:
                await self.store.models.enrich_model(model.sha256, meta, item.tags)
                if item.claimed_sha256 and item.claimed_sha256 != model.sha256:
                    report.hash_mismatches.append({"legacy_id": item.legacy_id, "path": path,
                                                   "claimed": item.claimed_sha256, "actual": model.sha256})
            else:  # removed since the batch looked: a new row after all
                rows = await self._insert([(item, placement, st)])
        if existing is None and model is None:
            for row in rows:
                await self._added(row, item, report)
            return
        report.merged += 1
        if existing is None:
            return
        if not await self.store.images.pending_images(existing.id):
            await self._copy_image(item, existing.id, report)
        if existing.status == "error" and refused(existing.error) and placement.reason is None:
            # Kept out by an earlier run, and in the model folders now (the user added its folder): taken in.
            await self.decisions.retry([existing.id])

    async def _copy_image(self, item: LegacyItem, pending_id: int, report: LegacyReport) -> None:
        if not item.image:
            return
        try:
            encoded = await asyncio.to_thread(encode_tiers_from_file, item.image)
        except (ImageError, OSError) as e:
            report.errors.append({"legacy_id": item.legacy_id, "error": f"image {item.image}: {e}"})
            return
        await asyncio.to_thread(self.files.write_pending, pending_id, 0, encoded)
        if await self.store.images.add_pending_image(pending_id, 0, encoded.width, encoded.height, item.image):
            report.images_copied += 1


def _place(placer: Placer, batch: list[LegacyItem]) -> list[Placed]:
    """Where each row's file is; only a model file in the model folders is stat'ed (in a thread: it is disk work)."""
    placed: list[Placed] = []
    for item in batch:
        placement = placer.place(item.path)
        placed.append((item, placement, stat_file(placement.path) if placement.reason is None else None))
    return placed


def _meta(item: LegacyItem) -> dict[str, Any]:
    meta = dict(item.meta)
    if item.claimed_sha256:
        meta["legacy_sha256"] = item.claimed_sha256
    return meta


def _new_row(item: LegacyItem, placement: Placement, st: FileStat | None) -> NewPending:
    if placement.reason is not None:  # kept out: its file was not read, and it keeps its v1 type
        return NewPending(placement.path, item.type, None, _meta(item), item.tags, placement.reason)
    # In the model folders the folder decides the type; a missing file (no stat) is kept as "the file is gone".
    return NewPending(placement.path, placement.type or item.type, st, _meta(item), item.tags)


def with_legacy(stored: dict[str, Any], legacy: dict[str, Any], sha256: str | None) -> dict[str, Any]:
    """A pending row's metadata with what the v1 database knew: the row's own values win, the v1 record is kept
    beside them, and a hash v1 claimed is checked now if the row is already hashed (else when it is)."""
    merged = meta_merge(stored, legacy)
    for key in ("legacy", "legacy_sha256"):
        if key in legacy:
            merged.setdefault(key, legacy[key])
    claimed = merged.get("legacy_sha256")
    if sha256 and claimed and claimed != sha256:
        merged["legacy_sha256_mismatch"] = {"claimed": claimed, "actual": sha256}
    return merged
