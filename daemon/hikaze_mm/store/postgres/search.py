"""Finding and counting models on PostgreSQL: a page of a filtered, sorted library, the counts beside it, and the
overview of types and queue states. What a query asks for is `store.listing`'s; the SQL is here.

Words are looked up in `models.search_doc`, each model's searchable text in lower case under a trigram index, in
place of SQLite's FTS5 table: a walk of a sort order's index tests them on the row it reads anyway. The counts by
type, base model, status, hidden-or-not and tag are kept by triggers in the `*_tally` tables, as on SQLite: a filter
made only of those reads its totals and facets from them. Counts are taken once per generation of the database, which
a library write of any host's daemon moves. The library is every host's: nothing here is filtered by host."""

from __future__ import annotations

from typing import Any, ClassVar

from hikaze_mm.store import listing
from hikaze_mm.store.listing import Args, folder_separator, like_pattern
from hikaze_mm.store.postgres.database import Database, texts
from hikaze_mm.store.postgres.rows import PROBE_COLUMNS, PgContext
from hikaze_mm.store.records import ModelQuery

# Only the models whose trigger words are a list have a count of them (jsonb_array_length refuses anything else).
_TRIGGER_COUNT = ("CASE WHEN jsonb_typeof(m.meta_json -> 'trigger_words') = 'array' "
                  "THEN jsonb_array_length(m.meta_json -> 'trigger_words') ELSE 0 END")


