"""The metric catalogue (考核数据项, DOMAIN.md §6.4-§6.5, issue #12 "Metrics"): every figure a scheme may read. Pure.

A metric is one figure per assessed subject and year: its code, the subject types it exists for, its unit, which
way is better, the service that computes it (the registry, planning, the inspections of §6.3, or an assessor's
entry) and its zh-CN label. Schemes name metrics by code; validation (invariant 43) refuses a metric that is not
here, one of another subject type, and a threshold whose unit is not the metric's.

Conventions every source follows, so that a scheme's thresholds mean the same everywhere:

- `percent` is 0-100 with up to four decimals (`85` is 85 %, never `0.85`); growth rates may be negative;
- `fen` is money in integer fen (分): 50,000 yuan is `5000000`;
- `bool` is `1` (yes) or `0` (no); a conditional item of the household exit test ("if labour-capable: a stable
  income source") is `1` when it is met *or does not apply*;
- counts (`people`, `households`, `items`) are whole numbers; a `*_increase` metric may be negative;
- inspection findings are the count of *confirmed* findings of one category (§6.3) in the year;
- a metric a subject has no figure for is absent: an indicator reading it scores 0 and says so; a veto or bonus
  reading it is not evaluated (DOMAIN.md gives no rule for an absent figure; an absent figure is not a finding).

| rule | DOMAIN.md | here |
|---|---|---|
| the subjects assessed (household exit, village, cadre, helping unit, township, CPPCC unit) | §6.2, §6.4 | `SubjectType` |
| a metric has a code, subject type, unit, source and zh-CN label | issue #12 Metrics | `Metric`, `CATALOGUE` |
| sources: registry, planning, inspection (spot checks, §6.3), manual | §6.4 `data_source`, Appendix A | `MetricSource` |
| which way a metric improves (the scoring methods must agree with it) | §6.4 methods; invariant 40 | `Direction` |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.labels import LabelledEnum, code_list

__all__ = [
    "CATALOGUE",
    "MONEY",
    "Direction",
    "Metric",
    "MetricSource",
    "MetricUnit",
    "SubjectType",
    "metric",
]


@code_list("assessment_subject_type", "考核对象类型", "Assessment subject type")
class SubjectType(LabelledEnum):
    """Who or what a scheme assesses (DOMAIN.md §6.2, §6.4 `subject_type`)."""

    household_exit = "household_exit", "贫困户脱贫退出", "Household exit test"
    village = "village", "贫困村(村两委)", "Village (village committees)"
    cadre = "cadre", "帮扶责任人(干部)", "Responsible helper (cadre)"
    helping_unit = "helping_unit", "帮扶单位(定点帮扶单位)", "Helping / designated unit"
    township = "township", "乡镇", "Township"
    cppcc_unit = "cppcc_unit", "政协组织及委员", "CPPCC group or member"


@code_list("assessment_metric_unit", "考核数据单位", "Metric unit")
class MetricUnit(LabelledEnum):
    """The unit of a metric's figures; every threshold on a metric states the same unit."""

    percent = "percent", "百分比(%)", "Percent (0-100)"
    people = "people", "人"
    households = "households", "户"
    items = "items", "个(次、项、起)", "Items (times, things, findings)"
    fen = "fen", "分(人民币,1 元 = 100 分)", "Fen (money; 1 yuan = 100 fen)"
    bool = "bool", "是否(1 是 / 0 否)", "Yes (1) or no (0)"


@code_list("assessment_metric_direction", "数据方向", "Metric direction")
class Direction(LabelledEnum):
    """Which way a metric is better; `neutral` figures (a quota, a poverty line) are only ever a target."""

    higher_is_better = "higher_is_better", "越高越好", "Higher is better"
    lower_is_better = "lower_is_better", "越低越好", "Lower is better"
    neutral = "neutral", "中性(仅作目标值)", "Neutral (only a target)"


@code_list("assessment_metric_source", "数据来源", "Metric source")
class MetricSource(LabelledEnum):
    """The service that computes a metric for the assessment (DOMAIN.md Appendix A, §6.3)."""

    registry = "registry", "扶贫对象库(建档立卡、结对、帮扶记录、监测)", "Registry"
    planning = "planning", "规划、项目与资金", "Planning (plans, projects, funds)"
    inspection = "inspection", "检查考核(抽查、核查及其问题)", "Inspections and their findings"
    manual = "manual", "考核人员录入", "Entered by assessors"


