"""A throw-away PostgreSQL server for the tests: Debian's `initdb` and `pg_ctl` in a temporary folder.

The server listens only on a Unix socket inside that folder (no TCP), trusts whoever reaches the socket, and is
stopped and deleted when the session ends, even when tests fail. Each xdist worker starts its own, and only when a
test asks for `pg_server` (or `pg_database`, a fresh database per test). PostgreSQL refuses to run as root, so under
root the server runs as Debian's `postgres` user, which owns the folder.

A test of its own server (`running_pg_server()`) may stop it as an administrator would (`stop_server`) and start it
again on the same data (`start_server`), to see what a daemon does meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest

SUPERUSER = "postgres"
# The port only names the socket file (`.s.PGSQL.<port>`); nothing else can be in the server's own folder.
PORT = 5432
DEBIAN_ROOT = Path("/usr/lib/postgresql")
# Throw-away data: durability costs time and buys nothing here.
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
}


@dataclass(frozen=True)
class PgServer:
    folder: Path
    pid: int
    user: str = SUPERUSER
    port: int = PORT

    @property
    def socket_dir(self) -> Path:
        return self.folder

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{database}?host={quote(str(self.socket_dir))}&port={self.port}"

    async def connect(self, database: str = "postgres") -> asyncpg.Connection:
        return await asyncpg.connect(host=str(self.socket_dir), port=self.port, user=self.user, database=database)


@dataclass(frozen=True)
class PgDatabase:
    server: PgServer
    name: str

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.name)

    async def connect(self) -> asyncpg.Connection:
        return await self.server.connect(self.name)


def bindir() -> Path:
    """Where initdb and pg_ctl are: Debian keeps each major version apart, the newest wins; else the PATH."""
    versions = [p.parent for p in DEBIAN_ROOT.glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    if versions:
        return max(versions, key=lambda b: int(b.parent.name))
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.fail("PostgreSQL is not installed: scripts/test installs Debian's postgresql package")
    return Path(initdb).parent


def as_server_user() -> tuple[str, ...]:
    """The prefix that runs a command as the server's owner: the `postgres` user when we are root, else ourselves."""
    if os.geteuid() != 0:
        return ()
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        pytest.fail("running as root needs a `postgres` user to run PostgreSQL (Debian's package creates it)")
    if shutil.which("runuser"):
        return ("runuser", "-u", SUPERUSER, "--")
    return ("setpriv", f"--reuid={SUPERUSER}", f"--regid={SUPERUSER}", "--init-groups", "--")


def _run(args: list[str], folder: Path) -> None:
    # The server's user may not be able to enter our working directory; its own folder it can.
    done = subprocess.run([*as_server_user(), *args], cwd=folder, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        log = folder / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}\n{tail}")


def _postmaster_pid(data: Path) -> int:
    return int((data / "postmaster.pid").read_text().split("\n", 1)[0])


def alive(pid: int) -> bool:
    """A zombie counts as gone: it has exited, only its parent has not collected it yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, seconds: float) -> bool:
    """Waits on a pidfd, which turns readable when the process exits (a zombie included)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


@contextlib.contextmanager
def running_pg_server() -> Iterator[PgServer]:
    """A fresh server for the `with` block, stopped and deleted after it however the block ends."""
    tools = bindir()
    # /tmp, not pytest's base temp (root's is private to root): the `postgres` user must enter the folder, and a
    # socket path may not exceed 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="hikaze-pg-", dir="/tmp"))
    data = folder / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, SUPERUSER, SUPERUSER)
        # Anyone may reach the socket (a daemon the tests run without root's powers, or as root of a user
        # namespace, is "anyone" to a folder it does not own); only the server lists or reads the folder.
        folder.chmod(0o711)
        _run([str(tools / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C",
              "--no-sync", "--no-instructions"], folder)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"unix_socket_directories = '{folder}'\n")
            conf.writelines(f"{key} = {value}\n" for key, value in SETTINGS.items())
        server = start_server(PgServer(folder, 0))
        try:
            yield server
        finally:
            pid = _running_pid(data)  # started again since, or stopped by the test
            if pid is not None:
                _stop(tools, data, folder, pid)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def start_server(server: PgServer) -> PgServer:
    """Starts the server on its data folder (again, after `stop_server`); the server as it now runs."""
    data = server.folder / "data"
    _run([str(bindir() / "pg_ctl"), "-D", str(data), "-l", str(server.folder / "server.log"), "-w", "-s", "start"],
         server.folder)
    return PgServer(server.folder, _postmaster_pid(data))


def stop_server(server: PgServer) -> None:
    """Stops the server as an administrator would (a fast shutdown: open sessions are ended), and returns once its
    process is gone, so that nothing answers on its socket any more."""
    data = server.folder / "data"
    pid = _running_pid(data)
    if pid is not None:
        _stop(bindir(), data, server.folder, pid)


def _running_pid(data: Path) -> int | None:
    try:
        pid = _postmaster_pid(data)
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def _stop(tools: Path, data: Path, folder: Path, pid: int) -> None:
    # pg_ctl returns once the pid file is gone, a moment before the postmaster has exited: wait for the process.
    # If a fast stop (which ends open sessions) hangs, an immediate one (SIGQUIT) cannot, and SIGKILL is the last word.
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        _run([str(tools / "pg_ctl"), "-D", str(data), "-w", "-t", "20", "-s", "-m", "fast", "stop"], folder)
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        if _wait_gone(pid, 5.0):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    if not _wait_gone(pid, 5.0):
        raise RuntimeError(f"the test PostgreSQL (pid {pid}) outlived SIGKILL")


async def create_database(server: PgServer, template: str | None = None) -> PgDatabase:
    """A new, empty database; or a copy of `template` (a file copy on the server, far quicker than making a
    schema again)."""
    name = f"test_{secrets.token_hex(6)}"
    conn = await server.connect()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()
    return PgDatabase(server, name)


async def drop_database(database: PgDatabase) -> None:
    conn = await database.server.connect()
    try:
        # FORCE: a connection a test leaked must not keep its database alive.
        await conn.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with running_pg_server() as server:
        yield server


@pytest.fixture
async def pg_database(pg_server: PgServer) -> AsyncIterator[PgDatabase]:
    database = await create_database(pg_server)
    try:
        yield database
    finally:
        await drop_database(database)
