"""Tells systemd how the daemon is (sd_notify): ready, alive, what it is doing, stopping. A datagram to
`$NOTIFY_SOCKET` is the whole protocol, so no libsystemd; without the variable every call does nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
STATUS_EVERY_S = 2.0


def status_line(status: dict[str, Any]) -> str:
    """`App.status()` in one line for `systemctl status`."""
    folders = sum(1 for r in status["roots"] if r["exists"])
    pending = status["counts"]["pending"]
    waiting = pending["ready"] + pending["conflict"]
    line = f"watching {_count(folders, 'folder')}, hashing {_count(status['queues']['hashing'], 'file')}, " \
           f"{waiting} pending"
    if pending["error"]:
        line += f", {pending['error']} unreadable"
    if status["setting_up_watches"]:
        line += ", setting up the watches"
    if status["scan"] is not None:
        line += ", walking the folders"
    database = status["database"]
    if database["state"] == "unreachable":
        line += f", the database is unreachable ({_count(database['queued_decisions'], 'file decision')} waiting)"
    return line


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Notifier:
    def __init__(self, env: dict[str, str] | None = None):
        env = dict(os.environ) if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            # A full receive queue must never stall the event loop; a lost ping is retried soon after.
            self._sock.setblocking(False)
        self.watchdog_s = _watchdog_interval(env) if self._sock else None
        self._pinger: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None

    def send(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode(), self._address)
        except OSError as e:
            log.debug("sd_notify %s failed: %s", fields, e)

    def ready(self, status: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """READY=1, then the watchdog pings and the status lines from tasks on the event loop."""
        if self._sock is None:
            return
        self.send("READY=1")
        if self.watchdog_s:
            self._pinger = asyncio.create_task(self._ping(self.watchdog_s / 2), name="sd-watchdog")
        self._reporter = asyncio.create_task(self._report(status), name="sd-status")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")
        if self._reporter is not None:
            self._reporter.cancel()  # the pings go on while the shutdown runs, the status would only say less

    async def close(self) -> None:
        tasks = [t for t in (self._pinger, self._reporter) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pinger = self._reporter = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _ping(self, every: float) -> None:
        # Sent from the loop itself: a loop that hangs stops pinging, and systemd restarts the daemon.
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(every)

    async def _report(self, status: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        last = None
        while True:
            try:
                line = status_line(await status())
            except Exception:
                log.exception("building the systemd status line failed")
            else:
                if line != last:
                    self.send(f"STATUS={line}")
                    last = line
            await asyncio.sleep(STATUS_EVERY_S)


def _watchdog_interval(env: dict[str, str]) -> float | None:
    """Seconds between pings systemd expects at most, if the watchdog is meant for this process."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    with contextlib.suppress(ValueError):
        usec = int(env.get("WATCHDOG_USEC", ""))
        if usec > 0:
            return usec / 1_000_000
    return None
