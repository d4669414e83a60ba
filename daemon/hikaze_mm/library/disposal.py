"""What may go to the trash when the user deletes a duplicate file, and what goes along with it.

Only a model file inside the model folders that is still the file that was hashed is ever trashed (never a
symbolic link, whose target lives elsewhere); anything else is refused with the reason. The sidecars and previews
beside it go along, but none that another model file in that folder also uses. The caller makes
sure the file is not the model's own file under another name (`file_identity`). Blocking; call it from a thread.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from send2trash import send2trash

from hikaze_mm.config.roots import RootSet, is_model_name
from hikaze_mm.inspect.file_identity import same_as_any
from hikaze_mm.inspect.folder_names import FolderNames
from hikaze_mm.inspect.previews import find_previews
from hikaze_mm.inspect.sidecars import sidecar_paths
from hikaze_mm.pipeline.hashing import FileChanged, hash_file
from hikaze_mm.pipeline.walk import FileStat, stat_file

log = logging.getLogger(__name__)


class Refused(Exception):
    """The file may not be trashed; the message says why, for the import report."""


def check_trashable(path: str, recorded: FileStat, roots: RootSet) -> None:
    if not os.path.isabs(path) or os.path.normpath(path) != path or roots.type_of(path) is None:
        raise Refused("the file is outside the model folders (or not a model file); it was not trashed")
    if os.path.islink(path):
        raise Refused(f"the path is a symbolic link to {os.path.realpath(path)}; it was not trashed, remove the "
                      "link yourself if you mean to")
    if not is_model_name(os.path.basename(os.path.realpath(path))):
        raise Refused("the path leads to a file that is not a model file; it was not trashed")
    now = stat_file(path)
    if now is None:
        raise Refused("the file is gone; there is nothing to trash")
    if now != recorded:
        raise Refused("the file changed since it was hashed; it was not trashed (scan or retry it first)")


def holds(path: str, recorded: FileStat, sha256: str) -> bool:
    """Whether the file at `path` still holds the model's content, so that another of its files may go. Its
    fingerprint is not proof enough: a file rewritten in place keeps its inode and size, and its time can be put
    back, so its bytes are hashed again."""
    if stat_file(path) != recorded:
        return False
    with ThreadPoolExecutor(1) as unused:  # never used: the hash runs on this thread (`core_free` says no core)
        try:
            return hash_file(path, recorded, unused, threading.Event(), core_free=lambda: False).sha256 == sha256
        except (OSError, FileChanged):
            return False


def companions(path: str) -> list[str]:
    """The sidecars and previews that belong to the model file at `path` alone: not those another model file of
    its folder also reads (`x.preview.png` is the preview of `x.safetensors` and of `x.preview.safetensors`)."""
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0].lower()
    try:
        with os.scandir(folder) as entries:
            # Two files share a companion's name only when one's stem begins the other's.
            others = [e.path for e in entries if e.name != name and is_model_name(e.name)
                      and _nested(stem, os.path.splitext(e.name)[0].lower())]
    except OSError:
        return []  # the folder cannot be listed: whether another model uses them cannot be known
    names = FolderNames()
    theirs = {p.lower() for other in others for p in (*sidecar_paths(other), *find_previews(other, names))}
    found = [*sidecar_paths(path), *find_previews(path, names)]
    return [p for p in dict.fromkeys(found)
            if p.lower() not in theirs and os.path.isfile(p) and not os.path.islink(p)]


def _nested(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def trash(path: str, recorded: FileStat, roots: RootSet, keep: list[str]) -> list[str]:
    """Move the duplicate and its own companions to the trash (never unlink); the paths that went, the file
    first. Checked again right before: it is trashable, and none of `keep` (the model's files) under another
    name."""
    check_trashable(path, recorded, roots)
    same = same_as_any(path, keep)
    if same is not None:
        raise Refused(f"the file is the model's own file {same} under another name; it was not trashed")
    along = companions(path)
    send2trash(path)
    gone = [path]
    for extra in along:
        try:
            send2trash(extra)
        except OSError as e:
            log.warning("a sidecar or preview of a trashed duplicate could not be trashed: %s", e.strerror or e,
                        extra={"event": "file.trash_failed", "path": extra})
            continue
        gone.append(extra)
    return gone
