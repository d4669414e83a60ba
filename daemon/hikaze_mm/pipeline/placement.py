"""Whether a path the daemon was told about (a row of the first version's database, a row the user retries) is a
model file in the model folders, and under which name the walks know it.

A walk reaches a file only from a model folder down through its subfolders (symlinked ones included), so a path
spelled that way, without `.` or `..` steps, is in the model folders. Any other spelling (`..` steps, a symlink to a
model folder or to anywhere else, `/proc/self/root/...`, a bind mount) is judged by what it is: its folder, never
the file, is resolved, and the device and inode of that folder and of each folder above it are compared with the
model folders'. A match gives the file's path under the model folder; no match means outside. Nothing here opens
or stats the file itself, so the file of a row outside the model folders is never touched at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hikaze_mm.config.roots import MODEL_EXTENSIONS, RootSet, is_model_name

OUTSIDE = "outside the model folders"
NOT_A_MODEL = "not a model file"
NOT_IN_A_TYPE_FOLDER = "not in a folder models are taken from"
# The reasons a row is kept in error without its file being read; a retry or a later migration checks them again.
REFUSALS = (OUTSIDE, NOT_A_MODEL, NOT_IN_A_TYPE_FOLDER)


@dataclass(frozen=True)
class Placement:
    path: str  # under a model folder when `reason` is None; else the path as given, only normalised
    type: str | None
    reason: str | None  # why the file is not taken in; starts with one of REFUSALS


def refused(error: str | None) -> bool:
    """A pending row's error that says it was kept without its file being read (see REFUSALS)."""
    return error is not None and error.startswith(REFUSALS)


class Placer:
    """Places paths against the model folders as they are now. Blocking (it stats folders): use it in a thread.
    Folder lookups are cached, so a placer is meant for one batch of work, not for the daemon's lifetime."""

    def __init__(self, roots: RootSet):
        self.roots = roots
        self._anchors: dict[tuple[int, int], str] = {}
        for root in sorted(roots, key=lambda r: len(r.path)):
            key = _identity(root.path)
            if key is not None:
                self._anchors.setdefault(key, root.path)
        self._folders: dict[str, str | None] = {}

    def place(self, raw: str) -> Placement:
        if "\0" in raw or not os.path.isabs(raw):
            return Placement(raw, None, f"{OUTSIDE}: {raw!r} is not an absolute path")
        path = os.path.normpath(raw)
        if path != raw or self.roots.root_of(path) is None:
            folder = self._model_folder(os.path.dirname(raw))
            if folder is None:
                return Placement(path, None, f"{OUTSIDE}: its folder {os.path.dirname(path)} is not in one; add "
                                             "that folder to the model folders, then retry")
            path = os.path.join(folder, os.path.basename(path))
        name = os.path.basename(path)
        if not is_model_name(name):
            ext = os.path.splitext(name)[1] or "no extension"
            return Placement(path, None, f"{NOT_A_MODEL}: {ext} is not one of {', '.join(sorted(MODEL_EXTENSIONS))}"
                                         " (or the name is hidden)")
        type_ = self.roots.type_of(path)
        if type_ is None:
            return Placement(path, None, f"{NOT_IN_A_TYPE_FOLDER}: {os.path.dirname(path)} (put it in a type "
                                         "folder such as loras/ or checkpoints/, then retry)")
        return Placement(path, type_, None)

    def _model_folder(self, folder: str) -> str | None:
        """The model-folder spelling of `folder`, however it is reached, or None if it is not in one."""
        if folder not in self._folders:
            self._folders[folder] = self._find(folder)
        return self._folders[folder]

    def _find(self, folder: str) -> str | None:
        try:
            real = os.path.realpath(folder)
        except (OSError, ValueError):
            return None
        above = real
        while True:
            anchor = self._anchors.get(_identity(above) or (-1, -1))
            if anchor is not None:
                rest = os.path.relpath(real, above)
                return anchor if rest == "." else os.path.join(anchor, rest)
            parent = os.path.dirname(above)
            if parent == above:
                return None
            above = parent


def _identity(folder: str) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino

