"""`hikaze-mm db copy`: a SQLite library moved whole into PostgreSQL, read back the same through every part of
the store; a copy into a database that is not ready or not empty is refused; a copy that fails part way leaves
the target as it was."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from store_backends import HOST, STAT, hashed_row, migrated_database, new_model, sha, sqlite_store

from conftest import run_cli
from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.copy_back import copy_to_sqlite
from hikaze_mm.store.interfaces import Stores
from hikaze_mm.store.postgres.store import PostgresStore
from hikaze_mm.store.records import FileStat, LookupState, ModelQuery, Use
from hikaze_mm.store.transfer import CopyRefused, copy_library
from pg_server import PgServer

ODD_NAME = "/m/loras/caf\udce9 \u30ad\u30e3\u30e9.safetensors"  # not UTF-8, and CJK


async def _library(path: Path) -> None:
    """A small library with something of everything the copy moves."""
    store = sqlite_store(path)
    await store.open()
    try:
        await new_model(store, "Alpha", sha("a"), meta={"description": "<p>x</p>", "trigger_words": ["alp"]},
                        images=[(0, 64, 96), (1, 32, 32)])
        await new_model(store, "Beta", sha("b"), meta={"nsfw": True, "favorite": True})
        await store.models.update_model(sha("a"), name=None, tags=["Style", "nsfw"], meta_change=None)
        await store.images.set_cover(sha("a"), 1)
        await store.images.reserve_image_seqs(sha("a"), 3)  # numbers given out and not used stay given out
        twin = await hashed_row(store, "/m/loras/backup/alpha.safetensors", sha("a"), status="conflict",
                                conflict=sha("a"))
        await store.imports.absorb(twin.id, sha("a"), {}, [], ("/m/loras/backup/alpha.safetensors", STAT))
        waiting = await hashed_row(store, ODD_NAME, sha("c"), meta={"trigger_words": ["w"]})
        await store.pending.set_pending_meta(waiting.id, {"trigger_words": ["w"]}, ["Style", "queued"])
        await store.images.add_pending_image(waiting.id, 0, 10, 10, "preview.png")
        broken = await store.pending.add_pending("/m/loras/broken.safetensors", "broken.safetensors", "loras",
                                                 FileStat(3, 1, 2, 3))
        await store.pending.set_pending_error(broken.id, "not a model file", None)
        await store.models.set_model_missing(sha("b"))
        await store.usage.count_uses([Use("use-0001", 123.5, sha("a")), Use("use-0002", 99.0, None)], 1000.0, 0.0)
        await store.lookups.save_lookup(LookupState(sha("a"), "found", "civitai", 500.0, ["listed another sha256"],
                                                    {"model_name": "Alpha \u30ad", "images": [{"seq": 0}]}))
        await store.lookups.save_lookup(LookupState(sha("b"), "not_found", None, 600.0, [], None))
        await store.lookups.queue_lookups([sha("c")], True, 700.0)
        await store.lookups.queue_lookups([sha("d")], False, 800.0)
        await store.lookups.delay_lookup(sha("d"), 900.0)
    finally:
        await store.close()


async def _view(stores: Stores) -> dict[str, Any]:
    """What the library looks like through the store's parts, without what differs by nature (row ids)."""
    page = await stores.search.list_models(ModelQuery(status="all", limit=100))
    details = {item["sha256"]: await stores.models.model_detail(item["sha256"]) for item in page.items}
    pending, total = await stores.pending.list_pending(None, None, 100, 0)
    return {
        "counts": await stores.search.counts(),
        "models": page.items,
        "details": details,
        "types": await stores.search.model_types(),
        "tags": [(t["name"], t["models"], t["pending"]) for t in await stores.tags.list_tags()],
        "search": [i["sha256"] for i in (await stores.search.list_models(ModelQuery(q="alp"))).items],
        "pending": [(r.path, r.status, r.sha256, r.error, await stores.pending.pending_tag_names(r.id),
                     await stores.images.pending_images(r.id)) for r in pending],
        "pending_total": total,
        "index": (await stores.files.file_index()).pending,
        "next_image": await stores.images.reserve_image_seqs(sha("a"), 1),
        "lookups": [await stores.lookups.lookup_state(sha(c)) for c in "abc"],
        "queued": await stores.lookups.due_lookups(1000.0, 10),
    }


