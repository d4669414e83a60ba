"""The PostgreSQL database every part of the store works through, shared by the daemons of several machines.

A pool of connections; each write is one transaction that first takes one advisory lock, so writes from every
daemon on every host happen one after another, as SQLite's single writer makes them on one machine: a change that
reads what is stored and writes a result (an import's merge, an edit) cannot interleave with another one, and the
constraints (one model per sha256, one row per host and path) stand behind it. Reads never take the lock.

The schema is made and upgraded only by `hikaze-mm db migrate`, never by a daemon starting: an upgraded daemon on
one host must not change a schema that the daemons of the others still read. A daemon refuses a database whose
schema is not the one it was built for, and says what to run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from hikaze_mm.store.errors import SchemaMissing, SchemaTooNew, StorageFull, StoreUnreachable
from hikaze_mm.store.postgres.migrations import MIGRATIONS, SCHEMA_VERSION
from hikaze_mm.store.text import from_db_text, json_to_pg, to_pg

log = logging.getLogger(__name__)

# Any fixed number: the key of the one lock every write transaction of every daemon takes.
WRITE_LOCK = 0x48696B617A65  # "Hikaze"
MAX_CACHED_ANSWERS = 256
DISK_FULL = "53100"


def safe_url(url: str) -> str:
    """The URL as it may be shown or logged: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc))


def _encode_json(value: Any) -> str:
    return json_to_pg(json.dumps(value, ensure_ascii=False))


def _decode_json(text: str) -> Any:
    return json.loads(from_db_text(text), strict=False)


async def _setup(conn: asyncpg.Connection) -> None:
    """Text and JSON cross the boundary escaped as `store.text` says, so a path that is not UTF-8 survives; a
    list of texts goes as `jsonb` (asyncpg's arrays of text bypass these codecs) or through `texts()`."""
    await conn.set_type_codec("text", schema="pg_catalog", encoder=to_pg, decoder=from_db_text, format="text")
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=_encode_json, decoder=_decode_json,
                              format="text")


def texts(values: list[str]) -> list[str]:
    """A list of texts for a `text[]` argument, escaped as the text codec escapes one text."""
    return [to_pg(v) for v in values]


