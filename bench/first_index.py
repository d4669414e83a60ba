"""The first index of many small model files by the real daemon, against a minimal indexer on the same tree.

20,000 safetensors files of 2-3 KB in 200 folders, all older than settle_seconds when the daemon starts, as on a
user's first run over an existing library. The baseline walks the tree, stats and reads each file, computes SHA-256
and BLAKE3, parses the header JSON and inserts one row per file into a SQLite table in one transaction. The daemon
(`python -m hikaze_mm serve`, a fresh data dir, the defaults a user has: native watching, `settle_seconds = 2`,
`log_level = "info"`, `hash_workers = "auto"`) runs twice: until every file is a ready row, and with
`--auto-import no_conflict` until every file is an imported model. Goal (issue 13): daemon time <= 10x baseline.

`--census` first runs the daemon's App in this process on the same tree (auto-import on) and counts per file what
the issue names: SQL statements by kind and write transactions, events published, log records. `--py-spy DIR`
samples each daemon run with py-spy (on PATH or next to this Python) and prints where its CPU went, per file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiosqlite
import blake3
from _common import cpu_seconds, start_daemon, stop_daemon, verdict
from memory import free_port, idle, wait_for

from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings
from hikaze_mm.events.bus import EventBus

GOAL = 10.0
SETTLE_SECONDS = 2.0
PY_SPY_RATE = 250  # samples per second per thread

# A thread blocked in C below one of these leaf frames is idle, though py-spy may count it (line numbers: Python 3.11,
# aiosqlite 0.20/0.21).
WAITS = ("EpollSelector.select", "Condition.wait", "Lock.acquire", "SimpleQueue.get", "Queue.get",
         "_worker (concurrent/futures/thread.py:81)", "_connection_worker_thread (aiosqlite/core.py:59)")
# Where a CPU sample goes: the leaf-most frame whose file matches one of these decides (first match in this order).
# py-spy names a library's file from its package folder on, as "(logging/__init__.py:1)".
PARTS = (
    ("start-up: imports", ("<frozen importlib",)),
    ("thread hand-off: waking the event loop", ("_write_to_self",)),
    ("logging", ("(logging/", "hikaze_mm/ops/log")),
    ("full-text index", ("store/sqlite/search_index.py", "store/sqlite/text.py")),
    ("db: pending rows", ("store/sqlite/pending.py", "store/sqlite/file_index.py")),
    ("db: import", ("store/sqlite/imports.py", "store/sqlite/models.py", "store/sqlite/copies.py",
                    "store/sqlite/tags.py", "store/sqlite/images.py")),
    ("db: other store code", ("store/sqlite/",)),
    ("db: SQL run by aiosqlite's thread, and its queue", ("(aiosqlite/",)),
    ("events bus", ("hikaze_mm/events/",)),
    ("hash: hash_file (read, digests, stats, buffers)", ("pipeline/hashing.py",)),
    ("inspect: header probe, sidecars, previews", ("hikaze_mm/inspect/",)),
    ("settle queue", ("pipeline/settle.py",)),
    ("walk + reconcile", ("pipeline/walk.py", "pipeline/reconcile.py", "pipeline/supervisor.py",
                          "pipeline/watch.py", "pipeline/inotify_coverage.py", "(watchdog/")),
    ("intake + decisions", ("pipeline/intake.py", "pipeline/decisions.py", "pipeline/placement.py")),
    ("importer (library)", ("hikaze_mm/library/",)),
    ("app / status", ("hikaze_mm/app.py", "hikaze_mm/status.py", "hikaze_mm/api/", "(aiohttp/")),
    ("thread pools", ("(concurrent/futures/", "(threading.py")),
    ("asyncio loop", ("(asyncio/", "(selectors.py")),
)


def safetensors_body(n: int) -> bytes:
    """A valid safetensors file of 2-3 KB: two small LoRA tensors and a `__metadata__` map padded to the size."""
    target = 2048 + (n * 37) % 1024
    data = struct.pack("<Q", n) * 16  # two F16 tensors of 4x8, the file's number in them
    header: dict[str, Any] = {
        "lora_unet_down_blocks_0_attn2_to_k.lora_down.weight": {"dtype": "F16", "shape": [4, 8],
                                                                 "data_offsets": [0, 64]},
        "lora_unet_down_blocks_0_attn2_to_k.lora_up.weight": {"dtype": "F16", "shape": [8, 4],
                                                               "data_offsets": [64, 128]},
        "__metadata__": {"ss_output_name": f"model{n:05d}", "ss_network_dim": "4",
                         "ss_base_model_version": "sdxl_base_v1-0", "ss_tag_frequency": ""},
    }
    room = target - 8 - len(data) - len(json.dumps(header).encode())
    header["__metadata__"]["ss_tag_frequency"] = "x" * max(room, 0)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def make_tree(models: Path, folders: int, per_folder: int) -> int:
    n = 0
    for d in range(folders):
        folder = models / "loras" / f"set{d:03d}"
        folder.mkdir(parents=True)
        for _ in range(per_folder):
            (folder / f"lora{n:05d}.safetensors").write_bytes(safetensors_body(n))
            n += 1
    return n


def minimal_index(top: Path, db_path: Path) -> dict[str, tuple[str, str]]:
    """The least a first index must do per file; the digests by path, for checking the daemon's."""
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT, "
               "blake3 TEXT, header TEXT)")
    found: dict[str, tuple[str, str]] = {}
    with db:
        for folder, _dirs, names in os.walk(top):
            for name in names:
                path = os.path.join(folder, name)
                st = os.stat(path)
                with open(path, "rb") as f:
                    data = f.read()
                sha, b3 = hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest()
                (length,) = struct.unpack_from("<Q", data)
                header = json.loads(data[8:8 + length])
                db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
                           (path, st.st_size, st.st_mtime_ns, sha, b3, json.dumps(header["__metadata__"])))
                found[path] = (sha, b3)
    db.close()
    return found


