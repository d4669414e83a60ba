"""The library's writes as every backend makes them: which steps an import, an absorption or an edit takes, in
what order, and where the metadata rules apply, all inside the caller's one write transaction. A backend gives
the statements (`LibrarySql`, over the connection of its open write); the flows here decide which of them run and
with what, so the same change is made the same way on every backend.

Every flow reads what it combines inside the transaction that writes the result: two changes that arrive
together each see the other's result instead of both starting from the same old record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hikaze_mm.store.errors import EditRefused
from hikaze_mm.store.interfaces import ListEdits, MetadataRules
from hikaze_mm.store.records import MAX_TAGS, FileStat, Meta, ModelRow, PendingRow, Promotion, WebTaken


class LibrarySql(Protocol):
    """A backend's statements for the flows below, each one write inside the open transaction. Tag names match
    without regard to case; a tag the user took off a model (its `removed_tags`) is put back only by the user."""

    async def meta(self, sha256: str) -> Meta | None: ...  # None: no such model
    async def name_and_meta(self, sha256: str) -> tuple[str, Meta] | None: ...
    async def set_meta(self, sha256: str, meta: Meta, now: float | None) -> None: ...  # None: updated_at stays
    async def rename(self, sha256: str, name: str, now: float) -> None: ...
    async def fill_base_model(self, sha256: str, base_model: str) -> None: ...  # where it is `unknown`
    # A merge keeps the model's name unless it is empty (a rename may have landed since the import looked).
    async def refile_model(self, p: Promotion, keep_name: bool, now: float) -> None: ...
    async def insert_models(self, models: list[tuple[Promotion, Meta]], now: float) -> None: ...  # from their rows
    async def model(self, sha256: str) -> ModelRow: ...
    # The blake3 of the models of these contents that this write made (created at `now`, its time).
    async def made(self, shas: list[str], now: float) -> dict[str, str | None]: ...

    async def tag_names(self, sha256: str) -> list[str]: ...
    async def set_tags(self, sha256: str, names: list[str]) -> None: ...
    async def add_tags(self, sha256: str, names: list[str]) -> int: ...  # how many tags the model has then
    async def remove_tags(self, sha256: str, names: list[str]) -> None: ...
    async def tag_model(self, sha256: str, names: list[str]) -> None: ...  # but for those the user took off it
    async def pending_tag_names(self, ids: list[int]) -> dict[int, list[str]]: ...
    async def pending_tags_to_model(self, sha256: str, pending_id: int) -> None: ...  # but for those taken off
    async def pending_tags_to_models(self, promotions: list[Promotion]) -> None: ...  # each to its new model

    async def add_images(self, images: list[tuple[str, int, int, int]], now: float) -> None: ...  # sha256, seq, w, h
    async def add_copies(self, sha256: str, copies: list[tuple[str, FileStat]], now: float) -> None: ...
    async def drop_copies(self, paths: list[str]) -> None: ...
    async def drop_pending(self, ids: list[int]) -> None: ...
    # The ready rows of this content turn `conflict` with it; those the store hands back.
    async def conflict_twins(self, sha256: str, now: float) -> list[PendingRow]: ...
    async def reindex(self, shas: list[str]) -> None: ...


async def edit_meta(sql: LibrarySql, sha256: str, edit: Callable[[Meta], Meta], now: float) -> bool:
    """A model's metadata read, changed by `edit` and written back: every change of stored metadata goes through
    here. False when there is no such model."""
    stored = await sql.meta(sha256)
    if stored is None:
        return False
    await sql.set_meta(sha256, edit(stored), now)
    return True


async def take_sidecar_tags(sql: LibrarySql, rules: MetadataRules, sha256: str, incoming: Meta,
                            now: float | None) -> list[str]:
    """The tags the incoming record's sidecars name join the model that exists (the rules' `take_sidecar_tags`,
    against its tags as they stand); the ones that joined. With `now` None the model's `updated_at` stays: tags
    filled in for the user are not an edit of theirs."""
    stored = await sql.meta(sha256)
    if stored is None:
        return []
    meta, taken = rules.take_sidecar_tags(stored, incoming, await sql.tag_names(sha256))
    if taken:
        await sql.set_meta(sha256, meta, now)
        await sql.tag_model(sha256, taken)
    return taken


async def update_model(
    sql: LibrarySql, rules: MetadataRules, sha256: str, now: float, *, name: str | None, tags: list[str] | None,
    meta_change: Meta | None, tags_add: list[str] | None, tags_remove: list[str] | None, meta_add: ListEdits | None,
    meta_remove: ListEdits | None, guard: Callable[[str, Meta], None] | None,
) -> bool:
    """A PATCH (`ModelStore.update_model`): the named fields only. The rules' `patch` applies the metadata change
    and the list items to the record as it stands, and `tags_edited` notes the tags the user took off or put
    back. Raises EditRefused, or what the rules or the guard raise, before the caller's transaction commits."""
    stored = await sql.name_and_meta(sha256)
    if stored is None:
        return False
    if guard is not None:
        guard(*stored)
    if name is not None:
        await sql.rename(sha256, name, now)
    if meta_change is not None or meta_add or meta_remove:
        await edit_meta(sql, sha256, lambda meta: rules.patch(meta, meta_change or {}, meta_add or {},
                                                              meta_remove or {}), now)
    editing_tags = tags is not None or bool(tags_add or tags_remove)
    if editing_tags:
        before = await sql.tag_names(sha256)
        if tags is not None:
            await sql.set_tags(sha256, tags)
        if tags_remove:
            await sql.remove_tags(sha256, tags_remove)
        if tags_add and await sql.add_tags(sha256, tags_add) > MAX_TAGS:
            raise EditRefused(f"the model would have more than {MAX_TAGS} tags; remove some first")
        after = await sql.tag_names(sha256)
        await edit_meta(sql, sha256, lambda meta: rules.tags_edited(meta, before, after), now)
    await sql.reindex([sha256])
    return True


