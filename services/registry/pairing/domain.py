"""Pairing rules (结对帮扶, DOMAIN.md §3.1): helping units, cadres, work-team terms and the bitemporal pairing.

Pure: the standard library, `shared.roles`, `shared.errors` and the household statuses of
`identification.domain`. Time is passed in (`day`, `as_of`), never read.

A pairing is a fact with two times. *Valid time* (`valid_from` .. `valid_to`, China dates, `valid_to`
exclusive) answers "who was responsible for this household on day D"; *transaction time* (`recorded_at` ..
`superseded_at`) answers "what did the registry say at time T". A change never rewrites a row: it supersedes
the current row of the logical pairing with a new one (`end_pairing` returns the new rows).

| rule | DOMAIN.md | here |
|---|---|---|
| units, cadres and work teams are registered by township officers and county administrators | §1.4 | `MANAGERS` |
| a work team's term lasts at least one year | §3.1 P7 | `check_term` |
| only registered households (not yet exited) are paired | §3.1 P2, P9 | `PAIRABLE_STATUSES`, `require_pairable` |
| a cadre holds one pairing with a household at a time (many cadres to one household are allowed) | §3.1 P13, data implications [D] | `pair` |
| 不脱贫不脱钩: the last pairing of a household that has not exited ends only with a same-day successor | §3.1 P3, P4; invariant 28 | `end_pairing` |
| unit ratio policy: a leader ≤ N households, middle-level cadres M per household (warnings) | §3.1 P1; invariant 29 | `ratio_warnings` |
| registered households with labour capacity and willingness have a pairing in force | §3.1 P2; invariant 27 | `needs_pairing` |
| "pairing active on day D" (the SQL form is `scope.pairing_active_on`) | §3.2; invariant 32 | `active_on` |
| a pairing starts no earlier than the household's registration (建档立卡): no back-dating before identification | §2.15 (pairing follows `registered`), §4.4 steps 1-2; invariant 12 (dates in workflow order) | `registered_since`, `require_after_registration` |
| deactivating a cadre (调离) ends each of their open pairings as a handover: a successor takes over each one that would leave the household without a cadre (自然接替) | §3.1 P3, P4; invariants 27, 28 | `deactivation_handover` |
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from services.registry.identification.domain import Status
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import RegionLevel, Role, level_of

__all__ = [
    "MANAGERS",
    "MIN_TERM",
    "PAIRABLE_STATUSES",
    "PAIRING_WRITERS",
    "RELEASED_STATUSES",
    "WILLING_BY_DEFAULT",
    "AlreadyEnded",
    "AlreadyPaired",
    "AssignmentRole",
    "BeforeRegistration",
    "Bitemporal",
    "CadreInactive",
    "DeactivationNeedsSuccessor",
    "EndPairing",
    "EndReason",
    "EndsBeforeStart",
    "Handover",
    "Helper",
    "LoginTaken",
    "NaiveTime",
    "NotACadre",
    "NotAVillage",
    "NotExited",
    "NotPairable",
    "NothingToChange",
    "PairingFacts",
    "PairingRole",
    "PositionLevel",
    "RoleMayNot",
    "SameCadre",
    "Successor",
    "SuccessorRequired",
    "TermTooShort",
    "UnitKind",
    "UnitNameTaken",
    "UnitPolicy",
    "UnknownSuccessorPairing",
    "active_on",
    "as_known",
    "check_term",
    "deactivation_handover",
    "end_pairing",
    "needs_pairing",
    "pair",
    "ratio_warnings",
    "registered_since",
    "require_after_registration",
    "require_aware",
    "require_cadre",
    "require_known_successors",
    "require_pairable",
    "require_role",
    "require_village",
]


# -- vocabulary -------------------------------------------------------------------------------------------------
@code_list("helping_unit_kind", "帮扶单位类型", "Helping unit kind")
class UnitKind(LabelledEnum):
    """Helping unit kinds (帮扶单位)."""

    government_department = "government_department", "党政机关", "Party or government department"
    public_institution = "public_institution", "事业单位"
    state_enterprise = "state_enterprise", "国有企业", "State-owned enterprise"
    private_enterprise = "private_enterprise", "民营企业"
    social_organisation = "social_organisation", "社会组织"
    other = "other", "其他"


@code_list("position_level", "职级", "Position level")
class PositionLevel(LabelledEnum):
    """Position level (职级): drives the unit ratio policy (P1)."""

    unit_leader = "unit_leader", "单位领导"
    middle_level = "middle_level", "中层干部", "Middle-level cadre"
    staff = "staff", "一般干部职工", "Staff"


@code_list("assignment_role", "驻村职务", "Village assignment role")
class AssignmentRole(LabelledEnum):
    """A cadre's role in a village (领导挂点、单位包村, P5)."""

    first_secretary = "first_secretary", "第一书记"
    work_team_leader = "work_team_leader", "驻村工作队队长", "Work team leader"
    work_team_member = "work_team_member", "驻村工作队队员", "Work team member"


