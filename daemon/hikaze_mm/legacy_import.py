"""Brings a first-version (v1) database into the import queue.

Every v1 row becomes a pending row that keeps its metadata, tags and first image; the pool hashes its file
like any other (a hash stored by v1 is never trusted, only compared). Running it again adds what is missing
and duplicates nothing: a path that already has a row or a model gets the missing tags and empty fields filled.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .classify import Classifier
from .events import EventBus
from .image_files import ImageFiles
from .images import ImageError, encode_tiers_from_file
from .legacy import LegacyItem, read_legacy
from .meta import merge as meta_merge
from .roots import RootSet
from .store import Store
from .walk import stat_file

log = logging.getLogger(__name__)


@dataclass
class LegacyReport:
    source: str
    migrated: int = 0  # new pending rows
    merged: int = 0  # rows or models that already existed and got the v1 tags and metadata
    missing_files: int = 0  # rows kept for their metadata although their file is gone
    images_copied: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Files already hashed whose content is not what v1 claimed (files hashed later: their row's meta_json).
    hash_mismatches: list[dict[str, Any]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


class LegacyImporter:
    def __init__(self, store: Store, bus: EventBus, roots: RootSet, classifier: Classifier, files: ImageFiles):
        self.store = store
        self.bus = bus
        self.roots = roots
        self.classifier = classifier
        self.files = files

    async def run(self, db_path: str, images_dir: str | None) -> LegacyReport:
        export = await asyncio.to_thread(read_legacy, db_path, images_dir)  # LegacyError: the caller's 400
        report = LegacyReport(export.source)
        report.skipped = [{"legacy_id": i, "reason": reason} for i, reason in export.skipped]
        for item in export.items:
            try:
                await self._one(item, report)
            except Exception as e:
                log.exception("v1 row %s could not be migrated", item.legacy_id)
                report.errors.append({"legacy_id": item.legacy_id, "error": str(e)})
        log.info("v1 database %s: %d migrated, %d merged, %d skipped, %d images, %d errors", export.source,
                 report.migrated, report.merged, len(report.skipped), report.images_copied, len(report.errors))
        return report

    async def _one(self, item: LegacyItem, report: LegacyReport) -> None:
        path = os.path.normpath(os.path.abspath(item.path))
        meta = dict(item.meta)
        if item.claimed_sha256:
            meta["legacy_sha256"] = item.claimed_sha256
        async with self.classifier.lock:
            existing = await self.store.pending_by_path(path)
            if existing is not None:
                stored = await self.store.pending_meta(existing.id) or {}
                merged = with_legacy(stored, meta, existing.sha256)
                await self.store.set_pending_meta(existing.id, merged, item.tags)
                if "legacy_sha256_mismatch" in merged:
                    report.hash_mismatches.append({"legacy_id": item.legacy_id, "path": path,
                                                   **merged["legacy_sha256_mismatch"]})
                report.merged += 1
                if not await self.store.pending_images(existing.id):
                    await self._copy_image(item, existing.id, report)
                return
            model = await self.store.model_by_path(path)
            if model is not None:
                await self.store.enrich_model(model.sha256, meta, item.tags)
                if item.claimed_sha256 and item.claimed_sha256 != model.sha256:
                    report.hash_mismatches.append({"legacy_id": item.legacy_id, "path": path,
                                                   "claimed": item.claimed_sha256, "actual": model.sha256})
                report.merged += 1
                return
            st = await asyncio.to_thread(stat_file, path)
            # A file outside the watched folders keeps its v1 type; inside them, the folder decides.
            type_ = self.roots.type_of(path) or item.type
            row = await self.store.add_pending_with_meta(path, type_, st, meta, item.tags)
            report.migrated += 1
            if st is None:
                report.missing_files += 1
            else:
                self.classifier.settler.touch(path)
        self.bus.publish("pending.added", id=row.id, path=row.path, status=row.status)
        await self._copy_image(item, row.id, report)

    async def _copy_image(self, item: LegacyItem, pending_id: int, report: LegacyReport) -> None:
        if not item.image:
            return
        try:
            encoded = await asyncio.to_thread(encode_tiers_from_file, item.image)
        except (ImageError, OSError) as e:
            report.errors.append({"legacy_id": item.legacy_id, "error": f"image {item.image}: {e}"})
            return
        await asyncio.to_thread(self.files.write_pending, pending_id, 0, encoded)
        if await self.store.add_pending_image(pending_id, 0, encoded.width, encoded.height, item.image):
            report.images_copied += 1


def with_legacy(stored: dict[str, Any], legacy: dict[str, Any], sha256: str | None) -> dict[str, Any]:
    """A pending row's metadata with what the v1 database knew: the row's own values win, the v1 record is kept
    beside them, and a hash v1 claimed is checked now if the row is already hashed (else when it is)."""
    merged = meta_merge(stored, legacy)
    for key in ("legacy", "legacy_sha256"):
        if key in legacy:
            merged.setdefault(key, legacy[key])
    claimed = merged.get("legacy_sha256")
    if sha256 and claimed and claimed != sha256:
        merged["legacy_sha256_mismatch"] = {"claimed": claimed, "actual": sha256}
    return merged
