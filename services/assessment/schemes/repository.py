"""Every SQL statement of assessment schemes, scoped in one place (`_visible`).

A scheme belongs to a county (`region_code`). A caller sees it when the county lies in the caller's scope (the
county's own admin, the province, a service) or the caller lies in the county (its township officers): the prefix
filter of `shared.db.scope_filter`, or the caller's own county. Out of scope reads as missing.

A write locks the scheme row first (`FOR UPDATE`), so the edits and steps of one version are serialised; the
flat rows (indicators, bands, rules, grades) are rewritten with the document while it is a draft.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, delete, select

from services.assessment.models import (
    AssessmentScheme,
    GradeBandRow,
    IndicatorBandRow,
    IndicatorRow,
    SchemeRule,
)
from services.assessment.schemes import domain
from shared.context import Context
from shared.db import scope_filter
from shared.errors import Refused

__all__ = ["FlatRows", "SchemeRepository"]

FlatRows = tuple[
    Sequence[IndicatorRow], Sequence[IndicatorBandRow], Sequence[SchemeRule], Sequence[GradeBandRow]
]
_FLAT = (IndicatorRow, IndicatorBandRow, SchemeRule, GradeBandRow)


class SchemeRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _visible(self) -> ColumnElement[bool]:
        principal = self.ctx.principal
        region = col(AssessmentScheme.region_code)
        clauses: list[ColumnElement[bool]] = [scope_filter(principal, region)]
        own = domain.county_of(principal.region)
        if own is not None:
            clauses.append(region == own)
        return sa.or_(*clauses)

    async def get(self, scheme_id: uuid.UUID, *, lock: bool = False) -> AssessmentScheme | None:
        """The scheme version in scope (locked for the rest of the transaction when `lock`)."""
        query = select(AssessmentScheme).where(col(AssessmentScheme.id) == scheme_id, self._visible())
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def page(
        self,
        *,
        subject_type: str | None,
        year: int | None,
        status: str | None,
        after: tuple[int, datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[AssessmentScheme]:
        """Scheme versions in scope, newest year first, then newest created (keyset on year, created_at, id)."""
        query = select(AssessmentScheme).where(self._visible())
        if subject_type is not None:
            query = query.where(col(AssessmentScheme.subject_type) == subject_type)
        if year is not None:
            query = query.where(col(AssessmentScheme.year) == year)
        if status is not None:
            query = query.where(col(AssessmentScheme.status) == status)
        key = (col(AssessmentScheme.year), col(AssessmentScheme.created_at), col(AssessmentScheme.id))
        if after is not None:
            query = query.where(sa.tuple_(*key) < sa.tuple_(*after))
        query = query.order_by(*(k.desc() for k in key)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def versions(
        self, lineage_id: uuid.UUID, *, after: int | None, limit: int
    ) -> list[AssessmentScheme]:
        """Every version of a scheme, oldest first (keyset on the version)."""
        query = select(AssessmentScheme).where(
            col(AssessmentScheme.lineage_id) == lineage_id, self._visible()
        )
        if after is not None:
            query = query.where(col(AssessmentScheme.version) > after)
        query = query.order_by(col(AssessmentScheme.version)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def add(self, row: AssessmentScheme, flat: FlatRows) -> None:
        """A new version with its flat rows (one savepoint); 409 `draft_open` when its scheme got an open draft
        meanwhile (the partial unique index `uq_assessment_scheme_open_draft`, or the version taken)."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
                for rows in flat:
                    self.session.add_all(list(rows))
                await self.session.flush()
        except IntegrityError as exc:
            if "uq_assessment_scheme" in str(exc.orig):
                raise Refused(
                    "draft_open", "a draft of this scheme was opened meanwhile: edit or publish it"
                ) from exc
            raise

    async def replace_flat(self, scheme_id: uuid.UUID, flat: FlatRows) -> None:
        for table in _FLAT:
            await self.session.exec(delete(table).where(col(table.scheme_id) == scheme_id))
        for rows in flat:
            self.session.add_all(list(rows))
        await self.session.flush()

    async def update(self, scheme_id: uuid.UUID, values: dict[str, Any]) -> AssessmentScheme:
        """Change a locked version's columns (its revision + 1); the row as stored."""
        statement = (
            sa.update(AssessmentScheme)
            .where(col(AssessmentScheme.id) == scheme_id)
            .values(**values, revision=col(AssessmentScheme.revision) + 1, updated_at=self.ctx.now)
            .returning(AssessmentScheme)
        )
        row = (await self.session.exec(statement.execution_options(populate_existing=True))).scalar_one()
        assert isinstance(row, AssessmentScheme)
        return row

    async def open_draft(self, lineage_id: uuid.UUID) -> bool:
        query = select(col(AssessmentScheme.id)).where(
            col(AssessmentScheme.lineage_id) == lineage_id,
            col(AssessmentScheme.status) == domain.SchemeStatus.draft.value,
        )
        return (await self.session.exec(query.limit(1))).first() is not None

    async def last_version(self, lineage_id: uuid.UUID) -> int:
        query = select(sa.func.max(col(AssessmentScheme.version))).where(
            col(AssessmentScheme.lineage_id) == lineage_id
        )
        return int((await self.session.exec(query)).one() or 0)

    async def supersede(self, lineage_id: uuid.UUID, newer: AssessmentScheme) -> list[uuid.UUID]:
        """Mark the lineage's older published versions as superseded by `newer` (they stay readable); their ids."""
        statement = (
            sa.update(AssessmentScheme)
            .where(
                col(AssessmentScheme.lineage_id) == lineage_id,
                col(AssessmentScheme.version) < newer.version,
                col(AssessmentScheme.status) == domain.SchemeStatus.published.value,
                col(AssessmentScheme.superseded_by).is_(None),
            )
            .values(
                superseded_by=newer.id, revision=col(AssessmentScheme.revision) + 1, updated_at=self.ctx.now
            )
            .returning(col(AssessmentScheme.id))
        )
        return [r for r in (await self.session.exec(statement)).scalars().all()]
