"""Finding a payload's file, the same way for both nodes.

In order: the saved path; the name in ComfyUI's model folders; the daemon's current path for the sha256 (the file
was moved); the one file of that name anywhere in the model folders. The daemon comes before the name guess because
its answer is the same content, and many LoRAs share a file name (`pytorch_lora_weights.safetensors`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from .daemon import DaemonClient

log = logging.getLogger("hikaze.nodes")
# folder_paths.supported_pt_extensions: a name without one of these is tried with ".safetensors" too
MODEL_SUFFIXES = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})


@dataclass(frozen=True)
class Wanted:
    label: str  # how an error names it: `the checkpoint "x"`, `LoRA 2 (x)`
    kind: str  # the folder_paths folder name: checkpoints, loras
    path: str  # the saved path: absolute, or a name relative to the kind's folders
    sha256: str  # "" when unknown
    # A1111's <lora:name> names a file anywhere in the folders: found by its file name, it is where it should be.
    by_file_name: bool = False


def resolve(wanted: Wanted, daemon: DaemonClient) -> str:
    """The file to load; FileNotFoundError naming everything that was tried."""
    import folder_paths  # ComfyUI's own module: only there when ComfyUI runs the node

    tried: list[str] = []
    saved = os.path.expanduser(wanted.path)
    if os.path.isabs(saved):
        if os.path.isfile(saved):
            return saved
        tried.append(f"{saved} (no such file)")
    else:
        found = find_in_folders(folder_paths, wanted.kind, saved)
        if found:
            return found
        tried.append(f"{' and '.join(_with_suffix(saved))} in ComfyUI's {wanted.kind} folders")

    if wanted.sha256:
        moved = daemon.path_for(wanted.sha256)
        if moved and os.path.isfile(moved):
            log.info("%s: %s has moved to %s (the daemon found it by its sha256)", wanted.label, wanted.path, moved)
            return moved
        if moved:
            tried.append(f"{moved}, where the daemon last saw it (no such file)")
        else:
            tried.append(daemon.problem or f"the daemon at {daemon.url}, which does not know sha256 {wanted.sha256}")
    else:
        tried.append("the daemon (not asked: the payload has no sha256)")

    base = re.split(r"[\\/]", saved)[-1]
    found, matches = only_file_named(folder_paths, wanted.kind, saved)
    if found:
        if not wanted.by_file_name:
            log.warning("%s: %s not found; loading %s, the only file of that name", wanted.label, wanted.path, found)
        return found
    if len(matches) > 1:
        tried.append(f"files named {base} in ComfyUI's {wanted.kind} folders (several: {', '.join(matches[:5])})")
    else:
        tried.append(f"a file named {base} anywhere in ComfyUI's {wanted.kind} folders")
    raise FileNotFoundError(f"{wanted.label}: file not found; tried " + "; ".join(tried))


def fingerprint(inputs: str, wanted: Iterable[Wanted]) -> str:
    """IS_CHANGED's answer: the node's text inputs and each resolved file's size and mtime, so a file replaced under
    the same name loads again. A file that cannot be found gets a marker; its node fails, and a failed node always
    runs again."""
    daemon = DaemonClient()
    files: list[list[object]] = []
    for w in wanted:
        try:
            path = resolve(w, daemon)
            st = os.stat(path)
        except OSError:
            files.append([w.label, "not found"])
        else:
            files.append([path, st.st_size, st.st_mtime_ns])
    return json.dumps([inputs, files])


def find_in_folders(folder_paths: ModuleType, kind: str, name: str) -> str | None:
    """The file a relative name stands for in ComfyUI's folders of that kind, also with ".safetensors" added."""
    for candidate in _with_suffix(name):
        found = _full_path(folder_paths, kind, candidate)
        if found:
            return found
    return None


def only_file_named(folder_paths: ModuleType, kind: str, path: str) -> tuple[str | None, list[str]]:
    """The one file in the kind's folders named as the path's last part (a bare name also with a model suffix), and
    the relative names of all that are; None when there is not exactly one."""
    matches = _named(folder_paths, kind, re.split(r"[\\/]", path)[-1])
    return (_full_path(folder_paths, kind, matches[0]) if len(matches) == 1 else None), matches


def _with_suffix(name: str) -> list[str]:
    return [name] if os.path.splitext(name)[1].lower() in MODEL_SUFFIXES else [name, name + ".safetensors"]


def _full_path(folder_paths: ModuleType, kind: str, name: str) -> str | None:
    try:
        return folder_paths.get_full_path(kind, name)
    except ValueError:  # os.path.relpath across Windows drives
        return None


def _named(folder_paths: ModuleType, kind: str, base: str) -> list[str]:
    """Relative names in the kind's folders whose file name is `base` (or `base` + a model suffix)."""
    bare = os.path.splitext(base)[1].lower() not in MODEL_SUFFIXES
    found = []
    for rel in folder_paths.get_filename_list(kind):
        name = os.path.basename(rel)
        stem, suffix = os.path.splitext(name)
        if name == base or (bare and stem == base and suffix.lower() in MODEL_SUFFIXES):
            found.append(rel)
    return found
