"""Workflow use cases: take one step for a household, move a village's list through a step, record a quota override.

For one household: lock its row in scope (households feature), replay its history, let `identification/domain.py`
decide the step (level, order, 7-day notices, objections, recusal, the exit test), check the village quota with
the regions feature when the step registers people (invariant 24), append the event, set the household's status
and refresh its derived fields, audit, all in the request's transaction. A batch runs each item in its own
savepoint, so one refused household never sinks the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from services.registry.audit.repository import RegistryAudit
from services.registry.household_transfers.repository import TransferRepository
from services.registry.households import domain as households
from services.registry.households.domain import FlagCode
from services.registry.households.service import HouseholdService
from services.registry.identification import domain
from services.registry.identification.domain import (
    Actor,
    ApplyReturn,
    Command,
    Cosign,
    ExitTest,
    FileObjection,
    ProposeExit,
    VillageReview,
    WorkflowPolicy,
    WorkflowState,
)
from services.registry.identification.repository import IdentificationRepository
from services.registry.identification.schemas import (
    BatchApplied,
    BatchRefused,
    BatchResult,
    QuotaOverridePublic,
    WorkflowStepResult,
)
from services.registry.models import Household
from services.registry.pii import PersonalDataCipher
from services.registry.regions.service import PolicyService, QuotaService
from shared.clock import china_date
from shared.context import Context
from shared.errors import DomainError, Refused
from shared.problems import AppError, UnprocessableEntity, from_domain

__all__ = ["BATCH_LIMIT", "WorkflowService"]

#: A region batch moves at most this many households (a township's list; more: narrow the region).
BATCH_LIMIT = 1000
#: What a refused batch item reports of its problem besides status and detail.
_REPORTED = ("code", "earliest", "current_version")


class WorkflowService:
    def __init__(self, ctx: Context, cipher: PersonalDataCipher) -> None:
        self.ctx = ctx
        self.households = HouseholdService(ctx, cipher)
        self.repo = IdentificationRepository(ctx)
        self.audit = RegistryAudit(ctx)

    async def _state(self, household_id: uuid.UUID) -> tuple[WorkflowState, int]:
        recorded = await self.repo.events(household_id)
        return domain.state_of(recorded), len(recorded)

    async def run(
        self,
        household_id: uuid.UUID,
        command: Command,
        *,
        version: int | None,
        reason: str | None,
        data: Mapping[str, Any],
        batch_id: uuid.UUID | None = None,
    ) -> WorkflowStepResult:
        ctx, principal = self.ctx, self.ctx.principal
        households.require_writer(principal.role)
        household = await self.households.lock(household_id, version)
        domain.require_not_dissolved(household.status)
        if await TransferRepository(ctx).pending_for(household_id) is not None:
            raise Refused("transfer_pending", "the household has a pending transfer to another county")
        state, count = await self._state(household_id)
        year = china_date(ctx.now).year
        policy_values = await PolicyService(ctx).values(household.village_code, year)
        policy = WorkflowPolicy(notice_days=int(policy_values.get("notice_days") or 7))
        domain.check_recusal(
            command,
            principal.sub,
            (household.details or {}).get("related_officials") or [],
            await self.repo.ever_related(household_id) if command in domain.REVIEWS else (),
        )
        step = domain.parse_step(command, data)
        if isinstance(step, FileObjection) and step.objection_id is None:
            step = replace(step, objection_id=uuid.uuid4().hex[:12])
        if isinstance(step, ProposeExit):
            step = replace(step, exit_test=await self._exit_test(household, step, policy_values))
        if isinstance(step, ApplyReturn):
            step = replace(step, eligibility=await self._return_eligibility(household, policy_values))
        if isinstance(step, VillageReview) and state.status is domain.Status.applied:
            step = replace(step, income=await self._identification_income(household))
        if isinstance(step, Cosign):
            on_team = await self.repo.on_work_team(principal.sub, household.village_code, on=ctx.today)
            step = replace(step, on_work_team=on_team)
        event = domain.decide(
            state, step, Actor(principal.sub, principal.role), ctx.now, reason=reason, policy=policy
        )
        after = domain.advance(state, event)
        outcome = domain.outcome(step, after, now=ctx.now, year=year)
        if outcome.checks_quota:
            quota_year = outcome.quota_year if outcome.quota_year is not None else household.quota_year
            check = await QuotaService(ctx).check_registration(
                village_code=household.village_code,
                year=quota_year,
                household_id=household_id,
                people=household.household_size,
            )
            if check.over:
                await self.households.raise_flag(
                    household_id, FlagCode.quota_override.value, {"quota": check.quota, "used": check.used}
                )
        seq = count + 1
        await self.repo.append(household_id, seq, event, status_after=outcome.status.value, batch_id=batch_id)
        await self.repo.set_status(household_id, outcome)
        if outcome.status is domain.Status.removed:
            # A removed household's record is closed: its members are released to join another (item 8).
            await self.households.release_members(household_id)
        new_version = await self.households.refresh(household_id)
        await self.audit.record(
            f"workflow.{command.value}",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=reason,
            detail={"status": outcome.status.value, "seq": seq},
        )
        return WorkflowStepResult(id=household_id, status=outcome.status.value, seq=seq, version=new_version)

    async def _exit_test(
        self, household: Household, step: ProposeExit, policy: Mapping[str, Any]
    ) -> ExitTest:
        """§6.5-A from the record (income of the exit year, members, housing, social security) and the survey."""
        income_year = domain.exit_income_year(step.income_year, self.ctx.now)
        income = await self.repo.per_capita_income(household.id, income_year)
        if income is None:
            raise Refused(
                "income_missing", f"record the household's income for {income_year} before the exit test"
            )
        line = domain.exit_income_line(policy)
        return domain.assemble_exit_test(
            per_capita_net_income=income,
            income_line=line,
            survey=step.survey,
            members=await self.repo.exit_members(household.id, on=china_date(self.ctx.now)),
            dangerous_house_grade=household.dangerous_house_grade,
            poverty_attribute=household.poverty_attribute,
            categories=(household.details or {}).get("categories") or {},
            income_year=income_year,
        )

    async def _identification_income(self, household: Household) -> domain.IdentificationIncome:
        """§2.8, invariant 13: the per-capita net income of the reference year (the year before the round the
        household is identified in — its identification year, or the year it applied again after a rejection,
        both kept in `quota_year`) against that year's identification line."""
        year = household.quota_year
        reference_year = domain.identification_reference_year(year)
        policy = await PolicyService(self.ctx).values(household.village_code, reference_year)
        line = policy.get("identification_income_line_yuan")
        return domain.IdentificationIncome(
            identification_year=year,
            reference_year=reference_year,
            income_line_yuan=None if line is None else int(line),
            per_capita_net_income_yuan=await self.repo.per_capita_income(household.id, reference_year),
        )

    async def _return_eligibility(
        self, household: Household, policy: Mapping[str, Any]
    ) -> domain.ReturnEligibility:
        """§2.14: the household's latest recorded income survey against the identification line of this year."""
        line = domain.identification_income_line(policy)
        latest = await self.repo.latest_per_capita_income(household.id)
        if latest is None:
            return domain.ReturnEligibility(income_line_yuan=int(line))
        income_year, income = latest
        return domain.ReturnEligibility(
            income_line_yuan=int(line), income_year=income_year, per_capita_net_income_yuan=int(income)
        )

    async def batch(
        self,
        command: Command,
        items: Sequence[tuple[uuid.UUID, int | None]],
        *,
        reason: str | None,
        data: Mapping[str, Any],
    ) -> BatchResult:
        """Apply `command` to each household in its own savepoint; report each item (applied or refused)."""
        households.require_writer(self.ctx.principal.role)
        domain.check_batch_command(command)
        batch_id = uuid.uuid4()
        results: list[BatchApplied | BatchRefused] = []
        for household_id, version in items:
            try:
                async with self.repo.savepoint():
                    result = await self.run(
                        household_id, command, version=version, reason=reason, data=data, batch_id=batch_id
                    )
                results.append(
                    BatchApplied(
                        household_id=household_id,
                        outcome="applied",
                        status=result.status,
                        version=result.version,
                    )
                )
            except (AppError, DomainError) as exc:
                problem = from_domain(exc) if isinstance(exc, DomainError) else exc
                results.append(
                    BatchRefused(
                        household_id=household_id,
                        outcome="refused",
                        status_code=problem.status,
                        detail=problem.detail,
                        **{k: v for k, v in problem.extensions.items() if k in _REPORTED},
                    )
                )
        applied = sum(1 for r in results if isinstance(r, BatchApplied))
        return BatchResult(batch_id=batch_id, applied=applied, refused=len(results) - applied, items=results)

    async def region_batch(
        self,
        command: Command,
        region_code: str,
        from_status: str,
        *,
        reason: str | None,
        data: Mapping[str, Any],
    ) -> BatchResult:
        """`command` for every household of a village or township (in scope) currently at `from_status`."""
        found = await self.repo.households_at(region_code, from_status, BATCH_LIMIT + 1)
        if len(found) > BATCH_LIMIT:
            raise UnprocessableEntity(
                f"more than {BATCH_LIMIT} households match; narrow the region", field="/region_code"
            )
        return await self.batch(command, [(hid, None) for hid in found], reason=reason, data=data)

    async def override_quota(
        self, household_id: uuid.UUID, payload_household_id: uuid.UUID | None, reason: str
    ) -> QuotaOverridePublic:
        """Invariant 24's exception: the county records, with a reason, that this household may exceed the quota.
        The household is the path's; a body that still names one must name the same (older clients)."""
        if payload_household_id is not None and payload_household_id != household_id:
            raise UnprocessableEntity("household_id differs from the path", field="/household_id")
        domain.require_quota_overrider(self.ctx.principal.role)
        household = await self.households.lock(household_id, None)
        row_id = await self.repo.record_override(
            village_code=household.village_code,
            year=household.quota_year,
            household_id=household_id,
            reason=reason,
        )
        await self.audit.record(
            "quota.override",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=reason,
            detail={"year": household.quota_year, "village_code": household.village_code},
        )
        return QuotaOverridePublic(
            id=row_id, household_id=household_id, year=household.quota_year, reason=reason
        )
