"""Builds the daemon's parts and runs them: the supervisor's watcher and walks feed the decisions, the settler
feeds the hash intake, the store keeps the outcome, the bus tells the world; `serve` puts the API in front.

The app is the one place that wires the parts together. It imports every layer below it; above it there is only
the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp

from hikaze_mm import __version__
from hikaze_mm.api.comfy_peers import ComfyPeers
from hikaze_mm.api.parts import ApiParts
from hikaze_mm.api.sessions import Sessions
from hikaze_mm.config.origins import WILDCARD_HOSTS
from hikaze_mm.config.roots import RootSet, build_roots
from hikaze_mm.config.settings import ConfigError, Settings
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import Event, ModelAdded, PendingHashed, PendingRemoved
from hikaze_mm.events.relay import EventRelay
from hikaze_mm.legacy.importer import LegacyImporter
from hikaze_mm.library.auto_import import AutoImport
from hikaze_mm.library.bulk import Bulk
from hikaze_mm.library.chores import Chores
from hikaze_mm.library.duplicates import Duplicates
from hikaze_mm.library.folders import Folders
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.importer import Importer
from hikaze_mm.library.metadata import RULES as METADATA_RULES
from hikaze_mm.library.service import Library
from hikaze_mm.library.usage import Usage
from hikaze_mm.library.web_lookups import WebLookups
from hikaze_mm.ops.notify import Notifier
from hikaze_mm.pipeline.catch_up import CatchUp
from hikaze_mm.pipeline.decisions import DecisionLock, FileDecisions
from hikaze_mm.pipeline.devices import Media, plan_workers
from hikaze_mm.pipeline.hashing import HashPool
from hikaze_mm.pipeline.intake import Intake
from hikaze_mm.pipeline.outage import Outage
from hikaze_mm.pipeline.reconcile import Reconciler
from hikaze_mm.pipeline.settle import Settler
from hikaze_mm.pipeline.supervisor import Supervisor
from hikaze_mm.status import Status
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import ShareStore, Stores
from hikaze_mm.store.sqlite.store import SQLiteStore
from hikaze_mm.webmeta.lookup import SourceSite
from hikaze_mm.webmeta.lookup import build as build_lookup
from hikaze_mm.workflows.check import WorkflowCheck

if TYPE_CHECKING:  # asyncpg, under it, comes with the `postgres` extra: imported only for a shared library
    from hikaze_mm.store.postgres.notify import Notifications

log = logging.getLogger(__name__)
MAX_LINE_BYTES = 64 * 1024
GC_THRESHOLDS = (700, 10, 1000)  # Python's are (700, 10, 10)
SWITCH_INTERVAL_S = 0.001  # Python's is 0.005
SHARED_STRAY_AGE_S = 3600  # an image file in a shared folder with no row yet is another daemon's, being written


def build_store(settings: Settings) -> tuple[Stores, ShareStore | None]:
    """SQLite in data_dir unless `database_url` names a shared PostgreSQL database (with its share folders)."""
    url = settings.postgres_url
    if url is None:
        return SQLiteStore(settings.db_path, METADATA_RULES, settings.host_id), None
    try:
        from hikaze_mm.store.postgres.store import PostgresStore
    except ModuleNotFoundError as e:  # asyncpg comes with the `postgres` extra
        if e.name != "asyncpg":
            raise
        raise ConfigError("`database_url` names PostgreSQL, which needs asyncpg: "
                          "pip install 'hikaze-mm[postgres]'") from None
    store = PostgresStore(url, settings.host_id, METADATA_RULES)
    return store, store.shares


def _shared_events(settings: Settings, bus: EventBus) -> tuple[EventRelay, Notifications] | None:
    """On a shared library, the relay of events between its daemons over the database's NOTIFY."""
    url = settings.postgres_url
    if url is None:
        return None
    from hikaze_mm.store.postgres.notify import Notifications

    relay = EventRelay(bus, settings.host_id)
    return relay, Notifications(url, relay.received)


