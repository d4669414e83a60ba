"""50 concurrent API clients and 20 open event streams for a minute against the real daemon
(`python -m hikaze_mm serve`) on a generated library of 1,000 models: every answer must be a 200 and every stream
must stay open; memory and open file descriptors are compared before and after (a leak grows them).

Reports requests per second, median and p99 latency, the daemon's RSS and descriptor count before and after the
load, and after a second identical round (growth between the rounds is what a leak looks like; the first round
also fills caches and opens what the daemon keeps open). Goal: from round one to round two, RSS growth under 5 MiB
and no descriptor growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from _common import SERVE, stop_daemon, verdict, vm_sizes
from library_scale import generate
from memory import free_port, idle, kib, wait_for

RSS_GOAL_KIB = 5 * 1024


def snapshot(pid: int, baseline_fds: int | None = None) -> tuple[int, int]:
    """RSS (KiB) and open descriptors. After a round the daemon is given up to 5 s to close the connections the
    clients just dropped, so only descriptors that stay open count."""
    deadline = time.monotonic() + 5
    while True:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        if baseline_fds is None or fds <= baseline_fds or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # polling the descriptor table against the deadline above
    with open(f"/proc/{pid}/status") as f:
        rss = vm_sizes(f.read())["VmRSS"]
    return rss, fds


async def stream(session: aiohttp.ClientSession, url: str, stop: asyncio.Event, opened: list[int]) -> bool:
    """Holds an event stream open until `stop`; true if it stayed open the whole time."""
    async with session.get(url + "/api/events", timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
        opened.append(1)
        reader = asyncio.ensure_future(resp.content.read(1 << 16))
        stopping = asyncio.ensure_future(stop.wait())
        while True:
            done, _ = await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                reader.cancel()
                return True
            if not reader.result():  # the daemon closed the stream
                stopping.cancel()
                return False
            reader = asyncio.ensure_future(resp.content.read(1 << 16))


async def client(session: aiohttp.ClientSession, url: str, paths: list[str], stop: asyncio.Event,
                 latencies: list[float], errors: list[str]) -> None:
    rng = random.Random()
    while not stop.is_set():
        path = rng.choice(paths)
        started = time.perf_counter()
        try:
            async with session.get(url + path) as resp:
                await resp.read()
                if resp.status != 200:
                    errors.append(f"{resp.status} {path}")
        except aiohttp.ClientError as e:
            errors.append(f"{e!r} {path}")
        latencies.append(time.perf_counter() - started)


async def round_(url: str, paths: list[str], clients: int, streams: int, seconds: float) -> tuple[
        list[float], list[str], int]:
    stop = asyncio.Event()
    latencies: list[float] = []
    errors: list[str] = []
    opened: list[int] = []
    connector = aiohttp.TCPConnector(limit=clients + streams + 5)
    async with aiohttp.ClientSession(connector=connector) as session:
        watchers = [asyncio.create_task(stream(session, url, stop, opened)) for _ in range(streams)]
        workers = [asyncio.create_task(client(session, url, paths, stop, latencies, errors)) for _ in range(clients)]
        await asyncio.sleep(seconds)  # the length of the load, not a synchronisation
        stop.set()
        await asyncio.gather(*workers)
        kept = sum(await asyncio.gather(*watchers))
    if len(opened) != streams:
        errors.append(f"only {len(opened)} of {streams} event streams opened")
    return latencies, errors, kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each of the two rounds")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-load-"))
    try:
        data = workdir / "data"
        data.mkdir()
        generate(data / "library.sqlite3", args.models, 7, ())
        (workdir / "config.toml").write_text("")
        (workdir / "empty").mkdir()
        port = free_port()
        with (workdir / "daemon.log").open("wb") as log:
            daemon = subprocess.Popen(
                [*SERVE, "--data-dir", str(data), "--models-root",
                 str(workdir / "empty"), "--port", str(port), "--rescan-interval", "0", "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "HIKAZE_MM_CONFIG": str(workdir / "config.toml")},
            )
        ok = True
        try:
            wait_for(daemon, port, lambda s: idle(s) and s["last_scan"] is not None, 300, "the start-up scan")
            url = f"http://127.0.0.1:{port}"
            with urllib.request.urlopen(url + "/api/models?limit=50") as resp:
                shas = [m["sha256"] for m in json.loads(resp.read())["models"]]
            paths = ["/api/status", "/api/types", "/api/tags", "/api/facets?hide_nsfw=true", "/api/pending?limit=50",
                     "/api/models?limit=100", "/api/models?q=naut&limit=50", "/api/models?hide_nsfw=true&offset=300",
                     *(f"/api/models/{s}" for s in shas[:20])]
            before = snapshot(daemon.pid)
            print(f"api_load: {args.clients} clients and {args.streams} event streams, two rounds of "
                  f"{args.seconds:g} s, {args.models:,} models")
            print(f"  before:        RSS {kib(before[0])}, {before[1]} open descriptors")
            results = []
            for number in (1, 2):
                latencies, errors, kept = asyncio.run(round_(url, paths, args.clients, args.streams, args.seconds))
                after = snapshot(daemon.pid, before[1])
                results.append(after)
                ok = ok and not errors and kept == args.streams
                print(f"  round {number}: {len(latencies) / args.seconds:7.0f} requests/s, median "
                      f"{statistics.median(latencies) * 1000:.1f} ms, p99 "
                      f"{sorted(latencies)[int(len(latencies) * 0.99)] * 1000:.1f} ms, {len(errors)} errors, "
                      f"{kept}/{args.streams} streams open to the end; RSS {kib(after[0])}, {after[1]} descriptors")
                for e in errors[:5]:
                    print(f"    {e}")
            growth = results[1][0] - results[0][0]
            fds = results[1][1] - results[0][1]
            print(f"  RSS growth round 1 -> 2: {growth / 1024:.1f} MiB (goal < {RSS_GOAL_KIB // 1024}) "
                  f"{verdict(growth < RSS_GOAL_KIB)}; descriptors round 1 -> 2: {fds:+d} {verdict(fds <= 0)}")
        finally:
            code = stop_daemon(daemon)
            print(f"  SIGTERM: exit code {code} (must be 0)")
        return 0 if ok and code == 0 else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
