"""The poller's picture of a folder tree, and what changed in it since the last poll.

A poll opens every known folder and reads its time stamps; only a folder whose stamps moved is listed again, and
in it only the names that are new (or now name another inode) are stat'ed. Downloads arrive by create and rename,
which stamp the folder, so a poll of an unchanged tree costs an open and an fstat per folder and no stat of any
file: on a network share a stat is a round trip, and 200,000 of them every few seconds kept a core and the network
busy for nothing. A file written in place does not stamp its folder: the safety-net walk (`rescan_interval`)
finds that, and a file that appeared lately is stat'ed at each poll for as long as it is young (a copy that
pauses and goes on).

Nothing is reported gone on a guess. A name is gone only when a listing of its folder lacks it; its deletion is
held for one poll, in case it turns up elsewhere (a move seen half before and half after a folder was read); a
folder that now sits on another filesystem (a share mounted or unmounted there) reports nothing of what was in
it; a folder that cannot be read keeps what was last seen in it, and is polled until it can be. Symlinked folders
are not followed (they are watched on their own), nor are pseudo filesystems (`/proc`) or the hidden folders the
walk skips (`.git`, Synology's `@eaDir`).
"""

from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
import time
from dataclasses import dataclass, field

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from hikaze_mm.config.roots import skip_dir
from hikaze_mm.pipeline.mounts import pseudo_devices

log = logging.getLogger(__name__)

# A folder's stamps only prove that nothing changed after a listing once they are older than the coarsest clock
# that stamps them (FAT's two seconds; a share passes on its server's): a file made in the same tick as the
# listing leaves them as they were. Until then the folder is listed at every poll.
STAMP_GRAIN_S = 2.0
YOUNG_S = 60.0  # a new file is stat'ed at each poll until it has not changed for this long
# Opening a folder, unlike a stat of it, makes an NFS client ask the server (close-to-open): a stat may answer
# from a cache of up to a minute. The fstat of the open folder is then fresh, and the listing is of that folder.
# Where folders cannot be listed by descriptor (Windows), both are taken by path.
_BY_FD = os.scandir in os.supports_fd and os.stat in os.supports_dir_fd
_OPEN = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)  # ELOOP: a folder replaced by a symlink

Stamp = tuple[int, int, int, int]  # st_dev, st_ino, st_mtime_ns, st_ctime_ns of a folder
Print = tuple[int, int, int]  # inode as listed, size, mtime_ns of a name that is not a folder; size -1: unknown
Key = tuple[int, int, int, int]  # device, inode, size, mtime_ns (a file) or device, inode, mtime_ns, -2 (a folder)


class RootGone(FileNotFoundError):
    """The polled folder itself is gone or replaced: its watch is over."""


class _Folder:
    __slots__ = ("dirs", "files", "since", "stamp", "sure")

    def __init__(self) -> None:
        self.stamp: Stamp | None = None  # as it was when last listed; None: never listed
        self.since = 0.0  # monotonic time this stamp was first seen
        self.sure = False  # listed once its stamp was STAMP_GRAIN_S old
        self.files: dict[str, Print] = {}
        self.dirs: dict[str, tuple[int, _Folder]] = {}  # name -> (inode as listed, the subfolder)

    def key(self) -> Key | None:
        return None if self.stamp is None else (*self.stamp[:3], -2)


_NOT_ENTERED = _Folder()  # a hidden folder or a pseudo filesystem: in its parent's listing, never entered


@dataclass
class _Round:
    """One poll's findings, matched into moves once every folder has been looked at."""

    now: float
    report: bool
    appeared_dirs: list[tuple[str, _Folder, str, int, os.stat_result | None]] = field(default_factory=list)
    appeared_files: list[tuple[str, Key | None, _Folder, str]] = field(default_factory=list)
    vanished: dict[str, tuple[Key | None, _Folder | None]] = field(default_factory=dict)  # folder: None for a file
    failed: dict[str, str] = field(default_factory=dict)
    readable: list[str] = field(default_factory=list)  # folders that could not be listed before and can be now
    moved_dirs: list[FileSystemEvent] = field(default_factory=list)
    created_dirs: list[FileSystemEvent] = field(default_factory=list)


