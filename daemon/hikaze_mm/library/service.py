"""The library as the API sees it: asks the store and the image files for what a client asked, and says what
happened on the event bus. The import queue's items are shown from here too, since their images are named the way
the library's are.

What comes in was read and checked by the API (a well-formed model id, a `ModelEdit` of clean values); what is
checked here is what only the stored library can tell: whether the model, image or tag exists, and whether an edit
still fits the model as it stands when it is written. Every method raises `LibraryError` with a status and a message
meant for the user; nothing is written when a request is refused.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hikaze_mm.config.roots import RootSet
from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelRemoved, ModelUpdated, PendingAdded, PendingUpdated
from hikaze_mm.inspect.damage import damage
from hikaze_mm.library import edit_guard
from hikaze_mm.library import metadata as meta_mod
from hikaze_mm.library.cursor import encode_cursor
from hikaze_mm.library.fetched import with_tag_marks
from hikaze_mm.library.folders import folder_name
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.images import TIERS, ImageError, encode_tiers
from hikaze_mm.library.training_tags import training_tags
from hikaze_mm.store.errors import EditRefused
from hikaze_mm.store.interfaces import ImageStore, ModelStore, PendingStore, SearchStore, TagStore
from hikaze_mm.store.records import ModelQuery, PendingStatus, Removal

log = logging.getLogger(__name__)


class LibraryError(Exception):
    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.details = details or {}  # more of the answer beside `error`


@dataclass(frozen=True)
class ModelEdit:
    """One edit of a model: a stripped name, clean tag names each once, metadata of the user fields only, and the
    values the client started from (`if_unchanged`, flattened as `edit_guard.validate` gives them)."""

    name: str | None = None
    tags: list[str] | None = None  # replaces the model's tags; `tags_add` / `tags_remove` edit them instead
    tags_add: list[str] = field(default_factory=list)
    tags_remove: list[str] = field(default_factory=list)
    meta_change: dict[str, Any] | None = None
    meta_add: dict[str, list[str]] = field(default_factory=dict)
    meta_remove: dict[str, list[str]] = field(default_factory=dict)
    if_unchanged: dict[str, Any] | None = None


def flag_damage(item: dict[str, Any], reason: str | None) -> None:
    """A pending row's or a model's wire form gains `damaged` and, when it is, the reason in words."""
    item["damaged"] = reason is not None
    item["damaged_reason"] = reason


def image_urls(sha256: str, seq: int) -> dict[str, str]:
    return {tier: f"/api/images/{sha256}/{seq}/{tier}" for tier in TIERS}


def add_card(item: dict[str, Any], card: tuple[str | None, Any, int | None] | None) -> None:
    """A pending row's wire form gains what its line in the inbox shows: base model, trigger words, cover."""
    base, triggers, cover_seq = card or (None, None, None)
    item["base_model"] = base if isinstance(base, str) and base != "unknown" else None
    if isinstance(triggers, str):
        triggers = triggers.split(",")
    item["trigger_words"] = [w.strip() for w in triggers if isinstance(w, str) and w.strip()] \
        if isinstance(triggers, list) else []
    item["cover"] = pending_image_urls(item["id"], cover_seq) if cover_seq is not None else None


def pending_image_urls(pending_id: int, seq: int) -> dict[str, str]:
    return {tier: f"/api/pending/{pending_id}/images/{seq}/{tier}" for tier in TIERS}


class LibraryStore(Protocol):
    """The parts of the store that the library shows and edits."""

    models: ModelStore
    tags: TagStore
    images: ImageStore
    search: SearchStore
    pending: PendingStore


