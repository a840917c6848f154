"""The yearly update and upload deadlines over HTTP (thin), beside the region's quotas and exit targets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from services.registry.deadlines.schemas import DeadlinesPublic, UploadRecord, UploadReport
from services.registry.deadlines.service import DeadlineService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/regions", tags=["regions"])

CodePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12-digit division code")]
YearPath = Annotated[int, Path(ge=2000, le=2100, description="The data year Y")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Missing or outside your region"}}


@router.get(
    "/{code}/deadlines/{year}",
    response_model=DeadlinesPublic,
    responses={**_NOT_FOUND, 422: {"description": "Not a county or a township (`not_a_county_or_township`)"}},
    summary="The update (end-January) and upload (end-February) deadlines of a year's data, per township",
)
async def get_deadlines(code: CodePath, year: YearPath, ctx: ContextDep) -> DeadlinesPublic:
    """Invariant 20: each township updates year Y's data by 31 January of Y+1 (every household poor at the end of
    Y has its income of Y recorded by then — the registry's figure `deadline_jan_update_met`) and uploads it to
    the national information system by the end of February of Y+1 (reported with `PUT …/uploads/{year}`). Each
    deadline is `met`, `late`, `missed`, `overdue`, `pending` or `unknown` (nobody was poor)."""
    return await DeadlineService(ctx).deadlines(code, year)


@router.put(
    "/{code}/uploads/{year}",
    response_model=UploadRecord,
    dependencies=[require_writer],
    responses={
        **_NOT_FOUND,
        403: {"description": "Only township officers and county administrators (`upload_recorder_required`)"},
        422: {"description": "Not a township, a year not over yet (`upload_year_not_over`), or no reference"},
    },
    summary="Report a township's upload of a year's data to the national system (数据上传)",
)
async def report_upload(
    code: CodePath, year: YearPath, payload: UploadReport, ctx: ContextDep
) -> UploadRecord:
    """Record when the township uploaded year Y's data and the national system's reference. The first report
    stands: reporting again returns it unchanged."""
    return await DeadlineService(ctx).report_upload(code, year, payload)
