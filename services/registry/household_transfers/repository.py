"""SQL of the cross-county handover: transfers scoped to the caller's region on either side, and the move.

A transfer is in a caller's scope when its source or its destination village is; the household itself is read
and locked through the transfer (the destination county office cannot see it in `/households` before it
accepts), and only its brief (head name, size, primary cause) is shown across the county line.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.registry.household_transfers.domain import Direction, TransferStatus
from services.registry.models import Household, HouseholdTransfer, Region
from shared.context import Context
from shared.db import scope_filter
from shared.errors import Refused

__all__ = ["TransferRepository", "TransferRow"]

#: A transfer and its household's brief: head name, size, primary poverty cause.
TransferRow = tuple[HouseholdTransfer, str | None, int, str | None]


class TransferRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _in_scope(self) -> sa.ColumnElement[bool]:
        principal = self.ctx.principal
        return sa.or_(
            scope_filter(principal, col(HouseholdTransfer.from_village_code)),
            scope_filter(principal, col(HouseholdTransfer.to_village_code)),
        )

    async def village_exists(self, code: str) -> bool:
        query = select(Region.code).where(col(Region.code) == code, col(Region.level) == "village")
        return (await self.session.exec(query)).first() is not None

    async def pending_for(self, household_id: uuid.UUID) -> uuid.UUID | None:
        """The household's pending transfer, if any (whoever asked)."""
        query = select(HouseholdTransfer.id).where(
            col(HouseholdTransfer.household_id) == household_id,
            col(HouseholdTransfer.status) == TransferStatus.pending.value,
        )
        return (await self.session.exec(query)).first()

    async def insert(self, values: Mapping[str, Any]) -> HouseholdTransfer:
        """A new pending transfer; a second pending one of the same household is refused (409)."""
        try:
            async with self.session.begin_nested():
                await self.session.exec(sa.insert(HouseholdTransfer).values(**values))
        except IntegrityError as exc:
            if "uq_registry_household_transfer_pending" in str(exc.orig):
                raise Refused("transfer_pending", "the household already has a pending transfer") from exc
            raise
        return await self.get(values["id"])

    async def get(self, transfer_id: uuid.UUID) -> HouseholdTransfer:
        query = (
            select(HouseholdTransfer)
            .where(col(HouseholdTransfer.id) == transfer_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).one()

    async def lock(self, transfer_id: uuid.UUID) -> HouseholdTransfer | None:
        """The transfer in scope (either side), locked; None when missing or neither side's."""
        query = (
            select(HouseholdTransfer)
            .where(col(HouseholdTransfer.id) == transfer_id, self._in_scope())
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def lock_household(self, household_id: uuid.UUID) -> Household:
        """The household a transfer in scope names, locked (every write to it starts by locking it)."""
        query = (
            select(Household)
            .where(col(Household.id) == household_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).one()

    async def move_household(
        self,
        household_id: uuid.UUID,
        village_code: str,
        *,
        natural_village: str | None,
        villager_group: str | None,
    ) -> int:
        """The household now lives in `village_code` (the change feed's trigger records the old and new
        village); its version is bumped. Returns the new version."""
        statement = (
            sa.update(Household)
            .where(col(Household.id) == household_id)
            .values(
                village_code=village_code,
                natural_village=natural_village,
                villager_group=villager_group,
                version=col(Household.version) + 1,
                updated_at=self.ctx.now,
                updated_by=self.ctx.principal.sub,
            )
            .returning(col(Household.version))
        )
        return int((await self.session.exec(statement)).scalar_one())

    async def decide(
        self, transfer_id: uuid.UUID, status: TransferStatus, reason: str | None
    ) -> HouseholdTransfer:
        await self.session.exec(
            sa.update(HouseholdTransfer)
            .where(col(HouseholdTransfer.id) == transfer_id)
            .values(
                status=status.value,
                decided_by=self.ctx.principal.sub,
                decided_at=self.ctx.now,
                decision_reason=reason,
            )
        )
        return await self.get(transfer_id)

    def _with_brief(self) -> Any:
        return select(
            HouseholdTransfer,
            col(Household.head_name),
            col(Household.household_size),
            col(Household.poverty_cause_primary),
        ).join(Household, col(Household.id) == col(HouseholdTransfer.household_id))

    async def read(self, transfer_id: uuid.UUID) -> TransferRow | None:
        """One transfer in scope (either side) with the household's brief; None when missing or neither side's."""
        query = (
            self._with_brief()
            .where(col(HouseholdTransfer.id) == transfer_id, self._in_scope())
            .execution_options(populate_existing=True)
        )
        row = (await self.session.exec(query)).first()
        return None if row is None else (row[0], row[1], int(row[2]), row[3])

    async def page(
        self,
        direction: Direction,
        status: TransferStatus | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[TransferRow]:
        """Transfers into (or out of) the caller's region, oldest request first, after the keyset `after`
        (`requested_at`, `id` of the last one served), with the household's brief."""
        column = (
            HouseholdTransfer.to_village_code
            if direction is Direction.incoming
            else HouseholdTransfer.from_village_code
        )
        keyset = (col(HouseholdTransfer.requested_at), col(HouseholdTransfer.id))
        query = (
            self._with_brief()
            .where(scope_filter(self.ctx.principal, col(column)))
            .order_by(*keyset)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if status is not None:
            query = query.where(col(HouseholdTransfer.status) == status.value)
        if after is not None:
            query = query.where(sa.tuple_(*keyset) > sa.tuple_(*after))
        rows = (await self.session.exec(query)).all()
        return [(row[0], row[1], int(row[2]), row[3]) for row in rows]
