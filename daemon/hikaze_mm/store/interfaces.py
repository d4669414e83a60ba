"""The store as its callers see it: one narrow interface per part, and the bundle a backend builds of them.

Each caller is typed with the parts it uses (the pipeline: pending rows and the file index; the library: models,
tags, copies, images and search; the page's sessions), so a part can change without the others noticing and a
second backend (PostgreSQL, for several machines) implements the same protocols. `store.sqlite` holds the SQLite
implementation; `tests/store/test_contract_*.py` run the same tests against every backend.

Every write is one transaction: all of it or none of it. Methods raise `errors.StorageFull` when the disk
under the database is full, and `errors.StoreUnreachable` when the database's server cannot be reached (a shared
PostgreSQL that is down or out of reach; nothing of the change was made, or its outcome is not known).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hikaze_mm.store.known_files import FileIndex
from hikaze_mm.store.records import (
    CopiedModel,
    FileStat,
    HashedStatus,
    HashRecord,
    HeldContent,
    LookupState,
    Meta,
    ModelPage,
    ModelQuery,
    ModelRow,
    NewPending,
    PendingRow,
    PendingStatus,
    Promotion,
    QueuedLookup,
    Removal,
    Use,
    UsesCounted,
    WebTaken,
)

ListEdits = dict[str, list[str]]  # list field -> items


@dataclass(frozen=True)
class MetadataRules:
    """How metadata records combine: the library's policy, handed to the store when it is built.

    A change that combines what is stored with what arrives (an import's merge or override, a PATCH, a re-found
    file filling empty fields) must read the stored record inside the transaction that writes the result, or two
    changes landing together would each start from the same old record and one would be lost. So the store does
    the read and the write, and calls these pure functions in between; it never imports the rules themselves,
    and every backend applies the same ones."""

    merge: Callable[[Meta, Meta], Meta]  # (stored, incoming): the stored record wins, empty fields are filled
    override: Callable[[Meta, Meta], Meta]  # (stored, incoming): the incoming values replace the stored ones
    for_new_model: Callable[[Meta], Meta]  # what a new model keeps of its pending row's record
    patch: Callable[[Meta, Meta, ListEdits, ListEdits], Meta]  # (stored, change, added items, removed items)
    user_fields: Callable[[Meta], Meta]  # what of a record the user entered (a row with any must outlive its file)
    # (stored, incoming, the model's tag names): the stored record noting the sidecar tags it takes, and those
    take_sidecar_tags: Callable[[Meta, Meta, list[str]], tuple[Meta, list[str]]]
    tags_edited: Callable[[Meta, list[str], list[str]], Meta]  # (stored, tag names before, after) of a user's edit
    # (stored, a record from the web, the model's tag names, now, whether the store fills the model's base model
    # with the record's): the stored record with what it may fill filled, and the record's tags to add
    web_fill: Callable[[Meta, Meta, list[str], float, bool], tuple[Meta, list[str]]]
    user_edited: Callable[[Meta, set[str]], Meta]  # (stored, fields the user set): theirs from now on, not the web's


class PendingStore(Protocol):
    """The import queue: one row per file that is not (yet) in the library."""

    async def pending(self, pending_id: int) -> PendingRow | None: ...
    async def pending_by_path(self, path: str) -> PendingRow | None: ...
    async def pending_detail(self, pending_id: int) -> dict[str, Any] | None: ...
    async def list_pending(
        self, statuses: tuple[PendingStatus, ...] | None, type_: str | None, limit: int, offset: int, *,
        q: str | None = None, folders: tuple[str, ...] | None = None,
    ) -> tuple[list[PendingRow], int]: ...
    async def pending_cards(self, ids: list[int]) -> dict[int, tuple[str | None, Any, int | None]]: ...
    async def pending_in_flight(self) -> list[PendingRow]: ...
    async def pending_twins(self, sha256: str) -> list[PendingRow]: ...
    async def pending_meta(self, pending_id: int) -> Meta | None: ...
    async def pending_rows(self, ids: list[int]) -> dict[int, tuple[PendingRow, Meta]]: ...
    # What the probe stored of each row's header (format, error, declared length), None before it is hashed.
    async def pending_probes(self, ids: list[int]) -> dict[int, Meta | None]: ...
    async def hashed_shas(self, shas: list[str]) -> dict[str, int]: ...
    async def pending_tag_names(self, pending_id: int) -> list[str]: ...
    async def pending_keeps_user_data(self, pending_id: int) -> bool: ...

    async def reset_in_flight(self) -> int: ...
    async def add_pending(self, path: str, name: str, type_: str, stat: FileStat) -> PendingRow: ...
    async def add_pending_many(self, files: list[tuple[str, str, FileStat]]) -> list[PendingRow]: ...
    async def add_pending_with_meta(self, rows: list[NewPending]) -> list[PendingRow]: ...
    async def resettle_pending(self, pending_id: int, stat: FileStat) -> PendingRow | None: ...
    async def set_pending_status(
        self, pending_id: int, status: PendingStatus, stat: FileStat | None = None
    ) -> PendingRow | None: ...
    async def set_pending_conflict(
        self, pending_id: int, status: HashedStatus, conflict_sha256: str | None
    ) -> PendingRow | None: ...
    async def set_pending_error(self, pending_id: int, error: str, stat: FileStat | None) -> PendingRow | None: ...
    async def record_hash(self, pending_id: int, record: HashRecord) -> PendingRow | None: ...
    async def start_hashing(self, files: list[tuple[str, FileStat]]) -> list[PendingRow]: ...
    async def record_hashes(self, records: list[tuple[int, HashRecord]]) -> list[PendingRow]: ...
    async def move_pending(self, pending_id: int, path: str, name: str, type_: str) -> PendingRow | None: ...
    async def set_pending_meta(self, pending_id: int, meta: Meta, tags: list[str]) -> bool: ...
    # What the web said of the row's content (`meta_json.web`), set in one statement beside whatever else the
    # row's metadata holds; False when the row is gone or holds another content now.
    async def note_pending_web(self, pending_id: int, sha256: str, web: Meta) -> bool: ...
    async def delete_pending(self, pending_id: int) -> bool: ...


class FileIndexStore(Protocol):
    """Which files the store knows, for walks and file events to compare against."""

    async def loaded(self) -> None: ...  # returns once the index is in memory (it loads while the daemon starts)
    async def file_index(self) -> FileIndex: ...
    async def rows_for_file(self, stat: FileStat) -> tuple[list[PendingRow], list[ModelRow]]: ...
    async def known_paths(self, paths: list[str]) -> set[str]: ...


class ModelStore(Protocol):
    """The library's models: their files' state and what the user entered about them."""

    async def model(self, sha256: str) -> ModelRow | None: ...
    async def model_by_path(self, path: str) -> ModelRow | None: ...
    async def models_of(
        self, shas: list[str], paths: list[str]
    ) -> tuple[dict[str, ModelRow], dict[str, ModelRow]]: ...
    async def model_detail(self, sha256: str) -> dict[str, Any] | None: ...
    # Whether the model's files are all on other hosts of a shared library (never, with one host): a file of its
    # content found here is then its file here, not a duplicate to decide about.
    async def elsewhere(self, sha256: str) -> bool: ...
    async def relink_model(
        self, sha256: str, path: str, type_: str, stat: FileStat, pending_id: int | None
    ) -> ModelRow | None: ...
    async def set_model_missing(self, sha256: str) -> ModelRow | None: ...
    async def update_model(
        self, sha256: str, *, name: str | None, tags: list[str] | None, meta_change: Meta | None,
        tags_add: list[str] | None = None, tags_remove: list[str] | None = None,
        meta_add: ListEdits | None = None, meta_remove: ListEdits | None = None,
        guard: Callable[[str, Meta], None] | None = None,
    ) -> bool: ...
    async def enrich_model(self, sha256: str, meta: Meta, tags: list[str]) -> bool: ...
    # A record from the web (the rules' `web_fill`), a base model where there is none, the fetched images (seq,
    # width, height; their files written): None when there is no such model.
    async def take_web_record(self, sha256: str, record: Meta, base_model: str | None,
                              images: list[tuple[int, int, int]]) -> WebTaken | None: ...
    # The user's base model for these models (no longer marked as the web's); the models that exist.
    async def set_base_model(self, shas: list[str], base_model: str) -> list[str]: ...
    async def delete_model(self, sha256: str, ignore_paths: bool) -> Removal | None: ...


class CopyStore(Protocol):
    """A model's other files: the same content under other paths."""

    async def copy_at(self, path: str) -> tuple[str, FileStat] | None: ...
    async def copies_of(self, sha256: str) -> list[str]: ...
    async def remove_copy(self, path: str) -> None: ...
    async def move_copy(self, src: str, dest: str, stat: FileStat) -> None: ...
    async def promote_copy(self, sha256: str, path: str, type_: str, stat: FileStat) -> ModelRow | None: ...
    # The models that have copies, by name, one page of them, and how many there are in all.
    async def models_with_copies(self, limit: int, offset: int) -> tuple[list[CopiedModel], int]: ...


