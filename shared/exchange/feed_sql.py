"""The SQL of a gapless change feed (issue #15) over a service's own `<prefix>_change` and `<prefix>_change_horizon`
tables (shared/exchange/feed_ddl.py writes them), on the asyncpg read pool, inside one REPEATABLE READ snapshot.

A page read (`read_page`) takes, in one snapshot (`snapshot`): the snapshot's xmin and the pruned horizon
(`FeedSource.head_sql`, the first statement: it fixes the snapshot), then the feed rows after the cursor with
`txid` below that xmin (the gapless rule, shared/exchange/feed.py) in `(txid, seq)` order
(`FeedSource.rows_sql`, served by an index on `(txid, seq)`), then the current state of the page's records, one
statement per record type (`FeedSource.records_sql`, the service's own), never one per record. `long_poll`
(shared/exchange/poll.py) reads again until a change arrives or the wait is over.

Scope: a row is read when its region column (or, for a move, its `old_` column) lies under the caller's prefix;
each record statement builds a record's JSON only when the record lies under it (its `in_scope` column), so
nothing out of scope is ever read out.

A record statement takes `$1` the ids (as `FeedSource.id_param` makes them, `uuid[]` by default) and `$2` the
scope prefix with `%`, and answers the columns `id` (text), `in_scope` (bool), `status` (text or NULL, for the
service's `removed` rule) and `record` (the JSON text, NULL when out of scope).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import asyncpg

from shared.exchange.cursor import encode_position
from shared.exchange.feed import (
    Change,
    CurrentRecord,
    FeedPage,
    Position,
    Removed,
    assemble,
    latest,
    start_position,
)

__all__ = [
    "BOUND_SQL",
    "XMIN_SQL",
    "FeedHead",
    "FeedReader",
    "FeedSource",
    "head_sql",
    "prune",
    "prune_sql",
    "read_page",
    "rows_sql",
    "snapshot",
    "snapshot_cursor",
]

E = TypeVar("E", bound=Enum)

#: The snapshot's xmin: every transaction of the cluster with a txid below it has ended.
XMIN_SQL = "pg_snapshot_xmin(pg_current_snapshot())"

#: The feed's bound in the current snapshot: the lowest txid still running *in this database* when the snapshot
#: was taken, else the snapshot's xmax. Below it every transaction that can write this database has ended, so the
#: rows below it can no longer grow (the gapless rule). It is the snapshot's xmin except that a transaction known
#: to belong to another database of the cluster (its backend's `datid` in pg_stat_activity) does not hold it back:
#: it never writes this database's tables. One PostgreSQL serves every service's database by default (`make run`,
#: the tests), so without this a registry import's long transaction would stall planning's feed. A transaction not
#: known to be elsewhere (ended since, prepared, other users' stats hidden, a replica's view of the primary)
#: counts as ours: the bound is never too high, only at worst the xmin. `backend_xid` is 32-bit: compared modulo
#: 2^32 (the xids in progress of one snapshot lie within 2^31 of each other). Read it once per snapshot (`head`)
#: and pass it on: pg_stat_activity is a second view, so two evaluations could differ. An empty in-progress list
#: falls back to the xmin, not the xmax: on a hot standby `pg_snapshot_xip` is empty (the replica keeps the
#: primary's running xids elsewhere) while xmin < xmax, and the xmax would deliver past a running transaction
#: (tests/platform/test_read_replica.py); on a primary an empty list means xmin = xmax anyway.
BOUND_SQL = """(SELECT coalesce(min(x::text::bigint), CASE
    WHEN EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot())) THEN pg_snapshot_xmax(pg_current_snapshot())
    ELSE pg_snapshot_xmin(pg_current_snapshot()) END::text::bigint)
  FROM pg_snapshot_xip(pg_current_snapshot()) x
  WHERE x::text::bigint % 4294967296 NOT IN (
    SELECT a.backend_xid::text::bigint FROM pg_stat_activity a
    WHERE a.backend_xid IS NOT NULL
      AND a.datid <> (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())))"""


def head_sql(horizon_table: str) -> str:
    """The snapshot's feed bound (`BOUND_SQL`) and the pruned horizon (the highest txid ever pruned, or NULL)."""
    return f"""
SELECT {BOUND_SQL} AS xmin,
       (SELECT pruned_txid::text::bigint FROM {horizon_table}) AS horizon
"""  # noqa: S608 - the table name is the service's constant


def rows_sql(change_table: str, code_column: str = "village_code") -> str:
    """The finished rows after a position: $1 cursor txid (text), $2 cursor seq, $3 record types (text[]), $4 scope
    prefix with `%`, $5 how many, $6 the head's bound (text). A row is in scope when `code_column` or
    `old_<code_column>` lies under $4."""
    return f"""
SELECT c.txid::text::bigint AS txid, c.seq, c.record_type, c.record_id::text AS record_id, c.at
FROM {change_table} c
WHERE (c.txid, c.seq) > ($1::text::xid8, $2::bigint) AND c.txid < $6::text::xid8
  AND c.record_type = ANY($3::text[])
  AND (c.{code_column} LIKE $4 OR c.old_{code_column} LIKE $4)
ORDER BY c.txid, c.seq
LIMIT $5
"""  # noqa: S608 - table and column names are the service's constants, values are bound


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The snapshot's bound (`BOUND_SQL`: every transaction below it that can write here has ended; named `xmin`
    as it is the xmin but for other databases' transactions) and the pruned horizon (None: never pruned)."""

    xmin: int
    horizon: int | None


