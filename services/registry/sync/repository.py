"""Every SQL statement of the phone download, on the asyncpg read pool, and the change feed's pruning.

A download runs in one REPEATABLE READ, read-only transaction (`snapshot`): the cursor it hands out (the
highest `seq` visible) and the data it sends come from the same snapshot. Which pairings are active is decided
on the China date the service passes in (from the app clock), with the one predicate of services/registry/scope.py;
the card comes from households/repository.py `card_statement`, each help record from help_records/repository.py
`record_json` (exactly `HelpRecordPublic`), so the download reuses, and never respells, what other features
define. The households' JSON is built by PostgreSQL and travels as text.

Scope: every statement is bound to the caller's cadre row (`registry_cadre.user_sub`), so a download can only
ever hold the caller's own households.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.registry.help_records.repository import record_json
from services.registry.households.repository import card_statement
from services.registry.scope import PAIRING_ACTIVE_SQL
from services.registry.sync.domain import FeedHead
from shared.sql_json import rfc3339_sql

__all__ = ["PRUNE_CHUNK", "FeedChange", "SyncRepository", "prune_changes"]

#: The snapshot's facts, read first: the cursor is taken before any data. `horizon` is the oldest running xid
#: (null when none ran).
_HEAD_SQL = """
SELECT (SELECT id FROM registry_cadre WHERE user_sub = $1) AS cadre_id,
       (SELECT coalesce(max(seq), 0) FROM registry_change) AS max_seq,
       (SELECT min(seq) FROM registry_change) AS min_seq,
       CASE WHEN pg_snapshot_xmin(s) <> pg_snapshot_xmax(s) THEN pg_snapshot_xmin(s)::text::bigint END AS horizon
FROM (SELECT pg_current_snapshot() AS s) snap
"""

#: The households this cadre ($1) is actively paired with on the China date $2 (bitemporal: current rows only).
_ACTIVE = f"""
SELECT DISTINCT p.household_id FROM registry_pairing p
WHERE p.cadre_id = $1 AND {PAIRING_ACTIVE_SQL.format(p="p", day="$2")}
"""  # noqa: S608 - constant SQL

_XID_WRAP = 1 << 32
#: A change row written at or after the cursor's xid horizon ($4), modulo xid wrap-around (32-bit `xmin`).
_AFTER_HORIZON = (
    f"(((ch.xmin::text::bigint - ($4::bigint % {_XID_WRAP}) + {_XID_WRAP}) % {_XID_WRAP}) < {_XID_WRAP // 2})"
)

_FULL_SQL = f"SELECT household_id, true AS active FROM ({_ACTIVE}) a"  # noqa: S608 - constant SQL

#: Incremental: $1 cadre, $2 today, $3 cursor seq, $4 cursor xid horizon (or null), $5 cursor day.
#: Active households with a change since the cursor (index registry_change(household_id, seq)), or whose pairing
#: started by date since the cursor's day; then households no longer active whose pairing with this cadre
#: changed (index registry_change(cadre_id, seq)) or ended by date since that day.
_INCREMENTAL_SQL = f"""
WITH active AS ({_ACTIVE})
SELECT a.household_id, true AS active FROM active a
WHERE EXISTS (SELECT 1 FROM registry_change ch WHERE ch.household_id = a.household_id AND ch.seq > $3)
   OR ($4::bigint IS NOT NULL AND EXISTS (
        SELECT 1 FROM registry_change ch WHERE ch.household_id = a.household_id AND {_AFTER_HORIZON}))
   OR EXISTS (SELECT 1 FROM registry_pairing p
              WHERE p.cadre_id = $1 AND p.household_id = a.household_id AND p.superseded_at IS NULL
                AND p.valid_from > $5 AND p.valid_from <= $2)
UNION
SELECT ch.household_id, false FROM registry_change ch
WHERE ch.cadre_id = $1 AND ch.kind = 'pairing'
  AND (ch.seq > $3 OR ($4::bigint IS NOT NULL AND {_AFTER_HORIZON}))
  AND ch.household_id NOT IN (SELECT household_id FROM active)
UNION
SELECT p.household_id, false FROM registry_pairing p
WHERE p.cadre_id = $1 AND p.superseded_at IS NULL AND p.valid_to > $5 AND p.valid_to <= $2
  AND p.household_id NOT IN (SELECT household_id FROM active)
"""  # noqa: S608 - constant SQL, parameters are bound

_RECORD, _SIGNATURES = record_json("x")

#: Cards and the last $2 help records (newest version of each, newest visit first) of the households $1, as one
#: JSON array built by PostgreSQL. The records walk the (household_id, device_time) index backwards and stop
#: after $2 newest versions, however long a household's history is.
_CONTENT_SQL = f"""
SELECT coalesce(json_agg(json_build_object(
  'id', c.id, 'card', c.card, 'help_plan', p.plan, 'help_records', coalesce(r.records, '[]'::json))
  ORDER BY c.id), '[]'::json)::text
