"""Shared test parts: the real daemon as a subprocess on a loopback port, real temp folders, polling with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import blake3
import pytest
from realistic_library import Library, write_library

from browser import browser, context, openers, page  # noqa: F401  (fixtures for the page tests)
from fork_server import Forked, ForkServer
from pg_server import pg_database, pg_server  # noqa: F401  (fixtures for the tests on PostgreSQL)
from web_sources import web_sources_fixture  # noqa: F401  (the metadata sources on loopback)

T = TypeVar("T")
DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def digests(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest()


def safetensors_bytes(tensors: dict[str, list[int]], metadata: dict[str, str]) -> bytes:
    """A valid safetensors file: 8-byte little-endian header length, the JSON header, the F16 data (zeros)."""
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in tensors.items():
        size = 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def without_root_powers() -> tuple[str, ...]:
    """Root reads a chmod 000 file or folder anyway; without the two capabilities that let it, it is refused like
    anyone (a prefix for the daemon's command line)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")


def write_model(path: Path, size: int = 64 * 1024, seed: bytes | None = None) -> Path:
    """A model-like file of `size` bytes whose content depends on its name (or `seed`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(written_bytes(seed or path.name.encode(), size, path.suffix))
    return path


def written_bytes(seed: bytes, size: int, suffix: str) -> bytes:
    """What `write_model` writes. A `.safetensors` file big enough is a valid one (one tensor holding the bytes), so
    that it does not look damaged."""
    block = hashlib.sha512(seed).digest()
    body = (block * (size // len(block) + 1))[:size]
    return as_safetensors(body, size) if suffix == ".safetensors" else body


def as_safetensors(body: bytes, size: int | None = None) -> bytes:
    """`body` behind a valid 256-byte safetensors header naming it one U8 tensor, all of it `size` bytes (the end of
    `body` cut off to fit); `body` as it is when it is too small to hold the header."""
    size = len(body) + 264 if size is None else size
    data = size - 264
    header = json.dumps({f"t{hashlib.sha256(body).hexdigest()}": {
        "dtype": "U8", "shape": [data], "data_offsets": [0, data]}}).encode()
    if data < 0:
        return body
    return (struct.pack("<Q", 256) + header.ljust(256) + body)[:size]


async def slow_write(path: Path, chunks: int, pause: float, chunk_size: int = 256 * 1024) -> None:
    """Write like a download does: a chunk, a pause, the next chunk (the pauses pace a writer, they wait on nothing)."""
    with path.open("wb") as f:
        for i in range(chunks):
            f.write(bytes([i]) * chunk_size)
            f.flush()
            await asyncio.sleep(pause)


async def poll(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = DEADLINE_S) -> T:
    """Poll `check` until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)  # the poll interval; the deadline above bounds the wait
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last answer: {last!r}")



def with_site(folder: Path, code: str) -> dict[str, str]:
    """The environment that makes a daemon run `code` as its sitecustomize (Python imports it at start-up, before
    anything else): how the fault and fuzz suites put a probe or a fault inside the real daemon. The module goes
    into `folder`/site."""
    site = folder / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(code)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


FAILING_WALK_SITE = """
import os

from hikaze_mm.pipeline import reconcile

_real_walk = reconcile.walk_roots
_calls = []


def _walk_that_breaks_once(*args, **kw):
    _calls.append(1)
    if len(_calls) == int(os.environ["HIKAZE_TEST_BROKEN_WALK"]):
        raise RuntimeError("injected: the walk broke")
    return _real_walk(*args, **kw)


reconcile.walk_roots = _walk_that_breaks_once
"""


def broken_walk(tmp_path: Path, which: int) -> dict[str, str]:
    """A daemon whose `which`-th walk raises, the way a bug would."""
    return {**with_site(tmp_path, FAILING_WALK_SITE), "HIKAZE_TEST_BROKEN_WALK": str(which)}


_fork_server: ForkServer | None = None
_fork_daemons = True  # whether this test's daemons are forked; see _daemon_processes


@pytest.fixture(autouse=True)
def _daemon_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """The fault suites (left out of the fast lane) keep daemons in interpreters of their own, as in production:
    they race slow clients, crashes and full disks against the daemon, and a forked daemon's timing differs from a
    fresh one's (it copies the fork server's memory as it writes to it). Forked, the test that fills the connection
    cap with event streams failed 2 runs of 10 (the cap closed connections still sending their headers first, not
    the oldest stream); in its own interpreter it passed 16 of 16."""
    global _fork_daemons
    _fork_daemons = request.node.get_closest_marker("faults") is None
    yield
    _fork_daemons = True


def fork_server() -> ForkServer:
    global _fork_server
    if _fork_server is None:
        _fork_server = ForkServer(DEADLINE_S)
    return _fork_server


