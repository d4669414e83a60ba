"""The store's contract for batches of small files: marking many rows `hashing` and recording their hashes in one
go, reading rows, models and images of many files at once, a walk's finds in one write, and plainly new rows
imported together, all or nothing. Run against every backend in store_backends.BACKENDS."""

from __future__ import annotations

import os

import pytest
from store_backends import STAT, hashed_row, new_model, sha, stores_fixture  # noqa: F401  (the fixture `stores`)

from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.records import FileStat, HashRecord, ModelQuery, PendingRow, Promotion

OTHER = FileStat(20, 2, 3, 4)
THIRD = FileStat(30, 3, 4, 5)

# Paths the batch arguments (one JSON array each) must carry byte for byte: a name that is not UTF-8 (PEP 383
# surrogates), what JSON escapes (quotes, backslashes, control characters), the database's own escape character.
HOSTILE = {
    "not-utf8": os.fsdecode(b"/m/loras/caf\xe9.safetensors"),
    "shift-jis": os.fsdecode(b"/m/loras/\x83\x82\x83f\x83\x8b.safetensors"),
    "quotes": "/m/loras/quo\"te's `x`.safetensors",
    "backslash": "/m/loras/back\\slash\\\\.safetensors",
    "newline": "/m/loras/new\nline\r\ttab.safetensors",
    "control": "/m/loras/ctrl\x01\x1f\x7f.safetensors",
    "escape": "/m/loras/escape \uef00\uefe9 look-alike.safetensors",
    "unicode": "/m/loras/模型 ünï ✓ \u2028.safetensors",
    "json-like": '/m/loras/["a", 1]\\u00e9.safetensors',
}


def _record(sha256: str, stat: FileStat = OTHER, status: str = "ready", conflict: str | None = None,
            meta: dict | None = None) -> HashRecord:
    return HashRecord(sha256, "b" * 64, stat, status, conflict, meta or {})


def _new(row: PendingRow, sha256: str, meta: dict | None = None,
         images: list[tuple[int, int, int]] | None = None) -> Promotion:
    """The promotion the importer makes of a plainly new ready row."""
    name = os.path.splitext(os.path.basename(row.path))[0]
    return Promotion(row.id, sha256, "new", name, row.type, "unknown", meta or {}, row.path, row.stat, [],
                     images or [])


async def _ready(stores: Stores, path: str, sha256: str, meta: dict | None = None) -> PendingRow:
    return await hashed_row(stores, path, sha256, meta=meta)


# -- start_hashing ---------------------------------------------------------------------------------------------
async def test_start_hashing_marks_the_rows_to_hash_and_leaves_those_hashed_as_they_are(stores: Stores):
    settling = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    ready_same = await hashed_row(stores, "/m/loras/b.safetensors", sha("b"))
    conflict_same = await hashed_row(stores, "/m/loras/c.safetensors", sha("c"), status="conflict",
                                     conflict=sha("c"))
    ignored_same = await hashed_row(stores, "/m/loras/d.safetensors", sha("d"))
    assert await stores.pending.set_pending_status(ignored_same.id, "ignored") is not None
    ready_changed = await hashed_row(stores, "/m/loras/e.safetensors", sha("e"))
    errored = await hashed_row(stores, "/m/loras/f.safetensors", sha("f"))
    assert await stores.pending.set_pending_error(errored.id, "unreadable", None) is not None
    untouched = await stores.pending.add_pending("/m/loras/g.safetensors", "g.safetensors", "loras", STAT)

    marked = await stores.pending.start_hashing([
        (settling.path, OTHER), (ready_same.path, STAT), (conflict_same.path, STAT), (ignored_same.path, STAT),
        (ready_changed.path, THIRD), (errored.path, STAT), ("/m/loras/no-row.safetensors", STAT),
    ])

    assert sorted((r.id, r.status, r.stat) for r in marked) == sorted([
        (settling.id, "hashing", OTHER), (ready_changed.id, "hashing", THIRD), (errored.id, "hashing", STAT)])
    for row in marked:
        assert await stores.pending.pending(row.id) == row
    for row in (ready_same, conflict_same):
        assert await stores.pending.pending(row.id) == row  # not re-read: hashed already as the file is now
    left = await stores.pending.pending(ignored_same.id)
    assert left is not None and (left.status, left.stat, left.sha256) == ("ignored", STAT, sha("d"))
    assert await stores.pending.pending(untouched.id) == untouched  # not asked about
    assert await stores.pending.pending_by_path("/m/loras/no-row.safetensors") is None
    index = (await stores.files.file_index()).pending
    assert index[settling.path] == (tuple(OTHER), "hashing") and index[ready_changed.path] == (tuple(THIRD), "hashing")
    assert index[ready_same.path] == (tuple(STAT), "ready") and index[untouched.path] == (tuple(STAT), "settling")