FROM ({card_statement("h.id = ANY($1::uuid[])", columns="::json AS card, h.id")}) c
LEFT JOIN LATERAL (
  SELECT json_build_object(
    'version', hp.version, 'year_from', hp.year_from, 'year_to', hp.year_to,
    'target_exit_year', hp.target_exit_year, 'items', hp.items,
    'acknowledged', EXISTS (SELECT 1 FROM registry_help_plan_ack k
                            WHERE k.household_id = hp.household_id AND k.version = hp.version),
    'progress', (SELECT coalesce(json_object_agg(q.item_id, json_build_object(
                   'percent', q.percent, 'completed_on', q.completed_on,
                   'recorded_at', {rfc3339_sql("q.recorded_at")})), '{{}}'::json)
                 FROM (SELECT DISTINCT ON (item_id) * FROM registry_help_plan_progress
                       WHERE household_id = c.id ORDER BY item_id, id DESC) q)
  ) AS plan
  FROM registry_help_plan hp WHERE hp.household_id = c.id ORDER BY hp.version DESC LIMIT 1
) p ON true
LEFT JOIN LATERAL (
  SELECT json_agg({_RECORD} ORDER BY x.device_time DESC, x.received_at DESC, x.id) AS records
  FROM (SELECT hr.* FROM registry_help_record hr
        WHERE hr.household_id = c.id
          AND NOT EXISTS (SELECT 1 FROM registry_help_record n WHERE n.id = hr.id AND n.version > hr.version)
        ORDER BY hr.device_time DESC, hr.received_at DESC, hr.id LIMIT $2) x
  {_SIGNATURES}
) r ON true
"""  # noqa: S608 - constant SQL, parameters are bound


@dataclass(frozen=True, slots=True)
class FeedChange:
    """A household the download sends (`active`) or tells the phone to remove."""

    household_id: uuid.UUID
    active: bool


class SyncRepository:
    """The statements of one download, inside its snapshot."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def snapshot(cls, pool: asyncpg.Pool) -> AsyncIterator[SyncRepository]:
        """A read-only REPEATABLE READ transaction on the read pool: one snapshot for cursor and data."""
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield cls(conn)

    async def head(self, sub: str) -> FeedHead:
        row = await self.conn.fetchrow(_HEAD_SQL, sub)  # always one row
        if row is None:  # pragma: no cover
            raise RuntimeError("sync head query returned no row")
        return FeedHead(
            cadre_id=row["cadre_id"], max_seq=row["max_seq"], min_seq=row["min_seq"], horizon=row["horizon"]
        )

    async def active(self, cadre_id: uuid.UUID, today: date) -> list[FeedChange]:
        """Every household the cadre is actively paired with on `today` (a full download)."""
        rows = await self.conn.fetch(_FULL_SQL, cadre_id, today)
        return [FeedChange(r["household_id"], r["active"]) for r in rows]

    async def changed(
        self, cadre_id: uuid.UUID, today: date, *, seq: int, horizon: int | None, day: date
    ) -> list[FeedChange]:
        """The households changed since the cursor (`seq`, `horizon`, `day`), and those no longer active."""
        rows = await self.conn.fetch(_INCREMENTAL_SQL, cadre_id, today, seq, horizon, day)
        return [FeedChange(r["household_id"], r["active"]) for r in rows]

    async def content(self, households: Sequence[uuid.UUID], records: int) -> str:
        """The households' JSON array (cards, plans, `records` newest help records each), as PostgreSQL wrote it."""
        if not households:
            return "[]"
        text: str = await self.conn.fetchval(_CONTENT_SQL, list(households), records)
        return text


# -- retention ---------------------------------------------------------------------------------------------------
#: Each chunk also raises the pruned horizon (`registry_change_horizon`, reg0011) to the highest txid it deleted,
#: so the province feed (services/registry/changes) answers 410 to a cursor older than what is kept.
_PRUNE_SQL = """
WITH gone AS (
  DELETE FROM registry_change WHERE seq IN (
    SELECT seq FROM registry_change WHERE at < $1 ORDER BY seq LIMIT $2)
  RETURNING txid),
mark AS (
  INSERT INTO registry_change_horizon (id, pruned_txid) SELECT true, max(txid) FROM gone HAVING count(*) > 0
  ON CONFLICT (id) DO UPDATE SET pruned_txid = greatest(registry_change_horizon.pruned_txid, EXCLUDED.pruned_txid))
SELECT count(*) FROM gone
"""
PRUNE_CHUNK = 10_000


async def prune_changes(pool: asyncpg.Pool, *, before: datetime) -> int:
    """Delete feed rows written before `before`, oldest first, in chunks (short autocommit statements); how many."""
    removed = 0
    async with pool.acquire() as conn:
        while True:
            count = int(await conn.fetchval(_PRUNE_SQL, before, PRUNE_CHUNK))
            removed += count
            if count < PRUNE_CHUNK:
                return removed