class TagStore(Protocol):
    """Tags, named without regard to case."""

    async def list_tags(self) -> list[dict[str, Any]]: ...
    async def create_tag(self, name: str) -> tuple[dict[str, Any], bool]: ...
    async def rename_tag(self, tag_id: int, name: str) -> dict[str, Any] | None: ...
    async def delete_tag(self, tag_id: int) -> bool: ...


class ImageStore(Protocol):
    """The rows of models' and pending rows' images (their files are the library's). An image number is never
    given out twice for the same model, so an image URL always names the same picture."""

    async def reserve_image_seqs(self, sha256: str, count: int) -> list[int]: ...
    async def add_image(self, sha256: str, seq: int, width: int, height: int) -> bool: ...
    async def delete_image(self, sha256: str, seq: int) -> bool: ...
    async def set_cover(self, sha256: str, seq: int) -> bool: ...
    async def image_exists(self, sha256: str, seq: int) -> bool: ...
    async def model_image_count(self, sha256: str) -> int: ...
    async def pending_images(self, pending_id: int) -> list[tuple[int, int, int]]: ...
    async def with_pending_images(self, ids: list[int]) -> set[int]: ...
    async def add_pending_image(self, pending_id: int, seq: int, width: int, height: int, source: str) -> bool: ...
    async def pending_image_exists(self, pending_id: int, seq: int) -> bool: ...
    async def image_keys_among(
        self, models: set[tuple[str, int]], pending: set[tuple[int, int]]
    ) -> tuple[set[tuple[str, int]], set[tuple[int, int]]]: ...


