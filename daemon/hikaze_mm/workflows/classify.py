"""Each reference judged against this host: `found` when its name resolves in the kind's folders as ComfyUI
resolves it, `elsewhere` when the same content (by sha256 or AutoV2) or else a file of the same name is there under
another name (the name to use instead), `missing` otherwise. Reads the filesystem: run it in a thread."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hikaze_mm.config.roots import is_model_name, within
from hikaze_mm.store.known_files import FileIndex
from hikaze_mm.store.records import HeldContent
from hikaze_mm.workflows.folders import KindFolders
from hikaze_mm.workflows.loaders import PAYLOAD
from hikaze_mm.workflows.references import Reference

Status = Literal["found", "elsewhere", "missing"]
DEFAULT_EXTENSION = ".safetensors"  # what a name written without one most likely means
MAX_CHOICES = 50


@dataclass(frozen=True)
class Answer:
    ref: Reference
    status: Status
    use: str | None = None
    path: str | None = None
    model_sha256: str | None = None  # the library's model of the file or content, when known
    model_name: str | None = None
    by: Literal["name", "sha256", "autov2"] | None = None
    choices: tuple[str, ...] = ()
    choice_paths: tuple[str, ...] = ()  # the file of each choice, so a payload can be given the one picked

    def to_wire(self) -> dict[str, Any]:
        r = self.ref
        model = None if self.model_sha256 is None or self.model_name is None else {
            "sha256": self.model_sha256, "name": self.model_name}
        return {"node_id": r.node_id, "node_type": r.node_type, "widget": r.widget, "entry": r.entry,
                "kind": r.kind, "name": r.name, "sha256": r.sha256, "autov2": r.autov2, "status": self.status,
                "use": self.use, "path": self.path, "model": model, "by": self.by, "choices": list(self.choices),
                "choice_paths": list(self.choice_paths)}


def clean_name(name: str) -> str | None:
    """A workflow's file name as a path below a folder: either separator, no way out of the folder (`..` stops
    at the folder, as ComfyUI's own lookup does), None when nothing is left."""
    clean = posixpath.normpath("/" + name.strip().replace("\\", "/")).lstrip("/")
    return clean if clean and clean != "." and "\0" not in clean else None


def _stem(name: str) -> str:
    base = posixpath.basename(name)
    return os.path.splitext(base)[0] if is_model_name(base) else base


class Here:
    """This host's side: the folders of each kind and the files below them that the store knows, with those
    files by their file name and by their stem, so that each reference costs a lookup, not a pass over them."""

    def __init__(self, folders: KindFolders, index: FileIndex):
        self._folders = folders
        self._index = index
        self._files: dict[str, dict[str, str]] = {}
        self._by_base: dict[str, dict[str, list[str]]] = {}
        self._by_stem: dict[str, dict[str, list[str]]] = {}
        self._kind_folders: dict[str, tuple[str, ...]] = {}

    def folders(self, kind: str) -> tuple[str, ...]:
        if kind not in self._kind_folders:
            self._kind_folders[kind] = self._folders(kind)
        return self._kind_folders[kind]

    def files(self, kind: str) -> dict[str, str]:
        """Name below the kind's folders -> path, of the model files the store knows there."""
        if kind not in self._files:
            files: dict[str, str] = {}
            bases: dict[str, str] = {}
            for folder in self.folders(kind):
                for path in self._index.below(folder):
                    rel = self.rel(kind, path)
                    base = None if rel is None or rel in files else posixpath.basename(rel)
                    if rel is not None and base is not None and is_model_name(base):
                        files[rel], bases[rel] = path, base
            by_base: dict[str, list[str]] = {}
            by_stem: dict[str, list[str]] = {}
            for rel in sorted(files):
                by_base.setdefault(bases[rel], []).append(rel)
                by_stem.setdefault(os.path.splitext(bases[rel])[0], []).append(rel)
            self._files[kind], self._by_base[kind], self._by_stem[kind] = files, by_base, by_stem
        return self._files[kind]

    def named(self, kind: str, base: str) -> list[str]:
        """The names (as in `files`) whose file name is `base`, in order."""
        self.files(kind)
        return self._by_base[kind].get(base, [])

    def stemmed(self, kind: str, stem: str) -> list[str]:
        """The names (as in `files`) whose file name without its model extension is `stem`, in order."""
        self.files(kind)
        return self._by_stem[kind].get(stem, [])

    def rel(self, kind: str, path: str) -> str | None:
        """The name ComfyUI lists the file under: below the first of the kind's folders that holds it."""
        for folder in self.folders(kind):
            if within(path, folder) and path != folder:
                # Both are normalised (the store's paths, the folders as configured or announced), so the name is
                # what follows the folder: os.path.relpath would cost more than the rest of a check together.
                return path[len(folder.rstrip(os.sep)) + 1:].replace(os.sep, "/")
        return None

    def known(self, kind: str, path: str) -> bool:
        """Whether the path lies in the kind's folders or is a file the store knows: a path a workflow names is
        looked at only then, so that a request cannot probe the rest of the machine."""
        return (self.rel(kind, path) is not None or path in self._index.pending
                or self._index.models_ok.get(path) is not None)

    def model_of(self, path: str) -> str | None:
        """The sha256 of the model whose file (or copy) this is, if the store knows one."""
        hit = self._index.models_ok.get(path)
        return hit[0] if hit is not None else None


