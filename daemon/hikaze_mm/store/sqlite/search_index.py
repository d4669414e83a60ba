"""The full-text search rows of models, rebuilt inside the transaction of every write that changes what a model
is found by (its name, path, tags, description or trigger words)."""

from __future__ import annotations

import json
import os

import aiosqlite


async def reindex(db: aiosqlite.Connection, sha256: str) -> None:
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
            (search_id, name, os.path.basename(path), path, tags or "", meta.get("description") or "",
             " ".join(meta.get("trigger_words") or [])),
        )


async def unindex(db: aiosqlite.Connection, sha256: str) -> None:
    await db.execute("DELETE FROM models_fts WHERE rowid = (SELECT id FROM search_ids WHERE sha256 = ?)", (sha256,))
    await db.execute("DELETE FROM search_ids WHERE sha256 = ?", (sha256,))
