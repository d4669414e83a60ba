"""A shared PostgreSQL server lost while the daemon runs (issue 15): the daemon keeps watching, parks what it finds
in memory (up to a bound, past which it owes a walk), says so in `/api/status`, answers 503 where a request needs
the database, and catches up once the server is back, each file once; the ComfyUI nodes keep loading from the
paths they saved. Below the daemon, the store itself raises StoreUnreachable for every call while its server is away
and works again once it is back. Each test has a server of its own, which it stops and starts again on the same
data."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from store.store_backends import HOST, STAT, migrated_database

from comfy_stubs import Thing, import_pack, install
from conftest import Daemon, digests, poll, with_site, write_model
from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.postgres.store import PostgresStore
from pg_server import PgServer, running_pg_server, start_server, stop_server

UNREACHABLE = "the library's database is unreachable"
SMALL_QUEUE_SITE = """
from hikaze_mm.pipeline import outage

outage.MAX_PARKED = 3
"""
# The hash of a file named `gated...` is held once it is made, until the test creates the gate file: the test stops
# the database while the hash is in hand.
GATED_HASH_SITE = """
import asyncio
import os

from hikaze_mm.pipeline import hashing

_real_hash = hashing.HashPool.hash


async def _gated(self, path, *args, **kw):
    result = await _real_hash(self, path, *args, **kw)
    if os.path.basename(path).startswith("gated"):
        gate = os.environ["HIKAZE_TEST_HASH_GATE"]
        open(gate + ".reached", "w").close()
        while not os.path.exists(gate):
            await asyncio.sleep(0.02)  # the daemon's side of the gate: it waits for the test, which polls
    return result


