"""Latency from a downloaded file's last write to its `pending.updated` ready event, less the settle period and
the hash itself: what the watcher, the settler, the queue and the store add. Goal: overhead < 0.5 s.

The daemon runs in this process with native watching; the file is written in chunks with pauses, like a download.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import MIB, verdict

from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings
from hikaze_mm.events.bus import Subscription

GOAL = 0.5
CHUNK = 8 * MIB


@dataclass
class Sample:
    name: str
    raw: float  # last write closed -> ready event received
    hash: float  # hashing event received -> ready event received

    def overhead(self, settle: float) -> float:
        return self.raw - settle - self.hash


def download(path: Path, size: int, pause: float) -> float:
    """Write like a slow download; the wall-clock time the last write was closed."""
    block = os.urandom(CHUNK)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, CHUNK)
            f.write(block[:n])  # larger than the buffer, so it reaches the file now, as a downloader's would
            left -= n
            if left:
                time.sleep(pause)
    return time.time()


async def wait_ready(sub: Subscription, path: str) -> tuple[float, float]:
    """Wall-clock receipt times of the path's `hashing` and `ready` events."""
    hashing_at: float | None = None
    while True:
        event = await sub.get()
        if event is None:
            raise RuntimeError("the event bus dropped this subscriber")
        if event.type != "pending.updated" or event.data.get("path") != path:
            continue
        status = event.data.get("status")
        if status == "hashing":
            hashing_at = time.time()
        elif status == "ready":
            if hashing_at is None:
                raise RuntimeError(f"{path} became ready without a hashing event")
            return hashing_at, time.time()
        elif status in ("conflict", "error"):
            raise RuntimeError(f"{path} ended {status}: {event.data}")


async def run(size: int, repeats: int, settle: float, pause: float, timeout: float, workdir: Path) -> None:
    models = workdir / "models"
    folder = models / "checkpoints"
    folder.mkdir(parents=True)
    settings = Settings(models_roots=[models], data_dir=workdir / "data", settle_seconds=settle,
                        watch_mode="native", rescan_interval=0)
    service = App(settings)
    samples: list[Sample] = []
    with service.bus.subscribe() as sub:
        await service.start()
        try:
            await service.drain()  # the start-up walk of the empty folder, out of the way
            for i in range(repeats):
                path = folder / f"big{i}.safetensors"
                # Listening starts before the first byte, so no event of this file can be missed.
                waiter = asyncio.create_task(wait_ready(sub, str(path)))
                last_write = await asyncio.to_thread(download, path, size, pause)
                hashing_at, ready_at = await asyncio.wait_for(waiter, timeout)
                samples.append(Sample(path.name, ready_at - last_write, ready_at - hashing_at))
        finally:
            await service.stop()

    print(f"settle latency: {size / MIB:.0f} MiB written in {CHUNK // MIB} MiB chunks, {pause * 1000:.0f} ms apart; "
          f"settle_seconds {settle:g}, native watching")
    print(f"  {'file':<20} {'raw':>8} {'settle':>8} {'hash':>8} {'overhead':>9}")
    for s in samples:
        print(f"  {s.name:<20} {s.raw:7.3f}s {settle:7.3f}s {s.hash:7.3f}s {s.overhead(settle):8.3f}s")
    worst = max(s.overhead(settle) for s in samples)
    print(f"  worst overhead {worst:.3f} s  goal < {GOAL} s: {verdict(worst < GOAL)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="file size in MiB (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="files written one after another (default 3)")
    parser.add_argument("--settle", type=float, default=1.0, help="settle_seconds of the daemon (default 1.0)")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between chunks (default 0.02)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on a file after this (default 120)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-settle-", dir="/tmp"))
    try:
        asyncio.run(run(args.size * MIB, args.repeats, args.settle, args.pause, args.timeout, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
