"""The full-text search rows of models, rebuilt inside the transaction of every write that changes what a model
is found by (its name, path, tags, description or trigger words)."""

from __future__ import annotations

import json

import aiosqlite

from hikaze_mm.store.library_records import search_row
from hikaze_mm.store.sqlite.rows import IN_JSON, json_list


async def reindex(db: aiosqlite.Connection, sha256: str) -> None:
    """Rebuild the model's search row from its current name, path, tags and metadata."""
    await reindex_many(db, [sha256])


async def reindex_many(db: aiosqlite.Connection, shas: list[str]) -> None:
    """`reindex` for many models, a statement per step rather than per model."""
    args = (json_list(shas),)
    await db.execute(f"INSERT OR IGNORE INTO search_ids (sha256) SELECT value FROM {IN_JSON}", args)
    rows = await db.execute_fetchall(
        "SELECT s.id, m.sha256, m.name, m.path, m.meta_json, m.search_id, "
        "(SELECT group_concat(t.name, ' ') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
        " WHERE mt.sha256 = m.sha256) "
        f"FROM models m JOIN search_ids s ON s.sha256 = m.sha256 WHERE m.sha256 IN {IN_JSON}",
        args,
    )
    # A model written with its search id already (a new one from `promote_new`) is not written twice: the update
    # would rewrite its row in every listing index.
    await db.executemany("UPDATE models SET search_id = ? WHERE sha256 = ?",
                         [(r[0], r[1]) for r in rows if r[0] != r[5]])
    await db.execute(f"DELETE FROM models_fts WHERE rowid IN {IN_JSON}", (json_list([r[0] for r in rows]),))
    entries = []
    for search_id, _, name, path, meta_text, _, tags in rows:
        meta = json.loads(meta_text or "{}")
        entries.append((search_id, *search_row(name, path, tags, meta.get("description"), meta.get("trigger_words"))))
    await db.executemany(
        "INSERT INTO models_fts (rowid, name, file_name, path, tags, description, trigger_words) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", entries)


async def unindex(db: aiosqlite.Connection, sha256: str) -> None:
    await db.execute("DELETE FROM models_fts WHERE rowid = (SELECT id FROM search_ids WHERE sha256 = ?)", (sha256,))
    await db.execute("DELETE FROM search_ids WHERE sha256 = ?", (sha256,))
