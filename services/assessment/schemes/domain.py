"""Assessment schemes as data (考核方案, DOMAIN.md §6.4-§6.5, invariants 43-47): the format, its validation, the
lifecycle and who may configure. Pure: the standard library, `shared.roles`, `shared.errors`, `shared.labels` and
the metric catalogue.

A scheme assesses one subject type for one year out of `total_points`. Its indicators form a tree: a group's
children share its points, a leaf reads one metric with one method (or takes an assessor's score, or embeds a
whole scheme scaled to its points, R1). Vetoes (一票否决) override the result after scoring, bonuses add up to a
cap, grade bands name the result, commendation rules say who may be commended (R2, R17). The scoring of a scheme
is `services.assessment.scoring.domain`; this module says what a scheme is and when it is well formed.

| rule | DOMAIN.md | here |
|---|---|---|
| subject types, year, total points (default 100) | §6.4 `assessment_scheme` | `Scheme` |
| first-level and sub-indicators with max points, method, metric | §6.4 `indicator` | `Indicator`, `Method` |
| methods: binary, threshold, linear to target, tiered, deduction with a floor, rank among peers, manual with a reason | §6.4 methods | `Binary` … `Manual` |
| a scheme embedded as one indicator (R1: poverty work = 30 points of the CPPCC performance scheme) | R1, §6.4 | `Embedded`, `EmbeddedScheme` |
| vetoes with their effect (lowest grade, zero, no commendation, no promotion) and a reason shown to the subject | §6.4 `veto_rule`, invariant 45, R3, R7 | `Veto`, `VetoEffect` |
| bonus rules with a cap (default 5) | §6.4 `bonus_rule` | `Bonuses`, `BonusRule` |
| grade bands 优秀 ≥ 90, 良好 80-<90, 合格 60-<80, 不合格 < 60; 优秀/称职/基本称职/不称职 for cadres | §6.4 `grade_band` | `Grade`, `GradeBand`, `GRADES_FOR` |
| commendation thresholds on donated funds + materials (≥ 50,000 / ≥ 200,000 yuan); R17's 5,000 / 10,000 yuan awards | R2, R17, invariant 47 | `Commendation` |
| a stated rounding rule; scores are exact decimals | issue #12 | `Rounding`, `RoundingMode` |
| siblings sum to their parent, first level to the total, weights >= 0, every metric known and of the subject type, every threshold with the metric's unit, grade bands cover [0, total], bonus cap >= 0 | invariant 43 | `validate` (every problem, each with a JSON Pointer) |
| draft → published → locked; a new version is drafted from a published one, the old stays readable | §6.4 `version`, `status`; invariant 46 | `SchemeStatus`, `check_*` |
| county admins configure in their county; township officers and the province read | issue #12 Access | `require_reader`, `require_editor` |

Every method's scoring formula, and how each rule is applied, is written down in `scoring/domain.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import ClassVar

from services.assessment.metrics.domain import CATALOGUE, MONEY, Direction, Metric, MetricUnit, SubjectType
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import PREFIX_LENGTH, RegionLevel, Role, level_of

__all__ = [
    "DEFAULT_BONUS_CAP",
    "GRADES_FOR",
    "MAX_DEPTH",
    "MAX_EMBEDDING",
    "SCHEME_EDITORS",
    "SCHEME_READERS",
    "Binary",
    "BonusRule",
    "Bonuses",
    "Commendation",
    "Comparison",
    "Condition",
    "Deduction",
    "Embedded",
    "EmbeddedScheme",
    "FlatIndicator",
    "Grade",
    "GradeBand",
    "Indicator",
    "Linear",
    "Manual",
    "Method",
    "MethodKind",
    "Operator",
    "PeerGroup",
    "Rank",
    "RankBand",
    "Rounding",
    "RoundingMode",
    "Scheme",
    "SchemeInvalid",
    "SchemeProblem",
    "SchemeStatus",
    "SubjectKind",
    "SubjectType",
    "Tier",
    "Tiered",
    "Veto",
    "VetoEffect",
    "check_editable",
    "check_lockable",
    "check_publishable",
    "check_scheme",
    "check_versionable",
    "county_of",
    "flatten",
    "grade_of",
    "grade_rank",
    "lowest_grade",
    "require_editor",
    "require_reader",
    "validate",
]


# -- code lists -------------------------------------------------------------------------------------------------
@code_list("assessment_method", "计分方法", "Scoring method")
class MethodKind(LabelledEnum):
    """How a leaf indicator turns its figure into points (DOMAIN.md §6.4)."""

    binary = "binary", "达标得分(是否)", "Binary (all or nothing)"
    threshold = "threshold", "达标线(≥ 或 ≤ 目标值)", "Threshold (at least / at most a target)"
    linear = "linear", "按完成比例计分", "Linear to the target"
    tiered = "tiered", "分档计分", "Tiered bands"
    deduction = "deduction", "扣分制(每次扣分,设下限)", "Deduction per occurrence, with a floor"
    rank = "rank", "同类排名计分", "Rank among peers"
    manual = "manual", "考核人员评分(须写明理由)", "Assessor's score with a written reason"
    embedded = "embedded", "嵌套方案(按本指标分值折算)", "Embedded scheme, scaled to the indicator"


@code_list("assessment_comparison", "比较方式", "Comparison")
class Comparison(LabelledEnum):
    """Which side of a target is good: a threshold or a tier met `at_least` (≥) or `at_most` (≤) it."""

    at_least = "at_least", "不低于(≥)", "At least (≥)"
    at_most = "at_most", "不高于(≤)", "At most (≤)"


@code_list("assessment_operator", "条件运算符", "Condition operator")
class Operator(LabelledEnum):
    """The comparison of a veto, bonus condition: `metric <op> value`."""

    gt = "gt", "大于(>)", "Greater than (>)"
    ge = "ge", "不小于(≥)", "At least (≥)"
    lt = "lt", "小于(<)", "Less than (<)"
    le = "le", "不大于(≤)", "At most (≤)"

    @property
    def symbol(self) -> str:
        return {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}[self.value]

    def holds(self, left: Decimal, right: Decimal) -> bool:
        if self is Operator.gt:
            return left > right
        if self is Operator.ge:
            return left >= right
        if self is Operator.lt:
            return left < right
        return left <= right


@code_list("assessment_veto_effect", "否决后果", "Veto effect")
class VetoEffect(LabelledEnum):
    """What a veto hit does, whatever the score (§6.4 `veto_rule`, invariant 45)."""

    grade_lowest = "grade_lowest", "评定为最低等次", "Lowest grade"
    score_zero = "score_zero", "得分计为零", "Score set to zero"
    disqualify_commendation = "disqualify_commendation", "取消评优评先资格", "No commendation"
    block_promotion = (
        "block_promotion",
        "不得提拔重用、不得调整工作岗位",
        "No promotion or re-assignment (R7)",
    )


@code_list("assessment_grade", "考核等次", "Assessment grade")
class Grade(LabelledEnum):
    """Grades (§6.4 `grade_band`): the default set, the civil-service set for cadres, and the exit test's two."""

    excellent = "excellent", "优秀"
    good = "good", "良好"
    qualified = "qualified", "合格", "Pass"
    unqualified = "unqualified", "不合格", "Fail"
    competent = "competent", "称职"
    basically_competent = "basically_competent", "基本称职"
    incompetent = "incompetent", "不称职"
    exit_met = "exit_met", "达到脱贫退出标准", "Meets the exit standard"
    exit_not_met = "exit_not_met", "未达到脱贫退出标准", "Does not meet the exit standard"


