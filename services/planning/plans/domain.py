"""Village plan rules (DOMAIN.md §5.1, §5.3, §5.4; §7 invariants 9, 12, 18, 40, 41). Pure: the standard library,
shared/ pure modules and the planning domains of indicators and profiles. Time is passed in (`now`, `today`).

A plan's life is an **event-sourced state machine**: every step is an immutable `Event` (`planning_plan_event`,
append-only), the state is `replay(events)`, and `decide(state, step, actor, now)` checks a typed step against
the rules and returns the event to append — or raises `NotAllowed` (the wrong level acts, 403), `Refused` (a step
skipped or out of order, a vote that did not carry, 409) or `Invalid` (malformed step data, 422), each with a
stable `code`::

    draft ──assembly──▶ village_approved ──township_review──▶ township_reviewed ──county_approval──▶ county_approved
      ▲  (village officer)        │        (township officer)         │          (county admin)           │
      └────────── return (township officer) ◀┘                        │                          activation (county admin)
      └────────────────────────── return (county admin) ◀─────────────┘                                   ▼
                                                                                 closed ◀──closure── active

An approved plan (county_approved or active) is never edited: an amendment is a new version of the same lineage
(version + 1, status draft) that goes through the same chain; when the county approves it, the version it amends
is `superseded` (an event on that version) and stays readable. An amendment of an active plan is active as soon as
it is approved (the plan was in force already); an amendment of a county-approved plan waits for its activation.

| rule | DOMAIN.md | here |
|---|---|---|
| plan types: exit plan, development plan, annual plan | §5.1 | `PlanType` |
| the horizon runs forward (start <= end), an annual plan spans one year, at most 10 years | §5.1; invariant 12 | `check_plan` |
| each target: a catalogue indicator, its unit, baseline (value, year), target (value, year), direction; percentages 0-100; baseline year <= target year, the target within the horizon; the target lies the indicator's way | invariant 40; §5.3 | `check_plan`, `indicators.domain.check_value` |
| drafted by the village (the villagers' plan), passed by the villager representatives' assembly | §5.1 [S 001#7, 001#13] | `Assembly`, `decide` |
| the assembly decides only with a quorum of two thirds of its members present, and passes a plan only with more than half of those present voting for it (村民委员会组织法 art. 26: 村民代表会议有三分之二以上的组成人员参加方可召开, 所作决定应当经到会人员的过半数同意) | §5.1; §10 item 5 | `QUORUM`, `decide` |
| only the assigned level decides each step (village → township → county), none skipped or reordered; a reviewer returns the plan to the village with a reason | invariant 18 | `RULES`, `RETURNERS`, `decide` |
| an approved plan is never edited; an amendment is a new version through the same chain; the old one stays readable | §5.1 [D] `version`; invariant 46 by analogy | `check_amendable`, `supersede` |
| yearly actuals, progress per target: the share of the way from baseline to target, direction-aware, 0-100 %, or met | invariant 40 | `check_actuals`, `progress` |
| the village exit checklist 一低七有: incidence below the region's threshold, and seven haves | §5.4 [S 001#13]; §10 item 3 | `evaluate_checklist`, `HAVES` |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.planning.indicators.domain import Direction, IndicatorDef, Unit, check_value
from services.planning.profiles.domain import PROFILE_READERS
from shared.clock import china_date
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import Role

__all__ = [
    "ACTUAL_RECORDERS",
    "COLLECTIVE_INCOME_INDICATOR",
    "EDITABLE",
    "HAVES",
    "IN_FORCE",
    "MAX_HORIZON_YEARS",
    "OPEN",
    "PLAN_DRAFTERS",
    "PLAN_READERS",
    "QUORUM",
    "RETURNERS",
    "RULES",
    "Activation",
    "Actor",
    "Assembly",
    "CheckResult",
    "Checklist",
    "ChecklistItem",
    "Closure",
    "CountyApproval",
    "Event",
    "ExitItem",
    "PlanState",
    "PlanStatus",
    "PlanStep",
    "PlanType",
    "Progress",
    "ProgressState",
    "Return",
    "Step",
    "Target",
    "TownshipReview",
    "amendment_event",
    "check_actuals",
    "check_amendable",
    "check_plan",
    "decide",
    "draft_event",
    "evaluate_checklist",
    "progress",
    "replay",
    "require_drafter",
    "require_editable",
    "require_reader",
    "supersede",
]


# == code lists ================================================================================================
@code_list("planning_plan_type", "村级规划类型", "Village plan type")
class PlanType(LabelledEnum):
    """Village plan types (DOMAIN.md §5.1)."""

    exit = "exit", "脱贫规划(整村脱贫)", "Exit plan"
    development = "development", "发展规划", "Development plan"
    annual = "annual", "年度计划", "Annual plan"


@code_list("planning_plan_status", "村级规划状态", "Village plan status")
class PlanStatus(LabelledEnum):
    """Where a plan version stands (DOMAIN.md §5.1 [D])."""

    draft = "draft", "草案(村起草)", "Draft"
    village_approved = "village_approved", "村民代表会议通过", "Passed by the villager representatives"
    township_reviewed = "township_reviewed", "乡镇已审核", "Reviewed by the township"
    county_approved = "county_approved", "县已批准", "Approved by the county"
    active = "active", "实施中", "Active"
    closed = "closed", "已结束", "Closed"
    superseded = "superseded", "已被修订版取代", "Superseded by an amendment"


@code_list("planning_plan_step", "村级规划审批步骤", "Village plan step")
class PlanStep(LabelledEnum):
    """The steps of a plan's history (each an append-only event)."""

    drafted = "drafted", "起草", "Drafted"
    amended = "amended", "修订(新版本)", "Amendment drafted"
    assembly = "assembly", "村民代表会议表决", "Villager representatives' assembly"
    township_review = "township_review", "乡镇审核", "Township review"
    county_approval = "county_approval", "县审批", "County approval"
    activation = "activation", "启动实施", "Activation"
    closure = "closure", "结束", "Closure"
    return_ = "return", "退回修改", "Returned to the village"
    supersession = "supersession", "被修订版取代", "Superseded"