async def test_a_whole_library_reads_back_the_same_from_postgresql(tmp_path: Path, pg_server: PgServer) -> None:
    await _library(tmp_path / "lib.sqlite3")
    target = await migrated_database(pg_server)
    counts = await copy_library(f"sqlite://{tmp_path / 'lib.sqlite3'}", target.dsn, HOST)
    assert counts["models"] == 2 and counts["pending_import"] == 2 and counts["model_copies"] == 1
    before = sqlite_store(tmp_path / "lib.sqlite3")
    after = PostgresStore(target.dsn, HOST, RULES)
    await before.open()
    await after.open()
    try:
        seen_before, seen_after = await _view(before), await _view(after)
        assert seen_after == seen_before
        assert seen_after["next_image"] == [3]  # 0 and 1 used, 2 to 4 reserved: the numbering went along
        # What the sources said, and the lookups still queued (forced, and one failed once), went along.
        assert [s and s.state for s in seen_after["lookups"]] == ["found", "not_found", None]
        assert [(q.sha256, q.force, q.attempts) for q in seen_after["queued"]] == \
            [(sha("c"), True, 0), (sha("d"), False, 1)]
        assert (seen_after["details"][sha("a")]["use_count"], seen_after["details"][sha("a")]["last_used_at"]) == \
            (1, 123.5)
        # The uses counted went along: the same batch sent to the shared library counts nothing twice.
        again = await after.usage.count_uses([Use("use-0001", 123.5, sha("a")), Use("use-0002", 99.0, None)],
                                             2000.0, 0.0)
        assert (again.counted, again.repeated) == (0, 2)
        # The copy is this host's library: new rows continue the copied ids.
        row = await after.pending.add_pending("/m/loras/new.safetensors", "new.safetensors", "loras", STAT)
        assert row.id > max(r.id for r in (await after.pending.list_pending(None, None, 100, 0))[0] if r.id != row.id)
    finally:
        await before.close()
        await after.close()


HELD = ("models", "tags", "pending_import", "images", "model_tally")


async def _held(dsn: str, server: PgServer) -> dict[str, int]:
    conn = await server.connect(dsn.split("?")[0].rsplit("/", 1)[1])
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in HELD}
    finally:
        await conn.close()


async def test_a_copy_that_fails_part_way_leaves_the_target_as_it_was(tmp_path: Path, pg_server: PgServer) -> None:
    await _library(tmp_path / "lib.sqlite3")
    target = await migrated_database(pg_server)
    conn = await target.connect()
    try:  # the target refuses a row late in the copy (as a full disk or a lost server would, mid-way)
        await conn.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                           "$$ BEGIN RAISE EXCEPTION 'no room for this row'; END $$")
        await conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON pending_images "
                           "FOR EACH ROW EXECUTE FUNCTION refuse()")
        with pytest.raises(CopyRefused, match=r"no room for this row.*nothing was copied"):
            await copy_library(f"sqlite://{tmp_path / 'lib.sqlite3'}", target.dsn, HOST)
        assert await _held(target.dsn, pg_server) == dict.fromkeys(HELD, 0)
        disabled = await conn.fetchval("SELECT count(*) FROM pg_trigger WHERE tgenabled = 'D'")
        assert disabled == 0  # the counting triggers are on again
        await conn.execute("DROP TRIGGER refuse ON pending_images")
    finally:
        await conn.close()
    await copy_library(f"sqlite://{tmp_path / 'lib.sqlite3'}", target.dsn, HOST)
    assert (await _held(target.dsn, pg_server))["models"] == 2


async def test_a_copy_goes_only_into_a_ready_empty_database(tmp_path: Path, pg_server: PgServer) -> None:
    await _library(tmp_path / "lib.sqlite3")
    source = f"sqlite://{tmp_path / 'lib.sqlite3'}"
    unready = await migrated_database(pg_server)
    conn = await unready.connect()
    try:
        await conn.execute("UPDATE schema_version SET version = 0")
    finally:
        await conn.close()
    with pytest.raises(CopyRefused, match="db migrate"):
        await copy_library(source, unready.dsn, HOST)
    target = await migrated_database(pg_server)
    await copy_library(source, target.dsn, HOST)
    held = await _held(target.dsn, pg_server)
    with pytest.raises(CopyRefused, match="holds a library already"):
        await copy_library(source, target.dsn, "another-host")
    assert await _held(target.dsn, pg_server) == held
    with pytest.raises(CopyRefused, match=r"cannot be read|cannot be opened"):
        await copy_library(f"sqlite://{tmp_path / 'nothing.sqlite3'}", target.dsn, HOST)