@dataclass(frozen=True, slots=True)
class Metric:
    """One figure per subject and year that a scheme may read."""

    code: str
    label: str
    english: str
    unit: MetricUnit
    direction: Direction
    source: MetricSource
    subject_types: frozenset[SubjectType]
    description: str = ""


#: Money is the one unit whose figures are integers by construction (fen).
MONEY = MetricUnit.fen

_S = SubjectType
_U = MetricUnit
_D = Direction
_SRC = MetricSource
_HIGHER, _LOWER, _NEUTRAL = _D.higher_is_better, _D.lower_is_better, _D.neutral
_VILLAGE = frozenset({_S.village})
_TOWNSHIP = frozenset({_S.township})
_PLACES = frozenset({_S.village, _S.township})
_CADRE = frozenset({_S.cadre})
_UNIT = frozenset({_S.helping_unit})
_HOUSEHOLD = frozenset({_S.household_exit})
_CPPCC = frozenset({_S.cppcc_unit})
_HELPERS = frozenset({_S.cadre, _S.helping_unit})
_ALL_AREAS = frozenset({_S.village, _S.township, _S.helping_unit})


def _m(
    code: str,
    label: str,
    english: str,
    unit: MetricUnit,
    direction: Direction,
    source: MetricSource,
    subjects: frozenset[SubjectType],
    description: str = "",
) -> Metric:
    return Metric(code, label, english, unit, direction, source, subjects, description)


