"""Scoring a subject by a scheme (考核计分, DOMAIN.md §6.4, §6.6, invariants 44-47): the REFERENCE scorer. Pure.

`score(scheme, facts)` gives one subject's result: per indicator the figure read, the rule applied, the points
and an explanation in zh-CN and English; the vetoes hit (with the reason shown to the subject), the bonus, the
final score and the grade, and the commendations the subject is eligible for. The set-based scorer of a run
(`INSERT … SELECT` over a snapshot) must give identical results: each formula below is written so that it can be
copied into SQL as it stands. The scheme is assumed valid (`schemes.domain.validate` returned no problem).

Notation: `M` the indicator's max points; `v` the subject's figure of the indicator's metric; `t` the target (the
constant, or the subject's figure of `target_metric`); `z` the linear `zero_value` (default 0); `P` the scheme's
rounding places; `R(x)` rounding `x` to `P` places by the scheme's mode:

| mode | R(x) for x >= 0 | PostgreSQL |
|---|---|---|
| `half_up` | ties away from zero (6.605 → 6.61) | `round(x, P)` |
| `down` | truncate | `trunc(x, P)` |
| `half_even` | ties to the even digit (6.605 → 6.60) | `CASE WHEN x * 10^P - trunc(x * 10^P) = 0.5 THEN trunc(x, P) + CASE WHEN mod(trunc(x * 10^P), 2) = 1 THEN 10^-P ELSE 0 END ELSE round(x, P) END` |

Points of a leaf (a figure that is absent — `v` NULL, or `t` NULL for a target metric — scores **0** and the
explanation says so; every leaf's points are then in [0, M]):

| method | points |
|---|---|
| `binary` | `CASE WHEN v > 0 THEN M ELSE 0 END` |
| `threshold` at_least / at_most | `CASE WHEN v >= t THEN M ELSE 0 END` / `CASE WHEN v <= t THEN M ELSE 0 END` |
| `linear` | `CASE WHEN t = z THEN (CASE WHEN v >= t THEN M ELSE 0 END) ELSE R(least(greatest(M * (v - z) / (t - z), 0), M)) END` — multiply first, then divide (numeric; PostgreSQL keeps >= 16 significant digits, far more than figures of four decimals need); `t = z` happens only with a target metric (a quota of 0: met when nothing was due) |
| `tiered` at_least / at_most | `R(coalesce(max(points) FILTER (WHERE bound <= v), 0))` / `… (WHERE bound >= v) …` over the indicator's bands (validation makes a better band never earn less, so this is the best band reached) |
| `deduction` | `R(greatest(floor, M - per_occurrence * greatest(v, 0)))` |
| `rank` | with `rank` = `rank() OVER (PARTITION BY peer group ORDER BY v DESC)` (`ASC` for a lower-is-better metric; ties share the best rank: competition ranking 1-2-2-4) and `n` = `count(v) OVER (PARTITION BY peer group)` over subjects that have a figure, `p = 100 * rank / n`: `coalesce(max(points) FILTER (WHERE p <= top_percent), 0)` over the bands (the first band holding the position); `PeerPosition` carries (rank, n) |
| `manual` | `R(score)` of the assessor's entry (0 <= score <= M, a reason given, else `Invalid`) |
| `embedded` | `R(M * s / T)` where `s` is the sum of the embedded scheme's first-level points (computed by these same rules) and `T` its total |

Then, in this order:

1. a group's points are the sum of its children's (already rounded: no rounding);
2. `raw` = the sum of the first-level points;
3. `bonus` = `least(cap, sum of the points of the bonus rules whose condition holds)` (a rule whose figure is
   absent does not hold);
4. `score` = `R(least(greatest(raw + bonus, 0), total))`;
5. vetoes (invariant 45): a veto holds when its figure is present and `v <op> value`; `score_zero` makes the
   score 0; the grade is the band of the score (`min <= score < max`, the top band closed at the total), and
   `grade_lowest` makes it the lowest band's; `disqualify_commendation` (and `grade_lowest`, `score_zero`)
   withdraw every commendation; `block_promotion` flags the subject (R7: "不得提拔重用、不得调整工作岗位");
6. commendations (R2, R17, invariant 47): eligible when the subject's kind matches (if the rule names one), its
   grade is at least `min_grade` (if named), the money figure is >= `min_fen` (if named), and no veto withdrew it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

from services.assessment.metrics.domain import CATALOGUE, Direction
from services.assessment.schemes.domain import (
    Binary,
    Commendation,
    Comparison,
    Condition,
    Deduction,
    Embedded,
    Grade,
    Indicator,
    Linear,
    Manual,
    Method,
    MethodKind,
    Rank,
    RoundingMode,
    Scheme,
    SubjectKind,
    Threshold,
    Tiered,
    VetoEffect,
    grade_of,
    grade_rank,
    lowest_grade,
)
from shared.errors import Invalid

__all__ = [
    "BonusHit",
    "CommendationOutcome",
    "IndicatorScore",
    "ManualScore",
    "PeerPosition",
    "SchemeResult",
    "SubjectFacts",
    "VetoHit",
    "peer_positions",
    "plain",
    "rounder",
    "score",
]

_ZERO = Decimal(0)
#: The multiplication sign of the explanations (U+00D7, as in "15 x 34/40 = 12.75" with the sign).
_TIMES = "\u00d7"
_HUNDRED = Decimal(100)
_MODES = {
    RoundingMode.half_up: ROUND_HALF_UP,
    RoundingMode.half_even: ROUND_HALF_EVEN,
    RoundingMode.down: ROUND_DOWN,
}
#: Digits of every division (the SQL scorer's numeric keeps at least 16; both round to at most 4 places).
_PRECISION = 40
#: Effects that withdraw commendations.
_NO_COMMENDATION = frozenset(
    {VetoEffect.grade_lowest, VetoEffect.score_zero, VetoEffect.disqualify_commendation}
)


# -- inputs -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ManualScore:
    """An assessor's score of a manual indicator, with the written reason (invariant 44)."""

    points: Decimal
    reason: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PeerPosition:
    """A subject's place among its peers for one rank indicator: `rank` 1 is the best, of `of` ranked peers."""

    rank: int
    of: int


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    """What one subject is scored on: its figures by metric code (None = absent), the assessors' scores by
    indicator code, its positions among peers by indicator code, and its kind (CPPCC rules, R2/R3)."""

    values: Mapping[str, Decimal | None]
    manual: Mapping[str, ManualScore] = field(default_factory=dict)
    peers: Mapping[str, PeerPosition] = field(default_factory=dict)
    kind: SubjectKind | None = None


