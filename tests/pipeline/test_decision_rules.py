"""What a file event means, decided in-process against the real SQLite store on a temporary file, with the real
settler on a clock the test moves (README, "What it does": a known file is not read again, a move is not hashed
again, new or changed content is hashed, a vanished file's model keeps everything)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock

from conftest import Databases, digests, write_model
from hikaze_mm.config.roots import Root, RootSet
from hikaze_mm.events.bus import EventBus, Subscription
from hikaze_mm.library.metadata import RULES
from hikaze_mm.pipeline.decisions import DecisionLock, FileDecisions
from hikaze_mm.pipeline.settle import Settler
from hikaze_mm.pipeline.walk import stat_file
from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.postgres.store import PostgresStore
from hikaze_mm.store.records import FILE_GONE, FileStat, HashRecord, ModelRow, PendingRow, Promotion
from hikaze_mm.store.sqlite.store import SQLiteStore

SETTLE = 2.0


@dataclass
class World:
    """The decisions as the daemon wires them, minus the hashing: the settler's verdicts are written down."""

    models: Path
    clock: FakeClock
    store: Stores
    bus: EventBus
    sub: Subscription
    settler: Settler = field(init=False)
    decide: FileDecisions = field(init=False)
    stable: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def stable(path: str, st: FileStat) -> None:
            self.stable.append((path, self.clock.now))

        async def vanished(path: str) -> None:
            raise AssertionError(f"no file vanishes under the settler in these tests: {path}")

        self.settler = Settler(SETTLE, stable, vanished, self.clock)
        roots = RootSet([Root(str(self.models), None, "models_roots")])
        self.decide = FileDecisions(self.store, self.bus, roots, self.settler, DecisionLock())

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """What was published since the last call."""
        out = []
        while not self.sub.queue.empty():
            e = self.sub.queue.get_nowait()
            assert e is not None
            out.append((e.type, e.data))
        return out

    def file(self, rel: str, size: int = 4096, seed: bytes | None = None) -> str:
        """A model file written just now, by the test's clock."""
        path = write_model(self.models / rel, size, seed)
        self.clock.stamp(path)
        return str(path)

    async def row_at(self, path: str) -> PendingRow:
        row = await self.store.pending.pending_by_path(path)
        assert row is not None, f"no row at {path}"
        return row

    async def settled_row(self, path: str) -> PendingRow:
        """A new file, seen and past its quiet period: a settling row the hash intake would take now."""
        await self.decide.seen(path)
        await self.clock.advance(SETTLE)
        assert self.stable[-1] == (path, self.clock.now)
        row = await self.store.pending.pending_by_path(path)
        assert row is not None and row.status == "settling"
        return row

    async def ready_row(self, path: str) -> PendingRow:
        """A row hashed and ready, as the intake leaves it."""
        row = await self.settled_row(path)
        sha, b3 = digests(Path(path))
        hashed = await self.store.pending.record_hash(row.id, HashRecord(sha, b3, row.stat, "ready", None, {}))
        assert hashed is not None and hashed.status == "ready"
        return hashed

    async def model(self, path: str, *copies: str) -> ModelRow:
        """A model in the library at `path` (its other files as copies), as an import leaves it."""
        row = await self.ready_row(path)
        assert row.sha256 is not None
        model, _ = await self.store.imports.promote(Promotion(
            pending_id=row.id, sha256=row.sha256, mode="new", name="My favourite", type=row.type,
            base_model="unknown", meta_json={}, main_path=path, main_stat=row.stat,
            copies=[(c, s) for c in copies if (s := stat_file(c)) is not None], images=[],
        ))
        self.events()
        return model


@pytest.fixture
async def world(tmp_path: Path, databases: Databases) -> AsyncIterator[World]:
    url = await databases.url(tmp_path / "data")
    store: Stores = (SQLiteStore(tmp_path / "data" / "library.sqlite3", RULES) if url is None
                     else PostgresStore(url, socket.gethostname(), RULES))
    await store.open()
    bus = EventBus()
    for folder in ("loras", "checkpoints"):
        (tmp_path / "models" / folder).mkdir(parents=True)
    w = World(tmp_path / "models", FakeClock(), store, bus, bus.subscribe())
    w.clock.sleeper_task = w.settler.start()
    await w.clock.settled()
    yield w
    await w.settler.stop()
    await store.close()


