"""The folder supervisor: keeps every model folder watched and walked for as long as the daemon runs.

It hands the watcher's reports to the decisions, watches folders that appear and watches again where a watch died
or the mount table changed, gives each symlinked folder a watch of its own, and walks the folders at start-up,
whenever a watch was (re)made, every `rescan_interval`, and after a full disk kept an event's outcome from being
recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any

from hikaze_mm.config.roots import RootSet, is_partial_name
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import RootChanged
from hikaze_mm.pipeline.decisions import FileDecisions
from hikaze_mm.pipeline.reconcile import Reconciler, ScanProgress
from hikaze_mm.pipeline.settle import DISK_FULL_RETRY_S, Settler
from hikaze_mm.pipeline.walk import WalkResult
from hikaze_mm.pipeline.watch import FsEvent, Watcher
from hikaze_mm.store.errors import StorageFull

log = logging.getLogger(__name__)
ROOT_CHECK_S = 2.0


class Supervisor:
    def __init__(
        self,
        roots: RootSet,
        bus: EventBus,
        decisions: FileDecisions,
        settler: Settler,
        reconciler: Reconciler,
        *,
        watch_mode: str,
        poll_interval: float,
        rescan_interval: float,
    ):
        self.roots = roots
        self.bus = bus
        self.decisions = decisions
        self.settler = settler
        self.reconciler = reconciler
        self.rescan_interval = rescan_interval
        self.watcher = Watcher(self._on_fs_event, watch_mode, poll_interval)
        self._present: dict[str, bool] = {}  # root -> exists
        self._links: set[str] = set()  # symlinked folders inside the roots, watched on their own
        self._tasks: list[asyncio.Task[Any]] = []
        self._event_tasks: set[asyncio.Task[None]] = set()
        self._catching_up: asyncio.Task[None] | None = None
        self._setting_up: asyncio.Task[None] | None = None
        self._set_up = asyncio.Event()
        self._walk_started = asyncio.Event()

    def exists(self, root: str) -> bool:
        """Whether the configured folder existed when it was last looked at."""
        return self._present.get(root, False)

    def linked_folders(self) -> list[str]:
        return sorted(self._links)

    # -- life cycle -------------------------------------------------------------------------------------------
    @property
    def setting_up(self) -> bool:
        """Whether the first watches are still being set up (a second or more for a tree of thousands of folders)."""
        return not self._set_up.is_set()

    async def start(self) -> list[asyncio.Task[Any]]:
        """Note which folders exist and start the loops that keep them watched and walked. Returns those tasks: the
        loops run until stopped and the set-up until it is done, so the caller can take a failure of any for the
        daemon's.

        The first watches are set up in a task of their own, so that the API can listen and systemd hear READY=1
        meanwhile; the first walk starts only once they are in place, so a file made while they were set up, which
        no watch saw, is found by that walk."""
        self._present = await self._look_at_roots()
        self._setting_up = asyncio.create_task(self._watch_first(), name="watch-setup")
        self._tasks.append(asyncio.create_task(self._supervise(), name="roots"))
        if self.rescan_interval > 0:
            self._tasks.append(asyncio.create_task(self._rescan_every(self.rescan_interval), name="rescan"))
        return [self._setting_up, *self._tasks]

    async def started(self) -> None:
        """Returns once the first walk has been started."""
        await self._walk_started.wait()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._setting_up is not None:
            # Its thread cannot be stopped halfway, and a watch it made after the watcher stopped would outlive it.
            await asyncio.gather(self._setting_up, return_exceptions=True)
        await asyncio.to_thread(self.watcher.stop)

    async def stop_events(self) -> None:
        """Abandon the decisions still running for watcher reports, and a pending catch-up walk."""
        pending = [*self._event_tasks, *([self._catching_up] if self._catching_up else [])]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- watcher reports --------------------------------------------------------------------------------------
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
            self._spawn(self.decisions.seen(ev.path))
        elif ev.kind == "deleted":
            self._spawn(self.decisions.gone(ev.path))
        elif ev.kind == "moved" and ev.dest is not None:
            self._spawn(self.decisions.moved(ev.path, ev.dest))
        elif ev.kind == "dir_moved" and ev.dest is not None and self.roots.root_of(ev.dest) is not None:
            self._spawn(self.decisions.moved_below(ev.path, ev.dest))
        elif ev.kind in ("dir_deleted", "dir_moved"):
            self._spawn(self.decisions.gone_below(ev.path))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
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

    # -- folders ----------------------------------------------------------------------------------------------
    async def _look_at_roots(self) -> dict[str, bool]:
        """Which configured folders exist; says which ones appeared or vanished since they were last looked at."""
        exists = await asyncio.to_thread(lambda: {r.path: os.path.isdir(r.path) for r in self.roots})
        for root in self.roots:
            before = self._present.get(root.path)
            if before == exists[root.path]:
                continue
            if not exists[root.path]:
                log.warning("model folder %s does not exist (yet); it is picked up when it appears", root.path)
            if before is not None:
                self.bus.publish(RootChanged(path=root.path, exists=exists[root.path]))
        return exists

    async def _check_roots(self, initial: bool = False) -> None:
        """Watch folders that exist; notice folders that appear, vanish, or whose watcher died."""
        loop = asyncio.get_running_loop()
        exists = await self._look_at_roots()
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

    async def walked(self, walk: WalkResult, complete: bool) -> None:
        """Told of every finished walk, and whether it covered every folder."""
        # A walk asked for while the first watches are set up ends before they are in place: its folders are
        # looked at once the set-up thread is done with the watcher.
        await self._set_up.wait()
        await self._watch_links(walk, complete)
        if complete and not await asyncio.to_thread(self.watcher.all_watched, walk.folders):
            # Folders made after watching started need a watch each; if the inotify limit ran out meanwhile
            # they would go unwatched without a word. (When inotify watches every folder the walk found, the
            # trees need no walk of their own to tell: only hidden and non-model folders could have escaped.)
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
        return await self.reconciler.start_when_free()

    async def _watch_first(self) -> None:
        await self._check_roots(initial=True)
        self._set_up.set()

    async def _supervise(self) -> None:
        assert self._setting_up is not None
        await asyncio.shield(self._setting_up)  # stop() waits for it rather than leave its thread running
        await self._rescan_when_free()
        self._walk_started.set()
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