@code_list("assessment_rounding_mode", "舍入方式", "Rounding mode")
class RoundingMode(LabelledEnum):
    """How points are rounded to the scheme's places (per indicator, then the total)."""

    half_up = "half_up", "四舍五入", "Half up"
    half_even = "half_even", "四舍六入五成双", "Half to even"
    down = "down", "去尾(截断)", "Down (truncate)"


@code_list("assessment_peer_group", "排名范围", "Peer group")
class PeerGroup(LabelledEnum):
    """Among whom a `rank` indicator ranks a subject (issue #12 Rankings)."""

    township = "township", "同一乡镇内", "Within the township"
    county = "county", "同一县内", "Within the county"


@code_list("assessment_subject_kind", "考核对象细类", "Subject kind")
class SubjectKind(LabelledEnum):
    """Kinds of CPPCC subjects a rule can be limited to (R2, R3)."""

    committee_group = "committee_group", "政协委组", "Committee group (委组)"
    economic_promotion_association = (
        "economic_promotion_association",
        "经济促进分会",
        "Economic-promotion sub-association",
    )
    federation_enterprise = (
        "federation_enterprise",
        "工商联企业或商会",
        "Enterprise or chamber of the federation",
    )
    township_liaison_committee = "township_liaison_committee", "乡镇政协联络委", "Township liaison committee"
    county_member_group = "county_member_group", "县直委员小组", "County-direct member group"
    member = "member", "政协委员", "CPPCC member"


@code_list("assessment_scheme_status", "方案状态", "Scheme status")
class SchemeStatus(LabelledEnum):
    """A scheme version's lifecycle: edited as a draft, published for runs, locked for good."""

    draft = "draft", "草稿"
    published = "published", "已发布"
    locked = "locked", "已锁定"


DEFAULT_BONUS_CAP = Decimal(5)
#: Levels of indicators in one scheme (first level = 1), and schemes inside schemes.
MAX_DEPTH = 4
MAX_EMBEDDING = 2

_DEFAULT_GRADES = frozenset({Grade.excellent, Grade.good, Grade.qualified, Grade.unqualified})
#: The grades each subject type is graded in (§6.4: civil-service grades for cadres; pass/fail for the exit test).
GRADES_FOR: Mapping[SubjectType, frozenset[Grade]] = {
    SubjectType.household_exit: frozenset({Grade.exit_met, Grade.exit_not_met}),
    SubjectType.village: _DEFAULT_GRADES,
    SubjectType.cadre: frozenset(
        {Grade.excellent, Grade.competent, Grade.basically_competent, Grade.incompetent}
    ),
    SubjectType.helping_unit: _DEFAULT_GRADES,
    SubjectType.township: _DEFAULT_GRADES,
    SubjectType.cppcc_unit: _DEFAULT_GRADES,
}


# -- methods ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Binary:
    """Full points when the figure is > 0 (a yes, an income above nothing), else 0."""

    kind: ClassVar[MethodKind] = MethodKind.binary


@dataclass(frozen=True, slots=True)
class Threshold:
    """Full points when the figure is at least (or at most) the target — a constant in `unit`, or another metric
    of the subject (`target_metric`, e.g. the year's poverty line)."""

    kind: ClassVar[MethodKind] = MethodKind.threshold
    comparison: Comparison
    unit: MetricUnit | None
    target: Decimal | None = None
    target_metric: str | None = None


