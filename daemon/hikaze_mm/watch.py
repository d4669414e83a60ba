"""watchdog observers for the model folders, handing events to the asyncio loop.

Each folder is watched at its real path (inotify does not follow a symlinked folder) and events are mapped back
to the path the user configured. If native watching fails (inotify limits, filesystems without events), the
folder falls back to polling and the reason is logged and shown in the status; nothing stops watching silently.
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
    mode: str  # native | polling
    observer: BaseObserver
    reason: str | None = None  # why it is polling, if it fell back

    def alive(self) -> bool:
        return self.observer.is_alive() and all(e.is_alive() for e in self.observer.emitters)


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
                w = Watch(path, real, "native", observer)
                self.watches[path] = w
                return w
            except OSError as e:
                reason = f"native watching failed ({e.strerror or e}); polling every {self._poll_interval:g}s"
                log.warning(reason, extra={"event": "watch.polling", "path": path})
                self._halt(observer)
        observer = PollingObserver(timeout=self._poll_interval)
        observer.schedule(handler, real, recursive=True, event_filter=EVENT_FILTER)
        observer.start()
        w = Watch(path, real, "polling", observer, reason)
        self.watches[path] = w
        return w

    def unwatch(self, path: str) -> None:
        w = self.watches.pop(path, None)
        if w is not None:
            self._halt(w.observer)

    def stop(self) -> None:
        for path in list(self.watches):
            self.unwatch(path)

    @staticmethod
    def _halt(observer: BaseObserver) -> None:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=5)
