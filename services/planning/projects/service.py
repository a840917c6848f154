"""Project library use cases (项目库): draft and edit a project, choose its beneficiaries, take the steps of its
四议两公开 approval chain, report its implementation, accept it and record the assets it formed.

Each use case checks the role first (403 before any lookup), finds the project in the caller's scope (404 outside
it, exactly like missing; writes lock the row and compare `If-Match`), asks `projects/domain.py`, writes through
the repository and files the audit entry, all in the request's transaction (the route commits). Registry
households are checked over HTTP (`RegistryGateway`, a 503 problem when the registry does not answer) before
anything is written. County approval draws the funding lines' commitments from their allocations
(`FundsService.draw_for_approval`, atomic; `allocation_exceeded` refuses the approval and writes nothing).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from services.planning.funds.domain import fen, yuan
from services.planning.funds.repository import FundsRepository, project_facts
from services.planning.funds.service import FundsService, summary_of
from services.planning.models import (
    Acceptance,
    Asset,
    Milestone,
    Project,
    ProjectAttachment,
    ProjectBeneficiary,
    ProjectEvent,
    audit_event,
)
from services.planning.projects import domain
from services.planning.projects.domain import (
    AcceptanceRecord,
    Actor,
    ChainState,
    Disclosure,
    Meeting,
    ProjectCategory,
    ProjectStatus,
    Resolution,
    Review,
    Step,
    StepCommand,
)
from services.planning.projects.repository import AttachmentBytes, ProjectRepository
from services.planning.projects.schemas import (
    AcceptanceCreate,
    AcceptancePublic,
    AcceptanceRecorded,
    ApprovalStepIn,
    AssetCreate,
    AssetPublic,
    BeneficiariesResult,
    BeneficiaryPublic,
    DisclosureIn,
    MeetingIn,
    MilestoneCreate,
    MilestonePublic,
    MilestoneUpdate,
    OverdueMilestone,
    ProjectAttachmentPublic,
    ProjectCreate,
    ProjectDetail,
    ProjectEventPublic,
    ProjectPublic,
    ProjectQuery,
    ProjectStepResult,
    ProjectUpdate,
    ResolutionIn,
)
from services.planning.registry import RegistryGateway
from shared.audit import AuditLog
from shared.context import Context
from shared.errors import Invalid
from shared.etag import stale
from shared.labels import LabelledEnum
from shared.pagination import Page, decode_cursor, encode_cursor
from shared.problems import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from shared.roles import Role

__all__ = ["ProjectService", "project_public"]

_AUDIT = AuditLog(audit_event)
#: Cursor orderings.
_BY_VILLAGE = "village"
_BY_DUE = "due"
_BY_HOUSEHOLD = "household"
#: Event data shown as fields of `ProjectEventPublic`.
_EVENT_FIELDS = ("minutes_ref", "attendees", "votes_for", "votes_against", "place", "approve", "passed")


def project_public(row: Project) -> ProjectPublic:
    """A project as every answer shows it (budget in yuan from the stored fen)."""
    return ProjectPublic(
        id=row.id,
        plan_id=row.plan_id,
        village_code=row.village_code,
        natural_village=row.natural_village,
        category=ProjectCategory(row.category),
        name=row.name,
        quantity=row.quantity,
        unit=row.unit,
        starts_on=row.starts_on,
        finishes_on=row.finishes_on,
        implementing_party=row.implementing_party,
        responsible_person=row.responsible_person,
        expected_outputs=row.expected_outputs,
        budget_yuan=yuan(row.budget_fen),
        status=ProjectStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def _event_public(row: ProjectEvent) -> ProjectEventPublic:
    data = row.data or {}
    return ProjectEventPublic(
        seq=row.seq,
        step=Step(row.step),
        on=date.fromisoformat(str(data["on"])),
        status_after=ProjectStatus(row.status_after),
        at=row.at,
        actor=row.actor,
        role=row.role,
        reason=row.reason,
        **{k: data[k] for k in _EVENT_FIELDS if data.get(k) is not None},
    )


def _milestone_public(row: Milestone) -> MilestonePublic:
    return MilestonePublic.model_validate(row)


def _asset_public(row: Asset) -> AssetPublic:
    return AssetPublic(
        id=row.id,
        project_id=row.project_id,
        asset_type=domain.AssetType(row.asset_type),
        description=row.description,
        value_yuan=yuan(row.value_fen),
        owner_kind=domain.AssetOwnerKind(row.owner_kind),
        owner_name=row.owner_name,
        beneficiary_household_ids=list(row.beneficiary_household_ids or []),
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )


def _acceptance_public(row: Acceptance) -> AcceptancePublic:
    return AcceptancePublic.model_validate(row)


def _command(payload: ApprovalStepIn) -> StepCommand:
    """The domain's typed command for a step of the chain."""
    if isinstance(payload, MeetingIn):
        return Meeting(
            step=Step(payload.step),
            held_on=payload.held_on,
            minutes_ref=payload.minutes_ref,
            attendees=payload.attendees,
        )
    if isinstance(payload, ResolutionIn):
        return Resolution(
            held_on=payload.held_on,
            attendees=payload.attendees,
            votes_for=payload.votes_for,
            votes_against=payload.votes_against,
            minutes_ref=payload.minutes_ref,
        )
    if isinstance(payload, DisclosureIn):
        return Disclosure(step=Step(payload.step), posted_on=payload.posted_on, place=payload.place)
    return Review(
        step=Step(payload.step), approve=payload.approve, reason=payload.reason, decided_on=payload.decided_on
    )


