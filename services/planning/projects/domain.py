"""The project library's rules (项目库, DOMAIN.md §5.5, §5.7, §5.8, §5.10-§5.11; invariants 8, 9, 12, 38, 39):
pure — the standard library, `shared.roles`, `shared.errors`, `shared.labels` and the process's other domain
modules. Time is passed in (`now`, `today`); money is integer fen (the funds domain's `fen` / `yuan`).

| rule | DOMAIN.md | here |
|---|---|---|
| a project has one of the categories of §5.5 (the codes of migration plan0003's earmark matrix) | §5.5 | `ProjectCategory` |
| a project's fields: village and natural village, plan, category, quantity and unit, schedule, implementing party, responsible person, expected outputs, budget | §5.7 [D] `project` | `QuantityUnit`, `check_schedule` (`schedule_order`) |
| a project's plan is a plan of the same village | §5.1, §5.7 (`plan_project[]`) | `check_plan` (`plan_missing`, `plan_other_village`) |
| money >= 0 with at most two decimals; quantities >= 0 | invariants 8, 9 | the schemas (`Yuan`, `Quantity`), `funds.domain.fen` |
| a project is edited (fields, beneficiaries) only while a draft or returned | §5.8; invariant 39 | `EDITABLE`, `check_editable` (`project_not_editable`) |
| beneficiaries are registry households of the project's village, or of its township for a township-wide project (整乡推进); a dissolved household benefits from nothing | §5.7 [D] beneficiaries; issue #11 Projects | `TOWNSHIP_WIDE`, `beneficiary_area`, `check_beneficiaries` (`household_unknown`, `household_elsewhere`, `household_dissolved`) |
| the poor households a project reaches (带贫益贫) are counted from registry statuses: registered or in the exit chain | §2.15; §5.7 beneficiaries (poor households) | `POOR_STATUSES`, `is_poor` |
| 四议两公开: party branch proposal → two committees' discussion → party members' review → villagers' (representatives') resolution → the resolution made public; then township review, then county approval; no step skipped or reordered; the dates in that order, none in the future; a resolution passes with a majority of those present | §5.8 (meaning [I]); invariants 12, 39 | `Step`, `VILLAGE_STEPS`, `expected_steps`, `decide` (`wrong_state`, `date_out_of_order`, `date_in_future`, `votes_exceed_attendance`, `resolution_not_passed`) |
| only the right level acts: the village records its 四议两公开, the township reviews, the county approves | §1.3, §5.8; invariant 18 | `DECIDERS`, `require_level` (`wrong_level`) |
| a reviewer returns the project with a reason: back to the village, whose 四议两公开 starts again (for the amended project), dated on or after the return | §5.8 | `decide` (`reason_required`), `advance` |
| the implementation results are made public (the second 公开) once the project is being implemented | §5.8 (两公开), §5.9 | `Step.results_disclosure`, `expected_steps` |
| implementation starts with the first progress reported on a milestone (approved → in progress) | §5.8 Supervision | `start` |
| a milestone is due within the schedule; progress 0-100; a done date is not before the start nor in the future, and means 100 %; only an approved project progresses | invariants 9, 12 | `check_milestone` (`schedule_missing`, `due_outside_schedule`, `done_before_start`, `done_needs_full_progress`, `done_on_required`, `not_approved`, `project_closed`) |
| overdue: due before the day and not done, on projects being implemented | issue #11 Implementation | `OVERDUE_STATUSES`, `is_overdue`, `days_overdue` |
| photos and documents of the implementation: JPEG, PNG, WebP or PDF by their bytes, at most 10 MiB each, 50 per project, by content hash | issue #11 ("as help records do") | `ATTACHMENT_TYPES`, `check_attachment`, `check_attachment_count` |
| completion acceptance (验收) by the county: date, findings, who accepted, passed or not; only of a project being implemented; a pass needs every milestone done | §5.8 Acceptance [I]; invariant 38 (final payment needs it) | `accept` (`wrong_level`, `wrong_state`, `milestones_open`) |
| the assets a project formed (资产确权) after a passed acceptance: type, value, owner (village collective, household, cooperative), beneficiary households | §5.11; issue #11 | `AssetType`, `AssetOwnerKind`, `check_asset` (`not_accepted`, `owner_household_missing`) |

Roles (issue #11 Access): village officers draft their village's projects and record its 四议两公开; township
officers review in their township; county admins approve and accept in their county; implementation (milestones,
attachments) is reported by the village, township or county; assets are recorded by the township or county;
cadres and the province read. A role that may not act is refused before any lookup (403); the region is checked
after (out of scope is 404, like missing).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from shared.errors import Invalid, Missing, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import PREFIX_LENGTH, RegionLevel, Role, level_of

__all__ = [
    "ACCEPTORS",
    "ASSET_RECORDERS",
    "ATTACHMENT_TYPES",
    "CLOSED",
    "DECIDERS",
    "DRAFTERS",
    "EDITABLE",
    "IMPLEMENTING",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "MAX_HOUSEHOLDS",
    "OVERDUE_STATUSES",
    "POOR_STATUSES",
    "REPORTERS",
    "TOWNSHIP_WIDE",
    "VILLAGE_STEPS",
    "AcceptanceRecord",
    "Actor",
    "AssetOwnerKind",
    "AssetType",
    "AttachmentTooLarge",
    "AttachmentTypeRefused",
    "ChainState",
    "Disclosure",
    "Event",
    "HouseholdFacts",
    "Meeting",
    "ProjectCategory",
    "ProjectStatus",
    "QuantityUnit",
    "RecordedEvent",
    "Resolution",
    "Review",
    "Step",
    "StepCommand",
    "accept",
    "advance",
    "beneficiary_area",
    "check_asset",
    "check_attachment",
    "check_attachment_count",
    "check_beneficiaries",
    "check_editable",
    "check_milestone",
    "check_plan",
    "check_schedule",
    "check_village",
    "days_overdue",
    "decide",
    "expected_steps",
    "is_overdue",
    "is_poor",
    "progresses",
    "replay",
    "require_level",
    "require_role",
    "sniff",
    "start",
    "unique",
]


# == code lists ==================================================================================================
@code_list("planning_project_category", "项目类别", "Project category")
class ProjectCategory(LabelledEnum):
    """Project categories (DOMAIN.md §5.5): the codes of the default earmark matrix (migration plan0003)."""

    road = "road", "道路交通", "Roads and bridges"
    water_drinking = "water_drinking", "人畜饮水", "Drinking water"
    water_irrigation = "water_irrigation", "农田水利", "Irrigation and drainage"
    power_telecom = "power_telecom", "电网、通信、广电、宽带", "Power, telecoms, radio, TV and broadband"
    energy = "energy", "沼气、集中供气、清洁能源", "Biogas and clean energy"
    housing = "housing", "危房改造、易地搬迁", "Housing renovation and relocation"
    industry_planting = "industry_planting", "种植业", "Planting"
    industry_breeding = "industry_breeding", "养殖业", "Livestock breeding"
    industry_processing_market = (
        "industry_processing_market",
        "加工、物流、电商、乡村旅游、扶贫车间",
        "Processing, logistics, e-commerce, rural tourism, poverty-relief workshops",
    )
    cooperative = "cooperative", "农民专业合作组织", "Farmers' cooperatives"
    education_facility = "education_facility", "幼儿园、村小、教学点", "Schools and kindergartens"
    health_facility = "health_facility", "村卫生室、卫生院", "Clinics"
    culture_public_service = (
        "culture_public_service",
        "文化室、村部、公共服务中心",
        "Culture rooms, village offices, public service centres",
    )
    governance = "governance", "基层组织、活动场所", "Grass-roots organisations and their premises"
    training = "training", "实用技术培训、劳动力转移培训", "Practical skills and labour-transfer training"
    social_security = "social_security", "新农合、低保、养老保险", "Social security contributions"
    environment = "environment", "人居环境、生态", "Living environment and ecology"
    land = "land", "土地整治", "Land consolidation"
    finance = "finance", "小额信贷、贴息、风险金", "Micro-credit, interest subsidies, risk funds"
    whole_village = "whole_village", "整村推进", "Whole-village advancement"
    whole_township = "whole_township", "整乡推进", "Whole-township advancement"


@code_list("planning_project_status", "项目状态", "Project status")
class ProjectStatus(LabelledEnum):
    """Where a project stands (DOMAIN.md §5.8; invariant 39): derived by replaying its events."""

    draft = "draft", "草稿", "Draft"
    village_deciding = "village_deciding", "四议进行中", "Village deciding (四议)"
    village_decided = "village_decided", "村级决议已公开", "Village resolution made public"
    township_reviewed = "township_reviewed", "乡镇已审核", "Township reviewed"
    approved = "approved", "县级已批准", "Approved by the county"
    in_progress = "in_progress", "实施中", "Being implemented"
    accepted = "accepted", "已验收", "Accepted"
    rejected = "rejected", "验收未通过", "Failed acceptance"
    returned = "returned", "退回修改", "Returned for amendment"


#: Editable (fields, beneficiaries): before the village's 四议两公开 starts, or after a return.
EDITABLE: frozenset[ProjectStatus] = frozenset({ProjectStatus.draft, ProjectStatus.returned})
#: Approved and being implemented: milestones progress, money flows.
IMPLEMENTING: frozenset[ProjectStatus] = frozenset({ProjectStatus.approved, ProjectStatus.in_progress})
#: The acceptance decided: nothing of the implementation changes any more.
CLOSED: frozenset[ProjectStatus] = frozenset({ProjectStatus.accepted, ProjectStatus.rejected})
#: Projects whose open milestones past their due date are reported overdue.
OVERDUE_STATUSES = IMPLEMENTING


@code_list("planning_quantity_unit", "计量单位", "Unit of a project's quantity")
class QuantityUnit(LabelledEnum):
    """What a project's quantity counts (DOMAIN.md §5.7: km, m³, mu, households, people …)."""

    km = "km", "公里", "Kilometres"
    m = "m", "米", "Metres"
    m2 = "m2", "平方米", "Square metres"
    m3 = "m3", "立方米", "Cubic metres"
    mu = "mu", "亩", "Mu"
    household = "household", "户", "Households"
    person = "person", "人", "People"
    person_time = "person_time", "人次", "Person-times"
    piece = "piece", "个（座、口、处）", "Pieces (structures, wells, sites)"  # noqa: RUF001
    head = "head", "头（只）", "Head of livestock"  # noqa: RUF001
    ton = "ton", "吨", "Tonnes"
    set = "set", "套（台）", "Sets (machines)"  # noqa: RUF001
    session = "session", "期（场）", "Sessions"  # noqa: RUF001


