"""Every SQL statement of manual entries, scoped in one place (`_visible`: the entry's region lies in the caller's;
a service sees all); and the manual scores a run reads (`manual_scores_for`, one statement).

Entries are append-only (a trigger refuses UPDATE and DELETE): a correction inserts the next version of the same
lineage. Corrections of one entry are serialised by locking its first version (`FOR UPDATE` takes a row lock and
changes nothing); the database refuses a second entry for the same subject, year and target, and a version taken
twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.models import AssessmentScheme, Evidence, IndicatorRow, ManualEntry
from services.assessment.schemes.domain import county_of
from shared.context import Context
from shared.db import execute, scope_filter
from shared.errors import Refused
from shared.roles import Role

__all__ = ["ManualEntryRepository", "ManualScoreRow", "manual_scores_for"]


def _newer() -> ColumnElement[bool]:
    """No later version of the same entry exists: this row is the one that counts."""
    later = aliased(ManualEntry)
    return ~sa.exists().where(
        col(later.lineage_id) == col(ManualEntry.lineage_id), col(later.version) > col(ManualEntry.version)
    )


class ManualEntryRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _visible(self) -> ColumnElement[bool]:
        principal = self.ctx.principal
        if principal.role is Role.service:
            return sa.true()
        if principal.role is Role.cadre:
            return sa.false()
        return scope_filter(principal, col(ManualEntry.region_code))

    async def get(self, entry_id: uuid.UUID) -> ManualEntry | None:
        query = select(ManualEntry).where(col(ManualEntry.id) == entry_id, self._visible())
        return (await self.session.exec(query)).first()

    async def lock_lineage(self, lineage_id: uuid.UUID) -> None:
        """Serialise corrections of one entry: a row lock on its first version."""
        query = select(col(ManualEntry.id)).where(col(ManualEntry.id) == lineage_id).with_for_update()
        await self.session.exec(query)

    async def latest(self, lineage_id: uuid.UUID) -> ManualEntry:
        query = (
            select(ManualEntry)
            .where(col(ManualEntry.lineage_id) == lineage_id)
            .order_by(col(ManualEntry.version).desc())
            .limit(1)
        )
        return (await self.session.exec(query)).one()

    async def latest_versions(self, lineage_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not lineage_ids:
            return {}
        statement = (
            sa.select(col(ManualEntry.lineage_id), sa.func.max(col(ManualEntry.version)))
            .where(col(ManualEntry.lineage_id).in_(list(set(lineage_ids))))
            .group_by(col(ManualEntry.lineage_id))
        )
        return {row[0]: int(row[1]) for row in (await execute(self.session, statement)).all()}

    async def by_key(self, subject_type: str, subject_id: str, year: int, target: str) -> ManualEntry | None:
        """The first version of the entry for this subject, year and target (any region: the key is global)."""
        query = select(ManualEntry).where(
            col(ManualEntry.subject_type) == subject_type,
            col(ManualEntry.subject_id) == subject_id,
            col(ManualEntry.year) == year,
            col(ManualEntry.target) == target,
            col(ManualEntry.version) == 1,
        )
        return (await self.session.exec(query)).first()

    async def add(self, row: ManualEntry) -> None:
        """Insert a version (one savepoint): 409 when the entry exists already or the version was taken."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            text = str(exc.orig)
            if "uq_assessment_manual_entry_key" in text:
                raise Refused(
                    "manual_entry_exists", "an entry for this subject, year and target exists: correct it"
                ) from exc
            if "uq_assessment_manual_entry_version" in text:
                raise Refused(
                    "manual_entry_corrected", "the entry was corrected meanwhile: read it again"
                ) from exc
            raise

    async def page(
        self,
        *,
        year: int | None,
        subject_type: str | None,
        subject_id: str | None,
        metric_code: str | None,
        region: str | None,
        after: tuple[str, str, uuid.UUID] | None,
        limit: int,
    ) -> list[ManualEntry]:
        """The latest version of each entry in view, by subject, target and entry (keyset)."""
        query = select(ManualEntry).where(self._visible(), _newer())
        for column, value in (
            (ManualEntry.year, year),
            (ManualEntry.subject_type, subject_type),
            (ManualEntry.subject_id, subject_id),
            (ManualEntry.metric_code, metric_code),
        ):
            if value is not None:
                query = query.where(col(column) == value)
        if region is not None:
            query = query.where(col(ManualEntry.region_code).startswith(region, autoescape=True))
        key = (col(ManualEntry.subject_id), col(ManualEntry.target), col(ManualEntry.lineage_id))
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        query = query.order_by(*key).limit(limit)
        return list((await self.session.exec(query)).all())

    async def versions(self, lineage_id: uuid.UUID) -> list[ManualEntry]:
        query = (
            select(ManualEntry)
            .where(col(ManualEntry.lineage_id) == lineage_id, self._visible())
            .order_by(col(ManualEntry.version))
        )
        return list((await self.session.exec(query)).all())

    async def scheme(self, scheme_id: uuid.UUID) -> AssessmentScheme | None:
        """A scheme version the caller's county holds (the county of the caller, or in the caller's scope)."""
        principal = self.ctx.principal
        region = col(AssessmentScheme.region_code)
        clauses: list[ColumnElement[bool]] = [scope_filter(principal, region)]
        own = county_of(principal.region)
        if own is not None:
            clauses.append(region == own)
        query = select(AssessmentScheme).where(col(AssessmentScheme.id) == scheme_id, sa.or_(*clauses))
        return (await self.session.exec(query)).first()

    async def indicator(self, scheme_id: uuid.UUID, code: str) -> IndicatorRow | None:
        query = select(IndicatorRow).where(
            col(IndicatorRow.scheme_id) == scheme_id, col(IndicatorRow.code) == code
        )
        return (await self.session.exec(query)).first()


