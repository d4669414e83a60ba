"""The library's models on PostgreSQL: their files' state, their names, tags and metadata.

A model is its content, shared by every host; its main file is a (host, path). Reading a model by its sha256 sees
the whole library, but a file is only ever looked up or changed on this store's own host: `model_by_path` finds
the model whose file is at that path here, and a daemon marks missing only a main file on its own host. A model
taken out of the library puts each of its files back in the queue of the file's host, and hands back (and tracks)
only this host's rows."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from hikaze_mm.store import library_writes as writes
from hikaze_mm.store.interfaces import ListEdits, MetadataRules
from hikaze_mm.store.library_records import DETAIL_COLUMNS, model_detail, recorded_stat, removed
from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.file_index import PgFileIndex
from hikaze_mm.store.postgres.rows import (
    HERE_COLUMNS,
    HERE_MODEL,
    INSERT_COPY,
    INSERT_IMAGE,
    INSERT_PENDING_IF_NEW,
    MODEL_COLUMNS,
    PENDING_COLUMNS,
    PgContext,
    copy_values,
    model_row,
    pending_values,
)
from hikaze_mm.store.postgres.search_index import reindex_many
from hikaze_mm.store.postgres.tags import NOT_ON_MODEL, NOT_REMOVED, model_tag_names, tag_ids, tag_model
from hikaze_mm.store.records import FileStat, Meta, ModelRow, PendingRow, Promotion, Removal, WebTaken


def set_file(n: int) -> str:
    """A model's file and its fingerprint as an UPDATE sets them: the host, the path and a FileStat's values are
    its arguments from `$n` on."""
    return (f"host = ${n}, path = ${n + 1}, size_bytes = ${n + 2}, mtime_ns = ${n + 3}, inode = ${n + 4}, "
            f"device = ${n + 5}")


# A new model made of its pending row (`PgLibrarySql.insert_models`): its content is the hash record's when the
# promotion brings one, else the row's.
_INSERT_MODEL = (
    "INSERT INTO models (sha256, blake3, host, path, name, type, size_bytes, mtime_ns, inode, device, status, "
    "created_at, updated_at, meta_json, base_model) "
    "SELECT coalesce($1, p.sha256), coalesce($2, p.blake3), p.host, $3, $4, $5, $6, $7, $8, $9, 'ok', $10, $10, "
    "$11, $12 FROM pending_import p WHERE p.id = $13 AND p.host = $14"
)
# The pending row's tags go to the model it becomes part of ($1 sha256, $2 pending id), but for those the user
# took off it and those it has.
_TAGS_TO_MODEL = (
    "INSERT INTO model_tags (sha256, tag_id) SELECT $1::text, tag_id FROM pending_tags WHERE pending_id = $2 "
    f"AND {NOT_REMOVED} AND {NOT_ON_MODEL.format('$1', 'pending_tags.tag_id')}"
)
# The same for the new models of many rows, given as the arrays of their pending ids and sha256s.
_TAGS_TO_MODELS = (
    "INSERT INTO model_tags (sha256, tag_id) SELECT made.sha256, t.tag_id "
    "FROM unnest($1::bigint[], $2::text[]) AS made (pending_id, sha256) "
    "JOIN pending_tags t ON t.pending_id = made.pending_id"
)


class PgLibrarySql:
    """The statements of the library's writes (`library_writes.LibrarySql`) on the connection of an open write.
    The files they make or take are this host's: a model's main file and copies, the pending rows promoted
    (another host's pending id names no row here), and the twins a content makes conflicts: another host's twin
    is that host's file of the model, which its own daemon makes one when it imports it. A row is read `FOR UPDATE`
    before it is combined with what arrives, the row lock as well as the write lock."""

    def __init__(self, conn: asyncpg.Connection, host: str):
        self._conn = conn
        self._host = host

    async def meta(self, sha256: str) -> Meta | None:
        return await self._conn.fetchval("SELECT meta_json FROM models WHERE sha256 = $1 FOR UPDATE", sha256)

    async def name_and_meta(self, sha256: str) -> tuple[str, Meta] | None:
        row = await self._conn.fetchrow("SELECT name, meta_json FROM models WHERE sha256 = $1 FOR UPDATE", sha256)
        return None if row is None else (row[0], row[1])

    async def set_meta(self, sha256: str, meta: Meta, now: float | None) -> None:
        await self._conn.execute("UPDATE models SET meta_json = $1, updated_at = coalesce($2, updated_at) "
                                 "WHERE sha256 = $3", meta, now, sha256)

    async def rename(self, sha256: str, name: str, now: float) -> None:
        await self._conn.execute("UPDATE models SET name = $1, updated_at = $2 WHERE sha256 = $3", name, now, sha256)

    async def fill_base_model(self, sha256: str, base_model: str) -> None:
        await self._conn.execute("UPDATE models SET base_model = $1 WHERE sha256 = $2 AND base_model = 'unknown'",
                                 base_model, sha256)

    async def refile_model(self, p: Promotion, keep_name: bool, now: float) -> None:
        name = "CASE WHEN name = '' THEN $7 ELSE name END" if keep_name else "$7"
        await self._conn.execute(
            f"UPDATE models SET {set_file(1)}, name = {name}, type = $8, status = 'ok', missing_since = NULL, "
            "updated_at = $9, base_model = $10 WHERE sha256 = $11",
            self._host, p.main_path, *p.main_stat, p.name, p.type, now, p.base_model, p.sha256)

    async def insert_models(self, models: list[tuple[Promotion, Meta]], now: float) -> None:
        await self._conn.executemany(_INSERT_MODEL, [
            (*((p.hashed.sha256, p.hashed.blake3) if p.hashed is not None else (None, None)), p.main_path, p.name,
             p.type, *p.main_stat, now, meta, p.base_model, p.pending_id, self._host) for p, meta in models])

    async def model(self, sha256: str) -> ModelRow:
        return ModelRow(*await self._conn.fetchrow(f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 = $1", sha256))

    async def made(self, shas: list[str], now: float) -> dict[str, str | None]:
        return {r[0]: r[1] for r in await self._conn.fetch(
            "SELECT sha256, blake3 FROM models WHERE sha256 = ANY($1::text[]) AND created_at = $2", texts(shas), now)}

    async def tag_names(self, sha256: str) -> list[str]:
        return await model_tag_names(self._conn, sha256)

    async def set_tags(self, sha256: str, names: list[str]) -> None:
        ids = await tag_ids(self._conn, names)
        await self._conn.execute("DELETE FROM model_tags WHERE sha256 = $1", sha256)
        await self._conn.execute("INSERT INTO model_tags (sha256, tag_id) SELECT $1, unnest($2::bigint[])",
                                 sha256, ids)

    async def add_tags(self, sha256: str, names: list[str]) -> int:
        await self._conn.execute("INSERT INTO model_tags (sha256, tag_id) SELECT $1::text, given.id FROM "
                                 f"unnest($2::bigint[]) AS given (id) WHERE {NOT_ON_MODEL.format('$1', 'given.id')}",
                                 sha256, await tag_ids(self._conn, names))
        return int(await self._conn.fetchval("SELECT count(*) FROM model_tags WHERE sha256 = $1", sha256))

    async def remove_tags(self, sha256: str, names: list[str]) -> None:
        await self._conn.execute("DELETE FROM model_tags WHERE sha256 = $1 AND tag_id IN (SELECT t.id FROM tags t "
                                 "JOIN jsonb_array_elements_text($2::jsonb) AS r (name) ON t.name = r.name::citext)",
                                 sha256, names)

    async def tag_model(self, sha256: str, names: list[str]) -> None:
        await tag_model(self._conn, sha256, names)

    async def pending_tag_names(self, ids: list[int]) -> dict[int, list[str]]:
        own: dict[int, list[str]] = {}
        for pending_id, name in await self._conn.fetch(
                "SELECT p.pending_id, t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id "
                "WHERE p.pending_id = ANY($1::bigint[]) ORDER BY p.pending_id, p.tag_id", ids):
            own.setdefault(pending_id, []).append(name)
        return own

    async def pending_tags_to_model(self, sha256: str, pending_id: int) -> None:
        await self._conn.execute(_TAGS_TO_MODEL, sha256, pending_id)

    async def pending_tags_to_models(self, promotions: list[Promotion]) -> None:
        await self._conn.execute(_TAGS_TO_MODELS, [p.pending_id for p in promotions],
                                 texts([p.sha256 for p in promotions]))

    async def add_images(self, images: list[tuple[str, int, int, int]], now: float) -> None:
        await self._conn.executemany(INSERT_IMAGE, [(*image, now) for image in images])

    async def add_copies(self, sha256: str, copies: list[tuple[str, FileStat]], now: float) -> None:
        await self._conn.executemany(INSERT_COPY, [copy_values(self._host, path, sha256, stat, now)
                                                   for path, stat in copies])

    async def drop_copies(self, paths: list[str]) -> None:
        await self._conn.execute("DELETE FROM model_copies WHERE host = $1 AND path = ANY($2::text[])", self._host,
                                 texts(paths))

    async def drop_pending(self, ids: list[int]) -> None:
        await self._conn.execute("DELETE FROM pending_import WHERE id = ANY($1::bigint[]) AND host = $2", ids,
                                 self._host)

    async def conflict_twins(self, sha256: str, now: float) -> list[PendingRow]:
        return [PendingRow(*r) for r in await self._conn.fetch(
            "UPDATE pending_import SET status = 'conflict', conflict_sha256 = $1, updated_at = $2 "
            f"WHERE sha256 = $1 AND status = 'ready' AND host = $3 RETURNING {PENDING_COLUMNS}", sha256, now,
            self._host)]

    async def reindex(self, shas: list[str]) -> None:
        await reindex_many(self._conn, shas)


async def take_sidecar_tags(conn: asyncpg.Connection, rules: MetadataRules, sha256: str, incoming: Meta,
                            now: float | None) -> list[str]:
    """`library_writes.take_sidecar_tags` inside the caller's write transaction (a model's files play no part,
    so no host is needed)."""
    return await writes.take_sidecar_tags(PgLibrarySql(conn, ""), rules, sha256, incoming, now)


class PgModels:
    def __init__(self, ctx: PgContext, index: PgFileIndex):
        self._ctx = ctx
        self._index = index

    # -- reading --------------------------------------------------------------------------------------------
    async def model(self, sha256: str) -> ModelRow | None:
        return model_row(await self._ctx.db.one(
            f"SELECT {HERE_COLUMNS} FROM {HERE_MODEL.format(host='$2')} WHERE m.sha256 = $1", (sha256, self._ctx.host)))

    async def elsewhere(self, sha256: str) -> bool:
        return bool(await self._ctx.db.value(
            "SELECT m.host != $2 AND m.status = 'ok' AND NOT EXISTS (SELECT 1 FROM model_copies c "
            "WHERE c.sha256 = m.sha256 AND c.host = $2) FROM models m WHERE m.sha256 = $1", (sha256, self._ctx.host)))

    async def model_by_path(self, path: str) -> ModelRow | None:
        return model_row(await self._ctx.db.one(
            f"SELECT {MODEL_COLUMNS} FROM models WHERE host = $1 AND path = $2 ORDER BY status = 'ok' DESC LIMIT 1",
            (self._ctx.host, path)))

    async def models_of(self, shas: list[str], paths: list[str]) -> tuple[dict[str, ModelRow], dict[str, ModelRow]]:
        """The models with these contents, by sha256, and the models whose files are at these paths on this host
        (the one whose file is there if two name it): what a batch of hashed files is compared with."""
        db = self._ctx.db
        by_sha = {r[0]: ModelRow(*r) for r in await db.all(
            f"SELECT {HERE_COLUMNS} FROM {HERE_MODEL.format(host='$2')} WHERE m.sha256 = ANY($1::text[])",
            (texts(shas), self._ctx.host))}
        by_path = {r[2]: ModelRow(*r) for r in await db.all(
            f"SELECT DISTINCT ON (path) {MODEL_COLUMNS} FROM models WHERE host = $1 AND path = ANY($2::text[]) "
            "ORDER BY path, status = 'ok' DESC", (self._ctx.host, texts(paths)))}
        return by_sha, by_path

    async def model_detail(self, sha256: str) -> dict[str, Any] | None:
        """The model's detail as this host sees it, with its files on every host."""
        db = self._ctx.db
        row = await db.one(f"SELECT {', '.join(DETAIL_COLUMNS)}, meta_json FROM models WHERE sha256 = $1",
                           (sha256,))
        if row is None:
            return None
        tags = await db.all("SELECT t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = $1 "
                            "ORDER BY t.name", (sha256,))
        images = await db.all("SELECT seq, width, height, created_at FROM images WHERE sha256 = $1 ORDER BY seq",
                              (sha256,))
        files = await db.all("SELECT host, path, true FROM models WHERE sha256 = $1 UNION ALL (SELECT host, path, "
                             "false FROM model_copies WHERE sha256 = $1 ORDER BY added_at, path)", (sha256,))
        return model_detail(row[:-1], row[-1], [r[0] for r in tags], images, files, self._ctx.host)

    # -- the file -------------------------------------------------------------------------------------------
    async def relink_model(
        self, sha256: str, path: str, type_: str, stat: FileStat, pending_id: int | None
    ) -> ModelRow | None:
        now = time.time()
        host = self._ctx.host
        async with self._ctx.db.write() as conn:
            if pending_id is not None:
                await conn.execute("DELETE FROM pending_import WHERE id = $1 AND host = $2", pending_id, host)
            if await conn.fetchval("SELECT host != $2 AND status = 'ok' FROM models WHERE sha256 = $1 FOR UPDATE",
                                   sha256, host):
                # Another host has the main file: this file is the model's file here, beside it.
                await conn.execute(INSERT_COPY, *copy_values(host, path, sha256, stat, now))
                here = model_row(await conn.fetchrow(
                    f"SELECT {HERE_COLUMNS} FROM {HERE_MODEL.format(host='$2')} WHERE m.sha256 = $1", sha256, host))
            else:
                here = None
            row = here or model_row(await conn.fetchrow(
                f"UPDATE models SET {set_file(1)}, name = CASE WHEN name = '' THEN $7 ELSE name END, type = $8, "
                f"status = 'ok', missing_since = NULL, updated_at = $9 WHERE sha256 = $10 RETURNING {MODEL_COLUMNS}",
                host, path, *stat, os.path.basename(path), type_, now, sha256))
        if pending_id is not None:
            self._index.untrack_pending(pending_id)
        if here is not None:
            self._index.track_copy(path, sha256, stat)
            return here
        return self._index.track_model(row)

    async def set_model_missing(self, sha256: str) -> ModelRow | None:
        """The model's main file here is gone, and no copy here remains: a file of another host takes over as its
        main file, and only when no host has one is the model missing. None when there is no such model or its
        main file is another host's."""
        now = time.time()
        host = self._ctx.host
        async with self._ctx.db.write() as conn:
            main = await conn.fetchval("SELECT path FROM models WHERE sha256 = $1 AND host = $2 FOR UPDATE",
                                       sha256, host)
            if main is None:
                return None
            other = await conn.fetchrow(
                "DELETE FROM model_copies WHERE (host, path) = (SELECT host, path FROM model_copies WHERE sha256 = $1 "
                "AND host != $2 ORDER BY added_at, path LIMIT 1) RETURNING host, path, size_bytes, mtime_ns, inode, "
                "device", sha256, host)
            if other is not None:
                await conn.execute(f"UPDATE models SET {set_file(1)}, status = 'ok', missing_since = NULL, "
                                   "updated_at = $7 WHERE sha256 = $8", other["host"], other["path"],
                                   *recorded_stat(*other[2:]), now, sha256)
                row = model_row(await conn.fetchrow(
                    f"SELECT {HERE_COLUMNS} FROM {HERE_MODEL.format(host='$2')} WHERE m.sha256 = $1", sha256, host))
            else:
                row = model_row(await conn.fetchrow(
                    "UPDATE models SET status = 'missing', missing_since = coalesce(missing_since, $1), "
                    f"updated_at = $1 WHERE sha256 = $2 RETURNING {MODEL_COLUMNS}", now, sha256))
        if other is not None:
            self._index.forget_model(sha256, [main])
            return row
        return self._index.track_model(row)

    # -- what the user entered ------------------------------------------------------------------------------
    async def update_model(
        self, sha256: str, *, name: str | None, tags: list[str] | None, meta_change: Meta | None,
        tags_add: list[str] | None = None, tags_remove: list[str] | None = None,
        meta_add: ListEdits | None = None, meta_remove: ListEdits | None = None,
        guard: Callable[[str, Meta], None] | None = None,
    ) -> bool:
        async with self._ctx.db.write() as conn:
            return await writes.update_model(
                PgLibrarySql(conn, self._ctx.host), self._ctx.rules, sha256, time.time(), name=name, tags=tags,
                meta_change=meta_change, tags_add=tags_add, tags_remove=tags_remove, meta_add=meta_add,
                meta_remove=meta_remove, guard=guard)

    async def set_base_model(self, shas: list[str], base_model: str) -> list[str]:
        """One base model for many models at once: the user's from now on (`user_set`, so the web never fills it
        again, not even after "unknown"), no longer marked as the web's; the models that exist."""
        now = time.time()
        async with self._ctx.db.write() as conn:
            # Locked as read, in one order, as every edit of a model's record is.
            rows = await conn.fetch("SELECT sha256, meta_json FROM models WHERE sha256 = ANY($1::text[]) "
                                    "ORDER BY sha256 FOR UPDATE", texts(shas))
            await conn.executemany(
                "UPDATE models SET base_model = $1, updated_at = $2, meta_json = $3 WHERE sha256 = $4",
                [(base_model, now, self._ctx.rules.user_edited(meta or {}, {"base_model"}), sha) for sha, meta in rows])
        return [r[0] for r in rows]

    async def enrich_model(self, sha256: str, meta: Meta, tags: list[str]) -> bool:
        async with self._ctx.db.write() as conn:
            return await writes.enrich_model(PgLibrarySql(conn, self._ctx.host), self._ctx.rules, sha256, meta, tags,
                                             time.time())

    async def take_web_record(self, sha256: str, record: Meta, base_model: str | None,
                              images: list[tuple[int, int, int]]) -> WebTaken | None:
        async with self._ctx.db.write() as conn:
            return await writes.take_web_record(PgLibrarySql(conn, self._ctx.host), self._ctx.rules, sha256, record,
                                                base_model, images, time.time())

    async def delete_model(self, sha256: str, ignore_paths: bool) -> Removal | None:
        """Remove the record, its copies, tags and image rows (the foreign keys cascade, the search row too); the
        files stay. They are back in the queue in the same transaction, each on its own host: as rows waiting to
        be filed again (`hashing`, so a restart hashes them afresh), or with `ignore_paths` as ignored rows that
        walks do not offer again. Rows that conflicted with the model are ready now, since their content is no
        longer in the library. The removal holds only this host's rows: another host's daemon files its own."""
        host = self._ctx.host
        async with self._ctx.db.write() as conn:
            model = await conn.fetchrow(
                "SELECT host, path, size_bytes, mtime_ns, inode, device, type, blake3, meta_json -> 'header' "
                "FROM models WHERE sha256 = $1 FOR UPDATE", sha256)
            if model is None:
                return None
            type_, blake3 = model[6], model[7]
            files = [tuple(model[:6]), *await conn.fetch(
                "SELECT host, path, size_bytes, mtime_ns, inode, device FROM model_copies WHERE sha256 = $1",
                sha256)]
            seqs = [r[0] for r in await conn.fetch("SELECT seq FROM images WHERE sha256 = $1 ORDER BY seq", sha256)]
            await conn.execute("DELETE FROM models WHERE sha256 = $1", sha256)
            now = time.time()
            status = "ignored" if ignore_paths else "hashing"
            released: list[PendingRow] = []
            for file_host, path, *stat in files:
                added = await conn.fetchrow(
                    f"{INSERT_PENDING_IF_NEW} RETURNING {PENDING_COLUMNS}",
                    *pending_values(file_host, path, recorded_stat(*stat), type_, status, now, sha256=sha256,
                                    blake3=blake3, hashed_at=now))
                if added is not None and file_host == host:
                    released.append(PendingRow(*added))
            reopened = [PendingRow(*r[1:]) for r in await conn.fetch(
                "UPDATE pending_import SET status = 'ready', conflict_sha256 = NULL, updated_at = $1 "
                f"WHERE conflict_sha256 = $2 AND status = 'conflict' RETURNING host, {PENDING_COLUMNS}", now, sha256)
                if r[0] == host]
        removal = Removal(seqs, released, reopened, model[8] or {})
        removed(self._index, sha256, [path for file_host, path, *_ in files if file_host == host], removal)
        return removal

