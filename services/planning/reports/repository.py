"""Every SQL statement of the reports, scoped in one place (`_pattern`): one statement per report, aggregated by
PostgreSQL from the ledger (planning_ledger_entry), on the session's asyncpg connection.

Scope: every statement filters `planning_project.village_code LIKE $1`, the report's region (domain
`report_scope`: the county named, its filters, the caller's own region) intersected here once more with the
caller's prefix; the overdue-milestone list is the projects feature's own query (`ProjectRepository.overdue`),
which applies its own scope.

Plans: each statement runs with `plan_cache_mode = force_custom_plan` (SET LOCAL, in a read-only transaction).
asyncpg prepares and caches statements; after five executions PostgreSQL may switch a prepared statement to a
generic plan, which cannot know that `village_code LIKE $1` keeps a whole county: it plans for one project and
loops over the ledger by index (measured 126 ms against 35 ms for 100,000 entries). A custom plan costs ~0.5 ms of
planning. bench/planning.py runs `REPORT_SQL` (`budget_execution_sql(GroupBy.village)`) the same way.

Money: the statements sum integer fen and write each amount out as the wire's yuan, text with exactly two places
(`yuan_sql`: `1750000.00`, exact for any bigint, never a float), so JSON and CSV send PostgreSQL's text as it is;
the rate is computed from the fen sums before.

Rows come back as typed tuples (`ExecutionRow`, `ProgressRow`), all of a report at once (`fetch_*`) or one by
one from a server-side cursor while a CSV is being sent (`stream_*`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from services.planning.projects.repository import ProjectRepository
from services.planning.projects.schemas import OverdueMilestone
from services.planning.reports.domain import (
    EXECUTED_STATUSES,
    UNFUNDED,
    GroupBy,
    ReportScope,
    year_bounds,
)
from shared.context import Context
from shared.db import raw_connection

__all__ = [
    "CURSOR_PREFETCH",
    "ExecutionRow",
    "ProgressRow",
    "ReportRepository",
    "budget_execution_sql",
    "execution_parameters",
    "project_progress_sql",
    "yuan_sql",
]

#: Rows a server-side cursor fetches per round trip while a CSV streams.
CURSOR_PREFETCH = 500
#: Plan each statement for its parameters (see the module's docstring), for the rest of the transaction.
_CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


def yuan_sql(fen: str) -> str:
    """The SQL text of the integer-fen expression `fen` as yuan on the wire: text with exactly two places
    (`175000000` → `1750000.00`, `-5` → `-0.05`), exact for every bigint; NULL stays NULL. A numeric product's
    scale is the sum of its factors' (0 + 2, always two places); `fen::numeric / 100` would round the cents away
    once the quotient has more than 16 significant digits."""
    return f"(({fen})::numeric * 0.01)::text"


#: The project-level key of each grouping (source is per funding line: below).
_PROJECT_KEYS: dict[GroupBy, str] = {
    GroupBy.village: "p.village_code",
    GroupBy.township: "left(p.village_code, 9) || '000'",
    GroupBy.category: "p.category",
}
_SOURCE_KEY = f"coalesce(l.source, '{UNFUNDED}')"

#: $1 the villages (LIKE), $2 / $3 the year's first day and the next year's, $4 the executed statuses.
_PROJECTS = """
p AS (
    SELECT id, village_code, category FROM planning_project
    WHERE village_code LIKE $1 AND starts_on >= $2 AND starts_on < $3 AND status = ANY($4::text[])
)"""

#: By a project-level key: the ledger and the lines summed per project, then per key (no DISTINCT needed).
_BY_PROJECT = """
WITH {projects},
e AS (
    SELECT e.project_id,
           sum(e.amount_fen) FILTER (WHERE e.kind = 'receipt') AS received_fen,
           sum(e.amount_fen) FILTER (WHERE e.kind = 'disbursement') AS disbursed_fen
    FROM planning_ledger_entry e
    WHERE e.project_id IN (SELECT id FROM p)
    GROUP BY e.project_id
),
l AS (
    SELECT l.project_id, sum(l.committed_fen) AS committed_fen
    FROM planning_funding_line l
    WHERE l.project_id IN (SELECT id FROM p)
    GROUP BY l.project_id
),
g AS (
    SELECT CASE WHEN grouping({key}) = 1 THEN '' ELSE {key} END AS key,
           count(*) AS projects,
           coalesce(sum(l.committed_fen), 0)::bigint AS committed_fen,
           coalesce(sum(e.received_fen), 0)::bigint AS received_fen,
           coalesce(sum(e.disbursed_fen), 0)::bigint AS disbursed_fen
    FROM p LEFT JOIN l ON l.project_id = p.id LEFT JOIN e ON e.project_id = p.id
    GROUP BY GROUPING SETS (({key}), ())
)
SELECT key, projects, NULL::text AS allocated_yuan, {committed} AS committed_yuan, {received} AS received_yuan,
       {disbursed} AS disbursed_yuan, round(100.0 * disbursed_fen / nullif(committed_fen, 0), 2) AS rate