class SearchStore(Protocol):
    """Finding and counting models."""

    async def list_models(self, query: ModelQuery) -> ModelPage: ...
    # The bytes of the matches' files that are present (not a missing model's), each copy as well.
    async def total_size(self, query: ModelQuery) -> int: ...
    async def facets(self, query: ModelQuery) -> dict[str, Any]: ...
    async def model_keys(self, query: ModelQuery, after: str | None, limit: int) -> list[str]: ...
    async def model_types(self) -> list[dict[str, Any]]: ...
    async def counts(self) -> dict[str, Any]: ...


class FolderStore(Protocol):
    """The folders that hold models (each a model path's parent, as stored), counted."""

    # Each folder holding models that match the query's type, status and NSFW hiding (its other filters are
    # not applied), with how many it holds itself, not counting its sub-folders.
    async def folder_counts(self, query: ModelQuery) -> list[tuple[str, int]]: ...


class ImportStore(Protocol):
    """Pending rows becoming (part of) models."""

    async def promote(self, p: Promotion) -> tuple[ModelRow, list[PendingRow]]: ...
    async def promote_new(self, promotions: list[Promotion]) -> list[ModelRow]: ...
    async def absorb(self, pending_id: int, sha256: str, meta: Meta, images: list[tuple[int, int, int]],
                     copy: tuple[str, FileStat] | None) -> bool: ...


class SessionStore(Protocol):
    """The page's sessions; only hashes of their ids are stored."""

    async def add_session(self, id_sha256: str, token_fp: str, created_at: float, expires_at: float) -> None: ...
    async def session(self, id_sha256: str) -> tuple[str, float] | None: ...
    async def drop_sessions(self, keep_token_fp: str, now: float) -> int: ...