hashing.HashPool.hash = _gated
"""


async def shared_daemon(daemon_factory: Callable[..., Awaitable[Daemon]], server: PgServer, models: Path,
                        *args: str, **kw: Any) -> Daemon:
    database = await migrated_database(server)
    d = await daemon_factory("--models-root", str(models), "--database-url", database.dsn, *args, **kw)
    await d.watching()
    return d


async def database_state(d: Daemon, state: str, **expected: Any) -> dict[str, Any]:
    """`/api/status` `database` once it is in `state` with the `expected` values."""
    async def reached() -> dict[str, Any] | None:
        db = (await d.get("/api/status"))["database"]
        return db if db["state"] == state and all(db[k] == v for k, v in expected.items()) else None

    return await poll(reached, f"the database to be {state} with {expected}")


async def refused(d: Daemon, path: str) -> None:
    """A request that needs the database answers 503, says why, and says when to ask again."""
    assert d.session is not None
    async with d.session.get(d.url + path) as resp:
        body = await resp.json()
        assert resp.status == 503, (path, resp.status, body)
        assert body["error"].startswith(UNREACHABLE) and "the daemon retries" in body["error"], body
        assert int(resp.headers["Retry-After"]) > 0


async def back(d: Daemon, server: PgServer) -> PgServer:
    """Start the server again and wait until the daemon has caught up with what waited for it."""
    server = await asyncio.to_thread(start_server, server)
    await database_state(d, "ok", queued_decisions=0, walk_owed=False)
    await d.wait_idle()
    return server


def still_running(d: Daemon) -> None:
    assert d.proc is not None and d.proc.poll() is None, d.log()
    assert "daemon.failed" not in d.log()


def once_each(rows: list[dict[str, Any]]) -> Counter[str]:
    counted = Counter(r["path"] for r in rows)
    assert max(counted.values(), default=1) == 1, counted
    return counted


async def test_the_store_raises_store_unreachable_while_its_server_is_away_and_works_again_after() -> None:
    with running_pg_server() as server:
        database = await migrated_database(server)
        store = PostgresStore(database.dsn, HOST, RULES)
        late = PostgresStore(database.dsn, HOST, RULES)  # its file index is first asked for while the server is away
        await store.open()
        await late.open()
        try:
            await store.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
            await asyncio.to_thread(stop_server, server)
            calls: list[Callable[[], Awaitable[Any]]] = [
                store.ping, store.search.counts, late.files.file_index,
                lambda: store.pending.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", STAT),
                lambda: store.pending.pending_by_path("/m/loras/a.safetensors"),
            ]
            for call in calls:
                with pytest.raises(StoreUnreachable, match=str(server.folder)):
                    await call()

            server = await asyncio.to_thread(start_server, server)

            async def answers() -> bool:
                try:
                    await store.ping()
                except StoreUnreachable:
                    return False  # a pooled connection the server closed is found closed, and made again
                return True

            await poll(answers, "the store to answer again")
            assert (await store.search.counts())["pending"]["settling"] == 1
            index = await late.files.file_index()  # loaded now, with what was written before
            assert index.known("/m/loras/a.safetensors") and not index.known("/m/loras/b.safetensors")
        finally:
            await late.close()
            await store.close()


async def test_files_found_while_the_database_is_away_wait_and_are_written_once_it_is_back(
    daemon_factory: Callable[..., Awaitable[Daemon]], models: Path
) -> None:
    with running_pg_server() as server:
        d = await shared_daemon(daemon_factory, server, models)
        kept = write_model(models / "loras" / "kept.safetensors")
        moving = write_model(models / "checkpoints" / "moving.safetensors")
        left = write_model(models / "vae" / "left.safetensors")
        kept_sha, moving_sha = await d.import_files(kept, moving)
        await d.wait_row(left)
        assert (await d.get("/api/status"))["database"]["state"] == "ok"

        await asyncio.to_thread(stop_server, server)
        new = [write_model(models / "loras" / f"new-{i}.safetensors") for i in range(5)]
        new.append(write_model(models / "checkpoints" / "bigger.safetensors", size=3 * 1024 * 1024))
        left.unlink()
        moved = moving.with_name("moved.safetensors")
        moving.rename(moved)
        parked = len(new) + 3  # the new files, the deleted one, the moved one's two paths
        down = await database_state(d, "unreachable", queued_decisions=parked, walk_owed=False)
        assert down["backend"] == "postgresql" and str(server.folder) in down["error"]
        await refused(d, "/api/models")
        await refused(d, "/api/pending")
        await refused(d, f"/api/models/{kept_sha}/path")
        status = await d.get("/api/status")  # it answers, with the counts it read last
        assert status["counts"]["models"] == 2 and status["queues"] == {"settling": 0, "hashing": 0, "queued": 0}

        await back(d, server)
        rows = await d.ready_rows(*new)
        assert [r["sha256"] for r in rows] == [digests(p)[0] for p in new]
        assert set(once_each(await d.pending())) == {str(p) for p in new}  # `left` is gone with its file
        assert (await d.get(f"/api/models/{moving_sha}/path"))["path"] == str(moved)
        models_now = (await d.get("/api/models?status=all"))["models"]
        assert {(m["sha256"], m["status"]) for m in models_now} == {(kept_sha, "ok"), (moving_sha, "ok")}
        assert (await d.get("/api/status"))["session"]["files_hashed"] == 3 + len(new)
        still_running(d)


async def test_a_queue_past_its_bound_is_dropped_and_a_walk_catches_up(
    daemon_factory: Callable[..., Awaitable[Daemon]], models: Path, tmp_path: Path
) -> None:
    with running_pg_server() as server:
        d = await shared_daemon(daemon_factory, server, models, env=with_site(tmp_path, SMALL_QUEUE_SITE))
        left = write_model(models / "vae" / "left.safetensors")
        await d.wait_row(left)
        await d.wait_idle()
        walks = (await d.get("/api/status"))["last_scan"]["started_at"]

        await asyncio.to_thread(stop_server, server)
        new = [write_model(models / "loras" / f"new-{i}.safetensors") for i in range(8)]
        left.unlink()
        await database_state(d, "unreachable", queued_decisions=0, walk_owed=True)
        await refused(d, "/api/pending")
        assert "database.queue_full" in d.log()

        await back(d, server)
        assert (await d.get("/api/status"))["last_scan"]["started_at"] > walks  # the walk that was owed, done
        await d.ready_rows(*new)
        assert set(once_each(await d.pending())) == {str(p) for p in new}
        still_running(d)


async def test_a_hash_made_while_the_database_went_away_is_written_without_reading_the_file_again(
    daemon_factory: Callable[..., Awaitable[Daemon]], models: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    env = {**with_site(tmp_path, GATED_HASH_SITE), "HIKAZE_TEST_HASH_GATE": str(gate)}
    with running_pg_server() as server:
        d = await shared_daemon(daemon_factory, server, models, "--auto-import", "no_conflict", env=env)
        gated = write_model(models / "checkpoints" / "gated.safetensors", size=2 * 1024 * 1024)
        reached = gate.with_name("gate.reached")
        await poll(lambda: asyncio.to_thread(reached.exists), "the hash to be made")

        await asyncio.to_thread(stop_server, server)
        gate.touch()
        down = await database_state(d, "unreachable", queued_decisions=1)
        assert (await d.get("/api/status"))["session"]["files_hashed"] == 1
        assert down["walk_owed"] is False

        await back(d, server)
        sha256, blake3 = digests(gated)
        model = await d.get(f"/api/models/{sha256}")  # imported at once, as auto-import does
        assert (model["path"], model["blake3"]) == (str(gated), blake3)
        assert await d.pending() == []
        assert (await d.get("/api/status"))["session"]["files_hashed"] == 1  # not read again
        still_running(d)


async def test_a_daemon_whose_database_is_away_stops_cleanly(
    daemon_factory: Callable[..., Awaitable[Daemon]], models: Path
) -> None:
    with running_pg_server() as server:
        d = await shared_daemon(daemon_factory, server, models)
        await asyncio.to_thread(stop_server, server)
        write_model(models / "loras" / "waiting.safetensors")
        await database_state(d, "unreachable", queued_decisions=1)
        assert await asyncio.to_thread(d.terminate) == 0
        assert "daemon.stopped" in d.log()


async def test_the_nodes_load_from_saved_paths_while_the_database_is_away(
    daemon_factory: Callable[..., Awaitable[Daemon]], models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HIKAZE_MM_TOKEN", raising=False)
    comfy = install(monkeypatch, tmp_path / "ComfyUI")
    loader = import_pack(monkeypatch).NODE_CLASS_MAPPINGS["HikazeLoraPowerLoader"]
    with running_pg_server() as server:
        d = await shared_daemon(daemon_factory, server, models)
        lora = write_model(models / "loras" / "hero.safetensors")
        (sha,) = await d.import_files(lora)
        await d.call("PATCH", f"/api/models/{sha}", {"meta_json": {"trigger_words": ["hero"]}})
        monkeypatch.setenv("HIKAZE_MM_URL", d.url)

        def load(full_path: str) -> tuple[Any, Any, str]:
            payload = json.dumps({"version": 2, "loras": [{"full_path": full_path, "sha256": sha}]})
            return loader().load_loras(Thing("ckpt"), payload, Thing("clip"))

        assert (await asyncio.to_thread(load, str(lora)))[2] == "hero"  # the daemon answers: its trigger words
        await asyncio.to_thread(stop_server, server)

        model, _, words = await asyncio.to_thread(load, str(lora))
        assert model.patches == ((str(lora), 1.0),) and words == ""
        assert comfy.torch_loads[-1] == (str(lora), True)
        # A saved path that is gone: the daemon cannot say where the file went now, and the error says why.
        with pytest.raises(FileNotFoundError, match=f"answered HTTP 503: {UNREACHABLE}"):
            await asyncio.to_thread(load, str(tmp_path / "elsewhere" / "hero.safetensors"))
        still_running(d)


async def test_a_logged_in_page_still_reads_the_status_while_the_database_is_away(
    daemon_factory: Callable[..., Awaitable[Daemon]], models: Path
) -> None:
    with running_pg_server() as server:
        database = await migrated_database(server)
        d = await daemon_factory("--models-root", str(models), "--database-url", database.dsn, "--auth-token", "s3cret")
        assert d.session is not None
        async with d.session.post(d.url + "/api/session", json={"token": "s3cret"}) as resp:
            assert resp.status == 200
            cookie = {"Cookie": f"hikaze_mm_session={resp.cookies['hikaze_mm_session'].value}"}
        assert (await d.request("GET", "/api/status", headers=cookie))[0] == 200
        await asyncio.to_thread(stop_server, server)

        async def says_unreachable() -> dict[str, Any] | None:
            code, status = await d.request("GET", "/api/status", headers=cookie)
            assert code == 200, status  # the session the database said was valid is still taken
            return status if status["database"]["state"] == "unreachable" else None

        await poll(says_unreachable, "the status to say the database is away")
        # A session the daemon never saw cannot be checked until the database is back: no way in without it.
        code, body = await d.request("GET", "/api/status", headers={"Cookie": "hikaze_mm_session=" + "x" * 43})
        assert code == 503 and body["error"].startswith(UNREACHABLE), body
        still_running(d)
