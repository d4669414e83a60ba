"""The search rows of models on PostgreSQL (`model_search`, one per model, its `doc` trigram-indexed), rebuilt
inside the transaction of every write that changes what a model is found by (its name, path, tags, description or
trigger words). A model's row goes with it (the foreign key cascades), so nothing here takes one out."""

from __future__ import annotations

import asyncpg

from hikaze_mm.store.library_records import search_row
from hikaze_mm.store.postgres.database import texts

_UPSERT = (
    "INSERT INTO model_search (sha256, name, file_name, path, tags, description, trigger_words) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO UPDATE SET name = EXCLUDED.name, "
    "file_name = EXCLUDED.file_name, path = EXCLUDED.path, tags = EXCLUDED.tags, "
    "description = EXCLUDED.description, trigger_words = EXCLUDED.trigger_words"
)


async def reindex(conn: asyncpg.Connection, sha256: str) -> None:
    """Rebuild the model's search row from its current name, path, tags and metadata."""
    await reindex_many(conn, [sha256])


async def reindex_many(conn: asyncpg.Connection, shas: list[str]) -> None:
    """`reindex` for many models, a statement per step rather than per model."""
    # Only the two fields searched are read of the metadata, which may be large (a header's metadata map).
    rows = await conn.fetch(
        "SELECT m.sha256, m.name, m.path, (SELECT string_agg(t.name::text, ' ') FROM model_tags mt "
        "JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = m.sha256), m.meta_json -> 'description', "
        "m.meta_json -> 'trigger_words' FROM models m WHERE m.sha256 = ANY($1::text[])", texts(shas))
    await conn.executemany(_UPSERT, [(r[0], *search_row(*r[1:])) for r in rows])
