"""Models whose content is in more than one file, and moving one of those files to the trash.

A copy goes to the trash only through `disposal` (a model file inside the model folders, not a link, still the
file that was hashed), under the decision lock so that a watcher report about the same files cannot interleave.
The model never loses its last file this way: a copy goes only while the main file still holds the content, and
the main file goes only when a copy that still holds it takes its place, in the same turn of the lock ("holds":
as hashed, its bytes hashed again, see `disposal.holds`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Protocol

from hikaze_mm.config.roots import RootSet
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelMoved, ModelUpdated
from hikaze_mm.library.disposal import Refused, holds, trash
from hikaze_mm.library.folders import folder_name
from hikaze_mm.library.service import LibraryError, image_urls
from hikaze_mm.pipeline.decisions import DecisionLock
from hikaze_mm.pipeline.walk import stat_file
from hikaze_mm.store.interfaces import CopyStore, ModelStore
from hikaze_mm.store.records import CopiedModel, FileStat, ModelRow

log = logging.getLogger(__name__)


class DuplicatesStore(Protocol):
    models: ModelStore
    copies: CopyStore


class Duplicates:
    def __init__(self, store: DuplicatesStore, bus: EventBus, lock: DecisionLock, roots: RootSet):
        self.store = store
        self.bus = bus
        self.lock = lock
        self.roots = roots

    async def page(self, limit: int, offset: int) -> dict[str, Any]:
        page, total = await self.store.copies.models_with_copies(limit, offset)
        paths = [p for item in page for p in (item.model.path, *(c for c, _ in item.copies))]
        stats = await asyncio.to_thread(lambda: {p: stat_file(p) for p in paths})
        return {"models": [self._wire(item, stats) for item in page], "total": total}

    def _wire(self, item: CopiedModel, stats: dict[str, FileStat | None]) -> dict[str, Any]:
        m = item.model
        files = [(m.path, m.stat, True), *((p, st, False) for p, st in item.copies)]
        return {
            "sha256": m.sha256, "name": m.name, "type": m.type, "status": m.status, "size_bytes": m.size_bytes,
            "cover": image_urls(m.sha256, m.cover_seq) if m.cover_seq is not None else None,
            "files": [self._file(path, recorded, main, stats.get(path)) for path, recorded, main in files],
        }

    def _file(self, path: str, recorded: FileStat, main: bool, now: FileStat | None) -> dict[str, Any]:
        root = self.roots.root_of(path)
        return {
            "path": path,
            "root": root.path if root else None,
            "folder": folder_name(self.roots, os.path.dirname(path)),
            "main": main,
            # What is on disk now; null when the file is gone. `changed`: not the file that was hashed any more,
            # so it may not be trashed until it is hashed again.
            "size_bytes": now.size if now else None,
            "changed": now is not None and now != recorded,
        }

    async def trash_file(self, sha256: str, path: str) -> dict[str, Any]:
        async with self.lock:
            model = await self.store.models.model(sha256)
            if model is None:
                raise LibraryError(404, f"no model with sha256 {sha256}")
            copies = await self.store.copies.copies_of(sha256)
            if path == model.path:
                return await self._trash_main(model, copies)
            found = await self.store.copies.copy_at(path)
            if found is None or found[0] != sha256:
                raise LibraryError(404, f"{path[:300]!r} is not a copy of model {sha256}; nothing was trashed")
            # The copy may be all that is left of the content: it goes only while the main file still holds it.
            if model.status != "ok" or not await asyncio.to_thread(holds, model.path, model.stat, sha256):
                raise LibraryError(409, "the model's main file is gone or changed since it was hashed, so this copy "
                                        "may be its only content; it was not trashed (scan first)")
            gone = await self._trash(model, path, found[1], [model.path, *(c for c in copies if c != path)])
            await self.store.copies.remove_copy(path)
        self.bus.publish(ModelUpdated(sha256=sha256))
        return {"trashed": gone, "main": model.path}

    async def _trash_main(self, model: ModelRow, copies: list[str]) -> dict[str, Any]:
        if model.status != "ok":
            raise LibraryError(409, "the model's main file is missing; there is nothing to trash")
        successor = await self._successor(model.sha256, copies)
        if successor is None:
            raise LibraryError(409, "this is the model's only file that is still as it was hashed; it was not "
                                    "trashed, so that the model keeps a file")
        new_path, type_, st = successor
        gone = await self._trash(model, model.path, model.stat, copies)
        promoted = await self.store.copies.promote_copy(model.sha256, new_path, type_, st)
        log.info("a copy of the model becomes its main file", extra={
            "event": "file.moved", "path": new_path, "old_path": model.path, "sha256": model.sha256})
        if promoted is not None:
            self.bus.publish(ModelMoved(sha256=model.sha256, path=promoted.path, status=promoted.status,
                                        old_path=model.path))
        return {"trashed": gone, "main": new_path}

    async def _successor(self, sha256: str, copies: list[str]) -> tuple[str, str, FileStat] | None:
        """The first copy inside the model folders that still holds the model's content."""
        for path in copies:
            found = await self.store.copies.copy_at(path)
            type_ = self.roots.type_of(path)
            if found is not None and type_ is not None and await asyncio.to_thread(holds, path, found[1], sha256):
                return path, type_, found[1]
        return None

    async def _trash(self, model: ModelRow, path: str, recorded: FileStat, keep: list[str]) -> list[str]:
        try:
            gone = await asyncio.to_thread(trash, path, recorded, self.roots, keep)
        except Refused as e:
            log.info("not trashed: %s", e, extra={"event": "file.kept", "path": path, "sha256": model.sha256})
            raise LibraryError(409, str(e)) from None
        except OSError as e:
            raise LibraryError(409, f"the file could not be moved to the trash: {e.strerror or e}; it stays") from None
        log.info("a copy moved to the trash at the user's asking", extra={
            "event": "file.deleted", "path": path, "sha256": model.sha256, "trashed": True,
            "along": [os.path.basename(p) for p in gone[1:]]})
        return gone