class _Sql:
    numbered: ClassVar[bool] = True
    # Each sort order has its index (migrations 1 and 4: its key, then sha256); names sort by `lower(name)`.
    name_key: ClassVar[tuple[str, str]] = ("lower(m.name)", "lower({})")
    page_keys: ClassVar[str] = "SELECT m.sha256 FROM models m{where} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    listed: ClassVar[str] = (
        "SELECT m.sha256, m.name, m.path, m.type, m.base_model, m.size_bytes, m.status, m.cover_seq, m.nsfw, "
        f"(SELECT string_agg(t.name::text, '{listing.SEP}') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
        f"WHERE mt.sha256 = m.sha256), m.created_at, m.updated_at, m.favorite, {_TRIGGER_COUNT}, {PROBE_COLUMNS}, "
        "m.use_count, m.last_used_at FROM models m WHERE {among}"
    )
    images: ClassVar[str] = "SELECT sha256, seq FROM images WHERE {among} ORDER BY sha256, seq"
    keys: ClassVar[str] = "SELECT m.sha256 FROM models m{where} ORDER BY m.sha256 LIMIT {limit}"
    count: ClassVar[str] = "SELECT count(*) FROM models m{where}"
    # The bytes are those of the files present: a missing model's file is not there to free, and each copy is.
    # The copies are summed over their own rows (few) rather than looked up for each match (many).
    count_and_size: ClassVar[str] = (
        "SELECT count(*), coalesce(sum(m.size_bytes) FILTER (WHERE m.status = 'ok'), 0)::bigint + "
        "coalesce((SELECT sum(c.size_bytes) FROM model_copies c JOIN models m ON m.sha256 = c.sha256{copies_where}), "
        "0)::bigint FROM models m{where}"
    )
    # sum() of bigints is numeric, which asyncpg hands out as Decimal: the counts are cast back.
    model_total: ClassVar[str] = "SELECT coalesce(sum(n), 0)::bigint FROM model_tally{where}"
    tag_total: ClassVar[str] = "SELECT coalesce(sum(n), 0)::bigint FROM tag_tally{where}"
    # Grouped by id before the names are joined: one name lookup per tag instead of one per (model, tag). Tag names
    # are citext, which sorts without regard to case.
    tag_counts: ClassVar[str] = (
        "SELECT t.name, c.n FROM (SELECT mt.tag_id, count(*) AS n FROM models m JOIN model_tags mt "
        "ON mt.sha256 = m.sha256{where} GROUP BY mt.tag_id) c JOIN tags t ON t.id = c.tag_id ORDER BY c.n DESC, t.name"
    )
    base_counts: ClassVar[str] = (
        "SELECT m.base_model, count(*) AS n FROM models m{where} GROUP BY m.base_model "
        "ORDER BY n DESC, lower(m.base_model)"
    )
    tallied_tags: ClassVar[str] = (
        "SELECT t.name, c.models FROM (SELECT tag_id, sum(n)::bigint AS models FROM tag_tally{where} "
        "GROUP BY tag_id HAVING sum(n) > 0) c JOIN tags t ON t.id = c.tag_id ORDER BY c.models DESC, t.name"
    )
    tallied_bases: ClassVar[str] = (
        "SELECT base_model, sum(n)::bigint AS models FROM model_tally{where} GROUP BY base_model "
        "HAVING sum(n) > 0 ORDER BY models DESC, lower(base_model)"
    )
    type_counts: ClassVar[str] = (
        "SELECT type, coalesce(sum(n) FILTER (WHERE status = 'ok'), 0)::bigint, "
        "coalesce(sum(n) FILTER (WHERE status = 'ok' AND hidden != 0), 0)::bigint, "
        "coalesce(sum(n) FILTER (WHERE status = 'missing'), 0)::bigint "
        "FROM model_tally GROUP BY type HAVING sum(n) > 0 ORDER BY type"
    )
    pending_types: ClassVar[str] = "SELECT type, sum(n)::bigint FROM pending_tally GROUP BY type HAVING sum(n) > 0"
    pending_counts: ClassVar[str] = "SELECT status, sum(n)::bigint FROM pending_tally GROUP BY status"
    model_counts: ClassVar[str] = "SELECT status, sum(n)::bigint FROM model_tally GROUP BY status"

    def among(self, column: str, values: list[str], args: Args) -> str:
        return f"{column} = ANY({args(texts(values))}::text[])"

    def same_text(self, column: str, mark: str) -> str:
        return f"lower({column}) = lower({mark})"

    def excluded(self, names: list[str], args: Args, *, seek: bool) -> str:
        # PostgreSQL plans the anti-join either way (a seek per model or a hashed list) by its own estimates. A
        # placeholder per name, not an array, so the arguments stay a key of the cached counts.
        marks = ", ".join(args(name) for name in names)
        return ("NOT EXISTS (SELECT 1 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = m.sha256 "
                f"AND t.name IN ({marks}))")

    def in_folders(self, folders: tuple[str, ...], args: Args) -> str:
        return "(" + " OR ".join(f"m.dir = {args(f)} OR starts_with(m.dir, {args(f + folder_separator(f))})"
                                 for f in folders) + ")"

    def short_word(self, pattern: str, args: Args) -> str:
        # As on SQLite, where a word shorter than a trigram is not in the full-text index: the names only.
        return f"(m.name ILIKE {args(pattern)} OR m.path ILIKE {args(pattern)})"

    def walked(self, column: str) -> str:
        return column  # PostgreSQL plans by what its statistics say of how many models match

    def long_words(self, words: list[str], args: Args) -> str:
        # Lowered by the database, as `search_doc` is, so both fold case alike whatever the database's locale.
        return " AND ".join(f"m.search_doc LIKE lower({args(like_pattern(w))})" for w in words)


SQL = _Sql()


class PgSearch(listing.Search):
    sql = SQL

    def __init__(self, ctx: PgContext):
        self._db: Database = ctx.db

    async def _all(self, statement: str, args: tuple[Any, ...]) -> list[Any]:
        return await self._db.all(statement, args)

    async def _cached(self, statement: str, args: tuple[Any, ...], *, slow: bool = False) -> list[Any]:
        return await self._db.cached(statement, args)

    async def _page_conditions(self, query: ModelQuery, total: int) -> tuple[list[str], Args]:
        """Walk the sort order's index, or collect the matches and sort them (`listing.collects`). PostgreSQL
        estimates how far a walk goes as if the matches were spread evenly along the index; matches that all sort
        together (`juggernaut` under "j") made it walk 46,000 models of 100,000 for a page (bench/
        postgres_vs_sqlite.py: 250 ms, against 5 ms collected). A status it cannot match to the index makes it
        collect."""
        if not listing.collects(query, total, await self._walk_visits(query, total)):
            return self._matching(query)
        args = Args(self.sql.numbered)
        return [f"(m.status || '') = {args(query.status)}", *listing.filters(query, self.sql, args)], args
