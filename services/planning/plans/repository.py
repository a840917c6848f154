"""Every SQL statement of village plans and their actuals, scoped by the caller's region in one place (`_scope`:
`shared.db.scope_filter` on the plan's village).

Events and actuals are append-only (the database refuses UPDATE and DELETE); a plan row carries its current
status (the replay of its events, kept beside them for queries) and its `row_version` (the ETag). A write locks
the plan row first, so the steps of one plan are serialised.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, delete, select

from services.planning.models import IndicatorActual, Plan, PlanEvent, PlanIndicator
from services.planning.plans.domain import OPEN
from shared.context import Context
from shared.db import scope_filter
from shared.errors import Refused

__all__ = ["PlanRepository"]


class PlanRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _scope(self) -> ColumnElement[bool]:
        return scope_filter(self.ctx.principal, col(Plan.village_code))

    async def get(self, plan_id: uuid.UUID, *, lock: bool = False) -> Plan | None:
        """The plan version in scope (locked for the rest of the transaction when `lock`)."""
        query = select(Plan).where(col(Plan.id) == plan_id, self._scope())
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def events(self, plan_id: uuid.UUID) -> list[PlanEvent]:
        query = select(PlanEvent).where(col(PlanEvent.plan_id) == plan_id).order_by(col(PlanEvent.seq))
        return list((await self.session.exec(query)).all())

    async def targets(self, plan_id: uuid.UUID) -> list[PlanIndicator]:
        query = (
            select(PlanIndicator)
            .where(col(PlanIndicator.plan_id) == plan_id)
            .order_by(col(PlanIndicator.indicator_code))
        )
        return list((await self.session.exec(query.execution_options(populate_existing=True))).all())

    async def add(self, plan: Plan, targets: Sequence[PlanIndicator], event: PlanEvent) -> None:
        """A new plan version with its targets and first event (one savepoint); 409 when its lineage got that
        version meanwhile (a concurrent amendment)."""
        try:
            async with self.session.begin_nested():
                self.session.add(plan)
                await self.session.flush()
                self.session.add_all([*targets, event])
                await self.session.flush()
        except IntegrityError as exc:
            raise Refused("amendment_open", "another amendment of this plan was made meanwhile") from exc

    async def replace_targets(self, plan_id: uuid.UUID, targets: Sequence[PlanIndicator]) -> None:
        await self.session.exec(delete(PlanIndicator).where(col(PlanIndicator.plan_id) == plan_id))
        self.session.add_all(list(targets))
        await self.session.flush()

    async def update(self, plan_id: uuid.UUID, values: dict[str, Any]) -> int:
        """Change a locked plan's columns; its new row version."""
        statement = (
            sa.update(Plan)
            .where(col(Plan.id) == plan_id)
            .values(**values, row_version=col(Plan.row_version) + 1, updated_at=self.ctx.now)
            .returning(col(Plan.row_version))
        )
        return int((await self.session.exec(statement)).scalar_one())

    async def append_event(self, event: PlanEvent) -> int:
        """Append an event to a locked plan and carry its status onto the plan; the plan's new row version."""
        self.session.add(event)
        await self.session.flush()
        return await self.update(event.plan_id, {"status": event.status_after})

    async def lineage_open(self, lineage_id: uuid.UUID) -> bool:
        """Whether a version of the lineage is on its way to approval (an open amendment)."""
        query = select(col(Plan.id)).where(
            col(Plan.lineage_id) == lineage_id, col(Plan.status).in_([s.value for s in OPEN])
        )
        return (await self.session.exec(query.limit(1))).first() is not None

    async def last_version(self, lineage_id: uuid.UUID) -> int:
        query = select(sa.func.max(col(Plan.version))).where(col(Plan.lineage_id) == lineage_id)
        return int((await self.session.exec(query)).one() or 0)

    async def village_plans(
        self,
        village_code: str,
        *,
        status: str | None,
        plan_type: str | None,
        after: tuple[int, uuid.UUID] | None,
        limit: int,
    ) -> list[Plan]:
        """A village's plan versions by start year, then id (keyset)."""
        query = select(Plan).where(col(Plan.village_code) == village_code, self._scope())
        if status is not None:
            query = query.where(col(Plan.status) == status)
        if plan_type is not None:
            query = query.where(col(Plan.plan_type) == plan_type)
        if after is not None:
            query = query.where(sa.tuple_(col(Plan.start_year), col(Plan.id)) > sa.tuple_(*after))
        query = query.order_by(col(Plan.start_year), col(Plan.id)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def versions(self, lineage_id: uuid.UUID, *, after: int | None, limit: int) -> list[Plan]:
        """Every version of a lineage, oldest first (keyset on the version)."""
        query = select(Plan).where(col(Plan.lineage_id) == lineage_id, self._scope())
        if after is not None:
            query = query.where(col(Plan.version) > after)
        return list((await self.session.exec(query.order_by(col(Plan.version)).limit(limit))).all())

    # -- actuals (per village and indicator, one row per version) ---------------------------------------------
    async def actuals(
        self, village_code: str, codes: Collection[str], *, year: int | None = None
    ) -> list[IndicatorActual]:
        """The newest version of each (indicator, year) of the village among `codes` (of `year` only, when given),
        by indicator and year."""
        wanted = sorted(set(codes))
        if not wanted:
            return []
        query = select(IndicatorActual).where(
            col(IndicatorActual.village_code) == village_code,
            col(IndicatorActual.indicator_code).in_(wanted),
            scope_filter(self.ctx.principal, col(IndicatorActual.village_code)),
        )
        if year is not None:
            query = query.where(col(IndicatorActual.year) == year)
        query = query.ext(
            distinct_on(col(IndicatorActual.indicator_code), col(IndicatorActual.year))
        ).order_by(
            col(IndicatorActual.indicator_code),
            col(IndicatorActual.year),
            col(IndicatorActual.version).desc(),
        )
        return list((await self.session.exec(query)).all())

    async def add_actuals(self, rows: Sequence[IndicatorActual]) -> None:
        """Append new versions; 409 when another write gave one of them its version meanwhile."""
        try:
            async with self.session.begin_nested():
                self.session.add_all(list(rows))
                await self.session.flush()
        except IntegrityError as exc:
            raise Refused(
                "actuals_changed", "the year's actuals changed meanwhile; read them and retry"
            ) from exc

    async def year_actuals(self, village_code: str, year: int) -> dict[str, IndicatorActual]:
        """The newest actual of every indicator of the village in `year` (the exit checklist reads them)."""
        query = (
            select(IndicatorActual)
            .where(
                col(IndicatorActual.village_code) == village_code,
                col(IndicatorActual.year) == year,
                scope_filter(self.ctx.principal, col(IndicatorActual.village_code)),
            )
            .ext(distinct_on(col(IndicatorActual.indicator_code)))
            .order_by(col(IndicatorActual.indicator_code), col(IndicatorActual.version).desc())
        )
        return {r.indicator_code: r for r in (await self.session.exec(query)).all()}
