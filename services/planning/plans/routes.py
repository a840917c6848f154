"""Village plan routes: drafting, editing while draft, the approval chain, amendments and versions, actuals and
progress (`/villages/{code}/plans`, `/plans/{plan_id}/…`), and the exit checklist
(`/villages/{code}/exit-checklist/{year}`, 一低七有)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.planning.deps import RegistryDep
from services.planning.plans.schemas import (
    ActivationIn,
    ActualsSet,
    AmendmentCreate,
    AssemblyIn,
    ClosureIn,
    CountyApprovalIn,
    ExitChecklistPublic,
    PlanCreate,
    PlanPage,
    PlanPublic,
    PlanStatus,
    PlanType,
    PlanUpdate,
    ReturnIn,
    TownshipReviewIn,
    YearActualsPublic,
)
from services.planning.plans.service import PlanService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.etag import NOT_MODIFIED, IfMatchDep, IfNoneMatchHeader, etag, not_modified, not_modified_response
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter(tags=["village plans"])

#: The tag of these routes, with its description (main.py declares it).
TAGS = {
    "village plans": (
        "Village plans (脱贫规划、发展规划、年度计划): targets, the approval chain (村民代表会议 → 乡镇审核 → 县审批), "
        "amendments and versions, yearly actuals and progress, the exit checklist (一低七有)"
    )
}

VillagePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="The village's 12-digit division code")]
PlanId = Annotated[uuid.UUID, Path(description="A plan version's id")]
YearPath = Annotated[int, Path(ge=2000, le=2100, description="Calendar year")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=500)]

_READ: dict[int | str, dict[str, Any]] = {
    403: {"description": "Cadres do not read village plans"},
    404: {"description": "Missing or outside your region"},
}
_STEP: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not the level that takes this step (`wrong_level`)"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Out of order (`step_out_of_order`), or the vote did not carry"},
}
_REGISTRY: dict[int | str, dict[str, Any]] = {
    503: {"description": "The registry did not answer (`registry_unavailable`); nothing changed"}
}
#: The registry's figures of a year are as of its 31 December: it has them from 2013 to this year only.
_REGISTRY_YEAR: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "A year the registry has no figures of (`registry_year_out_of_range`: before 2013 or "
        "in the future), or an invalid parameter"
    }
}


def _tagged(response: Response, plan: PlanPublic) -> PlanPublic:
    response.headers["ETag"] = etag(plan.row_version)
    return plan


@router.post(
    "/villages/{code}/plans",
    status_code=201,
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses={**_READ, 403: {"description": "Not a village officer"}, **_REGISTRY},
    summary="Draft a village plan with its indicator targets (village officer)",
)
async def create_village_plan(
    code: VillagePath, payload: PlanCreate, ctx: ContextDep, registry: RegistryDep, response: Response
) -> PlanPublic:
    """Draft a plan of your village (脱贫规划 / 发展规划 / 年度计划): type, horizon, title, summary and indicator
    targets (unit, baseline and target with their years, direction; invariant 40). It starts as a draft;
    `Location` is the plan."""
    plan = await PlanService(ctx, registry).create(code, payload)
    response.headers["Location"] = f"/plans/{plan.id}"
    return _tagged(response, plan)


@router.get(
    "/villages/{code}/plans",
    response_model=PlanPage,
    responses={**_READ, 400: {"description": "Invalid cursor"}},
    summary="A village's plan versions, by start year (keyset pages)",
)
async def list_village_plans(
    code: VillagePath,
    ctx: ContextDep,
    status: Annotated[PlanStatus | None, Query(description="Only plans in this status")] = None,
    plan_type: Annotated[PlanType | None, Query(description="Only plans of this type")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PlanPage:
    """Every plan version of a village (superseded ones included), by start year, optionally of one status or
    type (keyset pages)."""
    return await PlanService(ctx).village_plans(
        code, status=status, plan_type=plan_type, cursor=cursor, limit=limit
    )


@router.get(
    "/plans/{plan_id}",
    response_model=PlanPublic,
    responses={**NOT_MODIFIED, **_READ},
    summary="A plan version with its targets, their progress and its history",
)
async def get_plan(
    plan_id: PlanId, ctx: ContextDep, response: Response, if_none_match: IfNoneMatchHeader = None
) -> PlanPublic | Response:
    """A plan version: its targets with the latest actual and the progress made (direction-aware share of the way
    from baseline to target, or met), and its approval history. The ETag is its `row_version`."""
    plan = await PlanService(ctx).get(plan_id)
    tag = etag(plan.row_version)
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    return _tagged(response, plan)


@router.patch(
    "/plans/{plan_id}",
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses={
        **_READ,
        403: {"description": "Not a village officer"},
        409: {"description": "Not a draft (`plan_not_draft`: an approved plan is amended)"},
        412: {"description": "Stale If-Match"},
        428: {"description": "If-Match missing"},
    },
    summary="Edit a draft plan (If-Match: its row version); targets, when given, replace them all",
)
async def update_plan(
    plan_id: PlanId, payload: PlanUpdate, version: IfMatchDep, ctx: ContextDep, response: Response
) -> PlanPublic:
    """Edit a draft: type, title, summary, horizon, targets (replaced as a whole). An approved plan is never
    edited: amend it."""
    return _tagged(response, await PlanService(ctx).update(plan_id, version, payload))


@router.get(
    "/plans/{plan_id}/versions",
    response_model=PlanPage,
    responses={**_READ, 400: {"description": "Invalid cursor"}},
    summary="Every version of the plan (amendments and the versions they superseded), oldest first",
)
async def list_plan_versions(
    plan_id: PlanId, ctx: ContextDep, cursor: Cursor = None, limit: Limit = 100
) -> PlanPage:
    """Every version of the plan's lineage, oldest first: superseded versions stay readable."""
    return await PlanService(ctx).versions(plan_id, cursor=cursor, limit=limit)


