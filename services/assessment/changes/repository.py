"""Every SQL statement of the assessment's change feed, on the asyncpg read pool, inside one REPEATABLE READ
snapshot (shared/exchange/feed_sql.py `snapshot`), and the feed's retention.

A read takes the snapshot's bound (`BOUND_SQL`: its xmin, not held back by other databases' transactions) and the
pruned horizon (the first statement: it fixes the snapshot), then the rows after the cursor with `txid` below
that bound (the gapless rule, shared/exchange/feed.py) in
`(txid, seq)` order (`ix_assessment_change_txid`), then the current state of the page's records, one statement
per record type, never one per record: a run as `RunPublic`, a result as the `results` export's row (every
field: exports/repository.py `result_object`).

Scope is the REST view (exports/repository.py `Scope`): a run's row is read when its county lies under the county
prefix, a result's when its subject's region lies under the subject prefix, a finding's when its region (or, once
moved, its former one) does; for the province and services a row
whose run exists and is not published is not read at all (its results reach them with the publication's rows).
A record's JSON is built only when it is in the view (`in_scope`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

import asyncpg

from services.assessment.changes.domain import RecordType
from services.assessment.exports.repository import (
    FINDINGS_FROM,
    Scope,
    finding_object,
    labels_json,
    result_object,
    results_from,
    run_object,
    runs_visible,
)
from services.assessment.exports.schemas import FINDINGS, RESULTS, RUNS
from shared.exchange.cursor import encode_position
from shared.exchange.export import FieldSelection
from shared.exchange.feed import Change, CurrentRecord, Position
from shared.exchange.feed_sql import BOUND_SQL, FeedHead, prune_sql

__all__ = ["BOUND_SQL", "PRUNE_CHUNK", "FeedRepository", "prune_changes", "snapshot_cursor"]

#: The feed's bound (shared/exchange/feed_sql.py `BOUND_SQL`): the snapshot's xmin, except that another database's
#: transactions do not hold it back.
_HEAD_SQL = f"""
SELECT {BOUND_SQL} AS xmin,
       (SELECT pruned_txid::text::bigint FROM assessment_change_horizon) AS horizon
"""  # noqa: S608 - constant SQL

#: $1 cursor txid (text), $2 seq, $3 types, $4 county prefix, $5 subject prefix (with `%`), $6 published only,
#: $7 how many, $8 the head's bound (text). `split_part(record_id, ':', 1)` is the run of a run's or a result's row.
_ROWS_SQL = """
SELECT c.txid::text::bigint AS txid, c.seq, c.record_type, c.record_id, c.at
FROM assessment_change c
WHERE (c.txid, c.seq) > ($1::text::xid8, $2::bigint) AND c.txid < $8::text::xid8
  AND c.record_type = ANY($3::text[])
  AND (c.region_code LIKE CASE c.record_type WHEN 'run' THEN $4 ELSE $5 END OR c.old_region_code LIKE $5)
  AND (NOT $6::boolean OR NOT EXISTS (
    SELECT 1 FROM assessment_run r
    WHERE r.id = split_part(c.record_id, ':', 1)::uuid AND r.status <> 'published'))
ORDER BY c.txid, c.seq
LIMIT $7
"""

#: The runs $1 (ids) with `in_scope` for $2 county prefix, $3 published only.
_RUNS_SQL = f"""
SELECT x.id::text AS id, {runs_visible("x", "$2", "$3")} AS in_scope,
       CASE WHEN {runs_visible("x", "$2", "$3")} THEN ({run_object(RUNS.fields)})::text END AS record