async def test_the_copy_command_says_what_it_copied(tmp_path: Path, pg_server: PgServer) -> None:
    await _library(tmp_path / "lib.sqlite3")
    target = await migrated_database(pg_server)
    result = run_cli("db", "copy", "--from", f"sqlite://{tmp_path / 'lib.sqlite3'}", "--to", target.dsn,
                     "--host-id", "gpu-box", "--data-dir", str(tmp_path / "data"),
                     "--images-dir", str(tmp_path / "nas share"))
    assert result.returncode == 0, result.stderr
    assert "2 models" in result.stdout and "files as host gpu-box" in result.stdout
    # The images' files are not in the database: the command says where they are and where they go, as a command
    # that can be pasted (a folder with a space is quoted).
    assert f"copy them from {tmp_path / 'images'} (unless the copied library's images_dir" in result.stdout
    assert f"rsync -a {tmp_path / 'images'}/ '{tmp_path / 'nas share'}/'" in result.stdout
    again = run_cli("db", "copy", "--from", f"sqlite://{tmp_path / 'lib.sqlite3'}", "--to", target.dsn,
                    "--data-dir", str(tmp_path / "data"))
    assert again.returncode == 1 and "holds a library already" in again.stderr


# -- and back: a shared library into a new SQLite file ---------------------------------------------------------


async def test_a_library_copied_to_postgresql_and_back_reads_the_same(tmp_path: Path, pg_server: PgServer) -> None:
    await _library(tmp_path / "lib.sqlite3")
    shared = await migrated_database(pg_server)
    await copy_library(f"sqlite://{tmp_path / 'lib.sqlite3'}", shared.dsn, HOST)
    (tmp_path / "back").mkdir()
    counts = await copy_to_sqlite(shared.dsn, tmp_path / "back" / "library.sqlite3", HOST)
    assert counts["models"] == 2 and counts["web_lookups"] == 2 and counts["lookup_queue"] == 2
    before, after = sqlite_store(tmp_path / "lib.sqlite3"), sqlite_store(tmp_path / "back" / "library.sqlite3")
    await before.open()
    await after.open()
    try:
        assert await _view(after) == await _view(before)
        # The copy is a library of its own: new rows continue the copied ids, and a search finds the copied text.
        row = await after.pending.add_pending("/m/loras/new.safetensors", "new.safetensors", "loras", STAT)
        assert row.id > max(r.id for r in (await after.pending.list_pending(None, None, 100, 0))[0] if r.id != row.id)
    finally:
        await before.close()
        await after.close()
    assert not [p.name for p in (tmp_path / "back").iterdir() if "copying" in p.name]  # no temporary left


async def test_the_copy_back_is_the_library_as_this_host_sees_it(tmp_path: Path, pg_server: PgServer) -> None:
    shared = await migrated_database(pg_server)
    a, b = PostgresStore(shared.dsn, "host-a", RULES), PostgresStore(shared.dsn, "host-b", RULES)
    await a.open()
    await b.open()
    try:
        await new_model(a, "both", sha("a"), meta={"description": "typed on a"})
        await new_model(a, "only-a", sha("b"), meta={"trigger_words": ["kept"]})
        twin = await hashed_row(b, "/b/loras/both.safetensors", sha("a"), status="conflict", conflict=sha("a"))
        await b.imports.absorb(twin.id, sha("a"), {}, [], ("/b/loras/both.safetensors", STAT))
        # A second copy on b, added later though its path sorts first: b's daemon takes the first added.
        later = await hashed_row(b, "/b/a-later.safetensors", sha("a"), status="conflict", conflict=sha("a"))
        await b.imports.absorb(later.id, sha("a"), {}, [], ("/b/a-later.safetensors", STAT))
        await hashed_row(a, "/m/loras/waiting-on-a.safetensors", sha("c"))
        await hashed_row(b, "/b/loras/waiting-on-b.safetensors", sha("d"))
        await a.lookups.queue_lookups([sha("b")], False, 1.0)
        await b.lookups.queue_lookups([sha("a")], False, 1.0)
    finally:
        await a.close()
        await b.close()
    target = tmp_path / "b.sqlite3"
    counts = await copy_to_sqlite(shared.dsn, target, "host-b")
    assert (counts["models"], counts["model_copies"], counts["pending_import"], counts["lookup_queue"]) == (2, 1, 1, 1)
    store = sqlite_store(target)
    await store.open()
    try:
        both, only_a = await store.models.model_detail(sha("a")), await store.models.model_detail(sha("b"))
        assert both is not None and only_a is not None
        # b's copy is its file here; a model with no file here is missing, with everything typed about it.
        assert (both["path"], both["status"], both["meta_json"]["description"]) == \
            ("/b/loras/both.safetensors", "ok", "typed on a")
        assert (only_a["status"], only_a["meta_json"]["trigger_words"]) == ("missing", ["kept"])
        pending, _ = await store.pending.list_pending(None, None, 100, 0)
        assert [r.path for r in pending] == ["/b/loras/waiting-on-b.safetensors"]
        assert [q.sha256 for q in await store.lookups.due_lookups(2.0, 10)] == [sha("a")]
        missing = await store.search.list_models(ModelQuery(status="missing", limit=10))
        assert [m["sha256"] for m in missing.items] == [sha("b")]
    finally:
        await store.close()