FROM g
ORDER BY key = '', key
"""

#: By funding source: the ledger summed per line, the lines per source; with `allocations`, the county's
#: allocations of the year per source beside them ($5 the county, $6 the year), a source allocated but not
#: used included.
_BY_SOURCE = """
WITH {projects},
e AS (
    SELECT e.line_id,
           sum(e.amount_fen) FILTER (WHERE e.kind = 'receipt') AS received_fen,
           sum(e.amount_fen) FILTER (WHERE e.kind = 'disbursement') AS disbursed_fen
    FROM planning_ledger_entry e
    WHERE e.project_id IN (SELECT id FROM p)
    GROUP BY e.line_id
),
g AS (
    SELECT CASE WHEN grouping({key}) = 1 THEN '' ELSE {key} END AS key,
           count(DISTINCT p.id) AS projects,
           coalesce(sum(l.committed_fen), 0)::bigint AS committed_fen,
           coalesce(sum(e.received_fen), 0)::bigint AS received_fen,
           coalesce(sum(e.disbursed_fen), 0)::bigint AS disbursed_fen
    FROM p LEFT JOIN planning_funding_line l ON l.project_id = p.id LEFT JOIN e ON e.line_id = l.id
    GROUP BY GROUPING SETS (({key}), ())
){allocations_cte}
SELECT key, coalesce(g.projects, 0) AS projects, {allocated} AS allocated_yuan,
       {committed} AS committed_yuan, {received} AS received_yuan, {disbursed} AS disbursed_yuan,
       round(100.0 * g.disbursed_fen / nullif(g.committed_fen, 0), 2) AS rate
FROM g{allocations_join}
ORDER BY key = '', key
"""
_ALLOCATIONS_CTE = """,
a AS (
    SELECT CASE WHEN grouping(source) = 1 THEN '' ELSE source END AS key, sum(amount_fen)::bigint AS allocated_fen
    FROM planning_allocation
    WHERE county_code = $5 AND year = $6
    GROUP BY GROUPING SETS ((source), ())
)"""


def budget_execution_sql(group_by: GroupBy, *, allocations: bool = False) -> str:
    """The budget-execution statement for a grouping: one row per key and the totals row (key `''`) last.
    Parameters: `execution_parameters` (and, with `allocations`, the county and the year)."""
    if group_by is GroupBy.source:
        return _BY_SOURCE.format(
            projects=_PROJECTS,
            key=_SOURCE_KEY,
            allocations_cte=_ALLOCATIONS_CTE if allocations else "",
            allocations_join=" FULL JOIN a USING (key)" if allocations else "",
            allocated=yuan_sql("coalesce(a.allocated_fen, 0)") if allocations else "NULL::text",
            committed=yuan_sql("coalesce(g.committed_fen, 0)"),
            received=yuan_sql("coalesce(g.received_fen, 0)"),
            disbursed=yuan_sql("coalesce(g.disbursed_fen, 0)"),
        )
    return _BY_PROJECT.format(
        projects=_PROJECTS,
        key=_PROJECT_KEYS[group_by],
        committed=yuan_sql("committed_fen"),
        received=yuan_sql("received_fen"),
        disbursed=yuan_sql("disbursed_fen"),
    )


def execution_parameters(like: str, year: int) -> tuple[Any, ...]:
    """$1-$4 of the budget-execution statement: the villages, the year's bounds, the executed statuses."""
    first, after = year_bounds(year)
    return like, first, after, sorted(s.value for s in EXECUTED_STATUSES)