FROM assessment_run x WHERE x.id = ANY($1::uuid[])
"""  # noqa: S608 - constant SQL

_WANTED = "(res.run_id, res.subject_id) IN (SELECT split_part(i, ':', 1)::uuid, split_part(i, ':', 2)"
_IN_VIEW = f"{runs_visible('x', '$2', '$3')} AND s.region_code LIKE $4"
#: The results $1 (`run:subject`) with `in_scope` for $2 county prefix, $3 published only, $4 subject prefix;
#: $5 the metric labels.
_RESULTS_SQL = f"""
SELECT x.id::text || ':' || res.subject_id AS id, {_IN_VIEW} AS in_scope,
       CASE WHEN {_IN_VIEW}
            THEN ({result_object(FieldSelection.everything(RESULTS))})::text END AS record
{results_from("r.id = ANY(SELECT split_part(i, ':', 1)::uuid FROM unnest($1::text[]) i)", "$5")}
WHERE {_WANTED} FROM unnest($1::text[]) i)
"""  # noqa: S608 - constant SQL

#: The findings $1 (ids) with `in_scope` for $2 the region prefix (with `%`), $3 today (China).
_FINDINGS_SQL = f"""
SELECT f.id::text AS id, f.region_code LIKE $2 AS in_scope,
       CASE WHEN f.region_code LIKE $2 THEN ({finding_object(FieldSelection.everything(FINDINGS), "$3")})::text
       END AS record
{FINDINGS_FROM}
WHERE f.id = ANY($1::uuid[])
"""

PRUNE_CHUNK = 10_000
_PRUNE_SQL = prune_sql("assessment")


class FeedRepository:
    """The statements of one feed read, inside its snapshot (`conn` in a REPEATABLE READ transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def head(self) -> FeedHead:
        """The first statement: it fixes the snapshot."""
        row = await self.conn.fetchrow(_HEAD_SQL)
        if row is None:  # pragma: no cover
            raise RuntimeError("feed head query returned no row")
        return FeedHead(xmin=row["xmin"], horizon=row["horizon"])

    async def changes(
        self, after: Position, types: Collection[RecordType], scope: Scope, limit: int, bound: int
    ) -> list[Change[RecordType]]:
        """Up to `limit` finished rows (txid below the head's `bound`) after `after`, of `types`, in the view
        `scope`, in feed order."""
        rows = await self.conn.fetch(
            _ROWS_SQL,
            str(after.txid),
            after.seq,
            sorted(t.value for t in types),
            scope.county_prefix + "%",
            scope.subject_prefix + "%",
            scope.published_only,
            limit,
            str(bound),
        )
        return [
            Change(Position(r["txid"], r["seq"]), RecordType(r["record_type"]), r["record_id"], r["at"])
            for r in rows
        ]

    async def records(self, kind: RecordType, ids: Sequence[str], scope: Scope) -> dict[str, CurrentRecord]:
        """`id -> CurrentRecord` of the records `ids` of `kind` that exist now."""
        if not ids:
            return {}
        county, published = scope.county_prefix + "%", scope.published_only
        if kind is RecordType.run:
            rows = await self.conn.fetch(_RUNS_SQL, [uuid.UUID(i) for i in ids], county, published)
        elif kind is RecordType.finding:
            rows = await self.conn.fetch(
                _FINDINGS_SQL, [uuid.UUID(i) for i in ids], scope.subject_prefix + "%", scope.today
            )
        else:
            rows = await self.conn.fetch(
                _RESULTS_SQL, list(ids), county, published, scope.subject_prefix + "%", labels_json()
            )
        return {r["id"]: CurrentRecord(r["in_scope"], r["record"]) for r in rows}


async def snapshot_cursor(conn: asyncpg.Connection) -> str:
    """The feed cursor `(bound, 0)` of the connection's current snapshot (inside the reading transaction): an
    export's `X-Feed-Cursor`, from which the feed misses nothing the export did not hold."""
    bound: int = await conn.fetchval(f"SELECT {BOUND_SQL}")
    return encode_position(Position(bound, 0))


async def prune_changes(pool: asyncpg.Pool, *, before: datetime) -> int:
    """Delete feed rows written before `before`, oldest first, in chunks (short autocommit statements), raising
    the pruned horizon (cursors at or below it answer 410); how many."""
    removed = 0
    async with pool.acquire() as conn:
        while True:
            count = int(await conn.fetchval(_PRUNE_SQL, before, PRUNE_CHUNK))
            removed += count
            if count < PRUNE_CHUNK:
                return removed