async def test_start_hashing_with_nothing_to_hash_marks_nothing(stores: Stores):
    ready = await hashed_row(stores, "/m/loras/b.safetensors", sha("b"))
    assert await stores.pending.start_hashing([(ready.path, STAT), ("/m/loras/none.safetensors", OTHER)]) == []
    assert await stores.pending.pending(ready.id) == ready


# -- record_hashes ---------------------------------------------------------------------------------------------
async def test_record_hashes_records_only_rows_still_hashing(stores: Stores):
    a = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    b = await stores.pending.add_pending("/m/loras/b.safetensors", "b.safetensors", "loras", STAT)
    c = await stores.pending.add_pending("/m/loras/c.safetensors", "c.safetensors", "loras", STAT)
    assert len(await stores.pending.start_hashing([(a.path, OTHER), (b.path, OTHER)])) == 2
    resettled = await stores.pending.resettle_pending(b.id, THIRD)  # it changed while it was hashed
    assert resettled is not None and resettled.status == "settling"

    recorded = await stores.pending.record_hashes([
        (a.id, _record(sha("a"), meta={"description": "from a sidecar"})),
        (b.id, _record(sha("b"))),
        (c.id, _record(sha("c"))),  # settling: never marked
        (c.id + 100, _record(sha("d"))),  # no such row
    ])

    assert [r.id for r in recorded] == [a.id]
    (row,) = recorded
    assert (row.status, row.sha256, row.blake3, row.stat, row.conflict_sha256, row.error) == (
        "ready", sha("a"), "b" * 64, OTHER, None, None)
    assert row.hashed_at is not None
    assert await stores.pending.pending(a.id) == row
    assert await stores.pending.pending_meta(a.id) == {"description": "from a sidecar"}
    assert await stores.pending.pending(b.id) == resettled  # the newer report wins
    assert await stores.pending.pending(c.id) == c
    assert (await stores.files.file_index()).pending[a.path] == (tuple(OTHER), "ready")


async def test_record_hashes_returns_every_row_it_recorded_with_its_status(stores: Stores):
    rows = [await stores.pending.add_pending(f"/m/loras/{n}.safetensors", n, "loras", STAT) for n in "abcde"]
    marked = await stores.pending.start_hashing([(r.path, STAT) for r in rows])
    assert len(marked) == 5
    records = [(r.id, _record(sha(c), STAT)) for r, c in zip(rows, "abcd", strict=False)]
    records.append((rows[4].id, _record(sha("a"), STAT, status="conflict", conflict=sha("f"))))
    recorded = await stores.pending.record_hashes(records)
    assert [(r.id, r.status, r.sha256, r.conflict_sha256) for r in recorded] == [
        (rows[0].id, "ready", sha("a"), None), (rows[1].id, "ready", sha("b"), None),
        (rows[2].id, "ready", sha("c"), None), (rows[3].id, "ready", sha("d"), None),
        (rows[4].id, "conflict", sha("a"), sha("f"))]
    assert await stores.pending.record_hashes([(r.id, _record(sha("e"))) for r in rows]) == []  # none is hashing


# -- reading many at once ----------------------------------------------------------------------------------------
async def test_pending_rows_gives_rows_and_their_metadata_by_id(stores: Stores):
    a = await hashed_row(stores, "/m/loras/a.safetensors", sha("a"), meta={"notes": "mine", "header": {"k": 1}})
    b = await stores.pending.add_pending("/m/vae/b.safetensors", "b.safetensors", "vae", OTHER)
    found = await stores.pending.pending_rows([b.id, a.id, a.id, b.id + 100])
    assert found == {a.id: (a, {"notes": "mine", "header": {"k": 1}}), b.id: (b, {})}
    assert await stores.pending.pending_rows([]) == {}


