"""Which files the store knows: an in-memory index of every pending row's, model's and copy's path and
fingerprint, loaded when a walk first asks for it and kept in step by every part of the store after each write
commits, so a walk of the whole library compares against it without a query. Backend-neutral: a backend says only
how the index is read from its database (`KeptFileIndex._read`) and answers the queries the index cannot.

At a million files loading takes seconds, so it runs while the daemon starts and serves: the changes committed
meanwhile are noted in order and applied on top of the loaded index (each note sets a row's final state, so one
the load already saw is applied again harmlessly). Only the walks, which read the index whole, wait for it. For
that to hold, a backend's load must read one snapshot of the database, taken after `start_loading`.

The index is compact (store/path_table: paths by folder, fingerprints packed, sha256s as 32 bytes), about a third
of the memory of dicts of tuples, and a walk's copy of it is a snapshot that shares it (copy on write)."""

from __future__ import annotations

import asyncio
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.known_files import FileIndex, sha_key, sha_of
from hikaze_mm.store.path_table import PathTable, pack, split
from hikaze_mm.store.records import FileStat, Fingerprint, ModelRow, PendingRow


@dataclass
class Known:
    """The index's tables. A model is in `model_at` (its key -> its path's folder, its path in `models`) when its
    status is ok and its sha256, path and fingerprint pack; any other model is in `model_odd`, and in `models` too
    when it is ok. A pending row's id leads to its path's folder (`pending_at`), where its entry holds the id."""

    pending: PathTable = field(default_factory=PathTable)  # path -> (fingerprint, status)
    pending_at: dict[int, str] = field(default_factory=dict)  # id -> folder
    models: PathTable = field(default_factory=PathTable)  # path -> (fingerprint, sha256 key), ok models
    model_at: dict[bytes, str] = field(default_factory=dict)
    model_odd: dict[str, tuple[str, Fingerprint, str]] = field(default_factory=dict)  # sha256 -> (path, fp, status)
    copies: PathTable = field(default_factory=PathTable)  # path -> (fingerprint, sha256 key)

    def snapshot(self) -> FileIndex:
        return FileIndex(self.pending.snapshot(), self.models.snapshot(), self.copies.snapshot(),
                         self.model_at.copy(), self.model_odd.copy())

    # What a backend loads the index from, a chunk of rows at a time, each row in the shape named (a fingerprint
    # is the four values size, mtime_ns, inode, device).
    def load_pending(self, rows: Iterable[Sequence[Any]]) -> None:
        """(id, path, *fingerprint, status) of pending rows."""
        for r in rows:
            self.track_pending(r[0], r[1], tuple(r[2:6]), r[6])

    def load_models(self, rows: Iterable[Sequence[Any]]) -> None:
        """(sha256, path, *fingerprint, status) of models."""
        for r in rows:
            self.track_model(r[0], r[1], tuple(r[2:6]), r[6])

    def load_copies(self, rows: Iterable[Sequence[Any]]) -> None:
        """(sha256, path, *fingerprint) of copies."""
        for r in rows:
            self.set_copy(r[1], r[0], tuple(r[2:6]))

    def track_pending(self, pending_id: int, path: str, fingerprint: Fingerprint, status: str) -> None:
        self.untrack_pending(pending_id)
        self.pending.set(path, fingerprint, sys.intern(status), pending_id)
        # a path that does not split is found among the odd ones, whatever folder is noted for it
        parts = split(path)
        self.pending_at[pending_id] = path if parts is None else parts[0]

    def untrack_pending(self, pending_id: int) -> None:
        folder = self.pending_at.pop(pending_id, None)
        path = None if folder is None else self.pending.path_of(folder, pending_id)
        if path is not None:
            self.pending.pop(path)

    def track_model(self, sha256: str, path: str, fingerprint: Fingerprint, status: str) -> None:
        self._drop_model(sha256)
        key, parts = sha_key(sha256), split(path)
        clean = key is not None and parts is not None and pack(fingerprint) is not None
        if status == "ok":
            held = self.models.get(path)
            if held is not None and sha_of(held[1]) != sha256:
                self._shadow(path, held)
            self.models.set(path, fingerprint, key if clean else sha256)
        if clean and status == "ok":
            assert key is not None and parts is not None
            self.model_at[key] = parts[0]
        else:
            self.model_odd[sha256] = (path, fingerprint, status)

    def forget_model(self, sha256: str, paths: list[str]) -> None:
        self._drop_model(sha256)
        for path in paths:
            for table in (self.models, self.copies):
                held = table.get(path)
                if held is not None and sha_of(held[1]) == sha256:
                    table.pop(path)

    def set_copy(self, path: str, sha256: str, fingerprint: Fingerprint) -> None:
        self.copies.set(path, fingerprint, sha_key(sha256) or sha256)

    def move_copy(self, src: str, dest: str, fingerprint: Fingerprint) -> None:
        held = self.copies.pop(src)
        if held is not None:
            self.copies.set(dest, fingerprint, held[1])

    def _drop_model(self, sha256: str) -> None:
        """Takes the model's path out of `models` if the model holds it."""
        odd = self.model_odd.pop(sha256, None)
        if odd is not None:
            held = self.models.get(odd[0])
            if held is not None and sha_of(held[1]) == sha256:
                self.models.pop(odd[0])
            return
        key = sha_key(sha256)
        folder = None if key is None else self.model_at.pop(key, None)
        if folder is not None:
            entries = self.models.folders[folder]
            slot = entries.values.index(key)
            self.models.pop(os.path.join(folder, next(n for n, s in entries.slots.items() if s == slot)))

    def _shadow(self, path: str, held: tuple[Fingerprint, Any]) -> None:
        """Another model takes the path of an ok model: that one keeps its record, away from the path's entry (one
        whose sha256 does not pack has its record there already)."""
        key, parts = held[1], split(path)
        if isinstance(key, bytes) and parts is not None and self.model_at.get(key) == parts[0]:
            del self.model_at[key]
            self.model_odd[key.hex()] = (path, held[0], "ok")


