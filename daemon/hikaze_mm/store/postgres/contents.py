"""Contents by sha256 or a prefix of it on PostgreSQL: the models with them (every host's) and the files of this
host that hold them."""

from __future__ import annotations

from hikaze_mm.store.library_records import held_contents
from hikaze_mm.store.pending_records import HASHED_AS_IS
from hikaze_mm.store.postgres.database import texts
from hikaze_mm.store.postgres.rows import PgContext
from hikaze_mm.store.records import HeldContent

# Each table is asked twice, by its sha256 index: for whole sha256s ($1) and for the range each prefix opens ($2:
# from the prefix up to the prefix followed by 'g'; any collation puts the hex digits before 'g', so the range
# holds exactly the sha256s that start with the prefix, and a b-tree answers it as it would in "C").
_SOURCES = (
    ("models m", "m.sha256, m.name, CASE WHEN m.status = 'ok' AND m.host = $3 THEN m.path END", "m.sha256", ""),
    ("model_copies c", "c.sha256, NULL, c.path", "c.sha256", " AND c.host = $3"),
    ("pending_import q", "q.sha256, NULL, q.path", "q.sha256", f" AND q.host = $3 AND q.status IN {HASHED_AS_IS}"),
)
_HELD = " UNION ALL ".join(
    f"SELECT {columns} FROM {table} WHERE {key} = ANY($1::text[]){extra} UNION ALL "
    f"SELECT {columns} FROM unnest($2::text[]) p(v) JOIN {table} ON {key} >= p.v AND {key} < p.v || 'g'{extra}"
    for table, columns, key, extra in _SOURCES
)


class PgContents:
    def __init__(self, ctx: PgContext):
        self._db = ctx.db
        self._host = ctx.host

    async def held(self, shas: list[str], prefixes: list[str]) -> list[HeldContent]:
        if not shas and not prefixes:
            return []
        return held_contents(await self._db.all(_HELD, (texts(shas), texts(prefixes), self._host)))