class Library:
    def __init__(self, store: LibraryStore, bus: EventBus, files: ImageFiles,
                 released: Callable[[Removal], Awaitable[None]] | None = None, roots: RootSet | None = None):
        self.store = store
        self.roots = roots
        self.bus = bus
        self.files = files
        self.released = released  # files the library let go of, handed back to the import pipeline
        # Uploads queue here for their turn to be decoded (the image module decodes one image at a time), so that a
        # queued upload waits without holding a worker thread.
        self.encoding = asyncio.Semaphore(1)

    # -- models ---------------------------------------------------------------------------------------------
    async def list_models(self, query: ModelQuery) -> dict[str, Any]:
        page = await self.store.search.list_models(query)
        for item in page.items:
            flag_damage(item, damage(item["file_name"], item["size_bytes"], item.pop("probe")))
            directory = os.path.dirname(item.pop("path"))
            # The folder as the tree names it; a file under no model folder any more shows its whole folder.
            item["folder"] = (folder_name(self.roots, directory) if self.roots is not None else None) or directory
            cover = item["cover"]
            item["cover"] = image_urls(item["sha256"], cover) if cover is not None else None
        after = page.next_after
        found = {"models": page.items, "total": page.total,
                 "next": encode_cursor(query.sort, query.direction, after) if after is not None else None}
        if query.unused_since is not None:
            # The cut-off this page took: sent back as `unused_before`, a later page or a bulk change by the filter
            # reaches the very models listed here, however much time has passed.
            found["unused_before"] = query.unused_since
            found["total_size"] = await self.store.search.total_size(query)
        return found

    async def facets(self, query: ModelQuery) -> dict[str, Any]:
        return await self.store.search.facets(query)

    async def model(self, sha256: str) -> dict[str, Any]:
        item = await self.store.models.model_detail(sha256)
        if item is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        for image in item["images"]:
            image["urls"] = image_urls(sha256, image["seq"])
        cover = item["cover"]
        item["cover"] = image_urls(sha256, cover) if cover is not None else None
        item["training_tags"] = training_tags(item["header"])
        # A tag that left the model by any way (the user's edit, a rename or deletion of the tag) is not the web's.
        item["meta_json"] = with_tag_marks(item["meta_json"], item["tags"])
        flag_damage(item, damage(item["path"], item["size_bytes"], item["header"]))
        return item

    async def model_path(self, sha256: str) -> dict[str, Any]:
        model = await self.store.models.model(sha256)
        if model is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        return {"path": model.path, "status": model.status}

    async def patch(self, sha256: str, edit: ModelEdit) -> dict[str, Any]:
        guard = None
        if edit.if_unchanged is not None:
            guard = functools.partial(edit_guard.check, edit.if_unchanged,
                                      edit_guard.writing(edit.name, edit.meta_change))
        try:
            # The store merges the change into the metadata inside its write: a PATCH of another key (or another
            # tab's addition to the same list) landing at the same time is never overwritten with the record this
            # one would otherwise have read first.
            found = await self.store.models.update_model(
                sha256, name=edit.name, tags=edit.tags, meta_change=edit.meta_change, tags_add=edit.tags_add,
                tags_remove=edit.tags_remove, meta_add=edit.meta_add, meta_remove=edit.meta_remove, guard=guard)
        except (meta_mod.MetaError, EditRefused) as e:
            raise LibraryError(400, str(e)) from None
        except edit_guard.Moved as e:
            raise LibraryError(409, str(e), {"changed": e.changed}) from None
        if not found:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        self.bus.publish(ModelUpdated(sha256=sha256))
        return await self.model(sha256)

    async def delete(self, sha256: str, ignore_file: bool) -> dict[str, Any]:
        removal = await self.store.models.delete_model(sha256, ignore_file)
        if removal is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        await asyncio.to_thread(self.files.remove_model, sha256, removal.seqs)
        log.info("removed from the library at the user's asking; its files stay on disk", extra={
            "event": "model.deleted", "sha256": sha256, "file_ignored": ignore_file})
        self.bus.publish(ModelRemoved(sha256=sha256))
        # Its files are in the queue again at once (ignored ones under their filter), and what conflicted with it
        # is ready now.
        for row in removal.released:
            self.bus.publish(PendingAdded(id=row.id, path=row.path, status=row.status))
        for row in removal.reopened:
            self.bus.publish(PendingUpdated(id=row.id, path=row.path, status=row.status))
        if self.released is not None:
            await self.released(removal)
        return {"deleted": sha256, "images_removed": len(removal.seqs), "file_ignored": ignore_file}

    # -- the import queue's view of its items ----------------------------------------------------------------
    async def list_pending(
        self, statuses: tuple[PendingStatus, ...] | None, type_: str | None, limit: int, offset: int, *,
        q: str | None = None, folders: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        rows, total = await self.store.pending.list_pending(statuses, type_, limit, offset, q=q, folders=folders)
        ids = [row.id for row in rows]
        probes = await self.store.pending.pending_probes(ids)
        cards = await self.store.pending.pending_cards(ids)
        items = []
        for row in rows:
            item = row.to_wire()
            flag_damage(item, damage(row.path, row.size_bytes, probes.get(row.id)))
            add_card(item, cards.get(row.id))
            items.append(item)
        return {"pending": items, "total": total}

    async def pending(self, pending_id: int) -> dict[str, Any]:
        item = await self.store.pending.pending_detail(pending_id)
        if item is None:
            raise LibraryError(404, f"no pending item with id {pending_id}")
        for image in item["images"]:
            image["urls"] = pending_image_urls(pending_id, image["seq"])
        item["training_tags"] = training_tags(item["meta_json"].get("header"))
        flag_damage(item, damage(item["path"], item["size_bytes"], item["meta_json"].get("header")))
        add_card(item, (await self.store.pending.pending_cards([pending_id])).get(pending_id))
        return item

    # -- tags -----------------------------------------------------------------------------------------------
    async def create_tag(self, name: str) -> tuple[dict[str, Any], bool]:
        return await self.store.tags.create_tag(name)

    async def rename_tag(self, tag_id: int, name: str) -> dict[str, Any]:
        tag = await self.store.tags.rename_tag(tag_id, name)
        if tag is None:
            raise LibraryError(404, f"no tag with id {tag_id}")
        return tag

    async def delete_tag(self, tag_id: int) -> None:
        if not await self.store.tags.delete_tag(tag_id):
            raise LibraryError(404, f"no tag with id {tag_id}")

    # -- images ---------------------------------------------------------------------------------------------
    async def add_image(self, sha256: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """An uploaded image, its bytes read from `chunks` as they arrive."""
        if await self.store.models.model(sha256) is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        # The upload waits for its turn on disk, not in memory: twenty queued 30 MB uploads would hold 600 MB.
        try:
            spool = await asyncio.to_thread(self.files.spool)
        except OSError as e:
            raise self._not_saved(e) from None
        with spool:
            async for chunk in chunks:
                try:
                    await asyncio.to_thread(spool.write, chunk)
                except OSError as e:
                    raise self._not_saved(e) from None
            try:
                async with self.encoding:
                    encoded = await asyncio.to_thread(encode_tiers, spool)
            except ImageError as e:
                raise LibraryError(415 if "not an image" in str(e) else 400, str(e)) from None
        (seq,) = await self.store.images.reserve_image_seqs(sha256, 1)
        try:
            await asyncio.to_thread(self.files.write_model, sha256, seq, encoded)
        except OSError as e:
            raise self._not_saved(e) from None
        if not await self.store.images.add_image(sha256, seq, encoded.width, encoded.height):
            await asyncio.to_thread(self.files.remove_model, sha256, [seq])
            raise LibraryError(404, f"no model with sha256 {sha256}")
        self.bus.publish(ModelUpdated(sha256=sha256))
        return {"seq": seq, "width": encoded.width, "height": encoded.height, "urls": image_urls(sha256, seq)}

    def _not_saved(self, e: OSError) -> LibraryError:
        return LibraryError(507, f"the image could not be saved: {e.strerror or e}; free some space in "
                                 f"{self.files.root} and upload it again")

    async def cover_file(self, sha256: str, tier: str) -> Path:
        """The file of the model's cover in one tier, for pages on other origins (ComfyUI's node tooltips) that
        can show an image by URL but may not read the API's JSON."""
        detail = await self.store.models.model_detail(sha256)
        if detail is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        if detail["cover"] is None:
            raise LibraryError(404, f"model {sha256} has no images")
        if tier not in TIERS:
            raise LibraryError(400, f"unknown tier {tier[:80]!r}; expected one of {', '.join(TIERS)}")
        return self.files.model_file(sha256, detail["cover"], tier)

    async def images(self, sha256: str) -> dict[str, Any]:
        item = await self.model(sha256)
        return {"images": item["images"], "cover": item["cover"]}

    async def delete_image(self, sha256: str, seq: int) -> None:
        if not await self.store.images.delete_image(sha256, seq):
            raise LibraryError(404, f"model {sha256} has no image {seq}")
        await asyncio.to_thread(self.files.remove_model, sha256, [seq])
        self.bus.publish(ModelUpdated(sha256=sha256))

    async def set_cover(self, sha256: str, seq: int) -> dict[str, Any]:
        if not await self.store.images.set_cover(sha256, seq):
            raise LibraryError(404, f"model {sha256} has no image {seq}")
        self.bus.publish(ModelUpdated(sha256=sha256))
        return {"cover": image_urls(sha256, seq)}