@code_list("planning_project_step", "项目审批与实施步骤", "Project approval and implementation step")
class Step(LabelledEnum):
    """A project's events: the 四议两公开 record, the reviews, the start, the acceptance (DOMAIN.md §5.8)."""

    party_branch_proposal = "party_branch_proposal", "村党组织提议", "Party branch proposal"
    committees_discussion = "committees_discussion", "村两委商议", "The two committees' discussion"
    party_members_review = "party_members_review", "党员大会审议", "Party members' review"
    villagers_resolution = (
        "villagers_resolution",
        "村民（代表）会议决议",  # noqa: RUF001
        "Villagers' (representatives') resolution",
    )
    resolution_disclosure = "resolution_disclosure", "决议公开", "Resolution made public"
    township_review = "township_review", "乡镇审核", "Township review"
    county_approval = "county_approval", "县级审批", "County approval"
    results_disclosure = "results_disclosure", "实施结果公开", "Implementation results made public"
    start = "start", "开工实施", "Implementation started"
    acceptance = "acceptance", "竣工验收", "Completion acceptance"


#: The village's 四议两公开 record before the township review, in its one order (the second 公开, the results,
#: comes after implementation).
VILLAGE_STEPS: tuple[Step, ...] = (
    Step.party_branch_proposal,
    Step.committees_discussion,
    Step.party_members_review,
    Step.villagers_resolution,
    Step.resolution_disclosure,
)
_MEETINGS = frozenset({Step.party_branch_proposal, Step.committees_discussion, Step.party_members_review})
_DISCLOSURES = frozenset({Step.resolution_disclosure, Step.results_disclosure})
_REVIEWS = frozenset({Step.township_review, Step.county_approval})


