"""The assessment's own figures for a run (`sources.LocalFigures`): confirmed inspection findings, identification
accuracy and manual metrics (`inspections.repository.figures_for`), and assessors' scores of manual indicators
(`manual_scores.repository.manual_scores_for`), each one SQL statement in the run's transaction.

Counts of confirmed findings are given for every subject of the run (0 when none: a deduction indicator then
gives full points); identification accuracy only where households were checked; a manual metric only where an
assessor entered it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.inspections.repository import figures_for
from services.assessment.manual_scores.repository import manual_scores_for
from services.assessment.metrics.domain import SubjectType
from services.assessment.sources import LocalFigure, LocalManualScore
from shared.roles import scope_prefix

__all__ = ["AssessmentLocalFigures"]


class AssessmentLocalFigures:
    """`sources.LocalFigures` over the assessment's inspections and manual entries."""

    async def figures(
        self,
        session: AsyncSession,
        *,
        subject_type: str,
        region_code: str,
        year: int,
        metrics: Collection[str],
        subjects: Sequence[str],
    ) -> Iterable[LocalFigure]:
        rows = await figures_for(
            session,
            year,
            scope_prefix(region_code),
            SubjectType(subject_type),
            sorted(metrics),
            subjects=subjects,
        )
        return [LocalFigure(r.subject_id, r.metric_code, r.value) for r in rows]

    async def manual_scores(
        self,
        session: AsyncSession,
        *,
        subject_type: str,
        region_code: str,
        year: int,
        lineage_id: uuid.UUID,
        indicators: Collection[str],
        subjects: Sequence[str],
    ) -> Iterable[LocalManualScore]:
        wanted, known = set(indicators), set(subjects)
        rows = await manual_scores_for(session, year, scope_prefix(region_code), subject_type, lineage_id)
        return [
            LocalManualScore(r.subject_id, r.indicator_code, r.points, r.reason)
            for r in rows
            if r.indicator_code in wanted and r.subject_id in known
        ]
