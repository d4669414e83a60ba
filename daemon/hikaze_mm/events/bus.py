"""An in-process event bus: the pipeline publishes, SSE clients (and tests) subscribe."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "pending.added", "pending.updated", "pending.removed", "model.relinked", "model.moved", "model.missing",
    "scan.progress", "hash.progress", "root.changed", "legacy.progress", "legacy.done",
)


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int):
        self._bus = bus
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    async def get(self) -> Event | None:
        """The next event; None once the bus is closed or this subscriber fell too far behind."""
        return await self.queue.get()

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

    def publish(self, type_: str, **data: Any) -> Event:
        event = Event(next(self._ids), type_, data)
        for sub in list(self._subs):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A stalled client must not grow memory without bound; it is told to reconnect and re-read.
                log.warning("an event subscriber fell %d events behind; dropping it", sub.queue.maxsize)
                sub.overflowed = True
                self._end(sub)
        return event

    def close(self) -> None:
        for sub in list(self._subs):
            self._end(sub)

    def _end(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