class PollTree:
    def __init__(self, root: str):
        self.root = root
        self.unreadable: dict[str, str] = {}  # folder -> why, while it cannot be listed (replaced whole, never edited)
        self._top = _Folder()
        self._held: dict[str, tuple[Key | None, _Folder | None]] = {}  # gone at the last poll, reported at this one
        self._young: dict[str, tuple[_Folder, str, float]] = {}  # path -> (its folder, its name, last changed)

    def poll(self, report: bool = True) -> list[FileSystemEvent]:
        """What changed since the last poll (the first, with `report` False, only takes the picture). Raises
        RootGone when the polled folder is gone."""
        rnd = _Round(time.monotonic(), report)
        stack: list[tuple[str, _Folder, bool]] = [(self.root, self._top, True)]
        while stack:
            while stack:
                path, folder, is_root = stack.pop()
                stack.extend(self._visit(path, folder, rnd, is_root))
            self._place_dirs(rnd, stack)
        self._note_unreadable(rnd)
        if not report:
            return []
        return [*rnd.moved_dirs, *rnd.created_dirs, *self._match_files(rnd), *self._young_changes(rnd.now),
                *self._gone(rnd)]

    # -- one folder -------------------------------------------------------------------------------------------
    def _visit(self, path: str, folder: _Folder, rnd: _Round, is_root: bool) -> list[tuple[str, _Folder, bool]]:
        """Look at one folder, list it again if its stamps moved, and hand back its subfolders to visit."""
        try:
            folder_at = _open(path)
        except OSError as e:
            if e.errno in _GONE:
                if is_root:
                    raise RootGone(e.errno, e.strerror, path) from e
                return []  # gone or replaced since its parent was listed: the parent's next listing says which
            rnd.failed[path] = e.strerror or str(e)
            folder.sure = False  # listed again as soon as it can be
            return _subfolders(path, folder)
        if self.unreadable and path in self.unreadable:
            rnd.readable.append(path)
        try:
            st = os.fstat(folder_at) if isinstance(folder_at, int) else os.lstat(folder_at)
            stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
            if stamp == folder.stamp and folder.sure:
                return _subfolders(path, folder)
            if folder.stamp is not None and folder.stamp[0] != st.st_dev:
                # A share mounted or unmounted right here: what was seen is out of sight, not deleted.
                log.info("another filesystem is mounted here now; what was seen in the folder is not reported gone",
                         extra={"event": "watch.remounted", "path": path})
                folder.files, folder.dirs = {}, {}
            if not is_root and st.st_dev in pseudo_devices():
                folder.files, folder.dirs = {}, {}
                entries: list[os.DirEntry[str]] = []
            else:
                with os.scandir(folder_at) as it:
                    entries = list(it)
            self._relist(path, folder, folder_at, st.st_dev, entries, rnd)
        except OSError as e:
            rnd.failed[path] = e.strerror or str(e)
            folder.sure = False
            return _subfolders(path, folder)
        finally:
            if isinstance(folder_at, int):
                os.close(folder_at)
        if stamp != folder.stamp:
            folder.stamp, folder.since = stamp, rnd.now
        folder.sure = rnd.now - folder.since >= STAMP_GRAIN_S
        return _subfolders(path, folder)

    def _relist(self, path: str, folder: _Folder, folder_at: int | str, dev: int, entries: list[os.DirEntry[str]],
                rnd: _Round) -> None:
        """Compare a fresh listing with the last one: a name that still names the same inode is not stat'ed."""
        files, dirs = folder.files, folder.dirs
        new_files: dict[str, Print] = {}
        new_dirs: dict[str, tuple[int, _Folder]] = {}
        pseudo: dict[int, str] | None = None
        for entry in entries:
            name, ino = entry.name, entry.inode()
            seen = files.get(name)
            if seen is not None and seen[0] == ino:
                new_files[name] = seen
                continue
            sub = dirs.get(name)
            if sub is not None and sub[0] == ino:
                new_dirs[name] = sub
                continue
            try:
                est: os.stat_result | None = (os.lstat(name, dir_fd=folder_at) if isinstance(folder_at, int)
                                              else os.lstat(os.path.join(path, name)))
            except FileNotFoundError:
                continue  # gone again: that stamped the folder, which is listed again next poll
            except OSError:
                est = None  # a folder that can be listed but not searched: named, never stat'ed
            if stat_mod.S_ISDIR(est.st_mode) if est is not None else entry.is_dir(follow_symlinks=False):
                if pseudo is None:
                    pseudo = pseudo_devices()
                if skip_dir(name) or (est is not None and est.st_dev in pseudo):
                    new_dirs[name] = (ino, _NOT_ENTERED)
                else:
                    rnd.appeared_dirs.append((os.path.join(path, name), folder, name, ino, est))
                continue
            new_files[name] = (ino, -1, -1) if est is None else (ino, est.st_size, est.st_mtime_ns)
            if rnd.report:
                key = None if est is None else (dev, *new_files[name])
                rnd.appeared_files.append((os.path.join(path, name), key, folder, name))
        if rnd.report:
            for name, was in files.items():
                if new_files.get(name) is not was:
                    rnd.vanished[os.path.join(path, name)] = (None if was[1] < 0 else (dev, *was), None)
            for name, listed in dirs.items():
                if listed[1] is not _NOT_ENTERED and new_dirs.get(name) is not listed:
                    rnd.vanished[os.path.join(path, name)] = (listed[1].key(), listed[1])
        folder.files, folder.dirs = new_files, new_dirs

    # -- matching ---------------------------------------------------------------------------------------------
    def _pool(self, rnd: _Round) -> dict[Key, tuple[dict[str, tuple[Key | None, _Folder | None]], str]]:
        """What went away, by identity: held from the last poll first, then this poll's."""
        pool: dict[Key, tuple[dict[str, tuple[Key | None, _Folder | None]], str]] = {}
        for gone in (self._held, rnd.vanished):
            for path, (key, _) in gone.items():
                if key is not None:
                    pool.setdefault(key, (gone, path))
        return pool

    def _place_dirs(self, rnd: _Round, stack: list[tuple[str, _Folder, bool]]) -> None:
        """New folders in listings. One that went away elsewhere with the same inode and mtime moved here, and keeps
        what was known of it; so did one still known at a place whose listing this poll read before the move (a
        folder has one name only). Any other is new and is listed whole."""
        appeared, rnd.appeared_dirs = rnd.appeared_dirs, []
        if not appeared:
            return
        pool = self._pool(rnd) if rnd.report else {}
        known: dict[Key, tuple[str, _Folder, str]] | None = None
        for path, parent, name, ino, est in appeared:
            key = None if est is None or not rnd.report else (est.st_dev, est.st_ino, est.st_mtime_ns, -2)
            sub, was = None, ""
            found = None if key is None else pool.pop(key, None)
            if found is not None:
                was, sub = found[1], found[0].pop(found[1])[1]
            elif key is not None:
                known = self._known_dirs() if known is None else known
                stale = known.pop(key, None)
                if stale is not None and stale[0] != path:
                    was, sub = stale[0], stale[1].dirs.pop(stale[2])[1]
            if sub is not None:
                rnd.moved_dirs.append(DirMovedEvent(was, path))
            else:
                sub = _Folder()
                if rnd.report:
                    rnd.created_dirs.append(DirCreatedEvent(path))
            parent.dirs[name] = (ino, sub)
            stack.append((path, sub, False))

    def _known_dirs(self) -> dict[Key, tuple[str, _Folder, str]]:
        """Every folder in the picture by identity, with its path, its parent and its name there."""
        out: dict[Key, tuple[str, _Folder, str]] = {}
        stack = [(self.root, self._top)]
        while stack:
            path, folder = stack.pop()
            for name, (_, sub) in folder.dirs.items():
                key = sub.key()
                if sub is not _NOT_ENTERED and key is not None:
                    child = os.path.join(path, name)
                    out[key] = (child, folder, name)
                    stack.append((child, sub))
        return out

    def _match_files(self, rnd: _Round) -> list[FileSystemEvent]:
        """Moves (a file that went away with the same device, inode, size and mtime), then creations."""
        pool = self._pool(rnd)
        moved: list[FileSystemEvent] = []
        created: list[FileSystemEvent] = []
        for path, key, folder, name in rnd.appeared_files:
            found = pool.pop(key, None) if key is not None else None
            if found is not None:
                found[0].pop(found[1])
                moved.append(FileMovedEvent(found[1], path))
                young = self._young.pop(found[1], None)
                if young is not None:
                    self._young[path] = (folder, name, young[2])
            else:
                created.append(FileCreatedEvent(path))
                self._young[path] = (folder, name, rnd.now)
        return [*moved, *created]

    def _gone(self, rnd: _Round) -> list[FileSystemEvent]:
        """What went away at the last poll and turned up nowhere since; this poll's leftovers wait for the next."""
        files = [FileDeletedEvent(p) for p, (_, sub) in self._held.items() if sub is None]
        dirs = [DirDeletedEvent(p) for p, (_, sub) in self._held.items() if sub is not None]
        self._held = rnd.vanished
        return [*files, *dirs]

    # -- young files and unreadable folders -------------------------------------------------------------------
    def _young_changes(self, now: float) -> list[FileSystemEvent]:
        """Files that appeared lately are stat'ed: written in place, they may go on growing after they looked
        finished (a copy that paused), and nothing stamps their folder."""
        events: list[FileSystemEvent] = []
        for path, (folder, name, changed) in list(self._young.items()):
            if changed == now:
                continue  # found by this very poll
            was = folder.files.get(name)
            try:
                st = os.lstat(path)
            except OSError:
                st = None
            if st is None or was is None or was[0] != st.st_ino:
                del self._young[path]  # gone, replaced or moved: its folder's listing tells
            elif (st.st_size, st.st_mtime_ns) != was[1:]:
                folder.files[name] = (was[0], st.st_size, st.st_mtime_ns)
                self._young[path] = (folder, name, now)
                events.append(FileModifiedEvent(path))
            elif now - changed >= YOUNG_S:
                del self._young[path]
        return events

    def _note_unreadable(self, rnd: _Round) -> None:
        for path, why in rnd.failed.items():
            if path not in self.unreadable:
                log.warning("cannot list the folder (%s); what was seen in it is kept, and it is polled until it can "
                            "be read", why, extra={"event": "watch.unreadable", "path": path})
        for path in rnd.readable:
            if path not in rnd.failed:
                log.info("the folder can be listed again", extra={"event": "watch.readable", "path": path})
        self.unreadable = rnd.failed


def _open(path: str) -> int | str:
    """The folder to read: a descriptor, or where there are none to list by, its path."""
    if _BY_FD:
        return os.open(path, _OPEN)
    if not stat_mod.S_ISDIR(os.lstat(path).st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", path)
    return path


def _subfolders(path: str, folder: _Folder) -> list[tuple[str, _Folder, bool]]:
    return [(os.path.join(path, name), sub, False) for name, (_, sub) in folder.dirs.items() if sub is not _NOT_ENTERED]
