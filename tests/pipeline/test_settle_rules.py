"""The settler's rules on real files, with a clock the test moves: when a file counts as complete, and what holds
it back (README, "What it does": quiet for settle_seconds, size and mtime stable, no partial-download sibling)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fake_clock import FakeClock

from hikaze_mm.config.roots import PARTIAL_SUFFIXES
from hikaze_mm.pipeline.settle import DISK_FULL_RETRY_S, Settler
from hikaze_mm.pipeline.walk import stat_file
from hikaze_mm.store.errors import StorageFull
from hikaze_mm.store.records import FileStat

SETTLE = 2.0


@dataclass
class Rig:
    """A running settler whose verdicts are written down with the clock's time."""

    clock: FakeClock
    folder: Path
    settler: Settler = field(init=False)
    stable: list[tuple[str, FileStat, float]] = field(default_factory=list)
    vanished: list[tuple[str, float]] = field(default_factory=list)
    # Run inside the verdict for a path, before it is written down: what another part of the daemon may do then.
    during: dict[str, Callable[[], None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.settler = Settler(SETTLE, self._stable, self._vanished, self.clock)

    async def _stable(self, path: str, st: FileStat) -> None:
        if path in self.during:
            self.during.pop(path)()
        self.stable.append((path, st, self.clock.now))

    async def _vanished(self, path: str) -> None:
        self.vanished.append((path, self.clock.now))

    def write(self, name: str, size: int = 1000, ago: float = 0.0) -> Path:
        """A file as a finished write leaves it, stamped `ago` seconds before now."""
        path = self.folder / name
        path.write_bytes(b"x" * size)
        self.clock.stamp(path, ago)
        return path

    def stable_paths(self) -> list[str]:
        return [p for p, _, _ in self.stable]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(FakeClock(), tmp_path)
    r.clock.sleeper_task = r.settler.start()
    await r.clock.settled()
    yield r
    await r.settler.stop()


async def test_a_quiet_file_is_stable_settle_seconds_after_the_event(rig: Rig) -> None:
    path = rig.write("a.safetensors")
    start = rig.clock.now
    rig.settler.touch(str(path))
    assert str(path) in rig.settler and len(rig.settler) == 1
    await rig.clock.advance(SETTLE - 0.125)
    assert rig.stable == [] and str(path) in rig.settler
    await rig.clock.advance(0.125)
    assert rig.stable == [(str(path), stat_file(str(path)), start + SETTLE)]
    assert str(path) not in rig.settler and len(rig.settler) == 0
    await rig.clock.advance(10 * SETTLE)
    assert len(rig.stable) == 1, "a file is given once"


async def test_every_event_starts_the_quiet_period_again(rig: Rig) -> None:
    path = rig.write("growing.safetensors", size=100)
    rig.settler.touch(str(path))
    for size in (200, 300, 400):
        await rig.clock.advance(SETTLE * 0.75)
        rig.write("growing.safetensors", size=size)
        rig.settler.touch(str(path))
    last_event = rig.clock.now
    await rig.clock.advance(SETTLE - 0.125)
    assert rig.stable == []
    await rig.clock.advance(0.125)
    assert [(p, st.size, t) for p, st, t in rig.stable] == [(str(path), 400, last_event + SETTLE)]


async def test_a_file_stamped_long_ago_needs_one_quiet_period(rig: Rig) -> None:
    """A file a walk finds, or a copy that kept its mtime: its own mtime already vouches for the quiet."""
    path = rig.write("old.safetensors", ago=3600)
    start = rig.clock.now
    rig.settler.touch(str(path))
    await rig.clock.advance(SETTLE)
    assert rig.stable == [(str(path), stat_file(str(path)), start + SETTLE)]


@pytest.fixture
async def late_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A rig whose wall clock runs an hour ahead of the files' ctimes (which only the kernel sets): every file is
    an hour untouched, the way a walk finds most files of a library."""
    r = Rig(FakeClock(wall_start=time.time() + 3600), tmp_path)
    r.clock.sleeper_task = r.settler.start()
    await r.clock.settled()
    yield r
    await r.settler.stop()


async def test_a_file_a_walk_finds_long_untouched_is_stable_at_once(late_rig: Rig) -> None:
    path = late_rig.write("library.safetensors", ago=3600)
    start = late_rig.clock.now
    late_rig.settler.offer(str(path))
    await late_rig.clock.settled()
    assert late_rig.stable == [(str(path), stat_file(str(path)), start)], "no quiet period is waited for"
    assert str(path) not in late_rig.settler


async def test_a_file_a_walk_finds_with_a_fresh_ctime_settles_as_after_an_event(rig: Rig) -> None:
    """A copy that kept its source's old mtime (`cp -p`, rsync) still has a new ctime: it may be mid-copy."""
    path = rig.write("copied.safetensors", ago=3600)
    start = rig.clock.now
    rig.settler.offer(str(path))
    await rig.clock.settled()
    assert rig.stable == [] and str(path) in rig.settler
    await rig.clock.advance(SETTLE - 0.125)
    assert rig.stable == []
    await rig.clock.advance(0.125)
    assert rig.stable == [(str(path), stat_file(str(path)), start + SETTLE)]


async def test_a_file_a_walk_finds_beside_a_download_still_writing_waits_for_it(late_rig: Rig) -> None:
    path = late_rig.write("model.safetensors", ago=3600)
    partial = late_rig.write("model.safetensors.part", ago=3600)
    late_rig.settler.offer(str(path))
    await late_rig.clock.advance(10 * SETTLE)
    assert late_rig.stable == [] and str(path) in late_rig.settler
    partial.unlink()
    await late_rig.clock.advance(SETTLE)
    assert late_rig.stable_paths() == [str(path)]


async def test_a_walk_does_not_cut_short_a_quiet_period_an_event_started(late_rig: Rig) -> None:
    path = late_rig.write("written.safetensors", ago=3600)
    start = late_rig.clock.now
    late_rig.settler.touch(str(path))  # the watcher saw it written just now
    late_rig.settler.offer(str(path))
    await late_rig.clock.settled()
    assert late_rig.stable == []
    await late_rig.clock.advance(SETTLE)
    assert late_rig.stable == [(str(path), stat_file(str(path)), start + SETTLE)]


async def test_a_file_stamped_in_the_future_needs_two_looks_that_agree(rig: Rig) -> None:
    """An mtime that says nothing (a share whose clock runs ahead) is not trusted: two stats a period apart are."""
    path = rig.write("ahead.safetensors", ago=-3600)
    start = rig.clock.now
    rig.settler.touch(str(path))
    await rig.clock.advance(2 * SETTLE - 0.125)
    assert rig.stable == [] and str(path) in rig.settler
    await rig.clock.advance(0.125)
    assert rig.stable == [(str(path), stat_file(str(path)), start + 2 * SETTLE)]


async def test_looks_that_disagree_start_over(rig: Rig) -> None:
    """A change no event told of (a polled share, a lost inotify event) is caught by the stat itself."""
    path = rig.write("silent.safetensors", size=100, ago=-3600)
    start = rig.clock.now
    rig.settler.touch(str(path))
    await rig.clock.advance(SETTLE)  # the first look
    rig.write("silent.safetensors", size=500, ago=-3600)
    await rig.clock.advance(SETTLE)  # the second look sees another size
    assert rig.stable == []
    await rig.clock.advance(SETTLE)
    assert [(p, st.size, t) for p, st, t in rig.stable] == [(str(path), 500, start + 3 * SETTLE)]


async def test_a_write_the_watcher_missed_pushes_the_verdict_to_a_period_after_it(rig: Rig) -> None:
    path = rig.write("late.safetensors", size=100)
    start = rig.clock.now
    rig.settler.touch(str(path))
    await rig.clock.advance(SETTLE / 2)
    rig.write("late.safetensors", size=300)  # no touch: its event was lost
    await rig.clock.advance(SETTLE / 2)
    assert rig.stable == [], "its mtime is younger than a quiet period"
    await rig.clock.advance(SETTLE / 2 - 0.125)
    assert rig.stable == []
    await rig.clock.advance(0.125)
    assert [(p, st.size, t) for p, st, t in rig.stable] == [(str(path), 300, start + SETTLE / 2 + SETTLE)]


@pytest.mark.parametrize("suffix", PARTIAL_SUFFIXES)
async def test_a_download_still_writing_beside_the_file_holds_it_back(rig: Rig, suffix: str) -> None:
    path = rig.write("model.safetensors", ago=3600)
    partial = rig.write("model.safetensors" + suffix)
    rig.settler.touch(str(path))
    await rig.clock.advance(10 * SETTLE)
    assert rig.stable == [] and str(path) in rig.settler
    partial.unlink()  # no touch: the settler's own looks must notice
    gone_at = rig.clock.now
    await rig.clock.advance(SETTLE)
    assert rig.stable_paths() == [str(path)]
    assert gone_at < rig.stable[0][2] <= gone_at + SETTLE


async def test_partial_downloads_of_other_files_hold_nothing_back(rig: Rig) -> None:
    path = rig.write("model.safetensors", ago=3600)
    rig.write("other.safetensors.part")
    rig.write("model.part")  # a sibling is the file's own name with the suffix added
    rig.settler.touch(str(path))
    await rig.clock.advance(SETTLE)
    assert rig.stable_paths() == [str(path)]


async def test_a_file_gone_before_its_look_is_reported_vanished(rig: Rig) -> None:
    deleted = rig.write("deleted.safetensors")
    replaced = rig.write("replaced.safetensors")
    start = rig.clock.now
    rig.settler.touch(str(deleted))
    rig.settler.touch(str(replaced))
    deleted.unlink()
    replaced.unlink()
    replaced.mkdir()  # not a regular file any more
    await rig.clock.advance(SETTLE)
    assert sorted(rig.vanished) == [(str(deleted), start + SETTLE), (str(replaced), start + SETTLE)]
    assert rig.stable == [] and len(rig.settler) == 0


async def test_a_forgotten_file_gets_no_verdict(rig: Rig) -> None:
    kept, dropped = rig.write("kept.safetensors"), rig.write("dropped.safetensors")
    rig.settler.touch(str(kept))
    rig.settler.touch(str(dropped))
    await rig.clock.advance(SETTLE / 2)
    rig.settler.forget(str(dropped))
    dropped.unlink()
    await rig.clock.advance(5 * SETTLE)
    assert rig.stable_paths() == [str(kept)] and rig.vanished == []


async def test_a_file_put_back_for_later_is_looked_at_only_then(rig: Rig) -> None:
    path = rig.write("later.safetensors", ago=3600)
    start = rig.clock.now
    rig.settler.touch(str(path), wait=30)
    await rig.clock.advance(30 - 0.125)
    assert rig.stable == [] and str(path) in rig.settler
    await rig.clock.advance(0.125)
    assert [(p, t) for p, _, t in rig.stable] == [(str(path), start + 30)]


async def test_a_new_file_wakes_a_settler_asleep_until_a_later_deadline(rig: Rig) -> None:
    later, soon = rig.write("later.safetensors", ago=3600), rig.write("soon.safetensors")
    rig.settler.touch(str(later), wait=60)
    await rig.clock.advance(1)
    assert rig.clock.deadline() == rig.clock.now + 59
    rig.settler.touch(str(soon))
    touched = rig.clock.now
    await rig.clock.advance(SETTLE)
    assert [(p, t) for p, _, t in rig.stable] == [(str(soon), touched + SETTLE)]
    assert rig.clock.deadline() == touched + 59


async def test_a_file_touched_while_it_was_looked_at_waits_a_whole_period_again(rig: Rig) -> None:
    """Files due together are stat'ed together, then decided one by one: one that changed meanwhile is not
    given on the strength of a look taken before the change."""
    first, second = rig.write("first.safetensors"), rig.write("second.safetensors")
    start = rig.clock.now
    rig.settler.touch(str(first))
    rig.settler.touch(str(second))
    rig.during[str(first)] = lambda: rig.settler.touch(str(second))
    await rig.clock.advance(SETTLE)
    assert rig.stable_paths() == [str(first)]
    await rig.clock.advance(SETTLE)
    assert [(p, t) for p, _, t in rig.stable] == [(str(first), start + SETTLE), (str(second), start + 2 * SETTLE)]


async def test_a_file_forgotten_while_it_was_looked_at_gets_no_verdict(rig: Rig) -> None:
    first, second = rig.write("first.safetensors"), rig.write("second.safetensors")
    rig.settler.touch(str(first))
    rig.settler.touch(str(second))
    rig.during[str(first)] = lambda: rig.settler.forget(str(second))
    await rig.clock.advance(5 * SETTLE)
    assert rig.stable_paths() == [str(first)] and len(rig.settler) == 0


async def test_a_verdict_the_full_disk_refused_is_given_again_later(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """The settler goes on (a restarted daemon would meet the same full disk) and tries the file again."""
    refused, other = rig.write("refused.safetensors"), rig.write("other.safetensors")
    start = rig.clock.now

    def full() -> None:
        raise StorageFull("injected: the disk is full")

    rig.during[str(refused)] = full
    rig.settler.touch(str(refused))
    with caplog.at_level(logging.WARNING, logger="hikaze_mm.pipeline.settle"):
        await rig.clock.advance(SETTLE)
    assert rig.stable == [] and str(refused) in rig.settler
    assert [r.__dict__.get("event") for r in caplog.records if r.name == "hikaze_mm.pipeline.settle"] == [
        "pipeline.disk_full"]
    rig.settler.touch(str(other))
    await rig.clock.advance(SETTLE)
    assert rig.stable_paths() == [str(other)], "the settler went on"
    await rig.clock.advance(DISK_FULL_RETRY_S - SETTLE)
    assert [(p, t) for p, _, t in rig.stable][1:] == [(str(refused), start + SETTLE + DISK_FULL_RETRY_S)]


async def test_any_other_failure_of_a_verdict_ends_the_settler(rig: Rig) -> None:
    """The daemon cannot work without its settler: a bug here must end the task (the daemon then exits with 1),
    not leave files settling for ever."""
    path = rig.write("a.safetensors")

    def bug() -> None:
        raise RuntimeError("injected: a bug")

    rig.during[str(path)] = bug
    rig.settler.touch(str(path))
    with pytest.raises(AssertionError, match="ended"):
        await rig.clock.advance(SETTLE)
    task = rig.clock.sleeper_task
    assert task is not None and isinstance(task.exception(), RuntimeError)


async def test_files_settle_each_on_their_own_time(rig: Rig) -> None:
    paths = [rig.write(f"m{i}.safetensors", size=100 * (i + 1)) for i in range(5)]
    touched = {}
    for path in paths:
        rig.settler.touch(str(path))
        touched[str(path)] = rig.clock.now
        await rig.clock.advance(0.25)
    assert len(rig.settler) == 5
    await rig.clock.advance(SETTLE)
    assert [(p, t) for p, _, t in rig.stable] == [(str(p), touched[str(p)] + SETTLE) for p in paths]
    assert [st for _, st, _ in rig.stable] == [stat_file(str(p)) for p in paths]
    assert len(rig.settler) == 0
