"""What finding and counting models means on every backend: which conditions a model query makes and in which
order, the order a listing pages through, when the kept counts answer, and the shape of a listed model, of the
facets and of the overview counts.

A backend hands `Search` its SQL (a `SearchSql`: each statement, and each condition whose SQL differs) and how it
reads; it may plan a page its own way (`Search._page_conditions`). What a query asks for and what comes back is
decided here, once, so the backends cannot drift apart in what they find or hand out.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from hikaze_mm.store.pending_records import probe_summary
from hikaze_mm.store.records import NATURAL_DIRECTION, PENDING_STATUSES, ModelPage, ModelQuery

SEP = "\x1f"  # joins tag names in one column; cannot appear in a tag name
NSFW_TAG = "nsfw"  # a model carrying this tag (any case) is hidden with the NSFW-flagged ones
TRIGRAM = 3  # a word this long or longer is looked up in the search index, a shorter one in the names
# Matches of a tag filter: the models carrying the tag (`{}` its name's placeholder).
TAGGED = "m.sha256 IN (SELECT mt.sha256 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE t.name = {})"
# The tag tally's rows of one tag (`{}` its name's placeholder).
TALLY_TAG = "tag_id = (SELECT id FROM tags WHERE name = {})"
# The sort orders other than by name, by columns of their own (names sort as each backend folds case). Most used
# breaks ties in the count by the last use, so its key is the pair. A model never used was last used at 0, so the
# keys are numbers on both backends: it sorts after every used model without a NULL in the seek's comparisons.
_SORT_COLUMNS = {"created": ("m.created_at",), "updated": ("m.updated_at",), "size": ("m.size_bytes",),
                 "last_used": ("m.last_used_at",), "most_used": ("m.use_count", "m.last_used_at")}
# What a listed model is built from, in the order a backend selects it: `tags` is its tag names joined by SEP,
# `trigger_count` the length of its trigger words, and the last three what the header probe stored (`probe_summary`).
LISTED_COLUMNS = ("sha256", "name", "path", "type", "base_model", "size_bytes", "status", "cover_seq", "nsfw", "tags",
                  "created_at", "updated_at", "favorite", "trigger_count", "probe_format", "probe_error",
                  "probe_declared_length", "use_count", "last_used_at")
# The columns of LISTED_COLUMNS each sort order's key is, handed out as a page's `next_after` (a pair as a list).
_SORT_VALUE = {"name": ("name",), "size": ("size_bytes",), "created": ("created_at",), "updated": ("updated_at",),
               "last_used": ("last_used_at",), "most_used": ("use_count", "last_used_at")}


class Args:
    """A statement's arguments, gathered as its text is built: each value added gives back the placeholder that
    names it where it stands (SQLite's `?`, in order; PostgreSQL's `$1`, `$2`)."""

    def __init__(self, numbered: bool):
        self.values: list[Any] = []
        self._numbered = numbered

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self._numbered else "?"

    def tuple(self) -> tuple[Any, ...]:
        return tuple(self.values)


class SearchSql(Protocol):
    """A backend's SQL: its statements (`{where}` their conditions, and their other `fill`ed parts) and the
    conditions whose SQL differs between backends. `m` is the `models` row."""

    numbered: ClassVar[bool]  # whether placeholders are numbered (the `Args` of its statements)
    # The key names sort by and how a name is compared with it ({} its placeholder).
    name_key: ClassVar[tuple[str, str]]
    page_keys: ClassVar[str]  # the sha256s of a page: {where}, {order}, {limit}, {offset}
    count_and_size: ClassVar[str]  # how many models match and their files' bytes: {where}, and {copies_where} for
    # the copies (the same conditions again, with arguments of their own)
    listed: ClassVar[str]  # LISTED_COLUMNS of the models {among}
    images: ClassVar[str]  # (sha256, seq) of the models {among}, in order
    keys: ClassVar[str]  # the sha256s of the matches, in order: {where}, {limit}
    count: ClassVar[str]  # how many models match: {where}
    model_total: ClassVar[str]  # how many models the model tally counts: {where}
    tag_total: ClassVar[str]  # how many models the tag tally counts: {where}
    tag_counts: ClassVar[str]  # (tag name, models) of the matches: {where}
    base_counts: ClassVar[str]  # (base model, models) of the matches: {where}
    tallied_tags: ClassVar[str]  # as tag_counts, from the tag tally: {where}
    tallied_bases: ClassVar[str]  # as base_counts, from the model tally: {where}
    type_counts: ClassVar[str]  # (type, models ok, of them hidden, missing) from the model tally
    pending_types: ClassVar[str]  # (type, pending rows) from the pending tally
    pending_counts: ClassVar[str]  # (status, pending rows)
    model_counts: ClassVar[str]  # (status, models)

    def among(self, column: str, values: list[str], args: Args) -> str:
        """The column is one of these values."""

    def same_text(self, column: str, mark: str) -> str:
        """The column equals the value without regard to case."""

    def excluded(self, names: list[str], args: Args, *, seek: bool) -> str:
        """The model carries none of these tags (`seek`: a query that visits few models)."""

    def in_folders(self, folders: tuple[str, ...], args: Args) -> str:
        """The model's folder is one of these or inside one."""

    def short_word(self, pattern: str, args: Args) -> str:
        """The model's name or path is LIKE the pattern (`like_pattern`), without regard to case."""

    def long_words(self, words: list[str], args: Args) -> str:
        """Each word is somewhere in what the model is found by, without regard to case."""

    def walked(self, column: str) -> str:
        """The column, as a condition tested on each model a walk of the sort order visits rather than looked up
        in an index of its own."""


