"""A part of the daemon that works in one task of its own, from the daemon's start to its stop."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod


class Background(ABC):
    task_name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def _run(self) -> None:
        """The part's work, until it is cancelled."""

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._run(), name=self.task_name)
        return self._task

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
