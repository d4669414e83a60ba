"""The store's contract for finding and counting models, and for the page's sessions. Run against every
backend in store_backends.BACKENDS."""

from __future__ import annotations

from store_backends import STAT, hashed_row, new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import ModelQuery


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
    assert await stores.search.list_models(ModelQuery(q="nothing")) == ([], 0)


async def test_filters_status_and_sort(stores: Stores):
    await _library(stores)
    assert _names(await stores.search.list_models(ModelQuery())) == ["anime_style", "juggernautXL_v9"]
    assert _names(await stores.search.list_models(ModelQuery(status="missing"))) == ["tiny"]
    assert _names(await stores.search.list_models(ModelQuery(status="all", tags=["photo"]))) == ["juggernautXL_v9"]
    assert _names(await stores.search.list_models(ModelQuery(status="all", exclude_tags=["XL"]))) == [
        "anime_style", "tiny"]
    assert _names(await stores.search.list_models(ModelQuery(status="all", hide_nsfw=True))) == ["juggernautXL_v9"]
    page, total = await stores.search.list_models(ModelQuery(status="all", sort="name", limit=1, offset=1))
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
    assert await stores.search.model_types() == [{"type": "loras", "models": 2, "missing": 1, "pending": 2}]


async def test_sessions_are_kept_until_they_expire_or_the_token_changes(stores: Stores):
    await stores.sessions.add_session(sha("1"), "fp-a", 100.0, 200.0)
    await stores.sessions.add_session(sha("2"), "fp-a", 100.0, 300.0)
    await stores.sessions.add_session(sha("3"), "fp-b", 100.0, 300.0)
    assert await stores.sessions.session(sha("1")) == ("fp-a", 200.0)
    assert await stores.sessions.drop_sessions("fp-a", 250.0) == 2
    assert await stores.sessions.session(sha("1")) is None and await stores.sessions.session(sha("3")) is None
    assert await stores.sessions.session(sha("2")) == ("fp-a", 300.0)
