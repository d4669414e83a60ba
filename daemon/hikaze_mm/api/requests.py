"""The typed requests: each route's parameters, read and checked once, here. What leaves this module is of the
right type and within its limits, so the services it goes to check nothing of it again."""

from __future__ import annotations

import math
import os
import re
import time
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeGuard

from multidict import MultiDict

from hikaze_mm.api.errors import BadRequest
from hikaze_mm.api.model_edit import clean_tag
from hikaze_mm.api.origin_policy import origin_or_none
from hikaze_mm.api.params import Query, bool_param, choice_param, int_param, one_of, only
from hikaze_mm.config.roots import Root, RootSet, within
from hikaze_mm.library.bulk import ACTIONS, MAX_BULK, Action, BulkChange, FilterSelection
from hikaze_mm.library.cursor import BadCursor, decode_cursor
from hikaze_mm.library.folders import FolderError, clean_folder
from hikaze_mm.library.importer import STRATEGIES
from hikaze_mm.library.usage import ReportedUse
from hikaze_mm.store.records import (
    ACTIVE_STATUSES,
    MAX_INTEGER,
    MAX_TAGS,
    PENDING_STATUSES,
    SORT_DIRECTIONS,
    SORT_KEYS,
    ModelQuery,
    ModelStatus,
    PendingStatus,
    is_sha256,
)

MAX_LIMIT = 1000
MAX_BATCH = 10_000
# Each tag and each word of a search is one more condition of its SQL, and SQLite refuses an expression more than
# 1000 deep: the limits keep far below that (a model carries at most 200 tags anyway).
MAX_FILTER_TAGS = 200
MAX_WORDS = 100
MAX_EXCEPT = 10_000  # models a bulk change by filter leaves out
MAX_BASE_MODEL = 64
FILTER_KEYS = ("type", "q", "tags", "exclude_tags", "base_model", "status", "hide_nsfw", "favorite", "folder",
               "unused_days", "unused_before")
MAX_UNUSED_DAYS = 36500
MAX_TIME = 32 * 10**9  # seconds since 1970 of a time the daemon takes (the year 3000 is before it)
DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
DAY_S = 86400
# A search or folder of the inbox is typed or picked by a person: anything longer is not one.
MAX_SEARCH = 1000
MAX_PATH = 4096  # characters of a file path (Linux's PATH_MAX is as many bytes)
MODEL_STATUS_FILTERS: tuple[ModelStatus | Literal["all"], ...] = ("ok", "missing", "all")


# -- query strings ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingListing:
    """GET /api/pending: which statuses (None for all) and type, and the page."""

    statuses: tuple[PendingStatus, ...] | None
    type: str | None
    limit: int
    offset: int
    q: str | None = None
    # The absolute folders `folder` names (one per model folder it can be in); None for no folder filter.
    folders: tuple[str, ...] | None = None

    @classmethod
    def from_query(cls, query: Query, roots: RootSet) -> PendingListing:
        q = query.get("q") or None
        if q is not None and (len(q) > MAX_SEARCH or any(unicodedata.category(c) == "Cc" for c in q)):
            raise BadRequest(f"`q` must be at most {MAX_SEARCH} characters, without control characters")
        return cls(_statuses(query), choice_param(query, "type", None), int_param(query, "limit", 100, 0, MAX_LIMIT),
                   int_param(query, "offset", 0, 0, MAX_INTEGER), q, _folders(query.get("folder") or None, roots))


def _folders(raw: str | None, roots: RootSet) -> tuple[str, ...] | None:
    """`folder`: an absolute folder, or one relative to the model folders (`loras/characters`); the prefixes a
    queued file's path starts with when it is inside, each ending in a separator."""
    if raw is None:
        return None
    if len(raw) > MAX_SEARCH or any(unicodedata.category(c) == "Cc" for c in raw):
        raise BadRequest(f"`folder` must be a folder path of at most {MAX_SEARCH} characters")
    parts = raw.replace("\\", "/").split("/")
    if ".." in parts:
        raise BadRequest("`folder` may not climb out of the model folders (`..`)")
    if os.path.isabs(raw):
        return (os.path.normpath(raw).rstrip(os.sep) + os.sep,)
    rel = os.path.normpath(os.path.join(*[p for p in parts if p not in ("", ".")] or ["."]))
    if rel == ".":
        return tuple(dict.fromkeys(r.path.rstrip(os.sep) + os.sep for r in roots))
    return tuple(dict.fromkeys(os.path.join(r.path, rel) + os.sep for r in roots))


