"""Monitoring use cases: June (H1) and December (H2) rounds per township, findings per pairing, overdue rounds,
and households visited less often than the policy minimum (`min_visits_per_household_per_year`)."""

from __future__ import annotations

import uuid
from datetime import date

from services.registry.audit.repository import RegistryAudit
from services.registry.models import MonitoringFinding, MonitoringRound
from services.registry.monitoring import domain
from services.registry.monitoring.repository import MonitoringRepository
from services.registry.monitoring.schemas import (
    FindingCreate,
    FindingCreated,
    OverdueReport,
    OverdueRoundPublic,
    RoundClose,
    RoundCreate,
    RoundPublic,
    RoundWithFindings,
    VisitFrequencyReport,
)
from services.registry.regions.service import PolicyService
from shared.context import Context
from shared.problems import NotFound
from shared.roles import Role

__all__ = ["MonitoringService"]


class MonitoringService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = MonitoringRepository(ctx)
        self.audit = RegistryAudit(ctx)

    def _region(self, code: str) -> None:
        """Reports are for officers of the region: anyone else gets the 404 of a region that does not exist."""
        if self.principal.role is Role.cadre or not self.principal.covers(code):
            raise NotFound(f"region {code} not found")

    async def _round(self, round_id: uuid.UUID, *, lock: bool = False) -> MonitoringRound:
        row = await self.repo.round(round_id, lock=lock)
        if row is None:
            raise NotFound(f"round {round_id} not found")
        return row

    async def _minimum_visits(self, region_code: str, year: int) -> int:
        return domain.minimum_visits(await PolicyService(self.ctx).values(region_code, year))

    async def open(self, payload: RoundCreate) -> RoundPublic:
        domain.require_monitor(self.principal.role)
        domain.require_township(payload.township_code)
        if not self.principal.covers(payload.township_code):
            raise NotFound(f"region {payload.township_code} not found")
        domain.require_period_begun(payload.year, payload.half, self.ctx.today)
        row = MonitoringRound(
            id=uuid.uuid4(),
            township_code=payload.township_code,
            year=payload.year,
            half=str(payload.half),
            opened_at=self.ctx.now,
            opened_by=self.principal.sub,
            closed_at=None,
            closed_by=None,
            summary=None,
        )
        await self.repo.add_round(row)
        await self.audit.record(
            "monitoring.open", record_type="round", record_id=row.id, region_code=payload.township_code
        )
        return RoundPublic.model_validate(row)

    async def add_finding(self, round_id: uuid.UUID, payload: FindingCreate) -> FindingCreated:
        domain.require_monitor(self.principal.role)
        the_round = await self._round(round_id, lock=True)
        domain.require_open(the_round.closed_at)
        pairing = await self.repo.pairing_visits(payload.pairing_id, the_round.township_code, the_round.year)
        if pairing is None:
            raise domain.PairingNotInTownship()
        minimum = await self._minimum_visits(the_round.township_code, the_round.year)
        flags = domain.visit_flags(pairing.visits, minimum)
        finding = MonitoringFinding(
            round_id=round_id,
            pairing_id=payload.pairing_id,
            household_id=pairing.household_id,
            cadre_id=pairing.cadre_id,
            projects=payload.projects,
            funds_fen=domain.fen(payload.funds_yuan),
            results=payload.results,
            visits_in_year=pairing.visits,
            flags=flags,
            recorded_at=self.ctx.now,
            recorded_by=self.principal.sub,
        )
        await self.repo.add_finding(finding)
        await self.audit.record(
            "monitoring.finding",
            record_type="round",
            record_id=round_id,
            household_id=pairing.household_id,
            detail={"pairing_id": str(payload.pairing_id), "flags": flags},
        )
        return FindingCreated.model_validate(finding.model_dump() | {"minimum_visits": minimum})

    async def close(self, round_id: uuid.UUID, payload: RoundClose) -> RoundWithFindings:
        domain.require_monitor(self.principal.role)
        the_round = await self._round(round_id, lock=True)
        domain.require_open(the_round.closed_at, closing=True)
        domain.require_period_begun(the_round.year, domain.Half(the_round.half), self.ctx.today, closing=True)
        findings = await self.repo.finding_count(round_id)
        domain.require_empty_reason(findings, payload.empty_reason)
        summary = payload.summary
        reason = (payload.empty_reason or "").strip() if findings == 0 else ""
        if reason:
            summary = f"{summary}\n\n{domain.EMPTY_REASON_LABEL}{reason}"
        await self.repo.close(the_round, summary)
        await self.audit.record(
            "monitoring.close",
            record_type="round",
            record_id=round_id,
            region_code=the_round.township_code,
            reason=reason or None,
            detail={"findings": findings},
        )
        return await self._view(the_round)

    async def show(self, round_id: uuid.UUID) -> RoundWithFindings:
        return await self._view(await self._round(round_id))

    async def _view(self, the_round: MonitoringRound) -> RoundWithFindings:
        return RoundWithFindings.model_validate(
            the_round.model_dump() | {"findings": await self.repo.findings(the_round.id)}
        )

    async def overdue(self, region: str, on: date | None) -> OverdueReport:
        """Townships whose June or December round of a past due date was not closed by then (invariant 20)."""
        self._region(region)
        day = on or self.ctx.today
        late = domain.overdue(await self.repo.townships(region), await self.repo.rounds_under(region), day)
        return OverdueReport(
            region=region, on=day, items=[OverdueRoundPublic.model_validate(o) for o in late]
        )

    async def visit_frequency(self, region: str, year: int) -> VisitFrequencyReport:
        """Pairings in force during `year` whose cadre recorded fewer visits than the minimum (invariant 33)."""
        self._region(region)
        minimum = await self._minimum_visits(region, year)
        items = await self.repo.shortfalls(region, year, minimum)
        return VisitFrequencyReport(region=region, year=year, minimum_visits=minimum, items=items)
