"""Every SQL statement of the risk funds, scoped by the village code (`scope_filter`) in one place.

The balance moves only by single statements: a contribution upserts the account (`balance_fen + :x`), a payout
subtracts inside a savepoint, and the CHECK `balance_fen >= 0` decides under concurrency (a refused payout comes
back as `None` for the service to explain on the fresh balance).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.planning.models import (
    ForceMajeureEvent,
    Project,
    ProjectBeneficiary,
    RiskFundAccount,
    RiskFundEntry,
)
from services.planning.risk_funds import domain
from shared.context import Context
from shared.db import scope_filter

__all__ = ["AccountTotals", "RiskFundRepository"]

_BALANCE_CHECK = "ck_planning_risk_fund_account_balance"


@dataclass(frozen=True, slots=True)
class AccountTotals:
    balance_fen: int
    contributed_fen: int
    paid_out_fen: int
    entries: int
    updated_at: datetime | None


class RiskFundRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    async def project(self, project_id: uuid.UUID) -> domain.ProjectOfVillage | None:
        """A project in the caller's scope."""
        query = select(col(Project.id), col(Project.village_code), col(Project.category)).where(
            col(Project.id) == project_id, scope_filter(self.principal, col(Project.village_code))
        )
        row = (await self.session.exec(query)).first()
        return domain.ProjectOfVillage(*row) if row is not None else None

    async def is_beneficiary(self, project_id: uuid.UUID, household_id: uuid.UUID) -> bool:
        query = select(col(ProjectBeneficiary.household_id)).where(
            col(ProjectBeneficiary.project_id) == project_id,
            col(ProjectBeneficiary.household_id) == household_id,
        )
        return (await self.session.exec(query)).first() is not None

    async def benefits_in_village(self, village_code: str, household_id: uuid.UUID) -> bool:
        """Whether the household benefits from any project of the village."""
        query = (
            select(col(ProjectBeneficiary.household_id))
            .join(Project, col(Project.id) == col(ProjectBeneficiary.project_id))
            .where(
                col(Project.village_code) == village_code,
                col(ProjectBeneficiary.household_id) == household_id,
            )
            .limit(1)
        )
        return (await self.session.exec(query)).first() is not None

    # -- events -----------------------------------------------------------------------------------------------
    async def add_event(self, row: ForceMajeureEvent) -> None:
        self.session.add(row)
        await self.session.flush()

    async def event(self, event_id: uuid.UUID) -> ForceMajeureEvent | None:
        query = select(ForceMajeureEvent).where(
            col(ForceMajeureEvent.id) == event_id,
            scope_filter(self.principal, col(ForceMajeureEvent.village_code)),
        )
        return (await self.session.exec(query)).first()

    async def events(
        self, village_code: str, *, after: tuple[date, uuid.UUID] | None, limit: int
    ) -> list[ForceMajeureEvent]:
        query = select(ForceMajeureEvent).where(
            col(ForceMajeureEvent.village_code) == village_code,
            scope_filter(self.principal, col(ForceMajeureEvent.village_code)),
        )
        if after is not None:
            query = query.where(
                sa.tuple_(col(ForceMajeureEvent.occurred_on), col(ForceMajeureEvent.id)) > sa.tuple_(*after)
            )
        query = query.order_by(col(ForceMajeureEvent.occurred_on), col(ForceMajeureEvent.id)).limit(limit)
        return list((await self.session.exec(query)).all())

    # -- the account ------------------------------------------------------------------------------------------
    async def credit(self, village_code: str, amount_fen: int) -> int:
        """Add to the village's balance (opening the account on its first contribution); the new balance."""
        insert = pg_insert(RiskFundAccount).values(
            village_code=village_code, balance_fen=amount_fen, updated_at=self.ctx.now
        )
        statement = insert.on_conflict_do_update(
            index_elements=["village_code"],
            set_={
                "balance_fen": col(RiskFundAccount.balance_fen) + amount_fen,
                "updated_at": insert.excluded.updated_at,
            },
        ).returning(col(RiskFundAccount.balance_fen))
        return int((await self.session.exec(statement)).scalar_one())

    async def debit(self, village_code: str, amount_fen: int) -> int | None:
        """Take from the balance; None when the CHECK `balance_fen >= 0` refused it (or there is no account)."""
        statement = (
            sa.update(RiskFundAccount)
            .where(col(RiskFundAccount.village_code) == village_code)
            .values(balance_fen=col(RiskFundAccount.balance_fen) - amount_fen, updated_at=self.ctx.now)
            .returning(col(RiskFundAccount.balance_fen))
        )
        try:
            async with self.session.begin_nested():
                balance = (await self.session.exec(statement)).scalar_one_or_none()
        except IntegrityError as exc:
            if _BALANCE_CHECK in str(exc.orig):
                return None
            raise
        return None if balance is None else int(balance)

    async def balance(self, village_code: str) -> int:
        query = select(col(RiskFundAccount.balance_fen)).where(
            col(RiskFundAccount.village_code) == village_code
        )
        return int((await self.session.exec(query)).first() or 0)

    async def totals(self, village_code: str) -> AccountTotals:
        """The account's balance and what its entries add up to."""
        account = (
            await self.session.exec(
                select(col(RiskFundAccount.balance_fen), col(RiskFundAccount.updated_at)).where(
                    col(RiskFundAccount.village_code) == village_code
                )
            )
        ).first()
        amount = col(RiskFundEntry.amount_fen)
        kind = col(RiskFundEntry.kind)
        sums = (
            await self.session.exec(
                select(
                    sa.func.coalesce(sa.func.sum(amount).filter(kind == "contribution"), 0),
                    sa.func.coalesce(sa.func.sum(amount).filter(kind == "payout"), 0),
                    sa.func.count(),
                ).where(col(RiskFundEntry.village_code) == village_code)
            )
        ).one()
        return AccountTotals(
            balance_fen=int(account[0]) if account else 0,
            contributed_fen=int(sums[0]),
            paid_out_fen=int(sums[1]),
            entries=int(sums[2]),
            updated_at=account[1] if account else None,
        )

    # -- entries ----------------------------------------------------------------------------------------------
    async def add_entry(self, row: RiskFundEntry) -> RiskFundEntry:
        self.session.add(row)
        await self.session.flush()
        return row

    async def entry(self, village_code: str, entry_id: int) -> RiskFundEntry | None:
        query = select(RiskFundEntry).where(
            col(RiskFundEntry.id) == entry_id,
            col(RiskFundEntry.village_code) == village_code,
            scope_filter(self.principal, col(RiskFundEntry.village_code)),
        )
        return (await self.session.exec(query)).first()

    async def entries(
        self, village_code: str, *, kind: str | None, after: int | None, limit: int
    ) -> list[RiskFundEntry]:
        query = select(RiskFundEntry).where(
            col(RiskFundEntry.village_code) == village_code,
            scope_filter(self.principal, col(RiskFundEntry.village_code)),
        )
        if kind is not None:
            query = query.where(col(RiskFundEntry.kind) == kind)
        if after is not None:
            query = query.where(col(RiskFundEntry.id) > after)
        query = query.order_by(col(RiskFundEntry.id)).limit(limit)
        return list((await self.session.exec(query)).all())
