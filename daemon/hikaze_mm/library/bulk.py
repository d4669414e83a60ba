"""One change made to many models at once (POST /api/models/bulk): tags added or taken off, a base model, the
NSFW flag, removal from the library (the files stay) or the files moved to the trash.

Each model is its own change, through the same paths a single edit takes (a tag edit is a PATCH of that model,
merged inside its own transaction, so an edit landing meanwhile is never overwritten), and the answer says of each
model whether it was done and, if not, why. Only the base model is set in one statement: it is a plain column.

A selection is either a list of sha256s or a filter (the filters of GET /api/models) walked in sha256 order a
page at a time: the client sends the page's `next` back as `after` until it is null, so a selection of 100,000
models never travels to the page and every match is met once, however the change moves models in or out of the
filter meanwhile.

Trashing goes through `disposal`'s guards, for the model's file and each of its copies: every file must be a
model file inside the model folders, not a link, and still the file that was hashed, or nothing of that model is
trashed and the reason is its answer. The model's record stays (its file gone, it turns missing as any model
whose file vanished), so what the user entered survives and comes back with the file if it is restored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hikaze_mm.config.roots import RootSet
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelUpdated
from hikaze_mm.library.disposal import Refused, check_trashable, trash
from hikaze_mm.library.service import Library, LibraryError, ModelEdit
from hikaze_mm.store.interfaces import CopyStore, ModelStore, SearchStore
from hikaze_mm.store.records import FileStat, ModelQuery

log = logging.getLogger(__name__)

Action = Literal["tags_add", "tags_remove", "set_base_model", "set_nsfw", "set_favorite", "remove", "trash"]
ACTIONS: tuple[Action, ...] = ("tags_add", "tags_remove", "set_base_model", "set_nsfw", "set_favorite", "remove",
                               "trash")
MAX_BULK = 500  # models one request changes; a larger selection is sent in several (or paged by its filter)


@dataclass(frozen=True)
class BulkChange:
    """What to do: the action and its one argument (tag names, a base model name, the NSFW or favourite flag)."""

    action: Action
    tags: tuple[str, ...] = ()
    base_model: str = ""
    nsfw: bool = False
    favorite: bool = False


@dataclass(frozen=True)
class FilterSelection:
    """The models matching `query`, but those in `skip`, after the sha256 `after`, at most `limit` of them."""

    query: ModelQuery
    skip: frozenset[str]
    after: str | None
    limit: int
    folder: str | None = None  # a folder of the tree, as `folder=` names it: the API narrows `query` to it


class BulkStore(Protocol):
    models: ModelStore
    copies: CopyStore
    search: SearchStore


class Bulk:
    def __init__(self, store: BulkStore, library: Library, bus: EventBus, roots: RootSet):
        self.store = store
        self.library = library
        self.bus = bus
        self.roots = roots

    async def apply(self, change: BulkChange, selection: list[str] | FilterSelection) -> dict[str, Any]:
        paging: dict[str, Any] = {}
        if isinstance(selection, FilterSelection):
            shas, paging = await self._page(selection)
        else:
            shas = selection
        results = await self._run(change, shas)
        failed = sum(1 for r in results if not r["ok"])
        return {"results": results, "done": len(results) - failed, "failed": failed, **paging}

    async def _page(self, selection: FilterSelection) -> tuple[list[str], dict[str, Any]]:
        shas: list[str] = []
        after = selection.after
        # Skipped models take no room in the page, so a page may need more than one read to fill.
        while len(shas) < selection.limit:
            keys = await self.store.search.model_keys(selection.query, after, selection.limit)
            shas.extend(k for k in keys if k not in selection.skip)
            if len(keys) < selection.limit:
                after = None
                break
            after = keys[-1]
        if len(shas) > selection.limit:
            after = shas[selection.limit - 1]
            shas = shas[:selection.limit]
        paging: dict[str, Any] = {"next": after}
        if selection.query.unused_since is not None:  # for the later pages, which must select by the same time
            paging["unused_before"] = selection.query.unused_since
        if selection.after is None:
            # The count of the whole selection, for the progress bar: asked once, with the first page.
            total = (await self.store.search.list_models(dataclasses.replace(selection.query, limit=0))).total
            paging["total"] = max(0, total - len(selection.skip))
        return shas, paging

    async def _run(self, change: BulkChange, shas: list[str]) -> list[dict[str, Any]]:
        if change.action == "set_base_model":
            found = set(await self.store.models.set_base_model(shas, change.base_model))
            for sha in found:
                self.bus.publish(ModelUpdated(sha256=sha))
            return [{"sha256": sha, "ok": True} if sha in found else _missing(sha) for sha in shas]
        results = []
        for sha in shas:
            try:
                results.append(await self._one(change, sha))
            except LibraryError as e:
                results.append({"sha256": sha, "ok": False, "error": str(e)})
        return results

    async def _one(self, change: BulkChange, sha: str) -> dict[str, Any]:
        if change.action == "tags_add":
            await self.library.patch(sha, ModelEdit(tags_add=list(change.tags)))
        elif change.action == "tags_remove":
            await self.library.patch(sha, ModelEdit(tags_remove=list(change.tags)))
        elif change.action == "set_nsfw":
            await self.library.patch(sha, ModelEdit(meta_change={"nsfw": change.nsfw}))
        elif change.action == "set_favorite":
            await self.library.patch(sha, ModelEdit(meta_change={"favorite": change.favorite}))
        elif change.action == "remove":
            await self.library.delete(sha, ignore_file=False)
        else:
            return await self._trash(sha)
        return {"sha256": sha, "ok": True}

    async def _trash(self, sha: str) -> dict[str, Any]:
        model = await self.store.models.model(sha)
        if model is None:
            return _missing(sha)
        if model.status != "ok":
            return {"sha256": sha, "ok": False, "error": "its file is missing; there is nothing to trash"}
        files: list[tuple[str, FileStat]] = [(model.path, model.stat)]
        for path in await self.store.copies.copies_of(sha):
            copy = await self.store.copies.copy_at(path)
            if copy is not None:
                files.append((path, copy[1]))
        # Every file is checked before any goes: a model is trashed whole or not at all.
        for path, recorded in files:
            try:
                await asyncio.to_thread(check_trashable, path, recorded, self.roots)
            except Refused as e:
                log.info("not trashed: %s", e, extra={"event": "file.kept", "path": path, "sha256": sha})
                return {"sha256": sha, "ok": False, "error": f"{path}: {e}"}
        trashed: list[str] = []
        for path, recorded in files:
            try:
                trashed.extend(await asyncio.to_thread(trash, path, recorded, self.roots, []))
            except (Refused, OSError) as e:
                why = str(e) if isinstance(e, Refused) else (e.strerror or str(e))
                return {"sha256": sha, "ok": False, "error": f"{path}: {why}", "trashed": trashed}
        log.info("moved to the trash at the user's asking; the record stays until the file is gone", extra={
            "event": "file.deleted", "path": model.path, "sha256": sha, "trashed": True})
        return {"sha256": sha, "ok": True, "trashed": trashed}


def _missing(sha: str) -> dict[str, Any]:
    return {"sha256": sha, "ok": False, "error": f"no model with sha256 {sha}"}
