"""Assessment figure routes (考核数据): `/figures/{subject_type}` rows of figures, `/figures/catalogue` what they mean.

One route per subject type (village, township, cadre, helping_unit, household_exit), each with its typed row:
keyset pages as JSON (`items`, `next_cursor`), or with `Accept: application/x-ndjson` every row streamed in one
go, one JSON row per line (the assessment pulls a whole county). A streamed answer is read from a server-side
cursor after the handler returned, so its session is the request's (`FigureContextDep`, closed once the answer is
sent); every check (role, year, region) runs before the first byte. The parameters, the responder and the
catalogue envelope are shared/figures.py's (planning's `/figures/…` use them too).
"""

from __future__ import annotations

from fastapi import Request, Response

from services.registry.figures.schemas import (
    CadreFigureRow,
    FigureCatalogue,
    HelpingUnitFigureRow,
    HouseholdExitFigureRow,
    SubjectType,
    TownshipFigureRow,
    VillageFigureRow,
)
from services.registry.figures.service import FigureService, catalogue
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

#: The tag of these routes, with its description (the registry's main.py declares it).
TAGS = {
    "figures": (
        "Assessment figures (考核数据): per-subject figures of a year for the annual assessment — villages, "
        "townships, cadres, helping units and the household exit test — computed by the registry"
    )
}

router = APIRouter(tags=list(TAGS))


@router.get(
    "/figures/catalogue",
    response_model=FigureCatalogue,
    summary="Which figures each subject type serves, with their definitions (and which it cannot, and why)",
)
async def get_figure_catalogue(principal: PrincipalDep) -> FigureCatalogue:
    """The registry's assessment figures per subject type: code, zh-CN label, unit, JSON type and the exact
    definition; and the registry-sourced metrics it does not serve, with the reason. The same for every caller."""
    return catalogue()


@router.get(
    "/figures/village",
    response_model=Page[VillageFigureRow],
    responses=figure_responses(VillageFigureRow),
    summary="Figures of the villages under a region for a year (keyset pages or NDJSON)",
)
async def list_village_figures(
    ctx: FigureContextDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per administrative village under the region, by code: exits, incidence, returnees, income,
    coverage, pairing, measures, monitoring and deadlines of the year (`GET /figures/catalogue` defines each)."""
    return await answer(
        request, FigureService(ctx), SubjectType.village, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/township",
    response_model=Page[TownshipFigureRow],
    responses=figure_responses(TownshipFigureRow),
    summary="Figures of the townships under a region for a year (keyset pages or NDJSON)",
)
async def list_township_figures(
    ctx: FigureContextDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per township under the region, by code: a village's figures over the township's households, and
    the exit plan achieved."""
    return await answer(
        request, FigureService(ctx), SubjectType.township, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/cadre",
    response_model=Page[CadreFigureRow],
    responses=figure_responses(CadreFigureRow),
    summary="Figures of the cadres paired in a region during a year (keyset pages or NDJSON)",
)
async def list_cadre_figures(
    ctx: FigureContextDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per cadre with a pairing of a household of the region in force during the year, by id: visits,
    signed cards, plans, measures, income against plan, exits per plan — over their pairings in the region."""
    return await answer(
        request, FigureService(ctx), SubjectType.cadre, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/helping_unit",
    response_model=Page[HelpingUnitFigureRow],
    responses=figure_responses(HelpingUnitFigureRow),
    summary="Figures of the helping units working in a region during a year (keyset pages or NDJSON)",
)
async def list_helping_unit_figures(
    ctx: FigureContextDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per helping unit with a pairing or a resident assignment in the region during the year, by id:
    its cadres' figures together, pairing coverage, resident team, first secretary, liaison."""
    return await answer(
        request, FigureService(ctx), SubjectType.helping_unit, FigureQuery(region, year, cursor, limit)
    )


@router.get(
    "/figures/household_exit",
    response_model=Page[HouseholdExitFigureRow],
    responses=figure_responses(HouseholdExitFigureRow),
    summary="The exit test of the households of a region that applied to exit in a year (pages or NDJSON)",
)
async def list_household_exit_figures(
    ctx: FigureContextDep,
    request: Request,
    region: RegionQuery,
    year: YearQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Response:
    """One row per household of the region whose exit was proposed in the year, by id: the items of the exit
    test (§6.5-A) from the record and the exit survey, and whether the procedure was completed."""
    return await answer(
        request, FigureService(ctx), SubjectType.household_exit, FigureQuery(region, year, cursor, limit)
    )
