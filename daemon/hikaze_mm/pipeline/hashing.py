"""One read pass per file feeds SHA-256, BLAKE3 and the header probe.

SHA-256 is the slow one, so while a core is free it runs in a helper thread on chunk k while the worker reads
chunk k+1 and feeds it to BLAKE3; a pass costs about what SHA-256 alone costs. When every core has a file of its
own, each worker hashes SHA-256 itself (the helper would only take turns with the other workers). No mmap: a file
that shrinks under a mapping kills the process with SIGBUS. The file is stat-ed before, while and after reading;
if it moved, the result is thrown away.

A file on a spinning disk or a network share is read while holding its device's lock, so two workers never make
the disk seek between two files. Data in the page cache costs the device nothing: each chunk is first asked for
with RWF_NOWAIT, which answers only from the cache, and the lock is taken at the first chunk that must come from
the device and kept until the file is done. (A miss still starts the kernel's readahead of that chunk's first
pages: one short read per file outside the lock, the price of never waiting with the data already in memory.)
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import blake3

from hikaze_mm.inspect.probe import Header, HeaderProbe
from hikaze_mm.pipeline.devices import Media, cores
from hikaze_mm.pipeline.walk import FileStat

CHUNK = 4 * 1024 * 1024
# Up to this size SHA-256 runs in the reader thread: handing a small file's bytes to the helper and waiting for it
# costs more than hashing them (a library of small embeddings and LoRAs is thousands of such files).
INLINE_SHA_BYTES = 1024 * 1024
PROGRESS_EVERY_S = 0.25
CANCEL_CHECK_S = 0.25  # how soon a worker waiting for a busy device notices that the pool is closing
RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)  # Linux only


class HashCancelled(Exception):
    pass


class FileChanged(Exception):
    """The file's size, mtime or identity moved while it was hashed; the digest is not of a stable file."""


@dataclass(frozen=True)
class HashResult:
    sha256: str
    blake3: str
    stat: FileStat
    header: Header
    seconds: float


Progress = Callable[[int, int], None]
T = TypeVar("T")
# (st_dev, path) -> the lock to read the file under, None when it needs none
DeviceLock = Callable[[int, str], "threading.Lock | None"]


class _SerialReader:
    """Reads a file from a device that is read one file at a time: from the page cache without the device's lock,
    and from the first chunk the cache does not hold to the end under it. Reads go on from the file's position
    (offset -1), as an unlocked read does."""

    def __init__(self, fd: int, lock: threading.Lock, cancel: threading.Event, path: str):
        self.fd = fd
        self.lock = lock
        self.cancel = cancel
        self.path = path
        self.held = False

    def readinto(self, buf: memoryview) -> int:
        if not self.held and RWF_NOWAIT is not None:
            try:
                # 0 only at the end: a read that finds nothing in the cache fails with EAGAIN instead.
                return os.preadv(self.fd, [buf], -1, RWF_NOWAIT)
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise  # else a filesystem that cannot tell what is cached: read it under the lock
        if not self.held:
            while not self.lock.acquire(timeout=CANCEL_CHECK_S):
                if self.cancel.is_set():
                    raise HashCancelled(self.path)
            self.held = True
        return os.readv(self.fd, [buf])

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()


_local = threading.local()


def _thread_buffers() -> tuple[memoryview, memoryview]:
    """Two chunk buffers per reader thread, kept for its next file: fresh ones cost 8 MiB of page faults per file,
    and the faults of threads in one process queue on the same memory map lock."""
    buffers: tuple[memoryview, memoryview] | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = (memoryview(bytearray(CHUNK)), memoryview(bytearray(CHUNK)))
    return buffers


def probe_file(path: str, expected: FileStat) -> Header:
    """The file's header alone, for a file whose hashes are known already (another host of a shared library read
    it): the first chunks it needs, not the whole file. FileChanged if the file is not as `expected`."""
    probe = HeaderProbe()
    with open(path, "rb", buffering=0) as f:
        if FileStat.of(os.fstat(f.fileno())) != expected:
            raise FileChanged(path)
        while not probe.done and (chunk := f.read(CHUNK)):
            probe.feed(memoryview(chunk))
    return probe.finish()


