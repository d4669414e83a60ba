"""A million files: the big library of `big_library.py` grown to 1,000,000 small model files on disk, half of them
imported models (500,000) and half waiting in the inbox (450,000 ready to import, 50,000 conflicts), every one
unchanged since the daemon last saw it; and the same library at 1,000 files beside it. Times the real daemon
(`python -m hikaze_mm serve`) on both, with an event-loop probe running all along.

Goals (issue 13), each printed with its figure:
- spawn to READY=1 at most 3x the same daemon's on an empty library (median of the starts);
- an unchanged walk (`POST /api/scan` to its done event) at most 1.5x a bare `os.walk` + `os.stat` (medians);
- `GET /api/status` under 2 ms (median);
- a library page and a search at most 2x the same request at 1,000 files (medians);
- facets asked right after an edit (a PATCH of a model's tags) under 20 ms (median);
- a page 400,000 models in (asked for with the `next` token of the page before) at most 2x the first page;
- the daemon's resident memory under 600 MiB (VmRSS after the walks and requests; VmHWM beside it);
- the event loop never held more than 50 ms: `GET /api/health` sent 5 ms apart on a connection of its own from
  spawn to SIGTERM, whose slowest answer bounds the longest time the loop went without turning (plus the request's
  own fraction of a millisecond, and whatever a busy machine adds).
`--scale 0.01` is a quick run (10,000 files).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import MIB, in_workdir, verdict, walk_and_stat
from big_library import Built, Daemon, build, start_up, unchanged_walk, walk_problem
from library_scale import percentile95
from memory import kib

READY_GOAL = 3.0
WALK_GOAL = 1.5
STATUS_GOAL_MS = 2.0
PAGE_GOAL = 2.0
FACETS_GOAL_MS = 20.0
DEEP_GOAL = 2.0
RSS_GOAL_KIB = 600 * 1024
LOOP_GOAL_MS = 50.0
PROBE_GAP_S = 0.005
SMALL_FILES = 1_000
DEEP = 400_000  # models into the library, at scale 1
EDIT_TAG = "bench-edit"


class Probe(threading.Thread):
    """`GET /api/health` every 5 ms on a keep-alive connection of its own: (wall-clock time sent, ms) of each."""

    def __init__(self, port: int):
        super().__init__(name="loop-probe", daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stopping.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            sent = time.time()
            started = time.perf_counter()
            try:
                conn.request("GET", "/api/health")
                conn.getresponse().read()
            except OSError:  # not listening yet, or stopping
                conn.close()
                conn = None
                self._stopping.wait(0.01)
                continue
            self.samples.append((sent, (time.perf_counter() - started) * 1000))
            self._stopping.wait(PROBE_GAP_S)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def between(self, start: float, end: float) -> list[float]:
        return [ms for sent, ms in self.samples if start <= sent <= end]


@dataclass
class Phases:
    """Wall-clock spans of what the daemon was doing, for the probe's answers to be told apart by."""

    spans: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, name: str, start: float, end: float) -> None:
        self.spans.setdefault(name, []).append((start, end))


