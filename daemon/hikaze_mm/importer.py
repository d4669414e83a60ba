"""Promotes pending rows into the library, resolving duplicates by the user's chosen strategy.

Each id is handled on its own and is one transaction: all of it or none of it. Work runs under the pipeline's
decision lock, so a file that moves or vanishes meanwhile cannot interleave with its import.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from send2trash import send2trash

from .events import EventBus
from .image_files import ImageFiles
from .store import ModelRow, PendingRow, Promotion, Store
from .walk import FileStat, stat_file

log = logging.getLogger(__name__)

STRATEGIES = ("override", "merge", "ignore", "delete")


@dataclass
class ImportReport:
    imported: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def display_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def model_summary(model: ModelRow) -> dict[str, Any]:
    return {"sha256": model.sha256, "name": model.name, "path": model.path, "type": model.type,
            "base_model": model.base_model, "size_bytes": model.size_bytes, "status": model.status}


class Importer:
    def __init__(self, store: Store, bus: EventBus, files: ImageFiles, lock: asyncio.Lock):
        self.store = store
        self.bus = bus
        self.files = files
        self.lock = lock

    async def import_ids(self, ids: list[int], strategy: str | None, delete_files: bool) -> ImportReport:
        report = ImportReport()
        for pending_id in ids:
            try:
                async with self.lock:
                    await self._one(pending_id, strategy, delete_files, report)
            except Exception as e:
                log.exception("importing pending row %d failed", pending_id, extra={
                    "event": "import.failed", "pending_id": pending_id})
                report.failed.append({"id": pending_id, "error": f"import failed: {e}"})
        return report

    async def _one(self, pending_id: int, strategy: str | None, delete_files: bool, report: ImportReport) -> None:
        row = await self.store.pending(pending_id)
        if row is None:
            report.failed.append({"id": pending_id, "error": "no pending item with this id"})
            return
        if row.status in ("settling", "hashing"):
            report.failed.append({"id": pending_id, "error": f"still {row.status}; import it once it is hashed"})
            return
        if row.status == "error":
            report.failed.append({"id": pending_id, "error": f"the file could not be hashed: {row.error}"})
            return
        if row.status == "ignored":
            report.failed.append({"id": pending_id, "error": "ignored; restore it to the queue first"})
            return
        assert row.sha256 is not None
        existing = await self.store.model(row.sha256)
        if existing is None:
            model = await self._promote(row, None, "new")
            report.imported.append({"id": pending_id, "sha256": model.sha256})
        elif strategy is None:
            report.conflicts.append({"id": pending_id, "pending": row.to_wire(), "existing": model_summary(existing)})
        elif strategy == "ignore":
            updated = await self.store.set_pending_status(pending_id, "ignored")
            if updated is not None:
                log.info("ignored at the user's asking: same content as a model in the library", extra={
                    "event": "file.ignored", "path": row.path, "sha256": row.sha256})
                self.bus.publish("pending.updated", id=pending_id, path=row.path, status="ignored")
            report.ignored.append(pending_id)
        elif strategy == "delete":
            await self._delete(row, delete_files)
            report.deleted.append(pending_id)
        else:
            model = await self._promote(row, existing, strategy)
            report.imported.append({"id": pending_id, "sha256": model.sha256})

    async def _delete(self, row: PendingRow, delete_files: bool) -> None:
        trashed = delete_files and await asyncio.to_thread(stat_file, row.path) == row.stat
        if trashed:
            # Only the file that was hashed, never one that changed since; to the trash, never unlinked.
            await asyncio.to_thread(send2trash, row.path)
        await self.store.delete_pending(row.id)
        log.info("file moved to the trash at the user's asking" if trashed
                 else "queue item dropped at the user's asking; the file stays", extra={
                     "event": "file.deleted", "path": row.path, "sha256": row.sha256, "trashed": trashed})
        await asyncio.to_thread(self.files.remove_pending, row.id)
        self.bus.publish("pending.removed", id=row.id, path=row.path)

    async def _promote(self, row: PendingRow, existing: ModelRow | None, mode: str) -> ModelRow:
        assert row.sha256 is not None
        pending_meta = await self.store.pending_meta(row.id) or {}
        base = pending_meta.get("base_model") or "unknown"
        copies: list[tuple[str, FileStat]] = []
        if existing is None:
            name, type_, base_model = display_name(row.path), row.type, base
            main_path, main_stat = row.path, row.stat
        else:
            old_main = await asyncio.to_thread(stat_file, existing.path)
            if mode == "override":
                name, type_ = display_name(row.path), row.type
                base_model = base if base != "unknown" else existing.base_model
                main_path, main_stat = row.path, row.stat
                if old_main is not None and existing.path != row.path:
                    copies.append((existing.path, old_main))
            else:
                name, type_ = display_name(row.path), existing.type  # the name fills only an empty one
                base_model = existing.base_model if existing.base_model != "unknown" else base
                if old_main is None:
                    main_path, main_stat = row.path, row.stat
                else:
                    main_path, main_stat = existing.path, old_main
                    copies.append((row.path, row.stat))
        images = await self.store.pending_images(row.id)
        seqs = await self.store.reserve_image_seqs(row.sha256, len(images))
        await asyncio.to_thread(self._adopt, row.id, row.sha256, images, seqs)
        promotion = Promotion(
            pending_id=row.id, sha256=row.sha256, mode="new" if existing is None else mode, name=name, type=type_,
            base_model=base_model, meta_json=pending_meta, main_path=main_path, main_stat=main_stat, copies=copies,
            images=[(seq, w, h) for seq, (_, w, h) in zip(seqs, images, strict=True)],
        )
        try:
            model = await self.store.promote(promotion)
        except BaseException:
            await asyncio.to_thread(self.files.remove_model, row.sha256, seqs)
            raise
        await asyncio.to_thread(self.files.remove_pending, row.id)
        log.info("imported into the library", extra={
            "event": "model.imported", "path": row.path, "sha256": model.sha256, "strategy": promotion.mode,
            "model_path": model.path})
        self.bus.publish("pending.removed", id=row.id, path=row.path)
        self.bus.publish("model.updated" if existing else "model.added", sha256=model.sha256, path=model.path,
                         status=model.status)
        return model

    def _adopt(self, pending_id: int, sha256: str, images: list[tuple[int, int, int]], seqs: list[int]) -> None:
        for (pending_seq, _, _), seq in zip(images, seqs, strict=True):
            self.files.adopt_pending(pending_id, pending_seq, sha256, seq)

    async def restore(self, ids: list[int]) -> dict[str, list[Any]]:
        """Ignored rows back to the queue: ready, or conflict if their content is in the library."""
        restored: list[int] = []
        failed: list[dict[str, Any]] = []
        for pending_id in ids:
            async with self.lock:
                row = await self.store.pending(pending_id)
                if row is None or row.status != "ignored":
                    failed.append({"id": pending_id, "error": "not an ignored pending item"})
                    continue
                existing = await self.store.model(row.sha256) if row.sha256 else None
                status = "conflict" if existing is not None else "ready"
                await self.store.set_pending_conflict(pending_id, status, existing.sha256 if existing else None)
                log.info("restored to the queue at the user's asking", extra={
                    "event": "file.restored", "path": row.path, "sha256": row.sha256, "status": status})
                self.bus.publish("pending.updated", id=pending_id, path=row.path, status=status)
                restored.append(pending_id)
        return {"restored": restored, "failed": failed}