@router.post(
    "/plans/{plan_id}/amendments",
    status_code=201,
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses={
        **_READ,
        403: {"description": "Not a village officer"},
        409: {"description": "Not approved (`plan_not_in_force`) or an amendment is open (`amendment_open`)"},
    },
    summary="Amend an approved plan: a new version (a draft) that goes through the same chain",
)
async def create_plan_amendment(
    plan_id: PlanId, payload: AmendmentCreate, ctx: ContextDep, response: Response
) -> PlanPublic:
    """Amend an approved plan: a new version of the same lineage (version + 1, a draft) with the changes given and
    the rest copied; when the county approves it, this version is superseded. `Location` is the new version."""
    plan = await PlanService(ctx).amend(plan_id, payload)
    response.headers["Location"] = f"/plans/{plan.id}"
    return _tagged(response, plan)


@router.post(
    "/plans/{plan_id}/assembly",
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses=_STEP,
    summary="Record the villager representatives' assembly that passed the draft (village officer)",
)
async def record_plan_assembly(
    plan_id: PlanId, payload: AssemblyIn, ctx: ContextDep, response: Response
) -> PlanPublic:
    """Record the villager representatives' assembly (村民代表会议) that deliberated and voted the draft: date,
    members, attendance, votes for / against / abstaining. It decides only with two thirds of its members present
    and passes the plan only with more than half of those present voting for it (村民委员会组织法 art. 26); the
    plan is then `village_approved`."""
    return _tagged(response, await PlanService(ctx).record_assembly(plan_id, payload))


@router.post(
    "/plans/{plan_id}/township-review",
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses=_STEP,
    summary="Township review of a plan the village passed (township officer)",
)
async def review_plan_by_township(
    plan_id: PlanId, payload: TownshipReviewIn, ctx: ContextDep, response: Response
) -> PlanPublic:
    """The township's review (乡镇审核) of a plan the villager representatives passed; to send it back instead,
    return it with a reason."""
    return _tagged(response, await PlanService(ctx).review_by_township(plan_id, payload))


