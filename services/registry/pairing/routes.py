"""Pairing HTTP routes (结对帮扶): helping units, cadres, village assignments, pairings and their history."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.registry.deps import CipherDep
from services.registry.pairing.schemas import (
    AssignmentCreate,
    AssignmentPage,
    AssignmentPublic,
    CadreCreate,
    CadrePage,
    CadrePublic,
    CadreUpdate,
    GapReport,
    MyHouseholds,
    PairingCreate,
    PairingCreated,
    PairingEnd,
    PairingEnded,
    PairingHistory,
    UnitCreate,
    UnitPage,
    UnitPublic,
)
from services.registry.pairing.service import AssignmentService, CadreService, PairingService, UnitService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import IfMatchDep, etag
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter
from shared.schemas import QueryDatetime

router = APIRouter(tags=["pairing"])

Id = Annotated[uuid.UUID, Path()]
Code = Annotated[str, Query(pattern=r"^[0-9]{12}$")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=1000)]
_READ: dict[int | str, dict[str, Any]] = {404: {"description": "Missing or outside your region"}}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by a rule (problem `code` says which)"},
    422: {"description": "Invalid input; nothing changed"},
}
_VERSIONED_WRITE: dict[int | str, dict[str, Any]] = _WRITE | {
    412: {"description": "Stale version (`current_version` says which is current)"},
    428: {"description": "If-Match missing"},
}


# -- helping units (帮扶单位) ------------------------------------------------------------------------------------
@router.post(
    "/helping-units",
    status_code=201,
    response_model=UnitPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Register a helping unit (帮扶单位)",
)
async def create_helping_unit(payload: UnitCreate, ctx: ContextDep, response: Response) -> UnitPublic:
    """Register a helping unit (帮扶单位) of your region, with its ratio policy; `Location` is the unit."""
    unit = await UnitService(ctx).create(payload)
    response.headers["ETag"] = etag(unit.version)
    response.headers["Location"] = f"/helping-units/{unit.id}"
    return unit


@router.get("/helping-units", response_model=UnitPage, summary="Helping units of your region (帮扶单位)")
async def list_helping_units(
    ctx: ReadContextDep,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    cursor: Cursor = None,
    limit: Limit = 1000,
) -> UnitPage:
    """The helping units (帮扶单位) of your region, by name (keyset pages)."""
    return await UnitService(ctx).page(region, cursor, limit)


@router.get(
    "/helping-units/{unit_id}", response_model=UnitPublic, responses=_READ, summary="One helping unit"
)
async def get_helping_unit(unit_id: Id, ctx: ReadContextDep, response: Response) -> UnitPublic:
    """One helping unit (帮扶单位) of your region; its `version` is the ETag."""
    unit = await UnitService(ctx).get(unit_id)
    response.headers["ETag"] = etag(unit.version)
    return unit


# -- cadres (帮扶干部) -------------------------------------------------------------------------------------------
@router.post(
    "/cadres",
    status_code=201,
    response_model=CadrePublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Register a cadre (帮扶干部)",
)
async def create_cadre(
    payload: CadreCreate, ctx: ContextDep, cipher: CipherDep, response: Response
) -> CadrePublic:
    """Register a cadre (帮扶干部) of a helping unit; the phone is stored encrypted and shown masked. `Location`
    is the cadre."""
    cadre = await CadreService(ctx, cipher).create(payload)
    response.headers["ETag"] = etag(cadre.version)
    response.headers["Location"] = f"/cadres/{cadre.id}"
    return cadre


@router.get("/cadres", response_model=CadrePage, summary="Cadres of your region (帮扶干部)")
async def list_cadres(
    ctx: ReadContextDep,
    cipher: CipherDep,
    unit_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 1000,
) -> CadrePage:
    """The cadres (帮扶干部) of your region, optionally of one unit (keyset pages)."""
    return await CadreService(ctx, cipher).page(unit_id, cursor, limit)


@router.get("/cadres/{cadre_id}", response_model=CadrePublic, responses=_READ, summary="One cadre")
async def get_cadre(cadre_id: Id, ctx: ReadContextDep, cipher: CipherDep, response: Response) -> CadrePublic:
    """One cadre (帮扶干部) of your region; its `version` is the ETag."""
    cadre = await CadreService(ctx, cipher).get(cadre_id)
    response.headers["ETag"] = etag(cadre.version)
    return cadre


@router.patch(
    "/cadres/{cadre_id}",
    response_model=CadrePublic,
    responses=_VERSIONED_WRITE,
    dependencies=[require_writer],
    summary="Edit a cadre (If-Match: the cadre's ETag)",
)
async def update_cadre(
    cadre_id: Id,
    payload: CadreUpdate,
    version: IfMatchDep,
    ctx: ContextDep,
    cipher: CipherDep,
    response: Response,
) -> CadrePublic:
    """Edit a cadre, based on the version you read (`If-Match`)."""
    cadre = await CadreService(ctx, cipher).update(cadre_id, version, payload)
    response.headers["ETag"] = etag(cadre.version)
    return cadre


# -- village assignments (驻村工作队, 第一书记) ----------------------------------------------------------------------
@router.post(
    "/village-assignments",
    status_code=201,
    response_model=AssignmentPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Assign a first secretary or work-team member to a village (term >= 1 year)",
)
async def create_village_assignment(
    payload: AssignmentCreate, ctx: ContextDep, response: Response
) -> AssignmentPublic:
    """Assign a first secretary (第一书记) or a work-team member (驻村工作队) to a village for a term of at least a
    year."""
    assignment = await AssignmentService(ctx).create(payload)
    response.headers["Location"] = f"/villages/{assignment.village_code}/assignments"
    return assignment


@router.get(
    "/villages/{code}/assignments",
    response_model=AssignmentPage,
    responses=_READ,
    summary="Work team and first secretary of a village (on a date)",
)
async def list_village_assignments(
    code: Annotated[str, Path(pattern=r"^[0-9]{12}$")],
    ctx: ReadContextDep,
    on: date | None = None,
    cursor: Cursor = None,
    limit: Limit = 1000,
) -> AssignmentPage:
    """The work team and first secretary of a village, on a date (today by default)."""
    return await AssignmentService(ctx).page(code, on, cursor, limit)


# -- pairings (结对) --------------------------------------------------------------------------------------------
@router.post(
    "/pairings",
    status_code=201,
    response_model=PairingCreated,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Pair a cadre with a registered household (warnings: the unit ratio policy)",
)
async def create_pairing(payload: PairingCreate, ctx: ContextDep, response: Response) -> PairingCreated:
    """Pair a cadre with a registered household (结对); the unit ratio policy only warns. `Location` is the
    household's pairings."""
    pairing = await PairingService(ctx).create(payload)
    response.headers["Location"] = f"/households/{pairing.household_id}/pairings"
    return pairing


