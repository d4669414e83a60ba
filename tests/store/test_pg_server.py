"""The tests' own PostgreSQL (tests/pg_server.py): it answers, its test databases are apart, it listens on nothing but
its Unix socket, and it is gone after its session, even one that failed."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from pg_server import PgDatabase, PgServer, alive, create_database, drop_database, running_pg_server

LISTEN = "0A"  # the TCP state in /proc/net/tcp


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def listening_tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN:
                inodes.add(fields[9])
    return inodes


def unix_socket_inodes(path: Path) -> set[str]:
    inodes = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7] == str(path):
            inodes.add(fields[6])
    return inodes


async def test_the_server_answers(pg_server: PgServer) -> None:
    conn = await pg_server.connect()
    try:
        version = await conn.fetchval("SELECT version()")
    finally:
        await conn.close()
    assert version.startswith("PostgreSQL ")


async def test_the_dsn_reaches_the_test_database(pg_database: PgDatabase) -> None:
    conn = await asyncpg.connect(pg_database.dsn)
    try:
        assert await conn.fetchval("SELECT current_database()") == pg_database.name
    finally:
        await conn.close()


async def test_two_test_databases_are_apart(pg_database: PgDatabase, pg_server: PgServer) -> None:
    other = await create_database(pg_server)
    try:
        assert other.name != pg_database.name
        first = await pg_database.connect()
        second = await other.connect()
        try:
            await first.execute("CREATE TABLE models (sha256 text PRIMARY KEY)")
            await first.execute("INSERT INTO models VALUES ('aa')")
            assert await second.fetchval("SELECT to_regclass('models')") is None
            await second.execute("CREATE TABLE models (sha256 text PRIMARY KEY)")
            assert await second.fetchval("SELECT count(*) FROM models") == 0
            assert await first.fetchval("SELECT count(*) FROM models") == 1
        finally:
            await first.close()
            await second.close()
    finally:
        await drop_database(other)
    conn = await pg_server.connect()
    try:
        names = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()
    assert other.name not in names
    assert pg_database.name in names


async def test_it_listens_on_its_unix_socket_only(pg_server: PgServer) -> None:
    conn = await pg_server.connect()
    try:
        assert await conn.fetchval("SHOW listen_addresses") == ""
    finally:
        await conn.close()
    held = socket_inodes(pg_server.pid)
    # The check sees the server's sockets at all: its Unix socket is one of them.
    assert unix_socket_inodes(pg_server.socket_dir / f".s.PGSQL.{pg_server.port}") & held
    assert not held & listening_tcp_inodes()


def test_the_server_is_stopped_and_deleted_after_a_failed_session() -> None:
    with pytest.raises(RuntimeError, match="a test failed"), running_pg_server() as server:
        pid, folder = server.pid, server.folder
        assert alive(pid)
        raise RuntimeError("a test failed")
    assert not alive(pid)
    assert not folder.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_under_root_the_server_runs_as_postgres(pg_server: PgServer) -> None:
    assert Path(f"/proc/{pg_server.pid}").stat().st_uid != 0
    assert pg_server.folder.stat().st_uid != 0