class EventLog:
    """Collects the daemon's SSE events in the background."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected = asyncio.Event()

    async def run(self, session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
            self.connected.set()
            data_lines: list[str] = []
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    data_lines.append(line[6:])
                elif line == "" and data_lines:
                    self.events.append(json.loads("\n".join(data_lines)))
                    data_lines = []

    def of(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())]


class Daemon:
    """`hikaze-mm serve` in a subprocess, with a client for its API."""

    def __init__(
        self, tmp: Path, *args: str, settle: float = 0.3, data_dir: Path | None = None,
        env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
    ):
        self.port = free_port()
        self.prefix = prefix  # a command the daemon runs under, e.g. setpriv to take capabilities away
        self.data_dir = data_dir or tmp / "data"
        # No test reaches the internet: the metadata sources are off unless a test names its own (on loopback).
        sources = () if "--metadata-source" in args else ("--metadata-source", "none")
        self.args = [
            "--data-dir", str(self.data_dir), "--port", str(self.port),
            "--settle-seconds", str(settle), "--log-level", "debug", *sources, *args,
        ]
        self.log_path = tmp / f"daemon-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | Forked | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        # The trash the daemon sends files to lives in the test's folder, never the user's.
        self.env = {"HIKAZE_MM_CONFIG": "", "XDG_DATA_HOME": str(tmp / "xdg-data"), **(env or {})}

    @property
    def database_args(self) -> tuple[str, ...]:
        """`--database-url` and the URL when the daemon's library is not the SQLite file in its data_dir."""
        if "--database-url" not in self.args:
            return ()
        return ("--database-url", self.args[self.args.index("--database-url") + 1])

    @property
    def db(self) -> LibraryDb:
        """The daemon's library as another program sees it."""
        url = self.database_args[1] if self.database_args else ""
        return LibraryDb(self.data_dir, url if url.startswith(("postgresql://", "postgres://")) else None)

    async def start(self) -> Daemon:
        env = {**os.environ, **self.env}
        if _fork_daemons and not self.prefix and fork_server().can_start(env):
            self.proc = fork_server().start(["serve", *self.args], env, self.log_path)
        else:
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [*self.prefix, sys.executable, "-m", "hikaze_mm", "serve", *self.args], stdout=log, stderr=log,
                    env=env,
                )
        self.session = self.session or aiohttp.ClientSession()

        async def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(aiohttp.ClientError):
                return (await self.get("/api/health"))["status"] == "ok"
            return False

        await poll(healthy, "the daemon to answer /api/health")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        assert self.session is not None
        # A plain client, as the CLI and the nodes are: it says its body is JSON (the daemon reads no other), also
        # when it sends none; a form or an explicit Content-Type is left alone.
        headers = dict(kw.get("headers") or {})
        if method not in ("GET", "HEAD", "OPTIONS") and kw.get("json") is None \
                and not isinstance(kw.get("data"), (aiohttp.FormData, aiohttp.MultipartWriter)) \
                and not any(k.lower() == "content-type" for k in headers):
            kw["headers"] = {**headers, "Content-Type": "application/json"}
        async with self.session.request(method, self.url + path, **kw) as resp:
            return resp.status, await resp.json(content_type=None)

    async def get(self, path: str) -> Any:
        status, body = await self.request("GET", path)
        assert status == 200, (status, body)
        return body

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, answer = await self.request(method, path, json=body)
        assert status == expect, (status, answer)
        return answer

    async def ready_rows(self, *paths: Path) -> list[dict[str, Any]]:
        return [await self.wait_row(p, status="ready") for p in paths]

    async def import_files(self, *paths: Path) -> list[str]:
        """Wait until the files are hashed and import them; their sha256 in order."""
        rows = await self.ready_rows(*paths)
        report = await self.call("POST", "/api/pending/import", {"ids": [r["id"] for r in rows]})
        assert not report["failed"] and not report["conflicts"], report
        return [r["sha256"] for r in rows]

    async def pending(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in {"limit": "1000", **filters}.items())
        return (await self.get(f"/api/pending?{query}"))["pending"]

    async def wait_row(self, path: Path, status: str = "ready", timeout: float = DEADLINE_S) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            rows = [r for r in await self.pending() if r["path"] == str(path)]
            return rows[0] if rows and rows[0]["status"] == status else None

        return await poll(found, f"{path} to be {status}", timeout)

    async def watching(self) -> dict[str, Any]:
        """`/api/status` once the first watches are in place: the daemon answers while it sets them up."""
        async def set_up() -> dict[str, Any] | None:
            st = await self.get("/api/status")
            return None if st["setting_up_watches"] else st

        return await poll(set_up, "the watches to be set up")

    async def wait_idle(self) -> dict[str, Any]:
        async def idle() -> dict[str, Any] | None:
            st = await self.get("/api/status")
            q = st["queues"]
            busy = st["scan"] is not None or q["settling"] or q["hashing"] or q["queued"]
            return None if busy or st["last_scan"] is None else st

        return await poll(idle, "the daemon to be idle")

    async def rescan(self) -> None:
        """POST /api/scan and wait until that walk is over and everything it queued is hashed."""
        await self.wait_idle()
        before = (await self.get("/api/status"))["last_scan"]
        await self.call("POST", "/api/scan", expect=202)

        async def done() -> bool:
            st = await self.get("/api/status")
            return st["scan"] is None and st["last_scan"] != before

        await poll(done, "the scan to finish")
        await self.wait_idle()

    async def events(self) -> tuple[EventLog, asyncio.Task[None]]:
        assert self.session is not None
        log = EventLog()
        task = asyncio.create_task(log.run(self.session, self.url + "/api/events"))
        await asyncio.wait_for(log.connected.wait(), DEADLINE_S)
        return log, task

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=DEADLINE_S)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=DEADLINE_S)

    async def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
        if self.session is not None:
            await self.session.close()
            self.session = None


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    for folder in ("checkpoints", "loras", "vae"):
        (root / folder).mkdir(parents=True)
    return root