def _statuses(query: Query) -> tuple[PendingStatus, ...] | None:
    """`status`: one status, several separated by commas, or `active` for every status but `ignored`."""
    raw = query.get("status")
    if raw is None or raw == "":
        return None
    refusal = (f"`status` must be one of {', '.join((*PENDING_STATUSES, 'active'))} or several of them separated "
               f"by commas, got {raw[:200]!r}")
    statuses: list[PendingStatus] = []
    for name in raw.split(","):
        statuses.extend(ACTIVE_STATUSES if name == "active" else (one_of(name, PENDING_STATUSES, refusal),))
    return tuple(dict.fromkeys(statuses))


def model_query(query: Query, *, paged: bool) -> ModelQuery:
    """The filters GET /api/models and GET /api/facets share; `paged` adds the listing's order and page."""
    found = ModelQuery(
        type=choice_param(query, "type", None),
        q=_words(query),
        tags=_names(query, "tags"),
        exclude_tags=_names(query, "exclude_tags"),
        base_model=choice_param(query, "base_model", None),
        status=choice_param(query, "status", MODEL_STATUS_FILTERS) or "ok",
        hide_nsfw=bool_param(query, "hide_nsfw"),
        favorite=bool_param(query, "favorite"),
        unused_since=_unused_since(query),
    )
    if paged:
        sort = choice_param(query, "sort", SORT_KEYS) or "name"
        direction = choice_param(query, "dir", SORT_DIRECTIONS)
        found = replace(found, sort=sort, direction=direction, limit=int_param(query, "limit", 100, 0, MAX_LIMIT),
                        offset=int_param(query, "offset", 0, 0, MAX_INTEGER), after=_after(query, sort, direction))
    if found.q is not None and any(unicodedata.category(c) == "Cc" for c in found.q):
        raise BadRequest("`q` may not contain control characters")
    return found


def _unused_since(query: Query) -> float | None:
    """`unused_days` or `unused_before`: models neither used nor added in that many days, or since that time, as
    the time since which they were not. `unused_days` makes a whole minute, so the pages of a listing asked for
    within one share their count (taken once per time and state of the library); what is a minute in days of
    disuse. The listing answers the time it used, and a client sends it back as `unused_before` to reach the
    very models it listed, whenever it asks."""
    before = query.get("unused_before") or None
    if before is not None and query.get("unused_days"):
        raise BadRequest("send `unused_days` or `unused_before`, not both")
    if before is not None:
        return _time(before, "unused_before")
    days = int_param(query, "unused_days", 0, 1, MAX_UNUSED_DAYS)
    return (time.time() - days * DAY_S) // 60 * 60 if days else None


def _time(raw: str, name: str) -> float:
    """A time as a decimal number of seconds since 1970, as a listing answered it (ASCII digits only: float() also
    takes "1_0", " 5", "nan" and other scripts' digits)."""
    value = float(raw) if len(raw) <= 40 and DECIMAL.fullmatch(raw) else math.nan
    if not 0 <= value <= MAX_TIME:  # also NaN
        raise BadRequest(f"`{name}` must be a time in seconds since 1970, as a listing answered it; got {raw[:80]!r}")
    return value


def model_path(query: Query) -> str:
    """`path` of GET /api/models/by-path: an absolute file path."""
    path = query.get("path") or ""
    if not os.path.isabs(path) or len(path) > MAX_PATH or "\0" in path:
        raise BadRequest(f"`path` must be the absolute path of a model file, at most {MAX_PATH} characters")
    return path


def folder_param(query: Query) -> str | None:
    """`folder`: a folder of the tree (`loras/styles`), its sub-folders included; empty or absent for any."""
    raw = query.get("folder")
    if not raw or not raw.strip("/ "):
        return None
    try:
        return clean_folder(raw)
    except FolderError as e:
        raise BadRequest(str(e)) from None


def _after(query: Query, sort: str, direction: str | None) -> tuple[Any, str] | None:
    token = query.get("after")
    if not token:
        return None
    try:
        return decode_cursor(token, sort, direction)
    except BadCursor as e:
        raise BadRequest(str(e)) from None


def _names(query: Query, name: str) -> list[str]:
    names = [t.strip() for raw in query.getall(name, []) for t in raw.split(",") if t.strip()]
    if len(names) > MAX_FILTER_TAGS:
        raise BadRequest(f"`{name}` names {len(names)} tags; at most {MAX_FILTER_TAGS}")
    return names


def _words(query: Query) -> str | None:
    q = query.get("q") or None
    if q is not None and len(q.split()) > MAX_WORDS:
        raise BadRequest(f"`q` has {len(q.split())} words; at most {MAX_WORDS}")
    return q


