"""The event bus in process: what each event says on the wire, and how subscribers get events."""

from __future__ import annotations

import json

from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import (
    LegacyDone,
    ModelRelinked,
    ModelUpdated,
    PendingHashed,
    PendingRemoved,
    PendingUpdated,
    ScanProgressed,
)

SHA = "ab" * 32


def wire(event) -> str:
    """The JSON the event stream sends for the event, as the API builds it."""
    published = EventBus().publish(event)
    return json.dumps({"type": published.type, **published.data})


def test_fields_go_on_the_wire_in_declaration_order():
    assert wire(PendingRemoved(id=3, path="/m/a.safetensors")) == (
        '{"type": "pending.removed", "id": 3, "path": "/m/a.safetensors"}')


def test_a_field_that_defaults_to_none_is_left_out_while_none():
    assert wire(ModelUpdated(sha256=SHA)) == f'{{"type": "model.updated", "sha256": "{SHA}"}}'
    assert wire(ModelUpdated(sha256=SHA, path="/m/a", status="ok")) == (
        f'{{"type": "model.updated", "sha256": "{SHA}", "path": "/m/a", "status": "ok"}}')
    assert wire(ModelRelinked(sha256=SHA, path="/m/a", status="ok")) == (
        f'{{"type": "model.relinked", "sha256": "{SHA}", "path": "/m/a", "status": "ok"}}')
    assert wire(PendingUpdated(id=1, path="/m/a", status="conflict", sha256=SHA, conflict_sha256=SHA)) == (
        f'{{"type": "pending.updated", "id": 1, "path": "/m/a", "status": "conflict", "sha256": "{SHA}", '
        f'"conflict_sha256": "{SHA}"}}')


def test_a_field_without_a_default_is_sent_even_when_null():
    hashed = PendingHashed(id=1, path="/m/a", status="ready", sha256=SHA, blake3="cd", conflict_sha256=None,
                           size_bytes=4096)
    assert wire(hashed) == (
        f'{{"type": "pending.updated", "id": 1, "path": "/m/a", "status": "ready", "sha256": "{SHA}", '
        '"blake3": "cd", "conflict_sha256": null, "size_bytes": 4096}')
    scan = ScanProgressed(phase="walking", started_at=1.5, dirs=0, files=0, new_or_changed=0, gone=0, unreadable=0,
                          skipped=0, finished_at=None, error=None)
    assert json.loads(wire(scan)) == {
        "type": "scan.progress", "phase": "walking", "started_at": 1.5, "dirs": 0, "files": 0, "new_or_changed": 0,
        "gone": 0, "unreadable": 0, "skipped": 0, "finished_at": None, "error": None}


def test_legacy_done_is_the_last_progress_with_the_report():
    done = LegacyDone(id=1, state="done", source="/v1.sqlite3", images_dir=None, rows=2, done=2, started_at=1.0,
                      finished_at=2.0, error=None, report={"migrated": 2})
    assert list(json.loads(wire(done))) == [
        "type", "id", "state", "source", "images_dir", "rows", "done", "started_at", "finished_at", "error", "report"]


async def test_subscribers_get_every_event_numbered_in_order():
    bus = EventBus()
    with bus.subscribe() as first, bus.subscribe() as second:
        sent = [bus.publish(PendingRemoved(id=i, path=f"/m/{i}")) for i in range(3)]
        for sub in (first, second):
            got = [await sub.get() for _ in sent]
            assert got == sent
            assert [p.id for p in got if p is not None] == [1, 2, 3]
    assert bus.publish(PendingRemoved(id=9, path="/m/9")).id == 4  # nobody listens: numbered all the same


async def test_a_subscriber_that_falls_behind_is_dropped_and_told_so():
    bus = EventBus()
    with bus.subscribe(maxsize=2) as slow, bus.subscribe() as keeping_up:
        for i in range(3):
            bus.publish(PendingRemoved(id=i, path=f"/m/{i}"))
        assert await slow.get() is None  # its queue was emptied: it reconnects and reads afresh
        assert [(await keeping_up.get()).event.id for _ in range(3)] == [0, 1, 2]
        bus.close()
        assert await keeping_up.get() is None
