"""Household HTTP routes: thin handlers (typed payload in, one `HouseholdService` call, a response model out).

Writes name the version they read (`If-Match`, shared/etag.py) and answer with the new one as `ETag`; the route
class of shared/routing.py commits after the handler. `GET /households/{id}` is served first by the plain
Starlette route of households/fast.py; the FastAPI route here documents it and answers the same `HouseholdCard`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.registry.deps import CipherDep
from services.registry.households.schemas import (
    LIST_FIELDS,
    FlagClear,
    FlagCode,
    HeadChange,
    HouseholdCard,
    HouseholdCreate,
    HouseholdListItem,
    HouseholdLookup,
    HouseholdLookupAnswer,
    HouseholdQuery,
    HouseholdSplit,
    HouseholdStats,
    HouseholdUpdate,
    HouseholdVersion,
    IncomeSet,
    IncomeVersion,
    MemberCreate,
    MemberLeave,
    MemberMoved,
    MemberUpdate,
    MemberVersion,
    MergeRequest,
    MoveRequest,
    PovertyAttribute,
    PovertyCause,
    Relocated,
    RelocationRequest,
    SortKey,
    SplitRequest,
    StatusFilter,
)
from services.registry.households.service import HouseholdService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import (
    NOT_MODIFIED,
    IfMatchDep,
    IfNoneMatchHeader,
    etag,
    not_modified,
    not_modified_response,
    representation_etag,
)
from shared.pagination import Page
from shared.routing import APIRouter
from shared.schemas import Yuan

__all__ = ["router"]

router = APIRouter(tags=["households"])

HouseholdId = Annotated[uuid.UUID, Path(description="Household id (UUID)")]
MemberId = Annotated[uuid.UUID, Path(description="Member id (UUID)")]
YearPath = Annotated[int, Path(ge=2000, le=2100)]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by a rule (problem `code` says which)"},
    412: {"description": "Stale If-Match: the body carries `current_version`"},
    422: {"description": "Invalid input; nothing changed"},
    428: {"description": "If-Match missing"},
}


def _tagged(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


# -- households ---------------------------------------------------------------------------------------------
@router.post(
    "/households",
    status_code=201,
    response_model=HouseholdVersion,
    responses={k: v for k, v in WRITE_ERRORS.items() if k not in (412, 428)},
    dependencies=[require_writer],
    summary="Register a household record (status candidate) with its members",
)
async def create_household(
    payload: HouseholdCreate, ctx: ContextDep, cipher: CipherDep, response: Response
) -> HouseholdVersion:
    """Register a household (建档立卡 record, status `candidate`) with its members; `Location` is its card."""
    result = await HouseholdService(ctx, cipher).create(payload)
    _tagged(response, result.version)
    response.headers["Location"] = f"/households/{result.id}"
    return result


@router.get(
    "/households",
    response_model=Page[HouseholdListItem],
    # An item carries only the fields asked for with `fields=`.
    response_model_exclude_unset=True,
    summary="List and search households (filters, keyset pages, field selection)",
    responses={400: {"description": "Invalid cursor"}, 422: {"description": "Invalid filter or field"}},
)
async def list_households(
    ctx: ReadContextDep,
    cipher: CipherDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="Region subtree")] = None,
    status: Annotated[
        list[StatusFilter] | None, Query(description="Status (repeatable); `objection_pending` too")
    ] = None,
    cause: Annotated[
        PovertyCause | None, Query(description="Primary or other poverty cause (致贫原因)")
    ] = None,
    attribute: Annotated[PovertyAttribute | None, Query(description="Poverty attribute (贫困户属性)")] = None,
    income_min: Annotated[Yuan | None, Query(description="Per-capita net income >= (元)")] = None,
    income_max: Annotated[Yuan | None, Query(description="Per-capita net income <= (元)")] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=64, description="Head's name prefix")] = None,
    flag: Annotated[FlagCode | None, Query(description="Open integrity flag (核查标记)")] = None,
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
) -> Response:
    """List and search the households of your region: filters, an order, keyset pages (`next_cursor`), and
    `fields=` to choose the item fields."""
    chosen = LIST_FIELDS if not fields else tuple(f.strip() for f in fields.split(",") if f.strip())
    query = HouseholdQuery(
        region=region,
        statuses=tuple(status or ()),
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
    page = await HouseholdService(ctx, cipher).page(query)
    # Serialised without a model per item (the busiest list; see schemas.list_page_json): same JSON as the model.
    return Response(page.json(), media_type="application/json")


@router.post(
    "/households/lookup",
    response_model=HouseholdLookupAnswer,
    responses={403: {"description": "`paired_with` asked by a caller other than a service"}},
    summary="Look households up by id (at most 500): village, status, head and size",
)
async def lookup_households(
    payload: HouseholdLookup, ctx: ReadContextDep, cipher: CipherDep
) -> HouseholdLookupAnswer:
    """Look households up by id (按户查询), for a service checking the ids it was given (planning's project
    beneficiaries): the ones that exist in your scope, each with its village, status, head's name and size;
    missing and out-of-scope ids are simply absent. Reads only (a POST for the size of the list)."""
    return await HouseholdService(ctx, cipher).lookup(payload)


@router.get(
    "/households/stats",
    response_model=HouseholdStats,
    summary="Counts and poverty incidence for a region and its child regions",
    responses={404: {"description": "Region missing or outside your scope"}},
)
async def get_household_stats(
    ctx: ContextDep,
    cipher: CipherDep,
    region: Annotated[str, Query(pattern=r"^[0-9]{12}$")],
    year: Annotated[int, Query(ge=2000, le=2100, description="Population year")],
) -> HouseholdStats:
    """Counts of households and people by where they stand, and the poverty incidence (贫困发生率), for a region
    and each child region."""
    return await HouseholdService(ctx, cipher).stats(region, year)


@router.get(
    "/households/{household_id}",
    response_model=HouseholdCard,
    # `unmasked` is only present on an unmasked read, as on the fast path.
    response_model_exclude_unset=True,
    summary="The full household card (扶贫手册 view) in one request",
    responses={
        **NOT_MODIFIED,
        403: {"description": "unmask asked by a role that may not"},
        404: {"description": "Not found"},
    },
)
async def get_household(
    household_id: HouseholdId,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
    unmask: Annotated[bool, Query(description="Full ID numbers, phones, bank account (audited)")] = False,
    if_none_match: IfNoneMatchHeader = None,
) -> HouseholdCard | Response:
    """The household card (扶贫手册 view): the record, members, incomes, workflow, flags and pairings in one
    answer; personal data masked unless `unmask`."""
    card = await HouseholdService(ctx, cipher).card(household_id, unmask=unmask)
    if unmask:  # no-store: nothing keeps it, nothing revalidates it; always in full
        _tagged(response, card.version)
        response.headers["Cache-Control"] = "no-store"
        return card
    # The card shows more than its version counts (pairings, names): its ETag is `"<version>-<digest>"`.
    tag = representation_etag(card.version, card.model_dump_json(exclude_unset=True).encode())
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    response.headers["ETag"] = tag
    return card


@router.patch(
    "/households/{household_id}",
    response_model=HouseholdVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Edit household fields (If-Match required)",
)
async def update_household(
    household_id: HouseholdId,
    payload: HouseholdUpdate,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> HouseholdVersion:
    """Edit household fields, based on the version you read (`If-Match`); derived values are recomputed."""
    result = await HouseholdService(ctx, cipher).update(household_id, version, payload)
    _tagged(response, result.version)
    return result


# -- members ------------------------------------------------------------------------------------------------
@router.post(
    "/households/{household_id}/members",
    status_code=201,
    response_model=MemberVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Add a member (birth, marriage in, …)",
)
async def add_member(
    household_id: HouseholdId,
    payload: MemberCreate,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> MemberVersion:
    """Add a member (birth, marriage in, …) to the household, based on the version you read (`If-Match`)."""
    result = await HouseholdService(ctx, cipher).add_member(household_id, version, payload)
    _tagged(response, result.version)
    response.headers["Location"] = f"/households/{household_id}/members/{result.member_id}"
    return result


@router.patch(
    "/households/{household_id}/members/{member_id}",
    response_model=MemberVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Edit a member",
)
async def update_member(
    household_id: HouseholdId,
    member_id: MemberId,
    payload: MemberUpdate,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> MemberVersion:
    """Edit a member's fields, based on the household version you read (`If-Match`)."""
    result = await HouseholdService(ctx, cipher).update_member(household_id, member_id, version, payload)
    _tagged(response, result.version)
    return result


