"""A prompt's model references made into the uses POST /api/usage takes: each file found the way its loader finds
it, each distinct model once. Runs on the reporter's thread, never on ComfyUI's."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from .payload import PayloadError, parse_checkpoint, parse_lora_list
from .resolve import find_in_folders
from .usage_walk import Reference

log = logging.getLogger("hikaze.nodes")


def uses_of(at: float, refs: Iterable[Reference]) -> list[dict[str, Any]]:
    """One use per distinct model. A model is its file (followed through links) when it was found, else its
    sha256; one the daemon could not find either way (neither is known) is left out."""
    folder_paths = _folder_paths()
    uses: dict[str, dict[str, Any]] = {}
    for ref in refs:
        for kind, path, sha256 in _files(ref, folder_paths):
            if not path and not sha256:
                log.debug("Hikaze: %s in %s names no file ComfyUI has; its use is not reported", ref.text, ref.node)
                continue
            key = os.path.realpath(path) if path else "sha256:" + sha256
            seen = uses.get(key)
            if seen is None:
                uses[key] = {"id": uuid.uuid4().hex, "at": at, "kind": kind, "path": path, "sha256": sha256 or None,
                             "node": ref.node}
            elif sha256 and not seen["sha256"]:
                seen["sha256"] = sha256  # the same file through a name and through one of our payloads
    return list(uses.values())


def _files(ref: Reference, folder_paths: ModuleType | None) -> list[tuple[str, str, str]]:
    """(kind, absolute path or "", sha256 or "") of each file the reference loads."""
    if not ref.payload:
        return [(ref.kind, _find(folder_paths, ref.kind, ref.text), "")]
    try:
        if ref.kind == "checkpoints":
            ckpt = parse_checkpoint(ref.text)
            saved = [(ckpt.path, ckpt.sha256)]
        else:
            saved = [(e.full_path or e.name, e.sha256) for e in parse_lora_list(ref.text) if e.active]
    except PayloadError as e:
        # The node itself fails on it, and ComfyUI shows why; nothing of it was loaded.
        log.debug("Hikaze: a %s payload that cannot be read is not reported: %s", ref.node, e)
        return []
    return [(ref.kind, _find(folder_paths, ref.kind, path), sha256) for path, sha256 in saved]


def _find(folder_paths: ModuleType | None, kind: str, name: str) -> str:
    saved = os.path.expanduser(name)
    if os.path.isabs(saved):
        return saved  # where the payload says; the daemon also finds a moved file by the sha256 sent beside it
    if folder_paths is None or not saved:
        return ""
    return find_in_folders(folder_paths, kind, saved) or ""


def _folder_paths() -> ModuleType | None:
    try:
        import folder_paths  # ComfyUI's own module
    except ImportError:
        return None
    return folder_paths
