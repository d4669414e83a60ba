"""`auto_import = "no_conflict"`: hashed files whose content is new become models without the user's click.

The intake hands over the ids of rows it recorded ready and goes back to hashing; one task here imports what has
gathered, a batch at a time, so hashing and importing overlap and the batches are as large as the backlog (the
importer writes plainly new models PLAIN_BATCH to a transaction). At start, rows left ready (the daemon stopped
between hashing and importing them, or auto-import was off then) join the backlog.

While the library's database is away, an import that cannot be written leaves its rows ready in the database; the
daemon calls `again` once it answers, and every row left ready is imported then (the start's sweep, once more).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from hikaze_mm.library.importer import Importer
from hikaze_mm.pipeline.background import Background
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import PendingStore

log = logging.getLogger(__name__)
BATCH = 1000  # ids handed to the importer at once
READY_PAGE = 1000  # rows read at a time by the start-up sweep


class AutoImportStore(Protocol):
    pending: PendingStore


class AutoImport(Background):
    task_name = "auto-import"

    def __init__(self, store: AutoImportStore, importer: Importer):
        super().__init__()
        self.store = store
        self.importer = importer
        self._backlog: list[int] = []
        self._wake = asyncio.Event()
        self._busy = False
        self._sweep_due = True  # at start, and after the database was away

    def again(self) -> None:
        """The database answers again: rows left ready meanwhile (an import it refused, rows recorded ready just
        before it went away) are swept up."""
        self._sweep_due = True
        self._wake.set()

    def idle(self) -> bool:
        return not self._backlog and not self._busy

    async def ready(self, ids: list[int]) -> None:
        """Rows just recorded ready: imported soon, with whatever else is waiting."""
        self._backlog.extend(ids)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if self._sweep_due:
                self._sweep_due = False
                with contextlib.suppress(StoreUnreachable):  # swept again when the database is back
                    await self._sweep()
            while self._backlog:
                ids, self._backlog = self._backlog[:BATCH], self._backlog[BATCH:]
                self._busy = True
                try:
                    await self._import(ids)
                finally:
                    self._busy = False
            await self._wake.wait()
            self._wake.clear()

    async def _import(self, ids: list[int]) -> None:
        """Import these rows. A failure is the row's, never the task's."""
        try:
            # Never a file that looks damaged: it waits in the queue for the user to look at it.
            report = await self.importer.import_ids(ids, None, False, False)
        except StoreUnreachable:  # they stay ready, and are swept up once the database answers
            return
        except Exception:  # the rows stay ready for the user to import
            log.exception("auto-import of %d rows failed", len(ids), extra={"event": "import.failed"})
            return
        for refused in report.refused:
            log.info("auto-import leaves pending row %d in the queue, its file looks damaged: %s", refused["id"],
                     refused["reason"], extra={"event": "import.refused", "pending_id": refused["id"]})
        for failure in report.failed:
            log.warning("auto-import of pending row %d failed: %s", failure["id"], failure["error"],
                        extra={"event": "import.failed"})

    async def _sweep(self) -> None:
        # Rows that stay ready (an import that failed) head the id order; an import also turns other rows of the
        # page into conflicts or takes them as a model's paths, so what stays is read back, not reckoned.
        kept = 0
        self._busy = True
        try:
            while rows := (await self.store.pending.list_pending(("ready",), None, READY_PAGE, kept))[0]:
                ids = [row.id for row in rows]
                await self._import(ids)
                after = await self.store.pending.pending_rows(ids)
                kept += sum(1 for row, _ in after.values() if row.status == "ready")
        finally:
            self._busy = False
