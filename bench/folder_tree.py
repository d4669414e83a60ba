"""The folder tree of a library of 100,000 models (written as `library_scale.py` writes it, then spread over
sub-folders as a user organises them): `GET /api/folders`, one request, timed from sending it to its last byte,
each right after a write (so no answer is reused), beside a page of the same library (`GET /api/models`).

Goal: the tree in one request of under 50 ms (the median of its requests) at 100,000 models, whatever the filter;
it is read from counts the database keeps per folder, so it should cost about what a page costs, not what counting
100,000 models would. The p95 is printed too: on a machine busy with other work it is the scheduler's figure.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

from _common import SERVE, in_workdir, stop_daemon, verdict
from library_scale import LIBRARY_ROOT, generate, percentile95, timed_gets
from memory import free_port, idle, wait_for

GOAL_MS = 50.0
# Sub-folders per type-and-base-model folder, and inside each of those: about 2,000 folders in all.
GROUPS, SUBGROUPS = 12, 6


def spread(models_root: Path, seed: int):
    """Moves every generated model under `models_root`, into nested sub-folders, in generate's transaction."""
    def more(conn: sqlite3.Connection) -> None:
        rows = conn.execute("SELECT sha256, path FROM models").fetchall()
        moved = []
        for i, (sha, path) in enumerate(rows):
            folder, name = path[len(LIBRARY_ROOT) + 1:].rsplit("/", 1)
            group = (i * 7 + seed) % GROUPS
            sub = f"/{group:02d} 集合/part {(i // GROUPS) % SUBGROUPS}" if group else ""
            moved.append((f"{models_root}/{folder}{sub}/{name}", sha))
        conn.executemany("UPDATE models SET path = ? WHERE sha256 = ?", moved)
    return more


def run(workdir: Path, count: int, reps: int, warmup: int, seed: int, timeout: float) -> bool:
    # Not created: a model folder that is not there (an unmounted disk) leaves its models as they are, so the
    # start-up walk writes nothing while the requests are timed.
    models_root = workdir / "models"
    data_dir = workdir / "data"
    data_dir.mkdir()
    (workdir / "config.toml").write_text("")
    generate(data_dir / "library.sqlite3", count, seed, (), more=spread(models_root, seed))
    with sqlite3.connect(data_dir / "library.sqlite3") as conn:
        folders = conn.execute("SELECT count(DISTINCT dir) FROM folder_tally WHERE n > 0").fetchone()[0]
    port = free_port()
    log_path = workdir / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*SERVE, "--data-dir", str(data_dir), "--models-root",
             str(models_root), "--port", str(port), "--rescan-interval", "0", "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HIKAZE_MM_CONFIG": str(workdir / "config.toml")},
        )
    queries = [
        ("every type", "/api/folders"),
        ("every type, NSFW hidden", "/api/folders?hide_nsfw=true"),
        ("loras, NSFW hidden", "/api/folders?type=loras&hide_nsfw=true"),
        ("every status", "/api/folders?status=all"),
        ("a page of models (for scale)", "/api/models?limit=100"),
    ]
    ok = True
    try:
        wait_for(daemon, port, lambda s: idle(s) and s["last_scan"] is not None, timeout, "the start-up scan")
        print(f"folder_tree: {count:,} models in {folders:,} folders, {reps} requests each, each after a write")
        for label, path in queries:
            samples, answer = timed_gets(port, path, reps, warmup, after_write=True)
            median, p95 = statistics.median(samples), percentile95(samples)
            tree = path.startswith("/api/folders")
            if tree:
                ok = ok and median < GOAL_MS
            print(f"  {label:<30} median {median:6.2f} ms, p95 {p95:6.2f} ms, max {max(samples):6.2f} ms "
                  f"({answer['total']:,} models){' ' + verdict(median < GOAL_MS) if tree else ''}")
    finally:
        code = stop_daemon(daemon)
    if code != 0:
        print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
        return False
    print(f"  goal: every tree's median under {GOAL_MS:g} ms {verdict(ok)}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    return in_workdir("hikaze-bench-folders-",
                      lambda w: run(w, args.models, args.reps, args.warmup, args.seed, args.timeout))


if __name__ == "__main__":
    raise SystemExit(main())
