"""The library's models on SQLite: their files' state, their names, tags and metadata."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import aiosqlite

from hikaze_mm.store.errors import EditRefused
from hikaze_mm.store.interfaces import ListEdits, MetadataRules
from hikaze_mm.store.records import MAX_TAGS, FileStat, Meta, ModelRow, PendingRow, Removal
from hikaze_mm.store.sqlite.database import Database, first_row
from hikaze_mm.store.sqlite.file_index import SQLiteFileIndex
from hikaze_mm.store.sqlite.rows import (
    IN_JSON,
    INSERT_PENDING_IF_NEW,
    MODEL_COLUMNS,
    PENDING_COLUMNS,
    SET_STAT,
    json_list,
    model_row,
    pending_values,
)
from hikaze_mm.store.sqlite.search_index import reindex, unindex
from hikaze_mm.store.sqlite.tags import model_tag_names, tag_ids, tag_model


def nsfw_flag(meta: Meta) -> int:
    """The `nsfw` column for this metadata (the same truthiness as migration 4's backfill)."""
    return int(bool(meta.get("nsfw")))


async def edit_meta(db: aiosqlite.Connection, sha256: str, edit: Callable[[Meta], Meta], now: float) -> bool:
    """A model's metadata read, changed by `edit` and written back inside the caller's write transaction.
    Every change of stored metadata goes through here: with the read inside the transaction, two changes
    that arrive together each see the other's result instead of both starting from the same old record."""
    row = await first_row(db, "SELECT meta_json FROM models WHERE sha256 = ?", (sha256,))
    if row is None:
        return False
    meta = edit(json.loads(row[0] or "{}"))
    await db.execute("UPDATE models SET meta_json = ?, nsfw = ?, updated_at = ? WHERE sha256 = ?",
                     (json.dumps(meta), nsfw_flag(meta), now, sha256))
    return True


async def take_sidecar_tags(db: aiosqlite.Connection, rules: MetadataRules, sha256: str, incoming: Meta,
                            now: float | None) -> list[str]:
    """The tags the incoming record's sidecars name join the model that exists (the rules' `take_sidecar_tags`,
    against its tags as they stand in the caller's transaction); the ones that joined. With `now` None the model's
    `updated_at` stays: tags filled in for the user are not an edit of theirs."""
    row = await first_row(db, "SELECT meta_json FROM models WHERE sha256 = ?", (sha256,))
    if row is None:
        return []
    meta, taken = rules.take_sidecar_tags(json.loads(row[0] or "{}"), incoming, await model_tag_names(db, sha256))
    if taken:
        await db.execute("UPDATE models SET meta_json = ?, updated_at = coalesce(?, updated_at) WHERE sha256 = ?",
                         (json.dumps(meta), now, sha256))
        await tag_model(db, sha256, taken)
    return taken


class SQLiteModels:
    def __init__(self, db: Database, index: SQLiteFileIndex, rules: MetadataRules):
        self._db = db
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
        row = await self._db.one(
            "SELECT sha256, blake3, path, name, type, base_model, size_bytes, status, created_at, updated_at, "
            "missing_since, cover_seq, meta_json FROM models WHERE sha256 = ?",
            (sha256,),
        )
        if row is None:
            return None
        keys = ("sha256", "blake3", "path", "name", "type", "base_model", "size_bytes", "status", "created_at",
                "updated_at", "missing_since", "cover_seq")
        item = dict(zip(keys, row[:-1], strict=True))
        item["file_name"] = os.path.basename(item["path"])
        meta = json.loads(row[-1] or "{}")
        item["header"] = meta.pop("header", None)
        sidecar = {name.casefold() for name in meta.pop("sidecar_tags", [])}
        item["removed_tags"] = meta.pop("removed_tags", [])
        item["meta_json"] = meta
        tags = await self._db.all(
            "SELECT t.id, t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = ? "
            "ORDER BY t.name COLLATE NOCASE",
            (sha256,),
        )
        item["tags"] = [name for _, name in tags]
        item["sidecar_tags"] = [name for _, name in tags if name.casefold() in sidecar]
        images = await self._db.all(
            "SELECT seq, width, height, created_at FROM images WHERE sha256 = ? ORDER BY seq", (sha256,)
        )
        item["images"] = [{"seq": s, "width": w, "height": h, "created_at": c} for s, w, h, c in images]
        cover = item.pop("cover_seq")
        item["cover"] = cover if cover is not None else (images[0][0] if images else None)
        copies = await self._db.all("SELECT path, size_bytes FROM model_copies WHERE sha256 = ? ORDER BY path",
                                    (sha256,))
        item["copies"] = [p for p, _ in copies]
        return item

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
        """A PATCH: the named fields only, in one transaction. `meta_change` holds the metadata keys to replace,
        and the `_add` / `_remove` items go into and out of the lists; the rules' `patch` applies them to the
        metadata as it stands in this transaction, so two tabs' changes both stay. Raises EditRefused, or what
        the rules raise, with nothing written when a list would grow past its limit. `guard` sees the stored name
        and metadata first, in the same transaction, and refuses the edit by raising."""
        async with self._db.write() as db:
            row = await first_row(db, "SELECT name, meta_json FROM models WHERE sha256 = ?", (sha256,))
            if row is None:
                return False
            if guard is not None:
                guard(row[0], json.loads(row[1] or "{}"))
            now = time.time()
            if name is not None:
                await db.execute("UPDATE models SET name = ?, updated_at = ? WHERE sha256 = ?", (name, now, sha256))
            if meta_change is not None or meta_add or meta_remove:
                patch = self._rules.patch
                await edit_meta(db, sha256, lambda stored: patch(stored, meta_change or {}, meta_add or {},
                                                                 meta_remove or {}), now)
            editing_tags = tags is not None or bool(tags_add or tags_remove)
            before = await model_tag_names(db, sha256) if editing_tags else []
            if tags is not None:
                ids = await tag_ids(db, tags)
                await db.execute("DELETE FROM model_tags WHERE sha256 = ?", (sha256,))
                await db.executemany("INSERT INTO model_tags (sha256, tag_id) VALUES (?, ?)",
                                     [(sha256, i) for i in ids])
                await db.execute("UPDATE models SET updated_at = ? WHERE sha256 = ?", (now, sha256))
            if tags_add or tags_remove:
                await _edit_tags(db, sha256, tags_add or [], tags_remove or [])
                await db.execute("UPDATE models SET updated_at = ? WHERE sha256 = ?", (now, sha256))
            if editing_tags:
                after = await model_tag_names(db, sha256)
                tags_edited = self._rules.tags_edited
                await edit_meta(db, sha256, lambda stored: tags_edited(stored, before, after), now)
            await reindex(db, sha256)
        return True

    async def set_base_model(self, shas: list[str], base_model: str) -> list[str]:
        """One base model for many models at once (one statement: the column is neither metadata nor searched
        text, so nothing else follows it); the models that exist."""
        async with self._db.write() as db:
            rows = await db.execute_fetchall(
                f"UPDATE models SET base_model = ?, updated_at = ? WHERE sha256 IN {IN_JSON} RETURNING sha256",
                (base_model, time.time(), json_list(shas)))
        return [r[0] for r in rows]

    async def enrich_model(self, sha256: str, meta: Meta, tags: list[str]) -> bool:
        """What the model lacks of this metadata (the rules' `merge`), and these tags but for those the user took
        off it."""
        merge = self._rules.merge
        async with self._db.write() as db:
            if not await edit_meta(db, sha256, lambda stored: merge(stored, meta), time.time()):
                return False
            await tag_model(db, sha256, tags)
            await reindex(db, sha256)
        return True

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
        self._index.forget_model(sha256, [path, *(c[0] for c in copies)])
        for pending in [*released, *reopened]:
            self._index.track_pending(pending)
        return Removal(seqs, released, reopened, json.loads(meta_text or "{}").get("header") or {})


async def _edit_tags(db: aiosqlite.Connection, sha256: str, add: list[str], remove: list[str]) -> None:
    """Tags taken off and put on the model as it stands in the caller's transaction (names match without
    regard to case, as the tags table compares them)."""
    if remove:
        marks = ", ".join("?" * len(remove))
        await db.execute(f"DELETE FROM model_tags WHERE sha256 = ? AND tag_id IN "
                         f"(SELECT id FROM tags WHERE name IN ({marks}))", (sha256, *remove))
    if add:
        await db.executemany("INSERT OR IGNORE INTO model_tags (sha256, tag_id) VALUES (?, ?)",
                             [(sha256, i) for i in await tag_ids(db, add)])
        (count,) = await first_row(db, "SELECT count(*) FROM model_tags WHERE sha256 = ?", (sha256,))
        if count > MAX_TAGS:
            raise EditRefused(f"the model would have more than {MAX_TAGS} tags; remove some first")