def timed(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> tuple[Any, float]:
    """The answer and its milliseconds, request sent to last byte read."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    started = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    ms = (time.perf_counter() - started) * 1000
    if resp.status != 200:
        raise RuntimeError(f"{method} {path} answered {resp.status}: {raw[:300]!r}")
    return json.loads(raw), ms


def requests(port: int, models: int, reps: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds of each kind of request on one keep-alive connection, `reps` of each after `warmup`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    out: dict[str, list[float]] = {}
    try:
        # A walk's done event comes before it has freed what it held (a few tenths of a second in a thread, which
        # the requests would share the GIL with): the figures are of a daemon at rest.
        while timed(conn, "GET", "/api/status")[0]["scan"] is not None:
            time.sleep(0.05)
        first, _ = timed(conn, "GET", "/api/models?limit=100")
        edited = first["models"][0]["sha256"]
        deep = min(DEEP * models // 500_000, first["total"] - 100)
        token = timed(conn, "GET", f"/api/models?limit=1&offset={deep - 1}")[0]["next"]
        kinds: list[tuple[str, str, bool]] = [
            ("GET /api/status", "/api/status", False),
            ("page", "/api/models?limit=100", False),
            ("page, hide_nsfw", "/api/models?limit=100&hide_nsfw=true", False),
            ("search q=naut", "/api/models?limit=100&q=naut", False),
            ("page, after an edit", "/api/models?limit=100&hide_nsfw=true", True),
            ("search q=naut, after an edit", "/api/models?limit=100&q=naut", True),
            (f"page {deep:,} in, after=next", f"/api/models?limit=100&after={token}", False),
            (f"page {deep:,} in, offset", f"/api/models?limit=100&offset={deep}", False),
            ("facets hide_nsfw, after an edit", "/api/facets?hide_nsfw=true", True),
            ("facets loras hide_nsfw, after an edit", "/api/facets?type=loras&hide_nsfw=true", True),
            ("facets +tags=character, after an edit", "/api/facets?hide_nsfw=true&tags=character", True),
        ]
        for label, path, after_edit in kinds:
            samples = []
            for i in range(warmup + reps):
                if after_edit:
                    # A tag put on and taken off: the library changes each time, so nothing computed for the
                    # state before can serve the request.
                    change = {"tags_add": [EDIT_TAG]} if i % 2 == 0 else {"tags_remove": [EDIT_TAG]}
                    timed(conn, "PATCH", f"/api/models/{edited}", change)
                _, ms = timed(conn, "GET", path)
                if i >= warmup:
                    samples.append(ms)
            out[label] = samples
    finally:
        conn.close()
    return out


@dataclass
class Run:
    """One daemon's figures."""

    ready_s: list[float] = field(default_factory=list)
    walk_s: list[float] = field(default_factory=list)  # the daemon's unchanged walks, POST to done event
    bare_s: list[float] = field(default_factory=list)
    startup_walk_s: list[float] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=dict)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)
    loop: dict[str, list[float]] = field(default_factory=dict)


def session(workdir: Path, built: Built, name: str, args: argparse.Namespace, rounds: int, problems: list[str],
            measure: bool) -> Run:
    """Starts the daemon on `built` with the probe beside it, follows its start-up walk and, with `measure`, walks
    again and times the requests; then stops it."""
    run = Run()
    daemon = Daemon(workdir, name.replace(" ", "-").replace(",", ""), built.root, built.root.parent / "data")
    probe = Probe(daemon.port)
    phases = Phases()
    probe.start()
    try:
        start = start_up(daemon, args.timeout)
        run.ready_s.append(start.ready_s)
        run.startup_walk_s.append(start.walk["finished_at"] - start.walk["started_at"])
        phases.add("start-up: spawn to the walk's end", daemon.spawned_wall, start.walk["finished_at"])
        if problem := walk_problem(start.walk, built.files):
            problems.append(f"{name} start-up walk: {problem}")
        counts = start.status["counts"]
        got = (counts["models"], counts["pending"]["ready"], counts["pending"]["conflict"])
        if got != (built.models, built.ready, built.conflicts):
            problems.append(f"{name}: the daemon counts {got}, the library holds "
                            f"{(built.models, built.ready, built.conflicts)}")
        print(f"  {name}: READY=1 {start.ready_s:.2f} s, start-up walk done {start.walk_done_s:.2f} s after spawn "
              f"(its own {run.startup_walk_s[-1]:.2f} s)", flush=True)
        if measure:
            run.memory["after the start-up walk"] = daemon.memory()
            for r in range(rounds):
                began = time.perf_counter()
                seen = walk_and_stat(str(built.root))
                run.bare_s.append(time.perf_counter() - began)
                if seen != built.files:
                    problems.append(f"{name} bare walk {r + 1} saw {seen} files, expected {built.files}")
                began_wall = time.time()
                elapsed, event = unchanged_walk(daemon.port, args.timeout)
                phases.add("unchanged walks", began_wall, time.time())
                run.walk_s.append(elapsed)
                if problem := walk_problem(event, built.files):
                    problems.append(f"{name} unchanged walk {r + 1}: {problem}")
                print(f"  {name} round {r + 1}: bare walk {run.bare_s[-1]:.2f} s, unchanged walk {elapsed:.2f} s, "
                      f"VmRSS {kib(daemon.memory()['VmRSS']).strip()}", flush=True)
            run.memory[f"after {rounds} more walks"] = daemon.memory()
            began_wall = time.time()
            run.latency = requests(daemon.port, built.models, args.reps, args.warmup)
            phases.add("requests", began_wall, time.time())
            run.memory["after the requests"] = daemon.memory()
    finally:
        code = daemon.stop()
        probe.stop()
    if code != 0:
        problems.append(f"{name}: SIGTERM exit code {code}")
    for phase, spans in phases.spans.items():
        run.loop[phase] = [ms for a, b in spans for ms in probe.between(a, b)]
    return run