@dataclass(frozen=True, slots=True)
class Linear:
    """Points in proportion to the way from `zero_value` (0 points, default 0) to `target` (full points), clamped;
    `target` is a constant in `unit` or another metric of the subject (`target_metric`: the year's quota)."""

    kind: ClassVar[MethodKind] = MethodKind.linear
    unit: MetricUnit | None
    target: Decimal | None = None
    target_metric: str | None = None
    zero_value: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Tier:
    """A band of a tiered indicator: figures at least (or at most) `bound` earn `points`."""

    bound: Decimal
    points: Decimal


@dataclass(frozen=True, slots=True)
class Tiered:
    """The points of the best band the figure reaches (`at_least`: the highest bound <= the figure)."""

    kind: ClassVar[MethodKind] = MethodKind.tiered
    comparison: Comparison
    unit: MetricUnit | None
    bands: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class Deduction:
    """Start at the max, take `per_occurrence` off for each occurrence, never below `floor`."""

    kind: ClassVar[MethodKind] = MethodKind.deduction
    per_occurrence: Decimal
    floor: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RankBand:
    """Subjects within the best `top_percent` of their peers earn `points`."""

    top_percent: Decimal
    points: Decimal


@dataclass(frozen=True, slots=True)
class Rank:
    """The points of the first band whose `top_percent` holds the subject's position among its peers. Needs the
    peer set: a subject is scored with its position (`scoring.domain.PeerPosition`), not alone."""

    kind: ClassVar[MethodKind] = MethodKind.rank
    peer_group: PeerGroup
    bands: tuple[RankBand, ...]


@dataclass(frozen=True, slots=True)
class Manual:
    """An assessor's score in [0, max] with a written reason (invariant 44); evidence where configured."""

    kind: ClassVar[MethodKind] = MethodKind.manual
    evidence_required: bool = False


@dataclass(frozen=True, slots=True)
class EmbeddedScheme:
    """A scheme inside an indicator (R1): its own total and indicators; the outer scheme's vetoes, bonuses and
    grades apply to the whole."""

    code: str
    name: str
    total_points: Decimal
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True, slots=True)
class Embedded:
    """The embedded scheme's points, scaled to this indicator's max: max x inner sum / inner total."""

    kind: ClassVar[MethodKind] = MethodKind.embedded
    scheme: EmbeddedScheme


Method = Binary | Threshold | Linear | Tiered | Deduction | Rank | Manual | Embedded
#: Methods that read a figure of the subject (the others take an assessor's score or an inner scheme).
_READS_METRIC = frozenset(
    {
        MethodKind.binary,
        MethodKind.threshold,
        MethodKind.linear,
        MethodKind.tiered,
        MethodKind.deduction,
        MethodKind.rank,
    }
)


@dataclass(frozen=True, slots=True)
class Indicator:
    """A node of the tree: a group (children share its points) or a leaf (a method, and the metric it reads)."""

    code: str
    name: str
    max_points: Decimal
    metric: str | None = None
    method: Method | None = None
    children: tuple[Indicator, ...] = ()
    name_en: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.children)


# -- rules after scoring ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Condition:
    """`metric <op> value`, in the metric's unit (a finding is the count of confirmed findings of a category)."""

    metric: str
    op: Operator
    value: Decimal


@dataclass(frozen=True, slots=True)
class Veto:
    """一票否决: when the condition holds, the effect applies whatever the score; the reason is shown to the subject."""

    code: str
    name: str
    condition: Condition
    effect: VetoEffect
    reason: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BonusRule:
    """Points added when the condition holds (before the cap)."""

    code: str
    name: str
    condition: Condition
    points: Decimal


@dataclass(frozen=True, slots=True)
class Bonuses:
    """The bonus rules and the most they may add together (default 5, §6.4)."""

    cap: Decimal = DEFAULT_BONUS_CAP
    rules: tuple[BonusRule, ...] = ()


@dataclass(frozen=True, slots=True)
class GradeBand:
    """Scores in [min, max) earn the grade; the band that ends at the total includes it."""

    grade: Grade
    min: Decimal
    max: Decimal


@dataclass(frozen=True, slots=True)
class Commendation:
    """Who may be commended (R2, R5, R17): of a kind (optional), at least a grade (optional), with at least `min_fen`
    of a money metric (optional; invariant 47 compares donated funds + materials); the award it carries (R17)."""

    code: str
    name: str
    subject_kind: SubjectKind | None = None
    min_grade: Grade | None = None
    metric: str | None = None
    min_fen: int | None = None
    award_fen: int | None = None


@dataclass(frozen=True, slots=True)
class Rounding:
    """Points are rounded to `places` by `mode`: each leaf indicator, each embedded scheme's scaled points, and the
    final total."""

    places: int = 2
    mode: RoundingMode = RoundingMode.half_up


@dataclass(frozen=True, slots=True)
class Scheme:
    name: str
    subject_type: SubjectType
    year: int
    total_points: Decimal
    indicators: tuple[Indicator, ...]
    grades: tuple[GradeBand, ...]
    rounding: Rounding = field(default_factory=Rounding)
    vetoes: tuple[Veto, ...] = ()
    bonuses: Bonuses = field(default_factory=Bonuses)
    commendations: tuple[Commendation, ...] = ()
    sources: tuple[str, ...] = ()

    def leaves(self) -> Iterator[Indicator]:
        """Every leaf of the tree, depth first, embedded schemes' leaves included."""
        yield from _leaves(self.indicators)

    def metrics(self) -> frozenset[str]:
        """Every metric the scheme reads: leaves, targets, vetoes, bonuses, commendations."""
        codes: set[str] = set()
        for leaf in self.leaves():
            if leaf.metric:
                codes.add(leaf.metric)
            target = getattr(leaf.method, "target_metric", None)
            if target:
                codes.add(target)
        codes.update(v.condition.metric for v in self.vetoes)
        codes.update(b.condition.metric for b in self.bonuses.rules)
        codes.update(c.metric for c in self.commendations if c.metric)
        return frozenset(codes)

    @property
    def needs_peers(self) -> bool:
        """Whether scoring a subject needs its peers (a `rank` indicator)."""
        return any(isinstance(leaf.method, Rank) for leaf in self.leaves())


