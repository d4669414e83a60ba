"""The import queue on SQLite: pending rows, their metadata and their tags."""

from __future__ import annotations

import json
import time
from typing import Any

import aiosqlite

from hikaze_mm.store.interfaces import MetadataRules
from hikaze_mm.store.pending_records import (
    AWAITING_USER,
    HASHED_AS_IS,
    PendingChanges,
    arriving,
    hashed,
    pending_detail,
    probe_summary,
)
from hikaze_mm.store.records import FileStat, HashRecord, Meta, NewPending, PendingRow
from hikaze_mm.store.sqlite.database import Database, first_row
from hikaze_mm.store.sqlite.file_index import SQLiteFileIndex
from hikaze_mm.store.sqlite.rows import (
    IN_JSON,
    INSERT_PENDING,
    INSERT_PENDING_MANY,
    PENDING_COLUMNS,
    PROBE_COLUMNS,
    json_list,
    json_rows,
    pending_row,
    pending_values,
)
from hikaze_mm.store.sqlite.tags import tag_ids


class SQLitePending(PendingChanges):
    def __init__(self, db: Database, index: SQLiteFileIndex, rules: MetadataRules):
        self._db = db
        self._index = index
        self._rules = rules

    # -- reading --------------------------------------------------------------------------------------------
    async def pending(self, pending_id: int) -> PendingRow | None:
        return pending_row(await self._db.one(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE id = ?", (pending_id,), fresh=True
        ))

    async def pending_by_path(self, path: str) -> PendingRow | None:
        return pending_row(await self._db.one(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE path = ?", (path,), fresh=True
        ))

    async def pending_detail(self, pending_id: int) -> dict[str, Any] | None:
        row = await self._db.one(
            f"SELECT {PENDING_COLUMNS}, meta_json FROM pending_import WHERE id = ?", (pending_id,)
        )
        if row is None:
            return None
        tags = await self._db.all(
            "SELECT t.id, t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id "
            "WHERE p.pending_id = ? ORDER BY t.name",
            (pending_id,),
        )
        images = await self._db.all(
            "SELECT seq, width, height FROM pending_images WHERE pending_id = ? ORDER BY seq", (pending_id,)
        )
        return pending_detail(row[:-1], json.loads(row[-1] or "{}"), tags, images)

    async def list_pending(
        self, statuses: tuple[str, ...] | None, type_: str | None, limit: int, offset: int, *,
        q: str | None = None, folders: tuple[str, ...] | None = None,
    ) -> tuple[list[PendingRow], int]:
        where: list[str] = []
        args: list[Any] = []
        if statuses is not None:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if type_ is not None:
            where.append("type = ? COLLATE NOCASE")
            args.append(type_)
        if q:
            # instr, not LIKE: `%` and `_` in what the user typed are plain characters.
            where.append("(instr(lower(name), lower(?)) > 0 OR instr(lower(path), lower(?)) > 0)")
            args.extend((q, q))
        if folders is not None:
            # An empty tuple matches nothing: a folder in no model folder holds no queued file.
            where.append("(" + (" OR ".join("substr(path, 1, length(?)) = ?" for _ in folders) or "false") + ")")
            for folder in folders:
                args.extend((folder, folder))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        (total,) = await self._db.one(f"SELECT count(*) FROM pending_import {clause}", tuple(args))
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import {clause} ORDER BY id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [PendingRow(*r) for r in rows], total

    async def pending_probes(self, ids: list[int]) -> dict[int, Meta | None]:
        rows = await self._db.all(
            f"SELECT id, {PROBE_COLUMNS} FROM pending_import WHERE id IN {IN_JSON}", (json_list(ids),))
        return {r[0]: probe_summary(*r[1:]) for r in rows}

    async def pending_cards(self, ids: list[int]) -> dict[int, tuple[str | None, Any, int | None]]:
        """What an inbox row shows of each row beyond its record: base model, trigger words (as stored) and the
        seq of its first image, in one statement for the page."""
        rows = await self._db.all(
            "SELECT p.id, json_extract(p.meta_json, '$.base_model'), p.meta_json -> '$.trigger_words', "
            "(SELECT min(i.seq) FROM pending_images i WHERE i.pending_id = p.id) "
            f"FROM pending_import p WHERE p.id IN {IN_JSON}", (json_list(ids),))
        return {r[0]: (r[1], json.loads(r[2]) if r[2] is not None else None, r[3]) for r in rows}

    async def pending_in_flight(self) -> list[PendingRow]:
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE status IN ('settling', 'hashing') ORDER BY id",
            fresh=True,
        )
        return [PendingRow(*r) for r in rows]

    async def pending_twins(self, sha256: str) -> list[PendingRow]:
        """Hashed rows in the queue with this content."""
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE sha256 = ? AND status IN {AWAITING_USER} "
            "ORDER BY id", (sha256,), fresh=True)
        return [PendingRow(*r) for r in rows]

    async def pending_rows(self, ids: list[int]) -> dict[int, tuple[PendingRow, Meta]]:
        """The rows with these ids and their metadata, read fresh: what a batch of decisions starts from."""
        rows = await self._db.all(
            f"SELECT {PENDING_COLUMNS}, meta_json FROM pending_import WHERE id IN {IN_JSON}", (json_list(ids),),
            fresh=True)
        return {r[0]: (PendingRow(*r[:-1]), json.loads(r[-1] or "{}")) for r in rows}

    async def hashed_shas(self, shas: list[str]) -> dict[str, int]:
        """How many hashed rows (ready or conflict) the queue holds of each of these contents."""
        rows = await self._db.all(
            # `+status`: the sha256 index, not the status one (which would walk every ready row of the queue).
            f"SELECT sha256, count(*) FROM pending_import WHERE sha256 IN {IN_JSON} "
            f"AND +status IN {AWAITING_USER} GROUP BY sha256", (json_list(shas),), fresh=True)
        return dict(rows)

    async def pending_meta(self, pending_id: int) -> Meta | None:
        row = await self._db.one("SELECT meta_json FROM pending_import WHERE id = ?", (pending_id,), fresh=True)
        return json.loads(row[0] or "{}") if row else None

    async def pending_tag_names(self, pending_id: int) -> list[str]:
        return [r[0] for r in await self._db.all(
            "SELECT t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id WHERE p.pending_id = ?",
            (pending_id,), fresh=True)]

    async def pending_keeps_user_data(self, pending_id: int) -> bool:
        """Tags or user-entered metadata on a pending row: it must outlive its file."""
        row = await self._db.one(
            "SELECT meta_json, EXISTS (SELECT 1 FROM pending_tags WHERE pending_id = ?) FROM pending_import "
            "WHERE id = ?", (pending_id, pending_id), fresh=True,
        )
        return row is not None and (bool(row[1]) or bool(self._rules.user_fields(json.loads(row[0] or "{}"))))

    # -- writing --------------------------------------------------------------------------------------------
    # Each method is one transaction; the file index is updated only once it has committed.
    async def reset_in_flight(self) -> int:
        async with self._db.write(library=False) as db:
            rows = await db.execute_fetchall(
                "UPDATE pending_import SET status = 'settling', updated_at = ? WHERE status = 'hashing' "
                f"RETURNING {PENDING_COLUMNS}",
                (time.time(),),
            )
        return len(self._index.track_pending_rows([PendingRow(*r) for r in rows]))

    async def add_pending(self, path: str, name: str, type_: str, stat: FileStat) -> PendingRow:
        async with self._db.write(library=False) as db:
            row = PendingRow(*await first_row(
                db, f"{INSERT_PENDING} RETURNING {PENDING_COLUMNS}",
                pending_values(path, stat, type_, "settling", time.time(), name=name),
            ))
        self._index.track_pending(row)
        return row

    async def add_pending_many(self, files: list[tuple[str, str, FileStat]]) -> list[PendingRow]:
        """New files found by a walk, in one transaction; a path that got a row meanwhile is left alone."""
        now = time.time()
        async with self._db.write(library=False) as db:
            # Set-wise: a trip to the database thread per row cost more than the row itself.
            values = [pending_values(path, st, type_, "settling", now) for path, type_, st in files]
            added = await _insert_many(db, values)
        return self._index.track_pending_rows(added)

    async def add_pending_with_meta(self, rows: list[NewPending]) -> list[PendingRow]:
        """Pending rows that arrive with metadata, all in one transaction; a path that has a row already is left
        alone. A row without a stat is kept in error, so what the user once entered is not lost."""
        now = time.time()
        async with self._db.write() as db:
            # A handful of trips to the database thread for the whole batch, not one per row: the writer is
            # shared, and every edit waits while a batch holds it.
            added = await _insert_many(db, [
                pending_values(new.path, stat, new.type, status, now, error=error, meta=new.meta)
                for new in rows for stat, status, error in [arriving(new)]
            ])
            tags = {new.path: new.tags for new in rows}
            ids = {name: (await tag_ids(db, [name]))[0]
                   for name in dict.fromkeys(name for row in added for name in tags[row.path])}
            await db.executemany("INSERT OR IGNORE INTO pending_tags (pending_id, tag_id) VALUES (?, ?)",
                                 [(row.id, ids[name]) for row in added for name in tags[row.path]])
        return self._index.track_pending_rows(added)

    async def _update(self, pending_id: int, changes: Meta) -> PendingRow | None:
        sets = ", ".join(f"{column} = ?" for column in changes)
        async with self._db.write(library=False) as db:
            row = pending_row(await first_row(
                db,
                f"UPDATE pending_import SET {sets}, updated_at = ? WHERE id = ? RETURNING {PENDING_COLUMNS}",
                (*_values(changes), time.time(), pending_id),
            ))
        return self._index.track_pending(row)

    async def start_hashing(self, files: list[tuple[str, FileStat]]) -> list[PendingRow]:
        """The rows of these files marked `hashing` at the stat they are read at, in one transaction. A path with
        no row, or whose row is hashed already as the file is now, is left out."""
        now = time.time()
        async with self._db.write(library=False) as db:
            # One statement for the batch, which hands back the rows it marked.
            rows = [PendingRow(*r) for r in await db.execute_fetchall(
                "UPDATE pending_import AS p SET status = 'hashing', size_bytes = f.size, mtime_ns = f.mtime, "
                "inode = f.inode, device = f.device, updated_at = ? FROM (SELECT json_extract(value, '$[0]') AS path, "
                "json_extract(value, '$[1]') AS size, json_extract(value, '$[2]') AS mtime, "
                "json_extract(value, '$[3]') AS inode, json_extract(value, '$[4]') AS device FROM json_each(?)) AS f "
                f"WHERE p.path = f.path AND NOT (p.status IN {HASHED_AS_IS} AND "
                "p.size_bytes = f.size AND p.mtime_ns = f.mtime AND p.inode = f.inode AND p.device = f.device) "
                f"RETURNING {PENDING_COLUMNS}",
                (now, json.dumps([[path, *st] for path, st in files], ensure_ascii=False)))]
        return self._index.track_pending_rows(rows)

    async def record_hashes(self, records: list[tuple[int, HashRecord]]) -> list[PendingRow]:
        """`record_hash` for many rows in one transaction; a row that is no longer `hashing` is left alone."""
        if not records:
            return []
        now = time.time()
        changes = [(pending_id, hashed(r, now)) for pending_id, r in records]
        sets = ", ".join(f"{column} = ?" for column in changes[0][1])
        async with self._db.write(library=False) as db:
            await db.executemany(
                f"UPDATE pending_import SET {sets}, updated_at = ? WHERE id = ? AND status = 'hashing'",
                [(*_values(change), now, pending_id) for pending_id, change in changes])
            rows = [PendingRow(*r) for r in await db.execute_fetchall(
                f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE hashed_at = ? AND id IN {IN_JSON} ORDER BY id",
                (now, json_list([pending_id for pending_id, _ in records])))]
        return self._index.track_pending_rows(rows)

    async def move_pending(self, pending_id: int, path: str, name: str, type_: str) -> PendingRow | None:
        async with self._db.write() as db:
            # A row already at the destination describes a file that the move just replaced.
            replaced = await db.execute_fetchall(
                "DELETE FROM pending_import WHERE path = ? AND id != ? RETURNING id", (path, pending_id)
            )
            row = pending_row(await first_row(
                db,
                "UPDATE pending_import SET path = ?, name = ?, type = ?, updated_at = ? WHERE id = ? "
                f"RETURNING {PENDING_COLUMNS}",
                (path, name, type_, time.time(), pending_id),
            ))
        for (gone,) in replaced:
            self._index.untrack_pending(gone)
        return self._index.track_pending(row)

    async def set_pending_meta(self, pending_id: int, meta: Meta, tags: list[str]) -> bool:
        """The row's whole metadata, and more tags (tags are only ever added here)."""
        async with self._db.write() as db:
            updated = await first_row(
                db, "UPDATE pending_import SET meta_json = ?, updated_at = ? WHERE id = ? RETURNING id",
                (json.dumps(meta), time.time(), pending_id),
            )
            if updated is not None:
                await _tag_pending(db, pending_id, tags)
        return updated is not None

    async def note_pending_web(self, pending_id: int, sha256: str, web: Meta) -> bool:
        async with self._db.write() as db:
            updated = await first_row(
                db, "UPDATE pending_import SET meta_json = json_set(coalesce(meta_json, '{}'), '$.web', json(?)), "
                "updated_at = ? WHERE id = ? AND sha256 = ? RETURNING id",
                (json.dumps(web), time.time(), pending_id, sha256))
        return updated is not None

    async def delete_pending(self, pending_id: int) -> bool:
        async with self._db.write() as db:
            deleted = await first_row(db, "DELETE FROM pending_import WHERE id = ? RETURNING id", (pending_id,))
        self._index.untrack_pending(pending_id)
        return deleted is not None


def _values(changes: Meta) -> list[Any]:
    """The values of a row's changes as SQLite takes them: a record as its JSON text."""
    return [json.dumps(value) if column == "meta_json" else value for column, value in changes.items()]


async def _tag_pending(db: aiosqlite.Connection, pending_id: int, tags: list[str]) -> None:
    for tag_id in await tag_ids(db, tags):
        await db.execute("INSERT OR IGNORE INTO pending_tags (pending_id, tag_id) VALUES (?, ?)", (pending_id, tag_id))


async def _insert_many(db: aiosqlite.Connection, values: list[tuple[Any, ...]]) -> list[PendingRow]:
    """New rows, each given as its INSERT_PENDING arguments; the rows added (a path with a row already is left
    alone), in the order of their ids."""
    added = [PendingRow(*row) for row in await db.execute_fetchall(INSERT_PENDING_MANY, (json_rows(values),))]
    return sorted(added, key=lambda row: row.id)
