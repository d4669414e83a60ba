"""The SQL shapes several parts of the PostgreSQL store share (as `store.sqlite.rows` for SQLite): how a row is
read into its record, how a pending row and a model's copy are written. Every file is a (host, path) pair: the
host is the store's own (`PgContext.host`), given as an argument like any other value."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from hikaze_mm.store.interfaces import MetadataRules
from hikaze_mm.store.postgres.database import Database
from hikaze_mm.store.records import FileStat, Meta, ModelRow, PendingRow

# The columns a row is read from, in the order its record takes them.
PENDING_COLUMNS = ", ".join(f.name for f in fields(PendingRow))
MODEL_COLUMNS = ", ".join(f.name for f in fields(ModelRow))

# A model as this host sees it (`HERE_MODEL.format(host="$n")` is a FROM clause, `HERE_COLUMNS` its columns in
# ModelRow's order): its main file when that is here, else its first copy here by the time it was found, else the
# main file of another host (its status says whether any host has a file). So what this host decides about a
# model's file, and the path its nodes load, is always one of this host's files when it has one.
_FILE_FIELDS = ("path", "mtime_ns", "inode", "device")
HERE_COLUMNS = ", ".join(f"coalesce(here.{f}, m.{f})" if f in _FILE_FIELDS else f"m.{f}"
                         for f in (f.name for f in fields(ModelRow)))
HERE_MODEL = (
    "models m LEFT JOIN LATERAL (SELECT c.path, c.mtime_ns, c.inode, c.device FROM model_copies c "
    "WHERE c.sha256 = m.sha256 AND c.host = {host} AND m.host != {host} ORDER BY c.added_at, c.path LIMIT 1) here "
    "ON true"
)

_PENDING_INSERT_COLUMNS = (
    "host", "path", "size_bytes", "mtime_ns", "inode", "device", "type", "name", "status", "error", "sha256",
    "blake3", "discovered_at", "hashed_at", "updated_at", "meta_json",
)
_PENDING_PLACES = ", ".join(f"${i + 1}" for i in range(len(_PENDING_INSERT_COLUMNS)))
INSERT_PENDING = f"INSERT INTO pending_import ({', '.join(_PENDING_INSERT_COLUMNS)}) VALUES ({_PENDING_PLACES})"
# A path that has a row already is left alone (`ON CONFLICT`) by every insert but a single new file's.
INSERT_PENDING_IF_NEW = INSERT_PENDING + " ON CONFLICT (host, path) DO NOTHING"
INSERT_COPY = (
    "INSERT INTO model_copies (host, path, sha256, size_bytes, mtime_ns, inode, device, added_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (host, path) DO UPDATE SET sha256 = EXCLUDED.sha256, "
    "size_bytes = EXCLUDED.size_bytes, mtime_ns = EXCLUDED.mtime_ns, inode = EXCLUDED.inode, "
    "device = EXCLUDED.device, added_at = EXCLUDED.added_at"
)
INSERT_IMAGE = "INSERT INTO images (sha256, seq, width, height, created_at) VALUES ($1, $2, $3, $4, $5)"
# What a damage verdict needs of a stored header, without its metadata map, which may be large.
PROBE_COLUMNS = ("meta_json #>> '{header,format}', meta_json #>> '{header,error}', "
                 "(meta_json #>> '{header,declared_length}')::numeric")


@dataclass(frozen=True)
class PgContext:
    """What every part of the PostgreSQL store is built with: the database, this daemon's host (the first column
    of every file it writes or looks up) and the library's metadata rules."""

    db: Database
    host: str
    rules: MetadataRules


def pending_values(
    host: str, path: str, stat: FileStat, type_: str, status: str, now: float, *, error: str | None = None,
    sha256: str | None = None, blake3: str | None = None, hashed_at: float | None = None, meta: Meta | None = None,
    name: str | None = None,
) -> tuple[Any, ...]:
    """The arguments of INSERT_PENDING for a new row, named after its file unless `name` says otherwise."""
    return (host, path, *stat, type_, os.path.basename(path) if name is None else name, status, error, sha256,
            blake3, now, hashed_at, now, meta or {})


def copy_values(host: str, path: str, sha256: str, stat: FileStat, now: float) -> tuple[Any, ...]:
    return (host, path, sha256, *stat, now)


def pending_row(row: Any) -> PendingRow | None:
    return PendingRow(*row) if row is not None else None


def model_row(row: Any) -> ModelRow | None:
    return ModelRow(*row) if row is not None else None
