"""Issue #13 items 6, 7, 8 and 16 on the pure rules (services/registry/identification/domain.py): the exit's
democratic review, the exit-test holes, return eligibility and the dead ends after rejection or removal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.registry.households import domain as households
from services.registry.identification import domain
from services.registry.identification.domain import Command, ProposeExit, Status, parse_step
from shared.errors import Invalid, Refused
from tests.registry.test_identification_domain import (
    COUNTY,
    SURVEY,
    TOWNSHIP,
    VILLAGE,
    History,
    exit_member,
    passing_exit_test,
    to_registered,
)


class TestExitDemocraticReview:
    """Item 16: the exit list is fixed by the assembly like the identification list (§2.13 step 3)."""

    @pytest.mark.parametrize(
        ("attendees", "votes_for"),
        [(None, None), (0, 0), (20, 21), (20, -1), (20, 10)],  # missing, nobody, over, negative, no majority
    )
    def test_attendance_and_votes_are_required_and_checked(
        self, attendees: int | None, votes_for: int | None
    ) -> None:
        h = History()
        to_registered(h)
        h.refused(
            "votes_invalid",
            Command.propose_exit,
            VILLAGE,
            minutes_ref="m",
            attendees=attendees,
            votes_for=votes_for,
            exit_test=passing_exit_test(),
        )

    def test_attendance_votes_and_reason_are_stored_on_the_event(self) -> None:
        h = History()
        to_registered(h)
        h.do(
            Command.propose_exit,
            VILLAGE,
            reason="2014 年度脱贫评议",
            minutes_ref="m",
            attendees=30,
            votes_for=16,
            exit_test=passing_exit_test(),
        )
        event = h.events[-1]
        assert event.data["attendees"] == 30 and event.data["votes_for"] == 16
        assert event.reason == "2014 年度脱贫评议"

    def test_parsed_from_the_request(self) -> None:
        step = parse_step(Command.propose_exit, {"minutes_ref": "m", "attendees": "30", "votes_for": 20})
        assert isinstance(step, ProposeExit) and (step.attendees, step.votes_for) == (30, 20)
        with pytest.raises(Invalid) as info:
            parse_step(Command.propose_exit, {"attendees": "many"})
        assert info.value.code == "data_invalid"


def assemble(**changes: Any) -> domain.ExitTest:
    values: dict[str, Any] = {
        "per_capita_net_income": Decimal("3000"),
        "income_line": Decimal("2736"),
        "survey": SURVEY,
        "members": [exit_member(), exit_member("none")],
        "dangerous_house_grade": "B",
        "poverty_attribute": "general_poor",
        "categories": {},
    }
    values.update(changes)
    return domain.assemble_exit_test(**values)


TEST_DAY = date(2015, 10, 8)


def child(school_status: str | None, born: str = "2006-03") -> domain.ExitMember:
    return domain.ExitMember.of(
        "none",
        {"insurance": {"ncms_enrolled": True}},
        birth_year_month=born,
        school_status=school_status,
        on=TEST_DAY,
    )


class TestExitTestHoles:
    """Item 6 (§6.5-A, invariant 22)."""

    def test_an_ungraded_house_needs_the_survey_answer(self) -> None:
        unknown = assemble(dangerous_house_grade=None)
        assert not unknown.housing_safe and "housing_unknown" in unknown.failures()
        surveyed = assemble(
            dangerous_house_grade=None,
            survey=domain.ExitSurvey(True, True, True, housing_safe=True),
        )
        assert surveyed.housing_safe and surveyed.housing_basis == "survey" and surveyed.failures() == []
        unsafe = assemble(dangerous_house_grade=None, survey=domain.ExitSurvey(True, True, True, False))
        assert "housing_safe" in unsafe.failures()
        # A grade decides whatever the survey says.
        graded = assemble(dangerous_house_grade="D", survey=domain.ExitSurvey(True, True, True, True))
        assert not graded.housing_safe and graded.housing_basis == "grade"
        with pytest.raises(Invalid) as info:
            assemble(dangerous_house_grade=None, survey=domain.ExitSurvey(True, True, True, "yes"))
        assert info.value.code == "data_invalid"

    def test_a_compulsory_age_child_not_in_school_fails(self) -> None:
        assert child("not_in_school").out_of_school
        assert child(None).out_of_school  # unknown school status: not shown in school
        assert not child("primary").out_of_school
        assert not child("not_in_school", born="1998-01").out_of_school  # 17: past compulsory age
        assert not child("not_in_school", born="2010-01").out_of_school  # 5: before it
        assert domain.age_on("2009-10", TEST_DAY) == 6 and domain.age_on("2009-11", TEST_DAY) == 5
        test = assemble(members=[exit_member(), child("not_in_school")])
        assert "children_in_school" in test.failures()
        assert assemble(members=[exit_member(), child("junior_middle")]).failures() == []

    def test_the_income_year_is_the_exit_year(self) -> None:
        now = datetime(2015, 10, 8, 2, tzinfo=UTC)
        assert domain.exit_income_year(None, now) == 2015
        assert domain.exit_income_year(2015, now) == 2015
        for year in (2099, 2014):
            with pytest.raises(Invalid) as info:
                domain.exit_income_year(year, now)
            assert info.value.code == "income_year_invalid" and info.value.details["expected"] == 2015
        # 1 January in China is already the next year.
        assert domain.exit_income_year(None, datetime(2015, 12, 31, 16, tzinfo=UTC)) == 2016

    def test_the_exit_line_is_never_below_the_identification_line(self) -> None:
        policy = {"exit_income_line_yuan": 2000, "identification_income_line_yuan": 2736}
        assert domain.exit_income_line(policy) == 2736
        assert domain.exit_income_line({"exit_income_line_yuan": 2000}) == 2000


def exited(h: History) -> None:
    to_registered(h)
    h.now = datetime(2014, 11, 3, tzinfo=UTC)
    h.do(Command.propose_exit, VILLAGE, minutes_ref="m", exit_test=passing_exit_test())
    h.do(Command.start_notice, VILLAGE, places=["administrative_village"])
    h.wait(days=8)
    h.do(Command.township_review, TOWNSHIP, approve=True)
    h.do(Command.start_notice, VILLAGE, places=["administrative_village"])
    h.wait(days=8)
    h.do(Command.county_review, COUNTY, approve=True)
    h.do(Command.announce, COUNTY)
    h.wait(days=200)


ABOVE = domain.ReturnEligibility(income_line_yuan=2736, income_year=2015, per_capita_net_income_yuan=3000)
NO_SURVEY = domain.ReturnEligibility(income_line_yuan=2736)


class TestReturnEligibility:
    """Item 7 (§2.14): 因灾、因病、因学返贫等符合贫困户识别标准的农户 [S 002]."""

    def test_income_above_the_line_is_refused(self) -> None:
        h = History()
        exited(h)
        error = h.refused(
            "return_not_eligible", Command.apply_return, VILLAGE, cause="illness", eligibility=ABOVE
        )
        assert (
            error.details["per_capita_net_income_yuan"] == 3000 and error.details["income_line_yuan"] == 2736
        )
        h.refused(
            "income_survey_required", Command.apply_return, VILLAGE, cause="illness", eligibility=NO_SURVEY
        )
        # "other" is no shock: evidence does not stand in for the income survey.
        h.refused(
            "return_not_eligible",
            Command.apply_return,
            VILLAGE,
            cause="other",
            evidence_ref="x",
            eligibility=ABOVE,
        )

    def test_a_survey_under_the_line_or_a_shock_with_evidence(self) -> None:
        h = History()
        exited(h)
        assert h.do(Command.apply_return, VILLAGE, cause="illness").status is Status.return_applied
        assert h.events[-1].data["eligibility"]["basis"] == "income"
        h2 = History()
        exited(h2)
        h2.do(
            Command.apply_return,
            VILLAGE,
            cause="disaster",
            evidence_ref="乡民政办灾情报告 2015-07",
            eligibility=ABOVE,
        )
        stored = h2.events[-1].data
        assert stored["eligibility"]["basis"] == "shock" and stored["evidence_ref"].startswith("乡民政办")

    def test_the_eligibility_must_be_read(self) -> None:
        h = History()
        exited(h)
        with pytest.raises(Invalid) as info:
            domain.decide(h.state, domain.ApplyReturn(cause="illness"), VILLAGE, h.now)
        assert info.value.code == "income_survey_required"


class TestAfterRejection:
    """Item 8: a rejected household applies again in a later year's round."""

    def rejected(self) -> History:
        h = History()
        h.do(Command.apply, VILLAGE)
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=3, approved=False)
        assert h.state.status is Status.rejected and h.state.rejected_at == h.now
        return h

    def test_not_in_the_same_round(self) -> None:
        h = self.rejected()
        h.now = datetime(2014, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 on 31 December, China time
        error = h.refused("reapply_too_early", Command.apply, VILLAGE)
        assert error.details["earliest_year"] == 2015

    def test_in_a_later_round_and_the_quota_year_moves(self) -> None:
        h = self.rejected()
        h.now = datetime(2014, 12, 31, 16, 0, tzinfo=UTC)  # 1 January 2015, China time
        before = h.state
        event = domain.decide(before, domain.Apply(), VILLAGE, h.now)
        after = domain.advance(before, event)
        assert after.status is Status.applied
        assert domain.outcome(domain.Apply(), after, now=h.now, year=2015).quota_year == 2015
        # A first application keeps the household's quota year.
        assert domain.outcome(domain.Apply(), domain.WorkflowState(), now=h.now, year=2015).quota_year is None
        h.do(Command.apply, VILLAGE)
        h.refused("wrong_state", Command.apply, VILLAGE)

    def test_a_rejected_return_applies_to_return_again(self) -> None:
        h = History()
        exited(h)
        h.do(Command.apply_return, VILLAGE, cause="illness")
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=2, approved=False)
        h.refused("wrong_state", Command.apply, VILLAGE)
        h.refused("reapply_too_early", Command.apply_return, VILLAGE, cause="illness")
        h.now = datetime(2016, 2, 1, tzinfo=UTC)
        assert h.do(Command.apply_return, VILLAGE, cause="illness").status is Status.return_applied

    def test_a_removed_household_never_applies_again(self) -> None:
        h = History()
        to_registered(h)
        h.do(Command.remove, COUNTY, reason="家有商品房")
        h.now = datetime(2016, 1, 5, tzinfo=UTC)
        h.refused("wrong_state", Command.apply, VILLAGE)


class TestReleasedMembers:
    def test_released_is_the_registrys_own_leaving_reason(self) -> None:
        today = date(2015, 1, 1)
        households.check_leave("son", today, today=today, reason="marriage_out")
        with pytest.raises(Invalid) as info:
            households.check_leave("son", today, today=today, reason="released")
        assert info.value.code == "left_reason_reserved"


class TestImportedRejected:
    def test_an_imported_rejected_household_reapplies_in_a_later_year(self) -> None:
        @dataclass
        class Recorded:
            command: str
            at: datetime
            status_after: str
            actor: str = "import"
            role: str = "county_admin"
            reason: str | None = None
            data: dict[str, Any] = field(default_factory=dict)

        state = domain.state_of([Recorded("import", datetime(2014, 3, 1, tzinfo=UTC), "rejected")])
        with pytest.raises(Refused) as info:
            domain.decide(state, domain.Apply(), VILLAGE, datetime(2014, 6, 1, tzinfo=UTC))
        assert info.value.code == "reapply_too_early"
        event = domain.decide(state, domain.Apply(), VILLAGE, datetime(2015, 6, 1, tzinfo=UTC))
        assert domain.advance(state, event).status is Status.applied
