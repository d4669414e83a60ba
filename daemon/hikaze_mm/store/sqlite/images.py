"""The rows of images on SQLite (the files are the library's): models' images with their never-reused numbers,
and pending rows' images."""

from __future__ import annotations

import time

from hikaze_mm.store.sqlite.database import Database, first_row
from hikaze_mm.store.sqlite.rows import IN_JSON, INSERT_IMAGE, json_list

KEYS_CHUNK = 500  # far below SQLite's limit of bound values


class SQLiteImages:
    def __init__(self, db: Database):
        self._db = db

    async def reserve_image_seqs(self, sha256: str, count: int) -> list[int]:
        """Image numbers for a model, taken for good whether or not they end up used."""
        if count <= 0:
            return []
        async with self._db.write() as db:
            await db.execute("INSERT OR IGNORE INTO image_seq (sha256, next_seq) VALUES (?, 0)", (sha256,))
            (next_seq,) = await first_row(
                db, "UPDATE image_seq SET next_seq = next_seq + ? WHERE sha256 = ? RETURNING next_seq",
                (count, sha256),
            )
        return list(range(next_seq - count, next_seq))

    async def add_image(self, sha256: str, seq: int, width: int, height: int) -> bool:
        async with self._db.write() as db:
            if await first_row(db, "SELECT 1 FROM models WHERE sha256 = ?", (sha256,)) is None:
                return False
            await db.execute(INSERT_IMAGE, (sha256, seq, width, height, time.time()))
        return True

    async def delete_image(self, sha256: str, seq: int) -> bool:
        async with self._db.write() as db:
            deleted = await first_row(
                db, "DELETE FROM images WHERE sha256 = ? AND seq = ? RETURNING seq", (sha256, seq)
            )
            await db.execute("UPDATE models SET cover_seq = NULL WHERE sha256 = ? AND cover_seq = ?", (sha256, seq))
        return deleted is not None

    async def set_cover(self, sha256: str, seq: int) -> bool:
        async with self._db.write() as db:
            if await first_row(db, "SELECT 1 FROM images WHERE sha256 = ? AND seq = ?", (sha256, seq)) is None:
                return False
            await db.execute("UPDATE models SET cover_seq = ?, updated_at = ? WHERE sha256 = ?",
                             (seq, time.time(), sha256))
        return True

    async def image_exists(self, sha256: str, seq: int) -> bool:
        return await self._db.one("SELECT 1 FROM images WHERE sha256 = ? AND seq = ?", (sha256, seq)) is not None

    async def model_image_count(self, sha256: str) -> int:
        row = await self._db.one("SELECT count(*) FROM images WHERE sha256 = ?", (sha256,), fresh=True)
        return int(row[0])

    async def pending_images(self, pending_id: int) -> list[tuple[int, int, int]]:
        rows = await self._db.all("SELECT seq, width, height FROM pending_images WHERE pending_id = ? ORDER BY seq",
                                  (pending_id,), fresh=True)
        return [(seq, width, height) for seq, width, height in rows]

    async def with_pending_images(self, ids: list[int]) -> set[int]:
        """Which of these pending rows have images."""
        return {r[0] for r in await self._db.all(
            f"SELECT DISTINCT pending_id FROM pending_images WHERE pending_id IN {IN_JSON}", (json_list(ids),),
            fresh=True)}

    async def add_pending_image(self, pending_id: int, seq: int, width: int, height: int, source: str) -> bool:
        async with self._db.write() as db:
            if await first_row(db, "SELECT 1 FROM pending_import WHERE id = ?", (pending_id,)) is None:
                return False
            await db.execute(
                "INSERT OR REPLACE INTO pending_images (pending_id, seq, width, height, source, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (pending_id, seq, width, height, source, time.time()),
            )
        return True

    async def pending_image_exists(self, pending_id: int, seq: int) -> bool:
        return await self._db.one("SELECT 1 FROM pending_images WHERE pending_id = ? AND seq = ?",
                                  (pending_id, seq)) is not None

    async def image_keys_among(
        self, models: set[tuple[str, int]], pending: set[tuple[int, int]]
    ) -> tuple[set[tuple[str, int]], set[tuple[int, int]]]:
        """Which of these (sha256, seq) and (pending id, seq) have an image row."""
        found_models: set[tuple[str, int]] = set()
        shas = sorted({sha for sha, _ in models})
        for start in range(0, len(shas), KEYS_CHUNK):
            chunk = shas[start:start + KEYS_CHUNK]
            rows = await self._db.all(f"SELECT sha256, seq FROM images WHERE sha256 IN ({', '.join('?' * len(chunk))})",
                                      tuple(chunk))
            found_models.update(key for key in map(tuple, rows) if key in models)
        found_pending: set[tuple[int, int]] = set()
        ids = sorted({pending_id for pending_id, _ in pending})
        for start in range(0, len(ids), KEYS_CHUNK):
            id_chunk = ids[start:start + KEYS_CHUNK]
            rows = await self._db.all("SELECT pending_id, seq FROM pending_images WHERE pending_id IN "
                                      f"({', '.join('?' * len(id_chunk))})", tuple(id_chunk))
            found_pending.update(key for key in map(tuple, rows) if key in pending)
        return found_models, found_pending