class LookupStore(Protocol):
    """The metadata lookups by content: what the sources last said (one state per sha256, every host's), and this
    host's queue of contents to look up, kept across restarts."""

    async def lookup_state(self, sha256: str) -> LookupState | None: ...
    async def save_lookup(self, state: LookupState) -> None: ...
    # Queued with the ones already there: one asked for again is forced if either asks, due now, its failures
    # forgotten.
    async def queue_lookups(self, shas: list[str], force: bool, now: float) -> None: ...
    async def due_lookups(self, now: float, limit: int) -> list[QueuedLookup]: ...  # oldest first
    # One more failed attempt; `force`: the next attempt asks the sources whatever they said before.
    async def delay_lookup(self, sha256: str, not_before: float, *, force: bool = False) -> None: ...
    # Out of the queue, unless it was asked for again since it was read (`asks` as read).
    async def drop_lookup(self, sha256: str, asks: int) -> None: ...
    async def queued_lookups(self) -> int: ...
    # Models not kept from the lookups by the user whose content is worth asking about again, by sha256: no source
    # gave a word worth keeping (found, or "not found" since `not_found_before`), and this host's queue does not
    # hold it already (asked for again, a lookup being retried would start its backoff over).
    async def unlooked_models(self, after: str, limit: int, not_found_before: float) -> list[str]: ...


class UsageStore(Protocol):
    """What ComfyUI used: the models at the files it loaded, and the uses counted, each once ever."""

    # The model whose file (its main file or a copy) is at each path on this host, by path; a model that is not
    # missing wins where two name the same path.
    async def models_at(self, paths: list[str]) -> dict[str, str]: ...
    async def models_named(self, sha256s: list[str]) -> set[str]: ...  # those of the sha256s the library has
    # (path, sha256) of the models' files on this host that are this file (its device and inode), as recorded.
    async def files_at(self, device: int, inode: int) -> list[tuple[str, str]]: ...
    # One transaction: each use whose id was not counted before is remembered and adds one to its model's count,
    # its last use the latest of the old one and the use's `at`; a use of a model the library does not have (any
    # more) is remembered and counts as unknown. Ids counted before `forget_before` are forgotten first.
    async def count_uses(self, uses: list[Use], now: float, forget_before: float) -> UsesCounted: ...


class ChoreStore(Protocol):
    """One-off work a new version does over what earlier versions stored (by name, until it is done), and what it
    needs of the library."""

    async def chores(self) -> list[str]: ...
    async def chore_done(self, name: str) -> None: ...
    async def model_files(self, after: str, limit: int) -> list[tuple[str, str]]: ...  # (sha256, path), by sha256
    # By model: the tags its sidecars name that joined it (the rules' `take_sidecar_tags`; its edit time stays).
    async def add_sidecar_tags(self, tags: dict[str, list[str]]) -> dict[str, list[str]]: ...
    async def pending_files(self, after: int, limit: int) -> list[tuple[int, str]]: ...  # hashed rows with no
    # sidecar tags noted, by id; `add_pending_sidecar_tags` notes them in the row's `sidecars` (how many rows)
    async def add_pending_sidecar_tags(self, tags: dict[int, list[str]]) -> int: ...


class ContentStore(Protocol):
    """Which contents the library and this host hold, asked about many at once: what the references of a
    workflow are matched with."""

    # The contents whose sha256 is one of `shas` or starts with one of `prefixes` (lower-case hex, at least 10
    # digits: Civitai's AutoV2 is the first ten), by sha256; each with the files of this host that hold it.
    async def held(self, shas: list[str], prefixes: list[str]) -> list[HeldContent]: ...


class ShareStore(Protocol):
    """Files on a share that several hosts of a shared library mount (a NAS): read by one host for all of them.
    A file is placed by this host's share folders (`set_shared_roots`: folder -> the share's name)."""

    async def set_shared_roots(self, roots: dict[str, str]) -> None: ...
    def place(self, path: str) -> tuple[str, str] | None: ...  # (share, path in it) of a share's file, else None
    # The hashes some host recorded for this file of the share, as it is now (size and mtime).
    async def known_hashes(self, path: str, stat: FileStat) -> tuple[str, str] | None: ...
    async def claim(self, path: str, stat: FileStat) -> bool: ...  # whether this host reads it (no one else is)
    async def release(self, path: str) -> None: ...


class Stores(Protocol):
    """A backend's whole store: its parts over one database, opened and closed together. The app builds it and
    hands each caller the parts it uses."""

    pending: PendingStore
    files: FileIndexStore
    models: ModelStore
    copies: CopyStore
    tags: TagStore
    images: ImageStore
    search: SearchStore
    folders: FolderStore
    imports: ImportStore
    sessions: SessionStore
    chores: ChoreStore
    lookups: LookupStore
    contents: ContentStore
    usage: UsageStore

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Returns once the database answers; raises `errors.StoreUnreachable` while its server is away."""
