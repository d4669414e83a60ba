"""Every event the bus carries, one class each, and what each one says on the wire (`GET /api/events`).

An event's wire data is its fields in declaration order. A field declared with the default None is left out while
it is None: such a field belongs to some reports of the event and not to others. A field without a default is
always sent, null included.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    TYPE: ClassVar[str]  # the wire type: the SSE `event:` line and the data's "type"

    def wire_type(self) -> str:
        return self.TYPE

    def wire_data(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self)
            if not (f.default is None and getattr(self, f.name) is None)
        }


# -- the import queue -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingAdded(Event):
    TYPE: ClassVar[str] = "pending.added"
    id: int
    path: str
    status: str


@dataclass(frozen=True)
class PendingUpdated(Event):
    """A row's path or status changed; a row that now conflicts with a model just imported also names both."""

    TYPE: ClassVar[str] = "pending.updated"
    id: int
    path: str
    status: str
    sha256: str | None = None
    conflict_sha256: str | None = None


@dataclass(frozen=True)
class PendingHashed(Event):
    """A row was hashed: ready, or in conflict with the model that has its content."""

    TYPE: ClassVar[str] = "pending.updated"
    id: int
    path: str
    status: str
    sha256: str | None
    blake3: str | None
    conflict_sha256: str | None
    size_bytes: int  # what was read, so a client can tell bytes/s of files too small to report progress


@dataclass(frozen=True)
class PendingRemoved(Event):
    TYPE: ClassVar[str] = "pending.removed"
    id: int
    path: str


@dataclass(frozen=True)
class HashProgressed(Event):
    TYPE: ClassVar[str] = "hash.progress"
    id: int
    path: str
    bytes_done: int
    bytes_total: int


# -- the library ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelAdded(Event):
    TYPE: ClassVar[str] = "model.added"
    sha256: str
    path: str
    status: str


@dataclass(frozen=True)
class ModelUpdated(Event):
    """Something about the model changed; an import into an existing model also says where its file is now."""

    TYPE: ClassVar[str] = "model.updated"
    sha256: str
    path: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class ModelRemoved(Event):
    TYPE: ClassVar[str] = "model.removed"
    sha256: str


@dataclass(frozen=True)
class ModelRelinked(Event):
    """A missing model's file is back; `old_path` when it came back under another path."""

    TYPE: ClassVar[str] = "model.relinked"
    sha256: str
    path: str
    status: str
    old_path: str | None = None


@dataclass(frozen=True)
class ModelMoved(Event):
    TYPE: ClassVar[str] = "model.moved"
    sha256: str
    path: str
    status: str
    old_path: str


@dataclass(frozen=True)
class ModelMissing(Event):
    TYPE: ClassVar[str] = "model.missing"
    sha256: str
    path: str
    status: str


@dataclass(frozen=True)
class ModelsUsed(Event):
    """ComfyUI used these models: each as {"sha256", "use_count", "last_used_at"}, its count and last use now."""

    TYPE: ClassVar[str] = "models.used"
    models: list[dict[str, Any]]


# -- folders and walks ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RootChanged(Event):
    TYPE: ClassVar[str] = "root.changed"
    path: str
    exists: bool


@dataclass(frozen=True)
class ScanProgressed(Event):
    """A snapshot of the running walk (the reconciler's `ScanProgress`, field for field)."""

    TYPE: ClassVar[str] = "scan.progress"
    phase: str
    started_at: float
    dirs: int
    files: int
    new_or_changed: int
    gone: int
    unreadable: int
    skipped: int
    finished_at: float | None
    error: str | None


# -- the v1 migration -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LegacyProgressed(Event):
    TYPE: ClassVar[str] = "legacy.progress"
    id: int
    state: str
    source: str
    images_dir: str | None
    rows: int
    done: int
    started_at: float
    finished_at: float | None
    error: str | None


@dataclass(frozen=True)
class LegacyDone(LegacyProgressed):
    """The job's last progress, with its report."""

    TYPE: ClassVar[str] = "legacy.done"
    report: dict[str, Any]


# -- metadata from the web ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LookupProgressed(Event):
    """The background lookups by content: waiting, whether they run, and what this run found so far."""

    TYPE: ClassVar[str] = "lookup.progress"
    queued: int
    running: bool
    done: int
    found: int
    not_found: int
    failed: int
    last_error: str | None


# -- several machines -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Relayed(Event):
    """An event the daemon of another host (or another daemon on this one) published on a shared library, as it
    went on the wire there: this daemon's pages hear of changes made anywhere."""

    TYPE: ClassVar[str] = "relayed"
    type: str
    data: dict[str, Any]
    host: str

    def wire_type(self) -> str:
        return self.type

    def wire_data(self) -> dict[str, Any]:
        return self.data
