"""Models, copies, imports and tags on PostgreSQL, where the contract tests cannot reach: the daemons of two hosts
on one database share the library (a model is its content) but each looks up and changes only its own files, and
what one host's write does to the content (twins turned `conflict`, files put back in the queue) reaches the rows
of every host. A tag put on a model that has it already is counted once, and a lookup in one host's queue is not
in another's."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
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
from hikaze_mm.store.records import FileStat, LookupState, ModelQuery, Promotion

OTHER = FileStat(20, 2, 3, 4)
PATH = "/m/loras/a.safetensors"
COPY = "/m/loras/copy.safetensors"
A, B = sha("a"), sha("b")


async def _import(store: Stores, path: str, sha256: str, copies: list[tuple[str, FileStat]] | None = None,
                  stat: FileStat = STAT) -> None:
    row = await hashed_row(store, path, sha256, stat=stat)
    await store.imports.promote(Promotion(row.id, sha256, "new", sha256[0], "loras", "unknown", {}, path, stat,
                                          copies or [], []))


async def _sha_at(store: Stores, path: str) -> str | None:
    model = await store.models.model_by_path(path)
    return model.sha256 if model else None


async def test_one_path_on_two_hosts_is_two_files(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _import(here, PATH, A, [(COPY, OTHER)])
    await _import(there, PATH, B, stat=OTHER)

    assert await _sha_at(here, PATH) == A and await _sha_at(there, PATH) == B
    for store in (here, there):  # the library is every host's
        assert {m["sha256"] for m in (await store.search.list_models(ModelQuery())).items} == {A, B}
        by_sha, _ = await store.models.models_of([A, B], [])
        assert set(by_sha) == {A, B}
    assert {p: m.sha256 for p, m in (await here.models.models_of([], [PATH, COPY]))[1].items()} == {PATH: A}
    assert {p: m.sha256 for p, m in (await there.models.models_of([], [PATH, COPY]))[1].items()} == {PATH: B}

    assert await there.copies.copy_at(COPY) is None and await there.copies.copies_of(A) == []
    assert await there.copies.models_with_copies(10, 0) == ([], 0)
    await there.copies.remove_copy(COPY)
    await there.copies.move_copy(COPY, "/m/vae/moved.safetensors", STAT)
    assert await here.copies.copy_at(COPY) == (A, OTHER)
    page, total = await here.copies.models_with_copies(10, 0)
    assert total == 1 and [(m.model.sha256, m.copies) for m in page] == [(A, [(COPY, OTHER)])]

    assert dict((await there.files.file_index()).models_ok.items()) == {PATH: (B, tuple(OTHER))}
    assert dict((await here.files.file_index()).models_ok.items()) == {PATH: (A, tuple(STAT)), COPY: (A, tuple(OTHER))}


async def test_a_model_is_missing_only_when_no_host_has_a_file(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _import(here, PATH, A)
    assert await there.models.set_model_missing(A) is None  # the main file is not there's to lose
    assert await there.models.elsewhere(A) and not await here.models.elsewhere(A)
    # The file found on the other host is the model's file there, beside the main file here.
    row = await hashed_row(there, "/n/a.safetensors", A, status="conflict", conflict=A, stat=OTHER)
    relinked = await there.models.relink_model(A, row.path, "loras", OTHER, row.id)
    assert relinked is not None and relinked.path == "/n/a.safetensors" and relinked.status == "ok"
    assert await there.models.model(A) == relinked  # each host sees its own file
    assert (await here.models.model(A) or relinked).path == PATH
    assert not await there.models.elsewhere(A) and await there.copies.copies_of(A) == ["/n/a.safetensors"]
    assert await there.pending.pending(row.id) is None
    # Here loses its file: the other host's takes over as the main file, and the model stays in the library.
    kept = await here.models.set_model_missing(A)
    assert kept is not None and kept.status == "ok" and kept.path == "/n/a.safetensors"
    assert await here.models.elsewhere(A) and await there.models.model_by_path("/n/a.safetensors") is not None
    detail = await here.models.model_detail(A)
    assert detail is not None and detail["files"] == [
        {"host": "there", "path": "/n/a.safetensors", "main": True, "here": False}]
    # Only when the last host loses its file is the model missing.
    assert await here.models.set_model_missing(A) is None
    missing = await there.models.set_model_missing(A)
    assert missing is not None and missing.status == "missing"
    assert (await here.search.counts())["missing"] == 1


async def test_a_content_imported_on_one_host_leaves_the_others_rows_to_them(
        hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    twin = await hashed_row(there, "/n/twin.safetensors", A)
    mine = await hashed_row(here, "/m/loras/twin.safetensors", A)
    row = await hashed_row(here, PATH, A)
    model, twins = await here.imports.promote(Promotion(row.id, A, "new", "a", "loras", "unknown", {}, PATH, STAT,
                                                        [], []))
    assert [t.id for t in twins] == [mine.id]  # this host's twin is a duplicate to decide about
    assert await there.pending.pending(twin.id) == twin  # the other host's is that host's file of the model
    # A second `new` model of the content fails whole, whichever host makes it.
    with pytest.raises(Exception):  # noqa: B017  (the constraint's error)
        await there.imports.promote_new([Promotion(twin.id, A, "new", "t", "loras", "unknown", {}, twin.path, STAT,
                                                   [], [])])
    assert await there.pending.pending(twin.id) == twin and await here.models.model(A) == model
    # The other host's row joins the model as its file there.
    assert await there.imports.absorb(twin.id, A, {}, [], (twin.path, STAT))
    assert await there.copies.copies_of(A) == [twin.path] and await here.copies.copies_of(A) == []
    detail = await here.models.model_detail(A)
    assert detail is not None and detail["copies"] == []  # copies are this host's other paths
    assert [(f["host"], f["path"], f["main"], f["here"]) for f in detail["files"]] == [
        ("here", PATH, True, True), ("there", twin.path, False, False)]


async def test_a_pending_row_of_another_host_makes_no_model_here(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    theirs = await hashed_row(there, "/n/b.safetensors", B)
    assert await here.imports.promote_new([Promotion(theirs.id, B, "new", "b", "loras", "unknown", {}, theirs.path,
                                                     STAT, [], [])]) == []
    assert await there.models.model(B) is None and await there.pending.pending(theirs.id) == theirs


async def test_a_deleted_model_puts_each_file_back_in_its_own_hosts_queue(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _import(here, PATH, A)
    copy = await hashed_row(there, "/n/a.safetensors", A, status="conflict", conflict=A, stat=OTHER)
    assert await there.imports.absorb(copy.id, A, {}, [], (copy.path, OTHER))
    waiting_here = await hashed_row(here, "/m/loras/w.safetensors", A, status="conflict", conflict=A)
    waiting_there = await hashed_row(there, "/n/w.safetensors", A, status="conflict", conflict=A)

    removal = await there.models.delete_model(A, True)
    assert removal is not None
    assert [(r.path, r.status, r.stat) for r in removal.released] == [("/n/a.safetensors", "ignored", OTHER)]
    assert [r.id for r in removal.reopened] == [waiting_there.id]
    mine = await here.pending.pending_by_path(PATH)
    assert mine is not None and (mine.status, mine.sha256) == ("ignored", A)
    reopened = await here.pending.pending(waiting_here.id)
    assert reopened is not None and reopened.status == "ready"
    assert (await there.files.file_index()).pending["/n/a.safetensors"] == (tuple(OTHER), "ignored")
    assert "/n/a.safetensors" not in (await there.files.file_index()).models_ok


async def test_a_tag_put_on_a_model_that_has_it_is_counted_once(stores: Stores):
    await new_model(stores, "m", A)
    await stores.models.update_model(A, name=None, tags=["Style", "nsfw"], meta_change=None)
    await stores.models.update_model(A, name=None, tags=None, meta_change=None, tags_add=["STYLE", "NSFW"])
    await stores.models.enrich_model(A, {}, ["style", "Nsfw"])
    row = await hashed_row(stores, "/m/loras/again.safetensors", A, status="conflict", conflict=A)
    await stores.pending.set_pending_meta(row.id, {}, ["style", "other"])
    await stores.imports.absorb(row.id, A, {"sidecars": {"tags": ["STYLE"]}}, [], None)
    other = next(t for t in await stores.tags.list_tags() if t["name"] == "other")
    await stores.tags.rename_tag(other["id"], "style")  # merged into a tag the model has
    assert {t["name"].lower(): t["models"] for t in await stores.tags.list_tags()} == {"style": 1, "nsfw": 1}
    facets = await stores.search.facets(ModelQuery(status="all"))
    assert facets["tags"] == [{"name": "nsfw", "count": 1}, {"name": "style", "count": 1}]
    assert (await stores.search.list_models(ModelQuery(tags=["style"]))).total == 1
    assert (await stores.search.list_models(ModelQuery(hide_nsfw=True))).total == 0


async def test_two_hosts_importing_one_content_at_once_make_one_model(hosts: tuple[PostgresStore, PostgresStore]):
    rows = {store: await hashed_row(store, PATH, A) for store in hosts}
    done = await asyncio.gather(*(store.imports.promote_new([Promotion(
        row.id, A, "new", "a", "loras", "unknown", {}, PATH, STAT, [], [])]) for store, row in rows.items()),
        return_exceptions=True)
    outcome = dict(zip(rows, done, strict=True))
    (winner,) = [store for store, d in outcome.items() if isinstance(d, list)]
    (loser,) = [store for store in hosts if store is not winner]
    assert [m.sha256 for m in outcome[winner]] == [A]  # type: ignore[union-attr]
    assert isinstance(outcome[loser], asyncpg.UniqueViolationError)
    assert await loser.pending.pending(rows[loser].id) == rows[loser]  # all or nothing: its row waits


async def test_edits_of_one_model_through_two_hosts_at_once_are_all_kept(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _import(here, PATH, A)
    edits = []
    for i in range(20):  # each host adds its own tags and sets its own keys, all at the same moment
        store, who = (here, "here") if i % 2 == 0 else (there, "there")
        edits.append(store.models.update_model(A, name=None, tags=None, meta_change={f"{who}_{i}": i},
                                               tags_add=[f"{who}-{i}"]))
    assert all(await asyncio.gather(*edits))
    detail = await there.models.model_detail(A)
    assert detail is not None
    assert sorted(detail["tags"]) == sorted(f"{'here' if i % 2 == 0 else 'there'}-{i}" for i in range(20))
    assert {k: v for k, v in detail["meta_json"].items() if k[0] in "ht"} == {
        f"{'here' if i % 2 == 0 else 'there'}_{i}": i for i in range(20)}
    tags = {t["name"]: t["models"] for t in await here.tags.list_tags()}
    assert len(tags) == 20 and set(tags.values()) == {1}  # counted once each, on both hosts' writes


async def test_a_failure_given_up_on_here_is_asked_again_though_another_host_queues_it(
        hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _import(here, PATH, A)
    await here.lookups.save_lookup(LookupState(A, "failed", None, 5.0, [], None))
    await there.lookups.queue_lookups([A], False, 5.0)  # the queue is each host's own
    assert await here.lookups.unlooked_models("", 10, 0.0) == [A]
    assert await there.lookups.unlooked_models("", 10, 0.0) == []