def _leaves(indicators: Sequence[Indicator]) -> Iterator[Indicator]:
    for indicator in indicators:
        if indicator.children:
            yield from _leaves(indicator.children)
        elif isinstance(indicator.method, Embedded):
            yield indicator
            yield from _leaves(indicator.method.scheme.indicators)
        else:
            yield indicator


def lowest_grade(bands: Sequence[GradeBand]) -> Grade:
    """The grade of the band that starts at 0 (a valid scheme has one): the effect of `grade_lowest`."""
    return min(bands, key=lambda b: b.min).grade


def grade_of(bands: Sequence[GradeBand], score: Decimal) -> Grade:
    """The grade of `score` in valid bands: the band with the highest min <= score."""
    for band in sorted(bands, key=lambda b: b.min, reverse=True):
        if score >= band.min:
            return band.grade
    return lowest_grade(bands)


def grade_rank(bands: Sequence[GradeBand], grade: Grade) -> int:
    """0 for the lowest grade of the bands, then upwards (commendations compare grades by it); -1 if absent."""
    ordered = [b.grade for b in sorted(bands, key=lambda b: b.min)]
    return ordered.index(grade) if grade in ordered else -1


# -- the flat form (one row per indicator, for set-based scoring) ---------------------------------------------
@dataclass(frozen=True, slots=True)
class FlatIndicator:
    """One indicator of a scheme as a row: the method's numeric parameters as columns, the bands beside it, so a
    run can score every subject in one `INSERT … SELECT` (`scoring/domain.py` gives each formula).

    `level` counts from 1 at the scheme's first level and goes on through an embedded scheme (its first level is
    the embedding indicator's level + 1); `parent_code` is the group or the embedding indicator."""

    code: str
    parent_code: str | None
    level: int
    position: int
    pointer: str
    kind: str  # "group" | "leaf"
    max_points: Decimal
    method: MethodKind | None = None
    metric: str | None = None
    comparison: Comparison | None = None
    target: Decimal | None = None
    target_metric: str | None = None
    zero_value: Decimal | None = None
    per_occurrence: Decimal | None = None
    floor: Decimal | None = None
    peer_group: PeerGroup | None = None
    inner_total: Decimal | None = None
    evidence_required: bool = False
    #: (bound, points) of a tiered indicator; (top_percent, points) of a rank indicator.
    bands: tuple[tuple[Decimal, Decimal], ...] = ()


def flatten(scheme: Scheme) -> list[FlatIndicator]:
    """Every indicator of the scheme, depth first (parents before children), embedded schemes included."""
    out: list[FlatIndicator] = []

    def walk(indicators: Sequence[Indicator], base: str, parent: str | None, level: int) -> None:
        for position, ind in enumerate(indicators):
            here = f"{base}/{position}"
            if ind.children:
                out.append(FlatIndicator(ind.code, parent, level, position, here, "group", ind.max_points))
                walk(ind.children, f"{here}/children", ind.code, level + 1)
                continue
            method = ind.method
            row = FlatIndicator(
                ind.code,
                parent,
                level,
                position,
                here,
                "leaf",
                ind.max_points,
                method=method.kind if method is not None else None,
                metric=ind.metric,
            )
            if isinstance(method, Threshold):
                row = replace(
                    row,
                    comparison=method.comparison,
                    target=method.target,
                    target_metric=method.target_metric,
                )
            elif isinstance(method, Linear):
                row = replace(
                    row,
                    target=method.target,
                    target_metric=method.target_metric,
                    zero_value=method.zero_value if method.zero_value is not None else Decimal(0),
                )
            elif isinstance(method, Tiered):
                row = replace(
                    row, comparison=method.comparison, bands=tuple((t.bound, t.points) for t in method.bands)
                )
            elif isinstance(method, Deduction):
                row = replace(row, per_occurrence=method.per_occurrence, floor=method.floor)
            elif isinstance(method, Rank):
                row = replace(
                    row,
                    peer_group=method.peer_group,
                    bands=tuple((b.top_percent, b.points) for b in method.bands),
                )
            elif isinstance(method, Manual):
                row = replace(row, evidence_required=method.evidence_required)
            elif isinstance(method, Embedded):
                row = replace(row, inner_total=method.scheme.total_points)
            out.append(row)
            if isinstance(method, Embedded):
                walk(method.scheme.indicators, f"{here}/method/scheme/indicators", ind.code, level + 1)

    walk(scheme.indicators, "/indicators", None, 1)
    return out


# -- validation (invariant 43) ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SchemeProblem:
    """One broken rule: where (RFC 6901 pointer into the scheme document), which rule, and why."""

    pointer: str
    rule: str
    message: str
    indicator: str | None = None


