"""Village plan use cases: draft, edit while draft, the approval steps, amendments, actuals and progress, and the
village exit checklist. Every step: the plan locked in scope → the pure rules of plans/domain.py → the event
appended (and the status carried onto the plan) → the audit entry; the route class commits.

The registry is read over HTTP (the village exists; its figures and policy parameters for the checklist) before
anything is written: a registry that does not answer is a 503 and nothing changes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from services.planning.indicators.domain import Direction, Unit, county_of
from services.planning.indicators.repository import IndicatorRepository
from services.planning.models import IndicatorActual, Plan, PlanEvent, PlanIndicator, audit_event
from services.planning.plans import domain
from services.planning.plans.repository import PlanRepository
from services.planning.plans.schemas import (
    ActivationIn,
    ActualPublic,
    ActualsSet,
    AmendmentCreate,
    AssemblyIn,
    AssemblyPublic,
    ChecklistItemPublic,
    ClosureIn,
    CountyApprovalIn,
    ExitChecklistPublic,
    PlanCreate,
    PlanEventPublic,
    PlanPage,
    PlanPublic,
    PlanSummary,
    PlanUpdate,
    ProgressPublic,
    ReturnIn,
    TargetIn,
    TargetProgress,
    TargetPublic,
    TownshipReviewIn,
    ValueAtPublic,
    YearActualsPublic,
)
from services.planning.profiles import domain as profiles
from services.planning.profiles.repository import ProfileRepository
from services.planning.registry import RegistryGateway
from shared.audit import AuditLog
from shared.context import Context
from shared.etag import stale
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import BadRequest, NotFound
from shared.roles import Role

__all__ = ["PlanService"]

_AUDIT = AuditLog(audit_event)
_BY_YEAR = "village_plans"
_BY_VERSION = "plan_versions"


def _cursor_invalid() -> BadRequest:
    """A cursor of the right ordering with a value missing (`null`): 400, as any cursor that is not ours."""
    return BadRequest("invalid cursor: missing values", code="cursor_invalid")


def _target(t: TargetIn) -> domain.Target:
    return domain.Target(
        indicator_code=t.indicator_code,
        unit=t.unit,
        direction=t.direction,
        baseline_value=t.baseline.value,
        baseline_year=t.baseline.year,
        target_value=t.target.value,
        target_year=t.target.year,
    )


def _stored_target(row: PlanIndicator) -> domain.Target:
    return domain.Target(
        indicator_code=row.indicator_code,
        unit=Unit(row.unit),
        direction=Direction(row.direction),
        baseline_value=row.baseline_value,
        baseline_year=row.baseline_year,
        target_value=row.target_value,
        target_year=row.target_year,
    )


def _row(plan_id: uuid.UUID, t: domain.Target) -> PlanIndicator:
    return PlanIndicator(
        plan_id=plan_id,
        indicator_code=t.indicator_code,
        unit=t.unit.value,
        direction=t.direction.value,
        baseline_value=t.baseline_value,
        baseline_year=t.baseline_year,
        target_value=t.target_value,
        target_year=t.target_year,
    )


def _event_row(plan_id: uuid.UUID, seq: int, event: domain.Event) -> PlanEvent:
    return PlanEvent(
        plan_id=plan_id,
        seq=seq,
        step=event.step.value,
        data=dict(event.data),
        reason=event.reason,
        status_after=event.status_after.value,
        at=event.at,
        actor=event.actor,
        role=event.role.value,
    )


def _event(row: PlanEvent) -> domain.Event:
    return domain.Event(
        step=domain.PlanStep(row.step),
        status_after=domain.PlanStatus(row.status_after),
        at=row.at,
        actor=row.actor,
        role=Role(row.role),
        reason=row.reason,
        data=row.data,
    )


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def _event_public(row: PlanEvent) -> PlanEventPublic:
    data = row.data or {}
    assembly = None
    if row.step == domain.PlanStep.assembly.value:
        assembly = AssemblyPublic(
            held_on=data["held_on"],
            representatives=data["representatives"],
            present=data["present"],
            votes_for=data["votes_for"],
            votes_against=data["votes_against"],
            votes_abstaining=data["votes_abstaining"],
            minutes_ref=data.get("minutes_ref"),
            poor_household_representatives=data.get("poor_household_representatives"),
        )
    return PlanEventPublic(
        seq=row.seq,
        step=domain.PlanStep(row.step),
        status_after=domain.PlanStatus(row.status_after),
        at=row.at,
        actor=row.actor,
        role=Role(row.role),
        reason=row.reason,
        opinion=data.get("opinion"),
        document_number=data.get("document_number"),
        note=data.get("note"),
        assembly=assembly,
        amends=_uuid(data.get("amends")),
        superseded_by=_uuid(data.get("by")),
    )


def _summary(plan: Plan) -> PlanSummary:
    return PlanSummary(
        id=plan.id,
        lineage_id=plan.lineage_id,
        version=plan.version,
        supersedes=plan.supersedes,
        village_code=plan.village_code,
        plan_type=domain.PlanType(plan.plan_type),
        title=plan.title,
        start_year=plan.start_year,
        end_year=plan.end_year,
        status=domain.PlanStatus(plan.status),
        row_version=plan.row_version,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def _actual(row: IndicatorActual) -> ActualPublic:
    return ActualPublic(
        indicator_code=row.indicator_code,
        year=row.year,
        value=row.value,
        version=row.version,
        source=row.source,
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )


def _progress(found: domain.Progress) -> ProgressPublic:
    return ProgressPublic(state=found.state, percent=found.percent)


def _policy_number(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


class PlanService:
    def __init__(self, ctx: Context, registry: RegistryGateway | None = None) -> None:
        self.ctx = ctx
        self._registry = registry
        self.principal = ctx.principal
        self.actor = domain.Actor(ctx.principal.sub, ctx.principal.role)
        self.repo = PlanRepository(ctx)
        self.indicators = IndicatorRepository(ctx)
        self.profiles = ProfileRepository(ctx)

    # -- helpers -----------------------------------------------------------------------------------------------
    @property
    def registry(self) -> RegistryGateway:
        if self._registry is None:  # pragma: no cover - a route that reads the registry passes it
            raise RuntimeError("this use case reads the registry: pass the RegistryGateway")
        return self._registry

    def _village(self, code: str) -> None:
        profiles.require_village(code)
        if not self.principal.covers(code):
            raise NotFound(f"village {code} not found")

    async def _plan(self, plan_id: uuid.UUID, *, lock: bool = False) -> Plan:
        plan = await self.repo.get(plan_id, lock=lock)
        if plan is None:
            raise NotFound(f"plan {plan_id} not found")
        return plan

    async def _state(self, plan_id: uuid.UUID) -> domain.PlanState:
        return domain.replay(_event(e) for e in await self.repo.events(plan_id))

    async def _check(
        self,
        village_code: str,
        plan_type: domain.PlanType,
        start_year: int,
        end_year: int,
        targets: Sequence[domain.Target],
    ) -> None:
        catalogue = await self.indicators.for_county(
            [t.indicator_code for t in targets], county_of(village_code)
        )
        domain.check_plan(plan_type, start_year, end_year, targets, catalogue)

    async def _audit(self, action: str, plan: Plan, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="plan",
            record_id=plan.id,
            region_code=plan.village_code,
            detail={"lineage_id": str(plan.lineage_id), "version": plan.version, **detail},
        )

    async def _view(self, plan_id: uuid.UUID) -> PlanPublic:
        plan = await self._plan(plan_id)
        events = await self.repo.events(plan.id)
        rows = await self.repo.targets(plan.id)
        codes = [r.indicator_code for r in rows]
        labels = await self.indicators.labels(codes)
        latest: dict[str, IndicatorActual] = {}
        baseline_of = {r.indicator_code: r.baseline_year for r in rows}
        for found in await self.repo.actuals(plan.village_code, codes):
            if found.year >= baseline_of[found.indicator_code]:
                latest[found.indicator_code] = found  # by year: the last one is the newest year
        targets = []
        for row in rows:
            target = _stored_target(row)
            actual = latest.get(row.indicator_code)
            label = labels.get(row.indicator_code)
            targets.append(
                TargetPublic(
                    indicator_code=row.indicator_code,
                    label_zh=label.label_zh if label else row.indicator_code,
                    label_en=label.label_en if label else row.indicator_code,
                    unit=target.unit,
                    direction=target.direction,
                    baseline=ValueAtPublic(value=row.baseline_value, year=row.baseline_year),
                    target=ValueAtPublic(value=row.target_value, year=row.target_year),
                    latest_actual=_actual(actual) if actual else None,
                    progress=_progress(domain.progress(target, actual.value if actual else None)),
                )
            )
        return PlanPublic(
            **_summary(plan).model_dump(),
            summary=plan.summary,
            created_by=plan.created_by,
            targets=targets,
            history=[_event_public(e) for e in events],
        )

    # -- drafting ----------------------------------------------------------------------------------------------
    async def create(self, village_code: str, payload: PlanCreate) -> PlanPublic:
        """A village officer drafts a plan for their village (the village must exist in the registry)."""
        domain.require_drafter(self.principal.role)
        self._village(village_code)
        targets = [_target(t) for t in payload.targets]
        if not await self.registry.region_exists(village_code, request_id=self.ctx.request_id):
            raise NotFound(f"village {village_code} not found")
        await self._check(village_code, payload.plan_type, payload.start_year, payload.end_year, targets)
        plan_id = uuid.uuid4()
        now = self.ctx.now
        plan = Plan(
            id=plan_id,
            lineage_id=plan_id,
            version=1,
            supersedes=None,
            village_code=village_code,
            plan_type=payload.plan_type.value,
            title=payload.title,
            start_year=payload.start_year,
            end_year=payload.end_year,
            summary=payload.summary,
            status=domain.PlanStatus.draft.value,
            row_version=1,
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
        )
        event = domain.draft_event(self.actor, now)
        await self.repo.add(plan, [_row(plan_id, t) for t in targets], _event_row(plan_id, 1, event))
        await self._audit("plan.create", plan, targets=len(targets))
        return await self._view(plan_id)

    async def update(self, plan_id: uuid.UUID, row_version: int, payload: PlanUpdate) -> PlanPublic:
        """Edit a draft (If-Match: its row version); given targets replace them all."""
        domain.require_drafter(self.principal.role)
        plan = await self._plan(plan_id, lock=True)
        if plan.row_version != row_version:
            raise stale(plan.row_version, what="plan")
        domain.require_editable((await self._state(plan_id)).status)
        plan_type = payload.plan_type or domain.PlanType(plan.plan_type)
        start = payload.start_year if payload.start_year is not None else plan.start_year
        end = payload.end_year if payload.end_year is not None else plan.end_year
        targets = (
            [_target(t) for t in payload.targets]
            if payload.targets is not None
            else [_stored_target(r) for r in await self.repo.targets(plan_id)]
        )
        await self._check(plan.village_code, plan_type, start, end, targets)
        changes: dict[str, Any] = {"plan_type": plan_type.value, "start_year": start, "end_year": end}
        if payload.title is not None:
            changes["title"] = payload.title
        if "summary" in payload.model_fields_set:
            changes["summary"] = payload.summary
        if payload.targets is not None:
            await self.repo.replace_targets(plan_id, [_row(plan_id, t) for t in targets])
        await self.repo.update(plan_id, changes)
        await self._audit("plan.update", plan, fields=sorted(payload.model_fields_set))
        return await self._view(plan_id)

    async def amend(self, plan_id: uuid.UUID, payload: AmendmentCreate) -> PlanPublic:
        """A new version of an approved plan in force (a draft of the same lineage); the rest is copied."""
        domain.require_drafter(self.principal.role)
        source = await self._plan(plan_id, lock=True)
        state = await self._state(plan_id)
        domain.check_amendable(state, open_amendment=await self.repo.lineage_open(source.lineage_id))
        plan_type = payload.plan_type or domain.PlanType(source.plan_type)
        start = payload.start_year if payload.start_year is not None else source.start_year
        end = payload.end_year if payload.end_year is not None else source.end_year
        targets = (
            [_target(t) for t in payload.targets]
            if payload.targets is not None
            else [_stored_target(r) for r in await self.repo.targets(plan_id)]
        )
        await self._check(source.village_code, plan_type, start, end, targets)
        new_id = uuid.uuid4()
        now = self.ctx.now
        plan = Plan(
            id=new_id,
            lineage_id=source.lineage_id,
            version=await self.repo.last_version(source.lineage_id) + 1,
            supersedes=source.id,
            village_code=source.village_code,
            plan_type=plan_type.value,
            title=payload.title or source.title,
            start_year=start,
            end_year=end,
            summary=payload.summary if "summary" in payload.model_fields_set else source.summary,
            status=domain.PlanStatus.draft.value,
            row_version=1,
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
        )
        event = domain.amendment_event(self.actor, now, amends=str(source.id), reason=payload.reason)
        await self.repo.add(plan, [_row(new_id, t) for t in targets], _event_row(new_id, 1, event))
        await self._audit("plan.amend", plan, amends=str(source.id), reason=payload.reason)
        return await self._view(new_id)

    # -- the approval chain ------------------------------------------------------------------------------------
    async def record_assembly(self, plan_id: uuid.UUID, payload: AssemblyIn) -> PlanPublic:
        step = domain.Assembly(
            held_on=payload.held_on,
            representatives=payload.representatives,
            present=payload.present,
            votes_for=payload.votes_for,
            votes_against=payload.votes_against,
            votes_abstaining=payload.votes_abstaining,
            minutes_ref=payload.minutes_ref,
            poor_household_representatives=payload.poor_household_representatives,
        )
        return await self.step(plan_id, step)

    async def review_by_township(self, plan_id: uuid.UUID, payload: TownshipReviewIn) -> PlanPublic:
        return await self.step(plan_id, domain.TownshipReview(opinion=payload.opinion))

    async def approve_by_county(self, plan_id: uuid.UUID, payload: CountyApprovalIn) -> PlanPublic:
        step = domain.CountyApproval(document_number=payload.document_number, opinion=payload.opinion)
        return await self.step(plan_id, step)

    async def activate(self, plan_id: uuid.UUID, payload: ActivationIn) -> PlanPublic:
        return await self.step(plan_id, domain.Activation(note=payload.note))

    async def close(self, plan_id: uuid.UUID, payload: ClosureIn) -> PlanPublic:
        return await self.step(plan_id, domain.Closure(reason=payload.reason))

    async def return_to_village(self, plan_id: uuid.UUID, payload: ReturnIn) -> PlanPublic:
        return await self.step(plan_id, domain.Return(reason=payload.reason))

    async def step(self, plan_id: uuid.UUID, step: domain.Step) -> PlanPublic:
        """Take one step of the chain (assembly, reviews, approval, activation, closure, return)."""
        domain.require_reader(self.principal.role)
        plan = await self._plan(plan_id, lock=True)
        state = await self._state(plan_id)
        predecessor: Plan | None = None
        predecessor_state: domain.PlanState | None = None
        if isinstance(step, domain.CountyApproval) and plan.supersedes is not None:
            predecessor = await self._plan(plan.supersedes, lock=True)
            predecessor_state = await self._state(predecessor.id)
        event = domain.decide(
            state,
            step,
            self.actor,
            self.ctx.now,
            amends_active=predecessor_state is not None
            and predecessor_state.status is domain.PlanStatus.active,
        )
        if predecessor is not None and predecessor_state is not None:
            retired = domain.supersede(predecessor_state, self.actor, self.ctx.now, by=str(plan.id))
            await self.repo.append_event(_event_row(predecessor.id, predecessor_state.events + 1, retired))
            await self._audit("plan.supersede", predecessor, by=str(plan.id))
        await self.repo.append_event(_event_row(plan.id, state.events + 1, event))
        await self._audit(
            f"plan.{event.step.value}", plan, status=event.status_after.value, reason=event.reason
        )
        return await self._view(plan_id)

    # -- reading -----------------------------------------------------------------------------------------------
    async def get(self, plan_id: uuid.UUID) -> PlanPublic:
        domain.require_reader(self.principal.role)
        return await self._view(plan_id)

    async def village_plans(
        self,
        village_code: str,
        *,
        status: domain.PlanStatus | None,
        plan_type: domain.PlanType | None,
        cursor: str | None,
        limit: int,
    ) -> PlanPage:
        domain.require_reader(self.principal.role)
        self._village(village_code)
        after: tuple[int, uuid.UUID] | None = None
        if cursor is not None:
            year, ident = decode_cursor(cursor, _BY_YEAR, (int, uuid.UUID))
            if not isinstance(year, int) or not isinstance(ident, uuid.UUID):
                raise _cursor_invalid()
            after = (year, ident)
        rows = await self.repo.village_plans(
            village_code,
            status=status.value if status else None,
            plan_type=plan_type.value if plan_type else None,
            after=after,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return PlanPage(
            items=[_summary(r) for r in rows],
            next_cursor=encode_cursor(_BY_YEAR, rows[-1].start_year, rows[-1].id) if more else None,
        )

    async def versions(self, plan_id: uuid.UUID, *, cursor: str | None, limit: int) -> PlanPage:
        """Every version of the plan's lineage (superseded ones stay readable), oldest first."""
        domain.require_reader(self.principal.role)
        plan = await self._plan(plan_id)
        after = None
        if cursor is not None:
            (version,) = decode_cursor(cursor, _BY_VERSION, (int,))
            if not isinstance(version, int):
                raise _cursor_invalid()
            after = version
        rows = await self.repo.versions(plan.lineage_id, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return PlanPage(
            items=[_summary(r) for r in rows],
            next_cursor=encode_cursor(_BY_VERSION, rows[-1].version) if more else None,
        )

    # -- actuals -----------------------------------------------------------------------------------------------
    async def record_actuals(self, plan_id: uuid.UUID, year: int, payload: ActualsSet) -> YearActualsPublic:
        """A year's actuals of the plan's indicators: each changed value a new version (append-only)."""
        domain.require_reader(self.principal.role)
        plan = await self._plan(plan_id, lock=True)
        state = await self._state(plan_id)
        targets = {r.indicator_code: _stored_target(r) for r in await self.repo.targets(plan_id)}
        values = [(v.indicator_code, v.value) for v in payload.values]
        domain.check_actuals(
            state.status, year, values, targets, role=self.principal.role, today=self.ctx.today
        )
        current = {
            a.indicator_code: a
            for a in await self.repo.actuals(plan.village_code, [c for c, _ in values], year=year)
        }
        rows = []
        for given in payload.values:
            held = current.get(given.indicator_code)
            if held is not None and held.value == given.value and held.source == given.source:
                continue  # unchanged: the PUT is idempotent
            rows.append(
                IndicatorActual(
                    village_code=plan.village_code,
                    indicator_code=given.indicator_code,
                    year=year,
                    version=(held.version if held else 0) + 1,
                    value=given.value,
                    source=given.source,
                    recorded_at=self.ctx.now,
                    recorded_by=self.principal.sub,
                )
            )
        if rows:
            await self.repo.add_actuals(rows)
            await self._audit("plan.actuals", plan, year=year, indicators=[r.indicator_code for r in rows])
        return await self._year_view(plan, year)

    async def year_actuals(self, plan_id: uuid.UUID, year: int) -> YearActualsPublic:
        domain.require_reader(self.principal.role)
        return await self._year_view(await self._plan(plan_id), year)

    async def _year_view(self, plan: Plan, year: int) -> YearActualsPublic:
        targets = {r.indicator_code: _stored_target(r) for r in await self.repo.targets(plan.id)}
        found = {a.indicator_code: a for a in await self.repo.actuals(plan.village_code, targets, year=year)}
        return YearActualsPublic(
            plan_id=plan.id,
            village_code=plan.village_code,
            year=year,
            values=[_actual(a) for a in found.values()],
            progress=[
                TargetProgress(
                    indicator_code=code,
                    actual=found[code].value if code in found else None,
                    progress=_progress(domain.progress(t, found[code].value if code in found else None)),
                )
                for code, t in targets.items()
            ],
        )

    # -- the village exit checklist 一低七有 --------------------------------------------------------------------
    async def exit_checklist(self, village_code: str, year: int) -> ExitChecklistPublic:
        """The checklist of a year: the registry's incidence (else the profile's stored registry figures) against
        the region's policy threshold, the collective income, and the seven haves from the year's actuals."""
        domain.require_reader(self.principal.role)
        self._village(village_code)
        rid = self.ctx.request_id
        # Both calls run to their end before either outcome is used: a plain gather would return at the first
        # failure and leave the other call running unowned (its connection then dies with the garbage collector).
        answers = await asyncio.gather(
            self.registry.village_figures(village_code, year, request_id=rid),
            self.registry.policy(village_code, year, request_id=rid),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        figures, policy = answers
        if figures is None or policy is None:
            raise NotFound(f"village {village_code} not found")
        profile = await self.profiles.get(village_code, year)
        actuals = {code: a.value for code, a in (await self.repo.year_actuals(village_code, year)).items()}
        incidence: Decimal | None = figures.incidence_percent
        incidence_source: str | None = "registry" if incidence is not None else None
        if incidence is None and profile is not None:
            incidence = _policy_number(profile.registry_figures.get("incidence_percent"))
            incidence_source = "profile" if incidence is not None else None
        income: Decimal | None = actuals.get(domain.COLLECTIVE_INCOME_INDICATOR)
        income_source: str | None = (
            f"indicator:{domain.COLLECTIVE_INCOME_INDICATOR}" if income is not None else None
        )
        if (
            income is None
            and profile is not None
            and profile.declared.get("collective_income_fen") is not None
        ):
            income, income_source = profiles.yuan(int(profile.declared["collective_income_fen"])), "profile"
        checklist = domain.evaluate_checklist(
            incidence=incidence,
            incidence_source=incidence_source,
            incidence_max=_policy_number(policy.get("village_exit_incidence_max_percent")),
            collective_income=income,
            collective_income_source=income_source,
            collective_income_min=_policy_number(policy.get("village_exit_collective_income_min_yuan")),
            actuals=actuals,
        )
        return ExitChecklistPublic(
            village_code=village_code,
            year=year,
            result=checklist.result,
            items=[
                ChecklistItemPublic(
                    item=i.item,
                    result=i.result,
                    figure=i.figure,
                    threshold=i.threshold,
                    comparison=i.comparison,
                    source=i.source,
                    note=i.note,
                )
                for i in checklist.items
            ],
        )
