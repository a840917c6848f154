"""Identification, exit and return workflow routes: thin handlers around `WorkflowService`.

A step names the household version it was decided on (`If-Match`); batches report every item on its own.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.registry.deps import CipherDep
from services.registry.identification.schemas import (
    BatchCommandIn,
    BatchResult,
    Command,
    FromStatus,
    QuotaOverrideIn,
    QuotaOverridePublic,
    WorkflowCommandIn,
    WorkflowStepResult,
)
from services.registry.identification.service import WorkflowService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.etag import IfMatchDep, etag
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["households"])

HouseholdId = Annotated[uuid.UUID, Path(description="Household id (UUID)")]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this (problem `code`: wrong_level, …)"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by a rule (problem `code` says which)"},
    412: {"description": "Stale If-Match: the body carries `current_version`"},
    422: {"description": "Invalid input; nothing changed"},
    428: {"description": "If-Match missing"},
}
BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this"},
    422: {"description": "Invalid batch"},
}


@router.post(
    "/households/{household_id}/workflow/{command}",
    response_model=WorkflowStepResult,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="Take one workflow step (identification, exit, return, objections, removal)",
)
async def run_workflow_step(
    household_id: HouseholdId,
    command: Command,
    payload: WorkflowCommandIn,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> WorkflowStepResult:
    """Take one step of the identification, exit or return workflow (识别、退出、返贫) on a household, based on the
    version you read (`If-Match`); the rules of DOMAIN.md §2.15 decide."""
    result = await WorkflowService(ctx, cipher).run(
        household_id, command, version=version, reason=payload.reason, data=payload.data
    )
    response.headers["ETag"] = etag(result.version)
    return result


@router.post(
    "/households/workflow/{command}/batch",
    response_model=BatchResult,
    response_model_exclude_none=True,
    responses=BATCH_ERRORS,
    dependencies=[require_writer],
    summary="Move a village's or township's list through one step together; each item reported",
)
async def run_workflow_batch(
    command: Command, payload: BatchCommandIn, ctx: ContextDep, cipher: CipherDep
) -> BatchResult:
    """Take one workflow step for a list of households together (a village's or township's list); each item is
    applied or refused on its own."""
    return await WorkflowService(ctx, cipher).batch(
        command,
        [(i.household_id, i.version) for i in payload.items],
        reason=payload.reason,
        data=payload.data,
    )


@router.post(
    "/households/workflow/{command}/region-batch",
    response_model=BatchResult,
    response_model_exclude_none=True,
    responses=BATCH_ERRORS,
    dependencies=[require_writer],
    summary="Apply a step to every household of a village/township currently at `from_status`",
)
async def run_region_workflow_batch(
    command: Command,
    payload: WorkflowCommandIn,
    ctx: ContextDep,
    cipher: CipherDep,
    region: Annotated[str, Query(pattern=r"^[0-9]{12}$")],
    from_status: Annotated[FromStatus, Query(description="The status the households are at")],
) -> BatchResult:
    """Take one workflow step for every household of a village or township currently at `from_status`; each
    item is reported."""
    return await WorkflowService(ctx, cipher).region_batch(
        command, region, from_status, reason=payload.reason, data=payload.data
    )


@router.post(
    "/households/{household_id}/quota-override",
    status_code=201,
    response_model=QuotaOverridePublic,
    responses=WRITE_ERRORS,
    dependencies=[require_writer],
    summary="County override of the village quota for one household, with a reason",
)
async def override_quota(
    household_id: HouseholdId,
    payload: QuotaOverrideIn,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> QuotaOverridePublic:
    """A county's override of the village quota (规模控制) for one household, with the reason; the household is
    flagged. `Location` is its card."""
    override = await WorkflowService(ctx, cipher).override_quota(
        household_id, payload.household_id, payload.reason
    )
    response.headers["Location"] = f"/households/{override.household_id}"
    return override
