"""A big library on disk: 200,000 model files, every one of them unchanged since the daemon last saw it: 100,000
imported models, 10,000 byte-for-byte copies merged into them, 10,000 more copies waiting as conflicts and 80,000
distinct files hashed and waiting to be imported. Times the real daemon (`python -m hikaze_mm serve`) from spawn to
`READY=1` on its systemd notify socket, to its first `GET /api/health`, and to the end of its start-up walk; then
unchanged walks asked for with `POST /api/scan`, against a bare `os.walk` + `os.stat` of the same tree; the latency
of `GET /api/status` and `GET /api/models` while the start-up walk runs; and the daemon's memory.

Goals: an unchanged walk takes at most 2x the bare walk (median), and the big library at most doubles the time
from spawn to READY=1 compared with the same daemon on an empty library (median). The walk must find every file
unchanged (0 new or changed, 0 gone), or the recorded fingerprints are wrong and the run fails.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import MIB, SERVE, in_workdir, stop_daemon, verdict, vm_sizes, walk_and_stat
from library_scale import ARCHITECTURE, BASE_MODELS, TYPES, generate, model_name
from memory import BASELINE_CODE, free_port, kib

WALK_GOAL = 2.0
READY_GOAL = 2.0
SAMPLE_GAP_S = 0.1  # between the requests timed during the start-up walk
LATENCY_PATHS = ("GET /api/status", "GET /api/models?limit=100")
IDLE_REQUESTS = 20
Fingerprint = tuple[int, int, int, int]  # size, mtime_ns, inode, device: what the walk compares


def body(k: int) -> bytes:
    """The content of file number k: distinct for every k, 64 to 191 bytes."""
    return f"hikaze-bench {k:016d}\n".encode().ljust(64 + k % 128, b"x")


def header_meta(rng: random.Random, base: str, ext: str, stem: str) -> dict[str, Any]:
    """What the intake stores for a hashed file: its header's summary and the base model read from it."""
    return {
        "header": {"format": "pt" if ext == "pt" else "safetensors", "tensor_count": rng.randint(20, 2500),
                   "base_model": base, "base_model_source": "modelspec",
                   "metadata": {"modelspec.architecture": ARCHITECTURE[base], "ss_output_name": stem}},
        "base_model": base,
    }


