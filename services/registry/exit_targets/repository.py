"""Every SQL statement of the yearly exit targets, scoped by the caller's region prefix in each statement.

A target outside the caller's scope is invisible exactly like a missing one; the service has answered 404 for a
region outside it before any of these run. Exits are read from the workflow history in one grouped statement
per request (never a query per village).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from services.registry.exit_targets.domain import ExitCount, TargetFigures
from services.registry.identification.domain import Status
from services.registry.models import ExitTarget, Household, Region, WorkflowEvent
from shared.context import Context
from shared.db import scope_filter
from shared.roles import scope_prefix

__all__ = ["ExitTargetRepository"]


class ExitTargetRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def get(self, code: str, year: int, *, lock: bool = False) -> ExitTarget | None:
        """The target of a region in scope (locked when `lock`: writers of its children queue on it)."""
        query = select(ExitTarget).where(
            scope_filter(self.ctx.principal, col(ExitTarget.region_code)),
            col(ExitTarget.region_code) == code,
            col(ExitTarget.year) == year,
        )
        return (await self.session.exec(query.with_for_update() if lock else query)).first()

    async def for_children(self, parent_code: str, year: int) -> dict[str, TargetFigures]:
        """The targets of `parent_code`'s children in scope, by region code."""
        query = (
            select(ExitTarget.region_code, ExitTarget.people, ExitTarget.households)
            .join(Region, col(Region.code) == col(ExitTarget.region_code))
            .where(scope_filter(self.ctx.principal, col(ExitTarget.region_code)))
            .where(col(Region.parent_code) == parent_code, col(ExitTarget.year) == year)
        )
        rows = (await self.session.exec(query)).all()
        return {code: TargetFigures(people, households) for code, people, households in rows}

    async def children_sum(
        self, parent_code: str, year: int, *, excluding: str | None = None
    ) -> TargetFigures:
        """The total of the children's targets of `parent_code` (leaving `excluding` out)."""
        query = (
            select(
                sa.func.coalesce(sa.func.sum(ExitTarget.people), 0),
                sa.func.coalesce(sa.func.sum(ExitTarget.households), 0),
            )
            .select_from(ExitTarget)
            .join(Region, col(Region.code) == col(ExitTarget.region_code))
            .where(scope_filter(self.ctx.principal, col(ExitTarget.region_code)))
            .where(col(Region.parent_code) == parent_code, col(ExitTarget.year) == year)
        )
        if excluding is not None:
            query = query.where(col(ExitTarget.region_code) != excluding)
        people, households = (await self.session.exec(query)).one()
        return TargetFigures(int(people), int(households))

    async def upsert(self, code: str, year: int, target: TargetFigures) -> None:
        stmt = pg_insert(ExitTarget).values(
            region_code=code,
            year=year,
            people=target.people,
            households=target.households,
            version=1,
            updated_at=self.ctx.now,
            updated_by=self.ctx.principal.sub,
        )
        await self.session.exec(
            stmt.on_conflict_do_update(
                index_elements=["region_code", "year"],
                set_={
                    "people": stmt.excluded.people,
                    "households": stmt.excluded.households,
                    "version": col(ExitTarget.version) + 1,
                    "updated_at": stmt.excluded.updated_at,
                    "updated_by": stmt.excluded.updated_by,
                },
            )
        )

    async def exits_by_village(self, under: str, start: datetime, end: datetime) -> dict[str, ExitCount]:
        """The year's exits per village of the subtree of `under`, in one statement: households with an approved
        county re-review of the exit chain (status_after exit_county_reviewed) taken in [start, end), and the
        sum of their household size — the same households the figures' `exited_people` counts."""
        exited = (
            select(WorkflowEvent.household_id)
            .where(
                col(WorkflowEvent.status_after) == Status.exit_county_reviewed.value,
                col(WorkflowEvent.at) >= start,
                col(WorkflowEvent.at) < end,
            )
            .distinct()
        )
        query = (
            select(
                Household.village_code,
                sa.func.count(col(Household.id)),
                sa.func.coalesce(sa.func.sum(Household.household_size), 0),
            )
            .where(
                scope_filter(self.ctx.principal, col(Household.village_code)),
                col(Household.village_code).startswith(scope_prefix(under), autoescape=True),
                col(Household.id).in_(exited),
            )
            .group_by(col(Household.village_code))
        )
        rows = (await self.session.exec(query)).all()
        return {code: ExitCount(int(people), int(households)) for code, households, people in rows}
