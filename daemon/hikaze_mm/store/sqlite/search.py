"""Finding and counting models on SQLite: a page of a filtered, sorted library, the counts beside it, and the
overview of types and queue states.

Counts by type, base model, status, hidden-or-not and tag are kept by triggers (migration 6): a filter made only
of those reads its totals and facets from them, so they cost the same right after a write at any library size.
Words, several tags or excluded tags are counted over the matching models (once per state of the database)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from hikaze_mm.store.records import NATURAL_DIRECTION, PENDING_STATUSES, ModelPage, ModelQuery
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.rows import PROBE_COLUMNS, probe_summary

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
# A model's folder: its path without the file name, whichever separator it uses. Written exactly as the index of
# migration 11 is, so that SQLite finds a folder's models in that index.
FOLDER = "substr(m.path, 1, length(rtrim(m.path, replace(replace(m.path, '/', ''), '\\', ''))) - 1)"
# Each sort order's key. Its index runs in the sort's natural direction with ties broken by sha256 ascending; the
# other direction reverses both, so SQLite scans the same index backwards. A page that starts after a model seeks
# past it in that order (the first comparison bounds the range, the second breaks ties).
SORT_COLUMNS = {
    "name": "m.name COLLATE NOCASE",
    "created": "m.created_at",
    "updated": "m.updated_at",
    "size": "m.size_bytes",
}


def _order(query: ModelQuery) -> tuple[str, str, str, str]:
    """The ORDER BY of a query's sort and direction, and the comparisons past a key and past a sha256 in it."""
    key, natural = SORT_COLUMNS[query.sort], NATURAL_DIRECTION[query.sort]
    direction = query.direction or natural
    forward = direction == natural
    sha_dir = "ASC" if forward else "DESC"
    return (f"{key} {direction.upper()}, m.sha256 {sha_dir}", key, ">" if direction == "asc" else "<",
            ">" if forward else "<")


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _select_count(where: list[str]) -> str:
    return "SELECT count(*) FROM models m" + _where(where)


def _narrows(query: ModelQuery) -> bool:
    """Whether the filters keep a part of the library (a type, a base model, tags, words) rather than leave a few
    models out."""
    return bool((query.q or "").split() or query.tags or query.type or query.base_model or query.favorite
                or query.folders is not None)


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
    if query.favorite:
        where.append("m.favorite = 1")
    if query.folders is not None:
        where.append(_in_folders(query.folders, args))
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


def _in_folders(folders: tuple[str, ...], args: list[Any]) -> str:
    """A folder or anything inside it, as ranges of the folder index: below `f/` come exactly the paths that
    start with it, up to the character after the separator (`f0`), whichever separator the folder uses."""
    if not folders:
        return "0"
    ranges = []
    for folder in folders:
        sep = "\\" if "\\" in folder and "/" not in folder else "/"
        ranges.append(f"{FOLDER} = ? OR ({FOLDER} > ? AND {FOLDER} < ?)")
        args.extend((folder, folder + sep, folder + chr(ord(sep) + 1)))
    return "(" + " OR ".join(ranges) + ")"


def _status(query: ModelQuery) -> tuple[list[str], list[Any]]:
    return ([], []) if query.status == "all" else (["m.status = ?"], [query.status])


def _tallied(query: ModelQuery) -> bool:
    """Whether the kept counts answer for this filter: nothing in it but type, base model, status, hiding NSFW
    models and at most one tag (favourites are few: counted over their own index)."""
    return (not (query.q or "").split() and not query.exclude_tags and len(query.tags) <= 1 and not query.favorite
            and query.folders is None)


def tally_where(query: ModelQuery, *, base_model: bool = True) -> tuple[str, tuple[Any, ...]]:
    """The conditions on a tally table's columns for this filter (its tags apart; `base_model=False` for a tally
    without that column, or a count by it)."""
    where: list[str] = []
    args: list[Any] = []
    if query.type:
        where.append("type = ? COLLATE NOCASE")
        args.append(query.type)
    if base_model and query.base_model:
        where.append("base_model = ? COLLATE NOCASE")
        args.append(query.base_model)
    if query.status != "all":
        where.append("status = ?")
        args.append(query.status)
    if query.hide_nsfw:
        where.append("hidden = 0")
    return _where(where), tuple(args)


