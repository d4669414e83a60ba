"""The store's contract for the metadata lookups: the sources' last word per content, replaced by the next, and
the queue of contents to look up (kept in the database, so it outlives the daemon). Run against every backend in
store_backends.BACKENDS."""

from __future__ import annotations

from store_backends import new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import LookupState, ModelQuery, QueuedLookup


async def test_the_last_word_on_a_content_replaces_the_one_before(stores: Stores) -> None:
    assert await stores.lookups.lookup_state(sha("a")) is None
    failed = LookupState(sha("a"), "failed", None, 10.0, ["civitai: civitai.com answered 503"], None)
    await stores.lookups.save_lookup(failed)
    assert await stores.lookups.lookup_state(sha("a")) == failed
    record = {"source": "civitai", "model_name": "Caf\u00e9 \u2014 \U0001f600", "trigger_words": ["a", "b"],
              "images": [{"url": "https://image.civitai.com/x/1.jpeg", "meta": {"seed": 1, "nested": [None, 1.5]}}]}
    found = LookupState(sha("a"), "found", "civitai", 20.0, [], record)
    await stores.lookups.save_lookup(found)
    assert await stores.lookups.lookup_state(sha("a")) == found


async def test_the_queue_keeps_each_content_once_forced_if_any_asked(stores: Stores) -> None:
    await stores.lookups.queue_lookups([sha("b")], False, 1.0)
    await stores.lookups.queue_lookups([sha("a"), sha("a")], False, 1.5)  # twice in one call: once
    await stores.lookups.queue_lookups([sha("a"), sha("c")], True, 2.0)
    await stores.lookups.queue_lookups([sha("a")], False, 3.0)
    assert await stores.lookups.queued_lookups() == 3
    # Oldest first: being asked for again neither moves a content back nor takes its force away.
    assert await stores.lookups.due_lookups(5.0, 10) == [
        QueuedLookup(sha("b"), False, 0, 1), QueuedLookup(sha("a"), True, 0, 3), QueuedLookup(sha("c"), True, 0, 1)]
    assert await stores.lookups.due_lookups(1.2, 10) == [QueuedLookup(sha("b"), False, 0, 1)]
    assert [q.sha256 for q in await stores.lookups.due_lookups(5.0, 2)] == [sha("b"), sha("a")]


async def test_a_delayed_lookup_waits_and_counts_its_attempts_until_asked_for_again(stores: Stores) -> None:
    await stores.lookups.queue_lookups([sha("a"), sha("b")], False, 1.0)
    await stores.lookups.delay_lookup(sha("a"), 100.0)
    assert [q.sha256 for q in await stores.lookups.due_lookups(50.0, 10)] == [sha("b")]
    assert await stores.lookups.due_lookups(100.0, 10) == [QueuedLookup(sha("b"), False, 0, 1),
                                                             QueuedLookup(sha("a"), False, 1, 1)]
    await stores.lookups.queue_lookups([sha("a")], False, 60.0)  # asked for again: due at once, failures forgotten
    assert await stores.lookups.due_lookups(60.0, 10) == [QueuedLookup(sha("b"), False, 0, 1),
                                                            QueuedLookup(sha("a"), False, 0, 2)]
    await stores.lookups.drop_lookup(sha("b"), 1)
    await stores.lookups.drop_lookup(sha("b"), 1)  # gone already: nothing to do
    await stores.lookups.drop_lookup(sha("a"), 1)  # asked for again since that read: it stays
    assert [q.sha256 for q in await stores.lookups.due_lookups(100.0, 10)] == [sha("a")]


async def test_a_lookup_delayed_with_force_asks_the_sources_again_and_keeps_counting(stores: Stores) -> None:
    # A record taken while a source was down: the next attempt must ask, not answer from memory.
    await stores.lookups.queue_lookups([sha("a")], False, 1.0)
    await stores.lookups.delay_lookup(sha("a"), 10.0, force=True)
    await stores.lookups.delay_lookup(sha("a"), 20.0)  # a later plain delay keeps the force
    assert await stores.lookups.due_lookups(20.0, 10) == [QueuedLookup(sha("a"), True, 2, 1)]


