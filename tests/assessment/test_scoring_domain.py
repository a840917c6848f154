"""The reference scorer (DOMAIN.md §6.4, §6.6, invariants 44-47): the worked example exactly, each method's edge
cases, rounding, vetoes, bonuses, commendations; and properties (Hypothesis) for any valid scheme: points within
[0, max], the total within [0, total], a worse figure never scores more, re-scoring is deterministic. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.assessment.metrics.domain import CATALOGUE, Direction, Metric, MetricUnit, SubjectType
from services.assessment.schemes import domain
from services.assessment.schemes.domain import (
    Binary,
    Bonuses,
    BonusRule,
    Comparison,
    Condition,
    Deduction,
    Embedded,
    EmbeddedScheme,
    Grade,
    GradeBand,
    Indicator,
    Linear,
    Manual,
    Operator,
    PeerGroup,
    Rank,
    RankBand,
    Rounding,
    RoundingMode,
    Scheme,
    SubjectKind,
    Threshold,
    Tier,
    Tiered,
    Veto,
    VetoEffect,
    validate,
)
from services.assessment.schemes.schemas import to_domain
from services.assessment.schemes.templates import TEMPLATES
from services.assessment.scoring.domain import (
    ManualScore,
    PeerPosition,
    SchemeResult,
    SubjectFacts,
    peer_positions,
    score,
)
from shared.errors import Invalid

D = Decimal
#: The multiplication sign of the explanations (U+00D7).
X = "\u00d7"


def figures(**values: str | None) -> dict[str, Decimal | None]:
    return {k: (None if v is None else D(v)) for k, v in values.items()}


#: Village V of DOMAIN.md §6.6: the figures of poverty reduction and income as given, and figures for the other
#: blocks that give the example's 16 + 13 + 8 + 9 = 46.
WORKED_EXAMPLE = figures(
    exited_people="34",
    exit_quota_people="40",
    poverty_incidence="7.1",
    returnees_increase="-2",  # 3 returnees vs 5 last year
    income_growth="12",
    share_households_above_line="85",
    road_to_group_coverage="80",
    safe_water_coverage="99",
    power_and_broadband="1",
    biogas_coverage="0",
    ncms_coverage="98.5",
    pension_coverage="50",
    junior_middle_enrolment="99.2",
    clinic_with_doctor="1",
    industry_coverage="100",
    collective_income_fen="1200000",
    has_cooperative="0",
    incomplete_cards="1",
    notices_on_time="1",
    deadline_jan_update_met="1",
    deadline_feb_upload_met="1",
    monitoring_rounds_closed="2",
    split_households_confirmed="0",
    fabricated_data_confirmed="0",
    favouritism_confirmed="0",
    empty_households_confirmed="0",
    funds_misused_confirmed="0",
)


def template(code: str) -> Scheme:
    return to_domain(TEMPLATES[code].document)


def points(result: SchemeResult, code: str) -> Decimal:
    found = result.indicator(code)
    assert found is not None, code
    return found.points


# -- §6.6 --------------------------------------------------------------------------------------------------------
class TestWorkedExample:
    def test_village_v_scores_86_76_good(self) -> None:
        result = score(template("B"), SubjectFacts(WORKED_EXAMPLE))
        assert [points(result, c) for c in ("B1.1", "B1.2", "B1.3")] == [D("12.75"), D("10"), D("5")]
        assert points(result, "B1") == D("27.75")
        assert [points(result, c) for c in ("B2.1", "B2.2")] == [D("6.4"), D("6.61")]
        assert points(result, "B2") == D("13.01")
        assert [points(result, c) for c in ("B3", "B4", "B5", "B6")] == [16, 13, 8, 9]
        assert result.raw_total == D("86.76") and result.score == D("86.76")
        assert str(result.score) == "86.76"  # exactly: per-indicator rounding, not 86.7611
        assert result.grade is Grade.good and result.vetoes == ()

    def test_the_explanations_show_the_rule(self) -> None:
        result = score(template("B"), SubjectFacts(WORKED_EXAMPLE))
        quota = result.indicator("B1.1")
        assert quota is not None
        assert quota.explanation_en == f"15 {X} 34/40 = 12.75"
        assert quota.explanation_zh == f"按完成比例:15 {X} 34/40 = 12.75"
        assert (quota.value, quota.target) == (D(34), D(40))
        share = result.indicator("B2.2")
        assert share is not None and share.explanation_en == f"7 {X} 85/90 = 6.6111 → 6.61"
        growth = result.indicator("B2.1")
        assert growth is not None and growth.explanation_en == f"8 {X} 12/15 = 6.4"
        incidence = result.indicator("B1.2")
        assert incidence is not None and incidence.explanation_en == "7.1 ≤ 8: met, 10"
        assert "达标" in incidence.explanation_zh
        returnees = result.indicator("B1.3")
        assert returnees is not None and returnees.explanation_en == f"5 - 1 {X} max(0, -2) = 5"
        group = result.indicator("B1")
        assert group is not None and group.explanation_en == "12.75 + 10 + 5 = 27.75"
        assert result.explanation_en == "86.76 + bonus 0 = 86.76: Good"
        assert result.explanation_zh == "86.76 + 加分 0 = 86.76,良好"

    def test_a_confirmed_split_household_fails_the_village_whatever_its_score(self) -> None:
        values = {**WORKED_EXAMPLE, "split_households_confirmed": D(1)}
        result = score(template("B"), SubjectFacts(values))
        assert result.score == D("86.76") and result.grade_by_score is Grade.good
        assert result.grade is Grade.unqualified  # 不合格
        (veto,) = result.vetoes
        assert (veto.code, veto.effect, veto.value) == ("split_household", VetoEffect.grade_lowest, D(1))
        assert "拆户" in veto.reason  # shown to the subject (invariant 45)
        assert "不合格" in result.explanation_zh and "veto" in result.explanation_en


# -- each method ---------------------------------------------------------------------------------------------------
GRADES = (
    GradeBand(Grade.excellent, D(90), D(100)),
    GradeBand(Grade.good, D(80), D(90)),
    GradeBand(Grade.qualified, D(60), D(80)),
    GradeBand(Grade.unqualified, D(0), D(60)),
)


def one(
    method: domain.Method,
    metric: str | None = "income_growth",
    max_points: str = "10",
    *,
    rounding: Rounding | None = None,
) -> Scheme:
    """A village scheme of one leaf (and a filler leaf to reach 100 points)."""
    leaf = Indicator("X", "x", D(max_points), metric, method)
    filler = Indicator("F", "filler", D(100) - D(max_points), None, Manual())
    return Scheme(
        name="t",
        subject_type=SubjectType.village,
        year=2015,
        total_points=D(100),
        indicators=(leaf, filler),
        grades=GRADES,
        rounding=rounding or Rounding(),
    )


def leaf_of(scheme: Scheme, facts: SubjectFacts) -> Any:
    assert validate(scheme) == [], validate(scheme)
    found = score(scheme, facts).indicator("X")
    assert found is not None
    return found


def scored(scheme: Scheme, **values: str | None) -> Any:
    return leaf_of(scheme, SubjectFacts(figures(**values)))


class TestBinary:
    def test_yes_no_and_missing(self) -> None:
        scheme = one(Binary(), "has_cooperative", "2")
        assert scored(scheme, has_cooperative="1").points == 2
        assert scored(scheme, has_cooperative="0").points == 0
        missing = scored(scheme, has_cooperative=None)
        assert missing.points == 0 and missing.missing
        assert missing.explanation_en == "no figure for has_cooperative: 0"
        assert "缺少数据" in missing.explanation_zh and "有农民合作社或特色产业" in missing.explanation_zh

    def test_any_positive_figure_passes(self) -> None:
        scheme = one(Binary(), "collective_income_fen", "3")
        assert scored(scheme, collective_income_fen="1").points == 3
        assert scored(scheme, collective_income_fen="0").points == 0


class TestThreshold:
    def test_at_least_includes_the_target(self) -> None:
        scheme = one(Threshold(Comparison.at_least, MetricUnit.percent, D(98)), "ncms_coverage", "5")
        assert scored(scheme, ncms_coverage="98").points == 5
        assert scored(scheme, ncms_coverage="97.9999").points == 0

    def test_at_most(self) -> None:
        scheme = one(Threshold(Comparison.at_most, MetricUnit.percent, D(8)), "poverty_incidence")
        assert scored(scheme, poverty_incidence="8").points == 10
        failed = scored(scheme, poverty_incidence="8.01")
        assert failed.points == 0 and failed.explanation_en == "8.01 > 8: not met, 0"

    def test_a_target_metric(self) -> None:
        scheme = template("A")
        base = figures(poverty_line_fen="273600", per_capita_net_income_fen="273600")
        result = score(scheme, SubjectFacts(base))
        assert points(result, "A1") == 1
        assert (
            points(score(scheme, SubjectFacts({**base, "per_capita_net_income_fen": D(273599)})), "A1") == 0
        )
        absent = score(scheme, SubjectFacts({**base, "poverty_line_fen": None})).indicator("A1")
        assert (
            absent is not None
            and absent.missing
            and absent.explanation_en == "no target figure for poverty_line_fen: 0"
        )


class TestLinear:
    def test_capped_at_the_target(self) -> None:
        scheme = one(Linear(MetricUnit.percent, D(15)), "income_growth", "8")
        above = scored(scheme, income_growth="30")
        assert above.points == 8 and above.explanation_en == f"8 {X} min(1, 30/15) = 8"

    def test_never_below_zero(self) -> None:
        scheme = one(Linear(MetricUnit.percent, D(15)), "income_growth", "8")
        below = scored(scheme, income_growth="-3")
        assert below.points == 0 and below.explanation_en == f"8 {X} max(0, -3/15) = 0"

    def test_to_target_for_a_lower_is_better_metric(self) -> None:
        # full points at 4 % incidence, none at 10 %: 10 x (7 - 10)/(4 - 10) = 5
        scheme = one(Linear(MetricUnit.percent, D(4), zero_value=D(10)), "poverty_incidence")
        assert scored(scheme, poverty_incidence="7").points == 5
        assert scored(scheme, poverty_incidence="3").points == 10
        assert scored(scheme, poverty_incidence="12").points == 0
        assert scored(scheme, poverty_incidence="7").explanation_en == f"10 {X} (7 - 10)/(4 - 10) = 5"

    def test_a_quota_of_zero_is_met_by_nothing_due(self) -> None:
        scheme = template("B")
        result = score(
            scheme, SubjectFacts({**WORKED_EXAMPLE, "exit_quota_people": D(0), "exited_people": D(0)})
        )
        assert points(result, "B1.1") == 15

    def test_rounding_modes_at_a_tie(self) -> None:
        # 1 x 1/8 = 0.125 exactly
        for mode, expected in (
            (RoundingMode.half_up, "0.13"),
            (RoundingMode.half_even, "0.12"),
            (RoundingMode.down, "0.12"),
        ):
            scheme = one(Linear(MetricUnit.percent, D(8)), "income_growth", "1", rounding=Rounding(2, mode))
            assert scored(scheme, income_growth="1").points == D(expected), mode

    def test_rounding_to_no_places(self) -> None:
        scheme = one(
            Linear(MetricUnit.percent, D(90)), "share_households_above_line", "7", rounding=Rounding(0)
        )
        assert scored(scheme, share_households_above_line="85").points == 7  # 6.6111 → 7


class TestTiered:
    BANDS = (Tier(D(4), D(10)), Tier(D(2), D(6)), Tier(D(1), D(3)))

    def scheme(self) -> Scheme:
        leaf = Tiered(Comparison.at_least, MetricUnit.items, self.BANDS)
        scheme = one(leaf, "training_sessions")
        return dataclasses.replace(scheme, subject_type=SubjectType.township)

    def test_the_best_band_reached(self) -> None:
        scheme = self.scheme()
        assert scored(scheme, training_sessions="3").points == 6
        assert scored(scheme, training_sessions="4").points == 10
        assert scored(scheme, training_sessions="1").explanation_en == "1 ≥ 1: band of 3"

    def test_below_every_band(self) -> None:
        assert scored(self.scheme(), training_sessions="0").points == 0

    def test_at_most(self) -> None:
        bands = (Tier(D(3), D(10)), Tier(D(6), D(5)))
        scheme = one(Tiered(Comparison.at_most, MetricUnit.percent, bands), "poverty_incidence")
        assert scored(scheme, poverty_incidence="2").points == 10
        assert scored(scheme, poverty_incidence="5").points == 5
        assert scored(scheme, poverty_incidence="7").points == 0


class TestDeduction:
    def test_per_occurrence_down_to_the_floor(self) -> None:
        scheme = one(Deduction(D(1), D("1.5")), "incomplete_cards", "4")
        assert scored(scheme, incomplete_cards="0").points == 4
        assert scored(scheme, incomplete_cards="2").points == 2
        floored = scored(scheme, incomplete_cards="7")
        assert floored.points == D("1.5") and floored.explanation_en == f"4 - 1 {X} 7 = -3 < 1.5 → 1.5"


class TestRank:
    BANDS = (RankBand(D(10), D(6)), RankBand(D(50), D(3)), RankBand(D(100), D(1)))

    def scheme(self) -> Scheme:
        return one(Rank(PeerGroup.township, self.BANDS), "income_growth", "6")

    def test_by_position_among_peers(self) -> None:
        scheme = self.scheme()
        values = figures(income_growth="12")
        top = leaf_of(scheme, SubjectFacts(values, peers={"X": PeerPosition(1, 20)}))
        assert top.points == 6 and top.explanation_en == "rank 1 of 20 (5%) ≤ 10%: 6"
        assert leaf_of(scheme, SubjectFacts(values, peers={"X": PeerPosition(10, 20)})).points == 3
        assert leaf_of(scheme, SubjectFacts(values, peers={"X": PeerPosition(20, 20)})).points == 1

    def test_without_peers_or_a_figure(self) -> None:
        scheme = self.scheme()
        alone = leaf_of(scheme, SubjectFacts(figures(income_growth="12")))
        assert alone.points == 0 and alone.missing
        assert (
            leaf_of(scheme, SubjectFacts(figures(income_growth=None), peers={"X": PeerPosition(1, 2)})).points
            == 0
        )

    def test_positions_share_the_best_rank_on_ties(self) -> None:
        values = figures(a="15", b="12", c="12", d="3", e=None)
        assert peer_positions(values, Direction.higher_is_better) == {
            "a": PeerPosition(1, 4),
            "b": PeerPosition(2, 4),
            "c": PeerPosition(2, 4),
            "d": PeerPosition(4, 4),
        }
        assert peer_positions(values, Direction.lower_is_better)["d"] == PeerPosition(1, 4)


class TestManual:
    def scheme(self) -> Scheme:
        return template("C")

    def test_the_assessors_score_with_its_reason(self) -> None:
        facts = SubjectFacts({}, manual={"C6": ManualScore(D("8.5"), "户和村委均签字确认")})
        found = score(self.scheme(), facts).indicator("C6")
        assert found is not None and found.points == D("8.5") and found.reason == "户和村委均签字确认"
        assert found.explanation_en == "assessor's score 8.5: 户和村委均签字确认"

    def test_not_yet_scored(self) -> None:
        found = score(self.scheme(), SubjectFacts({})).indicator("C6")
        assert found is not None and found.points == 0 and found.missing

    @pytest.mark.parametrize(
        ("entry", "code"),
        [
            (ManualScore(D(11), "满分以上"), "manual_score_out_of_range"),
            (ManualScore(D(-1), "负分"), "manual_score_out_of_range"),
            (ManualScore(D(5), "  "), "manual_reason_required"),
        ],
    )
    def test_within_the_max_and_with_a_reason(self, entry: ManualScore, code: str) -> None:
        with pytest.raises(Invalid) as raised:
            score(self.scheme(), SubjectFacts({}, manual={"C6": entry}))
        assert raised.value.code == code and raised.value.details["indicator"] == "C6"


class TestEmbedded:
    def test_the_poverty_scheme_scaled_to_30_points(self) -> None:
        facts = SubjectFacts(
            figures(
                poverty_bases_built="2",  # 30
                countryside_activities_held="1",  # 20 x 1/2 = 10
                three_one_participation="1",  # 20
                donations_fen="6000000",  # >= 50,000 yuan: 20
            ),
            kind=SubjectKind.committee_group,
        )
        result = score(template("F"), facts)
        embedded = result.indicator("F1")
        assert embedded is not None
        assert embedded.value == 80 and embedded.points == 24  # 30 x 80/100
        assert embedded.explanation_en == f"embedded scheme F-P scaled: 30 {X} 80/100 = 24"
        assert [c.code for c in embedded.children] == ["P1", "P2", "P3", "P4"]
        assert points(result, "P2") == 10


# -- after scoring ---------------------------------------------------------------------------------------------
def with_rules(scheme: Scheme, **changes: Any) -> Scheme:
    changed = dataclasses.replace(scheme, **changes)
    assert validate(changed) == [], validate(changed)
    return changed


class TestVetoes:
    def test_score_zero(self) -> None:
        veto = Veto(
            "misuse",
            "挪用",
            Condition("funds_misused_confirmed", Operator.gt, D(0)),
            VetoEffect.score_zero,
            "挪用资金",
        )
        scheme = with_rules(template("B"), vetoes=(veto,))
        result = score(scheme, SubjectFacts({**WORKED_EXAMPLE, "funds_misused_confirmed": D(2)}))
        assert result.raw_total == D("86.76") and result.score == 0 and result.grade is Grade.unqualified

    def test_block_promotion(self) -> None:
        result = score(template("C"), SubjectFacts(figures(help_targets_missed="1")))
        assert result.promotion_blocked and [v.code for v in result.vetoes] == ["targets_missed"]
        assert result.grade is result.grade_by_score  # the grade stands; the cadre is not promoted

    def test_an_absent_figure_is_not_a_finding(self) -> None:
        result = score(
            template("B"), SubjectFacts({k: v for k, v in WORKED_EXAMPLE.items() if "confirmed" not in k})
        )
        assert result.vetoes == () and set(result.not_evaluated) == {v.code for v in template("B").vetoes}


class TestBonuses:
    RULES = (
        BonusRule("growth", "增收", Condition("income_growth", Operator.ge, D(10)), D(4)),
        BonusRule("share", "达标", Condition("share_households_above_line", Operator.ge, D(80)), D(3)),
    )

    def test_capped(self) -> None:
        scheme = with_rules(template("B"), bonuses=Bonuses(D(5), self.RULES))
        result = score(scheme, SubjectFacts(WORKED_EXAMPLE))
        assert [b.code for b in result.bonus_hits] == ["growth", "share"]
        assert result.bonus == 5 and result.score == D("91.76") and result.grade is Grade.excellent

    def test_the_total_is_clamped_to_the_scheme_total(self) -> None:
        scheme = with_rules(one(Binary(), "has_cooperative", "100"), bonuses=Bonuses(D(5), self.RULES))
        scheme = dataclasses.replace(scheme, indicators=scheme.indicators[:1])
        result = score(
            scheme,
            SubjectFacts(figures(has_cooperative="1", income_growth="20", share_households_above_line="90")),
        )
        assert result.raw_total == 100 and result.bonus == 5 and result.score == 100


class TestCommendations:
    def test_r2_thresholds_compare_donations(self) -> None:
        base = figures(poverty_bases_built="2", countryside_activities_held="2", three_one_participation="1")
        rich = SubjectFacts({**base, "donations_fen": D(5_000_000)}, kind=SubjectKind.committee_group)
        outcomes = {c.code: c for c in score(template("F"), rich).commendations}
        assert outcomes["committee_group"].eligible
        assert not outcomes["economic_promotion_association"].eligible  # not that kind
        short = SubjectFacts({**base, "donations_fen": D(4_999_999)}, kind=SubjectKind.committee_group)
        refused = {c.code: c for c in score(template("F"), short).commendations}["committee_group"]
        assert not refused.eligible and "50000 元" in refused.explanation_zh

    def test_a_veto_withdraws_the_commendation(self) -> None:
        facts = SubjectFacts(
            figures(
                poverty_bases_built="0",
                countryside_activities_held="2",
                three_one_participation="1",
                donations_fen="9000000",
            ),
            kind=SubjectKind.committee_group,
        )
        result = score(template("F"), facts)
        assert [v.code for v in result.vetoes] == ["no_poverty_base"]
        outcome = {c.code: c for c in result.commendations}["committee_group"]
        assert not outcome.eligible and "withdrawn by a veto" in outcome.explanation_en

    def test_r17_award_for_an_excellent_village(self) -> None:
        values = {
            **WORKED_EXAMPLE,
            "has_cooperative": D(1),
            "biogas_coverage": D(60),
            "pension_coverage": D(100),
        }
        result = score(template("B"), SubjectFacts(values))
        assert result.grade is Grade.excellent
        (award,) = result.commendations
        assert award.eligible and award.award_fen == 500_000


class TestExitTest:
    ALL = figures(
        per_capita_net_income_fen="300000",
        poverty_line_fen="273600",
        food_clothing_secure="1",
        compulsory_schooling_ok="1",
        medical_insurance_all="1",
        housing_safe="1",
        stable_income_source="1",
        social_assistance_covered="1",
        exit_procedure_complete="1",
        head_acknowledged="1",
    )

    def test_all_nine_met_meets_the_standard(self) -> None:
        result = score(template("A"), SubjectFacts(self.ALL))
        assert result.score == 9 and result.grade is Grade.exit_met

    def test_one_item_not_met_fails(self) -> None:
        result = score(template("A"), SubjectFacts({**self.ALL, "housing_safe": D(0)}))
        assert result.score == 8 and result.grade is Grade.exit_not_met


# -- properties (Hypothesis) -------------------------------------------------------------------------------------
VILLAGE = [
    m
    for m in CATALOGUE.values()
    if SubjectType.village in m.subject_types and m.direction is not Direction.neutral
]
CENT = D("0.01")


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: D(n) * CENT)


@st.composite
def leaf_method(draw: st.DrawFn, metric: Metric, max_points: Decimal) -> domain.Method:
    higher = metric.direction is Direction.higher_is_better
    kinds = ["threshold", "linear", "tiered", "rank"] + (["binary"] if higher else ["deduction"])
    kind = draw(st.sampled_from(kinds))
    unit = metric.unit
    if kind == "binary":
        return Binary()
    if kind == "threshold":
        return Threshold(
            Comparison.at_least if higher else Comparison.at_most, unit, draw(cents(-1000, 20000))
        )
    if kind == "linear":
        a, b = draw(st.lists(cents(-1000, 20000), min_size=2, max_size=2, unique=True))
        low, high = min(a, b), max(a, b)
        zero, target = (low, high) if higher else (high, low)
        return Linear(unit, target, zero_value=zero)
    if kind == "tiered":
        bounds = draw(st.lists(cents(-1000, 20000), min_size=1, max_size=4, unique=True))
        best_first = sorted(bounds, reverse=higher)
        awards = sorted(
            draw(st.lists(cents(0, int(max_points * 100)), min_size=len(bounds), max_size=len(bounds))),
            reverse=True,
        )
        comparison = Comparison.at_least if higher else Comparison.at_most
        return Tiered(comparison, unit, tuple(Tier(b, p) for b, p in zip(best_first, awards, strict=True)))
    if kind == "deduction":
        return Deduction(draw(cents(1, 500)), draw(cents(0, int(max_points * 100))))
    tops = sorted(draw(st.lists(st.integers(1, 100), min_size=1, max_size=4, unique=True)))
    awards = sorted(
        draw(st.lists(cents(0, int(max_points * 100)), min_size=len(tops), max_size=len(tops))), reverse=True
    )
    return Rank(PeerGroup.township, tuple(RankBand(D(t), p) for t, p in zip(tops, awards, strict=True)))


@st.composite
def leaves(draw: st.DrawFn, prefix: str) -> tuple[Indicator, ...]:
    out = []
    for k in range(draw(st.integers(1, 4))):
        max_points = draw(cents(0, 2000))
        if draw(st.integers(0, 9)) == 0:
            out.append(Indicator(f"{prefix}.{k}", "人工", max_points, None, Manual()))
            continue
        metric = draw(st.sampled_from(VILLAGE))
        out.append(
            Indicator(
                f"{prefix}.{k}", metric.label, max_points, metric.code, draw(leaf_method(metric, max_points))
            )
        )
    return tuple(out)


def _total(indicators: tuple[Indicator, ...]) -> Decimal:
    return sum((i.max_points for i in indicators), D(0))


@st.composite
def schemes(draw: st.DrawFn) -> Scheme:
    first: list[Indicator] = []
    for g in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(["group", "leaf", "embedded"]))
        children = draw(leaves(f"G{g}"))
        if shape == "group":
            first.append(Indicator(f"G{g}", "组", _total(children), children=children))
        elif shape == "leaf":
            first.append(children[0])
        else:
            inner_total = _total(children)
            if inner_total == 0:
                first.append(children[0])
                continue
            inner = EmbeddedScheme(f"E{g}", "嵌套", inner_total, children)
            first.append(Indicator(f"G{g}", "嵌套方案", draw(cents(1, 3000)), None, Embedded(inner)))
    total = _total(tuple(first))
    if total == 0:
        first.append(Indicator("Z", "补足", D(1), None, Manual()))
        total = D(1)
    cut = (total * D("0.6")).quantize(CENT)
    grades = (
        (GradeBand(Grade.unqualified, D(0), cut), GradeBand(Grade.qualified, cut, total))
        if 0 < cut < total
        else (GradeBand(Grade.qualified, D(0), total),)
    )
    vetoes = []
    for k in range(draw(st.integers(0, 2))):
        metric = draw(st.sampled_from(VILLAGE))
        bad = Operator.lt if metric.direction is Direction.higher_is_better else Operator.gt
        effect = draw(st.sampled_from(list(VetoEffect)))
        vetoes.append(
            Veto(f"V{k}", "否决", Condition(metric.code, bad, draw(cents(-1000, 20000))), effect, "理由")
        )
    bonuses = []
    for k in range(draw(st.integers(0, 2))):
        metric = draw(st.sampled_from(VILLAGE))
        good = Operator.ge if metric.direction is Direction.higher_is_better else Operator.le
        bonuses.append(
            BonusRule(
                f"B{k}", "加分", Condition(metric.code, good, draw(cents(-1000, 20000))), draw(cents(1, 300))
            )
        )
    return Scheme(
        name="generated",
        subject_type=SubjectType.village,
        year=2015,
        total_points=total,
        indicators=tuple(first),
        grades=grades,
        rounding=Rounding(2, draw(st.sampled_from(list(RoundingMode)))),
        vetoes=tuple(vetoes),
        bonuses=Bonuses(draw(cents(0, 500)), tuple(bonuses)),
    )


def _walk(indicators: tuple[Indicator, ...]) -> list[Indicator]:
    out = []
    for ind in indicators:
        out.append(ind)
        out.extend(_walk(ind.children))
        if isinstance(ind.method, Embedded):
            out.extend(_walk(ind.method.scheme.indicators))
    return out


@st.composite
def scheme_and_facts(draw: st.DrawFn) -> tuple[Scheme, SubjectFacts]:
    scheme = draw(schemes())
    values: dict[str, Decimal | None] = {}
    for code in sorted(scheme.metrics()):
        values[code] = draw(
            st.one_of(st.none(), cents(-2000, 30000)) if draw(st.integers(0, 9)) == 0 else cents(-2000, 30000)
        )
    manual: dict[str, ManualScore] = {}
    peers: dict[str, PeerPosition] = {}
    for ind in _walk(scheme.indicators):
        if isinstance(ind.method, Manual) and draw(st.booleans()):
            manual[ind.code] = ManualScore(draw(cents(0, int(ind.max_points * 100))), "评分理由")
        if isinstance(ind.method, Rank):
            of = draw(st.integers(1, 50))
            peers[ind.code] = PeerPosition(draw(st.integers(1, of)), of)
    return scheme, SubjectFacts(values, manual=manual, peers=peers)


def _all_scores(result: SchemeResult) -> list[Any]:
    out = []
    stack = list(result.indicators)
    while stack:
        found = stack.pop()
        out.append(found)
        stack.extend(found.children)
    return out


PROPERTIES = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


class TestProperties:
    @PROPERTIES
    @given(scheme_and_facts())
    def test_generated_schemes_are_valid(self, case: tuple[Scheme, SubjectFacts]) -> None:
        assert validate(case[0]) == []

    @PROPERTIES
    @given(scheme_and_facts())
    def test_points_lie_within_their_max_and_the_total(self, case: tuple[Scheme, SubjectFacts]) -> None:
        scheme, facts = case
        result = score(scheme, facts)
        for found in _all_scores(result):
            assert D(0) <= found.points <= found.max_points, found
        assert D(0) <= result.score <= scheme.total_points
        assert D(0) <= result.bonus <= scheme.bonuses.cap
        assert result.raw_total == sum((i.points for i in result.indicators), D(0))

    @PROPERTIES
    @given(scheme_and_facts(), st.data())
    def test_a_worse_figure_never_scores_more(
        self, case: tuple[Scheme, SubjectFacts], data: st.DataObject
    ) -> None:
        scheme, facts = case
        present = sorted(code for code, value in facts.values.items() if value is not None)
        if not present:
            return
        code = data.draw(st.sampled_from(present))
        worse_by = data.draw(cents(0, 20000))
        before = facts.values[code]
        assert before is not None
        # Higher is better: lower it; lower is better: raise it.
        after = (
            before - worse_by
            if CATALOGUE[code].direction is Direction.higher_is_better
            else before + worse_by
        )
        worse = dataclasses.replace(facts, values={**facts.values, code: after})
        old, new = score(scheme, facts), score(scheme, worse)
        assert new.score <= old.score, (code, before, after)
        for leaf in (
            i for i in _walk(scheme.indicators) if i.metric == code and not isinstance(i.method, Rank)
        ):
            old_leaf, new_leaf = old.indicator(leaf.code), new.indicator(leaf.code)
            assert old_leaf is not None and new_leaf is not None
            assert new_leaf.points <= old_leaf.points, leaf.code

    @PROPERTIES
    @given(scheme_and_facts())
    def test_rescoring_is_deterministic(self, case: tuple[Scheme, SubjectFacts]) -> None:
        scheme, facts = case
        assert score(scheme, facts) == score(scheme, facts)


def test_rank_properties_positions_never_improve_with_a_worse_figure() -> None:
    """A worse figure never gives a better position (the rank method's half of the property)."""
    values: Mapping[str, Decimal | None] = figures(a="10", b="8", c="8", d="5")
    before = peer_positions(values, Direction.higher_is_better)
    after = peer_positions({**values, "b": D(4)}, Direction.higher_is_better)
    assert after["b"].rank >= before["b"].rank