async def test_hashed_shas_counts_only_ready_and_conflict_rows(stores: Stores):
    await hashed_row(stores, "/m/loras/a1.safetensors", sha("a"))
    await hashed_row(stores, "/m/loras/a2.safetensors", sha("a"), status="conflict", conflict=sha("a"))
    errored = await hashed_row(stores, "/m/loras/a3.safetensors", sha("a"))
    await stores.pending.set_pending_error(errored.id, "unreadable", None)
    ignored = await hashed_row(stores, "/m/loras/a4.safetensors", sha("a"))
    await stores.pending.set_pending_status(ignored.id, "ignored")
    hashing = await hashed_row(stores, "/m/loras/a5.safetensors", sha("a"))
    await stores.pending.set_pending_status(hashing.id, "hashing", OTHER)
    await hashed_row(stores, "/m/loras/b.safetensors", sha("b"))
    await hashed_row(stores, "/m/loras/c.safetensors", sha("c"))
    await new_model(stores, "d", sha("d"))  # a model's content is no queued row
    assert await stores.pending.hashed_shas([sha("a"), sha("b"), sha("d"), sha("e")]) == {sha("a"): 2, sha("b"): 1}
    assert await stores.pending.hashed_shas([]) == {}


async def test_models_of_finds_models_by_content_and_by_path(stores: Stores):
    a = await new_model(stores, "a", sha("a"))
    b = await new_model(stores, "b", sha("b"))
    by_sha, by_path = await stores.models.models_of([sha("a"), sha("c")], [b.path, "/m/loras/none.safetensors"])
    assert by_sha == {sha("a"): a}
    assert by_path == {b.path: b}
    assert await stores.models.models_of([], []) == ({}, {})


async def _model_at(stores: Stores, path: str, sha256: str) -> None:
    row = await hashed_row(stores, path, sha256)
    await stores.imports.promote(Promotion(row.id, sha256, "new", "m", "loras", "unknown", {}, path, STAT, [], []))


async def test_models_of_a_path_two_models_name_is_the_one_whose_file_is_there(stores: Stores):
    # missing first, then the model whose file is there
    await _model_at(stores, "/m/loras/p.safetensors", sha("a"))
    await stores.models.set_model_missing(sha("a"))
    await _model_at(stores, "/m/loras/p.safetensors", sha("b"))
    # the model whose file is there first, then one that went missing
    await _model_at(stores, "/m/loras/q.safetensors", sha("c"))
    await _model_at(stores, "/m/loras/q.safetensors", sha("d"))
    await stores.models.set_model_missing(sha("d"))
    _, by_path = await stores.models.models_of([], ["/m/loras/p.safetensors", "/m/loras/q.safetensors"])
    assert {p: (m.sha256, m.status) for p, m in by_path.items()} == {
        "/m/loras/p.safetensors": (sha("b"), "ok"), "/m/loras/q.safetensors": (sha("c"), "ok")}


async def test_models_of_a_path_only_a_missing_model_names_gives_that_one(stores: Stores):
    await _model_at(stores, "/m/loras/p.safetensors", sha("a"))
    await stores.models.set_model_missing(sha("a"))
    _, by_path = await stores.models.models_of([], ["/m/loras/p.safetensors"])
    assert {p: (m.sha256, m.status) for p, m in by_path.items()} == {"/m/loras/p.safetensors": (sha("a"), "missing")}


async def test_with_pending_images_names_the_rows_that_have_images(stores: Stores):
    a = await hashed_row(stores, "/m/loras/a.safetensors", sha("a"))
    b = await hashed_row(stores, "/m/loras/b.safetensors", sha("b"))
    c = await hashed_row(stores, "/m/loras/c.safetensors", sha("c"))
    assert await stores.images.add_pending_image(a.id, 0, 64, 32, "a.png")
    assert await stores.images.add_pending_image(a.id, 1, 64, 32, "a.preview.png")
    assert await stores.images.add_pending_image(c.id, 0, 64, 32, "c.png")
    assert await stores.images.with_pending_images([a.id, b.id, c.id, c.id + 100]) == {a.id, c.id}
    assert await stores.images.with_pending_images([b.id]) == set()
    assert await stores.images.with_pending_images([]) == set()