def picker_origin(query: Query) -> str:
    raw = query.get("origin", "")
    origin = origin_or_none(raw)
    if origin is None:
        raise BadRequest(f"`origin` must be an origin such as http://127.0.0.1:8188, got {raw[:200]!r}")
    return origin


# -- JSON bodies ------------------------------------------------------------------------------------------------
def _ids(body: dict[str, Any], key: str = "ids") -> list[int]:
    ids = body.get(key)
    if not isinstance(ids, list) or not ids or len(ids) > MAX_BATCH:
        raise BadRequest(f"`{key}` must be a list of 1 to {MAX_BATCH} pending ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_INTEGER for i in ids):
        raise BadRequest(f"`{key}` must hold pending ids (positive whole numbers)")
    return list(dict.fromkeys(ids))


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"`{name}` must be true or false")
    return value


@dataclass(frozen=True)
class PendingIds:
    """POST /api/pending/restore and /retry: the rows, each once."""

    ids: list[int]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> PendingIds:
        only(body, ("ids",))
        return cls(_ids(body))


@dataclass(frozen=True)
class ImportRequest:
    """POST /api/pending/import."""

    ids: list[int]
    strategy: str | None  # what to do with a conflict; None leaves conflicts where they are
    delete_files: bool
    confirm_damaged: bool  # the user was told which files look damaged and imports them anyway

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ImportRequest:
        only(body, ("ids", "conflict_strategy", "delete_files", "confirm_damaged"))
        ids = _ids(body)
        strategy = body.get("conflict_strategy")
        if strategy is not None and strategy not in STRATEGIES:
            raise BadRequest(f"`conflict_strategy` must be null or one of {', '.join(STRATEGIES)}, got {strategy!r}")
        return cls(ids, strategy, _flag(body, "delete_files"), _flag(body, "confirm_damaged"))


@dataclass(frozen=True)
class ScanRequest:
    """POST /api/scan: the top-level folders to walk, or None for all of them."""

    folders: list[Root] | None

    @classmethod
    def from_body(cls, body: dict[str, Any], roots: RootSet) -> ScanRequest:
        unknown = set(body) - {"roots"}
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}; the only field is `roots`")
        if "roots" not in body:
            return cls(None)
        wanted = body["roots"]
        if not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted) or not wanted:
            raise BadRequest("`roots` must be a non-empty list of folder paths from GET /api/status")
        # `within` compares strings: "<root>/../elsewhere" would pass for a folder in the root unless normalised.
        wanted = [os.path.normpath(p) for p in wanted]
        if not all(os.path.isabs(p) for p in wanted):
            raise BadRequest("`roots` must hold absolute folder paths, as GET /api/status lists them")
        chosen = [r for r in roots.top_level() if any(within(r.path, p) or within(p, r.path) for p in wanted)]
        strays = [p for p in wanted if not any(within(p, r.path) for r in roots)]
        if strays:
            raise BadRequest(f"not a configured model folder: {', '.join(strays)}")
        return cls(chosen)


@dataclass(frozen=True)
class SessionRequest:
    """POST /api/session: the token the user typed; None when the body carries no text under `token`."""

    token: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> SessionRequest:
        only(body, ("token",))
        token = body.get("token")
        return cls(token if isinstance(token, str) else None)


@dataclass(frozen=True)
class DeleteModelRequest:
    """DELETE /api/models/{sha256}: whether the model's files are set aside (ignored) or queued again."""

    ignore_file: bool

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> DeleteModelRequest:
        only(body, ("ignore_file",))
        return cls(_flag(body, "ignore_file"))


@dataclass(frozen=True)
class CoverRequest:
    """PUT /api/models/{sha256}/cover: the number of the image that becomes the cover."""

    seq: int

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> CoverRequest:
        only(body, ("seq",))
        seq = body.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_INTEGER:
            raise BadRequest("`seq` must be the number of one of the model's images")
        return cls(seq)


@dataclass(frozen=True)
class LegacyRequest:
    """POST /api/migrate/legacy: the v1 database and, if not beside it, its images folder."""

    db_path: str
    images_dir: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> LegacyRequest:
        only(body, ("db_path", "images_dir"))
        db_path, images_dir = body.get("db_path"), body.get("images_dir")
        if not isinstance(db_path, str) or not db_path.strip() or "\0" in db_path:
            raise BadRequest("`db_path` must be the path of a v1 database file (hikaze_mm.sqlite3)")
        if images_dir is not None and (not isinstance(images_dir, str) or "\0" in images_dir):
            raise BadRequest("`images_dir` must be a folder path or null")
        return cls(db_path, images_dir)


