"""Report rules with no database (services/planning/reports/domain.py): who reads which county, the year, when
allocations apply, the rate and progress, CSV text cells, the representation asked for (money as yuan is
PostgreSQL's: tests/planning/test_reports_routes.py `TestMoney`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.planning.projects.domain import ProjectStatus
from services.planning.reports.domain import (
    EXECUTED_STATUSES,
    READERS,
    GroupBy,
    ReportFormat,
    allocated_applies,
    county_of,
    execution_rate,
    progress_percent,
    report_scope,
    text_cell,
    wants_csv,
    year_bounds,
)
from shared.errors import Invalid, Missing, NotAllowed
from shared.roles import Role

COUNTY = "451025000000"
TOWNSHIP = "451025100000"
VILLAGE = "451025100201"
OTHER_TOWNSHIP = "451025101000"
OTHER_VILLAGE = "451025101201"
OTHER_COUNTY = "451026000000"


class TestReaders:
    def test_the_county_its_townships_and_the_province_read(self) -> None:
        assert READERS == {Role.county_admin, Role.township_officer, Role.province_system}

    @pytest.mark.parametrize("role", [Role.village_officer, Role.cadre, Role.service])
    def test_others_may_not(self, role: Role) -> None:
        with pytest.raises(NotAllowed) as refused:
            report_scope(role=role, region=COUNTY, county=COUNTY)
        assert refused.value.code == "role_may_not"

    def test_the_role_is_refused_before_the_region_is_looked_at(self) -> None:
        with pytest.raises(NotAllowed):
            report_scope(role=Role.cadre, region=OTHER_COUNTY, county="4510")


class TestReportScope:
    def test_a_county_admin_reads_their_county(self) -> None:
        scope = report_scope(role=Role.county_admin, region=COUNTY, county=COUNTY)
        assert (scope.prefix, scope.like, scope.named) == ("451025", "451025%", COUNTY)
        assert (scope.township_code, scope.village_code) == (None, None)

    def test_a_township_officer_names_their_county_and_reads_their_township(self) -> None:
        scope = report_scope(role=Role.township_officer, region=TOWNSHIP, county=COUNTY)
        assert (scope.prefix, scope.named) == ("451025100", COUNTY)
        village = report_scope(role=Role.township_officer, region=TOWNSHIP, county=COUNTY, village=VILLAGE)
        assert (village.prefix, village.named) == (VILLAGE, VILLAGE)

    def test_the_province_reads_every_county_of_it(self) -> None:
        scope = report_scope(
            role=Role.province_system, region="450000000000", county=COUNTY, township=TOWNSHIP
        )
        assert (scope.prefix, scope.named, scope.township_code) == ("451025100", TOWNSHIP, TOWNSHIP)

    @pytest.mark.parametrize(
        ("role", "region", "county", "township", "village"),
        [
            (Role.county_admin, OTHER_COUNTY, COUNTY, None, None),
            (Role.township_officer, "451026100000", COUNTY, None, None),
            (Role.township_officer, TOWNSHIP, COUNTY, OTHER_TOWNSHIP, None),
            (Role.township_officer, TOWNSHIP, COUNTY, None, OTHER_VILLAGE),
            (Role.county_admin, COUNTY, COUNTY, "451026100000", None),
            (Role.county_admin, COUNTY, COUNTY, TOWNSHIP, OTHER_VILLAGE),
            (Role.province_system, "440000000000", COUNTY, None, None),
        ],
    )
    def test_out_of_scope_is_missing(
        self, role: Role, region: str, county: str, township: str | None, village: str | None
    ) -> None:
        with pytest.raises(Missing):
            report_scope(role=role, region=region, county=county, township=township, village=village)

    @pytest.mark.parametrize(
        ("county", "township", "village", "code"),
        [
            (VILLAGE, None, None, "not_a_county"),
            (TOWNSHIP, None, None, "not_a_county"),
            (COUNTY, VILLAGE, None, "not_a_township"),
            (COUNTY, None, TOWNSHIP, "not_a_village"),
        ],
    )
    def test_codes_of_the_wrong_level_are_invalid(
        self, county: str, township: str | None, village: str | None, code: str
    ) -> None:
        with pytest.raises(Invalid) as invalid:
            report_scope(
                role=Role.county_admin, region=COUNTY, county=county, township=township, village=village
            )
        assert invalid.value.code == code

    def test_county_of(self) -> None:
        assert county_of(VILLAGE) == county_of(TOWNSHIP) == COUNTY


class TestWhatIsCounted:
    def test_a_year_is_the_projects_starting_in_it(self) -> None:
        assert year_bounds(2015) == (date(2015, 1, 1), date(2016, 1, 1))

    def test_approved_projects_are_executed(self) -> None:
        assert EXECUTED_STATUSES == {
            ProjectStatus.approved,
            ProjectStatus.in_progress,
            ProjectStatus.accepted,
            ProjectStatus.rejected,
        }

    def test_allocations_compare_by_source_at_county_or_township_level(self) -> None:
        county = report_scope(role=Role.county_admin, region=COUNTY, county=COUNTY)
        township = report_scope(role=Role.township_officer, region=TOWNSHIP, county=COUNTY)
        village = report_scope(role=Role.county_admin, region=COUNTY, county=COUNTY, village=VILLAGE)
        assert allocated_applies(GroupBy.source, county) and allocated_applies(GroupBy.source, township)
        assert not allocated_applies(GroupBy.source, village)
        for group_by in (GroupBy.village, GroupBy.township, GroupBy.category):
            assert not allocated_applies(group_by, county)

    @pytest.mark.parametrize(
        ("disbursed", "committed", "rate"),
        [
            (30_000_000, 175_000_000, Decimal("17.14")),
            (45_000_000, 265_000_000, Decimal("16.98")),
            (1, 8, Decimal("12.50")),
            (1, 200, Decimal("0.50")),
            (1, 3, Decimal("33.33")),
            (2, 3, Decimal("66.67")),
            (0, 5, Decimal("0.00")),
            (5, 5, Decimal("100.00")),
            (0, 0, None),
        ],
    )
    def test_the_rate(self, disbursed: int, committed: int, rate: Decimal | None) -> None:
        assert execution_rate(disbursed, committed) == rate

    def test_progress_is_the_mean_of_the_milestones(self) -> None:
        assert progress_percent([100, 50]) == Decimal("75.00")
        assert progress_percent([100, 0, 0]) == Decimal("33.33")
        assert progress_percent([100, 100, 0]) == Decimal("66.67")
        assert progress_percent([]) is None


class TestCells:
    def test_text_that_looks_like_a_formula_stays_text(self) -> None:
        assert text_cell("=SUM(A1)") == "'=SUM(A1)"
        assert text_cell("+1") == "'+1" and text_cell("@x") == "'@x" and text_cell("-2") == "'-2"
        assert text_cell("通村道路") == "通村道路" and text_cell(None) == ""


class TestRepresentation:
    @pytest.mark.parametrize(
        ("format_", "accept", "csv"),
        [
            (None, None, False),
            (None, "application/json", False),
            (None, "text/csv", True),
            (None, "text/csv; charset=utf-8", True),
            (None, "application/json;q=0.9, TEXT/CSV", True),
            (ReportFormat.csv, None, True),
            (ReportFormat.json, "text/csv", False),
        ],
    )
    def test_csv_when_asked(self, format_: ReportFormat | None, accept: str | None, csv: bool) -> None:
        assert wants_csv(format_, accept) is csv

    def test_code_lists_carry_labels(self) -> None:
        assert [g.value for g in GroupBy] == ["township", "village", "source", "category"]
        assert GroupBy.village.label == "按行政村" and ReportFormat.csv.label == "CSV 表格"
