"""The rules of regions/domain.py with no database: the tree, imports, statuses, policy parameters, quotas."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.registry.regions import domain
from services.registry.regions.domain import KnownRegion, PolicyVersion, RegionStatusKind
from shared.errors import DomainError, Invalid, NotAllowed, Refused, TooLarge
from shared.roles import Principal, RegionLevel, Role
from tests.factories import (
    COUNTY,
    TOWNSHIP,
    VILLAGE,
)

ADMIN = Principal(sub="admin", role=Role.county_admin, region=COUNTY)
OFFICER = Principal(sub="officer", role=Role.township_officer, region=TOWNSHIP)


def code_of(exc: pytest.ExceptionInfo[DomainError]) -> str:
    return exc.value.code


class TestParentForNewRegion:
    def test_nearest_existing_ancestor(self) -> None:
        assert domain.parent_for_new_region(ADMIN, "451025100203", None, {TOWNSHIP, COUNTY}) == TOWNSHIP
        # a skipped level: no township row, the county is the parent
        assert domain.parent_for_new_region(ADMIN, "451025100203", None, {COUNTY}) == COUNTY

    def test_given_parent_must_be_an_existing_ancestor(self) -> None:
        assert domain.parent_for_new_region(ADMIN, "451025100203", COUNTY, {TOWNSHIP, COUNTY}) == COUNTY
        with pytest.raises(Invalid) as exc:
            domain.parent_for_new_region(ADMIN, "451025100203", "451025101000", {COUNTY})
        assert code_of(exc) == "parent_not_ancestor"
        with pytest.raises(Invalid) as exc:
            domain.parent_for_new_region(ADMIN, "451025100203", TOWNSHIP, {COUNTY})
        assert code_of(exc) == "parent_missing"

    def test_only_county_admins_inside_their_county(self) -> None:
        with pytest.raises(NotAllowed):
            domain.parent_for_new_region(OFFICER, "451025100203", None, {TOWNSHIP})
        with pytest.raises(NotAllowed) as exc:
            domain.parent_for_new_region(ADMIN, "451026100000", None, {"451026000000"})
        assert code_of(exc) == "outside_county"
        with pytest.raises(NotAllowed):
            domain.parent_for_new_region(ADMIN, COUNTY, None, set())

    def test_invalid_code_and_no_ancestor(self) -> None:
        with pytest.raises(Invalid) as exc:
            domain.parent_for_new_region(ADMIN, "451025100200x", None, set())
        assert code_of(exc) == "code_invalid"
        with pytest.raises(Invalid) as exc:
            domain.parent_for_new_region(ADMIN, "451025100203", None, set())
        assert code_of(exc) == "no_ancestor"


class TestImport:
    def test_parse_rows_and_format_errors(self) -> None:
        rows, errors = domain.parse_import("\ufeffcode,name\n451025102000,龙临镇\n1,2,3\n\n".encode())
        assert [(r.line, r.code, r.name, r.parent_code) for r in rows] == [
            (2, "451025102000", "龙临镇", None)
        ]
        assert errors == [{"row": 3, "field": None, "message": "expected 2 columns"}]

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (b"id,label\n1,x\n", "header_invalid"),
            (b"code,name\n", "empty"),
            ("code,name\n451025102000,café\n".encode("latin-1"), "not_utf8"),
            (b"code,name\n451025102000,a\x00b\n", "nul_character"),
        ],
    )
    def test_refused_files(self, body: bytes, code: str) -> None:
        with pytest.raises(Invalid) as exc:
            domain.parse_import(body)
        assert code_of(exc) == code

    def test_limits(self) -> None:
        with pytest.raises(TooLarge):
            domain.parse_import(b"x" * (domain.MAX_IMPORT_BYTES + 1))

    def test_plan_creates_renames_and_keeps(self) -> None:
        rows, errors = domain.parse_import(
            (
                "code,name,parent_code\n"
                "451025102000,龙临镇,\n"
                "451025102201,龙临村,451025102000\n"
                f"{VILLAGE},旧州村(改),{TOWNSHIP}\n"
                "451025100202,渠洋村,\n"
            ).encode()
        )
        existing = {
            COUNTY: KnownRegion(COUNTY, "靖西县", "451000000000"),
            TOWNSHIP: KnownRegion(TOWNSHIP, "新靖镇", COUNTY),
            VILLAGE: KnownRegion(VILLAGE, "旧州村", TOWNSHIP),
            "451025100202": KnownRegion("451025100202", "渠洋村", TOWNSHIP),
        }
        plan = domain.plan_import(ADMIN, rows, errors, existing)
        assert plan.errors == ()
        assert [(c.code, c.parent_code) for c in plan.creates] == [
            ("451025102000", COUNTY),
            ("451025102201", "451025102000"),
        ]
        assert [(r.code, r.name) for r in plan.renames] == [(VILLAGE, "旧州村(改)")]
        assert plan.unchanged == 1 and plan.rows == 4

    def test_plan_errors_are_per_row_and_sorted(self) -> None:
        rows, errors = domain.parse_import(
            (
                "code,name,parent_code\n"
                "451025102201,龙临村,451025102000\n"  # parent only later in the file
                "451025102000,龙临镇,\n"
                f"{VILLAGE},旧州村,451025101000\n"  # not an ancestor
            ).encode()
        )
        plan = domain.plan_import(ADMIN, rows, errors, {COUNTY: KnownRegion(COUNTY, "靖西县", None)})
        assert [(e["row"], e["field"]) for e in plan.errors] == [(2, "parent_code"), (4, "parent_code")]


class TestStatuses:
    def test_level_of_each_status(self) -> None:
        assert domain.check_statuses(
            ADMIN, RegionLevel.village, [RegionStatusKind.poor_village, RegionStatusKind.poor_village]
        ) == ["poor_village"]
        with pytest.raises(Invalid) as exc:
            domain.check_statuses(ADMIN, RegionLevel.village, [RegionStatusKind.poor_county])
        assert code_of(exc) == "status_level"

    def test_county_admins_only(self) -> None:
        with pytest.raises(NotAllowed):
            domain.check_statuses(OFFICER, RegionLevel.village, [])


class TestPolicy:
    def test_defaults_by_year(self) -> None:
        assert domain.default_for("identification_income_line_yuan", 2012) is None
        assert domain.default_for("identification_income_line_yuan", 2013) == 2736
        assert domain.default_for("notice_days", 1990) == 7

    @pytest.mark.parametrize(
        ("name", "value", "code"),
        [
            ("unknown", 1, "unknown_parameter"),
            ("identification_income_line_yuan", Decimal("2736.5"), "value_invalid"),
            ("village_exit_incidence_max_percent", Decimal("4.555"), "value_invalid"),
            ("notice_days", 0, "below_statutory_minimum"),
            ("notice_days", 1, "below_statutory_minimum"),
            ("notice_days", 6, "below_statutory_minimum"),
            ("notice_days", 366, "value_out_of_range"),
            ("village_exit_incidence_max_percent", 101, "value_out_of_range"),
            ("notice_days", Decimal("Infinity"), "value_invalid"),
        ],
    )
    def test_invalid_values(self, name: str, value: int | Decimal, code: str) -> None:
        with pytest.raises(Invalid) as exc:
            domain.parse_parameter_value(ADMIN, name, value)
        assert code_of(exc) == code

    def test_notice_days_may_only_lengthen_the_statutory_seven(self) -> None:
        # 公示期7天 [S 002]
        assert domain.parse_parameter_value(ADMIN, "notice_days", 7) == 7
        assert domain.parse_parameter_value(ADMIN, "notice_days", 15) == 15

    def test_valid_values_and_roles(self) -> None:
        assert domain.parse_parameter_value(
            ADMIN, "village_exit_incidence_max_percent", Decimal("4.5")
        ) == Decimal("4.5")
        with pytest.raises(NotAllowed):
            domain.parse_parameter_value(OFFICER, "notice_days", 7)

    def test_nearest_region_along_the_chain_wins(self) -> None:
        at = datetime(2014, 1, 1, tzinfo=UTC)
        rows = [
            PolicyVersion("450000000000", "identification_income_line_yuan", Decimal(2800), 1, at, "p", "省"),
            PolicyVersion(COUNTY, "identification_income_line_yuan", Decimal(3500), 2, at, "c", "县"),
            PolicyVersion("450000000000", "village_exit_incidence_max_percent", Decimal(3), 1, at, "p", "省"),
            PolicyVersion("440000000000", "notice_days", Decimal(30), 1, at, "x", "another province"),
        ]
        values = {e.name: e for e in domain.effective_parameters(VILLAGE, 2014, rows)}
        assert values["identification_income_line_yuan"].value == 3500
        assert values["identification_income_line_yuan"].row is not None
        assert values["identification_income_line_yuan"].row.region_code == COUNTY
        assert values["village_exit_incidence_max_percent"].value == Decimal("3.00")
        assert (values["notice_days"].value, values["notice_days"].source) == (7, "default")
        assert (values["exit_income_line_yuan"].value, values["exit_income_line_yuan"].source) == (
            None,
            "unset",
        )


class TestQuotas:
    def test_setters_by_level(self) -> None:
        domain.require_quota_setter(Role.county_admin, RegionLevel.township)
        domain.require_quota_setter(Role.township_officer, RegionLevel.village)
        for role, level in (
            (Role.county_admin, RegionLevel.village),
            (Role.township_officer, RegionLevel.township),
        ):
            with pytest.raises(NotAllowed):
                domain.require_quota_setter(role, level)

    def test_children_never_total_more_than_the_parent(self) -> None:
        domain.check_quota_against_parent(TOWNSHIP, 2014, 5996, 2996, 3000)
        with pytest.raises(Refused) as exc:
            domain.check_quota_against_parent(TOWNSHIP, 2014, 5996, 2997, 3000)
        assert exc.value.details == {"parent": TOWNSHIP, "parent_quota": 5996, "would_be_sum": 5997}
        with pytest.raises(Refused) as exc:
            domain.check_quota_against_parent(TOWNSHIP, 2014, None, 0, 1)
        assert code_of(exc) == "parent_quota_missing"

    def test_a_quota_never_falls_below_its_children(self) -> None:
        domain.check_quota_against_children(TOWNSHIP, 3000, 3000)
        with pytest.raises(Refused):
            domain.check_quota_against_children(TOWNSHIP, 3000, 2999)

    def test_equal_distribution_is_warned(self) -> None:
        assert domain.distribution_warnings([2000]) == []
        assert domain.distribution_warnings([2000, 2000]) == ["equal_distribution"]
        assert domain.distribution_warnings([2000, 1500]) == []

    def test_registration_within_the_village_quota(self) -> None:
        assert domain.check_registration(VILLAGE, 2014, 60, 55, 5, overridden=False) == domain.QuotaCheck(
            60, 55, False
        )
        with pytest.raises(Refused) as exc:
            domain.check_registration(VILLAGE, 2014, 60, 58, 4, overridden=False)
        assert code_of(exc) == "quota_exceeded"
        assert exc.value.details == {"quota": 60, "used": 58, "household_size": 4}
        assert domain.check_registration(VILLAGE, 2014, 60, 58, 4, overridden=True) == domain.QuotaCheck(
            60, 58, True
        )
        with pytest.raises(Refused) as exc:
            domain.check_registration(VILLAGE, 2014, None, 0, 4, overridden=False)
        assert code_of(exc) == "quota_missing"
        assert not domain.check_registration(VILLAGE, 2014, None, 0, 4, overridden=True).over

    def test_quota_parent(self) -> None:
        assert domain.quota_parent(COUNTY, RegionLevel.county, "451000000000") is None
        assert domain.quota_parent(TOWNSHIP, RegionLevel.township, COUNTY) == COUNTY
        assert domain.quota_parent(VILLAGE, RegionLevel.village, TOWNSHIP) == TOWNSHIP


class TestPopulation:
    def test_recorders(self) -> None:
        for role in (Role.county_admin, Role.township_officer, Role.village_officer):
            domain.require_population_recorder(role)
        for role in (Role.cadre, Role.province_system):
            with pytest.raises(NotAllowed):
                domain.require_population_recorder(role)
