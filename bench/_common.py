"""Helpers shared by the benchmark scripts (imported from the script's own folder, which Python puts on sys.path)."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

GIB = 1024**3
MIB = 1024**2

# The daemon as the benchmarks start it: no metadata source, so nothing is looked up on the internet.
SERVE = (sys.executable, "-m", "hikaze_mm", "serve", "--metadata-source", "none")


def make_library(models: Path, folders: int, per_folder: int, size: int, subfolder: str = "loras") -> int:
    """A tree of small `.safetensors` files with distinct content, so every file hashes to its own model."""
    count = 0
    for d in range(folders):
        folder = models / subfolder / f"dir{d:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(per_folder):
            # A counter prefix keeps every file's content (and so its sha256) unique; os.urandom would too, but
            # deterministic content makes a rerun comparable.
            body = f"{count:016d}".encode().ljust(size, b"x")
            (folder / f"model{f:03d}.safetensors").write_bytes(body)
            count += 1
    return count


def walk_and_stat(top: str) -> int:
    """The baseline for a reconcile: the least work that can notice every file's size and mtime."""
    n = 0
    for folder, _dirs, files in os.walk(top):
        for name in files:
            os.stat(os.path.join(folder, name))
            n += 1
    return n


def best_median(samples: list[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def verdict(ok: bool) -> str:
    return "meets the goal" if ok else "MISSES the goal"


def vm_sizes(status_text: str) -> dict[str, int]:
    """VmRSS and VmHWM in KiB from the text of a /proc/<pid>/status file (Linux only)."""
    found: dict[str, int] = {}
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def stop_daemon(daemon: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd would stop it; the exit code tells whether it stopped cleanly."""
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        return daemon.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far, all its threads together (Linux only)."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name in parentheses may hold spaces; the numbered fields start after its closing one.
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_daemon(workdir: Path, models: Path, port: int, env: dict[str, str] | None = None,
                 flags: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """`hikaze-mm serve` on `models` with its data and log in `workdir`: no settle delay, no periodic rescan, and an
    empty config file, so a user's own settings stay out of the measurement. `flags` come last, so they win."""
    config = workdir / "config.toml"
    config.write_text("")
    cmd = [*SERVE, "--config", str(config), "--models-root", str(models),
           "--data-dir", str(workdir / "data"), "--port", str(port), "--settle-seconds", "0",
           "--rescan-interval", "0", "--log-level", "warning", *flags]
    with (workdir / "daemon.log").open("wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def in_workdir(prefix: str, run: Callable[[Path], bool]) -> int:
    """`run` in a fresh folder under /tmp that is removed afterwards, whatever happens; the exit code. A SIGTERM (a
    killed CI job) unwinds like an exception, so the daemons are stopped and the tree removed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        ok = run(workdir)
    finally:
        print("  removing the tree", flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1