@dataclass(frozen=True)
class BulkRequest:
    """POST /api/models/bulk: the change, and the models as sha256s or as a filter of GET /api/models (its query
    parameters as an object of strings) with the models to leave out (`except`) and where this page starts."""

    change: BulkChange
    selection: list[str] | FilterSelection

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> BulkRequest:
        only(body, ("action", "sha256s", "filter", "except", "after", "limit", "tags", "base_model", "nsfw",
                    "favorite"))
        action = body.get("action")
        refusal = f"`action` must be one of {', '.join(ACTIONS)}"
        if not isinstance(action, str):
            raise BadRequest(refusal)
        return cls(_bulk_change(one_of(action, ACTIONS, refusal), body), _bulk_selection(body))


def _bulk_change(action: Action, body: dict[str, Any]) -> BulkChange:
    wanted = {"tags_add": "tags", "tags_remove": "tags", "set_base_model": "base_model", "set_nsfw": "nsfw",
              "set_favorite": "favorite"}
    arg = wanted.get(action)
    stray = [k for k in ("tags", "base_model", "nsfw", "favorite") if k in body and k != arg]
    if stray:
        raise BadRequest(f"`{stray[0]}` does not go with the action {action}")
    if arg == "tags":
        tags = body.get("tags")
        if not isinstance(tags, list) or not 1 <= len(tags) <= MAX_TAGS:
            raise BadRequest(f"`tags` must be a list of 1 to {MAX_TAGS} tag names")
        names = list(dict.fromkeys(clean_tag(t) for t in tags))
        return BulkChange(action, tags=tuple(names))
    if arg == "base_model":
        base = body.get("base_model")
        if not isinstance(base, str) or not base.strip() or len(base) > MAX_BASE_MODEL or any(
                unicodedata.category(c).startswith("C") for c in base):
            raise BadRequest(f"`base_model` must be a name of 1 to {MAX_BASE_MODEL} characters, without control "
                             "characters")
        return BulkChange("set_base_model", base_model=base.strip())
    if arg == "nsfw":
        if not isinstance(body.get("nsfw"), bool):
            raise BadRequest("`nsfw` must be true or false")
        return BulkChange("set_nsfw", nsfw=body["nsfw"])
    if arg == "favorite":
        if not isinstance(body.get("favorite"), bool):
            raise BadRequest("`favorite` must be true or false")
        return BulkChange("set_favorite", favorite=body["favorite"])
    return BulkChange(action)


def _shas(body: dict[str, Any], key: str, most: int, least: int) -> list[str]:
    value = body.get(key)
    if not isinstance(value, list) or not least <= len(value) <= most or not all(is_sha256(v) for v in value):
        raise BadRequest(f"`{key}` must be a list of {least} to {most} model ids (sha256s: 64 lower-case hex digits)")
    return list(dict.fromkeys(value))


def _bulk_selection(body: dict[str, Any]) -> list[str] | FilterSelection:
    if ("sha256s" in body) == ("filter" in body):
        raise BadRequest("send the models either as `sha256s` or as a `filter`, one of the two")
    if "sha256s" in body:
        stray = [k for k in ("except", "after", "limit") if k in body]
        if stray:
            raise BadRequest(f"`{stray[0]}` goes with a `filter`, not with `sha256s`")
        return _shas(body, "sha256s", MAX_BULK, 1)
    query, folder = filter_query(body["filter"])
    if body.get("after") is not None and body["filter"].get("unused_days"):
        # Each page would take its own cut-off, and a model crossing the line between two pages would be reached.
        raise BadRequest("a later page of a bulk change by `unused_days` must send, in place of it, the "
                         "`unused_before` the first page answered, so that every page selects by the same time")
    skip = frozenset(_shas(body, "except", MAX_EXCEPT, 0)) if "except" in body else frozenset()
    after = body.get("after")
    if after is not None and not is_sha256(after):
        raise BadRequest("`after` must be null or the `next` of the page before (a sha256)")
    limit = body.get("limit", MAX_BULK)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BULK:
        raise BadRequest(f"`limit` must be a whole number from 1 to {MAX_BULK}")
    return FilterSelection(query, skip, after, limit, folder)


def filter_query(raw: Any) -> tuple[ModelQuery, str | None]:
    """A `filter` of a request body (GET /api/models's query parameters as an object of strings): its query, and
    the folder it names."""
    if not isinstance(raw, dict) or not all(
            k in FILTER_KEYS and (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)))
            for k, v in raw.items()):
        raise BadRequest(f"`filter` must be an object of strings (or lists of them) under {', '.join(FILTER_KEYS)}, "
                         "as GET /api/models takes them")
    params: MultiDict[str] = MultiDict()
    for key, value in raw.items():
        for item in value if isinstance(value, list) else [value]:
            params.add(key, item)
    return model_query(params, paged=False), folder_param(params)


