"""Report routes (报表): `/reports/budget-execution`, `/reports/project-progress`, `/reports/overdue-milestones` —
JSON by default, CSV with `?format=csv` or `Accept: text/csv` (thin: the query in, one service call, the bytes out).

A CSV is streamed: its rows leave the database through a server-side cursor while the answer is being sent, after
the handler returned. Its session is therefore the request's (`ReportContextDep`, closed once the answer is sent),
not the handler's like `ReadContextDep`'s. Every check (role, region, the registry) runs before the first byte, so a
refusal is still a problem+json answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.planning.deps import RegistryDep
from services.planning.reports.schemas import (
    BudgetExecutionQuery,
    BudgetExecutionReport,
    CsvExport,
    GroupBy,
    OverdueMilestonesQuery,
    OverdueMilestonesReport,
    ProjectProgressQuery,
    ProjectProgressReport,
    ReportFormat,
    wants_csv,
)
from services.planning.reports.service import ReportService
from shared.auth import PrincipalDep
from shared.context import Context, context_for
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

#: The tag of these routes, with its description (planning's main.py declares it).
TAGS = {
    "reports": (
        "Reports (报表): a county's budget execution from the ledger (预算执行), its projects' progress, overdue "
        "milestones — as JSON or as CSV for spreadsheets"
    )
}

router = APIRouter(tags=list(TAGS))


async def _report_context(request: Request, principal: PrincipalDep) -> AsyncIterator[Context]:
    """A read context (autocommit session) that lives until the answer has been sent: a CSV streams from it."""
    async with request.app.state.read_sessions() as session:
        yield context_for(request, session, principal)


#: The request's read context, open while a streamed answer is sent (default dependency scope: the request).
ReportContextDep = Annotated[Context, Depends(_report_context)]

Code = r"^[0-9]{12}$"
County = Annotated[str, Query(pattern=Code, description="The county's 12-digit division code")]
Township = Annotated[
    str | None, Query(pattern=Code, description="Only this township of the county (乡镇代码)")
]
Village = Annotated[
    str | None, Query(pattern=Code, description="Only this village of the county (行政村代码)")
]
Year = Annotated[
    int,
    Query(
        ge=2000,
        le=2100,
        description="The projects whose schedule starts in this year (`starts_on`; the year their lines' "
        "allocations are for), with all their money whatever the entries' dates",
    ),
]
Format = Annotated[
    ReportFormat | None,
    Query(
        alias="format",
        description="`csv` for CSV (UTF-8 with a BOM, Chinese and English column names, money in yuan); "
        "`json` (default) — or send `Accept: text/csv`",
    ),
]

_CSV_CONTENT: dict[str, Any] = {"text/csv": {"schema": {"type": "string", "format": "binary"}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report (JSON), or with `format=csv` / `Accept: text/csv` a CSV attachment (UTF-8 with"
        " a BOM, streamed; `Content-Disposition` names the file)",
        "content": _CSV_CONTENT,
    },
    403: {"description": "Your role reads no report (county admins, township officers and the province do)"},
    404: {"description": "The county (or township, village) is not yours, or does not exist"},
    422: {
        "description": "Invalid parameter: a code of the wrong level, a year out of range, an unknown grouping"
    },
    503: {
        "description": "The registry did not answer (`registry_unavailable`) when the region had to be checked"
    },
}


def _csv(export: CsvExport) -> StreamingResponse:
    return StreamingResponse(
        export.chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get(
    "/reports/budget-execution",
    response_model=BudgetExecutionReport,
    responses=_RESPONSES,
    summary="Budget execution of a county's projects of a year, from the ledger (预算执行; JSON or CSV)",
)
async def get_budget_execution(
    ctx: ReportContextDep,
    registry: RegistryDep,
    request: Request,
    county: County,
    year: Year,
    group_by: Annotated[GroupBy, Query(description="One row per township, village, source or category")] = (
        GroupBy.village
    ),
    township: Township = None,
    village: Village = None,
    format_: Format = None,
) -> Response:
    """What the county's approved projects of the year commit, received (到位) and disbursed (拨付), from the
    ledger (reversals netted), per village (default), township, funding source or category, with the rate
    (disbursed ÷ committed) and the totals; by source at county or township level also the county's
    allocations. County admins read their county, township officers their township, the province all."""
    query = BudgetExecutionQuery(
        county=county, year=year, group_by=group_by, township=township, village=village
    )
    service = ReportService(ctx, registry)
    if wants_csv(format_, request.headers.get("accept")):
        return _csv(await service.budget_execution_csv(query))
    return _json(await service.budget_execution(query))


@router.get(
    "/reports/project-progress",
    response_model=ProjectProgressReport,
    responses=_RESPONSES,
    summary="Progress of a county's projects of a year: status, milestones, money, acceptance (JSON or CSV)",
)
async def get_project_progress(
    ctx: ReportContextDep,
    registry: RegistryDep,
    request: Request,
    county: County,
    year: Year,
    township: Township = None,
    village: Village = None,
    format_: Format = None,
) -> Response:
    """Every project of the county (or township, village) starting in the year: its status, milestones done of
    all, progress (the mean of its milestones), budget, what the ledger disbursed, and whether its acceptance
    (验收) passed; with the totals."""
    query = ProjectProgressQuery(county=county, year=year, township=township, village=village)
    service = ReportService(ctx, registry)
    if wants_csv(format_, request.headers.get("accept")):
        return _csv(await service.project_progress_csv(query))
    return _json(await service.project_progress(query))


@router.get(
    "/reports/overdue-milestones",
    response_model=OverdueMilestonesReport,
    responses=_RESPONSES,
    summary="Milestones past due and not done, of a county's projects being implemented (JSON or CSV)",
)
async def get_overdue_milestones(
    ctx: ReportContextDep,
    registry: RegistryDep,
    request: Request,
    county: County,
    as_of: Annotated[date | None, Query(description="The day (default: today in China)")] = None,
    township: Township = None,
    village: Village = None,
    format_: Format = None,
) -> Response:
    """The milestones due before the day and not done (逾期节点) of the county's approved projects being
    implemented, oldest due first: the list of `GET /projects/overdue-milestones`, whole, as a report."""
    query = OverdueMilestonesQuery(county=county, as_of=as_of, township=township, village=village)
    service = ReportService(ctx, registry)
    if wants_csv(format_, request.headers.get("accept")):
        return _csv(await service.overdue_milestones_csv(query))
    return _json(await service.overdue_milestones(query))
