"""Assessment figure rules (考核数据, issue #12), pure: the catalogue against the assessment's metric catalogue, the
definitions, the year's boundaries, who reads, content negotiation, and the shape of the one statement per subject
type (no database)."""

from __future__ import annotations

import importlib.util
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.planning.figures import domain
from services.planning.figures.domain import (
    CATALOGUE,
    FIGURE_READERS,
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
from services.planning.figures.repository import figure_parameters, figures_sql
from services.planning.figures.schemas import FIGURE_ROWS
from services.planning.figures.service import catalogue
from services.planning.plans.domain import HAVES, ExitItem
from shared.errors import Invalid, NotAllowed
from shared.figures import wants_ndjson
from shared.roles import Role

_MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "services/planning/migrations/versions/2026_12_02_0003_planning_catalogues.py"
)


def _shipped_indicators() -> dict[str, str]:
    """The indicator catalogue planning ships (migration plan0003): code → unit."""
    spec = importlib.util.spec_from_file_location("plan0003", _MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows: list[tuple[str, str, str, str, str]] = module.INDICATORS
    return {code: unit for code, _zh, _en, unit, _direction in rows}


# == the catalogue =================================================================================================
class TestCatalogue:
    def test_every_planning_metric_of_the_assessment_is_here(self) -> None:
        """The codes, units, zh-CN labels and subject types are the assessment catalogue's planning-sourced
        metrics (services/assessment/metrics/domain.py): what the assessment asks planning for, planning has."""
        from services.assessment.metrics.domain import CATALOGUE as METRICS
        from services.assessment.metrics.domain import MetricSource

        planning = {code: m for code, m in METRICS.items() if m.source is MetricSource.planning}
        assert set(planning) == {c.value for c in FigureCode}
        for code, metric in planning.items():
            subjects = {s.value for s in metric.subject_types}
            found = domain.figure(FigureCode(code))
            assert {s.value for s in found.subjects} == subjects, code
            assert found.unit.value == metric.unit.value, code
            assert FigureCode(code).label == metric.label, code

    def test_every_code_is_served_or_unsupported_with_a_reason(self) -> None:
        served_codes = {f.code for f in CATALOGUE}
        assert served_codes | {u.code for u in UNSUPPORTED} == set(FigureCode)
        assert UNSUPPORTED == ()  # every planning-sourced metric is computed
        assert all(unsupported(s) == () for s in SubjectType)
        assert len(served_codes) == len(CATALOGUE)

    def test_units_and_wire_types_agree(self) -> None:
        wire = {FigureUnit.percent: FigureWire.decimal, FigureUnit.fen: FigureWire.integer,
                FigureUnit.bool: FigureWire.boolean}  # fmt: skip
        for f in CATALOGUE:
            assert f.wire is wire[f.unit], f.code
            assert not f.signed or f.unit is FigureUnit.percent, f.code
            assert len(f.definition) > 40 and f.definition.rstrip().endswith("."), f.code

    def test_served_per_subject(self) -> None:
        assert [f.code.value for f in served(SubjectType.village)] == [
            "road_to_group_coverage",
            "safe_water_coverage",
            "power_and_broadband",
            "biogas_coverage",
            "clinic_with_doctor",
            "collective_income_fen",
            "has_cooperative",
            "funds_disbursed_share",
            "projects_accepted_share",
        ]
        assert [f.code.value for f in served(SubjectType.township)] == [
            "funds_raised_fen",
            "funds_disbursed_share",
            "projects_accepted_share",
            "village_indicator_progress",
        ]
        assert [f.code.value for f in served(SubjectType.helping_unit)] == [
            "funds_raised_fen",
            "funds_pledged_completion",
            "funds_disbursed_share",
            "projects_accepted_share",
            "village_indicator_progress",
        ]

    def test_the_rows_carry_exactly_the_served_figures_in_catalogue_order(self) -> None:
        for subject, row in FIGURE_ROWS.items():
            figures = row.model_fields["figures"].annotation
            assert isinstance(figures, type)
            assert list(figures.model_fields) == [f.code.value for f in served(subject)], subject
            described = figures.model_fields
            for f in served(subject):
                assert f.definition in (described[f.code.value].description or ""), f.code

    def test_the_catalogue_answer(self) -> None:
        answer = catalogue()
        assert [s.subject_type for s in answer.subjects] == list(SubjectType)
        assert [s.path for s in answer.subjects] == [f"/figures/{s.value}" for s in SubjectType]
        assert "31 December" in answer.as_of and "entry date" in answer.as_of

    def test_the_indicators_read_are_shipped_with_their_units(self) -> None:
        shipped = _shipped_indicators()
        percent = (domain.ROAD_RATE, domain.WATER_RATE, domain.BIOGAS_RATE)
        yes_no = (domain.ROAD_ALL_GROUPS, *domain.POWER_INDICATORS, *domain.BROADBAND_INDICATORS,
                  *domain.CLINIC_INDICATORS, domain.STAFF_ROLES, domain.SPECIALTY)  # fmt: skip
        assert {shipped[c] for c in percent} == {"percent"}
        assert {shipped[c] for c in yes_no} == {"bool"}
        assert shipped[domain.COLLECTIVE_INCOME_INDICATOR] == "yuan"

    def test_power_broadband_and_clinic_read_the_exit_checklist(self) -> None:
        """一低七有 (§5.4) and the figures read the same indicators, in the same order."""
        assert domain.POWER_INDICATORS == ("household_electricity", "grid_upgrade")
        assert domain.POWER_INDICATORS == tuple(c for c, _ in HAVES[ExitItem.electricity])
        assert domain.BROADBAND_INDICATORS == ("broadband_to_households",)
        assert domain.CLINIC_INDICATORS == ("village_clinic",)

    def test_what_counts(self) -> None:
        assert {s.value for s in domain.APPROVED_PROJECTS} == {
            "approved",
            "in_progress",
            "accepted",
            "rejected",
        }
        assert {s.value for s in domain.PLANS_OF_THE_YEAR} == {"county_approved", "active", "closed"}
        assert domain.HELPING_UNIT_SOURCE.value == "helping_unit_fund"
        assert {c.value for c in domain.COOPERATIVE_CATEGORIES} == {"cooperative"}


# == who, and which year ==========================================================================================
class TestReaders:
    @pytest.mark.parametrize("role", sorted(FIGURE_READERS))
    def test_valid_readers(self, role: Role) -> None:
        require_reader(role)

    @pytest.mark.parametrize("role", [Role.village_officer, Role.cadre])
    def test_invalid_others_are_refused(self, role: Role) -> None:
        with pytest.raises(NotAllowed) as refused:
            require_reader(role)
        assert refused.value.code == "role_not_allowed"

    def test_the_readers(self) -> None:
        assert FIGURE_READERS == {
            Role.service,
            Role.province_system,
            Role.county_admin,
            Role.township_officer,
        }


class TestPeriod:
    def test_valid_a_past_year_ends_on_31_december(self) -> None:
        p = period(2016, date(2026, 12, 3))
        assert (p.year, p.first_day, p.day, p.last_day) == (2016, date(2016, 1, 1), date(2016, 12, 31),
                                                            date(2016, 12, 31))  # fmt: skip

    def test_valid_the_year_under_way_ends_today(self) -> None:
        p = period(2026, date(2026, 3, 5))
        assert (p.first_day, p.day, p.last_day) == (date(2026, 1, 1), date(2026, 3, 5), date(2026, 12, 31))

    def test_valid_the_first_year(self) -> None:
        assert period(2013, date(2026, 1, 1)).day == date(2013, 12, 31)

    @pytest.mark.parametrize("year", [2012, 2027, 1999])
    def test_invalid_before_2013_or_in_the_future(self, year: int) -> None:
        with pytest.raises(Invalid) as invalid:
            period(year, date(2026, 12, 3))
        assert invalid.value.code == "value_out_of_range"
        errors: list[dict[str, Any]] = invalid.value.details["errors"]
        assert errors[0]["parameter"] == "year" and errors[0]["in"] == "query"


class TestNegotiation:
    @pytest.mark.parametrize(
        "accept",
        ["application/x-ndjson", "application/ndjson", "application/json;q=0.5, application/x-ndjson",
         "Application/X-NDJSON; charset=utf-8"],
    )  # fmt: skip
    def test_valid_ndjson(self, accept: str) -> None:
        assert wants_ndjson(accept)

    @pytest.mark.parametrize(
        "accept",
        [None, "", "*/*", "application/json", "application/x-ndjson;q=0", "application/x-ndjson;q=0.2, "
         "application/json", "application/x-ndjson;q=bad"],
    )  # fmt: skip
    def test_invalid_json_pages(self, accept: str | None) -> None:
        assert not wants_ndjson(accept)


# == one statement per subject type ===============================================================================
class TestStatements:
    @pytest.mark.parametrize("subject", list(SubjectType))
    def test_one_statement_with_every_figure(self, subject: SubjectType) -> None:
        sql = figures_sql(subject)
        assert "{" not in sql and "}" not in sql and ":" not in sql.replace("::", "")
        assert sql.count(";") == 0  # one statement
        for f in served(subject):
            assert re.search(rf"\bAS {f.code.value}\b", sql), f.code
        numbered = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
        assert numbered == list(range(1, len(numbered) + 1))
        when = period(2016, date(2026, 12, 3))
        args = figure_parameters(subject, "451025%", when, after="x", limit=10)
        assert len(args) == len(numbered)
        assert {"451025%", 2016, date(2016, 1, 1), date(2016, 12, 31), "x", 10} <= set(args)

    def test_scope_is_in_every_statement(self) -> None:
        for subject in SubjectType:
            sql = figures_sql(subject)
            assert sql.count("village_code LIKE $") >= 2, subject  # projects and plans (and more) by the area
