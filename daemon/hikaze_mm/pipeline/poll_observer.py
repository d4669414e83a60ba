"""watchdog's polling observer, made to keep going through folders it cannot list.

watchdog's snapshot raises when the folder it polls cannot be listed (a permission, a share gone stale): the
observer then fails to start, or (watchdog 6.0.0) reports the whole folder deleted and stops. A folder below it
that cannot be listed drops out of the snapshot, so everything in it is reported deleted. Here an unlistable
folder keeps what the last snapshot saw in it: nothing is reported until it can be read again, and it is logged
once. Symlinked folders are not followed (they are watched on their own, as with inotify, and a link loop or a
link to `/` would have the poller walk it every few seconds), nor are pseudo filesystems (`/proc`, `/sys`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingEmitter

from hikaze_mm.pipeline.mounts import pseudo_devices

log = logging.getLogger(__name__)
GONE = (FileNotFoundError, NotADirectoryError)  # watchdog's own answer to these is right: the folder went away


class _Name:
    """All the snapshot reads of a listed entry."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _Emitter(PollingEmitter):
    def __init__(self, *args: Any, **kw: Any):
        self.unreadable: dict[str, str] = {}  # folder -> why, while it cannot be listed
        self._unreadable_lock = threading.Lock()
        kw.update(stat=self._stat, listdir=self._listdir)
        super().__init__(*args, **kw)

    def _previous(self) -> Any:
        return getattr(self, "_snapshot", None)  # watchdog's last snapshot; absent before the first one

    def _listdir(self, path: str) -> Iterable[Any]:
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except GONE:
            self._readable(path)
            raise
        except OSError as e:
            self._unlistable(path, e.strerror or str(e))
            before = self._previous()
            known = before.paths if before is not None else ()
            return [_Name(os.path.basename(p)) for p in known if os.path.dirname(p) == path]
        self._readable(path)
        pseudo = pseudo_devices()
        return [e for e in entries if not (e.is_dir(follow_symlinks=False) and _device(e) in pseudo)]

    def _stat(self, path: str) -> os.stat_result:
        try:
            return os.lstat(path)
        except GONE:
            raise
        except OSError:
            before = self._previous()
            if before is not None and path in before.paths:
                return before.stat_info(path)  # inside a folder that cannot be read now: as last seen
            raise

    def _unlistable(self, path: str, why: str) -> None:
        with self._unreadable_lock:
            first = path not in self.unreadable
            self.unreadable[path] = why
        if first:
            log.warning("cannot list the folder (%s); what was seen in it is kept, and it is polled until it can be "
                        "read", why, extra={"event": "watch.unreadable", "path": path})

    def _readable(self, path: str) -> None:
        if not self.unreadable:  # every folder of every poll comes here: the usual answer without the lock
            return
        with self._unreadable_lock:
            was = self.unreadable.pop(path, None)
        if was is not None:
            log.info("the folder can be listed again", extra={"event": "watch.readable", "path": path})


def _device(entry: os.DirEntry[str]) -> int | None:
    try:
        return entry.stat(follow_symlinks=False).st_dev
    except OSError:
        return None


class PollingObserver(BaseObserver):
    def __init__(self, timeout: float):
        super().__init__(_Emitter, timeout=timeout)

    def unreadable(self) -> int:
        return sum(len(e.unreadable) for e in list(self.emitters) if isinstance(e, _Emitter))
