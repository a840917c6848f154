"""Assessment figure routes (考核数据): `/figures/{subject_type}` rows of figures, `/figures/catalogue` what they mean.

The registry's routes, mirrored (`GET /api/registry/figures/…`): one route per subject type planning serves
(village, township, helping_unit), each with its typed row — keyset pages as JSON (`items`, `next_cursor`), or
with `Accept: application/x-ndjson` every row streamed in one go, one JSON row per line (the assessment pulls a
whole county). A streamed answer is read from a server-side cursor after the handler returned, so its session is
the request's (`FigureContextDep`, closed once the answer is sent); every check (role, year, region, cursor) runs
before the first byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.planning.deps import RegistryDep
from services.planning.figures.schemas import (
    FIRST_YEAR,
    NDJSON,
    FigureCatalogue,
    FigureQuery,
    HelpingUnitFigureRow,
    SubjectType,
    TownshipFigureRow,
    VillageFigureRow,
    wants_ndjson,
)
from services.planning.figures.service import FigureService, catalogue
from shared.auth import PrincipalDep
from shared.context import Context, context_for
from shared.pagination import MAX_CURSOR_LENGTH, Page
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

#: The tag of these routes, with its description (planning's main.py declares it).
TAGS = {
    "figures": (
        "Assessment figures (考核数据): per-subject figures of a year for the annual assessment — villages, "
        "townships and helping units — computed by planning from plans, actuals, profiles, projects and the ledger"
    )
}

router = APIRouter(tags=list(TAGS))


async def _figure_context(request: Request, principal: PrincipalDep) -> AsyncIterator[Context]:
    """A read context (autocommit session) that lives until the answer has been sent: NDJSON streams from it."""
    async with request.app.state.read_sessions() as session:
        yield context_for(request, session, principal)


#: The request's read context, open while a streamed answer is sent (default dependency scope: the request).
FigureContextDep = Annotated[Context, Depends(_figure_context)]

RegionQuery = Annotated[
    str,
    Query(
        pattern=r"^[0-9]{12}$",
        description="The region (12-digit division code): its subjects are the rows",
        examples=["451025000000"],
    ),
]
YearQuery = Annotated[
    int, Query(ge=FIRST_YEAR, le=2100, description=f"The assessment year, {FIRST_YEAR} to this year")
]
CursorQuery = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="The `next_cursor` of the page before")
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Rows per page (JSON; NDJSON sends every row)")]

_DEFAULT_LIMIT = 200


def _responses(row: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "A page of rows (JSON), or with `Accept: application/x-ndjson` every row after the "
            "cursor, one JSON row per line (streamed)",
            "content": {NDJSON: {"schema": {"$ref": f"#/components/schemas/{row.__name__}"}}},
        },
        400: {"description": "A malformed cursor (`cursor_invalid`) or an unknown query parameter"},
        403: {"description": "Only services, the province and county or township officers read figures"},
        404: {"description": "The region does not exist or lies outside your region (answered alike)"},
        422: {
            "description": "Invalid parameter: the year before 2013 or in the future (`value_out_of_range`), a "
            "malformed region code or limit"
        },
        503: {
            "description": "The registry did not answer (`registry_unavailable`) when the region was checked"
        },
    }


async def _answer(
    ctx: Context, registry: RegistryDep, request: Request, subject: SubjectType, query: FigureQuery
) -> Response:
    service = FigureService(ctx, registry)
    if wants_ndjson(request.headers.get("accept")):
        return StreamingResponse(
            await service.ndjson(subject, query), media_type=NDJSON, headers={"Cache-Control": "no-store"}
        )
    return Response(await service.page_json(subject, query), media_type="application/json")


@router.get(
    "/figures/catalogue",
    response_model=FigureCatalogue,
    summary="Which figures each subject type serves, with their definitions (and which it cannot, and why)",
)
async def get_planning_figure_catalogue(principal: PrincipalDep) -> FigureCatalogue:
    """Planning's assessment figures per subject type: code, zh-CN label, unit, JSON type and the exact
    definition; and the planning-sourced metrics it does not serve, with the reason. The same for every caller."""
    return catalogue()


@router.get(
    "/figures/village",
    response_model=Page[VillageFigureRow],
    responses=_responses(VillageFigureRow),
    summary="Figures of the villages under a region for a year (keyset pages or NDJSON)",
)
async def list_planning_village_figures(
    ctx: FigureContextDep,
    registry: RegistryDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = _DEFAULT_LIMIT,
) -> Response:
    """One row per village under the region that planning holds something of for the year, by code: roads,
    water, power and broadband, biogas, the clinic, collective income, cooperatives from the year's actuals and
    profile; funds disbursed and projects accepted (`GET /figures/catalogue` defines each)."""
    return await _answer(
        ctx, registry, request, SubjectType.village, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/township",
    response_model=Page[TownshipFigureRow],
    responses=_responses(TownshipFigureRow),
    summary="Figures of the townships under a region for a year (keyset pages or NDJSON)",
)
async def list_planning_township_figures(
    ctx: FigureContextDep,
    registry: RegistryDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = _DEFAULT_LIMIT,
) -> Response:
    """One row per township under the region with such a village, by code: funds raised and disbursed,
    projects accepted and the progress of its villages' plan targets."""
    return await _answer(
        ctx, registry, request, SubjectType.township, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/helping_unit",
    response_model=Page[HelpingUnitFigureRow],
    responses=_responses(HelpingUnitFigureRow),
    summary="Figures of the helping units funding projects in a region during a year (keyset pages or NDJSON)",
)
async def list_planning_helping_unit_figures(
    ctx: FigureContextDep,
    registry: RegistryDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = _DEFAULT_LIMIT,
) -> Response:
    """One row per helping unit — the funder named on `helping_unit_fund` lines — with a line of the year or a
    receipt dated in it in the region, by key: funds raised, pledges delivered, funds disbursed, projects
    accepted and the progress of the plans of the villages it funds."""
    return await _answer(
        ctx, registry, request, SubjectType.helping_unit, FigureQuery(region, year, cursor, limit)
    )
