"""The store interface and its records. The SQLite implementation lives in `sqlite_store`; a shared
PostgreSQL store for several ComfyUI machines would implement the same protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from hikaze_mm.pipeline.walk import FileStat

FILE_GONE = "the file is gone"  # the error of a pending row kept for its metadata after its file vanished
PENDING_STATUSES = ("settling", "hashing", "ready", "conflict", "error", "ignored")
ACTIVE_STATUSES = PENDING_STATUSES[:-1]  # the inbox: everything but what the user set aside
MODEL_STATUSES = ("ok", "missing")
SORT_KEYS = ("name", "created", "updated", "size")
MAX_TAGS = 200  # on one model


class SchemaTooNew(Exception):
    """The database was written by a newer hikaze-mm; it is left untouched."""


class EditRefused(ValueError):
    """A model edit that would break a limit as the model stands when it is written; nothing of it was written."""


class StorageFull(Exception):
    """The disk under the database is full: the change was not made, and nothing stored before is lost."""


@dataclass
class PendingRow:
    id: int
    path: str
    name: str
    type: str
    size_bytes: int
    mtime_ns: int
    inode: int
    device: int
    status: str
    sha256: str | None
    blake3: str | None
    conflict_sha256: str | None
    error: str | None
    discovered_at: float
    hashed_at: float | None

    @property
    def stat(self) -> FileStat:
        return FileStat(self.size_bytes, self.mtime_ns, self.inode, self.device)

    def to_wire(self) -> dict[str, Any]:
        d = asdict(self)
        for internal in ("mtime_ns", "inode", "device"):
            del d[internal]
        return d


@dataclass
class ModelRow:
    sha256: str
    blake3: str | None
    path: str
    name: str
    type: str
    size_bytes: int
    mtime_ns: int | None
    inode: int | None
    device: int | None
    status: str
    created_at: float
    updated_at: float
    base_model: str
    cover_seq: int | None

    @property
    def stat(self) -> FileStat:
        return FileStat(self.size_bytes, self.mtime_ns or 0, self.inode or 0, self.device or 0)


@dataclass(frozen=True)
class HashRecord:
    """What to write for a hashed pending row."""

    sha256: str
    blake3: str
    stat: FileStat
    status: str  # ready | conflict
    conflict_sha256: str | None
    meta_json: dict[str, Any]  # the row's whole metadata afterwards


@dataclass
class FileIndex:
    """Every file the store knows, by path, for a walk to compare against. Fingerprints are plain
    (size, mtime_ns, inode, device) tuples, which compare equal to the FileStat of the same values."""

    pending: dict[str, tuple[tuple[Any, ...], str]]  # path -> (fingerprint, status)
    models_ok: dict[str, tuple[str, tuple[Any, ...]]]  # path -> (sha256, fingerprint), models whose status is ok
    models: dict[str, tuple[str, tuple[Any, ...], str]]  # sha256 -> (path, fingerprint, status)


@dataclass
class ModelQuery:
    type: str | None = None
    q: str | None = None
    tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    base_model: str | None = None
    status: str = "ok"  # ok | missing | all
    hide_nsfw: bool = False  # leaves out models flagged NSFW or tagged `nsfw`
    sort: str = "name"
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class NewPending:
    """A pending row that arrives with metadata and tags (from the first version's database). Without a stat its
    file was not read: it is kept in error with `error` as the reason (by default, that the file is gone)."""

    path: str
    type: str
    stat: FileStat | None
    meta: dict[str, Any]
    tags: list[str]
    error: str = FILE_GONE


@dataclass
class Promotion:
    """One pending row becoming (part of) a model, written in one transaction."""

    pending_id: int
    sha256: str
    mode: str  # new | override | merge
    name: str
    type: str
    base_model: str
    # The import's own metadata (its pending row's): a new model keeps its user fields and header; an override
    # or a merge combines it with the model's metadata as it stands in the promotion's transaction.
    meta_json: dict[str, Any]
    main_path: str  # the model's path afterwards
    main_stat: FileStat
    copies: list[tuple[str, FileStat]]  # paths that become (or stay) copies of the model
    images: list[tuple[int, int, int]]  # (seq, width, height) appended to the model
    # Other pending rows that name one of the model's files by another path: they join it as its paths.
    aliases: list[Alias] = field(default_factory=list)


@dataclass(frozen=True)
class Alias:
    """A pending row whose file is one of a model's own files under another name (a symlinked folder, a bind
    mount, `/proc/self/root`, a hard link)."""

    pending_id: int
    path: str
    stat: FileStat
    meta_json: dict[str, Any]


@dataclass
class Removal:
    """What taking a model out of the library left: its image numbers (the caller removes their files), the
    pending rows its files are back in the queue as, the rows that conflicted with it and are ready now, and what
    is known of its content (so the files are filed again without reading them)."""

    seqs: list[int]
    released: list[PendingRow]
    reopened: list[PendingRow]
    header: dict[str, Any]


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # reading
    async def pending(self, pending_id: int) -> PendingRow | None: ...
    async def pending_by_path(self, path: str) -> PendingRow | None: ...
    async def pending_detail(self, pending_id: int) -> dict[str, Any] | None: ...
    async def list_pending(
        self, statuses: tuple[str, ...] | None, type_: str | None, limit: int, offset: int
    ) -> tuple[list[PendingRow], int]: ...
    async def pending_in_flight(self) -> list[PendingRow]: ...
    async def model(self, sha256: str) -> ModelRow | None: ...
    async def model_by_path(self, path: str) -> ModelRow | None: ...
    async def rows_for_file(self, stat: FileStat) -> tuple[list[PendingRow], list[ModelRow]]: ...
    async def file_index(self) -> FileIndex: ...
    async def counts(self) -> dict[str, Any]: ...

    # writing: each call is one transaction
    async def reset_in_flight(self) -> int: ...
    async def add_pending(self, path: str, name: str, type_: str, stat: FileStat) -> PendingRow: ...
    async def add_pending_many(self, files: list[tuple[str, str, FileStat]]) -> list[PendingRow]: ...
    async def resettle_pending(self, pending_id: int, stat: FileStat) -> PendingRow | None: ...
    async def set_pending_status(
        self, pending_id: int, status: str, stat: FileStat | None = None
    ) -> PendingRow | None: ...
    async def set_pending_error(self, pending_id: int, error: str, stat: FileStat | None) -> PendingRow | None: ...
    async def record_hash(self, pending_id: int, record: HashRecord) -> PendingRow | None: ...
    async def move_pending(self, pending_id: int, path: str, name: str, type_: str) -> PendingRow | None: ...
    async def delete_pending(self, pending_id: int) -> bool: ...
    async def relink_model(self, sha256: str, path: str, type_: str, stat: FileStat,
                           pending_id: int | None) -> ModelRow | None: ...
    async def set_model_missing(self, sha256: str) -> ModelRow | None: ...

    # the library
    async def list_models(self, query: ModelQuery) -> tuple[list[dict[str, Any]], int]: ...
    async def facets(self, query: ModelQuery) -> dict[str, Any]: ...
    async def model_detail(self, sha256: str) -> dict[str, Any] | None: ...
    async def model_types(self) -> list[dict[str, Any]]: ...
    async def list_tags(self) -> list[dict[str, Any]]: ...
    async def create_tag(self, name: str) -> tuple[dict[str, Any], bool]: ...
    async def rename_tag(self, tag_id: int, name: str) -> dict[str, Any] | None: ...
    async def delete_tag(self, tag_id: int) -> bool: ...
    async def update_model(
        self, sha256: str, *, name: str | None, tags: list[str] | None, meta_change: dict[str, Any] | None,
        tags_add: list[str] | None = None, tags_remove: list[str] | None = None,
        meta_add: dict[str, list[str]] | None = None, meta_remove: dict[str, list[str]] | None = None,
        guard: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> bool: ...
    async def delete_model(self, sha256: str, ignore_paths: bool) -> Removal | None: ...
    async def copy_at(self, path: str) -> tuple[str, FileStat] | None: ...
    async def remove_copy(self, path: str) -> None: ...
    async def move_copy(self, src: str, dest: str, stat: FileStat) -> None: ...
    async def copies_of(self, sha256: str) -> list[str]: ...
    async def promote_copy(self, sha256: str, path: str, type_: str, stat: FileStat) -> ModelRow | None: ...
    async def pending_meta(self, pending_id: int) -> dict[str, Any] | None: ...
    async def reserve_image_seqs(self, sha256: str, count: int) -> list[int]: ...
    async def promote(self, p: Promotion) -> tuple[ModelRow, list[PendingRow]]: ...
    async def pending_twins(self, sha256: str) -> list[PendingRow]: ...
    async def absorb(self, pending_id: int, sha256: str, meta: dict[str, Any], images: list[tuple[int, int, int]],
                     copy: tuple[str, FileStat] | None) -> bool: ...
    async def model_image_count(self, sha256: str) -> int: ...
    async def add_image(self, sha256: str, seq: int, width: int, height: int) -> bool: ...
    async def delete_image(self, sha256: str, seq: int) -> bool: ...
    async def set_cover(self, sha256: str, seq: int) -> bool: ...
    async def image_exists(self, sha256: str, seq: int) -> bool: ...
    async def pending_image_exists(self, pending_id: int, seq: int) -> bool: ...
    async def image_keys(self) -> tuple[set[tuple[str, int]], set[tuple[int, int]]]: ...
    async def pending_images(self, pending_id: int) -> list[tuple[int, int, int]]: ...
    async def add_pending_image(self, pending_id: int, seq: int, width: int, height: int, source: str) -> bool: ...
    async def known_paths(self, paths: list[str]) -> set[str]: ...
    async def add_pending_with_meta(self, rows: list[NewPending]) -> list[PendingRow]: ...
    async def set_pending_meta(self, pending_id: int, meta: dict[str, Any], tags: list[str]) -> bool: ...
    async def enrich_model(self, sha256: str, meta: dict[str, Any], tags: list[str]) -> bool: ...
    async def pending_tag_names(self, pending_id: int) -> list[str]: ...
    async def pending_keeps_user_data(self, pending_id: int) -> bool: ...

    # the page's sessions (only hashes of their ids are stored)
    async def add_session(self, id_sha256: str, token_fp: str, created_at: float, expires_at: float) -> None: ...
    async def session(self, id_sha256: str) -> tuple[str, float] | None: ...
    async def drop_sessions(self, keep_token_fp: str, now: float) -> int: ...
