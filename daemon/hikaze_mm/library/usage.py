"""What ComfyUI used. The node pack reports each model file a prompt loaded (a use, with an id of its own); the
library counts it against the model, once ever per id, so a batch sent again after a lost answer counts nothing
twice, and tells open pages which models' counts moved.

A use names its model by content when the node knew it (our own payloads carry the sha256) and the library has that
content; else (no sha256, or a stale one: the file was rewritten since the payload was made) by the path of the
file ComfyUI loaded, on this host: the model whose file or copy is at that path, else at the path with every
symbolic link resolved, else the model whose file is the same file (device and inode) at a path that resolves to
the same place, as when ComfyUI reaches a folder through a link the daemon does not (or the other way round). Only
a path the system itself can follow is resolved (`x.safetensors/../..` or a missing folder before `..` leads
nowhere), so the lookup tells nothing of paths that lead to no file. A use of a file the library does not have is
dropped and reported as unknown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelsUsed
from hikaze_mm.store.interfaces import UsageStore
from hikaze_mm.store.records import Use

log = logging.getLogger(__name__)

# How long a use's id is remembered: at least 30 days, the node pack's promise to never send one later than that.
USES_REMEMBERED_S = 31 * 86400
EVENT_MODELS = 50  # models per `models.used` event: each fits the message that tells the other daemons


@dataclass(frozen=True)
class ReportedUse:
    """One use as the node pack sends it (`POST /api/usage`), checked by the API."""

    id: str
    at: float  # unix seconds when ComfyUI ran it
    kind: str  # the ComfyUI folder name it was loaded from
    path: str  # absolute, or "" when the node did not say
    sha256: str | None
    node: str  # the class_type that loaded it


class Usage:
    def __init__(self, store: UsageStore, bus: EventBus):
        self.store = store
        self.bus = bus

    async def count(self, uses: list[ReportedUse]) -> dict[str, int]:
        """Counts a batch: how many uses were counted, had been counted before, or were of no model."""
        now = time.time()
        known = await self.store.models_named(sorted({u.sha256 for u in uses if u.sha256 is not None}))
        found = await self._models_at({u.path for u in uses if u.sha256 not in known and u.path})
        named = [u.sha256 if u.sha256 in known else found.get(u.path) for u in uses]
        stray = [u for u, sha256 in zip(uses, named, strict=True) if sha256 is None]
        if stray:
            log.debug("%d uses name no file of the library, the first %s (%s, loaded by %s)", len(stray),
                      stray[0].path or "without a path", stray[0].kind, stray[0].node,
                      extra={"event": "usage.unknown", "path": stray[0].path, "uses": len(stray)})
        outcome = await self.store.count_uses(
            # A use cannot have run later than it arrived: a clock ahead would otherwise pin it to the top for good.
            [Use(u.id, min(u.at, now), sha256) for u, sha256 in zip(uses, named, strict=True)],
            now, now - USES_REMEMBERED_S)
        models = [{"sha256": sha, "use_count": n, "last_used_at": last} for sha, n, last in outcome.models]
        for start in range(0, len(models), EVENT_MODELS):
            self.bus.publish(ModelsUsed(models=models[start:start + EVENT_MODELS]))
        log.info("counted %d uses of %d models (%d sent before, %d of no model in the library)", outcome.counted,
                 len(models), outcome.repeated, outcome.unknown, extra={
                     "event": "usage.counted", "counted": outcome.counted, "repeated": outcome.repeated,
                     "unknown": outcome.unknown})
        return {"counted": outcome.counted, "repeated": outcome.repeated, "unknown": outcome.unknown}

    async def model_at(self, path: str) -> str | None:
        """The sha256 of the model whose file is at this absolute path on this host, else None."""
        return (await self._models_at({path})).get(path)

    async def _models_at(self, paths: set[str]) -> dict[str, str]:
        if not paths:
            return {}
        found = await self.store.models_at(sorted(paths))
        left = sorted(paths - found.keys())
        if not left:
            return found
        real = await asyncio.to_thread(_resolved, left)
        if not real:
            return found
        by_real = await self.store.models_at(sorted({r for r, _ in real.values()}))
        for path, (resolved, file) in real.items():
            if resolved in by_real:
                found[path] = by_real[resolved]
            elif candidates := await self.store.files_at(*file):
                same = await asyncio.to_thread(_leads_to, resolved, candidates)
                if same is not None:
                    found[path] = same
        return found


def _resolved(paths: Iterable[str]) -> dict[str, tuple[str, tuple[int, int]]]:
    """Each path that leads to a file, with its links resolved and the (device, inode) of the file. Both ways must
    agree that it leads somewhere: the system refuses `file/..`, which realpath reads by the letters."""
    found: dict[str, tuple[str, tuple[int, int]]] = {}
    for path in paths:
        try:
            st = os.stat(path)
            found[path] = (os.path.realpath(path, strict=True), (st.st_dev, st.st_ino))
        except (OSError, ValueError):
            continue
    return found


def _leads_to(resolved: str, candidates: list[tuple[str, str]]) -> str | None:
    """The model of the first recorded (path, sha256) whose path leads where `resolved` does: an inode number is
    given out again once its file is gone, so the number alone names no file."""
    for path, sha256 in candidates:
        try:
            if os.path.realpath(path, strict=True) == resolved:
                return sha256
        except (OSError, ValueError):
            continue
    return None
