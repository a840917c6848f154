"""Indicator catalogue routes: `GET /indicators`, `GET /indicators/{code}`, `POST /indicators` (county admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from services.planning.indicators.schemas import (
    IndicatorCreate,
    IndicatorOrigin,
    IndicatorPage,
    IndicatorPublic,
    Unit,
)
from services.planning.indicators.service import IndicatorService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter(prefix="/indicators", tags=["indicators"])

#: The tag of these routes, with its description (main.py declares it).
TAGS = {
    "indicators": "The indicator catalogue (指标库): the shipped indicators of village plans and each county's own"
}

Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
CodePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{2,63}$", description="The indicator's code")]


@router.get(
    "",
    response_model=IndicatorPage,
    responses={400: {"description": "Invalid cursor"}},
    summary="The indicator catalogue you may use: the shipped one and your county's own (keyset pages)",
)
async def list_indicators(
    ctx: ReadContextDep,
    origin: Annotated[
        IndicatorOrigin | None, Query(description="Only the shipped or only county indicators")
    ] = None,
    unit: Annotated[Unit | None, Query(description="Only indicators in this unit")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> IndicatorPage:
    """The indicators (指标库) a plan may target: the catalogue of DOMAIN.md §5.3 shipped as data, and the ones your
    county added, by code (keyset pages)."""
    return await IndicatorService(ctx).page(origin=origin, unit=unit, cursor=cursor, limit=limit)


@router.get(
    "/{code}",
    response_model=IndicatorPublic,
    responses={404: {"description": "No such indicator, or another county's"}},
    summary="One indicator of the catalogue",
)
async def get_indicator(code: CodePath, ctx: ReadContextDep) -> IndicatorPublic:
    """One indicator of the catalogue: its zh-CN and English names, unit and direction."""
    return await IndicatorService(ctx).get(code)


@router.post(
    "",
    status_code=201,
    response_model=IndicatorPublic,
    dependencies=[require_writer],
    responses={
        403: {"description": "Not a county administrator"},
        409: {"description": "The code is taken (`indicator_exists`)"},
    },
    summary="Add an indicator for your county (county admin)",
)
async def create_indicator(payload: IndicatorCreate, ctx: ContextDep, response: Response) -> IndicatorPublic:
    """Add an indicator to your county's catalogue (县自定指标), with its unit and direction; the county's plans
    may then target it. `Location` is the indicator."""
    created = await IndicatorService(ctx).create(payload)
    response.headers["Location"] = f"/indicators/{created.code}"
    return created