@dataclass(frozen=True)
class FeedSource(Generic[E]):
    """One service's feed: its record types, its tables and the statement of each type's current records."""

    kinds: type[E]
    change_table: str
    horizon_table: str
    records_sql: Mapping[E, str]
    #: The service's rule for a `removed` tombstone (default: never).
    removed: Removed | None = None
    #: The export path a 410 points to (problem detail `export`, `Link: <...>; rel="alternate"`).
    export: str | None = None
    code_column: str = "village_code"
    #: How a record id (text) is bound into `$1` of a record statement.
    id_param: Callable[[str], Any] = uuid.UUID
    head: str = field(init=False)
    rows: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "head", head_sql(self.horizon_table))
        object.__setattr__(self, "rows", rows_sql(self.change_table, self.code_column))


@contextlib.asynccontextmanager
async def snapshot(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A read-only REPEATABLE READ transaction on `pool`: one snapshot for the xmin, the rows and the records."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


async def snapshot_cursor(conn: asyncpg.Connection) -> str:
    """The feed cursor `(bound, 0)` of the connection's current snapshot (call inside the reading transaction):
    an export's `X-Feed-Cursor`, from which the feed misses nothing the export did not hold."""
    bound: int = await conn.fetchval(f"SELECT {BOUND_SQL}")
    return encode_position(Position(bound, 0))


class FeedReader(Generic[E]):
    """The statements of one feed read, inside its snapshot."""

    def __init__(self, conn: asyncpg.Connection, source: FeedSource[E]) -> None:
        self.conn = conn
        self.source = source

    async def head(self) -> FeedHead:
        """The first statement: it fixes the snapshot."""
        row = await self.conn.fetchrow(self.source.head)
        if row is None:  # pragma: no cover
            raise RuntimeError("feed head query returned no row")
        return FeedHead(xmin=row["xmin"], horizon=row["horizon"])

    async def changes(
        self, after: Position, types: Collection[E], prefix: str, limit: int, bound: int
    ) -> list[Change[E]]:
        """Up to `limit` finished rows (txid below the head's `bound`) after `after`, of `types`, in the region
        `prefix`, in feed order."""
        rows = await self.conn.fetch(
            self.source.rows,
            str(after.txid),
            after.seq,
            sorted(str(t.value) for t in types),
            prefix + "%",
            limit,
            str(bound),
        )
        kinds = self.source.kinds
        return [
            Change(Position(r["txid"], r["seq"]), kinds(r["record_type"]), r["record_id"], r["at"])
            for r in rows
        ]

    async def records(self, kind: E, ids: Sequence[str], prefix: str) -> dict[str, CurrentRecord]:
        """`id -> CurrentRecord` of the records `ids` of `kind` that exist now."""
        if not ids:
            return {}
        sql = self.source.records_sql[kind]
        rows = await self.conn.fetch(sql, [self.source.id_param(i) for i in ids], prefix + "%")
        return {r["id"]: CurrentRecord(r["in_scope"], r["record"], r["status"]) for r in rows}

    async def current(self, changes: Sequence[Change[E]], prefix: str) -> dict[tuple[E, str], CurrentRecord]:
        """The current state of the changed records, one statement per record type."""
        out: dict[tuple[E, str], CurrentRecord] = {}
        for kind in self.source.kinds:
            ids = [c.id for c in changes if c.type is kind]
            for record_id, current in (await self.records(kind, ids, prefix)).items():
                out[(kind, record_id)] = current
        return out


async def read_page(
    pool: asyncpg.Pool,
    source: FeedSource[E],
    cursor: Position | None,
    types: Collection[E],
    prefix: str,
    limit: int,
) -> FeedPage[E]:
    """One page after `cursor` in one snapshot; `CursorExpired` (410) when the cursor is older than the retention.

    Caught up, the next cursor is `(xmin, 0)`: past every row of other regions and types up to the snapshot."""
    async with snapshot(pool) as conn:
        reader = FeedReader(conn, source)
        head = await reader.head()
        start = start_position(cursor, head.horizon, export=source.export)
        rows = await reader.changes(start, types, prefix, limit + 1, head.xmin)
        has_more = len(rows) > limit
        rows = rows[:limit]
        current = await reader.current(latest(rows), prefix)
    next_position = rows[-1].position if has_more else max(start, Position(head.xmin, 0))
    if source.removed is None:
        items = assemble(rows, current)
    else:
        items = assemble(rows, current, source.removed)
    return FeedPage(items, encode_position(next_position), has_more)


def prune_sql(prefix: str) -> str:
    """Delete up to $2 rows written before $1, oldest first, raising the horizon to the highest txid deleted;
    answers how many were deleted (run it until fewer than $2)."""
    return f"""
WITH gone AS (
  DELETE FROM {prefix}_change WHERE seq IN (
    SELECT seq FROM {prefix}_change WHERE at < $1 ORDER BY seq LIMIT $2)
  RETURNING txid),
mark AS (
  INSERT INTO {prefix}_change_horizon (id, pruned_txid) SELECT true, max(txid) FROM gone HAVING count(*) > 0
  ON CONFLICT (id) DO UPDATE SET pruned_txid = greatest({prefix}_change_horizon.pruned_txid, EXCLUDED.pruned_txid))
SELECT count(*) FROM gone
"""  # noqa: S608 - the prefix is the service's constant, values are bound


async def prune(pool: asyncpg.Pool, prefix: str, *, before: datetime, chunk: int = 10_000) -> int:
    """Delete the `<prefix>_change` rows written before `before`, oldest first, in chunks (short autocommit
    statements), raising the horizon so older cursors answer 410; how many were deleted."""
    sql = prune_sql(prefix)
    removed = 0
    async with pool.acquire() as conn:
        while True:
            count = int(await conn.fetchval(sql, before, chunk))
            removed += count
            if count < chunk:
                return removed