@dataclass(frozen=True)
class FetchRequest:
    """POST /api/metadata/fetch: the models to look up (as sha256s, as a filter of GET /api/models, or when
    nothing names any, every model no source was asked about yet) or the files of the queue (`pending_ids`), and
    whether a "not found" less than a week old is asked again (`force`)."""

    force: bool
    sha256s: list[str] | None
    filter: tuple[ModelQuery, str | None] | None
    pending_ids: list[int] | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> FetchRequest:
        only(body, ("force", "sha256s", "filter", "pending_ids"))
        if sum(k in body for k in ("sha256s", "filter", "pending_ids")) > 1:
            raise BadRequest("send one of `sha256s`, `filter` and `pending_ids`, not several")
        return cls(_flag(body, "force"), _shas(body, "sha256s", MAX_BULK, 1) if "sha256s" in body else None,
                   filter_query(body["filter"]) if "filter" in body else None,
                   _ids(body, "pending_ids") if "pending_ids" in body else None)


def fetch_force(body: dict[str, Any]) -> bool:
    """POST /api/models/{sha256}/metadata/fetch: `force` only."""
    only(body, ("force",))
    return _flag(body, "force")


MAX_USES = 1000
USE_FIELDS = ("id", "at", "kind", "path", "sha256", "node")
USE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_NAME = 200  # characters of a use's kind or node class
# 2020-01-01: before ComfyUI existed, so only a broken clock or a forged value says it. A floor fixed in time
# rather than counted back from arrival: the node pack drops a refused batch, and a floor that moved would drop
# every good use of a batch it kept while the daemon was away.
EARLIEST_USE = 1_577_836_800


@dataclass(frozen=True)
class UsageRequest:
    """POST /api/usage: the uses of model files a ComfyUI ran, each checked; one bad use refuses the batch, with its
    index and field, so nothing of it is counted."""

    uses: list[ReportedUse]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> UsageRequest:
        only(body, ("uses",))
        uses = body.get("uses")
        if not isinstance(uses, list) or not 1 <= len(uses) <= MAX_USES:
            raise BadRequest(f"`uses` must be a list of 1 to {MAX_USES} uses")
        return cls([_use(i, use) for i, use in enumerate(uses)])


def _use(index: int, use: Any) -> ReportedUse:
    def refuse(field: str, what: str) -> BadRequest:
        return BadRequest(f"use {index}: `{field}` must be {what}")

    if not isinstance(use, dict):
        raise BadRequest(f"use {index} must be an object with {', '.join(USE_FIELDS)}")
    unknown = sorted(set(use) - set(USE_FIELDS))
    if unknown:
        raise BadRequest(f"use {index}: unknown field(s) {', '.join(unknown)[:200]}; allowed: {', '.join(USE_FIELDS)}")
    use_id = use.get("id")
    if not isinstance(use_id, str) or not USE_ID.fullmatch(use_id):
        raise refuse("id", "8 to 64 characters of A-Z, a-z, 0-9, _ and -")
    at = use.get("at")
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or \
            not EARLIEST_USE <= at < MAX_INTEGER:
        raise refuse("at", "the time it ran, in seconds since 1970, not before 2020-01-01 (1577836800)")
    kind, node = use.get("kind"), use.get("node")
    if not _name(kind):
        raise refuse("kind", f"the ComfyUI folder name it was loaded from, 1 to {MAX_NAME} characters")
    if not _name(node):
        raise refuse("node", f"the class_type of the node that loaded it, 1 to {MAX_NAME} characters")
    path = use.get("path")
    if not isinstance(path, str) or len(path) > MAX_PATH or "\0" in path or (path and not os.path.isabs(path)):
        raise refuse("path", f"the absolute path of the file it loaded, or \"\" (at most {MAX_PATH} characters)")
    sha256 = use.get("sha256")
    if sha256 is not None and not is_sha256(sha256.lower() if isinstance(sha256, str) else sha256):
        raise refuse("sha256", "null or the file's SHA-256 as 64 hex digits")
    return ReportedUse(use_id, float(at), kind, path, sha256.lower() if sha256 is not None else None, node)


def _name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 1 <= len(value) <= MAX_NAME and value.strip() == value and not any(
        unicodedata.category(c).startswith("C") for c in value)