#: Project progress: every project of the year (any status), with its milestones, disbursements and acceptance,
#: by village then id, and the totals row last. $1 the villages (LIKE), $2 / $3 the year's bounds.
_PROGRESS_TEMPLATE = """
WITH p AS (
    SELECT id, village_code, name, category, status, budget_fen FROM planning_project
    WHERE village_code LIKE $1 AND starts_on >= $2 AND starts_on < $3
),
m AS (
    SELECT m.project_id, count(*) FILTER (WHERE m.done_on IS NOT NULL) AS done, count(*) AS total,
           round(avg(m.percent), 2) AS progress
    FROM planning_milestone m
    WHERE m.project_id IN (SELECT id FROM p)
    GROUP BY m.project_id
),
d AS (
    SELECT e.project_id, sum(e.amount_fen) AS disbursed_fen
    FROM planning_ledger_entry e
    WHERE e.project_id IN (SELECT id FROM p) AND e.kind = 'disbursement'
    GROUP BY e.project_id
),
r AS (
    SELECT p.id, p.village_code, p.name, p.category, p.status, coalesce(m.done, 0) AS done,
           coalesce(m.total, 0) AS total, m.progress, p.budget_fen,
           coalesce(d.disbursed_fen, 0)::bigint AS disbursed_fen, coalesce(a.passed, false) AS accepted
    FROM p
    LEFT JOIN m ON m.project_id = p.id
    LEFT JOIN d ON d.project_id = p.id
    LEFT JOIN planning_acceptance a ON a.project_id = p.id
)
SELECT false AS is_total, id, village_code, name, category, status, done, total, progress,
       {budget} AS budget_yuan, {disbursed} AS disbursed_yuan, accepted,
       NULL::bigint AS projects, NULL::bigint AS accepted_count
FROM r
UNION ALL
SELECT true, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, {budget_total}, {disbursed_total}, NULL, count(*),
       count(*) FILTER (WHERE accepted)
FROM r
ORDER BY is_total, village_code, id
"""
_PROGRESS = _PROGRESS_TEMPLATE.format(
    budget=yuan_sql("budget_fen"),
    disbursed=yuan_sql("disbursed_fen"),
    budget_total=yuan_sql("coalesce(sum(budget_fen), 0)"),
    disbursed_total=yuan_sql("coalesce(sum(disbursed_fen), 0)"),
)


def project_progress_sql() -> str:
    return _PROGRESS


class ExecutionRow(NamedTuple):
    """A row of budget execution (`key` `''`: the totals)."""

    key: str
    projects: int
    #: Money: yuan with two places (`yuan_sql`), as the wire sends it.
    allocated_yuan: str | None
    committed_yuan: str
    received_yuan: str
    disbursed_yuan: str
    rate: Decimal | None


class ProgressRow(NamedTuple):
    """A project of the progress report, or (`is_total`) the totals: `projects`, `accepted_count`, the sums."""

    is_total: bool
    project_id: uuid.UUID | None
    village_code: str | None
    name: str | None
    category: str | None
    status: str | None
    milestones_done: int | None
    milestones_total: int | None
    progress: Decimal | None
    budget_yuan: str
    disbursed_yuan: str
    accepted: bool | None
    projects: int | None
    accepted_count: int | None


class ReportRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    # -- scope --------------------------------------------------------------------------------------------------
    def _pattern(self, scope: ReportScope) -> str:
        """The report's villages as a LIKE pattern, within the caller's region (a pattern matching nothing when
        the two do not meet: the service refused that already)."""
        own = self.principal.prefix
        if scope.prefix.startswith(own):
            return scope.like
        if own.startswith(scope.prefix):
            return own + "%"
        return "-"  # no code starts with '-'

    @contextlib.asynccontextmanager
    async def _custom_plans(self) -> AsyncIterator[Any]:
        """The session's asyncpg connection in a read-only transaction planning each statement for its values
        (see the module's docstring)."""
        conn = await raw_connection(self.session)
        if conn.is_in_transaction():
            await conn.execute(_CUSTOM_PLANS)
            yield conn
            return
        # One round trip opens the transaction and sets the plan mode (a simple query of two statements).
        await conn.execute(f"BEGIN READ ONLY; {_CUSTOM_PLANS}")
        try:
            yield conn
        finally:
            await conn.execute("ROLLBACK")  # it only read

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        async with self._custom_plans() as conn:
            return list(await conn.fetch(sql, *args))

    async def _stream(self, sql: str, args: Sequence[Any]) -> AsyncIterator[Any]:
        async with self._custom_plans() as conn:
            async for record in conn.cursor(sql, *args, prefetch=CURSOR_PREFETCH):
                yield record

    # -- budget execution -----------------------------------------------------------------------------------------
    def _execution(
        self, scope: ReportScope, year: int, group_by: GroupBy, allocations: bool
    ) -> tuple[str, list[Any]]:
        args = list(execution_parameters(self._pattern(scope), year))
        if allocations:
            args += [scope.county_code, year]
        return budget_execution_sql(group_by, allocations=allocations), args

    async def budget_execution(
        self, scope: ReportScope, year: int, group_by: GroupBy, *, allocations: bool
    ) -> list[ExecutionRow]:
        """Every row of the report, the totals (key `''`) last."""
        sql, args = self._execution(scope, year, group_by, allocations)
        return [ExecutionRow(*record) for record in await self._fetch(sql, args)]

    async def stream_budget_execution(
        self, scope: ReportScope, year: int, group_by: GroupBy, *, allocations: bool
    ) -> AsyncIterator[ExecutionRow]:
        """The same rows from a server-side cursor, as they are sent."""
        sql, args = self._execution(scope, year, group_by, allocations)
        async for record in self._stream(sql, args):
            yield ExecutionRow(*record)

    # -- project progress -----------------------------------------------------------------------------------------
    def _progress(self, scope: ReportScope, year: int) -> tuple[str, list[Any]]:
        first, after = year_bounds(year)
        return _PROGRESS, [self._pattern(scope), first, after]

    async def project_progress(self, scope: ReportScope, year: int) -> list[ProgressRow]:
        sql, args = self._progress(scope, year)
        return [ProgressRow(*record) for record in await self._fetch(sql, args)]

    async def stream_project_progress(self, scope: ReportScope, year: int) -> AsyncIterator[ProgressRow]:
        sql, args = self._progress(scope, year)
        async for record in self._stream(sql, args):
            yield ProgressRow(*record)

    # -- overdue milestones (the projects feature's query) -----------------------------------------------------
    async def overdue(
        self, scope: ReportScope, on: date, *, after: tuple[date, uuid.UUID] | None, limit: int
    ) -> list[OverdueMilestone]:
        """One chunk of the overdue milestones of the report's region, by due date then id, after `after`:
        `ProjectRepository.overdue`, the query of `GET /projects/overdue-milestones`."""
        return await ProjectRepository(self.ctx).overdue(
            on=on, region=scope.named, paired=None, after=after, limit=limit
        )
