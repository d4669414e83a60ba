"""The folder tree of the library: the folders models sit in, named from the model folders they are under.

A folder is named by its model type and its path below that type's folder, with `/` whatever the system's
separator (`loras/styles/anime`), so that the type folders of every root (a ComfyUI `models/` folder, an
`extra_model_paths.yaml` entry) make one tree, as ComfyUI lists them together. The store knows folders only as the
stored paths' parents; this maps them to names and back.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from hikaze_mm.config.roots import LEGACY_FOLDERS, RootSet, model_type
from hikaze_mm.store.interfaces import FolderStore
from hikaze_mm.store.records import ModelQuery

MAX_FOLDER_LENGTH = 4096
MAX_NAMES_KEPT = 100_000


class FolderError(ValueError):
    """A folder name that cannot name a folder; the message says why."""


def clean_folder(raw: str) -> str:
    """A folder name as sent (`folder=` in a URL), checked: parts joined by `/`, none empty, `.` or `..`."""
    name = raw.strip().strip("/")
    if len(name) > MAX_FOLDER_LENGTH:
        raise FolderError(f"`folder` is {len(name)} characters long; at most {MAX_FOLDER_LENGTH}")
    if any(ord(c) < 32 or c in "\\\x7f" for c in name):
        raise FolderError("`folder` may not contain control characters or `\\`; separate folders with `/`")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise FolderError("`folder` names folders separated by single `/`, without `.` or `..`")
    return name


def folder_parts(roots: RootSet, folder: str) -> list[str] | None:
    """A stored folder's name as its parts (`["loras", "styles"]`), or None when it lies under no model folder's
    type folder."""
    root = roots.root_of(folder)
    if root is None:
        return None
    # Stored paths are normalised as the roots are, so the part below the root is a plain slice (relpath would
    # look up the working folder for every one of thousands of folders).
    rel = folder[len(root.path):].strip(os.sep)
    parts = rel.split(os.sep) if rel else []
    if root.type is not None:
        return [root.type, *parts]
    if not parts:
        return None
    return [model_type(parts[0]), *parts[1:]]


def folder_name(roots: RootSet, folder: str) -> str | None:
    """A stored folder's name in the tree (`loras/styles`), what `folder=` takes; None outside the model folders."""
    parts = folder_parts(roots, folder)
    return None if parts is None else "/".join(parts)


class Folders:
    def __init__(self, store: FolderStore, roots: RootSet):
        self.store = store
        self.roots = roots
        # Names of the folders seen so far: a library's folders change seldom, the tree asks for thousands.
        self._names: dict[str, list[str] | None] = {}

    def folders_named(self, name: str) -> tuple[str, ...]:
        """Every stored folder a name stands for: the type's folder under each root, then the rest of the name."""
        head, *rest = name.split("/")
        found: list[str] = []
        for root in self.roots:
            if root.type is None:
                for folder in (head, *(old for old, new in LEGACY_FOLDERS.items() if new == head)):
                    found.append(os.path.join(root.path, folder, *rest))
            elif root.type == head:
                found.append(os.path.join(root.path, *rest))
        # A folder under a root nested in another would be found twice; the other's part may also not be this
        # name's at all (it belongs to the nested root), so only folders that name back to it are kept.
        return tuple(f for f in dict.fromkeys(found) if folder_parts(self.roots, f) == name.split("/"))

    def within(self, query: ModelQuery, folder: str | None) -> ModelQuery:
        """The query narrowed to the models in a named folder and its sub-folders."""
        if folder is None:
            return query
        return dataclasses.replace(query, folders=self.folders_named(folder))

    async def tree(self, query: ModelQuery) -> dict[str, Any]:
        """The folders holding models of the query's type, status and NSFW hiding, as a tree with each folder's
        count of models (its sub-folders' included); `total` counts every such model, in a folder or not."""
        top: dict[str, Any] = {}
        total = 0
        for folder, n in await self.store.folder_counts(query):
            total += n
            parts = self._names.get(folder, [])
            if parts == []:
                if len(self._names) > MAX_NAMES_KEPT:
                    self._names.clear()
                parts = self._names[folder] = folder_parts(self.roots, folder)
            if parts is None:
                continue
            level = top
            for depth, part in enumerate(parts):
                node = level.setdefault(part, {"path": "/".join(parts[:depth + 1]), "name": part, "count": 0,
                                               "children": {}})
                node["count"] += n
                level = node["children"]
        return {"total": total, "folders": _listed(top)}


def _listed(level: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**node, "children": _listed(node["children"])}
            for _, node in sorted(level.items(), key=lambda item: (item[0].casefold(), item[0]))]