class SchemeInvalid(Invalid):
    """A scheme that breaks rules: 422 with every problem in `errors` (pointer, message, code = the rule)."""

    def __init__(self, problems: Sequence[SchemeProblem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            "scheme_invalid",
            f"{first.pointer}: {first.message}{more}",
            errors=[{"pointer": p.pointer, "message": p.message, "code": p.rule} for p in problems],
        )
        self.problems = tuple(problems)


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass
class _Checker:
    subject_type: SubjectType
    catalogue: Mapping[str, Metric]
    places: int = 2
    problems: list[SchemeProblem] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)

    def fine(self, value: Decimal, pointer: str, indicator: Indicator | None = None) -> None:
        """Points the scheme gives are whole at its rounding places (so full marks survive rounding)."""
        if 0 <= self.places <= 4 and value != value.quantize(Decimal(1).scaleb(-self.places)):
            self.bad(
                pointer,
                "points_finer_than_rounding",
                f"{_plain(value)} has more decimals than the scheme rounds to ({self.places})",
                indicator,
            )

    def bad(self, pointer: str, rule: str, message: str, indicator: Indicator | None = None) -> None:
        if indicator is not None:
            message = f"indicator {indicator.code} ({indicator.name}): {message}"
        self.problems.append(SchemeProblem(pointer, rule, message, indicator.code if indicator else None))

    # -- metrics ---------------------------------------------------------------------------------------------
    def known_metric(self, code: str, pointer: str, indicator: Indicator | None = None) -> Metric | None:
        """The metric, or None after reporting it unknown or of another subject type."""
        found = self.catalogue.get(code)
        if found is None:
            self.bad(pointer, "unknown_metric", f"metric {code!r} is not in the metric catalogue", indicator)
            return None
        if self.subject_type not in found.subject_types:
            kinds = ", ".join(sorted(s.value for s in found.subject_types))
            self.bad(
                pointer,
                "metric_subject_mismatch",
                f"metric {code} is a figure of {kinds}, not of {self.subject_type.value}",
                indicator,
            )
            return None
        return found

    def measurable(self, code: str, pointer: str, indicator: Indicator | None = None) -> Metric | None:
        """A known metric that has a better side (a neutral one is only ever a target)."""
        found = self.known_metric(code, pointer, indicator)
        if found is not None and found.direction is Direction.neutral:
            self.bad(
                pointer,
                "metric_not_measurable",
                f"metric {code} is neutral (a quota or a line): use it as a target_metric",
                indicator,
            )
            return None
        return found

    def unit(self, unit: MetricUnit | None, metric: Metric, pointer: str, indicator: Indicator) -> None:
        if unit is None:
            self.bad(pointer, "unit_required", "a target states its unit", indicator)
        elif unit is not metric.unit:
            self.bad(
                pointer,
                "unit_mismatch",
                f"the unit is {unit.value} but metric {metric.code} is in {metric.unit.value}",
                indicator,
            )

    def direction(
        self, metric: Metric, wanted: Direction, pointer: str, indicator: Indicator, why: str
    ) -> None:
        if metric.direction is not wanted:
            self.bad(
                pointer,
                "direction_mismatch",
                f"{why} suits a metric where {wanted.english.lower()}, but metric {metric.code} is"
                f" {metric.direction.english.lower()}",
                indicator,
            )

    def target(
        self,
        target: Decimal | None,
        target_metric: str | None,
        metric: Metric,
        base: str,
        indicator: Indicator,
    ) -> None:
        if (target is None) == (target_metric is None):
            self.bad(
                f"{base}/target", "target_required", "give exactly one of target and target_metric", indicator
            )
        if target_metric is not None:
            found = self.known_metric(target_metric, f"{base}/target_metric", indicator)
            if found is not None and found.unit is not metric.unit:
                self.bad(
                    f"{base}/target_metric",
                    "unit_mismatch",
                    f"target metric {found.code} is in {found.unit.value}, metric {metric.code} in"
                    f" {metric.unit.value}",
                    indicator,
                )

    # -- the tree --------------------------------------------------------------------------------------------
    def tree(self, indicators: Sequence[Indicator], base: str, depth: int, embedding: int) -> None:
        for i, indicator in enumerate(indicators):
            self.indicator(indicator, f"{base}/{i}", depth, embedding)

    def indicator(self, ind: Indicator, here: str, depth: int, embedding: int) -> None:
        if ind.code in self.codes:
            self.bad(
                f"{here}/code",
                "duplicate_code",
                f"code {ind.code} is used already at {self.codes[ind.code]}",
                ind,
            )
        else:
            self.codes[ind.code] = here
        if ind.max_points < 0:
            self.bad(f"{here}/max_points", "negative_points", "max points are >= 0 (invariant 43)", ind)
        self.fine(ind.max_points, f"{here}/max_points", ind)
        if depth > MAX_DEPTH:
            self.bad(here, "tree_too_deep", f"at most {MAX_DEPTH} levels of indicators", ind)
            return
        if ind.children:
            if ind.method is not None:
                self.bad(f"{here}/method", "group_with_method", "a group's points are its children's", ind)
            if ind.metric is not None:
                self.bad(f"{here}/metric", "group_with_metric", "a group reads no metric", ind)
            total = sum((c.max_points for c in ind.children), Decimal(0))
            if total != ind.max_points:
                self.bad(
                    here,
                    "children_sum_mismatch",
                    f"its sub-indicators' max points sum to {_plain(total)}, not its {_plain(ind.max_points)}",
                    ind,
                )
            self.tree(ind.children, f"{here}/children", depth + 1, embedding)
            return
        if ind.method is None:
            self.bad(here, "method_required", "a leaf indicator has a method (or sub-indicators)", ind)
            return
        self.leaf(ind, ind.method, here, depth, embedding)

    def leaf(self, ind: Indicator, method: Method, here: str, depth: int, embedding: int) -> None:
        base = f"{here}/method"
        if method.kind not in _READS_METRIC:
            if ind.metric is not None:
                self.bad(
                    f"{here}/metric",
                    "metric_not_read",
                    f"a {method.kind.value} indicator reads no metric",
                    ind,
                )
            if isinstance(method, Embedded):
                self.embedded(ind, method.scheme, f"{base}/scheme", depth, embedding)
            return
        if ind.metric is None:
            self.bad(
                f"{here}/metric", "metric_required", f"a {method.kind.value} indicator reads a metric", ind
            )
            return
        metric = self.measurable(ind.metric, f"{here}/metric", ind)
        if metric is None:
            return
        higher, lower = Direction.higher_is_better, Direction.lower_is_better
        if isinstance(method, Binary):
            self.direction(metric, higher, base, ind, "binary (full points when > 0)")
        elif isinstance(method, Threshold):
            self.unit(method.unit, metric, f"{base}/unit", ind)
            self.target(method.target, method.target_metric, metric, base, ind)
            wanted = higher if method.comparison is Comparison.at_least else lower
            self.direction(
                metric, wanted, f"{base}/comparison", ind, f"a threshold {method.comparison.value}"
            )
        elif isinstance(method, Linear):
            self.linear(ind, method, metric, base)
        elif isinstance(method, Tiered):
            self.tiered(ind, method, metric, base)
        elif isinstance(method, Deduction):
            if method.per_occurrence <= 0:
                self.bad(f"{base}/per_occurrence", "per_occurrence_not_positive", "deduct more than 0", ind)
            if not Decimal(0) <= method.floor <= ind.max_points:
                self.bad(f"{base}/floor", "floor_out_of_range", "the floor lies in [0, max points]", ind)
            self.direction(metric, lower, base, ind, "a deduction per occurrence")
        elif isinstance(method, Rank):
            self.rank(ind, method, base)

    def linear(self, ind: Indicator, method: Linear, metric: Metric, base: str) -> None:
        self.unit(method.unit, metric, f"{base}/unit", ind)
        self.target(method.target, method.target_metric, metric, base, ind)
        zero = method.zero_value if method.zero_value is not None else Decimal(0)
        if method.target_metric is not None:
            if method.zero_value not in (None, Decimal(0)):
                self.bad(
                    f"{base}/zero_value",
                    "zero_value_with_target_metric",
                    "a target read from a metric is reached from 0 (no zero_value)",
                    ind,
                )
            self.direction(metric, Direction.higher_is_better, base, ind, "linear to a target metric")
            return
        if method.target is None:
            return
        if method.target == zero:
            self.bad(f"{base}/zero_value", "target_equals_zero_value", "zero_value and target differ", ind)
            return
        wanted = Direction.higher_is_better if method.target > zero else Direction.lower_is_better
        self.direction(
            metric,
            wanted,
            f"{base}/zero_value",
            ind,
            f"linear from {_plain(zero)} to {_plain(method.target)}",
        )

    def tiered(self, ind: Indicator, method: Tiered, metric: Metric, base: str) -> None:
        self.unit(method.unit, metric, f"{base}/unit", ind)
        wanted = (
            Direction.higher_is_better
            if method.comparison is Comparison.at_least
            else Direction.lower_is_better
        )
        self.direction(metric, wanted, f"{base}/comparison", ind, f"tiers met {method.comparison.value}")
        if not method.bands:
            self.bad(f"{base}/bands", "bands_required", "a tiered indicator has at least one band", ind)
            return
        bounds = [t.bound for t in method.bands]
        for k, tier in enumerate(method.bands):
            self.fine(tier.points, f"{base}/bands/{k}/points", ind)
            if not Decimal(0) <= tier.points <= ind.max_points:
                self.bad(
                    f"{base}/bands/{k}/points",
                    "band_points_out_of_range",
                    "band points lie in [0, max points]",
                    ind,
                )
            if bounds.count(tier.bound) > 1 and bounds.index(tier.bound) != k:
                self.bad(
                    f"{base}/bands/{k}/bound",
                    "band_bounds_not_distinct",
                    f"bound {_plain(tier.bound)} twice",
                    ind,
                )
        # Reaching a better bound never earns fewer points (a worse figure never scores more).
        better_first = sorted(
            method.bands, key=lambda t: t.bound, reverse=method.comparison is Comparison.at_least
        )
        for better, worse in itertools.pairwise(better_first):
            if better.points < worse.points:
                k = method.bands.index(better)
                self.bad(
                    f"{base}/bands/{k}/points",
                    "bands_not_monotone",
                    f"band {_plain(better.bound)} earns less than the worse band {_plain(worse.bound)}",
                    ind,
                )

    def rank(self, ind: Indicator, method: Rank, base: str) -> None:
        if not method.bands:
            self.bad(f"{base}/bands", "bands_required", "a rank indicator has at least one band", ind)
            return
        previous: RankBand | None = None
        for k, band in enumerate(method.bands):
            self.fine(band.points, f"{base}/bands/{k}/points", ind)
            if not Decimal(0) < band.top_percent <= Decimal(100):
                self.bad(
                    f"{base}/bands/{k}/top_percent",
                    "band_percent_out_of_range",
                    "top_percent lies in (0, 100]",
                    ind,
                )
            if not Decimal(0) <= band.points <= ind.max_points:
                self.bad(
                    f"{base}/bands/{k}/points",
                    "band_points_out_of_range",
                    "band points lie in [0, max points]",
                    ind,
                )
            if previous is not None:
                if band.top_percent <= previous.top_percent:
                    self.bad(
                        f"{base}/bands/{k}/top_percent",
                        "bands_not_ascending",
                        "bands go from the top down",
                        ind,
                    )
                elif band.points > previous.points:
                    self.bad(
                        f"{base}/bands/{k}/points",
                        "bands_not_monotone",
                        "a lower position earns no more",
                        ind,
                    )
            previous = band

    def embedded(self, ind: Indicator, inner: EmbeddedScheme, base: str, depth: int, embedding: int) -> None:
        if embedding >= MAX_EMBEDDING:
            self.bad(base, "embedding_too_deep", f"schemes nest at most {MAX_EMBEDDING} deep", ind)
            return
        if inner.total_points <= 0:
            self.bad(f"{base}/total_points", "total_not_positive", "the embedded scheme has points", ind)
            return
        self.fine(inner.total_points, f"{base}/total_points", ind)
        total = sum((c.max_points for c in inner.indicators), Decimal(0))
        if total != inner.total_points:
            self.bad(
                f"{base}/total_points",
                "embedded_total_mismatch",
                f"the embedded scheme's first-level indicators sum to {_plain(total)}, not its"
                f" {_plain(inner.total_points)}",
                ind,
            )
        if not inner.indicators:
            self.bad(f"{base}/indicators", "indicators_required", "the embedded scheme has indicators", ind)
        self.tree(inner.indicators, f"{base}/indicators", depth + 1, embedding + 1)

    # -- rules after scoring ---------------------------------------------------------------------------------
    def condition(self, cond: Condition, base: str, *, bad_side: bool, what: str) -> None:
        metric = self.measurable(cond.metric, f"{base}/metric")
        if metric is None:
            return
        rising = cond.op in (Operator.gt, Operator.ge)
        # A veto fires on the bad side of its metric, a bonus on the good side: then a worse figure never raises
        # a score (issue #12's property).
        good_side = rising == (metric.direction is Direction.higher_is_better)
        if good_side == bad_side:
            side = "worse" if bad_side else "better"
            self.bad(
                f"{base}/op",
                f"{what}_direction_mismatch",
                f"a {what} holds when metric {metric.code} ({metric.direction.english.lower()}) is {side}:"
                f" {cond.op.symbol} points the other way",
            )

    def rule_codes(self, codes: Sequence[str], base: str) -> None:
        seen: set[str] = set()
        for i, code in enumerate(codes):
            if code in seen:
                self.bad(f"{base}/{i}/code", "duplicate_rule_code", f"code {code} is used twice")
            seen.add(code)