@router.post(
    "/plans/{plan_id}/county-approval",
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses=_STEP,
    summary="County approval of a plan the township reviewed (county admin)",
)
async def approve_plan_by_county(
    plan_id: PlanId, payload: CountyApprovalIn, ctx: ContextDep, response: Response
) -> PlanPublic:
    """The county's approval (县审批, with its document number): the plan is approved and never edited again. An
    approved amendment supersedes the version it amends (and is active at once if that one was)."""
    return _tagged(response, await PlanService(ctx).approve_by_county(plan_id, payload))


@router.post(
    "/plans/{plan_id}/activation",
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses=_STEP,
    summary="Put an approved plan into effect (county admin)",
)
async def activate_plan(
    plan_id: PlanId, payload: ActivationIn, ctx: ContextDep, response: Response
) -> PlanPublic:
    """Put a county-approved plan into effect (启动实施): it is then `active`."""
    return _tagged(response, await PlanService(ctx).activate(plan_id, payload))


@router.post(
    "/plans/{plan_id}/closure",
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses=_STEP,
    summary="Close an active plan (county admin)",
)
async def close_plan(plan_id: PlanId, payload: ClosureIn, ctx: ContextDep, response: Response) -> PlanPublic:
    """Close an active plan (its horizon is over, or it gave way to another plan)."""
    return _tagged(response, await PlanService(ctx).close(plan_id, payload))


@router.post(
    "/plans/{plan_id}/return",
    response_model=PlanPublic,
    dependencies=[require_writer],
    responses=_STEP,
    summary="Return a plan under review to the village with a reason (the reviewer of its level)",
)
async def return_plan(plan_id: PlanId, payload: ReturnIn, ctx: ContextDep, response: Response) -> PlanPublic:
    """Return a plan under review to the village as a draft, with the reason (退回修改): the township officer
    returns one the village passed, the county administrator one the township reviewed. The village passes it
    again at a new assembly."""
    return _tagged(response, await PlanService(ctx).return_to_village(plan_id, payload))


@router.put(
    "/plans/{plan_id}/actuals/{year}",
    response_model=YearActualsPublic,
    dependencies=[require_writer],
    responses={
        **_READ,
        403: {"description": "Not a village officer or county admin"},
        409: {"description": "The plan is not approved (`plan_not_in_force`)"},
    },
    summary="Record a year's actuals of the plan's indicators (each changed value a new version)",
)
async def set_plan_actuals(
    plan_id: PlanId, year: YearPath, payload: ActualsSet, ctx: ContextDep
) -> YearActualsPublic:
    """Record the values the village's indicators reached in a year (年度实绩), for a plan in force; each changed
    value is appended as a new version (the newest counts; an unchanged one is not repeated), and the answer shows
    the progress of every target."""
    return await PlanService(ctx).record_actuals(plan_id, year, payload)


@router.get(
    "/plans/{plan_id}/actuals/{year}",
    response_model=YearActualsPublic,
    responses=_READ,
    summary="A year's actuals of the plan's indicators and the progress of every target",
)
async def get_plan_actuals(plan_id: PlanId, year: YearPath, ctx: ContextDep) -> YearActualsPublic:
    """The newest value of each of the plan's indicators in a year, and the progress of every target."""
    return await PlanService(ctx).year_actuals(plan_id, year)


@router.get(
    "/villages/{code}/exit-checklist/{year}",
    response_model=ExitChecklistPublic,
    responses={**_READ, **_REGISTRY, **_REGISTRY_YEAR},
    summary="The village exit checklist of a year (一低七有): each item met, not met or unknown",
)
async def get_exit_checklist(
    code: VillagePath, year: YearPath, ctx: ContextDep, registry: RegistryDep
) -> ExitChecklistPublic:
    """The village exit checklist "one low, seven haves" (一低七有, DOMAIN.md §5.4) for a year: the poverty
    incidence (the registry's, as of 31 December of the year) against the region's `village_exit_incidence_max_percent`, the collective income
    against `village_exit_collective_income_min_yuan`, and road, safe water, electricity, clinic, culture room and
    broadband from the year's actuals; each item with its figure and threshold; met only when every item is."""
    return await PlanService(ctx, registry).exit_checklist(code, year)