@code_list("planning_progress_state", "指标进度", "Target progress")
class ProgressState(LabelledEnum):
    """How far a target is (the share of the way from its baseline, direction-aware)."""

    no_data = "no_data", "暂无实绩", "No actual recorded"
    regressed = "regressed", "低于基期", "Worse than the baseline"
    in_progress = "in_progress", "推进中", "In progress"
    met = "met", "已达成", "Met"


@code_list("planning_exit_item", "贫困村退出一低七有", "Village exit checklist item")
class ExitItem(LabelledEnum):
    """The village exit checklist "one low, seven haves" (一低七有, DOMAIN.md §5.4)."""

    low_incidence = "low_incidence", "贫困发生率低于退出标准", "Poverty incidence below the exit threshold"
    collective_income = "collective_income", "有集体经济收入", "Collective economic income"
    road = "road", "有通村道路", "Road to the village"
    drinking_water = "drinking_water", "有安全饮水", "Safe drinking water"
    electricity = "electricity", "有生活用电", "Household electricity"
    clinic = "clinic", "有村卫生室", "Village clinic"
    culture_room = "culture_room", "有村文化室", "Village culture room"
    broadband = "broadband", "有宽带入户", "Broadband to households"


@code_list("planning_check_result", "核查结果", "Check result")
class CheckResult(LabelledEnum):
    met = "met", "达标"
    not_met = "not_met", "未达标", "Not met"
    unknown = "unknown", "无法判断(缺数据或未设标准)", "Unknown (no figure or no threshold)"


# == status subsets and who acts ===============================================================================
#: A version still on its way to approval (an amendment is "open" while one of its lineage is here).
OPEN: frozenset[PlanStatus] = frozenset(
    {PlanStatus.draft, PlanStatus.village_approved, PlanStatus.township_reviewed}
)
#: An approved version in force: never edited, amended by a new version; actuals are recorded against it.
IN_FORCE: frozenset[PlanStatus] = frozenset({PlanStatus.county_approved, PlanStatus.active})
#: Only a draft is edited.
EDITABLE: frozenset[PlanStatus] = frozenset({PlanStatus.draft})

#: The village drafts (and amends) its plans: the village committees and the resident work team (§5.1 [S 003]).
PLAN_DRAFTERS: frozenset[Role] = frozenset({Role.village_officer})
#: Who records a year's actuals: the village, or the county poverty office correcting them.
ACTUAL_RECORDERS: frozenset[Role] = frozenset({Role.village_officer, Role.county_admin})
#: Who reads plans, actuals and the exit checklist (in scope): as profiles.
PLAN_READERS: frozenset[Role] = PROFILE_READERS
#: The longest horizon a plan may have, in years (the seeds' longest is 6, §5.1).
MAX_HORIZON_YEARS = 10
#: The assembly's quorum: two thirds of its members present (村民委员会组织法 art. 26).
QUORUM = (2, 3)


