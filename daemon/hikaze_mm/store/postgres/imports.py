"""Pending rows becoming (part of) models on PostgreSQL: a promotion makes or updates the model, an absorption
folds a row into a model that exists; each is one transaction, pending row and model together.

The rows promoted are this host's (a pending id of another host's row makes nothing), and the model's main file
and the copies they bring are files on this host. A content is one model however many hosts import it at once:
the write lock serialises promotions, and `models.sha256` as the primary key stands behind it, so a second `new`
model of one content fails whole instead of making a twin. The ready rows of this host that share a promoted
content turn `conflict`; another host's are its own daemon's to decide (its importer makes such a row the model's
file on that host, `ModelStore.elsewhere`)."""

from __future__ import annotations

import time

from hikaze_mm.store import library_writes as writes
from hikaze_mm.store.library_records import absorbed, promoted, promoted_new
from hikaze_mm.store.postgres.file_index import PgFileIndex
from hikaze_mm.store.postgres.models import PgLibrarySql
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.records import FileStat, Meta, ModelRow, PendingRow, Promotion


class PgImports:
    def __init__(self, ctx: PgContext, index: PgFileIndex):
        self._ctx = ctx
        self._index = index

    async def absorb(self, pending_id: int, sha256: str, meta: Meta, images: list[tuple[int, int, int]],
                     copy: tuple[str, FileStat] | None) -> bool:
        async with self._ctx.db.write() as conn:
            done = await writes.absorb(PgLibrarySql(conn, self._ctx.host), self._ctx.rules, pending_id, sha256, meta,
                                       images, copy, time.time())
        if done:
            absorbed(self._index, pending_id, sha256, copy)
        return done

    async def promote_new(self, promotions: list[Promotion]) -> list[ModelRow]:
        async with self._ctx.db.write() as conn:
            models = await writes.promote_new(PgLibrarySql(conn, self._ctx.host), self._ctx.rules, promotions,
                                              time.time())
        promoted_new(self._index, promotions, models)
        return models

    async def promote(self, p: Promotion) -> tuple[ModelRow, list[PendingRow]]:
        async with self._ctx.db.write() as conn:
            model, twins = await writes.promote(PgLibrarySql(conn, self._ctx.host), self._ctx.rules, p, time.time())
        promoted(self._index, p, model, twins)
        return model, twins