async def enrich_model(sql: LibrarySql, rules: MetadataRules, sha256: str, meta: Meta, tags: list[str],
                       now: float) -> bool:
    """What the model lacks of this metadata (the rules' `merge`), and these tags but for those the user took off
    it."""
    if not await edit_meta(sql, sha256, lambda stored: rules.merge(stored, meta), now):
        return False
    await sql.tag_model(sha256, tags)
    await sql.reindex([sha256])
    return True


# A record's bookkeeping in the metadata: not fields the user sees change.
_BOOKKEEPING = ("web", "fetched")


async def take_web_record(sql: LibrarySql, rules: MetadataRules, sha256: str, record: Meta, base_model: str | None,
                          images: list[tuple[int, int, int]], now: float) -> WebTaken | None:
    """A record from the web into the model that exists: the fields it may fill (the rules' `web_fill`), its tags
    but for those the user took off, a base model where the model has none (marked as the web's), and the given
    images (the record's that were fetched, numbered as the model's). The model's `updated_at` stays: this is not
    an edit of the user's. None when there is no such model, or the rules refused the record (its images are then
    not added)."""
    stored = await sql.meta(sha256)
    if stored is None:
        return None
    # The web's base model goes only where the header named none and the user never chose one ("unknown" too).
    chosen = isinstance(stored.get("user_set"), list) and "base_model" in stored["user_set"]
    filling = base_model if base_model is not None and not chosen and \
        (await sql.model(sha256)).base_model == "unknown" else None
    meta, taken = rules.web_fill(stored, record, await sql.tag_names(sha256), now, filling is not None)
    if meta is stored:  # the rules refused the record: the model takes nothing of it, images neither
        return None
    await sql.set_meta(sha256, meta, None)
    if taken:
        await sql.tag_model(sha256, taken)
    if filling is not None:
        await sql.fill_base_model(sha256, filling)
    await sql.add_images([(sha256, *image) for image in images], now)
    await sql.reindex([sha256])
    changed = sorted(k for k in {*stored, *meta} if k not in _BOOKKEEPING and stored.get(k) != meta.get(k))
    return WebTaken(changed, taken, len(images))


