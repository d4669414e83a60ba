"""Re-hashing the library's files against the sha256 recorded for them, to find bit rot and files edited in place."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hikaze_mm.pipeline.devices import Media
from hikaze_mm.pipeline.hashing import DeviceLock, DeviceLocks, FileChanged, hash_file
from hikaze_mm.store.sqlite.checks import read_only


@dataclass(frozen=True)
class Recorded:
    sha256: str
    path: str
    size: int
    mtime_ns: int | None


@dataclass(frozen=True)
class Finding:
    path: str
    problem: str  # missing, mismatch, unreadable, changing
    detail: str


def recorded_files(db: Path) -> list[Recorded]:
    """Every model's file and every copy, as the database last saw them."""
    with read_only(db) as conn:
        rows = conn.execute(
            "SELECT sha256, path, size_bytes, mtime_ns FROM models "
            "UNION ALL SELECT sha256, path, size_bytes, mtime_ns FROM model_copies ORDER BY 2"
        ).fetchall()
    return [Recorded(*r) for r in rows]


async def recorded_files_shared(url: str, host: str) -> list[Recorded]:
    """`recorded_files` of this host in a shared PostgreSQL library (other hosts' files are theirs to verify)."""
    from hikaze_mm.store.postgres.database import connect

    conn = await connect(url)
    try:
        rows = await conn.fetch(
            "SELECT sha256, path, size_bytes, mtime_ns FROM models WHERE host = $1 "
            "UNION ALL SELECT sha256, path, size_bytes, mtime_ns FROM model_copies WHERE host = $1 ORDER BY 2", host)
    finally:
        await conn.close()
    return [Recorded(*r) for r in rows]


def to_check(files: list[Recorded], changed_only: bool) -> tuple[list[tuple[Recorded, int]], list[Finding]]:
    """The files to re-hash with their sizes now, and the ones already known to be gone."""
    todo: list[tuple[Recorded, int]] = []
    gone: list[Finding] = []
    for f in files:
        try:
            st = os.stat(f.path)
        except FileNotFoundError:
            gone.append(Finding(f.path, "missing", f"recorded as {f.sha256}"))
            continue
        except OSError as e:
            gone.append(Finding(f.path, "unreadable", e.strerror or str(e)))
            continue
        if changed_only and st.st_size == f.size and st.st_mtime_ns == f.mtime_ns:
            continue
        todo.append((f, st.st_size))
    return todo, gone


def rehash(
    todo: list[tuple[Recorded, int]], workers: int, on_bytes: Callable[[int], None], media: Media | None = None
) -> list[Finding]:
    """`media`: files on a spinning disk or a network share are read one at a time per disk or share."""
    cancel = threading.Event()
    device_lock = DeviceLocks(media) if media is not None else None
    with ThreadPoolExecutor(workers, thread_name_prefix="sha256") as sha, \
            ThreadPoolExecutor(workers, thread_name_prefix="verify") as readers:
        jobs = [readers.submit(_check, f, sha, cancel, on_bytes, device_lock) for f, _ in todo]
        try:
            return [finding for job in jobs if (finding := job.result()) is not None]
        except BaseException:
            cancel.set()  # Ctrl-C: the running hashes stop at their next chunk, the queued ones never start
            readers.shutdown(cancel_futures=True)
            raise


def _check(f: Recorded, sha: ThreadPoolExecutor, cancel: threading.Event, on_bytes: Callable[[int], None],
           device_lock: DeviceLock | None) -> Finding | None:
    reported = 0

    def progress(done: int, _total: int) -> None:
        nonlocal reported
        on_bytes(done - reported)
        reported = done

    try:
        result = hash_file(f.path, None, sha, cancel, progress, device_lock)
    except FileChanged:
        return Finding(f.path, "changing", "changed while it was read; run verify again once it is quiet")
    except FileNotFoundError:
        return Finding(f.path, "missing", f"recorded as {f.sha256}")
    except OSError as e:
        return Finding(f.path, "unreadable", e.strerror or str(e))
    if result.sha256 != f.sha256:
        return Finding(f.path, "mismatch", f"recorded {f.sha256}, now {result.sha256}")
    return None
