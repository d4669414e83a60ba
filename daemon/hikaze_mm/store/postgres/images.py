"""The rows of images on PostgreSQL (the files are the library's): models' images with their never-reused numbers,
and pending rows' images.

A model's images are the library's, seen from every host. A pending row's are its file's, so of this host only:
a daemon adds to, reads and counts the images of its own rows, never those of another machine's file, even when
handed one of their ids."""

from __future__ import annotations

import time

from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.rows import INSERT_IMAGE, PgContext

# The pending rows' images that belong to this host's rows (`$1` the host).
_OWN_PENDING_IMAGES = "pending_images i JOIN pending_import p ON p.id = i.pending_id AND p.host = $1"


class PgImages:
    def __init__(self, ctx: PgContext):
        self._db = ctx.db
        self._host = ctx.host

    async def reserve_image_seqs(self, sha256: str, count: int) -> list[int]:
        """Image numbers for a model, taken for good whether or not they end up used."""
        if count <= 0:
            return []
        async with self._db.write() as conn:
            next_seq = await conn.fetchval(
                "INSERT INTO image_seq (sha256, next_seq) VALUES ($1, $2) ON CONFLICT (sha256) "
                "DO UPDATE SET next_seq = image_seq.next_seq + EXCLUDED.next_seq RETURNING next_seq", sha256, count)
        return list(range(next_seq - count, next_seq))

    async def add_image(self, sha256: str, seq: int, width: int, height: int) -> bool:
        async with self._db.write() as conn:
            if await conn.fetchval("SELECT 1 FROM models WHERE sha256 = $1", sha256) is None:
                return False
            await conn.execute(INSERT_IMAGE, sha256, seq, width, height, time.time())
        return True

    async def delete_image(self, sha256: str, seq: int) -> bool:
        async with self._db.write() as conn:
            deleted = await conn.fetchval("DELETE FROM images WHERE sha256 = $1 AND seq = $2 RETURNING seq",
                                          sha256, seq)
            await conn.execute("UPDATE models SET cover_seq = NULL WHERE sha256 = $1 AND cover_seq = $2", sha256, seq)
        return deleted is not None

    async def set_cover(self, sha256: str, seq: int) -> bool:
        async with self._db.write() as conn:
            if await conn.fetchval("SELECT 1 FROM images WHERE sha256 = $1 AND seq = $2", sha256, seq) is None:
                return False
            await conn.execute("UPDATE models SET cover_seq = $1, updated_at = $2 WHERE sha256 = $3",
                               seq, time.time(), sha256)
        return True

    async def image_exists(self, sha256: str, seq: int) -> bool:
        return await self._db.value("SELECT 1 FROM images WHERE sha256 = $1 AND seq = $2", (sha256, seq)) is not None

    async def model_image_count(self, sha256: str) -> int:
        return int(await self._db.value("SELECT count(*) FROM images WHERE sha256 = $1", (sha256,)))

    async def pending_images(self, pending_id: int) -> list[tuple[int, int, int]]:
        rows = await self._db.all(f"SELECT i.seq, i.width, i.height FROM {_OWN_PENDING_IMAGES} "
                                  "WHERE i.pending_id = $2 ORDER BY i.seq", (self._host, pending_id))
        return [(seq, width, height) for seq, width, height in rows]

    async def with_pending_images(self, ids: list[int]) -> set[int]:
        """Which of these pending rows have images."""
        return {r[0] for r in await self._db.all(
            f"SELECT DISTINCT i.pending_id FROM {_OWN_PENDING_IMAGES} WHERE i.pending_id = ANY($2::bigint[])",
            (self._host, ids))}

    async def add_pending_image(self, pending_id: int, seq: int, width: int, height: int, source: str) -> bool:
        async with self._db.write() as conn:
            if await conn.fetchval("SELECT 1 FROM pending_import WHERE id = $1 AND host = $2",
                                   pending_id, self._host) is None:
                return False
            await conn.execute(
                "INSERT INTO pending_images (pending_id, seq, width, height, source, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pending_id, seq) DO UPDATE SET width = EXCLUDED.width, "
                "height = EXCLUDED.height, source = EXCLUDED.source, created_at = EXCLUDED.created_at",
                pending_id, seq, width, height, source, time.time())
        return True

    async def pending_image_exists(self, pending_id: int, seq: int) -> bool:
        return await self._db.value(f"SELECT 1 FROM {_OWN_PENDING_IMAGES} WHERE i.pending_id = $2 AND i.seq = $3",
                                    (self._host, pending_id, seq)) is not None

    async def image_keys_among(
        self, models: set[tuple[str, int]], pending: set[tuple[int, int]]
    ) -> tuple[set[tuple[str, int]], set[tuple[int, int]]]:
        """Which of these (sha256, seq) and (pending id, seq) have an image row: one statement each, whatever the
        number of keys (no limit of bound values to stay under here). Every host's pending rows count: in an
        image folder the hosts share, another host's row owns its files."""
        found_models = {(r[0], r[1]) for r in await self._db.all(
            "SELECT sha256, seq FROM images WHERE (sha256, seq) IN "
            "(SELECT * FROM unnest($1::text[], $2::bigint[]))",
            (texts([sha for sha, _ in models]), [seq for _, seq in models]))} if models else set()
        found_pending = {(r[0], r[1]) for r in await self._db.all(
            "SELECT pending_id, seq FROM pending_images WHERE (pending_id, seq) IN "
            "(SELECT * FROM unnest($1::bigint[], $2::bigint[]))",
            ([i for i, _ in pending], [seq for _, seq in pending]))} if pending else set()
        return found_models, found_pending
