"""Faults the always-on daemon must survive: SIGKILL mid-upload and mid-import, a database locked by another
process, a watched folder that vanishes or turns unreadable, an inotify watch limit too low, a full disk, a file
rewritten while it is hashed. After each one the database passes `integrity_check` (on SQLite), no row is left
`hashing`, and every image file belongs to a row and every row has its files."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import random
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from PIL import Image

from conftest import (
    DEADLINE_S,
    Daemon,
    Databases,
    LibraryDb,
    broken_walk,
    free_port,
    poll,
    run_cli,
    with_site,
    without_root_powers,
    write_model,
)
from hikaze_mm.library.importer import PLAIN_BATCH
from hikaze_mm.store.postgres.database import WRITE_LOCK

TIERS = ("high", "medium", "low")

# Loaded into the daemon through PYTHONPATH (Python imports `sitecustomize` at start-up): inotify as it behaves
# once `max_user_watches` is used up. Lowering the real sysctl would starve every other process of this user,
# other test daemons included, so the limit is imposed on this one process instead.
WATCH_LIMIT_SITE = '''
import ctypes, errno, os
from watchdog.observers import inotify_c

_limit = int(os.environ["HIKAZE_TEST_INOTIFY_WATCHES"])
_real_add, _real_rm = inotify_c.inotify_add_watch, inotify_c.inotify_rm_watch
_watches = set()  # the kernel counts watches in use, and a removed one frees its place


def _limited_add(fd, path, mask):
    if len(_watches) >= _limit:
        ctypes.set_errno(errno.ENOSPC)
        return -1
    wd = _real_add(fd, path, mask)
    if wd >= 0:
        _watches.add((fd, wd))
    return wd


def _counted_rm(fd, wd):
    _watches.discard((fd, wd))
    return _real_rm(fd, wd)


_real_init, _real_close = inotify_c.inotify_init, os.close
_descriptors = set()


def _tracked_init():
    fd = _real_init()
    if fd >= 0:
        _descriptors.add(fd)
    return fd


def _close(fd):
    # Closing an inotify descriptor gives its watches back, as the kernel does.
    if fd in _descriptors:
        _descriptors.discard(fd)
        _watches.difference_update({w for w in _watches if w[0] == fd})
    return _real_close(fd)


inotify_c.inotify_add_watch = _limited_add
inotify_c.inotify_rm_watch = _counted_rm
inotify_c.inotify_init = _tracked_init
os.close = _close
'''


@contextlib.contextmanager
def small_tmpfs(where: Path, size_kib: int) -> Iterator[None]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}); needs root")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


# -- invariants ---------------------------------------------------------------------------------------------------
async def assert_consistent(db: LibraryDb) -> None:
    """What must hold after any fault, once the daemon has started again."""
    assert await db.damage() == []
    assert await db.rows("SELECT path FROM pending_import WHERE status = 'hashing'") == []
    images = db.data_dir / "images"
    on_disk = {p.name for p in images.glob("*") if p.is_file()} if images.is_dir() else set()
    rows = {f"{s}_{q}_{t}.webp" for s, q in await db.rows("SELECT sha256, seq FROM images") for t in TIERS}
    assert on_disk == rows, f"orphans: {sorted(on_disk - rows)}, missing: {sorted(rows - on_disk)}"
    pending_dir = images / "pending"
    pending_disk = {p.name for p in pending_dir.glob("*")} if pending_dir.is_dir() else set()
    pending_rows = {
        f"{i}_{q}_{t}.webp" for i, q in await db.rows("SELECT pending_id, seq FROM pending_images") for t in TIERS
    }
    assert pending_disk == pending_rows, f"pending orphans: {sorted(pending_disk - pending_rows)}"


# The models that have their search row.
SEARCHABLE = {"sqlite": "SELECT sha256 FROM search_ids",
              "postgres": "SELECT sha256 FROM models WHERE search_doc != ''"}


def big_png() -> bytes:
    """20 megapixels that compress well enough to stay under the upload limit but take a while to encode."""
    img = Image.radial_gradient("L").resize((5000, 4000))
    buf = io.BytesIO()
    Image.merge("RGB", (img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), img)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def small_png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "PNG")
    return buf.getvalue()


def form(data: bytes) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("image", data, filename="upload.png", content_type="image/png")
    return f


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def one_model(d: Daemon, models: Path, name: str = "base.safetensors") -> str:
    (sha,) = await d.import_files(write_model(models / "checkpoints" / name))
    return sha


# -- 1. SIGKILL during an image upload ---------------------------------------------------------------------------
async def test_sigkill_during_image_upload_leaves_no_orphan_files(daemon_factory, models: Path):
    data = await asyncio.to_thread(big_png)
    d: Daemon = await daemon_factory("--models-root", str(models))
    sha = await one_model(d, models)
    status, _ = await d.request("POST", f"/api/models/{sha}/images", data=form(small_png((200, 30, 30))))
    assert status == 201
    rng = random.Random()
    for delay in (0.0, 0.2, rng.uniform(0.3, 1.2), rng.uniform(0.8, 2.0)):
        upload = asyncio.create_task(d.request("POST", f"/api/models/{sha}/images", data=form(data)))
        await asyncio.sleep(delay)  # where in the upload the kill lands: the fault's timing, not a wait on a result
        d.kill()
        await asyncio.gather(upload, return_exceptions=True)
        d = await daemon_factory("--models-root", str(models), data_dir=d.data_dir)
        await assert_consistent(d.db)
        assert (await d.get(f"/api/models/{sha}"))["images"][0]["seq"] == 0

    # A kill between writing the tier files and committing their row leaves them with no row; the window is too
    # short to hit by timing, so this is the state such a kill leaves, made by hand.
    (seq,) = [n for (n,) in await d.db.rows("SELECT next_seq FROM image_seq WHERE sha256 = ?", sha)]
    d.kill()
    images = d.data_dir / "images"
    for tier in TIERS:
        (images / f"{sha}_{seq}_{tier}.webp").write_bytes(b"written, never committed")
    (images / f"{sha}_{seq + 1}_high.tmp").write_bytes(b"half a tier")
    (images / "pending").mkdir(exist_ok=True)
    (images / "pending" / "987654_0_high.webp").write_bytes(b"a pending image whose row is gone")
    (images / "notes.txt").write_bytes(b"not ours to delete")
    d = await daemon_factory("--models-root", str(models), data_dir=d.data_dir)
    assert (images / "notes.txt").exists()
    (images / "notes.txt").unlink()
    await assert_consistent(d.db)
    status, body = await d.request("POST", f"/api/models/{sha}/images", data=form(small_png((10, 200, 10))))
    assert status == 201, body
    assert (images / f"{sha}_{body['seq']}_high.webp").read_bytes()[:4] == b"RIFF", "a stray file was served"
    await assert_consistent(d.db)


# -- 2. SIGKILL during an import batch -----------------------------------------------------------------------------
async def test_sigkill_during_import_batch_leaves_each_row_whole(daemon_factory, models: Path):
    # Plainly new models go in transactions of PLAIN_BATCH rows: enough of them that the kill lands between two.
    count = 2000
    paths = [write_model(models / "loras" / f"lora-{i:03d}.safetensors", size=1024) for i in range(count)]
    d: Daemon = await daemon_factory("--models-root", str(models), settle=0.1)

    async def all_ready() -> list[dict] | None:
        rows = [*await d.pending(status="ready"), *await d.pending(status="ready", offset="1000")]
        return rows if len(rows) == count else None

    rows = await poll(all_ready, f"{count} ready rows", timeout=60)
    imported_at_kill = random.randint(20, 400)
    batch = asyncio.create_task(d.request("POST", "/api/pending/import", json={"ids": [r["id"] for r in rows]}))

    async def far_enough() -> int | None:
        (n,) = (await d.db.rows("SELECT count(*) FROM models"))[0]
        return n if n >= imported_at_kill else None

    await poll(far_enough, f"{imported_at_kill} imports")
    d.kill()
    await asyncio.gather(batch, return_exceptions=True)
    await assert_consistent(d.db)
    models_now = dict(await d.db.rows("SELECT path, sha256 FROM models"))
    assert imported_at_kill <= len(models_now) < count, "the kill did not land inside the batch"
    # Every row asked is plainly new: the import goes PLAIN_BATCH rows to a transaction, in the order asked, so a
    # kill leaves a whole number of transactions, never part of one.
    assert len(models_now) % PLAIN_BATCH == 0, f"{len(models_now)} models: a transaction was cut in half"
    asked = [r["path"] for r in rows]
    assert set(models_now) == set(asked[:len(models_now)]), "the transactions did not go in the order asked"

    d = await daemon_factory("--models-root", str(models), settle=0.1, data_dir=d.data_dir)
    await d.wait_idle()
    await assert_consistent(d.db)
    pending = {r["path"]: r for r in [*await d.pending(), *await d.pending(offset="1000")]}
    imported = dict(await d.db.rows("SELECT path, sha256 FROM models"))
    assert imported == models_now, "the restart changed what was imported"
    assert len(pending) + len(imported) == count
    for p in map(str, paths):
        assert (p in pending) != (p in imported), f"{p} is both or neither pending and imported"
        if p in pending:
            assert pending[p]["status"] == "ready"
    searchable = {s for (s,) in await d.db.rows(SEARCHABLE)}
    assert searchable == set(imported.values()), "an import is half done: model and search index disagree"
    no_meta = await d.db.rows("SELECT path FROM models WHERE meta_json IS NULL OR name IS NULL")
    assert no_meta == []
    rest = await d.call("POST", "/api/pending/import", {"ids": [pending[p]["id"] for p in pending]})
    assert not rest["failed"] and len(rest["imported"]) == len(pending), rest
    assert (await d.get("/api/status"))["counts"]["models"] == count


async def test_sigkill_during_a_first_index_of_small_files_loses_nothing(daemon_factory, models: Path):
    """Small files take the batched path: hashed together, recorded and auto-imported a batch to a transaction.
    A kill in the middle leaves each file whole, and the restart finishes the work: every file one model, with
    its own digest, none left behind in the queue."""
    count = 3000  # three batches at least: the kill lands with a batch or more still to go
    paths = [write_model(models / "loras" / f"d{i % 15:02d}" / f"small-{i:04d}.safetensors", size=2048)
             for i in range(count)]
    d: Daemon = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict", settle=0.1)
    kill_at = random.randint(50, 600)

    async def models_count() -> int:
        return (await d.db.rows("SELECT count(*) FROM models"))[0][0]

    async def far_enough() -> int | None:
        n = await models_count()
        return n if n >= kill_at else None

    await poll(far_enough, f"{kill_at} files imported", timeout=120)
    d.kill()
    # As the kill left it (rows still `hashing` are fine until the restart): each file whole, a model with its own
    # digest and its search row, or a row, never both; what was hashed has its file's digest.
    digest = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert await d.db.damage() == []
    at_kill = dict(await d.db.rows("SELECT path, sha256 FROM models"))
    assert kill_at <= len(at_kill) < count, "the kill did not land inside the first index"
    assert at_kill == {p: digest[p] for p in at_kill}
    assert {s for (s,) in await d.db.rows(SEARCHABLE)} == set(at_kill.values())
    queued = dict(await d.db.rows("SELECT path, status FROM pending_import"))
    assert not set(queued) & set(at_kill), "a file is both a model and a row"
    hashed = dict(await d.db.rows("SELECT path, sha256 FROM pending_import WHERE status IN ('ready', 'conflict')"))
    assert hashed == {p: digest[p] for p in hashed}
    assert set(queued.values()) <= {"settling", "hashing", "ready"}, queued

    d = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict", settle=0.1,
                             data_dir=d.data_dir)

    async def all_imported() -> bool:
        return await models_count() == count and not await d.pending()

    await poll(all_imported, f"all {count} files imported after the restart", timeout=120)
    await assert_consistent(d.db)
    imported = dict(await d.db.rows("SELECT path, sha256 FROM models"))
    assert imported == digest
    searchable = {s for (s,) in await d.db.rows(SEARCHABLE)}
    assert searchable == set(imported.values())
    # Nothing whole at the kill is read again: the rows left ready are imported as they are, the models kept.
    status = await d.wait_idle()
    assert status["session"]["files_hashed"] == count - len(at_kill) - len(hashed), (len(at_kill), len(hashed))


# -- 3. the database locked by another process ---------------------------------------------------------------------
LOCK_S = 3.0


async def test_writes_wait_for_a_database_locked_by_another_process(daemon: Daemon, models: Path):
    sha = await one_model(daemon, models)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(daemon.data_dir / "library.sqlite3", isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            release.wait(LOCK_S)  # the length of the fault: another program holding the lock for seconds
            conn.execute("COMMIT")
        finally:
            conn.close()

    async def hold_write_lock() -> None:
        """On PostgreSQL, another daemon's long write: it holds the one write lock every daemon takes."""
        assert daemon.db.url is not None
        conn = await asyncpg.connect(daemon.db.url)
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                locked.set()
                await asyncio.sleep(LOCK_S)  # the length of the fault
        finally:
            await conn.close()

    holder = asyncio.create_task(
        asyncio.to_thread(hold_lock) if daemon.db.backend == "sqlite" else hold_write_lock())
    assert await asyncio.to_thread(locked.wait, DEADLINE_S)
    started = time.monotonic()
    patch = asyncio.create_task(daemon.request("PATCH", f"/api/models/{sha}", json={"name": "renamed under lock"}))
    dropped = write_model(models / "vae" / "dropped-under-lock.safetensors")
    for path in ("/api/status", "/api/models", f"/api/models/{sha}", "/api/pending"):
        status, body = await daemon.request("GET", path)
        assert status == 200, (path, status, body)
    assert time.monotonic() - started < LOCK_S and not patch.done(), "the write did not wait for the lock"
    await holder
    status, body = await patch
    assert status == 200, body
    assert body["name"] == "renamed under lock"
    assert time.monotonic() - started >= LOCK_S * 0.9
    row = await daemon.wait_row(dropped)
    assert row["sha256"] == hashlib.sha256(dropped.read_bytes()).hexdigest()
    await assert_consistent(daemon.db)