async def absorb(sql: LibrarySql, rules: MetadataRules, pending_id: int, sha256: str, meta: Meta,
                 images: list[tuple[int, int, int]], copy: tuple[str, FileStat] | None, now: float) -> bool:
    """A pending row taken into an existing model: what the model lacks of its metadata (the rules' `merge`) and
    a base model where it has none, its tags, the given images and, when its file stays, its path as one of the
    model's files; the row goes. False when there is no such model."""
    if not await edit_meta(sql, sha256, lambda stored: rules.merge(stored, meta), now):
        return False
    base = meta.get("base_model")
    if isinstance(base, str) and base and base != "unknown":
        await sql.fill_base_model(sha256, base)
    await sql.pending_tags_to_model(sha256, pending_id)
    await take_sidecar_tags(sql, rules, sha256, meta, now)
    await sql.add_images([(sha256, *image) for image in images], now)
    if copy is not None:
        await sql.add_copies(sha256, [copy], now)
    await sql.drop_pending([pending_id])
    await sql.reindex([sha256])
    return True


async def _new_models_meta(sql: LibrarySql, rules: MetadataRules,
                           promotions: list[Promotion]) -> dict[int, tuple[Meta, list[str]]]:
    """By pending id: what each new model keeps of its row's record (the rules' `for_new_model`), and the tags
    its sidecars give it besides the row's own (`take_sidecar_tags`)."""
    own = await sql.pending_tag_names([p.pending_id for p in promotions])
    return {p.pending_id: rules.take_sidecar_tags(rules.for_new_model(p.meta_json), p.meta_json,
                                                  own.get(p.pending_id, []))
            for p in promotions}


async def promote_new(sql: LibrarySql, rules: MetadataRules, promotions: list[Promotion],
                      now: float) -> list[ModelRow]:
    """Rows whose content no model has and no other queued row shares, each a new model: a statement per step for
    the whole batch (a batch of small files costs a few trips to the database, not a dozen per file). A promotion
    that brings copies or aliases belongs to `promote`. A row that is gone makes no model."""
    assert all(p.mode == "new" and not p.copies and not p.aliases for p in promotions)
    kept = await _new_models_meta(sql, rules, promotions)
    await sql.insert_models([(p, kept[p.pending_id][0]) for p in promotions], now)
    await sql.drop_copies([p.main_path for p in promotions])  # a copy's path taken over by a new content
    await sql.pending_tags_to_models(promotions)
    for p in promotions:
        if kept[p.pending_id][1]:
            await sql.tag_model(p.sha256, kept[p.pending_id][1])
    await sql.add_images([(p.sha256, *image) for p in promotions for image in p.images], now)
    await sql.drop_pending([p.pending_id for p in promotions])
    shas = [p.sha256 for p in promotions]
    await sql.reindex(shas)
    # Which rows made a model (a row gone meanwhile made none); the rest of each model is as written here.
    made = await sql.made(shas, now)
    return [ModelRow(p.sha256, made[p.sha256], p.main_path, p.name, p.type, *p.main_stat, "ok", now, now,
                     p.base_model, None) for p in promotions if p.sha256 in made]


async def promote(sql: LibrarySql, rules: MetadataRules, p: Promotion, now: float) -> tuple[ModelRow,
                                                                                           list[PendingRow]]:
    """The row becomes (part of) the model, its aliases join it, and every other ready row with the same content
    turns `conflict`, so no twin is offered as importable. A new model's metadata is the rules' `for_new_model`
    of the import's; an override or a merge combines the import's with the model's as it stands (the rules'
    `override` or `merge`)."""
    taken: list[str] = []  # by a new model, from its sidecars
    if p.mode == "new":
        meta, taken = (await _new_models_meta(sql, rules, [p]))[p.pending_id]
        await sql.insert_models([(p, meta)], now)
    else:
        await sql.refile_model(p, p.mode == "merge", now)
        combine = rules.override if p.mode == "override" else rules.merge
        await edit_meta(sql, p.sha256, lambda stored: combine(stored, p.meta_json), now)
    await sql.drop_copies([p.main_path])
    await sql.add_copies(p.sha256, p.copies, now)
    await sql.pending_tags_to_model(p.sha256, p.pending_id)
    if p.mode == "new":
        await sql.tag_model(p.sha256, taken)
    else:
        await take_sidecar_tags(sql, rules, p.sha256, p.meta_json, now)
    await sql.add_images([(p.sha256, *image) for image in p.images], now)
    await sql.drop_pending([p.pending_id])
    for alias in p.aliases:
        await absorb(sql, rules, alias.pending_id, p.sha256, alias.meta_json, [], (alias.path, alias.stat), now)
    twins = await sql.conflict_twins(p.sha256, now)
    model = await sql.model(p.sha256)
    await sql.reindex([p.sha256])
    return model, twins
