"""Report use cases (报表): budget execution, project progress and overdue milestones of a county, as JSON or as
CSV streamed while the database produces it.

Each use case decides the report's region first (`domain.report_scope`: the role, 403; the codes' levels, 422; the
county and filters against the caller's region, 404), confirms with the registry that the region it names exists
(404 like any missing region; 503 when the registry does not answer) unless it is the caller's own, then runs the
report's one statement (reports/repository.py). Figures are PostgreSQL's, money already as the wire's yuan text
(`repository.yuan_sql`, exact from fen): this module only writes them out — JSON from the plain row values, CSV
cells from the same values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from services.planning.registry import RegistryGateway
from services.planning.reports import domain
from services.planning.reports.domain import GroupBy, ReportScope
from services.planning.reports.repository import ExecutionRow, ProgressRow, ReportRepository
from services.planning.reports.schemas import (
    BUDGET_COLUMNS,
    BUDGET_KEY_COLUMNS,
    OVERDUE_COLUMNS,
    PROGRESS_COLUMNS,
    BudgetExecutionQuery,
    CsvExport,
    OverdueMilestone,
    OverdueMilestonesQuery,
    OverdueMilestonesReport,
    ProjectProgressQuery,
    report_json,
)
from shared.context import Context
from shared.labels import label_of
from shared.problems import NotFound

__all__ = ["CSV_BOM", "ReportService", "csv_chunks"]

#: The UTF-8 byte order mark: spreadsheet programs read the file as UTF-8 (Chinese intact) when it comes first.
CSV_BOM = b"\xef\xbb\xbf"
#: CSV rows written per chunk sent.
_CHUNK_ROWS = 200
#: Overdue milestones read per round trip (the projects feature's keyset query).
_OVERDUE_CHUNK = 500
#: The label of the totals row's key cell.
_TOTAL = "合计 total"
_UNFUNDED_LABEL = "未落实资金来源"
_LABEL_LISTS = {GroupBy.source: "planning_funding_source", GroupBy.category: "planning_project_category"}


async def csv_chunks(header: Sequence[str], rows: AsyncIterator[Sequence[str]]) -> AsyncIterator[bytes]:
    """CSV (RFC 4180, CRLF) bytes: the BOM and the header first, then the rows a chunk at a time as they come."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    head = CSV_BOM + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    yield head
    pending = 0
    async for cells in rows:
        writer.writerow(cells)
        pending += 1
        if pending >= _CHUNK_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode()