@router.post(
    "/households/{household_id}/members/{member_id}/leave",
    response_model=HouseholdVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="A member leaves (death, marriage out, transfer, military service)",
)
async def remove_member(
    household_id: HouseholdId,
    member_id: MemberId,
    payload: MemberLeave,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> HouseholdVersion:
    """A member leaves the household (death, marriage out, transfer, military service); their history stays."""
    result = await HouseholdService(ctx, cipher).leave(household_id, member_id, version, payload)
    _tagged(response, result.version)
    return result


@router.post(
    "/households/{household_id}/members/{member_id}/move",
    response_model=MemberMoved,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Move a member to another household of the registry (identity and history kept)",
)
async def move_member(
    household_id: HouseholdId,
    member_id: MemberId,
    payload: MoveRequest,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> MemberMoved:
    """Move a member to another household of the registry, keeping their identity and history."""
    result = await HouseholdService(ctx, cipher).move(household_id, member_id, version, payload)
    _tagged(response, result.version)
    return result


@router.post(
    "/households/{household_id}/relocate",
    response_model=Relocated,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Relocate the whole household to another village (易地扶贫搬迁)",
)
async def relocate_household(
    household_id: HouseholdId,
    payload: RelocationRequest,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> Relocated:
    """Move the household to another administrative village of your county (county office), based on the version
    you read (`If-Match`); members, history and pairings stay, the old village's lists no longer show it."""
    result = await HouseholdService(ctx, cipher).relocate(household_id, version, payload)
    _tagged(response, result.version)
    return result


@router.post(
    "/households/{household_id}/head",
    response_model=HouseholdVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Change the head of the household",
)
async def change_head(
    household_id: HouseholdId,
    payload: HeadChange,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> HouseholdVersion:
    """Make another member the head of the household (户主), with the former head's new relation."""
    result = await HouseholdService(ctx, cipher).change_head(household_id, version, payload)
    _tagged(response, result.version)
    return result


@router.post(
    "/households/{household_id}/split",
    status_code=201,
    response_model=HouseholdSplit,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Split members off into a new household (分户; flagged for review)",
)
async def split_household(
    household_id: HouseholdId,
    payload: SplitRequest,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> HouseholdSplit:
    """Split members off into a new household (分户); the new one is flagged for review. `Location` is its card."""
    result = await HouseholdService(ctx, cipher).split(household_id, version, payload)
    _tagged(response, result.version)
    response.headers["Location"] = f"/households/{result.new_household_id}"
    return result


@router.post(
    "/households/{household_id}/merge",
    response_model=HouseholdVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Absorb another household of the village (it is dissolved)",
)
async def merge_household(
    household_id: HouseholdId,
    payload: MergeRequest,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> HouseholdVersion:
    """Absorb another household of the village (合户); the absorbed one is dissolved."""
    result = await HouseholdService(ctx, cipher).merge(household_id, version, payload)
    _tagged(response, result.version)
    return result


# -- incomes ------------------------------------------------------------------------------------------------
@router.put(
    "/households/{household_id}/incomes/{year}",
    response_model=IncomeVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Record the income components of a reference year (a new version; per-capita computed)",
)
async def set_income(
    household_id: HouseholdId,
    year: YearPath,
    payload: IncomeSet,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> IncomeVersion:
    """Record the income components of a reference year (a new version); net and per-capita income are
    computed."""
    result = await HouseholdService(ctx, cipher).set_income(household_id, year, version, payload)
    _tagged(response, result.version)
    return result


# -- flags --------------------------------------------------------------------------------------------------
@router.post(
    "/households/{household_id}/flags/{flag_id}/clear",
    response_model=HouseholdVersion,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Clear an integrity flag after review, with the reason",
)
async def clear_flag(
    household_id: HouseholdId,
    flag_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    payload: FlagClear,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> HouseholdVersion:
    """Clear an integrity flag (核查标记) after review, with the reason."""
    result = await HouseholdService(ctx, cipher).clear_flag(household_id, flag_id, payload.reason)
    _tagged(response, result.version)
    return result