async def schema_version(conn: asyncpg.Connection) -> int:
    """0 for a database without our schema."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT version FROM schema_version"))


# What the server being away looks like: down, starting or shutting down, the network or the socket gone, the
# connection cut under a statement, the pool or a connection attempt timing out, and a server that refuses us (the
# database dropped, the password changed, no connection slot free).
_UNREACHABLE = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                asyncpg.AdminShutdownError, asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError,
                asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)
CONNECT_TIMEOUT_S = 10
# A statement that has not answered in this long: a server that stopped answering without closing the connection
# (a frozen host, a network that drops packets) counts as away, rather than holding a request or a decision for
# good. A write waiting its turn behind another daemon's takes seconds at most (`db copy` of 100,000 models holds
# the lock for about 80 s, into an empty library no daemon writes to).
COMMAND_TIMEOUT_S = 60.0
# asyncpg keeps statements prepared, and after five runs PostgreSQL may plan one for any argument: a search's plan
# then depends on the searches before it on that connection (a rare word's plan made a common one's 10x slower).
# Each run is planned for its own arguments.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def is_unreachable(error: BaseException) -> bool:
    """Whether `error` (from asyncpg or the socket under it) means that the server cannot be reached now, rather
    than that a statement is wrong: the one place that tells them apart, at start-up and while the daemon runs."""
    if isinstance(error, _UNREACHABLE):
        return True
    # asyncpg's own word for a connection the server closed under a pooled connection's feet
    return isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error)


def _why(error: BaseException) -> str:
    return str(error) or type(error).__name__


def unreachable(url: str, error: BaseException) -> StoreUnreachable:
    return StoreUnreachable(f"the database {safe_url(url)} cannot be used: {_why(error)}. Check that the server runs "
                            "and that this machine may connect (pg_hba.conf, ~/.pgpass)")


def lost(url: str, error: BaseException) -> StoreUnreachable:
    """The server went away while the daemon ran: the message names it (without its password) and why."""
    return StoreUnreachable(f"{safe_url(url)}: {_why(error)}")


async def connect(url: str) -> asyncpg.Connection:
    """One connection with our codecs, or StoreUnreachable."""
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except Exception as e:
        if not is_unreachable(e):
            raise
        raise unreachable(url, e) from None
    await _setup(conn)
    return conn


async def migrate(url: str) -> tuple[int, int]:
    """Creates or upgrades the schema, one transaction per step; (version before, version after). A newer schema
    is refused untouched. Two hosts migrating at once take turns (an advisory lock), the second finding it done."""
    conn = await connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", WRITE_LOCK + 1)
        before = await schema_version(conn)
        if before > SCHEMA_VERSION:
            raise SchemaTooNew(f"the database {safe_url(url)} has schema {before}, newer than this hikaze-mm "
                               f"knows ({SCHEMA_VERSION}); it was left untouched: upgrade hikaze-mm")
        if 0 < before < SCHEMA_VERSION:
            log.warning("upgrading the schema of %s from %d to %d; a backup first is one command: "
                        "pg_dump --format=custom --file=hikaze-before-%d.dump '%s'",
                        safe_url(url), before, SCHEMA_VERSION, SCHEMA_VERSION, safe_url(url))
        for number in range(before + 1, SCHEMA_VERSION + 1):
            async with conn.transaction():
                await conn.execute(MIGRATIONS[number - 1])
                if number == 1:
                    await conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
                    await conn.execute("INSERT INTO schema_version VALUES (1)")
                else:
                    await conn.execute("UPDATE schema_version SET version = $1", number)
        return before, max(before, SCHEMA_VERSION)
    finally:
        await conn.close()


class Database:
    def __init__(self, url: str, *, pool_size: int = 8, command_timeout: float = COMMAND_TIMEOUT_S):
        self.url = url
        self._pool_size = pool_size
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._answers: dict[tuple[str, tuple[Any, ...]], tuple[int, list[Any]]] = {}

    async def open(self) -> None:
        try:
            pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self._pool_size, init=_setup,
                                             timeout=CONNECT_TIMEOUT_S, server_settings=SERVER_SETTINGS,
                                             command_timeout=self._command_timeout)
        except Exception as e:
            if not is_unreachable(e):
                raise
            raise unreachable(self.url, e) from None
        try:
            async with pool.acquire() as conn:
                version = await schema_version(conn)
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(f"the database {safe_url(self.url)} has schema {version}, newer than this "
                                   f"hikaze-mm knows ({SCHEMA_VERSION}); it was left untouched: upgrade hikaze-mm")
            if version < SCHEMA_VERSION:
                what = "no schema" if version == 0 else f"schema {version}, older than this hikaze-mm's"
                raise SchemaMissing(f"the database {safe_url(self.url)} has {what} ({SCHEMA_VERSION}): run "
                                    f"`hikaze-mm db migrate` to {'create' if version == 0 else 'upgrade'} it")
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "store is not open"
        return self._pool

    @contextmanager
    def reaching(self) -> Iterator[None]:
        """Around every use of the pool: a server that is away raises StoreUnreachable (the pipeline queues what it
        decides meanwhile, the API answers 503), whatever asyncpg or the socket said."""
        try:
            yield
        except StoreUnreachable:
            raise
        except Exception as e:
            if is_unreachable(e):
                raise lost(self.url, e) from e
            raise

    async def ping(self) -> None:
        """A round trip to the server, or StoreUnreachable."""
        await self.value("SELECT 1")

    @asynccontextmanager
    async def write(self, library: bool = True) -> AsyncIterator[asyncpg.Connection]:
        """One logical change: all of it or none of it, after every earlier write of any daemon. A change that
        touches the library (`library=True`) moves the generation the cached counts of every daemon compare."""
        try:
            with self.reaching():
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                    yield conn
                    if library:
                        await conn.execute("UPDATE store_state SET generation = generation + 1")
        except asyncpg.PostgresError as e:
            if e.sqlstate == DISK_FULL:
                raise StorageFull("the change could not be saved: the disk under the PostgreSQL database is "
                                  "full; free some space there and try again") from e
            raise

    async def one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self.reaching():
            return await self.pool.fetchrow(sql, *args)

    async def all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self.reaching():
            return list(await self.pool.fetch(sql, *args))

    async def value(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self.reaching():
            return await self.pool.fetchval(sql, *args)

    async def cached(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Counts and tallies are taken once per state of the library: paging through a result asks for the same
        total again and again. The state is the database's generation, so another daemon's write counts too."""
        key = (sql, args)
        with self.reaching():
            return await self._cached(key)

    async def _cached(self, key: tuple[str, tuple[Any, ...]]) -> list[Any]:
        sql, args = key
        async with self.pool.acquire() as conn:
            generation = await conn.fetchval("SELECT generation FROM store_state")
            cached = self._answers.get(key)
            if cached is not None and cached[0] == generation:
                return cached[1]
            # The count and the generation from one snapshot, so a write between them cannot pair a stale count
            # with a new generation.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                generation = await conn.fetchval("SELECT generation FROM store_state")
                rows = list(await conn.fetch(sql, *args))
        if len(self._answers) > MAX_CACHED_ANSWERS:
            self._answers.clear()
        self._answers[key] = (generation, rows)
        return rows
