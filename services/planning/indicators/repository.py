"""Every SQL statement of the indicator catalogue. What a caller sees is decided here, once (`_visible`).

The shipped catalogue (`county_code` NULL) is everyone's; a county's own indicators are seen inside that county
(by its own officers, and by callers whose scope covers it: the province, the county itself). Plans use the
indicators of their village's county (`for_county`).
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from services.planning.indicators import domain
from services.planning.models import Indicator
from shared.context import Context
from shared.db import scope_filter
from shared.errors import Refused

__all__ = ["IndicatorRepository"]


class IndicatorRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _visible(self) -> ColumnElement[bool]:
        principal = self.ctx.principal
        county = col(Indicator.county_code)
        clauses: list[ColumnElement[bool]] = [county.is_(None), scope_filter(principal, county)]
        own = domain.county_of(principal.region)
        if own is not None:
            clauses.append(county == own)
        return sa.or_(*clauses)

    async def get(self, code: str) -> Indicator | None:
        query = select(Indicator).where(col(Indicator.code) == code, self._visible())
        return (await self.session.exec(query)).first()

    async def page(
        self,
        *,
        origin: domain.IndicatorOrigin | None,
        unit: domain.Unit | None,
        after: str | None,
        limit: int,
    ) -> list[Indicator]:
        query = select(Indicator).where(self._visible())
        if origin is domain.IndicatorOrigin.catalogue:
            query = query.where(col(Indicator.county_code).is_(None))
        elif origin is domain.IndicatorOrigin.county:
            query = query.where(col(Indicator.county_code).is_not(None))
        if unit is not None:
            query = query.where(col(Indicator.unit) == unit.value)
        if after is not None:
            query = query.where(col(Indicator.code) > after)
        return list((await self.session.exec(query.order_by(col(Indicator.code)).limit(limit))).all())

    async def add(self, row: Indicator) -> Indicator:
        """Insert a county's indicator; 409 `indicator_exists` when the code is taken (codes are global)."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            raise Refused(
                "indicator_exists", f"indicator {row.code} exists already", code_taken=row.code
            ) from exc
        return row

    async def for_county(
        self, codes: Collection[str], county_code: str | None
    ) -> dict[str, domain.IndicatorDef]:
        """The indicators among `codes` that a plan of a village of `county_code` may target: the shipped ones and
        the county's own (not scoped by the caller: the plan's village decides)."""
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        county = col(Indicator.county_code)
        owner = county.is_(None) if county_code is None else sa.or_(county.is_(None), county == county_code)
        rows = (
            await self.session.exec(select(Indicator).where(col(Indicator.code).in_(wanted), owner))
        ).all()
        return {
            r.code: domain.IndicatorDef(
                r.code, domain.Unit(r.unit), domain.Direction(r.direction), r.county_code
            )
            for r in rows
        }

    async def labels(self, codes: Collection[str]) -> dict[str, Indicator]:
        """The rows of `codes` (for labels beside a plan's targets; the plan itself was found in scope)."""
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        rows = (await self.session.exec(select(Indicator).where(col(Indicator.code).in_(wanted)))).all()
        return {r.code: r for r in rows}
