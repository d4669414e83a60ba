"""One read pass gives both digests and the probe, whatever the file's size: small files hash SHA-256 in the
reader thread, larger ones hand each chunk to the SHA-256 helper while BLAKE3 and the probe take the next."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import blake3
import pytest

from hikaze_mm.pipeline.hashing import CHUNK, INLINE_SHA_BYTES, hash_file


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("size", [0, 1, 2500, INLINE_SHA_BYTES, INLINE_SHA_BYTES + 1, 2 * CHUNK + 3])
def test_both_digests_are_the_bytes_digests_at_every_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    with CountingExecutor() as sha:
        result = hash_file(str(path), None, sha, threading.Event())
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.blake3 == blake3.blake3(data).hexdigest()
    chunks = -(-size // CHUNK)
    assert sha.submitted == (0 if size <= INLINE_SHA_BYTES else chunks), "small files never wait for the helper"


def test_sha256_runs_beside_the_reader_only_while_a_core_is_free(tmp_path: Path) -> None:
    """With every core hashing a file of its own, the helper would only take turns with them: chunk by chunk, the
    reader hashes SHA-256 itself then, and hands it over again once a core is free; the digest is the same."""
    data = os.urandom(4 * CHUNK + 5)
    path = tmp_path / "big.safetensors"
    path.write_bytes(data)
    free = iter([True, False, False, True, False])  # one answer per chunk
    with CountingExecutor() as sha:
        result = hash_file(str(path), None, sha, threading.Event(), core_free=lambda: next(free))
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.blake3 == blake3.blake3(data).hexdigest()
    assert sha.submitted == 2
    with CountingExecutor() as sha:
        assert hash_file(str(path), None, sha, threading.Event(), core_free=lambda: False).sha256 == result.sha256
    assert sha.submitted == 0
