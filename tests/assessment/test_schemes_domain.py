"""Scheme rules (DOMAIN.md §6.4-§6.5, invariant 43): the metric catalogue, the default templates A-F, every
validation rule with its JSON Pointer, the flat form, the lifecycle and who configures. Pure: no database."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.assessment.metrics.domain import CATALOGUE, Direction, MetricSource, MetricUnit, SubjectType
from services.assessment.schemes import domain
from services.assessment.schemes.domain import (
    Bonuses,
    Comparison,
    Embedded,
    EmbeddedScheme,
    Grade,
    Indicator,
    Linear,
    Manual,
    MethodKind,
    SchemeInvalid,
    SchemeStatus,
    Threshold,
    Tiered,
    VetoEffect,
    check_editable,
    check_lockable,
    check_publishable,
    check_scheme,
    check_versionable,
    flatten,
    require_editor,
    require_reader,
    validate,
)
from services.assessment.schemes.schemas import (
    LinearMethod,
    SchemeDocument,
    SchemeUpdate,
    merged,
    scheme_json_schema,
    to_domain,
    untag_locations,
)
from services.assessment.schemes.templates import TEMPLATES
from shared.errors import Invalid, NotAllowed, Refused
from shared.roles import Role

COUNTY = "451025000000"


def raw(code: str = "B") -> dict[str, Any]:
    """A template's scheme document as JSON (a copy to break)."""
    return copy.deepcopy(TEMPLATES[code].document.model_dump(mode="json"))


def scheme_of(document: dict[str, Any]) -> domain.Scheme:
    return to_domain(SchemeDocument.model_validate(document))


