"""Finding and counting models on SQLite: a page of a filtered, sorted library, the counts beside it, and the
overview of types and queue states. What a query asks for is `store.listing`'s; the SQL and its planning are here.

Counts by type, base model, status, hidden-or-not and tag are kept by triggers (migration 6): a filter made only
of those reads its totals and facets from them, so they cost the same right after a write at any library size.
Words, several tags or excluded tags are counted over the matching models (once per state of the database)."""

from __future__ import annotations

from typing import Any, ClassVar

from hikaze_mm.store import listing
from hikaze_mm.store.listing import WALK_OVER_COLLECT, Args, folder_separator, narrows
from hikaze_mm.store.records import ModelQuery
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.rows import PROBE_COLUMNS

# A model is tested against excluded tags with one index seek (about 2 us at 100,000 models), or looked up in a
# list of every model carrying them, built first (1.7 ms for the 8,000 models of one tag there) and cheaper per
# test: seeking is no slower while a query visits up to about a thousand models, as a page near the start does
# (bench/library_scale.py).
SEEK_EXCLUDED_UP_TO = 1000
# A model's folder: its path without the file name, whichever separator it uses. Written exactly as the index of
# migration 11 is, so that SQLite finds a folder's models in that index.
FOLDER = "substr(m.path, 1, length(rtrim(m.path, replace(replace(m.path, '/', ''), '\\', ''))) - 1)"
STATUS = "m.status = ?"
UNINDEXED_STATUS = "+m.status = ?"  # `+` keeps the planner off the status indexes


class _Sql:
    numbered: ClassVar[bool] = False
    # Each sort order has its index (its key, then sha256); NOCASE is how names sort.
    name_key: ClassVar[tuple[str, str]] = ("m.name COLLATE NOCASE", "{}")
    page_keys: ClassVar[str] = "SELECT m.sha256 FROM models m{where} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    listed: ClassVar[str] = (
        "SELECT m.sha256, m.name, m.path, m.type, m.base_model, m.size_bytes, m.status, m.cover_seq, m.nsfw, "
        f"(SELECT group_concat(t.name, '{listing.SEP}') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
        " WHERE mt.sha256 = m.sha256), m.created_at, m.updated_at, m.favorite, "
        f"coalesce(json_array_length(m.meta_json, '$.trigger_words'), 0), {PROBE_COLUMNS}, m.use_count, "
        "m.last_used_at FROM models m WHERE {among}"
    )
    images: ClassVar[str] = "SELECT sha256, seq FROM images WHERE {among} ORDER BY sha256, seq"
    keys: ClassVar[str] = "SELECT m.sha256 FROM models m{where} ORDER BY m.sha256 LIMIT {limit}"
    count: ClassVar[str] = "SELECT count(*) FROM models m{where}"
    # The bytes are those of the files present: a missing model's file is not there to free, and each copy is.
    # The copies are summed over their own rows (few) rather than looked up for each match (many).
    count_and_size: ClassVar[str] = (
        "SELECT count(*), coalesce(sum(m.size_bytes) FILTER (WHERE m.status = 'ok'), 0) + "
        "coalesce((SELECT sum(c.size_bytes) FROM model_copies c JOIN models m ON m.sha256 = c.sha256{copies_where}), "
        "0) FROM models m{where}"
    )
    model_total: ClassVar[str] = "SELECT coalesce(sum(n), 0) FROM model_tally{where}"
    tag_total: ClassVar[str] = "SELECT coalesce(sum(n), 0) FROM tag_tally{where}"
    # Grouped by id before the names are joined: one name lookup per tag instead of one per (model, tag).
    tag_counts: ClassVar[str] = (
        "SELECT t.name, c.n FROM (SELECT mt.tag_id, count(*) AS n FROM models m JOIN model_tags mt "
        "ON mt.sha256 = m.sha256{where} GROUP BY mt.tag_id) c JOIN tags t ON t.id = c.tag_id "
        "ORDER BY c.n DESC, t.name COLLATE NOCASE"
    )
    base_counts: ClassVar[str] = (
        "SELECT m.base_model, count(*) AS n FROM models m{where} GROUP BY m.base_model "
        "ORDER BY n DESC, m.base_model COLLATE NOCASE"
    )
    tallied_tags: ClassVar[str] = (
        "SELECT t.name, c.models FROM (SELECT tag_id, sum(n) AS models FROM tag_tally{where} GROUP BY tag_id "
        "HAVING models > 0) c JOIN tags t ON t.id = c.tag_id ORDER BY c.models DESC, t.name COLLATE NOCASE"
    )
    tallied_bases: ClassVar[str] = (
        "SELECT base_model, sum(n) AS models FROM model_tally{where} GROUP BY base_model HAVING models > 0 "
        "ORDER BY models DESC, base_model COLLATE NOCASE"
    )
    type_counts: ClassVar[str] = (
        "SELECT type, sum(n * (status = 'ok')), sum(n * (status = 'ok' AND hidden)), sum(n * (status = 'missing')) "
        "FROM model_tally GROUP BY type HAVING sum(n) > 0 ORDER BY type"
    )
    pending_types: ClassVar[str] = "SELECT type, sum(n) FROM pending_tally GROUP BY type HAVING sum(n) > 0"
    pending_counts: ClassVar[str] = "SELECT status, sum(n) FROM pending_tally GROUP BY status"
    model_counts: ClassVar[str] = "SELECT status, sum(n) FROM model_tally GROUP BY status"

    def among(self, column: str, values: list[str], args: Args) -> str:
        return f"{column} IN ({', '.join(args(v) for v in values)})"

    def same_text(self, column: str, mark: str) -> str:
        return f"{column} = {mark} COLLATE NOCASE"

    def excluded(self, names: list[str], args: Args, *, seek: bool) -> str:
        marks = ", ".join(args(name) for name in names)
        if seek:
            return ("NOT EXISTS (SELECT 1 FROM model_tags mt WHERE mt.sha256 = m.sha256 "
                    f"AND mt.tag_id IN (SELECT t.id FROM tags t WHERE t.name IN ({marks})))")
        return ("m.sha256 NOT IN (SELECT mt.sha256 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
                f"WHERE t.name IN ({marks}))")

    def in_folders(self, folders: tuple[str, ...], args: Args) -> str:
        """A folder or anything inside it, as ranges of the folder index: below `f/` come exactly the paths that
        start with it, up to the character after the separator (`f0`)."""
        ranges = []
        for folder in folders:
            sep = folder_separator(folder)
            ranges.append(f"{FOLDER} = {args(folder)} OR ({FOLDER} > {args(folder + sep)} "
                          f"AND {FOLDER} < {args(folder + chr(ord(sep) + 1))})")
        return "(" + " OR ".join(ranges) + ")"

    def short_word(self, pattern: str, args: Args) -> str:
        # Shorter than a trigram, which the full-text index cannot look up.
        return f"(m.name LIKE {args(pattern)} ESCAPE '\\' OR m.path LIKE {args(pattern)} ESCAPE '\\')"

    def walked(self, column: str) -> str:
        return f"+{column}"  # `+` keeps the planner off the column's indexes

    def long_words(self, words: list[str], args: Args) -> str:
        # Each word is a quoted phrase: the trigram index matches it anywhere, in any column.
        phrases = " AND ".join('"' + w.replace('"', '""') + '"' for w in words)
        return f"m.search_id IN (SELECT rowid FROM models_fts WHERE models_fts MATCH {args(phrases)})"


