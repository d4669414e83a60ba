"""The whole store on a PostgreSQL database that the daemons of several hosts share: each part its own class, all
over the one `Database`, and this host's file index, which every write of this daemon keeps in step."""

from __future__ import annotations

from hikaze_mm.store.interfaces import (
    ChoreStore,
    ContentStore,
    CopyStore,
    FileIndexStore,
    FolderStore,
    ImageStore,
    ImportStore,
    LookupStore,
    MetadataRules,
    ModelStore,
    PendingStore,
    SearchStore,
    SessionStore,
    ShareStore,
    TagStore,
    UsageStore,
)
from hikaze_mm.store.postgres.chores import PgChores
from hikaze_mm.store.postgres.contents import PgContents
from hikaze_mm.store.postgres.copies import PgCopies
from hikaze_mm.store.postgres.database import Database
from hikaze_mm.store.postgres.file_index import PgFileIndex
from hikaze_mm.store.postgres.folders import PgFolders
from hikaze_mm.store.postgres.images import PgImages
from hikaze_mm.store.postgres.imports import PgImports
from hikaze_mm.store.postgres.lookups import PgLookups
from hikaze_mm.store.postgres.models import PgModels
from hikaze_mm.store.postgres.pending import PgPending
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.postgres.search import PgSearch
from hikaze_mm.store.postgres.sessions import PgSessions
from hikaze_mm.store.postgres.shares import PgShares
from hikaze_mm.store.postgres.tags import PgTags
from hikaze_mm.store.postgres.usage import PgUsage


class PostgresStore:
    def __init__(self, url: str, host: str, rules: MetadataRules):
        self.url = url
        self.host = host
        self.db = Database(url)
        ctx = PgContext(self.db, host, rules)
        self._index = PgFileIndex(ctx)
        self.pending: PendingStore = PgPending(ctx, self._index)
        self.files: FileIndexStore = self._index
        self.models: ModelStore = PgModels(ctx, self._index)
        self.copies: CopyStore = PgCopies(ctx, self._index)
        self.tags: TagStore = PgTags(ctx)
        self.images: ImageStore = PgImages(ctx)
        self.search: SearchStore = PgSearch(ctx)
        self.folders: FolderStore = PgFolders(ctx)
        self.imports: ImportStore = PgImports(ctx, self._index)
        self.sessions: SessionStore = PgSessions(ctx)
        self.chores: ChoreStore = PgChores(ctx)
        self.lookups: LookupStore = PgLookups(ctx)
        self.contents: ContentStore = PgContents(ctx)
        self.usage: UsageStore = PgUsage(ctx)
        self.shares: ShareStore = PgShares(ctx)

    async def open(self) -> None:
        await self.db.open()
        self._index.start_loading()

    async def ping(self) -> None:
        await self.db.ping()

    async def close(self) -> None:
        await self._index.stop_loading()
        await self.db.close()
