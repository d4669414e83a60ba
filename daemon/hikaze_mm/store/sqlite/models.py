"""The library's models on SQLite: their files' state, their names, tags and metadata."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import aiosqlite

from hikaze_mm.store import library_writes as writes
from hikaze_mm.store.interfaces import ListEdits, MetadataRules
from hikaze_mm.store.library_records import DETAIL_COLUMNS, model_detail, removed
from hikaze_mm.store.records import FileStat, Meta, ModelRow, PendingRow, Promotion, Removal, WebTaken
from hikaze_mm.store.sqlite.database import Database, first_row
from hikaze_mm.store.sqlite.file_index import SQLiteFileIndex
from hikaze_mm.store.sqlite.rows import (
    IN_JSON,
    INSERT_COPY,
    INSERT_IMAGE,
    INSERT_PENDING_IF_NEW,
    MODEL_COLUMNS,
    PENDING_COLUMNS,
    SET_STAT,
    copy_values,
    json_list,
    model_row,
    pending_values,
)
from hikaze_mm.store.sqlite.search_index import reindex_many, unindex
from hikaze_mm.store.sqlite.tags import NOT_REMOVED, model_tag_names, tag_ids, tag_model


def nsfw_flag(meta: Meta) -> int:
    """The `nsfw` column for this metadata (the same truthiness as migration 4's backfill)."""
    return int(bool(meta.get("nsfw")))


# A new model made of its pending row: its content, then (main path, name, type, stat, times, metadata, nsfw flag,
# base model, pending id); its search id too, when its search row is there already.
_INSERT_MODEL = (
    "INSERT INTO models (sha256, blake3, path, name, type, size_bytes, mtime_ns, inode, device, status, created_at, "
    "updated_at, meta_json, nsfw, base_model, search_id) "
    "SELECT p.sha256, p.blake3, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?, s.id "
    "FROM pending_import p LEFT JOIN search_ids s ON s.sha256 = p.sha256 WHERE p.id = ?"
)
# The same for a row whose hashes come with it: (sha256, blake3) first and the sha256 again for the search id last.
_INSERT_HASHED_MODEL = (
    "INSERT INTO models (sha256, blake3, path, name, type, size_bytes, mtime_ns, inode, device, status, created_at, "
    "updated_at, meta_json, nsfw, base_model, search_id) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?, (SELECT id FROM search_ids WHERE sha256 = ?) "
    "FROM pending_import WHERE id = ?"
)
# The pending row's tags go to the model it becomes part of (sha256, pending id), but for those the user took off it.
_TAGS_TO_MODEL = (
    "INSERT OR IGNORE INTO model_tags (sha256, tag_id) SELECT ?1, tag_id FROM pending_tags WHERE pending_id = ?2 "
    f"AND {NOT_REMOVED}"
)
# The same for many rows, given as a JSON list of [pending id, sha256].
_TAGS_TO_MODELS = (
    "INSERT OR IGNORE INTO model_tags (sha256, tag_id) SELECT json_extract(j.value, '$[1]'), t.tag_id "
    "FROM json_each(?) j JOIN pending_tags t ON t.pending_id = json_extract(j.value, '$[0]')"
)


class SQLiteLibrarySql:
    """The statements of the library's writes (`library_writes.LibrarySql`) on the connection of an open write."""

    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    async def meta(self, sha256: str) -> Meta | None:
        row = await first_row(self._db, "SELECT meta_json FROM models WHERE sha256 = ?", (sha256,))
        return None if row is None else json.loads(row[0] or "{}")

    async def name_and_meta(self, sha256: str) -> tuple[str, Meta] | None:
        row = await first_row(self._db, "SELECT name, meta_json FROM models WHERE sha256 = ?", (sha256,))
        return None if row is None else (row[0], json.loads(row[1] or "{}"))

    async def set_meta(self, sha256: str, meta: Meta, now: float | None) -> None:
        await self._db.execute("UPDATE models SET meta_json = ?, nsfw = ?, updated_at = coalesce(?, updated_at) "
                               "WHERE sha256 = ?", (json.dumps(meta), nsfw_flag(meta), now, sha256))

    async def rename(self, sha256: str, name: str, now: float) -> None:
        await self._db.execute("UPDATE models SET name = ?, updated_at = ? WHERE sha256 = ?", (name, now, sha256))

    async def fill_base_model(self, sha256: str, base_model: str) -> None:
        await self._db.execute("UPDATE models SET base_model = ? WHERE sha256 = ? AND base_model = 'unknown'",
                               (base_model, sha256))

    async def refile_model(self, p: Promotion, keep_name: bool, now: float) -> None:
        name = "CASE WHEN name = '' THEN ? ELSE name END" if keep_name else "?"
        await self._db.execute(
            f"UPDATE models SET path = ?, name = {name}, type = ?, {SET_STAT}, status = 'ok', missing_since = NULL, "
            "updated_at = ?, base_model = ? WHERE sha256 = ?",
            (p.main_path, p.name, p.type, *p.main_stat, now, p.base_model, p.sha256))

    async def insert_models(self, models: list[tuple[Promotion, Meta]], now: float) -> None:
        # Their search ids first, so that each model is written with its own (see `search_index.reindex_many`).
        await self._db.execute(f"INSERT OR IGNORE INTO search_ids (sha256) SELECT value FROM {IN_JSON}",
                               (json_list([p.sha256 for p, _ in models]),))
        values = [(p, (p.main_path, p.name, p.type, *p.main_stat, now, now, json.dumps(meta), nsfw_flag(meta),
                       p.base_model)) for p, meta in models]
        await self._db.executemany(_INSERT_MODEL, [(*v, p.pending_id) for p, v in values if p.hashed is None])
        await self._db.executemany(_INSERT_HASHED_MODEL, [
            (p.hashed.sha256, p.hashed.blake3, *v, p.hashed.sha256, p.pending_id)
            for p, v in values if p.hashed is not None])

    async def model(self, sha256: str) -> ModelRow:
        return ModelRow(*await first_row(self._db, f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 = ?",
                                         (sha256,)))

    async def made(self, shas: list[str], now: float) -> dict[str, str | None]:
        return {sha256: blake3 for sha256, blake3 in await self._db.execute_fetchall(
            f"SELECT sha256, blake3 FROM models WHERE sha256 IN {IN_JSON} AND created_at = ?", (json_list(shas), now))}

    async def tag_names(self, sha256: str) -> list[str]:
        return await model_tag_names(self._db, sha256)

    async def set_tags(self, sha256: str, names: list[str]) -> None:
        ids = await tag_ids(self._db, names)
        await self._db.execute("DELETE FROM model_tags WHERE sha256 = ?", (sha256,))
        await self._db.executemany("INSERT INTO model_tags (sha256, tag_id) VALUES (?, ?)", [(sha256, i) for i in ids])

    async def add_tags(self, sha256: str, names: list[str]) -> int:
        await self._db.executemany("INSERT OR IGNORE INTO model_tags (sha256, tag_id) VALUES (?, ?)",
                                   [(sha256, i) for i in await tag_ids(self._db, names)])
        (count,) = await first_row(self._db, "SELECT count(*) FROM model_tags WHERE sha256 = ?", (sha256,))
        return int(count)

    async def remove_tags(self, sha256: str, names: list[str]) -> None:
        # `name IN` a list of values compares with the column's NOCASE.
        marks = ", ".join("?" * len(names))
        await self._db.execute(f"DELETE FROM model_tags WHERE sha256 = ? AND tag_id IN "
                               f"(SELECT id FROM tags WHERE name IN ({marks}))", (sha256, *names))

    async def tag_model(self, sha256: str, names: list[str]) -> None:
        await tag_model(self._db, sha256, names)

    async def pending_tag_names(self, ids: list[int]) -> dict[int, list[str]]:
        own: dict[int, list[str]] = {}
        for pending_id, name in await self._db.execute_fetchall(
                "SELECT p.pending_id, t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id "
                f"WHERE p.pending_id IN {IN_JSON}", (json_list(ids),)):
            own.setdefault(pending_id, []).append(name)
        return own

    async def pending_tags_to_model(self, sha256: str, pending_id: int) -> None:
        await self._db.execute(_TAGS_TO_MODEL, (sha256, pending_id))

    async def pending_tags_to_models(self, promotions: list[Promotion]) -> None:
        await self._db.execute(_TAGS_TO_MODELS, (json.dumps([[p.pending_id, p.sha256] for p in promotions]),))

    async def add_images(self, images: list[tuple[str, int, int, int]], now: float) -> None:
        await self._db.executemany(INSERT_IMAGE, [(*image, now) for image in images])

    async def add_copies(self, sha256: str, copies: list[tuple[str, FileStat]], now: float) -> None:
        await self._db.executemany(INSERT_COPY, [copy_values(path, sha256, stat, now) for path, stat in copies])

    async def drop_copies(self, paths: list[str]) -> None:
        await self._db.execute(f"DELETE FROM model_copies WHERE path IN {IN_JSON}", (json_list(paths),))

    async def drop_pending(self, ids: list[int]) -> None:
        await self._db.execute(f"DELETE FROM pending_import WHERE id IN {IN_JSON}", (json_list(ids),))

    async def conflict_twins(self, sha256: str, now: float) -> list[PendingRow]:
        return [PendingRow(*r) for r in await self._db.execute_fetchall(
            "UPDATE pending_import SET status = 'conflict', conflict_sha256 = ?, updated_at = ? "
            f"WHERE sha256 = ? AND status = 'ready' RETURNING {PENDING_COLUMNS}", (sha256, now, sha256))]

    async def reindex(self, shas: list[str]) -> None:
        await reindex_many(self._db, shas)


async def take_sidecar_tags(db: aiosqlite.Connection, rules: MetadataRules, sha256: str, incoming: Meta,
                            now: float | None) -> list[str]:
    """`library_writes.take_sidecar_tags` inside the caller's write transaction."""
    return await writes.take_sidecar_tags(SQLiteLibrarySql(db), rules, sha256, incoming, now)


class SQLiteModels:
    def __init__(self, db: Database, index: SQLiteFileIndex, rules: MetadataRules, host: str):
        self._db = db
        self._host = host
        self._index = index
        self._rules = rules

    # -- reading --------------------------------------------------------------------------------------------
    async def model(self, sha256: str) -> ModelRow | None:
        return model_row(await self._db.one(
            f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 = ?", (sha256,), fresh=True
        ))

    async def model_by_path(self, path: str) -> ModelRow | None:
        return model_row(await self._db.one(
            f"SELECT {MODEL_COLUMNS} FROM models WHERE path = ? ORDER BY status = 'ok' DESC LIMIT 1", (path,),
            fresh=True,
        ))

    async def models_of(self, shas: list[str], paths: list[str]) -> tuple[dict[str, ModelRow], dict[str, ModelRow]]:
        """The models with these contents, by sha256, and the models at these paths (the one whose file is there
        if two name it), read fresh in one go: what a batch of hashed files is compared with."""
        by_sha = {r[0]: ModelRow(*r) for r in await self._db.all(
            f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 IN {IN_JSON}", (json_list(shas),), fresh=True)}
        by_path: dict[str, ModelRow] = {}
        for r in await self._db.all(
                f"SELECT {MODEL_COLUMNS} FROM models WHERE path IN {IN_JSON} ORDER BY status = 'ok'",
                (json_list(paths),), fresh=True):
            model = ModelRow(*r)
            by_path[model.path] = model  # `ok` last, so it wins
        return by_sha, by_path

    async def model_detail(self, sha256: str) -> dict[str, Any] | None:
        row = await self._db.one(f"SELECT {', '.join(DETAIL_COLUMNS)}, meta_json FROM models WHERE sha256 = ?",
                                 (sha256,))
        if row is None:
            return None
        tags = await self._db.all(
            "SELECT t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = ? "
            "ORDER BY t.name COLLATE NOCASE",
            (sha256,),
        )
        images = await self._db.all(
            "SELECT seq, width, height, created_at FROM images WHERE sha256 = ? ORDER BY seq", (sha256,)
        )
        copies = await self._db.all("SELECT path FROM model_copies WHERE sha256 = ? ORDER BY path", (sha256,))
        files = [(self._host, row[DETAIL_COLUMNS.index("path")], True), *((self._host, c[0], False) for c in copies)]
        return model_detail(row[:-1], json.loads(row[-1] or "{}"), [r[0] for r in tags], images, files, self._host)

    async def elsewhere(self, sha256: str) -> bool:
        return False  # one host: every file the library knows is here

    # -- the file -------------------------------------------------------------------------------------------
    async def relink_model(
        self, sha256: str, path: str, type_: str, stat: FileStat, pending_id: int | None
    ) -> ModelRow | None:
        now = time.time()
        async with self._db.write() as db:
            if pending_id is not None:
                await db.execute("DELETE FROM pending_import WHERE id = ?", (pending_id,))
            row = model_row(await first_row(
                db,
                "UPDATE models SET path = ?, name = CASE WHEN name = '' THEN ? ELSE name END, type = ?, "
                f"{SET_STAT}, status = 'ok', missing_since = NULL, updated_at = ? WHERE sha256 = ? "
                f"RETURNING {MODEL_COLUMNS}",
                (path, os.path.basename(path), type_, *stat, now, sha256),
            ))
        if pending_id is not None:
            self._index.untrack_pending(pending_id)
        return self._index.track_model(row)

    async def set_model_missing(self, sha256: str) -> ModelRow | None:
        now = time.time()
        async with self._db.write() as db:
            row = model_row(await first_row(
                db,
                "UPDATE models SET status = 'missing', missing_since = coalesce(missing_since, ?), updated_at = ? "
                f"WHERE sha256 = ? RETURNING {MODEL_COLUMNS}",
                (now, now, sha256),
            ))
        return self._index.track_model(row)

    # -- what the user entered ------------------------------------------------------------------------------
    async def update_model(
        self, sha256: str, *, name: str | None, tags: list[str] | None, meta_change: Meta | None,
        tags_add: list[str] | None = None, tags_remove: list[str] | None = None,
        meta_add: ListEdits | None = None, meta_remove: ListEdits | None = None,
        guard: Callable[[str, Meta], None] | None = None,
    ) -> bool:
        async with self._db.write() as db:
            return await writes.update_model(
                SQLiteLibrarySql(db), self._rules, sha256, time.time(), name=name, tags=tags, meta_change=meta_change,
                tags_add=tags_add, tags_remove=tags_remove, meta_add=meta_add, meta_remove=meta_remove, guard=guard)

    async def set_base_model(self, shas: list[str], base_model: str) -> list[str]:
        """One base model for many models at once: the user's from now on (`user_set`, so the web never fills it
        again, not even after "unknown"), no longer marked as the web's; the models that exist."""
        now = time.time()
        async with self._db.write() as db:
            rows = await db.execute_fetchall(f"SELECT sha256, meta_json FROM models WHERE sha256 IN {IN_JSON}",
                                             (json_list(shas),))
            await db.executemany(
                "UPDATE models SET base_model = ?, updated_at = ?, meta_json = ? WHERE sha256 = ?",
                [(base_model, now, json.dumps(self._rules.user_edited(json.loads(meta or "{}"), {"base_model"})), sha)
                 for sha, meta in rows])
        return [r[0] for r in rows]

    async def enrich_model(self, sha256: str, meta: Meta, tags: list[str]) -> bool:
        async with self._db.write() as db:
            return await writes.enrich_model(SQLiteLibrarySql(db), self._rules, sha256, meta, tags, time.time())

    async def take_web_record(self, sha256: str, record: Meta, base_model: str | None,
                              images: list[tuple[int, int, int]]) -> WebTaken | None:
        async with self._db.write() as db:
            return await writes.take_web_record(SQLiteLibrarySql(db), self._rules, sha256, record, base_model, images,
                                                time.time())

    async def delete_model(self, sha256: str, ignore_paths: bool) -> Removal | None:
        """Remove the record, its copies, tags and image rows; the files stay. They are back in the queue in the
        same transaction: as rows waiting to be filed again (`hashing`, so a restart hashes them afresh), or with
        `ignore_paths` as ignored rows that walks do not offer again. Rows that conflicted with the model are
        ready now, since their content is no longer in the library."""
        async with self._db.write() as db:
            row = await first_row(
                db, "SELECT path, size_bytes, mtime_ns, inode, device, type, meta_json, blake3 FROM models "
                "WHERE sha256 = ?", (sha256,),
            )
            if row is None:
                return None
            path, size, mtime, inode, device, type_, meta_text, blake3 = row
            copies = list(await db.execute_fetchall(
                "SELECT path, size_bytes, mtime_ns, inode, device FROM model_copies WHERE sha256 = ?", (sha256,)
            ))
            seqs = [r[0] for r in await db.execute_fetchall("SELECT seq FROM images WHERE sha256 = ?", (sha256,))]
            await unindex(db, sha256)
            await db.execute("DELETE FROM models WHERE sha256 = ?", (sha256,))
            now = time.time()
            status = "ignored" if ignore_paths else "hashing"
            released: list[PendingRow] = []
            for p, sz, mt, ino, dev in [(path, size, mtime, inode, device), *copies]:
                added = await first_row(
                    db, f"{INSERT_PENDING_IF_NEW} RETURNING {PENDING_COLUMNS}",
                    pending_values(p, FileStat(sz, mt or 0, ino or 0, dev or 0), type_, status, now, sha256=sha256,
                                   blake3=blake3, hashed_at=now),
                )
                if added is not None:
                    released.append(PendingRow(*added))
            reopened = [PendingRow(*r) for r in await db.execute_fetchall(
                "UPDATE pending_import SET status = 'ready', conflict_sha256 = NULL, updated_at = ? "
                f"WHERE conflict_sha256 = ? AND status = 'conflict' RETURNING {PENDING_COLUMNS}",
                (now, sha256),
            )]
        removal = Removal(seqs, released, reopened, json.loads(meta_text or "{}").get("header") or {})
        removed(self._index, sha256, [path, *(c[0] for c in copies)], removal)
        return removal

