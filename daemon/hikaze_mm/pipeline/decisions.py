"""What a seen, vanished or moved file means for the store.

Every decision about a file runs under the one `DecisionLock` so that two reports about the same path can never
both act on a stale read. Reads of the disk happen in threads; the store does the writing.

A report that cannot be decided because the library's database is away (a shared PostgreSQL server down or out of
reach) is parked in the `Outage` (pipeline/outage.py) rather than failing: the watcher's, the walks' and the hash
intake's reports alike. Each entry point below parks its paths itself, so none of them raises for it; the catch-up
(pipeline/catch_up.py) hands the paths back here, through `caught_up`, when the database answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any, Protocol

from hikaze_mm.config.roots import RootSet, is_partial_name
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import (
    ModelMissing,
    ModelMoved,
    ModelRelinked,
    PendingAdded,
    PendingRemoved,
    PendingUpdated,
)
from hikaze_mm.pipeline.batch_lines import batch_fields, file_line_level
from hikaze_mm.pipeline.outage import Outage
from hikaze_mm.pipeline.placement import Placer
from hikaze_mm.pipeline.settle import Settler
from hikaze_mm.pipeline.walk import FileStat, stat_file
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import CopyStore, FileIndexStore, ModelStore, PendingStore
from hikaze_mm.store.records import FILE_GONE, ModelRow, PendingRow

log = logging.getLogger(__name__)


class DecisionLock:
    """Held by whatever decides about a file: what a watcher report or a walk means, recording a hash, an import,
    a v1 row. Each reads the store and then writes it; holding this in between keeps two of them about one path
    from both acting on a stale read. The daemon has one, and hands it to each of them."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


class DecisionStore(Protocol):
    """The parts of the store that decisions about files read and write."""

    pending: PendingStore
    files: FileIndexStore
    models: ModelStore
    copies: CopyStore


