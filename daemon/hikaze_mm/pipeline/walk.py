"""A stat-only walk of the model folders (runs in a thread; never opens a file).

The type of a folder's files is worked out once per folder, not once per file, and each folder's files are
compared with the store's index as they are stat'ed: on a library of a million files the walk should cost little
more than the stats themselves, and it keeps only what differs, not a listing of every file.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from hikaze_mm.config.roots import MODEL_EXTENSIONS, NOT_MODEL_FOLDERS, Root, RootSet, model_type, skip_dir, within
from hikaze_mm.pipeline.mounts import pseudo_devices
from hikaze_mm.store.known_files import FileIndex
from hikaze_mm.store.records import FileStat

SKIP = ""  # a folder that holds no models
MODEL_SUFFIXES = tuple(MODEL_EXTENSIONS)
_S_IFMT, _S_IFREG = 0o170000, stat_mod.S_IFREG


def stat_regular(path: str) -> os.stat_result | None:
    """The file's whole stat, or None if it is not a regular file (any more)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat_mod.S_ISREG(st.st_mode) else None


def stat_file(path: str) -> FileStat | None:
    """The file's fingerprint, or None if it is not a regular file (any more)."""
    st = stat_regular(path)
    return None if st is None else FileStat.of(st)


@dataclass
class WalkResult:
    changed: list[tuple[str, str, FileStat]] = field(default_factory=list)  # new or changed: (path, type, stat)
    unlisted: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # known files not found -> fingerprint
    files: int = 0  # model files found
    walked_roots: list[str] = field(default_factory=list)  # roots that exist and were walked
    missing_roots: list[str] = field(default_factory=list)  # absent, or empty like an unmounted share
    unreadable_dirs: dict[str, str] = field(default_factory=dict)  # folder -> why; files below are not judged gone
    linked_dirs: dict[str, str] = field(default_factory=dict)  # symlinked folder (as seen) -> its real path
    skipped_dirs: dict[str, str] = field(default_factory=dict)  # folder not entered on purpose -> why
    folders: set[tuple[int, int]] = field(default_factory=set)  # (device, inode) of every folder walked
    dirs: int = 0


def walk_roots(
    roots: RootSet,
    index: FileIndex,
    unfinished: Collection[str],
    only: list[Root] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WalkResult:
    """Every model file below the roots, following symlinked folders once and never looping, compared with the
    index: the files that are new or changed (or whose pending row is in one of the `unfinished` states), and the
    known files below the walked roots that were not found.

    Two kinds of folder are never entered: a pseudo filesystem (`/proc`, `/sys`...), and a symlinked folder whose
    target holds the link (a link to `/`, to the home folder, to `..`): following it would walk the model folders
    again and everything beside them, the whole disk for a link to `/`. Both are listed with the reason."""
    result = WalkResult()
    visited = result.folders
    pseudo = pseudo_devices()
    by_path = {r.path: r for r in roots}
    changed = result.changed
    listed: set[str] = set()  # folders whose files were judged
    for top in only if only is not None else roots.top_level():
        try:
            st = os.stat(top.path)
        except OSError:
            result.missing_roots.append(top.path)
            continue
        if not stat_mod.S_ISDIR(st.st_mode):
            result.missing_roots.append(top.path)
            continue
        if st.st_dev in pseudo:
            result.skipped_dirs[top.path] = f"a {pseudo[st.st_dev]} filesystem, which holds no files"
            continue
        result.walked_roots.append(top.path)
        visited.add((st.st_dev, st.st_ino))
        # (folder, type of its files; None at the top of a models folder, whose files have no type)
        stack: list[tuple[str, str | None]] = [(top.path, top.type)]
        while stack:
            folder, kind = stack.pop()
            result.dirs += 1
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as e:
                result.unreadable_dirs[folder] = e.strerror or str(e)
                continue
            if not entries and folder in by_path:
                result.missing_roots.append(folder)
            # The folder as the index holds it: the dirname of the paths scandir makes in it.
            key = os.path.dirname(os.path.join(folder, "x"))
            check = index.folder(key, unfinished)
            found: list[str] = []
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir():  # d_type answers without a stat for plain folders
                        if skip_dir(name):
                            continue
                        child = _child_kind(entry.path, name, kind, by_path)
                        if child == SKIP:
                            continue
                        target = entry.stat()
                        if target.st_dev in pseudo:
                            result.skipped_dirs[entry.path] = (
                                f"a {pseudo[target.st_dev]} filesystem, which holds no files")
                            continue
                        linked = entry.is_symlink()
                        if linked:
                            real = os.path.realpath(entry.path)
                            if within(os.path.realpath(folder), real):
                                result.skipped_dirs[entry.path] = f"it links to {real}, which holds the link"
                                continue
                        seen = (target.st_dev, target.st_ino)
                        if seen in visited:
                            continue
                        visited.add(seen)
                        if linked:
                            result.linked_dirs[entry.path] = real
                        stack.append((entry.path, child))
                        continue
                    if kind is None or name[0] == "." or not name.lower().endswith(MODEL_SUFFIXES):
                        continue
                    st = entry.stat()
                    if st.st_mode & _S_IFMT == _S_IFREG:
                        found.append(name)
                        # a plain tuple: it equals the FileStat of the same values and is quicker to make
                        fingerprint = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
                        if not check.unchanged(name, fingerprint):
                            changed.append((entry.path, kind, FileStat(*fingerprint)))
                except OSError:
                    continue  # vanished or dangling between listing and stat
            listed.add(key)
            result.files += len(found)
            result.unlisted.update(check.unlisted(set(found)))
            if progress is not None:
                progress(result.dirs, result.files)
    result.unlisted.update(index.unlisted(listed, result.walked_roots))
    return result


def _child_kind(path: str, name: str, kind: str | None, by_path: dict[str, Root]) -> str | None:
    """A subfolder's kind: the type of its files, None for the top of a models folder, or SKIP."""
    nested = by_path.get(path)
    if nested is not None:
        return nested.type
    if kind is None:
        return SKIP if name in NOT_MODEL_FOLDERS else model_type(name)
    return kind
