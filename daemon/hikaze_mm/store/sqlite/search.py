"""Finding and counting models on SQLite: a page of a filtered, sorted library, the counts beside it, and the
overview of types and queue states."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from hikaze_mm.store.records import PENDING_STATUSES, ModelQuery
from hikaze_mm.store.sqlite.database import Database

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


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _select_count(where: list[str]) -> str:
    return "SELECT count(*) FROM models m" + _where(where)


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


def _tags(joined: str | None) -> list[str]:
    return sorted(joined.split(SEP), key=str.lower) if joined else []


class SQLiteSearch:
    def __init__(self, db: Database):
        self._db = db

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
        page = [r[0] for r in await self._db.all(
            f"SELECT m.sha256 FROM models m{_where(status_where + where)} ORDER BY {SORTS[query.sort]} "
            "LIMIT ? OFFSET ?",
            (*status_args, *args, query.limit, query.offset),
        )]
        if not page:
            return [], total
        marks = ", ".join("?" * len(page))
        rows = await self._db.all(
            "SELECT m.sha256, m.name, m.path, m.type, m.base_model, m.size_bytes, m.status, m.cover_seq, m.nsfw, "
            f"(SELECT group_concat(t.name, '{SEP}') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
            " WHERE mt.sha256 = m.sha256) "
            f"FROM models m WHERE m.sha256 IN ({marks})",
            tuple(page),
        )
        seqs: dict[str, list[int]] = {sha: [] for sha in page}
        for sha, seq in await self._db.all(
            f"SELECT sha256, seq FROM images WHERE sha256 IN ({marks}) ORDER BY sha256, seq", tuple(page)
        ):
            seqs[sha].append(seq)
        by_sha = {r[0]: r for r in rows}
        items = []
        for sha in page:
            _, name, path, type_, base, size, status, cover, nsfw, tags = by_sha[sha]
            images = seqs[sha]
            items.append({
                "sha256": sha, "name": name, "file_name": os.path.basename(path), "type": type_, "base_model": base,
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
        tags = await self._db.cached(
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
        bases = await self._db.cached(
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
        return (await self._db.cached(sql, args))[0][0]

    async def model_types(self) -> list[dict[str, Any]]:
        rows = await self._db.all(
            "SELECT type, sum(status = 'ok'), sum(status = 'missing') FROM models GROUP BY type ORDER BY type"
        )
        pending = dict(await self._db.all("SELECT type, count(*) FROM pending_import GROUP BY type"))
        found = {t: {"type": t, "models": ok, "missing": missing, "pending": pending.get(t, 0)}
                 for t, ok, missing in rows}
        for t, n in pending.items():
            found.setdefault(t, {"type": t, "models": 0, "missing": 0, "pending": n})
        return [found[t] for t in sorted(found)]

    async def counts(self) -> dict[str, Any]:
        by_status = dict.fromkeys(PENDING_STATUSES, 0)
        for status, n in await self._db.all("SELECT status, count(*) FROM pending_import GROUP BY status"):
            by_status[status] = n
        models = dict(await self._db.all("SELECT status, count(*) FROM models GROUP BY status"))
        return {
            "models": models.get("ok", 0) + models.get("missing", 0),
            "missing": models.get("missing", 0),
            "pending": by_status,
        }
