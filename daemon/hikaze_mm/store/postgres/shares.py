"""Files on a share that several hosts of a shared library mount (a NAS): hashed by one host, their hashes used by
the others.

Each host records its own rows for such a file (its path is its own), so everything else about files stays per
host; only the reading is shared. A share's file is named by (share, path in it) on every host: this host's
folders are `shared_roots` (its folder -> the share's name), and every host's are in the table of that name, so a
row another host recorded can be recognised here. A host about to hash one claims it first; the others wait for
its hashes while the claim is fresh (it expires, so a host that stopped halfway holds no one up for long)."""

from __future__ import annotations

import os
import time

from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.records import FileStat

CLAIM_S = 600.0  # a claim holds this long, plus the time to read the file at 10 MB/s
CLAIM_BYTES_PER_S = 10e6

# Rows of any host whose file is (share $1, path in it $2) with this size and mtime ($3, $4) and whose hashes are
# known: pending rows, models and copies, each found by its (host, path) index at each host's folder of the share.
_KNOWN = """
WITH places AS (SELECT host, root || '/' || $2 AS path FROM shared_roots WHERE share = $1)
SELECT sha256, blake3 FROM (
    SELECT p.sha256, p.blake3 FROM pending_import p JOIN places w ON (w.host, w.path) = (p.host, p.path)
        WHERE p.size_bytes = $3 AND p.mtime_ns = $4 AND p.sha256 IS NOT NULL
    UNION ALL SELECT m.sha256, m.blake3 FROM models m JOIN places w ON (w.host, w.path) = (m.host, m.path)
        WHERE m.size_bytes = $3 AND m.mtime_ns = $4
    UNION ALL SELECT c.sha256, m.blake3 FROM model_copies c JOIN places w ON (w.host, w.path) = (c.host, c.path)
        JOIN models m ON m.sha256 = c.sha256 WHERE c.size_bytes = $3 AND c.mtime_ns = $4
) found WHERE blake3 IS NOT NULL LIMIT 1
"""


class PgShares:
    def __init__(self, ctx: PgContext):
        self._ctx = ctx
        self._roots: list[tuple[str, str]] = []  # (folder, share), the longest folder first

    async def set_shared_roots(self, roots: dict[str, str]) -> None:
        """This host's share folders, as the other hosts will look them up."""
        self._roots = sorted(roots.items(), key=lambda r: len(r[0]), reverse=True)
        async with self._ctx.db.write(library=False) as conn:
            await conn.execute("DELETE FROM shared_roots WHERE host = $1", self._ctx.host)
            await conn.executemany("INSERT INTO shared_roots (host, root, share) VALUES ($1, $2, $3)",
                                   [(self._ctx.host, root, share) for root, share in self._roots])

    def place(self, path: str) -> tuple[str, str] | None:
        """(share, path in it) of a file in one of this host's share folders, else None."""
        for root, share in self._roots:
            if path.startswith(root + os.sep):
                return share, path[len(root) + 1:]
        return None

    async def known_hashes(self, path: str, stat: FileStat) -> tuple[str, str] | None:
        """(sha256, blake3) of this share file as some host recorded it with this size and mtime, else None."""
        placed = self.place(path)
        if placed is None:
            return None
        row = await self._ctx.db.one(_KNOWN, (*placed, stat.size, stat.mtime_ns))
        return (row[0], row[1]) if row is not None else None

    async def claim(self, path: str, stat: FileStat) -> bool:
        """Whether this host may read the file now: nobody else is, or another host's claim is stale (or was for
        other content of the file); this host's claim stands from here on."""
        placed = self.place(path)
        if placed is None:
            return True
        now = time.time()
        async with self._ctx.db.write(library=False) as conn:
            won = await conn.fetchval(
                "INSERT INTO share_claims (share, rel, size_bytes, mtime_ns, host, claimed_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (share, rel) DO UPDATE SET host = EXCLUDED.host, "
                "claimed_at = EXCLUDED.claimed_at, size_bytes = EXCLUDED.size_bytes, mtime_ns = EXCLUDED.mtime_ns "
                "WHERE share_claims.host = EXCLUDED.host OR share_claims.claimed_at < $6 - $7 - "
                "share_claims.size_bytes / $8 OR (share_claims.size_bytes, share_claims.mtime_ns) != "
                "(EXCLUDED.size_bytes, EXCLUDED.mtime_ns) RETURNING true",
                *placed, stat.size, stat.mtime_ns, self._ctx.host, now, CLAIM_S, CLAIM_BYTES_PER_S)
        return bool(won)

    async def release(self, path: str) -> None:
        """This host's claim on the file is over (its hashes are recorded, or it was not read)."""
        placed = self.place(path)
        if placed is not None:
            async with self._ctx.db.write(library=False) as conn:
                await conn.execute("DELETE FROM share_claims WHERE share = $1 AND rel = $2 AND host = $3", *placed,
                                   self._ctx.host)
