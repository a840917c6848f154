"""Assessment figure routes (考核数据): `/figures/{subject_type}` rows of figures, `/figures/catalogue` what they mean.

The registry's routes, mirrored (`GET /api/registry/figures/…`): one route per subject type planning serves
(village, township, helping_unit), each with its typed row — keyset pages as JSON (`items`, `next_cursor`), or
with `Accept: application/x-ndjson` every row streamed in one go, one JSON row per line (the assessment pulls a
whole county). A streamed answer is read from a server-side cursor after the handler returned, so its session is
the request's (`FigureContextDep`, closed once the answer is sent); every check (role, year, region, cursor) runs
before the first byte. The parameters, the responder and the catalogue envelope are shared/figures.py's, the
registry's too.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from services.planning.deps import RegistryDep
from services.planning.figures.schemas import (
    FigureCatalogue,
    HelpingUnitFigureRow,
    SubjectType,
    TownshipFigureRow,
    VillageFigureRow,
)
from services.planning.figures.service import FigureService, catalogue
from shared.auth import PrincipalDep
from shared.figures import (
    DEFAULT_LIMIT,
    CursorQuery,
    FigureContextDep,
    FigureQuery,
    LimitQuery,
    RegionQuery,
    YearQuery,
    answer,
    figure_responses,
)
from shared.pagination import Page
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

#: Planning checks the region with the registry: its answers add the registry's 503.
_REGISTRY: dict[int | str, dict[str, Any]] = {
    503: {"description": "The registry did not answer (`registry_unavailable`) when the region was checked"}
}


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
    responses=figure_responses(VillageFigureRow, _REGISTRY),
    summary="Figures of the villages under a region for a year (keyset pages or NDJSON)",
)
async def list_planning_village_figures(
    ctx: FigureContextDep,
    registry: RegistryDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per village under the region that planning holds something of for the year, by code: roads,
    water, power and broadband, biogas, the clinic, collective income, cooperatives from the year's actuals and
    profile; funds disbursed and projects accepted (`GET /figures/catalogue` defines each)."""
    return await answer(
        request, FigureService(ctx, registry), SubjectType.village, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/township",
    response_model=Page[TownshipFigureRow],
    responses=figure_responses(TownshipFigureRow, _REGISTRY),
    summary="Figures of the townships under a region for a year (keyset pages or NDJSON)",
)
async def list_planning_township_figures(
    ctx: FigureContextDep,
    registry: RegistryDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per township under the region with such a village, by code: funds raised and disbursed,
    projects accepted and the progress of its villages' plan targets."""
    return await answer(
        request, FigureService(ctx, registry), SubjectType.township, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/helping_unit",
    response_model=Page[HelpingUnitFigureRow],
    responses=figure_responses(HelpingUnitFigureRow, _REGISTRY),
    summary="Figures of the helping units funding projects in a region during a year (keyset pages or NDJSON)",
)
async def list_planning_helping_unit_figures(
    ctx: FigureContextDep,
    registry: RegistryDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per helping unit — the funder named on `helping_unit_fund` lines — with a line of the year or a
    receipt dated in it in the region, by key: funds raised, pledges delivered, funds disbursed, projects
    accepted and the progress of the plans of the villages it funds."""
    return await answer(
        request,
        FigureService(ctx, registry),
        SubjectType.helping_unit,
        FigureQuery(region, year, cursor, limit),
    )