class Tree:
    """Writes the library's files, at most `per_folder` to a folder, and returns each one's real fingerprint."""

    def __init__(self, root: Path, per_folder: int, total: int):
        self.root = str(root)
        self.per_folder = per_folder
        self.total = total
        self.written = 0
        self.folders: set[str] = set()
        self._filled: dict[str, int] = {}  # group -> files written into it
        self._started = time.perf_counter()
        self._report_every = max(1, total // 10)

    def add(self, group: str, file_name: str, content: bytes) -> tuple[str, Fingerprint]:
        n = self._filled.get(group, 0)
        self._filled[group] = n + 1
        folder = f"{self.root}/{group}/{n // self.per_folder:03d}"
        if folder not in self.folders:
            os.makedirs(folder, exist_ok=True)
            self.folders.add(folder)
        stem, ext = os.path.splitext(file_name)
        path, k = f"{folder}/{file_name}", 1
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                k += 1  # a second `foo` in one folder becomes `foo_2`, as a user would save it
                path = f"{folder}/{stem}_{k}{ext}"
                continue
            break
        try:
            # One unbuffered write, so the size and mtime are final before the fstat (no second lookup by path).
            if os.write(fd, content) != len(content):
                raise OSError(f"short write to {path}")
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self.written += 1
        if self.written % self._report_every == 0 or self.written == self.total:
            print(f"    files written: {self.written:>9,} / {self.total:,} "
                  f"({time.perf_counter() - self._started:.0f} s)", flush=True)
        return path, (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


@dataclass
class Built:
    root: Path
    models: int = 0
    ready: int = 0
    conflicts: int = 0
    copies: int = 0
    folders: int = 0
    seconds: float = 0.0
    db_bytes: int = 0

    @property
    def files(self) -> int:
        return self.models + self.ready + self.conflicts + self.copies


def build(workdir: Path, models: int, files: int, per_folder: int, seed: int, copies: bool = True) -> Built:
    """The tree and its database. Of the files that are not a model's own, a tenth each are byte-for-byte copies
    of a model: merged into it as copies (`model_copies`, unless `copies` is false), or hashed and waiting as
    conflicts; the rest are distinct files hashed and waiting to be imported (`ready`)."""
    started = time.perf_counter()
    others = files - models
    twins = min(others // 10, models // 2)
    merged = twins if copies else 0
    built = Built(workdir / "models", models=models, copies=merged, conflicts=twins, ready=others - merged - twins)
    tree = Tree(built.root, per_folder, files)
    rng = random.Random(seed + 1)  # apart from the generator's own draws, which stay those of library_scale
    types = [t for t in TYPES for _ in range(t[1])]
    bases = [b for b, weight in BASE_MODELS for _ in range(weight)]
    now = time.time()

    pending: list[tuple[Any, ...]] = []
    for j in range(built.ready):
        type_, _, ext, _, _ = rng.choice(types)
        base = rng.choice(bases)
        name = model_name(rng, type_)
        path, st = tree.add(f"{type_}/downloads", f"{name}.{ext}", body(models + j))
        hashed = now - rng.uniform(0, 30 * 86400)
        sha = hashlib.sha256(f"pending:{seed}:{j}".encode()).hexdigest()
        pending.append((path, *st, type_, os.path.basename(path), "ready", sha, sha[::-1], None, hashed - 5,
                        hashed, hashed, json.dumps(header_meta(rng, base, ext, name))))

    # (copy | conflict, the model's path, the twin's fingerprint, the twin's path, type, base model)
    twin_files: list[tuple[str, str, Fingerprint, str, str, str]] = []

    def place(i: int, type_: str, base: str, file_name: str) -> tuple[str, Fingerprint]:
        path, st = tree.add(f"{type_}/{base.replace(' ', '').lower()}", file_name, body(i))
        if i < merged + twins:
            kind = "copy" if i < merged else "conflict"
            # The same bytes again under another folder: a backup kept beside the library, or a second download.
            twin, twin_st = tree.add(f"{type_}/{'backup' if kind == 'copy' else 'incoming'}", file_name, body(i))
            twin_files.append((kind, path, twin_st, twin, type_, base))
        return path, st

    def more(conn: sqlite3.Connection) -> None:
        shas = dict(conn.execute("SELECT path, sha256 FROM models"))
        copies, conflicts = [], []
        for kind, model_path, st, path, type_, base in twin_files:
            sha = shas[model_path]
            if kind == "copy":
                copies.append((path, sha, *st, now - rng.uniform(0, 365 * 86400)))
            else:
                hashed = now - rng.uniform(0, 30 * 86400)
                stem, ext = os.path.splitext(os.path.basename(path))
                conflicts.append((path, *st, type_, os.path.basename(path), "conflict", sha, sha[::-1], sha,
                                  hashed - 5, hashed, hashed, json.dumps(header_meta(rng, base, ext[1:], stem))))
        conn.executemany(
            "INSERT INTO model_copies (path, sha256, size_bytes, mtime_ns, inode, device, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            copies,
        )
        conn.executemany(
            "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, sha256, "
            "blake3, conflict_sha256, discovered_at, hashed_at, updated_at, meta_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            pending + conflicts,
        )

    data = workdir / "data"
    data.mkdir()
    lib = generate(data / "library.sqlite3", models, seed, (), place=place, more=more)
    if lib.ok != models or tree.written != files:
        raise RuntimeError(f"built {lib.ok} models and {tree.written} files, meant {models} and {files}")
    built.folders = len(tree.folders)
    built.seconds = time.perf_counter() - started
    built.db_bytes = (data / "library.sqlite3").stat().st_size
    return built


class Daemon:
    """`python -m hikaze_mm serve` with a notify socket of our own, read as systemd would read it."""

    def __init__(self, workdir: Path, name: str, models: Path, data: Path):
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.cmd = [*SERVE, "--data-dir", str(data), "--models-root",
                    str(models), "--port", str(self.port), "--rescan-interval", "0", "--log-level", "warning"]
        sock_path = workdir / f"{name}.notify"
        sock_path.unlink(missing_ok=True)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(sock_path))
        self.notify.settimeout(0.1)
        # An empty config file keeps a user's own settings out; no watchdog variables, so no pings to read.
        self.env = {k: v for k, v in os.environ.items() if k not in ("WATCHDOG_USEC", "WATCHDOG_PID")}
        self.env.update(HIKAZE_MM_CONFIG=str(workdir / "config.toml"), NOTIFY_SOCKET=str(sock_path))
        self.messages: list[tuple[float, str]] = []  # perf_counter at receipt, datagram
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned = self.spawned_wall = 0.0
        self._closing = False
        self._reader = threading.Thread(target=self._read, name="notify", daemon=True)

    def _read(self) -> None:
        # A thread blocked in recv stamps a datagram as it arrives, whatever the main thread is doing.
        while not self._closing:
            try:
                data = self.notify.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.perf_counter(), data.decode(errors="replace")))

    def start(self) -> None:
        self._reader.start()
        self._log = self.log_path.open("wb")
        self.spawned_wall = time.time()
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)

    def ready_s(self) -> float | None:
        for at, text in self.messages:
            if "READY=1" in text.split("\n"):
                return at - self.spawned
        return None

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {self.proc.returncode}; its log:\n"
                               + self.log_path.read_text(errors="replace")[-4000:])

    def stop(self) -> int:
        code = stop_daemon(self.proc) if self.proc is not None else 0
        self._closing = True
        if self._reader.is_alive():
            self._reader.join()
        self.notify.close()
        if self.proc is not None:
            self._log.close()
            if code != 0:
                print(self.log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
        return code

    def memory(self) -> dict[str, int]:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            return vm_sizes(f.read())


def timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[Any, float, float]:
    """The answer, its milliseconds (request sent to last byte read) and the wall-clock time it was sent."""
    sent = time.time()
    started = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    raw = resp.read()
    ms = (time.perf_counter() - started) * 1000
    if resp.status != 200:
        raise RuntimeError(f"GET {path} answered {resp.status}: {raw[:300]!r}")
    return json.loads(raw), ms, sent


def wait_for_health(daemon: Daemon, deadline: float) -> float:
    """Seconds from spawn to the first 200 from `/api/health`; a refused connection costs the daemon nothing, so
    asking every 10 ms does not slow its start."""
    while time.monotonic() < deadline:
        daemon.alive()
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        try:
            conn.request("GET", "/api/health")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return time.perf_counter() - daemon.spawned
        except OSError:
            pass  # not listening yet
        finally:
            conn.close()
        time.sleep(0.01)
    raise RuntimeError("the daemon never answered /api/health")


@dataclass
class StartUp:
    ready_s: float
    health_s: float
    walk: dict[str, Any]  # the start-up walk's last_scan
    walk_done_s: float  # spawn to the walk's finished_at, both on the wall clock
    status: dict[str, Any]
    during: dict[str, list[float]] = field(default_factory=dict)  # request kind -> ms, sent while it walked


def start_up(daemon: Daemon, timeout: float) -> StartUp:
    """Spawns the daemon and follows it until its start-up walk is done, timing requests while it walks."""
    deadline = time.monotonic() + timeout
    daemon.start()
    health_s = wait_for_health(daemon, deadline)
    samples: list[tuple[str, float, float]] = []  # kind, ms, wall-clock time sent
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=timeout)
    try:
        while True:
            daemon.alive()
            status, ms, sent = timed_get(conn, "/api/status")
            samples.append((LATENCY_PATHS[0], ms, sent))
            if status["scan"] is None and status["last_scan"] is not None:
                break
            _, ms, sent = timed_get(conn, "/api/models?limit=100")
            samples.append((LATENCY_PATHS[1], ms, sent))
            if time.monotonic() > deadline:
                raise RuntimeError(f"the start-up walk did not finish in {timeout:g} s: {status['scan']}")
            time.sleep(SAMPLE_GAP_S)
    finally:
        conn.close()
    ready = daemon.ready_s()
    if ready is None:
        raise RuntimeError("the daemon answers but never sent READY=1 to NOTIFY_SOCKET")
    walk = status["last_scan"]
    result = StartUp(ready, health_s, walk, walk["finished_at"] - daemon.spawned_wall, status)
    for kind, ms, sent in samples:
        # By when it was sent, not when it was answered: an answer held up until the walk's last step is over
        # (the comparison runs on the event loop) is just the one that must count.
        if walk["started_at"] <= sent <= walk["finished_at"]:
            result.during.setdefault(kind, []).append(ms)
    return result


