"""Assessment runs (考核运行, DOMAIN.md §6.4-§6.6, invariants 44-47, issue #12): what a run is, who may ask for one,
publish it and read its results, and how a result explains itself. Pure: the standard library, `shared.roles`,
`shared.errors`, `shared.labels` and the assessment's other domains.

A run scores one scheme version for one year over one region of a county: it first **freezes a snapshot** of
every figure the scheme reads for every subject (from the registry and planning over HTTP, from the assessment's
own inspections and manual entries), then scores every subject from the snapshot in PostgreSQL, set-wise
(runs/repository.py; the formulas are those of `scoring.domain`, the reference scorer, and a test holds the two
equal). Re-scoring a snapshot gives the same results.

| rule | source | here |
|---|---|---|
| a run takes a scheme, a year and a region; a new run after data changes is a new version | issue #12 | `RunKind`, `RunStatus`, versions per series |
| a failed pull fails the run visibly, never a half-read snapshot | issue #12 | `RunStatus.failed`, `failure_code` |
| June and December monitoring run the same schemes as interim, unpublished runs | R14, issue #12 | `RunKind.interim_*`, `check_publishable` |
| what-if: a draft scheme scored against a published run's snapshot, never published | issue #12 | `RunKind.what_if`, `check_what_if` |
| published results are immutable; corrections are new versions; appeals tracked | invariant 46 | `check_publishable`, `check_correctable`, `AppealStatus` |
| veto reasons are shown to the subject | invariant 45 | `explain_total`, the result's vetoes |
| rankings within peer groups (villages of a township, townships of a county) with a stated tie rule | issue #12 | `TIE_RULE_ZH`, `TIE_RULE_EN` |
| county admins run and publish in their county; township officers see their township's results; cadres and village officers their own; the province published results | issue #12 Access | `require_runner`, `Reader` |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.assessment.metrics.domain import CATALOGUE, MetricSource, SubjectType
from services.assessment.schemes.domain import Grade, MethodKind, SchemeStatus, VetoEffect, county_of
from services.assessment.scoring.domain import plain, rounder
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import PREFIX_LENGTH, Principal, RegionLevel, Role, in_scope, level_of

__all__ = [
    "FIGURE_SUBJECTS",
    "PUBLISHABLE",
    "RUN_OWNERS",
    "TIE_RULE_EN",
    "TIE_RULE_ZH",
    "UNLISTED_SUBJECTS",
    "AppealDecision",
    "AppealStatus",
    "IndicatorRow",
    "IndicatorRule",
    "Reader",
    "ResultRow",
    "RunKind",
    "RunStatus",
    "check_answerable",
    "check_appealable",
    "check_correctable",
    "check_manual_score",
    "check_publishable",
    "check_run_request",
    "check_what_if",
    "explain_commendation",
    "explain_indicator",
    "explain_total",
    "metrics_by_source",
    "reader_for",
    "require_answerer",
    "require_runner",
    "subject_region",
]


# -- code lists -------------------------------------------------------------------------------------------------
@code_list("assessment_run_kind", "考核运行类型", "Assessment run kind")
class RunKind(LabelledEnum):
    """What a run is for: the annual assessment, the June / December monitoring (R14), or a what-if."""

    annual = "annual", "年度考核", "Annual assessment"
    interim_june = "interim_june", "6月监测(过程考核,不公布)", "June monitoring (interim, never published)"
    interim_december = (
        "interim_december",
        "12月监测(过程考核,不公布)",
        "December monitoring (interim, never published)",
    )
    what_if = "what_if", "模拟测算(不公布)", "What-if (never published)"


@code_list("assessment_run_status", "考核运行状态", "Assessment run status")
class RunStatus(LabelledEnum):
    """queued → freezing → scoring → scored → published; failed with a visible reason."""

    queued = "queued", "排队中", "Queued"
    freezing = "freezing", "正在冻结数据快照", "Freezing the snapshot"
    scoring = "scoring", "正在计分", "Scoring"
    scored = "scored", "已计分(未公布)", "Scored (not published)"
    published = "published", "已公布(结果锁定)", "Published (results locked)"
    failed = "failed", "失败", "Failed"


@code_list("assessment_indicator_rule", "计分规则", "Indicator rule applied")
class IndicatorRule(LabelledEnum):
    """Which rule gave an indicator its points for one subject (the explanation's code)."""

    missing_value = "missing_value", "缺少数据,得0分", "No figure: 0"
    missing_target = "missing_target", "缺少目标值数据,得0分", "No target figure: 0"
    missing_manual = "missing_manual", "考核人员尚未评分,得0分", "No assessor's score yet: 0"
    binary_met = "binary_met", "达标,得满分", "Met (> 0): full points"
    binary_not_met = "binary_not_met", "未达标,得0分", "Not met: 0"
    threshold_met = "threshold_met", "达到目标值,得满分", "Threshold met: full points"
    threshold_not_met = "threshold_not_met", "未达到目标值,得0分", "Threshold not met: 0"
    linear = "linear", "按完成比例计分", "In proportion to the target"
    linear_capped = "linear_capped", "超额完成,按满分计", "Beyond the target: full points"
    linear_floored = "linear_floored", "低于起点,得0分", "Below the zero point: 0"
    linear_target_zero_met = "linear_target_zero_met", "目标为零且已达到,得满分", "Target of 0 reached: full"
    linear_target_zero_not_met = (
        "linear_target_zero_not_met",
        "目标为零但未达到,得0分",
        "Target of 0 not reached: 0",
    )
    tiered_band = "tiered_band", "按所达档次计分", "The band reached"
    tiered_no_band = "tiered_no_band", "未达到任何档次,得0分", "No band reached: 0"
    deduction = "deduction", "按次扣分", "Deducted per occurrence"
    deduction_floor = "deduction_floor", "扣分至下限", "Deducted down to the floor"
    rank_band = "rank_band", "按同类排名档次计分", "The band of the position among peers"
    rank_no_band = "rank_no_band", "排名不在任何档次,得0分", "Position in no band: 0"
    manual = "manual", "考核人员评分", "Assessor's score"
    embedded = "embedded", "嵌套方案折算", "Embedded scheme, scaled"
    group_sum = "group_sum", "下级指标得分合计", "Sum of the sub-indicators"


@code_list("assessment_appeal_status", "申诉状态", "Appeal status")
class AppealStatus(LabelledEnum):
    open = "open", "待答复", "Open"
    upheld = "upheld", "申诉成立(将更正)", "Upheld (to be corrected)"
    rejected = "rejected", "申诉不成立", "Rejected"


@code_list("assessment_appeal_decision", "申诉答复结论", "Appeal decision")
class AppealDecision(LabelledEnum):
    upheld = "upheld", "成立", "Upheld"
    rejected = "rejected", "不成立", "Rejected"


#: Kinds of run that may be published (invariant 46; interim and what-if runs never are). The database holds it
#: too (`ck_assessment_run_publishable`).
PUBLISHABLE: frozenset[RunKind] = frozenset({RunKind.annual})
#: Statuses whose results exist and may be read.
SCORED: frozenset[RunStatus] = frozenset({RunStatus.scored, RunStatus.published})
#: Who asks for runs and publishes them: the county poverty office, in its county.
RUN_OWNERS: frozenset[Role] = frozenset({Role.county_admin})
#: Subject types whose subjects (and registry figures) the registry lists (`GET /figures/{subject_type}`).
FIGURE_SUBJECTS: frozenset[SubjectType] = frozenset(
    {
        SubjectType.village,
        SubjectType.township,
        SubjectType.cadre,
        SubjectType.helping_unit,
        SubjectType.household_exit,
    }
)
#: Why each other subject type has no subjects to run over (the `subjects_unavailable` problem says it).
UNLISTED_SUBJECTS: Mapping[SubjectType, str] = {
    SubjectType.cppcc_unit: "no service lists CPPCC groups and members (政协组织及委员): the registry keeps no "
    "register of them and no service serves GET /figures/cppcc_unit",
}

#: The tie rule of every ranking (issue #12): stated once, served with every ranked result.
TIE_RULE_ZH = (
    "同一排名范围(村按所属乡镇、乡镇按所属县)内先按考核等次、再按最终得分从高到低排名;等次和得分都相同的并列同一名次,"
    "其后名次顺延(如 1、2、2、4),不再以其他条件区分。"
)
TIE_RULE_EN = (
    "Within a peer group (villages of a township, townships of a county) subjects rank by grade, then by final score, "
    "best first; subjects with the same grade and score share a rank and the next rank skips (1, 2, 2, 4); no other "
    "tie-breaker."
)


# -- asking for a run -------------------------------------------------------------------------------------------
def require_runner(principal: Principal) -> str:
    """The county a run is asked for in: a county admin's own (403 for anyone else)."""
    if principal.role not in RUN_OWNERS or level_of(principal.region) is not RegionLevel.county:
        raise NotAllowed(
            "run_owner_required",
            "only county administrators run and publish assessments, in their county",
            role=principal.role.value,
        )
    return principal.region


def check_run_request(
    *,
    kind: RunKind,
    county: str,
    region: str,
    year: int,
    scheme_status: SchemeStatus,
    scheme_year: int,
    subject_type: SubjectType,
    has_baseline: bool,
) -> None:
    """A run is over the county or a region inside it, for the scheme's year, by a published (or locked) scheme;
    a what-if names a published baseline run instead (`check_what_if`)."""
    if not in_scope(county, region):
        raise Invalid(
            "region_outside_county",
            f"region {region} is not in your county {county}",
            errors=[
                {"pointer": "/region", "message": "a region of your county", "code": "region_outside_county"}
            ],
        )
    if level_of(region) not in (RegionLevel.county, RegionLevel.township):
        raise Invalid(
            "region_level",
            "a run is over a county or a township",
            errors=[{"pointer": "/region", "message": "a county or township code", "code": "region_level"}],
        )
    if subject_type not in FIGURE_SUBJECTS:
        raise Refused(
            "subjects_unavailable",
            f"a {subject_type.value} scheme cannot be run: {UNLISTED_SUBJECTS[subject_type]}, so a run has no "
            "subjects to freeze and score. The scheme can still be drafted and published, and assessors' manual "
            "entries recorded for it",
            subject_type=subject_type.value,
        )
    if kind is RunKind.what_if:
        if not has_baseline:
            raise Invalid(
                "baseline_required",
                "a what-if run names the published run whose snapshot it scores (baseline_run_id)",
                errors=[
                    {
                        "pointer": "/baseline_run_id",
                        "message": "required for what_if",
                        "code": "baseline_required",
                    }
                ],
            )
        return
    if has_baseline:
        raise Invalid(
            "baseline_not_allowed",
            "only a what-if run names a baseline (other runs freeze their own snapshot)",
            errors=[
                {"pointer": "/baseline_run_id", "message": "only for what_if", "code": "baseline_not_allowed"}
            ],
        )
    if scheme_status is SchemeStatus.draft:
        raise Refused(
            "scheme_not_published",
            "a draft scheme is run only as a what-if against a published run; publish it first",
            status=scheme_status.value,
        )
    if year != scheme_year:
        raise Invalid(
            "year_mismatch",
            f"the scheme is of {scheme_year}, not {year}",
            errors=[
                {
                    "pointer": "/year",
                    "message": f"the scheme's year is {scheme_year}",
                    "code": "year_mismatch",
                }
            ],
        )


def check_what_if(
    *, baseline_kind: RunKind, baseline_status: RunStatus, baseline_subject: str, subject_type: SubjectType
) -> None:
    """A what-if scores against the snapshot of a published run of the same subject type."""
    if baseline_status is not RunStatus.published or baseline_kind is not RunKind.annual:
        raise Refused(
            "baseline_not_published",
            "a what-if is scored against the snapshot of a published annual run",
            status=baseline_status.value,
        )
    if baseline_subject != subject_type.value:
        raise Refused(
            "baseline_subject_mismatch",
            f"the baseline run assesses {baseline_subject}, the scheme {subject_type.value}",
        )


def check_publishable(kind: RunKind, status: RunStatus) -> None:
    """Only a scored annual run is published (invariant 46); interim and what-if runs never are."""
    if kind not in PUBLISHABLE:
        raise Refused(
            "run_not_publishable",
            f"a {kind.value} run is never published (only annual runs are)",
            kind=kind.value,
        )
    if status is not RunStatus.scored:
        raise Refused(
            "run_not_scored",
            f"the run is {status.value}: only a scored run is published",
            status=status.value,
        )


def check_appealable(kind: RunKind, status: RunStatus) -> None:
    """Appeals are against published results (the only official ones)."""
    if status is not RunStatus.published or kind not in PUBLISHABLE:
        raise Refused(
            "run_not_published", "appeals are against the results of a published run", status=status.value
        )


def check_answerable(status: AppealStatus) -> None:
    if status is not AppealStatus.open:
        raise Refused("appeal_answered", f"the appeal is {status.value} already", status=status.value)


def check_correctable(status: RunStatus, upheld_open: int, superseded: bool) -> None:
    """A correction is a new version of a published run with an upheld appeal not yet corrected."""
    if status is not RunStatus.published:
        raise Refused("run_not_published", "only a published run is corrected", status=status.value)
    if superseded:
        raise Refused("run_superseded", "a newer version of this run exists: correct that one")
    if upheld_open == 0:
        raise Refused(
            "no_upheld_appeal", "a published run is corrected after an upheld appeal (never edited in place)"
        )


def require_answerer(principal: Principal, county: str) -> None:
    """The county that published the run answers its appeals."""
    if principal.role not in RUN_OWNERS or principal.region != county:
        raise NotAllowed(
            "appeal_answerer_required",
            "the county administrators of the run answer its appeals",
            role=principal.role.value,
        )


def check_manual_score(indicator: str, points: Decimal, reason: str, max_points: Decimal) -> None:
    """Invariant 44: an assessor's score lies in [0, max] and has a written reason (else the run fails)."""
    if not reason.strip():
        raise Invalid(
            "manual_reason_required",
            f"indicator {indicator}: a manual score needs a written reason (invariant 44)",
            indicator=indicator,
        )
    if not Decimal(0) <= points <= max_points:
        raise Invalid(
            "manual_score_out_of_range",
            f"indicator {indicator}: a score lies in [0, {plain(max_points)}] (invariant 44)",
            indicator=indicator,
        )


def metrics_by_source(metrics: frozenset[str]) -> Mapping[MetricSource, frozenset[str]]:
    """The scheme's metrics grouped by the service that computes them (the metric catalogue's `source`)."""
    out: dict[MetricSource, set[str]] = {}
    for code in metrics:
        found = CATALOGUE.get(code)
        if found is not None:
            out.setdefault(found.source, set()).add(code)
    return {source: frozenset(codes) for source, codes in out.items()}


def subject_region(subject_type: SubjectType, subject_id: str, parent_code: str | None, fallback: str) -> str:
    """A subject's own region: a village's or township's code; a cadre's, unit's or household's region."""
    if subject_type in (SubjectType.village, SubjectType.township):
        return subject_id
    return parent_code or fallback


# -- who reads what ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reader:
    """What a caller may read of runs: the runs (by county and status) and, in them, which subjects' results.

    `counties`: runs of these counties (None: any, the province's are filtered by prefix); `published_only`;
    `subject_prefix`: results of subjects whose region starts with it; `subject_id`: only this subject (a village
    officer's village; a cadre's own cadre id, checked against the registry by the service)."""

    county_prefix: str
    published_only: bool
    subject_prefix: str
    subject_id: str | None = None
    cadre: bool = False
    #: Whether the caller lists a run's results (the subjects themselves read their own result only).
    lists_results: bool = True


def reader_for(principal: Principal) -> Reader:
    """The caller's view of runs and results (issue #12 Access); 403 for a role that reads none."""
    role = principal.role
    if role is Role.county_admin:
        return Reader(county_prefix=principal.prefix, published_only=False, subject_prefix=principal.prefix)
    if role is Role.township_officer:
        county = county_of(principal.region) or principal.region
        county_prefix = county[: PREFIX_LENGTH[RegionLevel.county]]
        return Reader(county_prefix=county_prefix, published_only=False, subject_prefix=principal.prefix)
    if role is Role.province_system or role is Role.service:
        return Reader(county_prefix=principal.prefix, published_only=True, subject_prefix=principal.prefix)
    if role is Role.village_officer:
        county = county_of(principal.region) or principal.region
        return Reader(
            county_prefix=county[: PREFIX_LENGTH[RegionLevel.county]],
            published_only=True,
            subject_prefix=principal.prefix,
            subject_id=principal.region,
            lists_results=False,
        )
    if role is Role.cadre:
        county = county_of(principal.region) or principal.region
        return Reader(
            county_prefix=county[: PREFIX_LENGTH[RegionLevel.county]],
            published_only=True,
            subject_prefix="",
            cadre=True,
            lists_results=False,
        )
    raise NotAllowed(
        "result_reader_required", f"role {role.value} reads no assessment results", role=role.value
    )


# -- explanations -----------------------------------------------------------------------------------------------
_TIMES = "\u00d7"
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """One subject's scored indicator as the scorer stored it (assessment_result_indicator)."""

    code: str
    parent_code: str | None
    level: int
    position: int
    kind: str
    method: str | None
    metric: str | None
    max_points: Decimal
    value: Decimal | None
    target: Decimal | None
    exact: Decimal | None
    points: Decimal
    rule: IndicatorRule
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One subject's totals as the scorer stored them (assessment_result)."""

    raw_total: Decimal
    bonus: Decimal
    score_by_points: Decimal
    score: Decimal
    grade: Grade
    grade_by_score: Grade
    vetoes: Sequence[Mapping[str, Any]]


def _label(code: str) -> str:
    found = CATALOGUE.get(code)
    return found.label if found else code


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def explain_indicator(
    row: IndicatorRow,
    children: Sequence[IndicatorRow],
    *,
    places: int,
    mode: str,
    inner: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """(zh-CN, English) explanation of one indicator's points — the words of the reference scorer
    (`scoring.domain`) for the same rule, figures and points. `inner` is an embedded scheme's (code, name)."""
    from services.assessment.schemes.domain import RoundingMode

    r = rounder(places, RoundingMode(mode))
    m, v, t, p = row.max_points, row.value, row.target, row.points
    rule = row.rule
    if rule is IndicatorRule.group_sum:
        text = " + ".join(plain(c.points) for c in sorted(children, key=lambda c: c.position))
        text = f"{text} = {plain(p)}"
        return text, text
    if rule is IndicatorRule.missing_value:
        code = row.metric or ""
        return f"缺少数据「{_label(code)}」({code}),得 0 分", f"no figure for {code}: 0"
    if rule is IndicatorRule.missing_target:
        code = str(row.params.get("target_metric") or "")
        return f"缺少数据「{_label(code)}」({code}),得 0 分", f"no target figure for {code}: 0"
    if rule is IndicatorRule.missing_manual:
        return "考核人员尚未评分,得 0 分", "no assessor's score yet: 0"
    if rule is IndicatorRule.manual:
        reason = str(row.params.get("reason") or "")
        return f"考核人员评分 {plain(p)}:{reason}", f"assessor's score {plain(p)}: {reason}"
    assert v is not None or rule is IndicatorRule.embedded, row
    if rule is IndicatorRule.binary_met:
        return f"达标({plain(v)} > 0),得满分 {plain(m)}", f"{plain(v)} > 0: full {plain(m)}"  # type: ignore[arg-type]
    if rule is IndicatorRule.binary_not_met:
        return f"未达标({plain(v)}),得 0 分", f"{plain(v)} is not > 0: 0"  # type: ignore[arg-type]
    if rule in (IndicatorRule.threshold_met, IndicatorRule.threshold_not_met):
        assert v is not None and t is not None
        at_least = row.params.get("comparison") == "at_least"
        met = rule is IndicatorRule.threshold_met
        sign = ("≥" if at_least else "≤") if met else ("<" if at_least else ">")
        if met:
            return (
                f"{plain(v)} {sign} {plain(t)},达标,得 {plain(m)} 分",
                f"{plain(v)} {sign} {plain(t)}: met, {plain(m)}",
            )
        return f"{plain(v)} {sign} {plain(t)},未达标,得 0 分", f"{plain(v)} {sign} {plain(t)}: not met, 0"
    if rule is IndicatorRule.linear_target_zero_met:
        assert v is not None and t is not None
        return (
            f"目标为 {plain(t)},{plain(v)} ≥ {plain(t)},得 {plain(m)} 分",
            f"target {plain(t)}, {plain(v)} ≥ {plain(t)}: {plain(m)}",
        )
    if rule is IndicatorRule.linear_target_zero_not_met:
        assert v is not None and t is not None
        return (
            f"目标为 {plain(t)},{plain(v)} < {plain(t)},得 0 分",
            f"target {plain(t)}, {plain(v)} < {plain(t)}: 0",
        )
    if rule in (IndicatorRule.linear, IndicatorRule.linear_capped, IndicatorRule.linear_floored):
        assert v is not None and t is not None and row.exact is not None
        z = _d(row.params.get("zero_value", 0))
        exact = row.exact
        if z == 0:
            ratio = f"{plain(v)}/{plain(t)}"
            if rule is IndicatorRule.linear_capped:
                text = f"{plain(m)} {_TIMES} min(1, {ratio}) = {plain(m)}"
            elif rule is IndicatorRule.linear_floored:
                text = f"{plain(m)} {_TIMES} max(0, {ratio}) = 0"
            else:
                text = f"{plain(m)} {_TIMES} {ratio} = {r.arrow(exact)[0]}"
        else:
            core = f"{plain(m)} {_TIMES} ({plain(v)} - {plain(z)})/({plain(t)} - {plain(z)})"
            if rule is IndicatorRule.linear_capped:
                text = f"{core} = {r.shown(exact)[0]} > {plain(m)} → {plain(m)}"
            elif rule is IndicatorRule.linear_floored:
                text = f"{core} = {r.shown(exact)[0]} < 0 → 0"
            else:
                text = f"{core} = {r.arrow(exact)[0]}"
        return f"按完成比例:{text}", text
    if rule is IndicatorRule.tiered_no_band:
        return f"{plain(v)} 未达到任何档次,得 0 分", f"{plain(v)} reaches no band: 0"  # type: ignore[arg-type]
    if rule is IndicatorRule.tiered_band:
        assert v is not None and t is not None
        sign = "≥" if row.params.get("comparison") == "at_least" else "≤"
        return (
            f"{plain(v)} {sign} {plain(t)} 档,得 {plain(p)} 分",
            f"{plain(v)} {sign} {plain(t)}: band of {plain(p)}",
        )
    if rule in (IndicatorRule.deduction, IndicatorRule.deduction_floor):
        assert v is not None and row.exact is not None
        per = _d(row.params["per_occurrence"])
        floor = _d(row.params.get("floor", 0))
        n = max(v, Decimal(0))
        times = plain(n) if v >= 0 else f"max(0, {plain(v)})"
        core = f"{plain(m)} - {plain(per)} {_TIMES} {times}"
        if rule is IndicatorRule.deduction_floor:
            text = f"{core} = {plain(row.exact)} < {plain(floor)} → {plain(p)}"
        else:
            text = f"{core} = {r.arrow(row.exact)[0]}"
        return f"扣分:{text}", text
    if rule in (IndicatorRule.rank_band, IndicatorRule.rank_no_band):
        rank, of = int(row.params["rank"]), int(row.params["of"])
        percent = row.exact if row.exact is not None else _HUNDRED * rank / of
        shown = plain(percent.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        head_en = f"rank {rank} of {of} ({shown}%)"
        head_zh = f"排名 {rank}/{of}(前 {shown}%)"
        if rule is IndicatorRule.rank_no_band:
            return f"{head_zh},不在任何档次,得 0 分", f"{head_en}: no band, 0"
        top = _d(row.params["top_percent"])
        return f"{head_zh} ≤ {plain(top)}%,得 {plain(p)} 分", f"{head_en} ≤ {plain(top)}%: {plain(p)}"
    assert rule is IndicatorRule.embedded and v is not None and t is not None and row.exact is not None
    text = f"{plain(m)} {_TIMES} {plain(v)}/{plain(t)} = {r.arrow(row.exact)[0]}"
    code, name = inner or ("", "")
    return f"嵌套方案「{name}」折算:{text}", f"embedded scheme {code} scaled: {text}"


def explain_total(row: ResultRow) -> tuple[str, str]:
    """(zh-CN, English) of the total: raw + bonus = score, the veto's effect, the grade (the reference scorer's
    words); a veto's reason is shown beside it (invariant 45)."""
    en = f"{plain(row.raw_total)} + bonus {plain(row.bonus)} = {plain(row.score_by_points)}"
    zh = f"{plain(row.raw_total)} + 加分 {plain(row.bonus)} = {plain(row.score_by_points)}"
    if any(v.get("effect") == VetoEffect.score_zero.value for v in row.vetoes):
        en += " → 0 (veto)"
        zh += " → 0(一票否决)"
    en += f": {row.grade.english}"
    zh += f",{row.grade.label}"
    if row.grade is not row.grade_by_score:
        en += f" (veto; {row.grade_by_score.english} by score)"
        zh += f"(一票否决;按得分为{row.grade_by_score.label})"
    return zh, en


def explain_commendation(
    outcome: Mapping[str, Any], rule: Mapping[str, Any], grade: Grade
) -> tuple[str, str]:
    """(zh-CN, English) of one commendation outcome (the reference scorer's words)."""
    zh: list[str] = []
    en: list[str] = []
    if not outcome.get("kind_ok", True):
        from services.assessment.schemes.domain import SubjectKind

        kind = SubjectKind(rule["subject_kind"])
        zh.append(f"不属于{kind.label}")
        en.append(f"not a {kind.english}")
    if not outcome.get("grade_ok", True):
        minimum = Grade(rule["min_grade"])
        zh.append(f"等次{grade.label}低于{minimum.label}")
        en.append(f"{grade.english} is below {minimum.english}")
    if not outcome.get("money_ok", True):
        metric = str(rule["metric"])
        threshold = Decimal(int(rule["min_fen"]))
        value = outcome.get("value")
        v = None if value is None else _d(value)
        shown = "无数据" if v is None else f"{plain(v / 100)} 元"
        zh.append(f"{_label(metric)} {shown} 未达到 {plain(threshold / 100)} 元")
        en.append(
            f"{metric} {'absent' if v is None else plain(v / 100) + ' yuan'} < {plain(threshold / 100)} yuan"
        )
    if outcome.get("withdrawn"):
        zh.append("一票否决取消评优资格")
        en.append("withdrawn by a veto")
    if outcome.get("eligible"):
        zh.append("符合表彰条件")
        en.append("eligible")
    return ";".join(zh), "; ".join(en)


def method_of(row: IndicatorRow) -> MethodKind | None:
    return None if row.method is None else MethodKind(row.method)
