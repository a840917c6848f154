"""Every SQL statement of the help plans feature, scoped through the household (`scope.household_scope`).

Plans, acknowledgements and progress are append-only (the database refuses updates); a version is a new row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from services.registry.help_plans import domain
from services.registry.help_plans.schemas import PlanItemPublic
from services.registry.models import (
    Cadre,
    HelpPlan,
    HelpPlanAck,
    HelpPlanProgress,
    Household,
    Member,
    Pairing,
)
from services.registry.scope import household_scope
from shared.context import Context
from shared.problems import Conflict
from shared.roles import Role, ancestors_of

__all__ = ["HelpPlanRepository", "PlanHousehold", "StoredPlan"]

_ITEMS = TypeAdapter(list[PlanItemPublic])


@dataclass(frozen=True, slots=True)
class PlanHousehold:
    """What the plan rules need of a household."""

    id: uuid.UUID
    identification_year: int
    status: str
    village_code: str
    head_name: str


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """A stored version of a plan, its items parsed."""

    household_id: uuid.UUID
    version: int
    year_from: int
    year_to: int
    target_exit_year: int
    items: list[PlanItemPublic]
    expected_income_gain_fen: int
    cost_fen: int
    note: str | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: HelpPlan) -> StoredPlan:
        return cls(
            household_id=row.household_id,
            version=row.version,
            year_from=row.year_from,
            year_to=row.year_to,
            target_exit_year=row.target_exit_year,
            items=_ITEMS.validate_python(row.items),
            expected_income_gain_fen=row.expected_income_gain_fen,
            cost_fen=row.cost_fen,
            note=row.note,
            created_at=row.created_at,
            created_by=row.created_by,
        )


class HelpPlanRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    async def household(self, household_id: uuid.UUID, *, write: bool) -> PlanHousehold | None:
        """The household as the caller may see it; for a write locked, and for a cadre paired with it today."""
        active_only = write and self.principal.role is Role.cadre
        scope = household_scope(self.principal, include_past=not active_only, today=self.ctx.today)
        query = select(
            col(Household.identification_year),
            col(Household.status),
            col(Household.village_code),
            col(Household.head_name),
        ).where(col(Household.id) == household_id, scope)
        row = (await self.session.exec(query.with_for_update() if write else query)).first()
        return PlanHousehold(household_id, *row) if row is not None else None

    async def plan(self, household_id: uuid.UUID, version: int | None = None) -> StoredPlan | None:
        """Version `version` of the household's plan, or the newest."""
        query = select(HelpPlan).where(col(HelpPlan.household_id) == household_id)
        if version is not None:
            query = query.where(col(HelpPlan.version) == version)
        row = (await self.session.exec(query.order_by(col(HelpPlan.version).desc()).limit(1))).first()
        return StoredPlan.of(row) if row is not None else None

    async def known_cadres(
        self, cadre_ids: Collection[uuid.UUID], household: PlanHousehold
    ) -> set[uuid.UUID]:
        """Which of `cadre_ids` may answer for the household's measures, scoped by the household: cadres whose
        unit is registered at the household's village or a region above it (a county unit may help a township's
        household), and cadres paired with the household (at any time). Any other cadre is unknown here."""
        regions = [household.village_code, *ancestors_of(household.village_code)]
        paired = select(col(Pairing.cadre_id)).where(col(Pairing.household_id) == household.id)
        query = select(col(Cadre.id)).where(
            col(Cadre.id).in_(list(cadre_ids)),
            col(Cadre.region_code).in_(regions) | col(Cadre.id).in_(paired.scalar_subquery()),
        )
        return set((await self.session.exec(query)).all())

    async def member_names(self, household_id: uuid.UUID) -> list[str]:
        """Names of the household's active members (call after `household`, which checks the scope)."""
        query = select(col(Member.name)).where(col(Member.household_id) == household_id, col(Member.active))
        return list((await self.session.exec(query)).all())

    async def add_plan(
        self,
        household_id: uuid.UUID,
        totals: domain.PlanTotals,
        *,
        year_from: int,
        year_to: int,
        target_exit_year: int,
        items: list[dict[str, Any]],
        note: str | None,
    ) -> None:
        """Append the version and carry its target exit year onto the household (a new household version)."""
        stored: Any = items  # a JSON array (the model declares the column's Python type loosely)
        row = HelpPlan(
            household_id=household_id,
            version=totals.version,
            year_from=year_from,
            year_to=year_to,
            target_exit_year=target_exit_year,
            items=stored,
            expected_income_gain_fen=totals.expected_income_gain_fen,
            cost_fen=totals.cost_fen,
            note=note,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("the plan changed concurrently; read it again") from exc
        await self.session.exec(
            update(Household)
            .where(col(Household.id) == household_id)
            .values(planned_exit_year=target_exit_year, version=col(Household.version) + 1)
        )

    async def acknowledgement(self, household_id: uuid.UUID, version: int) -> HelpPlanAck | None:
        query = select(HelpPlanAck).where(
            col(HelpPlanAck.household_id) == household_id, col(HelpPlanAck.version) == version
        )
        return (await self.session.exec(query)).first()

    async def add_acknowledgement(self, row: HelpPlanAck) -> None:
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            raise domain.AlreadyAcknowledged() from exc

    async def add_progress(self, row: HelpPlanProgress) -> None:
        self.session.add(row)
        await self.session.flush()

    async def progress(self, household_id: uuid.UUID) -> list[HelpPlanProgress]:
        """Every progress entry on the household's plan items, in the order recorded."""
        query = (
            select(HelpPlanProgress)
            .where(col(HelpPlanProgress.household_id) == household_id)
            .order_by(col(HelpPlanProgress.id))
        )
        return list((await self.session.exec(query)).all())
