"""A poll of an unchanged tree (`watch_mode = "polling"`, a network share) against a bare `os.scandir` of each of
its folders, on the same machine in the same run; the CPU polling costs, the interval it stretches to, and how soon
a new file is reported.

The timed poll is the daemon's own (`PollTree.poll`, what the polling observer's thread runs every interval); the
detection checks run the real `PollingObserver`. Linux only (a thread's own CPU clock).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.utils.dirsnapshot import DirectorySnapshot, DirectorySnapshotDiff

from hikaze_mm.pipeline import poll_tree
from hikaze_mm.pipeline.poll_observer import CPU_SHARE, PollingObserver
from hikaze_mm.pipeline.poll_tree import PollTree

GOAL_RATIO = 1.5  # a poll of the unchanged tree / a bare scandir of its folders, medians
FOLDERS, PER_FOLDER, PER_GROUP = 2000, 100, 50


def make_tree(models: Path, folders: int, per_folder: int) -> list[str]:
    """`models/loras/gNN/dNNNN/mNNN.safetensors`, 16-byte files; returns every folder of the tree, the top too."""
    out = [str(models), str(models / "loras")]
    for d in range(folders):
        group = models / "loras" / f"g{d // PER_GROUP:02d}"
        if d % PER_GROUP == 0:
            group.mkdir(parents=True)
            out.append(str(group))
        folder = group / f"d{d:04d}"
        folder.mkdir()
        out.append(str(folder))
        for f in range(per_folder):
            (folder / f"m{f:03d}.safetensors").write_bytes(b"%016d" % (d * per_folder + f))
    return out


def bare(folders: list[str]) -> float:
    """The least a poll can do to notice a new name: list every folder."""
    started = time.perf_counter()
    for folder in folders:
        with os.scandir(folder) as it:
            for _ in it:
                pass
    return time.perf_counter() - started


class Census:
    """Calls of some `os` functions while it is installed, and the base names stat'ed."""

    def __init__(self, *names: str):
        self.counts = dict.fromkeys(names, 0)
        self.stat_names: list[str] = []
        self._real = {n: getattr(os, n) for n in names}

    def __enter__(self) -> Census:
        for name, real in self._real.items():
            def counted(*a: Any, _real: Callable[..., Any] = real, _name: str = name, **kw: Any) -> Any:
                self.counts[_name] += 1
                if _name in ("lstat", "stat") and a and isinstance(a[0], str):
                    self.stat_names.append(os.path.basename(a[0]))
                return _real(*a, **kw)

            setattr(os, name, counted)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, real in self._real.items():
            setattr(os, name, real)


def watchdog_poll(root: str, before: DirectorySnapshot) -> tuple[float, DirectorySnapshot]:
    """What the polling observer did before: a snapshot that stats every file, and a diff."""
    started = time.perf_counter()
    after = DirectorySnapshot(root, recursive=True, stat=os.lstat)
    diff = DirectorySnapshotDiff(before, after)
    took = time.perf_counter() - started
    if len(diff):
        raise SystemExit(f"watchdog's snapshot saw changes in an unchanged tree: {diff}")
    return took, after


def thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds another thread of this process has used (its own clock, to the nanosecond)."""
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident or 0))


class Arrivals(FileSystemEventHandler):
    def __init__(self) -> None:
        self.at: dict[tuple[str, str], float] = {}
        self._cv = threading.Condition()

    def on_any_event(self, event: FileSystemEvent) -> None:
        with self._cv:
            self.at.setdefault((type(event).__name__, os.fsdecode(event.src_path)), time.monotonic())
            self._cv.notify_all()

    def wait(self, wanted: list[tuple[str, str]], timeout: float) -> float | None:
        """When the last of `wanted` arrived (monotonic), or None if not all did within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while not all(w in self.at for w in wanted):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)
            return max(self.at[w] for w in wanted)


