"""Tags on PostgreSQL. Tag names are `citext`, so `Style` and `style` are one tag wherever a name is looked up;
a name that comes as `text` (out of a JSON list) is cast to `citext` before it is compared, or the comparison
would be `text`'s, which minds case.

A tag joins a model only where it is not on it yet (`NOT EXISTS`), never by `ON CONFLICT DO NOTHING`: the BEFORE
INSERT trigger that counts a model's tags fires for a row that then conflicts, and would count it twice."""

from __future__ import annotations

from typing import Any

import asyncpg

from hikaze_mm.store.library_records import renamed_tags
from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.postgres.search_index import reindex_many

# The names of a JSON list argument, in its order.
_GIVEN = "jsonb_array_elements_text({}::jsonb) WITH ORDINALITY AS given (name, n)"
# A condition on `tag_id` for the model `$1`: not one of the tags the user took off it (its `removed_tags`).
NOT_REMOVED = (
    "tag_id NOT IN (SELECT t.id FROM models m, jsonb_array_elements_text(CASE WHEN jsonb_typeof("
    "m.meta_json -> 'removed_tags') = 'array' THEN m.meta_json -> 'removed_tags' ELSE '[]' END) AS r (name) "
    "JOIN tags t ON t.name = r.name::citext WHERE m.sha256 = $1)"
)
# The condition that the tag `tag_id` is not on the model `sha256` yet (see the module's docstring).
NOT_ON_MODEL = "NOT EXISTS (SELECT 1 FROM model_tags o WHERE o.sha256 = {} AND o.tag_id = {})"


async def _make_tags(conn: asyncpg.Connection, names: list[str]) -> None:
    """The tags of these names that do not exist yet made, each spelt as its first mention."""
    await conn.execute(f"INSERT INTO tags (name) SELECT name FROM {_GIVEN.format('$1')} ORDER BY n "
                       "ON CONFLICT (name) DO NOTHING", names)


async def tag_ids(conn: asyncpg.Connection, names: list[str]) -> list[int]:
    """Ids for these names, creating the missing ones, inside the caller's transaction: in the order of the names,
    each tag once."""
    await _make_tags(conn, names)
    rows = await conn.fetch(f"SELECT t.id FROM {_GIVEN.format('$1')} JOIN tags t ON t.name = given.name::citext "
                            "ORDER BY given.n", names)
    return list(dict.fromkeys(r[0] for r in rows))


async def model_tag_names(conn: asyncpg.Connection, sha256: str) -> list[str]:
    return [r[0] for r in await conn.fetch(
        "SELECT t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = $1 ORDER BY t.id",
        sha256)]


async def tag_model(conn: asyncpg.Connection, sha256: str, names: list[str]) -> None:
    """These tags on the model, made when missing, but for those the user took off it, inside the caller's
    transaction: two statements however many names (an import of a hundred models with tags from their sidecars
    stays a short write)."""
    await _make_tags(conn, names)
    await conn.execute(
        f"INSERT INTO model_tags (sha256, tag_id) SELECT DISTINCT $1::text, tag_id FROM (SELECT t.id AS tag_id "
        f"FROM {_GIVEN.format('$2')} JOIN tags t ON t.name = given.name::citext) AS named "
        f"WHERE {NOT_REMOVED} AND {NOT_ON_MODEL.format('$1', 'named.tag_id')}", sha256, names)