class App:
    """The daemon's running parts, built from the settings; `watch=False` for the one-shot CLI commands."""

    def __init__(self, settings: Settings, *, watch: bool = True):
        self.settings = settings
        self._serving = watch
        self.roots: RootSet = build_roots(settings)
        self.store, self.shares = build_store(settings)
        self.bus = EventBus()
        media = Media()
        self.workers = plan_workers(settings.hash_workers, sorted(r.path for r in self.roots), media)
        self.pool = HashPool(self.workers.workers, media)
        self.image_files = ImageFiles(settings.image_folder)
        self.decision_lock = DecisionLock()
        self.outage = Outage("sqlite" if settings.postgres_url is None else "postgresql")
        self.settler = Settler(settings.settle_seconds, self._stable, self._vanished)
        self.decisions = FileDecisions(self.store, self.bus, self.roots, self.settler, self.decision_lock,
                                       self.outage)
        self.intake = Intake(self.store, self.bus, self.pool, self.decisions, self.decision_lock, self.settler,
                             self.image_files, self.shares)
        self.reconciler = Reconciler(self.store.files, self.bus, self.roots, self.decisions, self.settler, self.intake)
        self.catch_up = CatchUp(self.reconciler, self.store.ping)
        self.supervisor = Supervisor(self.roots, self.bus, self.decisions, self.settler, self.reconciler,
                                     watch_mode=settings.watch_mode if watch else "off",
                                     poll_interval=settings.poll_interval, rescan_interval=settings.rescan_interval)
        self.reconciler.on_walked = self.supervisor.walked
        self.importer = Importer(self.store, self.bus, self.image_files, self.decision_lock, self.roots)
        self.library = Library(self.store, self.bus, self.image_files, self.intake.refile, self.roots)
        self.chores = Chores(self.store, self.bus)
        self.usage = Usage(self.store.usage, self.bus)
        self.web = WebLookups(self.store, None, self.image_files, self.bus, self.library.encoding)
        self._http: aiohttp.ClientSession | None = None  # the lookups' connections to the metadata sources
        self._lookups: asyncio.Task[None] | None = None
        self.bulk = Bulk(self.store, self.library, self.bus, self.roots)
        self.folders = Folders(self.store.folders, self.roots)
        self.duplicates = Duplicates(self.store, self.bus, self.decision_lock, self.roots)
        self.auto_import = AutoImport(self.store, self.importer) if settings.auto_import == "no_conflict" else None
        if self.auto_import is not None:
            self.intake.on_ready = self.auto_import.ready
            self.intake.import_new = self.importer.import_hashed
            self.catch_up.after.append(self.auto_import.again)
        self.legacy = LegacyImporter(self.store, self.bus, self.roots, self.decisions, self.decision_lock,
                                     self.settler, self.image_files)
        own_names = [*settings.allowed_hosts, *([] if settings.host in WILDCARD_HOSTS else [settings.host])]
        self.comfy_peers = ComfyPeers(self.roots, frozenset(own_names))
        self.workflows = WorkflowCheck(self.store.files, self.store.contents)
        self.sessions = Sessions(self.store.sessions, settings.auth_token)
        self._status = Status(self.roots, self.supervisor, self.settler, self.intake, self.pool, self.workers,
                              self.reconciler, self.store.search, self.comfy_peers, self.legacy, self.outage, self.web)
        self._tasks: list[asyncio.Task[Any]] = []
        self.relay = _shared_events(settings, self.bus)
        self.failure: str | None = None  # why a task the daemon cannot work without ended
        self.on_failure: Callable[[], None] | None = None

    # -- life cycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        media = "; ".join(f"{root}: {m.describe()}" for root, m in self.workers.media.items())
        log.info("%d hash workers (%s); %s", self.workers.workers, self.workers.reason, media,
                 extra={"event": "hash.workers"})
        await self.store.open()
        if self.shares is not None:
            await self.shares.set_shared_roots({str(root): name for root, name in self.settings.shared_roots.items()})
        if self.relay is not None:
            relay, notifications = self.relay
            await notifications.start()
            self._tasks.append(asyncio.create_task(relay.run(notifications.send), name="event-relay"))
        await self.sessions.forget_stale()
        reset = await self.store.pending.reset_in_flight()
        if reset:
            log.info("%d files were being hashed when the daemon stopped; they are hashed again", reset)
        # Before the intake or the API can write an image, so no file being written is taken for a stray.
        on_disk = await asyncio.to_thread(self.image_files.stored_keys)
        shared = self.settings.postgres_url is not None
        # Only a folder other hosts write to may hold another daemon's image whose row is not committed yet; the
        # images in this host's data_dir are this daemon's alone.
        in_shared_folder = shared and self.settings.images_dir is not None
        strays = await asyncio.to_thread(self.image_files.sweep, *await self.store.images.image_keys_among(*on_disk),
                                         SHARED_STRAY_AGE_S if in_shared_folder else 0)
        if shared and self.settings.images_dir is None:
            log.warning("the library is shared, but its images are kept in this host's data_dir (%s): the other "
                        "hosts' pages cannot show an image added here; set images_dir to a folder every host "
                        "mounts", self.settings.image_folder, extra={"event": "images.local"})
        if strays:
            log.info("removed %d image files a crash left without a database row", strays)
        essential = [self.settler.start(), *self.intake.start(), self.catch_up.start()]
        for row in await self.store.pending.pending_in_flight():
            await self.decisions.requeue(row)
        essential += await self.supervisor.start()
        self._tasks.append(asyncio.create_task(self._clean_pending_images(), name="pending-images"))
        if self.auto_import is not None:
            essential.append(self.auto_import.start())
        for task in essential + self._tasks:
            task.add_done_callback(self._essential_done)
        self.chores.start().add_done_callback(self._chores_done)
        self._start_lookups()

    def _start_lookups(self) -> None:
        """The lookups by content, when a source is configured: the queue drained in the background, and each new
        model and newly hashed file queued as it arrives (`metadata_auto = "on_import"`); with `never`, only a new
        model whose content the sources were asked about already (a file of the queue looked up before its import),
        which takes the record from memory."""
        settings = self.settings
        if not settings.metadata_sources or not self._serving:  # a one-shot command contacts no one
            return
        bases = {"civitai": settings.civitai_api_base, "civarchive": settings.civarchive_api_base}
        self._http = aiohttp.ClientSession()
        sites = [SourceSite(name, bases[name]) for name in settings.metadata_sources]
        self.web.lookup = build_lookup(self._http, sites, settings.metadata_rate, settings.civitai_api_key,
                                       f"hikaze-mm/{__version__}")
        self._lookups = asyncio.create_task(self._run_lookups(), name="web-lookups")

    async def _run_lookups(self) -> None:
        # A failing lookup worker (a bug, a full disk) is logged and left stopped: the daemon's own work does not
        # depend on it, and the queue waits in the database for the next start.
        try:
            await asyncio.gather(self.web.run(), self._queue_new_models(self.settings.metadata_auto == "on_import"))
        except Exception:
            log.exception("the metadata lookups stopped; they go on at the next start",
                          extra={"event": "lookups.failed"})

    async def _queue_new_models(self, every: bool) -> None:
        with self.bus.subscribe() as sub:
            while (first := await sub.get()) is not None:
                batch = [first, *sub.waiting()]
                # A shared database gone between the event and its queueing leaves those contents unlooked (as
                # "Fetch missing metadata" finds them), not the daemon without lookups until its restart.
                with contextlib.suppress(StoreUnreachable):
                    if every:
                        # New models, and new files of the queue once hashed (so the inbox shows what they are).
                        shas = [sha for sha in (_new_content(p.event) for p in batch if p is not None)
                                if sha is not None]
                        if shas:
                            await self.web.queue(shas, False)
                    else:
                        # Only what the user asked for: a file looked up in the queue fills its model when imported.
                        added = [p.event.sha256 for p in batch if p is not None and isinstance(p.event, ModelAdded)]
                        if added:
                            await self.web.queue_remembered(added)
                if None in batch:
                    return

    async def stop(self) -> None:
        """Stop watching, abandon running hashes, leave no row `hashing`, close the database."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._lookups is not None:
            self._lookups.cancel()
            await asyncio.gather(self._lookups, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        await self.chores.stop()
        await self.supervisor.stop()
        await self.reconciler.stop()
        await self.legacy.stop()
        await self.supervisor.stop_events()
        await self.settler.stop()
        await self.catch_up.stop()
        await asyncio.to_thread(self.pool.close)
        await self.intake.stop()
        if self.auto_import is not None:
            await self.auto_import.stop()
        with contextlib.suppress(Exception):
            await self.store.pending.reset_in_flight()
        self.bus.close()
        if self.relay is not None:
            await self.relay[1].stop()
        await self.store.close()

    def _essential_done(self, task: asyncio.Task[Any]) -> None:
        """Each of these runs as long as the daemon does (they end by being cancelled, or when the event bus
        closes at shutdown). One that fails (a bug, a failing disk) would leave a daemon that answers but no
        longer settles, hashes or watches: better to stop with an error and let the service manager start a
        fresh one (`Restart=on-failure`)."""
        if task.cancelled() or task.exception() is None or self.failure is not None:
            return
        error = task.exception()
        self.failure = f"the {task.get_name()} task failed: {error!r}"
        log.critical("%s; stopping so that a fresh daemon can be started", self.failure, exc_info=error,
                     extra={"event": "daemon.failed"})
        if self.on_failure is not None:
            self.on_failure()

    @staticmethod
    def _chores_done(task: asyncio.Task[Any]) -> None:
        # A chore that fails is left for the next start: the daemon's own work does not depend on it.
        if not task.cancelled() and task.exception() is not None:
            log.error("a one-off chore failed; it runs again at the next start", exc_info=task.exception(),
                      extra={"event": "chore.failed"})

    async def drain(self) -> None:
        """Wait until the running walk is done and nothing is left to settle, hash or auto-import (for
        `hikaze-mm scan`); a shared database that went away meanwhile is waited for, and caught up with."""
        await self.supervisor.started()
        while (self.reconciler.running or len(self.settler) or not self.intake.idle()
               or (self.auto_import is not None and not self.auto_import.idle())
               or self.outage.away or len(self.outage) or self.outage.replaying or self.outage.walk_owed):
            await asyncio.sleep(0.1)

    # -- wiring ---------------------------------------------------------------------------------------------
    async def _clean_pending_images(self) -> None:
        """A pending row's image files go with the row, however it went (ids are never reused)."""
        with self.bus.subscribe() as sub:
            while (first := await sub.get()) is not None:
                batch = [first, *sub.waiting()]
                ids = [p.event.id for p in batch if p is not None and isinstance(p.event, PendingRemoved)]
                try:
                    if ids:
                        await asyncio.to_thread(self.image_files.remove_pending, *ids)
                except OSError as e:  # left behind: the start-up sweep takes image files no row owns
                    log.warning("could not remove the images of %d pending rows: %s", len(ids), e.strerror or e,
                                extra={"event": "images.stray"})
                if None in batch:
                    return

    async def _stable(self, path: str, st: Any) -> None:
        await self.intake.on_stable(path, st)

    async def _vanished(self, path: str) -> None:
        await self.decisions.gone(path)

    def api_parts(self) -> ApiParts:
        """What the HTTP API may use of the daemon."""
        return ApiParts(access=self.settings, sessions=self.sessions, peers=self.comfy_peers, status=self.status,
                        events=self.bus, roots=self.roots, scans=self.reconciler, listings=self.store,
                        library=self.library, bulk=self.bulk, folders=self.folders, imports=self.importer,
                        retries=self.decisions, images=self.image_files, legacy=self.legacy,
                        duplicates=self.duplicates, database=self.outage, lookups=self.web,
                        workflows=self.workflows, usage=self.usage)

    async def status(self) -> dict[str, Any]:
        return await self._status.document()


