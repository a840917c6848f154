"""Every SQL statement of a household export, on the asyncpg read pool, inside one snapshot.

An export runs in one REPEATABLE READ, READ ONLY transaction (`ExportRepository.snapshot`): the change feed's
position (sync/repository.py `SyncRepository.head`, the phone download's own statement) is read first, then the
households stream through a server-side cursor, `CHUNK` rows at a time, so memory stays flat however large
the region. Each row is the household card (households/repository.py `card_statement`, the one definition of
the masked card), so the export never respells a mask or a column.

Scope: every statement takes the region prefix the service checked against the caller's (`village_code LIKE
prefix%`, served by the household's village index); nothing outside it can be read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from services.registry.households.repository import card_statement
from services.registry.sync.domain import FeedHead
from services.registry.sync.repository import SyncRepository

__all__ = ["ExportRepository"]

#: The cards of every household whose village lies under the prefix ($1, with `%`), in a stable order.
_CARDS_SQL = card_statement("h.village_code LIKE $1 ORDER BY h.village_code, h.id", columns="::text AS card")
_REGION_SQL = "SELECT 1 FROM registry_region WHERE code = $1"


class ExportRepository:
    """The statements of one export, inside its snapshot."""

    #: Rows fetched per round trip of the server-side cursor.
    CHUNK = 200

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def snapshot(cls, pool: asyncpg.Pool) -> AsyncIterator[ExportRepository]:
        """A read-only REPEATABLE READ transaction on the read pool: one snapshot for the cursor and every row."""
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield cls(conn)

    async def head(self, sub: str) -> FeedHead:
        """The change feed's position in this snapshot (the first statement: it fixes the snapshot)."""
        return await SyncRepository(self.conn).head(sub)

    async def region_exists(self, code: str) -> bool:
        return await self.conn.fetchval(_REGION_SQL, code) is not None

    async def cards(self, prefix: str) -> AsyncIterator[list[str]]:
        """The card JSON texts of the households under `prefix`, `CHUNK` at a time (a server-side cursor)."""
        cursor = await self.conn.cursor(_CARDS_SQL, prefix + "%")
        while True:
            rows = await cursor.fetch(self.CHUNK)
            if not rows:
                return
            yield [row[0] for row in rows]
            if len(rows) < self.CHUNK:
                return
