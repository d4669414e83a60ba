"""WAL checkpoints in the background, on a connection of their own.

SQLite's own checkpoint runs inside the COMMIT of the write that takes the WAL past its limit, so a writer busy
with a first index spent a good part of its time copying pages back into the database file (and every decision
waiting for the writer waited with it). Here a passive checkpoint follows the writes in a thread of its own: it
copies what it can without blocking anybody. The writer's own checkpoint stays as a backstop at BACKSTOP_PAGES,
for a WAL that keeps growing because writes never pause (a WAL only starts over from its beginning once a
checkpoint has caught up with the last write); by then the background has copied nearly all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)
BACKSTOP_PAGES = 16384  # the writer checkpoints itself past this many pages (64 MiB of 4 KiB pages)
KEPT_WAL_BYTES = 4 * 1024 * 1024  # a WAL file that grew past this is cut back to it when it starts over
PAUSE_S = 0.25  # between two background checkpoints: a burst of small writes is copied a few times a second


class Checkpointer:
    def __init__(self, path: Path):
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._wrote = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last: tuple[int, int, int] | None = None  # (busy, pages in the WAL, pages copied) of the last one

    async def start(self) -> None:
        self._conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        await self._conn.execute("PRAGMA busy_timeout = 30000")
        self._task = asyncio.create_task(self._run(), name="checkpoints")

    def wrote(self) -> None:
        """A write committed: a checkpoint follows soon."""
        self._wrote.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        assert self._conn is not None
        while True:
            await self._wrote.wait()
            self._wrote.clear()
            try:
                ((busy, pages, copied),) = await self._conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
                self.last = (busy, pages, copied)
            except sqlite3.Error as e:  # the writer's own checkpoint is still there; the next write tries again
                log.warning("a background checkpoint of the database failed: %s", e, extra={
                    "event": "db.checkpoint_failed"})
            await asyncio.sleep(PAUSE_S)
