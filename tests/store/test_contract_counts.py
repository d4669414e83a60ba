"""The store's kept counts (the status document's, the type tabs', the tag list's and the filter bar's) after
every kind of write, each compared with a count of the rows themselves as the store hands them out one by one.
Run against every backend in store_backends.BACKENDS."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from store_backends import STAT, hashed_row, new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import PENDING_STATUSES, Alias, FileStat, ModelQuery, Promotion

OTHER = FileStat(20, 2, 3, 4)
SHAS = [sha(c) for c in "0123456789abcdef"]
QUERIES = [
    ModelQuery(), ModelQuery(hide_nsfw=True), ModelQuery(status="all"), ModelQuery(status="missing"),
    ModelQuery(type="LORAS"), ModelQuery(type="vae", hide_nsfw=True), ModelQuery(base_model="sdxl"),
    ModelQuery(base_model="SDXL", hide_nsfw=True, status="all"), ModelQuery(tags=["style"]),
    ModelQuery(tags=["STYLE"], hide_nsfw=True, type="loras"), ModelQuery(tags=["nsfw"], status="all"),
]


async def _models(stores: Stores) -> list[dict[str, Any]]:
    found = []
    for sha256 in SHAS:
        detail = await stores.models.model_detail(sha256)
        if detail is not None:
            detail["hidden"] = bool(detail["meta_json"].get("nsfw")) or "nsfw" in {t.lower() for t in detail["tags"]}
            found.append(detail)
    return found


def _matches(model: dict[str, Any], query: ModelQuery, *, base_model: bool = True) -> bool:
    return ((query.status == "all" or model["status"] == query.status)
            and (not query.type or model["type"].lower() == query.type.lower())
            and (not base_model or not query.base_model or model["base_model"].lower() == query.base_model.lower())
            and not (query.hide_nsfw and model["hidden"])
            and all(t.lower() in {x.lower() for x in model["tags"]} for t in query.tags))


async def _check(stores: Stores, step: str) -> None:
    """Every count the store keeps equals the count of the rows."""
    models = await _models(stores)
    pending, _ = await stores.pending.list_pending(None, None, 1000, 0)
    counts = await stores.search.counts()
    by_status = Counter(r.status for r in pending)
    assert counts == {"models": len(models), "missing": sum(m["status"] == "missing" for m in models),
                      "pending": {s: by_status[s] for s in PENDING_STATUSES}}, step
    types = sorted({m["type"] for m in models} | {r.type for r in pending})
    assert await stores.search.model_types() == [
        {"type": t, "models": sum(m["type"] == t and m["status"] == "ok" for m in models),
         "hidden": sum(m["type"] == t and m["status"] == "ok" and m["hidden"] for m in models),
         "missing": sum(m["type"] == t and m["status"] == "missing" for m in models),
         "pending": sum(r.type == t for r in pending)} for t in types], step
    for query in (ModelQuery(status="all"), ModelQuery(type="loras", hide_nsfw=True), ModelQuery(status="missing")):
        held = Counter(os.path.dirname(m["path"]) for m in models if _matches(m, query))
        assert dict(await stores.folders.folder_counts(query)) == held, (step, query)
    tagged = Counter(t.lower() for m in models for t in m["tags"])
    assert {t["name"].lower(): t["models"] for t in await stores.tags.list_tags() if t["models"]} == tagged, step
    for query in QUERIES:
        matching = [m for m in models if _matches(m, query)]
        assert (await stores.search.list_models(query)).total == len(matching), (step, query)
        facets = await stores.search.facets(query)
        assert facets["total"] == len(matching), (step, query)
        tags = Counter(t for m in matching for t in m["tags"])
        assert facets["tags"] == [{"name": t, "count": n} for t, n in
                                  sorted(tags.items(), key=lambda tn: (-tn[1], tn[0].lower()))], (step, query)
        bases = Counter(m["base_model"] for m in models if _matches(m, query, base_model=False))
        assert facets["base_models"] == [{"name": b, "count": n} for b, n in
                                         sorted(bases.items(), key=lambda bn: (-bn[1], bn[0].lower()))], (step, query)


async def test_counts_follow_every_kind_of_write(stores: Stores):
    a, b, c, d, e = SHAS[10:15]
    await _check(stores, "empty")
    settling = await stores.pending.add_pending("/m/loras/s.safetensors", "s.safetensors", "loras", STAT)
    await stores.pending.add_pending_many([("/m/vae/v.safetensors", "vae", OTHER)])
    await _check(stores, "files found")
    await stores.pending.set_pending_status(settling.id, "hashing")
    await _check(stores, "hashing")
    await stores.pending.set_pending_error(settling.id, "cannot read", None)
    await _check(stores, "an error")
    await stores.pending.move_pending(settling.id, "/m/vae/s.safetensors", "s.safetensors", "vae")
    await _check(stores, "moved to another type")
    await stores.pending.delete_pending(settling.id)
    await _check(stores, "pending row gone")

    row = await hashed_row(stores, "/m/loras/a.safetensors", a)
    await stores.pending.set_pending_meta(row.id, {"nsfw": True}, ["Style", "nsfw"])
    await _check(stores, "ready with tags")
    await stores.imports.promote(Promotion(row.id, a, "new", "a", "loras", "SDXL", {"nsfw": True}, row.path, STAT,
                                           [], []))
    await _check(stores, "imported, flagged and tagged nsfw")
    await new_model(stores, "b", b)
    await new_model(stores, "c", c, meta={"nsfw": True})
    await _check(stores, "two more")
    await stores.models.update_model(b, name="B", tags=["style", "xl"], meta_change=None)
    await _check(stores, "tags set")
    await stores.models.update_model(b, name=None, tags=None, meta_change=None, tags_add=["NSFW", "detail"],
                                     tags_remove=["xl"])
    await _check(stores, "tagged nsfw")
    await stores.models.update_model(b, name=None, tags=None, meta_change={"nsfw": True}, tags_remove=["nsfw"])
    await _check(stores, "flag instead of the tag")
    await stores.models.update_model(c, name=None, tags=None, meta_change={"nsfw": False})
    await _check(stores, "flag taken off")
    await stores.models.enrich_model(c, {"description": "d"}, ["found", "style"])
    await _check(stores, "enriched")

    twin = await hashed_row(stores, "/m/vae/twin.safetensors", a, status="conflict", conflict=a)
    await stores.pending.set_pending_meta(twin.id, {}, ["extra"])
    await _check(stores, "a conflict")
    await stores.imports.absorb(twin.id, a, {"base_model": "flux"}, [], (twin.path, OTHER))
    await _check(stores, "absorbed")
    again = await hashed_row(stores, "/m/vae/a2.safetensors", c, status="conflict", conflict=c)
    alias = await hashed_row(stores, "/proc/self/root/m/vae/a2.safetensors", c)
    await stores.imports.promote(Promotion(again.id, c, "override", "c2", "vae", "Pony", {"nsfw": True}, again.path,
                                           STAT, [], [], [Alias(alias.id, alias.path, STAT, {})]))
    await _check(stores, "overridden into another type, base model and flag")
    merged = await hashed_row(stores, "/m/loras/b2.safetensors", b, status="conflict", conflict=b)
    await stores.imports.promote(Promotion(merged.id, b, "merge", "b2", "loras", "SD 1.x", {"nsfw": False},
                                           merged.path, STAT, [], []))
    await _check(stores, "merged")

    await stores.models.set_model_missing(a)
    await _check(stores, "missing")
    relink = await hashed_row(stores, "/m/checkpoints/a.safetensors", a, stat=OTHER)
    await stores.models.relink_model(a, relink.path, "checkpoints", OTHER, relink.id)
    await _check(stores, "relinked as another type")
    await stores.copies.promote_copy(a, "/m/vae/twin.safetensors", "vae", OTHER)
    await _check(stores, "a copy stands in")

    for sha256 in (a, c):
        await stores.models.update_model(sha256, name=None, tags=None, meta_change={"nsfw": False})
    await _check(stores, "only the tag hides a model now")
    style = next(t for t in await stores.tags.list_tags() if t["name"].lower() == "style")
    found = next(t for t in await stores.tags.list_tags() if t["name"] == "found")
    await stores.tags.rename_tag(found["id"], "nsfw")
    await _check(stores, "a tag merged into nsfw")
    nsfw = next(t for t in await stores.tags.list_tags() if t["name"].lower() == "nsfw")
    await stores.tags.rename_tag(nsfw["id"], "safe now")
    await _check(stores, "nsfw renamed")
    await stores.tags.rename_tag(nsfw["id"], "Nsfw")
    await _check(stores, "renamed back")
    await stores.tags.delete_tag(nsfw["id"])
    await _check(stores, "nsfw deleted")
    await stores.tags.delete_tag(style["id"])
    await _check(stores, "a tag deleted")

    await stores.models.delete_model(b, False)
    await _check(stores, "deleted, its files back in the queue")
    await stores.models.delete_model(c, True)
    await _check(stores, "deleted, its files ignored")
    for r in (await stores.pending.list_pending(None, None, 1000, 0))[0]:
        await stores.pending.delete_pending(r.id)
    for sha256 in (a, d, e):
        await stores.models.delete_model(sha256, True)
    for r in (await stores.pending.list_pending(None, None, 1000, 0))[0]:
        await stores.pending.delete_pending(r.id)
    await _check(stores, "all gone")
    assert await stores.search.counts() == {"models": 0, "missing": 0, "pending": dict.fromkeys(PENDING_STATUSES, 0)}