@code_list("pairing_role", "帮扶角色", "Pairing role")
class PairingRole(LabelledEnum):
    """A cadre's role in a pairing (many-to-one is allowed, P13)."""

    primary = "primary", "主要帮扶责任人", "Primary helper"
    secondary = "secondary", "协助帮扶责任人", "Secondary helper"


@code_list("pairing_end_reason", "结对结束原因", "Pairing end reason")
class EndReason(LabelledEnum):
    """Why a pairing ends (DOMAIN.md §3.1 data implications)."""

    household_exited = "household_exited", "已脱贫", "Household exited"
    handover = "handover", "工作调整(自然接替)", "Handover"  # 自然接替 (P4)
    unit_change = "unit_change", "帮扶单位调整", "Unit change"
    death = "death", "死亡"
    household_removed = "household_removed", "清退或户已消亡", "Household removed or dissolved"
    other = "other", "其他"


#: Households that can be paired: registered (建档立卡) and not yet exited, the exit chain in progress included.
PAIRABLE_STATUSES: frozenset[Status] = frozenset(
    {
        Status.registered,
        Status.exit_proposed,
        Status.exit_first_notice,
        Status.exit_township_reviewed,
        Status.exit_second_notice,
        Status.exit_county_reviewed,
    }
)
#: Households whose pairings end without a successor: exited (已脱贫), removed (识别不准清退) or dissolved
#: (户已消亡). `Status` has no member for the dissolved state yet, hence its plain value here.
RELEASED_STATUSES: frozenset[str] = frozenset({Status.exited, Status.removed, "dissolved"})

#: Who registers helping units and cadres and assigns work teams: township officers and county administrators.
MANAGERS: frozenset[Role] = frozenset({Role.county_admin, Role.township_officer})
#: Who pairs cadres with households and ends pairings: the officers of the household's region.
PAIRING_WRITERS: frozenset[Role] = frozenset({Role.county_admin, Role.township_officer, Role.village_officer})
#: A resident work team's term lasts at least a year (DOMAIN.md §3.1 P7: "不少于1年").
MIN_TERM = timedelta(days=365)


# -- errors (stable codes) --------------------------------------------------------------------------------------
class RoleMayNot(NotAllowed):
    def __init__(self, role: Role, what: str) -> None:
        super().__init__("role_not_allowed", f"role '{role}' may not {what}")


class NotACadre(NotAllowed):
    def __init__(self) -> None:
        super().__init__("not_a_cadre", "only cadres have paired households")


class NotAVillage(Invalid):
    def __init__(self) -> None:
        super().__init__(
            "not_a_village", "village_code must be an administrative village", field="/village_code"
        )


class TermTooShort(Invalid):
    def __init__(self) -> None:
        super().__init__(
            "term_too_short",
            "a resident work-team term lasts at least one year (DOMAIN.md §3.1 P7)",
            field="/ends_on",
        )


class UnitNameTaken(Refused):
    def __init__(self) -> None:
        super().__init__("unit_exists", "a helping unit of this name exists in the region")


class LoginTaken(Refused):
    def __init__(self) -> None:
        super().__init__("user_sub_taken", "this user is already linked to another cadre", field="user_sub")


class NothingToChange(Invalid):
    def __init__(self) -> None:
        super().__init__("nothing_to_change", "nothing to change", field="/")


class NotPairable(Refused):
    def __init__(self, status: str) -> None:
        super().__init__("not_registered", f"only registered households are paired (this one is {status})")


