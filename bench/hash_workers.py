"""Hash throughput of the daemon's pool with its default hash_workers (auto) on a library in the page cache, against
the machine's two-core limit: two processes of hashlib.file_digest SHA-256 over the same files, in the same run.

The library: 160 files of 20-60 MiB and three of 2 GiB (about 12.4 GiB; `--scale` shrinks it for a small disk or
little memory). Every file is read once before timing, so the figures are of CPU, not of the disk. The pool gets its
worker count and its device locks exactly as the daemon does (plan_workers over the folder, the real mount table
and /sys), and is fed like the intake feeds it: as many tasks as workers, smallest files first. The same pool with
one worker is timed beside it. Goal: auto pool / two processes >= 0.8 (issue 13, goal 2).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import GIB, MIB, best_median, verdict

from hikaze_mm.config.settings import Settings
from hikaze_mm.pipeline.devices import Media, plan_workers
from hikaze_mm.pipeline.hashing import HashPool

GOAL = 0.8
BLOCK = 64 * MIB


def write_library(folder: Path, scale: float) -> list[Path]:
    rng = random.Random(13)
    sizes = [int(rng.randint(20 * MIB, 60 * MIB) * scale) for _ in range(160)] + [int(2 * GIB * scale)] * 3
    block = os.urandom(BLOCK)  # incompressible; each file starts with its own number, so every digest differs
    paths = []
    for i, size in enumerate(sizes):
        path = folder / f"model{i:03d}.safetensors"
        with open(path, "wb") as f:
            f.write(f"{i:016d}".encode())
            left = size - 16
            while left > 0:
                n = min(left, BLOCK)
                f.write(block[:n])
                left -= n
        paths.append(path)
    return paths


def sha256_of(path: str) -> tuple[str, str]:
    with open(path, "rb") as f:
        return path, hashlib.file_digest(f, "sha256").hexdigest()


def baseline(processes: ProcessPoolExecutor, paths: list[str]) -> tuple[float, dict[str, str]]:
    start = time.perf_counter()
    digests = dict(processes.map(sha256_of, paths))
    return time.perf_counter() - start, digests


async def through_pool(pool: HashPool, paths: list[str]) -> tuple[float, dict[str, str]]:
    queue = sorted(paths, key=os.path.getsize, reverse=True)
    digests: dict[str, str] = {}

    async def worker() -> None:
        while queue:
            path = queue.pop()
            digests[path] = (await pool.hash(path, None)).sha256

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(pool.workers)))
    return time.perf_counter() - start, digests


def read_bytes() -> int:
    """Bytes this process had fetched from storage (not from the page cache)."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("read_bytes:"))


async def run(folder: Path, scale: float, rounds: int) -> None:
    started = time.perf_counter()
    paths = [str(p) for p in write_library(folder, scale)]
    total = sum(os.path.getsize(p) for p in paths)
    print(f"hash workers: {len(paths)} files, {total / GIB:.2f} GiB, written in {time.perf_counter() - started:.0f} s")
    for p in paths:  # into the page cache
        with open(p, "rb") as f:
            while f.read(BLOCK):
                pass
    media = Media()
    plan = plan_workers(Settings().hash_workers, [str(folder)], media)
    print(f"  default hash_workers={Settings().hash_workers!r}: {plan.workers} workers ({plan.reason}); "
          f"{folder}: {plan.media[str(folder)].describe()}")
    contenders = {"2 processes file_digest": None, f"pool auto ({plan.workers})": HashPool(plan.workers, media),
                  "pool 1 worker": HashPool(1, media)}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    from_disk: dict[str, int] = {name: 0 for name in contenders}
    expected: dict[str, str] | None = None
    try:
        with ProcessPoolExecutor(2) as processes:
            list(processes.map(abs, [1, 2]))  # both processes started before the clock runs
            for _ in range(rounds):
                # Interleaved, so drift in CPU clocks, cache state or a neighbour's load hits every contender alike.
                for name, pool in contenders.items():
                    io_before = read_bytes()
                    if pool is None:
                        seconds, digests = baseline(processes, paths)
                    else:
                        seconds, digests = await through_pool(pool, paths)
                        from_disk[name] += read_bytes() - io_before
                    expected = expected or digests
                    if digests != expected:
                        wrong = sorted(p for p in paths if digests.get(p) != expected.get(p))
                        raise SystemExit(f"{name} disagrees with file_digest on {len(wrong)} files: {wrong[:3]}")
                    times[name].append(seconds)
    finally:
        for pool in contenders.values():
            if pool is not None:
                pool.close()

    print(f"  {rounds} rounds, every sha256 agrees")
    speed: dict[str, tuple[float, float]] = {}
    for name, samples in times.items():
        best, median = best_median(samples)
        speed[name] = (total / best, total / median)
        disk = f"   read from disk {from_disk[name] / MIB:.0f} MiB" if contenders[name] is not None else ""
        print(f"  {name:<26} best {total / best / GIB:5.2f} GiB/s   median {total / median / GIB:5.2f} GiB/s{disk}")
    base = speed["2 processes file_digest"]
    for name in list(contenders)[1:]:
        ratio = speed[name][0] / base[0]
        line = f"  {name:<26} / two-core limit: bests {ratio:.3f}, medians {speed[name][1] / base[1]:.3f}"
        if name.startswith("pool auto"):
            line += f"  goal >= {GOAL}: {verdict(ratio >= GOAL)}"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="file sizes times this (default 1: about 12.4 GiB, which must fit on /tmp and in memory)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each contender (default 2)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-workers-", dir="/tmp"))
    try:
        asyncio.run(run(workdir, args.scale, args.rounds))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