def _matching(query: ModelQuery) -> tuple[list[str], tuple[Any, ...]]:
    """The conditions (and arguments) for counting or grouping every match of a query. A filter that narrows the
    library starts from its own index, not from every model of that status."""
    where, args = _filters(query)
    status_where, status_args = _status(query)
    if _narrows(query) and status_where:
        status_where = ["+m.status = ?"]
    return status_where + where, (*status_args, *args)


def _facets(tags: list[Any], bases: list[Any], total: int) -> dict[str, Any]:
    return {
        "tags": [{"name": name, "count": n} for name, n in tags],
        "base_models": [{"name": name, "count": n} for name, n in bases],
        "total": total,
    }


def _tags(joined: str | None) -> list[str]:
    return sorted(joined.split(SEP), key=str.lower) if joined else []


class SQLiteSearch:
    def __init__(self, db: Database):
        self._db = db

    async def list_models(self, query: ModelQuery) -> ModelPage:
        status_where, status_args = _status(query)
        total = await self._total(query)
        if total == 0 or query.limit == 0:
            return ModelPage([], total)
        # Two ways to a sorted page: walk the sort order's index and test each model against the filter, or
        # collect the filter's matches and sort them. Walking wins when matches are common enough that a page
        # fills after a short stretch of the index; `+` keeps the planner off the index otherwise.
        population = await self._total(ModelQuery(status=query.status))
        visits = (query.offset + query.limit) * population / total  # by a walk, to fill this page
        if _narrows(query) and status_where and visits >= total * WALK_OVER_COLLECT:
            status_where = ["+m.status = ?"]
            visits = total  # collecting visits every match
        where, args = _filters(query, seek_excluded=visits <= SEEK_EXCLUDED_UP_TO)
        order, key, past_key, past_sha = _order(query)
        if query.after is not None:
            where.append(f"{key} {past_key}= ? AND ({key} {past_key} ? OR m.sha256 {past_sha} ?)")
            args.extend((query.after[0], query.after[0], query.after[1]))
        # The page's keys first, on a narrow row that the sort order's index covers; the per-model details
        # only for the models on the page.
        page = [r[0] for r in await self._db.all(
            f"SELECT m.sha256 FROM models m{_where(status_where + where)} ORDER BY {order} "
            "LIMIT ? OFFSET ?",
            (*status_args, *args, query.limit, query.offset),
        )]
        if not page:
            return ModelPage([], total)
        marks = ", ".join("?" * len(page))
        rows = await self._db.all(
            "SELECT m.sha256, m.name, m.path, m.type, m.base_model, m.size_bytes, m.status, m.cover_seq, m.nsfw, "
            f"(SELECT group_concat(t.name, '{SEP}') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
            f" WHERE mt.sha256 = m.sha256), m.created_at, m.updated_at, m.favorite, "
            "coalesce(json_array_length(m.meta_json, '$.trigger_words'), 0), "
            f"{PROBE_COLUMNS} "
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
            _, name, path, type_, base, size, status, cover, nsfw, tags, _, _, favorite, triggers, *probe = by_sha[sha]
            images = seqs[sha]
            items.append({
                "sha256": sha, "name": name, "file_name": os.path.basename(path), "type": type_, "base_model": base,
                "size_bytes": size, "status": status, "tags": _tags(tags), "nsfw": bool(nsfw),
                "favorite": bool(favorite), "trigger_count": triggers, "path": path,
                "image_count": len(images), "image_seqs": images,
                "cover": cover if cover is not None else (images[0] if images else None),
                "probe": probe_summary(*probe),  # what the header probe found, for the service to judge
            })
        if len(page) < query.limit:
            return ModelPage(items, total)
        last = by_sha[page[-1]]
        sort_value = {"name": last[1], "size": last[5], "created": last[10], "updated": last[11]}[query.sort]
        return ModelPage(items, total, (sort_value, last[0]))

    async def model_keys(self, query: ModelQuery, after: str | None, limit: int) -> list[str]:
        """The sha256s of a filter's matches in sha256 order, from just after `after`: a walk in an order that no
        edit of a model changes, so a bulk change paged this way meets each match once."""
        where, args = _matching(query)
        if after is not None:
            where.append("m.sha256 > ?")
            args = (*args, after)
        rows = await self._db.all(f"SELECT m.sha256 FROM models m{_where(where)} ORDER BY m.sha256 LIMIT ?",
                                  (*args, limit))
        return [r[0] for r in rows]

    async def _total(self, query: ModelQuery) -> int:
        if _tallied(query):
            tally, tally_args = tally_where(query)
            if query.tags:
                tally += (" AND " if tally else " WHERE ") + "tag_id = (SELECT id FROM tags WHERE name = ?)"
                return await self._count(f"SELECT coalesce(sum(n), 0) FROM tag_tally{tally}",
                                         (*tally_args, query.tags[0]))
            return await self._count(f"SELECT coalesce(sum(n), 0) FROM model_tally{tally}", tally_args)
        where, args = _matching(query)
        return await self._count(_select_count(where), args)

    async def facets(self, query: ModelQuery) -> dict[str, Any]:
        """What a filter bar offers next to a result: the tags of the matching models and the base models of the
        models matching every filter but the base model (so the others stay choosable), each with its count."""
        if _tallied(query) and not query.tags:
            return await self._tallied_facets(query)
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
        return _facets(tags, bases, await self._total(query))

    async def _tallied_facets(self, query: ModelQuery) -> dict[str, Any]:
        where, args = tally_where(query)
        tags = await self._db.cached(
            f"SELECT t.name, c.models FROM (SELECT tag_id, sum(n) AS models FROM tag_tally{where} GROUP BY tag_id "
            "HAVING models > 0) c JOIN tags t ON t.id = c.tag_id ORDER BY c.models DESC, t.name COLLATE NOCASE",
            args,
        )
        where, args = tally_where(query, base_model=False)
        bases = await self._db.cached(
            f"SELECT base_model, sum(n) AS models FROM model_tally{where} GROUP BY base_model HAVING models > 0 "
            "ORDER BY models DESC, base_model COLLATE NOCASE",
            args,
        )
        return _facets(tags, bases, await self._total(query))

    async def _count(self, sql: str, args: tuple[Any, ...]) -> int:
        return (await self._db.cached(sql, args))[0][0]

    async def model_types(self) -> list[dict[str, Any]]:
        rows = await self._db.all(
            "SELECT type, sum(n * (status = 'ok')), sum(n * (status = 'ok' AND hidden)), sum(n * (status = 'missing')) "
            "FROM model_tally GROUP BY type HAVING sum(n) > 0 ORDER BY type"
        )
        pending = dict(await self._db.all("SELECT type, sum(n) FROM pending_tally GROUP BY type HAVING sum(n) > 0"))
        found = {t: {"type": t, "models": ok, "hidden": hidden, "missing": missing, "pending": pending.get(t, 0)}
                 for t, ok, hidden, missing in rows}
        for t, n in pending.items():
            found.setdefault(t, {"type": t, "models": 0, "hidden": 0, "missing": 0, "pending": n})
        return [found[t] for t in sorted(found)]

    async def counts(self) -> dict[str, Any]:
        by_status = dict.fromkeys(PENDING_STATUSES, 0)
        for status, n in await self._db.all("SELECT status, sum(n) FROM pending_tally GROUP BY status"):
            by_status[status] = n
        models = dict(await self._db.all("SELECT status, sum(n) FROM model_tally GROUP BY status"))
        return {
            "models": models.get("ok", 0) + models.get("missing", 0),
            "missing": models.get("missing", 0),
            "pending": by_status,
        }
