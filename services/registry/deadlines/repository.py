"""The SQL of reported uploads, scoped by the caller's region prefix; the update deadline's figure is read through
the figures feature's repository (one statement for every township of the region)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from services.registry.figures.domain import SubjectType, period
from services.registry.figures.repository import FigureRepository
from services.registry.models import DataUpload
from shared.context import Context
from shared.db import execute, scope_filter
from shared.figures import FigureQuery

__all__ = ["DeadlineRepository"]


class DeadlineRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def uploads(self, codes: list[str], year: int) -> dict[str, DataUpload]:
        query = select(DataUpload).where(
            scope_filter(self.ctx.principal, col(DataUpload.region_code)),
            col(DataUpload.region_code).in_(codes),
            col(DataUpload.year) == year,
        )
        return {row.region_code: row for row in (await self.session.exec(query)).all()}

    async def add_upload(self, code: str, year: int, reference: str, at: datetime) -> DataUpload:
        """Record the upload; the first report stands (a second one returns it unchanged)."""
        statement = (
            pg_insert(DataUpload)
            .values(
                region_code=code,
                year=year,
                uploaded_at=at,
                uploaded_by=self.ctx.principal.sub,
                reference=reference,
            )
            .on_conflict_do_nothing()
        )
        await execute(self.session, statement)
        row = await self.session.get(DataUpload, (code, year))
        assert row is not None
        return row

    async def updates_met(self, region: str, year: int) -> dict[str, bool | None]:
        """`deadline_jan_update_met` of year+1 per township under `region` (registry figures)."""
        figures = FigureRepository(self.ctx)
        when = period(year + 1, self.ctx.today)
        page = await figures.page(SubjectType.township, FigureQuery(region=region, year=year + 1), when)
        return {row.id: row.figures.deadline_jan_update_met for row in page.items}  # type: ignore[attr-defined]
