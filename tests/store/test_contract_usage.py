"""The store's contract for what ComfyUI used: each use's id counted once ever (also within a batch, and from two
daemons at once on one PostgreSQL), a model's count and last use, the models at the files it loaded, and the two
sort orders and the filter of models unused for a while. Run against every backend in store_backends.BACKENDS."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from store_backends import (  # noqa: F401  (the fixtures `stores`, `dsn`, `hosts`)
    STAT,
    dsn_fixture,
    hashed_row,
    hosts_fixture,
    new_model,
    sha,
    stores_fixture,
)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.postgres.store import PostgresStore
from hikaze_mm.store.records import FileStat, ModelQuery, Use, UsesCounted

NOW = 2_000_000_000.0
LONG_AGO = 0.0  # nothing is forgotten


async def test_each_id_counts_once_ever_and_the_last_use_is_the_latest(stores: Stores) -> None:
    await new_model(stores, "alpha", sha("a"))
    await new_model(stores, "beta", sha("b"))
    batch = [Use("use-0001", 100.0, sha("a")), Use("use-0001", 900.0, sha("a")),  # the same id twice: once
             Use("use-0002", 50.0, sha("a")), Use("use-0003", 70.0, sha("b")),
             Use("use-0004", 80.0, None), Use("use-0005", 90.0, sha("f"))]  # no model; a model not in the library
    assert await stores.usage.count_uses(batch, NOW, LONG_AGO) == UsesCounted(
        3, 1, 2, [(sha("a"), 2, 100.0), (sha("b"), 1, 70.0)])
    # Sent again (the answer was lost): nothing counts twice, the unknown ones neither.
    assert await stores.usage.count_uses(batch, NOW, LONG_AGO) == UsesCounted(0, 6, 0, [])
    # An older use counts but leaves the last use where it is.
    assert await stores.usage.count_uses([Use("use-0006", 10.0, sha("a"))], NOW, LONG_AGO) == UsesCounted(
        1, 0, 0, [(sha("a"), 3, 100.0)])
    detail = await stores.models.model_detail(sha("a"))
    assert detail is not None and (detail["use_count"], detail["last_used_at"]) == (3, 100.0)
    listed = {m["sha256"]: (m["use_count"], m["last_used_at"])
              for m in (await stores.search.list_models(ModelQuery())).items}
    assert listed == {sha("a"): (3, 100.0), sha("b"): (1, 70.0)}


async def test_a_model_never_used_says_so(stores: Stores) -> None:
    await new_model(stores, "alpha", sha("a"))
    detail = await stores.models.model_detail(sha("a"))
    assert detail is not None and (detail["use_count"], detail["last_used_at"]) == (0, None)
    (item,) = (await stores.search.list_models(ModelQuery())).items
    assert (item["use_count"], item["last_used_at"]) == (0, None)


async def test_ids_are_forgotten_only_once_they_are_old(stores: Stores) -> None:
    await new_model(stores, "alpha", sha("a"))
    await stores.usage.count_uses([Use("use-0001", 100.0, sha("a"))], 1000.0, LONG_AGO)
    # Still remembered at the edge of the time they are kept.
    assert (await stores.usage.count_uses([Use("use-0001", 100.0, sha("a"))], 5000.0, 1000.0)).repeated == 1
    assert (await stores.usage.count_uses([Use("use-0001", 100.0, sha("a"))], 5000.0, 1000.5)).counted == 1


async def test_a_use_of_a_model_removed_meanwhile_is_unknown_and_nothing_else_changes(stores: Stores) -> None:
    await new_model(stores, "alpha", sha("a"))
    await stores.models.delete_model(sha("a"), ignore_paths=False)
    assert await stores.usage.count_uses([Use("use-0001", 1.0, sha("a"))], NOW, LONG_AGO) == UsesCounted(
        0, 0, 1, [])
    assert await stores.models.model(sha("a")) is None


async def test_the_models_at_paths_and_files(stores: Stores) -> None:
    await new_model(stores, "alpha", sha("a"))
    await new_model(stores, "beta", sha("b"))
    twin = await hashed_row(stores, "/m/loras/backup/alpha.safetensors", sha("a"), status="conflict",
                            conflict=sha("a"), stat=FileStat(10, 1, 77, 3))
    await stores.imports.absorb(twin.id, sha("a"), {}, [], ("/m/loras/backup/alpha.safetensors",
                                                              FileStat(10, 1, 77, 3)))
    assert await stores.usage.models_at(["/m/loras/alpha.safetensors", "/m/loras/backup/alpha.safetensors",
                                         "/m/loras/beta.safetensors", "/m/loras/none.safetensors"]) == {
        "/m/loras/alpha.safetensors": sha("a"), "/m/loras/backup/alpha.safetensors": sha("a"),
        "/m/loras/beta.safetensors": sha("b")}
    assert await stores.usage.files_at(3, 77) == [("/m/loras/backup/alpha.safetensors", sha("a"))]
    assert sorted(await stores.usage.files_at(STAT.device, STAT.inode)) == [
        ("/m/loras/alpha.safetensors", sha("a")), ("/m/loras/beta.safetensors", sha("b"))]
    assert await stores.usage.files_at(9, 9) == []


async def _used_library(stores: Stores) -> None:
    """Seven models: four used (two of them as often, told apart by their last use), three never."""
    for key in "abcdefg":
        await new_model(stores, f"model-{key}", sha(key))
    uses = [("a", 3, 300.0), ("b", 1, 500.0), ("c", 3, 400.0), ("d", 5, 100.0)]
    await stores.usage.count_uses([Use(f"use-{key}-{i:04}", at - i, sha(key)) for key, n, at in uses
                                   for i in range(n)], NOW, LONG_AGO)


async def _walk(stores: Stores, query: ModelQuery) -> list[str]:
    """Every model of the query, a page of two at a time by each page's key."""
    found: list[str] = []
    page = await stores.search.list_models(dataclasses.replace(query, limit=2))
    while True:
        found += [m["sha256"] for m in page.items]
        if page.next_after is None:
            return found
        page = await stores.search.list_models(dataclasses.replace(query, limit=2, after=page.next_after))


