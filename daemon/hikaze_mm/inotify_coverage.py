"""Which folders of a tree the kernel is really watching for this process.

watchdog adds one inotify watch per subfolder and, when the per-user watch limit (`fs.inotify.max_user_watches`)
runs out, it fails only for the root folder: every subfolder past the limit is skipped without a word. The kernel
lists each watch of an inotify descriptor in `/proc/self/fdinfo`, so the tree can be checked against that list.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

_MINOR_BITS = 20  # the kernel's own dev_t, as fdinfo prints it: major << 20 | minor
MAX_USER_WATCHES = "/proc/sys/fs/inotify/max_user_watches"

Inode = tuple[int, int, int]  # major, minor, inode number


@dataclass(frozen=True)
class Coverage:
    folders: int  # below and including the root, symlinked folders left out (they are watched on their own)
    unwatched: int
    tops: list[str]  # the highest unwatched folders: polling these covers every unwatched one


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


def coverage(root: str) -> Coverage | None:
    """How much of the tree below `root` is watched; None when it cannot be told: no /proc, or a filesystem whose
    inode numbers do not match what inotify reports, which shows as the root itself (always watched once watching
    started) missing from the list."""
    watched = watched_inodes()
    if watched is None:
        return None
    try:
        if _key(os.stat(root)) not in watched:
            return None
    except OSError:
        return None
    folders, tops = 1, []
    unwatched: set[str] = set()
    for parent, dirs, _files in os.walk(root):
        kept = []
        for name in dirs:
            path = os.path.join(parent, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue  # a symlinked folder: the daemon watches it on its own
            kept.append(name)
            folders += 1
            if _key(st) not in watched:
                unwatched.add(path)
                if parent not in unwatched:  # os.walk goes top-down, so the parent was judged first
                    tops.append(path)
        dirs[:] = kept
    return Coverage(folders, len(unwatched), tops)


def max_user_watches() -> int | None:
    try:
        with open(MAX_USER_WATCHES) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None
