"""Pending rows becoming (part of) models on SQLite: a promotion makes or updates the model, an absorption
folds a row into a model that exists; each is one transaction, pending row and model together."""

from __future__ import annotations

import json
import time

import aiosqlite

from hikaze_mm.store.interfaces import MetadataRules
from hikaze_mm.store.records import FileStat, Meta, ModelRow, PendingRow, Promotion
from hikaze_mm.store.sqlite.database import Database, first_row
from hikaze_mm.store.sqlite.file_index import SQLiteFileIndex
from hikaze_mm.store.sqlite.models import edit_meta, nsfw_flag, take_sidecar_tags
from hikaze_mm.store.sqlite.rows import (
    IN_JSON,
    INSERT_COPY,
    INSERT_IMAGE,
    MODEL_COLUMNS,
    PENDING_COLUMNS,
    copy_values,
    json_list,
)
from hikaze_mm.store.sqlite.search_index import reindex, reindex_many
from hikaze_mm.store.sqlite.tags import NOT_REMOVED, tag_model

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


class SQLiteImports:
    def __init__(self, db: Database, index: SQLiteFileIndex, rules: MetadataRules):
        self._db = db
        self._index = index
        self._rules = rules

    async def absorb(self, pending_id: int, sha256: str, meta: Meta, images: list[tuple[int, int, int]],
                     copy: tuple[str, FileStat] | None) -> bool:
        async with self._db.write() as db:
            done = await self._absorb(db, pending_id, sha256, meta, images, copy, time.time())
        if done:
            self._index.untrack_pending(pending_id)
            if copy is not None:
                self._index.track_copy(copy[0], sha256, copy[1])
        return done

    async def _absorb(
        self, db: aiosqlite.Connection, pending_id: int, sha256: str, meta: Meta,
        images: list[tuple[int, int, int]], copy: tuple[str, FileStat] | None, now: float,
    ) -> bool:
        """A pending row taken into an existing model: what the model lacks of its metadata (the rules' `merge`),
        its tags, the given images and, when its file stays, its path as one of the model's files; the row goes."""
        merge = self._rules.merge
        if not await edit_meta(db, sha256, lambda stored: merge(stored, meta), now):
            return False
        base = meta.get("base_model")
        if isinstance(base, str) and base and base != "unknown":
            await db.execute("UPDATE models SET base_model = ? WHERE sha256 = ? AND base_model = 'unknown'",
                             (base, sha256))
        await db.execute(_TAGS_TO_MODEL, (sha256, pending_id))
        await take_sidecar_tags(db, self._rules, sha256, meta, now)
        await db.executemany(INSERT_IMAGE, [(sha256, seq, w, h, now) for seq, w, h in images])
        if copy is not None:
            await db.execute(INSERT_COPY, copy_values(copy[0], sha256, copy[1], now))
        await db.execute("DELETE FROM pending_import WHERE id = ?", (pending_id,))
        await reindex(db, sha256)
        return True


    async def _new_models_meta(self, db: aiosqlite.Connection,
                               promotions: list[Promotion]) -> dict[int, tuple[Meta, list[str]]]:
        """By pending id: what each new model keeps of its row's record (the rules' `for_new_model`), and the
        tags its sidecars give it besides the row's own (`take_sidecar_tags`)."""
        own: dict[int, list[str]] = {}
        for pending_id, name in await db.execute_fetchall(
                "SELECT p.pending_id, t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id "
                f"WHERE p.pending_id IN {IN_JSON}", (json_list([p.pending_id for p in promotions]),)):
            own.setdefault(pending_id, []).append(name)
        return {p.pending_id: self._rules.take_sidecar_tags(self._rules.for_new_model(p.meta_json), p.meta_json,
                                                            own.get(p.pending_id, []))
                for p in promotions}

    async def promote_new(self, promotions: list[Promotion]) -> list[ModelRow]:
        """Rows whose content no model has and no other queued row shares, each a new model, all in one
        transaction: a statement per step for the whole batch (a batch of small files costs a few trips to the
        database, not a dozen per file). A promotion that brings copies or aliases belongs to `promote`. A row
        that is gone makes no model."""
        assert all(p.mode == "new" and not p.copies and not p.aliases for p in promotions)
        now = time.time()
        ids = json_list([p.pending_id for p in promotions])
        shas = [p.sha256 for p in promotions]
        async with self._db.write() as db:
            await db.execute(f"INSERT OR IGNORE INTO search_ids (sha256) SELECT value FROM {IN_JSON}",
                             (json_list(shas),))
            kept = await self._new_models_meta(db, promotions)
            values = {p.pending_id: (p.main_path, p.name, p.type, *p.main_stat, now, now, json.dumps(meta),
                                     nsfw_flag(meta), p.base_model)
                      for p, (meta, _) in ((p, kept[p.pending_id]) for p in promotions)}
            await db.executemany(_INSERT_MODEL, [(*values[p.pending_id], p.pending_id)
                                                 for p in promotions if p.hashed is None])
            await db.executemany(_INSERT_HASHED_MODEL, [
                (p.hashed.sha256, p.hashed.blake3, *values[p.pending_id], p.hashed.sha256, p.pending_id)
                for p in promotions if p.hashed is not None])
            await db.execute(f"DELETE FROM model_copies WHERE path IN {IN_JSON}",
                             (json_list([p.main_path for p in promotions]),))
            await db.execute(_TAGS_TO_MODELS, (json.dumps([[p.pending_id, p.sha256] for p in promotions]),))
            for p in promotions:
                if kept[p.pending_id][1]:
                    await tag_model(db, p.sha256, kept[p.pending_id][1])
            await db.executemany(INSERT_IMAGE, [(p.sha256, seq, w, h, now) for p in promotions
                                                for seq, w, h in p.images])
            await db.execute(f"DELETE FROM pending_import WHERE id IN {IN_JSON}", (ids,))
            await reindex_many(db, shas)
            # Which rows made a model (a row gone meanwhile made none); the rest of each model is as written here.
            made: dict[str, str] = {sha256: blake3 for sha256, blake3 in await db.execute_fetchall(
                f"SELECT sha256, blake3 FROM models WHERE sha256 IN {IN_JSON}", (json_list(shas),))}
        models = [ModelRow(p.sha256, made[p.sha256], p.main_path, p.name, p.type, *p.main_stat, "ok", now, now,
                           p.base_model, None) for p in promotions if p.sha256 in made]
        for p in promotions:
            self._index.untrack_pending(p.pending_id)
            self._index.untrack_copy(p.main_path)
        for model in models:
            self._index.track_model(model)
        return models

    async def promote(self, p: Promotion) -> tuple[ModelRow, list[PendingRow]]:
        """The row becomes (part of) the model, its aliases join it, and every other ready row with the same
        content turns `conflict` in the same transaction, so no twin is offered as importable. A new model's
        metadata is the rules' `for_new_model` of the import's; an override or a merge combines the import's with
        the model's as it stands in this transaction (the rules' `override` or `merge`)."""
        now = time.time()
        st = p.main_stat
        taken: list[str] = []  # by a new model, from its sidecars
        async with self._db.write() as db:
            if p.mode == "new":
                meta, taken = (await self._new_models_meta(db, [p]))[p.pending_id]
                await db.execute(_INSERT_MODEL, (p.main_path, p.name, p.type, *st, now, now, json.dumps(meta),
                                                 nsfw_flag(meta), p.base_model, p.pending_id))
            else:
                # A merge keeps the model's name as it is now (a rename may have landed since the import looked).
                name = "?" if p.mode == "override" else "CASE WHEN name = '' THEN ? ELSE name END"
                await db.execute(
                    f"UPDATE models SET path = ?, name = {name}, type = ?, size_bytes = ?, mtime_ns = ?, inode = ?, "
                    "device = ?, status = 'ok', missing_since = NULL, updated_at = ?, base_model = ? WHERE sha256 = ?",
                    (p.main_path, p.name, p.type, *st, now, p.base_model, p.sha256),
                )
                combine = self._rules.override if p.mode == "override" else self._rules.merge
                await edit_meta(db, p.sha256, lambda stored: combine(stored, p.meta_json), now)
            await db.execute("DELETE FROM model_copies WHERE path = ?", (p.main_path,))
            await db.executemany(INSERT_COPY, [copy_values(path, p.sha256, cst, now) for path, cst in p.copies])
            await db.execute(_TAGS_TO_MODEL, (p.sha256, p.pending_id))
            if p.mode == "new":
                await tag_model(db, p.sha256, taken)
            else:
                await take_sidecar_tags(db, self._rules, p.sha256, p.meta_json, now)
            await db.executemany(INSERT_IMAGE, [(p.sha256, seq, w, h, now) for seq, w, h in p.images])
            await db.execute("DELETE FROM pending_import WHERE id = ?", (p.pending_id,))
            for alias in p.aliases:
                await self._absorb(db, alias.pending_id, p.sha256, alias.meta_json, [], (alias.path, alias.stat), now)
            twins = [PendingRow(*r) for r in await db.execute_fetchall(
                "UPDATE pending_import SET status = 'conflict', conflict_sha256 = ?, updated_at = ? "
                f"WHERE sha256 = ? AND status = 'ready' RETURNING {PENDING_COLUMNS}",
                (p.sha256, now, p.sha256),
            )]
            model = ModelRow(*await first_row(db, f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 = ?", (p.sha256,)))
            await reindex(db, p.sha256)
        self._index.untrack_pending(p.pending_id)
        self._index.untrack_copy(p.main_path)
        for path, cst in p.copies:
            self._index.track_copy(path, p.sha256, cst)
        for alias in p.aliases:
            self._index.untrack_pending(alias.pending_id)
            self._index.track_copy(alias.path, p.sha256, alias.stat)
        for twin in twins:
            self._index.track_pending(twin)
        self._index.track_model(model)
        return model, twins
