"""Indicator rules (DOMAIN.md §5.3, invariants 9 and 40): units, value ranges, who adds indicators. Pure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.planning.indicators.domain import (
    Unit,
    check_code,
    check_value,
    county_of,
    require_indicator_editor,
)
from shared.errors import Invalid, NotAllowed
from shared.roles import Role


class TestValues:
    @pytest.mark.parametrize(
        ("unit", "value"),
        [
            (Unit.percent, "0"),
            (Unit.percent, "100"),
            (Unit.percent, "14.1"),
            (Unit.permille, "-3.5"),
            (Unit.bool, "1"),
            (Unit.people, "1718"),
            (Unit.yuan, "5463.50"),
            (Unit.mu, "3835.0001"),
        ],
    )
    def test_possible_values_pass(self, unit: Unit, value: str) -> None:
        check_value(unit, Decimal(value), pointer="/v")

    @pytest.mark.parametrize(
        ("unit", "value"),
        [
            (Unit.percent, "100.01"),  # percentages 0-100 (invariant 40)
            (Unit.percent, "-1"),
            (Unit.permille, "1000.5"),
            (Unit.bool, "0.5"),
            (Unit.bool, "2"),
            (Unit.people, "10.5"),  # whole people
            (Unit.households, "-1"),
            (Unit.yuan, "1.005"),  # a fraction of a fen
            (Unit.mu, "-0.1"),
            (Unit.ratio, "1.00001"),  # more than four places
        ],
    )
    def test_impossible_values_are_invalid(self, unit: Unit, value: str) -> None:
        with pytest.raises(Invalid) as raised:
            check_value(unit, Decimal(value), pointer="/targets/0/target/value")
        assert raised.value.code == "value_out_of_range"
        assert raised.value.details["pointer"] == "/targets/0/target/value"

    def test_infinity_is_invalid(self) -> None:
        with pytest.raises(Invalid):
            check_value(Unit.ratio, Decimal("Infinity"), pointer="/v")


class TestCatalogue:
    def test_only_a_county_admin_bound_to_a_county_adds(self) -> None:
        require_indicator_editor(Role.county_admin, "451025000000")
        for role, region in (
            (Role.township_officer, "451025100000"),
            (Role.village_officer, "451025100201"),
            (Role.province_system, "450000000000"),
        ):
            with pytest.raises(NotAllowed) as raised:
                require_indicator_editor(role, region)
            assert raised.value.code == "indicator_editor_required"

    def test_county_of_a_region(self) -> None:
        assert county_of("451025100201") == "451025000000"
        assert county_of("451025100000") == "451025000000"
        assert county_of("451025000000") == "451025000000"
        assert county_of("469001100201") == "469001000000"  # Hainan: the county sits under the province
        assert county_of("450000000000") is None
        assert county_of("000000000000") is None

    def test_codes_are_snake_case(self) -> None:
        check_code("mushroom_households")
        for bad in ("Mushroom", "a", "with-dash", "9lives"):
            with pytest.raises(Invalid):
                check_code(bad)

    def test_units_carry_labels(self) -> None:
        assert Unit.percent.label == "百分比(%)" and Unit("bool") is Unit.bool
