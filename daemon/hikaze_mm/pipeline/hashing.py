"""One read pass per file feeds SHA-256, BLAKE3 and the header probe.

SHA-256 is the slow one, so it runs in a helper thread on chunk k while the worker reads chunk k+1 and feeds it
to BLAKE3; a pass costs about what SHA-256 alone costs. No mmap: a file that shrinks under a mapping kills the
process with SIGBUS. The file is stat-ed before, while and after reading; if it moved, the result is thrown away.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import blake3

from hikaze_mm.inspect.probe import Header, HeaderProbe
from hikaze_mm.pipeline.walk import FileStat

CHUNK = 4 * 1024 * 1024
PROGRESS_EVERY_S = 0.25


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


def hash_file(
    path: str,
    expected: FileStat | None,
    sha_executor: ThreadPoolExecutor,
    cancel: threading.Event,
    progress: Progress | None = None,
) -> HashResult:
    started = time.monotonic()
    before = os.stat(path)
    if expected is not None and FileStat.of(before) != expected:
        raise FileChanged(path)
    sha = hashlib.sha256()
    b3 = blake3.blake3()
    probe = HeaderProbe()
    buffers = (memoryview(bytearray(CHUNK)), memoryview(bytearray(CHUNK)))
    pending: Future[None] | None = None
    done = 0
    last_report = started
    with open(path, "rb", buffering=0) as f:
        opened = os.fstat(f.fileno())
        total = opened.st_size
        i = 0
        try:
            while True:
                buf = buffers[i & 1]
                n = f.readinto(buf)
                if not n:
                    break
                chunk = buf[:n]
                b3.update(chunk)
                probe.feed(chunk)
                if pending is not None:
                    pending.result()
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
        after_read = os.fstat(f.fileno())
    after_close = os.stat(path)
    snapshots = {FileStat.of(s) for s in (before, opened, after_read, after_close)}
    if len(snapshots) != 1 or done != before.st_size:
        raise FileChanged(path)
    if progress is not None:
        progress(done, total)
    return HashResult(sha.hexdigest(), b3.hexdigest(), FileStat.of(before), probe.finish(), time.monotonic() - started)


class HashPool:
    """`workers` files hashed at once, each with its own SHA-256 helper thread."""

    def __init__(self, workers: int):
        self.workers = workers
        self._readers = ThreadPoolExecutor(workers, thread_name_prefix="hash")
        self._sha = ThreadPoolExecutor(workers, thread_name_prefix="sha256")
        self._cancel = threading.Event()
        self.active: dict[str, tuple[int, int]] = {}  # path -> (bytes done, total)

    async def hash(self, path: str, expected: FileStat | None, on_progress: Progress | None = None) -> HashResult:
        loop = asyncio.get_running_loop()

        def report(done: int, total: int) -> None:
            loop.call_soon_threadsafe(self._progress, path, done, total, on_progress)

        self.active[path] = (0, expected.size if expected else 0)
        try:
            return await loop.run_in_executor(
                self._readers, hash_file, path, expected, self._sha, self._cancel, report
            )
        finally:
            self.active.pop(path, None)

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
