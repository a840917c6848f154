"""The help plan rules (一户一策, DOMAIN.md §4.3, invariants 34 and 35) with no database."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from services.registry.help_plans import domain
from services.registry.help_plans.domain import FundingSource, Measure, PlanCommand, PlanItemCommand
from shared.errors import Invalid, Missing, NotAllowed, Refused
from shared.roles import Role

WANG = uuid.uuid4()
GOATS = PlanItemCommand(
    item_id=None,
    measure=Measure.breeding,
    responsible_cadre_id=WANG,
    due_date=date(2015, 9, 30),
    expected_income_gain_yuan=Decimal("3000.00"),
    cost_yuan=Decimal("8000.00"),
    funding_source=FundingSource.credit,
    funding_amount_yuan=Decimal("8000.00"),
)
CLEANER = PlanItemCommand(
    item_id=None,
    measure=Measure.public_welfare_job,
    responsible_cadre_id=WANG,
    due_date=date(2015, 5, 31),
    expected_income_gain_yuan=Decimal("6000.00"),
)
PLAN = PlanCommand(year_from=2015, year_to=2016, target_exit_year=2016, items=[GOATS, CLEANER])


def version(
    command: PlanCommand = PLAN,
    *,
    identification_year: int = 2014,
    current: int = 0,
    previous: set[uuid.UUID] | None = None,
) -> domain.PlanTotals:
    return domain.new_version(
        command,
        identification_year=identification_year,
        current_version=current,
        previous_item_ids=previous or set(),
        known_cadres={WANG},
    )


def invalid(command: PlanCommand, *, identification_year: int = 2014, current: int = 0) -> Invalid:
    with pytest.raises(Invalid) as err:
        version(command, identification_year=identification_year, current=current)
    return err.value


class TestNewVersion:
    def test_valid(self) -> None:
        assert version() == domain.PlanTotals(version=1, expected_income_gain_fen=900_000, cost_fen=800_000)
        assert version(current=4).version == 5

    def test_years_run_forward(self) -> None:
        err = invalid(replace(PLAN, year_to=2014, target_exit_year=2014))
        assert err.code == "years_reversed" and err.details == {"field": "/year_to"}

    def test_exit_year_between_identification_and_plan_end(self) -> None:
        """Invariant 35."""
        err = invalid(replace(PLAN, target_exit_year=2013))
        assert err.code == "exit_year_out_of_range" and err.details == {"field": "/target_exit_year"}
        assert invalid(replace(PLAN, target_exit_year=2017)).code == "exit_year_out_of_range"
        assert invalid(PLAN, identification_year=2017).code == "exit_year_out_of_range"

    def test_due_within_the_plan_years(self) -> None:
        """Invariant 34: due date within the plan year(s)."""
        err = invalid(replace(PLAN, items=[CLEANER, replace(GOATS, due_date=date(2018, 1, 1))]))
        assert err.code == "due_outside_plan" and err.details == {"field": "/items/1/due_date"}

    def test_responsible_person_exists(self) -> None:
        err = invalid(replace(PLAN, items=[replace(GOATS, responsible_cadre_id=uuid.uuid4())]))
        assert err.code == "unknown_cadre" and err.details == {"field": "/items/0/responsible_cadre_id"}

    def test_items_that_cost_money_name_their_funding(self) -> None:
        """Invariant 34: if it costs money, a funding line."""
        err = invalid(replace(PLAN, items=[replace(GOATS, funding_source=None)]))
        assert err.code == "funding_required" and err.details == {"field": "/items/0/funding_source"}
        assert (
            invalid(replace(PLAN, items=[replace(GOATS, funding_amount_yuan=None)])).code
            == "funding_required"
        )
        version(replace(PLAN, items=[replace(CLEANER, funding_source=None)]))  # free: no funding line needed

    def test_items_keep_their_ids(self) -> None:
        kept = uuid.uuid4()
        version(replace(PLAN, items=[replace(GOATS, item_id=kept), CLEANER]), current=1, previous={kept})
        err = invalid(replace(PLAN, items=[replace(GOATS, item_id=uuid.uuid4())]), current=1)
        assert err.code == "unknown_item" and err.details == {"field": "/items/0/item_id"}

    def test_an_item_once(self) -> None:
        kept = uuid.uuid4()
        twice = replace(PLAN, items=[replace(GOATS, item_id=kept), replace(CLEANER, item_id=kept)])
        with pytest.raises(Invalid) as err:
            version(twice, current=1, previous={kept})
        assert err.value.code == "duplicate_item" and err.value.details == {"field": "/items"}


class TestWriters:
    def test_officers_and_cadres(self) -> None:
        for role in (Role.village_officer, Role.township_officer, Role.county_admin, Role.cadre):
            domain.require_writer(role)

    def test_others(self) -> None:
        for role in (Role.province_system, Role.service):
            with pytest.raises(NotAllowed) as err:
                domain.require_writer(role)
            assert err.value.message == f"role '{role}' may not change help plans"


class TestAcknowledge:
    def test_current_version(self) -> None:
        domain.acknowledge(2, 2)

    def test_older_version(self) -> None:
        with pytest.raises(Refused) as err:
            domain.acknowledge(2, 1)
        assert err.value.code == "not_current" and err.value.details == {"current_version": 2}

    def test_missing_version(self) -> None:
        with pytest.raises(Missing):
            domain.acknowledge(2, 3)
        with pytest.raises(Missing):
            domain.acknowledge(None, 1)


class TestProgress:
    item = uuid.uuid4()
    today = date(2015, 9, 21)

    def test_valid(self) -> None:
        domain.check_progress(self.item, {self.item}, percent=40, completed_on=None, today=self.today)
        domain.check_progress(self.item, {self.item}, percent=100, completed_on=self.today, today=self.today)

    def test_item_of_the_current_version(self) -> None:
        with pytest.raises(Missing):
            domain.check_progress(uuid.uuid4(), {self.item}, percent=40, completed_on=None, today=self.today)

    def test_completed_is_100_percent(self) -> None:
        with pytest.raises(Invalid) as err:
            domain.check_progress(
                self.item, {self.item}, percent=90, completed_on=self.today, today=self.today
            )
        assert err.value.details == {"field": "/percent"}

    def test_not_completed_in_the_future(self) -> None:
        with pytest.raises(Invalid) as err:
            domain.check_progress(
                self.item, {self.item}, percent=100, completed_on=date(2015, 9, 22), today=self.today
            )
        assert err.value.details == {"field": "/completed_on"}


class TestMoney:
    def test_fen_and_yuan(self) -> None:
        assert domain.fen(Decimal("3000.50")) == 300_050
        assert str(domain.yuan(900_000)) == "9000" and str(domain.yuan(12_345)) == "123.45"
