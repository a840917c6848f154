"""Registry HTTP routes (thin: payload in, service call, model out)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from services.registry.households.queries import HouseholdQueries
from services.registry.households.schemas import PopulationSet
from services.registry.legacy_context import Context
from services.registry.regions.repository import RegionRepository
from services.registry.regions.schemas import (
    ImportResult,
    PolicyParameterSet,
    PolicyPublic,
    QuotaPublic,
    QuotaSet,
    RegionCreate,
    RegionPage,
    RegionPublic,
    StatusesPublic,
    StatusesSet,
)
from services.registry.regions.service import (
    MAX_IMPORT_BYTES,
    PolicyService,
    QuotaService,
    RegionImportService,
    RegionService,
    StatusService,
)
from shared.auth import PrincipalDep, require_writer
from shared.db import ReadSessionDep, SessionDep
from shared.problems import Forbidden, PayloadTooLarge, UnsupportedMediaType
from shared.roles import RegionLevel, Role, scope_prefix

router = APIRouter(prefix="/regions", tags=["regions"])

CodePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12-digit division code")]
YearPath = Annotated[int, Path(ge=2000, le=2100, description="Calendar year")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Missing or outside your region"}}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this (province systems are read-only)"},
    404: {"description": "Missing or outside your region"},
    422: {"description": "Invalid input; nothing changed"},
}


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


@router.post(
    "/import",
    response_model=ImportResult,
    dependencies=[require_writer],
    responses={
        403: {"description": "Not a county admin"},
        415: {"description": "Not text/csv"},
        422: {"description": "Per-row `errors` (row, field, message); nothing was written"},
    },
    summary="Import regions from CSV (code,name[,parent_code]); all or nothing",
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_regions(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    dry_run: Annotated[bool, Query(description="Validate only; write nothing")] = False,
) -> ImportResult:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise UnsupportedMediaType("send the file as text/csv")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"CSV larger than {MAX_IMPORT_BYTES} bytes")
    return await RegionImportService(session, principal).run(bytes(body), dry_run=dry_run)


@router.get(
    "/{code}/subtree",
    response_model=RegionPage,
    responses=_NOT_FOUND,
    summary="A region and its descendants in your scope, by code (keyset pages)",
)
async def region_subtree(
    code: CodePath,
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RegionPage:
    await RegionService(session, principal).get(code)
    rows = await RegionRepository(session, principal).page(
        parent_code=None, level=None, under=scope_prefix(code), after=cursor, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RegionPage(
        items=[RegionPublic.model_validate(r) for r in rows],
        next_cursor=rows[-1].code if more and rows else None,
    )


@router.get(
    "/{code}/statuses",
    response_model=StatusesPublic,
    responses=_NOT_FOUND,
    summary="Statuses of a region by year",
)
async def get_statuses(code: CodePath, session: SessionDep, principal: PrincipalDep) -> StatusesPublic:
    return await StatusService(session, principal).list(code)


@router.put(
    "/{code}/statuses/{year}",
    response_model=StatusesPublic,
    dependencies=[require_writer],
    responses=_WRITE,
    summary="Replace a region's statuses for one year (county admin)",
)
async def put_statuses(
    code: CodePath, year: YearPath, payload: StatusesSet, session: SessionDep, principal: PrincipalDep
) -> StatusesPublic:
    return await StatusService(session, principal).replace(code, year, payload)


@router.get(
    "/{code}/policy/{year}",
    response_model=PolicyPublic,
    responses=_NOT_FOUND,
    summary="Effective policy parameters (nearest region along the ancestor chain, newest version)",
)
async def get_policy(
    code: CodePath, year: YearPath, session: SessionDep, principal: PrincipalDep
) -> PolicyPublic:
    return await PolicyService(session, principal).effective(code, year)


@router.put(
    "/{code}/policy/{year}/{name}",
    response_model=PolicyPublic,
    dependencies=[require_writer],
    responses=_WRITE,
    summary="Append a new version of a policy parameter (county admin)",
)
async def put_policy(
    code: CodePath,
    year: YearPath,
    name: Annotated[str, Path(pattern=r"^[a-z_]{1,64}$")],
    payload: PolicyParameterSet,
    session: SessionDep,
    principal: PrincipalDep,
) -> PolicyPublic:
    return await PolicyService(session, principal).set(code, year, name, payload)


@router.get(
    "/{code}/quotas/{year}",
    response_model=QuotaPublic,
    responses=_NOT_FOUND,
    summary="Scale-control quota: own, allocated to children, remaining",
)
async def get_quota(
    code: CodePath, year: YearPath, session: SessionDep, principal: PrincipalDep
) -> QuotaPublic:
    return await QuotaService(session, principal).show(code, year)


@router.put(
    "/{code}/quotas/{year}",
    response_model=QuotaPublic,
    dependencies=[require_writer],
    responses={
        **_WRITE,
        409: {"description": "Would exceed the parent's quota (or fall below the children's)"},
    },
    summary="Set a quota (county admin: county and townships; township officer: villages)",
)
async def put_quota(
    code: CodePath, year: YearPath, payload: QuotaSet, session: SessionDep, principal: PrincipalDep
) -> QuotaPublic:
    return await QuotaService(session, principal).set(code, year, payload)


@router.put(
    "/{code}/population/{year}",
    status_code=204,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record a region's registered rural population for a year (the base of incidence)",
    tags=["regions"],
)
async def put_population(
    code: CodePath,
    year: YearPath,
    payload: PopulationSet,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    if principal.role not in (Role.county_admin, Role.township_officer, Role.village_officer):
        raise Forbidden(f"role '{principal.role}' may not record population")
    ctx = Context.of(request, session, principal)
    await HouseholdQueries(session, principal).set_population(
        ctx, code, year, payload.population, payload.households
    )
    await session.commit()
    return Response(status_code=204)
