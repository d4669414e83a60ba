"""The library half of the SQLite store: models, their copies, tags, images and search.

A mixin of `SQLiteStore` (it uses that class's connections, transactions and file index), kept apart so each
file holds one part of the schema.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hikaze_mm.library import metadata as meta_mod
from hikaze_mm.pipeline.walk import FileStat
from hikaze_mm.store.interfaces import (
    MAX_TAGS,
    EditRefused,
    ModelQuery,
    ModelRow,
    NewPending,
    PendingRow,
    Promotion,
    Removal,
)

if TYPE_CHECKING:
    import aiosqlite

PENDING_COLUMNS = (
    "id, path, name, type, size_bytes, mtime_ns, inode, device, status, sha256, blake3, conflict_sha256, "
    "error, discovered_at, hashed_at"
)
MODEL_COLUMNS = (
    "sha256, blake3, path, name, type, size_bytes, mtime_ns, inode, device, status, created_at, updated_at, "
    "base_model, cover_seq"
)
MAX_CACHED_ANSWERS = 256
# Walking the sort order pays per model visited, collecting pays per match (a row read, then a sort); at 100,000
# models walking won while it visited fewer than about four models per match (bench/library_scale.py).
WALK_OVER_COLLECT = 4
# A model is tested against excluded tags with one index seek (about 2 us at 100,000 models), or looked up in a
# list of every model carrying them, built first (1.7 ms for the 8,000 models of one tag there) and cheaper per
# test: seeking is no slower while a query visits up to about a thousand models, as a page near the start does
# (bench/library_scale.py).
SEEK_EXCLUDED_UP_TO = 1000
SEP = "\x1f"  # joins tag names in one column; cannot appear in a tag name
NSFW_TAG = "nsfw"  # a model carrying this tag (any case) is hidden with the NSFW-flagged ones
SORTS = {
    "name": "m.name COLLATE NOCASE ASC, m.sha256",
    "created": "m.created_at DESC, m.sha256",
    "updated": "m.updated_at DESC, m.sha256",
    "size": "m.size_bytes DESC, m.sha256",
}


async def first_row(db: aiosqlite.Connection, sql: str, args: tuple[Any, ...]) -> Any:
    rows = await db.execute_fetchall(sql, args)
    return rows[0] if rows else None


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _select_count(where: list[str]) -> str:
    return "SELECT count(*) FROM models m" + _where(where)


def _nsfw(meta: dict[str, Any]) -> int:
    """The `nsfw` column for this metadata (the same truthiness as migration 4's backfill)."""
    return int(bool(meta.get("nsfw")))


def _narrows(query: ModelQuery) -> bool:
    """Whether the filters keep a part of the library (a type, a base model, tags, words) rather than leave a few
    models out."""
    return bool((query.q or "").split() or query.tags or query.type or query.base_model)


def _filters(query: ModelQuery, seek_excluded: bool = False) -> tuple[list[str], list[Any]]:
    """The conditions of a query's filters other than status, and their arguments in order. With `seek_excluded`,
    excluded tags are looked for model by model (for a query that visits few models)."""
    where: list[str] = []
    args: list[Any] = []
    words = (query.q or "").split()
    if query.type:
        where.append("m.type = ? COLLATE NOCASE")
        args.append(query.type)
    if query.base_model:
        where.append("m.base_model = ? COLLATE NOCASE")
        args.append(query.base_model)
    for tag in query.tags:
        where.append("m.sha256 IN (SELECT mt.sha256 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
                     "WHERE t.name = ?)")
        args.append(tag)
    if query.hide_nsfw:
        where.append("m.nsfw = 0")
    excluded = [*query.exclude_tags, NSFW_TAG] if query.hide_nsfw else query.exclude_tags
    if excluded:
        marks = ", ".join("?" * len(excluded))
        if seek_excluded:
            where.append("NOT EXISTS (SELECT 1 FROM model_tags mt WHERE mt.sha256 = m.sha256 "
                         f"AND mt.tag_id IN (SELECT t.id FROM tags t WHERE t.name IN ({marks})))")
        else:
            where.append("m.sha256 NOT IN (SELECT mt.sha256 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
                         f"WHERE t.name IN ({marks}))")
        args.extend(excluded)
    for w in words:
        if len(w) < 3:  # shorter than a trigram: a plain substring test on the names
            where.append("(m.name LIKE ? ESCAPE '\\' OR m.path LIKE ? ESCAPE '\\')")
            like = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args.extend([like, like])
    long_words = [w for w in words if len(w) >= 3]
    if long_words:
        # Each word is a quoted phrase: the trigram index matches it anywhere, in any column.
        where.append("m.search_id IN (SELECT rowid FROM models_fts WHERE models_fts MATCH ?)")
        args.append(" AND ".join('"' + w.replace('"', '""') + '"' for w in long_words))
    return where, args


def _status(query: ModelQuery) -> tuple[list[str], list[Any]]:
    return ([], []) if query.status == "all" else (["m.status = ?"], [query.status])


def _matching(query: ModelQuery) -> tuple[list[str], tuple[Any, ...]]:
    """The conditions (and arguments) for counting or grouping every match of a query. A filter that narrows the
    library starts from its own index, not from every model of that status."""
    where, args = _filters(query)
    status_where, status_args = _status(query)
    if _narrows(query) and status_where:
        status_where = ["+m.status = ?"]
    return status_where + where, (*status_args, *args)


def _file_name(path: str) -> str:
    return os.path.basename(path)


def _tags(joined: str | None) -> list[str]:
    return sorted(joined.split(SEP), key=str.lower) if joined else []


class LibrarySQL:
    # Provided by SQLiteStore.
    _all: Any
    _one: Any
    _write: Any
    _track_model: Any
    _untrack_pending: Any
    _track_pending: Any
    _copies: dict[str, tuple[str, tuple[Any, ...]]]
    _generation: int  # how many write transactions that touch the library have committed
    _answers: dict[tuple[str, tuple[Any, ...]], tuple[int, list[Any]]]

    # -- search ---------------------------------------------------------------------------------------------
    async def _reindex(self, db: aiosqlite.Connection, sha256: str) -> None:
        """Rebuild the model's search row from its current name, path, tags and metadata."""
        await db.execute("INSERT OR IGNORE INTO search_ids (sha256) VALUES (?)", (sha256,))
        rows = await db.execute_fetchall(
            "SELECT s.id, m.name, m.path, m.meta_json, "
            "(SELECT group_concat(t.name, ' ') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
            " WHERE mt.sha256 = m.sha256) "
            "FROM models m JOIN search_ids s ON s.sha256 = m.sha256 WHERE m.sha256 = ?",
            (sha256,),
        )
        for search_id, name, path, meta_text, tags in rows:
            meta = json.loads(meta_text or "{}")
            await db.execute("UPDATE models SET search_id = ? WHERE sha256 = ?", (search_id, sha256))
            await db.execute("DELETE FROM models_fts WHERE rowid = ?", (search_id,))
            await db.execute(
                "INSERT INTO models_fts (rowid, name, file_name, path, tags, description, trigger_words) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (search_id, name, _file_name(path), path, tags or "", meta.get("description") or "",
                 " ".join(meta.get("trigger_words") or [])),
            )

    async def _unindex(self, db: aiosqlite.Connection, sha256: str) -> None:
        await db.execute(
            "DELETE FROM models_fts WHERE rowid = (SELECT id FROM search_ids WHERE sha256 = ?)", (sha256,)
        )
        await db.execute("DELETE FROM search_ids WHERE sha256 = ?", (sha256,))

    async def list_models(self, query: ModelQuery) -> tuple[list[dict[str, Any]], int]:
        status_where, status_args = _status(query)
        total = await self._total(query)
        if total == 0 or query.limit == 0:
            return [], total
        # Two ways to a sorted page: walk the sort order's index and test each model against the filter, or
        # collect the filter's matches and sort them. Walking wins when matches are common enough that a page
        # fills after a short stretch of the index; `+` keeps the planner off the index otherwise.
        population = await self._count(_select_count(status_where), tuple(status_args))
        visits = (query.offset + query.limit) * population / total  # by a walk, to fill this page
        if _narrows(query) and status_where and visits >= total * WALK_OVER_COLLECT:
            status_where = ["+m.status = ?"]
            visits = total  # collecting visits every match
        where, args = _filters(query, seek_excluded=visits <= SEEK_EXCLUDED_UP_TO)
        # The page's keys first, on a narrow row that the sort order's index covers; the per-model details
        # only for the models on the page.
        page = [r[0] for r in await self._all(
            f"SELECT m.sha256 FROM models m{_where(status_where + where)} ORDER BY {SORTS[query.sort]} "
            "LIMIT ? OFFSET ?",
            (*status_args, *args, query.limit, query.offset),
        )]
        if not page:
            return [], total
        marks = ", ".join("?" * len(page))
        rows = await self._all(
            "SELECT m.sha256, m.name, m.path, m.type, m.base_model, m.size_bytes, m.status, m.cover_seq, m.nsfw, "
            f"(SELECT group_concat(t.name, '{SEP}') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
            " WHERE mt.sha256 = m.sha256) "
            f"FROM models m WHERE m.sha256 IN ({marks})",
            tuple(page),
        )
        seqs: dict[str, list[int]] = {sha: [] for sha in page}
        for sha, seq in await self._all(
            f"SELECT sha256, seq FROM images WHERE sha256 IN ({marks}) ORDER BY sha256, seq", tuple(page)
        ):
            seqs[sha].append(seq)
        by_sha = {r[0]: r for r in rows}
        items = []
        for sha in page:
            _, name, path, type_, base, size, status, cover, nsfw, tags = by_sha[sha]
            images = seqs[sha]
            items.append({
                "sha256": sha, "name": name, "file_name": _file_name(path), "type": type_, "base_model": base,
                "size_bytes": size, "status": status, "tags": _tags(tags), "nsfw": bool(nsfw),
                "image_count": len(images), "image_seqs": images,
                "cover": cover if cover is not None else (images[0] if images else None),
            })
        return items, total

    async def _total(self, query: ModelQuery) -> int:
        where, args = _matching(query)
        return await self._count(_select_count(where), args)

    async def facets(self, query: ModelQuery) -> dict[str, Any]:
        """What a filter bar offers next to a result: the tags of the matching models and the base models of the
        models matching every filter but the base model (so the others stay choosable), each with its count."""
        where, args = _matching(query)
        # Grouped by id before the names are joined: one name lookup per tag instead of one per (model, tag).
        tags = await self._cached(
            "SELECT t.name, c.n FROM (SELECT mt.tag_id, count(*) AS n FROM models m JOIN model_tags mt "
            f"ON mt.sha256 = m.sha256{_where(where)} GROUP BY mt.tag_id) c JOIN tags t ON t.id = c.tag_id "
            "ORDER BY c.n DESC, t.name COLLATE NOCASE",
            args,
            tally=True,
        )
        where, args = _matching(dataclasses.replace(query, base_model=None))
        # The base-model index covers status and the NSFW flag: scanning it beats reading every row that the
        # status index names.
        where = ["+m.status = ?" if w == "m.status = ?" else w for w in where]
        bases = await self._cached(
            f"SELECT m.base_model, count(*) AS n FROM models m{_where(where)} GROUP BY m.base_model "
            "ORDER BY n DESC, m.base_model COLLATE NOCASE",
            args,
            tally=True,
        )
        return {
            "tags": [{"name": name, "count": n} for name, n in tags],
            "base_models": [{"name": name, "count": n} for name, n in bases],
            "total": await self._total(query),
        }

    async def _count(self, sql: str, args: tuple[Any, ...]) -> int:
        return (await self._cached(sql, args))[0][0]

    async def _cached(self, sql: str, args: tuple[Any, ...], *, tally: bool = False) -> list[Any]:
        """Counts and tallies are taken once per state of the database: paging through a result asks for the same
        total again and again, and on a large library counting is the slow part."""
        key = (sql, args)
        generation = self._generation  # before the read: a write committing meanwhile makes this answer stale
        cached = self._answers.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        rows = await self._all(sql, args, tally=tally)
        if len(self._answers) > MAX_CACHED_ANSWERS:
            self._answers.clear()
        self._answers[key] = (generation, rows)
        return rows

    async def model_detail(self, sha256: str) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT sha256, blake3, path, name, type, base_model, size_bytes, status, created_at, updated_at, "
            "missing_since, cover_seq, meta_json FROM models WHERE sha256 = ?",
            (sha256,),
        )
        if row is None:
            return None
        keys = ("sha256", "blake3", "path", "name", "type", "base_model", "size_bytes", "status", "created_at",
                "updated_at", "missing_since", "cover_seq")
        item = dict(zip(keys, row[:-1], strict=True))
        item["file_name"] = _file_name(item["path"])
        meta = json.loads(row[-1] or "{}")
        item["header"] = meta.pop("header", None)
        item["meta_json"] = meta
        tags = await self._all(
            "SELECT t.id, t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = ? "
            "ORDER BY t.name COLLATE NOCASE",
            (sha256,),
        )
        item["tags"] = [name for _, name in tags]
        images = await self._all(
            "SELECT seq, width, height, created_at FROM images WHERE sha256 = ? ORDER BY seq", (sha256,)
        )
        item["images"] = [{"seq": s, "width": w, "height": h, "created_at": c} for s, w, h, c in images]
        cover = item.pop("cover_seq")
        item["cover"] = cover if cover is not None else (images[0][0] if images else None)
        copies = await self._all("SELECT path, size_bytes FROM model_copies WHERE sha256 = ? ORDER BY path",
                                 (sha256,))
        item["copies"] = [p for p, _ in copies]
        return item

    async def model_types(self) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT type, sum(status = 'ok'), sum(status = 'missing') FROM models GROUP BY type ORDER BY type"
        )
        pending = dict(await self._all("SELECT type, count(*) FROM pending_import GROUP BY type"))
        found = {t: {"type": t, "models": ok, "missing": missing, "pending": pending.get(t, 0)}
                 for t, ok, missing in rows}
        for t, n in pending.items():
            found.setdefault(t, {"type": t, "models": 0, "missing": 0, "pending": n})
        return [found[t] for t in sorted(found)]

    async def list_tags(self) -> list[dict[str, Any]]:
        rows = await self._cached(
            "SELECT t.id, t.name, (SELECT count(*) FROM model_tags mt WHERE mt.tag_id = t.id), "
            "(SELECT count(*) FROM pending_tags pt WHERE pt.tag_id = t.id) FROM tags t ORDER BY t.name COLLATE NOCASE",
            (),
            tally=True,
        )
        return [{"id": i, "name": n, "models": m, "pending": p} for i, n, m, p in rows]

    # -- tags -----------------------------------------------------------------------------------------------
    @staticmethod
    async def _tag_ids(db: aiosqlite.Connection, names: list[str]) -> list[int]:
        """Ids for these names, creating the missing ones (names match without regard to case)."""
        ids: list[int] = []
        for name in names:
            await db.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (name,))
            (row,) = await db.execute_fetchall("SELECT id FROM tags WHERE name = ?", (name,))
            if row[0] not in ids:
                ids.append(row[0])
        return ids

    async def create_tag(self, name: str) -> tuple[dict[str, Any], bool]:
        async with self._write() as db:
            existing = await db.execute_fetchall("SELECT id, name FROM tags WHERE name = ?", (name,))
            if existing:
                return {"id": existing[0][0], "name": existing[0][1]}, False
            (row,) = await db.execute_fetchall("INSERT INTO tags (name) VALUES (?) RETURNING id, name", (name,))
        return {"id": row[0], "name": row[1]}, True

    async def rename_tag(self, tag_id: int, name: str) -> dict[str, Any] | None:
        """Rename; if another tag already has that name, this one merges into it."""
        async with self._write() as db:
            if not await db.execute_fetchall("SELECT 1 FROM tags WHERE id = ?", (tag_id,)):
                return None
            other = await db.execute_fetchall("SELECT id FROM tags WHERE name = ? AND id != ?", (name, tag_id))
            affected = [r[0] for r in await db.execute_fetchall(
                "SELECT sha256 FROM model_tags WHERE tag_id = ?", (tag_id,))]
            if other:
                target = other[0][0]
                await db.execute("INSERT OR IGNORE INTO model_tags (sha256, tag_id) "
                                 "SELECT sha256, ? FROM model_tags WHERE tag_id = ?", (target, tag_id))
                await db.execute("INSERT OR IGNORE INTO pending_tags (pending_id, tag_id) "
                                 "SELECT pending_id, ? FROM pending_tags WHERE tag_id = ?", (target, tag_id))
                await db.execute("DELETE FROM tags WHERE id = ?", (tag_id,))
                await db.execute("UPDATE tags SET name = ? WHERE id = ?", (name, target))
                tag_id = target
            else:
                await db.execute("UPDATE tags SET name = ? WHERE id = ?", (name, tag_id))
            for sha in affected:
                await self._reindex(db, sha)
        return {"id": tag_id, "name": name}

    async def delete_tag(self, tag_id: int) -> bool:
        async with self._write() as db:
            affected = [r[0] for r in await db.execute_fetchall(
                "SELECT sha256 FROM model_tags WHERE tag_id = ?", (tag_id,))]
            deleted = await db.execute_fetchall("DELETE FROM tags WHERE id = ? RETURNING id", (tag_id,))
            for sha in affected:
                await self._reindex(db, sha)
        return bool(deleted)

    # -- models ---------------------------------------------------------------------------------------------
    @staticmethod
    async def _edit_meta(
        db: aiosqlite.Connection, sha256: str, edit: Callable[[dict[str, Any]], dict[str, Any]], now: float
    ) -> bool:
        """A model's metadata read, changed by `edit` and written back inside the caller's write transaction.
        Every change of stored metadata goes through here: with the read inside the transaction, two changes
        that arrive together each see the other's result instead of both starting from the same old record."""
        rows = await db.execute_fetchall("SELECT meta_json FROM models WHERE sha256 = ?", (sha256,))
        if not rows:
            return False
        meta = edit(json.loads(rows[0][0] or "{}"))
        await db.execute("UPDATE models SET meta_json = ?, nsfw = ?, updated_at = ? WHERE sha256 = ?",
                         (json.dumps(meta), _nsfw(meta), now, sha256))
        return True

    async def update_model(
        self, sha256: str, *, name: str | None, tags: list[str] | None, meta_change: dict[str, Any] | None,
        tags_add: list[str] | None = None, tags_remove: list[str] | None = None,
        meta_add: dict[str, list[str]] | None = None, meta_remove: dict[str, list[str]] | None = None,
        guard: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> bool:
        """A PATCH: the named fields only, in one transaction. `meta_change` holds the metadata keys to replace
        (`prompts` key by key), merged into the metadata as it stands in this transaction; the `_add` / `_remove`
        items are put into and taken out of the lists as they stand here too, so two tabs' additions both stay.
        Raises MetaError or EditRefused (nothing written) when a list would grow past its limit. `guard` sees the
        stored name and metadata first, in the same transaction, and refuses the edit by raising."""
        async with self._write() as db:
            rows = await db.execute_fetchall("SELECT name, meta_json FROM models WHERE sha256 = ?", (sha256,))
            if not rows:
                return False
            if guard is not None:
                guard(rows[0][0], json.loads(rows[0][1] or "{}"))
            now = time.time()
            if name is not None:
                await db.execute("UPDATE models SET name = ?, updated_at = ? WHERE sha256 = ?", (name, now, sha256))
            if meta_change is not None or meta_add or meta_remove:
                def edit(stored: dict[str, Any]) -> dict[str, Any]:
                    merged = meta_mod.patched(stored, meta_change or {})
                    return meta_mod.edited_lists(merged, meta_add or {}, meta_remove or {})
                await self._edit_meta(db, sha256, edit, now)
            if tags is not None:
                ids = await self._tag_ids(db, tags)
                await db.execute("DELETE FROM model_tags WHERE sha256 = ?", (sha256,))
                await db.executemany("INSERT INTO model_tags (sha256, tag_id) VALUES (?, ?)",
                                     [(sha256, i) for i in ids])
                await db.execute("UPDATE models SET updated_at = ? WHERE sha256 = ?", (now, sha256))
            if tags_add or tags_remove:
                await self._edit_tags(db, sha256, tags_add or [], tags_remove or [])
                await db.execute("UPDATE models SET updated_at = ? WHERE sha256 = ?", (now, sha256))
            await self._reindex(db, sha256)
        return True

    async def _edit_tags(self, db: aiosqlite.Connection, sha256: str, add: list[str], remove: list[str]) -> None:
        """Tags taken off and put on the model as it stands in the caller's transaction (names match without
        regard to case, as the tags table compares them)."""
        if remove:
            marks = ", ".join("?" * len(remove))
            await db.execute(f"DELETE FROM model_tags WHERE sha256 = ? AND tag_id IN "
                             f"(SELECT id FROM tags WHERE name IN ({marks}))", (sha256, *remove))
        if add:
            await db.executemany("INSERT OR IGNORE INTO model_tags (sha256, tag_id) VALUES (?, ?)",
                                 [(sha256, i) for i in await self._tag_ids(db, add)])
            (count,) = await first_row(db, "SELECT count(*) FROM model_tags WHERE sha256 = ?", (sha256,))
            if count > MAX_TAGS:
                raise EditRefused(f"the model would have more than {MAX_TAGS} tags; remove some first")

    async def delete_model(self, sha256: str, ignore_paths: bool) -> Removal | None:
        """Remove the record, its copies, tags and image rows; the files stay. They are back in the queue in the
        same transaction: as rows waiting to be filed again (`hashing`, so a restart hashes them afresh), or with
        `ignore_paths` as ignored rows that walks do not offer again. Rows that conflicted with the model are
        ready now, since their content is no longer in the library."""
        async with self._write() as db:
            rows = await db.execute_fetchall(
                "SELECT path, size_bytes, mtime_ns, inode, device, type, meta_json, blake3 FROM models "
                "WHERE sha256 = ?",
                (sha256,),
            )
            if not rows:
                return None
            path, size, mtime, inode, device, type_, meta_text, blake3 = rows[0]
            copies = await db.execute_fetchall(
                "SELECT path, size_bytes, mtime_ns, inode, device FROM model_copies WHERE sha256 = ?", (sha256,)
            )
            seqs = [r[0] for r in await db.execute_fetchall("SELECT seq FROM images WHERE sha256 = ?", (sha256,))]
            await self._unindex(db, sha256)
            await db.execute("DELETE FROM models WHERE sha256 = ?", (sha256,))
            now = time.time()
            status = "ignored" if ignore_paths else "hashing"
            released: list[PendingRow] = []
            for p, sz, mt, ino, dev in [(path, size, mtime, inode, device), *copies]:
                row = await first_row(
                    db,
                    "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, "
                    "sha256, blake3, discovered_at, hashed_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO NOTHING "
                    f"RETURNING {PENDING_COLUMNS}",
                    (p, sz, mt or 0, ino or 0, dev or 0, type_, _file_name(p), status, sha256, blake3, now, now, now),
                )
                if row is not None:
                    released.append(PendingRow(*row))
            reopened = [PendingRow(*r) for r in await db.execute_fetchall(
                "UPDATE pending_import SET status = 'ready', conflict_sha256 = NULL, updated_at = ? "
                f"WHERE conflict_sha256 = ? AND status = 'conflict' RETURNING {PENDING_COLUMNS}",
                (now, sha256),
            )]
        self._forget_model(sha256, [path, *(c[0] for c in copies)])
        for row in [*released, *reopened]:
            self._track_pending(row)
        return Removal(seqs, released, reopened, json.loads(meta_text or "{}").get("header") or {})

    # -- copies ---------------------------------------------------------------------------------------------
    async def copy_at(self, path: str) -> tuple[str, FileStat] | None:
        row = await self._one(
            "SELECT sha256, size_bytes, mtime_ns, inode, device FROM model_copies WHERE path = ?", (path,), fresh=True
        )
        return (row[0], FileStat(row[1], row[2] or 0, row[3] or 0, row[4] or 0)) if row else None

    async def remove_copy(self, path: str) -> None:
        async with self._write() as db:
            await db.execute("DELETE FROM model_copies WHERE path = ?", (path,))
        self._copies.pop(path, None)

    async def move_copy(self, src: str, dest: str, stat: FileStat) -> None:
        async with self._write() as db:
            await db.execute(
                "UPDATE model_copies SET path = ?, size_bytes = ?, mtime_ns = ?, inode = ?, device = ? WHERE path = ?",
                (dest, stat.size, stat.mtime_ns, stat.inode, stat.device, src),
            )
        entry = self._copies.pop(src, None)
        if entry is not None:
            self._copies[dest] = (entry[0], tuple(stat))

    async def copies_of(self, sha256: str) -> list[str]:
        return [r[0] for r in await self._all(
            "SELECT path FROM model_copies WHERE sha256 = ? ORDER BY added_at, path", (sha256,), fresh=True)]

    async def promote_copy(self, sha256: str, path: str, type_: str, stat: FileStat) -> ModelRow | None:
        """The model's main file is gone but this copy remains: the copy becomes the main path."""
        async with self._write() as db:
            await db.execute("DELETE FROM model_copies WHERE path = ?", (path,))
            row = await db.execute_fetchall(
                "UPDATE models SET path = ?, type = ?, size_bytes = ?, mtime_ns = ?, inode = ?, device = ?, "
                f"status = 'ok', missing_since = NULL, updated_at = ? WHERE sha256 = ? RETURNING {MODEL_COLUMNS}",
                (path, type_, stat.size, stat.mtime_ns, stat.inode, stat.device, time.time(), sha256),
            )
            await self._reindex(db, sha256)
        self._copies.pop(path, None)
        return self._track_model(ModelRow(*row[0])) if row else None

    # -- import ---------------------------------------------------------------------------------------------
    async def pending_meta(self, pending_id: int) -> dict[str, Any] | None:
        row = await self._one("SELECT meta_json FROM pending_import WHERE id = ?", (pending_id,), fresh=True)
        return json.loads(row[0] or "{}") if row else None

    async def reserve_image_seqs(self, sha256: str, count: int) -> list[int]:
        """Image numbers for a model, taken for good whether or not they end up used."""
        if count <= 0:
            return []
        async with self._write() as db:
            await db.execute("INSERT OR IGNORE INTO image_seq (sha256, next_seq) VALUES (?, 0)", (sha256,))
            (row,) = await db.execute_fetchall(
                "UPDATE image_seq SET next_seq = next_seq + ? WHERE sha256 = ? RETURNING next_seq", (count, sha256)
            )
        return list(range(row[0] - count, row[0]))

    async def pending_twins(self, sha256: str) -> list[PendingRow]:
        """Hashed rows in the queue with this content."""
        rows = await self._all(
            f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE sha256 = ? AND status IN ('ready', 'conflict') "
            "ORDER BY id", (sha256,), fresh=True)
        return [PendingRow(*r) for r in rows]

    async def model_image_count(self, sha256: str) -> int:
        row = await self._one("SELECT count(*) FROM images WHERE sha256 = ?", (sha256,), fresh=True)
        return int(row[0])

    async def _absorb(
        self, db: aiosqlite.Connection, pending_id: int, sha256: str, meta: dict[str, Any],
        images: list[tuple[int, int, int]], copy: tuple[str, FileStat] | None, now: float,
    ) -> bool:
        """A pending row taken into an existing model: what the model lacks of its metadata, its tags, the given
        images and, when its file stays, its path as one of the model's files; the row goes."""
        if not await self._edit_meta(db, sha256, functools.partial(meta_mod.merge, incoming=meta), now):
            return False
        base = meta.get("base_model")
        if isinstance(base, str) and base and base != "unknown":
            await db.execute("UPDATE models SET base_model = ? WHERE sha256 = ? AND base_model = 'unknown'",
                             (base, sha256))
        await db.execute("INSERT OR IGNORE INTO model_tags (sha256, tag_id) SELECT ?, tag_id FROM pending_tags "
                         "WHERE pending_id = ?", (sha256, pending_id))
        await db.executemany("INSERT INTO images (sha256, seq, width, height, created_at) VALUES (?, ?, ?, ?, ?)",
                             [(sha256, seq, w, h, now) for seq, w, h in images])
        if copy is not None:
            path, st = copy
            await db.execute(
                "INSERT OR REPLACE INTO model_copies (path, sha256, size_bytes, mtime_ns, inode, device, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (path, sha256, st.size, st.mtime_ns, st.inode, st.device, now))
        await db.execute("DELETE FROM pending_import WHERE id = ?", (pending_id,))
        await self._reindex(db, sha256)
        return True

    async def absorb(self, pending_id: int, sha256: str, meta: dict[str, Any], images: list[tuple[int, int, int]],
                     copy: tuple[str, FileStat] | None) -> bool:
        async with self._write() as db:
            done = await self._absorb(db, pending_id, sha256, meta, images, copy, time.time())
        if done:
            self._untrack_pending(pending_id)
            if copy is not None:
                self._copies[copy[0]] = (sha256, tuple(copy[1]))
        return done

    async def promote(self, p: Promotion) -> tuple[ModelRow, list[PendingRow]]:
        """The row becomes (part of) the model, its aliases join it, and every other ready row with the same
        content turns `conflict` in the same transaction, so no twin is offered as importable."""
        now = time.time()
        st = p.main_stat
        async with self._write() as db:
            if p.mode == "new":
                meta = meta_mod.for_new_model(p.meta_json)
                await db.execute(
                    "INSERT INTO models (sha256, blake3, path, name, type, size_bytes, mtime_ns, inode, device, "
                    "status, created_at, updated_at, meta_json, nsfw, base_model) "
                    "SELECT sha256, blake3, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?, ?, ? FROM pending_import WHERE id = ?",
                    (p.main_path, p.name, p.type, st.size, st.mtime_ns, st.inode, st.device, now, now,
                     json.dumps(meta), _nsfw(meta), p.base_model, p.pending_id),
                )
            else:
                # A merge keeps the model's name as it is now (a rename may have landed since the import looked).
                name = "?" if p.mode == "override" else "CASE WHEN name = '' THEN ? ELSE name END"
                await db.execute(
                    f"UPDATE models SET path = ?, name = {name}, type = ?, size_bytes = ?, mtime_ns = ?, inode = ?, "
                    "device = ?, status = 'ok', missing_since = NULL, updated_at = ?, base_model = ? WHERE sha256 = ?",
                    (p.main_path, p.name, p.type, st.size, st.mtime_ns, st.inode, st.device, now, p.base_model,
                     p.sha256),
                )
                combine = meta_mod.override if p.mode == "override" else meta_mod.merge
                await self._edit_meta(db, p.sha256, functools.partial(combine, incoming=p.meta_json), now)
            await db.execute("DELETE FROM model_copies WHERE path = ?", (p.main_path,))
            for path, cst in p.copies:
                await db.execute(
                    "INSERT OR REPLACE INTO model_copies (path, sha256, size_bytes, mtime_ns, inode, device, added_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (path, p.sha256, cst.size, cst.mtime_ns, cst.inode, cst.device, now),
                )
            await db.execute(
                "INSERT OR IGNORE INTO model_tags (sha256, tag_id) SELECT ?, tag_id FROM pending_tags "
                "WHERE pending_id = ?", (p.sha256, p.pending_id),
            )
            await db.executemany(
                "INSERT INTO images (sha256, seq, width, height, created_at) VALUES (?, ?, ?, ?, ?)",
                [(p.sha256, seq, w, h, now) for seq, w, h in p.images],
            )
            await db.execute("DELETE FROM pending_import WHERE id = ?", (p.pending_id,))
            for alias in p.aliases:
                await self._absorb(db, alias.pending_id, p.sha256, alias.meta_json, [], (alias.path, alias.stat), now)
            twins = [PendingRow(*r) for r in await db.execute_fetchall(
                "UPDATE pending_import SET status = 'conflict', conflict_sha256 = ?, updated_at = ? "
                f"WHERE sha256 = ? AND status = 'ready' RETURNING {PENDING_COLUMNS}",
                (p.sha256, now, p.sha256),
            )]
            (row,) = await db.execute_fetchall(f"SELECT {MODEL_COLUMNS} FROM models WHERE sha256 = ?", (p.sha256,))
            await self._reindex(db, p.sha256)
        self._untrack_pending(p.pending_id)
        self._copies.pop(p.main_path, None)
        for path, cst in p.copies:
            self._copies[path] = (p.sha256, tuple(cst))
        for alias in p.aliases:
            self._untrack_pending(alias.pending_id)
            self._copies[alias.path] = (p.sha256, tuple(alias.stat))
        for twin in twins:
            self._track_pending(twin)
        model = ModelRow(*row)
        self._track_model(model)
        return model, twins

    # -- images ---------------------------------------------------------------------------------------------
    async def add_image(self, sha256: str, seq: int, width: int, height: int) -> bool:
        async with self._write() as db:
            if not await db.execute_fetchall("SELECT 1 FROM models WHERE sha256 = ?", (sha256,)):
                return False
            await db.execute("INSERT INTO images (sha256, seq, width, height, created_at) VALUES (?, ?, ?, ?, ?)",
                             (sha256, seq, width, height, time.time()))
        return True

    async def delete_image(self, sha256: str, seq: int) -> bool:
        async with self._write() as db:
            deleted = await db.execute_fetchall(
                "DELETE FROM images WHERE sha256 = ? AND seq = ? RETURNING seq", (sha256, seq)
            )
            await db.execute("UPDATE models SET cover_seq = NULL WHERE sha256 = ? AND cover_seq = ?", (sha256, seq))
        return bool(deleted)

    async def set_cover(self, sha256: str, seq: int) -> bool:
        async with self._write() as db:
            if not await db.execute_fetchall("SELECT 1 FROM images WHERE sha256 = ? AND seq = ?", (sha256, seq)):
                return False
            await db.execute("UPDATE models SET cover_seq = ?, updated_at = ? WHERE sha256 = ?",
                             (seq, time.time(), sha256))
        return True

    async def image_exists(self, sha256: str, seq: int) -> bool:
        return await self._one("SELECT 1 FROM images WHERE sha256 = ? AND seq = ?", (sha256, seq)) is not None

    async def pending_image_exists(self, pending_id: int, seq: int) -> bool:
        return await self._one("SELECT 1 FROM pending_images WHERE pending_id = ? AND seq = ?",
                               (pending_id, seq)) is not None

    async def image_keys(self) -> tuple[set[tuple[str, int]], set[tuple[int, int]]]:
        """Every (sha256, seq) with an image row, and every (pending id, seq) with a pending image row."""
        models = {(s, q) for s, q in await self._all("SELECT sha256, seq FROM images")}
        pending = {(i, q) for i, q in await self._all("SELECT pending_id, seq FROM pending_images")}
        return models, pending

    async def pending_images(self, pending_id: int) -> list[tuple[int, int, int]]:
        rows = await self._all("SELECT seq, width, height FROM pending_images WHERE pending_id = ? ORDER BY seq",
                               (pending_id,), fresh=True)
        return [tuple(r) for r in rows]

    async def add_pending_image(self, pending_id: int, seq: int, width: int, height: int, source: str) -> bool:
        async with self._write() as db:
            if not await db.execute_fetchall("SELECT 1 FROM pending_import WHERE id = ?", (pending_id,)):
                return False
            await db.execute(
                "INSERT OR REPLACE INTO pending_images (pending_id, seq, width, height, source, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (pending_id, seq, width, height, source, time.time()),
            )
        return True

    # -- metadata and tags from elsewhere (legacy migration) ------------------------------------------------------
    async def known_paths(self, paths: list[str]) -> set[str]:
        """Which of these paths a pending row or a model (missing ones too) has."""
        known: set[str] = set()
        for start in range(0, len(paths), 500):  # far below SQLite's limit of bound values
            chunk = paths[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self._all(f"SELECT path FROM pending_import WHERE path IN ({marks}) UNION "
                                   f"SELECT path FROM models WHERE path IN ({marks})", (*chunk, *chunk), fresh=True)
            known.update(r[0] for r in rows)
        return known

    async def add_pending_with_meta(self, rows: list[NewPending]) -> list[PendingRow]:
        """Pending rows that arrive with metadata, all in one transaction; a path that has a row already is left
        alone. A row without a stat is kept in error, so what the user once entered is not lost."""
        now = time.time()
        async with self._write() as db:
            # A handful of trips to the database thread for the whole batch, not one per row: the writer is
            # shared, and every edit waits while a batch holds it.
            (last,) = await db.execute_fetchall("SELECT coalesce(max(id), 0) FROM pending_import")
            await db.executemany(
                "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, error, "
                "discovered_at, updated_at, meta_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (path) DO NOTHING",
                [(new.path, *(new.stat or FileStat(0, 0, 0, 0)), new.type, _file_name(new.path),
                  "settling" if new.stat is not None else "error", None if new.stat is not None else new.error,
                  now, now, json.dumps(new.meta)) for new in rows],
            )
            # The ids only grow (AUTOINCREMENT) and nobody else writes inside this transaction.
            added = [PendingRow(*row) for row in await db.execute_fetchall(
                f"SELECT {PENDING_COLUMNS} FROM pending_import WHERE id > ? ORDER BY id", (last[0],))]
            tags = {new.path: new.tags for new in rows}
            tag_ids = {name: (await self._tag_ids(db, [name]))[0]
                       for name in dict.fromkeys(name for row in added for name in tags[row.path])}
            await db.executemany("INSERT OR IGNORE INTO pending_tags (pending_id, tag_id) VALUES (?, ?)",
                                 [(row.id, tag_ids[name]) for row in added for name in tags[row.path]])
        for pending in added:
            self._track_pending(pending)
        return added

    async def _tag_pending(self, db: aiosqlite.Connection, pending_id: int, tags: list[str]) -> None:
        for tag_id in await self._tag_ids(db, tags):
            await db.execute("INSERT OR IGNORE INTO pending_tags (pending_id, tag_id) VALUES (?, ?)",
                             (pending_id, tag_id))

    async def set_pending_meta(self, pending_id: int, meta: dict[str, Any], tags: list[str]) -> bool:
        """The row's whole metadata, and more tags (tags are only ever added here)."""
        async with self._write() as db:
            updated = await db.execute_fetchall(
                "UPDATE pending_import SET meta_json = ?, updated_at = ? WHERE id = ? RETURNING id",
                (json.dumps(meta), time.time(), pending_id),
            )
            if updated:
                await self._tag_pending(db, pending_id, tags)
        return bool(updated)

    async def enrich_model(self, sha256: str, meta: dict[str, Any], tags: list[str]) -> bool:
        async with self._write() as db:
            if not await self._edit_meta(db, sha256, functools.partial(meta_mod.merge, incoming=meta), time.time()):
                return False
            for tag_id in await self._tag_ids(db, tags):
                await db.execute("INSERT OR IGNORE INTO model_tags (sha256, tag_id) VALUES (?, ?)", (sha256, tag_id))
            await self._reindex(db, sha256)
        return True

    async def pending_tag_names(self, pending_id: int) -> list[str]:
        return [r[0] for r in await self._all(
            "SELECT t.name FROM pending_tags p JOIN tags t ON t.id = p.tag_id WHERE p.pending_id = ?",
            (pending_id,), fresh=True)]

    async def pending_keeps_user_data(self, pending_id: int) -> bool:
        """Tags or user-entered metadata on a pending row: it must outlive its file."""
        row = await self._one(
            "SELECT meta_json, EXISTS (SELECT 1 FROM pending_tags WHERE pending_id = ?) FROM pending_import "
            "WHERE id = ?", (pending_id, pending_id), fresh=True,
        )
        return row is not None and (bool(row[1]) or bool(meta_mod.user_fields(json.loads(row[0] or "{}"))))
