"""Household HTTP routes (thin: parse, call the use case, commit, answer with the new ETag)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Route

from services.registry.households.fast import read_card
from services.registry.households.queries import LIST_FIELDS, HouseholdQueries, SortKey
from services.registry.households.schemas import (
    FlagClear,
    HeadChange,
    HouseholdCreate,
    HouseholdPatch,
    IncomeSet,
    MemberCreate,
    MemberLeave,
    MemberPatch,
    MergeRequest,
    MoveRequest,
    SplitRequest,
)
from services.registry.households.service import HouseholdService
from services.registry.legacy_context import Context
from services.registry.scope import require_unmask
from shared.auth import PrincipalDep, current_principal, require_writer
from shared.db import ReadSessionDep, SessionDep
from shared.etag import etag, parse_if_match
from shared.problems import UnprocessableEntity
from shared.roles import Principal

router = APIRouter(tags=["households"])

HouseholdId = Annotated[uuid.UUID, Path(description="Household id (UUID)")]
MemberId = Annotated[uuid.UUID, Path(description="Member id (UUID)")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The ETag you read: "<version>"')]
YearPath = Annotated[int, Path(ge=2000, le=2100)]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by a rule (problem `code` says which)"},
    412: {"description": "Stale If-Match: the body carries `current_version`"},
    422: {"description": "Invalid input; nothing changed"},
    428: {"description": "If-Match missing"},
}


def _versioned(body: dict[str, Any], version: int, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body | {"version": version}, status_code=status_code, headers={"ETag": etag(version)})


# -- households ---------------------------------------------------------------------------------------------
@router.post(
    "/households",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Register a household record (status candidate) with its members",
)
async def create_household(
    payload: HouseholdCreate, request: Request, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    hid, version = await HouseholdService(Context.of(request, session, principal)).create(payload)
    await session.commit()
    response = _versioned({"id": str(hid)}, version, 201)
    response.headers["Location"] = f"/households/{hid}"
    return response


@router.get(
    "/households",
    summary="List and search households (filters, keyset pages, field selection)",
    responses={400: {"description": "Invalid cursor"}},
)
async def list_households(
    session: ReadSessionDep,
    principal: PrincipalDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="Region subtree")] = None,
    status: Annotated[
        list[str] | None, Query(description="Status (repeatable); objection_pending too")
    ] = None,
    cause: Annotated[str | None, Query(max_length=32, description="Primary or other poverty cause")] = None,
    attribute: Annotated[str | None, Query(max_length=16)] = None,
    income_min: Annotated[
        Decimal | None, Query(ge=0, le=10**9, description="Per-capita net income >=")
    ] = None,
    income_max: Annotated[Decimal | None, Query(ge=0, le=10**9)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=64, description="Head's name prefix")] = None,
    flag: Annotated[str | None, Query(max_length=32, description="Open integrity flag")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Identification year")] = None,
    has_labor_capacity: bool | None = None,
    returned: bool | None = None,
    sort: SortKey = SortKey.village,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    fields: Annotated[
        str | None, Query(max_length=1000, description="Comma-separated subset of item fields")
    ] = None,
) -> dict[str, Any]:
    chosen = list(LIST_FIELDS) if not fields else [f.strip() for f in fields.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in LIST_FIELDS]
    if unknown:
        raise UnprocessableEntity(
            f"unknown fields: {', '.join(unknown)}", field="fields", allowed=sorted(LIST_FIELDS)
        )
    items, next_cursor = await HouseholdQueries(session, principal).page(
        region=region,
        statuses=status or [],
        cause=cause,
        attribute=attribute,
        income_min=income_min,
        income_max=income_max,
        name_prefix=name,
        flag=flag,
        year=year,
        has_labor_capacity=has_labor_capacity,
        returned=returned,
        sort=sort,
        descending=order == "desc",
        cursor=cursor,
        limit=limit,
        fields=chosen,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/households/stats",
    summary="Counts and poverty incidence for a region and its child regions",
    responses={404: {"description": "Region missing or outside your scope"}},
)
async def household_stats(
    session: SessionDep,
    principal: PrincipalDep,
    region: Annotated[str, Query(pattern=r"^[0-9]{12}$")],
    year: Annotated[int, Query(ge=2000, le=2100, description="Population year")],
) -> dict[str, Any]:
    return await HouseholdQueries(session, principal).stats(region, year)


async def card_response(
    request: Request, principal: Principal, household_id: uuid.UUID, unmask: bool
) -> Response:
    if not unmask:
        # The hot path: one prepared statement on the read pool, PostgreSQL's JSON sent as it comes.
        card, version = await read_card(request.app.state.read_pool, principal, household_id)
        return Response(card, media_type="application/json", headers={"ETag": etag(version)})
    require_unmask(principal)
    async with request.app.state.sessions() as session:
        queries = HouseholdQueries(session, principal)
        card, version = await queries.card(household_id)
        body = await queries.unmasked(Context.of(request, session, principal), household_id, card)
        await session.commit()
    return JSONResponse(body, headers={"ETag": etag(version), "Cache-Control": "no-store"})


_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


async def _card_endpoint(request: Request) -> Response:
    """`GET /households/{id}` as a plain Starlette route (the busiest read skips FastAPI's dependency solving).

    Same authentication function, same errors (the app's problem+json handlers), same response as the
    documented FastAPI route below, which shares `card_response`.
    """
    household_id: uuid.UUID = request.path_params["household_id"]
    principal = await current_principal(request)
    flag = request.query_params.get("unmask", "false").lower()
    if flag not in _TRUE | _FALSE:
        raise UnprocessableEntity("unmask must be true or false", field="unmask")
    return await card_response(request, principal, household_id, flag in _TRUE)


#: Put first in the app's routes by services.registry.main; the FastAPI route documents it.
#: Only UUIDs match, so /households/stats and malformed ids reach the FastAPI routes (and their 422).
card_route = Route("/households/{household_id:uuid}", _card_endpoint, methods=["GET"])


@router.get(
    "/households/{household_id}",
    summary="The full household card (扶贫手册 view) in one request",
    responses={
        403: {"description": "unmask asked by a role that may not"},
        404: {"description": "Not found"},
    },
)
async def get_household(
    household_id: HouseholdId,
    request: Request,
    principal: PrincipalDep,
    unmask: Annotated[bool, Query(description="Full ID numbers, phones, bank account (audited)")] = False,
) -> Response:
    return await card_response(request, principal, household_id, unmask)


@router.patch(
    "/households/{household_id}",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Edit household fields (If-Match required)",
)
async def patch_household(
    household_id: HouseholdId,
    payload: HouseholdPatch,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new = await HouseholdService(Context.of(request, session, principal)).patch(
        household_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id)}, new)


# -- members ------------------------------------------------------------------------------------------------
@router.post(
    "/households/{household_id}/members",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Add a member (birth, marriage in, …)",
)
async def add_member(
    household_id: HouseholdId,
    payload: MemberCreate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    mid, new = await HouseholdService(Context.of(request, session, principal)).add_member(
        household_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id), "member_id": str(mid)}, new, 201)


@router.patch(
    "/households/{household_id}/members/{member_id}",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Edit a member",
)
async def patch_member(
    household_id: HouseholdId,
    member_id: MemberId,
    payload: MemberPatch,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new = await HouseholdService(Context.of(request, session, principal)).patch_member(
        household_id, member_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id), "member_id": str(member_id)}, new)


@router.post(
    "/households/{household_id}/members/{member_id}/leave",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="A member leaves (death, marriage out, transfer, military service)",
)
async def member_leaves(
    household_id: HouseholdId,
    member_id: MemberId,
    payload: MemberLeave,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new = await HouseholdService(Context.of(request, session, principal)).leave(
        household_id, member_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id)}, new)


@router.post(
    "/households/{household_id}/members/{member_id}/move",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Move a member to another household of the registry (identity and history kept)",
)
async def move_member(
    household_id: HouseholdId,
    member_id: MemberId,
    payload: MoveRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new_member, new = await HouseholdService(Context.of(request, session, principal)).move(
        household_id, member_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id), "new_member_id": str(new_member)}, new)


@router.post(
    "/households/{household_id}/head",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Change the head of the household",
)
async def change_head(
    household_id: HouseholdId,
    payload: HeadChange,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new = await HouseholdService(Context.of(request, session, principal)).change_head(
        household_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id)}, new)


@router.post(
    "/households/{household_id}/split",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Split members off into a new household (分户; flagged for review)",
)
async def split_household(
    household_id: HouseholdId,
    payload: SplitRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new_id, new = await HouseholdService(Context.of(request, session, principal)).split(
        household_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id), "new_household_id": str(new_id)}, new, 201)


@router.post(
    "/households/{household_id}/merge",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Absorb another household of the village (it is dissolved)",
)
async def merge_household(
    household_id: HouseholdId,
    payload: MergeRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new = await HouseholdService(Context.of(request, session, principal)).merge(
        household_id, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id)}, new)


# -- incomes ------------------------------------------------------------------------------------------------
@router.put(
    "/households/{household_id}/incomes/{year}",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record the income components of a reference year (a new version; per-capita computed)",
)
async def put_income(
    household_id: HouseholdId,
    year: YearPath,
    payload: IncomeSet,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    new = await HouseholdService(Context.of(request, session, principal)).set_income(
        household_id, year, version, payload
    )
    await session.commit()
    return _versioned({"id": str(household_id), "year": year}, new)


# -- flags --------------------------------------------------------------------------------------------------
@router.post(
    "/households/{household_id}/flags/{flag_id}/clear",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Clear an integrity flag after review, with the reason",
)
async def clear_flag(
    household_id: HouseholdId,
    flag_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    payload: FlagClear,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> JSONResponse:
    new = await HouseholdService(Context.of(request, session, principal)).clear_flag(
        household_id, flag_id, payload.reason
    )
    await session.commit()
    return _versioned({"id": str(household_id)}, new)