class CadreInactive(Refused):
    def __init__(self, cadre_id: uuid.UUID) -> None:
        super().__init__("cadre_inactive", f"cadre {cadre_id} is inactive")


class AlreadyPaired(Refused):
    def __init__(self) -> None:
        super().__init__("already_paired", "this cadre is already paired with the household")


class AlreadyEnded(Refused):
    def __init__(self) -> None:
        super().__init__("already_ended", "this pairing has ended already")


class EndsBeforeStart(Invalid):
    def __init__(self) -> None:
        super().__init__("ends_before_start", "valid_to is before the pairing started", field="/valid_to")


class NotExited(Refused):
    def __init__(self) -> None:
        super().__init__("not_exited", "the household has not exited")


class SuccessorRequired(Refused):
    def __init__(self) -> None:
        super().__init__(
            "successor_required",
            "不脱贫不脱钩: the household has not exited, so its last pairing ends only with a successor "
            "starting the same day",
        )


class BeforeRegistration(Invalid):
    def __init__(self, since: date) -> None:
        super().__init__(
            "pairing_before_registration",
            f"the household is registered (建档立卡) since {since.isoformat()}: a pairing cannot start before",
            field="/valid_from",
        )


class DeactivationNeedsSuccessor(Refused):
    def __init__(self, pairing_id: uuid.UUID) -> None:
        super().__init__(
            "deactivation_successor_required",
            f"不脱贫不脱钩: the cadre's pairing {pairing_id} is the household's last one; deactivating the cadre "
            "needs a successor for it (自然接替)",
            field="/successors",
        )


class UnknownSuccessorPairing(Invalid):
    def __init__(self, pairing_id: uuid.UUID) -> None:
        super().__init__(
            "successor_pairing_unknown",
            f"pairing {pairing_id} is not an open pairing of this cadre",
            field="/successors",
        )


class SameCadre(Invalid):
    def __init__(self) -> None:
        super().__init__("same_cadre", "the successor is another cadre", field="/successor/cadre_id")


class NaiveTime(Invalid):
    def __init__(self) -> None:
        super().__init__("naive_time", "as_of needs a timezone (e.g. 2015-06-01T00:00:00Z)", field="as_of")


# -- facts and commands -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UnitPolicy:
    """A helping unit's ratio policy (P1, invariant 29): configurable per unit, not national."""

    unit_id: uuid.UUID
    leader_max_households: int = 1
    middle_cadres_per_household: int = 2


@dataclass(frozen=True, slots=True)
class Helper:
    """A cadre (帮扶干部) as the pairing rules see them."""

    id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    position_level: PositionLevel
    active: bool = True


@dataclass(frozen=True, slots=True)
class PairingFacts:
    """The facts of one row of a pairing (its transaction time is the repository's business)."""

    id: uuid.UUID
    household_id: uuid.UUID
    cadre_id: uuid.UUID
    unit_id: uuid.UUID
    role: PairingRole
    valid_from: date
    valid_to: date | None = None
    end_reason: EndReason | None = None
    successor_id: uuid.UUID | None = None
    reason: str | None = None

    def active_on(self, day: date) -> bool:
        return active_on(self.valid_from, self.valid_to, day)


@dataclass(frozen=True, slots=True)
class Successor:
    """The cadre who takes over (自然接替, P4)."""

    cadre_id: uuid.UUID
    role: PairingRole = PairingRole.primary


@dataclass(frozen=True, slots=True)
class EndPairing:
    """Command: end a pairing on `valid_to` (the first day the cadre is no longer responsible)."""

    valid_to: date
    end_reason: EndReason
    successor: Successor | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Handover:
    """What ending a pairing writes: the ended row superseding the current one, and the successor's first row."""

    ended: PairingFacts
    successor: PairingFacts | None


class Bitemporal(Protocol):
    """A pairing row with both of its times."""

    @property
    def valid_from(self) -> date: ...
    @property
    def valid_to(self) -> date | None: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def superseded_at(self) -> datetime | None: ...


Row = TypeVar("Row", bound=Bitemporal)


