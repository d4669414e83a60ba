"""A v1 database of 20,000 junk rows (files outside the model folders, files in them that are gone, files that are no
models; each row with a description and two tags) brought in by `POST /api/migrate/legacy` on the real daemon
(`python -m hikaze_mm serve`), while a client edits a model (`PATCH /api/models/{sha256}`) back to back on one
keep-alive connection. Reports how long the POST took to answer, how long the job ran, and the PATCH latency
during the job against the same PATCH on the idle daemon, timed just before; during the job, also apart for its
two phases: reading the v1 file (a thread) and writing the rows (a batch per transaction), told apart by the
first `legacy.progress` event with rows done.

Goal: p99 PATCH latency while the rows are written at most 20x the idle median (the job leaves the writer to
other writes between its batches); the read phase and the worst request are reported beside it. The POST must
answer while the job is still running and the job's counts must match the rows, else the script fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import start_daemon, stop_daemon, verdict
from memory import free_port, idle, wait_for

LATENCY_GOAL = 20.0


def v1_database(path: Path, models: Path, outside: Path, rows: int) -> dict[str, int]:
    """The junk rows, in thirds; the counts the report must show."""
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # as v1 left its file
    conn.execute("CREATE TABLE models (id INTEGER PRIMARY KEY, path, name, type, size_bytes INTEGER, hash_hex, "
                 "created_at INTEGER, extra_json, meta_json)")
    conn.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name, color)")
    conn.execute("CREATE TABLE model_tags (model_id, tag_id)")
    kinds = [(outside / f"dir{i % 50}" / f"junk{i}.safetensors", models / "loras" / f"gone{i}.safetensors",
              models / "loras" / f"notes{i}.txt")[i % 3] for i in range(1, rows + 1)]
    conn.executemany("INSERT INTO models (id, path, name, type, extra_json) VALUES (?, ?, ?, 'lora', ?)",
                     [(i, str(p), f"junk {i}", json.dumps({"description": f"junk row {i}"}))
                      for i, p in enumerate(kinds, 1)])
    conn.executemany("INSERT INTO tags (id, name, color) VALUES (?, ?, '#fff')", [(1, "junk"), (2, "bench")])
    conn.executemany("INSERT INTO model_tags VALUES (?, ?)", [(i, t) for i in range(1, rows + 1) for t in (1, 2)])
    conn.commit()
    conn.close()
    return {"outside_folders": len(range(3, rows + 1, 3)), "missing_files": len(range(1, rows + 1, 3)),
            "not_model_files": len(range(2, rows + 1, 3))}


def call(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def patches(port: int, sha256: str, stop: threading.Event, samples: list[tuple[float, float]]) -> None:
    """PATCH the model back to back until `stop`; (sent at, seconds) for each."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    while not stop.is_set():
        n += 1
        started = time.perf_counter()
        status, answer = call(conn, "PATCH", f"/api/models/{sha256}", {"meta_json": {"notes": f"edit {n}"}})
        samples.append((started, time.perf_counter() - started))
        if status != 200:
            raise RuntimeError(f"PATCH answered {status}: {answer}")
    conn.close()