@dataclass(frozen=True, slots=True)
class Actor:
    sub: str
    role: Role


# == typed steps ===============================================================================================
@dataclass(frozen=True, slots=True)
class Assembly:
    """The villager representatives' assembly (村民代表会议) that passed the plan."""

    held_on: date
    representatives: int  # members of the assembly (组成人员)
    present: int  # attendance (到会人数)
    votes_for: int
    votes_against: int
    votes_abstaining: int
    minutes_ref: str | None = None
    poor_household_representatives: int | None = None  # of those present (§5.1 [S 001#13])


@dataclass(frozen=True, slots=True)
class TownshipReview:
    opinion: str | None = None


@dataclass(frozen=True, slots=True)
class CountyApproval:
    document_number: str | None = None  # 批复文号
    opinion: str | None = None


@dataclass(frozen=True, slots=True)
class Activation:
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Closure:
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Return:
    reason: str


Step = Assembly | TownshipReview | CountyApproval | Activation | Closure | Return

#: Each step's event, the statuses it may follow and who takes it (invariant 18: the assigned level only).
RULES: dict[type[Any], tuple[PlanStep, frozenset[PlanStatus], frozenset[Role]]] = {
    Assembly: (PlanStep.assembly, frozenset({PlanStatus.draft}), frozenset({Role.village_officer})),
    TownshipReview: (
        PlanStep.township_review,
        frozenset({PlanStatus.village_approved}),
        frozenset({Role.township_officer}),
    ),
    CountyApproval: (
        PlanStep.county_approval,
        frozenset({PlanStatus.township_reviewed}),
        frozenset({Role.county_admin}),
    ),
    Activation: (
        PlanStep.activation,
        frozenset({PlanStatus.county_approved}),
        frozenset({Role.county_admin}),
    ),
    Closure: (PlanStep.closure, frozenset({PlanStatus.active}), frozenset({Role.county_admin})),
}
#: Who may return a plan under review to the village: the reviewer of the level it waits at.
RETURNERS: dict[PlanStatus, Role] = {
    PlanStatus.village_approved: Role.township_officer,
    PlanStatus.township_reviewed: Role.county_admin,
}
_STATUS_AFTER: dict[PlanStep, PlanStatus] = {
    PlanStep.drafted: PlanStatus.draft,
    PlanStep.amended: PlanStatus.draft,
    PlanStep.assembly: PlanStatus.village_approved,
    PlanStep.township_review: PlanStatus.township_reviewed,
    PlanStep.county_approval: PlanStatus.county_approved,
    PlanStep.activation: PlanStatus.active,
    PlanStep.closure: PlanStatus.closed,
    PlanStep.return_: PlanStatus.draft,
    PlanStep.supersession: PlanStatus.superseded,
}


# == events and state ==========================================================================================
@dataclass(frozen=True)
class Event:
    """One immutable step of a plan version's history (`data` is what is stored with it)."""

    step: PlanStep
    status_after: PlanStatus
    at: datetime
    actor: str
    role: Role
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlanState:
    """A plan version as its history leaves it."""

    status: PlanStatus
    events: int  # how many (the next event's seq is events + 1)
    last_return_on: date | None = None  # the China date of the last return (a new assembly comes after it)


def replay(events: Iterable[Event]) -> PlanState:
    """The state after `events`, oldest first; each event's status is the one its step leads to."""
    status: PlanStatus | None = None
    count = 0
    returned: date | None = None
    for event in events:
        count += 1
        status = event.status_after
        if event.step is PlanStep.return_:
            returned = china_date(event.at)
    if status is None:
        raise ValueError("a plan's history starts with its drafting")
    return PlanState(status=status, events=count, last_return_on=returned)


def draft_event(actor: Actor, now: datetime) -> Event:
    """The first event of a plan."""
    require_drafter(actor.role)
    return Event(PlanStep.drafted, PlanStatus.draft, now, actor.sub, actor.role)


