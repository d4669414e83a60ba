"""Decides when a file has stopped changing.

A file is stable once `settle_seconds` passed with no event for it, no partial-download sibling beside it, and
its size and mtime unchanged across that time: either two stats `settle_seconds` apart agree, or its own mtime
is already `settle_seconds` old (so a finished download is hashed after one quiet period, not two).

A file a walk found (`offer`) is looked at once: when its mtime and its ctime are both `settle_seconds` old it is
stable at once, since nothing has written, renamed or copied it for a whole quiet period (a copy that keeps the
source's mtime still has a new ctime, and settles as usual). A first index of a library then waits for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from hikaze_mm.config.roots import PARTIAL_SUFFIXES
from hikaze_mm.inspect.folder_names import FolderNames
from hikaze_mm.pipeline.background import Background
from hikaze_mm.pipeline.batch_lines import batch_fields
from hikaze_mm.pipeline.walk import stat_regular
from hikaze_mm.store.errors import StorageFull
from hikaze_mm.store.records import FileStat

log = logging.getLogger(__name__)
MIN_RECHECK_S = 0.05
LIST_FOLDERS_FROM = 16  # files due at once, from which their folders are listed rather than names stat'ed
DISK_FULL_RETRY_S = 30.0  # how soon a file whose outcome could not be written for want of space is looked at again


class Clock(Protocol):
    """The time the settler goes by. The daemon's is the event loop's; a test passes one it moves by hand, so the
    rules are checked without waiting real seconds."""

    def time(self) -> float:
        """Monotonic seconds: the scale of deadlines and quiet periods."""

    def wall(self) -> float:
        """Seconds since the epoch: the scale of a file's mtime."""

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        """Return once `wake` is set or `deadline` (on the scale of `time`; None: never) has come."""


class LoopClock:
    """The running event loop's clock, and the system's for mtimes (files are stamped by the system's)."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        timeout = None if deadline is None else max(deadline - self.time(), 0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=timeout)


@dataclass
class _Entry:
    deadline: float  # the clock's time of the next check
    last: FileStat | None = None
    offered: bool = False  # found by a walk and not looked at yet: stable at once if long untouched


@dataclass(frozen=True)
class _Look:
    st: FileStat | None
    changed_ns: int  # the later of mtime and ctime: when anything last wrote, renamed or copied the file
    partial: bool  # a download still writing beside it


def _check(path: str, names: FolderNames | None) -> _Look:
    """Stat the file and look for a download still writing beside it (runs in a thread)."""
    raw = stat_regular(path)
    if raw is None:
        return _Look(None, 0, False)
    partial = any((names is None or not names.absent(path + s)) and os.path.exists(path + s)
                  for s in PARTIAL_SUFFIXES)
    return _Look(FileStat.of(raw), max(raw.st_mtime_ns, raw.st_ctime_ns), partial)


def _check_all(paths: list[str]) -> list[_Look]:
    # Many files due at once (a walk's finds) mostly share folders: each folder is listed once instead of a stat
    # per partial-download name per file. A few files (downloads settling) are cheaper to look for by name.
    names = FolderNames() if len(paths) >= LIST_FOLDERS_FROM else None
    return [_check(p, names) for p in paths]


class Settler(Background):
    task_name = "settler"

    def __init__(
        self,
        settle_seconds: float,
        on_stable: Callable[[str, FileStat], Awaitable[None]],
        on_vanished: Callable[[str], Awaitable[None]],
        clock: Clock | None = None,
    ):
        super().__init__()
        self.settle = settle_seconds
        self._clock: Clock = clock or LoopClock()
        self._on_stable = on_stable
        self._on_vanished = on_vanished
        self._entries: dict[str, _Entry] = {}
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: str) -> bool:
        return path in self._entries

    def touch(self, path: str, wait: float | None = None) -> None:
        """Something happened to the file: it must be quiet for a whole settle period from now (or `wait`
        seconds, when the file is to be tried again later)."""
        deadline = self._clock.time() + (self.settle if wait is None else wait)
        entry = self._entries.get(path)
        if entry is None:
            self._entries[path] = _Entry(deadline)
        else:
            entry.deadline = deadline
        self._wake.set()

    def offer(self, path: str) -> None:
        """A file a walk found: looked at now, and stable at once if nothing has touched it for a quiet period."""
        if path in self._entries:
            return  # already settling after an event: that event's quiet period stands
        self._entries[path] = _Entry(self._clock.time(), offered=True)
        self._wake.set()

    def forget(self, path: str) -> None:
        self._entries.pop(path, None)

    async def _run(self) -> None:
        while True:
            now = self._clock.time()
            due = [p for p, e in self._entries.items() if e.deadline <= now]
            if due:
                looks = await asyncio.to_thread(_check_all, due)
                for path, look in zip(due, looks, strict=True):
                    await self._decide(path, look)
                continue
            self._wake.clear()
            await self._clock.sleep_until(min((e.deadline for e in self._entries.values()), default=None), self._wake)

    async def _decide(self, path: str, look: _Look) -> None:
        entry = self._entries.get(path)
        now = self._clock.time()
        if entry is None or entry.deadline > now:
            return  # forgotten, or touched again while we were checking
        st, partial = look.st, look.partial
        if st is None:
            del self._entries[path]
            await self._outcome(path, self._on_vanished(path))
            return
        if entry.offered:
            entry.offered = False
            if not partial and self._clock.wall() - look.changed_ns / 1e9 >= self.settle:
                del self._entries[path]
                await self._outcome(path, self._on_stable(path, st))
            else:
                entry.deadline = now + self.settle  # touched lately: a quiet period from now, as after an event
            return
        age = self._clock.wall() - st.mtime_ns / 1e9
        if not partial and (st == entry.last or age >= self.settle):
            del self._entries[path]
            await self._outcome(path, self._on_stable(path, st))
            return
        entry.last = st
        wait = self.settle if partial else min(self.settle, self.settle - age)
        entry.deadline = now + max(wait, MIN_RECHECK_S)

    async def _outcome(self, path: str, verdict: Awaitable[None]) -> None:
        """A verdict whose outcome cannot be written while the database's disk is full is given again later: the
        settler must not stop for it, since a restarted daemon would meet the same full disk."""
        try:
            await verdict
        except StorageFull as e:
            disk_full(e, [path])
            self.touch(path, DISK_FULL_RETRY_S)


def disk_full(error: StorageFull, paths: list[str]) -> None:
    """One line for the files (a batch) whose outcome could not be written."""
    if len(paths) == 1:
        log.warning("%s; the file is looked at again in %g s", error, DISK_FULL_RETRY_S,
                    extra={"event": "pipeline.disk_full", "path": paths[0]})
    else:
        log.warning("%s; these %d files are looked at again in %g s", error, len(paths), DISK_FULL_RETRY_S,
                    extra={"event": "pipeline.disk_full", "files": len(paths), **batch_fields(paths)})