_METRICS: tuple[Metric, ...] = (
    # -- poverty reduction (减贫成效) -------------------------------------------------------------------------
    _m("exited_people", "本年脱贫人数", "People exited this year", _U.people, _HIGHER, _SRC.registry, _PLACES,
       "People of households whose exit the county reviewed by 31 Dec of the year (invariant 19)"),
    _m("exit_quota_people", "本年减贫任务(人)", "Exit quota of the year (people)", _U.people, _NEUTRAL,
       _SRC.registry, _PLACES, "The year's exit target decomposed to the subject (invariant 25): a target only"),
    _m("exit_plan_achievement", "减贫计划完成率", "Exit plan achieved", _U.percent, _HIGHER, _SRC.registry,
       _TOWNSHIP | _HELPERS, "People exited / people planned to exit in the year x 100"),
    _m("poverty_incidence", "贫困发生率", "Poverty incidence", _U.percent, _LOWER, _SRC.registry, _PLACES,
       "Registered poor people / registered population x 100 at year end"),
    _m("returnees", "返贫人数", "Returnees", _U.people, _LOWER, _SRC.registry, _PLACES,
       "People of households that returned to poverty in the year"),
    _m("returnees_increase", "返贫人数较上年增加数", "Returnees above the prior year", _U.people, _LOWER,
       _SRC.registry, _PLACES, "Returnees this year - returnees last year (negative when fewer)"),
    # -- income (收入) ---------------------------------------------------------------------------------------
    _m("income_growth", "贫困户人均纯收入增长率", "Per-capita net income growth", _U.percent, _HIGHER,
       _SRC.registry, _PLACES, "Growth of the poor households' per-capita net income over the prior year (may be negative)"),
    _m("share_households_above_line", "人均纯收入达标户占比", "Households above the income line", _U.percent,
       _HIGHER, _SRC.registry, _PLACES, "Poor households whose per-capita net income is >= the line of the year (3500 yuan in the seed) x 100"),
    # -- infrastructure (基础设施, planning's actuals) ---------------------------------------------------------
    _m("road_to_group_coverage", "通组道路硬化率", "Paved road to village groups", _U.percent, _HIGHER,
       _SRC.planning, _VILLAGE),
    _m("safe_water_coverage", "安全饮水覆盖率", "Safe drinking water", _U.percent, _HIGHER, _SRC.planning,
       _VILLAGE),
    _m("power_and_broadband", "通电通宽带", "Power and broadband", _U.bool, _HIGHER, _SRC.planning, _VILLAGE),
    _m("biogas_coverage", "沼气池普及率", "Biogas digesters", _U.percent, _HIGHER, _SRC.planning, _VILLAGE),
    # -- public services (公共服务) ----------------------------------------------------------------------------
    _m("ncms_coverage", "新农合参合率", "NCMS (rural medical insurance) enrolment", _U.percent, _HIGHER,
       _SRC.registry, _PLACES),
    _m("pension_coverage", "城乡居民养老保险参保率", "Rural pension insurance", _U.percent, _HIGHER,
       _SRC.registry, _PLACES),
    _m("junior_middle_enrolment", "初中适龄儿童入学率", "Junior-middle school enrolment", _U.percent, _HIGHER,
       _SRC.registry, _PLACES),
    _m("clinic_with_doctor", "有标准化卫生室和村医", "Clinic with a village doctor", _U.bool, _HIGHER,
       _SRC.planning, _VILLAGE),
    # -- industry and the collective (产业与集体经济) -------------------------------------------------------------
    _m("industry_coverage", "有发展意愿贫困户稳定产业覆盖率", "Willing poor households with a stable industry",
       _U.percent, _HIGHER, _SRC.registry, _PLACES, "Willing poor households with >= 1 stable industry / willing poor households x 100"),
    _m("collective_income_fen", "村集体经济收入", "Village collective income", _U.fen, _HIGHER, _SRC.planning,
       _VILLAGE),
    _m("has_cooperative", "有农民合作社或特色产业", "Cooperative or specialty industry", _U.bool, _HIGHER,
       _SRC.planning, _VILLAGE),
    # -- management and deadlines (管理与时限) ----------------------------------------------------------------
    _m("incomplete_cards", "卡册不全户数", "Households with incomplete cards or rosters", _U.households, _LOWER,
       _SRC.registry, _PLACES),
    _m("notices_on_time", "公示公告按时规范", "Notices posted on time", _U.bool, _HIGHER, _SRC.registry,
       _PLACES),
    _m("deadline_jan_update_met", "1月底前完成信息更新", "End-January update met", _U.bool, _HIGHER,
       _SRC.registry, _PLACES, "The annual update of villages and households done by end-January (invariant 20)"),
    _m("deadline_feb_upload_met", "2月底前完成数据上传", "End-February upload met", _U.bool, _HIGHER,
       _SRC.registry, _PLACES, "The update uploaded to the information system by end-February (invariant 20)"),
    _m("deadline_dec_exits_met", "12月底前完成脱贫退出", "End-December exits met", _U.bool, _HIGHER,
       _SRC.registry, _PLACES, "The year's exits county-reviewed by 31 December (invariant 19)"),
    _m("monitoring_rounds_closed", "6月、12月监测完成轮次", "June and December monitoring rounds closed",
       _U.items, _HIGHER, _SRC.registry, _PLACES | _HELPERS, "Rounds closed in the year: 0, 1 or 2 (§2.17)"),
    # -- pairing and help (结对帮扶) ------------------------------------------------------------------------------
    _m("pairing_coverage", "有劳动能力贫困户结对覆盖率", "Households with an active helper", _U.percent, _HIGHER,
       _SRC.registry, _ALL_AREAS, "Registered households with labour capacity and willingness that have an active pairing x 100 (P2, P3)"),
    _m("visits_per_pairing", "户均走访次数", "Visits per paired household", _U.items, _HIGHER, _SRC.registry,
       _HELPERS, "Visits recorded in the year per paired household (§3.3: 4 a year by default)"),
    _m("confirmed_records_per_pairing", "户均已确认帮扶记录数", "Confirmed help records per paired household",
       _U.items, _HIGHER, _SRC.registry, _HELPERS, "Help records with all three signatures (invariant 30) per paired household"),
    _m("unsigned_cards", "未三方签字确认的记录卡", "Help record cards not signed by all three", _U.items, _LOWER,
       _SRC.registry, _HELPERS),
    _m("households_without_card", "无帮扶记录卡户数", "Paired households without any card", _U.households,
       _LOWER, _SRC.registry, _HELPERS),
    _m("help_plan_completeness", "帮扶计划与手册完整率(经户认可)", "Help plans and handbooks complete, with consent",
       _U.percent, _HIGHER, _SRC.registry, _HELPERS),
    _m("measures_on_schedule", "帮扶措施按期落实率", "Help-plan measures delivered on time", _U.percent, _HIGHER,
       _SRC.registry, _HELPERS | _PLACES),
    _m("income_increase_vs_plan", "帮扶户增收计划完成率", "Income increase against the plan", _U.percent,
       _HIGHER, _SRC.registry, _HELPERS),
    _m("exit_per_plan_no_return", "按计划脱贫且当年无返贫", "Exited per plan, none returned", _U.bool, _HIGHER,
       _SRC.registry, _CADRE),
    _m("help_targets_missed", "未按期完成帮扶任务数", "Help targets not completed on time", _U.items, _LOWER,
       _SRC.registry, _HELPERS, "R7: a cadre who misses help targets may not be promoted or re-assigned"),
    # -- helping units (帮扶单位) ----------------------------------------------------------------------------------
    _m("resident_team_stable", "驻村工作队在岗满一年且稳定", "Resident team in place >= 1 year and stable",
       _U.bool, _HIGHER, _SRC.registry, _UNIT, "P7"),
    _m("first_secretary_assigned", "选派第一书记", "First secretary assigned", _U.bool, _HIGHER,
       _SRC.registry, _UNIT),
    _m("leaders_linking_villages", "领导挂点自然村比例", "Leaders linking a natural village", _U.percent,
       _HIGHER, _SRC.registry, _UNIT, "P5"),
    _m("main_leader_visited", "主要领导年内到村", "Main leaders visited the village this year", _U.bool,
       _HIGHER, _SRC.manual, _UNIT),
    _m("liaison_designated", "确定联络员", "Liaison designated", _U.bool, _HIGHER, _SRC.registry, _UNIT, "P8"),
    _m("pairing_meetings_held", "结对帮扶工作会议次数", "Pairing meetings held", _U.items, _HIGHER, _SRC.manual,
       _UNIT, "At least one a quarter (§3.3)"),
    _m("funds_raised_fen", "筹集帮扶资金和物资折价", "Funds and materials raised", _U.fen, _HIGHER,
       _SRC.planning, _UNIT | _TOWNSHIP),
    _m("funds_pledged_completion", "承诺帮扶资金到位率", "Pledged help funds delivered", _U.percent, _HIGHER,
       _SRC.planning, _UNIT),
    _m("funds_disbursed_share", "资金拨付率", "Funds disbursed", _U.percent, _HIGHER, _SRC.planning,
       _UNIT | _PLACES, "Disbursed / received x 100 over the subject's funding lines"),
    _m("projects_accepted_share", "项目竣工验收率", "Projects accepted", _U.percent, _HIGHER, _SRC.planning,
       _UNIT | _PLACES, "Projects whose acceptance passed / projects due x 100"),
    _m("village_indicator_progress", "帮扶村规划指标完成进度", "Progress of the village plan's targets",
       _U.percent, _HIGHER, _SRC.planning, _UNIT | _TOWNSHIP),
    _m("year_end_report_filed", "年底前报送帮扶工作总结", "Year-end report filed", _U.bool, _HIGHER,
       _SRC.manual, _UNIT, "R16"),
    _m("data_updates_on_time", "帮扶数据按时更新", "Help data updated on time", _U.bool, _HIGHER,
       _SRC.registry, _UNIT),
    _m("monitoring_responses", "监测反馈问题整改率", "Monitoring findings answered", _U.percent, _HIGHER,
       _SRC.registry, _UNIT | _TOWNSHIP),
    # -- townships (乡镇) -----------------------------------------------------------------------------------------
    _m("identification_accuracy", "精准识别抽查准确率", "Identification accuracy in spot checks", _U.percent,
       _HIGHER, _SRC.inspection, _TOWNSHIP | _VILLAGE, "Households checked and found correctly identified / households checked x 100 (R13)"),
    _m("training_sessions", "培训宣传场次", "Training and publicity sessions", _U.items, _HIGHER, _SRC.manual,
       _TOWNSHIP),
    # -- inspection findings (检查发现问题, §6.3) ----------------------------------------------------------------
    _m("findings_mis_identified", "核实识别不准问题数", "Confirmed findings: mis-identified", _U.items, _LOWER,
       _SRC.inspection, _PLACES | _HELPERS),
    _m("findings_missing_record", "核实资料缺失问题数", "Confirmed findings: missing record", _U.items, _LOWER,
       _SRC.inspection, _PLACES | _HELPERS),
    _m("findings_fund_misuse", "核实资金使用问题数", "Confirmed findings: fund misuse", _U.items, _LOWER,
       _SRC.inspection, _PLACES | _HELPERS),
    _m("findings_other", "核实其他问题数", "Confirmed findings: other", _U.items, _LOWER, _SRC.inspection,
       _PLACES | _HELPERS),
    _m("split_households_confirmed", "核实拆户分户", "Confirmed split households (拆户)", _U.items, _LOWER,
       _SRC.inspection, _PLACES, "Invariant 5"),
    _m("empty_households_confirmed", "核实空挂户", "Confirmed empty households (空挂户)", _U.items, _LOWER,
       _SRC.inspection, _PLACES, "Invariant 6"),
    _m("favouritism_confirmed", "核实优亲厚友", "Confirmed favouritism (优亲厚友)", _U.items, _LOWER,
       _SRC.inspection, _PLACES, "Invariant 7"),
    _m("fabricated_data_confirmed", "核实数据造假", "Confirmed fabricated data", _U.items, _LOWER,
       _SRC.inspection, _PLACES | _HELPERS),
    _m("fabricated_visits_confirmed", "核实虚假走访记录", "Confirmed fabricated visit records", _U.items, _LOWER,
       _SRC.inspection, _HELPERS),
    _m("funds_misused_confirmed", "核实挪用专项资金", "Confirmed misuse of special funds", _U.items, _LOWER,
       _SRC.inspection, _PLACES | _HELPERS, "Invariant 37 (专款专用)"),
    # -- the household exit test (贫困户退出, §6.5 A) -------------------------------------------------------------
    _m("per_capita_net_income_fen", "家庭人均纯收入", "Per-capita net income", _U.fen, _HIGHER, _SRC.registry,
       _HOUSEHOLD, "Of the assessment year (invariant 11)"),
    _m("poverty_line_fen", "当年扶贫标准", "Poverty line of the year", _U.fen, _NEUTRAL, _SRC.registry,
       _HOUSEHOLD, "The region's line of the assessment year (2736 yuan in 2013): a target only"),
    _m("food_clothing_secure", "不愁吃不愁穿", "No worry about food and clothing", _U.bool, _HIGHER,
       _SRC.registry, _HOUSEHOLD),
    _m("compulsory_schooling_ok", "义务教育阶段无辍学", "Compulsory-age children all in school", _U.bool,
       _HIGHER, _SRC.registry, _HOUSEHOLD),
    _m("medical_insurance_all", "家庭成员全部参加新农合", "Every member in medical insurance", _U.bool, _HIGHER,
       _SRC.registry, _HOUSEHOLD),
    _m("housing_safe", "住房安全(非C/D级危房)", "Housing safe (not C/D dangerous)", _U.bool, _HIGHER,
       _SRC.registry, _HOUSEHOLD),
    _m("stable_income_source", "有劳动能力的有稳定收入来源", "A stable income source if labour-capable",
       _U.bool, _HIGHER, _SRC.registry, _HOUSEHOLD, "1 when met or when the household has no labour capacity"),
    _m("social_assistance_covered", "无劳动能力的纳入低保五保", "Covered by 低保/五保 if no labour capacity",
       _U.bool, _HIGHER, _SRC.registry, _HOUSEHOLD, "1 when met or when the household has labour capacity"),
    _m("exit_procedure_complete", "民主评议和两公示一公告完成", "Democratic review, two notices and announcement",
       _U.bool, _HIGHER, _SRC.registry, _HOUSEHOLD, "Invariant 16"),
    _m("head_acknowledged", "户主签字认可脱贫", "Household head signed the exit", _U.bool, _HIGHER,
       _SRC.registry, _HOUSEHOLD),
    # -- CPPCC (政协, §6.5 F, R1-R5) ------------------------------------------------------------------------------
    _m("poverty_bases_built", "建立产业扶贫基地数", "Industrial poverty bases built", _U.items, _HIGHER,
       _SRC.manual, _CPPCC, "R4: each township liaison committee builds >= 2 with members"),
    _m("countryside_activities_held", "开展扶贫下乡活动次数", "'Poverty help to the countryside' activities",
       _U.items, _HIGHER, _SRC.manual, _CPPCC, "R3"),
    _m("three_one_participation", "参加“三个一”行动", "Took part in the '三个一' action", _U.bool, _HIGHER,
       _SRC.manual, _CPPCC, "R3"),
    _m("donations_fen", "捐助资金和物资折价", "Funds and materials donated (valued)", _U.fen, _HIGHER,
       _SRC.manual, _CPPCC, "Invariant 47: funds + materials valued in yuan, here in fen"),
    _m("cppcc_attendance", "会议出勤率", "Attendance at sessions", _U.percent, _HIGHER, _SRC.manual, _CPPCC),
    _m("research_inspections", "参加调研视察次数", "Research and inspection visits", _U.items, _HIGHER,
       _SRC.manual, _CPPCC, "1-2 in 2018 (§3.3)"),
)  # fmt: skip

#: Every metric by code (the catalogue is data; `GET /metric-catalogue` serves it).
CATALOGUE: Mapping[str, Metric] = {m.code: m for m in sorted(_METRICS, key=lambda m: m.code)}
assert len(CATALOGUE) == len(_METRICS), "metric codes are unique"


def metric(code: str) -> Metric | None:
    """The metric `code` of the catalogue, or None."""
    return CATALOGUE.get(code)
