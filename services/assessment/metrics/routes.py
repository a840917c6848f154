"""Metric catalogue routes: `GET /metric-catalogue`, `GET /metric-catalogue/{code}` (any signed-in caller)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from services.assessment.metrics.schemas import MetricPage, MetricPublic, MetricSource, SubjectType
from services.assessment.metrics.service import MetricService
from shared.auth import PrincipalDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

# Not `/metrics`: that path is every process's Prometheus endpoint (shared/app.py).
router = APIRouter(prefix="/metric-catalogue", tags=["metrics"])

#: The tag of these routes, with its description (main.py declares it).
TAGS = {
    "metrics": (
        "The metric catalogue (考核数据项): every figure a scheme may read — its unit, direction, the service "
        "that computes it and the subjects that have it"
    )
}

Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
CodePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,63}$", description="The metric's code")]


@router.get(
    "",
    response_model=MetricPage,
    responses={400: {"description": "Invalid cursor"}},
    summary="The metric catalogue, by code (keyset pages)",
)
async def list_metrics(
    _principal: PrincipalDep,
    subject_type: Annotated[
        SubjectType | None, Query(description="Only metrics of this subject type")
    ] = None,
    source: Annotated[MetricSource | None, Query(description="Only metrics from this source")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MetricPage:
    """The figures schemes may read (考核数据项): code, zh-CN and English labels, unit, which way is better, the
    service that computes it (registry, planning, inspection, manual) and the subject types that have it."""
    return MetricService().page(subject_type=subject_type, source=source, cursor=cursor, limit=limit)


@router.get(
    "/{code}",
    response_model=MetricPublic,
    responses={404: {"description": "No such metric"}},
    summary="One metric of the catalogue",
)
async def get_metric(code: CodePath, _principal: PrincipalDep) -> MetricPublic:
    """One metric: its labels, unit, direction, source and subject types."""
    return MetricService().get(code)
