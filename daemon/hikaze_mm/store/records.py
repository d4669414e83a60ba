"""What goes in and out of the store: its rows, the changes it is asked to write, and the names of its states.

Plain values with no behaviour beyond their own shape, so every backend and every caller can share them without
pulling in anything else of the daemon.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple, get_args

FILE_GONE = "the file is gone"  # the error of a pending row kept for its metadata after its file vanished
PendingStatus = Literal["settling", "hashing", "ready", "conflict", "error", "ignored"]
HashedStatus = Literal["ready", "conflict"]  # what hashing a pending row ends in
ModelStatus = Literal["ok", "missing"]
PENDING_STATUSES: tuple[PendingStatus, ...] = get_args(PendingStatus)
ACTIVE_STATUSES = PENDING_STATUSES[:-1]  # the inbox: everything but what the user set aside
SORT_KEYS = ("name", "created", "updated", "size", "last_used", "most_used")
SortDirection = Literal["asc", "desc"]
SORT_DIRECTIONS: tuple[SortDirection, ...] = ("asc", "desc")
# The direction each sort runs in unless asked otherwise: names A to Z, the rest newest, largest or most used first.
NATURAL_DIRECTION: dict[str, SortDirection] = {"name": "asc", "created": "desc", "updated": "desc", "size": "desc",
                                               "last_used": "desc", "most_used": "desc"}
MAX_TAGS = 200  # on one model
MAX_TAG_NAME = 64  # characters in a tag's name
MAX_INTEGER = 2**63 - 1  # the largest id, count or image number the database holds (SQLite's integer range)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # a model's key: its content's SHA-256 in lower-case hex


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and SHA256_HEX.fullmatch(value) is not None

Meta = dict[str, Any]  # a `meta_json` record
Fingerprint = tuple[Any, ...]  # (size, mtime_ns, inode, device) as stored, NULLs of a model included


class FileStat(NamedTuple):
    """What identifies a file's content without reading it."""

    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


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
    status: PendingStatus
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
    status: ModelStatus
    created_at: float
    updated_at: float
    base_model: str
    cover_seq: int | None

    @property
    def stat(self) -> FileStat:
        return FileStat(self.size_bytes, self.mtime_ns or 0, self.inode or 0, self.device or 0)

    @property
    def fingerprint(self) -> Fingerprint:
        return (self.size_bytes, self.mtime_ns, self.inode, self.device)


@dataclass(frozen=True)
class HashRecord:
    """What to write for a hashed pending row."""

    sha256: str
    blake3: str
    stat: FileStat
    status: HashedStatus
    conflict_sha256: str | None
    meta_json: Meta  # the row's whole metadata afterwards


@dataclass
class ModelQuery:
    type: str | None = None
    q: str | None = None
    tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    base_model: str | None = None
    status: ModelStatus | Literal["all"] = "ok"
    hide_nsfw: bool = False  # leaves out models flagged NSFW or tagged `nsfw`
    favorite: bool = False  # keeps only the user's favourites
    sort: str = "name"
    direction: SortDirection | None = None  # None: the sort's NATURAL_DIRECTION
    limit: int = 100
    offset: int = 0  # counted from `after` when it is set
    # Where the page starts: after the model with this sort key and sha256 (a page's `next_after`), so that the
    # next page is found by a seek in the sort order rather than by counting past every model before it.
    after: tuple[Any, str] | None = None
    # Only models whose folder is one of these (a model path's parent, as stored) or inside one; None: any folder.
    folders: tuple[str, ...] | None = None
    # Only models neither used nor added since this time (unix seconds); None: any.
    unused_since: float | None = None


class ModelPage(NamedTuple):
    """A page of models, the count of every match, and the key to ask for the page after it with (`after`):
    that of its last model, or None when the page was not full."""

    items: list[dict[str, Any]]
    total: int
    next_after: tuple[Any, str] | None = None


@dataclass(frozen=True)
class NewPending:
    """A pending row that arrives with metadata and tags (from the first version's database). Without a stat its
    file was not read: it is kept in error with `error` as the reason (by default, that the file is gone)."""

    path: str
    type: str
    stat: FileStat | None
    meta: Meta
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
    meta_json: Meta
    main_path: str  # the model's path afterwards
    main_stat: FileStat
    copies: list[tuple[str, FileStat]]  # paths that become (or stay) copies of the model
    images: list[tuple[int, int, int]]  # (seq, width, height) appended to the model
    # Other pending rows that name one of the model's files by another path: they join it as its paths.
    aliases: list[Alias] = field(default_factory=list)
    # A row promoted by the transaction that would have recorded its hashes (auto-import of a file just hashed,
    # its row still `hashing`): the model's content comes from here, as the row never held it.
    hashed: HashRecord | None = None


@dataclass(frozen=True)
class Alias:
    """A pending row whose file is one of a model's own files under another name (a symlinked folder, a bind
    mount, `/proc/self/root`, a hard link)."""

    pending_id: int
    path: str
    stat: FileStat
    meta_json: Meta


@dataclass
class Removal:
    """What taking a model out of the library left: its image numbers (the caller removes their files), the
    pending rows its files are back in the queue as, the rows that conflicted with it and are ready now, and what
    is known of its content (so the files are filed again without reading them)."""

    seqs: list[int]
    released: list[PendingRow]
    reopened: list[PendingRow]
    header: Meta


@dataclass(frozen=True)
class CopiedModel:
    """A model that has the same content in more than one file: its row (the main file) and its copies' paths
    with the fingerprints recorded when they were hashed."""

    model: ModelRow
    copies: list[tuple[str, FileStat]]


@dataclass(frozen=True)
class HeldContent:
    """A content asked about by its sha256 (or a prefix of it): the library's model of it, if there is one, and
    the files of this host that hold it (the model's own, its copies, hashed files of the queue), by path."""

    sha256: str
    model_name: str | None  # None: no model has this content (a file of the queue may)
    paths: tuple[str, ...]


LOOKUP_STATES = ("found", "not_found", "failed")


@dataclass(frozen=True)
class LookupState:
    """What the metadata sources last said about a content (its sha256), shared by every host of a library."""

    sha256: str
    state: str  # one of LOOKUP_STATES
    source: str | None  # the source that knew it (found)
    checked_at: float
    notes: list[str]  # what the sources said besides: errors, answers about other files
    record: Meta | None  # the source's record (found): `webmeta.sources.WebRecord.to_json()`


@dataclass(frozen=True)
class QueuedLookup:
    """A content waiting to be looked up (`force`: even if "not found" was said less than a week ago)."""

    sha256: str
    force: bool
    attempts: int  # lookups of it that failed so far
    asks: int  # how often it was asked for: `drop_lookup` takes it out only if no one asked again since


@dataclass(frozen=True)
class WebTaken:
    """What a record from the web changed of a model: the user fields it filled, the tags and images it added."""

    fields: list[str]
    tags: list[str]
    images: int


@dataclass(frozen=True)
class Use:
    """A model file that ComfyUI loaded, as the store counts it: the use's id (each is counted once ever), when it
    ran (unix seconds, never later than when it is counted) and the model it was, None when the library has none."""

    id: str
    at: float
    sha256: str | None


@dataclass(frozen=True)
class UsesCounted:
    """What counting a batch of uses did: how many were new and counted, seen before, or of no model (new but
    not in the library); and each model counted, with its count and last use afterwards."""

    counted: int
    repeated: int
    unknown: int
    models: list[tuple[str, int, float]]  # (sha256, use_count, last_used_at)