# -- new, unchanged, changed ------------------------------------------------------------------------------------
async def test_a_new_file_becomes_a_settling_row_and_settles(world: World) -> None:
    path = world.file("loras/a.safetensors")
    seen_at = world.clock.now
    await world.decide.seen(path)
    row = await world.store.pending.pending_by_path(path)
    assert row is not None
    assert (row.status, row.type, row.name, row.stat) == ("settling", "loras", "a.safetensors", stat_file(path))
    assert world.events() == [("pending.added", {"id": row.id, "path": path, "status": "settling"})]
    assert path in world.settler
    await world.clock.advance(SETTLE)
    assert world.stable == [(path, seen_at + SETTLE)]


async def test_a_known_file_seen_again_unchanged_changes_nothing(world: World) -> None:
    """A walk or a spurious event about a file the store knows as it is: no write, no event, and its quiet period
    is not started again."""
    path = world.file("loras/a.safetensors")
    seen_at = world.clock.now
    await world.decide.seen(path)
    row = await world.store.pending.pending_by_path(path)
    world.events()
    await world.clock.advance(SETTLE / 2)
    await world.decide.seen(path)
    assert await world.store.pending.pending_by_path(path) == row
    assert world.events() == []
    await world.clock.advance(SETTLE / 2)
    assert world.stable == [(path, seen_at + SETTLE)]


async def test_a_ready_row_seen_again_unchanged_is_not_hashed_again(world: World) -> None:
    path = world.file("loras/a.safetensors")
    row = await world.ready_row(path)
    world.events()
    await world.decide.seen(path)
    assert await world.store.pending.pending_by_path(path) == row
    assert world.events() == [] and path not in world.settler


async def test_a_changed_file_settles_and_is_hashed_again(world: World) -> None:
    path = world.file("loras/a.safetensors")
    row = await world.ready_row(path)
    world.events()
    world.file("loras/a.safetensors", size=8192)
    changed_at = world.clock.now
    await world.decide.seen(path)
    again = await world.store.pending.pending_by_path(path)
    assert again is not None and again.id == row.id
    assert (again.status, again.sha256, again.stat) == ("settling", None, stat_file(path))
    assert world.events() == [("pending.updated", {"id": row.id, "path": path, "status": "settling"})]
    await world.clock.advance(SETTLE)
    assert world.stable[-1] == (path, changed_at + SETTLE)


async def test_a_row_left_settling_by_a_restart_settles_again(world: World) -> None:
    """The settler's memory is gone after a restart; the row says the file still has to settle."""
    path = world.file("loras/a.safetensors")
    await world.decide.seen(path)
    world.settler.forget(path)
    await world.decide.seen(path)
    assert path in world.settler


async def test_a_row_left_hashing_by_a_restart_settles_again(world: World) -> None:
    path = world.file("loras/a.safetensors")
    row = await world.settled_row(path)
    hashing = await world.store.pending.set_pending_status(row.id, "hashing")
    assert hashing is not None
    world.events()
    requeued_at = world.clock.now
    await world.decide.requeue(hashing)
    again = await world.store.pending.pending(row.id)
    assert again is not None and again.status == "settling"
    assert world.events() == [("pending.updated", {"id": row.id, "path": path, "status": "settling"})]
    await world.clock.advance(SETTLE)
    assert world.stable[-1] == (path, requeued_at + SETTLE)


