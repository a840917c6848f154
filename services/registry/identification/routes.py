"""Identification, exit and return workflow routes (thin: parse, call the use case, answer)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse

from services.registry.households.schemas import BatchCommandIn, QuotaOverrideIn, WorkflowCommandIn
from services.registry.identification.domain import Command
from services.registry.identification.service import CommandName, WorkflowService
from services.registry.legacy_context import Context
from shared.auth import PrincipalDep, require_writer
from shared.db import SessionDep
from shared.etag import IfMatchHeader, etag, parse_if_match
from shared.problems import UnprocessableEntity
from shared.routing import APIRouter

router = APIRouter(tags=["households"])

HouseholdId = Annotated[uuid.UUID, Path(description="Household id (UUID)")]
IfMatch = IfMatchHeader
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


@router.post(
    "/households/{household_id}/workflow/{command}",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Take one workflow step (identification, exit, return, objections, removal)",
)
async def workflow_command(
    household_id: HouseholdId,
    command: CommandName,
    payload: WorkflowCommandIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    result = await WorkflowService(Context.of(request, session, principal)).run(
        household_id, Command(command), version=version, reason=payload.reason, data=payload.data
    )
    await session.commit()
    return _versioned({"id": str(household_id), "status": result.status, "seq": result.seq}, result.version)


@router.post(
    "/households/workflow/{command}/batch",
    responses={403: {"description": "Role may not do this"}, 422: {"description": "Invalid batch"}},
    dependencies=[require_writer],
    summary="Move a village's or township's list through one step together; each item reported",
)
async def workflow_batch(
    command: CommandName,
    payload: BatchCommandIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    service = WorkflowService(Context.of(request, session, principal))
    batch_id, results = await service.batch(
        Command(command),
        [(i.household_id, i.version) for i in payload.items],
        reason=payload.reason,
        data=payload.data,
    )
    await session.commit()
    applied = sum(1 for r in results if r["outcome"] == "applied")
    return {
        "batch_id": str(batch_id),
        "applied": applied,
        "refused": len(results) - applied,
        "items": results,
    }


@router.post(
    "/households/workflow/{command}/region-batch",
    responses={403: {"description": "Role may not do this"}, 422: {"description": "Invalid batch"}},
    dependencies=[require_writer],
    summary="Apply a step to every household of a village/township currently at `from_status`",
)
async def workflow_region_batch(
    command: CommandName,
    payload: WorkflowCommandIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    region: Annotated[str, Query(pattern=r"^[0-9]{12}$")],
    from_status: Annotated[str, Query(max_length=32)],
) -> dict[str, Any]:
    service = WorkflowService(Context.of(request, session, principal))
    items = await service.select_for_batch(region, from_status, 1000)
    batch_id, results = await service.batch(Command(command), items, reason=payload.reason, data=payload.data)
    await session.commit()
    applied = sum(1 for r in results if r["outcome"] == "applied")
    return {
        "batch_id": str(batch_id),
        "applied": applied,
        "refused": len(results) - applied,
        "items": results,
    }


@router.post(
    "/households/{household_id}/quota-override",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="County override of the village quota for one household, with a reason",
)
async def quota_override(
    household_id: HouseholdId,
    payload: QuotaOverrideIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    if payload.household_id != household_id:
        raise UnprocessableEntity("household_id differs from the path", field="/household_id")
    out = await WorkflowService(Context.of(request, session, principal)).override_quota(
        household_id, payload.reason
    )
    await session.commit()
    return out