@dataclass(frozen=True, slots=True)
class ManualScoreRow:
    """An assessor's latest score of a manual indicator for one subject, with the reason and the evidence's
    hashes (`scoring.domain.ManualScore`)."""

    subject_id: str
    indicator_code: str
    points: Decimal
    reason: str
    evidence: tuple[str, ...]
    evidence_required: bool


async def manual_scores_for(
    session: AsyncSession, year: int, region_prefix: str, subject_type: str, scheme_lineage_id: uuid.UUID
) -> list[ManualScoreRow]:
    """The latest score of every manual indicator of the scheme (any version of its lineage) for the subjects of
    `subject_type` under `region_prefix` in `year`, with its evidence: one statement, by subject then indicator."""
    evidence = (
        sa.select(
            sa.func.coalesce(sa.func.array_agg(sa.func.distinct(col(Evidence.sha256))), sa.text("'{}'"))
        )
        .where(col(Evidence.owner_type) == "manual_entry", col(Evidence.owner_id) == col(ManualEntry.id))
        .scalar_subquery()
    )
    statement = (
        sa.select(
            col(ManualEntry.subject_id),
            col(ManualEntry.indicator_code),
            col(ManualEntry.value),
            col(ManualEntry.reason),
            evidence,
            col(ManualEntry.evidence_required),
        )
        .where(
            col(ManualEntry.year) == year,
            col(ManualEntry.subject_type) == subject_type,
            col(ManualEntry.region_code).startswith(region_prefix, autoescape=True),
            col(ManualEntry.scheme_lineage_id) == scheme_lineage_id,
            col(ManualEntry.indicator_code).is_not(None),
            _newer(),
        )
        .order_by(col(ManualEntry.subject_id), col(ManualEntry.indicator_code))
    )
    rows = (await execute(session, statement)).all()
    return [
        ManualScoreRow(r[0], r[1], Decimal(r[2]), r[3], tuple(sorted(r[4] or ())), bool(r[5])) for r in rows
    ]
