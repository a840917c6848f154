"""Assessment figures (考核数据): planning's per-subject figures of a year, their definitions and the year's
boundaries. Pure: the standard library, `shared.roles/clock/errors/labels` and other planning domains.

The annual assessment (DOMAIN.md §6, issue #12) reads planning's figures in bulk — one row per subject, the
figures computed by PostgreSQL (figures/repository.py) — and never raw rows. This module says what each figure
*means*: which projects, lines, entries, actuals and plans count, and by which dates; the SQL implements exactly
these sentences, and `GET /figures/catalogue` serves them. The metric codes are those of the assessment's metric
catalogue whose source is planning (services/assessment/metrics/domain.py, read over HTTP there, never imported).

| rule | DOMAIN.md | here |
|---|---|---|
| subjects: villages, townships, helping units (the funders of 帮扶单位资金 lines) | §6.2, §6.4, §6.5 B/D/E; §5.6, §5.7 `funder org` | `SubjectType`, `HELPING_UNIT_SOURCE` |
| the year Y ends on 31 December; for the year under way, today (the reference day D) | §6.2 (annual); invariant 12 | `period`, `Period` |
| infrastructure and services of a village: the year's actuals of the plan indicators (§5.3), the village profile of the year where no actual says it (§5.2) | §5.2, §5.3, §6.5 B | `ROAD_RATE` … `SPECIALTY`, `CATALOGUE` |
| power, broadband and the clinic read the indicators of the exit checklist 一低七有 | §5.4 | `POWER_INDICATORS`, `BROADBAND_INDICATORS`, `CLINIC_INDICATORS` (plans/domain.py `HAVES`) |
| money counts on the projects the county approved (before approval a line's commitment is a plan) | §5.8, §5.10; invariant 39 | `APPROVED_PROJECTS` |
| received and disbursed are the ledger's sums (a reversal is a negative entry: it nets out), by entry date | §5.9 专账, §5.10; invariant 38 | repository SQL |
| a project is accepted when its completion acceptance (验收) passed | §5.8 Acceptance | `projects_accepted_share` |
| a plan's progress per target is the direction-aware share of the way from baseline to target, 0-100, met = 100 | invariant 40 | `plans.domain.progress` (the SQL mirrors it), `village_indicator_progress` |
| the plans of Y: the approved version of each plan (county-approved, active or closed) whose horizon covers Y | §5.1 | `PLANS_OF_THE_YEAR` |
| a figure planning cannot know is not made up: it is absent (null); an unsupported metric is listed with why | issue #12 | `UNSUPPORTED` |

Who reads them (issue #12): a service (the assessment's service token), the province client, county
administrators and township officers, each within their region; everyone else is refused (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from services.planning.funds.domain import FundingSource, LedgerKind
from services.planning.indicators.domain import Direction
from services.planning.plans.domain import (
    COLLECTIVE_INCOME_INDICATOR,
    HAVES,
    IN_FORCE,
    ExitItem,
    PlanStatus,
)
from services.planning.projects.domain import CLOSED, IMPLEMENTING, ProjectCategory, ProjectStatus
from shared.errors import Invalid, NotAllowed
from shared.labels import LabelledEnum, code_list
from shared.roles import Role

__all__ = [
    "APPROVED_PROJECTS",
    "AS_OF",
    "BIOGAS_RATE",
    "BROADBAND_INDICATORS",
    "CATALOGUE",
    "CLINIC_INDICATORS",
    "COLLECTIVE_INCOME_INDICATOR",
    "COOPERATIVE_CATEGORIES",
    "DISBURSEMENT",
    "FIGURE_READERS",
    "FIRST_YEAR",
    "HELPING_UNIT_SOURCE",
    "INCREASE",
    "PLANS_OF_THE_YEAR",
    "POWER_INDICATORS",
    "RECEIPT",
    "ROAD_ALL_GROUPS",
    "ROAD_RATE",
    "SPECIALTY",
    "STAFF_ROLES",
    "UNSUPPORTED",
    "WATER_RATE",
    "Figure",
    "FigureCode",
    "FigureUnit",
    "FigureWire",
    "Period",
    "SubjectType",
    "Unsupported",
    "figure",
    "period",
    "require_reader",
    "served",
    "unsupported",
]

#: The first year assessed: precision poverty alleviation (精准扶贫) and its national line start in 2013.
FIRST_YEAR = 2013

#: Who reads figures: services (the assessment), the province client, county administrators and township
#: officers — the county's own officers — each within their region (issue #12).
FIGURE_READERS: frozenset[Role] = frozenset(
    {Role.service, Role.province_system, Role.county_admin, Role.township_officer}
)

#: The projects whose lines, money and acceptance count: those the county approved, being implemented or with
#: their acceptance decided (projects/domain.py); before approval a line's commitment is a plan, no money moves.
APPROVED_PROJECTS: frozenset[ProjectStatus] = IMPLEMENTING | CLOSED
#: The plan versions of a year: the approved version of each plan — in force (county-approved, active) or
#: closed after it was; a superseded version's amendment replaced it, a version on its way is no plan yet.
PLANS_OF_THE_YEAR: frozenset[PlanStatus] = IN_FORCE | {PlanStatus.closed}
#: The funding source whose funders are the helping units (帮扶单位资金, §5.6): a line names its unit as funder.
HELPING_UNIT_SOURCE = FundingSource.helping_unit_fund
#: Project categories that establish a farmers' cooperative (农民专业合作组织, §5.5).
COOPERATIVE_CATEGORIES: frozenset[ProjectCategory] = frozenset({ProjectCategory.cooperative})
#: The ledger's two kinds: money arriving on a line (到位) and paid out of it (拨付); a reversal keeps the kind.
RECEIPT, DISBURSEMENT = LedgerKind.receipt, LedgerKind.disbursement
#: A target whose indicator improves upwards (the others improve downwards, invariant 40).
INCREASE = Direction.increase

# -- the plan indicators (§5.3) the village figures read ------------------------------------------------------
#: 农村水泥公路到组率 (percent).
ROAD_RATE = "cement_road_to_group_rate"
#: 组组通硬化公路 (yes/no): every group has its hardened road.
ROAD_ALL_GROUPS = "hardened_road_all_groups"
#: 饮水安全率 (percent).
WATER_RATE = "safe_drinking_water_rate"
#: 农户沼气入户率 (percent).
BIOGAS_RATE = "biogas_household_rate"
#: Household electricity, first found first: 生活用电, else 农网改造 (yes/no; the exit checklist's).
POWER_INDICATORS: tuple[str, ...] = tuple(code for code, _ in HAVES[ExitItem.electricity])
#: 宽带入户 (yes/no; the exit checklist's).
BROADBAND_INDICATORS: tuple[str, ...] = tuple(code for code, _ in HAVES[ExitItem.broadband])
#: 村卫生室 (yes/no; the exit checklist's).
CLINIC_INDICATORS: tuple[str, ...] = tuple(code for code, _ in HAVES[ExitItem.clinic])
#: 村卫生员、文化教员、信息员、防疫员、农业技术员 (yes/no): the village has its staff, the health worker among them.
STAFF_ROLES = "village_staff_roles"
#: 一村一品 / 特色产业 / 致富带头人 (yes/no).
SPECIALTY = "village_specialty"


@code_list("planning_figure_subject_type", "规划考核数据对象", "Planning figure subject type")
class SubjectType(LabelledEnum):
    """Who or what a row of figures is about (the assessment's subject types planning serves)."""

    village = "village", "行政村", "Village"
    township = "township", "乡镇", "Township"
    helping_unit = "helping_unit", "帮扶单位(资金出资方)", "Helping unit (the funder of its lines)"


@code_list("planning_figure_unit", "规划考核数据单位", "Planning figure unit")
class FigureUnit(LabelledEnum):
    """The unit of a figure (the assessment catalogue's units)."""

    percent = "percent", "百分比(%)", "Percent (0-100)"
    fen = "fen", "分(人民币)", "Fen (money; 1 yuan = 100 fen)"
    bool = "bool", "是否", "Yes or no"


@code_list("planning_figure_wire", "规划考核数据类型", "Planning figure wire type")
class FigureWire(LabelledEnum):
    """How a figure's value is written in JSON."""

    integer = "integer", "整数", "Integer"
    decimal = "decimal", "两位小数的字符串", "Decimal string with two places"
    boolean = "boolean", "布尔值", "Boolean"


@code_list("planning_figure", "规划考核数据项", "Planning figure")
class FigureCode(LabelledEnum):
    """Every metric of the assessment catalogue whose source is planning (served or not)."""

    road_to_group_coverage = "road_to_group_coverage", "通组道路硬化率", "Paved road to village groups"
    safe_water_coverage = "safe_water_coverage", "安全饮水覆盖率", "Safe drinking water"
    power_and_broadband = "power_and_broadband", "通电通宽带", "Power and broadband"
    biogas_coverage = "biogas_coverage", "沼气池普及率", "Biogas digesters"
    clinic_with_doctor = "clinic_with_doctor", "有标准化卫生室和村医", "Clinic with a village doctor"
    collective_income_fen = "collective_income_fen", "村集体经济收入", "Village collective income"
    has_cooperative = "has_cooperative", "有农民合作社或特色产业", "Cooperative or specialty industry"
    funds_raised_fen = "funds_raised_fen", "筹集帮扶资金和物资折价", "Funds and materials raised"
    funds_pledged_completion = (
        "funds_pledged_completion",
        "承诺帮扶资金到位率",
        "Pledged help funds delivered",
    )
    funds_disbursed_share = "funds_disbursed_share", "资金拨付率", "Funds disbursed"
    projects_accepted_share = "projects_accepted_share", "项目竣工验收率", "Projects accepted"
    village_indicator_progress = (
        "village_indicator_progress",
        "帮扶村规划指标完成进度",
        "Progress of the village plan's targets",
    )


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure planning serves: its code, unit, JSON type, subjects and exact definition."""

    code: FigureCode
    unit: FigureUnit
    wire: FigureWire
    subjects: frozenset[SubjectType]
    definition: str
    #: A percent that may exceed 100 (see its definition for when).
    signed: bool = False


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A planning-sourced metric planning cannot compute from what it stores, and why."""

    code: FigureCode
    subjects: frozenset[SubjectType]
    reason: str


_S = SubjectType
_C = FigureCode
_U = FigureUnit
_W = FigureWire
_VILLAGE = frozenset({_S.village})
_TOWNSHIP = frozenset({_S.township})
_UNIT = frozenset({_S.helping_unit})
_PLACES = frozenset({_S.village, _S.township})

#: Words every definition below relies on (the catalogue route serves them with the figures):
AS_OF = (
    "The year Y runs from 1 January to 31 December; the reference day D is 31 December of Y, or today for the "
    "year under way. Dated facts count by their own dates up to D: ledger entries by their entry date (记账日期), "
    "acceptances by the day of the acceptance (accepted_on). Facts of the year are the year's records: the "
    "village profile of Y, the indicator actuals recorded for Y (newest version). Statuses — a project's county "
    "approval, a plan's approval — are read as planning holds them now. Approved projects are those the county "
    "approved (approved, in progress, accepted, failed acceptance). An approved project runs in Y when it starts "
    "(starts_on) on or before 31 Dec Y, and neither its scheduled finish (finishes_on) nor its acceptance "
    "decision came before 1 Jan Y; it is due in Y when its scheduled finish falls between 1 Jan Y and D. The "
    "lines of the year of a subject are the funding lines of its approved projects that run in Y. Subjects are "
    "those planning holds something of for Y under the region asked for: a village with a profile of Y, an "
    "actual of Y, a plan of Y or an approved project running or due in Y; a township with such a village; a "
    "helping unit with a line of the year or a receipt dated in Y. A subject planning holds nothing of has no "
    "row: each of its figures is absent."
)
_LINES = "the subject's lines of the year"
_PLAN_PROGRESS = (
    "The mean, to two places, of the progress of every target of the plans of Y (the approved version of each plan "
    "— county-approved, active or closed — whose horizon covers Y) of {villages}: each target's progress as the "
    "plan shows it (invariant 40, two places): 100 when the newest actual of a year from its baseline year to Y "
    "(newest version) has reached the target, else the share of the way from the baseline to the target, "
    "direction-aware, between 0 and 100. Targets without such an actual are left out; null when none has one."
)

CATALOGUE: tuple[Figure, ...] = (
    # -- villages (infrastructure and services: the year's actuals, the profile where no actual says) ---------
    Figure(_C.road_to_group_coverage, _U.percent, _W.decimal, _VILLAGE,
           f"The actual of {ROAD_RATE} (农村水泥公路到组率) for Y; without one, 100.00 when the actual of "
           f"{ROAD_ALL_GROUPS} (组组通硬化公路) for Y is 1 (every group has its hardened road); else null (a 0 of "
           "that yes/no indicator says nothing of the share)."),
    Figure(_C.safe_water_coverage, _U.percent, _W.decimal, _VILLAGE,
           f"The actual of {WATER_RATE} (饮水安全率) for Y; without one, the village profile of Y: people with safe "
           "drinking water x 100 / population, both declared (null when either is missing, the population is 0, "
           "or the people exceed the population — a count the profile flags, invariant 10)."),
    Figure(_C.power_and_broadband, _U.bool, _W.boolean, _VILLAGE,
           f"Household electricity and broadband to households, as the exit checklist 一低七有 reads them (§5.4): "
           f"power is the actual for Y of {' or, without it, '.join(POWER_INDICATORS)}, broadband the actual of "
           f"{' / '.join(BROADBAND_INDICATORS)} for Y. True when both are 1, false when either is 0, else null. "
           "The profile's coverage percentages are not read: 一低七有 counts broadband to the committee and some "
           "households as met (seed 001#13), which no percentage says."),
    Figure(_C.biogas_coverage, _U.percent, _W.decimal, _VILLAGE,
           f"The actual of {BIOGAS_RATE} (农户沼气入户率) for Y; null without one."),
    Figure(_C.clinic_with_doctor, _U.bool, _W.boolean, _VILLAGE,
           f"The clinic is the actual of {' / '.join(CLINIC_INDICATORS)} (村卫生室) for Y, or without one the "
           "profile of Y (at least one clinic declared); the doctor is the actual of "
           f"{STAFF_ROLES} (村卫生员 and the other village staff) for Y. False when the village has no clinic; true "
           "when it has one and its staff (the health worker among them); else null (planning records no village "
           "doctor of its own: staff not all in place says nothing of the doctor)."),
    Figure(_C.collective_income_fen, _U.fen, _W.integer, _VILLAGE,
           f"The actual of {COLLECTIVE_INCOME_INDICATOR} (村集体经济收入, yuan) for Y in fen; without one, the "
           "collective income the profile of Y declares; null without either (the exit checklist's reading, §5.4)."),
    Figure(_C.has_cooperative, _U.bool, _W.boolean, _VILLAGE,
           "True when the village has an approved cooperative project (category cooperative, 农民专业合作组织) whose "
           f"acceptance passed on or before D, or the actual of {SPECIALTY} (一村一品 / 特色产业) for Y is 1; else "
           f"false when that actual is 0; else null."),
    # -- money (funding lines and the ledger) -------------------------------------------------------------------
    Figure(_C.funds_raised_fen, _U.fen, _W.integer, _TOWNSHIP | _UNIT,
           "The receipts (资金到位, reversals netted) dated from 1 Jan Y to D on the subject's funding lines of "
           "approved projects, whatever their schedule — a township: every line of the projects of its villages; "
           "a helping unit: its own lines (source helping_unit_fund, funder = the unit). Null when the subject has "
           "neither a line of the year nor such a receipt; negative only when Y reverses more than it received."),
    Figure(_C.funds_pledged_completion, _U.percent, _W.decimal, _UNIT,
           f"Over {_LINES}: the receipts dated up to D (reversals netted) x 100 / the amounts committed "
           "(承诺, as the lines stand now); null when nothing is committed. Above 100 only when a receipt was "
           "reversed after D and its commitment moved to another line since.", signed=True),
    Figure(_C.funds_disbursed_share, _U.percent, _W.decimal, _PLACES | _UNIT,
           f"Over {_LINES} (a village's or township's: every line of its approved projects running in Y; a unit's: "
           "its own): the disbursements (资金拨付) dated up to D x 100 / the receipts dated up to D, reversals "
           "netted; null when nothing was received by D. Above 100 only when a payment is dated before the "
           "receipt that funded it.", signed=True),
    Figure(_C.projects_accepted_share, _U.percent, _W.decimal, _PLACES | _UNIT,
           "Of the approved projects due in Y (a unit: those with one of its lines), those whose completion "
           "acceptance (竣工验收) passed on or before D x 100 / their number; null when none is due."),
    Figure(_C.village_indicator_progress, _U.percent, _W.decimal, _TOWNSHIP | _UNIT,
           _PLAN_PROGRESS.format(villages="the subject's villages (a township: its villages; a helping unit: the "
                                          "villages of the projects its lines of the year fund)")),
)  # fmt: skip

#: Every planning-sourced metric is served: nothing is unsupported today (the mechanism stays for the catalogue).
UNSUPPORTED: tuple[Unsupported, ...] = ()

_BY_CODE: Mapping[FigureCode, Figure] = {f.code: f for f in CATALOGUE}


def figure(code: FigureCode) -> Figure:
    """The served figure `code` (KeyError for an unsupported one)."""
    return _BY_CODE[code]


def served(subject: SubjectType) -> tuple[Figure, ...]:
    """The figures a row of `subject` carries, in catalogue order."""
    return tuple(f for f in CATALOGUE if subject in f.subjects)


def unsupported(subject: SubjectType) -> tuple[Unsupported, ...]:
    """The planning-sourced metrics of `subject` planning does not serve, with why."""
    return tuple(u for u in UNSUPPORTED if subject in u.subjects)


# -- who, and which year ---------------------------------------------------------------------------------------
def require_reader(role: Role) -> None:
    """Services, the province and the county's officers read figures; village officers and cadres do not."""
    if role not in FIGURE_READERS:
        raise NotAllowed("role_not_allowed", f"role '{role}' may not read assessment figures")


@dataclass(frozen=True, slots=True)
class Period:
    """The boundaries of an assessment year Y, as China dates."""

    year: int
    #: 1 January of Y.
    first_day: date
    #: The reference day D: 31 December of Y, or today for the year under way.
    day: date

    @property
    def last_day(self) -> date:
        """31 December of Y."""
        return date(self.year, 12, 31)


def period(year: int, today: date) -> Period:
    """The period of assessment year `year` seen on `today` (China date); 422 before 2013 or in the future."""
    if not FIRST_YEAR <= year <= today.year:
        raise Invalid(
            "value_out_of_range",
            f"year must be between {FIRST_YEAR} and {today.year} (this year)",
            field="year",
            parameter="year",
            errors=[
                {
                    "parameter": "year",
                    "in": "query",
                    "message": f"must be between {FIRST_YEAR} and {today.year}",
                    "code": "value_out_of_range",
                }
            ],
        )
    return Period(year=year, first_day=date(year, 1, 1), day=min(date(year, 12, 31), today))
