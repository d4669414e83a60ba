"""The polling observer: a real observer on real folders. An unchanged tree costs no stat of a file and no listing
of a folder; creations, deletions, renames and folder moves come as the events a native watcher gives; nothing is
reported gone on a guess; a file changed in place is left to the safety-net walk.

A test knows that polls have happened by the events of files it drops in (`Seen.settle`): no sleeps.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog.events import FileSystemEvent, FileSystemEventHandler

from conftest import Databases, digests, poll, write_model
from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings
from hikaze_mm.pipeline import poll_observer, poll_tree
from hikaze_mm.pipeline.poll_observer import PollingObserver
from hikaze_mm.pipeline.poll_tree import PollTree
from hikaze_mm.pipeline.watch import Watch

DEADLINE_S = 20.0
INTERVAL_S = 0.05


class Seen(FileSystemEventHandler):
    """The events an observer delivered, as (kind, path, dest) relative to the polled folder."""

    def __init__(self, root: Path):
        self.root = root
        self.events: list[tuple[str, str, str]] = []
        self._cv = threading.Condition()
        self._sentinels = 0

    def on_any_event(self, event: FileSystemEvent) -> None:
        def rel(p: str | bytes) -> str:
            return os.path.relpath(os.fsdecode(p), self.root) if p else ""

        with self._cv:
            self.events.append((type(event).__name__, rel(event.src_path), rel(event.dest_path)))
            self._cv.notify_all()

    def wait_for(self, *wanted: tuple[str, str, str]) -> None:
        deadline = time.monotonic() + DEADLINE_S
        with self._cv:
            while not all(w in self.events for w in wanted):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {wanted}; seen: {self.events}")
                self._cv.wait(left)

    def settle(self, polls: int = 4) -> None:
        """Drop a file in and wait for its event, `polls` times: each is found by a later poll than the last, so
        whatever changed before this was called has been reported, a held deletion included."""
        for _ in range(polls):
            self._sentinels += 1
            name = f"sentinel-{self._sentinels}"
            (self.root / name).write_bytes(b"")
            self.wait_for(("FileCreatedEvent", name, ""))

    def changes(self) -> list[tuple[str, str, str]]:
        return [e for e in self.events if not e[1].startswith("sentinel-")]


@pytest.fixture
def watch() -> Iterator[Callable[[Path], Seen]]:
    observers: list[PollingObserver] = []

    def start(root: Path) -> Seen:
        observer = PollingObserver(timeout=INTERVAL_S)
        seen = Seen(root)
        observer.schedule(seen, str(root), recursive=True)
        observer.start()
        observers.append(observer)
        return seen

    yield start
    for observer in observers:
        observer.stop()
        observer.join(timeout=5)


def tree(root: Path, folders: int = 20, files: int = 5) -> set[str]:
    names = set()
    for d in range(folders):
        for f in range(files):
            name = f"model-{d:02d}-{f}.safetensors"
            write_model(root / f"dir{d:02d}" / name, size=64)
            names.add(name)
    return names


class Calls:
    """The arguments of every call of some `os` functions, from any thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *names: str):
        self.args: dict[str, list[object]] = {n: [] for n in names}
        for name in names:
            real = getattr(os, name)

            def counted(*a, _real=real, _name=name, **kw):
                self.args[_name].append(a[0] if a else None)
                return _real(*a, **kw)

            monkeypatch.setattr(os, name, counted)

    def named(self, names: set[str], *functions: str) -> list[str]:
        return [str(a) for f in functions for a in self.args[f]
                if isinstance(a, str | bytes) and os.path.basename(os.fsdecode(a)) in names]


def test_an_unchanged_tree_is_polled_without_a_stat_of_any_file(watch, tmp_path: Path, monkeypatch):
    names = tree(tmp_path / "nas")
    seen = watch(tmp_path / "nas")
    calls = Calls(monkeypatch, "lstat", "stat")
    seen.settle()
    assert calls.named(names, "lstat", "stat") == []
    assert seen.changes() == []


