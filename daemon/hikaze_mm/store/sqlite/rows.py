"""The SQL shapes several parts of the store share: how a row is read into its record, how a pending row and a
model's copy are written, and a file's fingerprint columns. One home each, so the parts cannot drift apart."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from typing import Any

from hikaze_mm.store.records import FileStat, Meta, ModelRow, PendingRow

# The columns a row is read from, in the order its record takes them.
PENDING_COLUMNS = ", ".join(f.name for f in fields(PendingRow))
MODEL_COLUMNS = ", ".join(f.name for f in fields(ModelRow))
# A file's fingerprint as an UPDATE sets it; its arguments are a FileStat's values in order.
SET_STAT = "size_bytes = ?, mtime_ns = ?, inode = ?, device = ?"
FILE_COLUMNS = "path, size_bytes, mtime_ns, inode, device"
# `x IN {IN_JSON}` with `json_list(values)` as its one argument: a batch of any size in one statement, never
# more arguments than SQLite takes.
IN_JSON = "(SELECT value FROM json_each(?))"

_PENDING_INSERT_COLUMNS = (
    "path", "size_bytes", "mtime_ns", "inode", "device", "type", "name", "status", "error", "sha256", "blake3",
    "discovered_at", "hashed_at", "updated_at", "meta_json",
)
# A path that has a row already is left alone (`ON CONFLICT`) by every insert but a single new file's.
INSERT_PENDING = (
    f"INSERT INTO pending_import ({', '.join(_PENDING_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_PENDING_INSERT_COLUMNS))})"
)
INSERT_PENDING_IF_NEW = INSERT_PENDING + " ON CONFLICT (path) DO NOTHING"
# Many new rows in one statement, which hands back the rows it added; its argument is `json_rows` of their
# INSERT_PENDING arguments.
_EACH_ARGUMENT = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_PENDING_INSERT_COLUMNS)))
INSERT_PENDING_MANY = (
    f"INSERT INTO pending_import ({', '.join(_PENDING_INSERT_COLUMNS)}) SELECT {_EACH_ARGUMENT} FROM json_each(?) "
    f"WHERE true ON CONFLICT (path) DO NOTHING RETURNING {PENDING_COLUMNS}"
)
INSERT_COPY = (
    "INSERT OR REPLACE INTO model_copies (path, sha256, size_bytes, mtime_ns, inode, device, added_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_IMAGE = "INSERT INTO images (sha256, seq, width, height, created_at) VALUES (?, ?, ?, ?, ?)"


def pending_values(
    path: str, stat: FileStat, type_: str, status: str, now: float, *, error: str | None = None,
    sha256: str | None = None, blake3: str | None = None, hashed_at: float | None = None, meta: Meta | None = None,
    name: str | None = None,
) -> tuple[Any, ...]:
    """The arguments of INSERT_PENDING for a new row, named after its file unless `name` says otherwise."""
    return (path, *stat, type_, os.path.basename(path) if name is None else name, status, error, sha256, blake3,
            now, hashed_at, now, json.dumps(meta or {}))


# What a damage verdict needs of a stored header (`meta_json`), without its metadata map, which may be large.
PROBE_COLUMNS = ("json_extract(meta_json, '$.header.format'), json_extract(meta_json, '$.header.error'), "
                 "json_extract(meta_json, '$.header.declared_length')")


def json_rows(rows: list[tuple[Any, ...]]) -> str:
    """Rows of statement arguments as one JSON argument, characters kept as `json_list` keeps them."""
    return json.dumps(rows, ensure_ascii=False)


def json_list(values: list[str] | list[int]) -> str:
    """The argument of IN_JSON. Characters stay as they are (no \\u escapes), so the text adapter turns a path
    that is not UTF-8 into the very text the database holds for it."""
    return json.dumps(values, ensure_ascii=False)


def copy_values(path: str, sha256: str, stat: FileStat, now: float) -> tuple[Any, ...]:
    return (path, sha256, *stat, now)


def pending_row(row: Any) -> PendingRow | None:
    return PendingRow(*row) if row is not None else None


def model_row(row: Any) -> ModelRow | None:
    return ModelRow(*row) if row is not None else None