async def test_files_a_walk_found_are_queued_together_and_settle(world: World) -> None:
    paths = [world.file(f"loras/walked{i}.safetensors") for i in range(3)]
    found_at = world.clock.now
    files = [(p, "loras", st) for p in paths if (st := stat_file(p)) is not None]
    await world.decide.seen_new(files)
    rows = [await world.row_at(p) for p in paths]
    assert [(r.status, r.stat) for r in rows] == [("settling", st) for _, _, st in files]
    assert world.events() == [("pending.added", {"id": r.id, "path": r.path, "status": "settling"}) for r in rows]
    await world.clock.advance(SETTLE)
    assert world.stable == [(p, found_at + SETTLE) for p in paths]


async def test_a_walk_resumes_rows_nothing_works_on(world: World) -> None:
    """After a restart, or for an error worth another try: a row in error whose file is unchanged settles again,
    one settling or hashing goes back to the settler, a ready one is left as it is."""
    error, settling, ready = (world.file(f"loras/{n}.safetensors") for n in ("error", "settling", "ready"))
    error_row = await world.settled_row(error)
    await world.store.pending.set_pending_error(error_row.id, "injected: unreadable", None)
    await world.decide.seen(settling)
    world.settler.forget(settling)
    ready_row = await world.ready_row(ready)
    world.events()
    resumed_at = world.clock.now
    for path in (error, settling, ready):
        await world.decide.resume(path)
    after = await world.row_at(error)
    assert (after.status, after.error) == ("settling", None)
    assert await world.store.pending.pending(ready_row.id) == ready_row
    assert world.events() == [("pending.updated", {"id": error_row.id, "path": error, "status": "settling"})]
    await world.clock.advance(SETTLE)
    assert sorted(world.stable[-2:]) == sorted([(error, resumed_at + SETTLE), (settling, resumed_at + SETTLE)])
    assert ready not in world.settler


async def test_files_outside_the_folders_or_not_model_files_are_not_rows(world: World, tmp_path: Path) -> None:
    ignored = [
        str(write_model(tmp_path / "elsewhere" / "loras" / "a.safetensors")),
        world.file("loras/readme.txt"),
        world.file("loras/.hidden.safetensors"),
        world.file("loras/.git/objects.safetensors"),
        world.file("loose.safetensors"),  # at the top of a models folder a file has no type
        world.file("loras/x.safetensors.part"),
    ]
    for path in ignored:
        await world.decide.seen(path)
    assert (await world.store.files.file_index()).pending == {}
    assert world.events() == [] and len(world.settler) == 0


async def test_a_file_gone_before_it_is_looked_at_is_not_a_row(world: World) -> None:
    path = world.file("loras/a.safetensors")
    os.unlink(path)
    await world.decide.seen(path)
    assert await world.store.pending.pending_by_path(path) is None and world.events() == []


# -- moves ------------------------------------------------------------------------------------------------------
async def test_a_renamed_ready_file_keeps_its_row_and_is_not_read_again(world: World) -> None:
    src = world.file("loras/a.safetensors")
    row = await world.ready_row(src)
    world.events()
    dest = str(world.models / "checkpoints" / "b.safetensors")
    os.rename(src, dest)
    await world.decide.moved(src, dest)
    moved = await world.store.pending.pending(row.id)
    assert moved is not None
    assert (moved.path, moved.name, moved.type, moved.status, moved.sha256) == (
        dest, "b.safetensors", "checkpoints", "ready", row.sha256)
    assert await world.store.pending.pending_by_path(src) is None
    assert world.events() == [("pending.updated", {"id": row.id, "path": dest, "status": "ready"})]
    assert dest not in world.settler and len(world.settler) == 0


async def test_a_file_renamed_while_settling_settles_at_its_new_name(world: World) -> None:
    src = world.file("loras/a.safetensors")
    await world.decide.seen(src)
    row = await world.store.pending.pending_by_path(src)
    await world.clock.advance(SETTLE / 2)
    dest = str(world.models / "loras" / "b.safetensors")
    os.rename(src, dest)
    moved_at = world.clock.now
    await world.decide.moved(src, dest)
    assert src not in world.settler and dest in world.settler
    await world.clock.advance(SETTLE)
    assert world.stable == [(dest, moved_at + SETTLE)]
    assert (await world.row_at(dest)).id == row.id


