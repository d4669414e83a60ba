"""Read a version-1 Hikaze database (`hikaze_mm.sqlite3`) so that its models can become pending rows here.

This module only reads. The v1 file stays byte-for-byte as it was and no file appears next to it, even though
v1 ran its database in WAL mode: a read-only connection to an idle WAL database would leave new -wal and -shm
files behind, so such a file is opened as immutable and checked afterwards for changes instead (`_read_tables`).

v1 tags every model with its own type (`lora`, `checkpoints`, ...) and cannot untag it, and it creates a fixed
set of such type tags at start. Those are not the user's tags: `type` already carries that information, so
they are left out of `LegacyItem.tags` and, unless some model carries them as real tags, of `LegacyExport.tags`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from hikaze_mm.inspect.base_model import unique_words
from hikaze_mm.store.records import is_sha256

SQLValue = int | float | str | bytes | None
Rows = list[dict[str, SQLValue]]

_MAGIC = b"SQLite format 3\x00"
YIELD_EVERY = 16  # rows between two _yield()s: well under a millisecond of work
_REQUIRED_COLUMNS = {"models": ("id", "path"), "tags": ("id", "name"), "model_tags": ("model_id", "tag_id")}
_METADATA_KEYS = ("description", "community_links", "images", "prompts")
_LINK_SEPARATORS = re.compile(r"[\s,]+")
_PATH_SEPARATORS = re.compile(r"[\\/]")
# v1 `config.SYSTEM_TAGS`: created at every start, whether or not any model has that type.
_V1_TYPE_TAGS = frozenset({"checkpoint", "lora", "embedding", "vae", "upscale", "ultralytics", "other"})
_TYPE_FOLDERS = {
    **dict.fromkeys(("checkpoint", "checkpoints", "stable-diffusion", "ckpt"), "checkpoints"),
    **dict.fromkeys(("lora", "loras", "lycoris"), "loras"),
    "vae": "vae",
    **dict.fromkeys(("embedding", "embeddings", "textual_inversion"), "embeddings"),
    "hypernetwork": "hypernetworks",
    "controlnet": "controlnet",
    **dict.fromkeys(("upscale", "upscaler", "upscale_models", "esrgan"), "upscale_models"),
    **dict.fromkeys(("clip", "text_encoder"), "text_encoders"),
    **dict.fromkeys(("unet", "diffusion_model"), "diffusion_models"),
}


def _yield() -> None:
    """Hands the interpreter lock to whoever waits for it. The daemon reads a v1 database in a thread beside its
    event loop, and a thread that only computes keeps the lock for a whole switch interval (5 ms) each time the loop
    hands it over on its way to the socket or the database: tens of such waits in one request add up to a quarter
    of a second. Yielding every few rows makes each wait a fraction of a millisecond."""
    time.sleep(0)


class LegacyError(Exception):
    """The file cannot be read as a v1 database, or the images folder is unusable; the message says which."""


@dataclass
class LegacyItem:
    legacy_id: int
    path: str
    name: str
    type: str
    size_bytes: int
    created_at: SQLValue
    claimed_sha256: str | None
    meta: dict[str, Any]
    tags: list[str]
    image: str | None
    notes: list[str] = field(default_factory=list)


@dataclass
class LegacyExport:
    items: list[LegacyItem]
    tags: list[str]
    skipped: list[tuple[int | None, str]]
    source: str


def read_legacy(db_path: str, images_dir: str | None) -> LegacyExport:
    """Everything a v1 database holds about its models, ready to become pending rows; writes nothing."""
    source = os.path.abspath(db_path)
    models, tags, links = _read_tables(source)
    images = _ImageFolder(images_dir) if images_dir is not None else None
    return _export(source, models, tags, links, images)


def check_legacy(db_path: str, images_dir: str | None) -> tuple[str, int]:
    """The database's absolute path and its number of model rows, if it can be read as a v1 database and the images
    folder is usable (LegacyError if not): what `read_legacy` checks first, at a fraction of its cost."""
    source = os.path.abspath(db_path)
    with _snapshot(source) as conn:
        (count,) = conn.execute("SELECT count(*) FROM models").fetchone()
    if images_dir is not None:
        _ImageFolder(images_dir)
    return source, count


# -- the file ---------------------------------------------------------------------------------------------------
def _read_tables(source: str) -> tuple[Rows, Rows, Rows]:
    with _snapshot(source) as conn:
        models = _rows(conn, "SELECT * FROM models ORDER BY id")
        tags = _rows(conn, "SELECT * FROM tags ORDER BY id")
        links = _rows(conn, "SELECT model_id, tag_id FROM model_tags ORDER BY model_id, tag_id")
    return models, tags, links


@contextlib.contextmanager
def _snapshot(source: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the v1 database, inside one read transaction, with its schema checked."""
    header = _header(source)
    # A read-only connection to a WAL database creates -wal and -shm when they are missing and cannot remove them
    # again. Without them nobody has the file open and it holds every committed page, so reading it as immutable
    # sees the same data and creates nothing; since an immutable connection takes no locks, a v1 that starts
    # writing meanwhile is caught by comparing the file before and after. A WAL database in use (its -wal or -shm
    # present) and a rollback-journal one are read through plain read-only mode, which creates nothing there.
    wal = header[18:19] == b"\x02"  # the file format version byte says 2 for WAL
    immutable = wal and not any(os.path.lexists(source + suffix) for suffix in ("-wal", "-shm"))
    before = _identity(source)
    try:
        conn = sqlite3.connect(_uri(source, immutable), uri=True)
    except sqlite3.Error as e:
        raise LegacyError(f"{source} cannot be opened: {e}") from e
    try:
        # v1 wrote through Python, so text is UTF-8; still, one damaged value must not make the whole file unreadable
        conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
        conn.execute("BEGIN")  # one snapshot for all tables, even if v1 is writing right now
        _check_schema(conn, source)
        yield conn
    except sqlite3.Error as e:
        raise LegacyError(f"{source} cannot be read as a v1 database: {e}") from e
    finally:
        conn.close()
    if immutable and _identity(source) != before:
        raise LegacyError(f"{source} changed while it was being read (is Hikaze v1 running?); try again")


