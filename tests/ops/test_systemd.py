"""The systemd integration: sd_notify from the real daemon, `hikaze-mm service install`, and unit files that
`systemd-analyze verify` accepts without a word."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import DEADLINE_S, Daemon, digests, run_cli, with_site, write_model
from hikaze_mm.ops.systemd_unit import command_line, render, render_placeholder

REPO = Path(__file__).resolve().parents[2]
INSTALLED = Path(sys.executable).parent / "hikaze-mm"


class NotifySocket:
    """The socket systemd would listen on: collects the datagrams the daemon sends."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[list[str]] = []

    def wait_for(self, check, what: str, timeout: float = DEADLINE_S) -> list[str]:
        """Read datagrams until one passes `check`; the deadline bounds the wait, nothing sleeps."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                fields = self.sock.recv(4096).decode().split("\n")
            except TimeoutError:
                break
            self.messages.append(fields)
            if check(fields):
                return fields
        raise AssertionError(f"no {what} within {timeout:g}s; got {self.messages!r}")

    def close(self) -> None:
        self.sock.close()


def port_answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as resp:
        return resp.status == 200


async def test_daemon_tells_systemd_ready_alive_status_and_stopping(tmp_path: Path, models: Path):
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = Daemon(tmp_path, "--models-root", str(models),
                    env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "200000"})
    try:
        starting = asyncio.create_task(daemon.start())
        await asyncio.to_thread(notify.wait_for, lambda f: "READY=1" in f, "READY=1")
        assert await asyncio.to_thread(port_answers, daemon.port)  # READY=1 comes only once the port is served
        await starting

        pings = 0

        def second_ping(fields: list[str]) -> bool:
            nonlocal pings
            pings += "WATCHDOG=1" in fields
            return pings >= 2

        await asyncio.to_thread(notify.wait_for, second_ping, "two WATCHDOG=1")
        status = await asyncio.to_thread(
            notify.wait_for, lambda f: any(x.startswith("STATUS=") and "folder" in x for x in f), "STATUS="
        )
        assert any(x.startswith("STATUS=watching 1 folder, hashing 0 files, 0 pending") for x in status), status

        assert daemon.proc is not None
        daemon.proc.terminate()
        await asyncio.to_thread(notify.wait_for, lambda f: "STOPPING=1" in f, "STOPPING=1")
        assert await asyncio.to_thread(daemon.proc.wait, DEADLINE_S) == 0, daemon.log()
    finally:
        await daemon.close()
        notify.close()


# The first watch waits until the test opens the FIFO for writing: a set-up as slow as the test wants.
HOLD_WATCHES_SITE = """
import os

from hikaze_mm.pipeline import watch

_real_watch = watch.Watcher.watch
_held = []


def _held_watch(self, *args, **kw):
    if not _held:
        _held.append(True)
        with open(os.environ["HIKAZE_TEST_HOLD_WATCHES"], "rb") as fifo:
            fifo.read()
    return _real_watch(self, *args, **kw)


