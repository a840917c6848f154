"""Every SQL statement of the region tree, statuses, policy parameters, quotas and population, scoped in one place.

Reads of regions go through `_scoped()`, which applies the caller's region prefix (`shared.db.scope_filter`), so
out-of-scope regions are invisible exactly like missing ones. The few unscoped reads are named so: they check
ancestors and the policy chain, which lie above the caller's scope by design, and never return rows to callers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select
from sqlmodel.sql.expression import SelectOfScalar

from services.registry.identification.domain import POOR_STATUSES, QUOTA_STATUSES
from services.registry.models import (
    Household,
    PolicyParameter,
    Quota,
    QuotaOverride,
    Region,
    RegionPopulation,
    RegionStatus,
)
from services.registry.regions.domain import KnownRegion, PolicyVersion
from shared.context import Context
from shared.db import scope_filter
from shared.problems import Conflict
from shared.roles import scope_prefix

__all__ = [
    "PolicyRepository",
    "PopulationRepository",
    "QuotaRepository",
    "RegionRepository",
    "StatusRepository",
]


class RegionRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _scoped(self) -> SelectOfScalar[Region]:
        return select(Region).where(scope_filter(self.ctx.principal, col(Region.code)))

    async def get(self, code: str, *, lock: bool = False) -> Region | None:
        """The region in scope (locked for the rest of the transaction when `lock`: serialises writes about it)."""
        query = self._scoped().where(col(Region.code) == code)
        return (await self.session.exec(query.with_for_update() if lock else query)).first()

    async def known_among(self, codes: Iterable[str]) -> dict[str, KnownRegion]:
        """The regions among `codes`, regardless of scope (ancestor and import checks; never returned to callers)."""
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        rows = (await self.session.exec(select(Region).where(col(Region.code).in_(wanted)))).all()
        return {r.code: KnownRegion(r.code, r.name, r.parent_code) for r in rows}

    async def page(
        self, *, parent_code: str | None, level: str | None, under: str | None, after: str | None, limit: int
    ) -> list[Region]:
        query = self._scoped()
        if parent_code is not None:
            query = query.where(col(Region.parent_code) == parent_code)
        if level is not None:
            query = query.where(col(Region.level) == level)
        if under is not None:
            query = query.where(col(Region.code).startswith(under, autoescape=True))
        if after is not None:
            query = query.where(col(Region.code) > after)
        return list((await self.session.exec(query.order_by(col(Region.code)).limit(limit))).all())

    async def children(self, code: str) -> list[Region]:
        query = self._scoped().where(col(Region.parent_code) == code).order_by(col(Region.code))
        return list((await self.session.exec(query)).all())

    async def add(self, regions: Sequence[KnownRegion], *, levels: dict[str, str]) -> list[Region]:
        """Insert new regions, parents before children; 409 when one exists already (a concurrent write)."""
        rows = [
            Region(code=r.code, name=r.name, level=levels[r.code], parent_code=r.parent_code, created_at=self.ctx.now,
                   updated_at=self.ctx.now)
            for r in regions
        ]  # fmt: skip
        try:
            async with self.session.begin_nested():
                for row in rows:
                    self.session.add(row)
                    await self.session.flush()  # parents before children (foreign key)
        except IntegrityError as exc:
            codes = ", ".join(r.code for r in regions[:3])
            detail = (
                f"region {codes} already exists"
                if len(regions) == 1
                else "the region tree changed during the import; nothing was imported"
            )
            raise Conflict(detail) from exc
        return rows

    async def rename(self, renames: Sequence[KnownRegion]) -> None:
        for r in renames:
            await self.session.exec(
                sa.update(Region)
                .where(col(Region.code) == r.code)
                .values(name=r.name, version=col(Region.version) + 1, updated_at=self.ctx.now)
            )


class StatusRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def for_region(self, code: str) -> list[RegionStatus]:
        query = (
            select(RegionStatus)
            .where(scope_filter(self.ctx.principal, col(RegionStatus.region_code)))
            .where(col(RegionStatus.region_code) == code)
            .order_by(col(RegionStatus.year), col(RegionStatus.status))
        )
        return list((await self.session.exec(query)).all())

    async def replace(self, code: str, year: int, statuses: Sequence[str]) -> None:
        await self.session.exec(
            delete(RegionStatus)
            .where(scope_filter(self.ctx.principal, col(RegionStatus.region_code)))
            .where(col(RegionStatus.region_code) == code, col(RegionStatus.year) == year)
        )
        for status in statuses:
            self.session.add(
                RegionStatus(
                    region_code=code,
                    year=year,
                    status=status,
                    created_at=self.ctx.now,
                    created_by=self.ctx.principal.sub,
                )
            )
        await self.session.flush()


class PolicyRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def newest_along(self, chain: Sequence[str], year: int) -> list[PolicyVersion]:
        """Newest version of every parameter defined by any region of `chain` for `year`.

        The chain is a region and its ancestors: ancestors lie above the caller's scope by design (a county
        inherits the provincial line), so this read is deliberately not scope-filtered; the service checks that
        the region asked about is in scope before calling it.
        """
        if not chain:
            return []
        query = (
            select(PolicyParameter)
            .where(col(PolicyParameter.region_code).in_(chain), col(PolicyParameter.year) == year)
            .ext(distinct_on(col(PolicyParameter.region_code), col(PolicyParameter.name)))
            .order_by(
                col(PolicyParameter.region_code),
                col(PolicyParameter.name),
                col(PolicyParameter.version).desc(),
            )
        )
        return [
            PolicyVersion(r.region_code, r.name, r.value, r.version, r.valid_from, r.created_by, r.reason)
            for r in (await self.session.exec(query)).all()
        ]

    async def append(self, *, code: str, year: int, name: str, value: Decimal, reason: str) -> int:
        """Add the next version of (code, year, name); a concurrent append meets the unique constraint (409)."""
        current = (
            await self.session.exec(
                select(sa.func.max(PolicyParameter.version))
                .where(scope_filter(self.ctx.principal, col(PolicyParameter.region_code)))
                .where(
                    col(PolicyParameter.region_code) == code,
                    col(PolicyParameter.year) == year,
                    col(PolicyParameter.name) == name,
                )
            )
        ).one()
        version = (current or 0) + 1
        try:
            async with self.session.begin_nested():
                self.session.add(
                    PolicyParameter(
                        region_code=code,
                        year=year,
                        name=name,
                        value=value,
                        version=version,
                        valid_from=self.ctx.now,
                        created_by=self.ctx.principal.sub,
                        reason=reason,
                    )
                )
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("the parameter changed concurrently; retry") from exc
        return version


class QuotaRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def get(self, code: str, year: int, *, lock: bool = False) -> Quota | None:
        """The quota of a region in scope (locked when `lock`: writers of its children queue on it)."""
        query = select(Quota).where(
            scope_filter(self.ctx.principal, col(Quota.region_code)),
            col(Quota.region_code) == code,
            col(Quota.year) == year,
        )
        return (await self.session.exec(query.with_for_update() if lock else query)).first()

    async def children_sum(self, parent_code: str, year: int, *, excluding: str | None = None) -> int:
        query = (
            select(sa.func.coalesce(sa.func.sum(Quota.people), 0))
            .select_from(Quota)
            .join(Region, col(Region.code) == col(Quota.region_code))
            .where(scope_filter(self.ctx.principal, col(Quota.region_code)))
            .where(col(Region.parent_code) == parent_code, col(Quota.year) == year)
        )
        if excluding is not None:
            query = query.where(col(Quota.region_code) != excluding)
        return int((await self.session.exec(query)).one())

    async def for_children(self, parent_code: str, year: int) -> dict[str, int]:
        query = (
            select(Quota.region_code, Quota.people)
            .join(Region, col(Region.code) == col(Quota.region_code))
            .where(scope_filter(self.ctx.principal, col(Quota.region_code)))
            .where(col(Region.parent_code) == parent_code, col(Quota.year) == year)
        )
        return {code: people for code, people in (await self.session.exec(query)).all()}

    async def upsert(self, code: str, year: int, people: int) -> None:
        stmt = pg_insert(Quota).values(
            region_code=code,
            year=year,
            people=people,
            version=1,
            updated_at=self.ctx.now,
            updated_by=self.ctx.principal.sub,
        )
        await self.session.exec(
            stmt.on_conflict_do_update(
                index_elements=["region_code", "year"],
                set_={
                    "people": stmt.excluded.people,
                    "version": col(Quota.version) + 1,
                    "updated_at": stmt.excluded.updated_at,
                    "updated_by": stmt.excluded.updated_by,
                },
            )
        )

    async def used_by_village(self, under: str, year: int) -> dict[str, int]:
        """People counted against the quota of `year`, per village of the subtree of `under`, in one query.

        Counted: the households past an approved village review (`identification.domain.QUOTA_STATUSES`) whose
        quota year is `year` (their identification year, or the year of their return).
        """
        rows = await self.session.exec(
            select(Household.village_code, sa.func.sum(Household.household_size))
            .where(
                col(Household.village_code).startswith(scope_prefix(under), autoescape=True),
                col(Household.quota_year) == year,
                col(Household.status).in_([str(s) for s in QUOTA_STATUSES]),
            )
            .group_by(col(Household.village_code))
        )
        return {code: int(people) for code, people in rows.all()}

    async def used_in_village(self, village: str, year: int, *, excluding: uuid.UUID) -> int:
        """People counted against `village`'s quota of `year`, leaving household `excluding` out."""
        query = select(sa.func.coalesce(sa.func.sum(Household.household_size), 0)).where(
            col(Household.village_code) == village,
            col(Household.quota_year) == year,
            col(Household.status).in_([str(s) for s in QUOTA_STATUSES]),
            col(Household.id) != excluding,
        )
        return int((await self.session.exec(query)).one())

    async def village_quota_locked(self, village: str, year: int) -> int | None:
        """The village's quota of `year`, locked: registrations in one village are checked one at a time."""
        query = (
            select(Quota.people)
            .where(col(Quota.region_code) == village, col(Quota.year) == year)
            .with_for_update()
        )
        return (await self.session.exec(query)).first()

    async def override_recorded(self, household_id: uuid.UUID, year: int) -> bool:
        """A county override of the village quota exists for this household and year."""
        query = select(QuotaOverride.id).where(
            col(QuotaOverride.household_id) == household_id, col(QuotaOverride.year) == year
        )
        return (await self.session.exec(query)).first() is not None


class PopulationRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def poor_counted(self, code: str, year: int) -> tuple[int, int]:
        """(poor people, poor households) under `code` that the population of `year` must cover: households
        identified by `year` that are poor now (registered, not yet exited), within the caller's scope."""
        query = select(
            sa.func.coalesce(sa.func.sum(col(Household.household_size)), 0), sa.func.count()
        ).where(
            col(Household.village_code).startswith(scope_prefix(code), autoescape=True),
            col(Household.status).in_(sorted(POOR_STATUSES)),
            col(Household.identification_year) <= year,
            scope_filter(self.ctx.principal, col(Household.village_code)),
        )
        people, households = (await self.session.exec(query)).one()
        return int(people), int(households)

    async def upsert(self, code: str, year: int, population: int, households: int | None) -> None:
        stmt = pg_insert(RegionPopulation).values(
            region_code=code,
            year=year,
            population=population,
            households=households,
            updated_at=self.ctx.now,
            updated_by=self.ctx.principal.sub,
        )
        await self.session.exec(
            stmt.on_conflict_do_update(
                index_elements=["region_code", "year"],
                set_={
                    "population": stmt.excluded.population,
                    "households": stmt.excluded.households,
                    "updated_at": stmt.excluded.updated_at,
                    "updated_by": stmt.excluded.updated_by,
                },
            )
        )