async def test_a_file_moved_without_an_event_is_found_by_its_inode(world: World) -> None:
    """A move while the daemon was down, or one the watcher missed: the walk sees a new path whose device, inode,
    size and mtime are a known row's whose own path is empty."""
    src = world.file("loras/a.safetensors")
    row = await world.ready_row(src)
    world.events()
    dest = str(world.models / "loras" / "sub" / "a.safetensors")
    os.makedirs(os.path.dirname(dest))
    os.rename(src, dest)
    await world.decide.seen(dest)
    moved = await world.store.pending.pending(row.id)
    assert moved is not None and (moved.path, moved.status, moved.sha256) == (dest, "ready", row.sha256)
    assert world.events() == [("pending.updated", {"id": row.id, "path": dest, "status": "ready"})]
    assert len(world.settler) == 0


async def test_a_hard_link_is_another_file_not_a_move(world: World) -> None:
    src = world.file("loras/a.safetensors")
    row = await world.ready_row(src)
    world.events()
    link = str(world.models / "loras" / "link.safetensors")
    os.link(src, link)
    await world.decide.seen(link)
    assert await world.store.pending.pending(row.id) == row
    added = await world.store.pending.pending_by_path(link)
    assert added is not None and added.id != row.id and added.status == "settling"
    assert [t for t, _ in world.events()] == ["pending.added"]


async def test_a_moved_model_is_relinked_at_its_new_path_without_a_read(world: World) -> None:
    src = world.file("loras/a.safetensors")
    model = await world.model(src)
    dest = str(world.models / "loras" / "renamed.safetensors")
    os.rename(src, dest)
    await world.decide.moved(src, dest)
    after = await world.store.models.model(model.sha256)
    assert after is not None and (after.path, after.status, after.name) == (dest, "ok", "My favourite")
    assert world.events() == [("model.moved", {"sha256": model.sha256, "path": dest, "status": "ok",
                                               "old_path": src})]
    assert await world.store.pending.pending_by_path(dest) is None and len(world.settler) == 0


async def test_a_model_moved_while_nobody_watched_is_found_by_its_inode(world: World) -> None:
    src = world.file("loras/a.safetensors")
    model = await world.model(src)
    dest = str(world.models / "checkpoints" / "a.safetensors")
    os.rename(src, dest)
    await world.decide.seen(dest)
    after = await world.store.models.model(model.sha256)
    assert after is not None and (after.path, after.type, after.status) == (dest, "checkpoints", "ok")
    assert [t for t, _ in world.events()] == ["model.moved"]
    assert await world.store.pending.pending_by_path(dest) is None


async def test_a_renamed_folder_carries_every_known_file_below_it(world: World) -> None:
    ready = world.file("loras/styles/a.safetensors")
    settling = world.file("loras/styles/deep/b.safetensors")
    other = world.file("loras/c.safetensors")
    ready_row = await world.ready_row(ready)
    await world.decide.seen(settling)
    await world.decide.seen(other)
    settling_row = await world.row_at(settling)
    os.rename(world.models / "loras" / "styles", world.models / "loras" / "looks")
    await world.decide.moved_below(str(world.models / "loras" / "styles"), str(world.models / "loras" / "looks"))
    index = (await world.store.files.file_index()).pending
    looks = str(world.models / "loras" / "looks")
    assert sorted(index) == sorted([f"{looks}/a.safetensors", f"{looks}/deep/b.safetensors", other])
    assert (await world.store.pending.pending_by_path(f"{looks}/a.safetensors")) == \
        PendingRow(**{**ready_row.__dict__, "path": f"{looks}/a.safetensors"})
    assert (await world.row_at(f"{looks}/deep/b.safetensors")).id == settling_row.id
    assert f"{looks}/deep/b.safetensors" in world.settler and settling not in world.settler