SQL = _Sql()


class SQLiteSearch(listing.Search):
    sql = SQL

    def __init__(self, db: Database):
        self._db = db

    async def _all(self, statement: str, args: tuple[Any, ...]) -> list[Any]:
        return await self._db.all(statement, args)

    async def _cached(self, statement: str, args: tuple[Any, ...], *, slow: bool = False) -> list[Any]:
        return await self._db.cached(statement, args, tally=slow)

    def _matching(self, query: ModelQuery) -> tuple[list[str], Args]:
        """A filter that narrows the library starts from its own index, not from every model of that status."""
        conditions, args = super()._matching(query)
        return [UNINDEXED_STATUS if c == STATUS and narrows(query) else c for c in conditions], args

    def _base_matching(self, query: ModelQuery) -> tuple[list[str], Args]:
        """The base-model index covers status and the NSFW flag: scanning it beats reading every row that the
        status index names."""
        conditions, args = super()._base_matching(query)
        return [UNINDEXED_STATUS if c == STATUS else c for c in conditions], args

    async def _page_conditions(self, query: ModelQuery, total: int) -> tuple[list[str], Args]:
        """Walk the sort order's index, or collect the matches and sort them (`listing.collects`); a query that
        visits few models tests excluded tags model by model. Models unused for a while are collected from the
        last-use index when they are few, else told on the walk: SQLite, knowing nothing of how many there are,
        would take that index's range and sort 90,000 models for a page (700 ms at 100,000 models;
        bench/library_scale.py). Sorted by last use, the walk is that range."""
        args = Args(self.sql.numbered)
        status = listing.status(query, args)
        visits = await self._walk_visits(query, total)
        walking = True
        if listing.collects(query, total, visits):
            status, visits, walking = [UNINDEXED_STATUS], total, False  # collecting visits every match
        elif query.unused_since is not None and query.status != "all" and visits >= total * WALK_OVER_COLLECT:
            visits, walking = total, False
        return status + listing.filters(query, self.sql, args, seek_excluded=visits <= SEEK_EXCLUDED_UP_TO,
                                        walk_unused=walking and query.sort != "last_used"), args
