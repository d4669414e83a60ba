"""PostgreSQL's LISTEN/NOTIFY as a message channel between the daemons of a shared library.

One connection of its own (a pooled one could not keep listening), opened again with a growing pause when the
server goes away; messages sent while it is away are dropped (each page re-reads what it shows when its daemon
reconnects), never queued without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.postgres.database import connect

log = logging.getLogger(__name__)
CHANNEL = "hikaze_events"
RETRY_S = (0.5, 1, 2, 5, 10)


class Notifications:
    def __init__(self, url: str, received: Callable[[str], None]):
        self._url = url
        self._received = received
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        # How many connections it has opened: a lost one is only known to be replaced when this grows, since the
        # old one still looks open until the loss is noticed.
        self.connections = 0

    async def start(self) -> None:
        """Listens from now on (the first connection is made before this returns)."""
        await self._listen()
        self._task = asyncio.create_task(self._keep_listening(), name="notifications")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()

    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def send(self, message: str) -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        try:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as e:
            log.warning("could not tell the other daemons of a change: %s", e, extra={"event": "relay.lost"})
            self._lost.set()

    async def _listen(self) -> None:
        conn = await connect(self._url)
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn
        self.connections += 1
        self._lost.clear()
        self.listening.set()

    async def _keep_listening(self) -> None:
        while True:
            await self._lost.wait()
            self.listening.clear()
            await self._close()
            for attempt in itertools.count():
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                try:
                    await self._listen()
                    log.info("listening to the other daemons again", extra={"event": "relay.back"})
                    break
                except StoreUnreachable:
                    continue

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._received(payload)

    def _terminated(self, conn: Any) -> None:
        if conn is not self._conn:
            return  # one closed already (a late notice must not take down the connection that replaced it)
        log.warning("lost the connection that hears the other daemons; trying again", extra={"event": "relay.lost"})
        self._lost.set()
