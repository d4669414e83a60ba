"""The Python the import queue's part of the store does between its SQL, the same on every backend: a row's
detail and a stored header's summary built from what was read, and the changes of a row that set its columns to
values. The SQL stays in each backend; these take plain values read from it or give the values it writes, so the
backends cannot drift apart in what they hand out or store."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from hikaze_mm.store.records import (
    FileStat,
    HashedStatus,
    HashRecord,
    Meta,
    NewPending,
    PendingRow,
    PendingStatus,
)

STAT_COLUMNS = ("size_bytes", "mtime_ns", "inode", "device")  # a FileStat's values, in its order

# The queue's statuses as SQL lists, written once for every backend's queries.
AWAITING_USER = "('ready', 'conflict')"  # hashed, waiting for the user's decision
HASHED_AS_IS = "('ready', 'conflict', 'ignored')"  # hashed, and the hash stands while the file is unchanged


def probe_summary(format_: str | None, error: str | None, declared: Any) -> Meta | None:
    """A header's format, error and declared length as a header dict; None for a file not probed yet. The length
    is read as the database holds it (a header's 8 bytes may announce more than a 64-bit integer column takes)."""
    if format_ is None:
        return None
    found: Meta = {"format": format_}
    if error is not None:
        found["error"] = error
    if declared is not None:
        found["declared_length"] = int(declared)
    return found


def pending_detail(row: Sequence[Any], meta: Meta, tags: Iterable[Sequence[Any]],
                   images: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """A pending row's detail: its columns (in PendingRow's order) as the API shows them, its metadata, its tags as
    (id, name) by name and its images as (seq, width, height) by seq."""
    item = PendingRow(*row).to_wire()
    item["meta_json"] = meta
    item["tags"] = [{"id": i, "name": n} for i, n in tags]
    item["images"] = [{"seq": s, "width": w, "height": h} for s, w, h in images]
    return item


def _with_stat(changes: Meta, stat: FileStat | None) -> Meta:
    return changes if stat is None else {**changes, **dict(zip(STAT_COLUMNS, stat, strict=True))}


def hashed(record: HashRecord, now: float) -> Meta:
    """The columns a hash record sets on its row, hashed at `now`, by name."""
    return _with_stat({"status": record.status, "sha256": record.sha256, "blake3": record.blake3,
                       "conflict_sha256": record.conflict_sha256, "error": None, "hashed_at": now,
                       "meta_json": record.meta_json}, record.stat)


def arriving(new: NewPending) -> tuple[FileStat, PendingStatus, str | None]:
    """The stat, status and error a row that arrives with metadata is written with: one without a stat (its file is
    gone) is kept in error, so what the user once entered is not lost."""
    if new.stat is None:
        return FileStat(0, 0, 0, 0), "error", new.error
    return new.stat, "settling", None


class PendingChanges(ABC):
    """The changes of one pending row that set its columns to values, the same on every backend, which writes each
    with `_update`."""

    @abstractmethod
    async def _update(self, pending_id: int, changes: Meta) -> PendingRow | None:
        """The row's columns set to these values (by name) and its `updated_at` to now, in one transaction, and the
        file index told once it has committed: the row as it is afterwards, None when there is no such row."""

    async def resettle_pending(self, pending_id: int, stat: FileStat) -> PendingRow | None:
        return await self._update(pending_id, _with_stat({
            "status": "settling", "sha256": None, "blake3": None, "conflict_sha256": None, "error": None,
            "hashed_at": None}, stat))

    async def set_pending_status(
        self, pending_id: int, status: PendingStatus, stat: FileStat | None = None
    ) -> PendingRow | None:
        return await self._update(pending_id, _with_stat({"status": status}, stat))

    async def set_pending_conflict(
        self, pending_id: int, status: HashedStatus, conflict_sha256: str | None
    ) -> PendingRow | None:
        return await self._update(pending_id, {"status": status, "conflict_sha256": conflict_sha256})

    async def set_pending_error(self, pending_id: int, error: str, stat: FileStat | None) -> PendingRow | None:
        return await self._update(pending_id, _with_stat({"status": "error", "error": error}, stat))

    async def record_hash(self, pending_id: int, record: HashRecord) -> PendingRow | None:
        return await self._update(pending_id, hashed(record, time.time()))