# -- 4. a watched folder deleted, re-created, made unreadable ------------------------------------------------------
async def test_deleted_and_recreated_root_is_watched_again(daemon_factory, tmp_path: Path):
    root = tmp_path / "nas-models"
    first = write_model(root / "loras" / "first.safetensors")
    d: Daemon = await daemon_factory("--models-root", str(root))
    await d.wait_row(first)
    shutil.rmtree(root)

    async def root_is(exists: bool) -> dict | None:
        st = await d.get("/api/status")
        return st if st["roots"][0]["exists"] is exists else None

    await poll(lambda: root_is(False), "the status to say the folder is gone")
    second = write_model(root / "loras" / "second.safetensors")
    await d.wait_row(second)
    st = await poll(lambda: root_is(True), "the folder to be back")
    assert {r["mode"] for r in st["roots"]} <= {"native", "polling"}, st["roots"]
    third = write_model(root / "vae" / "third.safetensors")
    await d.wait_row(third)
    await assert_consistent(d.db)




async def test_unreadable_root_keeps_rows_and_is_picked_up_again(daemon_factory, tmp_path: Path):
    root = tmp_path / "locked-models"
    first = write_model(root / "loras" / "first.safetensors")
    d: Daemon = await daemon_factory("--models-root", str(root), prefix=without_root_powers())
    await d.wait_row(first)
    os.chmod(root / "loras", 0)
    try:
        await d.rescan()
        assert [r["path"] for r in await d.pending()] == [str(first)], "an unreadable folder lost its rows"
        line = r"level=WARNING event=scan.unreadable path=\S*/locked-models/loras .*Permission denied"
        assert re.search(line, d.log()), d.log()
        status = await d.get("/api/status")
        assert status["roots"][0]["exists"] and status["last_scan"]["unreadable"] == 1, status
    finally:
        os.chmod(root / "loras", 0o755)
    second = write_model(root / "loras" / "second.safetensors")
    await d.wait_row(second)  # no walk: the folder's watch outlived the chmod
    await d.rescan()
    assert sorted(r["path"] for r in await d.pending()) == sorted([str(first), str(second)])
    await assert_consistent(d.db)