def all_ready(total: int) -> Any:
    return lambda s: s["counts"]["pending"]["ready"] == total and idle(s)


def all_imported(total: int) -> Any:
    return lambda s: s["counts"]["models"] == total and not any(s["counts"]["pending"].values()) and idle(s)


def check_rows(db_path: Path, expected: dict[str, tuple[str, str]], imported: bool) -> list[str]:
    """What is wrong with the daemon's rows: a file missing, a digest that disagrees, a header not probed."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        if imported:
            rows = {p: (s, b, "imported", m) for p, s, b, m in db.execute(
                "SELECT path, sha256, blake3, meta_json FROM models")}
        else:
            rows = {p: (s, b, st, m) for p, s, b, st, m in db.execute(
                "SELECT path, sha256, blake3, status, meta_json FROM pending_import")}
    finally:
        db.close()
    wrong = [f"{len(rows)} rows for {len(expected)} files"] if len(rows) != len(expected) else []
    for path, (sha, b3) in expected.items():
        row = rows.get(path)
        if row is None or row[:2] != (sha, b3):
            wrong.append(f"{path}: {row[:3] if row else 'no row'}, expected {sha} {b3}")
        elif "model" not in row[3]:  # the header's __metadata__ reached the row (ss_output_name is "model...")
            wrong.append(f"{path}: the header was not probed: {row[3][:200]}")
        if len(wrong) >= 5:
            break
    return wrong


def sql_kind(sql: str) -> str:
    """`INSERT pending_import`, `SELECT models`, `BEGIN`...: the statement and the first table it names."""
    words = sql.replace("(", " ").split()
    if not words:
        return "(empty)"
    verb = words[0].upper()
    upper = [w.upper() for w in words]
    for marker in ("INTO", "FROM", "UPDATE"):
        if marker in upper[:-1]:
            return f"{verb} {words[upper.index(marker) + 1]}"
    return verb


async def census(models: Path, workdir: Path, total: int) -> None:
    """What one first index with auto-import does per file, counted in this process (the times are not taken)."""
    statements: Counter[str] = Counter()
    events: Counter[str] = Counter()
    records: Counter[str] = Counter()
    patched = {}
    for name in ("execute", "executemany", "execute_fetchall", "execute_insert", "executescript"):
        original = getattr(aiosqlite.Connection, name, None)
        if original is None:
            continue
        patched[name] = original

        def counting(self: Any, sql: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            statements[sql_kind(sql)] += 1
            return _original(self, sql, *args, **kwargs)

        setattr(aiosqlite.Connection, name, counting)
    publish = EventBus.publish

    def counted_publish(self: EventBus, event: Any) -> Any:
        events[type(event).__name__] += 1
        return publish(self, event)

    EventBus.publish = counted_publish  # type: ignore[method-assign]

    class Tally(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records[str(getattr(record, "event", record.name))] += 1

    logger = logging.getLogger("hikaze_mm")
    handler = Tally(logging.INFO)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    app = App(Settings(models_roots=[models], data_dir=workdir / "census", settle_seconds=SETTLE_SECONDS,
                       watch_mode="off", rescan_interval=0, auto_import="no_conflict"), watch=False)
    started = time.perf_counter()
    try:
        await app.start()
        while (await app.store.search.counts())["models"] < total:
            await app.drain()
            await asyncio.sleep(0.1)
        seconds = time.perf_counter() - started
        await app.stop()
    finally:
        for name, original in patched.items():
            setattr(aiosqlite.Connection, name, original)
        EventBus.publish = publish  # type: ignore[method-assign]
        logger.removeHandler(handler)
    print(f"  census of one first index with auto-import, in-process, watching off: {seconds:.1f} s "
          f"({total / seconds:,.0f} files/s, counting included); per file:")
    for label, counts in (("SQL statements", statements), ("events published", events), ("log records", records)):
        print(f"    {label}: {sum(counts.values()) / total:.2f}")
        for kind, n in counts.most_common(20):
            if n >= total / 10:
                print(f"      {n / total:6.2f}  {kind}")


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def breakdown(raw: Path, files: int, rate: int) -> None:
    """Print py-spy's on-CPU samples (all threads) sorted into the parts of a first index, in ms per file."""
    parts: Counter[str] = Counter()
    lines: Counter[str] = Counter()  # the daemon's own code lines that were running, or calling what ran
    waits = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(w in frames[-1] for w in WAITS):
            waits += int(count)
            continue
        own = next((f for f in reversed(frames) if "hikaze_mm/" in f), None)
        if own is not None:
            lines[own] += int(count)
        part = "other"
        for frame in reversed(frames):
            hit = next((name for name, marks in PARTS if any(m in frame for m in marks)), None)
            if hit:
                part = hit
                break
        parts[part] += int(count)
    total = sum(parts.values())
    if not total:
        print("    py-spy recorded no samples")
        return
    print(f"    {'part (py-spy samples of all threads, CPU)':<52} {'ms/file':>8} {'share':>6}")
    for part, n in parts.most_common():
        print(f"    {part:<52} {n / rate / files * 1000:8.3f} {n / total:6.1%}")
    print(f"    {'total':<52} {total / rate / files * 1000:8.3f}")
    print(f"    (left out: {waits / rate / files * 1000:.3f} ms/file of samples blocked in a wait)")
    print("    the daemon's hottest lines (samples running in them or in what they called):")
    for frame, n in lines.most_common(12):
        print(f"      {n / rate / files * 1000:8.3f} ms/file  {frame}")


