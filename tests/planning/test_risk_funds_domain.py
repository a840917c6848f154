"""Risk fund rules (services/planning/risk_funds/domain.py, DOMAIN.md §5.12, invariant 42) — no database."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.planning.risk_funds import domain
from shared.errors import Invalid, Refused
from shared.labels import lookup
from shared.roles import Role

TODAY = date(2015, 8, 31)
VILLAGE = "451025100201"


def project(category: str = "industry_breeding", village: str = VILLAGE) -> domain.ProjectOfVillage:
    return domain.ProjectOfVillage(uuid.uuid4(), village, category)


def event(village: str = VILLAGE, occurred_on: date = date(2015, 7, 10)) -> domain.EventFacts:
    return domain.EventFacts(uuid.uuid4(), village, occurred_on)


class TestCodeLists:
    def test_registered_with_zh_labels(self) -> None:
        for name in ("planning_risk_fund_entry_kind", "planning_force_majeure_kind"):
            found = lookup(name)
            assert found is not None
            assert all(member.label for member in found.enum)
        assert domain.ForceMajeureKind.animal_epidemic.label == "动物疫病"


class TestWho:
    def test_payouts_are_approved_above_the_village(self) -> None:
        assert Role.village_officer in domain.KEEPERS
        assert Role.village_officer not in domain.PAYOUT_APPROVERS
        assert Role.cadre not in domain.READERS


class TestContribution:
    def test_from_a_breeding_project_of_the_village(self) -> None:
        domain.contribution(VILLAGE, project(), 50_000, TODAY, TODAY, household_id=None, beneficiary=False)
        domain.contribution(
            VILLAGE, project(), 50_000, TODAY, TODAY, household_id=uuid.uuid4(), beneficiary=True
        )

    def test_only_planting_and_breeding_projects_pay(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.contribution(
                VILLAGE, project("road"), 1, TODAY, TODAY, household_id=None, beneficiary=False
            )
        assert caught.value.code == "not_a_productive_project"

    def test_the_project_and_household_belong_to_the_village(self) -> None:
        with pytest.raises(Invalid) as caught:
            domain.contribution(
                VILLAGE,
                project(village="451025100202"),
                1,
                TODAY,
                TODAY,
                household_id=None,
                beneficiary=False,
            )
        assert caught.value.code == "project_of_other_village"
        with pytest.raises(Invalid) as caught:
            domain.contribution(
                VILLAGE, project(), 1, TODAY, TODAY, household_id=uuid.uuid4(), beneficiary=False
            )
        assert caught.value.code == "not_a_beneficiary"

    def test_positive_and_not_in_the_future(self) -> None:
        with pytest.raises(Invalid):
            domain.contribution(VILLAGE, project(), 0, TODAY, TODAY, household_id=None, beneficiary=False)
        with pytest.raises(Invalid) as caught:
            domain.contribution(
                VILLAGE, project(), 1, date(2015, 9, 1), TODAY, household_id=None, beneficiary=False
            )
        assert caught.value.code == "date_in_future"


class TestEvents:
    def test_a_village_event_not_in_the_future(self) -> None:
        domain.check_event(VILLAGE, TODAY, TODAY)
        with pytest.raises(Invalid):
            domain.check_event("451025100000", TODAY, TODAY)
        with pytest.raises(Invalid):
            domain.check_event(VILLAGE, date(2016, 1, 1), TODAY)


class TestPayout:
    def test_within_the_balance(self) -> None:
        domain.payout(VILLAGE, event(), 10_000, 10_000, TODAY, TODAY)
        with pytest.raises(Refused) as caught:
            domain.payout(VILLAGE, event(), 10_000, 10_001, TODAY, TODAY)
        assert caught.value.code == "insufficient_balance"
        assert caught.value.details == {"balance_yuan": "100.00", "amount_yuan": "100.01"}

    def test_linked_to_an_event_of_the_village_after_it(self) -> None:
        with pytest.raises(Invalid) as caught:
            domain.payout(VILLAGE, event("451025100202"), 10, 1, TODAY, TODAY)
        assert caught.value.code == "event_of_other_village"
        with pytest.raises(Invalid) as caught:
            domain.payout(VILLAGE, event(), 10, 1, date(2015, 7, 9), TODAY)
        assert caught.value.code == "payout_before_event"
