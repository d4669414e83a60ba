"""Migration 8 takes the training captions that schema 7 suggested as trigger words out of the models and pending
rows of a database, and leaves every list a user edited, and everything else, as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from store_backends import sqlite_store

from hikaze_mm.store.records import ModelQuery
from hikaze_mm.store.sqlite.database import _statements
from hikaze_mm.store.sqlite.migrations import MIGRATIONS

# Schema 7's rule: the 10 most used tags, counts added up over the folders (1girl 48, solo 30, then the order
# written); `tag10` is the eleventh and was never suggested.
FREQUENCY = {"10_mychar": {"1girl": 38, "solo": 30, **{f"tag{i}": 20 - i for i in range(11)}},
             "5_outfit": {"1girl": 10}}
CAPTIONS = ["1girl", "solo", *[f"tag{i}" for i in range(8)]]


def header(**metadata: Any) -> dict[str, Any]:
    """A header as schema 7 stored it, with the trigger words its probe found."""
    phrase = metadata.get("modelspec.trigger_phrase")
    words = [*([w.strip() for w in phrase.split(",")] if phrase else []), *CAPTIONS]
    return {"format": "safetensors", "tensor_count": 2, "base_model": "SDXL", "base_model_source": "kohya",
            "metadata": {"ss_network_dim": "4", "ss_tag_frequency": FREQUENCY, **metadata}, "trigger_words": words}


PLAIN, PHRASED = header(), header(**{"modelspec.trigger_phrase": "mychar, red hair"})
MODELS: dict[str, dict[str, Any]] = {
    "derived": {"trigger_words": CAPTIONS, "header": PLAIN, "notes": "mine", "legacy": {"x": 1}},
    "phrased": {"trigger_words": ["mychar", "red hair", *CAPTIONS], "header": PHRASED, "description": "d"},
    "added": {"trigger_words": [*CAPTIONS, "extra"], "header": PLAIN},
    "removed_one": {"trigger_words": CAPTIONS[1:], "header": PLAIN},
    "reordered": {"trigger_words": [CAPTIONS[1], CAPTIONS[0], *CAPTIONS[2:]], "header": PLAIN},
    "typed": {"trigger_words": ["mine"], "header": PLAIN},
    "empty": {"header": PLAIN, "nsfw": True},
    "no_header": {"trigger_words": CAPTIONS},
}
SIDECARS = {"trigger_words": ["fromsidecar"], "base_model": "SDXL"}
PENDING: dict[str, dict[str, Any]] = {
    "derived": {"trigger_words": CAPTIONS, "header": PLAIN, "base_model": "SDXL"},
    "with_sidecar": {"trigger_words": ["fromsidecar", *CAPTIONS], "header": PLAIN, "sidecars": SIDECARS},
    "added": {"trigger_words": [*CAPTIONS, "extra"], "header": PLAIN, "sidecars": SIDECARS},
    "empty": {"header": PLAIN, "description": "waiting"},
}
# What each list becomes; any other is kept whole.
MODELS_AFTER = {"derived": None, "phrased": ["mychar", "red hair"]}
PENDING_AFTER = {"derived": None, "with_sidecar": ["fromsidecar"]}


def sha(name: str) -> str:
    return f"{list(MODELS).index(name) + 1:064x}"


def build_v7(db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    for number in range(1, 8):
        for statement in _statements(MIGRATIONS[number - 1]):
            conn.execute(statement)
    for name, meta in MODELS.items():
        path = f"/m/loras/{name}.safetensors"
        conn.execute(
            "INSERT INTO models (sha256, path, name, type, size_bytes, created_at, updated_at, meta_json) "
            "VALUES (?, ?, ?, 'loras', 5, 10, 20, ?)", (sha(name), path, name, json.dumps(meta)))
        # The search row as the store writes it.
        (search_id,) = conn.execute("INSERT INTO search_ids (sha256) VALUES (?) RETURNING id", (sha(name),)).fetchone()
        conn.execute("UPDATE models SET search_id = ? WHERE sha256 = ?", (search_id, sha(name)))
        conn.execute("INSERT INTO models_fts (rowid, name, file_name, path, tags, description, trigger_words) "
                     "VALUES (?, ?, ?, ?, '', '', ?)",
                     (search_id, name, f"{name}.safetensors", path, " ".join(meta.get("trigger_words", []))))
    for i, (name, meta) in enumerate(PENDING.items(), 1):
        conn.execute(
            "INSERT INTO pending_import (id, path, size_bytes, mtime_ns, inode, device, type, name, status, sha256, "
            "discovered_at, updated_at, meta_json) VALUES (?, ?, 7, 1, ?, 3, 'loras', ?, 'ready', ?, 30, 31, ?)",
            (i, f"/m/loras/p_{name}.safetensors", 100 + i, name, f"{i:064x}".replace("0", "e", 1), json.dumps(meta)))
    conn.execute("PRAGMA user_version = 7")
    conn.close()


def rows(db: Path) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    models = {r[3]: r for r in conn.execute("SELECT * FROM models")}
    pending = {r[7]: r for r in conn.execute("SELECT * FROM pending_import")}
    conn.close()
    return models, pending


def expected(meta: dict[str, Any], after: dict[str, list[str] | None], name: str) -> dict[str, Any]:
    if name not in after:
        return meta
    rest = {k: v for k, v in meta.items() if k != "trigger_words"}
    words = after[name]
    return rest if words is None else {**meta, "trigger_words": words}


async def test_caption_words_leave_derived_lists_and_edited_lists_stay_whole(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    build_v7(db)
    models_before, pending_before = rows(db)
    store = sqlite_store(db)
    await store.open()
    try:
        found = {q: [m["name"] for m in (await store.search.list_models(ModelQuery(q=q)))[0]]
                 for q in ("tag7", "red hair", "extra")}
        details = {name: await store.models.model_detail(sha(name)) for name in MODELS}
    finally:
        await store.close()
    models_after, pending_after = rows(db)

    meta_column = 13  # meta_json in models' columns of schema 1
    for name, meta in MODELS.items():
        before, after = models_before[name], models_after[name]
        # Every column but the metadata is as it was (updated_at too: the user changed nothing); columns later
        # migrations add come after them.
        kept = len(before)
        assert after[:meta_column] + after[meta_column + 1:kept] == before[:meta_column] + before[meta_column + 1:]
        assert json.loads(after[meta_column]) == expected(meta, MODELS_AFTER, name), name
        detail = details[name]
        assert detail is not None and detail["header"] == meta.get("header")
    for name, meta in PENDING.items():
        before, after = pending_before[name], pending_after[name]
        assert after[:-1] == before[:-1]
        assert json.loads(after[-1]) == expected(meta, PENDING_AFTER, name), name
    # The search rows follow: a caption finds only the lists that kept it.
    assert sorted(found["tag7"]) == ["added", "no_header", "removed_one", "reordered"]
    assert found["red hair"] == ["phrased"] and found["extra"] == ["added"]
