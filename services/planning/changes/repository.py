"""Every SQL statement of planning's change feed: its source over `planning_change` (migration plan0004) and the
retention's pruning, on the asyncpg pools.

A read is shared/exchange/feed_sql.py's (one REPEATABLE READ snapshot: the xmin and the pruned horizon, the
finished rows after the cursor in `(txid, seq)` order, then the page's records, one statement per record type).
The records are the export lines of every field (exports/repository.py `RECORD_SQL`: `PlanPublic`,
`ProjectPublic` with counts and milestones, `LedgerEntryPublic`), built only when in the reader's region (a plan
or project by its village, a ledger entry by its project's). Record ids travel as text (`record_id` is text:
plans and projects are UUIDs, ledger entries numbers); each statement casts them.

Pruning deletes rows older than the cutoff, oldest first, in chunks of short autocommit statements, and raises
the pruned horizon to the highest txid it deleted (`shared.exchange.feed_sql.prune`).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.planning.changes.domain import RecordType
from services.planning.exports.repository import RECORD_SQL
from shared.exchange.feed_sql import FeedSource, prune

__all__ = ["SOURCE", "prune_changes"]

#: Planning's feed: its record types, tables and record statements.
SOURCE: FeedSource[RecordType] = FeedSource(
    kinds=RecordType,
    change_table="planning_change",
    horizon_table="planning_change_horizon",
    records_sql={kind: RECORD_SQL[kind.value] for kind in RecordType},
    code_column="village_code",
    id_param=str,
)


async def prune_changes(pool: asyncpg.Pool, *, before: datetime) -> int:
    """Delete feed rows written before `before`, oldest first, in chunks; how many."""
    return await prune(pool, "planning", before=before)