# -- results ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndicatorScore:
    """One indicator's points and why: the figure read, the target it was compared with, the rule applied."""

    code: str
    name: str
    max_points: Decimal
    points: Decimal
    explanation_zh: str
    explanation_en: str
    method: MethodKind | None = None
    metric: str | None = None
    value: Decimal | None = None
    target: Decimal | None = None
    missing: bool = False
    reason: str | None = None
    children: tuple[IndicatorScore, ...] = ()


@dataclass(frozen=True, slots=True)
class VetoHit:
    """A veto that held (invariant 45): its effect and the reason shown to the subject."""

    code: str
    name: str
    effect: VetoEffect
    reason: str
    metric: str
    value: Decimal


@dataclass(frozen=True, slots=True)
class BonusHit:
    code: str
    name: str
    points: Decimal


@dataclass(frozen=True, slots=True)
class CommendationOutcome:
    """Whether the subject may be commended under one rule, the award it carries, and why."""

    code: str
    name: str
    eligible: bool
    award_fen: int | None
    explanation_zh: str
    explanation_en: str


@dataclass(frozen=True, slots=True)
class SchemeResult:
    indicators: tuple[IndicatorScore, ...]
    raw_total: Decimal
    bonus: Decimal
    bonus_hits: tuple[BonusHit, ...]
    score: Decimal
    grade: Grade
    grade_by_score: Grade
    vetoes: tuple[VetoHit, ...]
    #: Vetoes and bonus rules not evaluated because their figure was absent.
    not_evaluated: tuple[str, ...]
    promotion_blocked: bool
    commendations: tuple[CommendationOutcome, ...]
    explanation_zh: str
    explanation_en: str

    def indicator(self, code: str) -> IndicatorScore | None:
        """The score of the indicator `code`, anywhere in the tree."""
        stack = list(self.indicators)
        while stack:
            found = stack.pop()
            if found.code == code:
                return found
            stack.extend(found.children)
        return None


