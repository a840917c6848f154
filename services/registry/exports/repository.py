"""Every SQL statement of an export, on the asyncpg read pool, inside one snapshot.

An export runs in one REPEATABLE READ, READ ONLY transaction (`ExportRepository.snapshot`): the change feed's
position (sync/repository.py `SyncRepository.head`, the phone download's own statement) is read first, then the
rows stream through a server-side cursor, `CHUNK` rows at a time, so memory stays flat however large the region;
the next chunk is fetched while the previous one is being written (`_chunks`). Each dataset's rows are the API's own JSON, never respelt:

- `households`: the export's row built in PostgreSQL from the card's own fragments (households/repository.py
  `CARD_FIELDS`, `members_json`, `latest_income_json`, the one definition of the masked card), only the fields
  the selection names (never the workflow, former members or every income the card carries), written as the
  NDJSON line itself (`household_rows`: no parsing in the registry);
- `help_records`: the newest version of every record, as `HelpRecordPublic` (help_records/repository.py
  `record_json`, the JSON the REST reads and the phone download share);
- `pairings`: every current pairing row (`superseded_at IS NULL`: in force and ended, as the household's pairing
  list answers), its cadre and unit, read through `PairingPublic`, `CadrePublic` (the stored `phone_masked`,
  never the encrypted phone) and `UnitPublic`.

Scope: every statement takes the region prefix the service checked against the caller's (the household's
`village_code LIKE prefix%`, served by the household's village index); nothing outside it can be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import asyncpg

from services.registry.exports.domain import ExportDataset, FieldSelection
from services.registry.help_records.repository import record_json
from services.registry.households.repository import card_object, latest_income_json, members_json
from services.registry.pairing.schemas import CadrePublic, PairingPublic, UnitPublic
from services.registry.sync.domain import FeedHead
from services.registry.sync.repository import SyncRepository

__all__ = ["ExportRepository", "household_row_json", "household_rows_sql"]

_NESTED_SQL: dict[str, Callable[[tuple[str, ...]], str]] = {
    "members": members_json,
    "latest_income": latest_income_json,
}


def household_row_json(selection: FieldSelection) -> str:
    """A household's export row (over `h` and its village `v`) as one JSON object: the selected card fragments,
    then the selected members (array) and latest income (object or null), as `domain.project` of the card."""
    extra = {part.name: _NESTED_SQL[part.name](fields) for part, fields in selection.nested}
    return card_object(selection.top, extra)


@functools.lru_cache(maxsize=64)
def household_rows_sql(selection: FieldSelection) -> str:
    """The export rows (JSON text) of every household whose village lies under the prefix ($1, with `%`)."""
    return (
        f"SELECT ({household_row_json(selection)})::text\n"
        "FROM registry_household h JOIN registry_region v ON v.code = h.village_code\n"
        "WHERE h.village_code LIKE $1 ORDER BY h.village_code, h.id"
    )


_RECORD, _SIGNATURES = record_json("x")
#: The newest version of every help record of a household under the prefix, by household then visit.
_HELP_RECORDS_SQL = f"""
SELECT ({_RECORD})::text
FROM registry_help_record x JOIN registry_household h ON h.id = x.household_id
{_SIGNATURES}
WHERE h.village_code LIKE $1
  AND NOT EXISTS (SELECT 1 FROM registry_help_record n WHERE n.id = x.id AND n.version > x.version)
ORDER BY h.village_code, x.household_id, x.device_time, x.id
"""  # noqa: S608 - constant SQL, the prefix is bound
#: Every current pairing row of a household under the prefix, with its cadre and unit rows.
_PAIRINGS_SQL = """
SELECT json_build_object('pairing', row_to_json(p), 'cadre', row_to_json(c), 'unit', row_to_json(u))::text
FROM registry_pairing p JOIN registry_household h ON h.id = p.household_id
JOIN registry_cadre c ON c.id = p.cadre_id JOIN registry_helping_unit u ON u.id = p.unit_id
WHERE h.village_code LIKE $1 AND p.superseded_at IS NULL
ORDER BY h.village_code, p.household_id, p.valid_from, p.row_id
"""
_REGION_SQL = "SELECT 1 FROM registry_region WHERE code = $1"


def _pairing(text: str) -> dict[str, Any]:
    """A pairing row as `PairingPublic` answers it, its cadre and unit as `CadrePublic` and `UnitPublic`."""
    raw = json.loads(text)
    row: dict[str, Any] = PairingPublic.model_validate(raw["pairing"]).model_dump(mode="json")
    row["cadre"] = CadrePublic.model_validate(raw["cadre"]).model_dump(mode="json")
    row["unit"] = UnitPublic.model_validate(raw["unit"]).model_dump(mode="json")
    return row


#: Each dataset's row statement and how a row's text becomes its record.
_ROWS: dict[ExportDataset, tuple[str, Callable[[str], dict[str, Any]]]] = {
    ExportDataset.help_records: (_HELP_RECORDS_SQL, json.loads),
    ExportDataset.pairings: (_PAIRINGS_SQL, _pairing),
}


class ExportRepository:
    """The statements of one export, inside its snapshot."""

    #: Rows fetched per round trip of the server-side cursor (with the fetch ahead, 200 and 1,000 measured the
    #: same in bench/exchange.py; 1,000 raised the registry's peak RSS by ~30 MB).
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

    async def records(
        self, dataset: ExportDataset, prefix: str
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The records (API JSON) of `dataset` (help records, pairings) under `prefix`, `CHUNK` at a time."""
        sql, decode = _ROWS[dataset]
        async with contextlib.aclosing(self._chunks(sql, prefix + "%")) as chunks:
            async for texts in chunks:
                yield [decode(text) for text in texts]

    async def household_rows(self, selection: FieldSelection, prefix: str) -> AsyncGenerator[list[str], None]:
        """The households under `prefix` as their export rows' JSON text (already projected), `CHUNK` at a time."""
        async with contextlib.aclosing(self._chunks(household_rows_sql(selection), prefix + "%")) as chunks:
            async for texts in chunks:
                yield texts

    async def _chunks(self, sql: str, *args: Any) -> AsyncGenerator[list[str], None]:
        """The first column of `sql`'s rows through a server-side cursor, `CHUNK` at a time, one chunk fetched
        ahead: PostgreSQL builds the next chunk while the caller writes this one (one statement at a time on
        the connection: the fetch ahead is the only one running)."""
        cursor = await self.conn.cursor(sql, *args)
        ahead: asyncio.Future[list[asyncpg.Record]] = asyncio.ensure_future(cursor.fetch(self.CHUNK))
        try:
            while True:
                rows = await ahead
                last = len(rows) < self.CHUNK
                if not last:
                    ahead = asyncio.ensure_future(cursor.fetch(self.CHUNK))
                if rows:
                    yield [row[0] for row in rows]
                if last:
                    return
        finally:
            if not ahead.done():  # the caller left: stop the fetch before the snapshot ends
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead
