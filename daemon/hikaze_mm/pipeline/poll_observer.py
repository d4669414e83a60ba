"""The polling observer for folders no event reaches (network shares, and what inotify could not take).

Each polled folder has an emitter thread that keeps a picture of its tree (poll_tree) and polls it every
`poll_interval`: an unchanged tree costs an open and an fstat per folder and no stat of any file. A poll's CPU time
stretches the wait before the next, so that polling takes at most CPU_SHARE of a core, shared among the polled
folders: a tree too big for the interval is polled less often rather than keep a core busy. It is a watchdog
observer, so the watcher schedules and stops it like the native one.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from watchdog.events import DirDeletedEvent
from watchdog.observers.api import BaseObserver, EventEmitter

from hikaze_mm.pipeline.poll_tree import PollTree, RootGone

CPU_SHARE = 0.02  # of one core, for all polled folders together

_polling: weakref.WeakSet[_Emitter] = weakref.WeakSet()
_polling_lock = threading.Lock()


class _Emitter(EventEmitter):
    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.tree = PollTree(self.watch.path)
        self.interval = float(self.timeout)  # the wait before the next poll: `timeout`, or longer (CPU_SHARE)

    @property
    def unreadable(self) -> dict[str, str]:
        return self.tree.unreadable

    def on_thread_start(self) -> None:
        self.tree.poll(report=False)  # in the caller's thread: a file made once `schedule` returned is news
        with _polling_lock:
            _polling.add(self)

    def on_thread_stop(self) -> None:
        with _polling_lock:
            _polling.discard(self)

    def queue_events(self, timeout: float) -> None:
        if self.stopped_event.wait(self.interval):
            return
        started = time.thread_time()
        try:
            events = self.tree.poll()
        except RootGone:
            self.queue_event(DirDeletedEvent(self.watch.path))
            self.stop()
            return
        for event in events:
            self.queue_event(event)
        with _polling_lock:
            share = CPU_SHARE / max(len(_polling), 1)
        self.interval = max(float(timeout), (time.thread_time() - started) / share)


class PollingObserver(BaseObserver):
    def __init__(self, timeout: float):
        super().__init__(_Emitter, timeout=timeout)

    def _polling(self) -> list[_Emitter]:
        return [e for e in list(self.emitters) if isinstance(e, _Emitter)]

    def unreadable(self) -> int:
        return sum(len(e.unreadable) for e in self._polling())

    def interval(self) -> float:
        """Seconds between polls now: the setting, or longer where CPU_SHARE demands it."""
        return max((e.interval for e in self._polling()), default=float(self.timeout))
