"""Cross-county handover routes (迁出申请 / 迁入确认): thin handlers over `TransferService`.

The source county office asks (`POST /households/{household_id}/transfers`, with the household's `If-Match`);
the destination county office lists what comes in (keyset pages), reads one, and accepts or rejects; the source
may cancel while pending. A transfer neither side's scope holds answers 404, like a missing one.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query

from services.registry.household_transfers.schemas import (
    Direction,
    TransferAccept,
    TransferCreate,
    TransferDecision,
    TransferListItem,
    TransferPublic,
    TransferStatus,
)
from services.registry.household_transfers.service import TransferService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import IfMatchDep
from shared.pagination import MAX_CURSOR_LENGTH, Page
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["households"])

HouseholdId = Annotated[uuid.UUID, Path(description="Household id (UUID)")]
TransferId = Annotated[uuid.UUID, Path(description="Household transfer id (UUID)")]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only county offices hand households over; accept and reject are the destination's"},
    404: {"description": "Missing or outside your region (neither side of the transfer)"},
    409: {"description": "Refused by a rule (`transfer_pending`, `transfer_not_pending`, ...)"},
    422: {"description": "Invalid input; nothing changed"},
}


@router.post(
    "/households/{household_id}/transfers",
    response_model=TransferPublic,
    status_code=201,
    responses=_WRITE | {412: {"description": "Stale If-Match"}, 428: {"description": "If-Match missing"}},
    dependencies=[require_writer],
    summary="Ask to hand the household over to a village of another county (迁出申请)",
)
async def request_transfer(
    household_id: HouseholdId, payload: TransferCreate, version: IfMatchDep, ctx: ContextDep
) -> TransferPublic:
    """The source county office asks; the household stays where it is until the destination county office
    accepts. A destination in your own county is a relocation (`POST /households/{household_id}/relocate`)."""
    return await TransferService(ctx).request(household_id, version, payload)


@router.get(
    "/household-transfers",
    response_model=Page[TransferListItem],
    responses={403: {"description": "Only county offices hand households over"}},
    summary="Transfers into (or out of) your county (迁入待确认 / 迁出)",
)
async def list_transfers(
    ctx: ReadContextDep,
    direction: Annotated[Direction, Query(description="`incoming`: into your region; `outgoing`: out of it")],
    status: Annotated[
        TransferStatus | None, Query(description="Only transfers in this state (default: pending)")
    ] = TransferStatus.pending,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> Page[TransferListItem]:
    """Oldest request first, in keyset pages (`cursor`, `limit`). With each transfer, a brief of the household
    (head name, size, primary poverty cause), no personal data."""
    return await TransferService(ctx).page(direction, status, cursor, limit)


@router.get(
    "/household-transfers/{transfer_id}",
    response_model=TransferListItem,
    responses={
        403: {"description": "Only county offices hand households over"},
        404: {"description": "Missing, or neither its source nor its destination is in your region"},
    },
    summary="One transfer, for the county office of either side",
)
async def get_transfer(transfer_id: TransferId, ctx: ReadContextDep) -> TransferListItem:
    """The transfer and where it stands, with the household's brief; the source and the destination county
    office read it, to anyone else it is missing (404, as one that does not exist)."""
    return await TransferService(ctx).get(transfer_id)


@router.post(
    "/household-transfers/{transfer_id}/accept",
    response_model=TransferPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Take the household in (迁入确认)",
)
async def accept_transfer(
    transfer_id: TransferId, payload: TransferAccept, ctx: ContextDep
) -> TransferPublic:
    """The destination county office accepts: the household moves to the destination village now (its new
    version is `household_version`); its pairings are kept and its quota use follows it."""
    return await TransferService(ctx).accept(transfer_id, payload)


@router.post(
    "/household-transfers/{transfer_id}/reject",
    response_model=TransferPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Refuse to take the household in",
)
async def reject_transfer(
    transfer_id: TransferId, payload: TransferDecision, ctx: ContextDep
) -> TransferPublic:
    """The destination county office refuses the household (with its `reason`): the transfer ends `rejected`,
    the household stays where it is, and both counties' audit logs have the entry."""
    return await TransferService(ctx).reject(transfer_id, payload)


@router.post(
    "/household-transfers/{transfer_id}/cancel",
    response_model=TransferPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Withdraw the transfer request while it is pending",
)
async def cancel_transfer(
    transfer_id: TransferId, payload: TransferDecision, ctx: ContextDep
) -> TransferPublic:
    """The source county office withdraws its request (with its `reason`) while it is pending: the transfer ends
    `cancelled` and the household's workflow is free again."""
    return await TransferService(ctx).cancel(transfer_id, payload)
