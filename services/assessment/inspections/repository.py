"""Every SQL statement of inspections, findings, rectifications and evidence, each scoped in one place; and the
figures a run reads (`figures_for`, `effects_for`), each one statement.

Who sees what (the `_visible` of each repository):

- an **inspection**: callers whose region holds the region checked (the checking side, the province), callers
  inside it (the inspected townships and villages), and its inspectors (any role); cadres only as inspectors;
- a **finding**: callers whose region holds where it lies (a village sees its own, a township its villages'),
  and the inspection's inspectors;
- a **rectification**: callers whose region holds where it lies, and its owner (the user named, the user who
  answers for a unit);
- a service (role `service`) sees everything.

Out of scope reads as missing. A write locks its row first (`FOR UPDATE`), so the steps of one record are
serialised; the unfinished rectification of a finding is unique in the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.inspections import domain
from services.assessment.inspections.domain import (
    FINDING_SUBJECTS_FOR,
    OVERDUE_STATUSES,
    FindingStatus,
    RectificationStatus,
)
from services.assessment.metrics.domain import CATALOGUE, MetricSource, SubjectType
from services.assessment.models import (
    Evidence,
    Finding,
    Inspection,
    InspectionSample,
    Rectification,
    RectificationEvent,
)
from shared.context import Context
from shared.db import execute, scope_filter
from shared.errors import Refused
from shared.roles import PREFIX_LENGTH, Principal, RegionLevel, Role

__all__ = [
    "EvidenceBytes",
    "EvidenceRepository",
    "FigureRow",
    "FindingRepository",
    "InspectionRepository",
    "RectificationRepository",
    "effects_for",
    "figures_for",
]


def _sees_all(principal: Principal) -> bool:
    return principal.role is Role.service


def _region_clause(principal: Principal, column: Any) -> ColumnElement[bool]:
    """The caller's region holds the record's (cadres have no region scope: their pairings are their scope)."""
    if principal.role is Role.cadre:
        return sa.false()
    return scope_filter(principal, column)


# -- inspections ------------------------------------------------------------------------------------------------
class InspectionRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _visible(self) -> ColumnElement[bool]:
        principal = self.ctx.principal
        if _sees_all(principal):
            return sa.true()
        clauses: list[ColumnElement[bool]] = [
            _region_clause(principal, col(Inspection.region_code)),
            sa.literal(principal.sub).op("=")(sa.func.any(col(Inspection.inspectors))),
        ]
        if principal.role is not Role.cadre:
            # Inside the region checked: the inspected townships and villages see the check.
            clauses.append(sa.literal(principal.region).startswith(col(Inspection.scope_prefix)))
        return sa.or_(*clauses)

    async def get(self, inspection_id: uuid.UUID, *, lock: bool = False) -> Inspection | None:
        query = select(Inspection).where(col(Inspection.id) == inspection_id, self._visible())
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def page(
        self,
        *,
        year: int | None,
        level: str | None,
        status: str | None,
        region: str | None,
        after: tuple[int, datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Inspection]:
        """Inspections in view, newest year first, then newest created (keyset on year, created_at, id)."""
        query = select(Inspection).where(self._visible())
        if year is not None:
            query = query.where(col(Inspection.year) == year)
        if level is not None:
            query = query.where(col(Inspection.level) == level)
        if status is not None:
            query = query.where(col(Inspection.status) == status)
        if region is not None:
            query = query.where(col(Inspection.region_code).startswith(region, autoescape=True))
        key = (col(Inspection.year), col(Inspection.created_at), col(Inspection.id))
        if after is not None:
            query = query.where(sa.tuple_(*key) < sa.tuple_(*after))
        query = query.order_by(*(k.desc() for k in key)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def add(self, row: Inspection) -> None:
        self.session.add(row)
        await self.session.flush()

    async def update(self, inspection_id: uuid.UUID, values: dict[str, Any]) -> Inspection:
        """Change a locked inspection's columns (its revision + 1); the row as stored."""
        statement = (
            sa.update(Inspection)
            .where(col(Inspection.id) == inspection_id)
            .values(**values, revision=col(Inspection.revision) + 1, updated_at=self.ctx.now)
            .returning(Inspection)
        )
        row = (await self.session.exec(statement.execution_options(populate_existing=True))).scalar_one()
        assert isinstance(row, Inspection)
        return row

    async def tallies(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        """Findings per status of each inspection."""
        if not ids:
            return {}
        statement = (
            sa.select(col(Finding.inspection_id), col(Finding.status), sa.func.count())
            .where(col(Finding.inspection_id).in_(list(ids)))
            .group_by(col(Finding.inspection_id), col(Finding.status))
        )
        out: dict[uuid.UUID, dict[str, int]] = {}
        for inspection_id, status, n in (await execute(self.session, statement)).all():
            out.setdefault(inspection_id, {})[status] = int(n)
        return out

    async def add_sample(self, rows: Sequence[InspectionSample]) -> None:
        if rows:
            await self.session.exec(
                sa.insert(InspectionSample).values(
                    [
                        {
                            "inspection_id": r.inspection_id,
                            "household_id": r.household_id,
                            "village_code": r.village_code,
                            "stratum": r.stratum,
                            "rank": r.rank,
                        }
                        for r in rows
                    ]
                )
            )

    async def sample(
        self, inspection_id: uuid.UUID, *, after: tuple[str, int] | None, limit: int
    ) -> list[InspectionSample]:
        """The sample by township, then rank in the draw (keyset)."""
        query = select(InspectionSample).where(col(InspectionSample.inspection_id) == inspection_id)
        key = (col(InspectionSample.stratum), col(InspectionSample.rank))
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        query = query.order_by(*key).limit(limit)
        return list((await self.session.exec(query)).all())

    async def unreviewed(self, inspection_id: uuid.UUID) -> int:
        statement = sa.select(sa.func.count()).where(
            col(Finding.inspection_id) == inspection_id, col(Finding.status) == FindingStatus.reported.value
        )
        return int((await execute(self.session, statement)).scalar_one())


# -- findings ---------------------------------------------------------------------------------------------------
class FindingRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _visible(self) -> ColumnElement[bool]:
        principal = self.ctx.principal
        if _sees_all(principal):
            return sa.true()
        as_inspector = sa.select(col(Inspection.id)).where(
            sa.literal(principal.sub).op("=")(sa.func.any(col(Inspection.inspectors)))
        )
        return sa.or_(
            _region_clause(principal, col(Finding.region_code)),
            col(Finding.inspection_id).in_(as_inspector),
        )

    async def get(self, finding_id: uuid.UUID, *, lock: bool = False) -> Finding | None:
        query = select(Finding).where(col(Finding.id) == finding_id, self._visible())
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def inspection(self, inspection_id: uuid.UUID, *, lock: bool = False) -> Inspection:
        """A finding's inspection (whoever sees the finding may read what it belongs to)."""
        query = select(Inspection).where(col(Inspection.id) == inspection_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).one()

    async def inspections(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Inspection]:
        if not ids:
            return {}
        query = select(Inspection).where(col(Inspection.id).in_(list(set(ids))))
        return {row.id: row for row in (await self.session.exec(query)).all()}

    async def page(
        self,
        *,
        inspection_id: uuid.UUID | None,
        year: int | None,
        status: str | None,
        category: str | None,
        subject_type: str | None,
        subject_id: str | None,
        region: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Finding]:
        """Findings in view, newest reported first (keyset on reported_at, id)."""
        query = select(Finding).where(self._visible())
        for column, value in (
            (Finding.inspection_id, inspection_id),
            (Finding.year, year),
            (Finding.status, status),
            (Finding.category, category),
            (Finding.subject_type, subject_type),
            (Finding.subject_id, subject_id),
        ):
            if value is not None:
                query = query.where(col(column) == value)
        if region is not None:
            query = query.where(col(Finding.region_code).startswith(region, autoescape=True))
        key = (col(Finding.reported_at), col(Finding.id))
        if after is not None:
            query = query.where(sa.tuple_(*key) < sa.tuple_(*after))
        query = query.order_by(*(k.desc() for k in key)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def add(self, row: Finding) -> None:
        self.session.add(row)
        await self.session.flush()

    async def update(self, finding_id: uuid.UUID, values: dict[str, Any]) -> Finding:
        statement = (
            sa.update(Finding)
            .where(col(Finding.id) == finding_id)
            .values(**values, revision=col(Finding.revision) + 1, updated_at=self.ctx.now)
            .returning(Finding)
        )
        row = (await self.session.exec(statement.execution_options(populate_existing=True))).scalar_one()
        assert isinstance(row, Finding)
        return row


# -- rectifications ---------------------------------------------------------------------------------------------
class RectificationRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _visible(self) -> ColumnElement[bool]:
        principal = self.ctx.principal
        if _sees_all(principal):
            return sa.true()
        return sa.or_(
            _region_clause(principal, col(Rectification.region_code)),
            col(Rectification.responsible_sub) == principal.sub,
            sa.and_(col(Rectification.owner_kind) == "user", col(Rectification.owner_id) == principal.sub),
        )

    async def get(self, rectification_id: uuid.UUID, *, lock: bool = False) -> Rectification | None:
        query = select(Rectification).where(col(Rectification.id) == rectification_id, self._visible())
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def unfinished(self, finding_id: uuid.UUID) -> bool:
        query = select(col(Rectification.id)).where(
            col(Rectification.finding_id) == finding_id,
            col(Rectification.status) != RectificationStatus.accepted.value,
        )
        return (await self.session.exec(query.limit(1))).first() is not None

    async def add(self, row: Rectification, event: RectificationEvent) -> None:
        """A new task with its first step (one savepoint); 409 when the finding got an unfinished task meanwhile."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
                self.session.add(event)
                await self.session.flush()
        except IntegrityError as exc:
            if "uq_assessment_rectification_unfinished" in str(exc.orig):
                raise Refused(
                    "rectification_open", "the finding has a rectification under way: accept or reopen it"
                ) from exc
            raise

    async def update(self, rectification_id: uuid.UUID, values: dict[str, Any]) -> Rectification:
        statement = (
            sa.update(Rectification)
            .where(col(Rectification.id) == rectification_id)
            .values(**values, revision=col(Rectification.revision) + 1, updated_at=self.ctx.now)
            .returning(Rectification)
        )
        row = (await self.session.exec(statement.execution_options(populate_existing=True))).scalar_one()
        assert isinstance(row, Rectification)
        return row

    async def add_event(
        self, rectification_id: uuid.UUID, step: str, note: str | None, deadline: date | None
    ) -> None:
        seq = (
            sa.select(sa.func.coalesce(sa.func.max(col(RectificationEvent.seq)), 0) + 1)
            .where(col(RectificationEvent.rectification_id) == rectification_id)
            .scalar_subquery()
        )
        await self.session.exec(
            sa.insert(RectificationEvent).values(
                rectification_id=rectification_id,
                seq=seq,
                step=step,
                note=note,
                deadline=deadline,
                at=self.ctx.now,
                by=self.ctx.principal.sub,
            )
        )

    async def events(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RectificationEvent]]:
        if not ids:
            return {}
        query = (
            select(RectificationEvent)
            .where(col(RectificationEvent.rectification_id).in_(list(ids)))
            .order_by(col(RectificationEvent.rectification_id), col(RectificationEvent.seq))
        )
        out: dict[uuid.UUID, list[RectificationEvent]] = {}
        for row in (await self.session.exec(query)).all():
            out.setdefault(row.rectification_id, []).append(row)
        return out

    async def findings(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Finding]:
        if not ids:
            return {}
        query = select(Finding).where(col(Finding.id).in_(list(set(ids))))
        return {row.id: row for row in (await self.session.exec(query)).all()}

    async def page(
        self,
        *,
        region: str | None,
        status: str | None,
        year: int | None,
        overdue: bool | None,
        today: date,
        after: tuple[date, uuid.UUID] | None,
        limit: int,
    ) -> list[Rectification]:
        """Tasks in view, nearest deadline first (keyset on deadline, id); `overdue` narrows to the tasks waiting
        for their owner past the deadline (or, false, to the others)."""
        query = select(Rectification).where(self._visible())
        if region is not None:
            query = query.where(col(Rectification.region_code).startswith(region, autoescape=True))
        if status is not None:
            query = query.where(col(Rectification.status) == status)
        if year is not None:
            query = query.where(col(Rectification.year) == year)
        late = sa.and_(
            col(Rectification.status).in_([s.value for s in OVERDUE_STATUSES]),
            col(Rectification.deadline) < today,
        )
        if overdue is True:
            query = query.where(late)
        elif overdue is False:
            query = query.where(sa.not_(late))
        key = (col(Rectification.deadline), col(Rectification.id))
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        query = query.order_by(*key).limit(limit)
        return list((await self.session.exec(query)).all())

    async def summary(self, region: str, year: int | None, today: date) -> list[tuple[str, dict[str, int]]]:
        """Tasks in view under `region`, counted per region code where they lie: per status, and overdue."""
        late = sa.and_(
            col(Rectification.status).in_([s.value for s in OVERDUE_STATUSES]),
            col(Rectification.deadline) < today,
        )
        statuses = [s.value for s in RectificationStatus]
        statement = (
            sa.select(
                col(Rectification.region_code),
                *(sa.func.count().filter(col(Rectification.status) == s) for s in statuses),
                sa.func.count().filter(late),
            )
            .where(self._visible(), col(Rectification.region_code).startswith(region, autoescape=True))
            .group_by(col(Rectification.region_code))
            .order_by(col(Rectification.region_code))
        )
        if year is not None:
            statement = statement.where(col(Rectification.year) == year)
        out: list[tuple[str, dict[str, int]]] = []
        for row in (await execute(self.session, statement)).all():
            counts = {s: int(n) for s, n in zip(statuses, row[1:-1], strict=True)}
            counts["overdue"] = int(row[-1])
            out.append((row[0], counts))
        return out


# -- evidence ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EvidenceBytes:
    sha256: str
    content_type: str
    data: bytes


_EVIDENCE_META = (
    col(Evidence.id),
    col(Evidence.owner_id),
    col(Evidence.sha256),
    col(Evidence.content_type),
    col(Evidence.size),
    col(Evidence.uploaded_at),
    col(Evidence.uploaded_by),
)


class EvidenceRepository:
    """Evidence of a record (`owner_type`, `owner_id`); the caller checked the record is in scope."""

    def __init__(self, ctx: Context) -> None:
        self.session = ctx.session

    async def of(self, owner_type: str, owner_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Evidence]]:
        """The metadata (no bytes) of each record's evidence, oldest first."""
        if not owner_ids:
            return {}
        statement = (
            sa.select(*_EVIDENCE_META)
            .where(col(Evidence.owner_type) == owner_type, col(Evidence.owner_id).in_(list(owner_ids)))
            .order_by(col(Evidence.uploaded_at), col(Evidence.id))
        )
        out: dict[uuid.UUID, list[Evidence]] = {}
        for row in (await execute(self.session, statement)).all():
            meta = Evidence(
                id=row.id,
                owner_type=owner_type,
                owner_id=row.owner_id,
                sha256=row.sha256,
                content_type=row.content_type,
                size=row.size,
                data=b"",
                uploaded_at=row.uploaded_at,
                uploaded_by=row.uploaded_by,
            )
            out.setdefault(row.owner_id, []).append(meta)
        return out

    async def by_hash(self, owner_type: str, owner_id: uuid.UUID, sha256: str) -> Evidence | None:
        found = await self.of(owner_type, [owner_id])
        return next((e for e in found.get(owner_id, []) if e.sha256 == sha256), None)

    async def count(self, owner_type: str, owner_id: uuid.UUID) -> int:
        statement = sa.select(sa.func.count()).where(
            col(Evidence.owner_type) == owner_type, col(Evidence.owner_id) == owner_id
        )
        return int((await execute(self.session, statement)).scalar_one())

    async def add(self, row: Evidence) -> None:
        self.session.add(row)
        await self.session.flush()

    async def content(
        self, owner_type: str, owner_id: uuid.UUID, evidence_id: uuid.UUID
    ) -> EvidenceBytes | None:
        statement = sa.select(col(Evidence.sha256), col(Evidence.content_type), col(Evidence.data)).where(
            col(Evidence.id) == evidence_id,
            col(Evidence.owner_type) == owner_type,
            col(Evidence.owner_id) == owner_id,
        )
        row = (await execute(self.session, statement)).first()
        return None if row is None else EvidenceBytes(row[0], row[1], row[2])


# -- the figures a run reads ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FigureRow:
    """One figure of one subject: (subject_id, metric_code, value)."""

    subject_id: str
    metric_code: str
    value: Decimal


_PLACE_DEPTH = {SubjectType.village: RegionLevel.village, SubjectType.township: RegionLevel.township}
_ABOVE = {SubjectType.village: RegionLevel.township, SubjectType.township: RegionLevel.county}
_TEXTS = ARRAY(sa.String)

_FIGURES_SQL = """
WITH rules AS (
    SELECT * FROM unnest(CAST(:rule_metric AS text[]), CAST(:rule_category AS text[]),
                         CAST(:rule_severity AS text[])) AS r(metric, category, severity)
),
confirmed AS (
    SELECT f.id, {subject} AS subject_id, f.subject_type, f.subject_id AS about, f.region_code, f.category,
           f.severity
    FROM assessment_finding f
    WHERE f.status = 'confirmed' AND f.year = :year AND f.region_code LIKE :prefix
      AND f.subject_type = ANY(CAST(:finding_subjects AS text[])) {place_filter}
),
counted AS (
    SELECT c.subject_id, r.metric, count(DISTINCT c.id) AS n
    FROM confirmed c JOIN rules r ON r.category = c.category AND (r.severity = '' OR r.severity = c.severity)
    GROUP BY c.subject_id, r.metric
),
checked AS (
    SELECT s.household_id, s.village_code AS region_code
    FROM assessment_inspection_sample s JOIN assessment_inspection i ON i.id = s.inspection_id
    WHERE :accuracy AND i.year = :year AND i.status = 'closed' AND s.village_code LIKE :prefix
    UNION
    SELECT CAST(c.about AS uuid), c.region_code FROM confirmed c WHERE :accuracy AND c.subject_type = 'household'
),
accuracy AS (
    SELECT {checked_subject} AS subject_id, count(*) AS checked,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM confirmed m
               WHERE m.subject_type = 'household' AND m.category = 'mis_identified'
                 AND m.about = CAST(k.household_id AS text))) AS mis
    FROM checked k GROUP BY 1
),
manual AS (
    SELECT DISTINCT ON (e.lineage_id) e.subject_id, e.metric_code, e.value
    FROM assessment_manual_entry e
    WHERE e.year = :year AND e.subject_type = :subject_type AND e.region_code LIKE :prefix
      AND e.metric_code = ANY(CAST(:manual_metrics AS text[]))
    ORDER BY e.lineage_id, e.version DESC
),
subjects AS (
    SELECT subject_id FROM confirmed
    UNION SELECT subject_id FROM accuracy
    UNION SELECT subject_id FROM manual
    UNION SELECT unnest(CAST(:subjects AS text[]))
)
SELECT s.subject_id, m.metric AS metric_code, CAST(coalesce(c.n, 0) AS numeric) AS value
FROM subjects s CROSS JOIN (SELECT DISTINCT metric FROM rules) m
LEFT JOIN counted c ON c.subject_id = s.subject_id AND c.metric = m.metric
UNION ALL
SELECT a.subject_id, 'identification_accuracy', round((a.checked - a.mis) * 100.0 / a.checked, 2)
FROM accuracy a WHERE a.checked > 0
UNION ALL
SELECT subject_id, metric_code, value FROM manual
ORDER BY 1, 2
"""


async def figures_for(
    session: AsyncSession,
    year: int,
    region_prefix: str,
    subject_type: SubjectType,
    metric_codes: Sequence[str],
    *,
    subjects: Sequence[str] = (),
) -> list[FigureRow]:
    """The inspection and manual figures of the subjects of `subject_type` under `region_prefix` for `year`, in one
    SQL statement: per subject and metric asked for, the count of confirmed findings (`domain.FINDING_COUNTS`),
    `identification_accuracy` (households checked — the samples of the year's closed inspections and the
    households of confirmed findings — without a confirmed mis-identification, x 100, two places; a subject with
    nothing checked has no figure) and the latest version of each manual entry.

    Subjects are those with a confirmed finding, a checked household or a manual entry, plus `subjects` (the run's
    own list): every one of them gets each count asked for, 0 when none (`domain.ZERO_WHEN_ABSENT`). Codes of
    other sources are ignored. Rows come ordered by subject, then metric."""
    wanted = set(metric_codes)
    counts = [c for c in domain.counts_for(subject_type) if c.metric in wanted]
    rule_metric: list[str] = []
    rule_category: list[str] = []
    rule_severity: list[str] = []
    for count in counts:
        for category in sorted(count.categories):
            for severity in sorted(count.severities) if count.severities else [None]:
                rule_metric.append(count.metric)
                rule_category.append(category.value)
                rule_severity.append(severity.value if severity else "")
    manual = sorted(
        code
        for code in wanted
        if code in CATALOGUE
        and CATALOGUE[code].source is MetricSource.manual
        and subject_type in CATALOGUE[code].subject_types
    )
    depth = _PLACE_DEPTH.get(subject_type)
    if depth is not None:
        n = PREFIX_LENGTH[depth]
        subject = f"rpad(left(f.region_code, {n}), 12, '0')"
        checked_subject = f"rpad(left(k.region_code, {n}), 12, '0')"
        place_filter = f"AND length(rtrim(f.region_code, '0')) > {PREFIX_LENGTH[_ABOVE[subject_type]]}"
        accuracy = domain.ACCURACY in wanted and subject_type in CATALOGUE[domain.ACCURACY].subject_types
    else:
        subject, checked_subject, place_filter, accuracy = "f.subject_id", "k.region_code", "", False
    finding_subjects = sorted(s.value for s in FINDING_SUBJECTS_FOR.get(subject_type, frozenset()))
    statement = sa.text(
        _FIGURES_SQL.format(subject=subject, checked_subject=checked_subject, place_filter=place_filter)
    ).bindparams(
        sa.bindparam("rule_metric", rule_metric, type_=_TEXTS),
        sa.bindparam("rule_category", rule_category, type_=_TEXTS),
        sa.bindparam("rule_severity", rule_severity, type_=_TEXTS),
        sa.bindparam("finding_subjects", finding_subjects, type_=_TEXTS),
        sa.bindparam("manual_metrics", manual, type_=_TEXTS),
        sa.bindparam("subjects", list(subjects), type_=_TEXTS),
        sa.bindparam("accuracy", accuracy, type_=sa.Boolean),
        sa.bindparam("year", year, type_=sa.Integer),
        sa.bindparam("prefix", region_prefix + "%", type_=sa.String),
        sa.bindparam("subject_type", subject_type.value, type_=sa.String),
    )
    result = await execute(session, statement)
    return [FigureRow(r[0], r[1], Decimal(r[2])) for r in result.all()]


@dataclass(frozen=True, slots=True)
class EffectRow:
    """A confirmed finding's own effect on a subject: `points` off indicator `code`, or the veto rule `code`."""

    subject_id: str
    finding_id: uuid.UUID
    kind: str
    code: str
    points: Decimal | None
    category: str
    description: str


async def effects_for(
    session: AsyncSession, year: int, region_prefix: str, subject_type: SubjectType
) -> list[EffectRow]:
    """The effects named by the confirmed findings of `year` under `region_prefix` on subjects of `subject_type`
    (the same subjects a finding counts for as in `figures_for`), by subject then finding: one statement."""
    depth = _PLACE_DEPTH.get(subject_type)
    finding_subjects = [s.value for s in FINDING_SUBJECTS_FOR.get(subject_type, frozenset())]
    if depth is not None:
        n = PREFIX_LENGTH[depth]
        subject: Any = sa.func.rpad(sa.func.left(col(Finding.region_code), n), 12, "0")
        extra = (
            sa.func.length(sa.func.rtrim(col(Finding.region_code), "0")) > PREFIX_LENGTH[_ABOVE[subject_type]]
        )
    else:
        subject, extra = col(Finding.subject_id), sa.true()
    statement = (
        sa.select(
            subject.label("subject_id"),
            col(Finding.id),
            col(Finding.effect_kind),
            col(Finding.effect_code),
            col(Finding.effect_points),
            col(Finding.category),
            col(Finding.description),
        )
        .where(
            col(Finding.status) == FindingStatus.confirmed.value,
            col(Finding.year) == year,
            col(Finding.region_code).startswith(region_prefix, autoescape=True),
            col(Finding.subject_type).in_(finding_subjects),
            col(Finding.effect_kind).is_not(None),
            extra,
        )
        .order_by(sa.text("subject_id"), col(Finding.id))
    )
    rows = (await execute(session, statement)).all()
    return [EffectRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