def progress_marks(port: int, marks: list[tuple[float, int]], connected: threading.Event) -> None:
    """(arrived at, rows done) of each `legacy.progress` event, until `legacy.done`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/events", timeout=60) as stream:
        stream.readline()  # ": connected": subscribed from here on
        connected.set()
        for raw in stream:
            line = raw.decode()
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "legacy.progress":
                    marks.append((time.perf_counter(), event["done"]))
                elif event["type"] == "legacy.done":
                    return


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) >= 2 else values[0]


def run(rows: int, idle_patches: int, timeout: float, workdir: Path) -> bool:
    models = workdir / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "loras").mkdir()
    (models / "checkpoints" / "edited.safetensors").write_bytes(b"bench model".ljust(4096, b"x"))
    db = workdir / "v1" / "hikaze_mm.sqlite3"
    expected = v1_database(db, models, workdir / "outside", rows)
    port = free_port()
    daemon = start_daemon(workdir, models, port)
    try:
        wait_for(daemon, port, lambda s: s["counts"]["pending"]["ready"] == 1 and idle(s), timeout, "the model")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        _, pending = call(conn, "GET", "/api/pending?status=ready")
        _, imported = call(conn, "POST", "/api/pending/import", {"ids": [pending["pending"][0]["id"]]})
        sha256 = imported["imported"][0]["sha256"]

        idle_samples: list[tuple[float, float]] = []
        stop = threading.Event()
        for _ in range(idle_patches):  # the same client, alone: the baseline
            started = time.perf_counter()
            call(conn, "PATCH", f"/api/models/{sha256}", {"meta_json": {"notes": "idle"}})
            idle_samples.append((started, time.perf_counter() - started))

        busy: list[tuple[float, float]] = []
        marks: list[tuple[float, int]] = []
        connected = threading.Event()
        listener = threading.Thread(target=progress_marks, args=(port, marks, connected))
        listener.start()
        connected.wait(timeout)
        editor = threading.Thread(target=patches, args=(port, sha256, stop, busy))
        editor.start()
        posted = time.perf_counter()
        status, job = call(conn, "POST", "/api/migrate/legacy", {"db_path": str(db)})
        answered = time.perf_counter() - posted
        if status != 202 or job["state"] != "running":
            raise RuntimeError(f"the POST did not answer with a running job: {status} {job}")
        ended = wait_for(daemon, port, lambda s: s["legacy"]["state"] != "running", timeout, "the migration")["legacy"]
        stop.set()
        editor.join()
        listener.join(timeout)
        conn.close()
    finally:
        code = stop_daemon(daemon)

    report = ended["report"]
    counts = {k: report[k] for k in expected}
    if ended["state"] != "done" or counts != expected or report["migrated"] != rows or report["errors"]:
        print(f"the migration went wrong: state {ended['state']}, counts {counts}, expected {expected}, "
              f"errors {report['errors'][:5]}")
        return False
    job_s = ended["finished_at"] - ended["started_at"]
    written = next(at for at, done in marks if done > 0)  # the first batch is in: the file has been read
    ends = marks[-1][0]
    phases = {
        "reading the v1 file": [s for at, s in busy if posted <= at < written],
        "writing the rows": [s for at, s in busy if written <= at and at + s <= ends],
    }
    idle_median = statistics.median(s for _, s in idle_samples)
    print(f"{rows} v1 rows: the POST answered in {answered * 1000:.1f} ms; the job ran {job_s:.2f} s "
          f"({rows / job_s:,.0f} rows/s), {written - posted:.2f} s of it reading the file; "
          f"{len(marks)} progress events")
    print(f"PATCH idle: median {idle_median * 1000:.2f} ms, p99 {p99([s for _, s in idle_samples]) * 1000:.2f} ms "
          f"({len(idle_samples)} requests)")
    for phase, during in phases.items():
        if during:
            print(f"PATCH while {phase}: median {statistics.median(during) * 1000:.2f} ms, p99 "
                  f"{p99(during) * 1000:.2f} ms, worst {max(during) * 1000:.2f} ms ({len(during)} requests)")
    writing = phases["writing the rows"]
    ratio = p99(writing) / idle_median
    print(f"p99 while writing / idle median = {ratio:.1f} (goal <= {LATENCY_GOAL:g}): {verdict(ratio <= LATENCY_GOAL)}")
    if code != 0:
        print(f"the daemon exited with {code} on SIGTERM")
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="v1 rows (default 20,000)")
    parser.add_argument("--idle-patches", type=int, default=200, help="PATCHes timed on the idle daemon")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each stage")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-legacy-"))
    try:
        return 0 if run(args.rows, args.idle_patches, args.timeout, workdir) else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