@code_list("planning_asset_type", "资产类型", "Asset type")
class AssetType(LabelledEnum):
    """What a project formed (资产确权, DOMAIN.md §5.11)."""

    road = "road", "道路", "Road"
    bridge = "bridge", "桥梁", "Bridge"
    water_supply = "water_supply", "供水设施", "Water supply"
    irrigation = "irrigation", "水利设施", "Irrigation works"
    power = "power", "电力设施", "Power installation"
    building = (
        "building",
        "房屋建筑（村部、卫生室、文化室）",  # noqa: RUF001
        "Building (village office, clinic, culture room)",
    )
    housing = "housing", "住房", "Housing"
    equipment = "equipment", "设备", "Equipment"
    livestock = "livestock", "牲畜", "Livestock"
    plantation = "plantation", "种植基地、经济林", "Plantation or orchard"
    land = "land", "整治土地", "Consolidated land"
    equity = "equity", "股权（资产收益）", "Equity (asset income)"  # noqa: RUF001
    other = "other", "其他", "Other"


@code_list("planning_asset_owner_kind", "资产所有权人类型", "Asset owner kind")
class AssetOwnerKind(LabelledEnum):
    """Who owns an asset (§5.11: the collective, a household, a cooperative)."""

    village_collective = "village_collective", "村集体", "Village collective"
    household = "household", "农户", "Household"
    cooperative = "cooperative", "农民专业合作社", "Cooperative"


