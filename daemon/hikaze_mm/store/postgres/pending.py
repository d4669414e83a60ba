"""The import queue on PostgreSQL: this host's pending rows, their metadata and their tags.

A pending row is a file, and a file is a host's: every read and write here names this daemon's host, so a daemon
neither lists, hashes, moves nor deletes the rows of another machine's files (their paths mean nothing here), even
when handed one of their ids."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from hikaze_mm.store.pending_records import (
    AWAITING_USER,
    HASHED_AS_IS,
    PendingChanges,
    arriving,
    hashed,
    pending_detail,
    probe_summary,
)
from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.file_index import PgFileIndex
from hikaze_mm.store.postgres.rows import (
    INSERT_PENDING,
    INSERT_PENDING_IF_NEW,
    PENDING_COLUMNS,
    PROBE_COLUMNS,
    PgContext,
    pending_row,
    pending_values,
)
from hikaze_mm.store.postgres.tags import tag_ids
from hikaze_mm.store.records import FileStat, HashRecord, Meta, NewPending, PendingRow


def _sets(changes: Meta, first: int) -> str:
    """The SET list of these changes (column -> value), their values numbered from `$first`."""
    return ", ".join(f"{column} = ${number}" for number, column in enumerate(changes, start=first))


class PgPending(PendingChanges):
    def __init__(self, ctx: PgContext, index: PgFileIndex):
        self._ctx = ctx
        self._db = ctx.db
        self._host = ctx.host
        self._index = index

    # -- reading --------------------------------------------------------------------------------------------
    async def pending(self, pending_id: int) -> PendingRow | None:
        return pending_row(await self._db.one(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE id = $1 AND host = $2", (pending_id, self._host)))

    async def pending_by_path(self, path: str) -> PendingRow | None:
        return pending_row(await self._db.one(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE host = $1 AND path = $2", (self._host, path)))

    async def pending_detail(self, pending_id: int) -> dict[str, Any] | None:
        row = await self._db.one(f"SELECT {PENDING_COLUMNS}, meta_json FROM pending_import WHERE id = $1 AND host = $2",
                                 (pending_id, self._host))
        if row is None:
            return None
        tags = await self._db.all(
            "SELECT t.id, t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id WHERE p.pending_id = $1 "
            "ORDER BY t.name", (pending_id,))
        images = await self._db.all(
            "SELECT seq, width, height FROM pending_images WHERE pending_id = $1 ORDER BY seq", (pending_id,))
        return pending_detail(row[:-1], row[-1], tags, images)

    async def list_pending(
        self, statuses: tuple[str, ...] | None, type_: str | None, limit: int, offset: int, *,
        q: str | None = None, folders: tuple[str, ...] | None = None,
    ) -> tuple[list[PendingRow], int]:
        where = ["host = $1"]
        args: list[Any] = [self._host]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if statuses is not None:
            where.append(f"status = ANY({arg(texts(list(statuses)))}::text[])")
        if type_ is not None:
            where.append(f"lower(type) = lower({arg(type_)})")
        if q:
            # strpos, not LIKE: `%` and `_` in what the user typed are plain characters.
            needle = arg(q)
            where.append(f"(strpos(lower(name), lower({needle})) > 0 OR strpos(lower(path), lower({needle})) > 0)")
        if folders is not None:
            # An empty tuple matches nothing: a folder in no model folder holds no queued file.
            where.append(f"EXISTS (SELECT 1 FROM unnest({arg(texts(list(folders)))}::text[]) f "
                         "WHERE starts_with(path, f))")
        clause = " AND ".join(where)
        total = await self._db.value(f"SELECT count(*) FROM pending_import WHERE {clause}", tuple(args))
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE {clause} ORDER BY id "
            f"LIMIT {arg(limit)} OFFSET {arg(offset)}", tuple(args))
        return [PendingRow(*r) for r in rows], total

    async def pending_probes(self, ids: list[int]) -> dict[int, Meta | None]:
        rows = await self._db.all(
            f"SELECT id, {PROBE_COLUMNS} FROM pending_import WHERE host = $1 AND id = ANY($2::bigint[])",
            (self._host, ids))
        return {r[0]: probe_summary(*r[1:]) for r in rows}

    async def pending_cards(self, ids: list[int]) -> dict[int, tuple[str | None, Any, int | None]]:
        """What an inbox row shows of each row beyond its record: base model, trigger words (as stored) and the
        seq of its first image, in one statement for the page."""
        rows = await self._db.all(
            "SELECT p.id, p.meta_json ->> 'base_model', p.meta_json -> 'trigger_words', "
            "(SELECT min(i.seq) FROM pending_images i WHERE i.pending_id = p.id) "
            "FROM pending_import p WHERE p.host = $1 AND p.id = ANY($2::bigint[])", (self._host, ids))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    async def pending_in_flight(self) -> list[PendingRow]:
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE host = $1 AND status IN ('settling', 'hashing') "
            "ORDER BY id", (self._host,))
        return [PendingRow(*r) for r in rows]

    async def pending_twins(self, sha256: str) -> list[PendingRow]:
        """Hashed rows in this host's queue with this content."""
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE host = $1 AND sha256 = $2 "
            f"AND status IN {AWAITING_USER} ORDER BY id", (self._host, sha256))
        return [PendingRow(*r) for r in rows]

    async def pending_rows(self, ids: list[int]) -> dict[int, tuple[PendingRow, Meta]]:
        """The rows with these ids and their metadata: what a batch of decisions starts from."""
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS}, meta_json FROM pending_import WHERE host = $1 AND id = ANY($2::bigint[])",
            (self._host, ids))
        return {r[0]: (PendingRow(*r[:-1]), r[-1]) for r in rows}

    async def hashed_shas(self, shas: list[str]) -> dict[str, int]:
        """How many hashed rows (ready or conflict) this host's queue holds of each of these contents."""
        rows = await self._db.all(
            "SELECT sha256, count(*) FROM pending_import WHERE sha256 = ANY($2::text[]) AND host = $1 "
            f"AND status IN {AWAITING_USER} GROUP BY sha256", (self._host, texts(shas)))
        return {sha256: count for sha256, count in rows}

    async def pending_meta(self, pending_id: int) -> Meta | None:
        row = await self._db.one("SELECT meta_json FROM pending_import WHERE id = $1 AND host = $2",
                                 (pending_id, self._host))
        return row[0] if row is not None else None

    async def pending_tag_names(self, pending_id: int) -> list[str]:
        return [r[0] for r in await self._db.all(
            "SELECT t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id "
            "JOIN pending_import r ON r.id = p.pending_id WHERE p.pending_id = $1 AND r.host = $2",
            (pending_id, self._host))]

    async def pending_keeps_user_data(self, pending_id: int) -> bool:
        """Tags or user-entered metadata on a pending row: it must outlive its file."""
        row = await self._db.one(
            "SELECT meta_json, EXISTS (SELECT 1 FROM pending_tags WHERE pending_id = $1) FROM pending_import "
            "WHERE id = $1 AND host = $2", (pending_id, self._host))
        return row is not None and (row[1] or bool(self._ctx.rules.user_fields(row[0])))

    # -- writing --------------------------------------------------------------------------------------------
    # Each method is one transaction; the file index is updated only once it has committed.
    async def reset_in_flight(self) -> int:
        async with self._db.write(library=False) as conn:
            rows = await conn.fetch(
                "UPDATE pending_import SET status = 'settling', updated_at = $2 WHERE host = $1 AND status = 'hashing' "
                f"RETURNING {PENDING_COLUMNS}", self._host, time.time())
        return len(self._index.track_pending_rows([PendingRow(*r) for r in rows]))

    async def add_pending(self, path: str, name: str, type_: str, stat: FileStat) -> PendingRow:
        async with self._db.write(library=False) as conn:
            row = PendingRow(*await conn.fetchrow(
                f"{INSERT_PENDING} RETURNING {PENDING_COLUMNS}",
                *pending_values(self._host, path, stat, type_, "settling", time.time(), name=name)))
        self._index.track_pending(row)
        return row

    async def add_pending_many(self, files: list[tuple[str, str, FileStat]]) -> list[PendingRow]:
        """New files found by a walk, in one transaction; a path that got a row meanwhile is left alone."""
        now = time.time()
        async with self._db.write(library=False) as conn:
            added = await _insert_many(conn, [pending_values(self._host, path, st, type_, "settling", now)
                                              for path, type_, st in files])
        return self._index.track_pending_rows(added)

    async def add_pending_with_meta(self, rows: list[NewPending]) -> list[PendingRow]:
        """Pending rows that arrive with metadata, all in one transaction; a path that has a row already is left
        alone. A row without a stat is kept in error, so what the user once entered is not lost."""
        now = time.time()
        async with self._db.write() as conn:
            added = await _insert_many(conn, [
                pending_values(self._host, new.path, stat, new.type, status, now, error=error, meta=new.meta)
                for new in rows for stat, status, error in [arriving(new)]
            ])
            tags = {new.path: new.tags for new in rows}
            await _tag_pending(conn, [(row.id, name) for row in added for name in tags[row.path]])
        return self._index.track_pending_rows(added)

    async def _update(self, pending_id: int, changes: Meta) -> PendingRow | None:
        async with self._db.write(library=False) as conn:
            row = pending_row(await conn.fetchrow(
                f"UPDATE pending_import SET {_sets(changes, 4)}, updated_at = $3 WHERE id = $1 AND host = $2 "
                f"RETURNING {PENDING_COLUMNS}", pending_id, self._host, time.time(), *changes.values()))
        return self._index.track_pending(row)

    async def start_hashing(self, files: list[tuple[str, FileStat]]) -> list[PendingRow]:
        """The rows of these files marked `hashing` at the stat they are read at, in one transaction. A path with
        no row, or whose row is hashed already as the file is now, is left out."""
        async with self._db.write(library=False) as conn:
            # One statement for the batch, which hands back the rows it marked. The files' columns are named
            # apart from the row's, which RETURNING names bare.
            rows = [PendingRow(*r) for r in await conn.fetch(
                "UPDATE pending_import AS p SET status = 'hashing', size_bytes = f.f_size, mtime_ns = f.f_mtime, "
                "inode = f.f_inode, device = f.f_device, updated_at = $2 FROM (SELECT v ->> 0 AS f_path, "
                "(v ->> 1)::bigint AS f_size, (v ->> 2)::bigint AS f_mtime, (v ->> 3)::bigint AS f_inode, "
                "(v ->> 4)::bigint AS f_device FROM jsonb_array_elements($3::jsonb) AS v) AS f "
                f"WHERE p.host = $1 AND p.path = f.f_path AND NOT (p.status IN {HASHED_AS_IS} AND "
                "p.size_bytes = f.f_size AND p.mtime_ns = f.f_mtime AND p.inode = f.f_inode AND "
                f"p.device = f.f_device) RETURNING {PENDING_COLUMNS}",
                self._host, time.time(), [[path, *st] for path, st in files])]
        return self._index.track_pending_rows(rows)

    async def record_hashes(self, records: list[tuple[int, HashRecord]]) -> list[PendingRow]:
        """`record_hash` for many rows in one transaction; a row that is no longer `hashing` is left alone."""
        if not records:
            return []
        now = time.time()
        changes = [(pending_id, hashed(r, now)) for pending_id, r in records]
        async with self._db.write(library=False) as conn:
            recorded = await conn.fetchmany(
                f"UPDATE pending_import SET {_sets(changes[0][1], 4)}, updated_at = $3 "
                f"WHERE id = $1 AND host = $2 AND status = 'hashing' RETURNING {PENDING_COLUMNS}",
                [(pending_id, self._host, now, *change.values()) for pending_id, change in changes])
        rows = sorted((PendingRow(*r) for r in recorded), key=lambda row: row.id)
        return self._index.track_pending_rows(rows)

    async def move_pending(self, pending_id: int, path: str, name: str, type_: str) -> PendingRow | None:
        async with self._db.write() as conn:
            # A row already at the destination describes a file that the move just replaced.
            replaced = await conn.fetch(
                "DELETE FROM pending_import WHERE host = $1 AND path = $2 AND id != $3 RETURNING id",
                self._host, path, pending_id)
            row = pending_row(await conn.fetchrow(
                "UPDATE pending_import SET path = $2, name = $3, type = $4, updated_at = $5 "
                f"WHERE id = $6 AND host = $1 RETURNING {PENDING_COLUMNS}",
                self._host, path, name, type_, time.time(), pending_id))
        for (gone,) in replaced:
            self._index.untrack_pending(gone)
        return self._index.track_pending(row)

    async def set_pending_meta(self, pending_id: int, meta: Meta, tags: list[str]) -> bool:
        """The row's whole metadata, and more tags (tags are only ever added here)."""
        async with self._db.write() as conn:
            updated = await conn.fetchval(
                "UPDATE pending_import SET meta_json = $3, updated_at = $4 WHERE id = $1 AND host = $2 RETURNING id",
                pending_id, self._host, meta, time.time())
            if updated is not None:
                await _tag_pending(conn, [(pending_id, name) for name in tags])
        return updated is not None

    async def note_pending_web(self, pending_id: int, sha256: str, web: Meta) -> bool:
        async with self._db.write() as conn:
            updated = await conn.fetchval(
                "UPDATE pending_import SET meta_json = jsonb_set(meta_json, '{web}', $3::jsonb), updated_at = $4 "
                "WHERE id = $1 AND host = $2 AND sha256 = $5 RETURNING id",
                pending_id, self._host, web, time.time(), sha256)
        return updated is not None

    async def delete_pending(self, pending_id: int) -> bool:
        async with self._db.write() as conn:
            deleted = await conn.fetchval(
                "DELETE FROM pending_import WHERE id = $1 AND host = $2 RETURNING id", pending_id, self._host)
        self._index.untrack_pending(pending_id)
        return deleted is not None


async def _tag_pending(conn: asyncpg.Connection, tags: list[tuple[int, str]]) -> None:
    """These (pending id, tag name) pairs, tags made when missing, inside the caller's transaction: a few
    statements however many pairs."""
    if not tags:
        return
    await tag_ids(conn, [name for _, name in tags])  # made when missing, each spelt as its first mention
    await conn.execute(
        "INSERT INTO pending_tags (pending_id, tag_id) SELECT DISTINCT (v ->> 0)::bigint, t.id "
        "FROM jsonb_array_elements($1::jsonb) AS v JOIN tags t ON t.name = (v ->> 1)::citext "
        "ON CONFLICT DO NOTHING", tags)


async def _insert_many(conn: asyncpg.Connection, values: list[tuple[Any, ...]]) -> list[PendingRow]:
    """New rows, each given as its INSERT_PENDING arguments, in one round trip; the rows added (a path with a row
    already, or twice in the batch, is left alone after its first), in the order of their ids."""
    added = await conn.fetchmany(f"{INSERT_PENDING_IF_NEW} RETURNING {PENDING_COLUMNS}", values)
    return sorted((PendingRow(*row) for row in added), key=lambda row: row.id)
