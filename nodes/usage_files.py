"""A prompt's model references made into the uses POST /api/usage takes: each file found the way its loader finds
it, each distinct model once. Runs on the reporter's thread, never on ComfyUI's."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from .lora_text import parse_lora_text
from .payload import PayloadError, parse_checkpoint, parse_lora_list
from .resolve import find_in_folders, only_file_named
from .usage_walk import CHECKPOINT_PAYLOAD, LORA_PAYLOAD, NAME, Reference

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
    if ref.form == NAME:
        return [(ref.kind, _find(folder_paths, ref.kind, ref.text), "")]
    try:
        if ref.form == CHECKPOINT_PAYLOAD:
            ckpt = parse_checkpoint(ref.text)
            return [(ref.kind, _find(folder_paths, ref.kind, ckpt.path), ckpt.sha256)]
        if ref.form == LORA_PAYLOAD:
            return [(ref.kind, _find(folder_paths, ref.kind, e.full_path or e.name), e.sha256)
                    for e in parse_lora_list(ref.text) if e.active]
        return [(ref.kind, _written(folder_paths, ref.kind, e.name), "") for e in parse_lora_text(ref.text) if e.active]
    except PayloadError as e:
        # The node itself fails on it, and ComfyUI shows why; nothing of it was loaded.
        log.debug("Hikaze: a %s %s that cannot be read is not reported: %s", ref.node, ref.form, e)
        return []


def _written(folder_paths: ModuleType | None, kind: str, name: str) -> str:
    """A name in lora_text, found as the node finds it: sub-folders and the suffix may be left out."""
    found = _find(folder_paths, kind, name)
    if found or folder_paths is None:
        return found
    return only_file_named(folder_paths, kind, name)[0] or ""


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