# == who =========================================================================================================
#: Who drafts a project and records its village's 四议两公开: the village (村两委).
DRAFTERS: frozenset[Role] = frozenset({Role.village_officer})
#: Who reports implementation (milestones, photos and documents): the village, the township, the county.
REPORTERS: frozenset[Role] = frozenset({Role.village_officer, Role.township_officer, Role.county_admin})
#: Who takes each decision of the approval chain (invariant 18: only the assigned level, no skipping).
DECIDERS: dict[Step, frozenset[Role]] = {
    **{step: DRAFTERS for step in VILLAGE_STEPS},
    Step.results_disclosure: DRAFTERS,
    Step.township_review: frozenset({Role.township_officer}),
    Step.county_approval: frozenset({Role.county_admin}),
    Step.acceptance: frozenset({Role.county_admin}),
}
#: Who records the completion acceptance (验收): the county, before the final payment (§5.8 [I]).
ACCEPTORS = DECIDERS[Step.acceptance]
#: Who records the assets a project formed (资产确权): the township or the county.
ASSET_RECORDERS: frozenset[Role] = frozenset({Role.township_officer, Role.county_admin})


def require_role(role: Role, allowed: frozenset[Role], what: str) -> None:
    """403 for a role that may not do this (the region is checked after: out of scope is 404)."""
    if role not in allowed:
        raise NotAllowed(
            "role_may_not", f"role '{role}' may not {what}", role=str(role), allowed=sorted(allowed)
        )


def require_level(step: Step, role: Role) -> None:
    """Only the assigned level takes a step of the chain (invariant 18)."""
    allowed = DECIDERS[step]
    if role not in allowed:
        raise NotAllowed(
            "wrong_level",
            f"the {step.english.lower()} is taken by {', '.join(sorted(allowed))}, not '{role}'",
            step=step.value,
            allowed=sorted(allowed),
        )


# == the project's fields ========================================================================================
def check_village(code: str) -> None:
    """Projects belong to an administrative village (a code of village level)."""
    if level_of(code) is not RegionLevel.village:
        raise Missing("village_missing", f"village {code} not found")


def check_schedule(starts_on: date | None, finishes_on: date | None) -> None:
    """The schedule runs forward (invariant 12)."""
    if starts_on is not None and finishes_on is not None and finishes_on < starts_on:
        raise Invalid(
            "schedule_order",
            f"the project cannot finish ({finishes_on}) before it starts ({starts_on})",
            field="/finishes_on",
        )


def check_schedule_covers(starts_on: date | None, finishes_on: date | None, dues: Iterable[date]) -> None:
    """A changed schedule still holds every milestone's due date."""
    for due in dues:
        if starts_on is None or finishes_on is None or not starts_on <= due <= finishes_on:
            raise Invalid(
                "milestone_outside_schedule",
                f"a milestone is due on {due}, outside the new schedule",
                field="/starts_on",
                due_on=due.isoformat(),
            )


def check_plan(plan_id: uuid.UUID, plan_village: str | None, village_code: str) -> None:
    """A project's plan is a plan of the same village (`plan_village` None: no such plan)."""
    if plan_village is None:
        raise Invalid("plan_missing", f"plan {plan_id} not found", field="/plan_id")
    if plan_village != village_code:
        raise Invalid(
            "plan_other_village",
            f"plan {plan_id} is a plan of village {plan_village}, not of {village_code}",
            field="/plan_id",
            plan_village=plan_village,
        )


