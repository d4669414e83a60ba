"""The store's contract for the pipeline: pending rows through their life, and the file index. Run against
every backend in store_backends.BACKENDS."""

from __future__ import annotations

from store_backends import STAT, hashed_row, new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import FILE_GONE, FileStat, HashRecord, NewPending

OTHER = FileStat(20, 2, 3, 4)


async def test_a_new_row_settles_and_is_found_by_id_and_path(stores: Stores):
    row = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    assert (row.status, row.path, row.name, row.type, row.stat) == (
        "settling", "/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    assert row.sha256 is None and row.hashed_at is None
    assert await stores.pending.pending(row.id) == row
    assert await stores.pending.pending_by_path(row.path) == row
    assert await stores.pending.pending(row.id + 1) is None


async def test_a_walks_batch_leaves_paths_with_a_row_alone(stores: Stores):
    first = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    added = await stores.pending.add_pending_many([("/m/loras/a.safetensors", "loras", OTHER),
                                                   ("/m/vae/b.safetensors", "vae", OTHER)])
    assert [(r.path, r.name, r.type, r.stat) for r in added] == [
        ("/m/vae/b.safetensors", "b.safetensors", "vae", OTHER)]
    assert await stores.pending.pending(first.id) == first


async def test_hashing_rows_are_in_flight_until_reset(stores: Stores):
    a = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    b = await stores.pending.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", STAT)
    hashing = await stores.pending.set_pending_status(b.id, "hashing", OTHER)
    assert hashing is not None and (hashing.status, hashing.stat) == ("hashing", OTHER)
    await hashed_row(stores, "/m/loras/c.safetensors", sha("c"))
    assert [r.id for r in await stores.pending.pending_in_flight()] == [a.id, b.id]
    assert await stores.pending.reset_in_flight() == 1
    assert [r.status for r in await stores.pending.pending_in_flight()] == ["settling", "settling"]
    assert await stores.pending.reset_in_flight() == 0


async def test_a_recorded_hash_keeps_the_contents_id_and_metadata(stores: Stores):
    row = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    meta = {"header": {"ss_base_model_version": "sdxl"}, "description": "from a sidecar"}
    recorded = await stores.pending.record_hash(row.id, HashRecord(sha("a"), "b" * 64, OTHER, "conflict", sha("f"),
                                                                   meta))
    assert recorded is not None
    assert (recorded.status, recorded.sha256, recorded.blake3, recorded.conflict_sha256, recorded.stat) == (
        "conflict", sha("a"), "b" * 64, sha("f"), OTHER)
    assert recorded.hashed_at is not None and recorded.error is None
    assert await stores.pending.pending_meta(row.id) == meta
    unknown = HashRecord(sha("a"), "b" * 64, OTHER, "ready", None, {})
    assert await stores.pending.record_hash(row.id + 1, unknown) is None


async def test_an_error_is_kept_until_the_file_changes_and_settles_again(stores: Stores):
    row = await hashed_row(stores, "/m/loras/a.safetensors", sha("a"), status="conflict", conflict=sha("a"))
    failed = await stores.pending.set_pending_error(row.id, "unreadable", None)
    assert failed is not None and (failed.status, failed.error, failed.stat) == ("error", "unreadable", STAT)
    resettled = await stores.pending.resettle_pending(row.id, OTHER)
    assert resettled is not None
    assert (resettled.status, resettled.stat, resettled.sha256, resettled.blake3, resettled.conflict_sha256,
            resettled.error, resettled.hashed_at) == ("settling", OTHER, None, None, None, None, None)


async def test_a_conflict_is_set_and_cleared(stores: Stores):
    row = await hashed_row(stores, "/m/loras/a.safetensors", sha("a"))
    conflict = await stores.pending.set_pending_conflict(row.id, "conflict", sha("a"))
    assert conflict is not None and (conflict.status, conflict.conflict_sha256) == ("conflict", sha("a"))
    ready = await stores.pending.set_pending_conflict(row.id, "ready", None)
    assert ready is not None and (ready.status, ready.conflict_sha256) == ("ready", None)


async def test_a_move_replaces_the_row_at_its_destination(stores: Stores):
    a = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    b = await stores.pending.add_pending("/m/vae/b.safetensors", "b.safetensors", "vae", OTHER)
    moved = await stores.pending.move_pending(a.id, "/m/vae/b.safetensors", "b.safetensors", "vae")
    assert moved is not None and (moved.id, moved.path, moved.type, moved.stat) == (
        a.id, "/m/vae/b.safetensors", "vae", STAT)
    assert await stores.pending.pending(b.id) is None
    assert (await stores.files.file_index()).pending == {"/m/vae/b.safetensors": (tuple(STAT), "settling")}


async def test_deleting_a_row_says_whether_there_was_one(stores: Stores):
    row = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    assert await stores.pending.delete_pending(row.id) is True
    assert await stores.pending.delete_pending(row.id) is False
    assert await stores.pending.pending(row.id) is None
    assert (await stores.files.file_index()).pending == {}


async def test_the_queue_lists_by_status_and_type_a_page_at_a_time(stores: Stores):
    for name in "abcd":
        await stores.pending.add_pending(f"/m/loras/{name}.safetensors", name, "loras", STAT)
    await hashed_row(stores, "/m/Checkpoints/e.safetensors", sha("e"))
    rows, total = await stores.pending.list_pending(("settling",), None, 2, 1)
    assert total == 4 and [r.name for r in rows] == ["b", "c"]
    rows, total = await stores.pending.list_pending(None, "LORAS", 10, 0)
    assert total == 5 and len(rows) == 5  # the type compares without regard to case
    rows, total = await stores.pending.list_pending(("ready", "error"), None, 10, 0)
    assert total == 1 and rows[0].path == "/m/Checkpoints/e.safetensors"


async def test_twins_are_the_hashed_rows_with_the_same_content(stores: Stores):
    a = await hashed_row(stores, "/m/loras/a.safetensors", sha("a"))
    b = await hashed_row(stores, "/m/loras/b.safetensors", sha("a"), status="conflict", conflict=sha("a"))
    c = await hashed_row(stores, "/m/loras/c.safetensors", sha("a"))
    await stores.pending.set_pending_error(c.id, "unreadable", None)
    await hashed_row(stores, "/m/loras/d.safetensors", sha("d"))
    assert [r.id for r in await stores.pending.pending_twins(sha("a"))] == [a.id, b.id]


async def test_rows_that_arrive_with_metadata_keep_it_and_their_tags(stores: Stores):
    existing = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    added = await stores.pending.add_pending_with_meta([
        NewPending("/m/loras/a.safetensors", "loras", STAT, {"notes": "lost"}, ["x"]),
        NewPending("/m/loras/b.safetensors", "loras", OTHER, {"description": "kept"}, ["Style", "style", "old"]),
        NewPending("/m/loras/gone.safetensors", "loras", None, {}, ["keep"]),
    ])
    assert [(r.path, r.status, r.error) for r in added] == [
        ("/m/loras/b.safetensors", "settling", None), ("/m/loras/gone.safetensors", "error", FILE_GONE)]
    b, gone = added
    assert b.stat == OTHER and b.name == "b.safetensors"
    assert await stores.pending.pending_meta(b.id) == {"description": "kept"}
    assert sorted(await stores.pending.pending_tag_names(b.id)) == ["Style", "old"]  # tags match without case
    assert await stores.pending.pending_meta(existing.id) == {}
    assert await stores.pending.pending_keeps_user_data(b.id)
    assert await stores.pending.pending_keeps_user_data(gone.id)  # its tag
    assert not await stores.pending.pending_keeps_user_data(existing.id)


async def test_only_what_the_user_entered_makes_a_row_outlive_its_file(stores: Stores):
    header_only = await hashed_row(stores, "/m/loras/a.safetensors", sha("a"), meta={"header": {"k": "v"}})
    notes = await hashed_row(stores, "/m/loras/b.safetensors", sha("b"), meta={"notes": "mine"})
    empty = await hashed_row(stores, "/m/loras/c.safetensors", sha("c"), meta={"description": ""})
    assert not await stores.pending.pending_keeps_user_data(header_only.id)
    assert await stores.pending.pending_keeps_user_data(notes.id)
    assert not await stores.pending.pending_keeps_user_data(empty.id)
    assert not await stores.pending.pending_keeps_user_data(empty.id + 1)


async def test_a_rows_metadata_is_replaced_and_its_tags_only_added(stores: Stores):
    row = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    assert await stores.pending.set_pending_meta(row.id, {"notes": "one"}, ["a"])
    assert await stores.pending.set_pending_meta(row.id, {"description": "two"}, ["b"])
    assert await stores.pending.pending_meta(row.id) == {"description": "two"}
    assert sorted(await stores.pending.pending_tag_names(row.id)) == ["a", "b"]
    assert not await stores.pending.set_pending_meta(row.id + 1, {}, [])


async def test_a_rows_detail_holds_its_metadata_tags_and_images(stores: Stores):
    row = await hashed_row(stores, "/m/loras/a.safetensors", sha("a"), meta={"notes": "n"})
    await stores.pending.set_pending_meta(row.id, {"notes": "n"}, ["b-tag", "a-tag"])
    assert await stores.images.add_pending_image(row.id, 1, 64, 32, "sidecar")
    detail = await stores.pending.pending_detail(row.id)
    assert detail is not None
    assert detail["sha256"] == sha("a") and detail["status"] == "ready" and detail["meta_json"] == {"notes": "n"}
    assert [t["name"] for t in detail["tags"]] == ["a-tag", "b-tag"]
    assert detail["images"] == [{"seq": 1, "width": 64, "height": 32}]
    assert "inode" not in detail and "mtime_ns" not in detail
    assert await stores.pending.pending_detail(row.id + 1) is None


async def test_the_file_index_follows_every_write(stores: Stores):
    a = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    model = await new_model(stores, "m", sha("e"))
    await stores.pending.set_pending_status(a.id, "hashing", OTHER)
    index = await stores.files.file_index()
    assert index.pending == {"/m/loras/a.safetensors": (tuple(OTHER), "hashing")}
    assert index.models_ok == {model.path: (sha("e"), tuple(STAT))}
    assert index.models == {sha("e"): (model.path, tuple(STAT), "ok")}
    await stores.models.set_model_missing(sha("e"))
    index = await stores.files.file_index()
    assert index.models_ok == {} and index.models[sha("e")][2] == "missing"


async def test_rows_are_found_by_their_files_fingerprint_and_paths_by_name(stores: Stores):
    a = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", OTHER)
    await stores.pending.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", STAT)
    model = await new_model(stores, "m", sha("e"))
    await stores.models.set_model_missing(model.sha256)
    pending, models = await stores.files.rows_for_file(OTHER)
    assert [r.id for r in pending] == [a.id] and models == []
    pending, models = await stores.files.rows_for_file(STAT)
    assert [r.path for r in pending] == ["/m/loras/b.safetensors"] and [m.sha256 for m in models] == [sha("e")]
    many = [f"/m/loras/x{i}.safetensors" for i in range(1200)]
    assert await stores.files.known_paths(["/m/loras/a.safetensors", model.path, "/m/loras/no.safetensors",
                                           *many]) == {"/m/loras/a.safetensors", model.path}