async def test_a_copy_back_goes_only_into_a_new_file_and_leaves_nothing_when_it_fails(
        tmp_path: Path, pg_server: PgServer) -> None:
    await _library(tmp_path / "lib.sqlite3")
    shared = await migrated_database(pg_server)
    await copy_library(f"sqlite://{tmp_path / 'lib.sqlite3'}", shared.dsn, HOST)
    there = tmp_path / "there.sqlite3"
    there.write_bytes(b"the user's own file")
    with pytest.raises(CopyRefused, match="exists"):
        await copy_to_sqlite(shared.dsn, there, HOST)
    assert there.read_bytes() == b"the user's own file"
    # A journal left behind by a library moved away without it would be replayed onto the copy, emptying it.
    (tmp_path / "moved.sqlite3-wal").write_bytes(b"an old library's journal")
    with pytest.raises(CopyRefused, match="part of a library that was there"):
        await copy_to_sqlite(shared.dsn, tmp_path / "moved.sqlite3", HOST)
    assert (tmp_path / "moved.sqlite3-wal").read_bytes() == b"an old library's journal"
    assert not (tmp_path / "moved.sqlite3").exists()
    with pytest.raises(CopyRefused, match="is not a folder"):
        await copy_to_sqlite(shared.dsn, tmp_path / "no such folder" / "lib.sqlite3", HOST)
    # A disk that fills up part way (a file size limit on the command): refused, and no file left behind.
    big = sqlite_store(tmp_path / "big.sqlite3")
    await big.open()
    try:
        await new_model(big, "wordy", sha("e"), meta={"description": "words " * 400_000})
    finally:
        await big.close()
    wordy = await migrated_database(pg_server)
    await copy_library(f"sqlite://{tmp_path / 'big.sqlite3'}", wordy.dsn, HOST)
    result = subprocess.run(
        [sys.executable, "-m", "hikaze_mm", "db", "copy", "--from", wordy.dsn, "--to",
         f"sqlite://{tmp_path / 'new.sqlite3'}", "--host-id", HOST, "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HIKAZE_MM_CONFIG": ""},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)))
    assert result.returncode == 1 and "disk" in result.stderr and "nothing was copied" in result.stderr, result.stderr
    assert not [p.name for p in tmp_path.iterdir() if "new.sqlite3" in p.name or "copy" in p.name]



async def test_the_copy_command_goes_back_and_says_where_the_images_go(tmp_path: Path, pg_server: PgServer) -> None:
    await _library(tmp_path / "lib.sqlite3")
    shared = await migrated_database(pg_server)
    await copy_library(f"sqlite://{tmp_path / 'lib.sqlite3'}", shared.dsn, "gpu-box")
    back = tmp_path / "laptop" / "library.sqlite3"
    back.parent.mkdir()
    result = run_cli("db", "copy", "--from", shared.dsn, "--to", f"sqlite://{back}", "--host-id", "gpu-box",
                     "--data-dir", str(tmp_path / "data"), "--images-dir", str(tmp_path / "nas"))
    assert result.returncode == 0, result.stderr
    assert "2 models" in result.stdout and back.exists()
    assert f"rsync -a {tmp_path / 'nas'}/ {back.parent / 'images'}/" in result.stdout
    again = run_cli("db", "copy", "--from", shared.dsn, "--to", f"sqlite://{back}", "--data-dir", str(tmp_path))
    assert again.returncode == 1 and "exists" in again.stderr
