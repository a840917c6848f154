"""Issue #13 items 1 and 4 without a database: the identification income criterion (§2.8, invariant 13) and the
co-signature of two people of two bodies (§2.9 step 4) in services/registry/identification/domain.py, and the
future-year refusals of services/registry/households/domain.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.registry.households import domain as households
from services.registry.identification import domain
from services.registry.identification.domain import (
    Actor,
    Command,
    Cosign,
    Event,
    IdentificationIncome,
    Status,
    VillageReview,
    WorkflowState,
    decide,
    replay,
)
from shared.errors import DomainError, Invalid, NotAllowed, Refused
from shared.roles import Role

CLERK = Actor("clerk", Role.village_officer)
TEAM = Actor("team", Role.village_officer)
T0 = datetime(2014, 6, 2, 2, 0, tzinfo=UTC)
REVIEW = VillageReview(minutes_ref="m", attendees=10, votes_for=6, approved=True)


def income(per_capita: str | None, *, line: int | None = 2736, year: int = 2014) -> IdentificationIncome:
    return IdentificationIncome(
        identification_year=year,
        reference_year=domain.identification_reference_year(year),
        income_line_yuan=line,
        per_capita_net_income_yuan=None if per_capita is None else Decimal(per_capita),
    )


def applied() -> WorkflowState:
    return replay([decide(WorkflowState(), domain.Apply(), CLERK, T0)])


def refused(
    kind: type[DomainError], code: str, state: WorkflowState, step: domain.Step, actor: Actor
) -> DomainError:
    with pytest.raises(DomainError) as info:
        decide(state, step, actor, T0)
    assert (type(info.value), info.value.code) == (kind, code), info.value
    return info.value


class TestReferenceYear:
    def test_the_year_before(self) -> None:
        assert domain.identification_reference_year(2014) == 2013


class TestIdentificationIncome:
    def test_under_the_line_passes_and_the_event_shows_figure_year_and_line(self) -> None:
        event = decide(applied(), replace(REVIEW, income=income("2000.50")), CLERK, T0)
        assert event.data["income"] == {
            "identification_year": 2014,
            "reference_year": 2013,
            "income_line_yuan": 2736,
            "per_capita_net_income_yuan": "2000.50",
            "below_line": True,
        }

    def test_no_income_record_is_refused(self) -> None:
        error = refused(
            Refused, "identification_income_missing", applied(), replace(REVIEW, income=income(None)), CLERK
        )
        assert error.details["reference_year"] == 2013

    def test_no_income_facts_at_all_is_refused(self) -> None:
        refused(Refused, "identification_income_missing", applied(), REVIEW, CLERK)

    @pytest.mark.parametrize("per_capita", ["50000", "2736", "2736.00"])
    def test_not_under_the_line_is_refused(self, per_capita: str) -> None:
        error = refused(
            Refused,
            "identification_income_not_under_line",
            applied(),
            replace(REVIEW, income=income(per_capita)),
            CLERK,
        )
        assert error.details == {
            "per_capita_net_income_yuan": str(Decimal(per_capita)),
            "income_line_yuan": 2736,
            "reference_year": 2013,
        }

    def test_just_under_the_line_passes(self) -> None:
        decide(applied(), replace(REVIEW, income=income("2735.99")), CLERK, T0)

    def test_no_line_for_the_reference_year_is_refused(self) -> None:
        refused(Refused, "policy_missing", applied(), replace(REVIEW, income=income("100", line=None)), CLERK)

    def test_a_future_identification_year_is_refused(self) -> None:
        refused(
            Refused,
            "identification_year_future",
            applied(),
            replace(REVIEW, income=income("100", year=2015)),
            CLERK,
        )

    def test_a_rejecting_review_needs_no_income(self) -> None:
        rejection = VillageReview(minutes_ref="m", attendees=10, votes_for=3, approved=False)
        assert decide(applied(), rejection, CLERK, T0).data["approved"] is False

    def test_a_return_is_not_judged_again_at_the_review(self) -> None:
        state = WorkflowState(status=Status.return_applied, chain=domain.Chain.return_)
        decide(state, REVIEW, CLERK, T0)  # its income was judged when applied (§2.14)


def reviewed() -> WorkflowState:
    state = applied()
    return domain.advance(state, decide(state, replace(REVIEW, income=income("2000")), CLERK, T0))


def cosign(state: WorkflowState, party: str, actor: Actor, *, on_team: bool) -> WorkflowState:
    return domain.advance(state, decide(state, Cosign(party=party, on_work_team=on_team), actor, T0))


class TestCosign:
    def test_two_people_of_two_bodies(self) -> None:
        state = cosign(reviewed(), "village_committee", CLERK, on_team=False)
        state = cosign(state, "work_team", TEAM, on_team=True)
        assert state.cosigned_by == {"village_committee", "work_team"}
        assert state.cosigners == {("village_committee", "clerk"), ("work_team", "team")}

    def test_the_work_team_signer_is_on_the_village_work_team(self) -> None:
        refused(
            NotAllowed,
            "cosign_not_work_team",
            reviewed(),
            Cosign(party="work_team", on_work_team=False),
            CLERK,
        )
        refused(NotAllowed, "cosign_not_work_team", reviewed(), Cosign(party="work_team"), CLERK)

    def test_a_work_team_member_does_not_sign_for_the_committee(self) -> None:
        refused(
            NotAllowed,
            "cosign_not_village_committee",
            reviewed(),
            Cosign(party="village_committee", on_work_team=True),
            TEAM,
        )

    def test_one_person_never_signs_for_both(self) -> None:
        state = cosign(reviewed(), "village_committee", CLERK, on_team=False)
        refused(Refused, "cosign_same_person", state, Cosign(party="work_team", on_work_team=True), CLERK)
        state = cosign(reviewed(), "work_team", TEAM, on_team=True)
        refused(
            Refused, "cosign_same_person", state, Cosign(party="village_committee", on_work_team=False), TEAM
        )

    def test_the_same_person_may_sign_again_for_the_same_body(self) -> None:
        state = cosign(reviewed(), "village_committee", CLERK, on_team=False)
        cosign(state, "village_committee", CLERK, on_team=False)

    def test_signatures_of_an_older_review_do_not_count(self) -> None:
        state = cosign(reviewed(), "village_committee", CLERK, on_team=False)
        later = Event(Command.village_review, T0, "clerk", Role.village_officer, data={"approved": True})
        assert domain.advance(state, later).cosigners == frozenset()

    def test_the_request_cannot_claim_the_work_team(self) -> None:
        step = domain.parse_step(Command.cosign, {"party": "work_team", "on_work_team": True})
        assert step == Cosign(party="work_team")


class TestFutureYears:
    TODAY = date(2014, 5, 5)

    def test_income_of_a_later_year_is_refused(self) -> None:
        households.check_income_year(2014, self.TODAY)
        households.check_income_year(2013, self.TODAY)
        with pytest.raises(Invalid) as info:
            households.check_income_year(2015, self.TODAY)
        assert info.value.code == "income_year_future"

    def test_a_future_identification_year_is_refused(self) -> None:
        households.check_identification_year(2014, self.TODAY)
        with pytest.raises(Invalid) as info:
            households.check_identification_year(2015, self.TODAY)
        assert info.value.code == "identification_year_future"
