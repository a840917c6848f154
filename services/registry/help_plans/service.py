"""Help plan use cases. Every change is a new version; the head's acknowledgement and progress are appended."""

from __future__ import annotations

import uuid
from typing import Any

from services.registry.audit.repository import RegistryAudit
from services.registry.help_plans import domain
from services.registry.help_plans.repository import HelpPlanRepository, PlanHousehold
from services.registry.help_plans.schemas import (
    AcknowledgementPublic,
    PlanAck,
    PlanPublic,
    PlanSet,
    ProgressIn,
    ProgressPublic,
)
from services.registry.models import HelpPlanAck, HelpPlanProgress
from shared.context import Context
from shared.etag import stale
from shared.problems import NotFound, PreconditionRequired

__all__ = ["PlanService"]


class PlanService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = HelpPlanRepository(ctx)
        self.audit = RegistryAudit(ctx)

    async def _household(self, household_id: uuid.UUID, *, write: bool) -> PlanHousehold:
        """The household, readable by the caller; for writes the caller is an officer in scope or its cadre."""
        if write:
            domain.require_writer(self.principal.role)
        hh = await self.repo.household(household_id, write=write)
        if hh is None:
            raise NotFound(f"household {household_id} not found")
        return hh

    async def set(self, household_id: uuid.UUID, version: int | None, payload: PlanSet) -> PlanPublic:
        """Write a new version; `version` is the If-Match of the current one (None only for the first)."""
        hh = await self._household(household_id, write=True)
        domain.require_plannable(hh.status)
        latest = await self.repo.plan(household_id)
        current = latest.version if latest else 0
        if latest is not None and version is None:
            raise PreconditionRequired('changing a plan needs If-Match: "<plan version>"')
        if version is not None and version != current:
            raise stale(current)
        command = domain.PlanCommand(
            year_from=payload.year_from,
            year_to=payload.year_to,
            target_exit_year=payload.target_exit_year,
            items=[
                domain.PlanItemCommand(
                    item_id=i.item_id,
                    measure=i.measure,
                    responsible_cadre_id=i.responsible_cadre_id,
                    due_date=i.due_date,
                    expected_income_gain_yuan=i.expected_income_gain_yuan,
                    cost_yuan=i.cost_yuan,
                    funding_source=i.funding_source,
                    funding_amount_yuan=i.funding_amount_yuan,
                )
                for i in payload.items
            ],
        )
        totals = domain.new_version(
            command,
            identification_year=hh.identification_year,
            current_version=current,
            previous_item_ids={i.item_id for i in latest.items} if latest else set(),
            known_cadres=await self.repo.known_cadres({i.responsible_cadre_id for i in payload.items}, hh),
        )
        items: list[dict[str, Any]] = []
        for item in payload.items:
            stored = item.model_dump(mode="json")
            stored["item_id"] = str(item.item_id or uuid.uuid4())  # a new item gets its lasting id here
            items.append(stored)
        await self.repo.add_plan(
            household_id,
            totals,
            year_from=payload.year_from,
            year_to=payload.year_to,
            target_exit_year=payload.target_exit_year,
            items=items,
            note=payload.note,
        )
        await self.audit.record(
            "plan.version",
            record_type="help_plan",
            record_id=f"{household_id}/{totals.version}",
            household_id=household_id,
            detail={"items": len(items), "target_exit_year": payload.target_exit_year},
        )
        return await self._view(household_id, None)

    async def acknowledge(self, household_id: uuid.UUID, payload: PlanAck) -> PlanPublic:
        hh = await self._household(household_id, write=True)
        latest = await self.repo.plan(household_id)
        domain.acknowledge(latest.version if latest else None, payload.version)
        domain.require_signatory(payload.signatory, hh.head_name, await self.repo.member_names(household_id))
        await self.repo.add_acknowledgement(
            HelpPlanAck(
                household_id=household_id,
                version=payload.version,
                signatory=payload.signatory,
                acknowledged_on=payload.acknowledged_on,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            )
        )
        await self.audit.record(
            "plan.acknowledge",
            record_type="help_plan",
            record_id=f"{household_id}/{payload.version}",
            household_id=household_id,
        )
        return await self._view(household_id, None)

    async def progress(self, household_id: uuid.UUID, item_id: uuid.UUID, payload: ProgressIn) -> PlanPublic:
        await self._household(household_id, write=True)
        latest = await self.repo.plan(household_id)
        domain.check_progress(
            item_id,
            {i.item_id for i in latest.items} if latest else set(),
            percent=payload.percent,
            completed_on=payload.completed_on,
            today=self.ctx.today,
        )
        await self.repo.add_progress(
            HelpPlanProgress(
                household_id=household_id,
                item_id=item_id,
                percent=payload.percent,
                completed_on=payload.completed_on,
                note=payload.note,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            )
        )
        await self.audit.record(
            "plan.progress",
            record_type="help_plan_item",
            record_id=str(item_id),
            household_id=household_id,
            detail={"percent": payload.percent},
        )
        return await self._view(household_id, None)

    async def show(self, household_id: uuid.UUID, version: int | None) -> PlanPublic:
        """The current version (or `version`), with the head's acknowledgement and progress per item."""
        await self._household(household_id, write=False)
        return await self._view(household_id, version)

    async def _view(self, household_id: uuid.UUID, version: int | None) -> PlanPublic:
        plan = await self.repo.plan(household_id, version)
        if plan is None:
            raise NotFound(
                f"household {household_id} has no help plan" + (f" version {version}" if version else "")
            )
        ack = await self.repo.acknowledgement(household_id, plan.version)
        history: dict[uuid.UUID, list[ProgressPublic]] = {}
        for entry in await self.repo.progress(household_id):
            history.setdefault(entry.item_id, []).append(ProgressPublic.model_validate(entry))
        items = []
        for item in plan.items:
            gap = domain.funding_gap_fen(item.cost_yuan, item.funding_amount_yuan)
            items.append(
                item.model_copy(
                    update={
                        "progress": history[item.item_id][-1] if item.item_id in history else None,
                        "progress_history": history.get(item.item_id, []),
                        "funding_gap_yuan": domain.yuan(gap),
                        "flags": ["funding_gap"] if gap else [],
                    }
                )
            )
        return PlanPublic(
            household_id=household_id,
            version=plan.version,
            year_from=plan.year_from,
            year_to=plan.year_to,
            target_exit_year=plan.target_exit_year,
            expected_income_gain_yuan=domain.yuan(plan.expected_income_gain_fen),
            cost_yuan=domain.yuan(plan.cost_fen),
            funding_gap_yuan=sum((i.funding_gap_yuan for i in items), start=domain.yuan(0)),
            note=plan.note,
            created_at=plan.created_at,
            created_by=plan.created_by,
            acknowledged=AcknowledgementPublic.model_validate(ack) if ack is not None else None,
            items=items,
        )