def validate(scheme: Scheme, catalogue: Mapping[str, Metric] = CATALOGUE) -> list[SchemeProblem]:
    """Every problem of `scheme` (invariant 43 and the format's own rules), in document order; [] when valid."""
    c = _Checker(scheme.subject_type, catalogue, scheme.rounding.places)
    c.fine(scheme.total_points, "/total_points")
    if scheme.total_points <= 0:
        c.bad("/total_points", "total_not_positive", "a scheme has points to give")
    if not 0 <= scheme.rounding.places <= 4:
        c.bad("/rounding/places", "rounding_places_out_of_range", "round to 0-4 decimal places")
    if not scheme.indicators:
        c.bad("/indicators", "indicators_required", "a scheme has at least one indicator")
    first = sum((i.max_points for i in scheme.indicators), Decimal(0))
    if first != scheme.total_points:
        c.bad(
            "/total_points",
            "total_mismatch",
            f"the first-level indicators sum to {_plain(first)}, not the total {_plain(scheme.total_points)}",
        )
    c.tree(scheme.indicators, "/indicators", 1, 0)
    # vetoes (invariant 45)
    c.rule_codes([v.code for v in scheme.vetoes], "/vetoes")
    for i, veto in enumerate(scheme.vetoes):
        c.condition(veto.condition, f"/vetoes/{i}/condition", bad_side=True, what="veto")
        if not veto.reason.strip():
            c.bad(f"/vetoes/{i}/reason", "reason_required", "a veto's reason is shown to the subject")
    # bonuses
    if scheme.bonuses.cap < 0:
        c.bad("/bonuses/cap", "bonus_cap_negative", "the bonus cap is >= 0")
    c.rule_codes([b.code for b in scheme.bonuses.rules], "/bonuses/rules")
    for i, bonus in enumerate(scheme.bonuses.rules):
        c.condition(bonus.condition, f"/bonuses/rules/{i}/condition", bad_side=False, what="bonus")
        if bonus.points <= 0:
            c.bad(f"/bonuses/rules/{i}/points", "bonus_points_not_positive", "a bonus adds more than 0")
        c.fine(bonus.points, f"/bonuses/rules/{i}/points")
    _check_grades(c, scheme)
    _check_commendations(c, scheme)
    return c.problems


