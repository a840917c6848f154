"""Yearly exit targets (exit_targets/domain.py), pure: who sets which level, sums, the 平均分配 warning, progress."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.registry.exit_targets.domain import (
    EQUAL_DISTRIBUTION,
    SHORTFALL,
    ExitCount,
    SetExitTarget,
    TargetFigures,
    check_against_children,
    check_against_parent,
    check_command,
    distribution_warnings,
    progress,
    require_setter,
    target_parent,
    year_bounds,
)
from shared.errors import Invalid, NotAllowed, Refused
from shared.roles import RegionLevel, Role

COUNTY, TOWNSHIP, VILLAGE = "451025000000", "451025100000", "451025100201"


def _command(
    code: str, level: RegionLevel, parent: str | None, people: int, households: int
) -> SetExitTarget:
    return SetExitTarget(code, level, parent, 2015, TargetFigures(people, households))


class TestWhoSets:
    @pytest.mark.parametrize(
        ("role", "level"),
        [
            (Role.county_admin, RegionLevel.county),
            (Role.county_admin, RegionLevel.township),
            (Role.township_officer, RegionLevel.village),
        ],
    )
    def test_the_level_above_sets_as_for_quotas(self, role: Role, level: RegionLevel) -> None:
        require_setter(role, level)

    @pytest.mark.parametrize(
        ("role", "level"),
        [
            (Role.county_admin, RegionLevel.village),  # the township splits to its villages (§2.13 step 1)
            (Role.township_officer, RegionLevel.township),
            (Role.village_officer, RegionLevel.village),
            (Role.cadre, RegionLevel.township),
            (Role.province_system, RegionLevel.county),
        ],
    )
    def test_others_may_not(self, role: Role, level: RegionLevel) -> None:
        with pytest.raises(NotAllowed) as caught:
            require_setter(role, level)
        assert caught.value.code == "exit_target_setter_required"

    def test_the_parent_that_bounds_a_target(self) -> None:
        assert target_parent(_command(VILLAGE, RegionLevel.village, TOWNSHIP, 1, 1)) == TOWNSHIP
        assert target_parent(_command(TOWNSHIP, RegionLevel.township, COUNTY, 1, 1)) == COUNTY
        assert target_parent(_command(COUNTY, RegionLevel.county, "451000000000", 1, 1)) is None


class TestSums:
    def test_households_never_exceed_people(self) -> None:
        check_command(_command(VILLAGE, RegionLevel.village, TOWNSHIP, 3, 3))
        with pytest.raises(Invalid) as caught:
            check_command(_command(VILLAGE, RegionLevel.village, TOWNSHIP, 3, 4))
        assert caught.value.code == "households_exceed_people"

    def test_children_total_at_most_the_parent_in_people(self) -> None:
        parent = TargetFigures(100, 30)
        check_against_parent(TOWNSHIP, 2015, parent, TargetFigures(60, 10), TargetFigures(40, 20))
        with pytest.raises(Invalid) as caught:
            check_against_parent(TOWNSHIP, 2015, parent, TargetFigures(60, 10), TargetFigures(41, 5))
        error = caught.value
        assert error.code == "exit_target_exceeds_parent"
        assert error.details == {
            "field": "/people",
            "parent": TOWNSHIP,
            "measure": "people",
            "parent_target": 100,
            "would_be_sum": 101,
        }

    def test_children_total_at_most_the_parent_in_households(self) -> None:
        with pytest.raises(Invalid) as caught:
            check_against_parent(
                TOWNSHIP, 2015, TargetFigures(100, 30), TargetFigures(10, 25), TargetFigures(10, 6)
            )
        assert (caught.value.details["measure"], caught.value.details["would_be_sum"]) == ("households", 31)

    def test_the_parent_target_comes_first(self) -> None:
        with pytest.raises(Refused) as caught:
            check_against_parent(TOWNSHIP, 2015, None, TargetFigures(0, 0), TargetFigures(1, 1))
        assert caught.value.code == "exit_target_parent_missing"

    def test_a_target_never_falls_below_its_children(self) -> None:
        check_against_children(TOWNSHIP, TargetFigures(50, 10), TargetFigures(50, 10))
        with pytest.raises(Invalid) as caught:
            check_against_children(TOWNSHIP, TargetFigures(50, 10), TargetFigures(49, 10))
        assert caught.value.code == "exit_target_below_children"
        assert (caught.value.details["parent_target"], caught.value.details["would_be_sum"]) == (49, 50)
        with pytest.raises(Invalid):
            check_against_children(TOWNSHIP, TargetFigures(50, 10), TargetFigures(60, 9))


class TestEqualDistribution:
    def test_one_child_is_no_split(self) -> None:
        assert distribution_warnings([TargetFigures(10, 3)]) == []
        assert distribution_warnings([]) == []

    def test_every_child_the_same_is_warned_not_refused(self) -> None:
        assert distribution_warnings([TargetFigures(10, 3)] * 3) == [EQUAL_DISTRIBUTION]

    def test_the_same_people_or_the_same_households(self) -> None:
        assert distribution_warnings([TargetFigures(10, 3), TargetFigures(10, 4)]) == [EQUAL_DISTRIBUTION]
        assert distribution_warnings([TargetFigures(10, 3), TargetFigures(12, 3)]) == [EQUAL_DISTRIBUTION]

    def test_a_split_by_need_is_not_warned(self) -> None:
        assert distribution_warnings([TargetFigures(10, 3), TargetFigures(12, 4), TargetFigures(10, 2)]) == []


class TestProgress:
    def test_the_shortfall_is_what_the_exits_still_lack(self) -> None:
        p = progress(TargetFigures(12, 4), ExitCount(10, 3), year=2015, today=date(2015, 6, 1))
        assert p.shortfall == TargetFigures(2, 1)
        assert p.flags == ()  # the year is under way: exits may still come

    def test_flagged_once_the_year_is_over(self) -> None:
        p = progress(TargetFigures(12, 4), ExitCount(10, 3), year=2015, today=date(2016, 1, 1))
        assert p.flags == (SHORTFALL,)
        assert (
            progress(TargetFigures(12, 4), ExitCount(10, 4), year=2015, today=date(2015, 12, 31)).flags == ()
        )

    def test_more_exits_than_the_target_are_no_negative_shortfall(self) -> None:
        p = progress(TargetFigures(5, 2), ExitCount(10, 3), year=2015, today=date(2016, 3, 1))
        assert (p.shortfall, p.flags) == (TargetFigures(0, 0), ())

    def test_no_target_is_never_filled_in(self) -> None:
        p = progress(None, ExitCount(10, 3), year=2015, today=date(2016, 3, 1))
        assert (p.shortfall, p.flags, p.exited) == (None, (), ExitCount(10, 3))

    def test_the_year_is_the_china_year(self) -> None:
        """Invariant 19: county-reviewed by the end of 31 December, China time (16:00 UTC)."""
        assert year_bounds(2015) == (
            datetime(2014, 12, 31, 16, tzinfo=UTC),
            datetime(2015, 12, 31, 16, tzinfo=UTC),
        )