def test_a_folder_whose_stamps_did_not_move_is_not_listed_again(watch, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(poll_tree, "STAMP_GRAIN_S", 0.0)  # every listing is sure at once: no second look
    tree(tmp_path / "nas")
    an_hour_ago = time.time_ns() - 3600 * 10**9
    for folder in (tmp_path / "nas").iterdir():  # so that the change below moves the stamps on a coarse clock too
        os.utime(folder, ns=(an_hour_ago, an_hour_ago))
    seen = watch(tmp_path / "nas")
    calls = Calls(monkeypatch, "scandir")
    (tmp_path / "nas" / "dir07" / "new.safetensors").write_bytes(b"x")
    seen.wait_for(("FileCreatedEvent", "dir07/new.safetensors", ""))
    assert len(calls.args["scandir"]) == 1, "only the folder that changed is listed"


@pytest.mark.parametrize("by_fd", [True, False], ids=["folders-by-descriptor", "folders-by-path (Windows)"])
def test_changes_come_as_the_events_of_a_native_watcher(watch, tmp_path: Path, monkeypatch, by_fd: bool):
    monkeypatch.setattr(poll_tree, "_BY_FD", by_fd)
    root = tmp_path / "nas"
    tree(root, folders=3, files=2)
    (root / "dir02" / "deep").mkdir()
    write_model(root / "dir02" / "deep" / "inside.safetensors", size=64)
    outside = tmp_path / "elsewhere"
    write_model(outside / "incoming" / "a.safetensors", size=64)
    write_model(outside / "incoming" / "sub" / "b.safetensors", size=64)
    write_model(outside / "single.safetensors", size=64)
    seen = watch(root)

    write_model(root / "dir00" / "new.safetensors", size=64)
    seen.wait_for(("FileCreatedEvent", "dir00/new.safetensors", ""))
    (root / "dir00" / "model-00-0.safetensors").rename(root / "dir00" / "renamed.safetensors")
    (root / "dir00" / "model-00-1.safetensors").rename(root / "dir01" / "across.safetensors")
    (root / "dir01" / "model-01-0.safetensors").unlink()
    (outside / "single.safetensors").rename(root / "dir01" / "single.safetensors")
    seen.wait_for(("FileMovedEvent", "dir00/model-00-0.safetensors", "dir00/renamed.safetensors"),
                  ("FileMovedEvent", "dir00/model-00-1.safetensors", "dir01/across.safetensors"),
                  ("FileCreatedEvent", "dir01/single.safetensors", ""),
                  ("FileDeletedEvent", "dir01/model-01-0.safetensors", ""))
    (root / "dir02").rename(root / "dir01" / "moved-folder")
    (outside / "incoming").rename(root / "incoming")
    shutil.rmtree(root / "dir00")
    seen.wait_for(("DirMovedEvent", "dir02", "dir01/moved-folder"),
                  ("DirCreatedEvent", "incoming", ""), ("DirCreatedEvent", "incoming/sub", ""),
                  ("FileCreatedEvent", "incoming/a.safetensors", ""),
                  ("FileCreatedEvent", "incoming/sub/b.safetensors", ""),
                  ("DirDeletedEvent", "dir00", ""))
    seen.settle()
    # (a file caught between its creation and its first write is young, and reported modified once written)
    assert sorted(e for e in seen.changes() if e[0] != "FileModifiedEvent") == sorted([
        ("FileCreatedEvent", "dir00/new.safetensors", ""),
        ("FileMovedEvent", "dir00/model-00-0.safetensors", "dir00/renamed.safetensors"),
        ("FileMovedEvent", "dir00/model-00-1.safetensors", "dir01/across.safetensors"),
        ("FileCreatedEvent", "dir01/single.safetensors", ""),
        ("FileDeletedEvent", "dir01/model-01-0.safetensors", ""),
        # a folder moves as one: what is known below it goes along, nothing in it is reported gone or new
        ("DirMovedEvent", "dir02", "dir01/moved-folder"),
        ("DirCreatedEvent", "incoming", ""), ("DirCreatedEvent", "incoming/sub", ""),
        ("FileCreatedEvent", "incoming/a.safetensors", ""), ("FileCreatedEvent", "incoming/sub/b.safetensors", ""),
        ("DirDeletedEvent", "dir00", ""),
    ]), seen.changes()


def test_a_file_gone_from_the_tree_is_reported_a_poll_later_unless_it_turns_up(tmp_path: Path):
    root, outside = tmp_path / "nas", tmp_path / "elsewhere"
    tree(root, folders=2, files=1)
    outside.mkdir()
    polls = PollTree(str(root))
    polls.poll(report=False)
    (root / "dir00" / "model-00-0.safetensors").rename(outside / "away.safetensors")
    assert polls.poll() == [], "a name missing from a listing may be a move whose other half is not seen yet"
    (outside / "away.safetensors").rename(root / "dir01" / "back.safetensors")
    assert [(type(e).__name__, e.src_path, e.dest_path) for e in polls.poll()] == [
        ("FileMovedEvent", str(root / "dir00" / "model-00-0.safetensors"), str(root / "dir01" / "back.safetensors"))]
    (root / "dir01" / "back.safetensors").unlink()
    assert polls.poll() == []
    assert [(type(e).__name__, e.src_path) for e in polls.poll()] == [
        ("FileDeletedEvent", str(root / "dir01" / "back.safetensors"))]


def test_a_change_in_the_same_tick_as_a_listing_is_still_found(watch, tmp_path: Path, monkeypatch):
    """On a filesystem with coarse time stamps (FAT's two seconds, some shares) a file made in the same tick as the
    last listing leaves the folder's stamps as they were. Here the stamps never move at all."""
    real_fstat = os.fstat

    def frozen(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((*tuple(st)[:7], 0, 0, 0), {"st_mtime_ns": 0, "st_ctime_ns": 0})

    monkeypatch.setattr(os, "fstat", frozen)
    tree(tmp_path / "nas", folders=2, files=1)
    seen = watch(tmp_path / "nas")
    (tmp_path / "nas" / "dir01" / "same-tick.safetensors").write_bytes(b"x")
    seen.wait_for(("FileCreatedEvent", "dir01/same-tick.safetensors", ""))


def test_a_new_file_still_written_to_is_reported_changed(watch, tmp_path: Path):
    tree(tmp_path / "nas", folders=1, files=1)
    seen = watch(tmp_path / "nas")
    path = tmp_path / "nas" / "dir00" / "copying.safetensors"
    path.write_bytes(b"first half")
    seen.wait_for(("FileCreatedEvent", "dir00/copying.safetensors", ""))
    with path.open("ab") as f:
        f.write(b", second half after a pause")
    seen.wait_for(("FileModifiedEvent", "dir00/copying.safetensors", ""))


def test_the_polled_folder_gone_ends_its_watch(watch, tmp_path: Path):
    tree(tmp_path / "nas", folders=1, files=1)
    seen = watch(tmp_path / "nas")
    shutil.rmtree(tmp_path / "nas")
    seen.wait_for(("DirDeletedEvent", ".", ""))


def test_polling_slows_down_rather_than_take_more_than_its_share_of_a_core(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(poll_observer, "CPU_SHARE", 1e-9)  # any poll at all is too much
    tree(tmp_path / "nas", folders=2, files=1)
    observer = PollingObserver(timeout=INTERVAL_S)
    observer.schedule(Seen(tmp_path / "nas"), str(tmp_path / "nas"), recursive=True)
    observer.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while observer.interval() == INTERVAL_S:
            assert time.monotonic() < deadline, "the interval was never stretched"
            time.sleep(0.01)  # the deadline above bounds the wait
        assert observer.interval() > 100
        note = Watch(str(tmp_path / "nas"), str(tmp_path / "nas"), "polling", observer).note()
        stretched = f"polled every {observer.interval():.0f}s rather than 0.05s"
        assert note == f"{stretched}, so that polling takes at most 2% of a core", note
    finally:
        observer.stop()
        observer.join(timeout=5)


async def _row(svc: App, path: Path) -> dict | None:
    rows, _ = await svc.store.pending.list_pending(("ready",), None, 100, 0)
    return next((r.to_wire() for r in rows if r.path == str(path)), None)


async def _not_walking(svc: App) -> bool:
    return not svc.reconciler.running


async def test_a_file_changed_in_place_is_found_by_the_safety_net_walk(tmp_path: Path, models: Path, monkeypatch,
                                                                       databases: Databases):
    """An old file written in place does not stamp its folder, so no poll sees it: the walk every
    `rescan_interval` does. A poll sees it only while the file is young (test above)."""
    old = write_model(models / "loras" / "old.safetensors")
    svc = App(Settings(data_dir=tmp_path / "data", models_roots=[models], watch_mode="polling",
                       poll_interval=INTERVAL_S, settle_seconds=0.1, rescan_interval=0,
                       database_url=await databases.url(tmp_path / "data")))
    await svc.start()
    try:
        before = await poll(lambda: _row(svc, old), "the start-up walk to hash the file")
        with old.open("r+b") as f:
            f.write(b"changed in place")
        later = write_model(models / "loras" / "later.safetensors")
        await poll(lambda: _row(svc, later), "a poll to find a new file in the same folder")
        assert (await _row(svc, old)) == before, "the poll stat'ed a file it had no reason to"
        await poll(lambda: _not_walking(svc), "the start-up walk to end")
        await svc.reconciler.start()

        async def rehashed() -> dict | None:
            row = await _row(svc, old)
            return row if row is not None and row["sha256"] != before["sha256"] else None

        assert (await poll(rehashed, "the walk to find the change"))["sha256"] == digests(old)[0]
    finally:
        await svc.stop()