def idle_latency(port: int, requests: int, timeout: float) -> dict[str, list[float]]:
    """The same requests, as far apart, once nothing runs: what the figures during the walk compare with."""
    samples: dict[str, list[float]] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        for _ in range(requests):
            for kind in LATENCY_PATHS:
                samples.setdefault(kind, []).append(timed_get(conn, kind.split()[1])[1])
            time.sleep(SAMPLE_GAP_S)
    finally:
        conn.close()
    return samples


def unchanged_walk(port: int, timeout: float) -> tuple[float, dict[str, Any]]:
    """`POST /api/scan`, timed to the `scan.progress` event that says it is done (read from the event stream
    opened before, so no polling skews the time), and that event's data."""
    events = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        events.request("GET", "/api/events")
        stream = events.getresponse()
        if stream.status != 200 or not stream.readline().startswith(b": connected"):
            raise RuntimeError("the event stream did not open")
        post = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        started = time.perf_counter()
        try:
            post.request("POST", "/api/scan", body=b"", headers={"Content-Type": "application/json"})
            resp = post.getresponse()
            answer = resp.read()
        finally:
            post.close()
        if resp.status != 202:
            raise RuntimeError(f"POST /api/scan answered {resp.status}: {answer[:300]!r}")
        while True:
            line = stream.readline()
            if not line:
                raise RuntimeError("the event stream ended before the scan did")
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "scan.progress" and event["phase"] == "done":
                return time.perf_counter() - started, event
    finally:
        events.close()


