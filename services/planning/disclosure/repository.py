"""Every SQL statement of the public disclosure, scoped in one place (`_scope`).

The disclosure's projects are one village's, of one year (`starts_on`), in the disclosed statuses; the caller's
scope is applied to them here (`shared.db.scope_filter`; for a cadre, the villages where a household is paired
with them, which the service asked the registry for). Everything else (lines, events, milestones, acceptance,
the ledger's disbursements, beneficiaries) is read for those projects' ids only, each table in one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from services.planning.disclosure.domain import DISCLOSED_STATUSES
from services.planning.funds.domain import LedgerKind
from services.planning.models import (
    Acceptance,
    FundingLine,
    LedgerEntry,
    Milestone,
    Project,
    ProjectBeneficiary,
    ProjectEvent,
)
from services.planning.reports.domain import year_bounds
from shared.context import Context
from shared.db import execute, scope_filter
from shared.roles import Role

__all__ = ["DisclosureRepository"]


class DisclosureRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    def _scope(self, paired_villages: Collection[str] | None) -> sa.ColumnElement[bool]:
        if self.principal.role is Role.cadre:
            return (
                col(Project.village_code).in_(sorted(paired_villages or ()))
                if paired_villages
                else sa.false()
            )
        return scope_filter(self.principal, col(Project.village_code))

    async def projects(
        self, village_code: str, year: int, *, paired_villages: Collection[str] | None = None
    ) -> list[Project]:
        """The village's disclosed projects starting in `year`, by start date, name and id."""
        first, after = year_bounds(year)
        query = (
            select(Project)
            .where(
                col(Project.village_code) == village_code,
                self._scope(paired_villages),
                col(Project.starts_on) >= first,
                col(Project.starts_on) < after,
                col(Project.status).in_(sorted(s.value for s in DISCLOSED_STATUSES)),
            )
            .order_by(col(Project.starts_on), col(Project.name), col(Project.id))
        )
        return list((await self.session.exec(query)).all())

    async def lines(self, project_ids: Sequence[uuid.UUID]) -> list[FundingLine]:
        query = (
            select(FundingLine)
            .where(col(FundingLine.project_id).in_(list(project_ids)))
            .order_by(col(FundingLine.source), col(FundingLine.funder), col(FundingLine.created_at))
        )
        return list((await self.session.exec(query)).all())

    async def events(self, project_ids: Sequence[uuid.UUID]) -> list[ProjectEvent]:
        query = (
            select(ProjectEvent)
            .where(col(ProjectEvent.project_id).in_(list(project_ids)))
            .order_by(col(ProjectEvent.project_id), col(ProjectEvent.seq))
        )
        return list((await self.session.exec(query)).all())

    async def milestones(self, project_ids: Sequence[uuid.UUID]) -> list[Milestone]:
        query = (
            select(Milestone)
            .where(col(Milestone.project_id).in_(list(project_ids)))
            .order_by(col(Milestone.due_on), col(Milestone.id))
        )
        return list((await self.session.exec(query)).all())

    async def acceptances(self, project_ids: Sequence[uuid.UUID]) -> list[Acceptance]:
        query = select(Acceptance).where(col(Acceptance.project_id).in_(list(project_ids)))
        return list((await self.session.exec(query)).all())

    async def disbursements(self, project_ids: Sequence[uuid.UUID]) -> list[LedgerEntry]:
        """Every disbursement from the projects' lines, reversals included, by date then as recorded."""
        query = (
            select(LedgerEntry)
            .where(
                col(LedgerEntry.project_id).in_(list(project_ids)),
                col(LedgerEntry.kind) == LedgerKind.disbursement.value,
            )
            .order_by(col(LedgerEntry.entry_date), col(LedgerEntry.id))
        )
        return list((await self.session.exec(query)).all())

    async def beneficiaries(self, project_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(project id, household id) of the projects' beneficiaries."""
        statement = (
            sa.select(col(ProjectBeneficiary.project_id), col(ProjectBeneficiary.household_id))
            .where(col(ProjectBeneficiary.project_id).in_(list(project_ids)))
            .order_by(col(ProjectBeneficiary.project_id), col(ProjectBeneficiary.household_id))
        )
        rows: Any = (await execute(self.session, statement)).all()
        return [(project_id, household_id) for project_id, household_id in rows]
