"""What the library's parts of the store build from what they read, the same on every backend: a model's detail,
its search row, a page of copies grouped by model; and the file index kept in step once a write has committed.
The SQL stays in each backend; these take plain values read from it (`library_writes` holds the writes' steps).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from hikaze_mm.store.file_index import KeptFileIndex
from hikaze_mm.store.listing import last_used
from hikaze_mm.store.records import (
    CopiedModel,
    FileStat,
    HeldContent,
    Meta,
    ModelRow,
    PendingRow,
    Promotion,
    Removal,
)

# The columns of `models` a model's detail is built from, in order; its `meta_json` is read besides.
DETAIL_COLUMNS = ("sha256", "blake3", "path", "name", "type", "base_model", "size_bytes", "status", "created_at",
                  "updated_at", "missing_since", "cover_seq", "use_count", "last_used_at")


def model_detail(row: Sequence[Any], meta: Meta, tags: list[str], images: Iterable[Sequence[Any]],
                 files: Iterable[Sequence[Any]], host: str) -> dict[str, Any]:
    """The detail of a model as this host sees it: its DETAIL_COLUMNS, its metadata with what the store keeps in
    it for itself taken out (the header, the tags its sidecars gave and those the user took off), its tag names,
    its images as (seq, width, height, created_at) by seq, and its files on every host as (host, path, main), the
    main file first. Its `path` is its file on this host (the main file if that is here, else its first copy
    here; another host's main file when this host has none), and its `copies` are its other paths here."""
    item = dict(zip(DETAIL_COLUMNS, row, strict=True))
    item["last_used_at"] = last_used(item["last_used_at"])
    every = [{"host": h, "path": p, "main": bool(main), "here": h == host} for h, p, main in files]
    here = [f["path"] for f in every if f["here"]]
    if here and not any(f["main"] and f["here"] for f in every):
        item["path"] = here[0]
    item["files"] = every
    item["file_name"] = os.path.basename(item["path"])
    meta = dict(meta)
    item["header"] = meta.pop("header", None)
    sidecar = {name.casefold() for name in meta.pop("sidecar_tags", [])}
    item["removed_tags"] = meta.pop("removed_tags", [])
    item["meta_json"] = meta
    item["tags"] = tags
    item["sidecar_tags"] = [name for name in tags if name.casefold() in sidecar]
    item["images"] = [{"seq": s, "width": w, "height": h, "created_at": c} for s, w, h, c in images]
    cover = item.pop("cover_seq")
    item["cover"] = cover if cover is not None else (item["images"][0]["seq"] if item["images"] else None)
    item["copies"] = [path for path in here if path != item["path"]]
    return item


def renamed_tags(tags: list[str], old: str, new: str | None) -> list[str]:
    """A model's tag names once the tag `old` is renamed to `new` library-wide (merged into `new` where another tag
    has that name, so the model carries it once) or deleted (`new` None); names compare without regard to case."""
    kept = [name for name in tags if name.casefold() not in {old.casefold(), (new or old).casefold()}]
    return kept if new is None else [*kept, new]


def search_row(name: str, path: str, tags: str | None, description: Any, trigger_words: Any) -> tuple[str, ...]:
    """What a model is found by, as its search row's columns: (name, file name, path, tags, description, trigger
    words), from its name, path, tag names joined by spaces and its metadata's description and trigger words."""
    return (name, os.path.basename(path), path, tags or "", str(description or ""),
            " ".join(str(w) for w in trigger_words or []))


def recorded_stat(size: int, mtime_ns: int | None, inode: int | None, device: int | None) -> FileStat:
    """A copy's fingerprint as recorded (its NULLs as 0)."""
    return FileStat(size, mtime_ns or 0, inode or 0, device or 0)


def copied_models(models: list[ModelRow], copies: Iterable[Sequence[Any]]) -> list[CopiedModel]:
    """The models with their copies, from the copies' rows (sha256, path, size, mtime, inode, device) in order.
    A copy removed between the two reads leaves its model out rather than listed without copies."""
    found: dict[str, list[tuple[str, FileStat]]] = {m.sha256: [] for m in models}
    for sha256, path, *stat in copies:
        found[sha256].append((path, recorded_stat(*stat)))
    return [CopiedModel(m, found[m.sha256]) for m in models if found[m.sha256]]


# -- the file index after a write has committed ------------------------------------------------------------------
def absorbed(index: KeptFileIndex, pending_id: int, sha256: str, copy: tuple[str, FileStat] | None) -> None:
    """A pending row taken into the model `sha256`, its file (if it stays) one of the model's."""
    index.untrack_pending(pending_id)
    if copy is not None:
        index.track_copy(copy[0], sha256, copy[1])


def promoted(index: KeptFileIndex, p: Promotion, model: ModelRow, twins: list[PendingRow]) -> None:
    """A promotion written: its row, copies and aliases are the model's files, and its twins conflicts."""
    index.untrack_pending(p.pending_id)
    index.untrack_copy(p.main_path)
    for path, stat in p.copies:
        index.track_copy(path, p.sha256, stat)
    for alias in p.aliases:
        absorbed(index, alias.pending_id, p.sha256, (alias.path, alias.stat))
    for twin in twins:
        index.track_pending(twin)
    index.track_model(model)


def promoted_new(index: KeptFileIndex, promotions: list[Promotion], models: list[ModelRow]) -> None:
    """A batch of new promotions written: each row is gone (a model's main file where one was made)."""
    for p in promotions:
        index.untrack_pending(p.pending_id)
        index.untrack_copy(p.main_path)
    for model in models:
        index.track_model(model)


def removed(index: KeptFileIndex, sha256: str, paths: list[str], removal: Removal) -> None:
    """A model taken out of the library: its files (`paths`) are the pending rows of the removal now."""
    index.forget_model(sha256, paths)
    for pending in [*removal.released, *removal.reopened]:
        index.track_pending(pending)


def held_contents(rows: Iterable[Sequence[Any]]) -> list[HeldContent]:
    """(sha256, the model's name or None, a file's path or None) rows grouped by content, in sha256 order; each
    path listed once, as first read."""
    names: dict[str, str | None] = {}
    paths: dict[str, dict[str, None]] = {}
    for sha256, name, path in rows:
        if name is not None or sha256 not in names:
            names[sha256] = name
        held = paths.setdefault(sha256, {})
        if path is not None:
            held[path] = None
    return [HeldContent(sha, names[sha], tuple(paths[sha])) for sha in sorted(names)]
