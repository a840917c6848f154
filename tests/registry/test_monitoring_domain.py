"""The monitoring rules (监测, DOMAIN.md §2.17, §3.3, invariants 20 and 33) with no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.registry.monitoring import domain
from services.registry.monitoring.domain import Half, OverdueRound, OverdueState
from shared.errors import Invalid, NotAllowed, Refused
from shared.roles import Role

XINJING = ("451025100000", "新靖镇")
HUADONG = ("451025101000", "化峒镇")


class TestRounds:
    def test_due_at_the_end_of_june_and_december(self) -> None:
        assert domain.due_date(2015, Half.H1) == date(2015, 6, 30)
        assert domain.due_date(2015, Half.H2) == date(2015, 12, 31)

    def test_run_by_township_officers_and_county_admins(self) -> None:
        domain.require_monitor(Role.township_officer)
        domain.require_monitor(Role.county_admin)
        for role in (Role.village_officer, Role.cadre, Role.province_system):
            with pytest.raises(NotAllowed):
                domain.require_monitor(role)

    def test_of_a_township(self) -> None:
        domain.require_township(XINJING[0])
        with pytest.raises(Invalid) as err:
            domain.require_township("451025100201")
        assert err.value.code == "not_a_township" and err.value.details == {"field": "/township_code"}

    def test_open_until_closed(self) -> None:
        domain.require_open(None)
        with pytest.raises(Refused) as err:
            domain.require_open(datetime(2015, 12, 20, tzinfo=UTC))
        assert err.value.code == "round_closed" and err.value.message == "the round is closed"
        with pytest.raises(Refused) as closing:
            domain.require_open(datetime(2015, 12, 20, tzinfo=UTC), closing=True)
        assert closing.value.message == "the round is closed already"


class TestOverdue:
    """Invariant 20: a round not closed by the end of its month is overdue."""

    def test_missing_open_and_late(self) -> None:
        rounds = {
            (XINJING[0], 2015, Half.H2): datetime(2015, 12, 20, 2, tzinfo=UTC),  # on time
            (HUADONG[0], 2015, Half.H1): None,  # still open
            (HUADONG[0], 2015, Half.H2): datetime(2016, 1, 5, tzinfo=UTC),  # late
        }
        late = domain.overdue([XINJING, HUADONG], rounds, date(2016, 1, 15))
        assert late == [
            OverdueRound(*XINJING, 2015, Half.H1, date(2015, 6, 30), OverdueState.missing),
            OverdueRound(*HUADONG, 2015, Half.H1, date(2015, 6, 30), OverdueState.open),
            OverdueRound(*HUADONG, 2015, Half.H2, date(2015, 12, 31), OverdueState.closed_late),
        ]

    def test_not_yet_due(self) -> None:
        assert domain.overdue([XINJING], {}, date(2015, 6, 30)) == []
        assert [o.half for o in domain.overdue([XINJING], {}, date(2015, 7, 1))] == [Half.H1]

    def test_from_the_first_year_any_round_was_held(self) -> None:
        rounds = {(HUADONG[0], 2014, Half.H1): datetime(2014, 6, 1, tzinfo=UTC)}
        years = [
            (o.township_code, o.year, o.half) for o in domain.overdue([XINJING], rounds, date(2015, 7, 1))
        ]
        assert years == [
            (XINJING[0], 2014, Half.H1),
            (XINJING[0], 2014, Half.H2),
            (XINJING[0], 2015, Half.H1),
        ]

    def test_due_date_counts_in_china_time(self) -> None:
        """Closed at 20:00 UTC on 30 June is 04:00 on 1 July in China: late."""
        rounds = {(XINJING[0], 2015, Half.H1): datetime(2015, 6, 30, 20, tzinfo=UTC)}
        late = domain.overdue([XINJING], rounds, date(2015, 7, 15))
        assert [(o.half, o.state) for o in late] == [(Half.H1, OverdueState.closed_late)]
        on_time = {(XINJING[0], 2015, Half.H1): datetime(2015, 6, 30, 15, tzinfo=UTC)}
        assert domain.overdue([XINJING], on_time, date(2015, 7, 15)) == []


class TestVisits:
    """§3.3 and invariant 33: fewer visits than `min_visits_per_household_per_year` are flagged."""

    def test_minimum_from_policy(self) -> None:
        assert domain.minimum_visits({"min_visits_per_household_per_year": 4}) == 4
        assert domain.minimum_visits({"min_visits_per_household_per_year": None}) == 0
        assert domain.minimum_visits({}) == 0

    def test_flags(self) -> None:
        assert domain.visit_flags(4, 4) == []
        assert domain.visit_flags(1, 4) == ["visits_below_minimum"]
        assert domain.visit_flags(0, 0) == []

    def test_in_force_during_the_year(self) -> None:
        assert domain.year_bounds(2015) == (date(2015, 1, 1), date(2015, 12, 31))


class TestMoney:
    def test_fen_and_yuan(self) -> None:
        assert domain.fen(Decimal("8000.00")) == 800_000
        assert str(domain.yuan(800_000)) == "8000" and str(domain.yuan(1234)) == "12.34"
