"""Identification (精确识别), exit (脱贫) and return (返贫) workflows as an event-sourced state machine.

Pure (standard library, `shared.roles/clock/errors` and the households domain), checkable line by line against
DOMAIN.md §2.9, §2.11, §2.13-§2.15, §6.5-A and §7 invariants 14-19, 21-22:

- every decision is an immutable `Event`; the current state is `replay(events)`; a correction is a new event;
- a command arrives as a typed step (`parse_step` turns the request's `data` into one); `decide(state, step, actor,
  now)` checks it against the guards and returns the event to append, or raises a `shared.errors` error with a
  stable `code`: `NotAllowed` for the wrong level, `Invalid` for malformed command data, `Refused` for the wrong
  state or time;
- "two notices and one announcement" (两公示一公告): each notice lasts at least `notice_days` *full* days in China
  Standard Time, an open objection blocks the household, and only the assigned level decides each review
  (village → township → county, no skipping);
- recusal of declared relatives (优亲厚友) and the exit test assembled from the record (§6.5-A) are plain functions.

The service persists events, checks region scope and asks the regions feature about quotas (invariant 24).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from services.registry.households.domain import (
    DANGEROUS_HOUSE_GRADES,
    WORKING,
    LaborCapacity,
    PovertyAttribute,
)
from shared.clock import CHINA_TIME, rfc3339
from shared.errors import DomainError, Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import Role

__all__ = [
    "BATCH_COMMANDS",
    "DECIDERS",
    "HISTORY_ONLY_COMMANDS",
    "IMPORT_COMMAND",
    "IN_IDENTIFICATION",
    "MEMBERS_ADDED_REASON",
    "POOR_STATUSES",
    "QUOTA_OVERRIDERS",
    "QUOTA_STATUSES",
    "RELOCATION_COMMAND",
    "REVIEWS",
    "SHOCK_CAUSES",
    "STATUTORY_NOTICE_DAYS",
    "Actor",
    "Announce",
    "Apply",
    "ApplyReturn",
    "Chain",
    "Command",
    "Cosign",
    "CountyReview",
    "Event",
    "ExitMember",
    "ExitSurvey",
    "ExitTest",
    "FileObjection",
    "IdentificationIncome",
    "MembersAdded",
    "NoticeWindow",
    "Outcome",
    "ProposeExit",
    "RecordedEvent",
    "Remove",
    "ResolveObjection",
    "ReturnEligibility",
    "StartNotice",
    "Status",
    "Step",
    "TownshipReview",
    "VillageReview",
    "WorkflowPolicy",
    "WorkflowState",
    "advance",
    "assemble_exit_test",
    "check_batch_command",
    "check_recusal",
    "decide",
    "effective_year",
    "exit_income_line",
    "exit_income_year",
    "identification_income_line",
    "identification_reference_year",
    "members_added",
    "notice_length",
    "outcome",
    "parse_step",
    "replay",
    "require_not_dissolved",
    "require_quota_overrider",
    "state_of",
]


@code_list("workflow_status", "识别流程状态", "Workflow status")
class Status(LabelledEnum):
    """Household status along the workflow (DOMAIN.md §2.15)."""

    none = "none", "未入库", "Not in the registry"  # not in the registry yet
    applied = "applied", "农户申请", "Applied"
    return_applied = "return_applied", "返贫申请", "Return applied"
    village_reviewed = "village_reviewed", "民主评议", "Village reviewed"
    first_notice = "first_notice", "第一次公示", "First notice"
    township_reviewed = "township_reviewed", "乡审核", "Township reviewed"
    second_notice = "second_notice", "第二次公示", "Second notice"
    county_reviewed = "county_reviewed", "县复审", "County re-reviewed"
    registered = "registered", "建档立卡", "Registered"
    exit_proposed = "exit_proposed", "脱贫评议", "Exit proposed"
    exit_first_notice = "exit_first_notice", "脱贫第一次公示", "Exit first notice"
    exit_township_reviewed = "exit_township_reviewed", "脱贫乡审核", "Exit township reviewed"
    exit_second_notice = "exit_second_notice", "脱贫第二次公示", "Exit second notice"
    exit_county_reviewed = "exit_county_reviewed", "脱贫县复审", "Exit county re-reviewed"
    exited = "exited", "已脱贫", "Exited"
    rejected = "rejected", "未通过", "Rejected"
    removed = "removed", "识别不准清退", "Removed (mis-identified)"


#: Counted against the scale-control quota of their quota year: past an approved village review (§2.10,
#: invariant 24). The regions feature counts used quota with this set.
QUOTA_STATUSES: frozenset[Status] = frozenset(
    {
        Status.village_reviewed,
        Status.first_notice,
        Status.township_reviewed,
        Status.second_notice,
        Status.county_reviewed,
        Status.registered,
        Status.exit_proposed,
        Status.exit_first_notice,
        Status.exit_township_reviewed,
        Status.exit_second_notice,
        Status.exit_county_reviewed,
        Status.exited,
    }
)
#: The poor population counted in incidence: registered and not yet exited (§2.15).
POOR_STATUSES: frozenset[Status] = frozenset(
    {
        Status.registered,
        Status.exit_proposed,
        Status.exit_first_notice,
        Status.exit_township_reviewed,
        Status.exit_second_notice,
        Status.exit_county_reviewed,
    }
)
#: On the way to registration: applied (or returning) up to the county re-review (§2.9).
IN_IDENTIFICATION: frozenset[Status] = frozenset(
    {
        Status.applied,
        Status.return_applied,
        Status.village_reviewed,
        Status.first_notice,
        Status.township_reviewed,
        Status.second_notice,
        Status.county_reviewed,
    }
)


@code_list("workflow_chain", "流程", "Workflow chain")
class Chain(LabelledEnum):
    identification = "identification", "精确识别", "Identification"
    exit = "exit", "脱贫", "Exit"
    return_ = "return", "返贫", "Return to poverty"


@code_list("workflow_command", "流程步骤", "Workflow command")
class Command(LabelledEnum):
    """The workflow's steps, also the `{command}` of the HTTP routes."""

    apply = "apply", "农户申请", "Apply"
    apply_return = "apply_return", "返贫申请", "Apply to return"
    village_review = "village_review", "民主评议", "Village review"
    cosign = "cosign", "村委会、工作队签字", "Co-sign"
    start_notice = "start_notice", "公示", "Start the notice"
    file_objection = "file_objection", "提出异议", "File an objection"
    resolve_objection = "resolve_objection", "处理异议", "Resolve the objection"
    township_review = "township_review", "乡审核", "Township review"
    county_review = "county_review", "县复审", "County re-review"
    announce = "announce", "公告", "Announce"
    propose_exit = "propose_exit", "拟脱贫", "Propose exit"
    remove = "remove", "清退", "Remove"


