"""The searchable text of models on PostgreSQL (`models.search_doc`, trigram-indexed), rebuilt inside the
transaction of every write that changes what a model is found by (its name, path, tags, description or trigger
words)."""

from __future__ import annotations

import asyncpg

from hikaze_mm.store.library_records import search_row
from hikaze_mm.store.postgres.database import texts

# Lowered by the database, as the words searched for are (`search.py`), so both fold case alike whatever the
# database's locale. A text that did not change is not written: the row keeps its version and its indexes.
_UPDATE = (
    "UPDATE models m SET search_doc = lower(v.doc) FROM unnest($1::text[], $2::text[]) AS v (sha256, doc) "
    "WHERE m.sha256 = v.sha256 AND m.search_doc IS DISTINCT FROM lower(v.doc)"
)


async def reindex(conn: asyncpg.Connection, sha256: str) -> None:
    """Rebuild the model's searchable text from its current name, path, tags and metadata."""
    await reindex_many(conn, [sha256])


async def reindex_many(conn: asyncpg.Connection, shas: list[str]) -> None:
    """`reindex` for many models, a statement per step rather than per model."""
    # Only the two fields searched are read of the metadata, which may be large (a header's metadata map).
    rows = await conn.fetch(
        "SELECT m.sha256, m.name, m.path, (SELECT string_agg(t.name::text, ' ') FROM model_tags mt "
        "JOIN tags t ON t.id = mt.tag_id WHERE mt.sha256 = m.sha256), m.meta_json -> 'description', "
        "m.meta_json -> 'trigger_words' FROM models m WHERE m.sha256 = ANY($1::text[])", texts(shas))
    docs = [" ".join(search_row(*r[1:])) for r in rows]
    await conn.execute(_UPDATE, texts([r[0] for r in rows]), texts(docs))
