"""Pairing HTTP routes: helping units, cadres, village assignments, pairings and their history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.registry.legacy_context import Context
from services.registry.pairing.schemas import (
    AssignmentCreate,
    CadreCreate,
    CadrePatch,
    PairingCreate,
    PairingEnd,
    UnitCreate,
)
from services.registry.pairing.service import PairingService
from shared.auth import PrincipalDep, require_writer
from shared.clock import CHINA_TIME
from shared.db import SessionDep
from shared.etag import IfMatchHeader as IfMatch
from shared.etag import etag, parse_if_match
from shared.problems import UnprocessableEntity

router = APIRouter(tags=["pairing"])

Id = Annotated[uuid.UUID, Path()]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by a rule (problem `code` says which)"},
    422: {"description": "Invalid input; nothing changed"},
}


def _today(request: Request) -> date:
    now: datetime = request.app.state.clock()
    return now.astimezone(CHINA_TIME).date()


@router.post(
    "/helping-units",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Register a helping unit (帮扶单位)",
)
async def create_unit(
    payload: UnitCreate, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = await PairingService(Context.of(request, session, principal)).create_unit(payload)
    await session.commit()
    return out


@router.get("/helping-units", summary="Helping units of your region")
async def list_units(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
) -> dict[str, Any]:
    return {"items": await PairingService(Context.of(request, session, principal)).units(region)}


@router.get(
    "/helping-units/{unit_id}", responses={404: {"description": "Not found"}}, summary="One helping unit"
)
async def get_unit(
    unit_id: Id, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    from services.registry.pairing.service import _json

    return _json(await PairingService(Context.of(request, session, principal)).unit(unit_id))


@router.post(
    "/cadres",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Register a cadre (帮扶干部)",
)
async def create_cadre(
    payload: CadreCreate, request: Request, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    out = await PairingService(Context.of(request, session, principal)).create_cadre(payload)
    await session.commit()
    return JSONResponse(out, status_code=201, headers={"ETag": etag(out["version"])})


@router.get("/cadres", summary="Cadres of your region")
async def list_cadres(
    request: Request, session: SessionDep, principal: PrincipalDep, unit_id: uuid.UUID | None = None
) -> dict[str, Any]:
    return {"items": await PairingService(Context.of(request, session, principal)).cadres(unit_id)}


@router.get("/cadres/{cadre_id}", responses={404: {"description": "Not found"}}, summary="One cadre")
async def get_cadre(
    cadre_id: Id, request: Request, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    from services.registry.pairing.service import _json

    row = _json(await PairingService(Context.of(request, session, principal)).cadre(cadre_id))
    return JSONResponse(row, headers={"ETag": etag(row["version"])})


@router.patch(
    "/cadres/{cadre_id}", responses=_WRITE, dependencies=[require_writer], summary="Edit a cadre (If-Match)"
)
async def patch_cadre(
    cadre_id: Id,
    payload: CadrePatch,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = parse_if_match(if_match)
    out = await PairingService(Context.of(request, session, principal)).patch_cadre(
        cadre_id, version, payload
    )
    await session.commit()
    return JSONResponse(out, headers={"ETag": etag(out["version"])})


@router.post(
    "/village-assignments",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Assign a first secretary or work-team member to a village (term >= 1 year)",
)
async def assign(
    payload: AssignmentCreate, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = await PairingService(Context.of(request, session, principal)).assign(payload)
    await session.commit()
    return out


@router.get("/villages/{code}/assignments", summary="Work team and first secretary of a village (on a date)")
async def village_assignments(
    code: Annotated[str, Path(pattern=r"^[0-9]{12}$")],
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    on: date | None = None,
) -> dict[str, Any]:
    return {"items": await PairingService(Context.of(request, session, principal)).assignments(code, on)}


@router.post(
    "/pairings",
    status_code=201,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Pair a cadre with a registered household",
)
async def create_pairing(
    payload: PairingCreate, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = await PairingService(Context.of(request, session, principal)).create(payload)
    await session.commit()
    return out


@router.post(
    "/pairings/{pairing_id}/end",
    responses=_WRITE,
    dependencies=[require_writer],
    summary="End a pairing (with a successor the same day unless the household exited: 不脱贫不脱钩)",
)
async def end_pairing(
    pairing_id: Id, payload: PairingEnd, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    out = await PairingService(Context.of(request, session, principal)).end(pairing_id, payload)
    await session.commit()
    return out


@router.get(
    "/households/{household_id}/pairings",
    summary="Who was responsible for the household: all pairings, or those in force on a day as known at a time",
)
async def household_pairings(
    household_id: Id,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    on: Annotated[date | None, Query(description="Day (China date): pairings in force that day")] = None,
    as_of: Annotated[
        datetime | None, Query(description="What the registry knew at this time (with timezone)")
    ] = None,
) -> dict[str, Any]:
    if as_of is not None and as_of.tzinfo is None:
        raise UnprocessableEntity("as_of needs a timezone (e.g. 2015-06-01T00:00:00Z)", field="as_of")
    items = await PairingService(Context.of(request, session, principal)).history(
        household_id, on=on, as_of=as_of
    )
    return {"household_id": str(household_id), "on": str(on) if on else None, "items": items}


@router.get(
    "/pairings/gaps",
    summary="Registered households with labour capacity and no pairing in force (after the batch deadline)",
)
async def pairing_gaps(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    region: Annotated[str, Query(pattern=r"^[0-9]{12}$")],
    on: date | None = None,
) -> dict[str, Any]:
    day = on or _today(request)
    items = await PairingService(Context.of(request, session, principal)).gaps(region, day)
    return {"region": region, "on": str(day), "count": len(items), "items": items}


@router.get(
    "/me/households", summary="For a cadre: households paired today, and those paired before (read-only)"
)
async def my_households(request: Request, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return await PairingService(Context.of(request, session, principal)).my_households(_today(request))