@router.post(
    "/pairings/{pairing_id}/end",
    response_model=PairingEnded,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="End a pairing (with a successor the same day unless the household exited: 不脱贫不脱钩)",
)
async def end_pairing(pairing_id: Id, payload: PairingEnd, ctx: ContextDep) -> PairingEnded:
    """End a pairing: a successor takes over the same day unless the household exited (不脱贫不脱钩)."""
    return await PairingService(ctx).end(pairing_id, payload)


@router.get(
    "/households/{household_id}/pairings",
    response_model=PairingHistory,
    responses=_READ | {422: {"description": "`as_of` without a timezone"}},
    summary="Who was responsible for the household: all pairings, or those in force on a day as known at a time",
)
async def list_household_pairings(
    household_id: Id,
    ctx: ContextDep,
    on: Annotated[date | None, Query(description="Day (China date): pairings in force that day")] = None,
    as_of: Annotated[
        QueryDatetime | None, Query(description="What the registry knew at this time (with timezone)")
    ] = None,
) -> PairingHistory:
    """Who was responsible for the household: every pairing row, or those in force on a day as the registry
    knew them at a time (bitemporal)."""
    return await PairingService(ctx).history(household_id, on=on, as_of=as_of)


@router.get(
    "/pairings/gaps",
    response_model=GapReport,
    responses=_READ,
    summary="Registered households with labour capacity and no pairing in force (after the batch deadline)",
)
async def list_pairing_gaps(ctx: ReadContextDep, region: Code, on: date | None = None) -> GapReport:
    """Registered households with labour capacity and no pairing in force, after the batch deadline."""
    return await PairingService(ctx).gaps(region, on)


@router.get(
    "/me/households",
    response_model=MyHouseholds,
    responses={403: {"description": "Only cadres have paired households"}},
    summary="For a cadre: households paired today, and those paired before (read-only)",
)
async def list_my_households(ctx: ReadContextDep) -> MyHouseholds:
    """For the calling cadre: the households paired today, and those paired before (read-only)."""
    return await PairingService(ctx).mine()
