"""`hikaze-mm serve | scan | status`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from hikaze_mm import __version__
from hikaze_mm.cli import data as data_commands
from hikaze_mm.cli import db as db_commands
from hikaze_mm.config.origins import WILDCARD_HOSTS
from hikaze_mm.config.settings import ConfigError, Settings, add_flags, load_settings
from hikaze_mm.events.catalog import (
    Event,
    HashProgressed,
    LegacyDone,
    LegacyProgressed,
    PendingHashed,
    ScanProgressed,
)
from hikaze_mm.ops import install as service_install
from hikaze_mm.ops import logs
from hikaze_mm.store.errors import SchemaMissing, SchemaTooNew, StoreUnreachable
from hikaze_mm.store.sqlite.checks import DatabaseDamaged

log = logging.getLogger("hikaze_mm")
EXIT_CONFIG = 2
LEGACY_STREAM_TIMEOUT_S = 60  # the event stream sends a keep-alive every 15 s: a minute of silence is a lost daemon


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hikaze-mm", description="The Hikaze Model Manager daemon.")
    parser.add_argument("--version", action="version", version=f"hikaze-mm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {}
    for name, text in (
        ("serve", "run the daemon: watch the model folders, hash new files, serve the API"),
        ("scan", "walk the model folders once, hash what is new, then exit (no daemon needed)"),
        ("status", "show the running daemon's status, or what the database holds"),
        ("import-legacy", "bring a first-version database (hikaze_mm.sqlite3) into the import queue"),
        *data_commands.COMMANDS.items(),
    ):
        commands[name] = sub.add_parser(name, help=text, description=text)
        add_flags(commands[name])
    commands["import-legacy"].add_argument("legacy_db", metavar="DB", help="the v1 database file")
    commands["import-legacy"].add_argument("--images", metavar="DIR", help="the v1 images folder")
    data_commands.add_arguments(commands)
    service_install.add_parser(sub)
    db_commands.add_parser(sub)
    return parser


def _logging(level: str, data_dir: Path | None) -> None:
    logs.configure(level, data_dir)
    for chatty in ("aiosqlite", "filelock", "watchdog"):
        logging.getLogger(chatty).setLevel(max(logging.INFO, logging.getLogger().level))


def _writable_data_dir(settings: Settings) -> None:
    """The data folder exists (made if need be) and can be written: the database, the lock, images and logs
    all live there, and a read-only one would fail later with a traceback."""
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return
        read_only = hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY
        why = "read-only file system" if read_only else "this user may not write to it"
    except OSError as e:
        why = "read-only file system" if e.errno == errno.EROFS else (e.strerror or str(e)).lower()
    raise ConfigError(f"data_dir {folder} cannot be written ({why}); make it writable or choose another "
                      "data_dir (--data-dir)")


def _lock(settings: Settings) -> contextlib.AbstractContextManager[Any]:
    """One daemon per database: a second writer would break the one-writer rule."""
    _writable_data_dir(settings)
    try:
        return FileLock(str(settings.data_dir / "daemon.lock")).acquire(timeout=0)
    except Timeout:
        raise ConfigError(
            f"data_dir {settings.data_dir} is in use by another hikaze-mm; stop it or choose another data_dir"
        ) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "service":
            return service_install.run(args)
        settings = load_settings(args)
        # Only the long-running commands keep a log file; `status` and the rest must not create a data_dir.
        keeps_log = args.command in ("serve", "scan")
        if keeps_log:
            _writable_data_dir(settings)  # before the log file is tried there, so the error is the one line
        _logging(settings.log_level, settings.data_dir if keeps_log else None)
        if args.command == "db":
            return db_commands.run(args, settings)
        if args.command == "status":
            return _status(settings)
        if args.command == "scan" and _daemon_answers(settings):
            return _ask_daemon_to_scan(settings)
        if args.command == "import-legacy":
            return _import_legacy(settings, args.legacy_db, args.images)
        if args.command in data_commands.COMMANDS:
            return data_commands.run(args, settings, _lock)
        with _lock(settings):
            if args.command == "serve":
                from hikaze_mm.app import serve

                return asyncio.run(serve(settings))
            return asyncio.run(_scan(settings))
    except (ConfigError, SchemaTooNew, SchemaMissing, StoreUnreachable, DatabaseDamaged) as e:
        print(f"hikaze-mm: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


# -- import-legacy ----------------------------------------------------------------------------------------------
def _import_legacy(settings: Settings, db: str, images: str | None) -> int:
    db, images = os.path.abspath(db), os.path.abspath(images) if images else None
    if _daemon_answers(settings):
        return _import_legacy_there(settings, db, images)
    with _lock(settings):
        return asyncio.run(_import_legacy_here(settings, db, images))


def _import_legacy_there(settings: Settings, db: str, images: str | None) -> int:
    """The running daemon does the work; its event stream, opened before the request so no event is missed, shows
    the progress and says when the job is over."""
    from tqdm import tqdm

    try:
        stream = urllib.request.urlopen(_request(settings, "/api/events"), timeout=LEGACY_STREAM_TIMEOUT_S)
    except OSError as e:
        print(f"hikaze-mm: the daemon's event stream cannot be read: {e}", file=sys.stderr)
        return 1
    with contextlib.closing(stream):
        stream.readline()  # ": connected": the stream is subscribed from here on
        job = _post(settings, "/api/migrate/legacy", {"db_path": db, "images_dir": images})
        if job is None or "id" not in job:  # an answer other than the job is `{"error": ...}`
            print(f"hikaze-mm: {(job or {}).get('error', 'the daemon did not answer')}", file=sys.stderr)
            return 1
        bar = tqdm(total=job["rows"], unit="row", desc="v1 rows", disable=None, file=sys.stderr)
        with contextlib.closing(bar):
            try:
                job = _follow_legacy(stream, job, bar)
            except (OSError, ValueError) as e:
                print(f"hikaze-mm: lost the daemon's event stream ({e}); the migration goes on there: see "
                      "`hikaze-mm status`", file=sys.stderr)
                return 1
    return _legacy_outcome(job)


def _follow_legacy(stream: Any, job: dict[str, Any], bar: Any) -> dict[str, Any]:
    """Reads events until this job's `legacy.done`, moving the bar along."""
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        if event.get("type") not in ("legacy.progress", "legacy.done") or event.get("id") != job["id"]:
            continue
        bar.update(event["done"] - bar.n)
        if event["type"] == "legacy.done":
            return event
    raise OSError("the daemon closed it")


