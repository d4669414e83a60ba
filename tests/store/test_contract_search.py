"""The store's contract for finding and counting models, and for the page's sessions. Run against every
backend in store_backends.BACKENDS."""

from __future__ import annotations

import dataclasses

import pytest
from store_backends import STAT, hashed_row, new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import ModelQuery, Promotion


async def _library(stores: Stores) -> None:
    await new_model(stores, "juggernautXL_v9", sha("a"), meta={"description": "photoreal portraits"})
    await new_model(stores, "anime_style", sha("b"), meta={"trigger_words": ["animeface"], "nsfw": True})
    await new_model(stores, "tiny", sha("c"))
    await stores.models.update_model(sha("a"), name=None, tags=["Photo", "xl"], meta_change=None)
    await stores.models.update_model(sha("c"), name=None, tags=["NSFW"], meta_change=None)
    await stores.models.set_model_missing(sha("c"))


def _names(found: tuple[list[dict], int]) -> list[str]:
    return [m["name"] for m in found[0]]


async def test_words_find_names_descriptions_and_trigger_words(stores: Stores):
    await _library(stores)
    assert _names(await stores.search.list_models(ModelQuery(q="naut"))) == ["juggernautXL_v9"]
    assert _names(await stores.search.list_models(ModelQuery(q="portraits"))) == ["juggernautXL_v9"]
    assert _names(await stores.search.list_models(ModelQuery(q="animeface"))) == ["anime_style"]
    assert _names(await stores.search.list_models(ModelQuery(q="e_"))) == ["anime_style"]  # shorter than a trigram
    assert await stores.search.list_models(ModelQuery(q="nothing")) == ([], 0, None)


async def test_filters_status_and_sort(stores: Stores):
    await _library(stores)
    assert _names(await stores.search.list_models(ModelQuery())) == ["anime_style", "juggernautXL_v9"]
    assert _names(await stores.search.list_models(ModelQuery(status="missing"))) == ["tiny"]
    assert _names(await stores.search.list_models(ModelQuery(status="all", tags=["photo"]))) == ["juggernautXL_v9"]
    assert _names(await stores.search.list_models(ModelQuery(status="all", exclude_tags=["XL"]))) == [
        "anime_style", "tiny"]
    assert _names(await stores.search.list_models(ModelQuery(status="all", hide_nsfw=True))) == ["juggernautXL_v9"]
    page, total, _ = await stores.search.list_models(ModelQuery(status="all", sort="name", limit=1, offset=1))
    assert total == 3 and [m["name"] for m in page] == ["juggernautXL_v9"]
    item = page[0]
    assert item["tags"] == ["Photo", "xl"] and item["file_name"] == "juggernautXL_v9.safetensors"
    assert item["sha256"] == sha("a") and item["status"] == "ok" and item["nsfw"] is False


async def test_facets_count_the_tags_and_base_models_of_the_matches(stores: Stores):
    await _library(stores)
    facets = await stores.search.facets(ModelQuery(status="all"))
    assert facets["total"] == 3
    assert {t["name"]: t["count"] for t in facets["tags"]} == {"Photo": 1, "xl": 1, "NSFW": 1}
    assert facets["base_models"] == [{"name": "unknown", "count": 3}]


async def test_counts_and_types_cover_the_library_and_the_queue(stores: Stores):
    await _library(stores)
    await hashed_row(stores, "/m/vae/v.safetensors", sha("d"))
    await stores.pending.add_pending("/m/loras/s.safetensors", "s.safetensors", "loras", STAT)
    counts = await stores.search.counts()
    assert counts["models"] == 3 and counts["missing"] == 1
    assert counts["pending"] == {"settling": 1, "hashing": 0, "ready": 1, "conflict": 0, "error": 0, "ignored": 0}
    assert await stores.search.model_types() == [
        {"type": "loras", "models": 2, "hidden": 1, "missing": 1, "pending": 2}]


