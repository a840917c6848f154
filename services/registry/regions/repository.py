"""All registry SQL, scoped by the caller's region in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.registry.models import PolicyParameter, Quota, Region, RegionStatus
from shared.clock import utcnow
from shared.db import scope_filter
from shared.roles import Principal

__all__ = ["PolicyRepository", "QuotaRepository", "RegionRepository", "StatusRepository"]


class RegionRepository:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def _scoped(self) -> SelectOfScalar[Region]:
        return select(Region).where(scope_filter(self.principal, col(Region.code)))

    async def get(self, code: str) -> Region | None:
        return (await self.session.exec(self._scoped().where(Region.code == code))).first()

    async def exists_unscoped(self, code: str) -> bool:
        """Existence regardless of scope (for parent checks, never returned to the caller)."""
        return (await self.session.exec(select(Region.code).where(Region.code == code))).first() is not None

    async def nearest_ancestor(self, candidates: Sequence[str]) -> str | None:
        if not candidates:
            return None
        rows = (await self.session.exec(select(Region.code).where(col(Region.code).in_(candidates)))).all()
        found = set(rows)
        return next((c for c in candidates if c in found), None)

    async def page(
        self, *, parent_code: str | None, level: str | None, under: str | None, after: str | None, limit: int
    ) -> list[Region]:
        query = self._scoped()
        if parent_code is not None:
            query = query.where(Region.parent_code == parent_code)
        if level is not None:
            query = query.where(Region.level == level)
        if under is not None:
            query = query.where(col(Region.code).startswith(under, autoescape=True))
        if after is not None:
            query = query.where(col(Region.code) > after)
        return list((await self.session.exec(query.order_by(col(Region.code)).limit(limit))).all())

    async def lock(self, code: str) -> Region | None:
        """The region in scope, locked for the rest of the transaction (serialises writes about it)."""
        query = self._scoped().where(Region.code == code).with_for_update()
        return (await self.session.exec(query)).first()

    async def existing_unscoped(self, codes: Sequence[str]) -> dict[str, Region]:
        """Regions among `codes` regardless of scope (import validation; never returned to the caller)."""
        if not codes:
            return {}
        rows = (await self.session.exec(select(Region).where(col(Region.code).in_(codes)))).all()
        return {r.code: r for r in rows}

    async def children(self, code: str) -> list[Region]:
        query = self._scoped().where(Region.parent_code == code).order_by(col(Region.code))
        return list((await self.session.exec(query)).all())


class StatusRepository:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def for_region(self, code: str) -> list[RegionStatus]:
        query = (
            select(RegionStatus)
            .where(scope_filter(self.principal, col(RegionStatus.region_code)))
            .where(RegionStatus.region_code == code)
            .order_by(col(RegionStatus.year), col(RegionStatus.status))
        )
        return list((await self.session.exec(query)).all())

    async def replace(self, code: str, year: int, statuses: Sequence[str]) -> None:
        await self.session.exec(
            delete(RegionStatus)
            .where(scope_filter(self.principal, col(RegionStatus.region_code)))
            .where(col(RegionStatus.region_code) == code, col(RegionStatus.year) == year)
        )
        for status in statuses:
            self.session.add(
                RegionStatus(region_code=code, year=year, status=status, created_by=self.principal.sub)
            )
        await self.session.flush()


class PolicyRepository:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def newest_along(self, chain: Sequence[str], year: int) -> list[PolicyParameter]:
        """Newest version of every parameter defined by any region of `chain` for `year`.

        The chain is the caller's region and its ancestors: ancestors lie above the caller's scope by design
        (a county inherits the provincial line), so this read is deliberately not scope-filtered; the service
        checks that the region asked about is in scope before calling it.
        """
        if not chain:
            return []
        query = (
            select(PolicyParameter)
            .where(col(PolicyParameter.region_code).in_(chain), PolicyParameter.year == year)
            .ext(distinct_on(col(PolicyParameter.region_code), col(PolicyParameter.name)))
            .order_by(
                col(PolicyParameter.region_code),
                col(PolicyParameter.name),
                col(PolicyParameter.version).desc(),
            )
        )
        return list((await self.session.exec(query)).all())

    async def append(
        self,
        *,
        code: str,
        year: int,
        name: str,
        value: Decimal,
        reason: str,
        valid_from: datetime | None = None,
    ) -> PolicyParameter:
        """Add the next version of (code, year, name); a concurrent append fails on the unique constraint."""
        current = (
            await self.session.exec(
                select(sa.func.max(PolicyParameter.version))
                .where(scope_filter(self.principal, col(PolicyParameter.region_code)))
                .where(
                    PolicyParameter.region_code == code,
                    PolicyParameter.year == year,
                    PolicyParameter.name == name,
                )
            )
        ).one()
        row = PolicyParameter(
            region_code=code,
            year=year,
            name=name,
            value=value,
            version=(current or 0) + 1,
            valid_from=valid_from or utcnow(),
            created_by=self.principal.sub,
            reason=reason,
        )
        self.session.add(row)
        await self.session.flush()
        return row


class QuotaRepository:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def _scoped(self) -> SelectOfScalar[Quota]:
        return select(Quota).where(scope_filter(self.principal, col(Quota.region_code)))

    async def get(self, code: str, year: int, *, lock: bool = False) -> Quota | None:
        query = self._scoped().where(Quota.region_code == code, Quota.year == year)
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def children_sum(self, parent_code: str, year: int, *, excluding: str | None = None) -> int:
        query = (
            select(sa.func.coalesce(sa.func.sum(Quota.people), 0))
            .select_from(Quota)
            .join(Region, col(Region.code) == col(Quota.region_code))
            .where(scope_filter(self.principal, col(Quota.region_code)))
            .where(Region.parent_code == parent_code, Quota.year == year)
        )
        if excluding is not None:
            query = query.where(col(Quota.region_code) != excluding)
        return int((await self.session.exec(query)).one())

    async def for_children(self, parent_code: str, year: int) -> dict[str, int]:
        query = (
            select(Quota.region_code, Quota.people)
            .join(Region, col(Region.code) == col(Quota.region_code))
            .where(scope_filter(self.principal, col(Quota.region_code)))
            .where(Region.parent_code == parent_code, Quota.year == year)
        )
        return {code: people for code, people in (await self.session.exec(query)).all()}

    async def upsert(self, code: str, year: int, people: int) -> Quota:
        now = utcnow()
        stmt = pg_insert(Quota).values(
            region_code=code,
            year=year,
            people=people,
            version=1,
            updated_at=now,
            updated_by=self.principal.sub,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["region_code", "year"],
            set_={
                "people": stmt.excluded.people,
                "version": Quota.__table__.c.version + 1,  # type: ignore[attr-defined]
                "updated_at": stmt.excluded.updated_at,
                "updated_by": stmt.excluded.updated_by,
            },
        )
        await self.session.exec(stmt)
        row = await self.get(code, year)
        assert row is not None
        await self.session.refresh(row)
        return row