def _legacy_outcome(job: dict[str, Any]) -> int:
    print(json.dumps(job["report"], indent=2))
    if job["state"] != "done":
        print(f"hikaze-mm: {job['error']}", file=sys.stderr)
        return 1
    return 0


async def _import_legacy_here(settings: Settings, db: str, images: str | None) -> int:
    from tqdm import tqdm

    from hikaze_mm.app import App
    from hikaze_mm.legacy.reader import LegacyError

    service = App(settings, watch=False)
    await service.start()
    try:
        with service.bus.subscribe(maxsize=1_000_000) as sub:
            job = await service.legacy.start(db, images)
            bar = tqdm(total=job.rows, unit="row", desc="v1 rows", disable=None, file=sys.stderr)
            with contextlib.closing(bar):
                while (event := await sub.get()) is not None and not isinstance(event.event, LegacyDone):
                    if isinstance(event.event, LegacyProgressed):
                        bar.update(event.event.done - bar.n)
                bar.update(job.done - bar.n)
        await service.drain()  # hash what the v1 database pointed at, so mismatches can be told now
        return _legacy_outcome(job.to_wire())
    except LegacyError as e:
        print(f"hikaze-mm: {e}", file=sys.stderr)
        return 1
    finally:
        await service.stop()


# -- scan -------------------------------------------------------------------------------------------------------
async def _scan(settings: Settings) -> int:
    from tqdm import tqdm

    from hikaze_mm.app import App

    service = App(settings, watch=False)
    bar = _ScanBar(tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc="walking", disable=None))
    with service.bus.subscribe(maxsize=1_000_000) as sub:
        await service.start()
        drain = asyncio.create_task(service.drain())
        while not drain.done():
            getter = asyncio.create_task(sub.get())
            finished, _ = await asyncio.wait({getter, drain}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in finished:
                getter.cancel()
                break
            event = getter.result()
            if event is None:
                break
            bar.show(event.event)
    bar.bar.close()
    counts = (await service.store.search.counts())["pending"]
    last = service.reconciler.last
    await service.stop()
    print(f"ready {counts['ready']}, conflict {counts['conflict']}, error {counts['error']}")
    if last is not None and last.phase == "failed":
        print(f"hikaze-mm: the scan failed: {last.error}", file=sys.stderr)
        return 1
    return 0


class _ScanBar:
    """The scan's bar: bytes hashed and their rate (tqdm's), the files hashed and theirs beside it. A small file
    sends no progress while it is hashed, so its bytes count when it is done."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.totals: dict[str, int] = {}
        self.counted: dict[str, int] = {}
        self.files = 0
        self.started = time.monotonic()

    def show(self, event: Event) -> None:
        if isinstance(event, ScanProgressed):
            self.bar.set_description(f"{event.phase}: {event.files} files")
        elif isinstance(event, HashProgressed):
            self.totals[event.path] = event.bytes_total
            self._count(event.path, event.bytes_done)
        elif isinstance(event, PendingHashed):
            self.totals[event.path] = event.size_bytes
            self._count(event.path, event.size_bytes)
            self.counted.pop(event.path, None)
            self.files += 1
            rate = self.files / max(time.monotonic() - self.started, 1e-3)
            self.bar.set_postfix_str(f"{self.files} files, {rate:.0f} files/s", refresh=False)

    def _count(self, path: str, done: int) -> None:
        self.bar.total = sum(self.totals.values())
        self.bar.set_description("hashing")
        self.bar.update(done - self.counted.get(path, 0))
        self.counted[path] = done


# -- status -----------------------------------------------------------------------------------------------------
def _daemon_answers(settings: Settings) -> bool:
    return _call(settings, "/api/health") is not None


def _url(settings: Settings, path: str) -> str:
    host = "127.0.0.1" if settings.host in WILDCARD_HOSTS else settings.host
    return f"http://{host}:{settings.port}{path}"


def _request(settings: Settings, path: str, method: str = "GET", data: bytes | None = None) -> urllib.request.Request:
    headers = {"Content-Type": "application/json"}
    if settings.auth_token:
        headers["Authorization"] = f"Bearer {settings.auth_token}"
    return urllib.request.Request(_url(settings, path), method=method, data=data, headers=headers)


def _call(settings: Settings, path: str, method: str = "GET", body: Any = None, timeout: float = 3) -> Any:
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = _request(settings, path, method, data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}")
    except (OSError, ValueError):
        return None


def _post(settings: Settings, path: str, body: Any) -> Any:
    return _call(settings, path, "POST", body, timeout=600)


def _ask_daemon_to_scan(settings: Settings) -> int:
    answer = _call(settings, "/api/scan", "POST") or {}
    print(f"hikaze-mm: the running daemon on port {settings.port} does the walking: "
          f"{answer.get('status') or answer.get('error')}")
    return 1 if "error" in answer else 0


def _status(settings: Settings) -> int:
    live = _call(settings, "/api/status")
    if isinstance(live, dict) and "error" in live:
        print(f"hikaze-mm: the daemon on port {settings.port} answered: {live['error']}", file=sys.stderr)
        return 1
    if live is not None:
        print(json.dumps(live, indent=2))
        return 0
    if settings.postgres_url is not None:
        database = settings.postgres_url
        pending, models = asyncio.run(_shared_counts(settings.postgres_url))
    else:
        db = Path(settings.db_path)
        if not db.exists():
            print(f"no daemon answers on port {settings.port} and there is no database at {db} yet")
            return 1
        database = str(db)
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            pending = dict(conn.execute("SELECT status, count(*) FROM pending_import GROUP BY status").fetchall())
            models = dict(conn.execute("SELECT status, count(*) FROM models GROUP BY status").fetchall())
    print(json.dumps({"daemon": "not running", "database": database,
                      "counts": {"models": sum(models.values()), "missing": models.get("missing", 0),
                                 "pending": pending}}, indent=2))
    return 0


async def _shared_counts(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Pending rows and models by status in a shared library, from the counts its triggers keep."""
    from hikaze_mm.store.postgres.database import connect

    conn = await connect(url)
    try:
        pending = await conn.fetch("SELECT status, sum(n) FROM pending_tally GROUP BY status HAVING sum(n) > 0")
        models = await conn.fetch("SELECT status, sum(n) FROM model_tally GROUP BY status HAVING sum(n) > 0")
    finally:
        await conn.close()
    return {s: int(n) for s, n in pending}, {s: int(n) for s, n in models}
