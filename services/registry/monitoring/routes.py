"""Monitoring routes: `/monitoring/...`."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from services.registry.legacy_context import Context
from services.registry.monitoring.service import FindingIn, MonitoringService, RoundClose, RoundOpen
from shared.auth import PrincipalDep, require_writer
from shared.clock import CHINA_TIME
from shared.db import SessionDep

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

Id = Annotated[uuid.UUID, Path()]
Code = Annotated[str, Query(pattern=r"^[0-9]{12}$")]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only township officers and county administrators"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Round exists, closed, or finding exists"},
    422: {"description": "Invalid input"},
}


@router.post(
    "/rounds",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Open a June (H1) or December (H2) round for a township",
)
async def open_round(
    payload: RoundOpen, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = await MonitoringService(Context.of(request, session, principal)).open(payload)
    await session.commit()
    return out


@router.get(
    "/rounds/{round_id}", responses={404: {"description": "Not found"}}, summary="A round with its findings"
)
async def get_round(
    round_id: Id, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await MonitoringService(Context.of(request, session, principal)).show(round_id)


@router.post(
    "/rounds/{round_id}/findings",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record the finding for one pairing (projects, funds, results)",
)
async def add_finding(
    round_id: Id, payload: FindingIn, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = await MonitoringService(Context.of(request, session, principal)).add_finding(round_id, payload)
    await session.commit()
    return out


@router.post(
    "/rounds/{round_id}/close",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Close a round with its summary for the county",
)
async def close_round(
    round_id: Id, payload: RoundClose, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = await MonitoringService(Context.of(request, session, principal)).close(round_id, payload)
    await session.commit()
    return out


@router.get("/overdue", summary="Townships whose June or December round was not closed by its due date")
async def overdue(
    request: Request, session: SessionDep, principal: PrincipalDep, region: Code, on: date | None = None
) -> dict[str, Any]:
    day = on or request.app.state.clock().astimezone(CHINA_TIME).date()
    items = await MonitoringService(Context.of(request, session, principal)).overdue(region, day)
    return {"region": region, "on": str(day), "items": items}


@router.get("/visit-frequency", summary="Pairings whose cadre visited less often than the yearly minimum")
async def visit_frequency(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    region: Code,
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> dict[str, Any]:
    return await MonitoringService(Context.of(request, session, principal)).visit_frequency(region, year)