def _check_grades(c: _Checker, scheme: Scheme) -> None:
    bands = scheme.grades
    if not bands:
        c.bad("/grades", "grades_required", "a scheme has grade bands covering [0, total]")
        return
    allowed = GRADES_FOR[scheme.subject_type]
    seen: set[Grade] = set()
    for i, band in enumerate(bands):
        if band.grade not in allowed:
            names = ", ".join(sorted(g.value for g in allowed))
            c.bad(
                f"/grades/{i}/grade",
                "grade_not_for_subject",
                f"a {scheme.subject_type.value} scheme grades in {names}",
            )
        if band.grade in seen:
            c.bad(f"/grades/{i}/grade", "duplicate_grade", f"grade {band.grade.value} has one band")
        seen.add(band.grade)
        closed_top = band.min == band.max == scheme.total_points
        if band.min >= band.max and not closed_top:
            c.bad(f"/grades/{i}", "grade_band_empty", "a band's min is below its max")
    order = sorted(range(len(bands)), key=lambda k: (bands[k].min, bands[k].max))
    start = bands[order[0]]
    if start.min != 0:
        c.bad(
            f"/grades/{order[0]}/min",
            "grade_bands_start",
            f"the lowest band starts at 0, not {_plain(start.min)}",
        )
    for prev_k, k in itertools.pairwise(order):
        prev, band = bands[prev_k], bands[k]
        if band.min > prev.max:
            c.bad(
                f"/grades/{k}/min",
                "grade_bands_gap",
                f"scores in [{_plain(prev.max)}, {_plain(band.min)}) have no grade",
            )
        elif band.min < prev.max:
            c.bad(
                f"/grades/{k}/min",
                "grade_bands_overlap",
                f"scores in [{_plain(band.min)}, {_plain(prev.max)}) have two grades",
            )
    end = bands[order[-1]]
    if end.max != scheme.total_points:
        c.bad(
            f"/grades/{order[-1]}/max",
            "grade_bands_end",
            f"the highest band ends at the total {_plain(scheme.total_points)}, not {_plain(end.max)}",
        )