# `HIKAZE_TEST_DATABASE=postgres`: the daemons of the tests keep their library in PostgreSQL (a fresh database of
# the worker's throw-away server each), so the suite that drives the real daemon checks that backend end to end.
# Tests about SQLite itself (its file, its WAL, its schema upgrades) are marked `sqlite_only` and skipped there.
TEST_DATABASE = os.environ.get("HIKAZE_TEST_DATABASE", "sqlite")
SQL = str | dict[str, str]  # one statement for both backends, or one per backend ("sqlite", "postgres")


class LibraryDb:
    """A daemon's library database as another program sees it, on either backend. The tables and columns are the
    same on both (PostgreSQL's rows of files name their host too), so a test's SQL, with `?` placeholders, runs
    on either; where they differ, the test gives one statement per backend. Text comes back as it is stored (on
    PostgreSQL without the store's codecs); each statement is a connection and a transaction of its own."""

    def __init__(self, data_dir: Path, url: str | None):
        self.data_dir = data_dir
        self.path = data_dir / "library.sqlite3"
        self.url = url
        self.backend = "sqlite" if url is None else "postgres"

    async def rows(self, sql: SQL, *args: Any) -> list[tuple[Any, ...]]:
        """The statement's rows (none for a write, which is committed)."""
        text = sql if isinstance(sql, str) else sql[self.backend]
        if self.url is None:
            return await asyncio.to_thread(self._sqlite_rows, text, args)
        conn = await asyncpg.connect(self.url)
        try:
            numbered = iter(range(1, len(args) + 1))
            return [tuple(r) for r in await conn.fetch(re.sub(r"\?", lambda _: f"${next(numbered)}", text), *args)]
        finally:
            await conn.close()

    def _sqlite_rows(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=DEADLINE_S)) as conn, conn:
            return conn.execute(sql, args).fetchall()

    async def damage(self) -> list[tuple[Any, ...]]:
        """What SQLite's checks of its file and of its foreign keys find wrong. PostgreSQL's server keeps its own
        files whole (the tests kill daemons, never the server) and checks every foreign key on every write: there,
        nothing, once the library answers."""
        if self.url is not None:
            await self.rows("SELECT version FROM schema_version")
            return []
        return [r for r in await self.rows("PRAGMA integrity_check") if r != ("ok",)] + await self.rows(
            "PRAGMA foreign_key_check")


class Databases:
    """The library database of each data_dir of a test: the SQLite file in it, or on PostgreSQL a fresh database
    with the schema, made when a data_dir is first named, so a daemon started again on it finds the library it
    left, and a test can fill a library before its daemon starts."""

    def __init__(self, request: pytest.FixtureRequest):
        self._request = request
        self._urls: dict[Path, str] = {}

    async def url(self, data_dir: Path) -> str | None:
        if TEST_DATABASE != "postgres":
            return None
        if data_dir not in self._urls:
            from store.store_backends import migrated_database

            self._urls[data_dir] = (await migrated_database(self._request.getfixturevalue("pg_server"))).dsn
        return self._urls[data_dir]

    async def args(self, data_dir: Path) -> tuple[str, ...]:
        """What tells a command (`serve`, `verify`, `import-legacy`) where the data_dir's library is."""
        url = await self.url(data_dir)
        return ("--database-url", url) if url else ()

    async def of(self, data_dir: Path) -> LibraryDb:
        return LibraryDb(data_dir, await self.url(data_dir))

    async def filled(self, data_dir: Path, fill: Callable[[Path], Awaitable[Any]]) -> LibraryDb:
        """The data_dir's library as `fill(file)` writes it into a SQLite file: that file is the data_dir's own,
        or on PostgreSQL one beside the data_dir, copied into its database as `hikaze-mm db copy` does."""
        db = await self.of(data_dir)
        if db.url is None:
            await fill(db.path)
            return db
        from hikaze_mm.store.transfer import copy_library

        source = data_dir.with_name(f"{data_dir.name}-copied.sqlite3")
        await fill(source)
        await copy_library(f"sqlite://{source}", db.url, socket.gethostname())
        return db