def amendment_event(actor: Actor, now: datetime, *, amends: str, reason: str) -> Event:
    """The first event of an amendment (a new version of the lineage)."""
    require_drafter(actor.role)
    return Event(PlanStep.amended, PlanStatus.draft, now, actor.sub, actor.role, reason, {"amends": amends})


def _check_assembly(state: PlanState, step: Assembly, today: date) -> dict[str, Any]:
    counts = {
        "representatives": step.representatives,
        "present": step.present,
        "votes_for": step.votes_for,
        "votes_against": step.votes_against,
        "votes_abstaining": step.votes_abstaining,
    }
    for name, value in counts.items():
        if value < 0:
            raise Invalid("assembly_invalid", f"{name} is not negative", pointer=f"/{name}")
    if step.representatives < 1:
        raise Invalid("assembly_invalid", "an assembly has members", pointer="/representatives")
    if step.present > step.representatives:
        raise Invalid(
            "assembly_invalid", "more present than the assembly has members", pointer="/present", **counts
        )
    if step.votes_for + step.votes_against + step.votes_abstaining > step.present:
        raise Invalid("assembly_invalid", "more votes than members present", pointer="/votes_for", **counts)
    present_poor = step.poor_household_representatives
    if present_poor is not None and not 0 <= present_poor <= step.present:
        raise Invalid(
            "assembly_invalid",
            "poor households' representatives are among those present",
            pointer="/poor_household_representatives",
        )
    if step.held_on > today:
        raise Invalid(
            "assembly_in_future", f"the assembly date {step.held_on} is after today", pointer="/held_on"
        )
    if state.last_return_on is not None and step.held_on < state.last_return_on:
        raise Invalid(
            "assembly_before_return",
            f"the plan was returned on {state.last_return_on}: the assembly that passes it again comes after",
            pointer="/held_on",
            returned_on=state.last_return_on.isoformat(),
        )
    numerator, denominator = QUORUM
    if step.present * denominator < step.representatives * numerator:
        raise Refused(
            "assembly_quorum_not_met",
            f"{step.present} of {step.representatives} members present: the assembly decides only with two thirds",
            **counts,
        )
    if step.votes_for * 2 <= step.present:
        raise Refused(
            "assembly_not_passed",
            f"{step.votes_for} of {step.present} present voted for: a plan passes with more than half",
            **counts,
        )
    data: dict[str, Any] = {"held_on": step.held_on.isoformat(), **counts}
    if step.minutes_ref is not None:
        data["minutes_ref"] = step.minutes_ref
    if present_poor is not None:
        data["poor_household_representatives"] = present_poor
    return data


def decide(
    state: PlanState, step: Step, actor: Actor, now: datetime, *, amends_active: bool = False
) -> Event:
    """The event `step` appends to a plan in `state`, or the domain error that refuses it.

    `amends_active`: the plan is an amendment of an active version (its county approval makes it active)."""
    if isinstance(step, Return):
        return _return(state, step, actor, now)
    kind, after_statuses, roles = RULES[type(step)]
    if actor.role not in roles:
        raise NotAllowed(
            "wrong_level",
            f"the {kind.english.lower()} is taken by {', '.join(sorted(r.value for r in roles))}, not {actor.role}",
            step=kind.value,
        )
    if state.status not in after_statuses:
        raise Refused(
            "step_out_of_order",
            f"a plan that is {state.status} cannot take the {kind.english.lower()}",
            step=kind.value,
            plan_status=state.status.value,
            expected=sorted(s.value for s in after_statuses),
        )
    status_after = _STATUS_AFTER[kind]
    data: dict[str, Any] = {}
    reason: str | None = None
    if isinstance(step, Assembly):
        data = _check_assembly(state, step, china_date(now))
    elif isinstance(step, TownshipReview | CountyApproval):
        if step.opinion is not None:
            data["opinion"] = step.opinion
        if isinstance(step, CountyApproval):
            if step.document_number is not None:
                data["document_number"] = step.document_number
            if amends_active:
                status_after = PlanStatus.active
    elif isinstance(step, Activation):
        if step.note is not None:
            data["note"] = step.note
    elif isinstance(step, Closure):
        reason = step.reason
    return Event(kind, status_after, now, actor.sub, actor.role, reason, data)


