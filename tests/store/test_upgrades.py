"""Every earlier schema upgrades to the current one with its models, tags, metadata, images and pending rows intact.

Each old database is built the way it grew: the migrations in order, with data written at every version along the
way, as a user's database would have been.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from store_backends import sqlite_store, with_migration_functions

from hikaze_mm.store.records import ModelQuery
from hikaze_mm.store.sqlite.database import _statements
from hikaze_mm.store.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

KEPT, FLAGGED = "a" * 64, "b" * 64
KEPT_META = {"description": "soft watercolor wash", "trigger_words": ["wtrclr"], "notes": "mine",
             "community_links": ["https://example.org/x"], "prompts": {"positive": "p", "negative": "n"}}
TABLES = ("models", "tags", "model_tags", "pending_import", "pending_tags", "model_copies", "images", "image_seq",
          "pending_images")


def _write_v1(conn: sqlite3.Connection) -> None:
    for sha, name, meta in ((KEPT, "Kept Style", KEPT_META), (FLAGGED, "Flagged", {"nsfw": True})):
        conn.execute(
            "INSERT INTO models (sha256, blake3, path, name, type, size_bytes, mtime_ns, inode, device, created_at, "
            "updated_at, meta_json) VALUES (?, ?, ?, ?, 'loras', 5, 1, 2, 3, 10, 20, ?)",
            (sha, sha[::-1], f"/m/loras/{name.lower().replace(' ', '_')}.safetensors", name, json.dumps(meta)),
        )
    conn.executemany("INSERT INTO tags (name) VALUES (?)", [("style",), ("Character",)])
    conn.executemany("INSERT INTO model_tags (sha256, tag_id) VALUES (?, ?)", [(KEPT, 1), (KEPT, 2), (FLAGGED, 2)])
    for i, status in enumerate(("ready", "conflict", "error", "ignored", "settling"), 1):
        conn.execute(
            "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, sha256, "
            "conflict_sha256, error, discovered_at, updated_at, meta_json) "
            "VALUES (?, 7, 1, ?, 3, 'loras', ?, ?, ?, ?, ?, 30, 31, ?)",
            (f"/m/loras/p{i}.safetensors", 100 + i, f"p{i}.safetensors", status,
             None if status == "settling" else f"{i:064x}", KEPT if status == "conflict" else None,
             "cannot read the file" if status == "error" else None, json.dumps({"description": f"pending {i}"})),
        )
    conn.execute("INSERT INTO pending_tags (pending_id, tag_id) VALUES (1, 1)")


def _write_v2(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE models SET base_model = 'SDXL', cover_seq = 1 WHERE sha256 = ?", (KEPT,))
    conn.execute("INSERT INTO model_copies (path, sha256, size_bytes, added_at) "
                 "VALUES ('/m/copy.safetensors', ?, 5, 1)", (KEPT,))
    conn.executemany("INSERT INTO images (sha256, seq, width, height, created_at) VALUES (?, ?, 64, 48, 1)",
                     [(KEPT, 0), (KEPT, 1)])
    conn.execute("INSERT INTO image_seq (sha256, next_seq) VALUES (?, 2)", (KEPT,))
    conn.execute("INSERT INTO pending_images (pending_id, seq, width, height, source, created_at) "
                 "VALUES (1, 0, 32, 32, 'p1.png', 1)")


def _write_v5(conn: sqlite3.Connection) -> None:
    """A model hidden by its tag alone, for the kept counts to find on the hidden side."""
    conn.execute("INSERT INTO models (sha256, path, name, type, size_bytes, created_at, updated_at, search_id) "
                 "VALUES (?, '/m/vae/t.safetensors', 'Tagged', 'vae', 5, 10, 20, NULL)", ("c" * 64,))
    conn.execute("INSERT INTO tags (name) VALUES ('Nsfw')")
    conn.execute("INSERT INTO model_tags (sha256, tag_id) SELECT ?, id FROM tags WHERE name = 'Nsfw'", ("c" * 64,))


WRITERS = {1: _write_v1, 2: _write_v2, 5: _write_v5}


def _build(db: Path, version: int) -> dict[str, list[tuple[object, ...]]]:
    """The database at `version`, and every row of every table it has."""
    conn = with_migration_functions(sqlite3.connect(db, isolation_level=None))
    for number in range(1, version + 1):
        for statement in _statements(MIGRATIONS[number - 1]):
            conn.execute(statement)
        if number in WRITERS:
            WRITERS[number](conn)
    conn.execute(f"PRAGMA user_version = {version}")
    rows = _rows(conn, version)
    conn.close()
    return rows


def _rows(conn: sqlite3.Connection, version: int) -> dict[str, list[tuple[object, ...]]]:
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    rows = {}
    for table in TABLES:
        if table in present:
            # Only the columns the old version had: later migrations may add some.
            columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
            rows[table] = sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)
            rows[table + ":columns"] = [tuple(columns)]
    return rows


def kept_counts(conn: sqlite3.Connection) -> list[list[tuple[object, ...]]]:
    return [sorted(conn.execute(f"SELECT * FROM {table} WHERE n != 0")) for table in
            ("model_tally", "tag_tally", "pending_tally")]


def recounted(conn: sqlite3.Connection) -> list[list[tuple[object, ...]]]:
    hidden = ("(m.nsfw != 0 OR m.sha256 IN (SELECT mt.sha256 FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
              "WHERE t.name = 'nsfw'))")
    return [
        sorted(conn.execute(f"SELECT type, base_model, status, {hidden}, count(*) FROM models m GROUP BY 1, 2, 3, 4")),
        sorted(conn.execute(f"SELECT x.tag_id, m.type, m.base_model, m.status, {hidden}, count(*) FROM model_tags x "
                            "JOIN models m ON m.sha256 = x.sha256 GROUP BY 1, 2, 3, 4, 5")),
        sorted(conn.execute("SELECT type, status, count(*) FROM pending_import GROUP BY 1, 2")),
    ]


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
async def test_an_old_database_upgrades_with_everything_in_it(tmp_path: Path, version: int) -> None:
    db = tmp_path / "library.sqlite3"
    before = _build(db, version)
    store = sqlite_store(db)
    await store.open()
    kept = await store.models.model_detail(KEPT)
    flagged = await store.models.model_detail(FLAGGED)
    by_words = (await store.search.list_models(ModelQuery(q="watercolor")))[0]
    hidden = (await store.search.list_models(ModelQuery(hide_nsfw=True)))[0]
    everything = (await store.search.list_models(ModelQuery()))[0]
    by_last_use = (await store.search.list_models(ModelQuery(sort="last_used")))[0]
    tagged = (await store.search.list_models(ModelQuery(tags=["character"])))[0]
    pending = {i: await store.pending.pending_detail(i) for i in range(1, 6)}
    counts = await store.search.counts()
    facets = await store.search.facets(ModelQuery(hide_nsfw=True))
    await store.close()

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert kept_counts(conn) == recounted(conn)
    for table in TABLES:
        if table in before:
            columns = before[table + ":columns"][0]
            after = sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)
            assert after == before[table], table
    conn.close()

    assert kept is not None and flagged is not None
    assert kept["name"] == "Kept Style" and kept["tags"] == ["Character", "style"]
    assert (kept["use_count"], kept["last_used_at"]) == (0, None)  # never used, as far as anyone knows
    assert {m["sha256"] for m in by_last_use} == {m["sha256"] for m in everything}
    assert {k: kept["meta_json"][k] for k in KEPT_META} == KEPT_META
    assert flagged["meta_json"]["nsfw"] is True
    assert [m["sha256"] for m in by_words] == [KEPT]
    assert [m["sha256"] for m in hidden] == [KEPT]  # the NSFW flag in the old metadata became the column
    assert {m["sha256"] for m in tagged} == {KEPT, FLAGGED}
    assert [pending[i]["status"] for i in range(1, 6)] == ["ready", "conflict", "error", "ignored", "settling"]
    waiting = {"settling": 1, "hashing": 0, "ready": 1, "conflict": 1, "error": 1, "ignored": 1}
    assert counts == {"models": 3 if version >= 5 else 2, "missing": 0, "pending": waiting}
    assert facets["total"] == 1 and {t["name"]: t["count"] for t in facets["tags"]} == {"style": 1, "Character": 1}
    assert pending[1]["meta_json"]["description"] == "pending 1"
    assert [t["name"] for t in pending[1]["tags"]] == ["style"]
    assert pending[3]["error"] == "cannot read the file" and pending[2]["conflict_sha256"] == KEPT
    if version >= 2:
        assert kept["base_model"] == "SDXL" and kept["copies"] == ["/m/copy.safetensors"]
        assert [i["seq"] for i in kept["images"]] == [0, 1] and kept["cover"] == 1
        assert [i["seq"] for i in pending[1]["images"]] == [0]
    else:
        assert kept["base_model"] == "unknown" and kept["images"] == []