def hash_file(
    path: str,
    expected: FileStat | None,
    sha_executor: ThreadPoolExecutor,
    cancel: threading.Event,
    progress: Progress | None = None,
    device_lock: DeviceLock | None = None,
    core_free: Callable[[], bool] | None = None,
) -> HashResult:
    """`core_free` says, chunk by chunk, whether a core is idle for SHA-256 to run beside the reading thread; when
    every core has a file of its own, the helper thread would only take turns with them, and its hand-offs and the
    chunks it reads from another core's cache cost a tenth of the throughput."""
    started = time.monotonic()
    before = os.stat(path)
    if expected is not None and FileStat.of(before) != expected:
        raise FileChanged(path)
    lock = device_lock(before.st_dev, path) if device_lock is not None else None
    sha = hashlib.sha256()
    b3 = blake3.blake3()
    probe = HeaderProbe()
    buffers = _thread_buffers()
    pending: Future[None] | None = None
    done = 0
    last_report = started
    with open(path, "rb", buffering=0) as f:
        opened = os.fstat(f.fileno())
        total = opened.st_size
        reader = _SerialReader(f.fileno(), lock, cancel, path) if lock is not None else f
        inline = total <= INLINE_SHA_BYTES
        i = 0
        try:
            while True:
                buf = buffers[i & 1]
                n = reader.readinto(buf)
                if not n:
                    break
                chunk = buf[:n]
                b3.update(chunk)
                probe.feed(chunk)
                if pending is not None:
                    pending.result()
                    pending = None
                if inline or (core_free is not None and not core_free()):
                    sha.update(chunk)
                else:
                    pending = sha_executor.submit(sha.update, chunk)
                done += n
                i += 1
                if cancel.is_set():
                    raise HashCancelled(path)
                now = time.monotonic()
                if progress is not None and now - last_report >= PROGRESS_EVERY_S:
                    last_report = now
                    progress(done, total)
        finally:
            if pending is not None:
                pending.result()
            if isinstance(reader, _SerialReader):
                reader.release()
        after_read = os.fstat(f.fileno())
    after_close = os.stat(path)
    snapshots = {FileStat.of(s) for s in (before, opened, after_read, after_close)}
    if len(snapshots) != 1 or done != before.st_size:
        raise FileChanged(path)
    if progress is not None:
        progress(done, total)
    return HashResult(sha.hexdigest(), b3.hexdigest(), FileStat.of(before), probe.finish(), time.monotonic() - started)


class DeviceLocks:
    """One lock per spinning disk or network share, which its files are read under. Keyed by the disk (or the
    share), so two partitions of one disk share it."""

    def __init__(self, media: Media):
        self.media = media
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, st_dev: int, path: str) -> threading.Lock | None:
        medium = self.media.of_device(st_dev, path)
        if not medium.serial:
            return None
        with self._guard:
            return self._locks.setdefault(medium.name, threading.Lock())


class HashPool:
    """`workers` files hashed at once, each with its own SHA-256 helper thread; with `media`, files on a spinning
    disk or a network share are read one at a time per device (page-cached data aside)."""

    def __init__(self, workers: int, media: Media | None = None):
        self.workers = workers
        self._device_lock = DeviceLocks(media) if media is not None else None
        self._readers = ThreadPoolExecutor(workers, thread_name_prefix="hash")
        self._sha = ThreadPoolExecutor(workers, thread_name_prefix="sha256")
        self._cancel = threading.Event()
        self._cores = cores()
        self.active: dict[str, tuple[int, int]] = {}  # path -> (bytes done, total)

    async def hash(self, path: str, expected: FileStat | None, on_progress: Progress | None = None) -> HashResult:
        loop = asyncio.get_running_loop()

        def report(done: int, total: int) -> None:
            loop.call_soon_threadsafe(self._progress, path, done, total, on_progress)

        self.active[path] = (0, expected.size if expected else 0)
        try:
            return await loop.run_in_executor(
                self._readers, hash_file, path, expected, self._sha, self._cancel, report,
                self._device_lock, self._core_free,
            )
        finally:
            self.active.pop(path, None)

    async def hash_many(
        self, files: list[tuple[str, FileStat]], then: Callable[[str, HashResult], T]
    ) -> list[tuple[HashResult, T] | FileChanged | OSError]:
        """Small files one after another in one worker thread, each followed by `then` (looking beside it) in the
        same thread: for a file of a few kilobytes a hand-off to a thread and back costs more than the hash. Each
        file fails on its own; a closing pool cancels the lot."""

        def run() -> list[tuple[HashResult, T] | FileChanged | OSError]:
            done: list[tuple[HashResult, T] | FileChanged | OSError] = []
            for path, st in files:
                try:
                    result = hash_file(path, st, self._sha, self._cancel, None, self._device_lock)
                    done.append((result, then(path, result)))
                except (FileChanged, OSError) as e:
                    done.append(e)
            return done

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def _core_free(self) -> bool:
        return len(self.active) < self._cores  # (read from a worker thread: a dict's length is one step)

    def _progress(self, path: str, done: int, total: int, on_progress: Progress | None) -> None:
        if path in self.active:
            self.active[path] = (done, total)
            if on_progress is not None:
                on_progress(done, total)

    def close(self) -> None:
        """Abandon running hashes at their next chunk and wait for the threads to leave."""
        self._cancel.set()
        self._readers.shutdown(wait=True, cancel_futures=True)
        self._sha.shutdown(wait=True)
