"""Every SQL statement of the monitoring feature, scoped by the caller's region here and nowhere else.

Rounds are scoped by their township code, households by their village code; cadres see no rounds. "Pairing in
force on day D" is `scope.pairing_active_on(day)`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from services.registry.help_records.repository import counted_visit
from services.registry.models import (
    Cadre,
    HelpRecord,
    Household,
    MonitoringFinding,
    MonitoringRound,
    Pairing,
    Region,
)
from services.registry.monitoring import domain
from services.registry.monitoring.schemas import RoundFinding, VisitShortfall
from services.registry.scope import pairing_active_on
from shared.context import Context
from shared.db import scope_filter
from shared.roles import RegionLevel, Role, scope_prefix

__all__ = ["MonitoringRepository", "PairingVisits"]

#: Cap on report rows.
REPORT_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class PairingVisits:
    """A current pairing row and the visits its cadre recorded to its household in a year."""

    pairing_id: uuid.UUID
    household_id: uuid.UUID
    cadre_id: uuid.UUID
    visits: int


def _visits(year: int) -> Any:
    """Correlated count of the first versions of help records of the pairing's cadre and household in `year`
    (China time): a corrected record is still one visit."""
    return (
        select(sa.func.count())
        .where(
            col(HelpRecord.household_id) == col(Pairing.household_id),
            col(HelpRecord.cadre_id) == col(Pairing.cadre_id),
            col(HelpRecord.version) == 1,
            # a skewed clock's date is not trusted until an officer accepts it
            counted_visit(col(HelpRecord.flags), col(HelpRecord.id), col(HelpRecord.version)),
            sa.extract("year", sa.func.timezone("Asia/Shanghai", col(HelpRecord.device_time))) == year,
        )
        .scalar_subquery()
    )


class MonitoringRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    def _in_scope(self, column: Any) -> ColumnElement[bool]:
        if self.principal.role is Role.cadre:  # cadres are monitored; they do not see the rounds
            return sa.false()
        return scope_filter(self.principal, column)

    # -- rounds --------------------------------------------------------------------------------------------------
    async def add_round(self, row: MonitoringRound) -> MonitoringRound:
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            raise domain.RoundExists() from exc
        return row

    async def round(self, round_id: uuid.UUID, *, lock: bool = False) -> MonitoringRound | None:
        query = select(MonitoringRound).where(
            col(MonitoringRound.id) == round_id, self._in_scope(col(MonitoringRound.township_code))
        )
        return (await self.session.exec(query.with_for_update() if lock else query)).first()

    async def close(self, row: MonitoringRound, summary: str) -> None:
        row.closed_at = self.ctx.now
        row.closed_by = self.principal.sub
        row.summary = summary
        self.session.add(row)
        await self.session.flush()

    async def rounds_under(self, region: str) -> dict[tuple[str, int, domain.Half], datetime | None]:
        """Every round of the townships under `region`: (township, year, half) → closing time (None: open)."""
        query = select(MonitoringRound).where(
            col(MonitoringRound.township_code).startswith(scope_prefix(region), autoescape=True),
            self._in_scope(col(MonitoringRound.township_code)),
        )
        return {
            (r.township_code, r.year, domain.Half(r.half)): r.closed_at
            for r in (await self.session.exec(query)).all()
        }

    async def townships(self, region: str) -> list[tuple[str, str]]:
        """(code, name) of the townships under `region`."""
        query = select(col(Region.code), col(Region.name)).where(
            col(Region.level) == RegionLevel.township,
            col(Region.code).startswith(scope_prefix(region), autoescape=True),
            self._in_scope(col(Region.code)),
        )
        return list((await self.session.exec(query)).all())

    # -- findings ------------------------------------------------------------------------------------------------
    async def pairing_visits(
        self, pairing_id: uuid.UUID, township_code: str, year: int
    ) -> PairingVisits | None:
        """The current row of a pairing of a household in the township, with its visits in `year`."""
        query = (
            select(col(Pairing.id), col(Pairing.household_id), col(Pairing.cadre_id), _visits(year))
            .join(Household, col(Household.id) == col(Pairing.household_id))
            .where(
                col(Pairing.id) == pairing_id,
                col(Pairing.superseded_at).is_(None),
                col(Household.village_code).startswith(scope_prefix(township_code), autoescape=True),
                self._in_scope(col(Household.village_code)),
            )
        )
        row = (await self.session.exec(query)).first()
        return PairingVisits(*row) if row is not None else None

    async def add_finding(self, row: MonitoringFinding) -> MonitoringFinding:
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            raise domain.FindingExists() from exc
        return row

    async def finding_count(self, round_id: uuid.UUID) -> int:
        query = select(sa.func.count()).where(col(MonitoringFinding.round_id) == round_id)
        return int((await self.session.exec(query)).one())

    async def findings(self, round_id: uuid.UUID) -> list[RoundFinding]:
        query = (
            select(MonitoringFinding, col(Cadre.name), col(Household.head_name))
            .join(Cadre, col(Cadre.id) == col(MonitoringFinding.cadre_id))
            .join(Household, col(Household.id) == col(MonitoringFinding.household_id))
            .where(col(MonitoringFinding.round_id) == round_id)
            .order_by(col(MonitoringFinding.id))
        )
        return [
            RoundFinding.model_validate(
                f.model_dump()
                | {"cadre_name": cadre_name, "head_name": head_name, "funds_yuan": domain.yuan(f.funds_fen)}
            )
            for f, cadre_name, head_name in (await self.session.exec(query)).all()
        ]

    # -- visit frequency -----------------------------------------------------------------------------------------
    async def shortfalls(self, region: str, year: int, minimum: int) -> list[VisitShortfall]:
        """Pairings of households under `region` in force during `year` with fewer than `minimum` visits."""
        visits = _visits(year)
        first, last = domain.year_bounds(year)
        query = (
            sa.select(
                col(Pairing.id),
                col(Pairing.household_id),
                col(Household.head_name),
                col(Household.village_code),
                col(Cadre.name),
                visits,
            )
            .join(Household, col(Household.id) == col(Pairing.household_id))
            .join(Cadre, col(Cadre.id) == col(Pairing.cadre_id))
            .where(
                col(Household.village_code).startswith(scope_prefix(region), autoescape=True),
                self._in_scope(col(Household.village_code)),
                pairing_active_on(last) | pairing_active_on(first),
                visits < minimum,
            )
            .order_by(col(Household.village_code), col(Pairing.id))
            .limit(REPORT_LIMIT)
        )
        connection = await self.session.connection()  # six columns: more than sqlmodel's select types
        return [
            VisitShortfall(
                pairing_id=pid,
                household_id=hid,
                head_name=head,
                village_code=village,
                cadre_name=cadre_name,
                visits=count,
            )
            for pid, hid, head, village, cadre_name, count in await connection.execute(query)
        ]
