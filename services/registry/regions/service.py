"""Use cases of the region tree, statuses, policy parameters, scale-control quotas and population.

Each reads through the repositories, decides with `regions.domain`, writes through the repositories and appends
an audit entry, in the request's transaction (committed by the route class; never here).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from services.registry.audit.repository import RegistryAudit
from services.registry.models import Region
from services.registry.regions import domain
from services.registry.regions.repository import (
    PolicyRepository,
    PopulationRepository,
    QuotaRepository,
    RegionRepository,
    StatusRepository,
)
from services.registry.regions.schemas import (
    EffectiveParameter,
    ImportResult,
    PolicyParameterSet,
    PolicyPublic,
    QuotaChild,
    QuotaPublic,
    QuotaSet,
    RegionCreate,
    StatusesPublic,
    StatusesSet,
)
from shared.context import Context
from shared.errors import Invalid
from shared.roles import RegionLevel, ancestors_of, is_region_code, level_of, scope_prefix

__all__ = [
    "MAX_IMPORT_BYTES",
    "PolicyService",
    "PopulationService",
    "QuotaService",
    "RegionImportService",
    "RegionService",
    "StatusService",
]


#: The largest region CSV accepted (the route stops reading beyond it).
MAX_IMPORT_BYTES = domain.MAX_IMPORT_BYTES


class RegionService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = RegionRepository(ctx)

    async def get(self, code: str, *, lock: bool = False) -> Region:
        """The region in the caller's scope; 404 when missing or outside it."""
        region = await self.repo.get(code, lock=lock)
        domain.region_must_exist(region is not None, code)
        assert region is not None
        return region

    async def page(
        self,
        *,
        parent_code: str | None,
        level: RegionLevel | None,
        under: str | None,
        after: str | None,
        limit: int,
    ) -> tuple[list[Region], str | None]:
        """A page of regions in scope by code, and the code to continue after (None on the last page)."""
        rows = await self.repo.page(
            parent_code=parent_code, level=level, under=under, after=after, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, rows[-1].code if more and rows else None

    async def subtree(self, code: str, *, after: str | None, limit: int) -> tuple[list[Region], str | None]:
        region = await self.get(code)
        return await self.page(
            parent_code=None, level=None, under=scope_prefix(region.code), after=after, limit=limit
        )

    async def create(self, payload: RegionCreate) -> Region:
        known = await self.repo.known_among(
            ancestors_of(payload.code) if is_region_code(payload.code) else []
        )
        parent = domain.parent_for_new_region(self.ctx.principal, payload.code, payload.parent_code, known)
        new = domain.KnownRegion(payload.code, payload.name, parent)
        (region,) = await self.repo.add([new], levels={payload.code: level_of(payload.code)})
        await RegistryAudit(self.ctx).record(
            "region.create", record_type="region", record_id=region.code, region_code=region.code,
            detail={"name": region.name, "parent_code": parent},
        )  # fmt: skip
        return region


class RegionImportService:
    """All-or-nothing import of region rows (code, name[, parent_code]) into the caller's county."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = RegionRepository(ctx)

    async def run(self, body: bytes, *, dry_run: bool) -> ImportResult:
        domain.require_tree_editor(self.ctx.principal)
        rows, format_errors = domain.parse_import(body)
        codes = {r.code for r in rows}
        candidates = {c for r in rows if is_region_code(r.code) for c in ancestors_of(r.code)}
        existing = await self.repo.known_among(codes | candidates)
        plan = domain.plan_import(self.ctx.principal, rows, format_errors, existing)
        if plan.errors:
            raise Invalid(
                "import_invalid",
                f"{len(plan.errors)} error(s) in the CSV; nothing was imported",
                errors=list(plan.errors[:1000]),
            )
        result = ImportResult(
            dry_run=dry_run,
            rows=plan.rows,
            created=len(plan.creates),
            updated=len(plan.renames),
            unchanged=plan.unchanged,
        )
        if dry_run:
            return result
        await self.repo.add(plan.creates, levels={r.code: level_of(r.code) for r in plan.creates})
        await self.repo.rename(plan.renames)
        await RegistryAudit(self.ctx).record(
            "region.import", record_type="region", record_id=self.ctx.principal.region,
            region_code=self.ctx.principal.region,
            detail={"created": len(plan.creates), "renamed": len(plan.renames), "rows": plan.rows},
        )  # fmt: skip
        return result


class StatusService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = RegionService(ctx)
        self.repo = StatusRepository(ctx)

    async def list(self, code: str) -> StatusesPublic:
        await self.regions.get(code)
        by_year: dict[int, list[domain.RegionStatusKind]] = {}
        for row in await self.repo.for_region(code):
            by_year.setdefault(row.year, []).append(domain.RegionStatusKind(row.status))
        return StatusesPublic(region_code=code, statuses_by_year=by_year)

    async def replace(self, code: str, year: int, payload: StatusesSet) -> StatusesPublic:
        domain.require_status_editor(self.ctx.principal)  # 403 before looking the region up
        region = await self.regions.get(code, lock=True)
        wanted = domain.check_statuses(self.ctx.principal, RegionLevel(region.level), payload.statuses)
        await self.repo.replace(code, year, wanted)
        await RegistryAudit(self.ctx).record(
            "region.statuses", record_type="region", record_id=code, region_code=code,
            detail={"year": year, "statuses": wanted},
        )  # fmt: skip
        return await self.list(code)


class PolicyService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = RegionService(ctx)
        self.repo = PolicyRepository(ctx)

    async def _effective(self, code: str, year: int) -> list[domain.EffectiveValue]:
        await self.regions.get(code)
        return domain.effective_parameters(
            code, year, await self.repo.newest_along([code, *ancestors_of(code)], year)
        )

    async def effective(self, code: str, year: int) -> PolicyPublic:
        """Every parameter as it applies to region `code` in `year`, with where its value comes from."""
        out = []
        for e in await self._effective(code, year):
            row = e.row
            out.append(
                EffectiveParameter(
                    name=e.name,
                    kind=e.spec.kind,
                    description=e.spec.description,
                    value=e.value,
                    source=e.source,
                    region_code=row.region_code if row else None,
                    version=row.version if row else None,
                    valid_from=row.valid_from if row else None,
                    created_by=row.created_by if row else None,
                    reason=row.reason if row else None,
                )
            )
        return PolicyPublic(region_code=code, year=year, parameters=out)

    async def values(self, code: str, year: int) -> dict[str, int | Decimal | None]:
        """Parameter name → the value that applies to region `code` in `year` (None when unset)."""
        return {e.name: e.value for e in await self._effective(code, year)}

    async def set(self, code: str, year: int, name: str, payload: PolicyParameterSet) -> PolicyPublic:
        value = domain.parse_parameter_value(self.ctx.principal, name, payload.value)
        await self.regions.get(code, lock=True)  # serialises versions of this region
        domain.check_income_lines(name, value, await self.values(code, year))
        version = await self.repo.append(code=code, year=year, name=name, value=value, reason=payload.reason)
        await RegistryAudit(self.ctx).record(
            "policy.set", record_type="policy", record_id=f"{code}/{year}/{name}", region_code=code,
            reason=payload.reason, detail={"value": str(value), "version": version},
        )  # fmt: skip
        return await self.effective(code, year)


class QuotaService:
    """Scale control (规模控制, DOMAIN.md §2.10): quotas decomposed top-down and checked at registration."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = RegionService(ctx)
        self.repo = QuotaRepository(ctx)

    async def show(self, code: str, year: int) -> QuotaPublic:
        region = await self.regions.get(code)
        own = await self.repo.get(code, year)
        children = await self.regions.repo.children(code)
        quotas = await self.repo.for_children(code, year)
        by_village = await self.repo.used_by_village(region.code, year)

        def used_under(under: str) -> int:
            prefix = scope_prefix(under)
            return sum(people for village, people in by_village.items() if village.startswith(prefix))

        people = own.people if own else None
        allocated = sum(quotas.values())
        return QuotaPublic(
            region_code=region.code,
            year=year,
            people=people,
            version=own.version if own else None,
            allocated=allocated,
            remaining=None if people is None else people - allocated,
            used=used_under(region.code),
            warnings=domain.distribution_warnings(quotas.values()),
            children=[
                QuotaChild(
                    region_code=c.code, name=c.name, people=quotas.get(c.code), used=used_under(c.code)
                )
                for c in children
            ],
        )

    async def set(self, code: str, year: int, payload: QuotaSet) -> QuotaPublic:
        region = await self.regions.get(code)
        level = RegionLevel(region.level)
        domain.require_quota_setter(self.ctx.principal.role, level)
        parent = domain.quota_parent(code, level, region.parent_code)
        if parent is not None:
            # Lock the parent's quota row: every writer of a sibling queues here, so the sum check sees their
            # committed quotas and concurrent writes cannot together exceed the parent.
            parent_quota = await self.repo.get(parent, year, lock=True)
            siblings = await self.repo.children_sum(parent, year, excluding=code)
            domain.check_quota_against_parent(
                parent, year, parent_quota.people if parent_quota else None, siblings, payload.people
            )
        # Lock this region's own row: writers of its children lock it as their parent.
        await self.repo.get(code, year, lock=True)
        domain.check_quota_against_children(code, await self.repo.children_sum(code, year), payload.people)
        used = sum((await self.repo.used_by_village(code, year)).values())
        domain.check_quota_against_used(code, year, used, payload.people)
        await self.repo.upsert(code, year, payload.people)
        await RegistryAudit(self.ctx).record(
            "quota.set", record_type="quota", record_id=f"{code}/{year}", region_code=code,
            detail={"year": year, "people": payload.people},
        )  # fmt: skip
        return await self.show(code, year)

    async def check_registration(
        self, *, village_code: str, year: int, household_id: uuid.UUID, people: int
    ) -> domain.QuotaCheck:
        """Invariant 24 at a village review or an announcement: the village's quota of `year` is locked (one
        registration at a time per village) and must hold `people` more, unless the county recorded an override
        for the household; `.over` when the household goes over the quota under an override (flag it)."""
        quota = await self.repo.village_quota_locked(village_code, year)
        overridden = await self.repo.override_recorded(household_id, year)
        used = await self.repo.used_in_village(village_code, year, excluding=household_id)
        return domain.check_registration(village_code, year, quota, used, people, overridden=overridden)


class PopulationService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = RegionService(ctx)
        self.repo = PopulationRepository(ctx)

    async def set(self, code: str, year: int, population: int, households: int | None) -> None:
        """Record a region's registered rural population for a year (the base of poverty incidence)."""
        domain.require_population_recorder(self.ctx.principal.role)
        await self.regions.get(code)
        poor_people, poor_households = await self.repo.poor_counted(code, year)
        domain.check_population(
            population, households, poor_people=poor_people, poor_households=poor_households
        )
        await self.repo.upsert(code, year, population, households)
        await RegistryAudit(self.ctx).record(
            "population.set", record_type="region", record_id=code, region_code=code,
            detail={"year": year, "population": population, "households": households},
        )  # fmt: skip
