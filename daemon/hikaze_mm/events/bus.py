"""An in-process event bus: the pipeline publishes, SSE clients (and tests) subscribe."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import Any

from hikaze_mm.events.catalog import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """An event as the subscribers get it: numbered in the order the bus took it (the SSE `id:`)."""

    id: int
    event: Event

    @property
    def type(self) -> str:
        return self.event.wire_type()

    @property
    def data(self) -> dict[str, Any]:
        return self.event.wire_data()


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int):
        self._bus = bus
        self.queue: asyncio.Queue[Published | None] = asyncio.Queue(maxsize)

    async def get(self) -> Published | None:
        """The next event; None once the bus is closed or this subscriber fell too far behind."""
        return await self.queue.get()

    def waiting(self) -> list[Published | None]:
        """The events queued now, taken without waiting: a slow consumer handles them as one batch."""
        taken: list[Published | None] = []
        while not self.queue.empty():
            taken.append(self.queue.get_nowait())
        return taken

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._ids = itertools.count(1)

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    def publish(self, event: Event) -> Published:
        published = Published(next(self._ids), event)
        for sub in list(self._subs):
            try:
                sub.queue.put_nowait(published)
            except asyncio.QueueFull:
                # A stalled client must not grow memory without bound; it is told to reconnect and re-read.
                log.warning("an event subscriber fell %d events behind; dropping it", sub.queue.maxsize)
                self._end(sub)
        return published

    def close(self) -> None:
        for sub in list(self._subs):
            self._end(sub)

    def _end(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