def check_editable(status: ProjectStatus) -> None:
    """Fields and beneficiaries change only while a draft or returned (what the village decides is what the
    township and county review)."""
    if status not in EDITABLE:
        raise Refused(
            "project_not_editable",
            f"the project is {status.english.lower()}: it is edited only as a draft or when returned",
            status=status.value,
        )


# == beneficiaries (带贫益贫) =======================================================================================
#: The registry statuses of a registered poor household (DOMAIN.md §2.15): registered, or in the exit chain.
POOR_STATUSES: frozenset[str] = frozenset(
    {
        "registered",
        "exit_proposed",
        "exit_first_notice",
        "exit_township_reviewed",
        "exit_second_notice",
        "exit_county_reviewed",
    }
)
#: Categories whose beneficiaries may live anywhere in the project's township (整乡推进).
TOWNSHIP_WIDE: frozenset[ProjectCategory] = frozenset({ProjectCategory.whole_township})
#: One request names at most this many households (the registry's lookup limit).
MAX_HOUSEHOLDS = 500


class HouseholdFacts(Protocol):
    """What the rules need of a registry household."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def village_code(self) -> str: ...
    @property
    def status(self) -> str: ...


def is_poor(status: str) -> bool:
    """A registered poor household (counted for 带贫益贫): registered, or on its way out (exit chain)."""
    return status in POOR_STATUSES


def beneficiary_area(category: ProjectCategory, village_code: str) -> str:
    """The region prefix a beneficiary must live in: the village, or its township for a township-wide project."""
    if category in TOWNSHIP_WIDE:
        return village_code[: PREFIX_LENGTH[RegionLevel.township]]
    return village_code


def unique(ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The ids once each, in their first order."""
    return list(dict.fromkeys(ids))


def check_beneficiaries(
    ids: Sequence[uuid.UUID],
    found: Mapping[uuid.UUID, HouseholdFacts],
    *,
    village_code: str,
    category: ProjectCategory,
    pointer: str = "/household_ids",
    caller_scope: str = "",
) -> list[HouseholdFacts]:
    """Each id names a registry household (`found`: what the registry answered) that lies in the project's
    area and still exists as a household; the first that does not is named (422).

    The registry answers planning's service account about every household; the caller sees those of the project's
    area and of their own region (`caller_scope`, a region prefix). Any other household answers exactly like one
    the registry does not know (out of scope looks like missing): neither its village nor its being dissolved is
    told."""
    area = beneficiary_area(category, village_code)
    where = "township" if category in TOWNSHIP_WIDE else "village"
    out: list[HouseholdFacts] = []
    for i, household_id in enumerate(ids):
        household = found.get(household_id)
        if household is not None and not household.village_code.startswith((area, caller_scope)):
            household = None
        if household is None:
            raise Invalid(
                "household_unknown",
                f"household {household_id} is not in the registry",
                field=f"{pointer}/{i}",
                household_id=str(household_id),
            )
        if household.status == "dissolved":
            raise Invalid(
                "household_dissolved",
                f"household {household_id} was dissolved (merged into another)",
                field=f"{pointer}/{i}",
                household_id=str(household_id),
            )
        if not household.village_code.startswith(area):
            raise Invalid(
                "household_elsewhere",
                f"household {household_id} lives in {household.village_code}, outside the project's {where}"
                f" ({village_code})",
                field=f"{pointer}/{i}",
                household_id=str(household_id),
                household_village=household.village_code,
            )
        out.append(household)
    return out


# == the approval chain (四议两公开 → township → county), event-sourced ===============================================
@dataclass(frozen=True, slots=True)
class Actor:
    sub: str
    role: Role


@dataclass(frozen=True, slots=True)
class Meeting:
    """One of the first three 四议 meetings: the party branch proposes, the two committees discuss, the party
    members review."""

    step: Step
    held_on: date
    minutes_ref: str | None = None
    attendees: int | None = None

    @property
    def on(self) -> date:
        return self.held_on

    def data(self) -> dict[str, Any]:
        return {"minutes_ref": self.minutes_ref, "attendees": self.attendees}


