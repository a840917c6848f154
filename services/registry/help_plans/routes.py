"""Help plan routes: `/households/{id}/help-plan`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.registry.help_plans.schemas import PlanAck, PlanSet, ProgressIn
from services.registry.help_plans.service import PlanService
from services.registry.legacy_context import Context
from shared.auth import PrincipalDep, require_writer
from shared.db import SessionDep
from shared.etag import IfMatchHeader as IfMatch
from shared.etag import etag, parse_if_match

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


def _versioned(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"ETag": etag(body["version"])})


@router.put(
    "/households/{household_id}/help-plan",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Write the household's help plan (一户一策): a new version (If-Match: the plan version)",
)
async def put_plan(
    household_id: Id,
    payload: PlanSet,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match) if if_match is not None else None
    out = await PlanService(Context.of(request, session, principal)).set(household_id, version, payload)
    await session.commit()
    return _versioned(out)


@router.get(
    "/households/{household_id}/help-plan",
    responses={404: {"description": "No plan, or household not found"}},
    summary="The current help plan (or `version=N`), with the head's acknowledgement and progress per item",
)
async def get_plan(
    household_id: Id,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    version: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> JSONResponse:
    return _versioned(await PlanService(Context.of(request, session, principal)).show(household_id, version))


@router.post(
    "/households/{household_id}/help-plan/acknowledgement",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record the household head's acknowledgement of the current version",
)
async def acknowledge(
    household_id: Id, payload: PlanAck, request: Request, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    out = await PlanService(Context.of(request, session, principal)).acknowledge(household_id, payload)
    await session.commit()
    return _versioned(out)


@router.post(
    "/households/{household_id}/help-plan/items/{item_id}/progress",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record progress on a measure (appended; the latest shows on the plan)",
)
async def progress(
    household_id: Id,
    item_id: Id,
    payload: ProgressIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> JSONResponse:
    out = await PlanService(Context.of(request, session, principal)).progress(household_id, item_id, payload)
    await session.commit()
    return _versioned(out)