@pytest.fixture
def databases(request: pytest.FixtureRequest) -> Databases:
    return Databases(request)


@pytest.fixture
async def daemon_factory(
    tmp_path: Path, databases: Databases
) -> AsyncIterator[Callable[..., Awaitable[Daemon]]]:
    started: list[Daemon] = []

    async def start(*args: str, **kw: Any) -> Daemon:
        if "--database-url" not in args:
            args = (*args, *await databases.args(kw.get("data_dir") or tmp_path / "data"))
        d = Daemon(tmp_path, *args, **kw)
        started.append(d)
        return await d.start()

    yield start
    for d in started:
        await d.close()


@pytest.fixture
async def daemon(daemon_factory: Callable[..., Awaitable[Daemon]], models: Path) -> Daemon:
    return await daemon_factory("--models-root", str(models))


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = DEADLINE_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hikaze_mm", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "HIKAZE_MM_CONFIG": "", **(env or {})},
    )


# The fast lane for one's own loop (`scripts/test -m "not page and not faults"`) leaves out what drives Chromium
# (`page`) and what fuzzes every route, kills and restarts the daemon, fills disks or upgrades every old schema
# (`faults`); CI runs everything.
FAULT_MODULES = {"test_fuzz", "test_fuzz_lookups", "test_openapi", "test_upgrades"}
TESTS = Path(__file__).resolve().parent


# In a parallel run (`--dist loadgroup`) the tests of a group run one after the other on one worker: those that write
# into the checkout itself (comfy's pack leaves node.zip at its top, pip builds the wheel inside it), and the page
# tests, so that one Chromium at a time competes with the daemons for the CPU, as in a serial run.
IN_CHECKOUT = {"test_registry", "test_webpage.py::test_a_wheel_carries_the_page"}


def pytest_configure(config: pytest.Config) -> None:
    """Where the environment says not to write bytecode (PYTHONDONTWRITEBYTECODE), every run would compile again
    the test modules (in each worker of a parallel run) and every interpreter the tests start the package's sources:
    seconds of CPU. They share a bytecode cache in the virtualenv instead, outside the checkout's folders (importlib
    and pytest replace a cached file atomically, so concurrent runs and workers can share it)."""
    if not sys.dont_write_bytecode or sys.prefix == sys.base_prefix:
        return
    cache = str(Path(sys.prefix) / "pycache")
    mp = pytest.MonkeyPatch()
    config.add_cleanup(mp.undo)
    mp.setattr(sys, "dont_write_bytecode", False)
    mp.setattr(sys, "pycache_prefix", cache)
    mp.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    mp.setenv("PYTHONPYCACHEPREFIX", cache)


def pytest_unconfigure() -> None:
    if _fork_server is not None:
        _fork_server.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        area = item.path.resolve().relative_to(TESTS).parts[0]
        if area == "page" or "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.page)
            item.add_marker(pytest.mark.xdist_group("page"))
        if area == "faults" or item.path.stem in FAULT_MODULES:
            item.add_marker(pytest.mark.faults)
        if {item.path.stem, f"{item.path.name}::{item.name}"} & IN_CHECKOUT:
            item.add_marker(pytest.mark.xdist_group("checkout"))
        only = item.get_closest_marker("sqlite_only")
        if only is not None and TEST_DATABASE == "postgres":
            item.add_marker(pytest.mark.skip(reason=f"about SQLite itself: {only.kwargs['reason']}"))


@pytest.fixture
async def realistic(daemon_factory: Callable[..., Awaitable[Daemon]], models: Path) -> tuple[Daemon, Library]:
    """The daemon with a realistic library (`realistic_library.py`) imported by `auto_import = "no_conflict"`:
    every file is a model but the copy, which waits as a conflict, and the damaged file, which waits flagged. The
    copy is written once the rest is imported, so that it is always the one in `loras/backup` that waits (two
    files with the same bytes found together are hashed in no set order)."""
    lib = write_library(models, with_copy=False)
    d = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict")
    wanted = len(lib.loras) + len(lib.checkpoints)

    async def imported() -> bool | None:
        return (await d.get("/api/status"))["counts"]["models"] >= wanted or None

    await poll(imported, f"{wanted} models to be imported")
    await d.wait_row(lib.add_copy(), status="conflict")
    return d, lib
