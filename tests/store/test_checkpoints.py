"""WAL checkpoints in the background: the writer does not copy pages back itself (but past a backstop), what was
written reaches the database file without a close, and a WAL that started over is cut back to a small size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store_backends import sqlite_store

from conftest import poll
from hikaze_mm.pipeline.walk import FileStat
from hikaze_mm.store.sqlite.checkpoints import BACKSTOP_PAGES, KEPT_WAL_BYTES


async def test_writes_are_copied_into_the_database_file_by_the_background(tmp_path: Path) -> None:
    db = tmp_path / "library.sqlite3"
    store = sqlite_store(db)
    await store.open()
    try:
        writer = store.db._db
        assert writer is not None
        assert list(await writer.execute_fetchall("PRAGMA wal_autocheckpoint")) == [(BACKSTOP_PAGES,)]
        assert list(await writer.execute_fetchall("PRAGMA journal_size_limit")) == [(KEPT_WAL_BYTES,)]
        files = [(f"/m/loras/set{i % 7}/lora-{i:05d}-{'x' * 80}.safetensors", "loras", FileStat(i, i, i, 1))
                 for i in range(3000)]
        for start in range(0, len(files), 100):
            await store.pending.add_pending_many(files[start:start + 100])
        copy = tmp_path / "copy.sqlite3"

        async def in_the_file() -> int | None:
            # Another process reading the database file alone (the WAL left out) sees every row.
            copy.write_bytes(db.read_bytes())
            conn = sqlite3.connect(copy)
            try:
                (rows,) = conn.execute("SELECT count(*) FROM pending_import").fetchone()
            # Not even the tables in the file yet, or a copy taken while a checkpoint was writing pages into the
            # file (torn: "malformed"); the next look copies it again.
            except sqlite3.DatabaseError:
                return None
            finally:
                conn.close()
            return rows if rows == len(files) else None

        await poll(in_the_file, "every row copied into the database file")
        checkpoints = store.db.checkpoints
        assert checkpoints is not None and checkpoints.last is not None and checkpoints.last[0] == 0
    finally:
        await store.close()
    assert store.db.checkpoints is None
    assert not (tmp_path / "library.sqlite3-wal").exists()
