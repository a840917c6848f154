"""Monitoring routes (监测): `/monitoring/...` rounds, findings and reports."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.registry.monitoring.schemas import (
    FindingCreate,
    FindingCreated,
    OverdueReport,
    RoundClose,
    RoundCreate,
    RoundPublic,
    RoundWithFindings,
    VisitFrequencyReport,
)
from services.registry.monitoring.service import MonitoringService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.routing import APIRouter

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

Id = Annotated[uuid.UUID, Path()]
Code = Annotated[str, Query(pattern=r"^[0-9]{12}$")]
_READ: dict[int | str, dict[str, Any]] = {404: {"description": "Missing or outside your region"}}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only township officers and county administrators"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Round exists, closed, or finding exists"},
    422: {"description": "Invalid input"},
}


@router.post(
    "/rounds",
    status_code=201,
    response_model=RoundPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Open a June (H1) or December (H2) round for a township",
)
async def open_monitoring_round(payload: RoundCreate, ctx: ContextDep, response: Response) -> RoundPublic:
    """Open the June (H1) or December (H2) monitoring round (监测) of a township; `Location` is the round."""
    monitoring_round = await MonitoringService(ctx).open(payload)
    response.headers["Location"] = f"/monitoring/rounds/{monitoring_round.id}"
    return monitoring_round


@router.get(
    "/rounds/{round_id}",
    response_model=RoundWithFindings,
    responses=_READ,
    summary="A round with its findings",
)
async def get_monitoring_round(round_id: Id, ctx: ContextDep) -> RoundWithFindings:
    """A monitoring round with its findings."""
    return await MonitoringService(ctx).show(round_id)


@router.post(
    "/rounds/{round_id}/findings",
    status_code=201,
    response_model=FindingCreated,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record the finding for one pairing (projects, funds, results)",
)
async def add_finding(
    round_id: Id, payload: FindingCreate, ctx: ContextDep, response: Response
) -> FindingCreated:
    """Record what the round found for one pairing: projects, funds and results (扶贫手册); visits are counted
    against the yearly minimum."""
    finding = await MonitoringService(ctx).add_finding(round_id, payload)
    response.headers["Location"] = f"/monitoring/rounds/{round_id}"
    return finding


@router.post(
    "/rounds/{round_id}/close",
    response_model=RoundWithFindings,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Close a round with its summary for the county",
)
async def close_monitoring_round(round_id: Id, payload: RoundClose, ctx: ContextDep) -> RoundWithFindings:
    """Close a round with its summary for the county."""
    return await MonitoringService(ctx).close(round_id, payload)


@router.get(
    "/overdue",
    response_model=OverdueReport,
    responses=_READ,
    summary="Townships whose June or December round was not closed by its due date",
)
async def list_overdue_rounds(ctx: ContextDep, region: Code, on: date | None = None) -> OverdueReport:
    """Townships whose June or December round was not closed by its due date (invariant 20)."""
    return await MonitoringService(ctx).overdue(region, on)


@router.get(
    "/visit-frequency",
    response_model=VisitFrequencyReport,
    responses=_READ,
    summary="Pairings whose cadre visited less often than the yearly minimum",
)
async def get_visit_frequency(
    ctx: ContextDep, region: Code, year: Annotated[int, Query(ge=2000, le=2100)]
) -> VisitFrequencyReport:
    """Pairings whose cadre visited less often than the yearly minimum (invariant 33)."""
    return await MonitoringService(ctx).visit_frequency(region, year)