@dataclass(frozen=True, slots=True)
class Resolution:
    """The villagers' (representatives') meeting resolves: attendance and the votes."""

    held_on: date
    attendees: int
    votes_for: int
    votes_against: int
    minutes_ref: str | None = None
    step: Step = Step.villagers_resolution

    @property
    def on(self) -> date:
        return self.held_on

    def data(self) -> dict[str, Any]:
        return {
            "minutes_ref": self.minutes_ref,
            "attendees": self.attendees,
            "votes_for": self.votes_for,
            "votes_against": self.votes_against,
        }


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A 公开: the resolution (before the township review) or the implementation results (later)."""

    step: Step
    posted_on: date
    place: str

    @property
    def on(self) -> date:
        return self.posted_on

    def data(self) -> dict[str, Any]:
        return {"place": self.place}


@dataclass(frozen=True, slots=True)
class Review:
    """The township's review or the county's approval: approve, or return with a reason."""

    step: Step
    approve: bool
    reason: str | None = None
    #: The day of the decision (批复日期; the request's China date unless given).
    decided_on: date | None = None

    @property
    def on(self) -> date:
        assert self.decided_on is not None, "the service dates a review with the request's day"
        return self.decided_on

    def data(self) -> dict[str, Any]:
        return {"approve": self.approve}


StepCommand = Meeting | Resolution | Disclosure | Review


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable event of a project (a correction is a new event)."""

    step: Step
    on: date
    at: datetime
    actor: str
    role: Role
    status_after: ProjectStatus
    data: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def stored_data(self) -> dict[str, Any]:
        """The event's data as stored (JSON): its date and the step's own fields."""
        return {"on": self.on.isoformat(), **self.data}


