"""Risk fund routes (项目风险金): `/villages/{code}/risk-fund…` and the village's force-majeure events."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.planning.deps import RegistryDep
from services.planning.risk_funds.schemas import (
    ContributionCreate,
    ForceMajeureCreate,
    ForceMajeurePage,
    ForceMajeurePublic,
    PayoutCreate,
    RiskFundAccountPublic,
    RiskFundEntryKind,
    RiskFundEntryPage,
    RiskFundEntryPublic,
)
from services.planning.risk_funds.service import RiskFundService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

router = APIRouter(tags=["risk funds"])

#: The tag of these routes, with its description (planning's main.py declares it).
TAGS = {
    "risk funds": (
        "Project risk funds (项目风险金): contributions from planting and breeding projects, force-majeure "
        "events, payouts within the balance"
    )
}

VillageCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="The village's 12-digit division code")]
Id = Annotated[uuid.UUID, Path()]
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=1000)]

_READ: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid cursor"},
    403: {"description": "Cadres read money through the project and the public disclosure"},
    404: {"description": "Missing or outside your region"},
}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this (payouts: township officers and county admins)"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by a rule (the problem's `code` says which)"},
    422: {"description": "Invalid input (a negative amount or a fraction of a fen); nothing changed"},
}


@router.post(
    "/villages/{code}/risk-fund/contributions",
    status_code=201,
    response_model=RiskFundEntryPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record a contribution to the village's risk fund",
)
async def create_risk_fund_contribution(
    code: VillageCode, payload: ContributionCreate, ctx: ContextDep, response: Response
) -> RiskFundEntryPublic:
    """Record a payment into the village's risk fund from one of its planting or breeding projects, or from a
    beneficiary household of it. `Location` is the entry."""
    entry = await RiskFundService(ctx).contribute(code, payload)
    response.headers["Location"] = f"/villages/{code}/risk-fund/entries/{entry.id}"
    return entry


@router.post(
    "/villages/{code}/force-majeure-events",
    status_code=201,
    response_model=ForceMajeurePublic,
    responses=_WRITE | {503: {"description": "The registry did not answer; nothing was written"}},
    dependencies=[require_writer],
    summary="Record a force-majeure event that struck the village",
)
async def create_force_majeure_event(
    code: VillageCode, payload: ForceMajeureCreate, ctx: ContextDep, registry: RegistryDep, response: Response
) -> ForceMajeurePublic:
    """Record a drought, flood, epidemic or other force-majeure event of the village (the village is checked
    with the registry): the ground every payout names. `Location` is the event."""
    event = await RiskFundService(ctx, registry).record_event(code, payload)
    response.headers["Location"] = f"/villages/{code}/force-majeure-events/{event.id}"
    return event


@router.get(
    "/villages/{code}/force-majeure-events",
    response_model=ForceMajeurePage,
    responses=_READ,
    summary="The village's force-majeure events, by date (keyset pages)",
)
async def list_force_majeure_events(
    code: VillageCode, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 100
) -> ForceMajeurePage:
    """The force-majeure events recorded for the village, oldest first."""
    return await RiskFundService(ctx).events(code, cursor, limit)


@router.get(
    "/villages/{code}/force-majeure-events/{event_id}",
    response_model=ForceMajeurePublic,
    responses=_READ,
    summary="One force-majeure event",
)
async def get_force_majeure_event(code: VillageCode, event_id: Id, ctx: ReadContextDep) -> ForceMajeurePublic:
    """One force-majeure event of the village."""
    return await RiskFundService(ctx).event(code, event_id)


@router.post(
    "/villages/{code}/risk-fund/payouts",
    status_code=201,
    response_model=RiskFundEntryPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Pay production relief out of the village's risk fund for a recorded event (township or county)",
)
async def create_risk_fund_payout(
    code: VillageCode, payload: PayoutCreate, ctx: ContextDep, response: Response
) -> RiskFundEntryPublic:
    """Pay production relief out of the fund for a recorded force-majeure event of the village: never more than
    the balance (invariant 42). `Location` is the entry."""
    entry = await RiskFundService(ctx).pay_out(code, payload)
    response.headers["Location"] = f"/villages/{code}/risk-fund/entries/{entry.id}"
    return entry


@router.get(
    "/villages/{code}/risk-fund",
    response_model=RiskFundAccountPublic,
    responses=_READ,
    summary="The village's risk fund: balance, contributed, paid out",
)
async def get_risk_fund(code: VillageCode, ctx: ContextDep) -> RiskFundAccountPublic:
    """The village's risk fund account: its balance (never below zero) and what its entries add up to."""
    return await RiskFundService(ctx).account(code)


@router.get(
    "/villages/{code}/risk-fund/entries",
    response_model=RiskFundEntryPage,
    responses=_READ,
    summary="The risk fund's entries, in the order recorded (keyset pages)",
)
async def list_risk_fund_entries(
    code: VillageCode,
    ctx: ReadContextDep,
    kind: RiskFundEntryKind | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> RiskFundEntryPage:
    """The fund's contributions and payouts in the order recorded, optionally of one kind."""
    return await RiskFundService(ctx).entries(code, kind, cursor, limit)


@router.get(
    "/villages/{code}/risk-fund/entries/{entry_id}",
    response_model=RiskFundEntryPublic,
    responses=_READ,
    summary="One entry of the risk fund",
)
async def get_risk_fund_entry(
    code: VillageCode, entry_id: EntryId, ctx: ReadContextDep
) -> RiskFundEntryPublic:
    """One contribution or payout of the village's fund."""
    return await RiskFundService(ctx).entry(code, entry_id)
