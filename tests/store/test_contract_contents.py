"""The store's contract for contents asked about by sha256 or by a prefix of it (a workflow's references): the
models with them, by name, and the files that hold them (the model's, its copies, hashed files of the queue), in one
query for many. Run against every backend in store_backends.BACKENDS; the PostgreSQL lane adds another host's."""

from __future__ import annotations

from store_backends import (  # noqa: F401  (the fixtures `stores`, `dsn` and `hosts`)
    STAT,
    dsn_fixture,
    hashed_row,
    hosts_fixture,
    sha,
    stores_fixture,
)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.postgres.store import PostgresStore
from hikaze_mm.store.records import FileStat, HeldContent, Promotion


async def _model(stores: Stores, name: str, sha256: str, copies: tuple[str, ...] = ()) -> None:
    path = f"/m/loras/{name}.safetensors"
    row = await hashed_row(stores, path, sha256)
    await stores.imports.promote(Promotion(row.id, sha256, "new", name, "loras", "unknown", {}, path, STAT,
                                           [(c, FileStat(10, 5, i, 7)) for i, c in enumerate(copies, 9)], []))


async def test_whole_sha256s_find_the_model_its_copies_and_queued_files(stores: Stores):
    await _model(stores, "alpha", sha("a"), ("/m/loras/old/alpha.safetensors",))
    await hashed_row(stores, "/m/loras/twin/alpha.safetensors", sha("a"), status="conflict", conflict=sha("a"))
    await hashed_row(stores, "/m/loras/queued.safetensors", sha("b"))
    await _model(stores, "other", sha("c"))

    held = await stores.contents.held([sha("a"), sha("b"), sha("d")], [])
    assert [h.sha256 for h in held] == [sha("a"), sha("b")]
    assert held[0].model_name == "alpha"
    assert sorted(held[0].paths) == ["/m/loras/alpha.safetensors", "/m/loras/old/alpha.safetensors",
                                     "/m/loras/twin/alpha.safetensors"]
    assert held[1] == HeldContent(sha("b"), None, ("/m/loras/queued.safetensors",))
    assert await stores.contents.held([], []) == []


async def test_a_prefix_finds_every_content_that_starts_with_it_and_no_other(stores: Stores):
    one, two, near = "0123456789" + "a" * 54, "0123456789" + "b" * 54, "012345678a" + "a" * 54
    await _model(stores, "one", one)
    await _model(stores, "two", two)
    await _model(stores, "near", near)
    await hashed_row(stores, "/m/loras/q.safetensors", "0123456789" + "f" * 54)

    held = await stores.contents.held([], ["0123456789"])
    assert [(h.sha256, h.model_name) for h in held] == [(one, "one"), (two, "two"), ("0123456789" + "f" * 54, None)]
    assert [h.sha256 for h in await stores.contents.held([], ["012345678a", "ffffffffff"])] == [near]
    # A prefix and the whole sha256 of the same content name it once.
    both = await stores.contents.held([one], ["0123456789aa"])
    assert [h.sha256 for h in both] == [one] and both[0].paths == ("/m/loras/one.safetensors",)


async def test_a_missing_model_is_named_without_a_file_and_unhashed_or_erroneous_rows_hold_nothing(stores: Stores):
    await _model(stores, "gone", sha("e"))
    await stores.models.set_model_missing(sha("e"))
    await stores.pending.add_pending("/m/loras/settling.safetensors", "settling", "loras", STAT)
    row = await hashed_row(stores, "/m/loras/broken.safetensors", sha("f"))
    await stores.pending.set_pending_error(row.id, "unreadable", None)

    assert await stores.contents.held([sha("e"), sha("f")], []) == [HeldContent(sha("e"), "gone", ())]


async def test_on_a_shared_library_each_host_holds_only_its_own_files(hosts: tuple[PostgresStore, PostgresStore]):
    here, there = hosts
    await _model(here, "alpha", sha("a"), ("/m/loras/old/alpha.safetensors",))
    await hashed_row(there, "/m/loras/queued.safetensors", sha("a"), status="conflict", conflict=sha("a"))

    assert await here.contents.held([sha("a")], []) == [
        HeldContent(sha("a"), "alpha", ("/m/loras/alpha.safetensors", "/m/loras/old/alpha.safetensors"))]
    assert await there.contents.held([], [sha("a")[:10]]) == [
        HeldContent(sha("a"), "alpha", ("/m/loras/queued.safetensors",))]
