"""A reconcile of an unchanged library against a bare os.walk + os.stat of the same tree.

An unchanged file must cost a stat and a dictionary look-up, never a read: an audit hook counts every open of a
path under the models folder during the measured reconciles, and that count must be 0. Goal: ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import best_median, make_library, verdict, walk_and_stat

from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings

GOAL = 1.5


class OpenCounter:
    """Counts opens of paths below one folder while armed; audit hooks cannot be removed, so it is disarmed."""

    def __init__(self, folder: str):
        self.prefix = folder.rstrip(os.sep) + os.sep
        self.armed = False
        self.count = 0
        self.first: str | None = None

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed or event != "open":
            return
        target = args[0]
        if isinstance(target, int) or target is None:
            return  # an already open descriptor: its open was counted, or happened outside the window
        path = os.fsdecode(os.fspath(target))
        if path.startswith(self.prefix):
            self.count += 1
            self.first = self.first or path


async def run(folders: int, per_folder: int, size: int, rounds: int, workdir: Path) -> bool:
    models = workdir / "models"
    total = make_library(models, folders, per_folder, size)
    counter = OpenCounter(str(models))
    # Installed before any measuring, so the baseline pays the hook's per-event cost too.
    sys.addaudithook(counter)

    settings = Settings(models_roots=[models], data_dir=workdir / "data", settle_seconds=0, watch_mode="off",
                        rescan_interval=0)
    service = App(settings, watch=False)
    started = time.perf_counter()
    await service.start()
    await service.drain()
    import_s = time.perf_counter() - started
    ready = (await service.store.search.counts())["pending"]["ready"]
    if ready != total:
        await service.stop()
        print(f"the first import left {ready} of {total} files ready", file=sys.stderr)
        return False

    walk_times: list[float] = []
    scan_times: list[float] = []
    ok = True
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            seen = await asyncio.to_thread(walk_and_stat, str(models))
            walk_times.append(time.perf_counter() - start)
            if seen != total:
                print(f"the bare walk saw {seen} files, expected {total}", file=sys.stderr)
                ok = False

            counter.armed = True
            start = time.perf_counter()
            progress = await service.reconciler.start()
            scan_times.append(time.perf_counter() - start)
            counter.armed = False
            if progress.files != total or progress.new_or_changed or progress.gone:
                print(f"reconcile of an unchanged tree: files={progress.files} "
                      f"new_or_changed={progress.new_or_changed} gone={progress.gone}", file=sys.stderr)
                ok = False
    finally:
        await service.stop()

    walk_best, walk_median = best_median(walk_times)
    scan_best, scan_median = best_median(scan_times)
    ratio_median, ratio_best = scan_median / walk_median, scan_best / walk_best
    print(f"reconcile: {total} unchanged files in {folders} folders, {rounds} rounds")
    print(f"  first import (walk, settle, hash, file): {import_s:.1f} s = {total / import_s:,.0f} files/s")
    print(f"  os.walk + os.stat    best {walk_best * 1000:7.1f} ms   median {walk_median * 1000:7.1f} ms")
    print(f"  reconciler.start()   best {scan_best * 1000:7.1f} ms   median {scan_median * 1000:7.1f} ms")
    print(f"  ratio of medians {ratio_median:.2f}, of bests {ratio_best:.2f}  goal <= {GOAL}: "
          f"{verdict(ratio_median <= GOAL)}")
    print(f"  files opened under the models folder during the reconciles: {counter.count} (must be 0)"
          + (f", first {counter.first}" if counter.first else ""))
    return ok and counter.count == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=int, default=200, help="folders under models/loras (default 200)")
    parser.add_argument("--files", type=int, default=100, help="files per folder (default 100)")
    parser.add_argument("--size", type=int, default=64, help="bytes per file (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of walk/reconcile (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # the daemon logs a line per hashed file at info
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-reconcile-", dir="/tmp"))
    try:
        ok = asyncio.run(run(args.folders, args.files, args.size, args.rounds, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