def words(query: ModelQuery) -> list[str]:
    return (query.q or "").split()


def narrows(query: ModelQuery) -> bool:
    """Whether the filters keep a part of the library (a type, a base model, tags, words) rather than leave a few
    models out."""
    return bool(words(query) or query.tags or query.type or query.base_model or query.favorite
                or query.folders is not None)


def tallied(query: ModelQuery) -> bool:
    """Whether the kept counts answer for this filter: nothing in it but type, base model, status, hiding NSFW
    models and at most one tag (favourites are few: counted over their own index)."""
    return not words(query) and not query.exclude_tags and len(query.tags) <= 1 and not query.favorite \
        and query.folders is None and query.unused_since is None


def where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def fill(statement: str, **parts: str) -> str:
    """A statement with its `{part}`s filled in; any other brace is the SQL's own (a PostgreSQL JSON path)."""
    for name, part in parts.items():
        statement = statement.replace("{" + name + "}", part)
    return statement


# Walking the sort order pays per model visited, collecting pays per match (a row read, then a sort); at 100,000
# models walking won while it visited fewer than about four models per match (bench/library_scale.py).
WALK_OVER_COLLECT = 4


def status(query: ModelQuery, args: Args) -> list[str]:
    return [] if query.status == "all" else [f"m.status = {args(query.status)}"]


def filters(query: ModelQuery, sql: SearchSql, args: Args, *, seek_excluded: bool = False,
            walk_unused: bool = False) -> list[str]:
    """The conditions of a query's filters other than status, their arguments added to `args`. With
    `seek_excluded`, excluded tags are looked for model by model (for a query that visits few models); with
    `walk_unused`, models unused for a while are told on the walk of another sort order's index."""
    found: list[str] = []
    if query.type:
        found.append(sql.same_text("m.type", args(query.type)))
    if query.base_model:
        found.append(sql.same_text("m.base_model", args(query.base_model)))
    found += [TAGGED.format(args(tag)) for tag in query.tags]
    if query.hide_nsfw:
        found.append("m.nsfw = 0")
    if query.favorite:
        found.append("m.favorite = 1")
    if query.folders is not None:
        found.append(sql.in_folders(query.folders, args) if query.folders else "false")
    if query.unused_since is not None:
        # Added since is not unused for that long: a model imported yesterday has not gone unused for a month.
        used, added = ((sql.walked("m.last_used_at"), sql.walked("m.created_at")) if walk_unused
                       else ("m.last_used_at", "m.created_at"))
        found.append(f"{used} < {args(query.unused_since)} AND {added} < {args(query.unused_since)}")
    excluded = [*query.exclude_tags, NSFW_TAG] if query.hide_nsfw else query.exclude_tags
    if excluded:
        found.append(sql.excluded(excluded, args, seek=seek_excluded))
    found += [sql.short_word(like_pattern(w), args) for w in words(query) if len(w) < TRIGRAM]
    long_words = [w for w in words(query) if len(w) >= TRIGRAM]
    if long_words:
        found.append(sql.long_words(long_words, args))
    return found


