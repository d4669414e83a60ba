"""After an upgrade, models imported before sidecar tags were read get them from their sidecar files, once, in the
background: under the import's rules (never a tag the user took off), without counting as the user's edit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import Daemon, digests, poll, write_model
from hikaze_mm.store.sqlite.database import _statements
from hikaze_mm.store.sqlite.migration_functions import FUNCTIONS as MIGRATION_FUNCTIONS
from hikaze_mm.store.sqlite.migrations import MIGRATIONS

SIDECAR_TAGS = ["character", "anime", "style"]
# name: (the model's stored record, its tags) as schema 8 left them.
MODELS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "plain": ({}, []),
    "tagged": ({"notes": "mine"}, ["Style", "favourite"]),
    "refused": ({"removed_tags": ["anime"]}, []),
    "no_sidecar": ({}, ["kept"]),
}


def build_v8(db: Path, models: Path) -> dict[str, str]:
    """A schema 8 database whose models have sidecars on disk but no tags from them; their sha256 by name."""
    conn = sqlite3.connect(db, isolation_level=None)
    for name, (arity, function) in MIGRATION_FUNCTIONS.items():
        conn.create_function(name, arity, function)
    for script in MIGRATIONS[:8]:
        for statement in _statements(script):
            conn.execute(statement)
    shas = {}
    for i, (name, (meta, tags)) in enumerate(MODELS.items(), 1):
        path = write_model(models / "loras" / f"{name}.safetensors")
        if name != "no_sidecar":
            path.with_name(f"{name}.civitai.info").write_text(json.dumps({"model": {"tags": SIDECAR_TAGS}}))
        sha = shas[name] = f"{i:064x}"
        st = path.stat()
        conn.execute(
            "INSERT INTO models (sha256, path, name, type, size_bytes, mtime_ns, inode, device, created_at, "
            "updated_at, meta_json) VALUES (?, ?, ?, 'loras', ?, ?, ?, ?, 10, 20, ?)",
            (sha, str(path), name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, json.dumps(meta)))
        (search_id,) = conn.execute("INSERT INTO search_ids (sha256) VALUES (?) RETURNING id", (sha,)).fetchone()
        conn.execute("UPDATE models SET search_id = ? WHERE sha256 = ?", (search_id, sha))
        conn.execute("INSERT INTO models_fts (rowid, name, file_name, path, tags, description, trigger_words) "
                     "VALUES (?, ?, ?, ?, ?, '', '')", (search_id, name, path.name, str(path), " ".join(tags)))
        for tag in tags:
            conn.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (tag,))
            conn.execute("INSERT INTO model_tags (sha256, tag_id) SELECT ?, id FROM tags WHERE name = ?", (sha, tag))
    # A file hashed then, waiting in the queue: its row noted the sidecar's words but no tags.
    waiting = write_model(models / "loras" / "waiting.safetensors")
    waiting.with_name("waiting.civitai.info").write_text(json.dumps({"model": {"tags": ["queued", "anime"]}}))
    st = waiting.stat()
    sha, b3 = digests(waiting)
    conn.execute(
        "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, sha256, blake3, "
        "discovered_at, hashed_at, updated_at, meta_json) "
        "VALUES (?, ?, ?, ?, ?, 'loras', ?, 'ready', ?, ?, 1, 2, 3, ?)",
        (str(waiting), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, waiting.name, sha, b3,
         json.dumps({"sidecars": {"trigger_words": ["wait"], "sources": ["waiting.civitai.info"]}})))
    conn.execute("PRAGMA user_version = 8")
    conn.close()
    return shas


@pytest.mark.sqlite_only(reason="a schema 8 file upgraded; a PostgreSQL library never had those models")
async def test_models_imported_before_get_their_sidecar_tags_once(daemon_factory, tmp_path: Path, models: Path):
    data = tmp_path / "data"
    data.mkdir()
    db = data / "library.sqlite3"
    shas = build_v8(db, models)
    d: Daemon = await daemon_factory("--models-root", str(models), data_dir=data)

    async def done() -> bool:
        log = d.log()
        return ("chore.sidecar_tags" in log and "chore.pending_sidecar_tags" in log) or None  # type: ignore[return-value]

    await poll(done, "the sidecar tags chore to finish")
    got = {name: await d.get(f"/api/models/{sha}") for name, sha in shas.items()}
    # Tag names are one per library, whatever the case: the sidecar's `style` is the user's `Style`.
    assert {name: sorted(m["tags"], key=str.casefold) for name, m in got.items()} == {
        "plain": ["anime", "character", "Style"],
        "tagged": ["anime", "character", "favourite", "Style"],  # `Style` was the user's: it stays theirs
        "refused": ["character", "Style"],  # `anime` was taken off by the user before: not put back
        "no_sidecar": ["kept"],
    }
    assert sorted(got["plain"]["sidecar_tags"], key=str.casefold) == ["anime", "character", "Style"]
    assert sorted(got["tagged"]["sidecar_tags"]) == ["anime", "character"]
    assert got["tagged"]["meta_json"]["notes"] == "mine"
    # Filled in for the user, not edited by them: "Recently edited" does not change.
    assert {m["updated_at"] for m in got.values()} == {20}
    facets = await d.get("/api/facets")
    assert {t["name"]: t["count"] for t in facets["tags"]}["character"] == 3
    found = await d.get("/api/models?q=character")
    assert sorted(m["name"] for m in found["models"]) == ["plain", "refused", "tagged"]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM chores").fetchone() == (0,)

    # The waiting row noted its sidecar's tags: importing it now brings them along.
    (row,) = await d.pending()
    assert row["path"].endswith("waiting.safetensors")
    assert (await d.get(f"/api/pending/{row['id']}"))["meta_json"]["sidecars"]["tags"] == ["queued", "anime"]
    report = await d.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    (imported,) = report["imported"]
    assert sorted((await d.get(f"/api/models/{imported['sha256']}"))["tags"]) == ["anime", "queued"]

    # Done once: a tag the user takes off now, after the chore, is not brought back by a restart either.
    await d.call("PATCH", f"/api/models/{shas['plain']}", {"tags_remove": ["anime"]})
    await d.close()
    d = await daemon_factory("--models-root", str(models), data_dir=data)
    await d.watching()
    assert sorted((await d.get(f"/api/models/{shas['plain']}"))["tags"]) == ["Style", "character"]
    assert "chore." not in d.log()


async def test_a_new_library_has_no_chore_to_do(daemon: Daemon):
    # Nothing was imported before sidecar tags were read: the daemon reads no model's sidecars at start.
    await daemon.watching()
    assert await daemon.db.rows("SELECT count(*) FROM chores") == [(0,)]
    assert "chore." not in daemon.log()
