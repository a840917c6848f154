"""Every SQL statement of the project library, scoped by the caller's region in one place (`_scope`).

A project is in scope when its `village_code` lies in the caller's region (`shared.db.scope_filter`); for a cadre,
when one of its beneficiaries is a household the cadre is paired with today (the ids the registry gave the
service, `paired`). Everything else of a project (events, beneficiaries, milestones, attachments, acceptance,
assets) is addressed through a project already found in scope in the same transaction. Rows come back as the
SQLModel classes of services/planning/models.py, re-read on every query (`populate_existing`), or as the schema
objects they are shown as.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from services.planning.models import (
    Acceptance,
    Asset,
    Milestone,
    Plan,
    Project,
    ProjectAttachment,
    ProjectBeneficiary,
    ProjectEvent,
)
from services.planning.projects.domain import OVERDUE_STATUSES, POOR_STATUSES, Event
from services.planning.projects.schemas import OverdueMilestone, ProjectAttachmentPublic, ProjectQuery
from shared.context import Context
from shared.db import CODE_COLLATION, execute, scope_filter
from shared.roles import Role, scope_prefix

__all__ = ["AttachmentBytes", "BeneficiaryCounts", "ProjectRepository"]

_UUID = UUID(as_uuid=True)
_CODE = sa.String(12, collation=CODE_COLLATION)

#: A project's attachment metadata (every column but the bytes).
_ATTACHMENT_META = (
    col(ProjectAttachment.id),
    col(ProjectAttachment.milestone_id),
    col(ProjectAttachment.sha256),
    col(ProjectAttachment.content_type),
    col(ProjectAttachment.size),
    col(ProjectAttachment.uploaded_at),
    col(ProjectAttachment.uploaded_by),
)


@dataclass(frozen=True, slots=True)
class AttachmentBytes:
    sha256: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class BeneficiaryCounts:
    households: int
    poor_households: int


def _meta(row: Sequence[Any]) -> ProjectAttachmentPublic:
    aid, milestone_id, sha256, content_type, size, uploaded_at, uploaded_by = row
    return ProjectAttachmentPublic(
        id=aid,
        milestone_id=milestone_id,
        sha256=sha256,
        content_type=content_type,
        size=size,
        uploaded_at=uploaded_at,
        uploaded_by=uploaded_by,
    )


class ProjectRepository:
    """planning_project and the tables hanging off it (events, beneficiaries, milestones, attachments,
    acceptance, assets); reads of planning_plan for a project's plan."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    # -- scope ---------------------------------------------------------------------------------------------------
    def _scope(self, paired: Collection[uuid.UUID] | None = None) -> sa.ColumnElement[bool]:
        """The projects the caller may see: their region's, or for a cadre those benefiting a household they are
        paired with (`paired`, from the registry)."""
        if self.principal.role is Role.cadre:
            if not paired:
                return sa.false()
            return sa.exists(
                sa.select(sa.literal(1)).where(
                    col(ProjectBeneficiary.project_id) == col(Project.id),
                    col(ProjectBeneficiary.household_id).in_(list(paired)),
                )
            )
        return scope_filter(self.principal, col(Project.village_code))

    # -- projects ------------------------------------------------------------------------------------------------
    async def lock(self, project_id: uuid.UUID) -> Project | None:
        """The project in the caller's region, locked for the rest of the transaction (every write starts here)."""
        query = (
            select(Project)
            .where(col(Project.id) == project_id, self._scope())
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def get(self, project_id: uuid.UUID, paired: Collection[uuid.UUID] | None) -> Project | None:
        query = (
            select(Project)
            .where(col(Project.id) == project_id, self._scope(paired))
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def insert(self, row: Project) -> None:
        self.session.add(row)
        await self.session.flush()

    async def update(self, project_id: uuid.UUID, values: Mapping[str, Any]) -> Project:
        """Write `values`, bump the version; the project after it."""
        await self.session.exec(
            sa.update(Project)
            .where(col(Project.id) == project_id)
            .values(**values, version=col(Project.version) + 1, updated_at=self.ctx.now)
        )
        query = select(Project).where(col(Project.id) == project_id).execution_options(populate_existing=True)
        return (await self.session.exec(query)).one()

    async def plan_village(self, plan_id: uuid.UUID) -> str | None:
        """The village of a plan in the caller's region (None: no such plan, or one outside it, which looks the
        same)."""
        query = select(col(Plan.village_code)).where(
            col(Plan.id) == plan_id, scope_filter(self.principal, col(Plan.village_code))
        )
        village: str | None = (await self.session.exec(query)).first()
        return village

    async def page(
        self,
        query: ProjectQuery,
        paired: Collection[uuid.UUID] | None,
        after: tuple[str, uuid.UUID] | None,
    ) -> list[Project]:
        """One keyset page of the projects in scope matching the filters, by village then id, after the key
        `after` (village_code, id): `query.limit + 1` rows, to know whether more follow."""
        statement = select(Project).where(self._scope(paired))
        if query.region is not None:
            statement = statement.where(
                col(Project.village_code).startswith(scope_prefix(query.region), autoescape=True)
            )
        if query.status is not None:
            statement = statement.where(col(Project.status) == query.status.value)
        if query.category is not None:
            statement = statement.where(col(Project.category) == query.category.value)
        if query.plan_id is not None:
            statement = statement.where(col(Project.plan_id) == query.plan_id)
        if query.year is not None:  # the schedule overlaps the year
            statement = statement.where(
                col(Project.starts_on) <= date(query.year, 12, 31),
                sa.or_(
                    col(Project.finishes_on).is_(None), col(Project.finishes_on) >= date(query.year, 1, 1)
                ),
            )
        if after is not None:
            statement = statement.where(
                sa.tuple_(col(Project.village_code), col(Project.id))
                > sa.tuple_(sa.literal(after[0], _CODE), sa.literal(after[1], _UUID))
            )
        statement = statement.order_by(col(Project.village_code), col(Project.id)).limit(query.limit + 1)
        return list((await self.session.exec(statement)).all())

    # -- events --------------------------------------------------------------------------------------------------
    async def events(self, project_id: uuid.UUID) -> list[ProjectEvent]:
        query = (
            select(ProjectEvent)
            .where(col(ProjectEvent.project_id) == project_id)
            .order_by(col(ProjectEvent.seq))
            .execution_options(populate_existing=True)
        )
        return list((await self.session.exec(query)).all())

    async def append(self, project_id: uuid.UUID, seq: int, event: Event) -> None:
        await self.session.exec(
            sa.insert(ProjectEvent).values(
                project_id=project_id,
                seq=seq,
                step=event.step.value,
                data=event.stored_data(),
                reason=event.reason,
                status_after=event.status_after.value,
                at=event.at,
                actor=event.actor,
                role=event.role.value,
            )
        )

    # -- beneficiaries -------------------------------------------------------------------------------------------
    async def replace_beneficiaries(self, project_id: uuid.UUID, rows: Sequence[Mapping[str, Any]]) -> None:
        """The project's beneficiaries become exactly `rows`."""
        await self.session.exec(
            sa.delete(ProjectBeneficiary).where(col(ProjectBeneficiary.project_id) == project_id)
        )
        if rows:
            await self.session.exec(sa.insert(ProjectBeneficiary), params=list(rows))

    async def add_beneficiaries(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add `rows`; a household already there keeps its row with its status refreshed."""
        if not rows:
            return
        statement = pg_insert(ProjectBeneficiary).values(list(rows))
        await self.session.exec(
            statement.on_conflict_do_update(
                index_elements=["project_id", "household_id"],
                set_={
                    "status_when_added": statement.excluded.status_when_added,
                    "village_code": statement.excluded.village_code,
                },
            )
        )

    async def beneficiary_counts(self, project_id: uuid.UUID) -> BeneficiaryCounts:
        poor = col(ProjectBeneficiary.status_when_added).in_(sorted(POOR_STATUSES))
        statement = sa.select(sa.func.count(), sa.func.count().filter(poor)).where(
            col(ProjectBeneficiary.project_id) == project_id
        )
        households, poor_households = (await execute(self.session, statement)).one()
        return BeneficiaryCounts(int(households), int(poor_households))

    async def beneficiaries(
        self, project_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[ProjectBeneficiary]:
        query = select(ProjectBeneficiary).where(col(ProjectBeneficiary.project_id) == project_id)
        if after is not None:
            query = query.where(col(ProjectBeneficiary.household_id) > after)
        query = query.order_by(col(ProjectBeneficiary.household_id)).limit(limit)
        return list((await self.session.exec(query.execution_options(populate_existing=True))).all())

    # -- milestones ----------------------------------------------------------------------------------------------
    async def milestones(self, project_id: uuid.UUID) -> list[Milestone]:
        query = (
            select(Milestone)
            .where(col(Milestone.project_id) == project_id)
            .order_by(col(Milestone.due_on), col(Milestone.id))
            .execution_options(populate_existing=True)
        )
        return list((await self.session.exec(query)).all())

    async def milestone(self, project_id: uuid.UUID, milestone_id: uuid.UUID) -> Milestone | None:
        query = (
            select(Milestone)
            .where(col(Milestone.id) == milestone_id, col(Milestone.project_id) == project_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def insert_milestone(self, row: Milestone) -> None:
        self.session.add(row)
        await self.session.flush()

    async def update_milestone(self, milestone_id: uuid.UUID, values: Mapping[str, Any]) -> Milestone:
        await self.session.exec(
            sa.update(Milestone).where(col(Milestone.id) == milestone_id).values(**values)
        )
        query = (
            select(Milestone)
            .where(col(Milestone.id) == milestone_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).one()

    async def overdue(
        self,
        *,
        on: date,
        region: str | None,
        paired: Collection[uuid.UUID] | None,
        after: tuple[date, uuid.UUID] | None,
        limit: int,
    ) -> list[OverdueMilestone]:
        """Milestones due before `on` and not done, of projects in scope being implemented, by due date."""
        statement = (
            sa.select(
                col(Project.id),
                col(Project.name),
                col(Project.village_code),
                col(Milestone.id),
                col(Milestone.name),
                col(Milestone.due_on),
                col(Milestone.percent),
            )
            .join(Project, col(Project.id) == col(Milestone.project_id))
            .where(
                self._scope(paired),
                col(Milestone.done_on).is_(None),
                col(Milestone.due_on) < on,
                col(Project.status).in_(sorted(s.value for s in OVERDUE_STATUSES)),
            )
        )
        if region is not None:
            statement = statement.where(
                col(Project.village_code).startswith(scope_prefix(region), autoescape=True)
            )
        if after is not None:
            statement = statement.where(
                sa.tuple_(col(Milestone.due_on), col(Milestone.id))
                > sa.tuple_(sa.literal(after[0], sa.Date), sa.literal(after[1], _UUID))
            )
        statement = statement.order_by(col(Milestone.due_on), col(Milestone.id)).limit(limit)
        return [
            OverdueMilestone(
                project_id=pid,
                project_name=pname,
                village_code=village,
                milestone_id=mid,
                name=name,
                due_on=due,
                percent=percent,
                days_overdue=(on - due).days,
            )
            for pid, pname, village, mid, name, due, percent in (await execute(self.session, statement)).all()
        ]

    # -- attachments ---------------------------------------------------------------------------------------------
    async def attachments(self, project_id: uuid.UUID) -> list[ProjectAttachmentPublic]:
        statement = (
            sa.select(*_ATTACHMENT_META)
            .where(col(ProjectAttachment.project_id) == project_id)
            .order_by(col(ProjectAttachment.uploaded_at), col(ProjectAttachment.id))
        )
        return [_meta(r) for r in (await execute(self.session, statement)).all()]

    async def attachment_by_hash(self, project_id: uuid.UUID, sha256: str) -> ProjectAttachmentPublic | None:
        statement = sa.select(*_ATTACHMENT_META).where(
            col(ProjectAttachment.project_id) == project_id, col(ProjectAttachment.sha256) == sha256
        )
        row = (await execute(self.session, statement)).first()
        return None if row is None else _meta(row)

    async def attachment_count(self, project_id: uuid.UUID) -> int:
        statement = sa.select(sa.func.count()).where(col(ProjectAttachment.project_id) == project_id)
        return int((await execute(self.session, statement)).scalar_one())

    async def insert_attachment(self, row: ProjectAttachment) -> None:
        self.session.add(row)
        await self.session.flush()

    async def attachment_bytes(
        self, project_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> AttachmentBytes | None:
        statement = sa.select(
            col(ProjectAttachment.sha256), col(ProjectAttachment.content_type), col(ProjectAttachment.data)
        ).where(col(ProjectAttachment.id) == attachment_id, col(ProjectAttachment.project_id) == project_id)
        row = (await execute(self.session, statement)).first()
        return (
            None if row is None else AttachmentBytes(sha256=row[0], content_type=row[1], data=bytes(row[2]))
        )

    # -- acceptance and assets -----------------------------------------------------------------------------------
    async def acceptance(self, project_id: uuid.UUID) -> Acceptance | None:
        query = (
            select(Acceptance)
            .where(col(Acceptance.project_id) == project_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def insert_acceptance(self, row: Acceptance) -> None:
        self.session.add(row)
        await self.session.flush()

    async def assets(self, project_id: uuid.UUID) -> list[Asset]:
        query = (
            select(Asset)
            .where(col(Asset.project_id) == project_id)
            .order_by(col(Asset.recorded_at), col(Asset.id))
            .execution_options(populate_existing=True)
        )
        return list((await self.session.exec(query)).all())

    async def insert_asset(self, row: Asset) -> None:
        self.session.add(row)
        await self.session.flush()
