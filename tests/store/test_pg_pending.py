"""The import queue and the file index on PostgreSQL, where the contract tests cannot reach: the daemons of two
hosts on one database each see and change only their own files, and the index each loads holds only its own
host's, read a chunk at a time while writes go on."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from store_backends import STAT, dsn_fixture, hosts_fixture, sha  # noqa: F401  (the fixtures `dsn` and `hosts`)

from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.postgres import file_index as pg_file_index
from hikaze_mm.store.postgres.store import PostgresStore
from hikaze_mm.store.records import FileStat, HashRecord, Promotion

OTHER = FileStat(20, 2, 3, 4)
PATH = "/m/loras/a.safetensors"


def _record(sha256: str, stat: FileStat = STAT) -> HashRecord:
    return HashRecord(sha256, sha256, stat, "ready", None, {"notes": "n"})


async def test_two_hosts_queue_the_same_path_apart(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    mine = await here.pending.add_pending(PATH, "a.safetensors", "loras", STAT)
    theirs = await there.pending.add_pending(PATH, "a.safetensors", "loras", OTHER)
    assert mine.id != theirs.id
    assert await here.pending.pending_by_path(PATH) == mine
    assert await there.pending.pending_by_path(PATH) == theirs
    # an id of the other host's is no row here, for reading or writing
    assert await here.pending.pending(theirs.id) is None
    assert await here.pending.pending_detail(theirs.id) is None
    assert await here.pending.pending_meta(theirs.id) is None
    assert await here.pending.pending_rows([mine.id, theirs.id]) == {mine.id: (mine, {})}
    assert set(await here.pending.pending_probes([mine.id, theirs.id])) == {mine.id}
    assert set(await here.pending.pending_cards([mine.id, theirs.id])) == {mine.id}
    assert not await here.pending.set_pending_meta(theirs.id, {"notes": "x"}, ["t"])
    assert await here.pending.set_pending_status(theirs.id, "ignored") is None
    assert await here.pending.record_hash(theirs.id, _record(sha("a"))) is None
    assert not await here.pending.delete_pending(theirs.id)
    assert await here.pending.move_pending(theirs.id, "/m/loras/b.safetensors", "b", "loras") is None
    assert await there.pending.pending(theirs.id) == theirs
    assert await there.pending.pending_tag_names(theirs.id) == []

    assert await here.pending.list_pending(None, None, 10, 0) == ([mine], 1)
    assert await there.pending.list_pending(None, None, 10, 0, folders=("/m/loras",)) == ([theirs], 1)
    added = await here.pending.add_pending_many([(PATH, "loras", OTHER), ("/m/vae/v.safetensors", "vae", OTHER)])
    assert [r.path for r in added] == ["/m/vae/v.safetensors"]
    assert await there.pending.add_pending_many([(PATH, "loras", STAT)]) == []


async def test_two_hosts_hash_and_look_up_only_their_own_files(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    mine = await here.pending.add_pending(PATH, "a.safetensors", "loras", STAT)
    theirs = await there.pending.add_pending(PATH, "a.safetensors", "loras", STAT)
    (marked,) = await here.pending.start_hashing([(PATH, OTHER)])
    assert marked.id == mine.id
    assert (await there.pending.pending(theirs.id)) == theirs
    assert await there.pending.pending_in_flight() == [theirs]
    assert await there.pending.start_hashing([(PATH, STAT)])
    assert await here.pending.reset_in_flight() == 1  # its own row only: the other host is still hashing
    hashing = await there.pending.pending(theirs.id)
    assert hashing is not None and hashing.status == "hashing"
    assert await here.pending.record_hashes([(theirs.id, _record(sha("a")))]) == []
    (recorded,) = await there.pending.record_hashes([(theirs.id, _record(sha("a")))])
    assert recorded.status == "ready"
    assert await here.pending.pending_twins(sha("a")) == [] and await here.pending.hashed_shas([sha("a")]) == {}
    assert await there.pending.pending_twins(sha("a")) == [recorded]
    assert await there.pending.hashed_shas([sha("a")]) == {sha("a"): 1}

    assert await here.files.known_paths([PATH, "/m/loras/b.safetensors"]) == {PATH}
    moved = await here.pending.move_pending(mine.id, "/m/loras/b.safetensors", "b.safetensors", "loras")
    assert moved is not None
    assert await here.files.known_paths([PATH]) == set()
    assert await there.files.known_paths([PATH]) == {PATH}
    assert await here.files.rows_for_file(STAT) == ([], [])
    assert (await there.files.rows_for_file(STAT))[0] == [recorded]
    # a move onto a path the other host has a row at replaces nothing of theirs
    assert await here.pending.move_pending(mine.id, PATH, "a.safetensors", "loras") is not None
    assert await there.pending.pending(theirs.id) == recorded


async def test_each_hosts_index_holds_its_own_files(hosts: tuple[PostgresStore, PostgresStore], dsn: str):
    here, there = hosts
    await here.pending.add_pending(PATH, "a.safetensors", "loras", STAT)
    await there.pending.add_pending(PATH, "a.safetensors", "loras", OTHER)
    await there.pending.add_pending("/m/vae/v.safetensors", "v.safetensors", "vae", OTHER)
    model = await _model(there, "/m/loras/m.safetensors", sha("e"))
    assert (await here.files.file_index()).pending == {PATH: (tuple(STAT), "settling")}
    index = await there.files.file_index()
    assert index.pending == {PATH: (tuple(OTHER), "settling"), "/m/vae/v.safetensors": (tuple(OTHER), "settling")}
    assert index.models_ok == {model.path: (sha("e"), tuple(STAT))}

    fresh = PostgresStore(dsn, "here", RULES)
    await fresh.open()
    try:
        assert await fresh.files.file_index() == await here.files.file_index()
    finally:
        await fresh.close()


async def test_the_index_loads_a_chunk_at_a_time_as_the_database_is(dsn: str, monkeypatch: pytest.MonkeyPatch):
    store = PostgresStore(dsn, "here", RULES)
    await store.open()
    try:
        rows = await store.pending.add_pending_many([(f"/m/loras/{i}.safetensors", "loras", STAT) for i in range(7)])
        await store.pending.set_pending_status(rows[3].id, "hashing", OTHER)
        await store.pending.delete_pending(rows[5].id)
        await _model(store, "/m/loras/m.safetensors", sha("e"))
        await _model(store, "/m/loras/n.safetensors", sha("f"))
        await store.models.set_model_missing(sha("f"))
        live = await store.files.file_index()
    finally:
        await store.close()

    monkeypatch.setattr(pg_file_index, "READ_CHUNK", 2)
    fresh = PostgresStore(dsn, "here", RULES)
    await fresh.open()
    try:
        loaded = await fresh.files.file_index()
    finally:
        await fresh.close()
    assert loaded == live
    assert len(loaded.pending) == 6 and loaded.pending[rows[3].path] == (tuple(OTHER), "hashing")
    assert loaded.models[sha("f")][2] == "missing"


@pytest.mark.parametrize("snapshot", ["before the writes", "after the writes"])
async def test_writes_while_the_index_loads_end_up_in_it(dsn: str, monkeypatch: pytest.MonkeyPatch, snapshot: str):
    """Whether the load's snapshot came before or after a write, the index ends up as the database is."""
    store = PostgresStore(dsn, "here", RULES)
    await store.open()
    kept = await store.pending.add_pending("/m/loras/kept.safetensors", "kept.safetensors", "loras", STAT)
    gone = await store.pending.add_pending("/m/loras/gone.safetensors", "gone.safetensors", "loras", STAT)
    model = await _model(store, "/m/loras/model.safetensors", sha("a"))
    await store.close()

    reading, written = asyncio.Event(), asyncio.Event()
    if snapshot == "before the writes":
        real_fetch = asyncpg.cursor.Cursor.fetch

        async def fetch(self: Any, n: int, **kwargs: Any) -> Any:
            rows = await real_fetch(self, n, **kwargs)  # the transaction's snapshot is taken
            if not reading.is_set():
                reading.set()
                await written.wait()
            return rows

        monkeypatch.setattr(asyncpg.cursor.Cursor, "fetch", fetch)

    store = PostgresStore(dsn, "here", RULES)
    if snapshot == "after the writes":
        real_read = store._index._read

        async def read() -> Any:
            reading.set()
            await written.wait()
            return await real_read()

        monkeypatch.setattr(store._index, "_read", read)
    await store.open()
    try:
        asked = asyncio.create_task(store.files.file_index())  # a walk asks: the index starts loading
        await reading.wait()
        await store.pending.set_pending_status(kept.id, "hashing")
        await store.pending.delete_pending(gone.id)
        added = await store.pending.add_pending("/m/vae/new.safetensors", "new.safetensors", "vae", STAT)
        await store.models.set_model_missing(model.sha256)
        other = await _model(store, "/m/loras/other.safetensors", sha("b"))
        await store.copies.move_copy("/m/loras/nowhere.safetensors", "/m/loras/x.safetensors", STAT)
        written.set()
        await asked
        index = await store.files.file_index()
    finally:
        written.set()
        await store.close()
    assert index.pending == {kept.path: (tuple(STAT), "hashing"), added.path: (tuple(STAT), "settling")}
    assert index.models == {model.sha256: (model.path, model.fingerprint, "missing"),
                            other.sha256: (other.path, other.fingerprint, "ok")}
    assert index.models_ok == {other.path: (other.sha256, other.fingerprint)}


async def _model(store: PostgresStore, path: str, sha256: str) -> Any:
    row = await store.pending.add_pending(path, path.rsplit("/", 1)[1], "loras", STAT)
    await store.pending.record_hash(row.id, HashRecord(sha256, sha256, STAT, "ready", None, {}))
    model, _ = await store.imports.promote(Promotion(row.id, sha256, "new", "m", "loras", "unknown", {}, path, STAT,
                                                     [], []))
    return model
