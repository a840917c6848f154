"""Every SQL statement of the identification workflow: its events, the status it leaves on the household, quota
overrides and the facts of the exit test (incomes and members).

The household itself is found and locked by the households feature (`HouseholdService.lock`, in scope); the
statements here address a household already locked in the request's transaction, except `households_at`, which
selects a region's list for a batch within the caller's scope.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.registry.households.domain import RELATIONS_AUDIT_ACTION
from services.registry.identification.domain import Event, ExitMember, Outcome
from services.registry.models import (
    Cadre,
    Household,
    HouseholdIncome,
    Member,
    QuotaOverride,
    VillageAssignment,
    WorkflowEvent,
    audit_event,
)
from services.registry.scope import household_scope
from shared.context import Context
from shared.errors import Refused
from shared.roles import scope_prefix

__all__ = ["IdentificationRepository"]


class IdentificationRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """One item of a batch: its writes are undone alone when it is refused."""
        async with self.session.begin_nested():
            yield

    async def events(self, household_id: uuid.UUID) -> list[WorkflowEvent]:
        query = (
            select(WorkflowEvent)
            .where(col(WorkflowEvent.household_id) == household_id)
            .order_by(col(WorkflowEvent.seq))
            .execution_options(populate_existing=True)
        )
        return list((await self.session.exec(query)).all())

    async def ever_related(self, household_id: uuid.UUID) -> set[str]:
        """Every official the household's audit history shows as ever declared related (the recusal history)."""
        c = audit_event.c
        declared = sa.func.jsonb_array_elements_text(c.detail["declared"]).table_valued("value")
        stmt = (
            sa.select(declared.c.value)
            .select_from(audit_event)
            .join(declared, sa.true())
            .where(c.household_id == household_id, c.action == RELATIONS_AUDIT_ACTION)
        )
        connection = await self.session.connection()
        return {str(v) for v in (await connection.execute(stmt)).scalars().all()}

    async def append(
        self,
        household_id: uuid.UUID,
        seq: int,
        event: Event,
        *,
        status_after: str,
        batch_id: uuid.UUID | None,
    ) -> None:
        await self.session.exec(
            sa.insert(WorkflowEvent).values(
                household_id=household_id,
                seq=seq,
                command=event.command.value,
                at=event.at,
                actor=event.actor,
                role=event.role.value,
                reason=event.reason,
                data=dict(event.data),
                status_after=status_after,
                batch_id=batch_id,
                request_id=self.ctx.request_id,
            )
        )

    async def set_status(self, household_id: uuid.UUID, outcome: Outcome) -> None:
        """The household's status fields after a step (the derived fields are refreshed by the caller)."""
        values: dict[str, object] = {
            "status": outcome.status.value,
            "chain": outcome.chain.value if outcome.chain else None,
            "returned": outcome.returned,
            "objection_open": outcome.objection_open,
        }
        if outcome.quota_year is not None:
            values["quota_year"] = outcome.quota_year
        if outcome.exit_effective_year is not None:
            values["exit_effective_year"] = outcome.exit_effective_year
        await self.session.exec(
            sa.update(Household).where(col(Household.id) == household_id).values(**values)
        )

    async def per_capita_income(self, household_id: uuid.UUID, year: int) -> Decimal | None:
        """The latest recorded per-capita net income of the household for `year`."""
        query = (
            select(col(HouseholdIncome.per_capita_net_income))
            .where(col(HouseholdIncome.household_id) == household_id, col(HouseholdIncome.year) == year)
            .order_by(col(HouseholdIncome.version).desc())
            .limit(1)
        )
        return (await self.session.exec(query)).first()

    async def latest_per_capita_income(self, household_id: uuid.UUID) -> tuple[int, Decimal] | None:
        """The household's latest income survey: (year, per-capita net income) of its latest year's latest version."""
        query = (
            select(col(HouseholdIncome.year), col(HouseholdIncome.per_capita_net_income))
            .where(col(HouseholdIncome.household_id) == household_id)
            .order_by(col(HouseholdIncome.year).desc(), col(HouseholdIncome.version).desc())
            .limit(1)
        )
        row = (await self.session.exec(query)).first()
        return None if row is None else (int(row[0]), Decimal(row[1]))

    async def on_work_team(self, user_sub: str, village_code: str, *, on: date) -> bool:
        """Whether the login `user_sub` is an active cadre assigned to the village's work team (first secretary,
        team leader or member) on day `on` — the registry's village assignments (pairing feature, P5/P7)."""
        query = (
            select(col(VillageAssignment.id))
            .join(Cadre, col(Cadre.id) == col(VillageAssignment.cadre_id))
            .where(
                col(Cadre.user_sub) == user_sub,
                col(Cadre.active),
                col(VillageAssignment.village_code) == village_code,
                col(VillageAssignment.starts_on) <= on,
                sa.or_(col(VillageAssignment.ends_on).is_(None), col(VillageAssignment.ends_on) > on),
            )
            .limit(1)
        )
        return (await self.session.exec(query)).first() is not None

    async def exit_members(self, household_id: uuid.UUID, *, on: date) -> list[ExitMember]:
        """The active members as the exit test reads them on `on` (ages for compulsory schooling)."""
        query = select(
            Member.labor_capacity, Member.details, Member.birth_year_month, Member.school_status
        ).where(col(Member.household_id) == household_id, col(Member.active))
        return [
            ExitMember.of(labor, details, birth_year_month=born, school_status=school, on=on)
            for labor, details, born, school in (await self.session.exec(query)).all()
        ]

    async def households_at(self, region_code: str, status: str, limit: int) -> list[uuid.UUID]:
        """Up to `limit` households in scope of a village or township currently at `status`, in list order."""
        query = (
            select(Household.id)
            .where(
                household_scope(self.ctx.principal, today=self.ctx.today),
                col(Household.village_code).startswith(scope_prefix(region_code), autoescape=True),
                col(Household.status) == status,
            )
            .order_by(col(Household.village_code), col(Household.id))
            .limit(limit)
        )
        return list((await self.session.exec(query)).all())

    async def record_override(
        self, *, village_code: str, year: int, household_id: uuid.UUID, reason: str
    ) -> int:
        """A county override of the village quota for one household and year; its id."""
        statement = (
            sa.insert(QuotaOverride)
            .values(
                village_code=village_code,
                year=year,
                household_id=household_id,
                reason=reason,
                created_at=self.ctx.now,
                created_by=self.ctx.principal.sub,
            )
            .returning(col(QuotaOverride.id))
        )
        try:
            async with self.session.begin_nested():
                return int((await self.session.exec(statement)).scalar_one())
        except IntegrityError as exc:
            raise Refused(
                "override_exists", "an override for this household and year already exists"
            ) from exc