#: The command of the event a bulk import writes: the household's history starts at the status it names.
IMPORT_COMMAND = "import"
#: The command of the event a relocation writes (易地扶贫搬迁, households/service.py): history only, no step.
RELOCATION_COMMAND = "relocate"
#: Events that are history only: replay skips them (the state is unchanged by them).
HISTORY_ONLY_COMMANDS: frozenset[str] = frozenset({IMPORT_COMMAND, RELOCATION_COMMAND})

#: Steps a village's or township's whole list may take together (DOMAIN.md §2.9 batch operations).
BATCH_COMMANDS: frozenset[Command] = frozenset(
    {
        Command.village_review,
        Command.cosign,
        Command.start_notice,
        Command.township_review,
        Command.county_review,
        Command.announce,
    }
)
#: Decisions a declared relative must not take (recusal, §2.11 优亲厚友, invariant 7).
REVIEWS: frozenset[Command] = frozenset(
    {Command.village_review, Command.township_review, Command.county_review}
)

#: Who decides what (invariant 18: only the assigned level, no skipping).
DECIDERS: dict[Command, frozenset[Role]] = {
    Command.apply: frozenset({Role.village_officer}),
    Command.apply_return: frozenset({Role.village_officer}),
    Command.village_review: frozenset({Role.village_officer}),
    Command.cosign: frozenset({Role.village_officer}),
    Command.start_notice: frozenset({Role.village_officer, Role.township_officer}),
    Command.file_objection: frozenset({Role.village_officer, Role.township_officer, Role.county_admin}),
    Command.resolve_objection: frozenset({Role.township_officer, Role.county_admin}),
    Command.township_review: frozenset({Role.township_officer}),
    Command.county_review: frozenset({Role.county_admin}),
    Command.announce: frozenset({Role.county_admin}),
    Command.propose_exit: frozenset({Role.village_officer, Role.township_officer}),
    Command.remove: frozenset({Role.county_admin}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    sub: str
    role: Role


@dataclass(frozen=True)
class Event:
    """One immutable decision in a household's history (`data` is what is stored with it)."""

    command: Command
    at: datetime
    actor: str
    role: Role
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


#: "公示期7天,以下公示时间均为7天" [S 002]: no notice runs fewer full days, whatever the policy says.
STATUTORY_NOTICE_DAYS = 7


@dataclass(frozen=True, slots=True)
class WorkflowPolicy:
    """Configurable rules (policy parameters per region and year; defaults from DOMAIN.md)."""

    notice_days: int = STATUTORY_NOTICE_DAYS  # "公示期7天" [S 002]; a region may only lengthen it
    return_causes: frozenset[str] = frozenset({"disaster", "illness", "schooling", "accident", "other"})


@dataclass(frozen=True, slots=True)
class NoticeWindow:
    started_at: datetime
    places: tuple[str, ...]
    #: The length the notice was posted with; a later change of `notice_days` does not touch a running notice.
    days: int = STATUTORY_NOTICE_DAYS

    def earliest_close(self, days: int | None = None) -> datetime:
        """The notice may close after `days` (by default its own length) full local days: from midnight after
        the posting day + days."""
        days = self.days if days is None else days
        posted_on = self.started_at.astimezone(CHINA_TIME).date()
        close_day = posted_on + timedelta(days=days + 1)
        return datetime(close_day.year, close_day.month, close_day.day, tzinfo=CHINA_TIME).astimezone(UTC)


# == the exit test (§6.5-A) ===================================================================================
@dataclass(frozen=True)
class ExitTest:
    """The household exit checklist (DOMAIN.md §6.5-A); every item must pass (invariant 22)."""

    per_capita_net_income_yuan: int
    income_line_yuan: int
    food_and_clothing_secure: bool  # 两不愁
    children_in_school: bool  # 义务教育有保障
    medical_insurance: bool  # 基本医疗有保障
    housing_safe: bool  # 住房安全有保障 (not C/D grade)
    has_labour_capacity: bool
    stable_income_source: bool
    social_security_covered: bool  # 低保 / 五保 when no labour capacity
    head_acknowledged: bool
    #: How `housing_safe` was known: the record's danger grade, the survey's housing answer, or not at all
    #: (an ungraded house without a survey answer is not safe: issue #13 item 6).
    housing_basis: str = "grade"
    #: The income year the test read: the exit year (the assessment year, §6.5-A item 1).
    income_year: int | None = None

    def failures(self) -> list[str]:
        failed = []
        if self.per_capita_net_income_yuan < self.income_line_yuan:
            failed.append("per-capita net income below the line")
        for name in ("food_and_clothing_secure", "children_in_school", "medical_insurance"):
            if not getattr(self, name):
                failed.append(name)
        if not self.housing_safe:
            failed.append("housing_unknown" if self.housing_basis == "unknown" else "housing_safe")
        if self.has_labour_capacity and not self.stable_income_source:
            failed.append("stable_income_source")
        if not self.has_labour_capacity and not self.social_security_covered:
            failed.append("social_security_covered")
        if not self.head_acknowledged:
            failed.append("head_acknowledged")
        return failed


@dataclass(frozen=True, slots=True)
class ExitSurvey:
    """The answers of the exit survey that the record cannot know (each must be true or false)."""

    food_and_clothing_secure: object = None  # 两不愁
    stable_income_source: object = None  # 有稳定收入来源
    head_acknowledged: object = None  # 户主签字认可
    #: 住房安全: read only when the record has no danger grade (a grade always decides); optional true/false.
    housing_safe: object = None


#: Compulsory education (九年义务教育) ages, in completed years: 6 to 15 (§6.5-A item 3) [I].
COMPULSORY_SCHOOL_AGES = range(6, 16)
#: School statuses that count as "in school" for a compulsory-age child (preschool: not yet in primary school).
IN_SCHOOL_STATUSES = frozenset(
    {"preschool", "primary", "junior_middle", "senior_high", "secondary_vocational", "college"}
)


def age_on(birth_year_month: str, on: date) -> int | None:
    """Completed years on `on` of someone born in `birth_year_month` (YYYY-MM; counted from the 1st), or None."""
    try:
        year, month = (int(part) for part in birth_year_month.split("-", 1))
    except (AttributeError, ValueError):
        return None
    return on.year - year - (1 if on.month < month else 0)


@dataclass(frozen=True, slots=True)
class ExitMember:
    """What the exit test reads of one active member."""

    labor_capacity: str
    dropout: bool  # 辍学
    ncms_enrolled: bool  # 新农合 / 城乡居民医保
    #: A compulsory-age child (6-15) whose school status is not_in_school or unknown (issue #13 item 6).
    out_of_school: bool = False

    @classmethod
    def of(
        cls,
        labor_capacity: str,
        details: Mapping[str, Any] | None,
        *,
        birth_year_month: str | None = None,
        school_status: str | None = None,
        on: date | None = None,
    ) -> ExitMember:
        """From a member's labour capacity, the `details` JSON of the national form and, when `on` (the test
        date) is given, the member's age and school status: a compulsory-age child must be in school."""
        info = details or {}
        insurance = info.get("insurance") or {}
        age = age_on(birth_year_month, on) if birth_year_month and on is not None else None
        return cls(
            labor_capacity=labor_capacity,
            dropout=bool(info.get("dropout")),
            ncms_enrolled=bool(insurance.get("ncms_enrolled")),
            out_of_school=age in COMPULSORY_SCHOOL_AGES and school_status not in IN_SCHOOL_STATUSES,
        )


def exit_income_line(policy: Mapping[str, int | Decimal | None]) -> int | Decimal:
    """The income line of the exit test: the exit line, else the identification line (§2.8) — never below the
    identification line (a household cannot exit under the line it was identified by; issue #13 item 6)."""
    exit_line = policy.get("exit_income_line_yuan")
    identification_line = policy.get("identification_income_line_yuan")
    lines = [line for line in (exit_line, identification_line) if line is not None]
    if not lines:
        raise Refused("policy_missing", "no income line is set for this year")
    return max(lines)


def exit_income_year(requested: int | None, now: datetime) -> int:
    """The income year of the exit test: the assessment year, i.e. the China year of the exit (§6.5-A item 1,
    invariant 19). A caller may name it, but only that year (issue #13 item 6: 2099 was accepted)."""
    year = effective_year(now)
    if requested is not None and requested != year:
        raise Invalid(
            "income_year_invalid",
            f"the exit test reads the income of the exit year {year}, not {requested}",
            field="/data/income_year",
            expected=year,
        )
    return year


def identification_income_line(policy: Mapping[str, int | Decimal | None]) -> int | Decimal:
    line = policy.get("identification_income_line_yuan")
    if line is None:
        raise Refused("policy_missing", "no identification income line is set for this year")
    return line


def assemble_exit_test(
    *,
    per_capita_net_income: Decimal,
    income_line: int | Decimal,
    survey: ExitSurvey,
    members: Sequence[ExitMember],
    dangerous_house_grade: str | None,
    poverty_attribute: str | None,
    categories: Mapping[str, Any],
    income_year: int | None = None,
) -> ExitTest:
    """§6.5-A evaluated from the record; the survey answers (两不愁, stable income, acknowledgement) come in."""
    for key in ("food_and_clothing_secure", "stable_income_source", "head_acknowledged"):
        if not isinstance(getattr(survey, key), bool):
            raise Invalid("data_invalid", f"data.{key} (true/false) is required for the exit test")
    if survey.housing_safe is not None and not isinstance(survey.housing_safe, bool):
        raise Invalid("data_invalid", "data.housing_safe is true or false")
    # A danger grade decides; without one the survey's housing answer does; without both the house is unknown.
    if dangerous_house_grade is not None:
        housing_safe, housing_basis = dangerous_house_grade not in DANGEROUS_HOUSE_GRADES, "grade"
    elif isinstance(survey.housing_safe, bool):
        housing_safe, housing_basis = survey.housing_safe, "survey"
    else:
        housing_safe, housing_basis = False, "unknown"
    return ExitTest(
        per_capita_net_income_yuan=int(per_capita_net_income),
        income_line_yuan=int(income_line),
        food_and_clothing_secure=bool(survey.food_and_clothing_secure),
        children_in_school=not any(m.dropout or m.out_of_school for m in members),
        medical_insurance=all(m.ncms_enrolled for m in members),
        housing_safe=housing_safe,
        housing_basis=housing_basis,
        income_year=income_year,
        has_labour_capacity=any(LaborCapacity(m.labor_capacity) in WORKING for m in members),
        stable_income_source=bool(survey.stable_income_source),
        social_security_covered=poverty_attribute
        in (PovertyAttribute.dibao_poor, PovertyAttribute.wubao_poor)
        or bool(categories.get("is_dibao_household") or categories.get("is_wubao_household")),
        head_acknowledged=bool(survey.head_acknowledged),
    )


# == typed steps: the request's `data`, parsed =================================================================
@dataclass(frozen=True, slots=True)
class Step:
    """A command with its data. Fields left None were not given; `as_data()` is what the event stores."""

    command: ClassVar[Command]

    def as_data(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class Apply(Step):
    command = Command.apply


#: Return causes that are a shock (因灾、因病、因学返贫 [S 002], and accidents): with evidence, a household whose
#: recorded income is still above the line may re-enter (it meets the standard on housing, health, schooling).
SHOCK_CAUSES: frozenset[str] = frozenset({"disaster", "illness", "schooling", "accident"})


@dataclass(frozen=True, slots=True)
class ReturnEligibility:
    """What the record says of a returning household's income (§2.14: it must meet the identification standard):
    its latest recorded per-capita net income (None: no income recorded) against the identification line."""

    income_line_yuan: int
    income_year: int | None = None
    per_capita_net_income_yuan: int | None = None

    @property
    def below_line(self) -> bool:
        return (
            self.per_capita_net_income_yuan is not None
            and self.per_capita_net_income_yuan < self.income_line_yuan
        )


@dataclass(frozen=True, slots=True)
class ApplyReturn(Step):
    command = Command.apply_return
    cause: str | None = None  # disaster, illness, schooling, …
    evidence_ref: str | None = None  # the shock's evidence: hospital bills, disaster report, …
    eligibility: ReturnEligibility | None = None  # from the record (the service fills it)

    def as_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v for k, v in (("cause", self.cause), ("evidence_ref", self.evidence_ref)) if v
        }
        if self.eligibility is not None:
            out["eligibility"] = {
                "basis": "income" if self.eligibility.below_line else "shock",
                **asdict(self.eligibility),
            }
        return out


def identification_reference_year(identification_year: int) -> int:
    """The income year identification reads: the calendar year before the identification year (reference date
    31 December, period 1 January to 31 December; DOMAIN.md §2.8, invariant 13) — 2013 for the 2014 round."""
    return identification_year - 1


@dataclass(frozen=True, slots=True)
class IdentificationIncome:
    """What the record says of an applying household's income (§2.8: income first): its per-capita net income
    for the reference year (None: not recorded) against the identification line of that year (None: not set)."""

    identification_year: int
    reference_year: int
    income_line_yuan: int | None
    per_capita_net_income_yuan: Decimal | None = None

    @property
    def below_line(self) -> bool:
        return (
            self.income_line_yuan is not None
            and self.per_capita_net_income_yuan is not None
            and self.per_capita_net_income_yuan < self.income_line_yuan
        )

    def as_data(self) -> dict[str, Any]:
        figure = self.per_capita_net_income_yuan
        return {
            "identification_year": self.identification_year,
            "reference_year": self.reference_year,
            "income_line_yuan": self.income_line_yuan,
            "per_capita_net_income_yuan": None if figure is None else str(figure),
            "below_line": self.below_line,
        }


@dataclass(frozen=True, slots=True)
class VillageReview(Step):
    command = Command.village_review
    minutes_ref: str | None = None  # the assembly's minutes
    attendees: int | None = None
    votes_for: int | None = None
    approved: bool | None = None
    #: The reference year's income against the line, from the record (the service fills it, issue #13 item 1).
    income: IdentificationIncome | None = None

    def as_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v
            for k, v in (
                ("minutes_ref", self.minutes_ref),
                ("attendees", self.attendees),
                ("votes_for", self.votes_for),
                ("approved", self.approved),
            )
            if v is not None
        }
        if self.income is not None:
            out["income"] = self.income.as_data()
        return out


#: The two bodies that co-sign the initial list (§2.9 step 4): the village committee and the resident work team.
COSIGN_PARTIES = ("village_committee", "work_team")


@dataclass(frozen=True, slots=True)
class Cosign(Step):
    command = Command.cosign
    party: str | None = None  # village_committee or work_team
    #: Whether the caller holds a running assignment to the household's village work team (驻村工作队: first
    #: secretary, team leader or member), from the registry's village assignments (the service fills it).
    on_work_team: bool | None = None


@dataclass(frozen=True, slots=True)
class StartNotice(Step):
    command = Command.start_notice
    places: tuple[str, ...] | None = None

    def as_data(self) -> dict[str, Any]:
        return {} if self.places is None else {"places": list(self.places)}


@dataclass(frozen=True, slots=True)
class FileObjection(Step):
    command = Command.file_objection
    objection_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResolveObjection(Step):
    command = Command.resolve_objection
    objection_id: str | None = None
    outcome: str | None = None  # dismissed or upheld
    entries_changed: bool | None = None  # the notice restarts for changed entries


@dataclass(frozen=True, slots=True)
class TownshipReview(Step):
    command = Command.township_review
    approve: bool | None = None  # only an explicit false rejects


@dataclass(frozen=True, slots=True)
class CountyReview(Step):
    command = Command.county_review
    approve: bool | None = None  # only an explicit false rejects


@dataclass(frozen=True, slots=True)
class Announce(Step):
    command = Command.announce


@dataclass(frozen=True, slots=True)
class ProposeExit(Step):
    """The exit proposal: the minutes, the year of the income it is judged on, the survey, then the test."""

    command = Command.propose_exit
    minutes_ref: str | None = None
    income_year: int | None = None
    survey: ExitSurvey = ExitSurvey()
    exit_test: ExitTest | None = None
    #: The exit's democratic review (民主评议, §2.13 step 3): attendance and votes, as the identification review.
    attendees: int | None = None
    votes_for: int | None = None

    def as_data(self) -> dict[str, Any]:
        # The survey answers live on in the test; the income year is the test's business.
        out: dict[str, Any] = {} if self.minutes_ref is None else {"minutes_ref": self.minutes_ref}
        out.update(
            {k: v for k, v in (("attendees", self.attendees), ("votes_for", self.votes_for)) if v is not None}
        )
        if self.exit_test is not None:
            out["exit_test"] = {"failed": self.exit_test.failures(), **asdict(self.exit_test)}
        return out


@dataclass(frozen=True, slots=True)
class Remove(Step):
    command = Command.remove


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _flag(value: Any) -> bool | None:
    # Truthiness, as the assembly's paper form: "approved": 1 approves.
    return None if value is None else bool(value)


def _approve(value: Any) -> bool | None:
    # Only an explicit false rejects a review: anything else given approves.
    return None if value is None else value is not False


def parse_step(command: Command, data: Mapping[str, Any]) -> Step:
    """The typed step of `command` from a request's `data`; `Invalid` ("data_invalid") for values of a wrong type."""
    try:
        if command is Command.apply:
            return Apply()
        if command is Command.apply_return:
            return ApplyReturn(cause=_text(data.get("cause")), evidence_ref=_text(data.get("evidence_ref")))
        if command is Command.village_review:
            return VillageReview(
                minutes_ref=_text(data.get("minutes_ref")),
                attendees=int(data.get("attendees", 0)),
                votes_for=int(data.get("votes_for", 0)),
                approved=_flag(data.get("approved")),
            )
        if command is Command.cosign:
            return Cosign(party=_text(data.get("party")))  # on_work_team: from the record, never the request
        if command is Command.start_notice:
            places = data.get("places")
            return StartNotice(places=None if places is None else tuple(str(p) for p in places))
        if command is Command.file_objection:
            return FileObjection(objection_id=_text(data.get("objection_id")))
        if command is Command.resolve_objection:
            return ResolveObjection(
                objection_id=_text(data.get("objection_id")),
                outcome=_text(data.get("outcome")),
                entries_changed=_flag(data.get("entries_changed")),
            )
        if command is Command.township_review:
            return TownshipReview(approve=_approve(data.get("approve")))
        if command is Command.county_review:
            return CountyReview(approve=_approve(data.get("approve")))
        if command is Command.announce:
            return Announce()
        if command is Command.propose_exit:
            year = data.get("income_year")
            return ProposeExit(
                minutes_ref=_text(data.get("minutes_ref")),
                attendees=int(data.get("attendees", 0)),
                votes_for=int(data.get("votes_for", 0)),
                income_year=None if year is None else int(year),
                survey=ExitSurvey(
                    food_and_clothing_secure=data.get("food_and_clothing_secure"),
                    stable_income_source=data.get("stable_income_source"),
                    head_acknowledged=data.get("head_acknowledged"),
                    housing_safe=data.get("housing_safe"),
                ),
            )
        if command is Command.remove:
            return Remove()
    except (TypeError, ValueError) as exc:
        raise Invalid("data_invalid", f"command data is invalid: {exc}") from exc
    raise AssertionError(command)  # pragma: no cover - every command is handled above


# == the state =================================================================================================
@dataclass(frozen=True)
class WorkflowState:
    status: Status = Status.none
    chain: Chain | None = None
    returned: bool = False
    cosigned_by: frozenset[str] = frozenset()
    #: Who co-signed for which body since the last review: (party, principal sub) pairs (issue #13 item 4).
    cosigners: frozenset[tuple[str, str]] = frozenset()
    notice: NoticeWindow | None = None
    open_objections: frozenset[str] = frozenset()
    objections_seen: frozenset[str] = frozenset()
    last_at: datetime | None = None
    county_reviewed_at: datetime | None = None
    #: When the household was last rejected: it may apply again in a later year's round (issue #13 item 8).
    rejected_at: datetime | None = None

    @property
    def display_status(self) -> str:
        """`objection_pending` while an objection suspends the household (DOMAIN.md §2.15 side state)."""
        return "objection_pending" if self.open_objections else str(self.status)


# (from status) → (to status) for the linear steps, per chain.
_NOTICE_STEPS = {
    Status.village_reviewed: Status.first_notice,
    Status.township_reviewed: Status.second_notice,
    Status.exit_proposed: Status.exit_first_notice,
    Status.exit_township_reviewed: Status.exit_second_notice,
}
_TOWNSHIP_REVIEW = {
    Status.first_notice: Status.township_reviewed,
    Status.exit_first_notice: Status.exit_township_reviewed,
}
_COUNTY_REVIEW = {
    Status.second_notice: Status.county_reviewed,
    Status.exit_second_notice: Status.exit_county_reviewed,
}
_ANNOUNCE = {Status.county_reviewed: Status.registered, Status.exit_county_reviewed: Status.exited}
_FIRST_NOTICES = {Status.first_notice, Status.exit_first_notice}
_NOTICES = _FIRST_NOTICES | {Status.second_notice, Status.exit_second_notice}


def notice_length(policy: WorkflowPolicy) -> int:
    """The length of a notice posted under `policy`: its `notice_days`, never below the statutory 7 days."""
    return max(policy.notice_days, STATUTORY_NOTICE_DAYS)


def _need(condition: bool, error: type[DomainError], code: str, message: str, **details: Any) -> None:
    if not condition:
        raise error(code, message, **details)


def _require_notice_over(state: WorkflowState, policy: WorkflowPolicy, now: datetime) -> None:
    assert state.notice is not None
    closes = state.notice.earliest_close()
    _need(
        now >= closes,
        Refused,
        "notice_not_over",
        f"the notice runs {state.notice.days} full days; it can close at {rfc3339(closes)}",
        earliest=rfc3339(closes),
    )
    _need(
        not state.open_objections,
        Refused,
        "objection_open",
        "an open objection blocks this household",
        objections=sorted(state.open_objections),
    )


def _check_assembly(
    minutes_ref: str | None, attendees: int | None, votes_for: int | None, *, approving: bool
) -> None:
    """The villager representatives' assembly (民主评议, §2.9 step 3 and §2.13 step 3): minutes, attendance, votes
    within attendance, and a majority of the attendees for an approval."""
    present, votes = attendees or 0, votes_for or 0
    _need(bool(minutes_ref), Invalid, "minutes_required", "the assembly minutes are required")
    _need(present > 0 and 0 <= votes <= present, Invalid, "votes_invalid", "votes must be within attendance")
    _need(
        not approving or votes * 2 > present,
        Invalid,
        "votes_invalid",
        "approval needs a majority of the attendees",
    )


def _require_later_round(state: WorkflowState, now: datetime) -> None:
    """A rejected household applies again in a later year's round, not in the round that rejected it (item 8)."""
    rejected_at = state.rejected_at or state.last_at  # imported as rejected: the import's time
    assert rejected_at is not None
    rejected_in = effective_year(rejected_at)
    _need(
        effective_year(now) > rejected_in,
        Refused,
        "reapply_too_early",
        f"the household was rejected in the {rejected_in} round: it may apply again from {rejected_in + 1}",
        earliest_year=rejected_in + 1,
    )


def _check_return_eligibility(step: ApplyReturn) -> None:
    """§2.14: a returning household meets the identification standard — its latest recorded income survey is
    under the identification line, or a shock (因灾、因病、因学…) is stated with its evidence [S 002]."""
    e = step.eligibility
    _need(e is not None, Invalid, "income_survey_required", "the return needs the household's income survey")
    assert e is not None
    if e.below_line:
        return
    if step.cause in SHOCK_CAUSES and step.evidence_ref:
        return
    if e.per_capita_net_income_yuan is None:
        raise Refused(
            "income_survey_required",
            "record a new income survey under the identification line, or state the shock (disaster, illness, "
            "schooling, accident) with data.evidence_ref",
        )
    raise Refused(
        "return_not_eligible",
        f"the latest per-capita net income ({e.per_capita_net_income_yuan} yuan, {e.income_year}) is not under "
        f"the identification line ({e.income_line_yuan} yuan): record a new income survey, or state the shock "
        "with data.evidence_ref",
        per_capita_net_income_yuan=e.per_capita_net_income_yuan,
        income_line_yuan=e.income_line_yuan,
        income_year=e.income_year,
    )


def _check_identification_income(income: IdentificationIncome | None, now: datetime) -> None:
    """§2.8 and invariant 13: an approving democratic review needs the household's per-capita net income of the
    reference year (the year before the identification year), under the identification line of that year."""
    _need(
        income is not None,
        Refused,
        "identification_income_missing",
        "record the household's income for the reference year before the village review",
    )
    assert income is not None
    current = effective_year(now)
    _need(
        income.identification_year <= current,
        Refused,
        "identification_year_future",
        f"the identification year {income.identification_year} is after the current year {current}",
        identification_year=income.identification_year,
    )
    _need(
        income.income_line_yuan is not None,
        Refused,
        "policy_missing",
        f"no identification income line is set for {income.reference_year}",
    )
    _need(
        income.per_capita_net_income_yuan is not None,
        Refused,
        "identification_income_missing",
        f"record the household's income for {income.reference_year} (the year before the identification year "
        f"{income.identification_year}) before the village review",
        reference_year=income.reference_year,
    )
    _need(
        income.below_line,
        Refused,
        "identification_income_not_under_line",
        f"the per-capita net income for {income.reference_year} ({income.per_capita_net_income_yuan} yuan) is "
        f"not under the identification line ({income.income_line_yuan} yuan)",
        per_capita_net_income_yuan=str(income.per_capita_net_income_yuan),
        income_line_yuan=income.income_line_yuan,
        reference_year=income.reference_year,
    )


def _check_cosigner(state: WorkflowState, step: Cosign, actor: Actor) -> None:
    """§2.9 step 4: the village committee and the resident work team co-sign — two people of two bodies. The
    work team's signer holds a running assignment to the village's work team; the committee's signer does not;
    one person never signs for both (issue #13 item 4)."""
    if step.party == "work_team":
        _need(
            step.on_work_team is True,
            NotAllowed,
            "cosign_not_work_team",
            "only a member of the village's resident work team (驻村工作队) co-signs for the work team",
        )
    else:
        _need(
            step.on_work_team is not True,
            NotAllowed,
            "cosign_not_village_committee",
            "a member of the resident work team does not co-sign for the village committee",
        )
    other = {sub for party, sub in state.cosigners if party != step.party}
    _need(
        actor.sub not in other,
        Refused,
        "cosign_same_person",
        "the village committee and the work team co-sign by two different people",
    )


def decide(
    state: WorkflowState,
    step: Step,
    actor: Actor,
    now: datetime,
    *,
    reason: str | None = None,
    policy: WorkflowPolicy | None = None,
) -> Event:
    """Check `step` against the rules; return the event to append (state is not changed here)."""
    policy = policy or WorkflowPolicy()
    command = step.command
    _need(now.tzinfo is not None, Refused, "naive_time", "times must be timezone-aware")
    _need(
        actor.role in DECIDERS[command],
        NotAllowed,
        "wrong_level",
        f"a {actor.role} may not {command}",
        allowed=sorted(DECIDERS[command]),
    )
    if state.last_at is not None:
        _need(now >= state.last_at, Refused, "out_of_order", "workflow events must not go back in time")
    s = state.status
    data = step.as_data()

    if isinstance(step, Apply):
        # (an imported rejected household has no chain: it was rejected in identification)
        if s is Status.rejected and state.chain in (Chain.identification, None):
            _require_later_round(state, now)
        else:
            _need(s is Status.none, Refused, "wrong_state", f"cannot apply from {s}")
    elif isinstance(step, ApplyReturn):
        if s is Status.rejected and state.chain is Chain.return_:
            _require_later_round(state, now)
        else:
            _need(s is Status.exited, Refused, "wrong_state", "only an exited household can re-enter (返贫)")
        _need(
            step.cause in policy.return_causes,
            Invalid,
            "cause_required",
            f"a return needs a cause: one of {sorted(policy.return_causes)}",
        )
        _check_return_eligibility(step)
    elif isinstance(step, VillageReview):
        _need(s in (Status.applied, Status.return_applied), Refused, "wrong_state", f"cannot review from {s}")
        _check_assembly(step.minutes_ref, step.attendees, step.votes_for, approving=bool(step.approved))
        if step.approved and s is Status.applied:
            # A return was judged on its income when applied (§2.14); identification is judged here (§2.8).
            _check_identification_income(step.income, now)
    elif isinstance(step, Cosign):
        _need(
            s is Status.village_reviewed, Refused, "wrong_state", "co-signing follows the democratic review"
        )
        _need(
            step.party in COSIGN_PARTIES,
            Invalid,
            "party_invalid",
            "party is village_committee or work_team",
        )
        _check_cosigner(state, step, actor)
    elif isinstance(step, StartNotice):
        _need(s in _NOTICE_STEPS, Refused, "wrong_state", f"no notice follows {s}")
        if s is Status.village_reviewed:
            _need(
                state.cosigned_by >= {"village_committee", "work_team"},
                Refused,
                "cosign_required",
                "the list must be co-signed by the village committee and the work team",
            )
        places = step.places or ()
        _need(
            "administrative_village" in places,
            Invalid,
            "places_invalid",
            "notices are posted in the administrative village",
        )
        if s is Status.village_reviewed and state.chain is not Chain.exit:
            _need(
                "natural_village" in places,
                Invalid,
                "places_invalid",
                "the first identification notice is also posted in the natural village (屯)",
            )
        # The notice keeps the length it is posted with (invariant 14; 公示期7天 is the floor, S 002).
        days = notice_length(policy)
        data["notice_days"] = days
        data["closes_at"] = rfc3339(NoticeWindow(started_at=now, places=places, days=days).earliest_close())
    elif isinstance(step, FileObjection):
        _need(s in _NOTICES, Refused, "wrong_state", "objections are filed during a notice")
        oid = step.objection_id or ""
        _need(
            bool(oid) and oid not in state.objections_seen,
            Invalid,
            "objection_id_invalid",
            "a new objection_id is required",
        )
        _need(bool(reason), Invalid, "reason_required", "an objection states its grounds")
    elif isinstance(step, ResolveObjection):
        _need(
            str(step.objection_id) in state.open_objections,
            Refused,
            "objection_unknown",
            "no such open objection",
        )
        reviewer = Role.township_officer if s in _FIRST_NOTICES else Role.county_admin
        _need(
            actor.role is reviewer,
            NotAllowed,
            "wrong_level",
            f"the {reviewer} resolves objections to this notice",
        )
        _need(
            step.outcome in ("dismissed", "upheld"),
            Invalid,
            "outcome_invalid",
            "outcome is dismissed or upheld",
        )
        _need(bool(reason), Invalid, "reason_required", "a resolution records its reason")
    elif isinstance(step, TownshipReview):
        _need(s in _TOWNSHIP_REVIEW, Refused, "wrong_state", f"no township review from {s}")
        _require_notice_over(state, policy, now)
        _need(
            step.approve is not False or bool(reason),
            Invalid,
            "reason_required",
            "a rejection needs a reason",
        )
    elif isinstance(step, CountyReview):
        _need(s in _COUNTY_REVIEW, Refused, "wrong_state", f"no county re-review from {s}")
        _require_notice_over(state, policy, now)
        _need(
            step.approve is not False or bool(reason),
            Invalid,
            "reason_required",
            "a rejection needs a reason",
        )
        if step.approve is not False:
            # Invariant 19: the decision counts for the year of its China date.
            data["effective_year"] = effective_year(now)
    elif isinstance(step, Announce):
        _need(s in _ANNOUNCE, Refused, "wrong_state", f"nothing to announce from {s}")
    elif isinstance(step, ProposeExit):
        _need(s is Status.registered, Refused, "wrong_state", "only a registered household can exit")
        _need(bool(step.minutes_ref), Invalid, "minutes_required", "the exit list needs the assembly minutes")
        # The exit list is fixed by the assembly's democratic review (§2.13 step 3), like the identification list.
        _check_assembly(step.minutes_ref, step.attendees, step.votes_for, approving=True)
        test = step.exit_test
        _need(test is not None, Invalid, "exit_test_required", "the exit test (§6.5-A) must be evaluated")
        assert test is not None
        failures = test.failures()
        _need(
            not failures,
            Refused,
            "exit_test_failed",
            "the household does not pass the exit test",
            failed=failures,
        )
    elif isinstance(step, Remove):
        _need(s not in (Status.none, Status.removed), Refused, "wrong_state", f"cannot remove from {s}")
        _need(
            bool(reason), Invalid, "reason_required", "a removal records why the household was mis-identified"
        )
    return Event(command=command, at=now, actor=actor.sub, role=actor.role, reason=reason, data=data)


def _apply(state: WorkflowState, e: Event) -> WorkflowState:
    after = _step(state, e)
    if after.status is Status.rejected and state.status is not Status.rejected:
        after = replace(after, rejected_at=e.at)
    return after


def _step(state: WorkflowState, e: Event) -> WorkflowState:
    state = replace(state, last_at=e.at)
    s, c = state.status, e.command
    if c is Command.apply:
        return replace(state, status=Status.applied, chain=Chain.identification)
    if c is Command.apply_return:
        return replace(
            state,
            status=Status.return_applied,
            chain=Chain.return_,
            cosigned_by=frozenset(),
            cosigners=frozenset(),
        )
    if c is Command.village_review:
        if not e.data.get("approved"):
            return replace(state, status=Status.rejected)
        return replace(state, status=Status.village_reviewed, cosigned_by=frozenset(), cosigners=frozenset())
    if c is Command.cosign:
        party = str(e.data["party"])
        return replace(
            state, cosigned_by=state.cosigned_by | {party}, cosigners=state.cosigners | {(party, e.actor)}
        )
    if c is Command.start_notice:
        days = int(e.data.get("notice_days") or STATUTORY_NOTICE_DAYS)  # older notices: the statutory length
        notice = NoticeWindow(started_at=e.at, places=tuple(e.data.get("places", ())), days=days)
        # During a notice, a start_notice is its restart (`members_added`): the status stays.
        return replace(state, status=_NOTICE_STEPS.get(s, s), notice=notice)
    if c is Command.file_objection:
        oid = str(e.data["objection_id"])
        return replace(
            state,
            open_objections=state.open_objections | {oid},
            objections_seen=state.objections_seen | {oid},
        )
    if c is Command.resolve_objection:
        remaining = state.open_objections - {str(e.data["objection_id"])}
        if e.data.get("outcome") == "upheld":
            return replace(state, status=Status.rejected, open_objections=frozenset(), notice=None)
        if e.data.get("entries_changed") and state.notice is not None:
            # Changed entries are re-noticed from the resolution day [D, DOMAIN.md §2.9 objections].
            return replace(state, open_objections=remaining, notice=replace(state.notice, started_at=e.at))
        return replace(state, open_objections=remaining)
    if c is Command.township_review:
        if e.data.get("approve") is False:
            return replace(state, status=Status.rejected, notice=None)
        return replace(state, status=_TOWNSHIP_REVIEW[s], notice=None)
    if c is Command.county_review:
        if e.data.get("approve") is False:
            return replace(state, status=Status.rejected, notice=None)
        return replace(state, status=_COUNTY_REVIEW[s], notice=None, county_reviewed_at=e.at)
    if c is Command.announce:
        target = _ANNOUNCE[s]
        return replace(state, status=target, returned=state.returned or state.chain is Chain.return_)
    if c is Command.propose_exit:
        return replace(
            state,
            status=Status.exit_proposed,
            chain=Chain.exit,
            cosigned_by=frozenset(),
            cosigners=frozenset(),
        )
    if c is Command.remove:
        return replace(state, status=Status.removed, notice=None, open_objections=frozenset())
    raise AssertionError(c)  # pragma: no cover


def advance(state: WorkflowState, event: Event) -> WorkflowState:
    """The state after one more event (the single reducer `replay` folds with)."""
    return _apply(state, event)


def replay(events: Iterable[Event], start: WorkflowState | None = None) -> WorkflowState:
    """The current state of a household, derived from its whole history (from `start`, by default none)."""
    state = start or WorkflowState()
    for event in events:
        state = _apply(state, event)
    return state


class RecordedEvent(Protocol):
    """An event as stored (registry_workflow_event)."""

    @property
    def command(self) -> str: ...

    @property
    def at(self) -> datetime: ...

    @property
    def actor(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def data(self) -> Mapping[str, Any]: ...

    @property
    def status_after(self) -> str: ...


def state_of(recorded: Sequence[RecordedEvent]) -> WorkflowState:
    """The state a stored history leads to; a bulk-imported household starts at the status of its import event."""
    start = WorkflowState()
    if recorded and recorded[0].command == IMPORT_COMMAND:
        start = WorkflowState(status=Status(recorded[0].status_after), last_at=recorded[0].at)
    events = [
        Event(
            command=Command(r.command),
            at=r.at,
            actor=r.actor,
            role=Role(r.role),
            reason=r.reason,
            data=r.data,
        )
        for r in recorded
        if r.command not in HISTORY_ONLY_COMMANDS
    ]
    return replay(events, start=start)


def effective_year(county_reviewed_at: datetime) -> int:
    """Exits and re-entries count for year Y only if county-reviewed by 31 December of Y (invariant 19)."""
    local: date = county_reviewed_at.astimezone(CHINA_TIME).date()
    return local.year


# == around a decision ==========================================================================================
def require_not_dissolved(status: str) -> None:
    if status == "dissolved":
        raise Refused("wrong_state", "the household was dissolved (merged)")


def check_recusal(
    command: Command,
    actor_sub: str,
    related_officials: Iterable[Mapping[str, Any]],
    ever_declared: Iterable[str] = (),
) -> None:
    """A reviewer the household declared as a relative may not take its review (优亲厚友, §2.11; invariant 7) —
    nor one it ever declared (`ever_declared`, from the history): clearing the relation does not end recusal."""
    current = any(r.get("user_sub") == actor_sub for r in related_officials)
    if command in REVIEWS and (current or actor_sub in set(ever_declared)):
        raise Refused(
            "recusal_required",
            "you declared a relation to this household: another reviewer must decide (recusal)",
        )


def check_batch_command(command: Command) -> None:
    if command not in BATCH_COMMANDS:
        raise Invalid(
            "not_a_batch_step",
            f"{command} is not a batch step; batch steps are {sorted(BATCH_COMMANDS)}",
            field="/command",
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a decided step changes on the household record."""

    status: Status
    chain: Chain | None
    returned: bool
    objection_open: bool
    #: Set when the step moves the household's quota year (a return counts against the year it is applied in).
    quota_year: int | None
    #: Set when the exit is county-reviewed: the year it counts for (invariant 19).
    exit_effective_year: int | None
    #: The step registers people against the village quota (approved review, announcement): check it (inv. 24).
    checks_quota: bool


def outcome(step: Step, after: WorkflowState, *, now: datetime, year: int) -> Outcome:
    """The record's new status fields after `step` led to state `after`; `year` is the China year of `now`."""
    approving = (isinstance(step, VillageReview) and bool(step.approved)) or (
        isinstance(step, Announce) and after.status is Status.registered
    )
    return Outcome(
        status=after.status,
        chain=after.chain,
        returned=after.returned,
        objection_open=bool(after.open_objections),
        # A return, or a rejected household's new application, counts against the year it is applied in.
        quota_year=year
        if isinstance(step, ApplyReturn) or (isinstance(step, Apply) and after.rejected_at is not None)
        else None,
        exit_effective_year=effective_year(now)
        if isinstance(step, CountyReview) and after.status is Status.exit_county_reviewed
        else None,
        checks_quota=approving,
    )


#: Counted against the village quota and not registered yet: people added must still fit the quota (item 9).
_QUOTA_PENDING: frozenset[Status] = QUOTA_STATUSES & IN_IDENTIFICATION
#: Why a notice restarted when members joined the household during it.
MEMBERS_ADDED_REASON = "家庭成员增加, 公示重新开始 (members added: the changed entry is noticed again)"


@dataclass(frozen=True, slots=True)
class MembersAdded:
    """What members joining a household change in its workflow (issue #13 item 9)."""

    #: The household is counted against its quota year's village quota and not registered yet: check it again
    #: with the new household size (invariant 24).
    recheck_quota: bool
    #: The event restarting a running notice (the notice shows household size, invariant 49; changed entries are
    #: noticed again, DOMAIN.md §2.9), or None outside a notice.
    renotice: Event | None


def members_added(state: WorkflowState, actor: Actor, now: datetime, *, added: int) -> MembersAdded:
    """Members joined the household (`added` of them) at `now`: a running notice — identification, return or
    exit — restarts from `now` with the places and length it was posted with; a household counted against its
    quota and not registered yet has its quota checked again. Nobody decides this: it follows from the change."""
    renotice = None
    if state.status in _NOTICES and state.notice is not None:
        posted = state.notice
        at = max(now, state.last_at) if state.last_at is not None else now
        window = NoticeWindow(started_at=at, places=posted.places, days=posted.days)
        renotice = Event(
            command=Command.start_notice,
            at=at,
            actor=actor.sub,
            role=actor.role,
            reason=MEMBERS_ADDED_REASON,
            data={
                "places": list(posted.places),
                "notice_days": posted.days,
                "closes_at": rfc3339(window.earliest_close()),
                "restarted": "members_added",
                "members_added": added,
            },
        )
    return MembersAdded(recheck_quota=state.status in _QUOTA_PENDING, renotice=renotice)


#: Who may let a household exceed its village's quota, with a reason (invariant 24, E → W).
QUOTA_OVERRIDERS: frozenset[Role] = frozenset({Role.county_admin})


def require_quota_overrider(role: Role) -> None:
    if role not in QUOTA_OVERRIDERS:
        raise NotAllowed("quota_override_not_allowed", "only a county administrator records a quota override")