async def test_the_usage_sort_orders_page_through_every_model_once(stores: Stores) -> None:
    await _used_library(stores)
    never = sorted(sha(k) for k in "efg")  # ties among the never used: by sha256
    assert await _walk(stores, ModelQuery(sort="last_used")) == [sha(k) for k in "bcad"] + never
    assert await _walk(stores, ModelQuery(sort="last_used", direction="asc")) == \
        never[::-1] + [sha(k) for k in "dacb"]
    assert await _walk(stores, ModelQuery(sort="most_used")) == [sha(k) for k in "dcab"] + never
    assert await _walk(stores, ModelQuery(sort="most_used", direction="asc")) == \
        never[::-1] + [sha(k) for k in "bacd"]
    page = await stores.search.list_models(ModelQuery(sort="most_used", limit=2))
    assert page.next_after == ([3, 400.0], sha("c"))


async def test_unused_since_keeps_models_neither_used_nor_added_since_and_sizes_them(stores: Stores) -> None:
    await _used_library(stores)
    added = time.time()
    everything = ModelQuery(unused_since=added + 3600)  # all were added before it
    assert sorted(await _walk(stores, everything)) == sorted(sha(k) for k in "abcdefg")
    assert await stores.search.total_size(everything) == 7 * STAT.size
    since_350 = dataclasses.replace(everything, unused_since=350.0)  # before any was added: none
    assert await _walk(stores, since_350) == [] and await stores.search.total_size(since_350) == 0
    # Used since: a, b and c are out (their last uses 298, 500 and 398 against 299).
    await stores.usage.count_uses([Use("use-late-1", added + 7200, sha("a"))], NOW, LONG_AGO)
    assert await _walk(stores, dataclasses.replace(everything, sort="most_used")) == \
        [sha("d"), sha("c"), sha("b"), *sorted(sha(k) for k in "efg")]
    assert (await stores.search.list_models(everything)).total == 6
    assert await stores.search.total_size(everything) == 6 * STAT.size
    assert (await stores.search.facets(everything))["total"] == 6
    assert await stores.search.model_keys(everything, None, 100) == sorted(sha(k) for k in "bcdefg")
    # Few left unused: found by the last-use index rather than on a walk of the sort order, the same answer.
    await stores.usage.count_uses([Use(f"use-late-{k}", added + 7200, sha(k)) for k in "bcefg"], NOW, LONG_AGO)
    for sort in ("name", "size", "last_used", "most_used"):
        assert await _walk(stores, dataclasses.replace(everything, sort=sort)) == [sha("d")], sort
    assert await stores.search.total_size(everything) == STAT.size


async def test_the_size_of_unused_models_counts_the_files_present_with_every_copy(stores: Stores) -> None:
    # What trashing the matches would free: a model's file and each of its copies, nothing of a missing model.
    for key in "abc":
        await new_model(stores, f"model-{key}", sha(key))
    for i, size in enumerate((700, 900)):
        path = f"/m/loras/backup/a-{i}.safetensors"
        copy = FileStat(size, 1, 80 + i, 3)
        twin = await hashed_row(stores, path, sha("a"), status="conflict", conflict=sha("a"), stat=copy)
        await stores.imports.absorb(twin.id, sha("a"), {}, [], (path, copy))
    await stores.models.set_model_missing(sha("c"))
    unused = ModelQuery(unused_since=time.time() + 3600, status="all")
    assert (await stores.search.list_models(unused)).total == 3
    assert await stores.search.total_size(unused) == 2 * STAT.size + 700 + 900
    assert await stores.search.total_size(dataclasses.replace(unused, status="missing")) == 0
    # Filters with arguments of their own (a word, a type) narrow the copies as they narrow the models.
    assert await stores.search.total_size(dataclasses.replace(unused, q="model-a", type="loras")) == \
        STAT.size + 700 + 900
    assert await stores.search.total_size(dataclasses.replace(unused, q="model-b", type="loras")) == STAT.size


async def test_the_models_named_are_those_the_library_has(stores: Stores) -> None:
    await new_model(stores, "alpha", sha("a"))
    await new_model(stores, "beta", sha("b"))
    await stores.models.set_model_missing(sha("b"))  # still the library's: its content is known
    assert await stores.usage.models_named([sha("a"), sha("b"), sha("c")]) == {sha("a"), sha("b")}
    assert await stores.usage.models_named([]) == set()


async def test_two_daemons_given_the_same_batch_at_once_count_it_once(
        hosts: tuple[PostgresStore, PostgresStore]) -> None:
    here, there = hosts
    await new_model(here, "alpha", sha("a"))
    batch = [Use(f"use-{i:04}", 100.0 + i, sha("a")) for i in range(200)]
    outcomes = await asyncio.gather(*(store.usage.count_uses(batch, NOW, LONG_AGO)
                                      for store in (here, there, here, there)))
    assert sum(o.counted for o in outcomes) == 200 and sum(o.repeated for o in outcomes) == 600
    detail = await there.models.model_detail(sha("a"))
    assert detail is not None and (detail["use_count"], detail["last_used_at"]) == (200, 299.0)
