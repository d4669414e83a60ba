"""The PostgreSQL database layer: `db migrate` makes and upgrades the schema, a daemon refuses any schema but its
own and says what to run, an unreachable server is one clear error without the password, and text that is not
UTF-8 survives the round trip."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest

from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.errors import SchemaMissing, SchemaTooNew, StoreUnreachable
from hikaze_mm.store.postgres.database import Database, migrate, safe_url
from hikaze_mm.store.postgres.migrations import MIGRATIONS, SCHEMA_VERSION
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.postgres.search import PgSearch
from hikaze_mm.store.records import ModelQuery
from pg_server import PgDatabase, PgServer, create_database, running_pg_server


async def test_migrate_creates_the_schema_once_and_then_finds_it_done(pg_database: PgDatabase) -> None:
    assert await migrate(pg_database.dsn) == (0, SCHEMA_VERSION)
    assert await migrate(pg_database.dsn) == (SCHEMA_VERSION, SCHEMA_VERSION)
    db = Database(pg_database.dsn)
    await db.open()
    try:
        assert await db.value("SELECT version FROM schema_version") == SCHEMA_VERSION
    finally:
        await db.close()


async def test_two_hosts_migrating_at_once_take_turns(pg_database: PgDatabase) -> None:
    done = await asyncio.gather(migrate(pg_database.dsn), migrate(pg_database.dsn))
    assert sorted(done) == [(0, SCHEMA_VERSION), (SCHEMA_VERSION, SCHEMA_VERSION)]


async def test_a_daemon_refuses_a_database_without_the_schema_and_names_the_command(pg_database: PgDatabase) -> None:
    db = Database(pg_database.dsn)
    with pytest.raises(SchemaMissing, match="hikaze-mm db migrate"):
        await db.open()
    conn = await pg_database.connect()
    try:
        assert await conn.fetchval("SELECT to_regclass('models')") is None  # the daemon made nothing
    finally:
        await conn.close()


async def test_a_newer_schema_is_refused_and_left_untouched(pg_database: PgDatabase) -> None:
    await migrate(pg_database.dsn)
    conn = await pg_database.connect()
    try:
        await conn.execute("UPDATE schema_version SET version = $1", SCHEMA_VERSION + 1)
        await conn.execute("CREATE TABLE from_the_future (x integer)")
        with pytest.raises(SchemaTooNew, match="left untouched"):
            await migrate(pg_database.dsn)
        with pytest.raises(SchemaTooNew, match="upgrade hikaze-mm"):
            await Database(pg_database.dsn).open()
        assert await conn.fetchval("SELECT version FROM schema_version") == SCHEMA_VERSION + 1
        assert await conn.fetchval("SELECT to_regclass('from_the_future')") is not None
    finally:
        await conn.close()


async def test_step_2_moves_each_models_search_text_into_its_row(pg_database: PgDatabase) -> None:
    """A library written at step 1 (its search text in `model_search`) is found by the same words after step 2,
    with its counts as they were and every trigger back on."""
    conn = await pg_database.connect()
    try:
        async with conn.transaction():
            await conn.execute(MIGRATIONS[0])
            await conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
            await conn.execute("INSERT INTO schema_version VALUES (1)")
        for n, name in enumerate(("Juggernaut XL", "Dreamshaper")):
            sha = f"{n:064x}"
            await conn.execute("INSERT INTO models (sha256, host, path, name, type, size_bytes, created_at, "
                               "updated_at) VALUES ($1, 'a', $2, $3, 'checkpoints', 1, 0, 0)",
                               sha, f"/m/{name}.safetensors", name)
            await conn.execute("INSERT INTO model_search (sha256, name, path, description) VALUES ($1, $2, $3, $4)",
                               sha, name, f"/m/{name}.safetensors", f"Description of {name}")
        tallied = await conn.fetch("SELECT * FROM model_tally ORDER BY 1, 2, 3, 4")
        assert await migrate(pg_database.dsn) == (1, SCHEMA_VERSION)
        assert await conn.fetchval("SELECT to_regclass('model_search')") is None
        assert await conn.fetch("SELECT * FROM model_tally ORDER BY 1, 2, 3, 4") == tallied
        assert await conn.fetchval("SELECT count(*) FROM pg_trigger WHERE tgenabled = 'D'") == 0
    finally:
        await conn.close()
    db = Database(pg_database.dsn)
    await db.open()
    try:
        search = PgSearch(PgContext(db, "a", RULES))
        for words, names in (("naut", ["Juggernaut XL"]), ("DESCRIPTION", ["Dreamshaper", "Juggernaut XL"])):
            assert [m["name"] for m in (await search.list_models(ModelQuery(q=words))).items] == names
    finally:
        await db.close()


async def test_an_unreachable_server_is_one_clear_error_without_the_password(pg_server: PgServer) -> None:
    url = f"postgresql://someone:s3cret-pw@/nowhere?host={pg_server.socket_dir}&port=1"
    for attempt in (Database(url).open(), migrate(url)):
        with pytest.raises(StoreUnreachable) as caught:
            await attempt
        assert "s3cret-pw" not in str(caught.value) and "cannot be used" in str(caught.value)


async def test_a_missing_database_is_unreachable_not_a_crash(pg_server: PgServer) -> None:
    with pytest.raises(StoreUnreachable, match="no_such_db"):
        await Database(pg_server.dsn("no_such_db")).open()


def test_a_url_is_shown_without_its_password() -> None:
    assert safe_url("postgresql://me:pw@db.lan:5433/lib") == "postgresql://me@db.lan:5433/lib"
    assert safe_url("postgresql://:pw@db.lan/lib") == "postgresql://db.lan/lib"
    assert safe_url("postgresql://me@db.lan/lib") == "postgresql://me@db.lan/lib"


async def test_text_that_is_not_utf8_comes_back_as_it_went(pg_database: PgDatabase) -> None:
    await migrate(pg_database.dsn)
    db = Database(pg_database.dsn)
    await db.open()
    name = "/m/loras/caf\udce9-\uef00-\x00.safetensors"  # PostgreSQL's text holds no NUL: it is escaped too
    try:
        async with db.write() as conn:
            await conn.execute("INSERT INTO chores (name) VALUES ($1)", name)
        assert await db.value("SELECT name FROM chores") == name
        record = {"path": name, "n": [1], "slash": "\\u0000", "nul": "\x00"}
        row = await db.one("SELECT $1::jsonb AS j, $1::jsonb ->> 'path' AS p", (record,))
        assert row["j"] == record and row["p"] == name
    finally:
        await db.close()


async def test_cached_counts_follow_a_write_by_another_daemon(pg_database: PgDatabase) -> None:
    await migrate(pg_database.dsn)
    here, there = Database(pg_database.dsn), Database(pg_database.dsn)
    await here.open()
    await there.open()
    try:
        count = "SELECT count(*) FROM chores"
        assert (await here.cached(count))[0][0] == 0
        async with there.write() as conn:
            await conn.execute("INSERT INTO chores (name) VALUES ('x')")
        assert (await here.cached(count))[0][0] == 1
    finally:
        await here.close()
        await there.close()


async def test_a_server_that_stops_answering_counts_as_away() -> None:
    """A frozen server (SIGSTOP: the connection stays open, nothing answers) does not hold a query for good."""
    with running_pg_server() as server:
        database = await create_database(server)
        await migrate(database.dsn)
        db = Database(database.dsn, command_timeout=1.0)
        await db.open()
        frozen = [server.pid, *children(server.pid)]
        try:
            for pid in frozen:
                signal_if_there(pid, signal.SIGSTOP)
            with pytest.raises(StoreUnreachable):
                await db.value("SELECT 1")
        finally:
            for pid in frozen:
                signal_if_there(pid, signal.SIGCONT)
        assert await db.value("SELECT 1") == 1
        await db.close()


def signal_if_there(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # a helper process of the server that has ended meanwhile
        os.kill(pid, sig)


def children(pid: int) -> list[int]:
    """The processes the postmaster started (its backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
