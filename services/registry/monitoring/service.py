"""Monitoring rounds: June (H1) and December (H2) per township; findings per pairing; overdue rounds;
households visited less often than the policy minimum (`min_visits_per_household_per_year`)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from services.registry.legacy_context import Context, audit
from services.registry.models import (
    cadre,
    help_record,
    household,
    monitoring_finding,
    monitoring_round,
    pairing,
    region_table,
)
from services.registry.pairing.service import active_on
from services.registry.regions.service import PolicyService
from shared.db import execute, scope_filter
from shared.problems import Conflict, Forbidden, NotFound, UnprocessableEntity
from shared.roles import RegionLevel, Role, level_of, scope_prefix
from shared.schemas import RegionCode, RequestModel

__all__ = ["FindingIn", "Half", "MonitoringService", "RoundClose", "RoundOpen"]

#: Rounds are due by the end of June (H1) and of December (H2) [S 002].
DUE = {"H1": (6, 30), "H2": (12, 31)}


class Half(enum.StrEnum):
    H1 = "H1"  # June round
    H2 = "H2"  # December round


class RoundOpen(RequestModel):
    township_code: RegionCode
    year: Annotated[int, Field(ge=2000, le=2100)]
    half: Half


class FindingIn(RequestModel):
    pairing_id: uuid.UUID
    projects: Annotated[str, Field(min_length=1, max_length=2000, description="Help projects (帮扶项目)")]
    funds_yuan: Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), decimal_places=2)] = Decimal(0)
    results: Annotated[str, Field(min_length=1, max_length=2000, description="Help results (帮扶成效)")]


class RoundClose(RequestModel):
    summary: Annotated[str, Field(min_length=1, max_length=10_000)]


def _json(row: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID | date | datetime) else v) for k, v in dict(row).items()}


class MonitoringService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    def _officer(self) -> None:
        if self.principal.role not in (Role.county_admin, Role.township_officer):
            raise Forbidden("monitoring rounds are run by township officers and county administrators")

    async def open(self, payload: RoundOpen) -> dict[str, Any]:
        self._officer()
        if level_of(payload.township_code) is not RegionLevel.township:
            raise UnprocessableEntity("township_code must be a township", field="/township_code")
        if not self.principal.covers(payload.township_code):
            raise NotFound(f"region {payload.township_code} not found")
        round_id = uuid.uuid4()
        try:
            async with self.session.begin_nested():
                row = (
                    (
                        await execute(
                            self.session,
                            sa.insert(monitoring_round)
                            .values(
                                id=round_id,
                                township_code=payload.township_code,
                                year=payload.year,
                                half=str(payload.half),
                                opened_at=self.ctx.now,
                                opened_by=self.principal.sub,
                            )
                            .returning(monitoring_round),
                        )
                    )
                    .mappings()
                    .one()
                )
        except IntegrityError as exc:
            raise Conflict("this round exists already", code="round_exists") from exc
        await audit(
            self.ctx,
            "monitoring.open",
            record_type="round",
            record_id=round_id,
            region_code=payload.township_code,
        )
        return _json(row)

    async def _round(self, round_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
        if self.principal.role is Role.cadre:
            raise NotFound(f"round {round_id} not found")
        query = sa.select(monitoring_round).where(
            monitoring_round.c.id == round_id, scope_filter(self.principal, monitoring_round.c.township_code)
        )
        row = (await execute(self.session, query.with_for_update() if lock else query)).mappings().first()
        if row is None:
            raise NotFound(f"round {round_id} not found")
        return dict(row)

    async def minimum_visits(self, region_code: str, year: int) -> int:
        effective = await PolicyService(self.session, self.principal).effective(region_code, year)
        value = next(p.value for p in effective.parameters if p.name == "min_visits_per_household_per_year")
        return int(value or 0)

    def _visits(self, year: int) -> Any:
        """Correlated count of first versions of help records of the pairing's cadre and household in `year`."""
        return (
            sa.select(sa.func.count())
            .where(
                help_record.c.household_id == pairing.c.household_id,
                help_record.c.cadre_id == pairing.c.cadre_id,
                help_record.c.version == 1,
                sa.extract("year", sa.func.timezone("Asia/Shanghai", help_record.c.device_time)) == year,
            )
            .scalar_subquery()
        )

    async def add_finding(self, round_id: uuid.UUID, payload: FindingIn) -> dict[str, Any]:
        self._officer()
        the_round = await self._round(round_id, lock=True)
        if the_round["closed_at"] is not None:
            raise Conflict("the round is closed", code="round_closed")
        row = (
            (
                await execute(
                    self.session,
                    sa.select(
                        pairing.c.id,
                        pairing.c.household_id,
                        pairing.c.cadre_id,
                        self._visits(the_round["year"]).label("visits"),
                    )
                    .join(household, household.c.id == pairing.c.household_id)
                    .where(
                        pairing.c.id == payload.pairing_id,
                        pairing.c.superseded_at.is_(None),
                        household.c.village_code.startswith(
                            scope_prefix(the_round["township_code"]), autoescape=True
                        ),
                    ),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise UnprocessableEntity("no such pairing in this township", field="/pairing_id")
        minimum = await self.minimum_visits(the_round["township_code"], the_round["year"])
        flags = ["visits_below_minimum"] if row["visits"] < minimum else []
        try:
            async with self.session.begin_nested():
                finding = (
                    (
                        await execute(
                            self.session,
                            sa.insert(monitoring_finding)
                            .values(
                                round_id=round_id,
                                pairing_id=payload.pairing_id,
                                household_id=row["household_id"],
                                cadre_id=row["cadre_id"],
                                projects=payload.projects,
                                funds_fen=int(payload.funds_yuan * 100),
                                results=payload.results,
                                visits_in_year=row["visits"],
                                flags=flags,
                                recorded_at=self.ctx.now,
                                recorded_by=self.principal.sub,
                            )
                            .returning(monitoring_finding),
                        )
                    )
                    .mappings()
                    .one()
                )
        except IntegrityError as exc:
            raise Conflict("this pairing has a finding in the round already", code="finding_exists") from exc
        await audit(
            self.ctx,
            "monitoring.finding",
            record_type="round",
            record_id=round_id,
            household_id=row["household_id"],
            detail={"pairing_id": str(payload.pairing_id), "flags": flags},
        )
        out = _json(finding)
        out["minimum_visits"] = minimum
        return out

    async def close(self, round_id: uuid.UUID, payload: RoundClose) -> dict[str, Any]:
        self._officer()
        the_round = await self._round(round_id, lock=True)
        if the_round["closed_at"] is not None:
            raise Conflict("the round is closed already", code="round_closed")
        await execute(
            self.session,
            sa.update(monitoring_round)
            .where(monitoring_round.c.id == round_id)
            .values(closed_at=self.ctx.now, closed_by=self.principal.sub, summary=payload.summary),
        )
        await audit(
            self.ctx,
            "monitoring.close",
            record_type="round",
            record_id=round_id,
            region_code=the_round["township_code"],
        )
        return await self.show(round_id)

    async def show(self, round_id: uuid.UUID) -> dict[str, Any]:
        the_round = await self._round(round_id)
        findings = (
            (
                await execute(
                    self.session,
                    sa.select(monitoring_finding, cadre.c.name.label("cadre_name"), household.c.head_name)
                    .join(cadre, cadre.c.id == monitoring_finding.c.cadre_id)
                    .join(household, household.c.id == monitoring_finding.c.household_id)
                    .where(monitoring_finding.c.round_id == round_id)
                    .order_by(monitoring_finding.c.id),
                )
            )
            .mappings()
            .all()
        )
        out = _json(the_round)
        out["findings"] = [_json(f) | {"funds_yuan": str(Decimal(f["funds_fen"]) / 100)} for f in findings]
        return out

    async def overdue(self, region: str, on: date) -> list[dict[str, Any]]:
        """Townships whose June or December round of a past due date was not closed by then (invariant 20)."""
        if self.principal.role is Role.cadre or not self.principal.covers(region):
            raise NotFound(f"region {region} not found")
        townships = (
            await execute(
                self.session,
                sa.select(region_table.c.code, region_table.c.name).where(
                    region_table.c.level == "township",
                    region_table.c.code.startswith(scope_prefix(region), autoescape=True),
                    scope_filter(self.principal, region_table.c.code),
                ),
            )
        ).all()
        rounds = {
            (r["township_code"], r["year"], r["half"]): r
            for r in (
                await execute(
                    self.session,
                    sa.select(monitoring_round).where(
                        monitoring_round.c.township_code.startswith(scope_prefix(region), autoescape=True)
                    ),
                )
            ).mappings()
        }
        first_year = min([r[1] for r in rounds] or [on.year])
        out = []
        for code, name in townships:
            for year in range(first_year, on.year + 1):
                for half, (month, day) in DUE.items():
                    due = date(year, month, day)
                    if due >= on:
                        continue
                    r = rounds.get((code, year, half))
                    closed = r["closed_at"] if r else None
                    if closed is None or closed.date() > due:
                        out.append(
                            {
                                "township_code": code,
                                "name": name,
                                "year": year,
                                "half": half,
                                "due": str(due),
                                "state": "missing"
                                if r is None
                                else ("open" if closed is None else "closed_late"),
                            }
                        )
        return out

    async def visit_frequency(self, region: str, year: int) -> dict[str, Any]:
        """Pairings in force during `year` whose cadre recorded fewer visits than the minimum (invariant 33)."""
        if self.principal.role is Role.cadre or not self.principal.covers(region):
            raise NotFound(f"region {region} not found")
        minimum = await self.minimum_visits(region, year)
        visits = self._visits(year)
        rows = (
            (
                await execute(
                    self.session,
                    sa.select(
                        pairing.c.id.label("pairing_id"),
                        pairing.c.household_id,
                        household.c.head_name,
                        household.c.village_code,
                        cadre.c.name.label("cadre_name"),
                        visits.label("visits"),
                    )
                    .join(household, household.c.id == pairing.c.household_id)
                    .join(cadre, cadre.c.id == pairing.c.cadre_id)
                    .where(
                        household.c.village_code.startswith(scope_prefix(region), autoescape=True),
                        scope_filter(self.principal, household.c.village_code),
                        active_on(date(year, 12, 31)) | active_on(date(year, 1, 1)),
                        visits < minimum,
                    )
                    .order_by(household.c.village_code, pairing.c.id)
                    .limit(5000),
                )
            )
            .mappings()
            .all()
        )
        return {"region": region, "year": year, "minimum_visits": minimum, "items": [_json(r) for r in rows]}