def _after(cursor: str | None, kind: str, types: Sequence[type[Any]]) -> tuple[Any, ...] | None:
    if cursor is None:
        return None
    values = decode_cursor(cursor, kind, types)
    if any(v is None for v in values):  # a cursor of ours never holds null: 400, not an empty page
        raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
    return values


class ProjectService:
    def __init__(self, ctx: Context, registry: RegistryGateway) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.registry = registry
        self.repo = ProjectRepository(ctx)

    @property
    def _actor(self) -> Actor:
        return Actor(self.principal.sub, self.principal.role)

    async def _audit(
        self, action: str, project: Project, *, reason: str | None = None, **detail: Any
    ) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="project",
            record_id=project.id,
            region_code=project.village_code,
            reason=reason,
            detail=detail,
            project_id=project.id,
        )

    # -- finding a project ---------------------------------------------------------------------------------------
    async def _paired(self) -> set[uuid.UUID] | None:
        """For a cadre, the households paired with them today (from the registry); None for everyone else."""
        if self.principal.role is not Role.cadre:
            return None
        found = await self.registry.paired_households(self.principal.sub, request_id=self.ctx.request_id)
        return set(found)

    async def _visible(self, project_id: uuid.UUID) -> Project:
        project = await self.repo.get(project_id, await self._paired())
        if project is None:
            raise NotFound(f"project {project_id} not found")
        return project

    async def _locked(self, project_id: uuid.UUID, version: int | None = None) -> Project:
        """The project in the caller's region, locked; 412 when `version` is not the current one."""
        project = await self.repo.lock(project_id)
        if project is None:
            raise NotFound(f"project {project_id} not found")
        if version is not None and project.version != version:
            raise stale(project.version, what="project")
        return project

    async def _state(self, project_id: uuid.UUID) -> ChainState:
        return domain.replay(await self.repo.events(project_id))

    async def _append(self, project: Project, state: ChainState, event: domain.Event) -> Project:
        """Append the event and set the project's status to the one it leads to (a new version)."""
        await self.repo.append(project.id, state.events + 1, event)
        return await self.repo.update(project.id, {"status": event.status_after.value})

    async def _households(
        self, ids: Sequence[uuid.UUID], project: Project, *, pointer: str
    ) -> list[domain.HouseholdFacts]:
        """The registry's households for `ids`, checked to exist and lie in the project's area (422 naming the
        first that does not); the registry not answering is a 503 (nothing is written before this)."""
        if not ids:
            return []
        found = await self.registry.households(list(ids), request_id=self.ctx.request_id)
        return domain.check_beneficiaries(
            ids,
            found,
            village_code=project.village_code,
            category=ProjectCategory(project.category),
            pointer=pointer,
            caller_scope=self.principal.prefix,
        )

    # -- projects --------------------------------------------------------------------------------------------------
    async def create(self, village_code: str, payload: ProjectCreate) -> ProjectPublic:
        """A village officer drafts a project of their village (status `draft`)."""
        domain.require_role(self.principal.role, domain.DRAFTERS, "draft projects")
        domain.check_village(village_code)
        if not self.principal.covers(village_code):
            raise NotFound(f"village {village_code} not found")
        domain.check_schedule(payload.starts_on, payload.finishes_on)
        if payload.plan_id is not None:
            domain.check_plan(payload.plan_id, await self.repo.plan_village(payload.plan_id), village_code)
        if not await self.registry.region_exists(village_code, request_id=self.ctx.request_id):
            raise NotFound(f"village {village_code} not found")
        now = self.ctx.now
        project = Project(
            id=uuid.uuid4(),
            plan_id=payload.plan_id,
            village_code=village_code,
            natural_village=payload.natural_village,
            category=payload.category.value,
            name=payload.name,
            quantity=payload.quantity,
            unit=payload.unit.value if payload.unit is not None else None,
            starts_on=payload.starts_on,
            finishes_on=payload.finishes_on,
            implementing_party=payload.implementing_party,
            responsible_person=payload.responsible_person,
            expected_outputs=payload.expected_outputs,
            budget_fen=fen(payload.budget_yuan),
            status=ProjectStatus.draft.value,
            version=1,
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
        )
        await self.repo.insert(project)
        await self._audit("project.create", project, budget_fen=project.budget_fen, category=project.category)
        return project_public(project)

    async def update(self, project_id: uuid.UUID, version: int, payload: ProjectUpdate) -> ProjectPublic:
        """Edit a draft or returned project, based on the version read."""
        domain.require_role(self.principal.role, domain.DRAFTERS, "edit projects")
        project = await self._locked(project_id, version)
        domain.check_editable(ProjectStatus(project.status))
        changes = payload.changes()
        starts_on = changes.get("starts_on", project.starts_on)
        finishes_on = changes.get("finishes_on", project.finishes_on)
        assert starts_on is None or isinstance(starts_on, date)
        assert finishes_on is None or isinstance(finishes_on, date)
        domain.check_schedule(starts_on, finishes_on)
        if "starts_on" in changes or "finishes_on" in changes:
            domain.check_schedule_covers(
                starts_on, finishes_on, [m.due_on for m in await self.repo.milestones(project_id)]
            )
        plan_id = changes.get("plan_id")
        if isinstance(plan_id, uuid.UUID):
            domain.check_plan(plan_id, await self.repo.plan_village(plan_id), project.village_code)
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "budget_yuan":
                assert payload.budget_yuan is not None
                values["budget_fen"] = fen(payload.budget_yuan)
            else:
                values[name] = value.value if isinstance(value, LabelledEnum) else value
        updated = await self.repo.update(project_id, values)
        await self._audit("project.update", updated, fields=sorted(changes))
        return project_public(updated)

    async def detail(self, project_id: uuid.UUID) -> ProjectDetail:
        """A project with its money, beneficiaries, history, milestones, attachments, acceptance and assets."""
        project = await self._visible(project_id)
        events = await self.repo.events(project_id)
        counts = await self.repo.beneficiary_counts(project_id)
        acceptance = await self.repo.acceptance(project_id)
        funding = summary_of(project_facts(project), await FundsRepository(self.ctx).lines(project_id))
        return ProjectDetail(
            **project_public(project).model_dump(),
            funding=funding,
            beneficiaries_count=counts.households,
            poor_beneficiaries_count=counts.poor_households,
            events=[_event_public(e) for e in events],
            next_steps=list(domain.expected_steps(domain.replay(events))),
            milestones=[_milestone_public(m) for m in await self.repo.milestones(project_id)],
            attachments=await self.repo.attachments(project_id),
            acceptance=_acceptance_public(acceptance) if acceptance is not None else None,
            assets=[_asset_public(a) for a in await self.repo.assets(project_id)],
        )

    async def page(self, query: ProjectQuery) -> Page[ProjectPublic]:
        """Projects in scope matching the filters, by village then id (keyset pages)."""
        if query.region is not None and not (
            self.principal.covers(query.region) or self.principal.role is Role.cadre
        ):
            return Page[ProjectPublic](items=[], next_cursor=None)
        after = _after(query.cursor, _BY_VILLAGE, (str, uuid.UUID))
        rows = await self.repo.page(query, await self._paired(), after)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        cursor = encode_cursor(_BY_VILLAGE, rows[-1].village_code, rows[-1].id) if more and rows else None
        return Page[ProjectPublic](items=[project_public(r) for r in rows], next_cursor=cursor)

    # -- beneficiaries -------------------------------------------------------------------------------------------
    async def set_beneficiaries(
        self, project_id: uuid.UUID, version: int, household_ids: Sequence[uuid.UUID], *, replace: bool
    ) -> BeneficiariesResult:
        """The households the project benefits: `replace` the list, or add to it; each checked with the registry."""
        domain.require_role(self.principal.role, domain.DRAFTERS, "choose a project's beneficiaries")
        project = await self._locked(project_id, version)
        domain.check_editable(ProjectStatus(project.status))
        ids = domain.unique(household_ids)
        households = await self._households(ids, project, pointer="/household_ids")
        rows = [
            {
                "project_id": project_id,
                "household_id": h.id,
                "village_code": h.village_code,
                "status_when_added": h.status,
                "added_at": self.ctx.now,
                "added_by": self.principal.sub,
            }
            for h in households
        ]
        if replace:
            await self.repo.replace_beneficiaries(project_id, rows)
        else:
            await self.repo.add_beneficiaries(rows)
        updated = await self.repo.update(project_id, {})
        counts = await self.repo.beneficiary_counts(project_id)
        await self._audit(
            "project.beneficiaries.replace" if replace else "project.beneficiaries.add",
            updated,
            households=len(rows),
            total=counts.households,
            poor=counts.poor_households,
        )
        return BeneficiariesResult(
            id=project_id,
            version=updated.version,
            beneficiaries_count=counts.households,
            poor_beneficiaries_count=counts.poor_households,
        )

    async def beneficiaries(
        self, project_id: uuid.UUID, cursor: str | None, limit: int
    ) -> Page[BeneficiaryPublic]:
        await self._visible(project_id)
        after = _after(cursor, _BY_HOUSEHOLD, (uuid.UUID,))
        rows = await self.repo.beneficiaries(project_id, after=after[0] if after else None, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page[BeneficiaryPublic](
            items=[_beneficiary_public(r) for r in rows],
            next_cursor=encode_cursor(_BY_HOUSEHOLD, rows[-1].household_id) if more and rows else None,
        )

    # -- the approval chain --------------------------------------------------------------------------------------
    async def take_step(
        self, project_id: uuid.UUID, version: int, payload: ApprovalStepIn
    ) -> ProjectStepResult:
        """One step of 四议两公开 → township review → county approval (or the results made public), by its level,
        in its order; the county's approval draws the funding lines' commitments from their allocations."""
        command = _command(payload)
        domain.require_level(command.step, self.principal.role)
        project = await self._locked(project_id, version)
        state = await self._state(project_id)
        event = domain.decide(state, command, self._actor, now=self.ctx.now, today=self.ctx.today)
        if event.step is Step.county_approval and event.status_after is ProjectStatus.approved:
            await FundsService(self.ctx).draw_for_approval(project_id)
        updated = await self._append(project, state, event)
        await self._audit(
            f"project.{event.step.value}", updated, reason=event.reason, status=event.status_after.value
        )
        return ProjectStepResult(
            id=project_id,
            step=event.step,
            status=event.status_after,
            seq=state.events + 1,
            version=updated.version,
        )

    # -- implementation ------------------------------------------------------------------------------------------
    async def _progressed(self, project: Project, percent: int, done_on: date | None) -> Project:
        """The first progress on an approved project starts it (approved → in progress); then a new version."""
        if domain.progresses(percent, done_on):
            state = await self._state(project.id)
            started = domain.start(state, self._actor, now=self.ctx.now, today=self.ctx.today)
            if started is not None:
                return await self._append(project, state, started)
        return await self.repo.update(project.id, {})

    async def add_milestone(self, project_id: uuid.UUID, payload: MilestoneCreate) -> MilestonePublic:
        domain.require_role(self.principal.role, domain.REPORTERS, "report a project's implementation")
        project = await self._locked(project_id)
        domain.check_milestone(
            status=ProjectStatus(project.status),
            starts_on=project.starts_on,
            finishes_on=project.finishes_on,
            due_on=payload.due_on,
            percent=payload.percent,
            done_on=payload.done_on,
            today=self.ctx.today,
        )
        milestone = Milestone(
            id=uuid.uuid4(),
            project_id=project_id,
            name=payload.name,
            due_on=payload.due_on,
            percent=payload.percent,
            done_on=payload.done_on,
            note=payload.note,
            updated_at=self.ctx.now,
            updated_by=self.principal.sub,
        )
        await self.repo.insert_milestone(milestone)
        updated = await self._progressed(project, payload.percent, payload.done_on)
        await self._audit("project.milestone.create", updated, milestone_id=str(milestone.id))
        return _milestone_public(milestone)

    async def update_milestone(
        self, project_id: uuid.UUID, milestone_id: uuid.UUID, payload: MilestoneUpdate
    ) -> MilestonePublic:
        domain.require_role(self.principal.role, domain.REPORTERS, "report a project's implementation")
        project = await self._locked(project_id)
        current = await self.repo.milestone(project_id, milestone_id)
        if current is None:
            raise NotFound(f"milestone {milestone_id} not found")
        changes = {name: getattr(payload, name) for name in payload.model_fields_set}
        due_on: date = changes.get("due_on", current.due_on)
        percent: int = changes.get("percent", current.percent)
        done_on: date | None = changes.get("done_on", current.done_on)
        domain.check_milestone(
            status=ProjectStatus(project.status),
            starts_on=project.starts_on,
            finishes_on=project.finishes_on,
            due_on=due_on,
            percent=percent,
            done_on=done_on,
            today=self.ctx.today,
        )
        milestone = await self.repo.update_milestone(
            milestone_id, {**changes, "updated_at": self.ctx.now, "updated_by": self.principal.sub}
        )
        updated = await self._progressed(project, percent, done_on)
        await self._audit(
            "project.milestone.update", updated, milestone_id=str(milestone_id), fields=sorted(changes)
        )
        return _milestone_public(milestone)

    async def overdue(
        self, region: str | None, on: date | None, cursor: str | None, limit: int
    ) -> Page[OverdueMilestone]:
        """Milestones due before `on` (default today) and not done, of projects in scope being implemented."""
        day = on or self.ctx.today
        if region is not None and not (self.principal.covers(region) or self.principal.role is Role.cadre):
            return Page[OverdueMilestone](items=[], next_cursor=None)
        after = _after(cursor, _BY_DUE, (date, uuid.UUID))
        rows = await self.repo.overdue(
            on=day,
            region=region,
            paired=await self._paired(),
            after=after,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return Page[OverdueMilestone](
            items=rows,
            next_cursor=encode_cursor(_BY_DUE, last.due_on, last.milestone_id) if more and last else None,
        )

    async def add_attachment(
        self, project_id: uuid.UUID, content_type: str, data: bytes, milestone_id: uuid.UUID | None
    ) -> tuple[bool, ProjectAttachmentPublic]:
        """Store a photo or document (type by its bytes, size and count limits); the same bytes again answer the
        stored one."""
        domain.require_role(self.principal.role, domain.REPORTERS, "report a project's implementation")
        await self._locked(project_id)
        try:
            domain.check_attachment(content_type, data)
        except domain.AttachmentTypeRefused as exc:
            raise UnsupportedMediaType(exc.message, code=exc.code) from exc
        except domain.AttachmentTooLarge as exc:
            raise PayloadTooLarge(exc.message, code=exc.code) from exc
        if milestone_id is not None and await self.repo.milestone(project_id, milestone_id) is None:
            raise Invalid(
                "milestone_missing",
                f"milestone {milestone_id} is not a milestone of this project",
                field="milestone_id",
            )
        digest = hashlib.sha256(data).hexdigest()
        stored = await self.repo.attachment_by_hash(project_id, digest)
        if stored is not None:
            return False, stored
        domain.check_attachment_count(await self.repo.attachment_count(project_id))
        row = ProjectAttachment(
            id=uuid.uuid4(),
            project_id=project_id,
            milestone_id=milestone_id,
            sha256=digest,
            content_type=content_type,
            size=len(data),
            data=data,
            uploaded_at=self.ctx.now,
            uploaded_by=self.principal.sub,
        )
        await self.repo.insert_attachment(row)
        updated = await self.repo.update(project_id, {})
        await self._audit("project.attachment.create", updated, attachment_id=str(row.id), sha256=digest)
        return True, ProjectAttachmentPublic(
            id=row.id,
            milestone_id=milestone_id,
            sha256=digest,
            content_type=content_type,
            size=len(data),
            uploaded_at=row.uploaded_at,
            uploaded_by=row.uploaded_by,
        )

    async def attachment_bytes(self, project_id: uuid.UUID, attachment_id: uuid.UUID) -> AttachmentBytes:
        await self._visible(project_id)
        found = await self.repo.attachment_bytes(project_id, attachment_id)
        if found is None:
            raise NotFound(f"attachment {attachment_id} not found")
        return found

    # -- acceptance and assets -----------------------------------------------------------------------------------
    async def accept(
        self, project_id: uuid.UUID, version: int, payload: AcceptanceCreate
    ) -> AcceptanceRecorded:
        """The county's completion acceptance (验收): accepted, or rejected with its findings."""
        domain.require_level(Step.acceptance, self.principal.role)
        project = await self._locked(project_id, version)
        state = await self._state(project_id)
        open_milestones = [m.name for m in await self.repo.milestones(project_id) if m.done_on is None]
        record = AcceptanceRecord(
            accepted_on=payload.accepted_on,
            passed=payload.passed,
            findings=payload.findings,
            accepted_by=payload.accepted_by,
        )
        event = domain.accept(
            state,
            record,
            self._actor,
            starts_on=project.starts_on,
            open_milestones=open_milestones,
            now=self.ctx.now,
            today=self.ctx.today,
        )
        row = Acceptance(
            project_id=project_id,
            accepted_on=record.accepted_on,
            passed=record.passed,
            findings=record.findings,
            accepted_by=record.accepted_by,
            recorded_at=self.ctx.now,
            recorded_by=self.principal.sub,
        )
        await self.repo.insert_acceptance(row)
        updated = await self._append(project, state, event)
        await self._audit("project.acceptance", updated, passed=record.passed, status=updated.status)
        return AcceptanceRecorded(
            **_acceptance_public(row).model_dump(),
            status=ProjectStatus(updated.status),
            version=updated.version,
        )

    async def add_asset(self, project_id: uuid.UUID, payload: AssetCreate) -> AssetPublic:
        """An asset the accepted project formed (资产确权), its beneficiary households checked with the registry."""
        domain.require_role(self.principal.role, domain.ASSET_RECORDERS, "record a project's assets")
        project = await self._locked(project_id)
        ids = domain.unique(payload.beneficiary_household_ids)
        domain.check_asset(ProjectStatus(project.status), payload.owner_kind, ids)
        await self._households(ids, project, pointer="/beneficiary_household_ids")
        row = Asset(
            id=uuid.uuid4(),
            project_id=project_id,
            asset_type=payload.asset_type.value,
            description=payload.description,
            value_fen=fen(payload.value_yuan),
            owner_kind=payload.owner_kind.value,
            owner_name=payload.owner_name,
            beneficiary_household_ids=ids,
            recorded_at=self.ctx.now,
            recorded_by=self.principal.sub,
        )
        await self.repo.insert_asset(row)
        updated = await self.repo.update(project_id, {})
        await self._audit("project.asset.create", updated, asset_id=str(row.id), value_fen=row.value_fen)
        return _asset_public(row)


def _beneficiary_public(row: ProjectBeneficiary) -> BeneficiaryPublic:
    return BeneficiaryPublic(
        household_id=row.household_id,
        village_code=row.village_code,
        status_when_added=row.status_when_added,
        poor=domain.is_poor(row.status_when_added),
        added_at=row.added_at,
        added_by=row.added_by,
    )
