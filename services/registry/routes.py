"""Registry HTTP routes (thin: payload in, service call, model out)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from services.registry.repository import RegionRepository
from services.registry.schemas import RegionCreate, RegionPage, RegionPublic
from services.registry.service import RegionService
from shared.auth import PrincipalDep, require_writer
from shared.db import ReadSessionDep, SessionDep
from shared.regions import RegionLevel

router = APIRouter(prefix="/regions", tags=["regions"])

CodePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12-digit division code")]
_NOT_FOUND = {404: {"description": "Missing or outside your region"}}


@router.get(
    "/{code}", response_model=RegionPublic, responses=_NOT_FOUND, summary="One region of your subtree"
)
async def get_region(
    code: CodePath, session: ReadSessionDep, principal: PrincipalDep, response: Response
) -> RegionPublic:
    region = await RegionService(session, principal).get(code)
    response.headers["ETag"] = f'"{region.version}"'
    return RegionPublic.model_validate(region)


@router.get("", response_model=RegionPage, summary="Regions of your subtree, by code (keyset pages)")
async def list_regions(
    session: ReadSessionDep,
    principal: PrincipalDep,
    parent_code: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    level: RegionLevel | None = None,
    under: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$", description="Code prefix")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RegionPage:
    rows = await RegionRepository(session, principal).page(
        parent_code=parent_code, level=level, under=under, after=cursor, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RegionPage(
        items=[RegionPublic.model_validate(r) for r in rows],
        next_cursor=rows[-1].code if more and rows else None,
    )


@router.post(
    "",
    status_code=201,
    response_model=RegionPublic,
    dependencies=[require_writer],
    responses={403: {"description": "Not a county admin of this region"}, 409: {"description": "Exists"}},
    summary="Add a region below your county",
)
async def create_region(
    payload: RegionCreate, session: SessionDep, principal: PrincipalDep, response: Response
) -> RegionPublic:
    region = await RegionService(session, principal).create(payload)
    response.headers["Location"] = f"/regions/{region.code}"
    return RegionPublic.model_validate(region)
