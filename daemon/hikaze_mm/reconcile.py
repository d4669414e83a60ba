"""The reconcile walk: compare every model file's path, size, mtime and inode with the store.

A file whose fingerprint matches its row is not opened. Runs at start-up, every `rescan_interval` and on demand;
it is the safety net for events the watcher never delivered (overflowing queues, network shares, downtime).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .classify import Classifier
from .events import EventBus
from .intake import Intake
from .roots import Root, RootSet, within
from .store import Store
from .walk import FileStat, WalkResult, walk_roots

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.5
BATCH = 500  # new files per transaction


class ScanRunning(Exception):
    pass


@dataclass
class ScanProgress:
    phase: str = "walking"  # walking | comparing | done
    started_at: float = field(default_factory=time.time)
    dirs: int = 0
    files: int = 0
    new_or_changed: int = 0
    gone: int = 0
    finished_at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Reconciler:
    def __init__(self, store: Store, bus: EventBus, roots: RootSet, classifier: Classifier, intake: Intake):
        self.store = store
        self.bus = bus
        self.roots = roots
        self.classifier = classifier
        self.intake = intake
        self.progress: ScanProgress | None = None
        self.last: ScanProgress | None = None
        self.last_walk: WalkResult | None = None
        self._task: asyncio.Task[ScanProgress] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, only: list[Root] | None = None) -> asyncio.Task[ScanProgress]:
        if self.running:
            raise ScanRunning("a scan is already running")
        self._task = asyncio.create_task(self._run(only), name="reconcile")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, only: list[Root] | None) -> ScanProgress:
        progress = self.progress = ScanProgress()
        loop = asyncio.get_running_loop()
        last_report = 0.0

        def walked(dirs: int, files: int) -> None:  # called from the walking thread
            nonlocal last_report
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                loop.call_soon_threadsafe(self._walk_progress, progress, dirs, files)

        try:
            walk = await asyncio.to_thread(walk_roots, self.roots, only, walked)
            self.last_walk = walk
            progress.dirs, progress.files, progress.phase = walk.dirs, len(walk.files), "comparing"
            self.bus.publish("scan.progress", **progress.to_wire())
            await self._compare(walk, progress)
            progress.phase, progress.finished_at = "done", time.time()
            self.bus.publish("scan.progress", **progress.to_wire())
            log.info("scan: %d files in %d folders, %d new or changed, %d gone (%.2fs)", progress.files,
                     progress.dirs, progress.new_or_changed, progress.gone, progress.finished_at - progress.started_at)
            return progress
        finally:
            self.last, self.progress = progress, None

    def _walk_progress(self, progress: ScanProgress, dirs: int, files: int) -> None:
        progress.dirs, progress.files = dirs, files
        self.bus.publish("scan.progress", **progress.to_wire())

    async def _compare(self, walk: WalkResult, progress: ScanProgress) -> None:
        pending, models = await self.store.known_files()
        by_path = {r.path: r for r in pending}
        model_paths = {m.path: m for m in models if m.status == "ok"}
        missing_paths = {m.path for m in models if m.status == "missing"}
        busy = self.classifier.settler

        # A file that left its known path may be the same file at a new path (a move): those go through the
        # classifier one by one; files nothing could be moved from are queued in batches.
        vanished = {r.stat for p, r in by_path.items() if p not in walk.files}
        vanished |= {m.stat for m in models if m.path not in walk.files}
        batch: list[tuple[str, str, FileStat]] = []
        for path, (st, type_) in walk.files.items():
            if path in busy or self.intake.has(path):
                continue
            row = by_path.get(path)
            if row is not None and row.stat == st:
                if row.status in ("settling", "hashing"):
                    await self.classifier.requeue(row)
                elif row.status == "error":
                    await self.classifier.retry_error(row)
                continue
            model = model_paths.get(path)
            if row is None and model is not None and model.stat == st:
                continue
            progress.new_or_changed += 1
            if row is None and model is None and path not in missing_paths and st not in vanished:
                batch.append((path, type_, st))
                if len(batch) >= BATCH:
                    await self.classifier.seen_new(batch)
                    batch = []
            else:
                await self.classifier.seen(path, st)
        if batch:
            await self.classifier.seen_new(batch)

        # Below an unreadable folder or an empty configured folder (an unmounted share looks like that),
        # absence proves nothing.
        unsure = walk.unreadable_dirs + walk.missing_roots
        for path in sorted(set(by_path) | set(model_paths)):
            if path in walk.files or not any(within(path, r) for r in walk.walked_roots):
                continue
            if any(within(path, d) for d in unsure):
                continue
            if self.roots.type_of(path) is None:
                continue
            progress.gone += 1
            await self.classifier.gone(path)
