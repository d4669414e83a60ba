"""A fork server for the tests' daemons."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

# Most tests start a daemon of their own, and a fresh interpreter spends most of its start-up importing what the
# daemon uses (a fifth of a second of CPU, of a run's minutes of it), nearly all of it aiohttp, the standard library
# and the other packages. The fork server imports those once per test process and forks each daemon from there; the
# child imports hikaze_mm afresh and runs `hikaze-mm serve` as `python -m hikaze_mm serve` would, with the same argv,
# environment, working folder and log file; the server reports its exit. send2trash is left out because it reads
# XDG_DATA_HOME when it is imported, and each test gives its daemon a trash of its own. A daemon that must start in
# an interpreter of its own (under a prefix command, or with PYTHON* variables that only an interpreter's start-up
# reads, as the fault suites' sitecustomize does) is started with `python -m hikaze_mm`.
FORK_SERVER = r"""
import contextlib, importlib, json, os, select, signal, sys

# What `serve` imports, hence everything it imports in turn (a module that moved is only not imported ahead).
for name in ("hikaze_mm.cli.main", "hikaze_mm.app", "hikaze_mm.api.routes", "hikaze_mm.api.connections"):
    with contextlib.suppress(ImportError):
        importlib.import_module(name)
for name in [n for n in sys.modules if n.split(".")[0] in ("hikaze_mm", "send2trash")]:
    del sys.modules[name]

wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)


def child(request):
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.close(wake_r)
    os.close(wake_w)
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for fd, target in ((null, 0), (log, 1), (log, 2)):
        os.dup2(fd, target)
    os.close(null)
    os.close(log)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    import hikaze_mm
    from hikaze_mm.cli.main import main

    sys.argv = [os.path.join(os.path.dirname(hikaze_mm.__file__), "__main__.py"), *request["argv"]]
    raise SystemExit(main(request["argv"]))


pending = b""
while True:
    ready, _, _ = select.select([0, wake_r], [], [])
    if wake_r in ready:
        os.read(wake_r, 4096)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            os.write(1, f"exited {pid} {os.waitstatus_to_exitcode(status)}\n".encode())
    if 0 in ready:
        data = os.read(0, 65536)
        if not data:
            break
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            pid = os.fork()
            if pid == 0:
                child(json.loads(line))
            os.write(1, f"started {pid}\n".encode())
"""


class ForkServer:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # how long starting or stopping may take
        self.env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=self.env)
        self.exited: dict[int, int] = {}
        self.changed = threading.Condition()
        self._started: queue.Queue[int] = queue.Queue()
        self._asking = threading.Lock()
        threading.Thread(target=self._read, name="fork-server", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, pid, *code = line.split()
            if kind == b"started":
                self._started.put(int(pid))
            else:
                with self.changed:
                    self.exited[int(pid)] = int(code[0])
                    self.changed.notify_all()

    def can_start(self, env: dict[str, str]) -> bool:
        """Whether a daemon with this environment would start the same here as in a new interpreter."""
        own = {k: v for k, v in self.env.items() if k.startswith("PYTHON")}
        return own == {k: v for k, v in env.items() if k.startswith("PYTHON")}

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> Forked:
        assert self.proc.stdin is not None
        request = {"argv": argv, "env": env, "log": str(log), "cwd": os.getcwd()}
        with self._asking:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            try:
                return Forked(self, self._started.get(timeout=self.deadline), argv)
            except queue.Empty:
                raise AssertionError(f"the fork server forked nothing (exit code {self.proc.poll()})") from None

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=self.deadline)


class Forked:
    """A daemon the fork server started, with what the tests use of a `subprocess.Popen`."""

    def __init__(self, server: ForkServer, pid: int, argv: list[str]):
        self.server = server
        self.pid = pid
        self.args = argv

    @property
    def returncode(self) -> int | None:
        return self.server.exited.get(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self.server.changed:
            if not self.server.changed.wait_for(lambda: self.pid in self.server.exited, timeout):
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            return self.server.exited[self.pid]

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # once reaped, the pid may be another process's
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