def _return(state: PlanState, step: Return, actor: Actor, now: datetime) -> Event:
    reviewer = RETURNERS.get(state.status)
    if reviewer is None:
        if actor.role not in RETURNERS.values():
            raise NotAllowed("wrong_level", f"role '{actor.role}' does not review plans", step="return")
        raise Refused(
            "step_out_of_order",
            f"a plan that is {state.status} is not under review: there is nothing to return",
            step="return",
            plan_status=state.status.value,
            expected=sorted(s.value for s in RETURNERS),
        )
    if actor.role is not reviewer:
        raise NotAllowed(
            "wrong_level",
            f"a plan that is {state.status} waits for the {reviewer}: only they return it",
            step="return",
        )
    if not step.reason.strip():
        raise Invalid("reason_required", "a return states its reason", pointer="/reason")
    return Event(PlanStep.return_, PlanStatus.draft, now, actor.sub, actor.role, step.reason)


def check_amendable(state: PlanState, *, open_amendment: bool) -> None:
    """An amendment is made of a version in force, one at a time."""
    if state.status not in IN_FORCE:
        raise Refused(
            "plan_not_in_force",
            f"a plan that is {state.status} is not amended: only an approved plan in force is"
            + (" (a draft is edited)" if state.status in EDITABLE else ""),
            plan_status=state.status.value,
        )
    if open_amendment:
        raise Refused(
            "amendment_open", "an amendment of this plan is on its way already: finish or edit that one"
        )


def supersede(predecessor: PlanState, actor: Actor, now: datetime, *, by: str) -> Event:
    """The event that retires the version an approved amendment replaces (it stays readable)."""
    if predecessor.status not in IN_FORCE:
        raise Refused(
            "amended_plan_not_in_force",
            f"the version this amends is {predecessor.status}: the amendment has nothing to replace",
            plan_status=predecessor.status.value,
        )
    return Event(PlanStep.supersession, PlanStatus.superseded, now, actor.sub, actor.role, None, {"by": by})


def require_drafter(role: Role) -> None:
    if role not in PLAN_DRAFTERS:
        raise NotAllowed("plan_drafter_required", f"plans are drafted by village officers, not {role}")


def require_reader(role: Role) -> None:
    if role not in PLAN_READERS:
        raise NotAllowed("plan_reader_required", f"role '{role}' does not read village plans")


def require_editable(status: PlanStatus) -> None:
    if status not in EDITABLE:
        raise Refused(
            "plan_not_draft",
            f"a plan that is {status} is not edited"
            + (": amend it (a new version)" if status in IN_FORCE else ""),
            plan_status=status.value,
        )


# == content: horizon and targets (invariant 40) ===============================================================
@dataclass(frozen=True, slots=True)
class Target:
    """One target of a plan (invariant 40)."""

    indicator_code: str
    unit: Unit
    direction: Direction
    baseline_value: Decimal
    baseline_year: int
    target_value: Decimal
    target_year: int


def check_plan(
    plan_type: PlanType,
    start_year: int,
    end_year: int,
    targets: Sequence[Target],
    catalogue: Mapping[str, IndicatorDef],
    *,
    pointer: str = "/targets",
) -> None:
    """The horizon and the targets of a plan (invariants 12, 40); `Invalid` naming the member (`pointer`)."""
    if start_year > end_year:
        raise Invalid(
            "horizon_reversed",
            f"the plan ends ({end_year}) before it starts ({start_year})",
            pointer="/end_year",
        )
    if end_year - start_year + 1 > MAX_HORIZON_YEARS:
        raise Invalid(
            "horizon_too_long", f"a plan spans at most {MAX_HORIZON_YEARS} years", pointer="/end_year"
        )
    if plan_type is PlanType.annual and start_year != end_year:
        raise Invalid(
            "annual_plan_one_year", "an annual plan starts and ends in the same year", pointer="/end_year"
        )
    seen: set[str] = set()
    for i, target in enumerate(targets):
        at = f"{pointer}/{i}"
        code = target.indicator_code
        if code in seen:
            raise Invalid(
                "indicator_repeated", f"indicator {code} is targeted twice", pointer=f"{at}/indicator_code"
            )
        seen.add(code)
        known = catalogue.get(code)
        if known is None:
            raise Invalid(
                "indicator_unknown",
                f"indicator {code} is not in the catalogue of the village's county",
                pointer=f"{at}/indicator_code",
            )
        if target.unit is not known.unit:
            raise Invalid(
                "unit_mismatch",
                f"indicator {code} is counted in {known.unit}, not {target.unit}",
                pointer=f"{at}/unit",
                expected=known.unit.value,
            )
        if target.direction is not known.direction:
            raise Invalid(
                "direction_mismatch",
                f"indicator {code} should {known.direction}, not {target.direction}",
                pointer=f"{at}/direction",
                expected=known.direction.value,
            )
        check_value(known.unit, target.baseline_value, pointer=f"{at}/baseline/value")
        check_value(known.unit, target.target_value, pointer=f"{at}/target/value")
        if target.baseline_year > target.target_year:
            raise Invalid(
                "baseline_after_target",
                f"the baseline year {target.baseline_year} is after the target year {target.target_year}",
                pointer=f"{at}/baseline/year",
            )
        if not start_year <= target.target_year <= end_year:
            raise Invalid(
                "target_outside_horizon",
                f"the target year {target.target_year} lies outside the plan's {start_year}-{end_year}",
                pointer=f"{at}/target/year",
            )
        against = (
            target.target_value < target.baseline_value
            if known.direction is Direction.increase
            else target.target_value > target.baseline_value
        )
        if against:
            raise Invalid(
                "target_against_direction",
                f"indicator {code} should {known.direction}: the target {target.target_value} goes the other way "
                f"from the baseline {target.baseline_value}",
                pointer=f"{at}/target/value",
            )


