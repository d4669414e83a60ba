"""watchdog observers for the model folders, handing events to the asyncio loop.

Each folder is watched at its real path (inotify does not follow a symlinked folder) and events are mapped back
to the path the user configured. If native watching fails (inotify limits, filesystems without events), the
folder falls back to polling and the reason is logged and shown in the status; nothing stops watching silently.
When only part of a tree could be watched (the watch limit ran out part-way), the folders left out are polled
and the rest stays native: mode `partial`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from watchdog.events import (
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from .inotify_coverage import coverage, max_user_watches
from .roots import within

log = logging.getLogger(__name__)

# Opened and closed-without-write are left out: our own hashing reads would echo back as events.
EVENT_FILTER = [
    FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
    DirDeletedEvent, DirMovedEvent,
]


@dataclass(frozen=True)
class FsEvent:
    kind: str  # changed | deleted | moved | dir_deleted | dir_moved
    path: str
    dest: str | None = None


@dataclass
class Watch:
    path: str  # as configured
    real: str
    mode: str  # native | polling | partial
    observer: BaseObserver
    reason: str | None = None  # why it is polling, if it fell back
    poller: BaseObserver | None = None  # partial: polls the folders native watching could not take
    polled: tuple[str, ...] = ()

    def observers(self) -> list[BaseObserver]:
        return [self.observer] + ([self.poller] if self.poller is not None else [])

    def alive(self) -> bool:
        return all(o.is_alive() and all(e.is_alive() for e in o.emitters) for o in self.observers())


class _Handler(FileSystemEventHandler):
    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Callable[[FsEvent], None], real: str, path: str):
        self._loop = loop
        self._sink = sink
        self._real = real
        self._path = path

    def _map(self, p: str | bytes) -> str:
        p = os.fsdecode(p)
        if p == self._real:
            return self._path
        if p.startswith(self._real + os.sep):
            return self._path + p[len(self._real):]
        return p

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Runs on watchdog's thread: no I/O here, just hand the event over.
        src = self._map(event.src_path)
        dest = self._map(event.dest_path) if event.dest_path else None
        if isinstance(event, DirMovedEvent):
            fs = FsEvent("dir_moved", src, dest)
        elif isinstance(event, DirDeletedEvent):
            fs = FsEvent("dir_deleted", src)
        elif event.is_directory:
            return
        elif isinstance(event, FileMovedEvent):
            fs = FsEvent("moved", src, dest)
        elif isinstance(event, FileDeletedEvent):
            fs = FsEvent("deleted", src)
        else:
            fs = FsEvent("changed", src)
        self._loop.call_soon_threadsafe(self._sink, fs)


class Watcher:
    def __init__(
        self,
        sink: Callable[[FsEvent], None],
        mode: str,
        poll_interval: float,
        native_factory: Callable[[], BaseObserver] | None = None,
    ):
        self._sink = sink
        self.mode = mode
        self._poll_interval = poll_interval
        self._native_factory = native_factory or Observer
        self.watches: dict[str, Watch] = {}
        self._mounts = _mount_table()

    def watch(self, path: str, loop: asyncio.AbstractEventLoop) -> Watch | None:
        """Start watching a folder and everything below it (blocking: inotify adds a watch per subfolder).
        None when watching is off."""
        if self.mode == "off":
            return None
        self.unwatch(path)
        real = os.path.realpath(path)
        handler = _Handler(loop, self._sink, real, path)
        reason = None
        if self.mode == "native":
            observer = self._native_factory()
            try:
                observer.schedule(handler, real, recursive=True, event_filter=EVENT_FILTER)
                observer.start()
            except OSError as e:
                reason = f"native watching failed ({e.strerror or e}); polling every {self._poll_interval:g}s"
                log.warning(reason, extra={"event": "watch.polling", "path": path})
                self._halt(observer)
            else:
                w = self._cover_the_rest(Watch(path, real, "native", observer), handler)
                self.watches[path] = w
                return w
        observer = self._poller(handler, [real])
        w = Watch(path, real, "polling", observer, reason)
        self.watches[path] = w
        return w

    def _poller(self, handler: _Handler, folders: list[str]) -> BaseObserver:
        observer = PollingObserver(timeout=self._poll_interval)
        for folder in folders:
            observer.schedule(handler, folder, recursive=True, event_filter=EVENT_FILTER)
        observer.start()
        return observer

    def _cover_the_rest(self, w: Watch, handler: _Handler) -> Watch:
        """Poll whatever part of the tree inotify silently left out."""
        cov = coverage(w.real)
        if cov is None or not cov.unwatched:
            return w
        limit = max_user_watches()
        w.reason = (
            f"inotify could not watch {cov.unwatched} of {cov.folders} folders (the inotify watch limit "
            f"fs.inotify.max_user_watches{f' = {limit}' if limit else ''} is reached, or they are unreadable); "
            f"those are polled every {self._poll_interval:g}s"
        )
        log.warning(w.reason, extra={"event": "watch.partial", "path": w.path})
        w.mode = "partial"
        w.polled = tuple(cov.tops)
        w.poller = self._poller(handler, cov.tops)
        return w

    def needs_rewatch(self, path: str) -> bool:
        """Whether folders made since watching started escaped inotify (the limit ran out meanwhile) and are not
        polled either (blocking: walks the tree's folders)."""
        w = self.watches.get(path)
        if w is None or w.mode == "polling":
            return False
        cov = coverage(w.real)
        if cov is None:
            return False
        return any(not any(within(t, p) for p in w.polled) for t in cov.tops)

    def mounts_changed(self) -> bool:
        """Whether something was mounted or unmounted since the last call. A share mounted over a watched folder
        (or unmounted from it) swaps the folder's inode for one inotify is not watching, so the trees need a
        check; the mount table is small enough to read every few seconds."""
        mounts = _mount_table()
        changed, self._mounts = mounts != self._mounts, mounts
        return changed

    def unwatch(self, path: str) -> None:
        w = self.watches.pop(path, None)
        if w is not None:
            for observer in w.observers():
                self._halt(observer)

    def stop(self) -> None:
        for path in list(self.watches):
            self.unwatch(path)

    @staticmethod
    def _halt(observer: BaseObserver) -> None:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=5)


def _mount_table() -> bytes | None:
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            return f.read()
    except OSError:
        return None