def walk_problem(walk: dict[str, Any], total: int) -> str | None:
    if walk["new_or_changed"] or walk["gone"] or walk["unreadable"] or walk["files"] != total:
        return (f"files={walk['files']} (expected {total}) new_or_changed={walk['new_or_changed']} "
                f"gone={walk['gone']} unreadable={walk['unreadable']}: the recorded fingerprints do not match")
    return None


def ms_line(samples: list[float]) -> str:
    if not samples:
        return "none (the walk was over before the API answered)"
    return (f"{len(samples):>3} requests, median {statistics.median(samples):7.1f} ms, "
            f"worst {max(samples):7.1f} ms")


def run(args: argparse.Namespace, workdir: Path) -> bool:
    (workdir / "config.toml").write_text("")
    empty_models, empty_data = workdir / "empty-models", workdir / "empty-data"
    empty_models.mkdir()
    print(f"big_library: {args.models:,} models among {args.files:,} files, the real daemon, {args.starts} starts "
          f"on each library, {args.rounds} unchanged walks", flush=True)
    print("  building the library:", flush=True)
    built = build(workdir, args.models, args.files, args.per_folder, args.seed)
    print(f"  built in {built.seconds:.0f} s: {built.models:,} models, {built.copies:,} copies of models "
          f"(model_copies), {built.conflicts:,} conflicts and {built.ready:,} ready files (pending), "
          f"{built.folders} folders, database {built.db_bytes / MIB:.0f} MiB", flush=True)

    problems: list[str] = []
    seen = walk_and_stat(str(built.root))  # also warms the dentry and inode caches, as every later walk finds them
    if seen != built.files:
        problems.append(f"the bare walk saw {seen} files, expected {built.files}")

    empty_ready: list[float] = []
    starts: list[StartUp] = []
    memory: dict[str, dict[str, int]] = {}
    walk_s: list[float] = []
    scan_s: list[float] = []
    scan_own_s: list[float] = []
    codes: list[int] = []
    idle: dict[str, list[float]] = {}
    # Alternated, so a slow patch of the machine does not land on one side only.
    for n in range(args.starts):
        empty = Daemon(workdir, f"empty-{n}", empty_models, empty_data)
        try:
            empty_ready.append(start_up(empty, args.timeout).ready_s)
        finally:
            codes.append(empty.stop())

        daemon = Daemon(workdir, f"big-{n}", built.root, workdir / "data")
        try:
            start = start_up(daemon, args.timeout)
            starts.append(start)
            if problem := walk_problem(start.walk, built.files):
                problems.append(f"start-up walk {n + 1}: {problem}")
            counts = start.status["counts"]
            want = {"models": built.models, "missing": 0, "ready": built.ready, "conflict": built.conflicts}
            got = {"models": counts["models"], "missing": counts["missing"], "ready": counts["pending"]["ready"],
                   "conflict": counts["pending"]["conflict"]}
            if got != want:
                problems.append(f"start {n + 1}: the daemon counts {got}, the library holds {want}")
            print(f"  start {n + 1}: READY=1 {start.ready_s:.2f} s (empty library {empty_ready[-1]:.2f} s), "
                  f"health {start.health_s:.2f} s, start-up walk done {start.walk_done_s:.2f} s after spawn",
                  flush=True)
            if n == args.starts - 1:
                memory["after the start-up walk"] = daemon.memory()
                idle = idle_latency(daemon.port, IDLE_REQUESTS, args.timeout)
                for r in range(args.rounds):
                    began = time.perf_counter()
                    seen = walk_and_stat(str(built.root))
                    walk_s.append(time.perf_counter() - began)
                    elapsed, event = unchanged_walk(daemon.port, args.timeout)
                    scan_s.append(elapsed)
                    scan_own_s.append(event["finished_at"] - event["started_at"])
                    if problem := walk_problem(event, built.files):
                        problems.append(f"unchanged walk {r + 1}: {problem}")
                    if seen != built.files:
                        problems.append(f"bare walk {r + 1} saw {seen} files, expected {built.files}")
                    rss = daemon.memory()["VmRSS"]
                    print(f"  round {r + 1}: bare walk {walk_s[-1]:.3f} s, unchanged walk {scan_s[-1]:.3f} s, "
                          f"daemon VmRSS {kib(rss).strip()}", flush=True)
                memory[f"after {args.rounds} more walks"] = daemon.memory()
        finally:
            codes.append(daemon.stop())

    bare = subprocess.run([sys.executable, "-c", BASELINE_CODE], capture_output=True, text=True, check=True)
    base = vm_sizes(bare.stdout)
    report(built, starts, idle, empty_ready, walk_s, scan_s, scan_own_s, memory, base)
    print(f"  SIGTERM: exit codes {codes} (each must be 0)")
    for problem in problems:
        print(f"  WRONG: {problem}")
    return not problems and all(code == 0 for code in codes)