# -- a walk's finds ------------------------------------------------------------------------------------------------
async def test_add_pending_many_returns_exactly_the_rows_it_added(stores: Stores):
    kept = await stores.pending.add_pending("/m/loras/a.safetensors", "a.safetensors", "loras", STAT)
    gone = await stores.pending.add_pending("/m/loras/gone.safetensors", "gone.safetensors", "loras", STAT)
    assert await stores.pending.delete_pending(gone.id)  # the highest id is gone: the next one is not max + 1
    hashed = await hashed_row(stores, "/m/loras/h.safetensors", sha("h"))
    added = await stores.pending.add_pending_many([
        ("/m/loras/b.safetensors", "loras", OTHER),
        (kept.path, "loras", OTHER),
        ("/m/vae/c.safetensors", "vae", THIRD),
        (hashed.path, "loras", THIRD),
        ("/m/loras/b.safetensors", "loras", THIRD),  # twice in one walk: the first one wins
        (gone.path, "loras", OTHER),
    ])
    assert [(r.path, r.name, r.type, r.stat, r.status) for r in added] == [
        ("/m/loras/b.safetensors", "b.safetensors", "loras", OTHER, "settling"),
        ("/m/vae/c.safetensors", "c.safetensors", "vae", THIRD, "settling"),
        (gone.path, "gone.safetensors", "loras", OTHER, "settling"),
    ]
    assert len({r.id for r in added} | {kept.id, gone.id, hashed.id}) == 6
    for row in added:
        assert await stores.pending.pending(row.id) == row
    assert await stores.pending.pending(kept.id) == kept and await stores.pending.pending(hashed.id) == hashed
    assert (await stores.files.file_index()).pending == {
        kept.path: (tuple(STAT), "settling"), hashed.path: (tuple(STAT), "ready"),
        "/m/loras/b.safetensors": (tuple(OTHER), "settling"), "/m/vae/c.safetensors": (tuple(THIRD), "settling"),
        gone.path: (tuple(OTHER), "settling")}
    assert await stores.pending.add_pending_many([(kept.path, "loras", OTHER)]) == []
    assert await stores.pending.add_pending_many([]) == []


# -- promote_new -----------------------------------------------------------------------------------------------------
async def test_promote_new_makes_each_row_a_model_with_its_tags_and_search_row(stores: Stores):
    a = await _ready(stores, "/m/loras/alpha.safetensors", sha("a"),
                     meta={"description": "cyberpunk portraits", "header": {"k": "v"}, "discovery_errors": ["x"]})
    assert await stores.pending.set_pending_meta(a.id, {"description": "cyberpunk portraits",
                                                         "header": {"k": "v"}}, ["Style", "xl"])
    b = await _ready(stores, "/m/vae/beta.safetensors", sha("b"))
    c = await _ready(stores, "/m/loras/gamma.safetensors", sha("c"))  # not in the batch: stays as it is
    models = await stores.imports.promote_new([
        _new(a, sha("a"), {"description": "cyberpunk portraits", "header": {"k": "v"}}, images=[(0, 64, 32)]),
        _new(b, sha("b"))])

    assert sorted((m.sha256, m.path, m.name, m.type, m.status, m.stat) for m in models) == [
        (sha("a"), a.path, "alpha", "loras", "ok", STAT), (sha("b"), b.path, "beta", "loras", "ok", STAT)]
    assert await stores.pending.pending(a.id) is None and await stores.pending.pending(b.id) is None
    assert await stores.pending.pending(c.id) == c
    detail = await stores.models.model_detail(sha("a"))
    assert detail is not None and sorted(detail["tags"]) == ["Style", "xl"]
    assert detail["meta_json"]["description"] == "cyberpunk portraits"
    assert await stores.images.model_image_count(sha("a")) == 1
    assert await stores.images.model_image_count(sha("b")) == 0
    for model in models:
        assert await stores.models.model(model.sha256) == model
    found, total, _ = await stores.search.list_models(ModelQuery(q="cyberpunk"))
    assert total == 1 and [m["sha256"] for m in found] == [sha("a")]
    found, total, _ = await stores.search.list_models(ModelQuery(q="beta"))
    assert total == 1 and [m["sha256"] for m in found] == [sha("b")]
    found, total, _ = await stores.search.list_models(ModelQuery(tags=["style"]))
    assert [m["sha256"] for m in found] == [sha("a")]
    index = await stores.files.file_index()
    assert index.pending == {c.path: (tuple(STAT), "ready")}
    assert index.models_ok == {a.path: (sha("a"), tuple(STAT)), b.path: (sha("b"), tuple(STAT))}
    assert index.models == {sha("a"): (a.path, tuple(STAT), "ok"), sha("b"): (b.path, tuple(STAT), "ok")}