# -- rules ------------------------------------------------------------------------------------------------------
def active_on(valid_from: date, valid_to: date | None, day: date) -> bool:
    """A pairing is in force on `day` (China date): valid_from <= day < valid_to (open-ended when None).

    The pure form of `services.registry.scope.pairing_active_on` (which also keeps only current rows).
    """
    return valid_from <= day and (valid_to is None or day < valid_to)


def as_known(rows: Iterable[Row], *, on: date | None = None, as_of: datetime | None = None) -> list[Row]:
    """The rows the registry held at `as_of` (default: the current rows), in force on `on` when given.

    Valid time and transaction time together (bitemporal): "who was responsible on `on`, as we knew it at
    `as_of`". A row was known at `as_of` when it was recorded by then and not yet superseded.
    """
    out = []
    for row in rows:
        if as_of is None:
            known = row.superseded_at is None
        else:
            known = row.recorded_at <= as_of and (row.superseded_at is None or row.superseded_at > as_of)
        if known and (on is None or active_on(row.valid_from, row.valid_to, on)):
            out.append(row)
    return out


def require_aware(as_of: datetime | None) -> None:
    """Transaction time is an instant: a time without a timezone names none."""
    if as_of is not None and as_of.tzinfo is None:
        raise NaiveTime()


def require_role(role: Role, allowed: frozenset[Role], what: str) -> None:
    if role not in allowed:
        raise RoleMayNot(role, what)


def require_cadre(role: Role) -> None:
    """Only cadres have paired households of their own (DOMAIN.md invariant 32)."""
    if role is not Role.cadre:
        raise NotACadre()


def require_village(code: str) -> None:
    """Work teams and first secretaries are assigned to administrative villages (P5)."""
    if level_of(code) is not RegionLevel.village:
        raise NotAVillage()


def check_term(starts_on: date, ends_on: date | None) -> None:
    """A resident work-team term lasts at least one year (P7); an open end is allowed."""
    if ends_on is not None and ends_on < starts_on + MIN_TERM:
        raise TermTooShort()


def require_pairable(status: str) -> None:
    """Only registered households that have not exited are paired (P2, P9)."""
    if status not in PAIRABLE_STATUSES:
        raise NotPairable(status)


def pair(
    helper: Helper,
    current: Sequence[PairingFacts],
    *,
    pairing_id: uuid.UUID,
    household_id: uuid.UUID,
    role: PairingRole,
    valid_from: date,
) -> PairingFacts:
    """The first row of a new pairing of `helper` with the household whose current pairings are `current`.

    An inactive cadre is not paired; a cadre already responsible for the household on or after `valid_from`
    is not paired again (one pairing per cadre and household at a time).
    """
    if not helper.active:
        raise CadreInactive(helper.id)
    if any(p.cadre_id == helper.id and (p.valid_to is None or p.valid_to > valid_from) for p in current):
        raise AlreadyPaired()
    return PairingFacts(
        id=pairing_id,
        household_id=household_id,
        cadre_id=helper.id,
        unit_id=helper.unit_id,
        role=role,
        valid_from=valid_from,
    )


def end_pairing(
    current: PairingFacts,
    command: EndPairing,
    *,
    household_status: str,
    others: Sequence[PairingFacts],
    successor: Helper | None,
    successor_id: uuid.UUID,
) -> Handover:
    """End `current` as `command` says (不脱贫不脱钩, P3/P4, invariant 28), given the locked facts.

    `others` are the household's current pairings (the household is locked, so they cannot change under us);
    `successor` is the cadre named by `command.successor`, loaded by the caller. Unless the household is
    released (exited, removed, dissolved), its last pairing in force on `valid_to` ends only with a successor
    starting that same day, so the household is never without a responsible cadre.
    """
    if current.valid_to is not None:
        raise AlreadyEnded()
    if command.valid_to < current.valid_from:
        raise EndsBeforeStart()
    if command.end_reason is EndReason.household_exited and household_status != Status.exited:
        raise NotExited()
    if household_status not in RELEASED_STATUSES and command.successor is None:
        still_in_force = [p for p in others if p.id != current.id and p.active_on(command.valid_to)]
        if not still_in_force:
            raise SuccessorRequired()
    taking_over = None
    if command.successor is not None:
        if successor is None or successor.id != command.successor.cadre_id:
            raise ValueError("the successor cadre must be loaded for the command")  # a programming error
        if not successor.active:
            raise CadreInactive(successor.id)
        if successor.id == current.cadre_id:
            raise SameCadre()
        taking_over = PairingFacts(
            id=successor_id,
            household_id=current.household_id,
            cadre_id=successor.id,
            unit_id=successor.unit_id,
            role=command.successor.role,
            valid_from=command.valid_to,
            reason=f"successor of {current.id}",
        )
    ended = replace(
        current,
        valid_to=command.valid_to,
        end_reason=command.end_reason,
        successor_id=taking_over.id if taking_over else None,
        reason=command.reason,
    )
    return Handover(ended=ended, successor=taking_over)


