"""The reconcile walk: compare every model file's path, size, mtime and inode with the store.

A file whose fingerprint matches its row is not opened. Runs at start-up, every `rescan_interval` and on demand;
it is the safety net for events the watcher never delivered (overflowing queues, network shares, downtime).

While the library's database is away a walk still runs against the file index in memory, and what it finds is
parked by the decisions; a walk that cannot even load the index fails, and one is owed for when the database
answers (pipeline/outage.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hikaze_mm.config.roots import Root, RootSet, within
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ScanProgressed
from hikaze_mm.pipeline.decisions import FileDecisions
from hikaze_mm.pipeline.intake import Intake
from hikaze_mm.pipeline.settle import Settler
from hikaze_mm.pipeline.walk import FileStat, WalkResult, walk_roots
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import FileIndexStore
from hikaze_mm.store.known_files import FileIndex

log = logging.getLogger(__name__)
UNREADABLE_LINES = 20
PROGRESS_EVERY_S = 0.5
BATCH = 500  # new files per transaction
IDLE_BUT_UNFINISHED = ("settling", "hashing", "error")  # rows a walk hands back to the pipeline


class ScanRunning(Exception):
    pass


@dataclass
class ScanProgress:
    phase: str = "walking"  # walking | comparing | done | failed
    started_at: float = field(default_factory=time.time)
    dirs: int = 0
    files: int = 0
    new_or_changed: int = 0
    gone: int = 0
    unreadable: int = 0  # folders the walk could not list; nothing below them is judged gone
    skipped: int = 0  # folders not entered on purpose: pseudo filesystems, links to a folder that holds them
    finished_at: float | None = None
    error: str | None = None  # why a failed scan stopped

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Reconciler:
    def __init__(
        self,
        store: FileIndexStore,
        bus: EventBus,
        roots: RootSet,
        decisions: FileDecisions,
        settler: Settler,
        intake: Intake,
    ):
        self.store = store
        self.bus = bus
        self.roots = roots
        self.decisions = decisions
        self.settler = settler
        self.intake = intake
        # Told of every finished walk, and whether it covered every folder (the supervisor watches what it found).
        self.on_walked: Callable[[WalkResult, bool], Awaitable[None]] | None = None
        self.progress: ScanProgress | None = None
        self.last: ScanProgress | None = None
        self._task: asyncio.Task[ScanProgress] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, only: list[Root] | None = None) -> asyncio.Task[ScanProgress]:
        if self.running:
            raise ScanRunning("a scan is already running")
        # The walk is running from now on, as the status says, not from when its task first runs.
        self.progress = ScanProgress()
        self._task = asyncio.create_task(self._run(only, self.progress), name="reconcile")
        return self._task

    async def free(self) -> None:
        """Returns once no walk runs."""
        while self.running:
            await asyncio.sleep(0.2)

    async def start_when_free(self) -> asyncio.Task[ScanProgress]:
        """A walk of every folder, once the one running (if any) is over."""
        await self.free()
        return self.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, only: list[Root] | None, progress: ScanProgress) -> ScanProgress:
        loop = asyncio.get_running_loop()
        last_report = 0.0

        def walked(dirs: int, files: int) -> None:  # called from the walking thread
            nonlocal last_report
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                loop.call_soon_threadsafe(self._walk_progress, progress, dirs, files)

        try:
            # The files are compared with the index while they are walked, against a snapshot taken before: a row
            # written meanwhile is looked at again below, in a snapshot taken after.
            before = await self.store.file_index()
            walk = await asyncio.to_thread(walk_roots, self.roots, before, IDLE_BUT_UNFINISHED, only, walked)
            if self.on_walked is not None:
                try:
                    await self.on_walked(walk, only is None)
                except Exception:
                    # Watching is a step beside the walk: the files it found are still to be compared.
                    log.exception("acting on the walk's folders failed", extra={"event": "watch.failed"})
            progress.dirs, progress.files, progress.phase = walk.dirs, walk.files, "comparing"
            progress.unreadable, progress.skipped = len(walk.unreadable_dirs), len(walk.skipped_dirs)
            _log_unreadable(walk.unreadable_dirs)
            _log_skipped(walk.skipped_dirs)
            self.bus.publish(ScanProgressed(**progress.to_wire()))
            await self._compare(walk, await self.store.file_index(), progress)
            progress.phase, progress.finished_at = "done", time.time()
            self.bus.publish(ScanProgressed(**progress.to_wire()))
            log.info("scan: %d files in %d folders, %d new or changed, %d gone, %d folders unreadable",
                     progress.files, progress.dirs, progress.new_or_changed, progress.gone, progress.unreadable, extra={
                         "event": "scan.done",
                         "duration_ms": round((progress.finished_at - progress.started_at) * 1000)})
            # A first index's million new files, freed a piece at a time in a thread rather than all at once on
            # the event loop when they go out of scope (150 ms there). The walk is still running until they are,
            # so no second one holds as much again meanwhile.
            await asyncio.to_thread(_release, walk.changed, walk.unlisted)
            return progress
        except StoreUnreachable as e:
            log.warning("scan stopped: the library's database is unreachable (%s); every folder is walked once it "
                        "answers", e, extra={"event": "scan.failed"})
            self.decisions.outage.lost(e)
            self.decisions.outage.owe_walk()
            progress.phase, progress.finished_at = "failed", time.time()
            progress.error = f"the library's database is unreachable: {e}"
            self.bus.publish(ScanProgressed(**progress.to_wire()))
            return progress
        except Exception as e:
            # Nobody awaits a walk started in the background: the log line and the status are how it is seen.
            log.exception("scan failed", extra={"event": "scan.failed"})
            progress.phase, progress.finished_at = "failed", time.time()
            progress.error = f"{type(e).__name__}: {e}"
            self.bus.publish(ScanProgressed(**progress.to_wire()))
            return progress
        finally:
            self.last, self.progress = progress, None

    async def _take_in(self, walk: WalkResult, index: FileIndex, progress: ScanProgress) -> None:
        """Files that are new, changed, or whose row was left unfinished."""
        # A file that left its known path may be this file at a new path (a move): such files go through the
        # decisions one by one; files nothing could have moved from are queued in batches.
        vanished = await asyncio.to_thread(_vanished, walk, index)
        batch: list[tuple[str, str, FileStat]] = []
        for path, type_, st in walk.changed:
            if path in self.settler or self.intake.has(path):
                continue
            row = index.pending.get(path)
            if row is not None and row[0] == st:
                if row[1] in IDLE_BUT_UNFINISHED:
                    await self.decisions.resume(path)
                continue  # else its row was written while the walk ran, and it is unchanged since
            if row is None and (model := index.models_ok.get(path)) is not None and model[1] == st:
                continue
            progress.new_or_changed += 1
            if st not in vanished and not index.known(path):
                batch.append((path, type_, st))
                if len(batch) >= BATCH:
                    await self.decisions.seen_new(batch)
                    batch = []
            else:
                await self.decisions.seen(path, st)
        if batch:
            await self.decisions.seen_new(batch)

    def _walk_progress(self, progress: ScanProgress, dirs: int, files: int) -> None:
        progress.dirs, progress.files = dirs, files
        self.bus.publish(ScanProgressed(**progress.to_wire()))

    async def _compare(self, walk: WalkResult, index: FileIndex, progress: ScanProgress) -> None:
        if walk.changed:
            await self._take_in(walk, index, progress)
        recorded = walk.unlisted

        # Below an unreadable folder or an empty configured folder (an unmounted share looks like that),
        # absence proves nothing.
        unsure = [*walk.unreadable_dirs, *walk.missing_roots]
        absent = [
            p for p in sorted(recorded)
            if any(within(p, r) for r in walk.walked_roots) and not any(within(p, d) for d in unsure)
            and self.roots.type_of(p) is not None
        ]
        unmounted = await asyncio.to_thread(_unmounted, absent, recorded)
        for path in absent:
            if path in unmounted:
                continue
            progress.gone += 1
            await self.decisions.gone(path)


def _vanished(walk: WalkResult, index: FileIndex) -> set[Any]:
    """The fingerprints of the known files the walk did not find where they were recorded, outside the walked
    folders included, and of every model that is not ok: more than the walk's own would be harmless (a file
    with one of them goes through the decisions one by one), fewer would hash a moved file again."""
    out = set(walk.unlisted.values())
    out |= index.fingerprints_outside(walk.walked_roots)
    return out


def _release(changed: list[Any], unlisted: dict[str, Any]) -> None:
    # one entry per step: the interpreter lets the event loop run between steps
    while changed:
        changed.pop()
    while unlisted:
        unlisted.popitem()


def _unmounted(paths: list[str], recorded: dict[str, tuple[Any, ...]]) -> set[str]:
    """The absent files whose filesystem is no longer mounted where they were: the folder left in their place
    sits on another device than the one they were recorded on. A share unmounted from below a models folder
    looks like that; its files are not gone, only out of reach until it is mounted again."""
    devices: dict[str, int | None] = {}
    out: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        device = recorded[path][3]
        folder = os.path.dirname(path)
        if folder not in devices:
            devices[folder] = _nearest_device(folder)
        if device and devices[folder] is not None and devices[folder] != device:
            out.add(path)
            folders.add(folder)
    for folder in sorted(folders)[:UNREADABLE_LINES]:
        log.warning("the files recorded below this folder were on another filesystem, which is not mounted here "
                    "now; they keep their rows until it is back", extra={"event": "scan.unmounted", "path": folder})
    return out


def _nearest_device(folder: str) -> int | None:
    while True:
        try:
            return os.stat(folder).st_dev
        except FileNotFoundError:
            parent = os.path.dirname(folder)
            if parent == folder:
                return None
            folder = parent
        except OSError:
            return None


def _log_skipped(folders: dict[str, str]) -> None:
    for folder, why in list(folders.items())[:UNREADABLE_LINES]:
        log.warning("not walked nor watched: %s", why, extra={"event": "scan.skipped", "path": folder})
    if len(folders) > UNREADABLE_LINES:
        log.warning("%d more folders not walked", len(folders) - UNREADABLE_LINES, extra={"event": "scan.skipped"})


def _log_unreadable(folders: dict[str, str]) -> None:
    """One line per folder the walk could not list, up to a point: a share gone read-protected can hold thousands."""
    for folder, why in list(folders.items())[:UNREADABLE_LINES]:
        log.warning("cannot list the folder (%s); the files below it keep their rows until it can be read", why,
                    extra={"event": "scan.unreadable", "path": folder})
    if len(folders) > UNREADABLE_LINES:
        log.warning("%d more folders cannot be listed", len(folders) - UNREADABLE_LINES,
                    extra={"event": "scan.unreadable"})
