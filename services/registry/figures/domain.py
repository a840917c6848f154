"""Assessment figures (考核数据): the registry's per-subject figures of a year, their definitions and the year's
boundaries. Pure: the standard library, `shared.roles/clock/errors/labels` and other registry domains.

The annual assessment (DOMAIN.md §6, issue #12) reads the registry's figures in bulk — one row per subject, the
figures computed by PostgreSQL (figures/repository.py) — and never raw rows. This module says what each figure
*means*: which statuses count, which dates, the "as of 31 December" rule; the SQL implements exactly these
sentences, and `GET /figures/catalogue` serves them.

| rule | DOMAIN.md | here |
|---|---|---|
| subjects: villages, townships, cadres, helping units, the household exit test | §6.2, §6.4 | `SubjectType` |
| exits and re-entries count for year Y only if county-reviewed by 31 Dec of Y | invariant 19 | `Period.cutoff` |
| the year's end is the end of 31 December China time (now, for the year under way) | §2.16, invariant 13 | `period` |
| poor = registered and not yet exited (the exit chain up to the county re-review included) | §2.15 | `POOR_STATUSES` |
| labour-capable and willing registered households have a pairing in force | §3.1 P2; invariant 27 | `pairing_coverage` |
| a card entry is confirmed with all three signatures | §3.2; invariant 30 | `ALL_PARTIES` |
| help-plan measures have due dates; on time = completed by its due date | §4.3; invariant 34 | `measures_on_schedule` |
| the household exit test §6.5-A (the registry's own exit test) | §6.5-A; invariant 22 | `household_exit` figures |
| the township updates its data by end-January and closes June / December rounds | §2.16, §2.17; invariant 20 | `deadline_jan_update_met`, `monitoring_rounds_closed` |
| a resident work team stays at least one year | §3.1 P7 | `resident_team_stable`, `MIN_TERM` |
| the year's exit target is the one decomposed to the subject (年度减贫任务), not a scale-control quota | invariant 25 | `exit_quota_people` |
| a figure the registry cannot know is not made up: it is absent and listed as unsupported, with why | issue #12 | `UNSUPPORTED` |

Who reads them (issue #12): a service (the assessment's service token), the province client, county
administrators and township officers, each within their region; everyone else is refused (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from services.registry.help_records.domain import ALL_PARTIES
from services.registry.households.domain import DANGEROUS_HOUSE_GRADES, WORKING, PovertyAttribute
from services.registry.identification.domain import POOR_STATUSES, Status
from services.registry.pairing.domain import MIN_TERM, AssignmentRole
from services.registry.regions.domain import default_for
from shared.clock import CHINA_TIME
from shared.errors import Invalid, NotAllowed
from shared.labels import LabelledEnum, code_list
from shared.roles import Role

__all__ = [
    "ALL_PARTIES",
    "CATALOGUE",
    "DANGEROUS_HOUSE_GRADES",
    "EXIT_PENDING_STATUSES",
    "FIGURE_READERS",
    "FIRST_YEAR",
    "IN_SCHOOL",
    "JUNIOR_MIDDLE_AGES",
    "MIN_TERM",
    "PENSION_MIN_AGE",
    "POOR_STATUSES",
    "SOCIAL_ASSISTANCE_ATTRIBUTES",
    "TEAM_ROLES",
    "UNSUPPORTED",
    "WORKING",
    "Figure",
    "FigureCode",
    "FigureUnit",
    "FigureWire",
    "Period",
    "SubjectType",
    "Unsupported",
    "figure",
    "identification_line_default",
    "period",
    "require_reader",
    "served",
    "unsupported",
]

#: The first year the registry assesses: precision poverty alleviation and its national line (2736 yuan, 2013).
FIRST_YEAR = 2013

#: Who reads figures: services (the assessment), the province client, county administrators and township
#: officers — the county's own officers — each within their region (issue #12).
FIGURE_READERS: frozenset[Role] = frozenset(
    {Role.service, Role.province_system, Role.county_admin, Role.township_officer}
)

#: Exit chain steps short of the county re-review: an exit proposed in the year and still here at its end was
#: not done by the end-of-December deadline (invariant 19).
EXIT_PENDING_STATUSES: frozenset[Status] = frozenset(
    {
        Status.exit_proposed,
        Status.exit_first_notice,
        Status.exit_township_reviewed,
        Status.exit_second_notice,
    }
)
#: School statuses that are "in school" (在校).
IN_SCHOOL: frozenset[str] = frozenset(
    {"preschool", "primary", "junior_middle", "senior_high", "secondary_vocational", "college"}
)
#: Junior-middle school age (初中适龄): 12 to 14 years old at the end of the year.
JUNIOR_MIDDLE_AGES = (12, 14)
#: Rural residents' pension insurance (城乡居民养老保险) is for residents aged 16 and over not in school.
PENSION_MIN_AGE = 16
#: Resident roles in a village: the first secretary and the work team (驻村工作队, P5, P7).
TEAM_ROLES: frozenset[AssignmentRole] = frozenset(AssignmentRole)
#: Poverty attributes that are social assistance (低保 / 五保) in the exit test (§6.5-A 7).
SOCIAL_ASSISTANCE_ATTRIBUTES: frozenset[PovertyAttribute] = frozenset(
    {PovertyAttribute.dibao_poor, PovertyAttribute.wubao_poor}
)


@code_list("figure_subject_type", "考核数据对象", "Figure subject type")
class SubjectType(LabelledEnum):
    """Who or what a row of figures is about (the assessment's subject types the registry serves)."""

    village = "village", "行政村", "Village"
    township = "township", "乡镇", "Township"
    cadre = "cadre", "帮扶责任人(干部)", "Responsible helper (cadre)"
    helping_unit = "helping_unit", "帮扶单位", "Helping unit"
    household_exit = "household_exit", "贫困户脱贫退出", "Household exit test"


@code_list("figure_unit", "考核数据单位", "Figure unit")
class FigureUnit(LabelledEnum):
    """The unit of a figure (the assessment catalogue's units)."""

    percent = "percent", "百分比(%)", "Percent (0-100)"
    people = "people", "人"
    households = "households", "户"
    items = "items", "个(次、项、起)", "Items (times, things)"
    fen = "fen", "分(人民币)", "Fen (money; 1 yuan = 100 fen)"
    bool = "bool", "是否", "Yes or no"


@code_list("figure_wire", "数据类型", "Figure wire type")
class FigureWire(LabelledEnum):
    """How a figure's value is written in JSON."""

    integer = "integer", "整数", "Integer"
    decimal = "decimal", "两位小数的字符串", "Decimal string with two places"
    boolean = "boolean", "布尔值", "Boolean"


@code_list("registry_figure", "扶贫对象库考核数据项", "Registry figure")
class FigureCode(LabelledEnum):
    """Every metric of the assessment catalogue whose source is the registry (served or not)."""

    exited_people = "exited_people", "本年脱贫人数", "People exited this year"
    exit_quota_people = "exit_quota_people", "本年减贫任务(人)", "Exit quota of the year (people)"
    exit_plan_achievement = "exit_plan_achievement", "减贫计划完成率", "Exit plan achieved"
    poverty_incidence = "poverty_incidence", "贫困发生率", "Poverty incidence"
    returnees = "returnees", "返贫人数", "Returnees"
    returnees_increase = "returnees_increase", "返贫人数较上年增加数", "Returnees above the prior year"
    income_growth = "income_growth", "贫困户人均纯收入增长率", "Per-capita net income growth"
    share_households_above_line = (
        "share_households_above_line",
        "人均纯收入达标户占比",
        "Households above the income line",
    )
    ncms_coverage = "ncms_coverage", "新农合参合率", "NCMS enrolment"
    pension_coverage = "pension_coverage", "城乡居民养老保险参保率", "Rural pension insurance"
    junior_middle_enrolment = "junior_middle_enrolment", "初中适龄儿童入学率", "Junior-middle enrolment"
    industry_coverage = (
        "industry_coverage",
        "有发展意愿贫困户稳定产业覆盖率",
        "Willing households with an industry",
    )
    incomplete_cards = "incomplete_cards", "卡册不全户数", "Households with incomplete cards"
    notices_on_time = "notices_on_time", "公示公告按时规范", "Notices posted on time"
    deadline_jan_update_met = "deadline_jan_update_met", "1月底前完成信息更新", "End-January update met"
    deadline_feb_upload_met = "deadline_feb_upload_met", "2月底前完成数据上传", "End-February upload met"
    deadline_dec_exits_met = "deadline_dec_exits_met", "12月底前完成脱贫退出", "End-December exits met"
    monitoring_rounds_closed = "monitoring_rounds_closed", "6月、12月监测完成轮次", "Monitoring rounds closed"
    pairing_coverage = "pairing_coverage", "有劳动能力贫困户结对覆盖率", "Households with an active helper"
    visits_per_pairing = "visits_per_pairing", "户均走访次数", "Visits per paired household"
    confirmed_records_per_pairing = (
        "confirmed_records_per_pairing",
        "户均已确认帮扶记录数",
        "Confirmed help records per paired household",
    )
    unsigned_cards = "unsigned_cards", "未三方签字确认的记录卡", "Cards not signed by all three"
    households_without_card = (
        "households_without_card",
        "无帮扶记录卡户数",
        "Paired households without a card",
    )
    help_plan_completeness = "help_plan_completeness", "帮扶计划与手册完整率(经户认可)", "Help plans complete"
    measures_on_schedule = "measures_on_schedule", "帮扶措施按期落实率", "Measures delivered on time"
    income_increase_vs_plan = "income_increase_vs_plan", "帮扶户增收计划完成率", "Income increase vs plan"
    exit_per_plan_no_return = (
        "exit_per_plan_no_return",
        "按计划脱贫且当年无返贫",
        "Exited per plan, none returned",
    )
    help_targets_missed = "help_targets_missed", "未按期完成帮扶任务数", "Help targets missed"
    resident_team_stable = "resident_team_stable", "驻村工作队在岗满一年且稳定", "Resident team stable"
    first_secretary_assigned = "first_secretary_assigned", "选派第一书记", "First secretary assigned"
    leaders_linking_villages = "leaders_linking_villages", "领导挂点自然村比例", "Leaders linking a village"
    liaison_designated = "liaison_designated", "确定联络员", "Liaison designated"
    data_updates_on_time = "data_updates_on_time", "帮扶数据按时更新", "Help data updated on time"
    monitoring_responses = "monitoring_responses", "监测反馈问题整改率", "Monitoring findings answered"
    per_capita_net_income_fen = "per_capita_net_income_fen", "家庭人均纯收入", "Per-capita net income"
    poverty_line_fen = "poverty_line_fen", "当年扶贫标准", "Poverty line of the year"
    food_clothing_secure = "food_clothing_secure", "不愁吃不愁穿", "No worry about food and clothing"
    compulsory_schooling_ok = "compulsory_schooling_ok", "义务教育阶段无辍学", "No compulsory-age dropout"
    medical_insurance_all = "medical_insurance_all", "家庭成员全部参加新农合", "Every member in NCMS"
    housing_safe = "housing_safe", "住房安全(非C/D级危房)", "Housing safe"
    stable_income_source = (
        "stable_income_source",
        "有劳动能力的有稳定收入来源",
        "Stable income if labour-capable",
    )
    social_assistance_covered = (
        "social_assistance_covered",
        "无劳动能力的纳入低保五保",
        "低保/五保 if no labour",
    )
    exit_procedure_complete = (
        "exit_procedure_complete",
        "民主评议和两公示一公告完成",
        "Exit procedure complete",
    )
    head_acknowledged = "head_acknowledged", "户主签字认可脱贫", "Household head signed the exit"


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure the registry serves: its code, unit, JSON type, subjects and exact definition."""

    code: FigureCode
    unit: FigureUnit
    wire: FigureWire
    subjects: frozenset[SubjectType]
    definition: str
    #: A percent that may be negative (growth) or exceed 100 (an achievement against a plan).
    signed: bool = False


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A registry-sourced metric the registry cannot compute from what it stores, and why."""

    code: FigureCode
    subjects: frozenset[SubjectType]
    reason: str


_S = SubjectType
_C = FigureCode
_U = FigureUnit
_W = FigureWire
_VILLAGE = frozenset({_S.village})
_TOWNSHIP = frozenset({_S.township})
_PLACES = frozenset({_S.village, _S.township})
_CADRE = frozenset({_S.cadre})
_UNIT = frozenset({_S.helping_unit})
_HELPERS = frozenset({_S.cadre, _S.helping_unit})
_HOUSEHOLD = frozenset({_S.household_exit})

#: Words every definition below relies on (the catalogue route serves them with the figures):
AS_OF = (
    "The year Y ends at the end of 31 December, China time (UTC+8); for the year under way, now (the reference "
    "day D = min(31 Dec Y, today)). Workflow decisions count when they were taken by then (invariant 19: an "
    "exit or re-entry county-reviewed after 31 Dec counts for the next year); a household's status at the end "
    "of Y is the status its last workflow event taken by then left; pairings and work-team assignments count "
    "when in force on D (valid time, as the registry knows them now); a help plan is the version written by "
    "then. Facts about the year recorded after it — the year's income survey, signatures, acknowledgements, "
    "progress — are read as the registry holds them now (latest versions). Household and member attributes "
    "that are not versioned (labour capacity, insurance, schooling, housing grade, categories, willingness, "
    "planned exit year) are read as they stand now. People are the household size on record."
)
POOR = "poor (registered, the exit chain up to the county re-review included, §2.15)"
CASELOAD = (
    f"the year's caseload: households {POOR} at the end of Y, and those whose exit was county-reviewed in Y"
)
PAIRED = (
    "paired households: those with a current pairing row of the subject (a cadre; for a unit, any of its "
    "cadres' pairings made for the unit) in force on any day from 1 Jan Y to D, in the region asked for"
)

CATALOGUE: tuple[Figure, ...] = (
    # -- villages and townships ----------------------------------------------------------------------------------
    Figure(_C.exited_people, _U.people, _W.integer, _PLACES,
           "the sum of household size of the subject's households whose exit was county-reviewed (approved: status "
           "exit_county_reviewed) between 1 Jan Y and the end of D (invariant 19)."),
    Figure(_C.exit_quota_people, _U.people, _W.integer, _PLACES,
           "The people of the subject's exit target of Y (年度减贫任务, PUT /regions/{code}/exit-targets/{Y}: "
           "decomposed county → township → village, invariant 25) as set now — a target, not the scale-control "
           "quota (规模控制) of identification; null when no target of Y is set (never a made-up 0)."),
    Figure(_C.exit_plan_achievement, _U.percent, _W.decimal, _TOWNSHIP | _HELPERS,
           "The sum of household size of the subject's households (cadre, unit: its paired households) whose exit "
           "was county-reviewed between 1 Jan Y and the end of D x 100 / the sum of household size of those whose "
           "planned exit year (计划脱贫时间, carried from the help plan) is Y; may exceed 100; null when no "
           "household plans to exit in Y.", signed=True),
    Figure(_C.poverty_incidence, _U.percent, _W.decimal, _PLACES,
           f"People of households {POOR} at the end of Y x 100 / the region's recorded population of Y (a "
           "township without its own figure: the sum of its villages' figures); null without a population."),
    Figure(_C.returnees, _U.people, _W.integer, _PLACES,
           "the sum of household size of households whose re-entry (返贫: an approved county re-review of the return "
           "chain, after apply_return) was taken between 1 Jan Y and the end of D."),
    Figure(_C.returnees_increase, _U.people, _W.integer, _PLACES,
           "returnees of Y - returnees of Y-1 (negative when fewer); null when no household of the subject had "
           "a workflow event before 1 Jan Y (the registry holds nothing of the prior year)."),
    Figure(_C.income_growth, _U.percent, _W.decimal, _PLACES,
           f"Over {CASELOAD} with an income record for both Y and Y-1 (latest versions): (the sum of net income Y / the sum of "
           "surveyed size Y) / (the sum of net income Y-1 / the sum of surveyed size Y-1) x 100 - 100; may be negative; null "
           "without such a household or when the prior per-capita income is not positive.", signed=True),
    Figure(_C.share_households_above_line, _U.percent, _W.decimal, _PLACES,
           f"Of {CASELOAD} that have an income record for Y (latest version): those whose per-capita net "
           "income >= the line x 100 / their number. The line is the policy parameter exit_income_line_yuan of "
           "the household's village for Y (nearest region up the tree, newest version), else "
           "identification_income_line_yuan, else its default (2736 yuan from 2013); null without such a "
           "household."),
    Figure(_C.ncms_coverage, _U.percent, _W.decimal, _PLACES,
           f"Active members of {CASELOAD} enrolled in the NCMS (新农合, details.insurance.ncms_enrolled) x 100 / "
           "those members; null without members."),
    Figure(_C.pension_coverage, _U.percent, _W.decimal, _PLACES,
           f"Active members of {CASELOAD} aged {PENSION_MIN_AGE} or over at the end of Y (born in Y-16 or "
           "before) and not in school, enrolled in the residents' pension (details.insurance.pension_enrolled) "
           "x 100 / those members; null without such members."),
    Figure(_C.junior_middle_enrolment, _U.percent, _W.decimal, _PLACES,
           f"Active members of {CASELOAD} aged {JUNIOR_MIDDLE_AGES[0]}-{JUNIOR_MIDDLE_AGES[1]} at the end of "
           "Y (born Y-14 to Y-12) who are in school (school_status preschool, primary, junior_middle, "
           "senior_high, secondary_vocational or college) and not dropped out x 100 / those members; null "
           "without such children."),
    Figure(_C.pairing_coverage, _U.percent, _W.decimal, _PLACES | _UNIT,
           f"Places: of the households {POOR} at the end of Y with labour capacity and willingness to develop "
           "(details.development.willing, presumed when unset), those with a pairing in force on D x 100 / "
           f"their number (P2, invariant 27). Units: of its {PAIRED} that are still poor at the end of Y, those "
           "with a pairing (of any unit) in force on D x 100 / their number (P3 不脱贫不脱钩). Null without "
           "such households."),
    Figure(_C.measures_on_schedule, _U.percent, _W.decimal, _PLACES | _HELPERS,
           "Items of the help plans as written by the end of D that fell due between 1 Jan Y and D: those with "
           "a progress entry completed on or before the due date x 100 / their number. Places: the plans of "
           "their households; cadres: the items of their paired households' plans they are responsible for; "
           "units: those their cadres are responsible for. Null when no item fell due."),
    Figure(_C.monitoring_rounds_closed, _U.items, _W.integer, _PLACES | _HELPERS,
           "Halves (June H1, December H2) of Y whose monitoring round was closed by the end of D: of the "
           "township (a village: its township's); of a cadre or unit: rounds with a finding on one of its "
           "pairings. 0, 1 or 2 (§2.17)."),
    Figure(_C.deadline_jan_update_met, _U.bool, _W.boolean, _PLACES,
           f"Every household {POOR} at the end of Y-1 has an income record for Y-1 recorded before 1 Feb Y "
           "(the end-January update of the past year's data, invariant 20). Null before 1 Feb Y or when no "
           "household was poor at the end of Y-1."),
    Figure(_C.deadline_dec_exits_met, _U.bool, _W.boolean, _PLACES,
           "No household whose exit was proposed in Y was still short of the county re-review (exit_proposed "
           "to exit_second_notice) at the end of 31 Dec Y (invariant 19). Null until Y is over, and when no "
           "exit was proposed in Y."),
    Figure(_C.incomplete_cards, _U.households, _W.integer, _PLACES,
           f"Households {POOR} at the end of Y whose card (扶贫手册, §2.12) lacks a section the registry holds: "
           "no primary poverty cause, no help plan (as written by D) covering Y, or — labour-capable and "
           "willing — no pairing in force on D."),
    # -- cadres and helping units -----------------------------------------------------------------------------
    Figure(_C.visits_per_pairing, _U.items, _W.decimal, _HELPERS,
           f"Help records (first versions: a corrected record is one visit) its cadres made to their {PAIRED} "
           "with a device time between 1 Jan Y and the end of D / the number of paired households (two "
           "places); null without paired households."),
    Figure(_C.confirmed_records_per_pairing, _U.items, _W.decimal, _HELPERS,
           "Of those help records, the ones signed by all three parties (household head, village director, "
           "unit responsible person; invariant 30) / the number of paired households (two places); null "
           "without paired households."),
    Figure(_C.unsigned_cards, _U.items, _W.integer, _HELPERS,
           "Of those help records, the ones not signed by all three parties."),
    Figure(_C.households_without_card, _U.households, _W.integer, _HELPERS,
           "Paired households to which its cadres made no help record between 1 Jan Y and the end of D."),
    Figure(_C.help_plan_completeness, _U.percent, _W.decimal, _HELPERS,
           "Paired households with a help plan (as written by D) covering Y whose version was acknowledged by "
           "the household head (签字确认) on or before D x 100 / paired households; null without paired "
           "households."),
    Figure(_C.income_increase_vs_plan, _U.percent, _W.decimal, _HELPERS,
           "Over paired households with an income record for Y and Y-1 whose plan (as written by D) expects an "
           "income gain from items due in Y: the sum of (net income Y - net income Y-1) x 100 / the sum of expected gain of "
           "those items; may be negative or exceed 100; null without such a household.", signed=True),
    Figure(_C.exit_per_plan_no_return, _U.bool, _W.boolean, _CADRE,
           "Every paired household whose plan (as written by D) targets exit in Y had its exit county-reviewed "
           "in Y, and no paired household re-entered (返贫) in Y. Null when no paired household has a plan."),
    Figure(_C.help_targets_missed, _U.items, _W.integer, _HELPERS,
           "The items counted by measures_on_schedule that were not completed by their due date (R7)."),
    Figure(_C.resident_team_stable, _U.bool, _W.boolean, _UNIT,
           "On D one of its cadres holds a resident assignment (first secretary or work team) in a village of "
           "the region that began at least 365 days before D (in place a year), and none of its cadres' "
           "resident assignments there ended between 1 Jan Y and D less than 365 days after it began (P7)."),
    Figure(_C.first_secretary_assigned, _U.bool, _W.boolean, _UNIT,
           "On D one of its cadres is first secretary (第一书记) of a village of the region."),
    Figure(_C.liaison_designated, _U.bool, _W.boolean, _UNIT,
           "The unit names a liaison (联络员, P8) — as recorded now: the registry keeps no history of it."),
    # -- the household exit test (§6.5-A) ---------------------------------------------------------------------
    Figure(_C.per_capita_net_income_fen, _U.fen, _W.integer, _HOUSEHOLD,
           "The per-capita net income of Y (latest version of the income record of Y) in fen; null without an "
           "income record of Y. Rows: households whose exit was proposed between 1 Jan Y and the end of D (the "
           "latest such proposal)."),
    Figure(_C.poverty_line_fen, _U.fen, _W.integer, _HOUSEHOLD,
           "The exit line of the household's village for Y in fen: exit_income_line_yuan, else "
           "identification_income_line_yuan, else its default (the registry's exit test, §2.8)."),
    Figure(_C.food_clothing_secure, _U.bool, _W.boolean, _HOUSEHOLD,
           "两不愁 as the exit survey of the proposal answered it; null when the proposal carries no test."),
    Figure(_C.compulsory_schooling_ok, _U.bool, _W.boolean, _HOUSEHOLD,
           "No active member has dropped out of school (details.dropout; the registry's exit test)."),
    Figure(_C.medical_insurance_all, _U.bool, _W.boolean, _HOUSEHOLD,
           "Every active member is enrolled in the NCMS (details.insurance.ncms_enrolled)."),
    Figure(_C.housing_safe, _U.bool, _W.boolean, _HOUSEHOLD,
           "The house is not graded C or D (dangerous_house_grade)."),
    Figure(_C.stable_income_source, _U.bool, _W.boolean, _HOUSEHOLD,
           "True when no active member has labour capacity (ordinary or skilled labour); else the exit "
           "survey's answer (null when the proposal carries no test)."),
    Figure(_C.social_assistance_covered, _U.bool, _W.boolean, _HOUSEHOLD,
           "True when an active member has labour capacity; else the household is 低保 or 五保 (its poverty "
           "attribute, or details.categories)."),
    Figure(_C.exit_procedure_complete, _U.bool, _W.boolean, _HOUSEHOLD,
           "After the proposal the exit was county-reviewed (approved, which the workflow allows only after the "
           "democratic review and both 7-day notices) by the end of D, and announced (status exited) since."),
    Figure(_C.head_acknowledged, _U.bool, _W.boolean, _HOUSEHOLD,
           "The household head signed the exit, as the proposal's exit survey recorded; null without a test."),
)  # fmt: skip

UNSUPPORTED: tuple[Unsupported, ...] = (
    Unsupported(_C.industry_coverage, _PLACES,
                "The registry records no household industry (稳定产业): only the main income source and "
                "cooperative memberships."),
    Unsupported(_C.notices_on_time, _PLACES,
                "The workflow refuses a notice shorter than notice_days or posted elsewhere (invariant 14), and "
                "DOMAIN.md sets no date by which a notice is due: every recorded notice is on time by "
                "construction, so the figure would say nothing."),
    Unsupported(_C.deadline_feb_upload_met, _PLACES,
                "The registry records no upload to the national information system (扶贫开发信息系统); its own "
                "update is deadline_jan_update_met."),
    Unsupported(_C.monitoring_responses, _TOWNSHIP | _UNIT,
                "Monitoring findings record projects, funds, results and visit flags, but no answer to them or "
                "rectification (整改)."),
    Unsupported(_C.leaders_linking_villages, _UNIT,
                "The registry records first secretaries and work teams in administrative villages, not unit "
                "leaders' links to natural villages (领导挂点, P5)."),
    Unsupported(_C.data_updates_on_time, _UNIT,
                "DOMAIN.md sets no deadline for a unit's help data (R20), so the registry cannot tell on time "
                "from late."),
)  # fmt: skip

_BY_CODE: Mapping[FigureCode, Figure] = {f.code: f for f in CATALOGUE}


def figure(code: FigureCode) -> Figure:
    """The served figure `code` (KeyError for an unsupported one)."""
    return _BY_CODE[code]


def served(subject: SubjectType) -> tuple[Figure, ...]:
    """The figures a row of `subject` carries, in catalogue order."""
    return tuple(f for f in CATALOGUE if subject in f.subjects)


def unsupported(subject: SubjectType) -> tuple[Unsupported, ...]:
    """The registry-sourced metrics of `subject` the registry does not serve, with why."""
    return tuple(u for u in UNSUPPORTED if subject in u.subjects)


# -- who, and which year ---------------------------------------------------------------------------------------
def require_reader(role: Role) -> None:
    """Services, the province and the county's officers read figures; village officers and cadres do not."""
    if role not in FIGURE_READERS:
        raise NotAllowed("role_not_allowed", f"role '{role}' may not read assessment figures")


def _midnight(day: date) -> datetime:
    """The instant a China date begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=CHINA_TIME).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """The boundaries of an assessment year Y, as instants (UTC) and China dates."""

    year: int
    #: 1 January of Y.
    first_day: date
    #: The reference day D: 31 December of Y, or today for the year under way.
    day: date
    #: 1 Jan Y 00:00 China time.
    year_start: datetime
    #: The end of D (00:00 China time of the day after D): what was decided before it counts for Y.
    cutoff: datetime
    #: 1 Jan Y-1 00:00 China time (the prior year, for returnees_increase).
    prior_start: datetime
    #: 1 Feb Y 00:00 China time: the end-January update deadline (invariant 20).
    update_deadline: datetime
    #: Whether the end-January deadline of Y has passed (today is 1 Feb Y or later).
    update_deadline_passed: bool
    #: Whether Y is over (today is in a later year): only then is the end-December deadline judged.
    year_over: bool

    @property
    def last_day(self) -> date:
        """31 December of Y."""
        return date(self.year, 12, 31)

    @property
    def pension_born_by(self) -> int:
        """Members born in this year or before are 16 or older at the end of Y."""
        return self.year - PENSION_MIN_AGE

    @property
    def junior_middle_born(self) -> tuple[int, int]:
        """The birth years of junior-middle school age (12 to 14 at the end of Y), oldest first."""
        return self.year - JUNIOR_MIDDLE_AGES[1], self.year - JUNIOR_MIDDLE_AGES[0]

    @property
    def team_since(self) -> date:
        """A resident assignment that began on or before this day has been in place a year on D (P7)."""
        return self.day - MIN_TERM


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
    first = date(year, 1, 1)
    day = min(date(year, 12, 31), today)
    return Period(
        year=year,
        first_day=first,
        day=day,
        year_start=_midnight(first),
        cutoff=_midnight(day + timedelta(days=1)),
        prior_start=_midnight(date(year - 1, 1, 1)),
        update_deadline=_midnight(date(year, 2, 1)),
        update_deadline_passed=today >= date(year, 2, 1),
        year_over=today > date(year, 12, 31),
    )


def identification_line_default(year: int) -> int | None:
    """The catalogue default of the identification line for `year` (yuan), the last fallback of every line."""
    value = default_for("identification_income_line_yuan", year)
    return None if value is None else int(value)