async def test_promote_new_gives_the_same_model_as_promoting_the_row_alone(stores: Stores):
    meta = {"description": "d", "trigger_words": ["w"], "header": {"k": "v"}, "notes": "n", "sidecars": {"x": 1}}
    alone = await _ready(stores, "/m/loras/alone.safetensors", sha("a"), meta=meta)
    together = await _ready(stores, "/m/loras/together.safetensors", sha("b"), meta=meta)
    other = await _ready(stores, "/m/loras/other.safetensors", sha("c"))
    for row in (alone, together):
        await stores.pending.set_pending_meta(row.id, meta, ["t1"])
    await stores.imports.promote(_new(alone, sha("a"), meta))
    await stores.imports.promote_new([_new(together, sha("b"), meta), _new(other, sha("c"))])
    one, many = await stores.models.model_detail(sha("a")), await stores.models.model_detail(sha("b"))
    assert one is not None and many is not None
    different = {"sha256", "blake3", "path", "name", "file_name", "files", "created_at", "updated_at"}
    assert {k: v for k, v in one.items() if k not in different} == {k: v for k, v in many.items()
                                                                   if k not in different}


async def test_promote_new_takes_a_copys_path_over(stores: Stores):
    row = await hashed_row(stores, "/m/loras/orig.safetensors", sha("e"))
    await stores.imports.promote(Promotion(row.id, sha("e"), "new", "orig", "loras", "unknown", {}, row.path, STAT,
                                           [("/m/loras/copy.safetensors", OTHER)], []))
    assert await stores.copies.copies_of(sha("e")) == ["/m/loras/copy.safetensors"]
    # the copy's file was overwritten with other content, which is queued and imported
    new = await stores.pending.add_pending("/m/loras/copy.safetensors", "copy.safetensors", "loras", THIRD)
    assert await stores.pending.start_hashing([(new.path, THIRD)])
    (recorded,) = await stores.pending.record_hashes([(new.id, _record(sha("f"), THIRD))])
    await stores.imports.promote_new([_new(recorded, sha("f"))])
    assert await stores.copies.copies_of(sha("e")) == []
    assert await stores.copies.copy_at("/m/loras/copy.safetensors") is None
    model = await stores.models.model(sha("f"))
    assert model is not None and model.path == "/m/loras/copy.safetensors"


async def test_promote_new_is_all_or_nothing(stores: Stores):
    existing = await new_model(stores, "existing", sha("e"))
    a = await _ready(stores, "/m/loras/a.safetensors", sha("a"), meta={"description": "first of the batch"})
    await stores.pending.set_pending_meta(a.id, {"description": "first of the batch"}, ["tagged"])
    dup = await _ready(stores, "/m/loras/dup.safetensors", sha("e"))  # its content is a model already
    b = await _ready(stores, "/m/loras/b.safetensors", sha("b"))
    index_before = await stores.files.file_index()
    with pytest.raises(Exception):  # noqa: B017  (which error a backend raises is its own)
        await stores.imports.promote_new([_new(a, sha("a")), _new(dup, sha("e")), _new(b, sha("b"))])
    for row in (a, dup, b):
        assert await stores.pending.pending(row.id) == row
    assert await stores.pending.pending_tag_names(a.id) == ["tagged"]
    assert await stores.models.model(sha("a")) is None and await stores.models.model(sha("b")) is None
    assert await stores.models.model(sha("e")) == existing
    assert (await stores.search.list_models(ModelQuery(q="first")))[:2] == ([], 0)
    assert (await stores.search.list_models(ModelQuery(status="all")))[1] == 1
    assert await stores.files.file_index() == index_before
    # the batch can be done afterwards without the row that broke it
    models = await stores.imports.promote_new([_new(a, sha("a")), _new(b, sha("b"))])
    assert sorted(m.sha256 for m in models) == [sha("a"), sha("b")]