def classify(ref: Reference, here: Here, held: list[HeldContent]) -> Answer:
    """`held`: the contents the store holds that match the reference's sha256 or AutoV2."""
    found = _found(ref, here)
    if found is not None:
        return found
    by_content = _by_content(ref, here, held)
    if by_content is not None:
        return by_content
    # A reference that carries its content's hash names that content: a file of the same name holding another
    # (a common name such as pytorch_lora_weights.safetensors, another version) is not it.
    if not ref.by_stem and ref.sha256 is None and ref.autov2 is None:
        by_name = _by_name(ref, here)
        if by_name is not None:
            return by_name
    known = next((h for h in held if h.model_name is not None), None)
    return Answer(ref, "missing", model_sha256=known.sha256 if known else None,
                  model_name=known.model_name if known else None)


def _candidates(name: str) -> list[str]:
    clean = clean_name(name)
    if clean is None:
        return []
    return [clean] if clean.lower().endswith(DEFAULT_EXTENSION) else [clean, clean + DEFAULT_EXTENSION]


def _found(ref: Reference, here: Here) -> Answer | None:
    # Only a model file's name is looked for on disk, so that an answer never tells whether any other file is
    # there (below an announced folder, say).
    path = os.path.normpath(ref.full_path) if ref.full_path and os.path.isabs(ref.full_path) else None
    if path is not None and is_model_name(os.path.basename(path)) and here.known(ref.kind, path) \
            and os.path.isfile(path):
        return Answer(ref, "found", here.rel(ref.kind, path), path, here.model_of(path))
    if ref.by_stem:
        for rel in here.stemmed(ref.kind, _stem(clean_name(ref.name) or "")):
            path = here.files(ref.kind)[rel]
            if os.path.isfile(path):
                return Answer(ref, "found", ref.name, path, here.model_of(path))
        return None
    for name in (c for c in _candidates(ref.name) if is_model_name(posixpath.basename(c))):
        for folder in here.folders(ref.kind):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return Answer(ref, "found", name, path, here.model_of(path))
    return None


def _use(ref: Reference, here: Here, path: str) -> str | None:
    """The name a node of the reference's kind would load `path` by, or None when it cannot."""
    rel = here.rel(ref.kind, path)
    if rel is None:
        # A Hikaze payload loads any path; ComfyUI's lists hold only what is below the kind's folders.
        return path if ref.widget == PAYLOAD else None
    return posixpath.splitext(posixpath.basename(rel))[0] if ref.by_stem else rel


def _by_content(ref: Reference, here: Here, held: list[HeldContent]) -> Answer | None:
    options: dict[str, tuple[str, HeldContent]] = {}
    for content in held:
        for path in content.paths:
            use = _use(ref, here, path)
            if use is not None and use not in options and os.path.isfile(path):
                options[use] = (path, content)
    if not options:
        return None
    ordered = sorted(options)
    path, content = options[ordered[0]]
    by: Literal["sha256", "autov2"] = "sha256" if ref.sha256 and content.sha256 == ref.sha256 else "autov2"
    shown = ordered[:MAX_CHOICES] if len(ordered) > 1 else []
    return Answer(ref, "elsewhere", ordered[0], path, content.sha256, content.model_name, by,
                  tuple(shown), tuple(options[u][0] for u in shown))


def _by_name(ref: Reference, here: Here) -> Answer | None:
    wanted = {posixpath.basename(c) for c in _candidates(ref.name)}
    if ref.full_path:
        wanted.add(os.path.basename(ref.full_path))
    files = here.files(ref.kind)
    options = sorted(rel for base in wanted for rel in here.named(ref.kind, base) if os.path.isfile(files[rel]))
    if not options:
        return None
    path = files[options[0]]
    shown = options[:MAX_CHOICES] if len(options) > 1 else []
    return Answer(ref, "elsewhere", options[0], path, here.model_of(path), by="name",
                  choices=tuple(shown), choice_paths=tuple(files[rel] for rel in shown))


def matching(ref: Reference, held: Mapping[str, HeldContent]) -> list[HeldContent]:
    """The held contents that are the reference's: its sha256's, else those its AutoV2 starts."""
    if ref.sha256 is not None and ref.sha256 in held:
        return [held[ref.sha256]]
    if ref.autov2 is not None:
        return [h for sha, h in sorted(held.items()) if sha.startswith(ref.autov2)]
    return []