async def test_a_partial_download_renamed_into_place_is_a_new_file(world: World) -> None:
    partial = world.file("loras/a.safetensors.part")
    await world.decide.seen(partial)
    final = str(world.models / "loras" / "a.safetensors")
    os.rename(partial, final)
    await world.decide.moved(partial, final)
    row = await world.store.pending.pending_by_path(final)
    assert row is not None and row.status == "settling" and final in world.settler
    assert [t for t, _ in world.events()] == ["pending.added"]


async def test_a_file_renamed_to_a_name_that_is_not_a_model_is_gone(world: World) -> None:
    src = world.file("loras/a.safetensors")
    row = await world.ready_row(src)
    world.events()
    dest = src + ".bak"
    os.rename(src, dest)
    await world.decide.moved(src, dest)
    assert await world.store.pending.pending(row.id) is None
    assert world.events() == [("pending.removed", {"id": row.id, "path": src})]


# -- vanished files ---------------------------------------------------------------------------------------------
async def test_a_vanished_files_row_is_removed(world: World) -> None:
    path = world.file("loras/a.safetensors")
    await world.decide.seen(path)
    row = await world.store.pending.pending_by_path(path)
    world.events()
    os.unlink(path)
    await world.decide.gone(path)
    assert row is not None and await world.store.pending.pending(row.id) is None
    assert world.events() == [("pending.removed", {"id": row.id, "path": path})]
    assert path not in world.settler
    await world.clock.advance(10 * SETTLE)
    assert world.stable == []


async def test_a_report_that_a_file_is_gone_while_it_is_there_changes_nothing(world: World) -> None:
    """The file was deleted and made again before the report was handled: its own event follows."""
    path = world.file("loras/a.safetensors")
    row = await world.ready_row(path)
    world.events()
    await world.decide.gone(path)
    assert await world.store.pending.pending(row.id) == row and world.events() == []


async def test_a_vanished_row_with_user_data_stays_as_an_error(world: World) -> None:
    """Tags or notes brought from the first version outlive the file: the row waits for it."""
    path = world.file("loras/a.safetensors")
    row = await world.ready_row(path)
    await world.store.pending.set_pending_meta(row.id, {"description": "hand written"}, ["favourite"])
    world.events()
    os.unlink(path)
    await world.decide.gone(path)
    kept = await world.store.pending.pending(row.id)
    assert kept is not None and (kept.status, kept.error) == ("error", FILE_GONE)
    assert await world.store.pending.pending_tag_names(row.id) == ["favourite"]
    assert world.events() == [("pending.updated", {"id": row.id, "path": path, "status": "error"})]
    await world.decide.gone(path)
    assert world.events() == [], "said once"


async def test_a_vanished_models_file_marks_it_missing_and_keeps_it(world: World) -> None:
    path = world.file("loras/a.safetensors")
    model = await world.model(path)
    os.unlink(path)
    await world.decide.gone(path)
    after = await world.store.models.model(model.sha256)
    assert after is not None and (after.status, after.path, after.name) == ("missing", path, "My favourite")
    assert world.events() == [("model.missing", {"sha256": model.sha256, "path": path, "status": "missing"})]


async def test_a_missing_models_file_back_unchanged_is_relinked(world: World) -> None:
    path = world.file("loras/a.safetensors")
    model = await world.model(path)
    await world.store.models.set_model_missing(model.sha256)
    await world.decide.seen(path)
    after = await world.store.models.model(model.sha256)
    assert after is not None and after.status == "ok"
    assert world.events() == [("model.relinked", {"sha256": model.sha256, "path": path, "status": "ok"})]
    assert await world.store.pending.pending_by_path(path) is None and len(world.settler) == 0


async def test_a_model_whose_file_vanished_lives_on_in_its_copy(world: World) -> None:
    main = world.file("loras/a.safetensors")
    copy = world.file("checkpoints/a-copy.safetensors", seed=b"a.safetensors")
    model = await world.model(main, copy)
    os.unlink(main)
    await world.decide.gone(main)
    after = await world.store.models.model(model.sha256)
    assert after is not None and (after.path, after.type, after.status) == (copy, "checkpoints", "ok")
    assert await world.store.copies.copy_at(copy) is None
    assert world.events() == [("model.moved", {"sha256": model.sha256, "path": copy, "status": "ok",
                                               "old_path": main})]