# == actuals and progress ======================================================================================
def check_actuals(
    status: PlanStatus,
    year: int,
    values: Sequence[tuple[str, Decimal]],
    targets: Mapping[str, Target],
    *,
    role: Role,
    today: date,
) -> None:
    """A year's actuals of a plan in force: of its own indicators, possible in their units, of a year between the
    indicator's baseline and this one."""
    if role not in ACTUAL_RECORDERS:
        raise NotAllowed("actual_recorder_required", f"role '{role}' does not record a plan's actuals")
    if status not in IN_FORCE:
        raise Refused(
            "plan_not_in_force",
            f"actuals are recorded against an approved plan in force; this one is {status}",
            plan_status=status.value,
        )
    if year > today.year:
        raise Invalid("actual_in_future", f"{year} has not come yet", parameter="year")
    seen: set[str] = set()
    for i, (code, value) in enumerate(values):
        at = f"/values/{i}"
        if code in seen:
            raise Invalid(
                "indicator_repeated", f"indicator {code} is given twice", pointer=f"{at}/indicator_code"
            )
        seen.add(code)
        target = targets.get(code)
        if target is None:
            raise Invalid(
                "indicator_not_in_plan", f"the plan has no target for {code}", pointer=f"{at}/indicator_code"
            )
        if year < target.baseline_year:
            raise Invalid(
                "actual_before_baseline",
                f"{code}'s baseline is of {target.baseline_year}; {year} comes before it",
                parameter="year",
            )
        check_value(target.unit, value, pointer=f"{at}/value")


@dataclass(frozen=True, slots=True)
class Progress:
    state: ProgressState
    percent: Decimal | None  # the share of the way from baseline to target, 0..100


_CENT = Decimal("0.01")


def progress(target: Target, actual: Decimal | None) -> Progress:
    """How far `actual` is on the way from the baseline to the target (invariant 40), direction-aware, capped at
    0..100 %; met when it reached the target."""
    if actual is None:
        return Progress(ProgressState.no_data, None)
    increase = target.direction is Direction.increase
    met = actual >= target.target_value if increase else actual <= target.target_value
    if met:
        return Progress(ProgressState.met, Decimal(100).quantize(_CENT))
    worse = actual < target.baseline_value if increase else actual > target.baseline_value
    span = target.target_value - target.baseline_value
    share = Decimal(0) if span == 0 else (actual - target.baseline_value) * 100 / span
    share = min(max(share, Decimal(0)), Decimal(100)).quantize(_CENT, rounding=ROUND_HALF_UP)
    return Progress(ProgressState.regressed if worse else ProgressState.in_progress, share)