def _new_content(event: Event) -> str | None:
    """The content of a new model, or of a file of the queue just hashed as new."""
    if isinstance(event, ModelAdded):
        return event.sha256
    return event.sha256 if isinstance(event, PendingHashed) and event.status == "ready" else None


async def serve(settings: Settings) -> int:
    """Run the daemon with its API until SIGINT or SIGTERM, or until a part it cannot work without fails; the
    exit code."""
    from aiohttp import web

    from hikaze_mm.api.connections import ConnectionGuard, connection_limits, raise_open_files_limit
    from hikaze_mm.api.routes import EVENTS_PATH, create_app

    sock = _bind(settings)  # before anything starts, so a taken port stops us with nothing done
    # A walk or the file index of a million files makes millions of tuples at once, and at Python's thresholds
    # the collector follows with a full pass every second or so, each over every object still tracked and each
    # holding the GIL (and so the event loop) for 20 to 300 ms. The young passes, which untrack those tuples,
    # stay as they are; full passes come a hundred times less often.
    gc.set_threshold(*GC_THRESHOLDS)
    # While a walk, the file index or a hash runs Python in a thread, the event loop waits for the GIL each time
    # it wants it back: Python's 5 ms a turn, several turns in a row with more threads, added up to 40-50 ms
    # answers at a million files.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    open_files = raise_open_files_limit()
    service = App(settings)
    stop = asyncio.Event()
    service.on_failure = stop.set
    await service.start()
    settled = asyncio.create_task(_settle_memory(service), name="settle-memory")
    app = create_app(service.api_parts())
    guard = ConnectionGuard(connection_limits(settings.max_connections, open_files), settings.request_timeout,
                            streams=frozenset({EVENTS_PATH}))
    guard.install(app)
    # The picker's URL carries the node's whole LoRA list; aiohttp's default 8 KiB request line fits about 25.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5, max_line_size=MAX_LINE_BYTES)
    await runner.setup()
    assert runner.server is not None
    await guard.listen(runner.server, sock)
    log.info("hikaze-mm %s serving http://%s:%d (database %s)", __version__, settings.host, settings.port,
             database_name(settings), extra={"event": "daemon.serving"})
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier()
    notifier.ready(service.status)  # after the handlers: a stop request right after READY=1 is a clean stop
    try:
        await stop.wait()
    finally:
        log.info("stopping", extra={"event": "daemon.stopping"})
        notifier.stopping()
        await guard.close()
        await runner.cleanup()
        settled.cancel()
        await service.stop()
        await notifier.close()
        log.info("stopped", extra={"event": "daemon.stopped"})
    return 0 if service.failure is None else 1


def database_name(settings: Settings) -> str:
    """The database as the log and the status name it: a shared one's URL without a password, with this host."""
    url = settings.postgres_url
    if url is None:
        return str(settings.db_path)
    return f"{url} as host {settings.host_id}"


async def _settle_memory(service: App) -> None:
    """Once the file index is in, it and everything made at start-up live as long as the daemon: frozen out of
    the collector's full passes, which would otherwise walk those millions of objects with the GIL held."""
    with contextlib.suppress(Exception):  # a failed load is the walks' to report
        await service.store.files.loaded()
    gc.freeze()


def _bind(settings: Settings) -> socket.socket:
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ConfigError(f"host {settings.host!r} cannot be used: {e.strerror or e}; set `host` or --host") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        why = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be bound ({e.strerror or e})"
        raise ConfigError(f"port {settings.port} on {settings.host} {why}; set `port` or --port") from None
    return sock
