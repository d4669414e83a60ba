"""`hikaze-mm db copy` the other way: a shared PostgreSQL library into a new SQLite file, as one host sees it.

A shared library is every host's; a SQLite library is one machine's. The copy takes every model, tag and image
row, the image numbering, what the metadata sources said and the uses counted, and of the files and the queues
only this host's: a model keeps its file here (its main file, or else its first copy here, which becomes its main
file), and a model with no file here is copied as missing, with every field of its record (a file of its content
found here later brings it back). The source is read in one snapshot. The file is written under a temporary name
next to the target and takes the target's name only once its counts match what was read, so a copy that fails
leaves nothing behind, and an existing file is never written over.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from hikaze_mm.store.errors import StorageFull
from hikaze_mm.store.postgres.database import safe_url
from hikaze_mm.store.sqlite.checks import closed_cleanly
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.models import nsfw_flag
from hikaze_mm.store.sqlite.search_index import reindex_many
from hikaze_mm.store.transfer import BATCH, TABLES, CopyRefused, Table, check_copy, migrated

# What is read of a table of this host's rows, beyond `WHERE host = $1`: a pending row's tags and images go with
# the rows of this host's queue.
_OF_THIS_HOST = {
    "pending_tags": "pending_id IN (SELECT id FROM pending_import WHERE host = $1)",
    "pending_images": "pending_id IN (SELECT id FROM pending_import WHERE host = $1)",
}
_FILE_STAT = ("path", "size_bytes", "mtime_ns", "inode", "device")


async def copy_to_sqlite(source: str, path: Path, host: str) -> dict[str, int]:
    """Copies the shared library at `source` (postgresql://...) into a new SQLite file at `path`, as host `host`
    sees it; rows copied by table."""
    if path.exists() or path.is_symlink():
        raise CopyRefused(f"{path} exists: a copy goes only into a new file (move that one away first, with its "
                          "-wal and -shm files)")
    for side in _sides(path):
        # A library's journal left behind (its file moved away without it) would be replayed onto the copy.
        if side.exists() or side.is_symlink():
            raise CopyRefused(f"{side} exists: it is part of a library that was there; move it away with that "
                              "library's file, or choose another name")
    if not path.parent.is_dir():
        raise CopyRefused(f"{path.parent} is not a folder")
    conn = await migrated(source)
    try:
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                rows = await _read(conn, host)
        except asyncpg.PostgresError as e:
            raise CopyRefused(f"{safe_url(source)} could not be read ({e}); nothing was copied") from None
    finally:
        await conn.close()
    temporary = path.with_name(f".hikaze-copy-{os.getpid()}.sqlite3")  # short, whatever the target's length
    try:
        await _write(temporary, rows)
        _into_place(temporary, path)
    finally:
        # The file under its temporary name, its journal, and the note of its clean close (the copy, under its
        # own name, has none: its first open checks every page).
        for leftover in (temporary, *_sides(temporary), closed_cleanly(temporary)):
            with contextlib.suppress(OSError):  # gone already, or beyond help: the copy's outcome stands
                leftover.unlink()
    return {table.name: len(rows[table.name]) for table in TABLES}


def _sides(path: Path) -> tuple[Path, ...]:
    """The files SQLite keeps beside a database: its journals."""
    return tuple(path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal"))


def _into_place(temporary: Path, path: Path) -> None:
    """The written file under its name: linked, which unlike a rename never replaces a file that appeared
    meanwhile; renamed where the filesystem has no links, after a last look."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise CopyRefused(f"{path} appeared while the copy was written; nothing was copied") from None
    except OSError:
        if path.exists() or path.is_symlink():
            raise CopyRefused(f"{path} appeared while the copy was written; nothing was copied") from None
        os.rename(temporary, path)


async def _read(conn: Any, host: str) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        columns = ", ".join(table.columns)
        if table.name == "models":
            found = await conn.fetch(f"SELECT host, {columns} FROM models ORDER BY sha256")
        elif table.files or table.name in _OF_THIS_HOST:
            where = _OF_THIS_HOST.get(table.name, "host = $1")
            found = await conn.fetch(f"SELECT {columns} FROM {table.name} WHERE {where}", host)
        else:
            found = await conn.fetch(f"SELECT {columns} FROM {table.name}")
        rows[table.name] = [tuple(r) for r in found]
    rows["models"], rows["model_copies"] = _this_hosts_files(rows["models"], rows["model_copies"], host)
    return rows


def _this_hosts_files(models: list[tuple[Any, ...]], copies: list[tuple[Any, ...]],
                      host: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The models as this host sees them, and the copies left: a model whose main file is another host's takes
    its first copy here as its main file, or is missing here."""
    model_columns = next(t for t in TABLES if t.name == "models").columns
    copy_columns = next(t for t in TABLES if t.name == "model_copies").columns
    first_copy: dict[str, tuple[Any, ...]] = {}
    # The copy this host's daemon would take for its file (the first added, then by path), as the shared store does.
    for row in sorted(copies, key=lambda c: (c[copy_columns.index("added_at")], c[copy_columns.index("path")])):
        first_copy.setdefault(row[copy_columns.index("sha256")], row)
    promoted: set[str] = set()
    seen: list[tuple[Any, ...]] = []
    now = time.time()
    for owner, *values in models:
        if owner != host:
            sha256 = values[model_columns.index("sha256")]
            here = first_copy.get(sha256)
            if here is not None:
                promoted.add(here[copy_columns.index("path")])
                for column in _FILE_STAT:
                    values[model_columns.index(column)] = here[copy_columns.index(column)]
                values[model_columns.index("status")] = "ok"
                values[model_columns.index("missing_since")] = None
            elif values[model_columns.index("status")] == "ok":
                values[model_columns.index("status")] = "missing"
                values[model_columns.index("missing_since")] = now
        seen.append(tuple(values))
    return seen, [c for c in copies if c[copy_columns.index("path")] not in promoted]


async def _write(path: Path, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    database = Database(path)
    try:
        await database.open()  # the schema, as a daemon makes it
        async with database.write() as db:
            for table in TABLES:
                columns = (*table.columns, "nsfw") if table.name == "models" else table.columns
                values = [_sqlite_row(table, row) for row in rows[table.name]]
                verb = "INSERT OR IGNORE" if table.name == "chores" else "INSERT"  # a new file may list its own
                statement = (f"{verb} INTO {table.name} ({', '.join(columns)}) "
                             f"VALUES ({', '.join('?' * len(columns))})")
                for start in range(0, len(values), BATCH):
                    await db.executemany(statement, values[start:start + BATCH])
            shas = [row[0] for row in rows["models"]]
            for start in range(0, len(shas), BATCH):
                await reindex_many(db, shas[start:start + BATCH])
            await check_copy(lambda sql: _value(db, sql), rows, own=("chores",))
    except (sqlite3.Error, StorageFull) as e:
        raise CopyRefused(f"{path.parent} refused the copy ({e}); nothing was copied") from None
    finally:
        await database.close()


def _sqlite_row(table: Table, row: Sequence[Any]) -> tuple[Any, ...]:
    values = list(row)
    for column in table.json_columns:
        at = table.columns.index(column)
        values[at] = None if values[at] is None else json.dumps(values[at])
    for column in table.bool_columns:
        at = table.columns.index(column)
        values[at] = int(values[at])
    if table.name == "models":  # SQLite keeps the NSFW flag beside the record; its triggers derive the rest
        values.append(nsfw_flag(row[table.columns.index("meta_json")] or {}))
    return tuple(values)


async def _value(db: Any, sql: str) -> int:
    (value,) = await (await db.execute(sql)).fetchone()
    return int(value)
