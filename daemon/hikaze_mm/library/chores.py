"""One-off work over what an earlier version stored, done once in the background after an upgrade.

`sidecar_tags`: versions before sidecar tags were read imported models without them, so a library imported then
had an empty tag filter. Each model's sidecar files are read again and their tags join it under the import's rules
(never one the user took off). A daemon stopped half-way does the chore again from the start; models done already
gain nothing the second time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelUpdated
from hikaze_mm.inspect.sidecars import read_sidecars
from hikaze_mm.pipeline.background import Background
from hikaze_mm.store.interfaces import ChoreStore

log = logging.getLogger(__name__)
PAGE = 500  # models read and written at a time
# Between pages the chore rests: reading sidecars is Python work that competes with the API for the interpreter,
# and a chore that runs once may take a little longer so that no request waits on it.
REST_S = 0.05


class ChoresStore(Protocol):
    chores: ChoreStore


def _sidecar_tags(files: list[tuple[str, str]]) -> dict[str, list[str]]:
    found = {}
    for sha256, path in files:
        tags = read_sidecars(path).get("tags")
        if tags:
            found[sha256] = tags
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
