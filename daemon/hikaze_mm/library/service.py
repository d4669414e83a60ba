"""The library as the API sees it: checks what a client asks for, then asks the store and the image files. The
import queue's items are shown from here too, since their images are named the way the library's are.

Every method raises `LibraryError` with a status and a message meant for the user; nothing is written when a
request is refused.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from hikaze_mm.events.bus import EventBus
from hikaze_mm.events.catalog import ModelRemoved, ModelUpdated, PendingAdded, PendingUpdated
from hikaze_mm.library import edit_guard
from hikaze_mm.library import metadata as meta_mod
from hikaze_mm.library.image_files import ImageFiles
from hikaze_mm.library.images import TIERS, ImageError, encode_tiers
from hikaze_mm.store.interfaces import MAX_TAGS, SORT_KEYS, EditRefused, ModelQuery, Removal, Store

log = logging.getLogger(__name__)
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MAX_SEQ = 2**63 - 1
MAX_TAG = 64
MAX_NAME = 256
PATCH_FIELDS = ("name", "tags", "tags_add", "tags_remove", "meta_json", "meta_add", "meta_remove", "if_unchanged")


class LibraryError(Exception):
    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.details = details or {}  # more of the answer beside `error`


def check_sha256(value: str) -> str:
    if not SHA256_RE.fullmatch(value):
        raise LibraryError(400, f"a model id is a sha256: 64 lower-case hex digits, got {value[:80]!r}")
    return value


def clean_tag(value: Any) -> str:
    if not isinstance(value, str):
        raise LibraryError(400, "a tag name must be a string")
    name = unicodedata.normalize("NFC", value).strip()
    if not name or len(name) > MAX_TAG:
        raise LibraryError(400, f"a tag name must be 1 to {MAX_TAG} characters, got {value[:80]!r}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise LibraryError(400, f"a tag name may not hold control characters: {value[:80]!r}")
    return name


def tag_list(body: dict[str, Any], key: str) -> list[str]:
    """A PATCH's list of tag names under `key` (empty when absent), each checked, repeats (any case) dropped."""
    value = body.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise LibraryError(400, f"`{key}` must be a list of at most {MAX_TAGS} tag names")
    names: list[str] = []
    for item in value:
        name = clean_tag(item)
        if name.lower() not in (n.lower() for n in names):
            names.append(name)
    return names


def image_urls(sha256: str, seq: int) -> dict[str, str]:
    return {tier: f"/api/images/{sha256}/{seq}/{tier}" for tier in ("high", "medium", "low")}


def pending_image_urls(pending_id: int, seq: int) -> dict[str, str]:
    return {tier: f"/api/pending/{pending_id}/images/{seq}/{tier}" for tier in ("high", "medium", "low")}


def check_query(query: ModelQuery) -> ModelQuery:
    if query.q is not None and any(unicodedata.category(c) == "Cc" for c in query.q):
        raise LibraryError(400, "`q` may not contain control characters")
    if query.sort not in SORT_KEYS:
        raise LibraryError(400, f"`sort` must be one of {', '.join(SORT_KEYS)}, got {query.sort!r}")
    if query.status not in ("ok", "missing", "all"):
        raise LibraryError(400, f"`status` must be ok, missing or all, got {query.status!r}")
    return query


