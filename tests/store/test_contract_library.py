"""The store's contract for the library: promotions and absorptions, model edits merged inside their write,
tags without regard to case, copies, and image numbers that are never given out twice. Run against every
backend in store_backends.BACKENDS."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from store_backends import STAT, hashed_row, new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.library.metadata import MetaError
from hikaze_mm.store.errors import EditRefused
from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import MAX_TAGS, Alias, FileStat, Promotion

OTHER = FileStat(20, 2, 3, 4)
A = sha("a")


async def _meta(stores: Stores, sha256: str) -> dict[str, Any]:
    detail = await stores.models.model_detail(sha256)
    assert detail is not None
    return detail["meta_json"]


# -- promotion and absorption ---------------------------------------------------------------------------------
async def test_a_new_model_takes_its_rows_tags_images_and_user_fields(stores: Stores):
    row = await hashed_row(stores, "/m/loras/a.safetensors", A)
    await stores.pending.set_pending_meta(row.id, {"description": "d", "sidecars": {"x": 1}, "header": {"h": 1}},
                                          ["style"])
    twin = await hashed_row(stores, "/m/loras/twin.safetensors", A)
    model, twins = await stores.imports.promote(Promotion(
        row.id, A, "new", "Mine", "loras", "sdxl", {"description": "d", "sidecars": {"x": 1}, "header": {"h": 1}},
        "/m/loras/a.safetensors", STAT, [("/m/loras/copy.safetensors", OTHER)], [(0, 10, 20)]))
    assert (model.sha256, model.name, model.base_model, model.status, model.path) == (
        A, "Mine", "sdxl", "ok", "/m/loras/a.safetensors")
    assert [(t.id, t.status, t.conflict_sha256) for t in twins] == [(twin.id, "conflict", A)]
    assert await stores.pending.pending(row.id) is None
    detail = await stores.models.model_detail(A)
    assert detail is not None
    assert detail["meta_json"] == {"description": "d"} and detail["header"] == {"h": 1}
    assert detail["tags"] == ["style"] and [i["seq"] for i in detail["images"]] == [0]
    assert detail["copies"] == ["/m/loras/copy.safetensors"]
    assert await stores.copies.copy_at("/m/loras/copy.safetensors") == (A, OTHER)


async def test_a_merge_fills_only_what_the_model_lacks_and_keeps_its_name(stores: Stores):
    await new_model(stores, "Kept", A, meta={"description": "mine"})
    row = await hashed_row(stores, "/m/loras/again.safetensors", A, status="conflict", conflict=A)
    model, _ = await stores.imports.promote(Promotion(
        row.id, A, "merge", "again", "loras", "unknown", {"description": "theirs", "notes": "new"},
        "/m/loras/again.safetensors", STAT, [], []))
    assert model.name == "Kept" and model.path == "/m/loras/again.safetensors"
    assert await _meta(stores, A) == {"description": "mine", "notes": "new"}


async def test_an_override_replaces_the_name_and_the_fields_it_brings(stores: Stores):
    await new_model(stores, "Old", A, meta={"description": "mine", "notes": "kept"})
    row = await hashed_row(stores, "/m/loras/again.safetensors", A, status="conflict", conflict=A)
    model, _ = await stores.imports.promote(Promotion(
        row.id, A, "override", "New", "loras", "unknown", {"description": "theirs"},
        "/m/loras/again.safetensors", STAT, [], []))
    assert model.name == "New"
    assert await _meta(stores, A) == {"description": "theirs", "notes": "kept"}


async def test_aliases_join_the_model_as_its_paths(stores: Stores):
    row = await hashed_row(stores, "/m/loras/a.safetensors", A)
    alias = await hashed_row(stores, "/proc/self/root/m/loras/a.safetensors", A, meta={"notes": "alias"})
    _, twins = await stores.imports.promote(Promotion(
        row.id, A, "new", "a", "loras", "unknown", {}, row.path, STAT, [], [],
        [Alias(alias.id, alias.path, STAT, {"notes": "alias"})]))
    assert twins == [] and await stores.pending.pending(alias.id) is None
    assert await stores.copies.copies_of(A) == [alias.path]
    assert await _meta(stores, A) == {"notes": "alias"}
    assert (await stores.files.file_index()).models_ok[alias.path] == (A, tuple(STAT))


async def test_an_absorbed_row_brings_what_the_model_lacks_and_goes(stores: Stores):
    await new_model(stores, "m", A, meta={"description": "mine"})
    row = await hashed_row(stores, "/m/loras/b.safetensors", A, status="conflict", conflict=A)
    await stores.pending.set_pending_meta(row.id, {}, ["extra"])
    assert await stores.imports.absorb(row.id, A, {"description": "theirs", "notes": "n", "base_model": "flux"},
                                       [(3, 8, 8)], ("/m/loras/b.safetensors", OTHER))
    assert await stores.pending.pending(row.id) is None
    detail = await stores.models.model_detail(A)
    assert detail is not None
    assert detail["meta_json"]["description"] == "mine" and detail["meta_json"]["notes"] == "n"
    assert detail["base_model"] == "flux" and detail["tags"] == ["extra"]
    assert [i["seq"] for i in detail["images"]] == [3] and detail["copies"] == ["/m/loras/b.safetensors"]
    assert not await stores.imports.absorb(row.id, sha("f"), {}, [], None)


async def test_a_tag_the_user_took_off_stays_off_whatever_the_import_brings(stores: Stores):
    await new_model(stores, "m", A)
    assert await stores.models.update_model(A, name=None, tags=["Old", "kept"], meta_change=None)
    assert await stores.models.update_model(A, name=None, tags=None, meta_change=None, tags_remove=["old"])
    row = await hashed_row(stores, "/m/loras/b.safetensors", A, status="conflict", conflict=A)
    await stores.pending.set_pending_meta(row.id, {}, ["OLD", "v1"])  # a first-version row's own tags
    sidecars = {"sidecars": {"tags": ["old", "civitai", "kept"]}}
    assert await stores.imports.absorb(row.id, A, sidecars, [], None)
    detail = await stores.models.model_detail(A)
    assert detail is not None
    assert detail["tags"] == ["civitai", "kept", "v1"] and detail["sidecar_tags"] == ["civitai"]
    assert detail["removed_tags"] == ["Old"] and detail["meta_json"] == {}
    # The file found again with a first-version row's tags: the same.
    assert await stores.models.enrich_model(A, {}, ["old", "again"])
    assert (await stores.models.model_detail(A) or {})["tags"] == ["again", "civitai", "kept", "v1"]


async def test_sidecar_tags_fill_a_model_only_up_to_its_tag_limit(stores: Stores):
    row = await hashed_row(stores, "/m/loras/a.safetensors", A)
    mine = [f"v1_{i}" for i in range(MAX_TAGS - 2)]
    meta = {"sidecars": {"tags": ["v1_0", "x", "y", "z"]}}
    await stores.pending.set_pending_meta(row.id, meta, mine)
    await stores.imports.promote_new([Promotion(row.id, A, "new", "a", "loras", "unknown", meta, row.path, STAT,
                                                [], [])])
    detail = await stores.models.model_detail(A)
    assert detail is not None
    assert len(detail["tags"]) == MAX_TAGS and detail["sidecar_tags"] == ["x", "y"]


# -- models ---------------------------------------------------------------------------------------------------
async def test_a_patch_merges_into_the_metadata_as_stored(stores: Stores):
    await new_model(stores, "m", A, meta={"description": "d", "prompts": {"positive": "p"},
                                          "trigger_words": ["one", "two"]})
    assert await stores.models.update_model(A, name="renamed", tags=None, meta_change={"prompts": {"negative": "n"}},
                                            meta_add={"trigger_words": ["three"]},
                                            meta_remove={"trigger_words": ["one"]})
    detail = await stores.models.model_detail(A)
    assert detail is not None and detail["name"] == "renamed"
    assert detail["meta_json"] == {"description": "d", "prompts": {"positive": "p", "negative": "n"},
                                   "trigger_words": ["two", "three"], "user_set": ["trigger_words"]}
    assert not await stores.models.update_model(sha("f"), name="x", tags=None, meta_change=None)


async def test_concurrent_patches_of_different_fields_all_stay(stores: Stores):
    await new_model(stores, "m", A)
    fields = {"description": "d", "notes": "n", "nsfw": True}
    await asyncio.gather(*(stores.models.update_model(A, name=None, tags=None, meta_change={k: v})
                           for k, v in fields.items()),
                         *(stores.models.update_model(A, name=None, tags=None, meta_change=None,
                                                      meta_add={"trigger_words": [w]}) for w in ("x", "y")))
    meta = await _meta(stores, A)
    assert {k: meta[k] for k in fields} == fields and sorted(meta["trigger_words"]) == ["x", "y"]


async def test_a_refused_edit_writes_nothing(stores: Stores):
    await new_model(stores, "m", A, meta={"description": "d"})

    def refuse(name: str, meta: dict[str, Any]) -> None:
        assert (name, meta) == ("m", {"description": "d"})
        raise ValueError("changed meanwhile")

    with pytest.raises(ValueError, match="changed meanwhile"):
        await stores.models.update_model(A, name="x", tags=["t"], meta_change={"notes": "n"}, guard=refuse)
    with pytest.raises(EditRefused):
        await stores.models.update_model(A, name="x", tags=None, meta_change=None,
                                         tags_add=[f"t{i}" for i in range(MAX_TAGS + 1)])
    with pytest.raises(MetaError):
        await stores.models.update_model(A, name="x", tags=None, meta_change=None,
                                         meta_add={"trigger_words": [f"w{i}" for i in range(201)]})
    detail = await stores.models.model_detail(A)
    assert detail is not None
    assert (detail["name"], detail["tags"], detail["meta_json"]) == ("m", [], {"description": "d"})


async def test_tags_are_set_added_and_removed_without_regard_to_case(stores: Stores):
    await new_model(stores, "m", A)
    await stores.models.update_model(A, name=None, tags=["Style", "xl"], meta_change=None)
    await stores.models.update_model(A, name=None, tags=None, meta_change=None, tags_add=["STYLE", "new"],
                                     tags_remove=["XL"])
    detail = await stores.models.model_detail(A)
    assert detail is not None and detail["tags"] == ["new", "Style"]


async def test_enriching_fills_empty_fields_and_adds_tags(stores: Stores):
    await new_model(stores, "m", A, meta={"description": "mine", "nsfw": False})
    assert await stores.models.enrich_model(A, {"description": "theirs", "nsfw": True}, ["found"])
    detail = await stores.models.model_detail(A)
    assert detail is not None and detail["meta_json"] == {"description": "mine", "nsfw": True}
    assert detail["tags"] == ["found"]
    assert not await stores.models.enrich_model(sha("f"), {}, [])


async def test_a_missing_model_keeps_everything_and_is_relinked(stores: Stores):
    await new_model(stores, "m", A, meta={"notes": "mine"})
    missing = await stores.models.set_model_missing(A)
    assert missing is not None and missing.status == "missing"
    row = await hashed_row(stores, "/m/loras/moved.safetensors", A, stat=OTHER)
    relinked = await stores.models.relink_model(A, "/m/loras/moved.safetensors", "loras", OTHER, row.id)
    assert relinked is not None and (relinked.status, relinked.path, relinked.stat, relinked.name) == (
        "ok", "/m/loras/moved.safetensors", OTHER, "m")
    assert await stores.pending.pending(row.id) is None
    assert await _meta(stores, A) == {"notes": "mine"}
    assert (await stores.models.model_by_path("/m/loras/moved.safetensors")) == relinked
    assert await stores.models.set_model_missing(sha("f")) is None


async def test_a_deleted_models_files_go_back_to_the_queue(stores: Stores):
    await new_model(stores, "m", A, meta={"header": {"h": 1}}, images=[(0, 1, 1)])
    row = await hashed_row(stores, "/m/loras/b.safetensors", A)
    await stores.imports.absorb(row.id, A, {}, [], ("/m/loras/b.safetensors", OTHER))
    waiting = await hashed_row(stores, "/m/loras/c.safetensors", A, status="conflict", conflict=A)
    removal = await stores.models.delete_model(A, False)
    assert removal is not None and removal.seqs == [0] and removal.header == {"h": 1}
    assert sorted((r.path, r.status, r.sha256, r.stat) for r in removal.released) == [
        ("/m/loras/b.safetensors", "hashing", A, OTHER), ("/m/loras/m.safetensors", "hashing", A, STAT)]
    assert [(r.id, r.status, r.conflict_sha256) for r in removal.reopened] == [(waiting.id, "ready", None)]
    assert await stores.models.model(A) is None and await stores.copies.copy_at("/m/loras/b.safetensors") is None
    assert (await stores.files.file_index()).models == {}
    assert await stores.models.delete_model(A, False) is None


async def test_a_deleted_model_with_its_file_ignored_stays_out_of_the_queue(stores: Stores):
    await new_model(stores, "m", A)
    removal = await stores.models.delete_model(A, True)
    assert removal is not None and [r.status for r in removal.released] == ["ignored"]


# -- copies ---------------------------------------------------------------------------------------------------
async def test_copies_move_go_and_stand_in_for_a_vanished_main_file(stores: Stores):
    model = await new_model(stores, "m", A)
    for name in ("b", "c"):
        row = await hashed_row(stores, f"/m/loras/{name}.safetensors", A)
        await stores.imports.absorb(row.id, A, {}, [], (row.path, OTHER))
    await stores.copies.move_copy("/m/loras/b.safetensors", "/m/vae/b.safetensors", STAT)
    assert await stores.copies.copy_at("/m/vae/b.safetensors") == (A, STAT)
    await stores.copies.remove_copy("/m/loras/c.safetensors")
    assert await stores.copies.copies_of(A) == ["/m/vae/b.safetensors"]
    promoted = await stores.copies.promote_copy(A, "/m/vae/b.safetensors", "vae", STAT)
    assert promoted is not None and (promoted.path, promoted.type, promoted.status) == ("/m/vae/b.safetensors", "vae",
                                                                                        "ok")
    assert await stores.copies.copies_of(A) == []
    index = await stores.files.file_index()
    assert model.path not in index.models_ok and index.models_ok["/m/vae/b.safetensors"] == (A, tuple(STAT))


# -- tags -----------------------------------------------------------------------------------------------------
async def test_tag_names_are_one_tag_whatever_their_case(stores: Stores):
    made, created = await stores.tags.create_tag("Style")
    again, created_again = await stores.tags.create_tag("STYLE")
    assert created and not created_again and again == made == {"id": made["id"], "name": "Style"}
    other, _ = await stores.tags.create_tag("anime")
    await new_model(stores, "m", A)
    await stores.models.update_model(A, name=None, tags=["anime", "style"], meta_change=None)
    assert await stores.tags.rename_tag(other["id"], "STYLE") == {"id": made["id"], "name": "STYLE"}
    assert [(t["name"], t["models"]) for t in await stores.tags.list_tags()] == [("STYLE", 1)]
    assert await stores.tags.rename_tag(other["id"], "x") is None
    assert await stores.tags.delete_tag(made["id"]) and not await stores.tags.delete_tag(made["id"])
    detail = await stores.models.model_detail(A)
    assert detail is not None and detail["tags"] == []


async def _web_tagged(stores: Stores, sha256: str, tags: list[str]) -> None:
    """The model tagged by a record from the web, as a fetch tags it (marked in its `fetched.tags`)."""
    taken = await stores.models.take_web_record(sha256, {"source": "civitai", "tags": tags}, None, [])
    assert taken is not None and taken.tags == tags


async def _tags_and_removed(stores: Stores, sha256: str) -> tuple[list[str], list[str], list[str]]:
    """The model's tags, those taken off it, and those the web's marks name."""
    detail = await stores.models.model_detail(sha256)
    assert detail is not None
    marks = detail["meta_json"].get("fetched", {}).get("tags", [])
    return sorted(detail["tags"]), detail["removed_tags"], [name for mark in marks for name in mark["names"]]


async def _tag_id(stores: Stores, name: str) -> int:
    return next(t["id"] for t in await stores.tags.list_tags() if t["name"].casefold() == name.casefold())


async def test_a_tag_deleted_everywhere_stays_off_the_models_that_had_it(stores: Stores):
    await new_model(stores, "m", A)
    await new_model(stores, "n", sha("b"))
    await _web_tagged(stores, A, ["style", "sky"])
    assert await stores.models.update_model(sha("b"), name=None, tags=["clouds"], meta_change=None)
    assert await stores.tags.delete_tag(await _tag_id(stores, "style"))
    assert await _tags_and_removed(stores, A) == (["sky"], ["style"], ["sky"])
    assert await _tags_and_removed(stores, sha("b")) == (["clouds"], [], [])  # never had it: nothing noted
    # Neither the web nor a sidecar puts it back, in any spelling.
    taken = await stores.models.take_web_record(A, {"source": "civitai", "tags": ["Style", "sky", "new"]}, None, [])
    assert taken is not None and taken.tags == ["new"]
    row = await hashed_row(stores, "/m/loras/again.safetensors", A, status="conflict", conflict=A)
    assert await stores.imports.absorb(row.id, A, {"sidecars": {"tags": ["STYLE", "more"]}}, [], None)
    assert await _tags_and_removed(stores, A) == (["more", "new", "sky"], ["style"], ["sky", "new"])
    assert not await stores.tags.delete_tag(await _tag_id(stores, "sky") + 1000)  # no such tag: nothing noted
    assert (await _tags_and_removed(stores, A))[1] == ["style"]


async def test_a_tag_whose_name_is_stored_escaped_is_noted_when_deleted(stores: Stores):
    # A name holding the store's escape character (as a sidecar or the first version may bring) is stored escaped:
    # it must be read back as itself to be noted, on PostgreSQL through the codec arrays of text bypass.
    odd = "pua\uef00tag"
    await new_model(stores, "m", A)
    assert await stores.models.enrich_model(A, {}, [odd, "other"])
    assert await stores.tags.delete_tag(await _tag_id(stores, odd))
    detail = await stores.models.model_detail(A)
    assert detail is not None and detail["tags"] == ["other"] and detail["removed_tags"] == [odd]


async def test_a_renamed_tag_does_not_come_back_under_its_old_name(stores: Stores):
    await new_model(stores, "m", A)
    await _web_tagged(stores, A, ["lighting"])
    lighting = await _tag_id(stores, "lighting")
    assert await stores.tags.rename_tag(lighting, "light-and-shade") == {"id": lighting, "name": "light-and-shade"}
    assert await _tags_and_removed(stores, A) == (["light-and-shade"], ["lighting"], [])
    taken = await stores.models.take_web_record(A, {"source": "civitai", "tags": ["Lighting", "sky"]}, None, [])
    assert taken is not None and taken.tags == ["sky"]
    assert (await _tags_and_removed(stores, A))[0] == ["light-and-shade", "sky"]


async def test_a_tag_renamed_into_another_notes_its_old_name_on_its_models_only(stores: Stores):
    for key in "abc":
        await new_model(stores, key, sha(key))
    # a: the old tag; b: both; c: the other only, and the user took "anime" off it before.
    assert await stores.models.update_model(sha("a"), name=None, tags=["anime"], meta_change=None)
    assert await stores.models.update_model(sha("b"), name=None, tags=["anime", "Style"], meta_change=None)
    assert await stores.models.update_model(sha("c"), name=None, tags=["style", "anime"], meta_change=None)
    assert await stores.models.update_model(sha("c"), name=None, tags=None, meta_change=None, tags_remove=["anime"])
    # The model that took "Style" off before carries it once the tag it has is merged into it: no longer removed.
    await new_model(stores, "d", sha("d"))
    assert await stores.models.update_model(sha("d"), name=None, tags=["style", "anime"], meta_change=None)
    assert await stores.models.update_model(sha("d"), name=None, tags=None, meta_change=None, tags_remove=["style"])
    anime, style = await _tag_id(stores, "anime"), await _tag_id(stores, "style")
    assert await stores.tags.rename_tag(anime, "STYLE") == {"id": style, "name": "STYLE"}
    assert await _tags_and_removed(stores, sha("a")) == (["STYLE"], ["anime"], [])
    assert await _tags_and_removed(stores, sha("b")) == (["STYLE"], ["anime"], [])
    assert await _tags_and_removed(stores, sha("c")) == (["STYLE"], ["anime"], [])
    assert await _tags_and_removed(stores, sha("d")) == (["STYLE"], ["anime"], [])
    assert await stores.models.enrich_model(sha("a"), {}, ["Anime", "sky"])  # a first-version row's tags
    assert (await _tags_and_removed(stores, sha("a")))[0] == ["STYLE", "sky"]


async def test_a_rename_that_only_changes_the_case_notes_nothing(stores: Stores):
    await new_model(stores, "m", A)
    await _web_tagged(stores, A, ["lighting"])
    lighting = await _tag_id(stores, "lighting")
    assert await stores.tags.rename_tag(lighting, "Lighting") == {"id": lighting, "name": "Lighting"}
    assert await _tags_and_removed(stores, A) == (["Lighting"], [], ["lighting"])
    taken = await stores.models.take_web_record(A, {"source": "civitai", "tags": ["LIGHTING"]}, None, [])
    assert taken is not None and taken.tags == []


# -- images ---------------------------------------------------------------------------------------------------
async def test_image_numbers_are_never_given_out_twice(stores: Stores):
    await new_model(stores, "m", A)
    first = await stores.images.reserve_image_seqs(A, 2)
    assert first == [0, 1] and await stores.images.reserve_image_seqs(A, 0) == []
    for seq in first:
        assert await stores.images.add_image(A, seq, 4, 3)
    assert await stores.images.delete_image(A, 1) and not await stores.images.delete_image(A, 1)
    await stores.models.delete_model(A, False)
    row = await stores.pending.pending_by_path("/m/loras/m.safetensors")
    assert row is not None
    await stores.imports.promote(Promotion(row.id, A, "new", "m", "loras", "unknown", {}, row.path, STAT, [], []))
    assert await stores.images.reserve_image_seqs(A, 1) == [2]


async def test_the_cover_is_one_of_the_models_images(stores: Stores):
    await new_model(stores, "m", A, images=[(0, 4, 3), (1, 4, 3)])
    assert not await stores.images.add_image(sha("f"), 0, 1, 1)
    assert not await stores.images.set_cover(A, 7)
    assert await stores.images.set_cover(A, 1)
    detail = await stores.models.model_detail(A)
    assert detail is not None and detail["cover"] == 1
    await stores.images.delete_image(A, 1)
    detail = await stores.models.model_detail(A)
    assert detail is not None and detail["cover"] == 0
    assert await stores.images.image_exists(A, 0) and not await stores.images.image_exists(A, 1)
    assert await stores.images.model_image_count(A) == 1


async def test_pending_images_belong_to_their_row(stores: Stores):
    row = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    assert await stores.images.add_pending_image(row.id, 0, 5, 6, "sidecar")
    assert not await stores.images.add_pending_image(row.id + 1, 0, 5, 6, "sidecar")
    assert await stores.images.pending_images(row.id) == [(0, 5, 6)]
    assert await stores.images.pending_image_exists(row.id, 0)
    await new_model(stores, "m", sha("b"), images=[(4, 1, 1)])
    asked = ({(sha("b"), 4), (sha("b"), 5), (sha("c"), 4)}, {(row.id, 0), (row.id, 1), (row.id + 1, 0)})
    assert await stores.images.image_keys_among(*asked) == ({(sha("b"), 4)}, {(row.id, 0)})
    assert await stores.images.image_keys_among(set(), set()) == (set(), set())


async def test_one_pending_row_imported_twice_at_once_makes_one_model(stores: Stores):
    row = await hashed_row(stores, "/m/loras/a.safetensors", A)
    promotion = Promotion(row.id, A, "new", "a", "loras", "unknown", {}, row.path, STAT, [], [])
    outcomes = await asyncio.gather(stores.imports.promote_new([promotion]), stores.imports.promote_new([promotion]),
                                    return_exceptions=True)
    assert sorted(len(o) for o in outcomes if isinstance(o, list)) == [0, 1], outcomes  # the other found it gone
    assert (await stores.search.counts())["models"] == 1 and await stores.pending.pending(row.id) is None