async def test_unlooked_models_leave_out_the_looked_up_and_the_kept_away(stores: Stores) -> None:
    for name, key in (("one", "a"), ("two", "b"), ("three", "c"), ("four", "d")):
        await new_model(stores, name, sha(key))
    await stores.lookups.save_lookup(LookupState(sha("b"), "not_found", None, 1.0, [], None))
    await stores.models.update_model(sha("c"), name=None, tags=None, meta_change={"never_fetch": True})
    assert await stores.lookups.unlooked_models("", 10, 0.0) == [sha("a"), sha("d")]
    assert await stores.lookups.unlooked_models(sha("a"), 10, 0.0) == [sha("d")]
    assert await stores.lookups.unlooked_models("", 1, 0.0) == [sha("a")]


async def test_unlooked_models_take_an_old_not_found_and_a_failure_given_up_on(stores: Stores) -> None:
    for key in "abcdef":
        await new_model(stores, key, sha(key))
    cutoff = 1000.0
    for key, state, checked_at in (("a", "not_found", cutoff - 1), ("b", "not_found", cutoff), ("c", "failed", 5.0),
                                   ("d", "failed", 5.0), ("e", "found", 5.0), ("f", "not_found", cutoff + 1)):
        await stores.lookups.save_lookup(LookupState(sha(key), state, None, checked_at, [], None))
    await stores.lookups.queue_lookups([sha("d")], False, 5.0)  # still being tried: the queue has it already
    await new_model(stores, "g", sha("9"))  # never looked up, but queued: asking again would restart its backoff
    await stores.lookups.queue_lookups([sha("9")], False, 5.0)
    await stores.lookups.delay_lookup(sha("9"), 500.0)
    assert await stores.lookups.unlooked_models("", 10, cutoff) == [sha("a"), sha("c")]
    assert await stores.lookups.unlooked_models(sha("a"), 1, cutoff) == [sha("c")]
    await stores.lookups.drop_lookup(sha("d"), 1)
    assert await stores.lookups.unlooked_models("", 10, cutoff + 2) == [sha("a"), sha("b"), sha("c"), sha("d"),
                                                                        sha("f")]


RECORD = {
    "source": "civitai", "model_id": 7, "version_id": 70, "model_name": "Nimbus Style", "version_name": "v2",
    "model_type": "LORA", "base_model": "SDXL 1.0", "trigger_words": ["nimbusstyle", "soft light"],
    "description": "<p>From the web</p>", "tags": ["Style", "clouds", "sky"],
    "page_url": "https://civitai.com/models/7?modelVersionId=70", "nsfw_level": 8, "deleted": False,
    "confirmed_by": "sha256", "listed_sha256": None,
    "images": [{"url": "https://image.civitai.com/x/1.jpeg", "seq": 0, "meta": {"seed": 5}, "nsfw_level": 1,
                "width": 512, "height": 768, "kind": "image"}],
}


async def test_a_web_record_fills_what_the_user_has_not_set(stores: Stores) -> None:
    await new_model(stores, "nimbus", sha("a"), meta={"description": "mine"})
    # The user emptied the trigger words (theirs now, though empty) and took the tag "style" off.
    await stores.models.update_model(sha("a"), name=None, tags=["style"], meta_change={"trigger_words": []})
    await stores.models.update_model(sha("a"), name=None, tags=[], meta_change=None)
    before = await stores.models.model(sha("a"))
    taken = await stores.models.take_web_record(sha("a"), RECORD, "SDXL", [(0, 512, 768)])
    assert taken is not None
    assert taken.fields == ["community_links", "nsfw"] and taken.tags == ["clouds", "sky"] and taken.images == 1
    detail = await stores.models.model_detail(sha("a"))
    assert detail is not None
    meta = detail["meta_json"]
    assert meta["description"] == "mine" and meta["trigger_words"] == []  # the user's, kept
    assert meta["community_links"] == [RECORD["page_url"]] and meta["nsfw"] is True
    assert set(meta["fetched"]) == {"community_links", "nsfw", "base_model", "tags"}
    assert meta["fetched"]["nsfw"]["source"] == "civitai" and meta["fetched"]["tags"][0]["names"] == ["clouds", "sky"]
    assert meta["web"]["model_name"] == "Nimbus Style" and meta["web"]["images"][0]["meta"] == {"seed": 5}
    assert sorted(detail["tags"]) == ["clouds", "sky"]  # "Style" was taken off by the user: not back
    assert detail["base_model"] == "SDXL" and [i["seq"] for i in detail["images"]] == [0]
    after = await stores.models.model(sha("a"))
    assert after is not None and before is not None and after.updated_at == before.updated_at
    found = (await stores.search.list_models(ModelQuery(q="nimbus")))[0]
    assert [m["sha256"] for m in found] == [sha("a")]