async def test_a_vanished_copy_is_forgotten_and_the_model_stays(world: World) -> None:
    main = world.file("loras/a.safetensors")
    copy = world.file("loras/a-copy.safetensors", seed=b"a.safetensors")
    model = await world.model(main, copy)
    os.unlink(copy)
    await world.decide.gone(copy)
    assert await world.store.copies.copy_at(copy) is None
    assert await world.store.models.model(model.sha256) == model
    assert world.events() == []


async def test_a_library_models_file_unchanged_is_left_alone(world: World) -> None:
    path = world.file("loras/a.safetensors")
    copy = world.file("loras/a-copy.safetensors", seed=b"a.safetensors")
    model = await world.model(path, copy)
    await world.decide.seen(path)
    await world.decide.seen(copy)
    assert await world.store.models.model(model.sha256) == model
    assert (await world.store.files.file_index()).pending == {}
    assert world.events() == [] and len(world.settler) == 0


async def test_other_content_at_a_models_path_is_new_content(world: World) -> None:
    """The hash decides what it is; until then the model keeps its file."""
    path = world.file("loras/a.safetensors")
    model = await world.model(path)
    world.file("loras/a.safetensors", size=9000, seed=b"other")
    await world.decide.seen(path)
    row = await world.store.pending.pending_by_path(path)
    assert row is not None and row.status == "settling" and path in world.settler
    assert await world.store.models.model(model.sha256) == model


async def test_other_content_at_a_copys_path_is_no_longer_a_copy(world: World) -> None:
    path = world.file("loras/a.safetensors")
    copy = world.file("loras/a-copy.safetensors", seed=b"a.safetensors")
    await world.model(path, copy)
    world.file("loras/a-copy.safetensors", size=9000, seed=b"other")
    await world.decide.seen(copy)
    assert await world.store.copies.copy_at(copy) is None
    row = await world.store.pending.pending_by_path(copy)
    assert row is not None and row.status == "settling"


async def test_a_configured_folder_that_vanishes_whole_is_offline_not_emptied(world: World) -> None:
    """An unmounted share looks like a deleted folder; its files are judged by the walks once it is back."""
    kept = world.file("loras/a.safetensors")
    below = world.file("checkpoints/sub/b.safetensors")
    await world.decide.seen(kept)
    await world.decide.seen(below)
    world.events()
    offline = world.models.with_name("unmounted")
    os.rename(world.models, offline)
    await world.decide.gone_below(str(world.models))
    assert sorted((await world.store.files.file_index()).pending) == sorted([kept, below])
    assert world.events() == []
    os.rename(offline, world.models)
    os.unlink(below)
    await world.decide.gone_below(str(world.models / "checkpoints" / "sub"))
    assert sorted((await world.store.files.file_index()).pending) == [kept]
    assert [t for t, _ in world.events()] == ["pending.removed"]


# -- retry ------------------------------------------------------------------------------------------------------
async def test_a_retried_row_settles_again_and_one_whose_file_is_gone_stays_in_error(world: World) -> None:
    there, gone = world.file("loras/a.safetensors"), world.file("loras/b.safetensors")
    rows = [await world.settled_row(p) for p in (there, gone)]
    for row in rows:
        await world.store.pending.set_pending_error(row.id, "injected: unreadable", None)
    os.unlink(gone)
    world.events()
    retried_at = world.clock.now
    report = await world.decide.retry([rows[0].id, rows[1].id, 999_999])
    assert report["retried"] == [rows[0].id]
    assert [f["id"] for f in report["failed"]] == [rows[1].id, 999_999]
    assert (await world.row_at(there)).status == "settling"
    left = await world.store.pending.pending(rows[1].id)
    assert left is not None and (left.status, left.error) == ("error", FILE_GONE)
    await world.clock.advance(SETTLE)
    assert world.stable[-1] == (there, retried_at + SETTLE)
