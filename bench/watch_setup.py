"""Time to start watching a big tree: `Watcher.watch` (which lists the tree, learns how many inotify watches fit
on a descriptor of its own, schedules watchdog and checks the kernel's list of watches) against watchdog's bare
recursive schedule of the same tree, on the same machine in the same run.

The planning is what lets a watch limit too low for the tree degrade to `partial` with every watchdog version;
this shows what it costs when the limit is not reached (the usual case). Linux only (inotify, /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from hikaze_mm.pipeline.watch import EVENT_FILTER, Watcher

GOAL = 3.0  # planned set-up / bare recursive schedule, medians


def make_tree(root: Path, top: int, middle: int, leaves: int) -> int:
    for a in range(top):
        for b in range(middle):
            for c in range(leaves):
                (root / "loras" / f"set{a:03d}" / f"sub{b:03d}" / f"leaf{c:03d}").mkdir(parents=True)
    return 2 + top + top * middle + top * middle * leaves


def bare(root: str) -> float:
    started = time.perf_counter()
    observer = Observer()
    observer.schedule(FileSystemEventHandler(), root, recursive=True, event_filter=EVENT_FILTER)
    observer.start()
    took = time.perf_counter() - started
    observer.stop()
    observer.join()
    return took


def planned(root: str, loop: asyncio.AbstractEventLoop) -> float:
    watcher = Watcher(lambda _event: None, "native", 10.0)
    started = time.perf_counter()
    watch = watcher.watch(root, loop)
    took = time.perf_counter() - started
    mode = watch.mode if watch else "off"
    watcher.stop()
    if mode != "native":
        raise SystemExit(f"the tree was watched as {mode}, not native: is fs.inotify.max_user_watches too low?")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=40, help="first-level folders below models/loras")
    parser.add_argument("--middle", type=int, default=25, help="folders in each of those")
    parser.add_argument("--leaves", type=int, default=20, help="folders in each of those")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hikaze-bench-watch-"))
    loop = asyncio.new_event_loop()
    try:
        folders = make_tree(tmp / "models", args.top, args.middle, args.leaves)
        root = str(tmp / "models")
        samples: dict[str, list[float]] = {"bare": [], "planned": []}
        for _ in range(args.rounds):  # alternated, so that a busy neighbour skews both sides alike
            samples["bare"].append(bare(root))
            samples["planned"].append(planned(root, loop))
        b, p = statistics.median(samples["bare"]), statistics.median(samples["planned"])
        print(f"{folders} folders, median of {args.rounds}: bare recursive schedule {b:.3f} s, "
              f"Watcher.watch {p:.3f} s ({os.cpu_count()} cores)")
        print(f"planned / bare = {p / b:.2f} (goal <= {GOAL:g})")
    finally:
        loop.close()
        shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
