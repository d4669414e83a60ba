"""A clock for the settler that only a test moves, so its rules are checked in milliseconds instead of seconds.

`advance` steps from one wake-up the sleeper asked for to the next, as real time would, and returns once the
sleeper has done what was due and is asleep again: a test then sees exactly what a daemon would have done by then.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

# Real seconds the sleeper gets to finish a round (its stats run in a thread); only a broken settler comes near.
ROUND_DEADLINE_S = 10.0


@dataclass
class _Sleeper:
    deadline: float | None
    wake: asyncio.Event


class FakeClock:
    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0):
        self.now = start
        self._wall_offset = wall_start - start
        self._sleeper: _Sleeper | None = None
        self._asleep = asyncio.Event()
        # The task that sleeps on this clock: if it ends, `settled` says why instead of waiting out its deadline.
        self.sleeper_task: asyncio.Task[None] | None = None

    def time(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self._wall_offset

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        self._sleeper = _Sleeper(deadline, wake)
        self._asleep.set()
        try:
            if deadline is None or deadline > self.now:
                await wake.wait()
        finally:
            self._sleeper = None

    def deadline(self) -> float | None:
        """When the sleeper wants to be woken next (None: it waits for a `touch`)."""
        return self._sleeper.deadline if self._sleeper is not None else None

    async def settled(self) -> None:
        """Until the sleeper has nothing left to do at this time and is waiting to be woken."""

        async def asleep() -> None:
            while True:
                s = self._sleeper
                if s is not None and not s.wake.is_set() and (s.deadline is None or s.deadline > self.now):
                    return
                self._asleep.clear()
                await self._asleep.wait()

        waiter = asyncio.ensure_future(asyncio.wait_for(asleep(), ROUND_DEADLINE_S))
        task = self.sleeper_task
        await asyncio.wait({waiter} if task is None else {waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
            assert task is not None
            raise AssertionError("the sleeper ended instead of going back to sleep") from task.exception()
        waiter.result()

    async def advance(self, seconds: float) -> None:
        """Let `seconds` pass, waking the sleeper at every deadline on the way."""
        target = self.now + seconds
        await self.settled()
        while (s := self._sleeper) is not None and s.deadline is not None and s.deadline <= target:
            self.now = max(self.now, s.deadline)
            s.wake.set()
            await self.settled()
        self.now = target

    def stamp(self, path: Path, ago: float = 0.0) -> None:
        """Give the file the mtime a write `ago` seconds before now would have left."""
        ns = round((self.wall() - ago) * 1e9)
        os.utime(path, ns=(ns, ns))
