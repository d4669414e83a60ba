"""Which folders of a tree get an inotify watch: planned before watching, checked against the kernel after.

inotify needs one watch per folder, and the per-user limit (`fs.inotify.max_user_watches`) can run out part-way
through a tree. What watchdog's recursive set-up then does depends on its version: 6.0.0 and 7.1.1 raise ENOSPC
out of `start()`/`schedule()` (6.0.0 keeps the watches it had taken, on an inotify descriptor it never closes),
7.0.0 and 7.1.0 leave the folders past the limit out without a word. So the daemon never lets a recursive set-up
meet the limit: it first takes one watch per folder on a descriptor of its own, in the order the tree will be
watched, to learn how many fit, gives them back, and then schedules whole subtrees that fit recursively and the
folders above a cut on their own (`plan`). Afterwards the kernel's own list of watches in `/proc/self/fdinfo`
tells which folders really are watched (`coverage`); the highest ones left out are polled.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from dataclasses import dataclass, field

from hikaze_mm.pipeline.mounts import pseudo_devices

_MINOR_BITS = 20  # the kernel's own dev_t, as fdinfo prints it: major << 20 | minor
# The system-wide sysctl, and (since Linux 5.11) the one of this user namespace, lower inside some containers.
WATCH_LIMITS = (("fs.inotify.max_user_watches", "/proc/sys/fs/inotify/max_user_watches"),
                ("user.max_inotify_watches", "/proc/sys/user/max_inotify_watches"))
OUT_OF_WATCHES = (errno.ENOSPC, errno.ENOMEM)  # every later folder would fail the same way

Inode = tuple[int, int, int]  # major, minor, inode number


@dataclass(frozen=True)
class Folder:
    path: str
    parent: int  # index of the parent folder in the tree; -1 for the top
    key: Inode


@dataclass
class Tree:
    """A tree's real folders, top-down and depth first in name order, so that every subtree is one run of the
    list. Symlinked folders are left out (they are watched on their own), and so are pseudo filesystems."""

    folders: list[Folder]
    cut: set[int] = field(default_factory=set)  # folders with a subfolder left out on purpose (a pseudo mount)


@dataclass(frozen=True)
class Coverage:
    folders: int  # below and including the root, symlinked folders left out (they are watched on their own)
    unwatched: int
    tops: list[str]  # the highest unwatched folders: polling these covers every unwatched one


@dataclass(frozen=True)
class Plan:
    recursive: list[str]  # whole subtrees that fit: one recursive schedule each
    flat: list[str]  # folders that fit while some of their subfolders do not: watched without their subfolders
    root_error: int | None  # why the top itself could not be watched (an errno); None when it could

    @property
    def whole(self) -> bool:
        return not self.flat and len(self.recursive) == 1


def tree(root: str) -> Tree | None:
    """None when the root is not a folder (any more)."""
    try:
        st = os.stat(root)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    pseudo = pseudo_devices()
    out = Tree([])
    stack: list[Folder] = [Folder(root, -1, _key(st))]
    while stack:
        folder = stack.pop()
        index = len(out.folders)
        out.folders.append(folder)  # on leaving the stack: depth first, in pre-order
        try:
            with os.scandir(folder.path) as it:
                entries = sorted((e for e in it if e.is_dir(follow_symlinks=False)), key=lambda e: e.name)
        except OSError:
            continue  # unlistable: its subfolders are unknown, and inotify refuses it as well
        children = []
        for entry in entries:
            try:
                child = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if child.st_dev in pseudo:
                out.cut.add(index)
                continue
            children.append(Folder(entry.path, index, _key(child)))
        stack.extend(reversed(children))  # the first name leaves the stack first
    return out


def probe(t: Tree) -> tuple[set[int], int | None] | None:
    """Which folders get a watch, in the tree's order, until the watches run out: the indices, and the errno of the
    top folder if it got none. None where inotify is not there to ask (not Linux)."""
    try:
        from watchdog.observers import inotify_c
    except Exception:  # not Linux, or a libc without inotify: watchdog raises its own error types
        return None
    fd = inotify_c.inotify_init()
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    mask = inotify_c.InotifyConstants.IN_CREATE | inotify_c.InotifyConstants.IN_ONLYDIR
    ok: set[int] = set()
    wds: set[inotify_c.WatchDescriptor] = set()
    root_error = None
    try:
        for i, folder in enumerate(t.folders):
            if folder.parent >= 0 and folder.parent not in ok:
                continue
            wd = inotify_c.inotify_add_watch(fd, os.fsencode(folder.path), mask)
            if wd < 0:
                err = ctypes.get_errno()
                if i == 0:
                    root_error = err
                if err in OUT_OF_WATCHES:
                    break
                continue  # unreadable, or gone meanwhile
            ok.add(i)
            wds.add(wd)
    finally:
        for wd in wds:
            inotify_c.inotify_rm_watch(fd, wd)
        os.close(fd)
    return ok, root_error


def plan(t: Tree, ok: set[int], root_error: int | None) -> Plan:
    whole = [i in ok and i not in t.cut for i in range(len(t.folders))]
    for i in range(len(t.folders) - 1, 0, -1):  # children come after their parent
        if not whole[i]:
            whole[t.folders[i].parent] = False
    recursive: list[str] = []
    flat: list[str] = []
    flat_at: set[int] = set()
    for i, folder in enumerate(t.folders):
        if i not in ok or (folder.parent >= 0 and folder.parent not in flat_at):
            continue  # left out, or inside a subtree already scheduled whole
        if whole[i]:
            recursive.append(folder.path)
        else:
            flat.append(folder.path)
            flat_at.add(i)
    return Plan(recursive, flat, root_error)


def watched_inodes() -> set[Inode] | None:
    """Every inode an inotify descriptor of this process watches; None where /proc cannot tell."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    found: set[Inode] = set()
    seen_inotify = False
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as f:
                lines = f.read().splitlines()
        except OSError:
            continue  # closed meanwhile (listing /proc/self/fd opens one of its own)
        seen_inotify = True
        for line in lines:
            if not line.startswith("inotify "):
                continue
            fields = dict(part.split(":", 1) for part in line.split()[1:] if ":" in part)
            dev = int(fields["sdev"], 16)
            found.add((dev >> _MINOR_BITS, dev & ((1 << _MINOR_BITS) - 1), int(fields["ino"], 16)))
    return found if seen_inotify else None


