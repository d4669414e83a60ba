"""Promotes pending rows into the library, resolving duplicates by the user's chosen strategy.

Each id is handled on its own and is one transaction: all of it or none of it. Work runs under the pipeline's
decision lock, so a file that moves or vanishes meanwhile cannot interleave with its import.

A row that names one of the model's own files by another path is no duplicate: it joins the model as that path,
whatever the strategy. Twins in one batch go best first (the most metadata, then the oldest file), so the copy
never wins over the original. `delete` first gives the model what it lacks of the row's metadata; its file goes
to the trash only when `disposal` allows it, with the sidecars and previews that belonged to it alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from hikaze_mm.config.roots import RootSet
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelAdded, ModelUpdated, PendingRemoved, PendingUpdated
from hikaze_mm.inspect.damage import damage
from hikaze_mm.inspect.file_identity import same_as_any
from hikaze_mm.library import metadata as meta_mod
from hikaze_mm.library.disposal import Refused, check_trashable, trash
from hikaze_mm.library.fetched import renumbered
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.pipeline.batch_lines import batch_fields, file_line_level
from hikaze_mm.pipeline.decisions import DecisionLock
from hikaze_mm.pipeline.walk import FileStat, stat_file
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import CopyStore, ImageStore, ImportStore, ModelStore, PendingStore
from hikaze_mm.store.records import Alias, HashedStatus, HashRecord, ModelRow, PendingRow, Promotion

log = logging.getLogger(__name__)

STRATEGIES = ("override", "merge", "ignore", "delete")
# Plainly new models are imported this many to a transaction: few trips to the database per row, and the writer
# (which every edit waits for) is never held for long.
PLAIN_BATCH = 200


@dataclass
class ImportReport:
    imported: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    # Rows whose file looks damaged, left in the queue: {"id", "reason"}; imported only when the user confirms.
    refused: list[dict[str, Any]] = field(default_factory=list)
    # Rows of `deleted` whose file went to the trash: {"id", "path", "along"} (its sidecars and previews that went
    # with it). A row of `deleted` not here was dropped from the queue with its file left where it is.
    trashed: list[dict[str, Any]] = field(default_factory=list)


def display_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def model_summary(model: ModelRow) -> dict[str, Any]:
    return {"sha256": model.sha256, "name": model.name, "path": model.path, "type": model.type,
            "base_model": model.base_model, "size_bytes": model.size_bytes, "status": model.status}


def richness(meta: dict[str, Any], images: int, tags: int) -> int:
    """How much a row knows about its file beyond the bytes: sidecars, previews, user fields, tags, header
    metadata. Of two twins, the richer one becomes the model."""
    sidecars = len((meta.get("sidecars") or {}).get("sources") or [])
    header = 1 if (meta.get("header") or {}).get("metadata") else 0
    return sidecars + images + len(meta_mod.user_fields(meta)) + tags + header


class ImporterStore(Protocol):
    """The parts of the store that importing pending rows into the library uses."""

    pending: PendingStore
    models: ModelStore
    copies: CopyStore
    images: ImageStore
    imports: ImportStore


class Importer:
    def __init__(self, store: ImporterStore, bus: EventBus, files: ImageFiles, lock: DecisionLock, roots: RootSet):
        self.store = store
        self.bus = bus
        self.files = files
        self.lock = lock
        self.roots = roots

    async def import_ids(
        self, ids: list[int], strategy: str | None, delete_files: bool, confirm_damaged: bool
    ) -> ImportReport:
        report = ImportReport()
        if not confirm_damaged:
            ids = await self._refuse_damaged(ids, report)
        batch = set(ids)
        plain: dict[int, str] = {}  # id -> path of the rows imported as plainly new models
        for start in range(0, len(ids), PLAIN_BATCH):
            async with self.lock:
                plain |= await self._import_plain(ids[start:start + PLAIN_BATCH], report, len(ids))
        if plain and len(ids) > 1:
            log.info("%d of %d files imported into the library as new models", len(plain), len(ids), extra={
                "event": "import.batch", "files": len(plain), **batch_fields(list(plain.values()))})
        joined = set(plain)  # and the rows that join a model as names of its own file
        for pending_id in await self._best_first([i for i in ids if i not in joined]):
            if pending_id in joined:
                continue
            try:
                async with self.lock:
                    for alias_id, sha256 in await self._one(pending_id, strategy, delete_files, report):
                        if alias_id in batch:
                            joined.add(alias_id)
                            report.imported.append({"id": alias_id, "sha256": sha256})
            except StoreUnreachable:
                raise  # the whole import waits for the database, not this row alone
            except Exception as e:
                log.exception("importing pending row %d failed", pending_id, extra={
                    "event": "import.failed", "pending_id": pending_id})
                report.failed.append({"id": pending_id, "error": f"import failed: {e}"})
        asked = {pending_id: position for position, pending_id in enumerate(dict.fromkeys(ids))}
        report.imported.sort(key=lambda entry: asked.get(entry["id"], len(asked)))  # as asked, whichever went first
        return report

    async def _refuse_damaged(self, ids: list[int], report: ImportReport) -> list[int]:
        """The ids whose files do not look damaged; the others go into the report as refused, as asked (the
        store answers in an order of its own)."""
        refused: set[int] = set()
        for start in range(0, len(ids), PLAIN_BATCH):
            chunk = ids[start:start + PLAIN_BATCH]
            rows = await self.store.pending.pending_rows(chunk)
            for pending_id in chunk:
                if pending_id not in rows:
                    continue
                row, meta = rows[pending_id]
                reason = damage(row.path, row.size_bytes, meta.get("header"))
                if reason is not None and pending_id not in refused:
                    refused.add(pending_id)
                    report.refused.append({"id": pending_id, "reason": reason})
        return [pending_id for pending_id in ids if pending_id not in refused]

    async def _import_plain(self, ids: list[int], report: ImportReport, asked: int) -> dict[int, str]:
        """The rows that are plainly new models (ready, their content in no model and in no other queued row,
        no images to carry over) imported in one transaction; the ids it took, with their paths. Whatever it
        leaves, or a batch that fails as a whole, goes row by row. `asked`: how many rows the whole import has,
        which sets whether each gets its own line at info."""
        rows = await self.store.pending.pending_rows(ids)
        ready = {i: rows[i] for i in ids if i in rows and rows[i][0].status == "ready" and rows[i][0].sha256}
        if not ready:
            return {}
        shas = [row.sha256 for row, _ in ready.values() if row.sha256]
        by_sha, _ = await self.store.models.models_of(shas, [])
        queued = await self.store.pending.hashed_shas(shas)
        with_images = await self.store.images.with_pending_images(list(ready))
        promotions = [
            Promotion(pending_id=i, sha256=row.sha256, mode="new", name=display_name(row.path), type=row.type,
                      base_model=meta.get("base_model") or "unknown", meta_json=meta, main_path=row.path,
                      main_stat=row.stat, copies=[], images=[], aliases=[])
            for i, (row, meta) in ready.items()
            if row.sha256 and row.sha256 not in by_sha and queued.get(row.sha256) == 1 and i not in with_images
        ]
        if not promotions:
            return {}
        done = await self._promote_new(promotions, file_line_level(asked), "they are imported one by one")
        report.imported.extend({"id": pending_id, "sha256": sha256} for pending_id, (_, sha256) in done.items())
        return {pending_id: path for pending_id, (path, _) in done.items()}

    async def import_hashed(self, hashed: list[tuple[PendingRow, HashRecord]]) -> set[int]:
        """Auto-import of files just hashed whose content no model has and no other row shares: each becomes a
        model in the transaction that would have recorded it ready, all of them in one. The caller holds the
        decision lock. The ids imported; the caller records the others as it would have."""
        promotions = [
            Promotion(pending_id=row.id, sha256=record.sha256, mode="new", name=display_name(row.path), type=row.type,
                      base_model=record.meta_json.get("base_model") or "unknown", meta_json=record.meta_json,
                      main_path=row.path, main_stat=record.stat, copies=[], images=[], hashed=record)
            for row, record in hashed if damage(row.path, record.stat.size, record.meta_json.get("header")) is None]
        done = await self._promote_new(promotions, file_line_level(len(promotions)), "they are recorded ready")
        if len(done) > 1:
            log.info("%d files imported into the library as new models", len(done), extra={
                "event": "import.batch", "files": len(done), **batch_fields([path for path, _ in done.values()])})
        return set(done)

    async def _promote_new(self, promotions: list[Promotion], level: int, fallback: str) -> dict[int, tuple[str, str]]:
        """`promote_new`, each model announced; the ids made models, with their paths and contents. A batch that
        fails as a whole makes none (`fallback`: what happens to its rows then, for the log)."""
        try:
            models = {m.sha256: m for m in await self.store.imports.promote_new(promotions)}
        except StoreUnreachable:
            raise
        except Exception:
            log.warning("importing %d rows together failed; %s", len(promotions), fallback, exc_info=True,
                        extra={"event": "import.batch_failed"})
            return {}
        done: dict[int, tuple[str, str]] = {}
        for p in promotions:
            model = models.get(p.sha256)
            if model is None:
                continue
            done[p.pending_id] = (p.main_path, model.sha256)
            log.log(level, "imported into the library", extra={
                "event": "model.imported", "path": p.main_path, "sha256": model.sha256, "strategy": "new",
                "model_path": model.path})
            self.bus.publish(PendingRemoved(id=p.pending_id, path=p.main_path))
            self.bus.publish(ModelAdded(sha256=model.sha256, path=model.path, status=model.status))
        return done

    async def _best_first(self, ids: list[int]) -> list[int]:
        """The batch in its order, except that rows with the same content go together, richest first, then the
        oldest file (the original is older than the copy made of it), then as asked."""
        rows = {i: await self.store.pending.pending(i) for i in dict.fromkeys(ids)}
        groups: dict[str, list[int]] = {}
        for i, row in rows.items():
            if row is not None and row.sha256 is not None:
                groups.setdefault(row.sha256, []).append(i)
        rank: dict[int, tuple[int, int, int]] = {}
        for members in groups.values():
            if len(members) < 2:
                continue
            for position, i in enumerate(members):
                row = rows[i]
                assert row is not None
                meta = await self.store.pending.pending_meta(i) or {}
                score = richness(meta, len(await self.store.images.pending_images(i)),
                                 len(await self.store.pending.pending_tag_names(i)))
                rank[i] = (-score, row.mtime_ns, position)
        ordered: list[int] = []
        placed: set[int] = set()
        for i in ids:
            if i in placed:
                continue
            row = rows.get(i)
            group = groups.get(row.sha256, [i]) if row is not None and row.sha256 is not None else [i]
            for member in sorted(group, key=lambda m: rank.get(m, (0, 0, 0))) if i in rank else [i]:
                ordered.append(member)
                placed.add(member)
        return ordered

    async def _one(
        self, pending_id: int, strategy: str | None, delete_files: bool, report: ImportReport
    ) -> list[tuple[int, str]]:
        """Import one row; (id, sha256) of the other queued rows that joined the model as names of its files."""
        row = await self.store.pending.pending(pending_id)
        if row is None:
            report.failed.append({"id": pending_id, "error": "no pending item with this id"})
            return []
        if row.status in ("settling", "hashing"):
            report.failed.append({"id": pending_id, "error": f"still {row.status}; import it once it is hashed"})
            return []
        if row.status == "error":
            report.failed.append({"id": pending_id, "error": f"the file could not be hashed: {row.error}"})
            return []
        if row.status == "ignored":
            report.failed.append({"id": pending_id, "error": "ignored; restore it to the queue first"})
            return []
        assert row.sha256 is not None
        existing = await self.store.models.model(row.sha256)
        if existing is not None:
            own = [existing.path, *await self.store.copies.copies_of(existing.sha256)]
            same = await asyncio.to_thread(same_as_any, row.path, own)
            if same is not None or await self.store.models.elsewhere(existing.sha256):
                await self._join(row, existing.sha256, same)
                report.imported.append({"id": pending_id, "sha256": existing.sha256})
                return []
        if existing is None:
            model, aliases = await self._promote(row, None, "new")
            report.imported.append({"id": pending_id, "sha256": model.sha256})
            return [(a.pending_id, model.sha256) for a in aliases]
        elif strategy is None:
            report.conflicts.append({"id": pending_id, "pending": row.to_wire(), "existing": model_summary(existing)})
        elif strategy == "ignore":
            updated = await self.store.pending.set_pending_status(pending_id, "ignored")
            if updated is not None:
                log.info("ignored at the user's asking: same content as a model in the library", extra={
                    "event": "file.ignored", "path": row.path, "sha256": row.sha256})
                self.bus.publish(PendingUpdated(id=pending_id, path=row.path, status="ignored"))
            report.ignored.append(pending_id)
        elif strategy == "delete":
            reason = await self._delete(row, existing, delete_files, report)
            if reason is None:
                report.deleted.append(pending_id)
            else:
                report.failed.append({"id": pending_id, "error": reason})
        else:
            model, aliases = await self._promote(row, existing, strategy)
            report.imported.append({"id": pending_id, "sha256": model.sha256})
            return [(a.pending_id, model.sha256) for a in aliases]
        return []

    async def _join(self, row: PendingRow, sha256: str, same_as: str | None) -> None:
        """The row's file is one of the model's own files under another name (`same_as`), or the model's file on
        this host when its other files are on other hosts of a shared library (None): it becomes one of its
        paths, never a duplicate."""
        st = await asyncio.to_thread(stat_file, row.path) or row.stat
        meta = await self.store.pending.pending_meta(row.id) or {}
        await self.store.imports.absorb(row.id, sha256, meta, [], (row.path, st))
        await asyncio.to_thread(self.files.remove_pending, row.id)
        if same_as is not None:
            log.info("another name of the model's own file: recorded as one of its paths, never a duplicate",
                     extra={"event": "file.alias", "path": row.path, "sha256": sha256, "same_as": same_as})
        else:
            log.info("the model's file on this host (its other files are on other hosts): recorded as one of its "
                     "paths", extra={"event": "file.here", "path": row.path, "sha256": sha256})
        self.bus.publish(PendingRemoved(id=row.id, path=row.path))
        self.bus.publish(ModelUpdated(sha256=sha256))

    async def _delete(self, row: PendingRow, model: ModelRow, delete_files: bool, report: ImportReport) -> str | None:
        """Drop a duplicate row after the model has taken what it lacked of it; with `delete_files` its file goes
        to the trash. The reason it could not be done, or None."""
        assert row.sha256 is not None
        if delete_files:
            try:
                await asyncio.to_thread(check_trashable, row.path, row.stat, self.roots)
            except Refused as e:
                log.info("not trashed: %s", e, extra={"event": "file.kept", "path": row.path, "sha256": row.sha256})
                return str(e)
        images = await self.store.images.pending_images(row.id)
        if images and await self.store.images.model_image_count(model.sha256):
            images = []  # the model has pictures of its own; the duplicate's previews go with its row
        seqs = await self.store.images.reserve_image_seqs(model.sha256, len(images))
        await asyncio.to_thread(self._adopt, row.id, model.sha256, images, seqs)
        meta = await self.store.pending.pending_meta(row.id) or {}
        try:
            absorbed = await self.store.imports.absorb(row.id, model.sha256, meta,
                                               [(seq, w, h) for seq, (_, w, h) in zip(seqs, images, strict=True)],
                                               None)
        except BaseException:
            await asyncio.to_thread(self.files.remove_model, model.sha256, seqs)
            raise
        if not absorbed:
            await asyncio.to_thread(self.files.remove_model, model.sha256, seqs)
            return "the model this item duplicates is gone; import it instead"
        await asyncio.to_thread(self.files.remove_pending, row.id)
        self.bus.publish(PendingRemoved(id=row.id, path=row.path))
        self.bus.publish(ModelUpdated(sha256=model.sha256))
        if not delete_files:
            log.info("queue item dropped at the user's asking; the file stays", extra={
                "event": "file.deleted", "path": row.path, "sha256": row.sha256, "trashed": False})
            return None
        own = [model.path, *await self.store.copies.copies_of(model.sha256)]
        try:
            gone = await asyncio.to_thread(trash, row.path, row.stat, self.roots, own)
        except (Refused, OSError) as e:
            why = str(e) if isinstance(e, Refused) else (e.strerror or str(e))
            log.warning("the duplicate's queue item was dropped, but its file was not trashed: %s", why, extra={
                "event": "file.kept", "path": row.path, "sha256": row.sha256})
            return f"the item was dropped, but its file was not trashed: {why}"
        report.trashed.append({"id": row.id, "path": row.path, "along": gone[1:]})
        log.info("moved to the trash at the user's asking", extra={
            "event": "file.deleted", "path": row.path, "sha256": row.sha256, "trashed": True,
            "along": [os.path.basename(p) for p in gone[1:]]})
        return None

    async def _promote(
        self, row: PendingRow, existing: ModelRow | None, mode: str
    ) -> tuple[ModelRow, list[Alias]]:
        assert row.sha256 is not None
        pending_meta = await self.store.pending.pending_meta(row.id) or {}
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
        own = [main_path, *(p for p, _ in copies)]
        if existing is not None:
            own += [p for p in await self.store.copies.copies_of(existing.sha256) if p not in own]
        aliases = await self._aliases(row, own)
        images = await self.store.images.pending_images(row.id)
        seqs = await self.store.images.reserve_image_seqs(row.sha256, len(images))
        await asyncio.to_thread(self._adopt, row.id, row.sha256, images, seqs)
        numbers = {pending_seq: seq for (pending_seq, _, _), seq in zip(images, seqs, strict=True)}
        promotion = Promotion(
            pending_id=row.id, sha256=row.sha256, mode="new" if existing is None else mode, name=name, type=type_,
            base_model=base_model, meta_json=renumbered(pending_meta, numbers, row.sha256), main_path=main_path,
            main_stat=main_stat, copies=copies,
            images=[(seq, w, h) for seq, (_, w, h) in zip(seqs, images, strict=True)], aliases=aliases,
        )
        try:
            model, twins = await self.store.imports.promote(promotion)
        except BaseException:
            await asyncio.to_thread(self.files.remove_model, row.sha256, seqs)
            raise
        await asyncio.to_thread(self.files.remove_pending, row.id)
        log.info("imported into the library", extra={
            "event": "model.imported", "path": row.path, "sha256": model.sha256, "strategy": promotion.mode,
            "model_path": model.path})
        self.bus.publish(PendingRemoved(id=row.id, path=row.path))
        for alias in aliases:
            await asyncio.to_thread(self.files.remove_pending, alias.pending_id)
            log.info("another name of the model's own file: recorded as one of its paths, never a duplicate",
                     extra={"event": "file.alias", "path": alias.path, "sha256": model.sha256})
            self.bus.publish(PendingRemoved(id=alias.pending_id, path=alias.path))
        for twin in twins:
            log.info("same content as the model just imported", extra={
                "event": "file.conflict", "path": twin.path, "sha256": twin.sha256, "conflict_sha256": model.sha256})
            self.bus.publish(PendingUpdated(id=twin.id, path=twin.path, status=twin.status, sha256=twin.sha256,
                                            conflict_sha256=twin.conflict_sha256))
        wire = {"sha256": model.sha256, "path": model.path, "status": model.status}
        self.bus.publish(ModelUpdated(**wire) if existing else ModelAdded(**wire))
        return model, aliases

    async def _aliases(self, row: PendingRow, own: list[str]) -> list[Alias]:
        """The other queued rows with this content whose file is one of `own` (the model's files afterwards)."""
        assert row.sha256 is not None
        found: list[Alias] = []
        for twin in await self.store.pending.pending_twins(row.sha256):
            if twin.id == row.id:
                continue
            if await asyncio.to_thread(same_as_any, twin.path, own) is not None:
                st = await asyncio.to_thread(stat_file, twin.path) or twin.stat
                found.append(Alias(twin.id, twin.path, st, await self.store.pending.pending_meta(twin.id) or {}))
        return found

    def _adopt(self, pending_id: int, sha256: str, images: list[tuple[int, int, int]], seqs: list[int]) -> None:
        for (pending_seq, _, _), seq in zip(images, seqs, strict=True):
            self.files.adopt_pending(pending_id, pending_seq, sha256, seq)

    async def restore(self, ids: list[int]) -> dict[str, list[Any]]:
        """Ignored rows back to the queue: ready, or conflict if their content is in the library."""
        restored: list[int] = []
        failed: list[dict[str, Any]] = []
        for pending_id in ids:
            async with self.lock:
                row = await self.store.pending.pending(pending_id)
                if row is None or row.status != "ignored":
                    failed.append({"id": pending_id, "error": "not an ignored pending item"})
                    continue
                existing = await self.store.models.model(row.sha256) if row.sha256 else None
                status: HashedStatus = "conflict" if existing is not None else "ready"
                await self.store.pending.set_pending_conflict(pending_id, status, existing.sha256 if existing else None)
                log.info("restored to the queue at the user's asking", extra={
                    "event": "file.restored", "path": row.path, "sha256": row.sha256, "status": status})
                self.bus.publish(PendingUpdated(id=pending_id, path=row.path, status=status))
                restored.append(pending_id)
        return {"restored": restored, "failed": failed}
