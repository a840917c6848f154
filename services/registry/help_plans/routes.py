"""Help plan routes (一户一策): `/households/{id}/help-plan`, its acknowledgement and progress."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Response

from services.registry.help_plans.schemas import PlanAck, PlanPublic, PlanSet, ProgressIn
from services.registry.help_plans.service import PlanService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.etag import IfMatchHeader, etag, parse_if_match
from shared.routing import APIRouter

router = APIRouter(tags=["help plans"])

Id = Annotated[uuid.UUID, Path()]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this"},
    404: {"description": "Missing, outside your region, or not your paired household"},
    409: {"description": "Refused by a rule"},
    412: {"description": "Stale plan version"},
    422: {"description": "Invalid plan (invariants 34, 35)"},
    428: {"description": "If-Match missing for a plan that exists"},
}


async def _plan_version(if_match: IfMatchHeader = None) -> int | None:
    # The first version has nothing to match; the service answers 428 once a plan exists.
    return parse_if_match(if_match) if if_match is not None else None


#: The plan version a write is based on (`If-Match`), None for the household's first plan.
PlanVersionDep = Annotated[int | None, Depends(_plan_version)]


@router.put(
    "/households/{household_id}/help-plan",
    response_model=PlanPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Write the household's help plan (一户一策): a new version (If-Match: the plan version)",
)
async def set_help_plan(
    household_id: Id, payload: PlanSet, version: PlanVersionDep, ctx: ContextDep, response: Response
) -> PlanPublic:
    """Write the household's help plan (一户一策) as a new version: the first needs no `If-Match`, later ones name
    the version they replace."""
    plan = await PlanService(ctx).set(household_id, version, payload)
    response.headers["ETag"] = etag(plan.version)
    return plan


@router.get(
    "/households/{household_id}/help-plan",
    response_model=PlanPublic,
    responses={404: {"description": "No plan, or household not found"}},
    summary="The current help plan (or `version=N`), with the head's acknowledgement and progress per item",
)
async def get_help_plan(
    household_id: Id,
    ctx: ContextDep,
    response: Response,
    version: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> PlanPublic:
    """The household's current help plan (or `version=N`), with the head's acknowledgement and the progress of
    each measure."""
    plan = await PlanService(ctx).show(household_id, version)
    response.headers["ETag"] = etag(plan.version)
    return plan


@router.post(
    "/households/{household_id}/help-plan/acknowledgement",
    response_model=PlanPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record the household head's acknowledgement (签字确认) of the current version",
)
async def acknowledge_help_plan(
    household_id: Id, payload: PlanAck, ctx: ContextDep, response: Response
) -> PlanPublic:
    """Record the household head's acknowledgement (签字确认) of the current version."""
    plan = await PlanService(ctx).acknowledge(household_id, payload)
    response.headers["ETag"] = etag(plan.version)
    return plan


@router.post(
    "/households/{household_id}/help-plan/items/{item_id}/progress",
    response_model=PlanPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record progress on a measure (appended; the latest shows on the plan)",
)
async def record_plan_progress(
    household_id: Id, item_id: Id, payload: ProgressIn, ctx: ContextDep, response: Response
) -> PlanPublic:
    """Record progress on a measure of the plan (appended; the latest shows on the plan)."""
    plan = await PlanService(ctx).progress(household_id, item_id, payload)
    response.headers["ETag"] = etag(plan.version)
    return plan
