"""What storage a file lies on, and so whether two files on it may be read at once.

A spinning disk read by two workers seeks between two files and delivers less than one reader gets; a network
share pays a round trip per request and shares one link. Both are read one file at a time. An SSD, a RAM disk or
data already in the page cache is limited by the CPU alone, so there every core hashes a file of its own.

The kernel says which is which: the mount table (/proc/self/mountinfo) names a file's filesystem type and its
block device, and /sys/dev/block/<major>:<minor>/queue/rotational says whether that device spins. Both roots are
parameters, so a test can point them at a tree of its own.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hikaze_mm.pipeline.mounts import MOUNTINFO

SYS = "/sys"
MAX_AUTO_WORKERS = 8  # beyond this the hashes wait on memory bandwidth, not on cores
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "sshfs", "fuse.sshfs", "afs", "ceph", "fuse.ceph", "glusterfs",
    "fuse.glusterfs", "lustre", "davfs", "fuse.davfs2", "fuse.rclone", "fuse.s3fs", "ncpfs", "coda", "gfs2",
    "ocfs2", "beegfs", "fuse.gvfsd-fuse",
})
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
FRESH_S = 60.0  # a device number freed by an unmount can be handed to the next mount, of another kind

Kind = Literal["rotational", "network", "solid", "memory", "unknown"]


@dataclass(frozen=True)
class Medium:
    """The storage behind one device number, as `st_dev` reports it."""

    device: str  # major:minor
    kind: Kind
    fstype: str
    name: str  # the block device (vda, sda) or the mount's source (server:/share)

    @property
    def serial(self) -> bool:
        """Read one file at a time (unless the file is in the page cache)."""
        return self.kind in ("rotational", "network")

    def describe(self) -> str:
        what = {
            "rotational": "a spinning disk",
            "network": "a network filesystem",
            "solid": "a solid-state device",
            "memory": "memory",
            "unknown": "no block device the kernel describes",
        }[self.kind]
        return f"{self.fstype} on {self.name} ({self.device}): {what}"


@dataclass(frozen=True)
class Mount:
    major: int
    minor: int
    point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as \ooo octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def read_mounts(mountinfo: str = MOUNTINFO) -> list[Mount]:
    """Every mount in the table; empty where there is no such file (not Linux)."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        # id parent major:minor root mount-point options [optional fields...] - type source super-options
        fields = line.split()
        try:
            dash = fields.index("-", 6)
            major, minor = fields[2].split(":")
            mounts.append(Mount(int(major), int(minor), _unescape(fields[4]), fields[dash + 1],
                                _unescape(fields[dash + 2])))
        except (ValueError, IndexError):
            continue
    return mounts


def _rotational(sys_root: str, major: int, minor: int, source: str) -> tuple[str, bool] | None:
    """The disk's name and whether it spins, or None when /sys knows no block device by that number or name."""
    candidates = [Path(sys_root, "dev", "block", f"{major}:{minor}")]
    if source.startswith("/dev/"):
        # btrfs (and other filesystems with devices of their own) report an anonymous device number in st_dev;
        # the mount's source still names the disk.
        candidates.append(Path(sys_root, "class", "block", os.path.basename(os.path.realpath(source))))
    for candidate in candidates:
        try:
            node = Path(os.path.realpath(candidate))
        except OSError:
            continue
        if not (node / "dev").exists():
            continue
        # A partition has no queue of its own: the disk it belongs to is the folder above it.
        disk = node.parent if (node / "partition").exists() else node
        try:
            value = (disk / "queue" / "rotational").read_text().strip()
        except OSError:
            continue
        return disk.name, value == "1"
    return None


class Media:
    """The medium of each device number, looked up in the mount table and /sys once a minute at most."""

    def __init__(self, sys_root: str = SYS, mountinfo: str = MOUNTINFO):
        self.sys_root = sys_root
        self.mountinfo = mountinfo
        self._lock = threading.Lock()
        self._known: dict[int, tuple[float, Medium]] = {}

    def of_device(self, st_dev: int, path: str | None = None) -> Medium:
        now = time.monotonic()
        with self._lock:
            cached = self._known.get(st_dev)
            if cached is not None and now - cached[0] < FRESH_S:
                return cached[1]
        medium = self._classify(st_dev, path)
        with self._lock:
            self._known[st_dev] = (now, medium)
        return medium

    def of_path(self, path: str) -> Medium:
        """The medium of a path, or of its nearest folder that exists (a root that is not there yet)."""
        probe = os.path.abspath(path)
        while True:
            try:
                return self.of_device(os.stat(probe).st_dev, probe)
            except OSError:
                parent = os.path.dirname(probe)
                if parent == probe:
                    return Medium("0:0", "unknown", "unknown", path)
                probe = parent

    def _classify(self, st_dev: int, path: str | None) -> Medium:
        major, minor = os.major(st_dev), os.minor(st_dev)
        device = f"{major}:{minor}"
        mounts = read_mounts(self.mountinfo)
        mount = next((m for m in mounts if (m.major, m.minor) == (major, minor)), None)
        if mount is None and path is not None:
            # A device number the table does not list (a btrfs subvolume): the deepest mount above the path.
            real = os.path.realpath(path)
            above = [m for m in mounts if real == m.point or real.startswith(m.point.rstrip("/") + "/")]
            mount = max(above, key=lambda m: len(m.point), default=None)
        if mount is None:
            return Medium(device, "unknown", "unknown", device)
        if mount.fstype in NETWORK_FILESYSTEMS or mount.fstype.startswith(("nfs", "fuse.sshfs")):
            return Medium(device, "network", mount.fstype, mount.source)
        if mount.fstype in MEMORY_FILESYSTEMS:
            return Medium(device, "memory", mount.fstype, mount.source)
        found = _rotational(self.sys_root, mount.major, mount.minor, mount.source)
        if found is None:
            return Medium(device, "unknown", mount.fstype, mount.source)
        name, spins = found
        return Medium(device, "rotational" if spins else "solid", mount.fstype, name)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def auto_workers() -> int:
    """One hash worker per core this process may run on, capped."""
    return max(1, min(cores(), MAX_AUTO_WORKERS))


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    auto: bool
    reason: str
    media: dict[str, Medium]  # root -> its medium


def plan_workers(setting: int | str, roots: list[str], media: Media) -> WorkerPlan:
    """How many files are hashed at once, and why; files on a serial medium are read one at a time anyway."""
    found = {root: media.of_path(root) for root in roots}
    serial = sorted({m.name for m in found.values() if m.serial})
    auto = setting == "auto"
    workers = auto_workers() if auto else int(setting)
    why = f"auto: one per core, at most {MAX_AUTO_WORKERS}" if auto else "as hash_workers says"
    if serial:
        why += (f"; files on {', '.join(serial)} (spinning or network) are read one at a time unless they are in "
                "the page cache")
    return WorkerPlan(workers, auto, why, found)
