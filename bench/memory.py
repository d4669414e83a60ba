"""Resident memory of the real daemon (`python -m hikaze_mm serve`) once it knows a library of 20,000 files,
and again after one more full scan, against a bare Python that only imports the daemon's main dependencies.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import make_library, start_daemon, stop_daemon, vm_sizes

BASELINE_CODE = "import aiohttp, aiosqlite, watchdog, blake3; print(open('/proc/self/status').read())"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(port: int, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=b"" if method == "POST" else None, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def wait_for(daemon: subprocess.Popen[bytes], port: int, done: Any, timeout: float, what: str) -> dict[str, Any]:
    """Poll the status until `done(status)` holds; fail early if the daemon died, and say where it stood."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.returncode} while waiting for {what}")
        with contextlib.suppress(OSError):  # not listening yet
            status = api(port, "/api/status")
        if status is not None and done(status):
            return status
        time.sleep(0.5)
    where = {k: status[k] for k in ("queues", "counts", "scan")} if status else "no answer"
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}; last status: {where}")


def idle(status: dict[str, Any]) -> bool:
    return status["scan"] is None and not any(status["queues"].values())


def kib(n: int) -> str:
    return f"{n / 1024:7.1f} MiB"


def run(folders: int, per_folder: int, timeout: float, workdir: Path) -> bool:
    models = workdir / "models"
    total = make_library(models, folders, per_folder, 64)
    port = free_port()
    started = time.monotonic()
    daemon = start_daemon(workdir, models, port)
    try:
        first = wait_for(daemon, port, lambda s: s["counts"]["pending"]["ready"] == total and idle(s), timeout,
                         f"{total} ready files")
        import_s = time.monotonic() - started
        with open(f"/proc/{daemon.pid}/status") as f:
            after_import = vm_sizes(f.read())

        before = first["last_scan"]["finished_at"]
        api(port, "/api/scan", "POST")
        wait_for(daemon, port, lambda s: idle(s) and s["last_scan"]["finished_at"] > before, timeout, "the rescan")
        with open(f"/proc/{daemon.pid}/status") as f:
            after_scan = vm_sizes(f.read())
    finally:
        code = stop_daemon(daemon)

    bare = subprocess.run([sys.executable, "-c", BASELINE_CODE], capture_output=True, text=True, check=True)
    base = vm_sizes(bare.stdout)

    print(f"memory: daemon with {total} known files in {folders} folders")
    print(f"  first import took {import_s:.1f} s ({total / import_s:,.0f} files/s, including start-up)")
    print(f"  {'':<30} {'VmRSS':>11} {'VmHWM':>11}")
    print(f"  {'bare python + imports':<30} {kib(base['VmRSS'])} {kib(base['VmHWM'])}")
    for label, mem in (("daemon after the import", after_import), ("daemon after one more scan", after_scan)):
        print(f"  {label:<30} {kib(mem['VmRSS'])} {kib(mem['VmHWM'])}")
    extra = after_scan["VmRSS"] - base["VmRSS"]
    print(f"  daemon minus baseline after the scan: {kib(extra).strip()}")
    print(f"  SIGTERM: exit code {code} (must be 0)")
    if code != 0:
        print((workdir / "daemon.log").read_text(errors="replace")[-4000:], file=sys.stderr)
    return code == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=int, default=200, help="folders under models/loras (default 200)")
    parser.add_argument("--files", type=int, default=100, help="files per folder (default 100)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each phase (default 300)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-memory-", dir="/tmp"))
    try:
        ok = run(args.folders, args.files, args.timeout, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
