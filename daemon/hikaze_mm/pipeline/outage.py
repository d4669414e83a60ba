"""The library's database as the pipeline sees it: answering, or away, and what waits for it meanwhile.

A shared PostgreSQL server can go away while the daemon runs (a restart, the network, the machine it runs on). The
daemon keeps watching and walking; a decision about a file that cannot be written (`store.errors.StoreUnreachable`)
is parked here instead: its path, and the hash when the file had been read (a 20 GB checkpoint is not read twice).
While the database is known to be away, a decision is parked at once, without trying the server first.

What is parked is only the path: when the database answers again (`pipeline/catch_up.py`), each path is looked at
as it is then, so the order of the reports and how many there were does not matter; a file made and deleted
meanwhile is nothing. At most MAX_PARKED paths wait: one more and the queue is dropped and a walk of every folder is
owed instead, which finds everything the queue would have held (a walk compares fingerprints, and opens only new or
changed files). A walk that could not run for want of the database is owed in the same way.

`GET /api/status` shows the state as `database`; an SQLite store is never away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from hikaze_mm.pipeline.hashing import HashResult
from hikaze_mm.store.errors import StoreUnreachable

log = logging.getLogger(__name__)
MAX_PARKED = 100_000  # paths; a HashResult is about 1 KB with its header, the path a few hundred bytes


class Outage:
    def __init__(self, backend: str):
        self.backend = backend  # "sqlite" or "postgresql", for the status
        self.away = False
        self.since = time.time()  # when the current state began
        self.error: str | None = None  # why the database is away
        self.walk_owed = False
        self._parked: dict[str, HashResult | None] = {}
        self.replaying = 0  # parked decisions taken out and not written yet
        self._went_away = asyncio.Event()
        self.bound = MAX_PARKED  # read when the daemon starts: a test lowers the module's constant

    def __len__(self) -> int:
        return len(self._parked)

    def lost(self, error: StoreUnreachable) -> None:
        """The database did not answer: from now on decisions are parked until it does."""
        if self.away:
            return
        self.away, self.since, self.error = True, time.time(), str(error)
        log.warning("the library's database is unreachable (%s); the daemon keeps watching, keeps up to %d file "
                    "decisions in memory and tries the database again every few seconds", error, self.bound,
                    extra={"event": "database.lost"})
        self._went_away.set()

    def check(self) -> None:
        """Raises StoreUnreachable while the database is known to be away: what is about to be decided waits."""
        if self.away:
            raise StoreUnreachable(self.error or "the database is unreachable")

    async def wait_away(self) -> None:
        await self._went_away.wait()

    def back(self) -> None:
        """The database answers again; what was parked is taken out with `take`."""
        seconds = time.time() - self.since
        self.away, self.since, self.error = False, time.time(), None
        self._went_away.clear()
        log.info("the library's database answers again after %.0f s; catching up %d file decisions%s", seconds,
                 len(self._parked), " and a walk of every folder" if self.walk_owed else "",
                 extra={"event": "database.back", "files": len(self._parked), "duration_ms": round(seconds * 1000)})

    def park(self, path: str, result: HashResult | None = None) -> None:
        """A decision about `path` waits for the database; `result`: the file's hash, if it was read."""
        if self.walk_owed:
            return  # the walk looks at every file
        if path in self._parked:
            if result is not None:
                self._parked[path] = result
            return
        if len(self._parked) >= self.bound:
            log.warning("more than %d file decisions wait for the database: they are dropped, and every folder is "
                        "walked once it answers", self.bound, extra={"event": "database.queue_full"})
            self._parked.clear()
            self.walk_owed = True
            return
        self._parked[path] = result

    def owe_walk(self) -> None:
        """A walk of every folder is due once the database answers (what is parked is then looked at by it)."""
        self.walk_owed = True
        self._parked.clear()

    def take(self) -> dict[str, HashResult | None]:
        """Everything parked, in the order it came; the queue starts empty again."""
        parked, self._parked = self._parked, {}
        return parked

    def to_wire(self) -> dict[str, Any]:
        return {"backend": self.backend, "state": "unreachable" if self.away else "ok", "since": self.since,
                "error": self.error, "queued_decisions": len(self._parked) + self.replaying,
                "walk_owed": self.walk_owed}
