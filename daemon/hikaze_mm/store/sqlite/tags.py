"""Tags on SQLite. The tags table compares names without regard to case (`COLLATE NOCASE`), so `Style` and
`style` are one tag wherever a name is looked up."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from hikaze_mm.store.interfaces import MetadataRules
from hikaze_mm.store.library_records import renamed_tags
from hikaze_mm.store.sqlite.database import Database, first_row
from hikaze_mm.store.sqlite.rows import IN_JSON, json_list
from hikaze_mm.store.sqlite.search_index import reindex_many


async def tag_ids(db: aiosqlite.Connection, names: list[str]) -> list[int]:
    """Ids for these names, creating the missing ones, inside the caller's transaction."""
    ids: list[int] = []
    for name in names:
        await db.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (name,))
        (tag_id,) = await first_row(db, "SELECT id FROM tags WHERE name = ?", (name,))
        if tag_id not in ids:
            ids.append(tag_id)
    return ids


async def model_tag_names(db: aiosqlite.Connection, sha256: str) -> list[str]:
    return [r[0] for r in await db.execute_fetchall(
        "SELECT t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = ?", (sha256,))]


# A condition on `tag_id` for the model `?1`: not one of the tags the user took off it (its `removed_tags`). `t.name`
# brings its NOCASE collation to the comparison, so any spelling finds the tag.
NOT_REMOVED = ("tag_id NOT IN (SELECT t.id FROM models m, json_each(m.meta_json, '$.removed_tags') r "
               "JOIN tags t ON t.name = r.value WHERE m.sha256 = ?1)")


async def tag_model(db: aiosqlite.Connection, sha256: str, names: list[str]) -> None:
    """These tags on the model, made when missing, but for those the user took off it, inside the caller's
    transaction: two statements however many names (an import of a hundred models with tags from their sidecars
    stays a short write)."""
    given = json.dumps(names)
    await db.execute("INSERT OR IGNORE INTO tags (name) SELECT value FROM json_each(?)", (given,))
    await db.execute("INSERT OR IGNORE INTO model_tags (sha256, tag_id) SELECT ?1, tag_id FROM (SELECT t.id AS "
                     f"tag_id FROM json_each(?2) j JOIN tags t ON t.name = j.value) WHERE {NOT_REMOVED}",
                     (sha256, given))


class SQLiteTags:
    """A rename or delete is the user's edit of every model that carries the tag: each of them notes the old name
    as taken off (`removed_tags`, by the rules' `tags_edited`), so a web record or sidecar naming it later does
    not put it back beside the new name, or after the tag is gone."""

    def __init__(self, db: Database, rules: MetadataRules):
        self._db = db
        self._rules = rules

    async def list_tags(self) -> list[dict[str, Any]]:
        rows = await self._db.cached(
            "SELECT t.id, t.name, coalesce((SELECT sum(n) FROM tag_tally c WHERE c.tag_id = t.id), 0), "
            "(SELECT count(*) FROM pending_tags pt WHERE pt.tag_id = t.id) FROM tags t ORDER BY t.name COLLATE NOCASE",
            (),
            tally=True,
        )
        return [{"id": i, "name": n, "models": m, "pending": p} for i, n, m, p in rows]

    async def create_tag(self, name: str) -> tuple[dict[str, Any], bool]:
        async with self._db.write() as db:
            existing = await first_row(db, "SELECT id, name FROM tags WHERE name = ?", (name,))
            if existing is not None:
                return {"id": existing[0], "name": existing[1]}, False
            row = await first_row(db, "INSERT INTO tags (name) VALUES (?) RETURNING id, name", (name,))
        return {"id": row[0], "name": row[1]}, True

    async def rename_tag(self, tag_id: int, name: str) -> dict[str, Any] | None:
        """Rename; if another tag already has that name, this one merges into it."""
        async with self._db.write() as db:
            old = await first_row(db, "SELECT name FROM tags WHERE id = ?", (tag_id,))
            if old is None:
                return None
            other = await first_row(db, "SELECT id FROM tags WHERE name = ? AND id != ?", (name, tag_id))
            affected = await _tagged(db, tag_id)
            await self._taken_off(db, affected, old[0], name)
            if other is not None:
                target = other[0]
                await db.execute("INSERT OR IGNORE INTO model_tags (sha256, tag_id) "
                                 "SELECT sha256, ? FROM model_tags WHERE tag_id = ?", (target, tag_id))
                await db.execute("INSERT OR IGNORE INTO pending_tags (pending_id, tag_id) "
                                 "SELECT pending_id, ? FROM pending_tags WHERE tag_id = ?", (target, tag_id))
                await db.execute("DELETE FROM tags WHERE id = ?", (tag_id,))
                await db.execute("UPDATE tags SET name = ? WHERE id = ?", (name, target))
                tag_id = target
            else:
                await db.execute("UPDATE tags SET name = ? WHERE id = ?", (name, tag_id))
            await reindex_many(db, affected)
        return {"id": tag_id, "name": name}

    async def delete_tag(self, tag_id: int) -> bool:
        async with self._db.write() as db:
            name = await first_row(db, "SELECT name FROM tags WHERE id = ?", (tag_id,))
            if name is None:
                return False
            affected = await _tagged(db, tag_id)
            await self._taken_off(db, affected, name[0], None)  # while they carry it: their tags before and after
            await db.execute("DELETE FROM tags WHERE id = ?", (tag_id,))
            await reindex_many(db, affected)
        return True

    async def _taken_off(self, db: aiosqlite.Connection, shas: list[str], old: str, new: str | None) -> None:
        """The tag `old` noted as taken off these models, which carry `new` instead (a rename) or nothing (a
        delete). A rename that changes only the case keeps the tag on them: nothing to note."""
        if new is not None and new.casefold() == old.casefold():
            return
        for start in range(0, len(shas), _CHUNK):
            rows = await db.execute_fetchall(
                "SELECT m.sha256, m.meta_json, (SELECT json_group_array(t.name) FROM model_tags mt JOIN tags t "
                f"ON t.id = mt.tag_id WHERE mt.sha256 = m.sha256) FROM models m WHERE m.sha256 IN {IN_JSON}",
                (json_list(shas[start:start + _CHUNK]),))
            edited = []
            for sha, meta, names in rows:
                before = json.loads(names)
                after = renamed_tags(before, old, new)
                edited.append((json.dumps(self._rules.tags_edited(json.loads(meta or "{}"), before, after)), sha))
            await db.executemany("UPDATE models SET meta_json = ? WHERE sha256 = ?", edited)


# Models whose records are read and written back at once: a tag on a whole library is not held in memory whole.
_CHUNK = 500


async def _tagged(db: aiosqlite.Connection, tag_id: int) -> list[str]:
    """The models carrying the tag, whose search rows follow its name."""
    return [r[0] for r in await db.execute_fetchall("SELECT sha256 FROM model_tags WHERE tag_id = ?", (tag_id,))]
