"""Watches the library's database while it is away, and catches up with what waited for it when it answers.

Runs as long as the daemon does. Once a part of the daemon found the database away (`Outage.lost`), it is asked
every PROBE_S seconds (one round trip); when it answers, each parked path is looked at as it is then:

- a file that is here goes through the decisions again (`FileDecisions.caught_up`), as a walk would take it: one
  no row knows, and that cannot be a known file moved here, joins the queue with others in one write;
- a file parked with its hash is recorded from that hash if it is unchanged (same size, mtime, inode and device),
  so it is not read again; a changed one settles and is hashed as usual;
- a file that is gone is gone (`FileDecisions.gone`), after the files that are here, so that a file moved meanwhile
  is found at its new place (by its inode) before its old path is judged.

A path that something else is working on (settling, hashing) is left to it: its outcome goes to the database by
itself. Then, if a walk is owed (the queue overflowed, or a walk could not load the file index), every folder is
walked. If the database goes away again meanwhile, the paths not done yet are parked again by the decisions
themselves and the watch starts over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hikaze_mm.pipeline.background import Background
from hikaze_mm.pipeline.decisions import FileDecisions
from hikaze_mm.pipeline.hashing import HashResult
from hikaze_mm.pipeline.intake import Intake
from hikaze_mm.pipeline.outage import Outage
from hikaze_mm.pipeline.reconcile import Reconciler
from hikaze_mm.pipeline.walk import FileStat, stat_file
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.known_files import FileIndex
from hikaze_mm.store.path_table import Fingerprint

log = logging.getLogger(__name__)
PROBE_S = 2.0
BATCH = 500  # new files per transaction, as a walk writes them
CAUGHT_UP = "the watcher while the database was away"


class CatchUp(Background):
    task_name = "database-watch"

    def __init__(self, reconciler: Reconciler, ping: Callable[[], Awaitable[None]]):
        """`reconciler`: the walks, and through them the pipeline's parts (the decisions and their outage, the
        intake, the settler, the file index); `ping`: the store's round trip to its database."""
        super().__init__()
        self.reconciler = reconciler
        self._ping = ping
        self.outage: Outage = reconciler.decisions.outage
        self.decisions: FileDecisions = reconciler.decisions
        self.intake: Intake = reconciler.intake
        # Told each time the database answers again and the parked decisions are written (auto-import looks for
        # rows it could not import meanwhile).
        self.after: list[Callable[[], None]] = []

    async def _run(self) -> None:
        while True:
            await self.outage.wait_away()
            await self._until_it_answers()
            self.outage.back()
            parked = self.outage.take()
            await self._replay(parked)
            if self.outage.away:
                continue
            if self.outage.walk_owed:
                await self.reconciler.free()
                self.outage.walk_owed = False  # owed again if this walk cannot run either
                self.reconciler.start()
            for then in self.after:
                then()
            log.info("caught up with the %d file decisions that waited for the database", len(parked),
                     extra={"event": "database.caught_up", "files": len(parked)})

    async def _until_it_answers(self) -> None:
        while True:
            await asyncio.sleep(PROBE_S)
            try:
                await self._ping()
            except StoreUnreachable as e:
                self.outage.error = str(e)
                continue
            return

    async def _replay(self, parked: dict[str, HashResult | None]) -> None:
        if not parked:
            return
        paths = list(parked)
        self.outage.replaying = len(paths)
        try:
            stats = await asyncio.to_thread(lambda: [stat_file(p) for p in paths])
            try:
                index = await self.reconciler.store.file_index()
            except StoreUnreachable as e:  # it went away again before the index could be loaded
                self.outage.lost(e)
                for path, result in parked.items():
                    self.outage.park(path, result)
                return
            here = [(p, st) for p, st in zip(paths, stats, strict=True) if st is not None]
            gone = [p for p, st in zip(paths, stats, strict=True) if st is None]
            vanished = self._vanished(index, gone)
            new: list[tuple[str, str, FileStat]] = []
            for path, st in here:
                type_ = self.reconciler.roots.type_of(path)
                result = parked[path]
                if path in self.reconciler.settler or self.intake.has(path):
                    pass
                elif result is not None and result.stat == st:
                    await self.intake.record_kept(path, result)
                elif type_ is not None and not index.known(path) and path not in index.models_ok \
                        and st not in vanished:
                    new.append((path, type_, st))
                    if len(new) >= BATCH:
                        await self._take_in(new)
                        new = []
                    continue
                else:
                    await self.decisions.caught_up(path, st)
                self.outage.replaying -= 1
            await self._take_in(new)
            for path in gone:
                await self.decisions.gone(path)
                self.outage.replaying -= 1
        finally:
            self.outage.replaying = 0

    async def _take_in(self, new: list[tuple[str, str, FileStat]]) -> None:
        if new:
            await self.decisions.seen_new(new, CAUGHT_UP)
            self.outage.replaying -= len(new)

    def _vanished(self, index: FileIndex, gone: list[str]) -> set[Fingerprint]:
        """The fingerprints a file found here may have had at another path: those of the parked files that are
        gone, of the known files outside the folders and of the models that are not ok (as a walk reckons them)."""
        out = index.fingerprints_outside([r.path for r in self.reconciler.roots])
        for path in gone:
            pending = index.pending.get(path)
            model = index.models_ok.get(path)
            if pending is not None:
                out.add(pending[0])
            if model is not None:
                out.add(model[1])
        return out