async def test_unmounted_and_remounted_folder_is_watched_again(daemon_factory, models: Path):
    loras = models / "loras"
    with small_tmpfs(loras, 4096):
        first = write_model(loras / "first.safetensors")
        d: Daemon = await daemon_factory("--models-root", str(models))
        [sha] = await d.import_files(first)
    # unmounted: the folder is an empty mount point now, which proves nothing about the files on the share
    await poll(lambda: asyncio.to_thread(lambda: "event=scan.unmounted" in d.log()), "the unmount to be noticed")
    assert "event=watch.remounted" in d.log()
    assert (await d.get(f"/api/models/{sha}"))["status"] == "ok"
    with small_tmpfs(loras, 4096):
        write_model(loras / "first.safetensors")
        second = write_model(loras / "second.safetensors")
        row = await d.wait_row(second)  # no scan asked for: the daemon saw the mount come back by itself
        assert row["sha256"] == hashlib.sha256(second.read_bytes()).hexdigest()
        third = write_model(loras / "third.safetensors")
        await d.wait_row(third)
        assert (await d.get(f"/api/models/{sha}"))["status"] == "ok"
        assert "event=model.missing" not in d.log()
        await assert_consistent(d.db)
        await d.close()


# -- 5. an inotify watch limit too low for the tree -------------------------------------------------------------
def limited_inotify(tmp_path: Path, watches: int) -> dict[str, str]:
    return {**with_site(tmp_path, WATCH_LIMIT_SITE), "HIKAZE_TEST_INOTIFY_WATCHES": str(watches)}


