"""2,000 files dropped into a watched folder at once, with the daemon (`python -m hikaze_mm serve`, native watching)
already running: every file must end as exactly one pending row with the right SHA-256, and the API must keep
answering. Reports the worst and p99 latency of `GET /api/status` during the burst as a ratio to its idle latency,
the time until every row is ready, and the daemon's peak memory against its memory before the burst.

Goal: p99 status latency during the burst at most 20x the idle median (the API stays usable while the daemon works
through the burst); the worst one is reported beside it. A wrong or missing row, or a duplicate, fails the script.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import SERVE, stop_daemon, verdict, vm_sizes
from memory import free_port, idle, kib, wait_for

LATENCY_GOAL = 20.0


def status_latency(port: int, stop: threading.Event, samples: list[float]) -> None:
    """Times `GET /api/status` back to back on one keep-alive connection until `stop` is set."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("GET", "/api/status")
        json.loads(conn.getresponse().read())
        samples.append(time.perf_counter() - started)
    conn.close()


def rows(port: int) -> list[dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    found: list[dict[str, object]] = []
    while True:
        conn.request("GET", f"/api/pending?limit=1000&offset={len(found)}")
        page = json.loads(conn.getresponse().read())["pending"]
        found += page
        if len(page) < 1000:
            conn.close()
            return found


def run(count: int, size: int, timeout: float, workdir: Path) -> bool:
    models = workdir / "models"
    drop = models / "loras"
    drop.mkdir(parents=True)
    staging = workdir / "staging"  # written first, then moved in at once: a burst of finished files
    staging.mkdir()
    expected: dict[str, str] = {}
    for i in range(count):
        data = hashlib.sha512(f"burst {i}".encode()).digest() * (size // 64)
        (staging / f"burst_{i:05d}.safetensors").write_bytes(data)
        expected[str(drop / f"burst_{i:05d}.safetensors")] = hashlib.sha256(data).hexdigest()
    (workdir / "config.toml").write_text("")
    port = free_port()
    log_path = workdir / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*SERVE, "--data-dir", str(workdir / "data"), "--models-root",
             str(models), "--port", str(port), "--settle-seconds", "1", "--rescan-interval", "0",
             "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HIKAZE_MM_CONFIG": str(workdir / "config.toml")},
        )
    try:
        wait_for(daemon, port, lambda s: idle(s) and s["last_scan"] is not None, timeout, "the start-up scan")
        quiet: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=status_latency, args=(port, stop, quiet))
        probe.start()
        while len(quiet) < 200:
            time.sleep(0.01)  # pacing the sampler's warm-up; the samples themselves are the measurement
        stop.set()
        probe.join()
        with open(f"/proc/{daemon.pid}/status") as f:
            before = vm_sizes(f.read())
        busy: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=status_latency, args=(port, stop, busy))
        probe.start()
        started = time.monotonic()
        for name in os.listdir(staging):
            os.rename(staging / name, drop / name)
        wait_for(daemon, port, lambda s: s["counts"]["pending"]["ready"] >= count and idle(s), timeout,
                 f"{count} ready rows")
        ready_s = time.monotonic() - started
        stop.set()
        probe.join()
        with open(f"/proc/{daemon.pid}/status") as f:
            after = vm_sizes(f.read())
        found = rows(port)
    finally:
        code = stop_daemon(daemon)
    paths = [str(r["path"]) for r in found]
    wrong = [r["path"] for r in found if expected.get(str(r["path"])) != r["sha256"] or r["status"] != "ready"]
    ok = code == 0 and sorted(paths) == sorted(expected) and len(paths) == len(set(paths)) and not wrong
    idle_median = statistics.median(quiet)
    worst, p99 = max(busy), sorted(busy)[int(len(busy) * 0.99)]
    ratio = p99 / idle_median
    print(f"burst_load: {count:,} files of {size // 1024} KiB moved into a watched folder at once")
    print(f"  rows: {len(found):,} ({len(set(paths)):,} distinct paths), wrong or not ready: {len(wrong)}; "
          f"daemon exit code {code} (must be 0)")
    print(f"  all ready after {ready_s:.1f} s ({count / ready_s:.0f} files/s)")
    print(f"  GET /api/status: idle median {idle_median * 1000:.2f} ms; during the burst {len(busy):,} requests, "
          f"p99 {p99 * 1000:.1f} ms, worst {worst * 1000:.1f} ms")
    print(f"  worst / idle median: {worst / idle_median:.0f}; p99 / idle median: {ratio:.1f} "
          f"(goal <= {LATENCY_GOAL:g}) {verdict(ratio <= LATENCY_GOAL)}")
    print(f"  memory: before {kib(before['VmRSS'])} RSS; after {kib(after['VmRSS'])} RSS, peak {kib(after['VmHWM'])}")
    if not ok:
        print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="files in the burst")
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per file (a multiple of 64)")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-burst-"))
    try:
        return 0 if run(args.count, args.size, args.timeout, workdir) else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