async def test_sessions_are_kept_until_they_expire_or_the_token_changes(stores: Stores):
    await stores.sessions.add_session(sha("1"), "fp-a", 100.0, 200.0)
    await stores.sessions.add_session(sha("2"), "fp-a", 100.0, 300.0)
    await stores.sessions.add_session(sha("3"), "fp-b", 100.0, 300.0)
    assert await stores.sessions.session(sha("1")) == ("fp-a", 200.0)
    assert await stores.sessions.drop_sessions("fp-a", 250.0) == 2
    assert await stores.sessions.session(sha("1")) is None and await stores.sessions.session(sha("3")) is None
    assert await stores.sessions.session(sha("2")) == ("fp-a", 300.0)


async def _page_through(stores: Stores, query: ModelQuery, between=None) -> list[str]:
    """Every sha256 of a listing, page by page through `next_after`; `between(n)` runs after page n."""
    seen: list[str] = []
    after = None
    for n in range(100):
        page = await stores.search.list_models(dataclasses.replace(query, after=after))
        seen += [m["sha256"] for m in page.items]
        if page.next_after is None:
            return seen
        after = page.next_after
        if between is not None:
            await between(n)
    raise AssertionError("the pages never ended")


async def _shelf(stores: Stores, count: int) -> list[str]:
    """Models whose names repeat without regard to case and whose sizes are all equal, so that every sort order
    has ties for the sha256 to break."""
    return [await _model(stores, ("Same", "same", f"m{i % 5}")[i % 3], f"{i * 7919 % 1000:03d}".ljust(64, "e"))
            for i in range(count)]


async def _model(stores: Stores, name: str, sha256: str) -> str:
    row = await hashed_row(stores, f"/m/loras/{sha256[:8]}.safetensors", sha256)
    await stores.imports.promote(Promotion(row.id, sha256, "new", name, "loras", "unknown", {}, row.path, STAT, [],
                                           []))
    return sha256


@pytest.mark.parametrize("sort", ["name", "created", "updated", "size"])
async def test_pages_after_a_key_list_every_model_once_in_order(stores: Stores, sort: str):
    await _shelf(stores, 23)
    whole = [m["sha256"] for m in (await stores.search.list_models(ModelQuery(sort=sort, limit=1000))).items]
    assert len(whole) == 23
    for limit in (1, 4, 23):
        assert await _page_through(stores, ModelQuery(sort=sort, limit=limit)) == whole
    assert await _page_through(stores, ModelQuery(sort=sort, limit=5, hide_nsfw=True, q="m1")) == [
        sha for sha in whole if sha in {m["sha256"] for m in
                                        (await stores.search.list_models(ModelQuery(q="m1", limit=100))).items}]
    # A full last page still hands out a key; the page after it is empty and says it is the end.
    last = await stores.search.list_models(ModelQuery(sort=sort, limit=3, offset=20))
    assert last.next_after is not None
    assert await stores.search.list_models(ModelQuery(sort=sort, limit=3, after=last.next_after)) == ([], 23, None)
    # An offset counts on from the key.
    after_18 = (await stores.search.list_models(ModelQuery(sort=sort, limit=3, offset=15))).next_after
    skipped = await stores.search.list_models(ModelQuery(sort=sort, limit=10, offset=2, after=after_18))
    assert [m["sha256"] for m in skipped.items] == whole[20:] and skipped.next_after is None


@pytest.mark.parametrize("sort", ["name", "created", "updated", "size"])
async def test_models_added_and_removed_between_pages_do_not_shift_the_others(stores: Stores, sort: str):
    made = await _shelf(stores, 20)
    removed: list[str] = []
    added: list[str] = []

    async def change(n: int) -> None:
        gone = made[(n * 3) % len(made)]
        if gone not in removed:
            await stores.models.delete_model(gone, True)
            removed.append(gone)
        new = f"f{n:02d}".ljust(64, "0")
        added.append(await _model(stores, ("Same", "m2", "zz")[n % 3], new))

    seen = await _page_through(stores, ModelQuery(sort=sort, limit=3), change)
    assert len(seen) == len(set(seen)), "a model was listed twice"
    assert set(made) - set(removed) <= set(seen), "a model that stayed was skipped"
    assert set(seen) <= set(made) | set(added)