# -- numbers ----------------------------------------------------------------------------------------------------
def plain(value: Decimal) -> str:
    """A decimal as people write it: no trailing zeros, no exponent (12.750 → "12.75", 100 → "100")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def rounder(places: int, mode: RoundingMode) -> Rounder:
    return Rounder(Decimal(1).scaleb(-places), _MODES[mode], places)


@dataclass(frozen=True, slots=True)
class Rounder:
    quantum: Decimal
    mode: str
    places: int

    def __call__(self, value: Decimal) -> Decimal:
        return value.quantize(self.quantum, rounding=self.mode)

    def shown(self, exact: Decimal) -> tuple[str, Decimal]:
        """(the exact value as shown, at most two digits more than the places; the rounded value)."""
        rounded = self(exact)
        finer = exact.quantize(Decimal(1).scaleb(-(self.places + 2)), rounding=ROUND_HALF_UP)
        return plain(finer if finer != exact else exact), rounded

    def arrow(self, exact: Decimal) -> tuple[str, Decimal]:
        """`"6.6111 → 6.61"` when rounding changed the value, else `"6.4"`; and the rounded value."""
        text, rounded = self.shown(exact)
        if rounded == exact:
            return plain(exact), rounded
        return f"{text} → {plain(rounded)}", rounded


def _clamp(value: Decimal, high: Decimal) -> Decimal:
    return min(max(value, _ZERO), high)


# -- peers ------------------------------------------------------------------------------------------------------
def peer_positions(values: Mapping[str, Decimal | None], direction: Direction) -> dict[str, PeerPosition]:
    """Each subject's position among `values` (subject → figure) for a rank indicator: competition ranking (ties
    share the best rank: 1, 2, 2, 4), best first by `direction`; subjects without a figure are not ranked (the
    SQL: `rank() OVER (ORDER BY v DESC)` and `count(v) OVER ()` over the peers with a figure)."""
    present = {s: v for s, v in values.items() if v is not None}
    ordered = sorted(present.values(), reverse=direction is not Direction.lower_is_better)
    first_at: dict[Decimal, int] = {}
    for i, value in enumerate(ordered):
        first_at.setdefault(value, i + 1)
    n = len(ordered)
    return {s: PeerPosition(first_at[v], n) for s, v in present.items()}


# -- scoring ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Leaf:
    points: Decimal
    zh: str
    en: str
    value: Decimal | None = None
    target: Decimal | None = None
    missing: bool = False
    reason: str | None = None
    children: tuple[IndicatorScore, ...] = ()


class _Scorer:
    def __init__(self, scheme: Scheme, facts: SubjectFacts) -> None:
        self.scheme = scheme
        self.facts = facts
        self.r = rounder(scheme.rounding.places, scheme.rounding.mode)

    def value(self, code: str | None) -> Decimal | None:
        if code is None:
            return None
        return self.facts.values.get(code)

    def label(self, code: str) -> str:
        found = CATALOGUE.get(code)
        return found.label if found else code

    def missing(self, code: str, *, target: bool = False) -> _Leaf:
        what_en = "target figure" if target else "figure"
        return _Leaf(
            _ZERO,
            f"缺少数据「{self.label(code)}」({code}),得 0 分",
            f"no {what_en} for {code}: 0",
            missing=True,
        )

    def tree(self, indicators: Sequence[Indicator]) -> tuple[IndicatorScore, ...]:
        return tuple(self.indicator(i) for i in indicators)

    def indicator(self, ind: Indicator) -> IndicatorScore:
        if ind.children:
            children = self.tree(ind.children)
            total = sum((c.points for c in children), _ZERO)
            parts = " + ".join(plain(c.points) for c in children)
            text = f"{parts} = {plain(total)}"
            return IndicatorScore(
                code=ind.code,
                name=ind.name,
                max_points=ind.max_points,
                points=total,
                explanation_zh=text,
                explanation_en=text,
                children=children,
            )
        assert ind.method is not None, "a valid scheme's leaf has a method"
        leaf = self.leaf(ind, ind.method)
        points = self.r(leaf.points)
        assert _ZERO <= points <= ind.max_points, (ind.code, points)
        return IndicatorScore(
            code=ind.code,
            name=ind.name,
            max_points=ind.max_points,
            points=points,
            explanation_zh=leaf.zh,
            explanation_en=leaf.en,
            method=ind.method.kind,
            metric=ind.metric,
            value=leaf.value,
            target=leaf.target,
            missing=leaf.missing,
            reason=leaf.reason,
            children=leaf.children,
        )

    def leaf(self, ind: Indicator, method: Method) -> _Leaf:
        m = ind.max_points
        if isinstance(method, Manual):
            return self.manual(ind)
        if isinstance(method, Embedded):
            return self.embedded(ind, method)
        assert ind.metric is not None, "a valid scheme's metric-reading leaf names its metric"
        v = self.value(ind.metric)
        if v is None:
            return self.missing(ind.metric)
        if isinstance(method, Binary):
            if v > 0:
                return _Leaf(
                    self.r(m),
                    f"达标({plain(v)} > 0),得满分 {plain(m)}",
                    f"{plain(v)} > 0: full {plain(m)}",
                    v,
                )
            return _Leaf(_ZERO, f"未达标({plain(v)}),得 0 分", f"{plain(v)} is not > 0: 0", v)
        if isinstance(method, Threshold):
            return self.threshold(m, v, method)
        if isinstance(method, Linear):
            return self.linear(m, v, method)
        if isinstance(method, Tiered):
            return self.tiered(v, method)
        if isinstance(method, Deduction):
            return self.deduction(m, v, method)
        assert isinstance(method, Rank)
        return self.rank(ind, v, method)

    def target(self, fixed: Decimal | None, metric: str | None) -> Decimal | None:
        return fixed if metric is None else self.value(metric)

    def threshold(self, m: Decimal, v: Decimal, method: Threshold) -> _Leaf:
        t = self.target(method.target, method.target_metric)
        if t is None:
            assert method.target_metric is not None
            return self.missing(method.target_metric, target=True)
        at_least = method.comparison is Comparison.at_least
        met = v >= t if at_least else v <= t
        sign = ("≥" if at_least else "≤") if met else ("<" if at_least else ">")
        if met:
            return _Leaf(
                self.r(m),
                f"{plain(v)} {sign} {plain(t)},达标,得 {plain(m)} 分",
                f"{plain(v)} {sign} {plain(t)}: met, {plain(m)}",
                v,
                t,
            )
        return _Leaf(
            _ZERO,
            f"{plain(v)} {sign} {plain(t)},未达标,得 0 分",
            f"{plain(v)} {sign} {plain(t)}: not met, 0",
            v,
            t,
        )

    def linear(self, m: Decimal, v: Decimal, method: Linear) -> _Leaf:
        t = self.target(method.target, method.target_metric)
        if t is None:
            assert method.target_metric is not None
            return self.missing(method.target_metric, target=True)
        z = method.zero_value if method.zero_value is not None else _ZERO
        if t == z:  # a target metric of 0 (nothing was due): met when the figure reaches it
            if v >= t:
                return _Leaf(
                    self.r(m),
                    f"目标为 {plain(t)},{plain(v)} ≥ {plain(t)},得 {plain(m)} 分",
                    f"target {plain(t)}, {plain(v)} ≥ {plain(t)}: {plain(m)}",
                    v,
                    t,
                )
            return _Leaf(
                _ZERO,
                f"目标为 {plain(t)},{plain(v)} < {plain(t)},得 0 分",
                f"target {plain(t)}, {plain(v)} < {plain(t)}: 0",
                v,
                t,
            )
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            exact = m * (v - z) / (t - z)
        if z == 0:
            ratio = f"{plain(v)}/{plain(t)}"
            if exact > m:
                text = f"{plain(m)} {_TIMES} min(1, {ratio}) = {plain(m)}"
                points = self.r(m)
            elif exact < 0:
                text = f"{plain(m)} {_TIMES} max(0, {ratio}) = 0"
                points = _ZERO
            else:
                shown, points = self.r.arrow(exact)
                text = f"{plain(m)} {_TIMES} {ratio} = {shown}"
        else:
            core = f"{plain(m)} {_TIMES} ({plain(v)} - {plain(z)})/({plain(t)} - {plain(z)})"
            if exact > m:
                text, points = f"{core} = {self.r.shown(exact)[0]} > {plain(m)} → {plain(m)}", self.r(m)
            elif exact < 0:
                text, points = f"{core} = {self.r.shown(exact)[0]} < 0 → 0", _ZERO
            else:
                shown, points = self.r.arrow(exact)
                text = f"{core} = {shown}"
        return _Leaf(points, f"按完成比例:{text}", text, v, t)

    def tiered(self, v: Decimal, method: Tiered) -> _Leaf:
        at_least = method.comparison is Comparison.at_least
        reached = [b for b in method.bands if (v >= b.bound if at_least else v <= b.bound)]
        if not reached:
            return _Leaf(_ZERO, f"{plain(v)} 未达到任何档次,得 0 分", f"{plain(v)} reaches no band: 0", v)
        best = max(reached, key=lambda b: b.points)
        sign = "≥" if at_least else "≤"
        points = self.r(best.points)
        return _Leaf(
            points,
            f"{plain(v)} {sign} {plain(best.bound)} 档,得 {plain(points)} 分",
            f"{plain(v)} {sign} {plain(best.bound)}: band of {plain(points)}",
            v,
            best.bound,
        )

    def deduction(self, m: Decimal, v: Decimal, method: Deduction) -> _Leaf:
        n = max(v, _ZERO)
        exact = m - method.per_occurrence * n
        times = plain(n) if v >= 0 else f"max(0, {plain(v)})"
        core = f"{plain(m)} - {plain(method.per_occurrence)} {_TIMES} {times}"
        if exact < method.floor:
            points = self.r(method.floor)
            text = f"{core} = {plain(exact)} < {plain(method.floor)} → {plain(points)}"
        else:
            shown, points = self.r.arrow(exact)
            text = f"{core} = {shown}"
        return _Leaf(points, f"扣分:{text}", text, v)

    def rank(self, ind: Indicator, v: Decimal, method: Rank) -> _Leaf:
        position = self.facts.peers.get(ind.code)
        if position is None or position.of <= 0:
            return _Leaf(_ZERO, "未提供同类排名,得 0 分", "no position among peers given: 0", v, missing=True)
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            p = _HUNDRED * position.rank / position.of
        shown = plain(p.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        band = next((b for b in method.bands if p <= b.top_percent), None)
        head_en = f"rank {position.rank} of {position.of} ({shown}%)"
        head_zh = f"排名 {position.rank}/{position.of}(前 {shown}%)"
        if band is None:
            return _Leaf(_ZERO, f"{head_zh},不在任何档次,得 0 分", f"{head_en}: no band, 0", v)
        points = self.r(band.points)
        return _Leaf(
            points,
            f"{head_zh} ≤ {plain(band.top_percent)}%,得 {plain(points)} 分",
            f"{head_en} ≤ {plain(band.top_percent)}%: {plain(points)}",
            v,
        )

    def manual(self, ind: Indicator) -> _Leaf:
        entry = self.facts.manual.get(ind.code)
        if entry is None:
            return _Leaf(_ZERO, "考核人员尚未评分,得 0 分", "no assessor's score yet: 0", missing=True)
        if not entry.reason.strip():
            raise Invalid(
                "manual_reason_required",
                f"indicator {ind.code}: a manual score needs a written reason (invariant 44)",
                indicator=ind.code,
            )
        if not _ZERO <= entry.points <= ind.max_points:
            raise Invalid(
                "manual_score_out_of_range",
                f"indicator {ind.code}: a score lies in [0, {plain(ind.max_points)}] (invariant 44)",
                indicator=ind.code,
                max_points=plain(ind.max_points),
            )
        points = self.r(entry.points)
        return _Leaf(
            points,
            f"考核人员评分 {plain(points)}:{entry.reason}",
            f"assessor's score {plain(points)}: {entry.reason}",
            reason=entry.reason,
        )

    def embedded(self, ind: Indicator, method: Embedded) -> _Leaf:
        inner = method.scheme
        children = self.tree(inner.indicators)
        s = sum((c.points for c in children), _ZERO)
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            exact = ind.max_points * s / inner.total_points
        shown, points = self.r.arrow(exact)
        text = f"{plain(ind.max_points)} {_TIMES} {plain(s)}/{plain(inner.total_points)} = {shown}"
        return _Leaf(
            min(points, ind.max_points),
            f"嵌套方案「{inner.name}」折算:{text}",
            f"embedded scheme {inner.code} scaled: {text}",
            value=s,
            target=inner.total_points,
            children=children,
        )

    # -- after scoring ---------------------------------------------------------------------------------------
    def holds(self, condition: Condition) -> bool | None:
        v = self.value(condition.metric)
        if v is None:
            return None
        return condition.op.holds(v, condition.value)


def score(scheme: Scheme, facts: SubjectFacts) -> SchemeResult:
    """One subject's result by a valid scheme (see the module docstring for every formula)."""
    s = _Scorer(scheme, facts)
    indicators = s.tree(scheme.indicators)
    raw = sum((i.points for i in indicators), _ZERO)
    not_evaluated: list[str] = []
    bonus_hits: list[BonusHit] = []
    for rule in scheme.bonuses.rules:
        held = s.holds(rule.condition)
        if held is None:
            not_evaluated.append(rule.code)
        elif held:
            bonus_hits.append(BonusHit(rule.code, rule.name, rule.points))
    bonus = min(scheme.bonuses.cap, sum((b.points for b in bonus_hits), _ZERO))
    vetoes: list[VetoHit] = []
    for veto in scheme.vetoes:
        held = s.holds(veto.condition)
        if held is None:
            not_evaluated.append(veto.code)
        elif held:
            value = s.value(veto.condition.metric)
            assert value is not None
            vetoes.append(
                VetoHit(veto.code, veto.name, veto.effect, veto.reason, veto.condition.metric, value)
            )
    effects = {v.effect for v in vetoes}
    by_points = s.r(_clamp(raw + bonus, scheme.total_points))
    final = by_points
    zeroed = VetoEffect.score_zero in effects
    if zeroed:
        final = _ZERO
    by_score = grade_of(scheme.grades, final)
    grade = lowest_grade(scheme.grades) if VetoEffect.grade_lowest in effects else by_score
    withdrawn = bool(effects & _NO_COMMENDATION)
    commendations = tuple(_commendation(s, scheme, rule, grade, withdrawn) for rule in scheme.commendations)
    en = f"{plain(raw)} + bonus {plain(bonus)} = {plain(by_points)}"
    zh = f"{plain(raw)} + 加分 {plain(bonus)} = {plain(by_points)}"
    if zeroed:
        en += " → 0 (veto)"
        zh += " → 0(一票否决)"
    en += f": {grade.english}"
    zh += f",{grade.label}"
    if grade is not by_score:
        en += f" (veto; {by_score.english} by score)"
        zh += f"(一票否决;按得分为{by_score.label})"
    return SchemeResult(
        indicators=indicators,
        raw_total=raw,
        bonus=bonus,
        bonus_hits=tuple(bonus_hits),
        score=final,
        grade=grade,
        grade_by_score=by_score,
        vetoes=tuple(vetoes),
        not_evaluated=tuple(not_evaluated),
        promotion_blocked=VetoEffect.block_promotion in effects,
        commendations=commendations,
        explanation_zh=zh,
        explanation_en=en,
    )