watch.Watcher.watch = _held_watch
"""


async def test_ready_comes_before_the_watches_and_a_file_made_meanwhile_is_found(tmp_path: Path, models: Path):
    """READY=1 and the API do not wait for the watches (a second or more at a million files); the start-up walk
    does, so a file made while they are set up, which no watch sees, is found by it."""
    notify = NotifySocket(tmp_path / "notify.sock")
    fifo = tmp_path / "hold-watches"
    os.mkfifo(fifo)
    env = {**with_site(tmp_path, HOLD_WATCHES_SITE), "HIKAZE_TEST_HOLD_WATCHES": str(fifo),
           "NOTIFY_SOCKET": str(notify.path)}
    daemon = Daemon(tmp_path, "--models-root", str(models), "--settle-seconds", "0.1", env=env)
    try:
        await daemon.start()
        await asyncio.to_thread(notify.wait_for, lambda f: "READY=1" in f, "READY=1")
        status = await daemon.get("/api/status")
        assert status["setting_up_watches"] and status["scan"] is None and status["last_scan"] is None, status
        made = write_model(models / "loras" / "made-during-set-up.safetensors")
        with open(fifo, "wb"):  # lets the set-up go on
            pass
        row = await daemon.wait_row(made)
        assert row["sha256"] == digests(made)[0]
        assert not (await daemon.watching())["setting_up_watches"]
        later = write_model(models / "vae" / "made-after.safetensors")
        await daemon.wait_row(later)  # no walk since the first: the watch saw it
    finally:
        with contextlib.suppress(OSError):  # a set-up still held (the test failed before) lets the daemon stop
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        await daemon.close()
        notify.close()


async def test_abstract_notify_socket_is_reached(tmp_path: Path, models: Path):
    name = f"hikaze-mm-test-{os.getpid()}-{time.monotonic_ns()}"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind("\0" + name)
    notify.settimeout(DEADLINE_S)
    daemon = Daemon(tmp_path, "--models-root", str(models), env={"NOTIFY_SOCKET": "@" + name})
    try:
        await daemon.start()
        assert "READY=1" in (await asyncio.to_thread(notify.recv, 4096)).decode().split("\n")
    finally:
        await daemon.close()
        notify.close()


async def test_without_notify_socket_the_daemon_runs_the_same(tmp_path: Path, models: Path):
    daemon = Daemon(tmp_path, "--models-root", str(models), env={"NOTIFY_SOCKET": "", "WATCHDOG_USEC": "200000"})
    try:
        await daemon.start()
        assert (await daemon.wait_idle())["roots"]
        assert daemon.terminate() == 0, daemon.log()
    finally:
        await daemon.close()


def test_service_install_writes_the_user_unit_with_absolute_paths(tmp_path: Path):
    config = tmp_path / "conf" / "hikaze mm.toml"
    config.parent.mkdir()
    config.write_text('port = 8790\n')
    xdg = tmp_path / "xdg-config"
    path = f"{INSTALLED.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = run_cli("service", "install", "--config", str(config), env={"XDG_CONFIG_HOME": str(xdg), "PATH": path})
    assert result.returncode == 0, result.stderr
    unit = (xdg / "systemd" / "user" / "hikaze-mm.service").read_text()
    assert f'ExecStart={INSTALLED} serve --config "{config}"\n' in unit
    assert "Type=notify" in unit and "WantedBy=default.target" in unit
    for line in ("systemctl --user daemon-reload", "systemctl --user enable --now hikaze-mm",
                 "loginctl enable-linger $USER"):
        assert line in result.stdout


def test_service_install_falls_back_to_python_m_and_the_daemons_config(tmp_path: Path):
    config = tmp_path / "from-env.toml"
    config.write_text("")
    result = run_cli("service", "install", "--print",
                     env={"PATH": str(tmp_path / "nowhere"), "HIKAZE_MM_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert f"ExecStart={sys.executable} -m hikaze_mm serve --config {config}\n" in result.stdout


def test_service_install_refuses_a_missing_config(tmp_path: Path):
    result = run_cli("service", "install", "--print", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_system_unit_is_sandboxed_and_keeps_the_data_dir_writable():
    result = run_cli("service", "install", "--system", "--print")
    assert result.returncode == 0, result.stderr
    for line in ("User=hikaze", "ProtectSystem=strict", "ReadWritePaths=/var/lib/hikaze-mm", "NoNewPrivileges=yes",
                 "PrivateTmp=yes", "ProtectHome=read-only", "StateDirectory=hikaze-mm"):
        assert f"\n{line}\n" in result.stdout
    assert " serve --data-dir /var/lib/hikaze-mm\n" in result.stdout


def test_exec_start_words_survive_systemd_quoting():
    line = command_line(["/opt/my models/hikaze-mm", "serve", "--config", '/c/"50%" $HOME.toml'])
    assert line == '"/opt/my models/hikaze-mm" serve --config "/c/\\"50%%\\" $$HOME.toml"'


@pytest.mark.parametrize(("name", "system"), [("hikaze-mm.service", False), ("hikaze-mm-system.service", True)])
def test_committed_unit_files_are_the_rendered_templates(name: str, system: bool):
    assert (REPO / "systemd" / name).read_text() == render_placeholder(system=system)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (apt-get install systemd)")
@pytest.mark.parametrize(("name", "system"), [("hikaze-mm.service", False), ("hikaze-mm-system.service", True)])
def test_systemd_analyze_verify_has_nothing_to_say(tmp_path: Path, name: str, system: bool):
    # The committed files start %h/.local/bin/hikaze-mm, which verify would call not executable: the same
    # template with this venv's command is what gets checked, with a space and a % to exercise the quoting.
    unit = tmp_path / name
    unit.write_text(render([str(INSTALLED), "serve", "--config", str(tmp_path / "my 100% config.toml")],
                           system=system))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    # A container has no user manager; a private XDG_RUNTIME_DIR lets `--user verify` start its own.
    scope = [] if system else ["--user"]
    result = subprocess.run(["systemd-analyze", *scope, "verify", "--man=no", str(unit)], capture_output=True,
                            text=True, timeout=DEADLINE_S, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result
