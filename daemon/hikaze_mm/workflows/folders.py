"""The folders a kind of model is loaded from: ComfyUI's own list (as its node pack announced it), or the daemon's
model roots (a models folder's sub-folder of that name, and of its older names; a folder of that one type)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from hikaze_mm.config.roots import LEGACY_FOLDERS, RootSet, model_type

KindFolders = Callable[[str], tuple[str, ...]]  # kind -> its folders, in the order they are searched


def _names(kind: str) -> tuple[str, ...]:
    """The folder names a kind goes by: its own and the older ones ComfyUI still reads as it."""
    kind = model_type(kind)
    return (kind, *(old for old, new in LEGACY_FOLDERS.items() if new == kind))


def own_folders(roots: RootSet) -> KindFolders:
    def folders(kind: str) -> tuple[str, ...]:
        out: list[str] = []
        for root in roots:
            if root.type is None:
                out += [os.path.join(root.path, name) for name in _names(kind)]
            elif root.type == model_type(kind):
                out.append(root.path)
        return tuple(dict.fromkeys(out))
    return folders


def announced_folders(announced: Mapping[str, tuple[str, ...]]) -> KindFolders:
    def folders(kind: str) -> tuple[str, ...]:
        out: list[str] = []
        for name in _names(kind):
            out += [os.path.normpath(p) for p in announced.get(name, ())]
        return tuple(dict.fromkeys(out))
    return folders
