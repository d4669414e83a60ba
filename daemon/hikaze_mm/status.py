"""The daemon's status document (`GET /api/status`, `hikaze-mm status`, the line in `systemctl status`): the
model folders and how each is watched, the queues, what is being hashed, the last and the running walk, the
ComfyUI instances that announced themselves, the v1 migration, and whether the library's database answers.

It answers while the database is away too: the counts are then the last ones read (zeros if none was), and
`database` says since when it is away and how many file decisions wait for it.

It reads the running parts and changes nothing. It imports the pipeline, the v1 importer and the store's
interfaces; the API gets the document through the app and never imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hikaze_mm import __version__
from hikaze_mm.config.roots import RootSet, within
from hikaze_mm.legacy.importer import LegacyImporter
from hikaze_mm.pipeline.devices import WorkerPlan
from hikaze_mm.pipeline.hashing import HashPool
from hikaze_mm.pipeline.intake import Intake
from hikaze_mm.pipeline.outage import Outage
from hikaze_mm.pipeline.reconcile import Reconciler
from hikaze_mm.pipeline.settle import Settler
from hikaze_mm.pipeline.supervisor import Supervisor
from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import SearchStore
from hikaze_mm.store.records import PENDING_STATUSES

NO_COUNTS: dict[str, Any] = {"models": 0, "missing": 0, "pending": dict.fromkeys(PENDING_STATUSES, 0)}


class Peer(Protocol):
    def to_wire(self) -> dict[str, object]: ...


class Peers(Protocol):
    def peers(self) -> Iterable[Peer]: ...


class Lookups(Protocol):
    async def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Status:
    roots: RootSet
    supervisor: Supervisor
    settler: Settler
    intake: Intake
    pool: HashPool
    workers: WorkerPlan
    reconciler: Reconciler
    store: SearchStore
    comfy_peers: Peers
    legacy: LegacyImporter
    outage: Outage
    lookups: Lookups
    _counts: dict[str, Any] = field(default_factory=lambda: dict(NO_COUNTS))  # the last ones read

    async def counts(self) -> dict[str, Any]:
        if not self.outage.away:
            try:
                self._counts.update(await self.store.counts())
            except StoreUnreachable as e:
                self.outage.lost(e)
        return dict(self._counts)

    async def document(self) -> dict[str, Any]:
        watches = self.supervisor.watcher.watches
        roots = []
        for root in self.roots:
            top = next(t for t in self.roots.top_level() if within(root.path, t.path))
            watch = watches.get(top.path)
            roots.append({
                "path": root.path,
                "type": root.type,
                "source": root.source,
                "exists": self.supervisor.exists(root.path),
                "mode": watch.mode if watch else "off",
                "note": watch.note() if watch else None,
            })
        running = self.reconciler.progress
        return {
            "version": __version__,
            "roots": roots,
            "setting_up_watches": self.supervisor.setting_up,
            "queues": {"settling": len(self.settler), "hashing": self.intake.hashing, "queued": self.intake.queued},
            "session": {"files_hashed": self.intake.files_hashed, "bytes_hashed": self.intake.bytes_hashed},
            "hash_workers": {
                "workers": self.workers.workers,
                "auto": self.workers.auto,
                "reason": self.workers.reason,
                "devices": [{"root": root, "device": m.name, "kind": m.kind, "fstype": m.fstype, "serial": m.serial}
                            for root, m in self.workers.media.items()],
            },
            "hashing": [
                {"path": p, "bytes_done": d, "bytes_total": t} for p, (d, t) in self.pool.active.items()
            ],
            "linked_folders": [
                {"path": p, "real": watches[p].real, "mode": watches[p].mode}
                for p in self.supervisor.linked_folders() if p in watches
            ],
            "counts": await self.counts(),
            "scan": running.to_wire() if running else None,
            "last_scan": self.reconciler.last.to_wire() if self.reconciler.last else None,
            "comfyui": [peer.to_wire() for peer in self.comfy_peers.peers()],
            "legacy": self.legacy.job.to_wire() if self.legacy.job else None,
            "database": self.outage.to_wire(),
            "lookups": await self.lookups.status(),
        }