def registered_since(events: Sequence[tuple[date, str]], identification_year: int) -> date:
    """The day the household became (again) registered: the first event that put it in `registered` after its
    latest exit, as (China date, status after), in workflow order. A household registered without a workflow
    (import, legacy data) counts from 1 January of its identification year."""
    since: date | None = None
    for day, status in events:
        if status == Status.exited:
            since = None
        elif status == Status.registered and since is None:
            since = day
    return since if since is not None else date(identification_year, 1, 1)


def require_after_registration(valid_from: date, since: date) -> None:
    """A pairing cannot be back-dated before the household was registered (invariant 12)."""
    if valid_from < since:
        raise BeforeRegistration(since)


def require_known_successors(open_ids: Iterable[uuid.UUID], successors: Iterable[uuid.UUID]) -> None:
    """Successors named on deactivation must be for open pairings of the cadre."""
    known = set(open_ids)
    for pairing_id in successors:
        if pairing_id not in known:
            raise UnknownSuccessorPairing(pairing_id)


def deactivation_handover(
    current: PairingFacts,
    day: date,
    *,
    household_status: str,
    others: Sequence[PairingFacts],
    successor: Helper | None,
    successor_role: PairingRole = PairingRole.primary,
    successor_id: uuid.UUID,
) -> Handover:
    """End `current` because its cadre is deactivated on `day` (a handover, P4): as `end_pairing` does, a pairing
    that would leave a household that has not exited without a cadre needs a successor starting the same day.
    A pairing that starts after `day` ends on its first day (it never comes into force)."""
    command = EndPairing(
        valid_to=max(day, current.valid_from),
        end_reason=EndReason.handover,
        successor=Successor(successor.id, successor_role) if successor is not None else None,
        reason="cadre deactivated",
    )
    try:
        return end_pairing(
            current,
            command,
            household_status=household_status,
            others=others,
            successor=successor,
            successor_id=successor_id,
        )
    except SuccessorRequired:
        raise DeactivationNeedsSuccessor(current.id) from None


def ratio_warnings(
    helper: Helper, unit: UnitPolicy, *, leader_households: int, middle_sharing: int
) -> list[str]:
    """The unit ratio policy (P1, invariant 29): warnings, never refusals.

    `leader_households` is how many households the cadre is paired with on the day, `middle_sharing` how many
    middle-level cadres of the unit are paired with this household on the day (both counting the new pairing).
    """
    out = []
    if helper.position_level is PositionLevel.unit_leader and leader_households > unit.leader_max_households:
        out.append(
            f"leader_over_limit: {helper.name} is paired with {leader_households} households "
            f"(unit policy: {unit.leader_max_households})"
        )
    if (
        helper.position_level is PositionLevel.middle_level
        and middle_sharing < unit.middle_cadres_per_household
    ):
        out.append(
            f"middle_level_share: {middle_sharing} middle-level cadre(s) of the unit on this household "
            f"(unit policy: {unit.middle_cadres_per_household})"
        )
    return out


#: Willingness to develop (发展意愿) is presumed unless the household's details say otherwise.
WILLING_BY_DEFAULT = True


def needs_pairing(status: str, *, has_labor_capacity: bool, willing: bool | None, paired: bool) -> bool:
    """The gap report rule (P2, P9, invariant 27): a registered household with labour capacity and willingness
    to develop must have a pairing in force; the report lists those without one."""
    return (
        status in PAIRABLE_STATUSES
        and has_labor_capacity
        and (WILLING_BY_DEFAULT if willing is None else willing)
        and not paired
    )
