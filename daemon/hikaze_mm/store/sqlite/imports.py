"""Pending rows becoming (part of) models on SQLite: a promotion makes or updates the model, an absorption
folds a row into a model that exists; each is one transaction, pending row and model together (the flows of
`library_writes` over `SQLiteLibrarySql`)."""

from __future__ import annotations

import time

from hikaze_mm.store import library_writes as writes
from hikaze_mm.store.interfaces import MetadataRules
from hikaze_mm.store.library_records import absorbed, promoted, promoted_new
from hikaze_mm.store.records import FileStat, Meta, ModelRow, PendingRow, Promotion
from hikaze_mm.store.sqlite.database import Database
from hikaze_mm.store.sqlite.file_index import SQLiteFileIndex
from hikaze_mm.store.sqlite.models import SQLiteLibrarySql


class SQLiteImports:
    def __init__(self, db: Database, index: SQLiteFileIndex, rules: MetadataRules):
        self._db = db
        self._index = index
        self._rules = rules

    async def absorb(self, pending_id: int, sha256: str, meta: Meta, images: list[tuple[int, int, int]],
                     copy: tuple[str, FileStat] | None) -> bool:
        async with self._db.write() as db:
            done = await writes.absorb(SQLiteLibrarySql(db), self._rules, pending_id, sha256, meta, images, copy,
                                       time.time())
        if done:
            absorbed(self._index, pending_id, sha256, copy)
        return done

    async def promote_new(self, promotions: list[Promotion]) -> list[ModelRow]:
        async with self._db.write() as db:
            models = await writes.promote_new(SQLiteLibrarySql(db), self._rules, promotions, time.time())
        promoted_new(self._index, promotions, models)
        return models

    async def promote(self, p: Promotion) -> tuple[ModelRow, list[PendingRow]]:
        async with self._db.write() as db:
            model, twins = await writes.promote(SQLiteLibrarySql(db), self._rules, p, time.time())
        promoted(self._index, p, model, twins)
        return model, twins
