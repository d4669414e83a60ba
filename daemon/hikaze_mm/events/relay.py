"""Events between the daemons of a shared library: what this daemon publishes about the library goes out to the
others, and what they send comes in as `Relayed` events on this daemon's bus, so a page connected to any daemon
hears of a change made through any of them.

The relay knows nothing of how messages travel (PostgreSQL's NOTIFY, given as `send`); it decides what goes out
(the library's events: models and pending rows, not one host's hashing progress or walks), packs each as one
message small enough for the channel, and refuses anything malformed that comes in.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from hikaze_mm.events.bus import EventBus, Published
from hikaze_mm.events.catalog import Relayed

log = logging.getLogger(__name__)

SHARED_TYPES = frozenset({
    "pending.added", "pending.updated", "pending.removed",
    "model.added", "model.updated", "model.removed", "model.relinked", "model.moved", "model.missing",
    "models.used",
})
MAX_MESSAGE_BYTES = 7_900  # PostgreSQL's NOTIFY takes payloads under 8,000 bytes


class EventRelay:
    def __init__(self, bus: EventBus, host: str):
        self._bus = bus
        self.host = host
        # Each daemon hears its own messages too; this tells them apart from another daemon's on the same host.
        self.sender = f"{host}/{secrets.token_hex(6)}"

    async def run(self, send: Callable[[str], Awaitable[None]]) -> None:
        """Sends the library's events as they are published, until the bus closes."""
        with self._bus.subscribe() as sub:
            while (first := await sub.get()) is not None:
                for published in [first, *sub.waiting()]:
                    if published is None:
                        return
                    message = self.message(published)
                    if message is not None:
                        await send(message)

    def message(self, published: Published) -> str | None:
        """The message for an event of this daemon's that others should hear of, else None."""
        if isinstance(published.event, Relayed) or published.type not in SHARED_TYPES:
            return None
        message = json.dumps({"from": self.sender, "host": self.host, "type": published.type,
                              "data": published.data})  # ASCII: a name that is not UTF-8 stays \udcXX
        if len(message) > MAX_MESSAGE_BYTES:
            log.warning("a %s event is too large to tell the other daemons (%d bytes); their pages see the change "
                        "when they next read it", published.type, len(message), extra={"event": "relay.too_large"})
            return None
        return message

    def received(self, message: str) -> None:
        """Publishes another daemon's event on this bus; one's own and malformed messages are dropped."""
        try:
            parsed: Any = json.loads(message)
            sender, host, type_, data = parsed["from"], parsed["host"], parsed["type"], parsed["data"]
        except (ValueError, TypeError, KeyError):
            log.warning("dropped a malformed message from another daemon", extra={"event": "relay.malformed"})
            return
        if sender == self.sender:
            return
        if not (isinstance(host, str) and type_ in SHARED_TYPES and isinstance(data, dict)):
            log.warning("dropped a message from another daemon that is not a library event",
                        extra={"event": "relay.malformed"})
            return
        self._bus.publish(Relayed(type_, data, host))
