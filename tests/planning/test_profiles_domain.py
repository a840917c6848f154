"""Village profile rules (DOMAIN.md §5.2; invariants 10, 41; fixtures F4-F6): flags, never refusals. Pure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.planning.profiles.domain import (
    DeclaredFigures,
    Flag,
    ProfileFlag,
    RegistryFigures,
    check,
    derive,
    fen,
    flag_codes,
    require_editor,
    require_reader,
    require_village,
    yuan,
)
from shared.errors import Invalid, NotAllowed
from shared.roles import Role

#: F4 (seed 001#7): 544 households, 1,718 people (1,146 resident), 107 poor households / 242 people, income 5,463
#: vs the district's 5,185 written "78 %".
F4 = DeclaredFigures(
    households=544,
    population=1718,
    resident_population=1146,
    poor_households=107,
    poor_people=242,
    per_capita_net_income_fen=546_300,
    district_average_income_fen=518_500,
    income_ratio_percent=Decimal("78"),
    arable_total_mu=Decimal("3835"),
    paddy_mu=Decimal("1137"),
)


def _codes(flags: list[Flag]) -> list[str]:
    return flag_codes(flags)


def _only(flags: list[Flag], code: ProfileFlag) -> list[Flag]:
    return [f for f in flags if f.code is code]


class TestFixtures:
    def test_f4_income_ratio_is_flagged_and_incidence_derived(self) -> None:
        registry = RegistryFigures(107, 242, 1718, Decimal("14.09"))
        flags = check(F4, registry)
        assert _codes(flags) == ["income_ratio_inconsistent"]
        (ratio,) = flags
        assert (ratio.value, ratio.compared_with) == (Decimal(78), Decimal("105.36"))
        derived = derive(F4)
        assert derived.incidence_percent == Decimal("14.09")  # 242 / 1718
        assert derived.per_capita_arable_mu == Decimal("2.23")
        assert derived.income_ratio_percent == Decimal("105.36")

    def test_f5_the_breakdown_by_measure_does_not_add_up(self) -> None:
        """Planting 31/158, breeding 10/32, relocation 14/44, renovation 6/23, 低保 28/28: 89 / 285 vs 87 / 270."""
        f5 = DeclaredFigures(
            households=350,
            population=1358,
            poor_households=87,
            poor_people=270,
            measure_households=31 + 10 + 14 + 6 + 28,
            measure_people=158 + 32 + 44 + 23 + 28,
        )
        flags = check(f5, RegistryFigures(87, 270, 1358, Decimal("19.88")))
        breakdown = _only(flags, ProfileFlag.measure_breakdown_differs)
        assert [(f.field, f.value, f.compared_with) for f in breakdown] == [
            ("poor_by_measure.households", Decimal(89), Decimal(87)),
            ("poor_by_measure.people", Decimal(285), Decimal(270)),
        ]
        assert derive(f5).incidence_percent == Decimal("19.88")  # 270 / 1358 = 19.9 %

    def test_f6_ncms_participants_above_the_population(self) -> None:
        f6 = DeclaredFigures(households=428, population=1560, ncms_participants=1680, dibao_people=53)
        flags = check(f6, None)
        (ncms,) = flags
        assert ncms.code is ProfileFlag.coverage_above_population and ncms.field == "ncms_participants"
        assert (ncms.value, ncms.compared_with) == (Decimal(1680), Decimal(1560))
        assert "1680" in ncms.message and "1560" in ncms.message


class TestRegistry:
    def test_declared_figures_against_the_registry(self) -> None:
        declared = DeclaredFigures(
            population=1718, poor_households=107, poor_people=242, incidence_percent=Decimal("14.1")
        )
        flags = check(declared, RegistryFigures(100, 230, 1700, Decimal("13.53")))
        assert _codes(flags) == [
            "incidence_differs_from_registry",
            "poor_households_differ_from_registry",
            "poor_people_differ_from_registry",
            "population_differs_from_registry",
        ]
        people = _only(flags, ProfileFlag.poor_people_differ_from_registry)[0]
        assert (people.value, people.compared_with) == (Decimal(242), Decimal(230))

    def test_agreement_raises_nothing(self) -> None:
        declared = DeclaredFigures(
            population=1718, poor_households=107, poor_people=242, incidence_percent=Decimal("14.1")
        )
        assert check(declared, RegistryFigures(107, 242, 1718, Decimal("14.09"))) == []

    def test_no_population_in_the_registry_checks_no_population(self) -> None:
        declared = DeclaredFigures(population=1718, poor_people=242)
        assert check(declared, RegistryFigures(0, 242, None, None)) == []


class TestInternalConsistency:
    @pytest.mark.parametrize(
        ("declared", "flagged"),
        [("14.1", False), ("14.18", False), ("13.99", False), ("14.19", True), ("77.8", True)],
    )
    def test_incidence_within_a_tenth_of_a_point(self, declared: str, flagged: bool) -> None:
        figures = DeclaredFigures(population=1718, poor_people=242, incidence_percent=Decimal(declared))
        assert (_codes(check(figures, None)) == ["incidence_inconsistent"]) is flagged

    def test_counts_above_their_wholes(self) -> None:
        figures = DeclaredFigures(
            households=100,
            population=400,
            resident_population=450,
            poor_households=120,
            pension_participants=401,
            safe_water_people=500,
            arable_total_mu=Decimal(100),
            paddy_mu=Decimal(70),
            dry_mu=Decimal(40),
            dangerous_houses=5,
            dangerous_houses_renovated=6,
        )
        flags = check(figures, None)
        assert _codes(flags) == [
            "arable_parts_exceed_total",
            "coverage_above_population",
            "poor_households_above_households",
            "renovated_above_dangerous_houses",
            "resident_above_population",
        ]
        coverage = {f.field for f in _only(flags, ProfileFlag.coverage_above_population)}
        assert coverage == {"pension_participants", "safe_water_people"}

    def test_nothing_declared_nothing_flagged(self) -> None:
        assert check(DeclaredFigures(), None) == []
        assert derive(DeclaredFigures()).incidence_percent is None


class TestMoneyAndAccess:
    def test_fen(self) -> None:
        assert fen(Decimal("5463.00")) == 546_300 and fen(Decimal("0.01")) == 1
        assert yuan(175_000_000) == Decimal("1750000.00")

    def test_who_writes_and_reads(self) -> None:
        require_editor(Role.village_officer)
        require_editor(Role.county_admin)
        with pytest.raises(NotAllowed):
            require_editor(Role.township_officer)
        require_reader(Role.province_system)
        with pytest.raises(NotAllowed):
            require_reader(Role.cadre)

    def test_profiles_are_of_villages(self) -> None:
        require_village("451025100201")
        with pytest.raises(Invalid) as raised:
            require_village("451025100000")
        assert raised.value.code == "not_a_village"