async def test_watch_limit_too_low_falls_back_to_polling(daemon_factory, models: Path, tmp_path: Path):
    for i in range(20):
        (models / "loras" / f"set-{i:02d}" / "nested").mkdir(parents=True)
    env = limited_inotify(tmp_path, 5)
    d: Daemon = await daemon_factory("--models-root", str(models), "--poll-interval", "0.2", env=env)
    roots = (await d.watching())["roots"]
    assert roots and all(r["mode"] == "partial" for r in roots), roots
    # models, its 3 type folders and 20 sets of 2: the root and four subfolders got the five watches
    assert all("could not watch 39 of 44 folders" in r["note"] and re.search(r"max_(user|inotify)_watches", r["note"])
               for r in roots)
    assert "event=watch.partial" in d.log()
    await d.wait_idle()
    deep = write_model(models / "loras" / "set-17" / "nested" / "deep.safetensors")
    row = await d.wait_row(deep)
    assert row["sha256"] == hashlib.sha256(deep.read_bytes()).hexdigest()
    watched = write_model(models / "checkpoints" / "near-the-top.safetensors")
    await d.wait_row(watched)


async def test_watch_limit_running_out_later_is_noticed_by_the_next_walk(daemon_factory, models: Path,
                                                                         tmp_path: Path):
    env = limited_inotify(tmp_path, 6)  # models and its three type folders take four
    d: Daemon = await daemon_factory("--models-root", str(models), "--poll-interval", "0.2", env=env)
    assert {r["mode"] for r in (await d.watching())["roots"]} == {"native"}
    await d.wait_idle()
    (models / "loras" / "a" / "b" / "c").mkdir(parents=True)  # a and b take the last two watches, c gets none
    await d.rescan()
    roots = (await d.get("/api/status"))["roots"]
    assert {r["mode"] for r in roots} == {"partial"}, roots
    assert all("could not watch 1 of 7 folders" in r["note"] for r in roots), roots
    assert "event=watch.holes" in d.log()
    deep = write_model(models / "loras" / "a" / "b" / "c" / "deep.safetensors")
    row = await d.wait_row(deep)  # no walk this time: only the poller can have seen it
    assert row["sha256"] == hashlib.sha256(deep.read_bytes()).hexdigest()


