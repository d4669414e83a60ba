"""The kernel's pseudo filesystems, read from /proc/self/mountinfo: folders that hold no files of anyone's, only
views of the running system (`/proc`, `/sys`, cgroups...). Walking them is endless (every process is a folder),
some of their folders cannot be listed even by root, and watching them takes thousands of inotify watches for
nothing, so neither the walk nor the watcher ever enters one, however it is reached (a symlinked folder to `/`).
"""

from __future__ import annotations

import os
import threading
import time

MOUNTINFO = "/proc/self/mountinfo"
PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "mqueue",
    "bpf", "pstore", "configfs", "fusectl", "autofs", "binfmt_misc", "hugetlbfs", "efivarfs", "selinuxfs",
    "nsfs", "rpc_pipefs", "nfsd",
})
FRESH_S = 1.0  # pollers ask for every folder they list; the mount table rarely changes within a second

_lock = threading.Lock()
_cached: tuple[float, dict[int, str]] | None = None


def pseudo_devices() -> dict[int, str]:
    """The device number (as `st_dev` reports it) of every pseudo filesystem mounted here, with its type.
    Empty where there is no /proc to tell."""
    global _cached
    with _lock:
        now = time.monotonic()
        if _cached is not None and now - _cached[0] < FRESH_S:
            return _cached[1]
    found: dict[int, str] = {}
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        # id parent major:minor root mount-point options [optional fields...] - type source super-options
        fields = line.split()
        try:
            fstype = fields[fields.index("-", 6) + 1]
            major, minor = fields[2].split(":")
        except (ValueError, IndexError):
            continue
        if fstype in PSEUDO_FILESYSTEMS:
            found[os.makedev(int(major), int(minor))] = fstype
    with _lock:
        _cached = (time.monotonic(), found)
    return found