def _check_commendations(c: _Checker, scheme: Scheme) -> None:
    c.rule_codes([r.code for r in scheme.commendations], "/commendations")
    grades = {b.grade for b in scheme.grades}
    for i, rule in enumerate(scheme.commendations):
        base = f"/commendations/{i}"
        if rule.min_grade is None and rule.metric is None:
            c.bad(base, "commendation_without_condition", "a commendation needs a grade or a money threshold")
        if (rule.metric is None) != (rule.min_fen is None):
            c.bad(base, "commendation_threshold_incomplete", "give metric and min_fen together")
        if rule.metric is not None:
            metric = c.known_metric(rule.metric, f"{base}/metric")
            if metric is not None and metric.unit is not MONEY:
                c.bad(
                    f"{base}/metric",
                    "commendation_metric_not_money",
                    f"thresholds compare money (invariant 47): metric {metric.code} is in {metric.unit.value}",
                )
        if rule.min_grade is not None and rule.min_grade not in grades:
            c.bad(
                f"{base}/min_grade",
                "commendation_grade_unknown",
                f"grade {rule.min_grade.value} is not a band",
            )
        for name in ("min_fen", "award_fen"):
            value = getattr(rule, name)
            if value is not None and value < 0:
                c.bad(f"{base}/{name}", "negative_money", "money is >= 0")


def check_scheme(scheme: Scheme, catalogue: Mapping[str, Metric] = CATALOGUE) -> None:
    """`SchemeInvalid` (422, every problem with its pointer) unless the scheme is valid (invariant 43)."""
    problems = validate(scheme, catalogue)
    if problems:
        raise SchemeInvalid(problems)


# -- lifecycle --------------------------------------------------------------------------------------------------
def check_editable(status: SchemeStatus) -> None:
    """Only a draft is edited: a published scheme is changed by drafting a new version."""
    if status is not SchemeStatus.draft:
        raise Refused(
            "scheme_not_draft",
            f"the scheme is {status.value}: draft a new version to change it",
            status=status.value,
        )


def check_publishable(status: SchemeStatus) -> None:
    if status is not SchemeStatus.draft:
        raise Refused("scheme_not_draft", f"the scheme is {status.value}, not a draft", status=status.value)


def check_lockable(status: SchemeStatus) -> None:
    """A published scheme is locked (its year's results stand on it); a draft is published first."""
    if status is not SchemeStatus.published:
        raise Refused(
            "scheme_not_published",
            f"the scheme is {status.value}: only a published scheme is locked",
            status=status.value,
        )


def check_versionable(status: SchemeStatus, open_draft: bool) -> None:
    """A new version is drafted from a published scheme, one open draft per scheme at a time; a locked scheme's
    year is closed (next year's scheme starts from a template or a copy)."""
    if status is SchemeStatus.locked:
        raise Refused("scheme_locked", "the scheme is locked: its year is closed", status=status.value)
    if status is not SchemeStatus.published:
        raise Refused(
            "scheme_not_published",
            f"the scheme is {status.value}: new versions are drafted from a published one",
            status=status.value,
        )
    if open_draft:
        raise Refused("draft_open", "a draft of this scheme is open already: edit or publish it")


# -- access -----------------------------------------------------------------------------------------------------
#: Who configures schemes: the county poverty office, in its county.
SCHEME_EDITORS: frozenset[Role] = frozenset({Role.county_admin})
#: Who reads schemes: the county, its townships, the province (read-only) and other services.
SCHEME_READERS: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.province_system, Role.service}
)


def require_reader(role: Role) -> None:
    if role not in SCHEME_READERS:
        raise NotAllowed(
            "scheme_reader_required", f"role {role.value} does not read assessment schemes", role=role.value
        )


def require_editor(role: Role, region: str) -> None:
    if role not in SCHEME_EDITORS or level_of(region) is not RegionLevel.county:
        raise NotAllowed(
            "scheme_editor_required",
            "only county administrators configure assessment schemes, for their county",
            role=role.value,
        )


def county_of(region_code: str) -> str | None:
    """The county a region lies in (its own code for a county), None above the county level."""
    if level_of(region_code) in (RegionLevel.national, RegionLevel.province, RegionLevel.prefecture):
        return None
    return region_code[: PREFIX_LENGTH[RegionLevel.county]].ljust(12, "0")
