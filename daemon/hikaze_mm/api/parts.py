"""What the handlers may use of the daemon: the parts the app hands to `create_app`, each typed by the calls the
API makes on it, so a handler cannot reach anything else and the app can be rebuilt behind them freely."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from hikaze_mm.api.comfy_peers import ComfyPeers
from hikaze_mm.api.sessions import Sessions
from hikaze_mm.config.roots import Root, RootSet
from hikaze_mm.events.bus import EventBus
from hikaze_mm.legacy.importer import LegacyJob
from hikaze_mm.library.bulk import Bulk
from hikaze_mm.library.duplicates import Duplicates
from hikaze_mm.library.folders import Folders
from hikaze_mm.library.importer import ImportReport
from hikaze_mm.library.service import Library
from hikaze_mm.library.usage import Usage
from hikaze_mm.pipeline.reconcile import ScanProgress
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import ImageStore, PendingStore, SearchStore, TagStore
from hikaze_mm.store.records import ModelQuery
from hikaze_mm.workflows.check import WorkflowCheck


class Access(Protocol):
    """The settings that say who may talk to the daemon and how it is addressed."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def allowed_hosts(self) -> Sequence[str]: ...
    @property
    def allowed_origins(self) -> Sequence[str]: ...
    @property
    def auth_token(self) -> str | None: ...


class Listings(Protocol):
    """The store's parts whose reads the API answers with as they are."""

    pending: PendingStore
    search: SearchStore
    tags: TagStore
    images: ImageStore


class Imports(Protocol):
    async def import_ids(
        self, ids: list[int], strategy: str | None, delete_files: bool, confirm_damaged: bool
    ) -> ImportReport: ...
    async def restore(self, ids: list[int]) -> dict[str, list[Any]]: ...


class Retries(Protocol):
    async def retry(self, ids: list[int]) -> dict[str, list[Any]]: ...


class Scans(Protocol):
    def start(self, only: list[Root] | None = None) -> asyncio.Task[ScanProgress]: ...


class ImagePaths(Protocol):
    """Where a stored image's file is; raises ValueError for a part that could not name one."""

    def model_file(self, sha256: str, seq: int, tier: str) -> Path: ...
    def pending_file(self, pending_id: int, seq: int, tier: str) -> Path: ...


class Database(Protocol):
    """Told when a request found the library's database away, so that the daemon's state says so at once."""

    def lost(self, error: StoreUnreachable) -> None: ...


class Lookups(Protocol):
    """The lookups of models' metadata on the web (`library.web_lookups.WebLookups`)."""

    async def fetch_model(self, sha256: str, force: bool) -> dict[str, Any]: ...
    async def fetch_pending(self, pending_id: int, force: bool) -> dict[str, Any]: ...
    async def queue(self, shas: list[str], force: bool) -> int: ...
    async def queue_matching(self, query: ModelQuery, force: bool) -> int: ...
    async def queue_pending(self, ids: list[int], force: bool) -> int: ...
    async def queue_unlooked(self) -> int: ...


class LegacyJobs(Protocol):
    async def start(self, db_path: str, images_dir: str | None) -> LegacyJob: ...


@dataclass(frozen=True)
class ApiParts:
    access: Access
    sessions: Sessions
    peers: ComfyPeers
    status: Callable[[], Awaitable[dict[str, Any]]]  # the document GET /api/status answers with
    events: EventBus
    roots: RootSet
    scans: Scans
    listings: Listings
    library: Library
    bulk: Bulk
    folders: Folders
    imports: Imports
    retries: Retries
    images: ImagePaths
    legacy: LegacyJobs
    duplicates: Duplicates
    database: Database
    lookups: Lookups
    workflows: WorkflowCheck
    usage: Usage


PARTS = web.AppKey("parts", ApiParts)