def problems(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(pointer, rule) of every problem of the document."""
    return {(p.pointer, p.rule) for p in validate(scheme_of(document))}


# -- the metric catalogue ----------------------------------------------------------------------------------------
class TestCatalogue:
    REQUIRED = (
        # exits vs the year's quota, incidence, returnees, income growth, share above the line
        "exited_people",
        "exit_quota_people",
        "poverty_incidence",
        "returnees",
        "income_growth",
        "share_households_above_line",
        # infrastructure
        "road_to_group_coverage",
        "safe_water_coverage",
        "power_and_broadband",
        "biogas_coverage",
        # public services, industry, the collective
        "ncms_coverage",
        "pension_coverage",
        "junior_middle_enrolment",
        "clinic_with_doctor",
        "industry_coverage",
        "collective_income_fen",
        "has_cooperative",
        # pairing and help
        "visits_per_pairing",
        "confirmed_records_per_pairing",
        "measures_on_schedule",
        "funds_raised_fen",
        "funds_disbursed_share",
        "projects_accepted_share",
        "monitoring_rounds_closed",
        # deadlines
        "deadline_jan_update_met",
        "deadline_feb_upload_met",
        "deadline_dec_exits_met",
        # inspection findings and confirmed prohibited practices
        "findings_mis_identified",
        "findings_missing_record",
        "findings_fund_misuse",
        "split_households_confirmed",
        "fabricated_data_confirmed",
        "funds_misused_confirmed",
    )

    def test_the_metrics_the_issue_names_are_there(self) -> None:
        assert [code for code in self.REQUIRED if code not in CATALOGUE] == []

    def test_every_metric_is_labelled_typed_and_sourced(self) -> None:
        for code, metric in CATALOGUE.items():
            assert metric.code == code
            assert metric.label.strip() and metric.english.strip(), code
            assert metric.subject_types, code
            assert isinstance(metric.unit, MetricUnit) and isinstance(metric.source, MetricSource)

    def test_findings_come_from_inspections_and_money_is_fen(self) -> None:
        assert CATALOGUE["split_households_confirmed"].source is MetricSource.inspection
        assert CATALOGUE["split_households_confirmed"].direction is Direction.lower_is_better
        assert CATALOGUE["donations_fen"].unit is MetricUnit.fen
        assert CATALOGUE["exit_quota_people"].direction is Direction.neutral  # a target only

    def test_every_subject_type_has_metrics(self) -> None:
        for subject in SubjectType:
            assert any(subject in m.subject_types for m in CATALOGUE.values()), subject


# -- the templates -----------------------------------------------------------------------------------------------
class TestTemplates:
    @pytest.mark.parametrize("code", ["A", "B", "C", "D", "E", "F"])
    def test_every_template_passes_validation(self, code: str) -> None:
        assert validate(to_domain(TEMPLATES[code].document)) == []

    @pytest.mark.parametrize("code", ["A", "B", "C", "D", "E", "F"])
    def test_every_template_matches_the_json_schema(self, code: str) -> None:
        validator = Draft202012Validator(scheme_json_schema())
        assert [e.message for e in validator.iter_errors(raw(code))] == []

    def test_the_subject_of_each_template(self) -> None:
        assert {c: t.document.subject_type for c, t in TEMPLATES.items()} == {
            "A": SubjectType.household_exit,
            "B": SubjectType.village,
            "C": SubjectType.cadre,
            "D": SubjectType.helping_unit,
            "E": SubjectType.township,
            "F": SubjectType.cppcc_unit,
        }

    def test_a_is_a_checklist_where_all_must_pass(self) -> None:
        scheme = to_domain(TEMPLATES["A"].document)
        assert len(scheme.indicators) == 9 and all(i.max_points == 1 for i in scheme.indicators)
        assert scheme.total_points == 9
        assert domain.grade_of(scheme.grades, Decimal(9)) is Grade.exit_met
        assert domain.grade_of(scheme.grades, Decimal(8)) is Grade.exit_not_met
        income = scheme.indicators[0].method
        assert isinstance(income, Threshold) and income.target_metric == "poverty_line_fen"

    def test_b_is_exactly_the_table(self) -> None:
        scheme = to_domain(TEMPLATES["B"].document)
        first = [(i.name, int(i.max_points)) for i in scheme.indicators]
        assert first == [
            ("减贫成效", 30),
            ("收入增长", 15),
            ("基础设施", 20),
            ("公共服务与保障", 15),
            ("产业与集体经济", 10),
            ("管理规范", 10),
        ]
        leaves = {
            leaf.code: (int(leaf.max_points), leaf.method.kind if leaf.method else None, leaf.metric)
            for leaf in scheme.leaves()
        }
        assert leaves["B1.1"] == (15, MethodKind.linear, "exited_people")
        assert leaves["B1.2"] == (10, MethodKind.threshold, "poverty_incidence")
        assert leaves["B1.3"] == (5, MethodKind.deduction, "returnees_increase")
        assert leaves["B2.1"] == (8, MethodKind.linear, "income_growth")
        assert leaves["B2.2"] == (7, MethodKind.linear, "share_households_above_line")

        def block(prefix: str, n: int) -> list[tuple[int, MethodKind | None]]:
            return [leaves[f"{prefix}.{k}"][:2] for k in range(1, n + 1)]

        assert block("B3", 4) == [
            (6, MethodKind.linear),
            (6, MethodKind.linear),
            (4, MethodKind.binary),
            (4, MethodKind.linear),
        ]
        assert block("B4", 4) == [
            (5, MethodKind.threshold),
            (4, MethodKind.linear),
            (3, MethodKind.threshold),
            (3, MethodKind.binary),
        ]
        assert block("B5", 3) == [(5, MethodKind.linear), (3, MethodKind.binary), (2, MethodKind.binary)]
        incidence = next(i for i in scheme.leaves() if i.code == "B1.2").method
        assert isinstance(incidence, Threshold)
        assert (incidence.comparison, incidence.target) == (Comparison.at_most, Decimal(8))
        vetoes = {v.condition.metric for v in scheme.vetoes}
        assert vetoes == {
            "fabricated_data_confirmed",
            "favouritism_confirmed",
            "split_households_confirmed",
            "empty_households_confirmed",
            "funds_misused_confirmed",
        }
        assert {v.effect for v in scheme.vetoes} == {VetoEffect.grade_lowest}
        assert [(b.grade, int(b.min), int(b.max)) for b in scheme.grades] == [
            (Grade.excellent, 90, 100),
            (Grade.good, 80, 90),
            (Grade.qualified, 60, 80),
            (Grade.unqualified, 0, 60),
        ]
        assert scheme.bonuses.cap == 5
        (award,) = scheme.commendations
        assert (award.min_grade, award.award_fen) == (Grade.excellent, 500_000)  # R17: 5,000 yuan

    def test_c_grades_cadres_and_blocks_promotion(self) -> None:
        scheme = to_domain(TEMPLATES["C"].document)
        assert {b.grade for b in scheme.grades} == {
            Grade.excellent,
            Grade.competent,
            Grade.basically_competent,
            Grade.incompetent,
        }
        assert [i.max_points for i in scheme.indicators] == [25, 15, 20, 20, 10, 10]
        assert VetoEffect.block_promotion in {v.effect for v in scheme.vetoes}
        assert isinstance(scheme.indicators[-1].method, Manual)

    @pytest.mark.parametrize(("code", "award"), [("D", "advanced_department"), ("E", "advanced_town")])
    def test_r17_awards_10000_yuan_to_departments_and_towns(self, code: str, award: str) -> None:
        (rule,) = to_domain(TEMPLATES[code].document).commendations
        assert (rule.code, rule.min_grade, rule.award_fen) == (award, Grade.excellent, 1_000_000)

    def test_f_embeds_the_poverty_scheme_as_30_points_with_the_seed_rules(self) -> None:
        scheme = to_domain(TEMPLATES["F"].document)
        first = scheme.indicators[0]
        assert first.max_points == 30 and isinstance(first.method, Embedded)  # R1
        inner = first.method.scheme
        assert inner.total_points == 100 and sum(i.max_points for i in inner.indicators) == 100
        assert [
            (v.condition.metric, v.condition.op.value, int(v.condition.value)) for v in scheme.vetoes
        ] == [
            ("poverty_bases_built", "lt", 1),  # R3: no industrial poverty base
            ("countryside_activities_held", "lt", 1),  # R3: no "poverty help to the countryside"
            ("three_one_participation", "lt", 1),  # R3: not in the "三个一" action
        ]
        assert [
            (c.subject_kind.value if c.subject_kind else None, c.min_fen) for c in scheme.commendations
        ] == [
            ("committee_group", 5_000_000),  # R2: 50,000 yuan
            ("economic_promotion_association", 20_000_000),  # 200,000 yuan
            ("federation_enterprise", 20_000_000),  # 200,000 yuan
        ]
        assert scheme.needs_peers is False


# -- validation: every rule, with its pointer ---------------------------------------------------------------------
def _leaf(document: dict[str, Any], group: int, child: int) -> dict[str, Any]:
    found: dict[str, Any] = document["indicators"][group]["children"][child]
    return found


class TestSums:
    def test_siblings_sum_to_their_parent(self) -> None:
        document = raw()
        _leaf(document, 1, 0)["max_points"] = "9"
        assert problems(document) == {("/indicators/1", "children_sum_mismatch")}

    def test_the_first_level_sums_to_the_total(self) -> None:
        document = raw()
        document["indicators"][5]["max_points"] = "11"
        _leaf(document, 5, 0)["max_points"] = "5"
        assert problems(document) == {("/total_points", "total_mismatch")}

    def test_the_message_names_the_indicator_and_the_figures(self) -> None:
        document = raw()
        _leaf(document, 1, 0)["max_points"] = "9"
        (problem,) = validate(scheme_of(document))
        assert problem.indicator == "B2"
        assert (
            "B2 (收入增长)" in problem.message and "sum to 16" in problem.message and "15" in problem.message
        )

    def test_every_problem_is_returned(self) -> None:
        document = raw()
        _leaf(document, 1, 0)["max_points"] = "9"
        _leaf(document, 2, 2)["metric"] = "no_such_metric"
        document["grades"][1]["min"] = "85"
        assert problems(document) == {
            ("/indicators/1", "children_sum_mismatch"),
            ("/indicators/2/children/2/metric", "unknown_metric"),
            ("/grades/1/min", "grade_bands_gap"),
        }

    def test_weights_are_not_negative(self) -> None:
        scheme = to_domain(TEMPLATES["A"].document)
        broken = domain.Scheme(
            name=scheme.name,
            subject_type=scheme.subject_type,
            year=scheme.year,
            total_points=Decimal(9),
            indicators=(
                Indicator("X", "x", Decimal(-1), "food_clothing_secure", domain.Binary()),
                Indicator("Z", "z", Decimal(10), "housing_safe", domain.Binary()),
            ),
            grades=scheme.grades,
        )
        assert ("/indicators/0/max_points", "negative_points") in {
            (p.pointer, p.rule) for p in validate(broken)
        }


class TestMetrics:
    def test_an_unknown_metric(self) -> None:
        document = raw()
        _leaf(document, 2, 2)["metric"] = "no_such_metric"
        assert problems(document) == {("/indicators/2/children/2/metric", "unknown_metric")}

    def test_a_metric_of_another_subject_type(self) -> None:
        document = raw()
        _leaf(document, 2, 2)["metric"] = "three_one_participation"  # a CPPCC figure in a village scheme
        assert problems(document) == {("/indicators/2/children/2/metric", "metric_subject_mismatch")}

    def test_a_neutral_metric_is_only_a_target(self) -> None:
        document = raw()
        _leaf(document, 0, 0)["metric"] = "exit_quota_people"
        assert problems(document) == {("/indicators/0/children/0/metric", "metric_not_measurable")}

    def test_a_leaf_that_reads_a_metric_names_it(self) -> None:
        document = raw()
        del _leaf(document, 2, 2)["metric"]
        assert problems(document) == {("/indicators/2/children/2/metric", "metric_required")}

    def test_a_manual_indicator_reads_no_metric(self) -> None:
        document = raw("C")
        document["indicators"][5]["metric"] = "visits_per_pairing"
        assert problems(document) == {("/indicators/5/metric", "metric_not_read")}

    def test_a_veto_on_an_unknown_metric(self) -> None:
        document = raw()
        document["vetoes"][2]["condition"]["metric"] = "no_such_finding"
        assert problems(document) == {("/vetoes/2/condition/metric", "unknown_metric")}


class TestUnits:
    def test_a_threshold_states_the_metrics_unit(self) -> None:
        document = raw()
        _leaf(document, 0, 1)["method"]["unit"] = "people"  # incidence is a percentage
        assert problems(document) == {("/indicators/0/children/1/method/unit", "unit_mismatch")}

    def test_a_threshold_without_a_unit(self) -> None:
        scheme = scheme_of(raw())
        group = scheme.indicators[0]
        no_unit = Threshold(Comparison.at_most, None, Decimal(8))
        leaf = Indicator("B1.2", "贫困发生率", Decimal(10), "poverty_incidence", no_unit)
        children = (group.children[0], leaf, group.children[2])
        broken = _replace_first(
            scheme, Indicator(group.code, group.name, group.max_points, children=children)
        )
        found = {(p.pointer, p.rule) for p in validate(broken)}
        assert found == {("/indicators/0/children/1/method/unit", "unit_required")}

    def test_a_target_metric_in_another_unit(self) -> None:
        document = raw()
        _leaf(document, 0, 0)["method"]["target_metric"] = "poverty_incidence"
        assert problems(document) == {("/indicators/0/children/0/method/target_metric", "unit_mismatch")}

    def test_a_tiered_indicator_states_the_unit(self) -> None:
        document = raw("E")
        document["indicators"][5]["method"]["unit"] = "percent"
        assert problems(document) == {("/indicators/5/method/unit", "unit_mismatch")}


def _replace_first(scheme: domain.Scheme, first: Indicator) -> domain.Scheme:
    return domain.Scheme(
        name=scheme.name,
        subject_type=scheme.subject_type,
        year=scheme.year,
        total_points=scheme.total_points,
        indicators=(first, *scheme.indicators[1:]),
        grades=scheme.grades,
        rounding=scheme.rounding,
        vetoes=scheme.vetoes,
        bonuses=scheme.bonuses,
        commendations=scheme.commendations,
    )


class TestMethods:
    def test_a_threshold_points_the_metrics_way(self) -> None:
        document = raw()
        _leaf(document, 0, 1)["method"]["comparison"] = "at_least"  # incidence at least 8 %: backwards
        assert problems(document) == {("/indicators/0/children/1/method/comparison", "direction_mismatch")}

    def test_a_linear_target_or_a_target_metric_exactly(self) -> None:
        document = raw()
        del _leaf(document, 1, 0)["method"]["target"]
        assert problems(document) == {("/indicators/1/children/0/method/target", "target_required")}
        document = raw()
        _leaf(document, 1, 0)["method"]["target_metric"] = "income_growth"
        assert ("/indicators/1/children/0/method/target", "target_required") in problems(document)

    def test_linear_zero_value_differs_from_the_target(self) -> None:
        document = raw()
        _leaf(document, 1, 0)["method"]["zero_value"] = "15"
        assert problems(document) == {
            ("/indicators/1/children/0/method/zero_value", "target_equals_zero_value")
        }

    def test_linear_from_above_suits_only_a_lower_is_better_metric(self) -> None:
        document = raw()
        _leaf(document, 1, 0)["method"]["zero_value"] = "30"  # income growth: 0 points at 30 %, full at 15 %
        assert problems(document) == {("/indicators/1/children/0/method/zero_value", "direction_mismatch")}

    def test_linear_to_a_target_metric_starts_from_zero(self) -> None:
        document = raw()
        _leaf(document, 0, 0)["method"]["zero_value"] = "5"
        assert problems(document) == {
            ("/indicators/0/children/0/method/zero_value", "zero_value_with_target_metric")
        }

    def test_binary_suits_a_higher_is_better_metric(self) -> None:
        document = raw()
        _leaf(document, 2, 2)["metric"] = "poverty_incidence"
        assert problems(document) == {("/indicators/2/children/2/method", "direction_mismatch")}

    def test_a_deduction_counts_bad_occurrences(self) -> None:
        document = raw()
        _leaf(document, 0, 2)["metric"] = "income_growth"
        assert problems(document) == {("/indicators/0/children/2/method", "direction_mismatch")}

    def test_a_deduction_floor_and_step(self) -> None:
        document = raw()
        _leaf(document, 0, 2)["method"].update(per_occurrence="0", floor="6")
        assert problems(document) == {
            ("/indicators/0/children/2/method/per_occurrence", "per_occurrence_not_positive"),
            ("/indicators/0/children/2/method/floor", "floor_out_of_range"),
        }

    def test_tiers_never_pay_more_for_worse(self) -> None:
        document = raw("E")
        bands = document["indicators"][5]["method"]["bands"]
        bands[2]["points"] = "8"  # >= 1 session earns more than >= 2 sessions (6)
        assert problems(document) == {("/indicators/5/method/bands/1/points", "bands_not_monotone")}

    def test_tier_points_within_the_max(self) -> None:
        document = raw("E")
        document["indicators"][5]["method"]["bands"][0]["points"] = "11"
        assert problems(document) == {("/indicators/5/method/bands/0/points", "band_points_out_of_range")}

    def test_tier_bounds_are_distinct(self) -> None:
        document = raw("E")
        document["indicators"][5]["method"]["bands"][2]["bound"] = "2"
        assert ("/indicators/5/method/bands/2/bound", "band_bounds_not_distinct") in problems(document)

    def test_rank_bands_go_from_the_top_down(self) -> None:
        document = raw()
        _leaf(document, 2, 0)["method"] = {
            "method": "rank",
            "peer_group": "township",
            "bands": [
                {"top_percent": "30", "points": "6"},
                {"top_percent": "10", "points": "4"},
                {"top_percent": "100", "points": "5"},
            ],
        }
        assert problems(document) == {
            ("/indicators/2/children/0/method/bands/1/top_percent", "bands_not_ascending"),
            ("/indicators/2/children/0/method/bands/2/points", "bands_not_monotone"),
        }

    def test_a_rank_indicator_needs_the_peers(self) -> None:
        document = raw()
        _leaf(document, 2, 0)["method"] = {
            "method": "rank",
            "peer_group": "township",
            "bands": [{"top_percent": "10", "points": "6"}, {"top_percent": "50", "points": "3"}],
        }
        assert problems(document) == set()
        assert scheme_of(document).needs_peers

    def test_a_group_has_no_method_and_a_leaf_has_one(self) -> None:
        document = raw()
        document["indicators"][0]["method"] = {"method": "binary"}
        assert problems(document) == {("/indicators/0/method", "group_with_method")}
        document = raw()
        del _leaf(document, 2, 2)["method"]
        assert problems(document) == {("/indicators/2/children/2", "method_required")}

    def test_codes_are_unique_across_the_tree(self) -> None:
        document = raw()
        _leaf(document, 1, 1)["code"] = "B1.1"
        assert problems(document) == {("/indicators/1/children/1/code", "duplicate_code")}

    def test_points_are_whole_at_the_rounding_places(self) -> None:
        document = raw()
        _leaf(document, 1, 0)["max_points"] = "7.5"
        _leaf(document, 1, 1)["max_points"] = "7.5"
        assert problems(document) == set()
        document["rounding"]["places"] = 0
        assert problems(document) == {
            ("/indicators/1/children/0/max_points", "points_finer_than_rounding"),
            ("/indicators/1/children/1/max_points", "points_finer_than_rounding"),
        }

    def test_a_tree_is_at_most_four_levels_deep(self) -> None:
        deep: dict[str, Any] = {"code": "L5", "name": "五级", "max_points": "2", "metric": "has_cooperative"}
        deep["method"] = {"method": "binary"}
        for level in (4, 3, 2):
            deep = {"code": f"L{level}", "name": f"{level}级", "max_points": "2", "children": [deep]}
        document = raw()
        document["indicators"][4]["children"][2] = deep
        assert (
            "/indicators/4/children/2/children/0/children/0/children/0",
            "tree_too_deep",
        ) in problems(document)


class TestEmbedded:
    def test_the_embedded_scheme_sums_to_its_total(self) -> None:
        document = raw("F")
        inner = document["indicators"][0]["method"]["scheme"]
        inner["indicators"][0]["max_points"] = "25"
        inner["indicators"][0]["method"]["bands"][0]["points"] = "25"
        assert problems(document) == {("/indicators/0/method/scheme/total_points", "embedded_total_mismatch")}

    def test_pointers_reach_into_the_embedded_scheme(self) -> None:
        document = raw("F")
        document["indicators"][0]["method"]["scheme"]["indicators"][1]["metric"] = "visits_per_pairing"
        assert problems(document) == {
            ("/indicators/0/method/scheme/indicators/1/metric", "metric_subject_mismatch")
        }

    def test_schemes_nest_at_most_twice(self) -> None:
        leaf = Indicator("Z", "z", Decimal(1), "three_one_participation", domain.Binary())
        level2 = EmbeddedScheme("E2", "e2", Decimal(1), (leaf,))
        level1 = EmbeddedScheme(
            "E1", "e1", Decimal(1), (Indicator("Y", "y", Decimal(1), method=Embedded(level2)),)
        )
        level0 = EmbeddedScheme(
            "E0", "e0", Decimal(1), (Indicator("X", "x", Decimal(1), method=Embedded(level1)),)
        )
        scheme = domain.Scheme(
            name="n",
            subject_type=SubjectType.cppcc_unit,
            year=2018,
            total_points=Decimal(1),
            indicators=(Indicator("W", "w", Decimal(1), method=Embedded(level0)),),
            grades=(domain.GradeBand(Grade.qualified, Decimal(0), Decimal(1)),),
        )
        found = {(p.pointer, p.rule) for p in validate(scheme)}
        assert found == {
            (
                "/indicators/0/method/scheme/indicators/0/method/scheme/indicators/0/method/scheme",
                "embedding_too_deep",
            )
        }


class TestGrades:
    def test_a_gap(self) -> None:
        document = raw()
        document["grades"][1]["min"] = "85"  # 80-85 has no grade
        assert problems(document) == {("/grades/1/min", "grade_bands_gap")}

    def test_an_overlap(self) -> None:
        document = raw()
        document["grades"][2]["max"] = "85"  # 80-85 would be 良好 and 合格
        assert problems(document) == {("/grades/1/min", "grade_bands_overlap")}

    def test_bands_start_at_zero_and_end_at_the_total(self) -> None:
        document = raw()
        document["grades"][3]["min"] = "10"
        document["grades"][0]["max"] = "95"
        assert problems(document) == {
            ("/grades/3/min", "grade_bands_start"),
            ("/grades/0/max", "grade_bands_end"),
        }

    def test_an_empty_band(self) -> None:
        document = raw()
        document["grades"][1].update(min="90", max="80")
        assert ("/grades/1", "grade_band_empty") in problems(document)

    def test_grades_of_the_subject_type(self) -> None:
        document = raw()
        document["grades"][1]["grade"] = "competent"  # a cadre's grade in a village scheme
        assert problems(document) == {("/grades/1/grade", "grade_not_for_subject")}

    def test_one_band_per_grade(self) -> None:
        document = raw()
        document["grades"][1]["grade"] = "excellent"
        assert ("/grades/1/grade", "duplicate_grade") in problems(document)


class TestRules:
    def test_a_veto_fires_on_the_bad_side(self) -> None:
        document = raw()
        document["vetoes"][2]["condition"]["op"] = "lt"  # fewer split households than 0: backwards
        assert problems(document) == {("/vetoes/2/condition/op", "veto_direction_mismatch")}

    def test_a_veto_states_its_reason(self) -> None:
        scheme = scheme_of(raw())
        veto = scheme.vetoes[0]
        broken = domain.Veto(veto.code, veto.name, veto.condition, veto.effect, " ")
        found = {(p.pointer, p.rule) for p in validate(_with(scheme, vetoes=(broken,)))}
        assert found == {("/vetoes/0/reason", "reason_required")}

    def test_a_bonus_rewards_the_good_side(self) -> None:
        document = raw()
        document["bonuses"]["rules"] = [
            {
                "code": "low_incidence",
                "name": "贫困发生率低于3%",
                "condition": {"metric": "poverty_incidence", "op": "ge", "value": "3"},
                "points": "1",
            }
        ]
        assert problems(document) == {("/bonuses/rules/0/condition/op", "bonus_direction_mismatch")}

    def test_the_bonus_cap_is_not_negative(self) -> None:
        scheme = scheme_of(raw())
        found = {(p.pointer, p.rule) for p in validate(_with(scheme, bonuses=Bonuses(Decimal(-1))))}
        assert found == {("/bonuses/cap", "bonus_cap_negative")}

    def test_codes_of_rules_are_unique(self) -> None:
        document = raw()
        document["vetoes"][1]["code"] = document["vetoes"][0]["code"]
        assert problems(document) == {("/vetoes/1/code", "duplicate_rule_code")}

    def test_commendations_compare_money(self) -> None:
        document = raw("F")
        document["commendations"][0]["metric"] = "research_inspections"
        assert problems(document) == {("/commendations/0/metric", "commendation_metric_not_money")}

    def test_a_commendation_has_a_condition(self) -> None:
        document = raw("F")
        document["commendations"][0].update(metric=None, min_fen=None)
        assert problems(document) == {("/commendations/0", "commendation_without_condition")}
        document["commendations"][0]["min_fen"] = 100
        assert ("/commendations/0", "commendation_threshold_incomplete") in problems(document)

    def test_a_commendation_grade_is_one_of_the_bands(self) -> None:
        document = raw()
        document["commendations"][0]["min_grade"] = "competent"
        assert problems(document) == {("/commendations/0/min_grade", "commendation_grade_unknown")}


def _with(scheme: domain.Scheme, **changes: Any) -> domain.Scheme:
    return dataclasses.replace(scheme, **changes)


class TestSchemeInvalid:
    def test_the_problem_lists_every_pointer_and_rule(self) -> None:
        document = raw()
        _leaf(document, 1, 0)["max_points"] = "9"
        _leaf(document, 0, 1)["method"]["unit"] = "people"
        with pytest.raises(SchemeInvalid) as raised:
            check_scheme(scheme_of(document))
        error = raised.value
        assert error.code == "scheme_invalid" and error.kind == "invalid"
        assert [(e["pointer"], e["code"]) for e in error.details["errors"]] == [
            ("/indicators/0/children/1/method/unit", "unit_mismatch"),
            ("/indicators/1", "children_sum_mismatch"),
        ]
        assert all("indicator B" in e["message"] for e in error.details["errors"])
        assert "(and 1 more)" in error.message


# -- the wire ---------------------------------------------------------------------------------------------------
class TestWire:
    def test_the_json_schema_refuses_unknown_members_and_wrong_shapes(self) -> None:
        validator = Draft202012Validator(scheme_json_schema())
        document = raw()
        document["weights"] = "x"
        _leaf(document, 0, 1)["method"]["comparison"] = "around"
        messages = [e.message for e in validator.iter_errors(document)]
        assert messages and any("weights" in m for m in messages)

    def test_the_json_schema_is_a_tagged_union_of_methods(self) -> None:
        schema = scheme_json_schema()
        method = schema["$defs"]["IndicatorSpec"]["properties"]["method"]["anyOf"][0]
        assert method["discriminator"]["propertyName"] == "method"
        assert set(method["discriminator"]["mapping"]) == {k.value for k in MethodKind}
        assert schema["$schema"].endswith("2020-12/schema") and schema["additionalProperties"] is False

    def test_figures_are_exact_decimals(self) -> None:
        document = SchemeDocument.model_validate(raw())
        target = document.indicators[1].children[1].method
        assert isinstance(target, LinearMethod) and target.target == Decimal("90")
        assert document.model_dump(mode="json")["total_points"] == "100"

    def test_the_tag_leaves_the_pointer(self) -> None:
        errors = [
            {"loc": ("body", "indicators", 0, "method", "threshold", "unit"), "msg": "m", "type": "missing"}
        ]
        assert untag_locations(errors)[0]["loc"] == ("body", "indicators", 0, "method", "unit")
        kept = [{"loc": ("body", "indicators", 0, "code"), "msg": "m", "type": "missing"}]
        assert untag_locations(kept)[0]["loc"] == ("body", "indicators", 0, "code")

    def test_an_update_merges_and_a_null_name_is_invalid(self) -> None:
        stored = TEMPLATES["B"].document
        renamed = merged(stored, SchemeUpdate(name="2016年度贫困村考核方案", year=2016))
        assert (renamed.name, renamed.year, renamed.indicators) == (
            "2016年度贫困村考核方案",
            2016,
            stored.indicators,
        )
        with pytest.raises(Invalid) as raised:
            merged(stored, SchemeUpdate.model_validate({"name": None}))
        assert raised.value.code == "scheme_invalid"
        assert raised.value.details["errors"][0]["pointer"] == "/name"


# -- the flat form ----------------------------------------------------------------------------------------------
class TestFlatten:
    def test_one_row_per_indicator_with_its_parameters(self) -> None:
        rows = {r.code: r for r in flatten(to_domain(TEMPLATES["B"].document))}
        assert len(rows) == 6 + 21
        assert rows["B1"].kind == "group" and rows["B1"].parent_code is None and rows["B1"].level == 1
        quota = rows["B1.1"]
        assert (quota.parent_code, quota.level, quota.method, quota.target_metric, quota.zero_value) == (
            "B1",
            2,
            MethodKind.linear,
            "exit_quota_people",
            Decimal(0),
        )
        assert (rows["B1.2"].comparison, rows["B1.2"].target) == (Comparison.at_most, Decimal(8))
        assert (rows["B1.3"].per_occurrence, rows["B1.3"].floor) == (Decimal(1), Decimal(0))
        assert rows["B2.2"].pointer == "/indicators/1/children/1"

    def test_embedded_indicators_hang_under_the_embedding_one(self) -> None:
        rows = {r.code: r for r in flatten(to_domain(TEMPLATES["F"].document))}
        assert rows["F1"].inner_total == 100 and rows["F1"].method is MethodKind.embedded
        assert (rows["P4"].parent_code, rows["P4"].level) == ("F1", 2)
        assert [(int(b), int(p)) for b, p in rows["P4"].bands] == [(20_000_000, 30), (5_000_000, 20), (1, 10)]
        assert rows["P1"].pointer == "/indicators/0/method/scheme/indicators/0"


# -- the lifecycle and access -----------------------------------------------------------------------------------
class TestLifecycle:
    def test_only_a_draft_is_edited_or_published(self) -> None:
        check_editable(SchemeStatus.draft)
        check_publishable(SchemeStatus.draft)
        for status in (SchemeStatus.published, SchemeStatus.locked):
            with pytest.raises(Refused) as raised:
                check_editable(status)
            assert raised.value.code == "scheme_not_draft"
            with pytest.raises(Refused):
                check_publishable(status)

    def test_only_a_published_scheme_is_locked(self) -> None:
        check_lockable(SchemeStatus.published)
        for status in (SchemeStatus.draft, SchemeStatus.locked):
            with pytest.raises(Refused) as raised:
                check_lockable(status)
            assert raised.value.code == "scheme_not_published"

    def test_new_versions_come_from_a_published_scheme_one_draft_at_a_time(self) -> None:
        check_versionable(SchemeStatus.published, open_draft=False)
        cases = [
            (SchemeStatus.draft, False, "scheme_not_published"),
            (SchemeStatus.locked, False, "scheme_locked"),
            (SchemeStatus.published, True, "draft_open"),
        ]
        for status, open_draft, code in cases:
            with pytest.raises(Refused) as raised:
                check_versionable(status, open_draft)
            assert raised.value.code == code


class TestAccess:
    def test_county_admins_configure_in_their_county(self) -> None:
        require_editor(Role.county_admin, COUNTY)
        for role, region in (
            (Role.township_officer, "451025100000"),
            (Role.province_system, "450000000000"),
            (Role.cadre, COUNTY),
            (Role.county_admin, "450000000000"),  # a county admin bound elsewhere than a county
        ):
            with pytest.raises(NotAllowed) as raised:
                require_editor(role, region)
            assert raised.value.code == "scheme_editor_required"

    def test_who_reads(self) -> None:
        for role in (Role.county_admin, Role.township_officer, Role.province_system, Role.service):
            require_reader(role)
        for role in (Role.village_officer, Role.cadre):
            with pytest.raises(NotAllowed):
                require_reader(role)

    def test_the_county_of_a_region(self) -> None:
        assert domain.county_of("451025100201") == COUNTY
        assert domain.county_of(COUNTY) == COUNTY
        assert domain.county_of("450000000000") is None


def test_linear_and_tiered_are_the_documented_dataclasses() -> None:
    """The method types the wire converts to (a guard against a renamed member)."""
    scheme = to_domain(TEMPLATES["E"].document)
    assert isinstance(scheme.indicators[5].method, Tiered)
    assert isinstance(scheme.indicators[1].method, Linear)