def _percent_cell(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _region_filters(scope: ReportScope) -> dict[str, str | None]:
    """The township and village a report is narrowed to, by its filters or the caller's own region."""
    prefix = scope.prefix
    return {
        "county_code": scope.county_code,
        "township_code": prefix[:9] + "000" if len(prefix) >= 9 else None,
        "village_code": prefix if len(prefix) == 12 else None,
    }


class ReportService:
    def __init__(self, ctx: Context, registry: RegistryGateway) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.registry = registry
        self.repo = ReportRepository(ctx)

    async def _scope(self, county: str, township: str | None, village: str | None) -> ReportScope:
        scope = domain.report_scope(
            role=self.principal.role,
            region=self.principal.region,
            county=county,
            township=township,
            village=village,
        )
        # The caller's own region exists (their token is bound to it); any other is the registry's to confirm.
        if scope.named != self.principal.region and not await self.registry.region_exists(
            scope.named, request_id=self.ctx.request_id
        ):
            raise NotFound(f"region {scope.named} not found")
        return scope

    # -- budget execution ---------------------------------------------------------------------------------------
    @staticmethod
    def _label(group_by: GroupBy, key: str) -> str | None:
        if group_by is GroupBy.source and key == domain.UNFUNDED:
            return _UNFUNDED_LABEL
        list_name = _LABEL_LISTS.get(group_by)
        return label_of(list_name, key) if list_name is not None else None

    @staticmethod
    def _figures(row: ExecutionRow) -> dict[str, Any]:
        return {
            "projects": row.projects,
            "allocated_yuan": row.allocated_yuan,
            "committed_yuan": row.committed_yuan,
            "received_yuan": row.received_yuan,
            "disbursed_yuan": row.disbursed_yuan,
            "rate": row.rate,
        }

    async def budget_execution(self, query: BudgetExecutionQuery) -> bytes:
        """The report's JSON (`BudgetExecutionReport`)."""
        scope = await self._scope(query.county, query.township, query.village)
        allocations = domain.allocated_applies(query.group_by, scope)
        rows = await self.repo.budget_execution(scope, query.year, query.group_by, allocations=allocations)
        *items, totals = rows  # the statement puts the totals row last, always
        return report_json(
            {
                **_region_filters(scope),
                "year": query.year,
                "group_by": query.group_by.value,
                "rows": [
                    {"key": r.key, "label": self._label(query.group_by, r.key), **self._figures(r)}
                    for r in items
                ],
                "totals": self._figures(totals),
            }
        )

    async def budget_execution_csv(self, query: BudgetExecutionQuery) -> CsvExport:
        """The report as CSV, streamed from a server-side cursor (the checks are done before the first byte)."""
        scope = await self._scope(query.county, query.township, query.village)
        allocations = domain.allocated_applies(query.group_by, scope)
        group_by = query.group_by

        async def cells() -> AsyncIterator[list[str]]:
            async for r in self.repo.stream_budget_execution(
                scope, query.year, group_by, allocations=allocations
            ):
                total = r.key == ""
                yield [
                    _TOTAL if total else domain.text_cell(r.key),
                    "" if total else domain.text_cell(self._label(group_by, r.key)),
                    str(r.projects),
                    r.allocated_yuan or "",
                    r.committed_yuan,
                    r.received_yuan,
                    r.disbursed_yuan,
                    _percent_cell(r.rate),
                ]

        return CsvExport(
            filename=f"budget-execution-{scope.named}-{query.year}-by-{group_by.value}.csv",
            chunks=csv_chunks([BUDGET_KEY_COLUMNS[group_by], *BUDGET_COLUMNS], cells()),
        )

    # -- project progress ---------------------------------------------------------------------------------------
    async def project_progress(self, query: ProjectProgressQuery) -> bytes:
        """The report's JSON (`ProjectProgressReport`)."""
        scope = await self._scope(query.county, query.township, query.village)
        rows = await self.repo.project_progress(scope, query.year)
        *items, totals = rows
        return report_json(
            {
                **_region_filters(scope),
                "year": query.year,
                "rows": [
                    {
                        "project_id": r.project_id,
                        "village_code": r.village_code,
                        "name": r.name,
                        "category": r.category,
                        "status": r.status,
                        "milestones_done": r.milestones_done,
                        "milestones_total": r.milestones_total,
                        "progress_percent": r.progress,
                        "budget_yuan": r.budget_yuan,
                        "disbursed_yuan": r.disbursed_yuan,
                        "accepted": r.accepted,
                    }
                    for r in items
                ],
                "totals": {
                    "projects": totals.projects,
                    "budget_yuan": totals.budget_yuan,
                    "disbursed_yuan": totals.disbursed_yuan,
                    "accepted": totals.accepted_count,
                },
            }
        )

    async def project_progress_csv(self, query: ProjectProgressQuery) -> CsvExport:
        scope = await self._scope(query.county, query.township, query.village)

        def row_cells(r: ProgressRow) -> list[str]:
            if r.is_total:
                return [
                    _TOTAL,
                    "",
                    f"{r.projects} 个项目 projects",
                    "",
                    "",
                    "",
                    "",
                    "",
                    r.budget_yuan,
                    r.disbursed_yuan,
                    str(r.accepted_count),
                ]
            return [
                str(r.project_id),
                r.village_code or "",
                domain.text_cell(r.name),
                label_of("planning_project_category", r.category or "") or (r.category or ""),
                label_of("planning_project_status", r.status or "") or (r.status or ""),
                str(r.milestones_done),
                str(r.milestones_total),
                _percent_cell(r.progress),
                r.budget_yuan,
                r.disbursed_yuan,
                "是 yes" if r.accepted else "否 no",
            ]

        async def cells() -> AsyncIterator[list[str]]:
            async for r in self.repo.stream_project_progress(scope, query.year):
                yield row_cells(r)

        return CsvExport(
            filename=f"project-progress-{scope.named}-{query.year}.csv",
            chunks=csv_chunks(PROGRESS_COLUMNS, cells()),
        )

    # -- overdue milestones -------------------------------------------------------------------------------------
    async def _overdue_chunks(self, scope: ReportScope, on: date) -> AsyncIterator[list[OverdueMilestone]]:
        """The overdue milestones a keyset chunk at a time (the projects feature's query, its order)."""
        after: tuple[date, Any] | None = None
        while True:
            chunk = await self.repo.overdue(scope, on, after=after, limit=_OVERDUE_CHUNK)
            if chunk:
                yield chunk
            if len(chunk) < _OVERDUE_CHUNK:
                return
            last = chunk[-1]
            after = (last.due_on, last.milestone_id)

    async def overdue_milestones(self, query: OverdueMilestonesQuery) -> bytes:
        """The report's JSON (`OverdueMilestonesReport`)."""
        scope = await self._scope(query.county, query.township, query.village)
        on = query.as_of or self.ctx.today
        rows: list[OverdueMilestone] = []
        async for chunk in self._overdue_chunks(scope, on):
            rows.extend(chunk)
        report = OverdueMilestonesReport(**_region_filters(scope), as_of=on, rows=rows, total=len(rows))
        return report.model_dump_json().encode()

    async def overdue_milestones_csv(self, query: OverdueMilestonesQuery) -> CsvExport:
        scope = await self._scope(query.county, query.township, query.village)
        on = query.as_of or self.ctx.today

        def row_cells(m: OverdueMilestone) -> list[str]:
            return [
                str(m.project_id),
                domain.text_cell(m.project_name),
                m.village_code,
                str(m.milestone_id),
                domain.text_cell(m.name),
                m.due_on.isoformat(),
                str(m.percent),
                str(m.days_overdue),
            ]

        async def cells() -> AsyncIterator[list[str]]:
            async for chunk in self._overdue_chunks(scope, on):
                for m in chunk:
                    yield row_cells(m)

        return CsvExport(
            filename=f"overdue-milestones-{scope.named}-{on.isoformat()}.csv",
            chunks=csv_chunks(OVERDUE_COLUMNS, cells()),
        )
