"""A stat-only walk of the model folders (runs in a thread; never opens a file)."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass, field

from .roots import Root, RootSet, skip_dir


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def stat_file(path: str) -> FileStat | None:
    """The file's fingerprint, or None if it is not a regular file (any more)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileStat.of(st) if stat_mod.S_ISREG(st.st_mode) else None


@dataclass
class WalkResult:
    files: dict[str, tuple[FileStat, str]] = field(default_factory=dict)  # path -> (stat, type)
    walked_roots: list[str] = field(default_factory=list)  # roots that exist and were walked
    missing_roots: list[str] = field(default_factory=list)  # absent, or empty like an unmounted share
    unreadable_dirs: list[str] = field(default_factory=list)  # known files below these are not judged gone
    linked_dirs: dict[str, str] = field(default_factory=dict)  # symlinked folder (as seen) -> its real path
    dirs: int = 0


def walk_roots(
    roots: RootSet,
    only: list[Root] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WalkResult:
    """Every model file below the roots, following symlinked folders once and never looping."""
    result = WalkResult()
    visited: set[tuple[int, int]] = set()
    root_paths = {r.path for r in roots}
    for root in only if only is not None else roots.top_level():
        try:
            st = os.stat(root.path)
        except OSError:
            result.missing_roots.append(root.path)
            continue
        if not stat_mod.S_ISDIR(st.st_mode):
            result.missing_roots.append(root.path)
            continue
        result.walked_roots.append(root.path)
        visited.add((st.st_dev, st.st_ino))
        stack = [root.path]
        while stack:
            folder = stack.pop()
            result.dirs += 1
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                result.unreadable_dirs.append(folder)
                continue
            if not entries and folder in root_paths:
                result.missing_roots.append(folder)
            for entry in entries:
                try:
                    if entry.is_dir():  # follows symlinks; d_type answers without a stat for plain folders
                        if skip_dir(entry.name):
                            continue
                        dst = entry.stat()
                        key = (dst.st_dev, dst.st_ino)
                        if key in visited:
                            continue
                        visited.add(key)
                        if entry.is_symlink():
                            result.linked_dirs[entry.path] = os.path.realpath(entry.path)
                        stack.append(entry.path)
                        continue
                    if not entry.is_file():
                        continue
                except OSError:
                    continue
                kind = roots.type_of(entry.path)
                if kind is None:
                    continue
                try:
                    fst = FileStat.of(entry.stat())
                except OSError:
                    continue  # vanished or dangling between listing and stat
                result.files[entry.path] = (fst, kind)
            if progress is not None:
                progress(result.dirs, len(result.files))
    return result