def detection(tmp: Path, root: Path, interval: float, idle_polls: int) -> bool:
    """The real observer: idle CPU over a few intervals, then a new file, a file renamed in and a folder moved in,
    each timed from the change to its event. False if an event never came."""
    arrivals = Arrivals()
    observer = PollingObserver(timeout=interval)
    started = time.perf_counter()
    observer.schedule(arrivals, str(root), recursive=True)
    observer.start()
    took = time.perf_counter() - started
    print(f"  the observer's first picture of the tree (every file stat'ed once): {took:.2f} s")
    emitter = next(iter(observer.emitters))
    ok = True
    try:
        # the first poll after the picture lists every folder once more (its stamps were too young to trust)
        time.sleep(interval + poll_tree.STAMP_GRAIN_S)
        cpu0, t0 = thread_cpu(emitter), time.monotonic()
        time.sleep(interval * idle_polls)
        cpu, span = thread_cpu(emitter) - cpu0, time.monotonic() - t0
        print(f"  idle: the polling thread used {cpu:.2f} CPU-s in {span:.0f} s ({cpu / span:.2%} of a core; "
              f"goal <= {CPU_SHARE:.0%}); interval now {observer.interval():g} s (setting {interval:g} s)")
        outside = tmp / "outside"
        (outside / "incoming").mkdir(parents=True)
        for i in range(5):
            (outside / "incoming" / f"new{i}.safetensors").write_bytes(b"x" * 64)
        (outside / "renamed.safetensors").write_bytes(b"y" * 64)
        target = root / "loras" / "g01" / "d0057"
        checks: list[tuple[str, Callable[[], None], list[tuple[str, str]]]] = [
            ("a new file", lambda: (target / "new.safetensors").write_bytes(b"z" * 64),
             [("FileCreatedEvent", str(target / "new.safetensors"))]),
            ("a file renamed in", lambda: (outside / "renamed.safetensors").rename(target / "renamed.safetensors"),
             [("FileCreatedEvent", str(target / "renamed.safetensors"))]),
            ("a folder moved in", lambda: (outside / "incoming").rename(root / "loras" / "incoming"),
             [("DirCreatedEvent", str(root / "loras" / "incoming"))]
             + [("FileCreatedEvent", str(root / "loras" / "incoming" / f"new{i}.safetensors")) for i in range(5)]),
        ]
        for what, change, wanted in checks:
            changed = time.monotonic()
            change()
            arrived = arrivals.wait(wanted, timeout=3 * max(interval, observer.interval()) + 30)
            if arrived is None:
                print(f"  {what}: NOT REPORTED")
                ok = False
                continue
            latency = arrived - changed
            limit = observer.interval() + 1.0  # the wait, and the poll that finds it
            print(f"  {what}: reported after {latency:.2f} s (poll interval {observer.interval():g} s: "
                  f"{'within one interval' if latency <= limit else 'LATER than one interval'})")
    finally:
        observer.stop()
        observer.join()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help=f"{FOLDERS:,} folders of {PER_FOLDER} files, times this")
    parser.add_argument("--rounds", type=int, default=7, help="timed polls (and bare listings), alternated")
    parser.add_argument("--interval", type=float, default=10.0, help="the observer's poll_interval (the default)")
    parser.add_argument("--idle-polls", type=int, default=3, help="intervals over which the idle CPU is measured")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hikaze-bench-poll-"))
    try:
        root = tmp / "models"
        started = time.perf_counter()
        folders = make_tree(root, max(1, round(FOLDERS * args.scale)), PER_FOLDER)
        files = max(1, round(FOLDERS * args.scale)) * PER_FOLDER
        print(f"{files:,} files in {len(folders):,} folders, written in {time.perf_counter() - started:.0f} s "
              f"({os.cpu_count()} cores)")
        bare(folders)  # warms the dentry and inode caches for both sides

        tree = PollTree(str(root))
        started = time.perf_counter()
        tree.poll(report=False)
        print(f"first picture (lists every folder, stats every file once): {time.perf_counter() - started:.2f} s")
        time.sleep(poll_tree.STAMP_GRAIN_S)
        started = time.perf_counter()
        tree.poll()
        print(f"first poll (lists every folder once more, as their stamps were too young to trust): "
              f"{time.perf_counter() - started:.2f} s")

        with Census("lstat", "stat", "fstat", "scandir", "open") as census:
            events = tree.poll()
        n = census.counts
        print(f"one poll of the unchanged tree calls: open {n['open']:,}, fstat {n['fstat']:,}, "
              f"scandir {n['scandir']:,}, lstat/stat {n['lstat'] + n['stat']:,}")
        if events or census.counts["lstat"] or census.counts["stat"]:
            raise SystemExit(f"a poll of an unchanged tree stat'ed files or reported changes: {events[:5]}")

        samples: dict[str, list[float]] = {"bare": [], "poll": [], "cpu": []}
        with Census("lstat", "stat") as census:
            for _ in range(args.rounds):  # alternated, so that a busy neighbour skews both sides alike
                samples["bare"].append(bare(folders))
                cpu, started = time.thread_time(), time.perf_counter()
                events = tree.poll()
                samples["poll"].append(time.perf_counter() - started)
                samples["cpu"].append(time.thread_time() - cpu)
                if events:
                    raise SystemExit(f"a poll of an unchanged tree reported changes: {events[:5]}")
        if census.stat_names:
            raise SystemExit(f"the polls stat'ed {len(census.stat_names)} files, e.g. {census.stat_names[:5]}")
        b, p, c = (statistics.median(samples[k]) for k in ("bare", "poll", "cpu"))
        print(f"median of {args.rounds}: bare scandir of every folder {b * 1000:.1f} ms, poll {p * 1000:.1f} ms "
              f"({c * 1000:.1f} ms CPU), files stat'ed 0")
        print(f"poll / bare = {p / b:.2f} (goal <= {GOAL_RATIO:g})")
        stretched = max(args.interval, c / CPU_SHARE)
        print(f"CPU per poll {c * 1000:.1f} ms: every {args.interval:g} s that is {c / args.interval:.2%} of a core; "
              f"the interval would stretch past {args.interval:g} s only if a poll took over "
              f"{args.interval * CPU_SHARE * 1000:.0f} ms of CPU (now: {stretched:g} s, goal: polling <= "
              f"{CPU_SHARE:.0%} of a core)")

        old: list[float] = []
        snapshot = DirectorySnapshot(str(root), recursive=True, stat=os.lstat)
        for _ in range(3):
            took, snapshot = watchdog_poll(str(root), snapshot)
            old.append(took)
        o = statistics.median(old)
        print(f"before (watchdog's snapshot, every file stat'ed), median of 3: {o:.2f} s per poll, "
              f"{o / b:.1f}x the bare scandir, {o / p:.0f}x the poll now")

        print(f"the real observer, polling every {args.interval:g} s:")
        return 0 if detection(tmp, root, args.interval, args.idle_polls) else 1
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    raise SystemExit(main())