class FileDecisions:
    """Decides what a file event (from the watcher, a walk, the hash intake or the user) means for the store."""

    def __init__(self, store: DecisionStore, bus: EventBus, roots: RootSet, settler: Settler, lock: DecisionLock,
                 outage: Outage | None = None):
        self.store = store
        self.bus = bus
        self.roots = roots
        self._settler = settler
        self._lock = lock
        self.outage = outage if outage is not None else Outage("sqlite")

    @contextlib.asynccontextmanager
    async def parking(self, *paths: str) -> AsyncIterator[None]:
        """Around a report about these paths: if the database is away, they are parked and the report is done."""
        try:
            yield
        except StoreUnreachable as e:
            self.outage.lost(e)
            for path in paths:
                self.outage.park(path)

    @contextlib.asynccontextmanager
    async def deciding(self) -> AsyncIterator[None]:
        """The decision lock, once it is this decision's turn; StoreUnreachable instead while the database is known
        to be away (nothing waits on a server that is not there)."""
        async with self._lock:
            self.outage.check()
            yield

    # -- reports from the watcher and the walks ---------------------------------------------------------------
    async def seen(self, path: str, st: FileStat | None = None) -> None:
        """The file at `path` exists and may be new, changed, moved here, or unchanged."""
        type_ = self.roots.type_of(path)
        if type_ is None:
            return
        if st is None:
            st = await asyncio.to_thread(stat_file, path)
            if st is None:
                return  # gone again already; its delete event follows
        async with self.parking(path), self.deciding():
            await self._seen(path, type_, st)

    async def caught_up(self, path: str, st: FileStat) -> None:
        """A parked report, looked at again once the database answers: the file is here as `st`. As `seen`, and a
        row left `hashing` by a hash whose outcome could not be written goes back to settling (the caller knows
        that nothing is hashing it now)."""
        type_ = self.roots.type_of(path)
        if type_ is None:
            return
        async with self.parking(path), self.deciding():
            await self._seen(path, type_, st)
            row = await self.store.pending.pending_by_path(path)
            if row is not None and row.status == "hashing" and row.stat == st:
                await self._requeue(row)

    async def _seen(self, path: str, type_: str, st: FileStat) -> None:
        row = await self.store.pending.pending_by_path(path)
        if row is not None:
            if row.stat != st:
                # Still settling means still being written: one line per write burst would drown the log.
                level = logging.DEBUG if row.status == "settling" else logging.INFO
                row = await self.store.pending.resettle_pending(row.id, st)
                log.log(level, "changed; it settles and is hashed again", extra={"event": "file.changed", "path": path})
                self._publish_pending(PendingUpdated, row)
                self._settler.touch(path)
            elif row.status == "settling" and path not in self._settler:
                self._settler.touch(path)
            return
        model = await self.store.models.model_by_path(path)
        if model is not None and model.stat == st:
            if model.status == "missing":
                model = await self.store.models.relink_model(model.sha256, path, type_, st, None)
                log.info("the missing model's file is back, unchanged", extra={
                    "event": "model.relinked", "path": path, "sha256": model.sha256 if model else None})
                self._publish_model(ModelRelinked, model)
            return
        copy = await self.store.copies.copy_at(path)
        if copy is not None:
            if copy[1] == st:
                return
            await self.store.copies.remove_copy(path)  # other content now: it is a new file, not a copy any more
        if await self._moved_here(path, type_, st):
            return
        # New content (or changed content at a model's path, which the hash will sort out).
        row = await self.store.pending.add_pending(path, os.path.basename(path), type_, st)
        _log_new(path, type_, st, "new or changed content; it settles, then is hashed")
        self._publish_pending(PendingAdded, row)
        self._settler.touch(path)

    async def seen_new(self, files: list[tuple[str, str, FileStat]], found_by: str = "a walk") -> None:
        """Files a walk found that no row knows, by path or by inode: straight into the queue, in one write.
        `found_by`: what found them, for the log."""
        added: list[PendingRow] = []
        async with self.parking(*(path for path, _, _ in files)), self.deciding():
            added = await self.store.pending.add_pending_many(files)
            level = file_line_level(len(added))
            for row in added:
                _log_new(row.path, row.type, row.stat,
                         f"found by {found_by}; hashed once it has been quiet for a while", level)
                self._publish_pending(PendingAdded, row)
                self._settler.offer(row.path)
        if len(added) > 1:
            log.info("%d new files found by %s; each is hashed once it has been quiet for a while", len(added),
                     found_by, extra={"event": "walk.new", "files": len(added),
                                      "size": sum(row.size_bytes for row in added),
                                      **batch_fields([row.path for row in added])})

    async def _moved_here(self, path: str, type_: str, st: FileStat) -> bool:
        """A known file that now lives at `path` (same device, inode, size and mtime) is moved, not re-hashed."""
        pending, models = await self.store.files.rows_for_file(st)
        for row in pending:
            if row.path != path and await asyncio.to_thread(stat_file, row.path) != st:
                await self._move_pending(row, path, type_)
                return True
        for model in models:
            if model.path != path and await asyncio.to_thread(stat_file, model.path) != st:
                await self._move_model(model, path, type_, st)
                return True
        return False

    async def gone(self, path: str) -> None:
        async with self.parking(path), self.deciding():
            if await asyncio.to_thread(stat_file, path) is not None:
                return  # recreated meanwhile; its own event will come
            await self._gone(path)

    async def _gone(self, path: str) -> None:
        self._settler.forget(path)
        row = await self.store.pending.pending_by_path(path)
        if row is not None and await self.store.pending.pending_keeps_user_data(row.id):
            # Tags or notes (from the first version's database) outlive the file; the row waits for it.
            if row.status != "error" or row.error != FILE_GONE:
                updated = await self.store.pending.set_pending_error(row.id, FILE_GONE, None)
                log.info("gone; its queue item stays for the tags or notes it carries", extra={
                    "event": "file.gone", "path": path, "pending_id": row.id})
                self._publish_pending(PendingUpdated, updated)
        elif row is not None and await self.store.pending.delete_pending(row.id):
            log.info("gone; its queue item is removed", extra={
                "event": "file.gone", "path": path, "pending_id": row.id})
            self.bus.publish(PendingRemoved(id=row.id, path=path))
        model = await self.store.models.model_by_path(path)
        if model is not None and model.status == "ok":
            await self._main_file_gone(model)
        if await self.store.copies.copy_at(path) is not None:
            await self.store.copies.remove_copy(path)
            log.info("a copy of a model is gone", extra={"event": "file.gone", "path": path})

    async def _main_file_gone(self, model: ModelRow) -> None:
        """A model is missing only when no copy of its file remains; else a remaining copy takes over."""
        for copy_path in await self.store.copies.copies_of(model.sha256):
            st = await asyncio.to_thread(stat_file, copy_path)
            type_ = self.roots.type_of(copy_path)
            if st is not None and type_ is not None:
                promoted = await self.store.copies.promote_copy(model.sha256, copy_path, type_, st)
                log.info("the model's file is gone; a copy of it takes over", extra={
                    "event": "file.moved", "path": copy_path, "old_path": model.path, "sha256": model.sha256})
                self._publish_moved(promoted, model.path)
                return
            await self.store.copies.remove_copy(copy_path)
        log.info("the model's file is gone and no copy remains; the model keeps its metadata", extra={
            "event": "model.missing", "path": model.path, "sha256": model.sha256})
        self._publish_model(ModelMissing, await self.store.models.set_model_missing(model.sha256))

    async def _known_below(self, folder: str) -> list[str]:
        return (await self.store.files.file_index()).below(folder)

    async def gone_below(self, folder: str) -> None:
        """A folder was deleted or moved away: everything known below it is gone. A configured folder that
        vanishes as a whole is offline (an unmounted share), not emptied: the walks judge it when it is back."""
        if any(r.path == folder for r in self.roots):
            return
        for path in await self._below(folder):
            await self.gone(path)

    async def moved_below(self, src: str, dest: str) -> None:
        """A folder was renamed: every known file below it moves along (its own move events may follow)."""
        for path in await self._below(src):
            await self.moved(path, dest + path[len(src):])

    async def _below(self, folder: str) -> list[str]:
        """The known files below the folder; none, with a walk owed, while the file index cannot be loaded."""
        try:
            return await self._known_below(folder)
        except StoreUnreachable as e:
            self.outage.lost(e)
            self.outage.owe_walk()
            return []

    async def moved(self, src: str, dest: str) -> None:
        type_ = self.roots.type_of(dest)
        if type_ is None:
            if is_partial_name(src) or self.roots.type_of(src) is None:
                return
            await self.gone(src)  # renamed to a name we do not track, or out of the folders
            return
        async with self.parking(src, dest), self.deciding():
            self._settler.forget(src)
            row = await self.store.pending.pending_by_path(src)
            if row is not None:
                await self._move_pending(row, dest, type_)
                return
            model = await self.store.models.model_by_path(src)
            copy = await self.store.copies.copy_at(src)
            if (model is not None and model.status == "ok") or copy is not None:
                st = await asyncio.to_thread(stat_file, dest)
                if st is not None and model is not None and model.status == "ok":
                    await self._move_model(model, dest, type_, st)
                    return
                if st is not None and copy is not None:
                    await self.store.copies.move_copy(src, dest, st)
                    log.info("a copy of a model moved", extra={"event": "file.moved", "path": dest, "old_path": src})
                    return
        await self.seen(dest)  # e.g. `x.safetensors.part` renamed to `x.safetensors`

    async def requeue(self, row: PendingRow) -> None:
        """A row left settling or hashing (by a restart) goes back to settling."""
        async with self.parking(row.path), self.deciding():
            await self._requeue(row)

    async def resume(self, path: str) -> None:
        """A walk found the row's file unchanged but the row unfinished: settling or hashing with nothing
        working on it, or an error worth another try (a permission fixed, a disk back)."""
        async with self.parking(path), self.deciding():
            row = await self.store.pending.pending_by_path(path)
            if row is None or row.status not in ("settling", "hashing", "error"):
                return
            if row.status == "error":
                await self._resettle(row, row.stat)
                return
            await self._requeue(row)

    async def retry(self, ids: list[int]) -> dict[str, list[Any]]:
        """Rows in error, at the user's asking, settle and are hashed again from the file as it is now. One whose
        file is gone stays in error, with that as its reason."""
        retried: list[int] = []
        failed: list[dict[str, Any]] = []
        placer = await asyncio.to_thread(Placer, self.roots)
        for pending_id in ids:
            async with self._lock:
                reason = await self._retry(pending_id, placer)
            if reason is None:
                retried.append(pending_id)
            else:
                failed.append({"id": pending_id, "error": reason})
        return {"retried": retried, "failed": failed}

    async def _retry(self, pending_id: int, placer: Placer) -> str | None:
        row = await self.store.pending.pending(pending_id)
        if row is None:
            return "no pending item with this id"
        if row.status != "error":
            return f"not in error (it is {row.status}); only items in error are retried"
        # A row the v1 migration kept out names a file that may lie anywhere: it is not even stat'ed unless it is a
        # model file in the model folders now (the user may have added its folder since).
        placement = await asyncio.to_thread(placer.place, row.path)
        if placement.reason is not None:
            if row.error != placement.reason:
                self._publish_pending(PendingUpdated,
                                      await self.store.pending.set_pending_error(row.id, placement.reason, None))
            return placement.reason
        if placement.path != row.path or placement.type != row.type:
            if placement.path != row.path and (await self.store.files.known_paths([placement.path])):
                return (f"its file is already in the queue or the library as {placement.path}; run the v1 "
                        "migration again to bring this item's data there")
            row = await self.store.pending.move_pending(row.id, placement.path, os.path.basename(placement.path),
                                                placement.type or row.type)
            if row is None:
                return "no pending item with this id"
        st = await asyncio.to_thread(stat_file, row.path)
        if st is None:
            if row.error != FILE_GONE:
                log.info("not retried: the file is gone", extra={
                    "event": "file.error", "path": row.path, "reason": FILE_GONE})
                errored = await self.store.pending.set_pending_error(row.id, FILE_GONE, None)
                self._publish_pending(PendingUpdated, errored)
            return f"{FILE_GONE}: {row.path}"
        await self._resettle(row, st)
        return None

    async def _resettle(self, row: PendingRow, st: FileStat) -> None:
        updated = await self.store.pending.resettle_pending(row.id, st)
        log.info("was in error; it settles and is hashed again", extra={
            "event": "file.retry", "path": row.path, "reason": row.error})
        self._publish_pending(PendingUpdated, updated)
        if updated is not None:
            self._settler.touch(updated.path)

    async def _requeue(self, row: PendingRow) -> None:
        if row.status == "hashing":
            updated = await self.store.pending.set_pending_status(row.id, "settling")
            if updated is None:
                return
            self._publish_pending(PendingUpdated, updated)
        self._settler.touch(row.path)

    # -- helpers ----------------------------------------------------------------------------------------------
    async def _move_pending(self, row: PendingRow, dest: str, type_: str) -> None:
        moved = await self.store.pending.move_pending(row.id, dest, os.path.basename(dest), type_)
        log.info("moved; nothing is read again", extra={"event": "file.moved", "path": dest, "old_path": row.path})
        self._publish_pending(PendingUpdated, moved)
        if moved is not None and moved.status in ("settling", "hashing"):
            self._settler.forget(row.path)
            self._settler.touch(dest)

    async def _move_model(self, model: ModelRow, dest: str, type_: str, st: FileStat) -> None:
        replaced = await self.store.models.model_by_path(dest)
        if replaced is not None and replaced.sha256 != model.sha256 and replaced.status == "ok":
            log.info("another model's file was moved over this model's file", extra={
                "event": "model.missing", "path": dest, "sha256": replaced.sha256})
            self._publish_model(ModelMissing, await self.store.models.set_model_missing(replaced.sha256))
        moved = await self.store.models.relink_model(model.sha256, dest, type_, st, None)
        log.info("the model's file moved; nothing is read again", extra={
            "event": "file.moved", "path": dest, "old_path": model.path, "sha256": model.sha256})
        self._publish_moved(moved, model.path)

    def _publish_pending(self, kind: type[PendingAdded | PendingUpdated], row: PendingRow | None) -> None:
        if row is not None:
            self.bus.publish(kind(id=row.id, path=row.path, status=row.status))

    def _publish_model(self, kind: type[ModelRelinked | ModelMissing], model: ModelRow | None) -> None:
        if model is not None:
            self.bus.publish(kind(sha256=model.sha256, path=model.path, status=model.status))

    def _publish_moved(self, model: ModelRow | None, old_path: str) -> None:
        if model is not None:
            self.bus.publish(ModelMoved(sha256=model.sha256, path=model.path, status=model.status, old_path=old_path))


def _log_new(path: str, type_: str, st: FileStat, why: str, level: int = logging.INFO) -> None:
    log.log(level, why, extra={"event": "file.new", "path": path, "type": type_, "size": st.size})