def _key(st: os.stat_result) -> Inode:
    return os.major(st.st_dev), os.minor(st.st_dev), st.st_ino


def coverage(t: Tree) -> Coverage | None:
    """How much of the tree is watched; None when it cannot be told: no /proc, or a filesystem whose inode numbers
    do not match what inotify reports, which shows as the root itself (always watched once watching started)
    missing from the list."""
    watched = watched_inodes()
    if watched is None or t.folders[0].key not in watched:
        return None
    return covered(t, {i for i, f in enumerate(t.folders) if f.key in watched})


def covered(t: Tree, watched: set[int]) -> Coverage:
    unwatched: set[int] = set()
    tops: list[str] = []
    for i, folder in enumerate(t.folders):
        if i in watched:
            continue
        unwatched.add(i)
        if folder.parent not in unwatched:  # parents come first, so the parent was judged already
            tops.append(folder.path)
    return Coverage(len(t.folders), len(unwatched), tops)


def watch_limit() -> tuple[str, int | None]:
    """The inotify watch limit that binds this process: its sysctl's name, and its value where it can be read.
    The system-wide one unless this user namespace's is lower."""
    values: list[int | None] = []
    for _name, path in WATCH_LIMITS:
        try:
            with open(path) as f:
                values.append(int(f.read()))
        except (OSError, ValueError):
            values.append(None)
    system, own = values
    if own is not None and (system is None or own < system):
        return WATCH_LIMITS[1][0], own
    return WATCH_LIMITS[0][0], system
