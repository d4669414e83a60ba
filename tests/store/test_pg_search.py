"""Search, folders, images, sessions and chores where the contract tests do not reach.

On every backend alike: words with LIKE's own characters, names that are not UTF-8, folders by either separator,
a page key as the API decodes it, and records the rules never wrote. On PostgreSQL, the daemons of two hosts on one
database: the library (models, their images, searches and counts) is every host's, while a pending row's images and
a chore's files are only ever this host's."""

from __future__ import annotations

import os
from typing import Any

from store_backends import (  # noqa: F401
    STAT,
    dsn_fixture,
    hashed_row,
    hosts_fixture,
    migrated_database,
    new_model,
    sha,
    stores_fixture,
)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.postgres.store import PostgresStore
from hikaze_mm.store.records import ModelQuery, Promotion

A, B, C = sha("a"), sha("b"), sha("c")
NOT_UTF8 = os.fsdecode(b"caf\xe9")


async def _model(stores: Stores, path: str, sha256: str, meta: dict[str, Any] | None = None) -> None:
    row = await hashed_row(stores, path, sha256, meta=meta)
    await stores.imports.promote(Promotion(row.id, sha256, "new", os.path.basename(path).split(".")[0], "loras",
                                           "unknown", meta or {}, path, STAT, [], []))


async def _found(stores: Stores, **query: Any) -> list[str]:
    return [m["sha256"] for m in (await stores.search.list_models(ModelQuery(status="all", **query))).items]


# -- every backend ------------------------------------------------------------------------------------------
async def test_like_characters_in_words_are_only_themselves(stores: Stores):
    await _model(stores, "/m/loras/100%_real.safetensors", A)
    await _model(stores, "/m/loras/100x real.safetensors", B)
    await _model(stores, "/m/loras/back\\slash.safetensors", C)
    assert await _found(stores, q="0%_") == [A]  # looked up in the search index
    assert await _found(stores, q="%") == [A]  # shorter than a trigram: in the names
    assert await _found(stores, q="_") == [A]
    assert await _found(stores, q="k\\s") == [C]
    assert await _found(stores, q="100X") == [B]  # without regard to case


async def test_names_that_are_not_utf8_are_found_and_filed(stores: Stores):
    await _model(stores, f"/m/loras/{NOT_UTF8}/{NOT_UTF8}.safetensors", A)
    await _model(stores, "/m/loras/cafe.safetensors", B)
    assert await _found(stores, q=NOT_UTF8) == [A]
    assert await _found(stores, folders=(f"/m/loras/{NOT_UTF8}",)) == [A]
    page = await stores.search.list_models(ModelQuery(q=NOT_UTF8))
    assert page.items[0]["path"] == f"/m/loras/{NOT_UTF8}/{NOT_UTF8}.safetensors"
    assert dict(await stores.folders.folder_counts(ModelQuery())) == {f"/m/loras/{NOT_UTF8}": 1, "/m/loras": 1}


async def test_a_folder_holds_its_sub_folders_whichever_separator_they_use(stores: Stores):
    await _model(stores, "/m/loras/a.safetensors", A)
    await _model(stores, "/m/loras/sub/b.safetensors", B)
    await _model(stores, "/m/loras2/c.safetensors", C)
    await _model(stores, "C:\\models\\loras\\d.safetensors", sha("d"))
    await _model(stores, "C:\\models\\loras\\x\\e.safetensors", sha("e"))
    assert sorted(await _found(stores, folders=("/m/loras",))) == [A, B]
    assert await _found(stores, folders=("/m/loras/sub", "/m/loras2")) == [B, C]
    assert sorted(await _found(stores, folders=("C:\\models\\loras",))) == [sha("d"), sha("e")]
    assert await _found(stores, folders=()) == []


async def test_a_page_key_as_the_api_decodes_it_continues_the_listing(stores: Stores):
    """A cursor's `created` key comes back from JSON as an int when the float had no fraction."""
    for c in "abc":
        await new_model(stores, c, sha(c))
    whole = await _found(stores, sort="created", direction="asc")
    first = await stores.search.list_models(ModelQuery(sort="created", direction="asc", limit=1))
    assert first.next_after is not None
    key, after = first.next_after
    assert await _found(stores, sort="created", direction="asc", after=(key, after)) == whole[1:]
    assert await _found(stores, sort="created", direction="asc", after=(int(key) - 1, after)) == whole


async def test_records_the_rules_never_wrote_are_listed(stores: Stores):
    """Trigger words that are not a list count none, and a header's length past 64 bits comes back whole."""
    header = {"format": "safetensors", "declared_length": 2**64}
    await new_model(stores, "odd", A, meta={"trigger_words": "one", "header": header})
    [item] = (await stores.search.list_models(ModelQuery())).items
    assert item["trigger_count"] == 0
    assert item["probe"] == header and type(item["probe"]["declared_length"]) is int