def like_pattern(word: str) -> str:
    """A LIKE pattern (escaped with `\\`) that finds the word anywhere."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def folder_separator(folder: str) -> str:
    """The separator of the paths below a folder, the one the folder itself uses."""
    return "\\" if "\\" in folder and "/" not in folder else "/"


def tally_where(query: ModelQuery, sql: SearchSql, *, base_model: bool = True) -> tuple[list[str], Args]:
    """The conditions on a tally table's columns for this filter, and their arguments (its tags apart;
    `base_model=False` for a tally without that column, or a count by it)."""
    args = Args(sql.numbered)
    found: list[str] = []
    if query.type:
        found.append(sql.same_text("type", args(query.type)))
    if base_model and query.base_model:
        found.append(sql.same_text("base_model", args(query.base_model)))
    if query.status != "all":
        found.append(f"status = {args(query.status)}")
    if query.hide_nsfw:
        found.append("hidden = 0")
    return found, args


@dataclass(frozen=True)
class Order:
    """A listing's ORDER BY, and the condition of a page that starts after a model in it."""

    by: str
    keys: tuple[str, ...]  # the sort key's columns, each sorted in the same direction
    value: str  # how a key value is compared with a key column, {} its placeholder
    past_key: str  # the comparison past a key in this direction
    past_sha: str  # and past a sha256 among equal keys

    def after(self, after: tuple[Any, str], args: Args) -> str:
        """After the model with this key and sha256: the first comparison bounds the range of the sort order's
        index, the second breaks ties. A key of several columns is compared as a row value (its value a list)."""
        key, sha = after
        values = list(key) if len(self.keys) > 1 else [key]
        column = self.keys[0] if len(self.keys) == 1 else f"({', '.join(self.keys)})"

        def bound() -> str:  # placeholders of its own at each use: SQLite takes its `?` in order
            marks = [self.value.format(args(v)) for v in values]
            return marks[0] if len(marks) == 1 else f"({', '.join(marks)})"

        return (f"{column} {self.past_key}= {bound()} AND ({column} {self.past_key} {bound()} "
                f"OR m.sha256 {self.past_sha} {args(sha)})")


def sort_order(query: ModelQuery, sql: SearchSql) -> Order:
    """Each sort order's index runs in the sort's natural direction with ties broken by sha256 ascending; the other
    direction reverses both, so the same index is scanned backwards."""
    keys, value = ((sql.name_key[0],), sql.name_key[1]) if query.sort == "name" else (_SORT_COLUMNS[query.sort], "{}")
    natural = NATURAL_DIRECTION[query.sort]
    direction = query.direction or natural
    forward = direction == natural
    by = ", ".join(f"{key} {direction.upper()}" for key in keys)
    return Order(f"{by}, m.sha256 {'ASC' if forward else 'DESC'}", keys, value,
                 ">" if direction == "asc" else "<", ">" if forward else "<")


def sorted_tags(joined: str | None) -> list[str]:
    """Tag names joined by SEP, in the order the page shows them."""
    return sorted(joined.split(SEP), key=str.lower) if joined else []


def model_page(query: ModelQuery, page: list[str], rows: Iterable[Sequence[Any]], images: Iterable[Sequence[Any]],
               total: int) -> ModelPage:
    """A page of the listing from its sha256s in order, their rows (LISTED_COLUMNS) and their images' (sha256,
    seq) in order."""
    by_sha = {r[0]: dict(zip(LISTED_COLUMNS, r, strict=True)) for r in rows}
    seqs: dict[str, list[int]] = {sha: [] for sha in page}
    for sha, seq in images:
        seqs[sha].append(seq)
    items = []
    for sha in page:
        row, shown = by_sha[sha], seqs[sha]
        items.append({
            "sha256": sha, "name": row["name"], "file_name": os.path.basename(row["path"]), "type": row["type"],
            "base_model": row["base_model"], "size_bytes": row["size_bytes"], "status": row["status"],
            "tags": sorted_tags(row["tags"]), "nsfw": bool(row["nsfw"]), "favorite": bool(row["favorite"]),
            "trigger_count": row["trigger_count"], "path": row["path"], "image_count": len(shown),
            "image_seqs": shown, "cover": row["cover_seq"] if row["cover_seq"] is not None else
            (shown[0] if shown else None),
            # what the header probe found, for the service to judge
            "probe": probe_summary(row["probe_format"], row["probe_error"], row["probe_declared_length"]),
            "use_count": row["use_count"], "last_used_at": last_used(row["last_used_at"]),
        })
    if len(page) < query.limit:
        return ModelPage(items, total)
    last = by_sha[page[-1]]
    key = [last[c] for c in _SORT_VALUE[query.sort]]
    return ModelPage(items, total, (key[0] if len(key) == 1 else key, last["sha256"]))


