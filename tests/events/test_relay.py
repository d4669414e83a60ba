"""Events between the daemons of a shared library, over a real PostgreSQL's NOTIFY: a library event published
on one daemon's bus reaches the other's as it went on the wire, nothing comes back to its sender, one host's
hashing progress stays local, malformed messages are dropped, and a lost connection is made again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from conftest import poll
from hikaze_mm.events.bus import EventBus, Published, Subscription
from hikaze_mm.events.catalog import HashProgressed, ModelsUsed, ModelUpdated, PendingAdded, Relayed
from hikaze_mm.events.relay import EventRelay
from hikaze_mm.library.usage import EVENT_MODELS
from hikaze_mm.store.postgres.notify import Notifications
from hikaze_mm.store.records import MAX_INTEGER
from pg_server import PgDatabase

DEADLINE_S = 30


@dataclass
class Daemon:
    bus: EventBus
    relay: EventRelay
    notifications: Notifications
    task: asyncio.Task[None]


async def _daemon(url: str, host: str) -> Daemon:
    bus = EventBus()
    relay = EventRelay(bus, host)
    notifications = Notifications(url, relay.received)
    await notifications.start()
    return Daemon(bus, relay, notifications, asyncio.create_task(relay.run(notifications.send)))


@pytest.fixture
async def pair(pg_database: PgDatabase) -> AsyncIterator[tuple[Daemon, Daemon]]:
    a, b = await _daemon(pg_database.dsn, "host-a"), await _daemon(pg_database.dsn, "host-b")
    yield a, b
    for d in (a, b):
        d.bus.close()
        await d.task
        await d.notifications.stop()


async def _next_relayed(sub: Subscription) -> Published:
    async with asyncio.timeout(DEADLINE_S):
        while True:
            published = await sub.get()
            assert published is not None
            if isinstance(published.event, Relayed):
                return published


async def test_a_library_event_reaches_the_other_daemon_as_it_went(pair: tuple[Daemon, Daemon]) -> None:
    a, b = pair
    with a.bus.subscribe() as on_a, b.bus.subscribe() as on_b:
        a.bus.publish(HashProgressed(1, "/m/loras/x.safetensors", 10, 100))  # one host's progress: stays there
        a.bus.publish(PendingAdded(7, "/m/loras/caf\udce9.safetensors", "settling"))
        a.bus.publish(ModelUpdated("a" * 64))
        first, second = await _next_relayed(on_b), await _next_relayed(on_b)
        assert (first.type, first.data) == ("pending.added", {"id": 7, "path": "/m/loras/caf\udce9.safetensors",
                                                              "status": "settling"})
        assert (second.type, second.data) == ("model.updated", {"sha256": "a" * 64})
        assert isinstance(second.event, Relayed) and second.event.host == "host-a"
        # B's own event goes to A, and is the first relayed event A sees: its own never came back to it.
        b.bus.publish(ModelUpdated("b" * 64))
        back = await _next_relayed(on_a)
        assert back.data == {"sha256": "b" * 64}


async def test_the_models_used_reach_the_other_daemon_in_events_that_fit_a_message(
        pair: tuple[Daemon, Daemon]) -> None:
    a, b = pair
    # As long as an event of them gets: the largest counts, times with every digit.
    used = [{"sha256": f"{i:064x}", "use_count": MAX_INTEGER, "last_used_at": 1765000000.1234567}
            for i in range(EVENT_MODELS)]
    with b.bus.subscribe() as on_b:
        a.bus.publish(ModelsUsed(models=used))
        relayed = await _next_relayed(on_b)
        assert (relayed.type, relayed.data) == ("models.used", {"models": used})


async def test_malformed_messages_are_dropped(pair: tuple[Daemon, Daemon]) -> None:
    a, b = pair
    with b.bus.subscribe() as on_b:
        for bad in ("not json", "[]", '{"from": "x", "host": "h", "type": "scan.progress", "data": {}}',
                    '{"from": "x", "host": "h", "type": "model.updated", "data": []}'):
            await a.notifications.send(bad)
        a.bus.publish(ModelUpdated("c" * 64))
        assert (await _next_relayed(on_b)).data == {"sha256": "c" * 64}


async def test_a_lost_connection_is_made_again(pair: tuple[Daemon, Daemon], pg_database: PgDatabase) -> None:
    a, b = pair
    made = [d.notifications.connections for d in pair]
    admin = await pg_database.connect()
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid != pg_backend_pid()")
    finally:
        await admin.close()

    # The old connections look open until their loss is noticed: a NOTIFY sent on one then reaches nobody, so
    # "listening again" means on a connection made since.
    async def listening_again() -> bool:
        return all(d.notifications.connections > before and d.notifications.listening.is_set()
                   and d.notifications.connected() for d, before in zip(pair, made, strict=True))

    await poll(listening_again, "both daemons listening again", DEADLINE_S)
    with b.bus.subscribe() as on_b:
        a.bus.publish(ModelUpdated("d" * 64))
        assert (await _next_relayed(on_b)).data == {"sha256": "d" * 64}