def _header(source: str) -> bytes:
    if not os.path.exists(source):
        raise LegacyError(f"{source} does not exist")
    if not os.path.isfile(source):
        raise LegacyError(f"{source} is not a file")
    try:
        with open(source, "rb") as f:
            header = f.read(100)
    except OSError as e:
        raise LegacyError(f"{source} cannot be read: {e.strerror}") from e
    if not header.startswith(_MAGIC):
        raise LegacyError(f"{source} is not an SQLite database")
    return header


def _identity(source: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(source)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _uri(source: str, immutable: bool) -> str:
    # Quoting keeps ?, # and % in names from being read as URI syntax. The empty authority ("file://" + "/...")
    # keeps a path that starts with "//" from being taken for a host; on Windows SQLite drops the "/" before "C:".
    posix = Path(source).as_posix()
    if not posix.startswith("/"):
        posix = "/" + posix
    return f"file://{quote(posix)}?mode=ro" + ("&immutable=1" if immutable else "")


def _check_schema(conn: sqlite3.Connection, source: str) -> None:
    tables = {row[0].lower() for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    absent = [table for table in _REQUIRED_COLUMNS if table not in tables]
    if absent:
        raise LegacyError(f"{source} is not a Hikaze v1 database: it has no {', '.join(absent)} table")
    for table, needed in _REQUIRED_COLUMNS.items():
        columns = {row[1].lower() for row in conn.execute(f"PRAGMA table_info({table})")}
        missing = [column for column in needed if column not in columns]
        if missing:
            raise LegacyError(f"{source} is not a Hikaze v1 database: table {table} has no {', '.join(missing)}")


def _rows(conn: sqlite3.Connection, sql: str) -> Rows:
    cursor = conn.execute(sql)
    # Lower-cased names because SQLite column names are case-insensitive and old files may spell them otherwise.
    columns = [description[0].lower() for description in cursor.description]
    rows: Rows = []
    for row in cursor:
        rows.append(dict(zip(columns, row, strict=True)))
        if len(rows) % YIELD_EVERY == 0:
            _yield()
    return rows


# -- the rows ---------------------------------------------------------------------------------------------------
def _export(source: str, models: Rows, tags: Rows, links: Rows, images: _ImageFolder | None) -> LegacyExport:
    tag_names = {row["id"]: _tag_name(row["name"]) for row in tags}
    tags_of: dict[int, list[SQLValue]] = {}
    for link in links:
        if isinstance(link["model_id"], int):
            tags_of.setdefault(link["model_id"], []).append(link["tag_id"])

    items: list[LegacyItem] = []
    skipped: list[tuple[int | None, str]] = []
    first_with_path: dict[str, int] = {}
    for count, row in enumerate(models, 1):
        if count % YIELD_EVERY == 0:
            _yield()
        legacy_id, path = row["id"], row["path"]
        if not isinstance(legacy_id, int):
            skipped.append((None, f"id {legacy_id!r} is not an integer"))
            continue
        if path is None or (isinstance(path, str) and not path.strip()):
            skipped.append((legacy_id, "no path"))
            continue
        if not isinstance(path, str):
            skipped.append((legacy_id, f"path is not text but {type(path).__name__}"))
            continue
        key = os.path.normcase(os.path.normpath(path))
        if key in first_with_path:
            skipped.append((legacy_id, f"same path as v1 model {first_with_path[key]}"))
            continue
        first_with_path[key] = legacy_id
        items.append(_item(legacy_id, path, row, tags_of.get(legacy_id, []), tag_names, images))

    # A type tag stays only where some model carries it as a real tag (a checkpoint tagged "vae", say).
    type_tags = _V1_TYPE_TAGS | {_folded(row.get("type")) for row in models}
    kept = {tag.casefold() for item in items for tag in item.tags}
    all_names = unique_words([name for name in tag_names.values() if name is not None])
    return LegacyExport(
        items=items,
        tags=[name for name in all_names if name.casefold() not in type_tags or name.casefold() in kept],
        skipped=skipped,
        source=source,
    )


def _item(
    legacy_id: int,
    path: str,
    row: dict[str, SQLValue],
    tag_ids: list[SQLValue],
    tag_names: dict[SQLValue, str | None],
    images: _ImageFolder | None,
) -> LegacyItem:
    notes: list[str] = []
    v1_type, hash_hex = row.get("type"), row.get("hash_hex")
    data = _metadata(row, notes)
    image_list = _image_list(data.get("images"), notes)
    meta: dict[str, Any] = {}
    description = _text(data.get("description"), "description", notes)
    if description:
        meta["description"] = description
    links = _links(data.get("community_links"), notes)
    if links:
        meta["community_links"] = links
    prompts = _prompts(data.get("prompts"), notes)
    if prompts:
        meta["prompts"] = prompts
    meta["legacy"] = {"id": legacy_id, "type": _plain(v1_type), "hash_hex": _plain(hash_hex), "images": image_list}
    ignored = sorted(key for key in data if key not in _METADATA_KEYS)
    if ignored:
        notes.append(f"metadata keys not imported: {', '.join(ignored)}")

    name = row.get("name")
    return LegacyItem(
        legacy_id=legacy_id,
        path=path,
        name=name.strip() if isinstance(name, str) and name.strip() else _basename(path),
        type=_folder(v1_type),
        size_bytes=_size(row.get("size_bytes")),
        created_at=row.get("created_at"),
        claimed_sha256=hash_hex.lower() if isinstance(hash_hex, str) and is_sha256(hash_hex.lower()) else None,
        meta=meta,
        tags=_item_tags(tag_ids, tag_names, _folded(v1_type), notes),
        image=_first_image(image_list, images, notes),
        notes=notes,
    )


def _metadata(row: dict[str, SQLValue], notes: list[str]) -> dict[str, Any]:
    data = _json_object(row.get("extra_json"), "extra_json", notes)
    if any(key in data for key in _METADATA_KEYS) or "meta_json" not in row:
        return data
    # v1 kept the user's metadata in extra_json and meant meta_json for the scanner, but some files carry the
    # same keys in meta_json only; when extra_json has none of them, meta_json is the only copy there is.
    fallback = _json_object(row["meta_json"], "meta_json", notes)
    if not any(key in fallback for key in _METADATA_KEYS):
        return data
    notes.append("metadata taken from meta_json because extra_json has none")
    return fallback


def _json_object(value: SQLValue, column: str, notes: list[str]) -> dict[str, Any]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if not isinstance(value, str):
        notes.append(f"{column} is not text")
        return {}
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        notes.append(f"{column} is not valid JSON")
        return {}
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        notes.append(f"{column} is not a JSON object")
        return {}
    return parsed


def _text(value: Any, what: str, notes: list[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        notes.append(f"{what} is not text")
        return ""
    return value.strip()


def _links(value: Any, notes: list[str]) -> list[str]:
    """v1 kept one free-text string; every http(s) URL in it becomes a link of its own."""
    urls: list[str] = []
    dropped: list[str] = []
    for token in _LINK_SEPARATORS.split(_text(value, "community_links", notes)):
        if not token:
            continue
        try:
            parts = urlsplit(token)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme.lower() in ("http", "https") and parts.netloc:
            urls.append(token)
        else:
            dropped.append(token)
    if dropped:
        notes.append(f"community_links: not http(s) URLs, dropped: {', '.join(dropped)}")
    return list(dict.fromkeys(urls))  # a URL's path tells case apart


def _prompts(value: Any, notes: list[str]) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        notes.append("prompts is not an object")
        return None
    positive = _text(value.get("positive"), "prompts.positive", notes)
    negative = _text(value.get("negative"), "prompts.negative", notes)
    return {"positive": positive, "negative": negative} if positive or negative else None


def _image_list(value: Any, notes: list[str]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        notes.append("images is not a list")
        return []
    return value


def _first_image(image_list: list[Any], images: _ImageFolder | None, notes: list[str]) -> str | None:
    # v1 only ever showed the first image, and only its file name counts: the rest was its URL ("/media/...").
    if images is None or not image_list:
        return None
    first = image_list[0]
    basename = _basename(first) if isinstance(first, str) else ""
    if basename in ("", ".", ".."):
        notes.append(f"first image {first!r} has no file name")
        return None
    found = images.find(basename)
    if found is None:
        notes.append(f"image {basename} not found in {images.path}")
    return found


def _item_tags(
    tag_ids: list[SQLValue], tag_names: dict[SQLValue, str | None], own_type: str, notes: list[str]
) -> list[str]:
    names: list[str] = []
    for tag_id in tag_ids:
        if tag_id not in tag_names:
            notes.append(f"tag id {tag_id!r} does not exist")
            continue
        name = tag_names[tag_id]
        if name is None:
            notes.append(f"tag id {tag_id!r} has no name")
        # No note for the type tag: v1 put one on every model, so the note would only repeat the module docstring.
        elif name.casefold() != own_type:
            names.append(name)
    return unique_words(names)


def _tag_name(value: SQLValue) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _folder(v1_type: SQLValue) -> str:
    lowered = v1_type.strip().lower() if isinstance(v1_type, str) else ""
    return _TYPE_FOLDERS.get(lowered, lowered) or "other"


def _folded(value: SQLValue) -> str:
    return value.strip().casefold() if isinstance(value, str) else ""


def _size(value: SQLValue) -> int:
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value.is_integer():
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return 0


def _plain(value: SQLValue) -> int | float | str | None:
    """What goes into `meta` must survive json.dumps; a blob is kept as hex."""
    return value.hex() if isinstance(value, bytes) else value


def _basename(path: str) -> str:
    # v1 may have run on Windows: both separators count, whatever this system uses.
    return _PATH_SEPARATORS.split(path)[-1]


class _ImageFolder:
    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        if not os.path.isdir(self.path):
            raise LegacyError(f"images folder {self.path} does not exist or is not a folder")
        self._by_folded_name: dict[str, str] | None = None

    def find(self, basename: str) -> str | None:
        exact = os.path.join(self.path, basename)
        if os.path.isfile(exact):
            return exact
        if self._by_folded_name is None:
            self._by_folded_name = self._list()
        name = self._by_folded_name.get(basename.casefold())
        return os.path.join(self.path, name) if name is not None else None

    def _list(self) -> dict[str, str]:
        # Listed once per read, only when an exact name misses: v1 kept its images in one flat folder.
        try:
            with os.scandir(self.path) as entries:
                names = sorted(entry.name for entry in entries if entry.is_file())
        except OSError as e:
            raise LegacyError(f"images folder {self.path} cannot be listed: {e.strerror}") from e
        by_folded_name: dict[str, str] = {}
        for name in names:
            by_folded_name.setdefault(name.casefold(), name)
        return by_folded_name