def last_used(stored: float) -> float | None:
    """A model's last use as the API tells it: None for never (stored as 0)."""
    return stored or None


def _facets(tags: Iterable[Sequence[Any]], bases: Iterable[Sequence[Any]], total: int) -> dict[str, Any]:
    """The filter bar's counts from (tag name, count) and (base model, count) rows, most common first."""
    return {
        "tags": [{"name": name, "count": n} for name, n in tags],
        "base_models": [{"name": name, "count": n} for name, n in bases],
        "total": total,
    }


def collects(query: ModelQuery, total: int, visits: float) -> bool:
    """Two ways to a sorted page: walk the sort order's index and test each model against the filter, or collect
    the filter's matches and sort them. Walking wins when matches are common enough that a page fills after a short
    stretch of the index (`visits`, by `Search._walk_visits`); this says when collecting does."""
    return narrows(query) and query.status != "all" and visits >= total * WALK_OVER_COLLECT


class Search(ABC):
    """Finding and counting models over a backend's SQL (`sql`) and its reads."""

    sql: ClassVar[SearchSql]

    @abstractmethod
    async def _all(self, statement: str, args: tuple[Any, ...]) -> list[Any]:
        """The rows of a statement."""

    @abstractmethod
    async def _cached(self, statement: str, args: tuple[Any, ...], *, slow: bool = False) -> list[Any]:
        """The rows of a count, taken once per state of the library (`slow`: over every match, not a tally)."""

    def _matching(self, query: ModelQuery) -> tuple[list[str], Args]:
        """The conditions (and arguments) for counting or grouping every match of a query."""
        args = Args(self.sql.numbered)
        return status(query, args) + filters(query, self.sql, args), args

    def _base_matching(self, query: ModelQuery) -> tuple[list[str], Args]:
        """`_matching` for the base-model facet: every filter but the base model."""
        return self._matching(dataclasses.replace(query, base_model=None))

    async def _page_conditions(self, query: ModelQuery, total: int) -> tuple[list[str], Args]:
        """The conditions of a page of the listing, of `total` matches."""
        return self._matching(query)

    async def _walk_visits(self, query: ModelQuery, total: int) -> float:
        """How many models a walk of the sort order's index visits to fill this page of `total` matches."""
        population = await self._total(ModelQuery(status=query.status))
        return (query.offset + query.limit) * population / total


    async def list_models(self, query: ModelQuery) -> ModelPage:
        total = await self._total(query)
        if total == 0 or query.limit == 0:
            return ModelPage([], total)
        conditions, args = await self._page_conditions(query, total)
        order = sort_order(query, self.sql)
        if query.after is not None:
            conditions.append(order.after(query.after, args))
        # The page's keys first, on a narrow row that the sort order's index covers; the per-model details
        # only for the models on the page.
        keys = fill(self.sql.page_keys, where=where(conditions), order=order.by, limit=args(query.limit),
                    offset=args(query.offset))
        page = [r[0] for r in await self._all(keys, args.tuple())]
        if not page:
            return ModelPage([], total)
        rows = await self._among(self.sql.listed, "m.sha256", page)
        return model_page(query, page, rows, await self._among(self.sql.images, "sha256", page), total)

    async def _among(self, statement: str, column: str, values: list[str]) -> list[Any]:
        """The rows of a statement about the rows whose column is one of these values."""
        args = Args(self.sql.numbered)
        return await self._all(fill(statement, among=self.sql.among(column, values, args)), args.tuple())

    async def model_keys(self, query: ModelQuery, after: str | None, limit: int) -> list[str]:
        """The sha256s of a filter's matches in sha256 order, from just after `after`: a walk in an order that no
        edit of a model changes, so a bulk change paged this way meets each match once."""
        conditions, args = self._matching(query)
        if after is not None:
            conditions.append(f"m.sha256 > {args(after)}")
        rows = await self._all(fill(self.sql.keys, where=where(conditions), limit=args(limit)), args.tuple())
        return [r[0] for r in rows]

    async def total_size(self, query: ModelQuery) -> int:
        """The bytes of the matches' files that are present, each copy too: what trashing them would free."""
        return int((await self._count_and_size(query))[1])

    async def _count_and_size(self, query: ModelQuery) -> Sequence[Any]:
        """The count and the bytes of the matches from one pass over them, taken once per state of the library: a
        page's total and the size beside it cost one pass."""
        args = Args(self.sql.numbered)
        # The copies' conditions come first in the statement's text, so their arguments are taken first.
        of_copies = status(query, args) + filters(query, self.sql, args)
        conditions = status(query, args) + filters(query, self.sql, args)
        statement = fill(self.sql.count_and_size, where=where(conditions), copies_where=where(of_copies))
        return (await self._cached(statement, args.tuple(), slow=True))[0]

    async def _total(self, query: ModelQuery) -> int:
        if query.unused_since is not None:
            return int((await self._count_and_size(query))[0])
        if not tallied(query):
            conditions, args = self._matching(query)
            return await self._count(fill(self.sql.count, where=where(conditions)), args)
        conditions, args = tally_where(query, self.sql)
        if not query.tags:
            return await self._count(fill(self.sql.model_total, where=where(conditions)), args)
        conditions.append(TALLY_TAG.format(args(query.tags[0])))
        return await self._count(fill(self.sql.tag_total, where=where(conditions)), args)

    async def _count(self, statement: str, args: Args) -> int:
        return int((await self._cached(statement, args.tuple()))[0][0])

    async def facets(self, query: ModelQuery) -> dict[str, Any]:
        """What a filter bar offers next to a result: the tags of the matching models and the base models of the
        models matching every filter but the base model (so the others stay choosable), each with its count."""
        if tallied(query) and not query.tags:
            conditions, args = tally_where(query, self.sql)
            tags = await self._cached(fill(self.sql.tallied_tags, where=where(conditions)), args.tuple())
            conditions, args = tally_where(query, self.sql, base_model=False)
            bases = await self._cached(fill(self.sql.tallied_bases, where=where(conditions)), args.tuple())
        else:
            conditions, args = self._matching(query)
            tags = await self._cached(fill(self.sql.tag_counts, where=where(conditions)), args.tuple(), slow=True)
            conditions, args = self._base_matching(query)
            bases = await self._cached(fill(self.sql.base_counts, where=where(conditions)), args.tuple(),
                                       slow=True)
        return _facets(tags, bases, await self._total(query))

    async def model_types(self) -> list[dict[str, Any]]:
        """The type tabs: each type's models (ok, of them hidden, missing) and pending rows, by type."""
        pending = {t: n for t, n in await self._all(self.sql.pending_types, ())}
        found = {t: {"type": t, "models": ok, "hidden": hidden, "missing": missing, "pending": pending.get(t, 0)}
                 for t, ok, hidden, missing in await self._all(self.sql.type_counts, ())}
        for t, n in pending.items():
            found.setdefault(t, {"type": t, "models": 0, "hidden": 0, "missing": 0, "pending": n})
        return [found[t] for t in sorted(found)]

    async def counts(self) -> dict[str, Any]:
        """The status document's counts: models, of them missing, and pending rows by status."""
        by_status = dict.fromkeys(PENDING_STATUSES, 0)
        for state, n in await self._all(self.sql.pending_counts, ()):
            by_status[state] = n
        models: Mapping[str, int] = {s: n for s, n in await self._all(self.sql.model_counts, ())}
        return {
            "models": models.get("ok", 0) + models.get("missing", 0),
            "missing": models.get("missing", 0),
            "pending": by_status,
        }
