"""Yearly exit targets over HTTP (thin: payload in, one call, model out), beside the region's quotas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from services.registry.exit_targets.schemas import ExitTargetPublic, ExitTargetSet
from services.registry.exit_targets.service import ExitTargetService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/regions", tags=["regions"])

CodePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12-digit division code")]
YearPath = Annotated[int, Path(ge=2000, le=2100, description="Calendar year")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Missing or outside your region"}}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Role may not set this level's target (problem `code`: exit_target_setter_required)"
    },
    404: {"description": "Missing or outside your region"},
    409: {"description": "The parent region has no target of the year yet (`exit_target_parent_missing`)"},
    422: {
        "description": "Invalid input, or the children's targets would exceed the parent's "
        "(`exit_target_exceeds_parent`) or this target falls below its children's (`exit_target_below_children`), "
        "naming `measure`, `parent_target` and `would_be_sum`; nothing changed"
    },
}


@router.get(
    "/{code}/exit-targets/{year}",
    response_model=ExitTargetPublic,
    responses=_NOT_FOUND,
    summary="Yearly exit target: own, allocated to children, exits of the year and shortfall",
)
async def get_exit_target(code: CodePath, year: YearPath, ctx: ContextDep) -> ExitTargetPublic:
    """A region's exit target of the year (年度减贫任务, people and households), what its children were given,
    and each one's progress: the year's county-approved exits and the shortfall (flagged once the year is over)."""
    return await ExitTargetService(ctx).show(code, year)


@router.put(
    "/{code}/exit-targets/{year}",
    response_model=ExitTargetPublic,
    dependencies=[require_writer],
    responses=_WRITE,
    summary="Set an exit target (county admin: county and townships; township officer: villages)",
)
async def set_exit_target(
    code: CodePath, year: YearPath, payload: ExitTargetSet, ctx: ContextDep
) -> ExitTargetPublic:
    """Set a region's exit target of the year (county administrators: the county and its townships; township
    officers: their villages); the children's targets never total more than the parent's."""
    return await ExitTargetService(ctx).set(code, year, payload)