async def test_a_later_record_refreshes_fetched_fields_until_the_user_edits_them(stores: Stores) -> None:
    await new_model(stores, "cloudy", sha("b"))
    await stores.models.take_web_record(sha("b"), RECORD, None, [])
    newer = {**RECORD, "description": "<p>Newer</p>", "trigger_words": ["nimbus v3"]}
    taken = await stores.models.take_web_record(sha("b"), newer, None, [])
    assert taken is not None and taken.fields == ["description", "trigger_words"]
    await stores.models.update_model(sha("b"), name=None, tags=None, meta_change={"description": "my words"})
    await stores.models.take_web_record(sha("b"), {**RECORD, "description": "<p>Newest</p>"}, None, [])
    detail = await stores.models.model_detail(sha("b"))
    assert detail is not None
    assert detail["meta_json"]["description"] == "my words" and "description" not in detail["meta_json"]["fetched"]
    assert await stores.models.take_web_record(sha("z"), RECORD, None, []) is None


async def test_the_web_marks_the_base_model_it_gave_until_the_user_names_one(stores: Stores) -> None:
    await new_model(stores, "unnamed", sha("c"))  # no base model in its header
    await new_model(stores, "named", sha("d"))
    await stores.models.set_base_model([sha("d")], "Pony")
    await stores.models.take_web_record(sha("c"), RECORD, "SDXL", [])
    await stores.models.take_web_record(sha("d"), RECORD, "SDXL", [])
    c, d = await stores.models.model_detail(sha("c")), await stores.models.model_detail(sha("d"))
    assert c is not None and d is not None
    mark = c["meta_json"]["fetched"]["base_model"]
    assert c["base_model"] == "SDXL" and mark["source"] == "civitai" and isinstance(mark["at"], float)
    assert d["base_model"] == "Pony" and "base_model" not in d["meta_json"]["fetched"]  # the user's stays
    # A later record finds the base model set: the mark stays as the fill left it.
    await stores.models.take_web_record(sha("c"), {**RECORD, "source": "civarchive"}, "SD 1.5", [])
    again = await stores.models.model_detail(sha("c"))
    assert again is not None and again["base_model"] == "SDXL" and again["meta_json"]["fetched"]["base_model"] == mark
    # The user's base model drops the mark and no other; `fetched` goes with its last mark.
    await new_model(stores, "only", sha("e"), meta={"notes": "kept"})
    await stores.models.take_web_record(sha("e"), {"source": "civitai", "tags": []}, "Flux.1 D", [])
    assert set(await stores.models.set_base_model([sha("c"), sha("e"), sha("d")], "Illustrious")) == {
        sha("c"), sha("d"), sha("e")}
    c, e = await stores.models.model_detail(sha("c")), await stores.models.model_detail(sha("e"))
    assert c is not None and e is not None
    assert c["base_model"] == "Illustrious" and "base_model" not in c["meta_json"]["fetched"]
    assert set(c["meta_json"]["fetched"]) == {"community_links", "description", "nsfw", "tags", "trigger_words"}
    assert "fetched" not in e["meta_json"] and e["meta_json"]["notes"] == "kept" and e["meta_json"]["web"]
    # A user who takes a wrong base model back to "unknown" keeps it so: no later record fills it again.
    await stores.models.set_base_model([sha("e")], "unknown")
    await stores.models.take_web_record(sha("e"), {"source": "civitai", "tags": []}, "Flux.1 D", [])
    e = await stores.models.model_detail(sha("e"))
    assert e is not None and e["base_model"] == "unknown" and "base_model" in e["meta_json"]["user_set"]
