"""watchdog observers for the model folders, handing events to the asyncio loop.

Each folder is watched at its real path (inotify does not follow a symlinked folder) and events are mapped back
to the path the user configured. If native watching fails (inotify limits, filesystems without events), the
folder falls back to polling and the reason is logged and shown in the status; nothing stops watching silently.
When only part of a tree can be watched (the watch limit runs out part-way), the watches are planned folder by
folder (see inotify_coverage): whole subtrees that fit are watched recursively, the folders above the cut on
their own, the highest folders left out are polled, and the rest stays native: mode `partial`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from watchdog.events import (
    DirCreatedEvent,
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

from hikaze_mm.config.roots import within
from hikaze_mm.pipeline.inotify_coverage import Tree, coverage, covered, plan, probe, tree, watch_limit, watched_inodes
from hikaze_mm.pipeline.poll_observer import CPU_SHARE, PollingObserver

log = logging.getLogger(__name__)

# Opened and closed-without-write are left out: our own hashing reads would echo back as events.
EVENT_FILTER = [
    FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
    DirDeletedEvent, DirMovedEvent,
]
# A folder watched without its subfolders must learn of a new one: the plan that left it out no longer holds.
FLAT_FILTER = [*EVENT_FILTER, DirCreatedEvent]


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
    reshaped: str | None = None  # a folder made, moved or deleted where the plan cut the tree

    def observers(self) -> list[BaseObserver]:
        return [self.observer] + ([self.poller] if self.poller is not None else [])

    def alive(self) -> bool:
        """False once watching the tree again is due: an observer or emitter stopped, or the tree's shape changed
        where the plan cut it (a new folder there would be neither watched nor polled)."""
        return self.reshaped is None and all(
            o.is_alive() and all(e.is_alive() for e in o.emitters) for o in self.observers())

    def why_not_alive(self) -> str:
        if self.reshaped is not None:
            return f"the folder {self.reshaped} was made, moved or deleted where the inotify watches ran out"
        return "its watcher stopped"

    def reshape(self, folder: str) -> None:
        self.reshaped = folder

    def note(self) -> str | None:
        pollers = [o for o in self.observers() if isinstance(o, PollingObserver)]
        notes = [self.reason] if self.reason else []
        unreadable = sum(o.unreadable() for o in pollers)
        if unreadable:
            notes.append(f"polled folders that cannot be listed: {unreadable} (what was seen in them is kept until "
                         "they can be)")
        for o in pollers:
            if o.interval() > o.timeout:
                notes.append(f"polled every {o.interval():.0f}s rather than {o.timeout:g}s, so that polling takes at "
                             f"most {CPU_SHARE:.0%} of a core")
                break
        return "; ".join(notes) or None


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


class _FlatHandler(_Handler):
    """For the folders watched without their subfolders: any folder made, moved or deleted right below one of
    them changes what the plan has to cover."""

    def __init__(self, base: _Handler, flat: set[str], reshape: Callable[[str], None]):
        super().__init__(base._loop, base._sink, base._real, base._path)
        self._flat = flat
        self._reshape = reshape

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            for p in (event.src_path, event.dest_path):
                if p and os.path.dirname(os.fsdecode(p)) in self._flat:
                    self._reshape(self._map(p))
        super().on_any_event(event)


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
            try:
                w = self._native(path, real, handler)
            except OSError as e:
                reason = f"native watching failed ({e.strerror or e}); polling every {self._poll_interval:g}s"
                log.warning(reason, extra={"event": "watch.polling", "path": path})
            else:
                self.watches[path] = w
                return w
        observer = self._poller(handler, [real])
        w = Watch(path, real, "polling", observer, reason)
        self.watches[path] = w
        return w

    def _native(self, path: str, real: str, handler: _Handler) -> Watch:
        t = tree(real)
        if t is None:
            raise OSError(errno.ENOENT, "the folder is gone")
        probed = probe(t)
        observer = self._native_factory()
        w = Watch(path, real, "native", observer)
        if probed is None:  # no inotify to ask: the platform's own recursive watching
            self._start(observer, handler, real, recursive=True)
            return self._cover_the_rest(w, handler, t, None)
        ok, root_error = probed
        p = plan(t, ok, root_error)
        if p.root_error is not None:
            why = "inotify watch limit reached" if p.root_error == errno.ENOSPC else os.strerror(p.root_error)
            raise OSError(p.root_error, why)  # ENOSPC reads "No space left on device", which misleads here
        if p.whole:
            self._start(observer, handler, real, recursive=True)
            return self._cover_the_rest(w, handler, t, ok)
        flat = _FlatHandler(handler, set(p.flat), w.reshape)
        self._start(observer, flat, p.flat[0], recursive=False)
        for folder in p.flat[1:]:
            self._add(observer, flat, folder, recursive=False)
        for folder in p.recursive:
            self._add(observer, handler, folder, recursive=True)
        return self._cover_the_rest(w, handler, t, ok)

    def _start(self, observer: BaseObserver, handler: _Handler, folder: str, recursive: bool) -> None:
        try:
            observer.schedule(handler, folder, recursive=recursive,
                              event_filter=EVENT_FILTER if recursive else FLAT_FILTER)
            observer.start()
        except OSError:
            self._halt(observer)
            raise

    @staticmethod
    def _add(observer: BaseObserver, handler: _Handler, folder: str, recursive: bool) -> None:
        try:
            observer.schedule(handler, folder, recursive=recursive,
                              event_filter=EVENT_FILTER if recursive else FLAT_FILTER)
        except OSError as e:
            # Another program took the last watches since the plan was made, or the folder went: the kernel's
            # list shows it unwatched, so it is polled.
            log.debug("could not watch %s: %s", folder, e.strerror or e, extra={"event": "watch.partial"})

    def _poller(self, handler: _Handler, folders: list[str]) -> BaseObserver:
        observer = PollingObserver(timeout=self._poll_interval)
        observer.start()
        for folder in folders:
            try:
                observer.schedule(handler, folder, recursive=True, event_filter=EVENT_FILTER)
            except OSError as e:  # gone since the tree was read: its parent's watch reports that
                log.debug("could not poll %s: %s", folder, e.strerror or e, extra={"event": "watch.polling"})
        return observer

    def _cover_the_rest(self, w: Watch, handler: _Handler, t: Tree, probed: set[int] | None) -> Watch:
        """Poll whatever part of the tree inotify did not take, as the kernel's own list of watches tells (or, where
        it cannot tell, as the plan expected)."""
        cov = coverage(t)
        if cov is None and probed is not None:
            cov = covered(t, probed)
        if cov is None or not cov.unwatched:
            return w
        name, limit = watch_limit()
        w.reason = (
            f"inotify could not watch {cov.unwatched} of {cov.folders} folders (the inotify watch limit "
            f"{name}{f' = {limit}' if limit else ''} is reached, or they are unreadable); "
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
        now = tree(w.real)
        cov = coverage(now) if now is not None else None
        if cov is None:
            return False
        return any(not any(within(top, p) for p in w.polled) for top in cov.tops)

    @staticmethod
    def all_watched(folders: set[tuple[int, int]]) -> bool:
        """Whether inotify watches every one of these folders, by (device, inode) (blocking: reads /proc). When it
        does, no folder a walk found escaped the watches, and `needs_rewatch`'s walk of each tree is not needed."""
        watched = watched_inodes()
        return watched is not None and all((os.major(d), os.minor(d), i) in watched for d, i in folders)

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