def report(built: Built, starts: list[StartUp], idle: dict[str, list[float]], empty_ready: list[float],
           walk_s: list[float], scan_s: list[float], scan_own_s: list[float], memory: dict[str, dict[str, int]],
           base: dict[str, int]) -> None:
    med = statistics.median
    print(f"  {'from spawn, median of ' + str(len(starts)) + ' starts':<44} {'big library':>12} {'empty':>9}")
    print(f"  {'READY=1 on NOTIFY_SOCKET':<44} {med(s.ready_s for s in starts):10.2f} s {med(empty_ready):7.2f} s")
    print(f"  {'first GET /api/health 200':<44} {med(s.health_s for s in starts):10.2f} s")
    print(f"  {'start-up walk started (its started_at)':<44} "
          f"{med(s.walk_done_s - (s.walk['finished_at'] - s.walk['started_at']) for s in starts):10.2f} s")
    print(f"  {'start-up walk done (its finished_at)':<44} {med(s.walk_done_s for s in starts):10.2f} s")
    startup_walk = med(s.walk["finished_at"] - s.walk["started_at"] for s in starts)
    print(f"  {'start-up walk, its own duration':<44} {startup_walk:10.2f} s")
    print(f"  requests {SAMPLE_GAP_S * 1000:.0f} ms apart, sent while the start-up walks ran (all starts), and once "
          "idle after the walk:")
    for kind in LATENCY_PATHS:
        pooled = [ms for s in starts for ms in s.during.get(kind, [])]
        print(f"    {kind:<28} walking {ms_line(pooled)}")
        print(f"    {'':<28} idle    {ms_line(idle[kind])}")
    walk_med, scan_med = med(walk_s), med(scan_s)
    print(f"  unchanged walks of {built.files:,} files, median of {len(scan_s)}:")
    print(f"    os.walk + os.stat (bare)        {walk_med:7.3f} s   best {min(walk_s):6.3f} s")
    print(f"    POST /api/scan to its done event {scan_med:6.3f} s   best {min(scan_s):6.3f} s "
          f"(the daemon's own duration {med(scan_own_s):.3f} s)")
    print(f"    start-up walk / bare walk: {startup_walk / walk_med:.2f}")
    ratio = scan_med / walk_med
    print(f"  unchanged walk / bare walk: {ratio:.2f} (goal <= {WALK_GOAL:g}): {verdict(ratio <= WALK_GOAL)}")
    ready = med(s.ready_s for s in starts) / med(empty_ready)
    print(f"  READY=1 big library / empty library: {ready:.2f} (goal <= {READY_GOAL:g}): "
          f"{verdict(ready <= READY_GOAL)}")
    print(f"  {'memory':<30} {'VmRSS':>11} {'VmHWM':>11}")
    print(f"  {'bare python + imports':<30} {kib(base['VmRSS'])} {kib(base['VmHWM'])}")
    for label, mem in memory.items():
        print(f"  {'daemon ' + label:<30} {kib(mem['VmRSS'])} {kib(mem['VmHWM'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=100_000, help="imported models (default 100,000)")
    parser.add_argument("--files", type=int, default=200_000, help="model files on disk (default 200,000)")
    parser.add_argument("--per-folder", type=int, default=500, help="files per folder at most (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="unchanged walks, each after a bare walk (default 5)")
    parser.add_argument("--starts", type=int, default=3, help="starts of the daemon on each library (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated library (default 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each phase (default 600)")
    args = parser.parse_args()
    if not 1 <= args.models <= args.files:
        parser.error("need 1 <= --models <= --files")
    if args.rounds < 1 or args.starts < 1 or args.per_folder < 1:
        parser.error("--rounds, --starts and --per-folder must be at least 1")
    return in_workdir("hikaze-bench-big-", lambda workdir: run(args, workdir))


if __name__ == "__main__":
    raise SystemExit(main())
