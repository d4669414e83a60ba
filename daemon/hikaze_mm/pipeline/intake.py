"""Hashes settled files and files the result: a ready or conflicting pending row, or a relinked model.

Small files go first, so a batch of LoRAs is not stuck behind a 20 GB checkpoint; files over SMALL_FILE_BYTES go
smallest first.

While the library's database is away, nothing is hashed (a file's row must say `hashing` first) and a hash whose
outcome cannot be written is parked with the file's path (pipeline/outage.py): `record_kept` writes it once the
database answers, if the file is unchanged, so the file is not read again.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import (
    HashProgressed,
    ModelMissing,
    ModelRelinked,
    ModelUpdated,
    PendingHashed,
    PendingRemoved,
    PendingUpdated,
)
from hikaze_mm.inspect.companions import find_companions, stored_header, suggested_base_model, suggested_fields
from hikaze_mm.inspect.file_identity import same_as_any
from hikaze_mm.inspect.folder_names import FolderNames
from hikaze_mm.inspect.probe import Header
from hikaze_mm.inspect.sidecars import Sidecars
from hikaze_mm.library import metadata as meta_mod
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.images import EncodedImage, ImageError, encode_tiers_from_file
from hikaze_mm.pipeline.batch_lines import batch_fields, file_line_level
from hikaze_mm.pipeline.decisions import DecisionLock, FileDecisions
from hikaze_mm.pipeline.hashing import (
    INLINE_SHA_BYTES,
    FileChanged,
    HashCancelled,
    HashPool,
    HashResult,
    probe_file,
)
from hikaze_mm.pipeline.settle import DISK_FULL_RETRY_S, Settler, disk_full
from hikaze_mm.pipeline.walk import FileStat, stat_file
from hikaze_mm.store.errors import StorageFull, StoreUnreachable
from hikaze_mm.store.interfaces import CopyStore, ImageStore, ImportStore, ModelStore, PendingStore, ShareStore
from hikaze_mm.store.records import HashedStatus, HashRecord, PendingRow, Removal

log = logging.getLogger(__name__)
# The process (EMFILE) or the system (ENFILE) is out of file descriptors: nothing is wrong with the file, so it is
# tried again, the first time after a second and then each time after twice as long, up to a minute.
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
# Files up to this size waiting together are hashed and recorded as one batch of up to BATCH_FILES. A batch's
# decisions cost a few dozen trips to the database thread however many files it holds, and they hold the decision
# lock for a tenth of a second or so at this size (a first index is bound by that lock).
SMALL_FILE_BYTES = INLINE_SHA_BYTES
SHARE_WAIT_S = 2.0  # how soon a share's file another host is reading is looked at again
BATCH_FILES = 1024
# A batch's summary line: each outcome's field (a log key, so one word) and its words in the message.
OUTCOMES = {"imported": "imported as new models", "ready": "ready",
            "conflict": "same content as a model in the library",
            "known": "known to the library (unchanged, moved back or another name of a model's file)"}
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


@dataclass
class Beside:
    """What lies beside a freshly hashed file: what its sidecars say, and its previews encoded for storing."""

    sidecars: Sidecars
    previews: list[tuple[str, EncodedImage]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def look_beside(path: str, with_previews: bool, names: FolderNames | None = None) -> Beside:
    """Blocking: reads the sidecars and encodes the previews; run it in a thread."""
    companions = find_companions(path, with_previews, names)
    found = Beside(companions.sidecars)
    for preview in companions.previews:
        try:
            found.previews.append((preview, encode_tiers_from_file(preview)))
        except (ImageError, OSError) as e:
            found.errors.append(f"{preview}: {e}")
    return found


class IntakeStore(Protocol):
    """The parts of the store that the intake of hashed files writes to."""

    pending: PendingStore
    models: ModelStore
    copies: CopyStore
    images: ImageStore
    imports: ImportStore


class Intake:
    def __init__(self, store: IntakeStore, bus: EventBus, pool: HashPool, decisions: FileDecisions, lock: DecisionLock,
                 settler: Settler, files: ImageFiles, shares: ShareStore | None = None):
        self.store = store
        self.shares = shares  # a shared library's share folders: their files are read by one host for all
        self.bus = bus
        self.pool = pool
        self.decisions = decisions
        self.lock = lock
        self.settler = settler
        self.files = files
        # Auto-import: rows recorded ready are handed to `on_ready`; files just hashed that are plainly new and
        # share their content with no other row go to `import_new` instead, which makes them models in the
        # transaction that would have recorded them ready and says which it took (under the decision lock).
        self.on_ready: Callable[[list[int]], Awaitable[Any]] | None = None
        self.import_new: Callable[[list[tuple[PendingRow, HashRecord]]], Awaitable[set[int]]] | None = None
        # (0 for a small file, else its size; arrival; path; stat)
        self._queue: asyncio.PriorityQueue[tuple[int, int, str, FileStat]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._queued: set[str] = set()
        self._hashing: set[str] = set()
        self._out_of_descriptors: dict[str, int] = {}  # path -> tries that found no descriptor free
        self.files_hashed = 0  # since start: lets a user (and a test) see that unchanged files are not re-read
        self.bytes_hashed = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def queued(self) -> int:
        return len(self._queued)

    @property
    def hashing(self) -> int:
        return len(self._hashing)

    def has(self, path: str) -> bool:
        """Queued or being hashed right now."""
        return path in self._queued or path in self._hashing

    def start(self) -> list[asyncio.Task[None]]:
        self._tasks = [asyncio.create_task(self._worker(), name=f"hash-{i}") for i in range(self.pool.workers)]
        return self._tasks

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def idle(self) -> bool:
        return not self._queued and not self._hashing

    async def on_stable(self, path: str, st: FileStat) -> None:
        """The settler's verdict: hash this file now."""
        if path in self._queued:
            return
        self._queued.add(path)
        # Small files go in the order they settled, which is mostly a walk's folder by folder: a batch then
        # lists a few folders to look beside its files, not one folder for each file.
        # A share's file goes on its own, whatever its size: another host may be reading it, or have read it.
        small = st.size <= SMALL_FILE_BYTES and (self.shares is None or self.shares.place(path) is None)
        self._queue.put_nowait((0 if small else max(st.size, 1), next(self._order), path, st))

    async def _worker(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if batch[0][0] == 0:
                # The other small files waiting go along: one transaction, one thread hand-off and one summary
                # line for the lot instead of a few of each per file.
                while len(batch) < BATCH_FILES and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item[0] != 0:
                        self._queue.put_nowait(item)
                        break
                    batch.append(item)
            paths = [path for _, _, path, _ in batch]
            self._queued.difference_update(paths)
            self._hashing.update(paths)
            try:
                if len(batch) == 1:
                    await self._hash_one(paths[0], batch[0][3])
                else:
                    await self._hash_batch([(path, st) for _, _, path, st in batch])
            except asyncio.CancelledError:
                raise
            except StoreUnreachable as e:
                # Parked as they are (a hash already made is parked with its result where it was made).
                self.decisions.outage.lost(e)
                for path in paths:
                    self.decisions.outage.park(path)
            except StorageFull as e:
                disk_full(e, paths)
                for path in paths:
                    self.settler.touch(path, DISK_FULL_RETRY_S)
            except Exception:
                for path in paths:
                    log.exception("hashing failed unexpectedly", extra={"event": "file.error", "path": path})
            finally:
                self._hashing.difference_update(paths)

    async def _hash_one(self, path: str, st: FileStat) -> None:
        async with self.decisions.deciding():
            row = await self.store.pending.pending_by_path(path)
            if row is None or (row.status in ("ready", "conflict", "ignored") and row.stat == st):
                return  # gone, or already hashed as it is
            row = await self.store.pending.set_pending_status(row.id, "hashing", st)
            if row is None:
                return
            self.bus.publish(PendingUpdated(id=row.id, path=path, status="hashing"))

        def progress(done: int, total: int) -> None:
            self.bus.publish(HashProgressed(id=row.id, path=path, bytes_done=done, bytes_total=total))

        shares = self.shares if self.shares is not None and self.shares.place(path) is not None else None
        try:
            if shares is not None:
                known = await shares.known_hashes(path, st)
                if known is None:
                    if not await shares.claim(path, st):
                        await self._wait_for_share(row, path, st)
                        return
                    # Another host may have read it, recorded it and let its claim go since the first look.
                    known = await shares.known_hashes(path, st)
                if known is not None:
                    await self._record_shared(row, path, st, known)
                    return
            try:
                result = await self.pool.hash(path, st, progress)
            except HashCancelled:
                return
            except (FileChanged, OSError) as e:
                await self._failed(row.id, path, e)
                return
            self._out_of_descriptors.pop(path, None)
            self.files_hashed += 1
            self.bytes_hashed += result.stat.size
            try:
                await self._record(row.id, path, result)
            except StoreUnreachable:
                self.decisions.outage.park(path, result)
                raise
        finally:
            if shares is not None:
                await shares.release(path)

    async def _record_shared(self, row: PendingRow, path: str, st: FileStat, known: tuple[str, str]) -> None:
        """A share's file that another host of the library has read: its hashes are used, and only its header is
        read here (for what it says of the model)."""
        try:
            header = await asyncio.to_thread(probe_file, path, st)
        except (FileChanged, OSError) as e:
            await self._failed(row.id, path, e)
            return
        log.info("hashed by another host of the library: its hashes are used", extra={
            "event": "hash.shared", "path": path, "sha256": known[0]})
        await self._record(row.id, path, HashResult(known[0], known[1], st, header, 0.0))

    async def _wait_for_share(self, row: PendingRow, path: str, st: FileStat) -> None:
        """Another host of the library is reading this file of the share: the row waits, and the file is looked
        at again shortly, when its hashes are likely recorded (or the other host's claim has gone stale)."""
        async with self.decisions.deciding():
            waiting = await self.store.pending.set_pending_status(row.id, "settling", st)
        if waiting is not None:
            self.bus.publish(PendingUpdated(id=row.id, path=path, status="settling"))
            log.debug("another host of the library is reading this file; waiting for its hashes", extra={
                "event": "hash.waiting", "path": path})
            self.settler.touch(path, SHARE_WAIT_S)

    async def _hash_batch(self, files: list[tuple[str, FileStat]]) -> None:
        """Small files hashed together: marked `hashing` in one transaction, read one after another in one
        thread, and those that turn out plainly new recorded in one transaction."""
        async with self.decisions.deciding():
            rows = await self.store.pending.start_hashing(files)
        for row in rows:
            self.bus.publish(PendingUpdated(id=row.id, path=row.path, status="hashing"))
        with_images = await self.store.images.with_pending_images([row.id for row in rows])

        def beside(path: str, _: HashResult) -> Beside:
            return look_beside(path, by_path[path].id not in with_images, names)

        names = FolderNames()  # a batch's files mostly share a few folders: each is listed once

        by_path = {row.path: row for row in rows}
        try:
            outcomes = await self.pool.hash_many([(row.path, row.stat) for row in rows], beside)
        except HashCancelled:
            return
        hashed: list[tuple[int, str, HashResult, Beside]] = []
        try:
            for row, outcome in zip(rows, outcomes, strict=True):
                if isinstance(outcome, tuple):
                    self._out_of_descriptors.pop(row.path, None)
                    self.files_hashed += 1
                    self.bytes_hashed += outcome[0].stat.size
                    hashed.append((row.id, row.path, *outcome))
                else:
                    await self._failed(row.id, row.path, outcome)
            await self._record_many(hashed, with_images)
        except StoreUnreachable:
            for _, path, result, _ in hashed:
                self.decisions.outage.park(path, result)
            raise

    async def record_kept(self, path: str, result: HashResult) -> None:
        """A hash parked while the database was away, written now: the file is as it was hashed (the caller saw
        it so). Its row is taken back to `hashing` and the result recorded as if just made; a row that has been
        recorded meanwhile (the outcome was written before the connection broke) is left as it is."""
        try:
            async with self.decisions.deciding():
                row = await self.store.pending.pending_by_path(path)
                if row is None or row.stat != result.stat or row.status in ("ready", "conflict", "ignored"):
                    row = None
                elif row.status != "hashing":
                    row = await self.store.pending.set_pending_status(row.id, "hashing", result.stat)
            if row is None:
                await self.decisions.caught_up(path, result.stat)
                return
            self._hashing.add(path)
            try:
                await self._record(row.id, path, result)
            finally:
                self._hashing.discard(path)
        except StoreUnreachable as e:
            self.decisions.outage.lost(e)
            self.decisions.outage.park(path, result)

    async def _failed(self, pending_id: int, path: str, error: FileChanged | OSError) -> None:
        """The file could not be hashed as it was: it changed (hashed again once quiet), vanished, or could not be
        read (tried again later when the process was out of descriptors, else an error on its row)."""
        if isinstance(error, FileChanged):
            log.info("changed while it was hashed; the hash is thrown away", extra={
                "event": "hash.discarded", "path": path})
            await self.decisions.seen(path)
        elif isinstance(error, FileNotFoundError):
            await self.decisions.gone(path)
        elif error.errno in OUT_OF_DESCRIPTORS:
            await self._retry_later(pending_id, path, error)
        else:
            self._out_of_descriptors.pop(path, None)
            await self._error(pending_id, path, f"cannot read the file: {error.strerror or error}")

    @staticmethod
    def _meta(meta: dict[str, Any], result: HashResult, found: Beside) -> dict[str, Any]:
        """The row's metadata after hashing: what it had wins; header and sidecars fill the gaps."""
        meta = meta_mod.merge(meta, suggested_fields(result.header, found.sidecars))
        meta["header"] = stored_header(result.header)
        if found.sidecars:
            meta["sidecars"] = found.sidecars
        if meta.get("base_model", "unknown") == "unknown":
            meta["base_model"] = suggested_base_model(result.header, found.sidecars)
        if found.errors:
            meta["discovery_errors"] = found.errors
        claimed = meta.get("legacy_sha256")
        if claimed and claimed != result.sha256:
            log.warning("the v1 database said sha256 %s, the file hashes to %s", claimed, result.sha256, extra={
                "event": "file.hash_mismatch", "sha256": result.sha256, "claimed_sha256": claimed})
            meta["legacy_sha256_mismatch"] = {"claimed": claimed, "actual": result.sha256}
        return meta

    async def _retry_later(self, pending_id: int, path: str, error: OSError) -> None:
        tries = self._out_of_descriptors[path] = self._out_of_descriptors.get(path, 0) + 1
        wait = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (tries - 1))
        log.warning("cannot be opened now (%s); it is tried again in %g s", error.strerror or error, wait, extra={
            "event": "file.retry_later", "path": path})
        async with self.decisions.deciding():
            row = await self.store.pending.pending(pending_id)
            if row is None or row.path != path or row.status != "hashing":
                return
            row = await self.store.pending.set_pending_status(pending_id, "settling")
            if row is None:
                return
            self.bus.publish(PendingUpdated(id=row.id, path=path, status=row.status))
        self.settler.touch(path, wait)

    async def _error(self, pending_id: int, path: str, reason: str) -> None:
        log.warning("cannot be hashed", extra={"event": "file.error", "path": path, "reason": reason})
        async with self.decisions.deciding():
            row = await self.store.pending.pending(pending_id)
            if row is None or row.path != path:
                return
            st = await asyncio.to_thread(stat_file, path)
            row = await self.store.pending.set_pending_error(pending_id, reason, st)
            if row is not None:
                self.bus.publish(PendingUpdated(id=row.id, path=path, status=row.status))

    async def _record(self, pending_id: int, path: str, result: HashResult) -> None:
        has_images = bool(await self.store.images.pending_images(pending_id))
        found = await asyncio.to_thread(look_beside, path, not has_images)
        await self._record_many([(pending_id, path, result, found)], {pending_id} if has_images else set())

    async def _record_many(self, hashed: list[tuple[int, str, HashResult, Beside]], with_images: set[int]) -> None:
        """Files hashed: those plainly new (no model has their content or their path, no previews to store) are
        recorded `ready` in one transaction, or with auto-import made models in one; each of the others is
        decided on its own, under the lock on its own (a batch of previews to store must not hold up every other
        decision). Either way each file is all or nothing. `with_images`: the rows that hold images already."""
        if not hashed:
            return
        ready: list[int] = []
        tally: Counter[str] = Counter()
        level = file_line_level(len(hashed))
        others: list[tuple[int, str, HashResult, Beside]] = []
        async with self.decisions.deciding():
            rows = await self.store.pending.pending_rows([pending_id for pending_id, _, _, _ in hashed])
            by_sha, by_path = await self.store.models.models_of(
                [result.sha256 for _, _, result, _ in hashed], [path for _, path, _, _ in hashed])
            plain: list[tuple[PendingRow, HashRecord]] = []
            for pending_id, path, result, found in hashed:
                row, meta = rows.get(pending_id, (None, {}))
                if row is None or row.path != path or row.status != "hashing":
                    continue  # moved, deleted or re-settled while hashing: the newer report wins
                if result.sha256 in by_sha or path in by_path or found.previews:
                    others.append((pending_id, path, result, found))
                    continue
                plain.append((row, HashRecord(result.sha256, result.blake3, result.stat, "ready", None,
                                              self._meta(meta, result, found))))
                _log_hashed(path, "ready", result, None, level)  # whether it stops there or is imported at once
            imported, announced = await self._import_at_once(plain, with_images)
            if imported:
                tally["imported"] = len(imported)
            recorded = [(row.id, record) for row, record in plain if row.id not in imported]
            for row in await self.store.pending.record_hashes(recorded) if recorded else []:
                if row.id not in announced:
                    self.bus.publish(_hashed_event(row))
                tally["ready"] += 1
                ready.append(row.id)
        for pending_id, path, result, found in others:
            async with self.decisions.deciding():
                now = await self.store.pending.pending(pending_id)
                if now is None or now.path != path or now.status != "hashing":
                    continue
                decided = await self._record_locked(now, result, found, level)
            tally[decided.status if decided is not None else "known"] += 1
            if decided is not None and decided.status == "ready":
                ready.append(decided.id)
        if len(hashed) > 1:
            size = sum(result.stat.size for _, _, result, _ in hashed)
            log.info("%d files hashed (%.1f MB): %s", len(hashed), size / 1e6,
                     ", ".join(f"{n} {OUTCOMES[what]}" for what, n in sorted(tally.items())), extra={
                         "event": "hash.batch", "files": len(hashed), "size": size, **tally,
                         **batch_fields([path for _, path, _, _ in hashed])})
        if ready and self.on_ready is not None:
            await self.on_ready(ready)

    async def _record_locked(
        self, row: PendingRow, result: HashResult, found: Beside, level: int
    ) -> PendingRow | None:
        path = row.path
        at_path = await self.store.models.model_by_path(path)
        if at_path is not None and at_path.sha256 != result.sha256 and at_path.status == "ok":
            # The model's file was overwritten with other content: that model is no longer on disk.
            missing = await self.store.models.set_model_missing(at_path.sha256)
            log.info("the model's file was overwritten with other content", extra={
                "event": "model.missing", "path": path, "sha256": at_path.sha256, "new_sha256": result.sha256})
            if missing is not None:
                self.bus.publish(ModelMissing(sha256=missing.sha256, path=missing.path, status=missing.status))
        meta = await self.store.pending.pending_meta(row.id) or {}
        known = await self.store.models.model(result.sha256)
        if known is not None and await self.store.models.elsewhere(known.sha256):
            # A shared library's model whose files are all on other hosts: this is its file here.
            await self.store.imports.absorb(row.id, known.sha256, self._meta(meta, result, found), [],
                                            (path, result.stat))
            log.log(level, "the model's file on this host (its other files are on other hosts)", extra={
                "event": "file.here", "path": path, "sha256": known.sha256, **_timing(result)})
            self.bus.publish(PendingRemoved(id=row.id, path=path))
            self.bus.publish(ModelUpdated(sha256=known.sha256))
            return None
        if known is not None:
            here = known.path == path
            if here or known.status == "missing" or not await asyncio.to_thread(os.path.isfile, known.path):
                # Whatever the row carried (tags, notes from the first version) joins the model first.
                tags = await self.store.pending.pending_tag_names(row.id)
                await self.store.models.enrich_model(result.sha256, meta, tags)
                relinked = await self.store.models.relink_model(result.sha256, path, row.type, result.stat, row.id)
                if here:
                    log.log(level, "same content as before: the model is kept", extra={
                        "event": "model.unchanged", "path": path, "sha256": result.sha256, **_timing(result)})
                else:
                    log.log(level, "the content of a model whose file was missing: relinked, its metadata kept", extra={
                        "event": "model.relinked", "path": path, "old_path": known.path, "sha256": result.sha256,
                        **_timing(result)})
                self.bus.publish(PendingRemoved(id=row.id, path=path))
                if relinked is not None and not here:
                    self.bus.publish(ModelRelinked(sha256=relinked.sha256, path=path, status=relinked.status,
                                                   old_path=known.path))
                return None
        if known is not None:
            own = [known.path, *await self.store.copies.copies_of(known.sha256)]
            same = await asyncio.to_thread(same_as_any, path, own)
            if same is not None:
                # One of the model's own files under another name (a symlinked folder, a bind mount): one of its
                # paths, never a conflict with itself.
                await self.store.imports.absorb(row.id, known.sha256, self._meta(meta, result, found), [],
                                                (path, result.stat))
                log.log(level, "another name of the model's own file: recorded as one of its paths", extra={
                    "event": "file.alias", "path": path, "sha256": known.sha256, "same_as": same})
                self.bus.publish(PendingRemoved(id=row.id, path=path))
                self.bus.publish(ModelUpdated(sha256=known.sha256))
                return None
        status: HashedStatus = "conflict" if known is not None else "ready"
        record = HashRecord(result.sha256, result.blake3, result.stat, status,
                            known.sha256 if known is not None else None, self._meta(meta, result, found))
        for seq, (source, image) in enumerate(found.previews):
            await asyncio.to_thread(self.files.write_pending, row.id, seq, image)
            await self.store.images.add_pending_image(row.id, seq, image.width, image.height, source)
        recorded = await self.store.pending.record_hash(row.id, record)
        if recorded is not None:
            self.bus.publish(_hashed_event(recorded))
            _log_hashed(path, recorded.status, result, record.conflict_sha256, level)
        return recorded

    async def _import_at_once(self, plain: list[tuple[PendingRow, HashRecord]],
                              with_images: set[int]) -> tuple[set[int], set[int]]:
        """With auto-import, the plainly new files that no other row shares content with (the importer picks the
        best of twins, which `import_new` does not) and that bring no images, made models at once: the ids
        imported, and the ids whose hashing was announced (all that were tried)."""
        if self.import_new is None or not plain:
            return set(), set()
        twins = Counter(record.sha256 for _, record in plain)
        queued = await self.store.pending.hashed_shas(list(twins))
        alone = [(row, record) for row, record in plain
                 if twins[record.sha256] == 1 and record.sha256 not in queued and row.id not in with_images]
        for row, record in alone:  # hashed and ready, if only until the import (the progress shown counts it)
            self.bus.publish(PendingHashed(id=row.id, path=row.path, status="ready", sha256=record.sha256,
                                           blake3=record.blake3, conflict_sha256=None, size_bytes=record.stat.size))
        return (await self.import_new(alone) if alone else set()), {row.id for row, _ in alone}

    async def refile(self, removal: Removal) -> None:
        """Files whose model was taken out of the library, back in the queue: recorded again from the hashes the
        library had, without reading them, if they are unchanged since; else looked at afresh."""
        for row in removal.released:
            if row.status != "hashing" or row.sha256 is None or row.blake3 is None:
                continue
            st = await asyncio.to_thread(stat_file, row.path)
            if st != row.stat:
                await (self.decisions.seen(row.path, st) if st is not None else self.decisions.gone(row.path))
                continue
            # The header as the library kept it: the probe's findings, long metadata values left out.
            header = cast(Header, removal.header)
            await self._record(row.id, row.path, HashResult(row.sha256, row.blake3, st, header, 0.0))


def _hashed_event(recorded: PendingRow) -> PendingHashed:
    return PendingHashed(id=recorded.id, path=recorded.path, status=recorded.status, sha256=recorded.sha256,
                         blake3=recorded.blake3, conflict_sha256=recorded.conflict_sha256,
                         size_bytes=recorded.size_bytes)


def _log_hashed(path: str, status: str, result: HashResult, conflict: str | None, level: int) -> None:
    fields: dict[str, Any] = {"event": f"file.{status}", "path": path, **_timing(result), "sha256": result.sha256}
    if conflict is not None:
        fields["conflict_sha256"] = conflict
    what = "same content as a model in the library" if conflict else "ready"
    if result.seconds:
        log.log(level, "%s (%.1f MB/s)", what, result.stat.size / 1e6 / result.seconds, extra=fields)
    else:
        log.log(level, "%s (its hashes were known; nothing was read)", what, extra=fields)


def _timing(result: HashResult) -> dict[str, int]:
    return {"duration_ms": round(result.seconds * 1000), "size": result.stat.size}
