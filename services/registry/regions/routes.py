"""Region tree, statuses, policy parameters, quotas and population over HTTP (thin: payload in, one call, model out)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response

from services.registry.regions.schemas import (
    ImportResult,
    PolicyParameterSet,
    PolicyPublic,
    PopulationSet,
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
    PopulationService,
    QuotaService,
    RegionImportService,
    RegionService,
    StatusService,
)
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import NOT_MODIFIED, IfNoneMatchHeader, etag, not_modified, not_modified_response
from shared.pagination import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor
from shared.problems import PayloadTooLarge, UnsupportedMediaType
from shared.roles import RegionLevel
from shared.routing import APIRouter

router = APIRouter(prefix="/regions", tags=["regions"])

CodePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12-digit division code")]
YearPath = Annotated[int, Path(ge=2000, le=2100, description="Calendar year")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=1000)]
_CURSOR_KIND = "region"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Missing or outside your region"}}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this (province systems are read-only)"},
    404: {"description": "Missing or outside your region"},
    422: {"description": "Invalid input; nothing changed"},
}


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    (code,) = decode_cursor(cursor, _CURSOR_KIND, [str])
    return str(code)


def _page(rows: list[Any], next_code: str | None) -> RegionPage:
    return RegionPage(
        items=[RegionPublic.model_validate(r) for r in rows],
        next_cursor=encode_cursor(_CURSOR_KIND, next_code) if next_code else None,
    )


@router.get(
    "/{code}",
    response_model=RegionPublic,
    responses={**NOT_MODIFIED, **_NOT_FOUND},
    summary="One region of your subtree",
)
async def get_region(
    code: CodePath, ctx: ReadContextDep, response: Response, if_none_match: IfNoneMatchHeader = None
) -> RegionPublic | Response:
    """One region (行政区划) of your subtree; its `version` is the ETag (304 with `If-None-Match` while current:
    the answer is the region's own columns, and every change of them is a new version)."""
    region = await RegionService(ctx).get(code)
    tag = etag(region.version)
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    response.headers["ETag"] = tag
    return RegionPublic.model_validate(region)


@router.get(
    "", response_model=RegionPage, responses={400: {"description": "Invalid cursor"}},
    summary="Regions of your subtree, by code (keyset pages)",
)  # fmt: skip
async def list_regions(
    ctx: ReadContextDep,
    parent_code: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    level: RegionLevel | None = None,
    under: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$", description="Code prefix")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> RegionPage:
    """The regions of your subtree by code, optionally children of a parent, of a level or under a code prefix
    (keyset pages)."""
    rows, next_code = await RegionService(ctx).page(
        parent_code=parent_code, level=level, under=under, after=_after(cursor), limit=limit
    )
    return _page(rows, next_code)


@router.post(
    "",
    status_code=201,
    response_model=RegionPublic,
    dependencies=[require_writer],
    responses={403: {"description": "Not a county admin of this region"}, 409: {"description": "Exists"}},
    summary="Add a region below your county",
)
async def create_region(payload: RegionCreate, ctx: ContextDep, response: Response) -> RegionPublic:
    """Add a region (a township, village or group) below your county; `Location` is the region."""
    region = await RegionService(ctx).create(payload)
    response.headers["Location"] = f"/regions/{region.code}"
    response.headers["ETag"] = etag(region.version)
    return RegionPublic.model_validate(region)


@router.post(
    "/import",
    response_model=ImportResult,
    dependencies=[require_writer],
    responses={
        403: {"description": "Not a county admin"},
        413: {"description": "Larger than 2 MiB or 20 000 rows"},
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
    ctx: ContextDep,
    dry_run: Annotated[bool, Query(description="Validate only; write nothing")] = False,
) -> ImportResult:
    """Import regions from a CSV file (`code,name[,parent_code]`): all rows or none; `dry_run` validates only."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise UnsupportedMediaType("send the file as text/csv")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"CSV larger than {MAX_IMPORT_BYTES} bytes")
    return await RegionImportService(ctx).run(bytes(body), dry_run=dry_run)


@router.get(
    "/{code}/subtree",
    response_model=RegionPage,
    responses={**_NOT_FOUND, 400: {"description": "Invalid cursor"}},
    summary="A region and its descendants in your scope, by code (keyset pages)",
)
async def list_region_subtree(
    code: CodePath, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 100
) -> RegionPage:
    """A region and its descendants in your scope, by code (keyset pages)."""
    rows, next_code = await RegionService(ctx).subtree(code, after=_after(cursor), limit=limit)
    return _page(rows, next_code)


@router.get(
    "/{code}/statuses",
    response_model=StatusesPublic,
    responses=_NOT_FOUND,
    summary="Statuses of a region by year",
)
async def get_region_statuses(code: CodePath, ctx: ReadContextDep) -> StatusesPublic:
    """A region's statuses (贫困村, 深度贫困 …) by year."""
    return await StatusService(ctx).list(code)


@router.put(
    "/{code}/statuses/{year}",
    response_model=StatusesPublic,
    dependencies=[require_writer],
    responses=_WRITE,
    summary="Replace a region's statuses for one year (county admin)",
)
async def set_region_statuses(
    code: CodePath, year: YearPath, payload: StatusesSet, ctx: ContextDep
) -> StatusesPublic:
    """Replace a region's statuses for one year (county administrators)."""
    return await StatusService(ctx).replace(code, year, payload)


@router.get(
    "/{code}/policy/{year}",
    response_model=PolicyPublic,
    responses=_NOT_FOUND,
    summary="Effective policy parameters (nearest region along the ancestor chain, newest version)",
)
async def get_policy(code: CodePath, year: YearPath, ctx: ContextDep) -> PolicyPublic:
    """The policy parameters in effect for a region and year: each from the nearest region along the ancestor
    chain, newest version, else the default."""
    return await PolicyService(ctx).effective(code, year)


@router.put(
    "/{code}/policy/{year}/{name}",
    response_model=PolicyPublic,
    dependencies=[require_writer],
    responses={**_WRITE, 409: {"description": "Changed concurrently; retry"}},
    summary="Append a new version of a policy parameter (county admin)",
)
async def set_policy_parameter(
    code: CodePath,
    year: YearPath,
    name: Annotated[str, Path(pattern=r"^[a-z_]{1,64}$")],
    payload: PolicyParameterSet,
    ctx: ContextDep,
) -> PolicyPublic:
    """Append a new version of one policy parameter for a region and year (county administrators)."""
    return await PolicyService(ctx).set(code, year, name, payload)


@router.get(
    "/{code}/quotas/{year}",
    response_model=QuotaPublic,
    responses=_NOT_FOUND,
    summary="Scale-control quota: own, allocated to children, remaining, used",
)
async def get_quota(code: CodePath, year: YearPath, ctx: ContextDep) -> QuotaPublic:
    """A region's scale-control quota (规模控制): its own, allocated to its children, remaining and used."""
    return await QuotaService(ctx).show(code, year)


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
async def set_quota(code: CodePath, year: YearPath, payload: QuotaSet, ctx: ContextDep) -> QuotaPublic:
    """Set a region's quota (county administrators: the county and townships; township officers: villages)."""
    return await QuotaService(ctx).set(code, year, payload)


@router.put(
    "/{code}/population/{year}",
    status_code=204,
    response_class=Response,
    responses={**_WRITE, 204: {"description": "Recorded (no content)"}},
    dependencies=[require_writer],
    summary="Record a region's registered rural population for a year (the base of incidence)",
)
async def set_population(code: CodePath, year: YearPath, payload: PopulationSet, ctx: ContextDep) -> Response:
    """Record a region's registered rural population for a year (the base of the poverty incidence)."""
    await PopulationService(ctx).set(code, year, payload.population, payload.households)
    return Response(status_code=204)
