"""Wires the stages together and runs them: watcher and walks feed the classifier, the settler feeds the
hash intake, the store keeps the outcome, the bus tells the world."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from hikaze_mm import __version__
from hikaze_mm.api.comfy_peers import ComfyPeers
from hikaze_mm.api.parts import ApiParts
from hikaze_mm.api.sessions import Sessions
from hikaze_mm.config.roots import RootSet, build_roots, is_partial_name, within
from hikaze_mm.config.settings import Settings
from hikaze_mm.events.bus import EventBus
from hikaze_mm.legacy.importer import LegacyImporter
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.importer import Importer
from hikaze_mm.library.metadata import RULES as METADATA_RULES
from hikaze_mm.library.service import Library
from hikaze_mm.pipeline.decisions import Classifier
from hikaze_mm.pipeline.hashing import HashPool
from hikaze_mm.pipeline.intake import Intake
from hikaze_mm.pipeline.reconcile import Reconciler, ScanProgress
from hikaze_mm.pipeline.settle import DISK_FULL_RETRY_S, Settler
from hikaze_mm.pipeline.walk import WalkResult
from hikaze_mm.pipeline.watch import FsEvent, Watcher
from hikaze_mm.store.errors import StorageFull
from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.sqlite.store import SQLiteStore

log = logging.getLogger(__name__)
ROOT_CHECK_S = 2.0


class Service:
    def __init__(self, settings: Settings, *, watch: bool = True):
        self.settings = settings
        self.roots: RootSet = build_roots(settings)
        self.store: Stores = SQLiteStore(settings.db_path, METADATA_RULES)
        self.bus = EventBus()
        self.pool = HashPool(settings.hash_workers)
        lock = asyncio.Lock()
        self.settler = Settler(settings.settle_seconds, self._stable, self._vanished)
        self.classifier = Classifier(self.store, self.bus, self.roots, self.settler, lock)
        self.image_files = ImageFiles(settings.data_dir / "images")
        self.intake = Intake(self.store, self.bus, self.pool, self.classifier, self.image_files)
        self.reconciler = Reconciler(self.store.files, self.bus, self.roots, self.classifier, self.intake,
                                     self._walked)
        self.importer = Importer(self.store, self.bus, self.image_files, lock, self.roots)
        self.library = Library(self.store, self.bus, self.image_files, self.intake.refile)
        if settings.auto_import == "no_conflict":
            self.intake.on_ready = self._auto_import
        self.legacy = LegacyImporter(self.store, self.bus, self.roots, self.classifier, self.image_files)
        own_names = [*settings.allowed_hosts, *([] if settings.host in ("0.0.0.0", "::") else [settings.host])]
        self.comfy_peers = ComfyPeers(self.roots, frozenset(own_names))
        self.sessions = Sessions(self.store.sessions, settings.auth_token)
        self.watcher = Watcher(self._on_fs_event, settings.watch_mode if watch else "off", settings.poll_interval)
        self._present: dict[str, bool] = {}  # root -> exists
        self._links: set[str] = set()  # symlinked folders inside the roots, watched on their own
        self._tasks: list[asyncio.Task[Any]] = []
        self._event_tasks: set[asyncio.Task[None]] = set()
        self._catching_up: asyncio.Task[None] | None = None
        self.failure: str | None = None  # why a task the daemon cannot work without ended
        self.on_failure: Callable[[], None] | None = None

    # -- life cycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.store.open()
        await self.sessions.forget_stale()
        reset = await self.store.pending.reset_in_flight()
        if reset:
            log.info("%d files were being hashed when the daemon stopped; they are hashed again", reset)
        # Before the intake or the API can write an image, so no file being written is taken for a stray.
        strays = await asyncio.to_thread(self.image_files.sweep, *await self.store.images.image_keys())
        if strays:
            log.info("removed %d image files a crash left without a database row", strays)
        essential = [self.settler.start(), *self.intake.start()]
        for row in await self.store.pending.pending_in_flight():
            await self.classifier.requeue(row)
        await self._check_roots(initial=True)
        self.reconciler.start()
        self._tasks.append(asyncio.create_task(self._supervise(), name="roots"))
        self._tasks.append(asyncio.create_task(self._clean_pending_images(), name="pending-images"))
        if self.settings.rescan_interval > 0:
            self._tasks.append(asyncio.create_task(self._rescan_every(self.settings.rescan_interval), name="rescan"))
        for task in essential + self._tasks:
            task.add_done_callback(self._essential_done)

    async def stop(self) -> None:
        """Stop watching, abandon running hashes, leave no row `hashing`, close the database."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.watcher.stop)
        await self.reconciler.stop()
        await self.legacy.stop()
        for t in [*self._event_tasks, *([self._catching_up] if self._catching_up else [])]:
            t.cancel()
        await asyncio.gather(*self._event_tasks, *([self._catching_up] if self._catching_up else []),
                             return_exceptions=True)
        await self.settler.stop()
        await asyncio.to_thread(self.pool.close)
        await self.intake.stop()
        with contextlib.suppress(Exception):
            await self.store.pending.reset_in_flight()
        self.bus.close()
        await self.store.close()

    def _essential_done(self, task: asyncio.Task[Any]) -> None:
        """Each of these runs as long as the daemon does (they end by being cancelled, or when the event bus
        closes at shutdown). One that fails (a bug, a failing disk) would leave a daemon that answers but no
        longer settles, hashes or watches: better to stop with an error and let the service manager start a
        fresh one (`Restart=on-failure`)."""
        if task.cancelled() or task.exception() is None or self.failure is not None:
            return
        error = task.exception()
        self.failure = f"the {task.get_name()} task failed: {error!r}"
        log.critical("%s; stopping so that a fresh daemon can be started", self.failure, exc_info=error,
                     extra={"event": "daemon.failed"})
        if self.on_failure is not None:
            self.on_failure()

    async def drain(self) -> None:
        """Wait until the running walk is done and nothing is left to settle or hash (for `hikaze-mm scan`)."""
        while self.reconciler.running or len(self.settler) or not self.intake.idle():
            await asyncio.sleep(0.1)

    def scan(self) -> asyncio.Task[ScanProgress]:
        return self.reconciler.start()

    def api_parts(self) -> ApiParts:
        """What the HTTP API may use of the daemon."""
        return ApiParts(access=self.settings, sessions=self.sessions, peers=self.comfy_peers, status=self.status,
                        events=self.bus, roots=self.roots, scans=self.reconciler, listings=self.store,
                        library=self.library, imports=self.importer, retries=self.classifier,
                        images=self.image_files, legacy=self.legacy)

    # -- events -----------------------------------------------------------------------------------------------
    def _on_fs_event(self, ev: FsEvent) -> None:
        if ev.kind == "changed":
            if ev.path in self.settler:
                self.settler.touch(ev.path)  # a write burst: no stat, no database
                return
            if is_partial_name(ev.path):
                target = os.path.splitext(ev.path)[0]
                if target in self.settler:
                    self.settler.touch(target)
                return
            self._spawn(self.classifier.seen(ev.path))
        elif ev.kind == "deleted":
            self._spawn(self.classifier.gone(ev.path))
        elif ev.kind == "moved" and ev.dest is not None:
            self._spawn(self.classifier.moved(ev.path, ev.dest))
        elif ev.kind == "dir_moved" and ev.dest is not None and self.roots.root_of(ev.dest) is not None:
            self._spawn(self.classifier.moved_below(ev.path, ev.dest))
        elif ev.kind in ("dir_deleted", "dir_moved"):
            self._spawn(self.classifier.gone_below(ev.path))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._event_tasks.add(task)
        task.add_done_callback(self._event_done)

    def _event_done(self, task: asyncio.Task[None]) -> None:
        self._event_tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        if isinstance(error, StorageFull):
            log.warning("a file event could not be recorded: %s; the folders are walked again in %g s", error,
                        DISK_FULL_RETRY_S, extra={"event": "pipeline.disk_full"})
            if self._catching_up is None or self._catching_up.done():
                self._catching_up = asyncio.create_task(self._catch_up(), name="disk-full-catch-up")
            return
        log.error("handling a file event failed", exc_info=error)

    async def _catch_up(self) -> None:
        """Events whose outcome could not be written for want of space are caught up by a walk once there is
        room again; until a walk gets through, one is tried every DISK_FULL_RETRY_S."""
        while True:
            await asyncio.sleep(DISK_FULL_RETRY_S)
            if (await (await self._rescan_when_free())).phase != "failed":
                return

    async def _clean_pending_images(self) -> None:
        """A pending row's image files go with the row, however it went (ids are never reused)."""
        with self.bus.subscribe() as sub:
            while (event := await sub.get()) is not None:
                if event.type != "pending.removed":
                    continue
                try:
                    await asyncio.to_thread(self.image_files.remove_pending, event.data["id"])
                except OSError as e:  # left behind: the start-up sweep takes image files no row owns
                    log.warning("could not remove the images of pending row %s: %s", event.data["id"],
                                e.strerror or e, extra={"event": "images.stray"})

    async def _auto_import(self, pending_id: int) -> None:
        report = await self.importer.import_ids([pending_id], None, False)
        for failure in report.failed:
            log.warning("auto-import of pending row %d failed: %s", pending_id, failure["error"])

    async def _stable(self, path: str, st: Any) -> None:
        await self.intake.on_stable(path, st)

    async def _vanished(self, path: str) -> None:
        await self.classifier.gone(path)

    # -- roots ------------------------------------------------------------------------------------------------
    async def _check_roots(self, initial: bool = False) -> None:
        """Watch folders that exist; notice folders that appear, vanish, or whose watcher died."""
        loop = asyncio.get_running_loop()
        exists = await asyncio.to_thread(lambda: {r.path: os.path.isdir(r.path) for r in self.roots})
        for root in self.roots:
            before = self._present.get(root.path)
            if before == exists[root.path]:
                continue
            if not exists[root.path]:
                log.warning("model folder %s does not exist (yet); it is picked up when it appears", root.path)
            if before is not None:
                self.bus.publish("root.changed", path=root.path, exists=exists[root.path])
        rescan = False
        for top in self.roots.top_level():
            if not exists[top.path]:
                await asyncio.to_thread(self.watcher.unwatch, top.path)
                continue
            appeared = not initial and not self._present.get(top.path)
            watch = self.watcher.watches.get(top.path)
            if self.watcher.mode == "off" or (watch is not None and watch.alive()):
                rescan = rescan or appeared
                continue
            if watch is not None:
                log.warning("watching %s again and re-walking it: %s", top.path, watch.why_not_alive())
            await asyncio.to_thread(self.watcher.watch, top.path, loop)
            rescan = rescan or not initial
        for link in sorted(self._links):
            watch = self.watcher.watches.get(link)
            if watch is not None and not watch.alive():
                log.warning("watching %s again and re-walking it: %s", link, watch.why_not_alive())
                await asyncio.to_thread(self.watcher.watch, link, loop)
                rescan = True
        self._present = exists
        if not initial and self.watcher.mode != "off" and self.watcher.mounts_changed():
            rescan = await self._rewatch_holes("the mount table changed", "watch.remounted") or rescan
        if rescan:
            await self._rescan_when_free()

    async def _walked(self, walk: WalkResult, complete: bool) -> None:
        await self._watch_links(walk, complete)
        if complete:
            # Folders made after watching started need a watch each; if the inotify limit ran out meanwhile
            # they would go unwatched without a word.
            await self._rewatch_holes("folders escaped the inotify watches", "watch.holes")

    async def _rewatch_holes(self, why: str, event: str) -> bool:
        """Watch again every tree with folders that neither inotify nor a poller watches; whether any had."""
        loop = asyncio.get_running_loop()
        found = False
        for top in self.roots.top_level():
            if await asyncio.to_thread(self.watcher.needs_rewatch, top.path):
                found = True
                log.warning("%s; watching the folder again", why, extra={"event": event, "path": top.path})
                await asyncio.to_thread(self.watcher.watch, top.path, loop)
        return found

    async def _watch_links(self, walk: WalkResult, complete: bool) -> None:
        """inotify does not descend into symlinked folders (`models/loras -> /mnt/nas/loras`), so each one the
        walk followed gets a watch of its own."""
        if self.watcher.mode == "off":
            return
        loop = asyncio.get_running_loop()
        wanted = set(walk.linked_dirs)
        if complete:
            for path in self._links - wanted:
                await asyncio.to_thread(self.watcher.unwatch, path)
            self._links &= wanted
        for path in sorted(wanted):
            watch = self.watcher.watches.get(path)
            if watch is None or not watch.alive():
                await asyncio.to_thread(self.watcher.watch, path, loop)
                self._links.add(path)

    async def _rescan_when_free(self) -> asyncio.Task[ScanProgress]:
        while self.reconciler.running:
            await asyncio.sleep(0.2)
        return self.reconciler.start()

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(ROOT_CHECK_S)
            try:
                await self._check_roots()
            except Exception:
                log.exception("checking the model folders failed")

    async def _rescan_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._rescan_when_free()

    # -- status -----------------------------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        roots = []
        for root in self.roots:
            top = next(t for t in self.roots.top_level() if within(root.path, t.path))
            watch = self.watcher.watches.get(top.path)
            roots.append({
                "path": root.path,
                "type": root.type,
                "source": root.source,
                "exists": self._present.get(root.path, False),
                "mode": watch.mode if watch else "off",
                "note": watch.note() if watch else None,
            })
        running = self.reconciler.progress
        return {
            "version": __version__,
            "roots": roots,
            "queues": {"settling": len(self.settler), "hashing": self.intake.hashing, "queued": self.intake.queued},
            "session": {"files_hashed": self.intake.files_hashed, "bytes_hashed": self.intake.bytes_hashed},
            "hashing": [
                {"path": p, "bytes_done": d, "bytes_total": t} for p, (d, t) in self.pool.active.items()
            ],
            "linked_folders": [
                {"path": p, "real": self.watcher.watches[p].real, "mode": self.watcher.watches[p].mode}
                for p in sorted(self._links) if p in self.watcher.watches
            ],
            "counts": await self.store.search.counts(),
            "scan": running.to_wire() if running else None,
            "last_scan": self.reconciler.last.to_wire() if self.reconciler.last else None,
            "comfyui": [peer.to_wire() for peer in self.comfy_peers.peers()],
            "legacy": self.legacy.job.to_wire() if self.legacy.job else None,
        }