def kernel_watch_limit(watches: int) -> tuple[str, ...]:
    """A command prefix that runs the daemon in a user namespace of its own whose inotify watch limit
    (`/proc/sys/user/max_inotify_watches`, Linux 5.11+) is `watches`: the real kernel's ENOSPC, for this process
    alone. Skips where unprivileged user namespaces are not allowed."""
    shell = f'echo {watches} > /proc/sys/user/max_inotify_watches && exec "$@"'
    probe = subprocess.run(["unshare", "-Ur", "sh", "-c", shell, "sh", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no user namespace with its own inotify limit here: {probe.stderr.strip()}")
    return ("unshare", "-Ur", "sh", "-c", shell, "sh")


async def test_the_kernels_watch_limit_too_low_gives_partial(daemon_factory, models: Path):
    for i in range(20):
        (models / "loras" / f"set-{i:02d}" / "nested").mkdir(parents=True)
    d: Daemon = await daemon_factory("--models-root", str(models), "--poll-interval", "0.2",
                                     prefix=kernel_watch_limit(5))
    roots = (await d.watching())["roots"]
    assert all(r["mode"] == "partial" and "could not watch 39 of 44 folders" in r["note"]
               and "user.max_inotify_watches = 5" in r["note"] for r in roots), roots
    await d.wait_idle()
    deep = write_model(models / "loras" / "set-17" / "nested" / "deep.safetensors")
    near = write_model(models / "checkpoints" / "near-the-top.safetensors")
    await d.wait_row(deep)
    await d.wait_row(near)


async def test_no_inotify_watch_left_at_all_polls_the_whole_folder(daemon_factory, models: Path, tmp_path: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--poll-interval", "0.2",
                                     env=limited_inotify(tmp_path, 0))
    roots = (await d.watching())["roots"]
    assert [(r["mode"], r["note"]) for r in roots] == [
        ("polling", "native watching failed (inotify watch limit reached); polling every 0.2s")], roots
    await d.wait_idle()
    dropped = write_model(models / "loras" / "dropped.safetensors")
    await d.wait_row(dropped)


async def test_watch_limit_new_folder_where_the_watches_ran_out_is_watched(daemon_factory, models: Path,
                                                                             tmp_path: Path):
    for i in range(3):
        (models / "loras" / f"set-{i}").mkdir()
    env = limited_inotify(tmp_path, 4)  # models, checkpoints, loras, set-0: loras is watched without set-1, set-2
    d: Daemon = await daemon_factory("--models-root", str(models), "--poll-interval", "0.2", env=env)
    roots = (await d.watching())["roots"]
    assert all("could not watch 3 of 7 folders" in r["note"] for r in roots), roots
    await d.wait_idle()
    fresh = write_model(models / "loras" / "fresh" / "inside.safetensors")  # neither watched nor polled at first
    row = await d.wait_row(fresh)  # no scan asked for: the new folder made the daemon plan its watches again
    assert row["sha256"] == hashlib.sha256(fresh.read_bytes()).hexdigest()
    assert re.search(r"watching \S*/models again and re-walking it: the folder \S*/loras/fresh was made", d.log())
    roots = (await d.get("/api/status"))["roots"]
    assert all("could not watch 4 of 8 folders" in r["note"] for r in roots), roots
    later = write_model(models / "loras" / "fresh" / "later.safetensors")
    await d.wait_row(later)


# -- 6. the disk full while writing an image -------------------------------------------------------------------
async def test_disk_full_while_writing_an_image(daemon_factory, models: Path, tmp_path: Path):
    data_dir = tmp_path / "data"
    images = data_dir / "images"
    with small_tmpfs(images, 1024):
        d: Daemon = await daemon_factory("--models-root", str(models), data_dir=data_dir)
        sha = await one_model(d, models)
        status, first = await d.request("POST", f"/api/models/{sha}/images", data=form(small_png((20, 20, 220))))
        assert status == 201, first
        before = {p.name: p.read_bytes() for p in images.glob("*.webp")}
        filler = images / "filler"
        with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):  # up to the last block
            while True:
                f.write(b"\0" * 4096)
        noisy = io.BytesIO()
        Image.effect_noise((1400, 1400), 120).convert("RGB").save(noisy, "PNG")
        status, body = await d.request("POST", f"/api/models/{sha}/images", data=form(noisy.getvalue()))
        assert status == 507, body
        assert "No space left on device" in body["error"] and "Traceback" not in body["error"], body
        filler.unlink()
        assert {p.name: p.read_bytes() for p in images.glob("*.webp")} == before
        assert [i["seq"] for i in (await d.get(f"/api/models/{sha}"))["images"]] == [first["seq"]]
        await assert_consistent(d.db)
        status, again = await d.request("POST", f"/api/models/{sha}/images", data=form(small_png((9, 99, 9))))
        assert status == 201, again
        await assert_consistent(d.db)
        await d.close()


# -- 7. a file rewritten while it is being hashed ---------------------------------------------------------------
async def test_file_rewritten_during_its_hash_never_keeps_the_stale_hash(daemon_factory, models: Path):
    big = models / "checkpoints" / "rewritten.safetensors"
    with big.open("wb") as f:  # sparse: long enough to hash that the rewrite lands mid-read
        f.truncate(768 * 1024**2)
    d: Daemon = await daemon_factory("--models-root", str(models), settle=0.1)
    events, task = await d.events()
    try:
        async def hashing() -> bool:
            return bool(events.of("hash.progress", path=str(big)))

        await poll(hashing, "the hash to be under way", timeout=60)
        with big.open("r+b") as f:
            f.write(hashlib.sha512(b"new content").digest() * 4096)
        expected = await asyncio.to_thread(sha256_of, big)
        row = await d.wait_row(big, timeout=60)
        await d.wait_idle()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert row["sha256"] == expected
    rows = [r for r in await d.pending() if r["path"] == str(big)]
    assert [(r["status"], r["sha256"]) for r in rows] == [("ready", expected)]
    filed = {e.get("sha256") for e in events.of("pending.updated", path=str(big))} - {None}
    assert filed <= {expected}, f"a stale hash was published: {filed}"
    await assert_consistent(d.db)


# -- 8. a task the daemon cannot work without ends -----------------------------------------------------------------
BROKEN_SETTLER_SITE = """
from hikaze_mm.pipeline import settle


async def _broken(self):
    raise RuntimeError("injected: the settler broke")


settle.Settler._run = _broken
"""


async def test_a_broken_essential_task_stops_the_daemon_with_an_error(tmp_path: Path, models: Path):
    """Answering while no longer settling or hashing would hide the fault; exiting non-zero lets systemd's
    Restart=on-failure (or whoever started it) start a fresh daemon."""
    data_dir = tmp_path / "data"
    done = run_cli("serve", "--data-dir", str(data_dir), "--models-root", str(models), "--port", str(free_port()),
                   env=with_site(tmp_path, BROKEN_SETTLER_SITE))
    assert done.returncode == 1, done.stderr
    assert re.search(r"level=CRITICAL event=daemon.failed msg=\"the settler task failed: "
                     r"RuntimeError\('injected: the settler broke'\); stopping", done.stderr), done.stderr
    assert "event=daemon.stopped" in done.stderr
    await assert_consistent(LibraryDb(data_dir, None))


# -- 9. a symlinked folder to / and folders that cannot be listed ---------------------------------------------------
async def last_scan(d: Daemon) -> dict:
    async def over() -> dict | None:
        st = await d.get("/api/status")
        return st["last_scan"] if st["scan"] is None and st["last_scan"] else None

    return await poll(over, "the start-up scan to end")


def inotify_watches(pid: int) -> int:
    """How many inotify watches the process holds, as the kernel lists them."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                lines = Path(f"/proc/{pid}/fdinfo/{fd}").read_text().splitlines()
                count += sum(line.startswith("inotify ") for line in lines)
    return count


async def test_a_link_to_the_filesystem_root_is_not_crawled(daemon_factory, models: Path):
    (models / "loras" / "everything").symlink_to("/")
    (models / "loras" / "processes").symlink_to("/proc")  # not above the link, but a pseudo filesystem
    (models / "vae" / "kernel").symlink_to("/sys/kernel")
    good = write_model(models / "checkpoints" / "good.safetensors")
    d: Daemon = await daemon_factory("--models-root", str(models))
    await d.wait_row(good)
    scan = await last_scan(d)
    assert scan["phase"] == "done" and scan["error"] is None, scan
    # models, its three type folders: nothing from / was walked, let alone /proc or /sys
    assert scan["dirs"] == 4 and scan["skipped"] == 3, scan
    log = d.log()
    assert re.search(r"event=scan.skipped path=\S*/loras/everything .*holds the link", log), log
    assert re.search(r"event=scan.skipped path=\S*/loras/processes .*proc filesystem", log), log
    assert re.search(r"event=scan.skipped path=\S*/vae/kernel .*sysfs filesystem", log), log
    status = await d.get("/api/status")
    assert status["linked_folders"] == [] and {r["mode"] for r in status["roots"]} == {"native"}, status
    assert d.proc is not None and inotify_watches(d.proc.pid) == 4
    assert [r["path"] for r in await d.pending()] == [str(good)]
    later = write_model(models / "vae" / "later.safetensors")
    await d.wait_row(later)  # still watched
    await d.rescan()
    assert (await d.get("/api/status"))["last_scan"]["dirs"] == 4


async def test_unlistable_folder_below_a_linked_folder_is_counted_not_fatal(daemon_factory, models: Path,
                                                                              tmp_path: Path):
    shared = tmp_path / "nas" / "loras"
    beside = write_model(shared / "beside-the-locked-one.safetensors")
    write_model(shared / "locked" / "inside.safetensors")
    (models / "loras" / "nas").symlink_to(shared)
    plain = write_model(models / "checkpoints" / "plain.safetensors")
    os.chmod(shared / "locked", 0)
    try:
        d: Daemon = await daemon_factory("--models-root", str(models), "--poll-interval", "0.2",
                                         prefix=without_root_powers())
        await d.wait_row(plain)
        await d.wait_row(models / "loras" / "nas" / beside.name)
        scan = await last_scan(d)
        assert scan["phase"] == "done" and scan["unreadable"] == 1, scan
        assert re.search(r"event=scan.unreadable path=\S*/loras/nas/locked .*Permission denied", d.log())
        linked = (await d.get("/api/status"))["linked_folders"]
        assert [(f["path"], f["mode"]) for f in linked] == [(str(models / "loras" / "nas"), "partial")], linked
    finally:
        os.chmod(shared / "locked", 0o755)
    # the locked folder is polled: once it can be read, what is in it is found without a walk
    await d.wait_row(models / "loras" / "nas" / "locked" / "inside.safetensors")
    dropped = write_model(shared / "dropped-later.safetensors")
    await d.wait_row(models / "loras" / "nas" / dropped.name)


async def test_polling_snapshot_meets_unlistable_folders(daemon_factory, models: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    write_model(outside / "behind-the-link.safetensors")
    (models / "loras" / "linked").symlink_to(outside)
    write_model(models / "loras" / "closed" / "inner.safetensors")
    good = write_model(models / "vae" / "good.safetensors")
    os.chmod(outside, 0)
    os.chmod(models / "loras" / "closed", 0)
    try:
        d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "polling",
                                         "--poll-interval", "0.2", prefix=without_root_powers())
        await d.wait_row(good)
        scan = await last_scan(d)
        assert scan["phase"] == "done" and scan["unreadable"] == 2, scan
        status = await d.get("/api/status")
        assert {r["mode"] for r in status["roots"]} == {"polling"}, status["roots"]
        assert all("polled folders that cannot be listed: 1 " in r["note"] for r in status["roots"]), status
        assert [f["mode"] for f in status["linked_folders"]] == ["polling"], status["linked_folders"]
        assert re.search(r"event=watch.unreadable path=\S*/elsewhere .*Permission denied", d.log()), d.log()
    finally:
        os.chmod(outside, 0o755)
        os.chmod(models / "loras" / "closed", 0o755)
    # both pollers kept running through the folders they could not list
    await d.wait_row(models / "loras" / "linked" / "behind-the-link.safetensors")
    await d.wait_row(models / "loras" / "closed" / "inner.safetensors")
    assert all(o["mode"] == "polling" for o in (await d.get("/api/status"))["linked_folders"])


async def test_a_polled_folder_that_turns_unreadable_keeps_its_rows(daemon_factory, models: Path):
    first = write_model(models / "loras" / "nas" / "first.safetensors")
    d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "polling", "--poll-interval", "0.2",
                                     prefix=without_root_powers())
    await d.wait_row(first)
    os.chmod(models / "loras" / "nas", 0)
    try:
        async def noted() -> bool:
            roots = (await d.get("/api/status"))["roots"]
            return all("polled folders that cannot be listed: 1 " in (r["note"] or "") for r in roots)

        await poll(noted, "the status to count the folder the poller cannot list")
        for name in ("later", "later-still"):  # polls went on: a deletion would have been reported by now
            await d.wait_row(write_model(models / "vae" / f"{name}.safetensors"))
        assert str(first) in [r["path"] for r in await d.pending()]
    finally:
        os.chmod(models / "loras" / "nas", 0o755)
    second = write_model(models / "loras" / "nas" / "second.safetensors")
    await d.wait_row(second)
    assert str(first) in [r["path"] for r in await d.pending()] and "event=file.gone" not in d.log()


async def test_a_polled_share_unmounted_and_mounted_again_loses_nothing(daemon_factory, models: Path):
    loras = models / "loras"
    with small_tmpfs(loras, 4096):
        first = write_model(loras / "first.safetensors")
        d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "polling",
                                         "--poll-interval", "0.2")
        [sha] = await d.import_files(first)
    # the poller finds an empty folder on another filesystem, which proves nothing about the files on the share
    await poll(lambda: asyncio.to_thread(lambda: "another filesystem is mounted here now" in d.log()),
               "the poller to notice the unmount")
    for name in ("later", "later-still"):  # polls went on: a deletion would have been reported by now
        await d.wait_row(write_model(models / "vae" / f"{name}.safetensors"))
    assert (await d.get(f"/api/models/{sha}"))["status"] == "ok"
    with small_tmpfs(loras, 4096):
        write_model(loras / "first.safetensors")
        second = write_model(loras / "second.safetensors")
        await d.wait_row(second)
        assert (await d.get(f"/api/models/{sha}"))["status"] == "ok"
        assert "event=model.missing" not in d.log() and "event=file.gone" not in d.log()
        await assert_consistent(d.db)
        await d.close()


async def test_a_failed_scan_makes_the_scan_command_fail(tmp_path: Path, models: Path, databases: Databases):
    write_model(models / "loras" / "never-reached.safetensors")
    done = run_cli("scan", "--models-root", str(models), "--data-dir", str(tmp_path / "data"),
                   *await databases.args(tmp_path / "data"), env=broken_walk(tmp_path, 1))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "hikaze-mm: the scan failed: RuntimeError: injected: the walk broke" in done.stderr
    assert "Traceback" in done.stderr and "event=scan.failed" in done.stderr  # the log line keeps the whole story


async def test_a_failed_scan_ends_with_its_error_in_the_status(daemon_factory, models: Path, tmp_path: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), env=broken_walk(tmp_path, 2))
    await d.wait_idle()
    events, task = await d.events()
    try:
        await d.call("POST", "/api/scan", expect=202)

        async def failed() -> dict | None:
            st = await d.get("/api/status")
            return st["last_scan"] if st["scan"] is None and st["last_scan"]["phase"] != "done" else None

        scan = await poll(failed, "the broken scan to end")
        assert scan["phase"] == "failed" and "injected: the walk broke" in scan["error"], scan
        assert scan["finished_at"] is not None
        async def told() -> list[dict]:
            return events.of("scan.progress", phase="failed")

        await poll(told, "the event that says so")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "event=scan.failed" in d.log()
    good = write_model(models / "loras" / "after.safetensors")
    await d.rescan()
    await d.wait_row(good)
    assert (await d.get("/api/status"))["last_scan"]["phase"] == "done"