def _commendation(
    s: _Scorer, scheme: Scheme, rule: Commendation, grade: Grade, withdrawn: bool
) -> CommendationOutcome:
    zh: list[str] = []
    en: list[str] = []
    eligible = True
    if rule.subject_kind is not None and s.facts.kind is not rule.subject_kind:
        eligible = False
        zh.append(f"不属于{rule.subject_kind.label}")
        en.append(f"not a {rule.subject_kind.english}")
    if rule.min_grade is not None and grade_rank(scheme.grades, grade) < grade_rank(
        scheme.grades, rule.min_grade
    ):
        eligible = False
        zh.append(f"等次{grade.label}低于{rule.min_grade.label}")
        en.append(f"{grade.english} is below {rule.min_grade.english}")
    if rule.metric is not None and rule.min_fen is not None:
        v = s.value(rule.metric)
        threshold = Decimal(rule.min_fen)
        if v is None or v < threshold:
            eligible = False
            shown = "无数据" if v is None else f"{plain(v / 100)} 元"
            zh.append(f"{s.label(rule.metric)} {shown} 未达到 {plain(threshold / 100)} 元")
            en.append(
                f"{rule.metric} {'absent' if v is None else plain(v / 100) + ' yuan'} < {plain(threshold / 100)} yuan"
            )
    if withdrawn:
        eligible = False
        zh.append("一票否决取消评优资格")
        en.append("withdrawn by a veto")
    if eligible:
        zh.append("符合表彰条件")
        en.append("eligible")
    return CommendationOutcome(rule.code, rule.name, eligible, rule.award_fen, ";".join(zh), "; ".join(en))