# -- two hosts on PostgreSQL ---------------------------------------------------------------------------------
async def test_search_and_counts_see_every_hosts_models(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _model(here, "/m/loras/here.safetensors", A)
    await _model(there, "/m/loras/sub/there.safetensors", B)
    await there.models.update_model(B, name=None, tags=["style"], meta_change=None)
    for store in (here, there):
        assert sorted(await _found(store)) == [A, B]
        assert await _found(store, q="there") == [B]
        assert await store.search.model_keys(ModelQuery(), None, 10) == [A, B]
        assert (await store.search.counts())["models"] == 2
        assert (await store.search.facets(ModelQuery()))["tags"] == [{"name": "style", "count": 1}]
        assert dict(await store.folders.folder_counts(ModelQuery())) == {"/m/loras": 1, "/m/loras/sub": 1}


async def test_a_pending_rows_images_are_its_hosts(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    mine = await here.pending.add_pending("/m/loras/p.safetensors", "p.safetensors", "loras", STAT)
    theirs = await there.pending.add_pending("/m/loras/p.safetensors", "p.safetensors", "loras", STAT)
    assert await here.images.add_pending_image(mine.id, 0, 5, 6, "sidecar")
    assert not await here.images.add_pending_image(theirs.id, 0, 5, 6, "sidecar")
    assert await there.images.add_pending_image(theirs.id, 1, 7, 8, "sidecar")
    assert await here.images.pending_images(theirs.id) == []
    assert not await here.images.pending_image_exists(theirs.id, 1)
    assert await there.images.pending_images(theirs.id) == [(1, 7, 8)]
    assert await here.images.with_pending_images([mine.id, theirs.id]) == {mine.id}
    # The start-up sweep keeps the files of every host's rows: an image folder may be shared by the hosts.
    assert await here.images.image_keys_among(set(), {(mine.id, 0), (theirs.id, 1), (theirs.id, 2)}) == (
        set(), {(mine.id, 0), (theirs.id, 1)})


async def test_a_models_images_and_their_numbers_are_every_hosts(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _model(here, "/m/loras/a.safetensors", A)
    assert await here.images.reserve_image_seqs(A, 2) == [0, 1]
    assert await there.images.reserve_image_seqs(A, 1) == [2]
    assert await there.images.add_image(A, 2, 4, 3)
    assert await here.images.image_exists(A, 2) and await here.images.model_image_count(A) == 1
    assert await here.images.image_keys_among({(A, 2), (A, 0)}, set()) == ({(A, 2)}, set())


async def test_chores_go_through_this_hosts_files(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    assert await here.chores.chores() == []  # a new database has none
    async with here.db.write() as conn:
        await conn.execute("INSERT INTO chores VALUES ('sidecar_tags'), ('pending_sidecar_tags')")
    assert await there.chores.chores() == ["pending_sidecar_tags", "sidecar_tags"]

    await _model(here, "/m/loras/a.safetensors", A)
    await _model(there, "/m/loras/b.safetensors", B)
    assert await here.chores.model_files("", 10) == [(A, "/m/loras/a.safetensors")]
    assert await there.chores.model_files("", 10) == [(B, "/m/loras/b.safetensors")]
    assert await here.chores.add_sidecar_tags({B: ["found"], C: ["nowhere"]}) == {B: ["found"]}
    assert await _found(there, q="found") == [B]  # its search row follows

    mine = await hashed_row(here, "/m/loras/w.safetensors", sha("d"))
    theirs = await hashed_row(there, "/m/loras/w.safetensors", sha("e"), meta={"sidecars": {"words": ["x"]}})
    await here.pending.add_pending("/m/loras/settling.safetensors", "settling", "loras", STAT)
    assert await here.chores.pending_files(0, 10) == [(mine.id, mine.path)]
    assert await here.chores.add_pending_sidecar_tags({mine.id: ["t"], theirs.id: ["t"]}) == 1
    assert await here.chores.add_pending_sidecar_tags({mine.id: ["again"]}) == 0  # noted already
    assert await here.pending.pending_meta(mine.id) == {"sidecars": {"tags": ["t"]}}
    assert await there.pending.pending_meta(theirs.id) == {"sidecars": {"words": ["x"]}}
    assert await there.chores.add_pending_sidecar_tags({theirs.id: ["u"]}) == 1
    assert await there.pending.pending_meta(theirs.id) == {"sidecars": {"words": ["x"], "tags": ["u"]}}
    assert await here.chores.pending_files(0, 10) == [] and await there.chores.pending_files(0, 10) == []

    await here.chores.chore_done("sidecar_tags")
    assert await there.chores.chores() == ["pending_sidecar_tags"]


async def test_each_hosts_daemon_keeps_its_own_sessions(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await here.sessions.add_session("s" * 64, "token-here", 1.0, 100.0)
    await there.sessions.add_session("t" * 64, "token-there", 1.0, 100.0)
    # Each daemon drops the sessions of another token when it starts: never those of the other host's daemon.
    assert await here.sessions.drop_sessions("token-here", 2.0) == 0
    assert await there.sessions.session("t" * 64) == ("token-there", 100.0)
    assert await here.sessions.session("t" * 64) is None  # a login to one daemon opens no other
    assert await there.sessions.drop_sessions("new-token", 2.0) == 1
    assert await here.sessions.session("s" * 64) == ("token-here", 100.0)