class PgTags:
    """A rename or delete is the user's edit of every model that carries the tag: each of them notes the old name
    as taken off (`removed_tags`, by the rules' `tags_edited`), so a web record or sidecar naming it later does
    not put it back beside the new name, or after the tag is gone."""

    def __init__(self, ctx: PgContext):
        self._ctx = ctx

    async def list_tags(self) -> list[dict[str, Any]]:
        rows = await self._ctx.db.cached(
            "SELECT t.id, t.name, coalesce((SELECT sum(n) FROM tag_tally c WHERE c.tag_id = t.id), 0)::bigint, "
            "(SELECT count(*) FROM pending_tags pt WHERE pt.tag_id = t.id) FROM tags t ORDER BY t.name")
        return [{"id": i, "name": n, "models": m, "pending": p} for i, n, m, p in rows]

    async def create_tag(self, name: str) -> tuple[dict[str, Any], bool]:
        async with self._ctx.db.write() as conn:
            row = await conn.fetchrow(
                "INSERT INTO tags (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id, name", name)
            if row is None:
                row = await conn.fetchrow("SELECT id, name FROM tags WHERE name = $1", name)
                return {"id": row[0], "name": row[1]}, False
        return {"id": row[0], "name": row[1]}, True

    async def rename_tag(self, tag_id: int, name: str) -> dict[str, Any] | None:
        """Rename; if another tag already has that name, this one merges into it."""
        async with self._ctx.db.write() as conn:
            old = await conn.fetchval("SELECT name FROM tags WHERE id = $1", tag_id)
            if old is None:
                return None
            other = await conn.fetchval("SELECT id FROM tags WHERE name = $1 AND id != $2", name, tag_id)
            affected = await _tagged(conn, tag_id)
            await self._taken_off(conn, affected, old, name)
            if other is not None:
                await conn.execute(
                    "INSERT INTO model_tags (sha256, tag_id) SELECT mt.sha256, $1 FROM model_tags mt "
                    f"WHERE mt.tag_id = $2 AND {NOT_ON_MODEL.format('mt.sha256', '$1')}", other, tag_id)
                await conn.execute("INSERT INTO pending_tags (pending_id, tag_id) SELECT pending_id, $1 "
                                   "FROM pending_tags WHERE tag_id = $2 ON CONFLICT DO NOTHING", other, tag_id)
                await conn.execute("DELETE FROM tags WHERE id = $1", tag_id)
                tag_id = other
            await conn.execute("UPDATE tags SET name = $1 WHERE id = $2", name, tag_id)
            await reindex_many(conn, affected)
        return {"id": tag_id, "name": name}

    async def delete_tag(self, tag_id: int) -> bool:
        async with self._ctx.db.write() as conn:
            name = await conn.fetchval("SELECT name FROM tags WHERE id = $1 FOR UPDATE", tag_id)
            if name is None:
                return False
            affected = await _tagged(conn, tag_id)
            await self._taken_off(conn, affected, name, None)  # while they carry it: their tags before and after
            await conn.execute("DELETE FROM tags WHERE id = $1", tag_id)
            await reindex_many(conn, affected)
        return True

    async def _taken_off(self, conn: asyncpg.Connection, shas: list[str], old: str, new: str | None) -> None:
        """The tag `old` noted as taken off these models, which carry `new` instead (a rename) or nothing (a
        delete). A rename that changes only the case keeps the tag on them: nothing to note."""
        if new is not None and new.casefold() == old.casefold():
            return
        for start in range(0, len(shas), _CHUNK):
            # Locked as read, as every edit of a model's record is; in one order, so that two such writes cannot
            # deadlock.
            rows = await conn.fetch(
                # The names as jsonb, not an array: asyncpg's arrays of text bypass the codec that unescapes a
                # stored name (a byte that is not UTF-8, a NUL), which then matched no name it was compared with.
                "SELECT m.sha256, m.meta_json, (SELECT coalesce(jsonb_agg(t.name::text), '[]'::jsonb) FROM "
                "model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = m.sha256) FROM models m "
                "WHERE m.sha256 = ANY($1::text[]) "
                "ORDER BY m.sha256 FOR UPDATE", texts(shas[start:start + _CHUNK]))
            await conn.executemany("UPDATE models SET meta_json = $1 WHERE sha256 = $2", [
                (self._ctx.rules.tags_edited(meta or {}, list(names), renamed_tags(list(names), old, new)), sha)
                for sha, meta, names in rows])


# Models whose records are read and written back at once: a tag on a whole library is not held in memory whole.
_CHUNK = 500


async def _tagged(conn: asyncpg.Connection, tag_id: int) -> list[str]:
    """The models carrying the tag, whose search rows follow its name."""
    return [r[0] for r in await conn.fetch("SELECT sha256 FROM model_tags WHERE tag_id = $1", tag_id)]
