"""Use cases of the yearly exit targets: show a region's target with its children and progress; set a target.

Each reads through the repositories, decides with `exit_targets.domain`, writes and appends an audit entry in the
request's transaction (committed by the route class; never here). Region scope comes from the regions feature:
a region outside the caller's scope answers 404 exactly like a missing one.
"""

from __future__ import annotations

from services.registry.audit.repository import RegistryAudit
from services.registry.exit_targets import domain
from services.registry.exit_targets.domain import ExitCount, SetExitTarget, TargetFigures
from services.registry.exit_targets.repository import ExitTargetRepository
from services.registry.exit_targets.schemas import (
    ExitTargetChild,
    ExitTargetFigures,
    ExitTargetPublic,
    ExitTargetSet,
)
from services.registry.models import ExitTarget
from services.registry.regions.service import RegionService
from shared.clock import china_date
from shared.context import Context
from shared.roles import RegionLevel, scope_prefix

__all__ = ["ExitTargetService"]


def _figures(value: TargetFigures | ExitCount) -> ExitTargetFigures:
    return ExitTargetFigures(people=value.people, households=value.households)


def _target(row: ExitTarget | None) -> TargetFigures | None:
    return None if row is None else TargetFigures(row.people, row.households)


class ExitTargetService:
    """Invariant 25: targets decomposed top-down, progress tracked, shortfall flagged (never filled in)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = RegionService(ctx)
        self.repo = ExitTargetRepository(ctx)

    async def show(self, code: str, year: int) -> ExitTargetPublic:
        region = await self.regions.get(code)
        own = await self.repo.get(code, year)
        children = await self.regions.repo.children(code)
        targets = await self.repo.for_children(code, year)
        start, end = domain.year_bounds(year)
        by_village = await self.repo.exits_by_village(region.code, start, end)
        today = china_date(self.ctx.now)

        def exits_under(under: str) -> ExitCount:
            prefix = scope_prefix(under)
            total = ExitCount()
            for village, count in by_village.items():
                if village.startswith(prefix):
                    total += count
            return total

        target = _target(own)
        mine = domain.progress(target, exits_under(region.code), year=year, today=today)
        allocated = sum(targets.values(), domain.ZERO)
        out_children = []
        for child in children:
            child_target = targets.get(child.code)
            p = domain.progress(child_target, exits_under(child.code), year=year, today=today)
            out_children.append(
                ExitTargetChild(
                    region_code=child.code,
                    name=child.name,
                    people=None if child_target is None else child_target.people,
                    households=None if child_target is None else child_target.households,
                    exited=_figures(p.exited),
                    shortfall=None if p.shortfall is None else _figures(p.shortfall),
                    flags=list(p.flags),
                )
            )
        return ExitTargetPublic(
            region_code=region.code,
            year=year,
            people=None if target is None else target.people,
            households=None if target is None else target.households,
            version=None if own is None else own.version,
            allocated=_figures(allocated),
            remaining=None
            if target is None
            else ExitTargetFigures(
                people=target.people - allocated.people, households=target.households - allocated.households
            ),
            exited=_figures(mine.exited),
            shortfall=None if mine.shortfall is None else _figures(mine.shortfall),
            flags=list(mine.flags),
            warnings=domain.distribution_warnings(targets.values()),
            children=out_children,
        )

    async def set(self, code: str, year: int, payload: ExitTargetSet) -> ExitTargetPublic:
        region = await self.regions.get(code)
        command = SetExitTarget(
            region_code=region.code,
            level=RegionLevel(region.level),
            parent_code=region.parent_code,
            year=year,
            target=TargetFigures(payload.people, payload.households),
        )
        domain.require_setter(self.ctx.principal.role, command.level)
        domain.check_command(command)
        parent = domain.target_parent(command)
        if parent is not None:
            # Lock the parent's row: every writer of a sibling queues here, so the sum check sees their committed
            # targets and concurrent writes cannot together exceed the parent (as the quotas do).
            parent_row = await self.repo.get(parent, year, lock=True)
            siblings = await self.repo.children_sum(parent, year, excluding=code)
            domain.check_against_parent(parent, year, _target(parent_row), siblings, command.target)
        # Lock this region's own row: writers of its children lock it as their parent.
        await self.repo.get(code, year, lock=True)
        domain.check_against_children(code, await self.repo.children_sum(code, year), command.target)
        await self.repo.upsert(code, year, command.target)
        await RegistryAudit(self.ctx).record(
            "exit_target.set", record_type="exit_target", record_id=f"{code}/{year}", region_code=code,
            detail={"year": year, "people": payload.people, "households": payload.households},
        )  # fmt: skip
        return await self.show(code, year)