class KeptFileIndex(ABC):
    """The index as the store keeps it: loaded on a walk's first request, and told of every committed change of a
    file by the part that made it (`track_pending` and the rest), which notes the change while the index loads."""

    def __init__(self) -> None:
        self._known = Known()
        self._loading: asyncio.Task[None] | None = None
        self._asked = asyncio.Event()
        # The changes committed while the index loads, in order, to apply once it is in.
        self._noted: list[tuple[Callable[..., None], tuple[Any, ...]]] | None = None

    @abstractmethod
    async def _read(self) -> Known:
        """Every file row of the database, from one snapshot of it, built into the index's tables."""

    # -- FileIndexStore -------------------------------------------------------------------------------------
    async def loaded(self) -> None:
        while self._loading is None and self._noted is not None:  # opened, and no walk asked for it yet
            await self._asked.wait()
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def file_index(self) -> FileIndex:
        """A snapshot of the index as it stands: made in O(folders), sharing the index's entries until they
        change, so it costs neither a copy of a million entries nor the time to make one."""
        if self._loading is None and self._noted is not None:
            self._start_loading()
        await self.loaded()
        return self._known.snapshot()

    # -- loading --------------------------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Note every change from now on; the index itself is read when a walk first asks for it, before it walks
        (the start-up walk starts once the watches are in place, so the load does not slow the API's first
        answers)."""
        self._noted = []
        self._asked = asyncio.Event()

    def _start_loading(self) -> None:
        self._loading = asyncio.create_task(self._load(), name="file-index")
        self._asked.set()

    async def stop_loading(self) -> None:
        """Wait for a load still running (a thread reading it cannot be stopped halfway), whatever became of it."""
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)

    async def _load(self) -> None:
        try:
            self._known = await self._read()
        except StoreUnreachable:
            # The database's server went away meanwhile: the next walk that asks loads it again, and the changes
            # noted since the start still wait for that load.
            self._loading = None
            self._asked.clear()
            raise
        except BaseException:
            self._apply_noted()
            raise
        self._apply_noted()

    def _apply_noted(self) -> None:
        noted, self._noted = self._noted or [], None
        for change, args in noted:
            change(*args)

    def _change(self, change: Callable[..., None], *args: Any) -> None:
        if self._noted is not None:
            self._noted.append((change, args))
        else:
            change(*args)

    # -- kept in step by the other parts, after their writes commit ----------------------------------------------
    def track_pending(self, row: PendingRow | None) -> PendingRow | None:
        if row is not None:
            self._change(self._track_pending, row)
        return row

    def track_pending_rows(self, rows: list[PendingRow]) -> list[PendingRow]:
        for row in rows:
            self._change(self._track_pending, row)
        return rows

    def untrack_pending(self, pending_id: int) -> None:
        self._change(self._untrack_pending, pending_id)

    def track_model(self, row: ModelRow | None) -> ModelRow | None:
        if row is not None:
            self._change(self._track_model, row)
        return row

    def forget_model(self, sha256: str, paths: list[str]) -> None:
        self._change(self._forget_model, sha256, paths)

    def track_copy(self, path: str, sha256: str, stat: FileStat) -> None:
        self._change(self._set_copy, path, sha256, tuple(stat))

    def untrack_copy(self, path: str) -> None:
        self._change(self._untrack_copy, path)

    def move_copy(self, src: str, dest: str, stat: FileStat) -> None:
        self._change(self._move_copy, src, dest, tuple(stat))

    # Each change looks the tables up when it is applied: the load replaces them.
    def _track_pending(self, row: PendingRow) -> None:
        self._known.track_pending(row.id, row.path, tuple(row.stat), row.status)

    def _untrack_pending(self, pending_id: int) -> None:
        self._known.untrack_pending(pending_id)

    def _track_model(self, row: ModelRow) -> None:
        # The fingerprint as stored, NULLs included, like the one loaded at start.
        self._known.track_model(row.sha256, row.path, row.fingerprint, row.status)

    def _forget_model(self, sha256: str, paths: list[str]) -> None:
        self._known.forget_model(sha256, paths)

    def _set_copy(self, path: str, sha256: str, fingerprint: Fingerprint) -> None:
        self._known.set_copy(path, sha256, fingerprint)

    def _untrack_copy(self, path: str) -> None:
        self._known.copies.pop(path)

    def _move_copy(self, src: str, dest: str, fingerprint: Fingerprint) -> None:
        self._known.move_copy(src, dest, fingerprint)
