"""Assessment figure rules (figures/domain.py): the catalogue, the year's boundaries, who reads (pure).

The catalogue is checked against the assessment's metric catalogue (services/assessment/metrics/domain.py, the
consumer): every metric it says the registry computes for a subject type is either served here or listed as
unsupported with a reason, and everything served is a registry metric of that subject type, in its unit.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.registry.figures import domain
from services.registry.figures.domain import (
    CATALOGUE,
    FIRST_YEAR,
    UNSUPPORTED,
    FigureCode,
    FigureUnit,
    FigureWire,
    SubjectType,
    period,
    require_reader,
    served,
    unsupported,
)
from services.registry.figures.schemas import FIGURE_ROWS
from shared.errors import Invalid, NotAllowed
from shared.figures import wants_ndjson
from shared.roles import Role


def _methods(node: Any) -> list[dict[str, Any]]:
    """Every scoring method of a scheme template (its leaves' `method` objects)."""
    if isinstance(node, dict):
        found = [node["method"]] if isinstance(node.get("method"), dict) else []
        return found + [m for value in node.values() for m in _methods(value)]
    if isinstance(node, list):
        return [m for value in node for m in _methods(value)]
    return []


def _assessment_catalogue() -> dict[str, Any]:
    from services.assessment.metrics.domain import CATALOGUE as METRICS

    return dict(METRICS)


class TestCatalogue:
    def test_every_code_is_served_or_unsupported_never_both(self) -> None:
        for subject in SubjectType:
            given = {f.code for f in served(subject)}
            missing = {u.code for u in unsupported(subject)}
            assert given and not given & missing, subject
        listed = {f.code for f in CATALOGUE} | {u.code for u in UNSUPPORTED}
        assert listed == set(FigureCode)

    def test_each_code_is_served_once(self) -> None:
        codes = [f.code for f in CATALOGUE]
        assert len(codes) == len(set(codes))

    def test_the_assessments_registry_metrics_are_all_accounted_for(self) -> None:
        """Each metric the assessment reads from the registry, for a subject type the registry serves, is served
        or unsupported (with a reason) for that type."""
        gaps = []
        for code, metric in _assessment_catalogue().items():
            if metric.source.value != "registry":
                continue
            for subject in metric.subject_types:
                if subject.value not in {s.value for s in SubjectType}:
                    continue
                ours = SubjectType(subject.value)
                known = {f.code.value for f in served(ours)} | {u.code.value for u in unsupported(ours)}
                if code not in known:
                    gaps.append((code, ours.value))
        assert gaps == []

    def test_what_is_served_is_a_registry_metric_of_that_subject_in_its_unit(self) -> None:
        metrics = _assessment_catalogue()
        for figure in CATALOGUE:
            metric = metrics[figure.code.value]
            assert metric.source.value == "registry", figure.code
            assert {s.value for s in figure.subjects} <= {s.value for s in metric.subject_types}, figure.code
            assert figure.unit.value == metric.unit.value, figure.code
            assert figure.code.label == metric.label, figure.code
        for gap in UNSUPPORTED:
            assert metrics[gap.code.value].source.value == "registry", gap.code

    def test_wire_types_follow_units(self) -> None:
        for figure in CATALOGUE:
            if figure.unit is FigureUnit.bool:
                assert figure.wire is FigureWire.boolean, figure.code
            elif figure.unit is FigureUnit.percent:
                assert figure.wire is FigureWire.decimal, figure.code
            elif figure.unit is FigureUnit.fen:
                assert figure.wire is FigureWire.integer, figure.code
            assert not figure.signed or figure.unit is FigureUnit.percent, figure.code
        ratios = {f.code for f in CATALOGUE if f.unit is FigureUnit.items and f.wire is FigureWire.decimal}
        assert ratios == {FigureCode.visits_per_pairing, FigureCode.confirmed_records_per_pairing}

    def test_every_figure_has_a_definition_and_every_gap_a_reason(self) -> None:
        assert all(len(f.definition) > 40 for f in CATALOGUE)
        assert all(len(u.reason) > 40 for u in UNSUPPORTED)

    def test_each_row_model_carries_exactly_the_served_figures(self) -> None:
        for subject, row in FIGURE_ROWS.items():
            figures = row.model_fields["figures"].annotation
            assert figures is not None
            fields = set(figures.model_fields)
            assert fields == {f.code.value for f in served(subject)}, subject
            assert row.model_fields["subject_type"].default == subject.value

    def test_the_exit_quota_is_the_years_exit_target(self) -> None:
        """Issue #13 item 17: `exit_quota_people` is served from the exit targets (invariant 25), for villages and
        townships, in people — what template B's B1.1 reads as its target metric."""
        assert FigureCode.exit_quota_people not in {u.code for u in UNSUPPORTED}
        target = domain.figure(FigureCode.exit_quota_people)
        assert target.subjects == {SubjectType.village, SubjectType.township}
        assert (target.unit, target.wire) == (FigureUnit.people, FigureWire.integer)
        assert "invariant 25" in target.definition and "规模控制" in target.definition
        metric = _assessment_catalogue()["exit_quota_people"]
        assert (metric.unit.value, metric.direction.value) == ("people", "neutral")
        template = Path(__file__).resolve().parents[2] / "services/assessment/schemes/templates/B.json"
        text = template.read_text(encoding="utf-8")
        methods = [m for m in _methods(json.loads(text)) if m.get("target_metric") == "exit_quota_people"]
        assert methods and all(m["unit"] == "people" for m in methods)


class TestPeriod:
    def test_a_past_year_ends_at_the_end_of_31_december_china_time(self) -> None:
        p = period(2015, date(2016, 3, 1))
        assert (p.first_day, p.day, p.last_day) == (date(2015, 1, 1), date(2015, 12, 31), date(2015, 12, 31))
        assert p.year_start == datetime(2014, 12, 31, 16, 0, tzinfo=UTC)
        assert p.cutoff == datetime(2015, 12, 31, 16, 0, tzinfo=UTC)
        assert p.prior_start == datetime(2013, 12, 31, 16, 0, tzinfo=UTC)
        assert p.update_deadline == datetime(2015, 1, 31, 16, 0, tzinfo=UTC)
        assert p.year_over and p.update_deadline_passed

    def test_the_year_under_way_ends_now(self) -> None:
        p = period(2016, date(2016, 3, 1))
        assert p.day == date(2016, 3, 1)
        assert p.cutoff == datetime(2016, 3, 1, 16, 0, tzinfo=UTC)  # the end of today
        assert not p.year_over and p.update_deadline_passed
        january = period(2016, date(2016, 1, 31))
        assert not january.update_deadline_passed
        assert period(2016, date(2016, 12, 31)).year_over is False  # the last day is not over yet

    def test_ages_and_terms(self) -> None:
        p = period(2015, date(2016, 3, 1))
        assert p.pension_born_by == 1999  # 16 at the end of 2015
        assert p.junior_middle_born == (2001, 2003)  # 12 to 14
        assert p.team_since == date(2014, 12, 31)  # 365 days before 31 Dec 2015

    @pytest.mark.parametrize("year", [FIRST_YEAR - 1, 2017, 2100])
    def test_years_out_of_range(self, year: int) -> None:
        with pytest.raises(Invalid) as caught:
            period(year, date(2016, 3, 1))
        assert caught.value.code == "value_out_of_range"
        assert caught.value.details["parameter"] == "year"
        assert caught.value.details["errors"][0]["in"] == "query"

    def test_the_first_and_the_current_year(self) -> None:
        assert period(FIRST_YEAR, date(2016, 3, 1)).year == 2013
        assert period(2016, date(2016, 3, 1)).year == 2016

    def test_the_last_fallback_of_every_line(self) -> None:
        assert domain.identification_line_default(2013) == 2736
        assert domain.identification_line_default(2015) == 2736
        assert domain.identification_line_default(2012) is None


class TestReaders:
    @pytest.mark.parametrize(
        "role", [Role.service, Role.province_system, Role.county_admin, Role.township_officer]
    )
    def test_readers(self, role: Role) -> None:
        require_reader(role)

    @pytest.mark.parametrize("role", [Role.village_officer, Role.cadre])
    def test_others_are_refused(self, role: Role) -> None:
        with pytest.raises(NotAllowed) as caught:
            require_reader(role)
        assert caught.value.code == "role_not_allowed"


class TestNegotiation:
    @pytest.mark.parametrize(
        ("accept", "ndjson"),
        [
            ("application/x-ndjson", True),
            ("application/ndjson", True),
            ("Application/X-NDJSON; charset=utf-8", True),
            ("application/json, application/x-ndjson", True),
            ("application/json;q=1, application/x-ndjson;q=0.5", False),
            ("application/x-ndjson;q=0", False),
            ("application/x-ndjson;q=0.0", False),
            ("application/x-ndjson;q=abc", False),
            ("application/json", False),
            ("*/*", False),
            ("", False),
            (None, False),
        ],
    )
    def test_wants_ndjson(self, accept: str | None, ndjson: bool) -> None:
        assert wants_ndjson(accept) is ndjson


class TestStatusSets:
    def test_poor_is_the_registrys_poor(self) -> None:
        from services.registry.identification.domain import POOR_STATUSES

        assert domain.POOR_STATUSES is POOR_STATUSES
        assert domain.EXIT_PENDING_STATUSES < POOR_STATUSES
        assert "exit_county_reviewed" not in domain.EXIT_PENDING_STATUSES

    def test_three_signatures(self) -> None:
        assert len(domain.ALL_PARTIES) == 3
