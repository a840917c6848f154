"""Use cases of the cross-county handover (迁出申请 / 迁入确认): ask, read, list (keyset pages), accept, reject,
cancel. No SQL, no commit (the route's unit of work commits).

Acceptance moves the household (its `village_code`) in the same transaction as the transfer's status, with a
history-only workflow event (`relocate`, status unchanged) and audit entries filed on both sides (the source
village and the destination village), as `POST /households/{id}/relocate` does within a county. Pairings are
kept (不脱贫不脱钩, P3/P4) and the household's quota use follows it to the new village (no recheck).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.registry.audit.repository import RegistryAudit
from services.registry.household_transfers import domain
from services.registry.household_transfers.domain import Direction, Side, TransferStatus
from services.registry.household_transfers.repository import TransferRepository, TransferRow
from services.registry.household_transfers.schemas import (
    HouseholdBrief,
    TransferAccept,
    TransferCreate,
    TransferDecision,
    TransferListItem,
    TransferPublic,
)
from services.registry.households.repository import HouseholdRepository
from services.registry.identification import domain as workflow
from services.registry.models import HouseholdTransfer
from shared.context import Context
from shared.errors import Invalid, Refused
from shared.etag import stale
from shared.pagination import Page, decode_cursor, encode_cursor
from shared.problems import BadRequest, NotFound

__all__ = ["TransferService"]


def _public(row: HouseholdTransfer, household_version: int | None = None) -> TransferPublic:
    return TransferPublic.model_validate(row).model_copy(update={"household_version": household_version})


def _item(row: TransferRow) -> TransferListItem:
    transfer, head, size, cause = row
    brief = HouseholdBrief(head_name=head, household_size=size, poverty_cause_primary=cause)
    return TransferListItem.model_validate(_public(transfer).model_dump() | {"household": brief.model_dump()})


class TransferService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = TransferRepository(ctx)
        self.households = HouseholdRepository(ctx)
        self.audit = RegistryAudit(ctx)

    async def request(self, household_id: uuid.UUID, version: int, payload: TransferCreate) -> TransferPublic:
        """迁出申请: the source county office asks to hand its household over to a village of another county."""
        ctx = self.ctx
        domain.require_transfer_admin(ctx.principal.role)
        household = await self.households.lock(household_id)
        if household is None:
            raise NotFound(f"household {household_id} not found")
        if household.version != version:
            raise stale(household.version)
        domain.check_request(
            ctx.principal,
            household.status,
            household.village_code,
            payload.to_village_code,
            effective=payload.effective_date,
            today=ctx.today,
        )
        if not await self.repo.village_exists(payload.to_village_code):
            raise Invalid(
                "region_unknown", f"region {payload.to_village_code} does not exist", field="/to_village_code"
            )
        if await self.repo.pending_for(household_id) is not None:
            raise Refused("transfer_pending", "the household already has a pending transfer")
        transfer_id = uuid.uuid4()
        row = await self.repo.insert(
            {
                "id": transfer_id,
                "household_id": household_id,
                "from_village_code": household.village_code,
                "to_village_code": payload.to_village_code,
                "reason": payload.reason.value,
                "effective_date": payload.effective_date,
                "document_reference": payload.document_reference,
                "note": payload.note,
                "status": TransferStatus.pending.value,
                "requested_by": ctx.principal.sub,
                "requested_at": ctx.now,
            }
        )
        await self.audit.record(
            "household.transfer_request",
            record_type="household_transfer",
            record_id=transfer_id,
            household_id=household_id,
            region_code=household.village_code,
            reason=payload.note or payload.reason.value,
            detail=self._detail(row),
        )
        return _public(row)

    async def get(self, transfer_id: uuid.UUID) -> TransferListItem:
        """One transfer, for the county office of either side; to anyone else it is missing (404)."""
        domain.require_transfer_admin(self.ctx.principal.role)
        row = await self.repo.read(transfer_id)
        if row is None:
            raise NotFound(f"household transfer {transfer_id} not found")
        return _item(row)

    async def page(
        self, direction: Direction, status: TransferStatus | None, cursor: str | None, limit: int
    ) -> Page[TransferListItem]:
        """Transfers into (or out of) the caller's county, oldest request first, in keyset pages."""
        domain.require_transfer_admin(self.ctx.principal.role)
        # The cursor names its list: one of the incoming list does not continue the outgoing one.
        kind = f"household_transfers.{direction.value}"
        after: tuple[datetime, uuid.UUID] | None = None
        if cursor is not None:
            at, last = decode_cursor(cursor, kind, (datetime, uuid.UUID))
            if not isinstance(at, datetime) or not isinstance(last, uuid.UUID):
                raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
            after = (at, last)
        rows = await self.repo.page(direction, status, after, limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        last_row = rows[-1][0] if rows else None
        return Page[TransferListItem](
            items=[_item(row) for row in rows],
            next_cursor=encode_cursor(kind, last_row.requested_at, last_row.id)
            if more and last_row
            else None,
        )

    async def _locked(self, transfer_id: uuid.UUID, needed: Side) -> HouseholdTransfer:
        domain.require_transfer_admin(self.ctx.principal.role)
        row = await self.repo.lock(transfer_id)
        if row is None:
            raise NotFound(f"household transfer {transfer_id} not found")
        side = domain.side_of(self.ctx.principal, row.from_village_code, row.to_village_code)
        if side is None:  # pragma: no cover - the lock is scoped to both sides
            raise NotFound(f"household transfer {transfer_id} not found")
        domain.require_side(side, needed)
        domain.require_pending(row.status)
        return row

    async def accept(self, transfer_id: uuid.UUID, payload: TransferAccept) -> TransferPublic:
        """迁入确认: the destination county office takes the household in; it moves now."""
        row = await self._locked(transfer_id, Side.destination)
        household = await self.repo.lock_household(row.household_id)
        domain.check_at_rest(household.status)
        new_version = await self.repo.move_household(
            row.household_id,
            row.to_village_code,
            natural_village=payload.natural_village,
            villager_group=payload.villager_group,
        )
        pairings = await self.households.active_pairings(row.household_id, self.ctx.today)
        decided = await self.repo.decide(transfer_id, TransferStatus.accepted, payload.note)
        detail = self._detail(decided) | {
            "from_natural_village": household.natural_village,
            "from_villager_group": household.villager_group,
            "pairings_kept": pairings,
        }
        await self.households.append_history_event(
            row.household_id,
            workflow.RELOCATION_COMMAND,
            reason=payload.note or row.note,
            data=detail,
            status=household.status,
        )
        for region in (row.from_village_code, row.to_village_code):  # both sides read it in their audit log
            await self.audit.record(
                "household.transfer_accept",
                record_type="household_transfer",
                record_id=transfer_id,
                household_id=row.household_id,
                region_code=region,
                reason=payload.note or row.reason,
                detail=detail,
            )
        return _public(decided, new_version)

    async def reject(self, transfer_id: uuid.UUID, payload: TransferDecision) -> TransferPublic:
        row = await self._locked(transfer_id, Side.destination)
        return await self._close(row, TransferStatus.rejected, "household.transfer_reject", payload.reason)

    async def cancel(self, transfer_id: uuid.UUID, payload: TransferDecision) -> TransferPublic:
        row = await self._locked(transfer_id, Side.source)
        return await self._close(row, TransferStatus.cancelled, "household.transfer_cancel", payload.reason)

    async def _close(
        self, row: HouseholdTransfer, status: TransferStatus, action: str, reason: str
    ) -> TransferPublic:
        decided = await self.repo.decide(row.id, status, reason)
        for region in (row.from_village_code, row.to_village_code):
            await self.audit.record(
                action,
                record_type="household_transfer",
                record_id=row.id,
                household_id=row.household_id,
                region_code=region,
                reason=reason,
                detail=self._detail(decided),
            )
        return _public(decided)

    @staticmethod
    def _detail(row: HouseholdTransfer) -> dict[str, Any]:
        return {
            "transfer_id": str(row.id),
            "from_village_code": row.from_village_code,
            "to_village_code": row.to_village_code,
            "relocation_reason": row.reason,
            "effective_date": row.effective_date.isoformat(),
            "document_reference": row.document_reference,
            "status": row.status,
        }