class Library:
    def __init__(self, store: Store, bus: EventBus, files: ImageFiles,
                 released: Callable[[Removal], Awaitable[None]] | None = None):
        self.store = store
        self.bus = bus
        self.files = files
        self.released = released  # files the library let go of, handed back to the import pipeline
        # Uploads queue here for their turn to be decoded (the image module decodes one image at a time), so that a
        # queued upload waits without holding a worker thread.
        self._encoding = asyncio.Semaphore(1)

    # -- models ---------------------------------------------------------------------------------------------
    async def list_models(self, query: ModelQuery) -> dict[str, Any]:
        items, total = await self.store.list_models(check_query(query))
        for item in items:
            cover = item["cover"]
            item["cover"] = image_urls(item["sha256"], cover) if cover is not None else None
        return {"models": items, "total": total}

    async def facets(self, query: ModelQuery) -> dict[str, Any]:
        return await self.store.facets(check_query(query))

    async def model(self, sha256: str) -> dict[str, Any]:
        item = await self.store.model_detail(check_sha256(sha256))
        if item is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        for image in item["images"]:
            image["urls"] = image_urls(sha256, image["seq"])
        cover = item["cover"]
        item["cover"] = image_urls(sha256, cover) if cover is not None else None
        return item

    async def model_path(self, sha256: str) -> dict[str, Any]:
        model = await self.store.model(check_sha256(sha256))
        if model is None:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        return {"path": model.path, "status": model.status}

    async def patch(self, sha256: str, body: dict[str, Any]) -> dict[str, Any]:
        check_sha256(sha256)
        unknown = sorted(set(body) - set(PATCH_FIELDS))
        if unknown:
            raise LibraryError(400, f"unknown field(s) {', '.join(unknown)}; a model takes {', '.join(PATCH_FIELDS)}")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name.strip()) > MAX_NAME):
            raise LibraryError(400, f"`name` must be a string of at most {MAX_NAME} characters")
        tags = tag_list(body, "tags") if "tags" in body else None
        tags_add = tag_list(body, "tags_add")
        tags_remove = tag_list(body, "tags_remove")
        if tags is not None and (tags_add or tags_remove):
            raise LibraryError(400, "`tags` replaces the list that `tags_add` / `tags_remove` edit; send one or the "
                                    "other")
        both = [t for t in tags_add if t.lower() in {r.lower() for r in tags_remove}]
        if both:
            raise LibraryError(400, f"{both[0]!r} is in both `tags_add` and `tags_remove`")
        change = None
        try:
            if "meta_json" in body:
                change = meta_mod.validate(body["meta_json"])
            meta_add, meta_remove = meta_mod.list_edits(body.get("meta_add", {}), body.get("meta_remove", {}),
                                                       change or {})
            name = name.strip() if name is not None else None
            guard = None
            if "if_unchanged" in body:
                guard = functools.partial(edit_guard.check, edit_guard.validate(body["if_unchanged"]),
                                          edit_guard.writing(name, change))
            # The store merges the change into the metadata inside its write: a PATCH of another key (or another
            # tab's addition to the same list) landing at the same time is never overwritten with the record this
            # one would otherwise have read first.
            found = await self.store.update_model(
                sha256, name=name, tags=tags, meta_change=change, tags_add=tags_add, tags_remove=tags_remove,
                meta_add=meta_add, meta_remove=meta_remove, guard=guard)
        except (meta_mod.MetaError, EditRefused, edit_guard.GuardError) as e:
            raise LibraryError(400, str(e)) from None
        except edit_guard.Moved as e:
            raise LibraryError(409, str(e), {"changed": e.changed}) from None
        if not found:
            raise LibraryError(404, f"no model with sha256 {sha256}")
        self.bus.publish(ModelUpdated(sha256=sha256))
        return await self.model(sha256)

    async def delete(self, sha256: str, ignore_file: bool) -> dict[str, Any]:
        removal = await self.store.delete_model(check_sha256(sha256), ignore_file)
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
    async def pending(self, pending_id: int) -> dict[str, Any]:
        item = await self.store.pending_detail(pending_id)
        if item is None:
            raise LibraryError(404, f"no pending item with id {pending_id}")
        for image in item["images"]:
            image["urls"] = pending_image_urls(pending_id, image["seq"])
        return item

    # -- tags -----------------------------------------------------------------------------------------------
    async def create_tag(self, name: Any) -> tuple[dict[str, Any], bool]:
        return await self.store.create_tag(clean_tag(name))

    async def rename_tag(self, tag_id: int, name: Any) -> dict[str, Any]:
        tag = await self.store.rename_tag(tag_id, clean_tag(name))
        if tag is None:
            raise LibraryError(404, f"no tag with id {tag_id}")
        return tag

    async def delete_tag(self, tag_id: int) -> None:
        if not await self.store.delete_tag(tag_id):
            raise LibraryError(404, f"no tag with id {tag_id}")

    # -- images ---------------------------------------------------------------------------------------------
    async def add_image(self, sha256: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """An uploaded image, its bytes read from `chunks` as they arrive."""
        check_sha256(sha256)
        if await self.store.model(sha256) is None:
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
                async with self._encoding:
                    encoded = await asyncio.to_thread(encode_tiers, spool)
            except ImageError as e:
                raise LibraryError(415 if "not an image" in str(e) else 400, str(e)) from None
        (seq,) = await self.store.reserve_image_seqs(sha256, 1)
        try:
            await asyncio.to_thread(self.files.write_model, sha256, seq, encoded)
        except OSError as e:
            raise self._not_saved(e) from None
        if not await self.store.add_image(sha256, seq, encoded.width, encoded.height):
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
        detail = await self.store.model_detail(check_sha256(sha256))
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
        if not await self.store.delete_image(check_sha256(sha256), seq):
            raise LibraryError(404, f"model {sha256} has no image {seq}")
        await asyncio.to_thread(self.files.remove_model, sha256, [seq])
        self.bus.publish(ModelUpdated(sha256=sha256))

    async def set_cover(self, sha256: str, seq: Any) -> dict[str, Any]:
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
            raise LibraryError(400, "`seq` must be the number of one of the model's images")
        if not await self.store.set_cover(check_sha256(sha256), seq):
            raise LibraryError(404, f"model {sha256} has no image {seq}")
        self.bus.publish(ModelUpdated(sha256=sha256))
        return {"cover": image_urls(sha256, seq)}