def run_daemon(label: str, workdir: Path, models: Path, expected: dict[str, tuple[str, str]], flags: tuple[str, ...],
               imported: bool, timeout: float, profile_dir: Path | None) -> tuple[float, bool]:
    """One daemon from a fresh data dir to the end of the first index: its index seconds, and whether all is right."""
    rundir = workdir / label
    rundir.mkdir()
    total = len(expected)
    port = free_port()
    spawned = time.monotonic()
    daemon = start_daemon(rundir, models, port, flags=(
        "--settle-seconds", str(SETTLE_SECONDS), "--log-level", "info", "--watch-mode", "native",
        "--rescan-interval", "600", *flags))
    spy = None
    if profile_dir is not None:
        raw = profile_dir / f"{label}.txt"
        spy = subprocess.Popen([py_spy() or "py-spy", "record", "--pid", str(daemon.pid), "--rate", str(PY_SPY_RATE),
                                "--format", "raw", "--nonblocking", "--output", str(raw)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        status = wait_for(daemon, port, all_imported(total) if imported else all_ready(total), timeout,
                          f"{total} {'imported models' if imported else 'ready rows'}")
        done_wall, done_mono = time.time(), time.monotonic()
        cpu = cpu_seconds(daemon.pid)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=60)
        code = stop_daemon(daemon)
    seconds = done_wall - status["last_scan"]["started_at"]
    log = (rundir / "daemon.log").read_text(errors="replace")
    lines = log.count("\n")
    wrong = check_rows(rundir / "data" / "library.sqlite3", expected, imported)
    print(f"  daemon, {label}: {seconds:.2f} s from the start-up walk's start ({total / seconds:,.0f} files/s), "
          f"{done_mono - spawned:.2f} s from spawn")
    print(f"    CPU {cpu:.1f} s ({cpu / total * 1000:.2f} ms per file, start-up included), "
          f"{lines / total:.2f} log lines per file on stderr, SIGTERM exit {code}")
    if spy is not None and profile_dir is not None:
        breakdown(profile_dir / f"{label}.txt", total, PY_SPY_RATE)
    for problem in wrong:
        print(f"    WRONG: {problem}")
    if code != 0:
        print(log[-4000:], file=sys.stderr)
    return seconds, not wrong and code == 0


def run(folders: int, per_folder: int, rounds: int, timeout: float, workdir: Path, profile_dir: Path | None,
        count: bool) -> bool:
    models = workdir / "models"
    total = make_tree(models, folders, per_folder)
    written = time.time()
    expected = minimal_index(models, workdir / "warm.sqlite3")  # untimed: warms the page cache for both sides
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        again = minimal_index(models, workdir / "baseline.sqlite3")
        samples.append(time.perf_counter() - started)
        if again != expected:
            print("  WRONG: the minimal indexer's digests changed between runs")
            return False
    baseline = statistics.median(samples)
    # Older than settle_seconds in mtime and ctime, so the daemon's walk hashes them at once, as a user's library.
    time.sleep(max(0.0, written + SETTLE_SECONDS + 0.5 - time.time()))

    print(f"first_index: {total} files of 2-3 KB in {folders} folders, page cache warm")
    print(f"  minimal indexer: {baseline:.2f} s median of {rounds} ({total / baseline:,.0f} files/s, "
          f"{baseline / total * 1000:.3f} ms per file)")
    if count:
        asyncio.run(census(models, workdir, total))
    ok = True
    for label, flags, imported in (("ready", (), False),
                                   ("auto-import", ("--auto-import", "no_conflict"), True)):
        seconds, right = run_daemon(label, workdir, models, expected, flags, imported, timeout, profile_dir)
        ok = ok and right
        ratio = seconds / baseline
        print(f"    daemon / baseline = {ratio:.1f}x (goal <= {GOAL:g}): {verdict(ratio <= GOAL)}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=int, default=200, help="folders under models/loras (default 200)")
    parser.add_argument("--files", type=int, default=100, help="files per folder (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of the minimal indexer (default 3)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for each daemon (default 900)")
    parser.add_argument("--py-spy", metavar="DIR", type=Path,
                        help="sample each daemon run with py-spy, keep its raw stacks in DIR and print a breakdown")
    parser.add_argument("--census", action="store_true",
                        help="also count SQL statements, events and log records per file (in this process)")
    args = parser.parse_args()
    if args.py_spy is not None:
        if py_spy() is None:
            parser.error("--py-spy needs py-spy (pip install py-spy)")
        args.py_spy.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-first-index-", dir="/tmp")).resolve()
    try:
        ok = run(args.folders, args.files, args.rounds, args.timeout, workdir, args.py_spy, args.census)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