class RecordedEvent(Protocol):
    """An event as stored (planning_project_event)."""

    @property
    def step(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where a project's chain stands, from its events."""

    status: ProjectStatus = ProjectStatus.draft
    #: The village steps done in the current round (a return starts a new round).
    village_done: tuple[Step, ...] = ()
    #: The latest date of the chain so far: every next step is dated on or after it (invariant 12).
    last_on: date | None = None
    approved_on: date | None = None
    results_disclosed: bool = False
    events: int = 0


def advance(state: ChainState, step: Step, on: date, data: Mapping[str, Any]) -> ChainState:
    """The state after one event (the rules' own reading of it, not the stored `status_after`)."""
    later = on if state.last_on is None else max(state.last_on, on)
    counted = replace(state, events=state.events + 1)
    if step in VILLAGE_STEPS:
        status = (
            ProjectStatus.village_decided
            if step is Step.resolution_disclosure
            else ProjectStatus.village_deciding
        )
        return replace(counted, status=status, village_done=(*state.village_done, step), last_on=later)
    if step in _REVIEWS:
        if not data.get("approve"):
            return replace(counted, status=ProjectStatus.returned, village_done=(), last_on=later)
        if step is Step.township_review:
            return replace(counted, status=ProjectStatus.township_reviewed, last_on=later)
        return replace(counted, status=ProjectStatus.approved, approved_on=on, last_on=later)
    if step is Step.start:  # dated by the system, not part of the chain's order
        return replace(counted, status=ProjectStatus.in_progress)
    if step is Step.acceptance:
        status = ProjectStatus.accepted if data.get("passed") else ProjectStatus.rejected
        return replace(counted, status=status, last_on=later)
    if step is Step.results_disclosure:
        return replace(counted, results_disclosed=True, last_on=later)
    raise AssertionError(f"unknown step {step}")  # pragma: no cover - Step is closed


def replay(events: Iterable[RecordedEvent]) -> ChainState:
    """The state of a project from its stored events, in order."""
    state = ChainState()
    for event in events:
        state = advance(state, Step(event.step), date.fromisoformat(str(event.data["on"])), event.data)
    return state


def expected_steps(state: ChainState) -> tuple[Step, ...]:
    """The steps the chain takes next (none: it waits for implementation, or is done)."""
    status = state.status
    if status in EDITABLE or status is ProjectStatus.village_deciding:
        done = len(state.village_done)
        return (VILLAGE_STEPS[done],) if done < len(VILLAGE_STEPS) else ()
    if status is ProjectStatus.village_decided:
        return (Step.township_review,)
    if status is ProjectStatus.township_reviewed:
        return (Step.county_approval,)
    if status in {ProjectStatus.in_progress, *CLOSED} and not state.results_disclosed:
        return (Step.results_disclosure,)
    return ()


def _check_date(on: date, state: ChainState, *, today: date, pointer: str, what: str) -> None:
    if on > today:
        raise Invalid("date_in_future", f"the {what} cannot be dated after today ({today})", field=pointer)
    if state.last_on is not None and on < state.last_on:
        raise Refused(
            "date_out_of_order",
            f"the {what} ({on}) cannot be dated before the previous step ({state.last_on})",
            field=pointer,
            previous=state.last_on.isoformat(),
        )


_POINTERS = {Meeting: "/held_on", Resolution: "/held_on", Disclosure: "/posted_on", Review: "/decided_on"}


def decide(state: ChainState, command: StepCommand, actor: Actor, *, now: datetime, today: date) -> Event:
    """The event a step of the chain appends, or the rule that refuses it: the level first (403), then the
    order (409 `wrong_state`), the date (422 in the future, 409 before the previous step), the step's own data."""
    step = command.step
    require_level(step, actor.role)
    expected = expected_steps(state)
    if step not in expected:
        raise Refused(
            "wrong_state",
            f"the project is {state.status.english.lower()}: the {step.english.lower()} cannot be recorded now"
            + (f" (next: {', '.join(s.value for s in expected)})" if expected else ""),
            status=state.status.value,
            step=step.value,
            expected=[s.value for s in expected],
        )
    if isinstance(command, Review):
        command = replace(command, decided_on=command.decided_on or today)
    _check_date(command.on, state, today=today, pointer=_POINTERS[type(command)], what=step.english.lower())
    reason: str | None = None
    if isinstance(command, Resolution):
        if command.votes_for + command.votes_against > command.attendees:
            raise Invalid(
                "votes_exceed_attendance",
                f"{command.votes_for} for and {command.votes_against} against, with {command.attendees} present",
                field="/votes_for",
            )
        if command.votes_for * 2 <= command.attendees:
            raise Refused(
                "resolution_not_passed",
                f"{command.votes_for} of {command.attendees} present voted for: a resolution needs a majority",
                votes_for=command.votes_for,
                attendees=command.attendees,
            )
    if isinstance(command, Review):
        reason = (command.reason or "").strip() or None
        if not command.approve and reason is None:
            raise Invalid("reason_required", "a return names its reason", field="/reason")
    after = advance(state, step, command.on, command.data())
    return Event(
        step=step,
        on=command.on,
        at=now,
        actor=actor.sub,
        role=actor.role,
        status_after=after.status,
        data=command.data(),
        reason=reason,
    )


def start(state: ChainState, actor: Actor, *, now: datetime, today: date) -> Event | None:
    """The first progress on an approved project starts its implementation; None when it already runs."""
    if state.status is not ProjectStatus.approved:
        return None
    return Event(
        step=Step.start,
        on=today,
        at=now,
        actor=actor.sub,
        role=actor.role,
        status_after=ProjectStatus.in_progress,
    )


# == milestones ==================================================================================================
def progresses(percent: int, done_on: date | None) -> bool:
    """Whether a milestone reports progress (which only an approved project makes)."""
    return percent > 0 or done_on is not None


def check_milestone(
    *,
    status: ProjectStatus,
    starts_on: date | None,
    finishes_on: date | None,
    due_on: date,
    percent: int,
    done_on: date | None,
    today: date,
) -> None:
    """A milestone as it would be after the change (invariants 9 and 12)."""
    if status in CLOSED:
        raise Refused("project_closed", f"the project is {status.english.lower()}: its milestones are final")
    if starts_on is None or finishes_on is None:
        raise Refused("schedule_missing", "set the project's schedule (starts_on, finishes_on) first")
    if not starts_on <= due_on <= finishes_on:
        raise Invalid(
            "due_outside_schedule",
            f"a milestone is due within the schedule ({starts_on} to {finishes_on}), not on {due_on}",
            field="/due_on",
        )
    if not 0 <= percent <= 100:
        raise Invalid("percent_range", "progress is a percentage from 0 to 100", field="/percent")
    if done_on is not None:
        if done_on > today:
            raise Invalid(
                "date_in_future", f"a milestone cannot be done after today ({today})", field="/done_on"
            )
        if done_on < starts_on:
            raise Invalid(
                "done_before_start",
                f"a milestone cannot be done ({done_on}) before the project starts ({starts_on})",
                field="/done_on",
            )
        if percent != 100:
            raise Invalid("done_needs_full_progress", "a milestone done is at 100 %", field="/percent")
    elif percent == 100:
        raise Invalid("done_on_required", "a milestone at 100 % names the day it was done", field="/done_on")
    if progresses(percent, done_on) and status not in IMPLEMENTING:
        raise Refused(
            "not_approved",
            f"the project is {status.english.lower()}: progress is reported once the county approved it",
            status=status.value,
        )


def is_overdue(due_on: date, done_on: date | None, on: date) -> bool:
    """Due before the day and not done."""
    return done_on is None and due_on < on


def days_overdue(due_on: date, on: date) -> int:
    return max((on - due_on).days, 0)


# == attachments =================================================================================================
#: The formats of a project's photos and documents, checked by their bytes as well as their declared type.
ATTACHMENT_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/webp", "application/pdf"})
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 50


class AttachmentTypeRefused(Invalid):
    """Not one of `ATTACHMENT_TYPES`, or the bytes are not what the type says (HTTP 415)."""


class AttachmentTooLarge(Invalid):
    """Larger than `MAX_ATTACHMENT_BYTES` (HTTP 413)."""


def sniff(data: bytes) -> str | None:
    """The type the bytes start with (magic numbers), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def check_attachment(content_type: str, data: bytes) -> None:
    """An allowed type, within the size limit, not empty, and bytes of the type declared."""
    if content_type not in ATTACHMENT_TYPES:
        raise AttachmentTypeRefused(
            "attachment_type",
            f"attachments are {', '.join(sorted(ATTACHMENT_TYPES))}, not '{content_type}'",
        )
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(
            "attachment_too_large", f"an attachment is limited to {MAX_ATTACHMENT_BYTES} bytes"
        )
    if not data:
        raise Invalid("empty_attachment", "the attachment is empty")
    if sniff(data) != content_type:
        raise AttachmentTypeRefused("attachment_type", f"the bytes are not {content_type}")


def check_attachment_count(stored: int) -> None:
    if stored >= MAX_ATTACHMENTS:
        raise Refused("too_many_attachments", f"a project holds at most {MAX_ATTACHMENTS} attachments")


# == completion acceptance (验收) ==================================================================================
@dataclass(frozen=True, slots=True)
class AcceptanceRecord:
    accepted_on: date
    passed: bool
    findings: str
    accepted_by: str


def accept(
    state: ChainState,
    record: AcceptanceRecord,
    actor: Actor,
    *,
    starts_on: date | None,
    open_milestones: Sequence[str],
    now: datetime,
    today: date,
) -> Event:
    """The acceptance event: by the county, of a project being implemented, dated after its approval (and its
    start), not in the future; a pass needs every milestone done."""
    require_level(Step.acceptance, actor.role)
    if state.status is not ProjectStatus.in_progress:
        raise Refused(
            "wrong_state",
            f"the project is {state.status.english.lower()}: only a project being implemented is accepted",
            status=state.status.value,
            step=Step.acceptance.value,
            expected=[s.value for s in expected_steps(state)],
        )
    _check_date(record.accepted_on, state, today=today, pointer="/accepted_on", what="acceptance")
    if starts_on is not None and record.accepted_on < starts_on:
        raise Refused(
            "date_out_of_order",
            f"the acceptance ({record.accepted_on}) cannot be dated before the project starts ({starts_on})",
            field="/accepted_on",
            previous=starts_on.isoformat(),
        )
    if record.passed and open_milestones:
        raise Refused(
            "milestones_open",
            f"a project passes acceptance with every milestone done; open: {', '.join(open_milestones)}",
            milestones=list(open_milestones),
        )
    status = ProjectStatus.accepted if record.passed else ProjectStatus.rejected
    return Event(
        step=Step.acceptance,
        on=record.accepted_on,
        at=now,
        actor=actor.sub,
        role=actor.role,
        status_after=status,
        data={"passed": record.passed},
    )


# == assets (资产确权) =============================================================================================
def check_asset(
    status: ProjectStatus, owner_kind: AssetOwnerKind, beneficiaries: Sequence[uuid.UUID]
) -> None:
    """Assets are confirmed after a passed acceptance; a household's asset names the household(s)."""
    if status is not ProjectStatus.accepted:
        raise Refused(
            "not_accepted",
            f"the project is {status.english.lower()}: its assets are recorded after a passed acceptance",
            status=status.value,
        )
    if owner_kind is AssetOwnerKind.household and not beneficiaries:
        raise Invalid(
            "owner_household_missing",
            "an asset owned by a household names that household in beneficiary_household_ids",
            field="/beneficiary_household_ids",
        )
