"""One-off work over what an earlier version stored, done once in the background after an upgrade.

`sidecar_tags`: versions before sidecar tags were read imported models without them, so a library imported then
had an empty tag filter. Each model's sidecar files are read again and their tags join it under the import's rules
(never one the user took off). `pending_sidecar_tags`: rows hashed then wait without them; their sidecars' tags are
noted in the row, as hashing notes them now, so that an import brings them along. A daemon stopped half-way does a
chore again from the start; what was done already gains nothing the second time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, TypeVar

from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelUpdated
from hikaze_mm.inspect.sidecars import read_sidecars
from hikaze_mm.pipeline.background import Background
from hikaze_mm.store.interfaces import ChoreStore

log = logging.getLogger(__name__)
K = TypeVar("K")  # what a file is known by: a model's sha256, a row's id
PAGE = 500  # models read and written at a time
# Between pages the chore rests: reading sidecars is Python work that competes with the API for the interpreter,
# and a chore that runs once may take a little longer so that no request waits on it.
REST_S = 0.05


class ChoresStore(Protocol):
    chores: ChoreStore


def _sidecar_tags(files: list[tuple[K, str]]) -> dict[K, list[str]]:
    found = {}
    for key, path in files:
        tags = read_sidecars(path).get("tags")
        if tags:
            found[key] = tags
    return found


class Chores(Background):
    task_name = "chores"

    def __init__(self, store: ChoresStore, bus: EventBus):
        super().__init__()
        self.store = store.chores
        self.bus = bus
        self.done = asyncio.Event()

    async def _run(self) -> None:
        for name in await self.store.chores():
            if name == "sidecar_tags":
                await self._sidecar_tags()
            elif name == "pending_sidecar_tags":
                await self._pending_sidecar_tags()
            await self.store.chore_done(name)
        self.done.set()

    async def _sidecar_tags(self) -> None:
        after, models, tagged = "", 0, 0
        while files := await self.store.model_files(after, PAGE):
            after = files[-1][0]
            models += len(files)
            taken = await self.store.add_sidecar_tags(await asyncio.to_thread(_sidecar_tags, files))
            tagged += len(taken)
            for sha256 in taken:
                self.bus.publish(ModelUpdated(sha256=sha256))
            await asyncio.sleep(REST_S)
        log.info("%d of %d models got tags from their sidecar files", tagged, models,
                 extra={"event": "chore.sidecar_tags", "models": models, "tagged": tagged})

    async def _pending_sidecar_tags(self) -> None:
        after, rows, noted = 0, 0, 0
        while files := await self.store.pending_files(after, PAGE):
            after = files[-1][0]
            rows += len(files)
            noted += await self.store.add_pending_sidecar_tags(await asyncio.to_thread(_sidecar_tags, files))
            await asyncio.sleep(REST_S)
        log.info("%d of %d waiting rows got tags from their sidecar files", noted, rows,
                 extra={"event": "chore.pending_sidecar_tags", "rows": rows, "tagged": noted})
