"""Every SQL statement of the change feed, on the asyncpg read pool, inside one REPEATABLE READ snapshot.

A read (`FeedRepository.snapshot`) first takes the snapshot's xmin and the pruned horizon, then the feed rows
after the cursor with `txid` below that xmin (the gapless rule, changes/domain.py) in `(txid, seq)` order (index
`ix_registry_change_txid`), then the current state of the page's records, all in the same snapshot: one
statement per record type, never one per record. Households are the export's row of every field
(exports/repository.py `household_row_json`: the card's own fragments, masked, with members and latest income), help records `HelpRecordPublic`
(help_records/repository.py `record_json`), pairings their current row.

Scope: the rows are those whose village (or, for a move, former village) lies under the caller's prefix; a
record's JSON is built only when its household's village lies under it, so nothing out of scope is ever read
out (the service tells "left your region" from "gone" by the `in_scope` flag alone).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass

import asyncpg

from services.registry.changes.domain import Change, Position, RecordType
from services.registry.changes.schemas import encode_position
from services.registry.exports.domain import FieldSelection
from services.registry.exports.repository import household_row_json
from services.registry.help_records.repository import record_json
from shared.sql_json import rfc3339_sql

__all__ = ["FeedHead", "FeedRepository", "snapshot_cursor"]

_XMIN = "pg_snapshot_xmin(pg_current_snapshot())"
_HEAD_SQL = f"""
SELECT {_XMIN}::text::bigint AS xmin,
       (SELECT pruned_txid::text::bigint FROM registry_change_horizon) AS horizon
"""  # noqa: S608 - constant SQL

#: $1 cursor txid (text), $2 cursor seq, $3 record types, $4 scope prefix with `%`, $5 how many.
_ROWS_SQL = f"""
SELECT c.txid::text::bigint AS txid, c.seq, c.record_type, c.record_id::text AS record_id, c.at
FROM registry_change c
WHERE (c.txid, c.seq) > ($1::text::xid8, $2::bigint) AND c.txid < {_XMIN}
  AND c.record_type = ANY($3::text[])
  AND (c.village_code LIKE $4 OR c.old_village_code LIKE $4)
ORDER BY c.txid, c.seq
LIMIT $5
"""  # noqa: S608 - constant SQL, parameters are bound

_IN = "h.village_code LIKE $2"
_HOUSEHOLD_ROW = household_row_json(FieldSelection.everything())
#: The households $1 (ids) as export rows (every field) when in the scope $2 (prefix with `%`).
_HOUSEHOLDS_SQL = f"""
SELECT h.id::text AS id, {_IN} AS in_scope, h.status,
       CASE WHEN {_IN} THEN ({_HOUSEHOLD_ROW})::text END AS record
FROM registry_household h JOIN registry_region v ON v.code = h.village_code
WHERE h.id = ANY($1::uuid[])
"""  # noqa: S608 - constant SQL

_RECORD, _SIGNATURES = record_json("x")
#: The newest version of the help records $1 as `HelpRecordPublic` when their household is in the scope $2.
_HELP_RECORDS_SQL = f"""
SELECT x.id::text AS id, {_IN} AS in_scope, NULL::text AS status,
       CASE WHEN {_IN} THEN ({_RECORD})::text END AS record
FROM (SELECT DISTINCT ON (r.id) r.* FROM registry_help_record r WHERE r.id = ANY($1::uuid[])
      ORDER BY r.id, r.version DESC) x
JOIN registry_household h ON h.id = x.household_id
{_SIGNATURES}
"""  # noqa: S608 - constant SQL

_t = rfc3339_sql
#: The current rows of the pairings $1 (as `PairingPublic`) when their household is in the scope $2.
_PAIRINGS_SQL = f"""
SELECT p.id::text AS id, {_IN} AS in_scope, NULL::text AS status,
       CASE WHEN {_IN} THEN json_build_object(
         'row_id', p.row_id, 'id', p.id, 'household_id', p.household_id, 'cadre_id', p.cadre_id,
         'unit_id', p.unit_id, 'role', p.role, 'valid_from', p.valid_from, 'valid_to', p.valid_to,
         'end_reason', p.end_reason, 'successor_id', p.successor_id, 'reason', p.reason,
         'recorded_at', {_t("p.recorded_at")}, 'recorded_by', p.recorded_by,
         'superseded_at', {_t("p.superseded_at")})::text END AS record
FROM registry_pairing p JOIN registry_household h ON h.id = p.household_id
WHERE p.id = ANY($1::uuid[]) AND p.superseded_at IS NULL
"""  # noqa: S608 - constant SQL

_RECORDS_SQL = {
    RecordType.household: _HOUSEHOLDS_SQL,
    RecordType.help_record: _HELP_RECORDS_SQL,
    RecordType.pairing: _PAIRINGS_SQL,
}


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The snapshot's xmin (every transaction below it has ended) and the pruned horizon (None: never pruned)."""

    xmin: int
    horizon: int | None


async def snapshot_cursor(conn: asyncpg.Connection) -> str:
    """The feed cursor `(xmin, 0)` of the connection's current snapshot (call inside the reading transaction)."""
    xmin: int = await conn.fetchval(f"SELECT {_XMIN}::text::bigint")
    return encode_position(Position(xmin, 0))


class FeedRepository:
    """The statements of one feed read, inside its snapshot."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def snapshot(cls, pool: asyncpg.Pool) -> AsyncIterator[FeedRepository]:
        """A read-only REPEATABLE READ transaction: one snapshot for the xmin, the rows and the records."""
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield cls(conn)

    async def head(self) -> FeedHead:
        """The first statement: it fixes the snapshot."""
        row = await self.conn.fetchrow(_HEAD_SQL)
        if row is None:  # pragma: no cover
            raise RuntimeError("feed head query returned no row")
        return FeedHead(xmin=row["xmin"], horizon=row["horizon"])

    async def changes(
        self, after: Position, types: Collection[RecordType], prefix: str, limit: int
    ) -> list[Change]:
        """Up to `limit` finished rows after `after`, of `types`, in the region `prefix`, in feed order."""
        rows = await self.conn.fetch(
            _ROWS_SQL, str(after.txid), after.seq, sorted(str(t) for t in types), prefix + "%", limit
        )
        return [
            Change(Position(r["txid"], r["seq"]), RecordType(r["record_type"]), r["record_id"], r["at"])
            for r in rows
        ]

    async def records(
        self, kind: RecordType, ids: Sequence[str], prefix: str
    ) -> dict[str, tuple[bool, str | None, str | None]]:
        """`id -> (in_scope, record JSON text or None, status)` of the records `ids` that exist now."""
        if not ids:
            return {}
        rows = await self.conn.fetch(_RECORDS_SQL[kind], [uuid.UUID(i) for i in ids], prefix + "%")
        return {r["id"]: (r["in_scope"], r["record"], r["status"]) for r in rows}
