"""`hikaze-mm db copy`: a whole library from a SQLite file into a shared PostgreSQL database (`copy_back` goes the
other way).

The source is read in one read transaction (a consistent snapshot, even of a file a daemon is writing) and the
target written in one transaction that holds the write lock of every daemon: the counts of the target are
compared with the source's before it commits, so a copy that fails in any way (a row the target refuses, a
count that differs, the server gone) leaves the target as it was. The target must have the schema
(`hikaze-mm db migrate`) and no library yet: a copy never merges into a library that is in use.

What goes: models, their copies, tags, images' rows and the image numbering, pending rows with their tags and
images, chores not done yet, the ids of the uses counted (so a batch sent again is not counted twice), and what
the metadata sources said with the lookups still queued (so a week's "not found" is not asked again, a queued
file's record still fills the model it becomes, and a bulk lookup goes on); the files and the queue of the
source become this host's. The page's sessions stay behind (a login is per daemon). Search rows are
written from the copied models, as every write makes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from hikaze_mm.store.postgres.database import WRITE_LOCK, connect, safe_url, schema_version
from hikaze_mm.store.postgres.migrations import SCHEMA_VERSION as PG_SCHEMA
from hikaze_mm.store.postgres.search_index import reindex_many
from hikaze_mm.store.sqlite.migrations import SCHEMA_VERSION as SQLITE_SCHEMA
from hikaze_mm.store.sqlite.text import from_db

SQLITE = "sqlite://"
POSTGRES = ("postgresql://", "postgres://")
BATCH = 2_000  # rows per executemany, and models per search-row rebuild


class CopyRefused(Exception):
    """The copy was not made; the message says why and what to do. The target is as it was."""


@dataclass(frozen=True)
class Table:
    """One table as it is copied: its SQLite columns in order, and the PostgreSQL columns they fill (with the
    host in front for a table of files)."""

    name: str
    columns: tuple[str, ...]
    files: bool = False  # rows are this host's (files, its queue): the target's rows get the host
    json_columns: tuple[str, ...] = ()  # SQLite text that is jsonb on PostgreSQL
    bool_columns: tuple[str, ...] = ()  # SQLite's 0 and 1 that are booleans on PostgreSQL

    @property
    def target_columns(self) -> tuple[str, ...]:
        return ("host", *self.columns) if self.files else self.columns

    def target_row(self, row: tuple[Any, ...], host: str) -> tuple[Any, ...]:
        values = list(row)
        for column in self.json_columns:
            at = self.columns.index(column)
            values[at] = None if values[at] is None else json.loads(values[at])
        for column in self.bool_columns:
            at = self.columns.index(column)
            values[at] = bool(values[at])
        return (host, *values) if self.files else tuple(values)


# In the order foreign keys need.
TABLES: tuple[Table, ...] = (
    Table("models", ("sha256", "blake3", "path", "name", "type", "size_bytes", "mtime_ns", "inode", "device",
                     "status", "created_at", "updated_at", "missing_since", "meta_json", "base_model", "cover_seq",
                     "use_count", "last_used_at"),
          files=True, json_columns=("meta_json",)),
    Table("tags", ("id", "name")),
    Table("model_tags", ("sha256", "tag_id")),
    Table("model_copies", ("path", "sha256", "size_bytes", "mtime_ns", "inode", "device", "added_at"), files=True),
    Table("images", ("sha256", "seq", "width", "height", "created_at")),
    Table("image_seq", ("sha256", "next_seq")),
    Table("pending_import", ("id", "path", "size_bytes", "mtime_ns", "inode", "device", "type", "name", "status",
                             "sha256", "blake3", "conflict_sha256", "error", "discovered_at", "hashed_at",
                             "updated_at", "meta_json"), files=True, json_columns=("meta_json",)),
    Table("pending_tags", ("pending_id", "tag_id")),
    Table("pending_images", ("pending_id", "seq", "width", "height", "source", "created_at")),
    Table("chores", ("name",)),
    Table("counted_uses", ("id", "counted_at")),
    Table("web_lookups", ("sha256", "state", "source", "checked_at", "notes", "record"),
          json_columns=("notes", "record")),
    Table("lookup_queue", ("sha256", "force", "queued_at", "not_before", "attempts", "asks"), files=True,
          bool_columns=("force",)),
)
SEQUENCES = (("tags", "id"), ("pending_import", "id"))
# The triggers that count row by row. A count row updated once per inserted row grows a chain of row versions
# that each later update walks, so one transaction of a whole library would take time quadratic in its size:
# they are off while the rows go in, and the counts are made once from the rows (all in the one transaction, so
# a failed copy leaves them on).
COUNTING_TRIGGERS = (("models", "model_tally"), ("model_tags", "model_tag_adding"), ("pending_import", "pending_added"))
RECOUNT = (
    "DELETE FROM model_tally",
    "INSERT INTO model_tally SELECT type, base_model, status, hidden, count(*) FROM models GROUP BY 1, 2, 3, 4",
    "DELETE FROM folder_tally",
    "INSERT INTO folder_tally SELECT dir, type, status, hidden, count(*) FROM models GROUP BY 1, 2, 3, 4",
    "DELETE FROM tag_tally",
    "INSERT INTO tag_tally SELECT mt.tag_id, m.type, m.base_model, m.status, m.hidden, count(*) "
    "FROM model_tags mt JOIN models m ON m.sha256 = mt.sha256 GROUP BY 1, 2, 3, 4, 5",
    "DELETE FROM pending_tally",
    "INSERT INTO pending_tally SELECT type, status, count(*) FROM pending_import GROUP BY 1, 2",
)


async def copy_library(source: str, target: str, host: str) -> dict[str, int]:
    """Copies the library at `source` (sqlite:///FILE) into `target` (postgresql://...); rows copied by table."""
    if not source.startswith(SQLITE):
        raise CopyRefused(f"--from must be a SQLite library (sqlite:///FILE) going into PostgreSQL, or a PostgreSQL "
                          f"library going into a new SQLite file; got {safe_url(source)}")
    if not target.startswith(POSTGRES):
        raise CopyRefused(f"--to must be a PostgreSQL database (postgresql://USER@HOST/DB) for a SQLite library, "
                          f"got {safe_url(target)}")
    rows = await asyncio.to_thread(_read_sqlite, source[len(SQLITE):])
    conn = await migrated(target)
    try:
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                held = await conn.fetchval("SELECT (SELECT count(*) FROM models) + (SELECT count(*) FROM "
                                           "pending_import) + (SELECT count(*) FROM tags)")
                if held:
                    raise CopyRefused(f"{safe_url(target)} holds a library already ({held} models, pending rows "
                                      "and tags); a copy goes only into an empty one")
                await _write(conn, rows, host)
                await check_copy(conn.fetchval, rows)
                await conn.execute("UPDATE store_state SET generation = generation + 1")
        except asyncpg.PostgresError as e:
            raise CopyRefused(f"{safe_url(target)} refused the copy ({e}); nothing was copied") from None
    finally:
        await conn.close()
    return {table.name: len(rows[table.name]) for table in TABLES}


def _read_sqlite(path: str) -> dict[str, list[tuple[Any, ...]]]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise CopyRefused(f"{path} cannot be opened: {e}") from None
    conn.text_factory = from_db
    with contextlib.closing(conn):
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version != SQLITE_SCHEMA:
                raise CopyRefused(f"{path} has schema {version}, not {SQLITE_SCHEMA}: start `hikaze-mm serve` on it "
                                  "once with this version (it upgrades the file after a backup), then copy")
            conn.execute("BEGIN")  # one snapshot for every table
            return {t.name: conn.execute(f"SELECT {', '.join(t.columns)} FROM {t.name}").fetchall() for t in TABLES}
        except sqlite3.DatabaseError as e:
            raise CopyRefused(f"{path} cannot be read as a hikaze-mm library: {e}") from None


async def _write(conn: Any, rows: dict[str, list[tuple[Any, ...]]], host: str) -> None:
    for table_name, trigger in COUNTING_TRIGGERS:
        await conn.execute(f"ALTER TABLE {table_name} DISABLE TRIGGER {trigger}")
    for table in TABLES:
        columns = table.target_columns
        places = ", ".join(f"${i + 1}" for i in range(len(columns)))
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({places})"
        values = [table.target_row(row, host) for row in rows[table.name]]
        for start in range(0, len(values), BATCH):
            await conn.executemany(sql, values[start:start + BATCH])
    for table_name, column in SEQUENCES:
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table_name}', '{column}'), "
                           f"coalesce((SELECT max({column}) FROM {table_name}), 0) + 1, false)")
    # The search text is written while the tallies are off too: it moves no count.
    shas = [row[0] for row in rows["models"]]
    for start in range(0, len(shas), BATCH):
        await reindex_many(conn, shas[start:start + BATCH])
    for statement in RECOUNT:
        await conn.execute(statement)
    for table_name, trigger in COUNTING_TRIGGERS:
        await conn.execute(f"ALTER TABLE {table_name} ENABLE TRIGGER {trigger}")


async def check_copy(value: Callable[[str], Awaitable[int]], rows: dict[str, list[tuple[Any, ...]]], *,
                     own: tuple[str, ...] = ()) -> None:
    """Every table of the copy holds what was read (those in `own` at least that: a new database may list rows of
    its own), and the counts its triggers keep agree with the rows; `value` answers one count's SQL."""
    for table in TABLES:
        held = await value(f"SELECT count(*) FROM {table.name}")
        if held < len(rows[table.name]) or (held != len(rows[table.name]) and table.name not in own):
            raise CopyRefused(f"the copy of {table.name} holds {held} rows, not {len(rows[table.name])}; "
                              "nothing was copied")
    tallied = await value("SELECT coalesce(sum(n), 0) FROM model_tally")
    if tallied != len(rows["models"]):
        raise CopyRefused(f"the copied models count {tallied}, not {len(rows['models'])}; nothing was copied")


async def migrated(url: str) -> asyncpg.Connection:
    """A connection to the shared database at `url`, refused unless its schema is this version's."""
    conn = await connect(url)
    version = await schema_version(conn)
    if version != PG_SCHEMA:
        await conn.close()
        raise CopyRefused(f"{safe_url(url)} has schema {version}, not {PG_SCHEMA}: run `hikaze-mm db migrate "
                          f"--database-url {safe_url(url)}` first")
    return conn