async def test_promote_new_of_rows_just_hashed_takes_their_content_from_the_records(stores: Stores):
    """Auto-import of files just hashed: the rows are still `hashing` and hold no content; the model takes it from
    the hash record, the row's tags go with it, and a row gone meanwhile makes no model."""
    rows = {}
    for name in ("fresh", "tagged", "gone"):
        rows[name] = await stores.pending.add_pending(f"/m/loras/{name}.safetensors", f"{name}.safetensors",
                                                      "loras", STAT)
    assert await stores.pending.set_pending_meta(rows["tagged"].id, {"notes": "from v1"}, ["Keep"])
    ready = await _ready(stores, "/m/loras/ready.safetensors", sha("r"))
    assert len(await stores.pending.start_hashing([(rows[n].path, OTHER) for n in rows])) == 3
    assert await stores.pending.delete_pending(rows["gone"].id)
    records = {name: HashRecord(sha(name[0]), "c" * 64, OTHER, "ready", None,
                                {"description": f"{name} words", **({"notes": "from v1"} if name == "tagged" else {})})
               for name in rows}

    def just_hashed(name: str) -> Promotion:
        record = records[name]
        return Promotion(rows[name].id, record.sha256, "new", name, "loras", "SD 1.5", record.meta_json,
                         rows[name].path, record.stat, [], [], hashed=record)

    models = await stores.imports.promote_new([just_hashed("fresh"), _new(ready, sha("r")), just_hashed("tagged"),
                                               just_hashed("gone")])

    assert sorted((m.sha256, m.blake3, m.path, m.stat, m.base_model) for m in models) == [
        (sha("f"), "c" * 64, rows["fresh"].path, OTHER, "SD 1.5"),
        (sha("r"), ready.blake3, ready.path, STAT, "unknown"),
        (sha("t"), "c" * 64, rows["tagged"].path, OTHER, "SD 1.5")]
    assert await stores.models.model(sha("g")) is None
    assert await stores.pending.list_pending(None, None, 10, 0) == ([], 0)
    detail = await stores.models.model_detail(sha("t"))
    assert detail is not None and detail["tags"] == ["Keep"] and detail["meta_json"]["notes"] == "from v1"
    found, total, _ = await stores.search.list_models(ModelQuery(q="tagged words"))
    assert total == 1 and [m["sha256"] for m in found] == [sha("t")]
    found, total, _ = await stores.search.list_models(ModelQuery(tags=["keep"]))
    assert [m["sha256"] for m in found] == [sha("t")]
    index = await stores.files.file_index()
    assert index.pending == {}
    assert index.models_ok == {rows["fresh"].path: (sha("f"), tuple(OTHER)), ready.path: (sha("r"), tuple(STAT)),
                               rows["tagged"].path: (sha("t"), tuple(OTHER))}


async def test_promote_new_of_two_rows_with_one_content_is_all_or_nothing(stores: Stores):
    a = await _ready(stores, "/m/loras/a.safetensors", sha("a"))
    twin = await _ready(stores, "/m/loras/twin.safetensors", sha("a"))
    with pytest.raises(Exception):  # noqa: B017
        await stores.imports.promote_new([_new(a, sha("a")), _new(twin, sha("a"))])
    assert await stores.pending.pending(a.id) == a and await stores.pending.pending(twin.id) == twin
    assert await stores.models.model(sha("a")) is None


# -- every batch argument carries any path ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_batches_carry_any_path_byte_for_byte(stores: Stores, path: str):
    plain = "/m/loras/plain.safetensors"
    added = await stores.pending.add_pending_many([(path, "loras", STAT), (plain, "loras", STAT)])
    assert [r.path for r in added] == [path, plain]
    row = added[0]
    assert row.name == os.path.basename(path)
    assert await stores.pending.add_pending_many([(path, "loras", OTHER)]) == []  # the path meets its row

    marked = await stores.pending.start_hashing([(path, OTHER), (plain, OTHER)])
    assert sorted(r.path for r in marked) == sorted([path, plain])
    assert all(r.status == "hashing" and r.stat == OTHER for r in marked)
    (recorded, _) = await stores.pending.record_hashes(
        [(r.id, _record(sha("a") if r.path == path else sha("b"), OTHER, meta={"from": r.path})) for r in marked])
    assert recorded.path == path and recorded.status == "ready"
    assert await stores.pending.start_hashing([(path, OTHER)]) == []  # hashed already as it is
    rows = await stores.pending.pending_rows([row.id])
    assert rows[row.id][0].path == path and rows[row.id][1] == {"from": path}
    assert await stores.pending.hashed_shas([sha("a")]) == {sha("a"): 1}
    assert await stores.images.add_pending_image(row.id, 0, 8, 8, path)
    assert await stores.images.with_pending_images([row.id]) == {row.id}

    other = await stores.pending.pending_by_path(plain)
    assert other is not None
    models = await stores.imports.promote_new([_new(recorded, sha("a")), _new(other, sha("b"))])
    assert sorted(m.path for m in models) == sorted([path, plain])
    by_sha, by_path = await stores.models.models_of([sha("a")], [path, plain])
    assert by_sha[sha("a")].path == path
    assert set(by_path) == {path, plain} and by_path[path].sha256 == sha("a")
    found, _, _ = await stores.search.list_models(ModelQuery(status="all"))
    assert {m["sha256"]: m["file_name"] for m in found} == {sha("a"): os.path.basename(path),
                                                            sha("b"): "plain.safetensors"}
    index = await stores.files.file_index()
    assert index.pending == {} and index.models_ok[path] == (sha("a"), tuple(OTHER))
