"""A bulk lookup of a library's models on the web, against the tests' fixture Civitai and CivArchive on loopback
(`tests/web_sources.py`), through the real daemon (`python -m hikaze_mm serve`): every model queued by one
`POST /api/metadata/fetch`, drained in the background at `--rate` requests a second per source.

Reported: the requests each site received per second (the busiest one-second window and the mean over the run:
the goal is the configured cap, never above it), the daemon's memory over the run (flat: the last tenth's
median within 1.25x of the first tenth's), and the library page (`GET /api/models?limit=100`) during the lookups
against the same page with the daemon idle (goal: the median within 2x). The library is `library_scale`'s generator
(no files on disk), each model known to the fixture with one preview image (256x256) and every twentieth known
nowhere. A model not filled, a lookup that failed, or a daemon that does not exit 0 on SIGTERM fails the script.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from _common import in_workdir, stop_daemon, verdict, vm_sizes
from library_scale import generate
from memory import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from web_sources import Image, WebSources, running_web_sources, sample_version  # the tests' fixture sources

RATE_GOAL = 1.0  # the busiest second / the cap
MEMORY_GOAL = 1.25  # the last tenth's median memory / the first tenth's
PAGE_GOAL = 2.0  # the page's median during the lookups / idle
PAGE = "/api/models?limit=100"


async def run_bench(args: argparse.Namespace, workdir: Path) -> bool:
    data = workdir / "data"
    data.mkdir()
    (workdir / "models").mkdir()
    (workdir / "config.toml").write_text("")
    started = time.perf_counter()
    await asyncio.to_thread(generate, data / "library.sqlite3", args.models, args.seed, ())
    with sqlite3.connect(data / "library.sqlite3") as conn:
        shas = [r[0] for r in conn.execute("SELECT sha256 FROM models ORDER BY sha256")]
    print(f"web_lookups: {len(shas):,} models written in {time.perf_counter() - started:.0f} s; "
          f"cap {args.rate:g} requests/s per source")
    async with running_web_sources() as sources:
        known = 0
        for n, sha in enumerate(shas):
            if n % 20 == 19:
                continue  # known nowhere: Civitai then CivArchive answer 404
            images = [Image(f"p{n}.png", 256, 256, meta={"seed": n, "steps": 20})]
            sources.add(sample_version(n, sha, images=images))
            known += 1
        port = free_port()
        cmd = [sys.executable, "-m", "hikaze_mm", "serve", "--data-dir", str(data), "--models-root",
               str(workdir / "models"), "--port", str(port), "--rescan-interval", "0", "--log-level", "warning",
               "--metadata-source", "civitai", "--metadata-source", "civarchive",
               "--civitai-api-base", sources.civitai, "--civarchive-api-base", sources.civarchive,
               "--metadata-auto", "never", "--metadata-rate", str(args.rate)]
        env = {**os.environ, "HIKAZE_MM_CONFIG": str(workdir / "config.toml")}
        with (workdir / "daemon.log").open("wb") as log:
            daemon = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            ok = await measure(daemon, port, sources, len(shas), known, args)
        finally:
            code = stop_daemon(daemon)
        print(f"  SIGTERM: exit code {code} (must be 0)")
        if code != 0:
            print((workdir / "daemon.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        return ok and code == 0


async def measure(daemon: subprocess.Popen[bytes], port: int, sources: WebSources, models: int, known: int,
                  args: argparse.Namespace) -> bool:
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        await wait_until(http, base, daemon, lambda s: s["last_scan"] is not None, args.timeout, "the start-up scan")
        idle = [await timed_get(http, base + PAGE) for _ in range(args.pages)]
        async with http.post(base + "/api/metadata/fetch", json={}) as resp:
            assert resp.status == 202, await resp.text()
            queued = (await resp.json())["queued"]
        started = time.monotonic()
        during: list[float] = []
        memory: list[int] = []
        status: dict[str, Any] = {}
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            during.append(await timed_get(http, base + PAGE))
            with open(f"/proc/{daemon.pid}/status") as f:
                memory.append(vm_sizes(f.read())["VmRSS"])
            async with http.get(base + "/api/status") as resp:
                status = (await resp.json())["lookups"]
            if status["queued"] == 0 and not status["running"]:
                break
            if len(during) % 50 == 0:
                print(f"    {time.monotonic() - started:4.0f} s: {status['done']:,} done ({status['found']:,} found, "
                      f"{status['not_found']:,} not found), {status['queued']:,} waiting", flush=True)
            await asyncio.sleep(1 / args.page_rate)  # the page's request rate while the lookups run
        seconds = time.monotonic() - started
        filled = await count_filled(http, base, models)
    print(f"  {queued:,} waiting after the request; drained in {seconds:.0f} s; found {status.get('found')}, not found "
          f"{status.get('not_found')}, failed {status.get('failed')} (last error: {status.get('last_error')})")
    # (`queued` counts the lookups waiting when the answer left: the first ones may be done by then.)
    ok = (0 < queued <= models and status.get("found") == known and status.get("not_found") == models - known
          and filled == known and status.get("queued") == 0 and not status.get("failed"))
    if not ok:
        print(f"  WRONG: {filled:,} models filled of the {known:,} the sources know")
    for site in ("civitai", "civarchive"):
        times = sorted(r.at for r in sources.requests if r.site == site)
        if not times:
            continue
        busiest = max(_window(times, i) for i in range(len(times)))
        mean = len(times) / max(times[-1] - times[0], 1e-9)
        print(f"    {site:<10} {len(times):,} requests, mean {mean:.1f}/s, busiest second {busiest} "
              f"(cap {args.rate:g}): {verdict(busiest <= args.rate * RATE_GOAL)}")
        ok = ok and busiest <= args.rate * RATE_GOAL
    tenth = max(1, len(memory) // 10)
    first, last = statistics.median(memory[:tenth]), statistics.median(memory[-tenth:])
    print(f"    memory: {first / 1024:.0f} MiB in the first tenth, {last / 1024:.0f} MiB in the last, most "
          f"{max(memory) / 1024:.0f} MiB: {last / first:.2f} (goal <= {MEMORY_GOAL}): "
          f"{verdict(last / first <= MEMORY_GOAL)}")
    page_ratio = statistics.median(during) / statistics.median(idle)
    print(f"    page: idle median {statistics.median(idle):.1f} ms, during the lookups median "
          f"{statistics.median(during):.1f} ms, p95 {_p95(during):.1f} ms ({len(during)} requests): "
          f"{page_ratio:.2f} (goal <= {PAGE_GOAL}): {verdict(page_ratio <= PAGE_GOAL)}")
    return ok and last / first <= MEMORY_GOAL and page_ratio <= PAGE_GOAL


def _window(times: list[float], i: int) -> int:
    """Requests within one second from the i-th."""
    j = i
    while j < len(times) and times[j] < times[i] + 1.0:
        j += 1
    return j - i


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


async def timed_get(http: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with http.get(url) as resp:
        await resp.read()
        assert resp.status == 200
    return (time.perf_counter() - started) * 1000


async def wait_until(http: aiohttp.ClientSession, base: str, daemon: subprocess.Popen[bytes],
                     check: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.returncode} before {what}")
        try:
            async with http.get(base + "/api/status") as resp:
                if resp.status == 200 and check(await resp.json()):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


async def count_filled(http: aiohttp.ClientSession, base: str, models: int) -> int:
    """Models whose record names a source, counted through the API's pages (missing models too)."""
    filled = 0
    offset = 0
    while offset < models:
        async with http.get(f"{base}/api/models?limit=500&offset={offset}&status=all") as resp:
            page = (await resp.json())["models"]
        for item in page:
            async with http.get(f"{base}/api/models/{item['sha256']}") as resp:
                filled += "web" in (await resp.json())["meta_json"]
        offset += 500
    return filled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000, help="models in the library (default 10,000)")
    parser.add_argument("--rate", type=float, default=100.0, help="the cap, requests/s per source (default 100)")
    parser.add_argument("--pages", type=int, default=50, help="idle page requests timed (default 50)")
    parser.add_argument("--page-rate", type=float, default=5.0, help="page requests/s during the run (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds the lookups may take (default 3600)")
    args = parser.parse_args()
    return in_workdir("hikaze-bench-lookups-", lambda workdir: asyncio.run(run_bench(args, workdir)))


if __name__ == "__main__":
    raise SystemExit(main())
