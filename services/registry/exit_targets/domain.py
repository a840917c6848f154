"""The rules of the yearly exit targets (年度减贫任务). Pure: standard library, shared/roles, clock and errors, and
the regions domain (the same level rules as the scale-control quotas).

Checkable against DOMAIN.md:
- §2.10 "the annual poverty-reduction plan (年度减贫计划) is decomposed the same way: county → township → villages"
  and §2.13 step 1 "township decomposes the county's annual poverty-reduction plan to villages" [S 002]: targets
  are set top-down by the same roles as the quotas (`EXIT_TARGET_SETTERS`: the county administrator sets the
  county's and its townships', the township officer its villages');
- invariant 25 (W): a target counts people and households; the children of a region never total more than its
  target (`check_against_parent`, 422 naming the figures), a target never falls below what its children were
  given (`check_against_children`); progress is the year's exits against the target, and a shortfall is flagged,
  never filled in (`progress`: nothing here writes a target, and a child without one stays without);
- invariant 26 (W): every child given the same target (平均分配) is warned about, not refused
  (`distribution_warnings`);
- invariant 19: an exit counts for year Y when the county re-reviewed it by the end of 31 December of Y, China
  time (`year_bounds`: the same boundaries the figures' `exited_people` uses).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from services.registry.regions.domain import QUOTA_SETTERS, quota_parent
from shared.clock import CHINA_TIME
from shared.errors import Invalid, NotAllowed, Refused
from shared.roles import RegionLevel, Role

__all__ = [
    "EQUAL_DISTRIBUTION",
    "EXIT_TARGET_SETTERS",
    "SHORTFALL",
    "ZERO",
    "ExitCount",
    "Progress",
    "SetExitTarget",
    "TargetFigures",
    "check_against_children",
    "check_against_parent",
    "check_command",
    "distribution_warnings",
    "progress",
    "require_setter",
    "target_parent",
    "year_bounds",
]

#: Who sets the targets of which level: the same as the quotas (§2.10 "decomposed the same way").
EXIT_TARGET_SETTERS: dict[Role, frozenset[RegionLevel]] = dict(QUOTA_SETTERS)
#: The warning of an identical split across all children (杜绝平均分配, invariant 26).
EQUAL_DISTRIBUTION = "equal_distribution"
#: The flag of a target the year's exits did not reach once the year is over (invariant 25).
SHORTFALL = "shortfall"


@dataclass(frozen=True, slots=True)
class TargetFigures:
    """A target, an allocation or a count: people and households."""

    people: int
    households: int

    def __add__(self, other: TargetFigures) -> TargetFigures:
        return TargetFigures(self.people + other.people, self.households + other.households)


ZERO = TargetFigures(0, 0)


@dataclass(frozen=True, slots=True)
class SetExitTarget:
    """The command: region `region_code`'s exit target of `year` is `target`."""

    region_code: str
    level: RegionLevel
    parent_code: str | None
    year: int
    target: TargetFigures


def require_setter(role: Role, level: RegionLevel) -> None:
    """The county administrator sets the county's and its townships' targets, the township officer its villages'."""
    if level not in EXIT_TARGET_SETTERS.get(role, frozenset()):
        raise NotAllowed(
            "exit_target_setter_required", f"role '{role}' may not set the exit target of a {level}"
        )


def check_command(command: SetExitTarget) -> None:
    """A target's households are at most its people (every household counts at least one person)."""
    if command.target.households > command.target.people:
        raise Invalid(
            "households_exceed_people",
            f"a target of {command.target.households} households cannot have fewer people "
            f"({command.target.people})",
            field="/households",
            people=command.target.people,
            households=command.target.households,
        )


def target_parent(command: SetExitTarget) -> str | None:
    """The region whose target bounds this one's: its parent when that holds targets (a county's does not)."""
    return quota_parent(command.region_code, command.level, command.parent_code)


def _measures(target: TargetFigures) -> tuple[tuple[str, int], ...]:
    return (("people", target.people), ("households", target.households))


def check_against_parent(
    parent: str,
    year: int,
    parent_target: TargetFigures | None,
    siblings: TargetFigures,
    target: TargetFigures,
) -> None:
    """Invariant 25: the targets below a region never total more than its own, in people or in households."""
    if parent_target is None:
        raise Refused(
            "exit_target_parent_missing",
            f"region {parent} has no exit target for {year}; set it first (targets are decomposed top-down)",
            parent=parent,
            year=year,
        )
    total = siblings + target
    for (measure, wanted), (_, allowed) in zip(_measures(total), _measures(parent_target), strict=True):
        if wanted > allowed:
            raise Invalid(
                "exit_target_exceeds_parent",
                f"exit targets below {parent} would total {wanted} {measure}, more than its target of "
                f"{allowed} {measure}",
                field=f"/{measure}",
                parent=parent,
                measure=measure,
                parent_target=allowed,
                would_be_sum=wanted,
            )


def check_against_children(code: str, allocated: TargetFigures, target: TargetFigures) -> None:
    """A target never falls below what its children were already given."""
    for (measure, wanted), (_, given) in zip(_measures(target), _measures(allocated), strict=True):
        if wanted < given:
            raise Invalid(
                "exit_target_below_children",
                f"the exit targets below {code} already total {given} {measure}, more than {wanted}",
                field=f"/{measure}",
                parent=code,
                measure=measure,
                parent_target=wanted,
                would_be_sum=given,
            )


def distribution_warnings(child_targets: Iterable[TargetFigures]) -> list[str]:
    """Invariant 26: every child given the same target — in people or in households — is warned about
    (平均分配, "avoid equal distribution", S 002); one child alone is no split yet."""
    targets = list(child_targets)
    if len(targets) < 2:
        return []
    same_people = len({t.people for t in targets}) == 1
    same_households = len({t.households for t in targets}) == 1
    return [EQUAL_DISTRIBUTION] if same_people or same_households else []


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CHINA_TIME).astimezone(UTC)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[start, end) of year `year` as UTC instants: 1 January 00:00 to the end of 31 December, China time — an
    exit county-reviewed inside counts for the year (invariant 19)."""
    return _midnight(date(year, 1, 1)), _midnight(date(year + 1, 1, 1))


@dataclass(frozen=True, slots=True)
class ExitCount:
    """The exits of a region in a year: households whose exit was county-reviewed then, and their people."""

    people: int = 0
    households: int = 0

    def __add__(self, other: ExitCount) -> ExitCount:
        return ExitCount(self.people + other.people, self.households + other.households)


@dataclass(frozen=True, slots=True)
class Progress:
    """The year's exits against a target: what is still short (never below 0), and the flags."""

    exited: ExitCount
    shortfall: TargetFigures | None
    flags: tuple[str, ...]


def progress(target: TargetFigures | None, exited: ExitCount, *, year: int, today: date) -> Progress:
    """Invariant 25: progress of the year's exits against `target`. `shortfall` is what the exits still lack
    (None without a target: nothing is made up); once the year is over (`today` after 31 December of `year`) a
    target not reached is flagged `shortfall` — flagged only: the target stays as it was set."""
    if target is None:
        return Progress(exited, None, ())
    short = TargetFigures(
        max(target.people - exited.people, 0), max(target.households - exited.households, 0)
    )
    over = today > date(year, 12, 31)
    flags = (SHORTFALL,) if over and (short.people > 0 or short.households > 0) else ()
    return Progress(exited, short, flags)
