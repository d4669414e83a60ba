"""The whole store on one SQLite file: each part its own class, all of them over the one `Database` (and its
single writer) and the one file index that every write keeps in step."""

from __future__ import annotations

import socket
from pathlib import Path

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
    TagStore,
    UsageStore,
)
from hikaze_mm.store.sqlite.chores import SQLiteChores
from hikaze_mm.store.sqlite.contents import SQLiteContents
from hikaze_mm.store.sqlite.copies import SQLiteCopies
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.file_index import SQLiteFileIndex
from hikaze_mm.store.sqlite.folders import SQLiteFolders
from hikaze_mm.store.sqlite.images import SQLiteImages
from hikaze_mm.store.sqlite.imports import SQLiteImports
from hikaze_mm.store.sqlite.lookups import SQLiteLookups
from hikaze_mm.store.sqlite.models import SQLiteModels
from hikaze_mm.store.sqlite.pending import SQLitePending
from hikaze_mm.store.sqlite.search import SQLiteSearch
from hikaze_mm.store.sqlite.sessions import SQLiteSessions
from hikaze_mm.store.sqlite.tags import SQLiteTags
from hikaze_mm.store.sqlite.usage import SQLiteUsage


class SQLiteStore:
    def __init__(self, path: Path, rules: MetadataRules, host: str | None = None):
        """`host` names this machine in the details' list of a model's files (default: its hostname)."""
        self.path = path
        self.db = Database(path)
        self._index = SQLiteFileIndex(self.db)
        self.pending: PendingStore = SQLitePending(self.db, self._index, rules)
        self.files: FileIndexStore = self._index
        self.models: ModelStore = SQLiteModels(self.db, self._index, rules, host or socket.gethostname())
        self.copies: CopyStore = SQLiteCopies(self.db, self._index)
        self.tags: TagStore = SQLiteTags(self.db, rules)
        self.images: ImageStore = SQLiteImages(self.db)
        self.search: SearchStore = SQLiteSearch(self.db)
        self.folders: FolderStore = SQLiteFolders(self.db)
        self.imports: ImportStore = SQLiteImports(self.db, self._index, rules)
        self.sessions: SessionStore = SQLiteSessions(self.db)
        self.chores: ChoreStore = SQLiteChores(self.db, rules)
        self.lookups: LookupStore = SQLiteLookups(self.db)
        self.contents: ContentStore = SQLiteContents(self.db)
        self.usage: UsageStore = SQLiteUsage(self.db)

    async def open(self) -> None:
        await self.db.open()
        self._index.start_loading()

    async def ping(self) -> None:
        """A file on this machine's disk is never away."""

    async def close(self) -> None:
        await self._index.stop_loading()
        await self.db.close()