# == the exit checklist 一低七有 (§5.4) ========================================================================
#: The seven haves read from the year's indicator actuals: for each item, the indicators that answer it, first
#: found first, and the value that meets it (at least). A yes/no indicator meets at 1; a rate at 100 %.
#:
#: | item | indicator (unit) | met when |
#: |---|---|---|
#: | collective income | `collective_income` (yuan), else the profile's declared collective income | >= `village_exit_collective_income_min_yuan` |
#: | road (通村道路) | `village_road_connected` (bool), else `village_road_access_rate` (%) | 1, 100 % |
#: | safe drinking water | `safe_drinking_water_rate` (%) | 100 % |
#: | household electricity | `household_electricity` (bool), else `grid_upgrade` (bool) | 1 |
#: | village clinic | `village_clinic` (bool) | 1 |
#: | culture room | `village_culture_room` (bool) | 1 |
#: | broadband | `broadband_to_households` (bool) | 1 |
HAVES: dict[ExitItem, tuple[tuple[str, Decimal], ...]] = {
    ExitItem.road: (("village_road_connected", Decimal(1)), ("village_road_access_rate", Decimal(100))),
    ExitItem.drinking_water: (("safe_drinking_water_rate", Decimal(100)),),
    ExitItem.electricity: (("household_electricity", Decimal(1)), ("grid_upgrade", Decimal(1))),
    ExitItem.clinic: (("village_clinic", Decimal(1)),),
    ExitItem.culture_room: (("village_culture_room", Decimal(1)),),
    ExitItem.broadband: (("broadband_to_households", Decimal(1)),),
}
#: The indicator whose actual is the village collective's yearly income.
COLLECTIVE_INCOME_INDICATOR = "collective_income"


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    item: ExitItem
    result: CheckResult
    figure: Decimal | None
    threshold: Decimal | None
    comparison: str  # how the figure meets the threshold: "<" or ">="
    source: str | None  # where the figure comes from ("registry", "profile", "indicator:<code>")
    note: str


@dataclass(frozen=True, slots=True)
class Checklist:
    result: CheckResult  # met only when every item is met; not met when any is not; else unknown
    items: tuple[ChecklistItem, ...]


def _judge(figure: Decimal | None, threshold: Decimal | None, *, below: bool) -> CheckResult:
    if figure is None or threshold is None:
        return CheckResult.unknown
    ok = figure < threshold if below else figure >= threshold
    return CheckResult.met if ok else CheckResult.not_met


def evaluate_checklist(
    *,
    incidence: Decimal | None,
    incidence_source: str | None,
    incidence_max: Decimal | None,
    collective_income: Decimal | None,
    collective_income_source: str | None,
    collective_income_min: Decimal | None,
    actuals: Mapping[str, Decimal],
) -> Checklist:
    """The village exit checklist of a year (一低七有, §5.4): the low incidence against the region's threshold (a
    policy parameter: < 4 % in seed 001#13, < 3 % in Sichuan's version, §10 item 3), the collective income against
    its minimum, and the seven haves from the year's actuals (`HAVES`)."""
    items = [
        ChecklistItem(
            ExitItem.low_incidence,
            _judge(incidence, incidence_max, below=True),
            incidence,
            incidence_max,
            "<",
            incidence_source,
            "village_exit_incidence_max_percent is not set for the region and year"
            if incidence_max is None
            else (
                "no incidence for the year (no population recorded)"
                if incidence is None
                else "poor people / population"
            ),
        ),
        ChecklistItem(
            ExitItem.collective_income,
            _judge(collective_income, collective_income_min, below=False),
            collective_income,
            collective_income_min,
            ">=",
            collective_income_source,
            "village_exit_collective_income_min_yuan is not set for the region and year"
            if collective_income_min is None
            else (
                "no collective income recorded for the year" if collective_income is None else "yuan per year"
            ),
        ),
    ]
    for item, sources in HAVES.items():
        found = next(((code, need) for code, need in sources if code in actuals), None)
        if found is None:
            items.append(
                ChecklistItem(
                    item,
                    CheckResult.unknown,
                    None,
                    sources[0][1],
                    ">=",
                    None,
                    "no actual of " + " or ".join(code for code, _ in sources) + " for the year",
                )
            )
            continue
        code, need = found
        items.append(
            ChecklistItem(
                item,
                _judge(actuals[code], need, below=False),
                actuals[code],
                need,
                ">=",
                f"indicator:{code}",
                "yes (1) / no (0)" if need == 1 else "percent",
            )
        )
    results = {i.result for i in items}
    overall = (
        CheckResult.met
        if results == {CheckResult.met}
        else CheckResult.not_met
        if CheckResult.not_met in results
        else CheckResult.unknown
    )
    return Checklist(overall, tuple(items))