def empty_ready(workdir: Path, n: int, timeout: float) -> float:
    models, data = workdir / "empty-models", workdir / "empty-data"
    models.mkdir(exist_ok=True)
    daemon = Daemon(workdir, f"empty-{n}", models, data)
    try:
        return start_up(daemon, timeout).ready_s
    finally:
        daemon.stop()


def run(args: argparse.Namespace, workdir: Path) -> bool:
    (workdir / "config.toml").write_text("")
    files = round(1_000_000 * args.scale)
    print(f"million: {files:,} files ({files // 2:,} models, {files - files // 2:,} waiting), the real daemon, "
          f"{args.starts} starts, {args.rounds} unchanged walks, {args.reps} requests of each kind", flush=True)
    print("  building the library:", flush=True)
    (workdir / "big").mkdir()
    big = build(workdir / "big", files // 2, files, args.per_folder, args.seed, copies=False)
    print(f"  built in {big.seconds:.0f} s: {big.models:,} models, {big.conflicts:,} conflicts and {big.ready:,} "
          f"ready files, {big.folders:,} folders, database {big.db_bytes / MIB:.0f} MiB", flush=True)
    (workdir / "small").mkdir()
    small = build(workdir / "small", SMALL_FILES // 2, SMALL_FILES, args.per_folder, args.seed, copies=False)

    problems: list[str] = []
    walk_and_stat(str(big.root))  # warms the dentry and inode caches, as every later walk finds them
    empty: list[float] = []
    starts: list[Run] = []
    for n in range(args.starts):
        empty.append(empty_ready(workdir, n, args.timeout))
        last = n == args.starts - 1
        starts.append(session(workdir, big, f"start {n + 1}", args, args.rounds, problems, measure=last))
    measured = starts[-1]
    small_run = session(workdir, small, f"{SMALL_FILES:,} files", args, 1, problems, measure=True)
    report(big, starts, measured, small_run, empty)
    for problem in problems:
        print(f"  WRONG: {problem}")
    return not problems


def report(big: Built, starts: list[Run], measured: Run, small: Run, empty: list[float]) -> None:
    med = statistics.median
    print(f"  {'request (median, p95)':<40} {f'{big.files:,} files':>22} {f'{SMALL_FILES:,} files':>22}")
    for label, samples in measured.latency.items():
        other = small.latency.get(label)
        there = f"{med(other):8.2f} {percentile95(other):7.2f} ms" if other else ""
        print(f"  {label:<40} {med(samples):8.2f} {percentile95(samples):7.2f} ms {there:>22}")
    lat = measured.latency
    goals: list[tuple[str, str, bool]] = []
    ready = med(r for s in starts for r in s.ready_s) / med(empty)
    goals.append((f"spawn to READY=1 / empty library: {med(r for s in starts for r in s.ready_s):.2f} s / "
                  f"{med(empty):.2f} s = {ready:.2f}", f"<= {READY_GOAL:g}", ready <= READY_GOAL))
    walk = med(measured.walk_s) / med(measured.bare_s)
    goals.append((f"unchanged walk / bare walk: {med(measured.walk_s):.2f} s / {med(measured.bare_s):.2f} s = "
                  f"{walk:.2f} (the start-up walk's own: {med(r for s in starts for r in s.startup_walk_s):.2f} s)",
                  f"<= {WALK_GOAL:g}", walk <= WALK_GOAL))
    status = med(lat["GET /api/status"])
    goals.append((f"GET /api/status: {status:.2f} ms", f"< {STATUS_GOAL_MS:g} ms", status < STATUS_GOAL_MS))
    for label in ("page", "search q=naut"):
        ratio = med(lat[label]) / med(small.latency[label])
        goals.append((f"{label} / the same at {SMALL_FILES:,} files: {ratio:.2f}", f"<= {PAGE_GOAL:g}",
                      ratio <= PAGE_GOAL))
    for label in ("facets hide_nsfw, after an edit", "facets loras hide_nsfw, after an edit"):
        facets = med(lat[label])
        goals.append((f"{label}: {facets:.2f} ms", f"< {FACETS_GOAL_MS:g} ms", facets < FACETS_GOAL_MS))
    deep_label = next(k for k in lat if k.endswith("after=next"))
    deep = med(lat[deep_label]) / med(lat["page"])
    goals.append((f"{deep_label} / first page: {deep:.2f}", f"<= {DEEP_GOAL:g}", deep <= DEEP_GOAL))
    rss = max(m["VmRSS"] for m in measured.memory.values())
    hwm = max(m["VmHWM"] for m in measured.memory.values())
    goals.append((f"VmRSS at most {kib(rss).strip()} (VmHWM {kib(hwm).strip()})", "< 600 MiB",
                  rss < RSS_GOAL_KIB))
    held = [ms for s in starts for samples in s.loop.values() for ms in samples]
    worst = max(held) if held else float("nan")
    goals.append((f"event loop: slowest of {len(held):,} health probes {worst:.1f} ms",
                  f"<= {LOOP_GOAL_MS:g} ms", worst <= LOOP_GOAL_MS))
    print("  memory:")
    for label, mem in measured.memory.items():
        print(f"    {label:<32} VmRSS {kib(mem['VmRSS'])}  VmHWM {kib(mem['VmHWM'])}")
    print("  event-loop probe (GET /api/health every 5 ms), by phase, all starts:")
    phases = sorted({p for s in starts for p in s.loop})
    for phase in phases:
        samples = [ms for s in starts for ms in s.loop.get(phase, [])]
        if samples:
            print(f"    {phase:<36} {len(samples):>7,} probes, median {med(samples):6.2f} ms, "
                  f"p99 {statistics.quantiles(samples, n=100)[-1] if len(samples) > 1 else samples[0]:7.2f} ms, "
                  f"slowest {max(samples):7.1f} ms")
    print("  goals:")
    for figure, goal, ok in goals:
        print(f"    {figure} (goal {goal}): {verdict(ok)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="of the million files (default 1; 0.01 is quick)")
    parser.add_argument("--per-folder", type=int, default=500, help="files per folder at most (default 500)")
    parser.add_argument("--starts", type=int, default=3, help="starts on each library (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="unchanged walks, each after a bare walk (default 3)")
    parser.add_argument("--reps", type=int, default=30, help="timed requests of each kind (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests before them (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated library (default 1)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for each phase (default 1800)")
    args = parser.parse_args()
    if not 0 < args.scale <= 1 or round(1_000_000 * args.scale) < 2 * SMALL_FILES:
        parser.error(f"--scale must be in (0, 1] and give at least {2 * SMALL_FILES:,} files")
    if args.rounds < 1 or args.starts < 1 or args.reps < 2:
        parser.error("--rounds and --starts must be at least 1, --reps at least 2")
    return in_workdir("hikaze-bench-million-", lambda workdir: run(args, workdir))


if __name__ == "__main__":
    raise SystemExit(main())
