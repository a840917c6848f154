"""Every SQL statement of the pairing feature, scoped by the caller's region here and nowhere else.

Helping units and cadres are scoped by their region code (a cadre sees their own unit and themselves only);
households by `scope.household_scope` with the request's China date; "pairing in force on day D" is always
`scope.pairing_active_on(day)`. Rows come back as SQLModel instances or the feature's schemas.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from services.registry.models import (
    Cadre,
    HelpingUnit,
    Household,
    Pairing,
    VillageAssignment,
    WorkflowEvent,
)
from services.registry.pairing import domain
from services.registry.pairing.schemas import (
    AssignmentWithCadre,
    MyHousehold,
    PairingGap,
    PairingHistoryEntry,
)
from services.registry.scope import household_scope, pairing_active_on
from shared.clock import china_date
from shared.context import Context
from shared.db import scope_filter
from shared.roles import Role, scope_prefix

__all__ = ["HouseholdFacts", "PairingRepository"]

#: Cap on report rows (the gap report lists at most this many households).
REPORT_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class HouseholdFacts:
    """What the pairing rules need of a household."""

    id: uuid.UUID
    status: str
    village_code: str


class PairingRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    # -- scope ---------------------------------------------------------------------------------------------------
    def _unit_scope(self) -> ColumnElement[bool]:
        if self.principal.role is Role.cadre:  # a cadre sees their own unit only
            own = select(col(Cadre.unit_id)).where(col(Cadre.user_sub) == self.principal.sub)
            return col(HelpingUnit.id).in_(own.scalar_subquery())
        return scope_filter(self.principal, col(HelpingUnit.region_code))

    def _cadre_scope(self) -> ColumnElement[bool]:
        if self.principal.role is Role.cadre:  # a cadre sees themselves only
            return col(Cadre.user_sub) == self.principal.sub
        return scope_filter(self.principal, col(Cadre.region_code))

    def _household_scope(self) -> ColumnElement[bool]:
        return household_scope(self.principal, include_past=True, today=self.ctx.today)

    # -- helping units -------------------------------------------------------------------------------------------
    async def add_unit(self, unit: HelpingUnit) -> HelpingUnit:
        try:
            async with self.session.begin_nested():
                self.session.add(unit)
                await self.session.flush()
        except IntegrityError as exc:
            raise domain.UnitNameTaken() from exc
        return unit

    async def unit(self, unit_id: uuid.UUID) -> HelpingUnit | None:
        query = select(HelpingUnit).where(col(HelpingUnit.id) == unit_id, self._unit_scope())
        return (await self.session.exec(query)).first()

    async def units(
        self, *, region: str | None, after: tuple[str, uuid.UUID] | None, limit: int
    ) -> list[HelpingUnit]:
        """Units in scope ordered by (name, id), after the keyset `after`."""
        query = select(HelpingUnit).where(self._unit_scope())
        if region is not None:
            query = query.where(col(HelpingUnit.region_code) == region)
        if after is not None:
            query = query.where(sa.tuple_(col(HelpingUnit.name), col(HelpingUnit.id)) > sa.tuple_(*after))
        query = query.order_by(col(HelpingUnit.name), col(HelpingUnit.id)).limit(limit)
        return list((await self.session.exec(query)).all())

    # -- cadres --------------------------------------------------------------------------------------------------
    async def add_cadre(self, row: Cadre) -> Cadre:
        return await self.save_cadre(row)

    async def save_cadre(self, row: Cadre) -> Cadre:
        """Insert or update a cadre; one login is one cadre (unique `user_sub`)."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            raise domain.LoginTaken() from exc
        return row

    async def cadre(self, cadre_id: uuid.UUID, *, lock: bool = False) -> Cadre | None:
        query = select(Cadre).where(col(Cadre.id) == cadre_id, self._cadre_scope())
        return (await self.session.exec(query.with_for_update() if lock else query)).first()

    async def cadres(
        self, *, unit_id: uuid.UUID | None, after: tuple[str, uuid.UUID] | None, limit: int
    ) -> list[Cadre]:
        """Cadres in scope ordered by (name, id), after the keyset `after`."""
        query = select(Cadre).where(self._cadre_scope())
        if unit_id is not None:
            query = query.where(col(Cadre.unit_id) == unit_id)
        if after is not None:
            query = query.where(sa.tuple_(col(Cadre.name), col(Cadre.id)) > sa.tuple_(*after))
        query = query.order_by(col(Cadre.name), col(Cadre.id)).limit(limit)
        return list((await self.session.exec(query)).all())

    # -- village assignments -------------------------------------------------------------------------------------
    async def add_assignment(self, row: VillageAssignment) -> VillageAssignment:
        self.session.add(row)
        await self.session.flush()
        return row

    async def assignments(
        self, village_code: str, *, on: date | None, after: tuple[date, uuid.UUID] | None, limit: int
    ) -> list[AssignmentWithCadre]:
        """The village's assignments (those running `on` a day when given), by (starts_on, id)."""
        query = (
            select(VillageAssignment, col(Cadre.name))
            .join(Cadre, col(Cadre.id) == col(VillageAssignment.cadre_id))
            .where(
                col(VillageAssignment.village_code) == village_code,
                scope_filter(self.principal, col(VillageAssignment.village_code)),
            )
        )
        if on is not None:
            query = query.where(
                col(VillageAssignment.starts_on) <= on,
                sa.or_(col(VillageAssignment.ends_on).is_(None), col(VillageAssignment.ends_on) > on),
            )
        if after is not None:
            query = query.where(
                sa.tuple_(col(VillageAssignment.starts_on), col(VillageAssignment.id)) > sa.tuple_(*after)
            )
        query = query.order_by(col(VillageAssignment.starts_on), col(VillageAssignment.id)).limit(limit)
        return [
            AssignmentWithCadre.model_validate(row.model_dump() | {"cadre_name": name})
            for row, name in (await self.session.exec(query)).all()
        ]

    # -- households ----------------------------------------------------------------------------------------------
    async def lock_household(self, household_id: uuid.UUID) -> HouseholdFacts | None:
        """The household in scope, locked: every change of its pairings holds this lock (serialises them)."""
        query = (
            select(col(Household.id), col(Household.status), col(Household.village_code))
            .where(col(Household.id) == household_id, self._household_scope())
            .with_for_update()
        )
        row = (await self.session.exec(query)).first()
        return HouseholdFacts(*row) if row is not None else None

    async def registration(self, household_id: uuid.UUID) -> tuple[list[tuple[date, str]], int]:
        """The household's workflow events as (China date, status after) in order, and its identification year."""
        events = (
            select(col(WorkflowEvent.at), col(WorkflowEvent.status_after))
            .join(Household, col(Household.id) == col(WorkflowEvent.household_id))
            .where(col(WorkflowEvent.household_id) == household_id, self._household_scope())
            .order_by(col(WorkflowEvent.seq))
        )
        year = select(col(Household.identification_year)).where(
            col(Household.id) == household_id, self._household_scope()
        )
        rows = (await self.session.exec(events)).all()
        return [(china_date(at), status) for at, status in rows], (await self.session.exec(year)).one()

    async def household_visible(self, household_id: uuid.UUID) -> bool:
        query = select(col(Household.id)).where(col(Household.id) == household_id, self._household_scope())
        return (await self.session.exec(query)).first() is not None

    # -- pairings ------------------------------------------------------------------------------------------------
    async def current(self, pairing_id: uuid.UUID) -> Pairing | None:
        """The current row of a pairing whose household the caller may see."""
        visible = select(col(Household.id)).where(self._household_scope())
        query = select(Pairing).where(
            col(Pairing.id) == pairing_id,
            col(Pairing.superseded_at).is_(None),
            col(Pairing.household_id).in_(visible.scalar_subquery()),
        )
        return (await self.session.exec(query)).first()

    async def current_of_household(self, household_id: uuid.UUID) -> list[Pairing]:
        """The household's current rows (lock the household first: then they cannot change under you)."""
        query = (
            select(Pairing)
            .where(col(Pairing.household_id) == household_id, col(Pairing.superseded_at).is_(None))
            .order_by(col(Pairing.valid_from), col(Pairing.row_id))
        )
        return list((await self.session.exec(query)).all())

    async def open_of_cadre(self, cadre_id: uuid.UUID) -> list[Pairing]:
        """The cadre's current open-ended rows (no `valid_to`), by household (the lock order of the handover)."""
        query = (
            select(Pairing)
            .where(
                col(Pairing.cadre_id) == cadre_id,
                col(Pairing.superseded_at).is_(None),
                col(Pairing.valid_to).is_(None),
            )
            .order_by(col(Pairing.household_id), col(Pairing.row_id))
        )
        return list((await self.session.exec(query)).all())

    async def add(self, facts: domain.PairingFacts) -> Pairing:
        """Record a new row of a pairing, known from now (transaction time)."""
        row = Pairing(
            id=facts.id,
            household_id=facts.household_id,
            cadre_id=facts.cadre_id,
            unit_id=facts.unit_id,
            role=str(facts.role),
            valid_from=facts.valid_from,
            valid_to=facts.valid_to,
            end_reason=str(facts.end_reason) if facts.end_reason is not None else None,
            successor_id=facts.successor_id,
            reason=facts.reason,
            recorded_at=self.ctx.now,
            recorded_by=self.principal.sub,
            superseded_at=None,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def supersede(self, row: Pairing) -> None:
        """End the transaction time of `row` now (the database refuses any other change to a pairing row)."""
        row.superseded_at = self.ctx.now
        self.session.add(row)
        await self.session.flush()

    async def households_of_cadre(self, cadre_id: uuid.UUID, day: date) -> int:
        """How many households the cadre is paired with on `day`."""
        query = select(sa.func.count(sa.distinct(col(Pairing.household_id)))).where(
            col(Pairing.cadre_id) == cadre_id, pairing_active_on(day)
        )
        return (await self.session.exec(query)).one()

    async def middle_level_on(self, household_id: uuid.UUID, unit_id: uuid.UUID, day: date) -> int:
        """How many middle-level cadres of the unit are paired with the household on `day`."""
        query = (
            select(sa.func.count())
            .select_from(Pairing)
            .join(Cadre, col(Cadre.id) == col(Pairing.cadre_id))
            .where(
                col(Pairing.household_id) == household_id,
                col(Pairing.unit_id) == unit_id,
                col(Cadre.position_level) == domain.PositionLevel.middle_level,
                pairing_active_on(day),
            )
        )
        return (await self.session.exec(query)).one()

    async def history(self, household_id: uuid.UUID) -> list[PairingHistoryEntry]:
        """Every row of every pairing of the household (both times), by valid_from then recording order."""
        query = (
            select(Pairing, col(Cadre.name), col(Cadre.position_level), col(HelpingUnit.name))
            .join(Cadre, col(Cadre.id) == col(Pairing.cadre_id))
            .join(HelpingUnit, col(HelpingUnit.id) == col(Pairing.unit_id))
            .where(col(Pairing.household_id) == household_id)
            .order_by(col(Pairing.valid_from), col(Pairing.row_id))
        )
        return [
            PairingHistoryEntry.model_validate(
                row.model_dump() | {"cadre_name": cadre_name, "position_level": level, "unit_name": unit_name}
            )
            for row, cadre_name, level, unit_name in (await self.session.exec(query)).all()
        ]

    async def gaps(self, region: str, day: date) -> list[PairingGap]:
        """Households of `region` that `domain.needs_pairing` on `day` (the same rule, as SQL)."""
        # A pairing counts only while its cadre is active: an inactive cadre helps nobody (invariant 27).
        paired = sa.exists(
            sa.select(sa.literal(1))
            .select_from(Pairing)
            .join(Cadre, col(Cadre.id) == col(Pairing.cadre_id))
            .where(col(Pairing.household_id) == col(Household.id), pairing_active_on(day), col(Cadre.active))
        )
        willing = col(Household.details)["development"]["willing"].as_boolean()
        query = (
            sa.select(
                col(Household.id),
                col(Household.village_code),
                col(Household.head_name),
                col(Household.household_size),
                col(Household.status),
            )
            .where(
                household_scope(self.principal, today=self.ctx.today),
                col(Household.village_code).startswith(scope_prefix(region), autoescape=True),
                col(Household.status).in_(sorted(domain.PAIRABLE_STATUSES)),
                col(Household.has_labor_capacity),
                sa.func.coalesce(willing, sa.literal(domain.WILLING_BY_DEFAULT)),
                ~paired,
            )
            .order_by(col(Household.village_code), col(Household.id))
            .limit(REPORT_LIMIT)
        )
        connection = await self.session.connection()  # five columns: more than sqlmodel's select types
        return [
            PairingGap(id=hid, village_code=village, head_name=head, household_size=size, status=status)
            for hid, village, head, size, status in await connection.execute(query)
        ]

    async def of_caller(self, day: date) -> list[MyHousehold]:
        """The current rows of the calling cadre's pairings with their households, and whether in force `day`."""
        query = (
            select(Pairing, Household, pairing_active_on(day))
            .join(Cadre, col(Cadre.id) == col(Pairing.cadre_id))
            .join(Household, col(Household.id) == col(Pairing.household_id))
            .where(col(Cadre.user_sub) == self.principal.sub, col(Pairing.superseded_at).is_(None))
            .order_by(col(Pairing.valid_from))
        )
        return [
            MyHousehold(
                household_id=p.household_id,
                valid_from=p.valid_from,
                valid_to=p.valid_to,
                head_name=h.head_name,
                village_code=h.village_code,
                status=h.status,
                active=active,
            )
            for p, h, active in (await self.session.exec(query)).all()
        ]
