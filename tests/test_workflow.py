"""The identification / exit / return state machine (DOMAIN.md §2.9, §2.13-§2.15; invariants 14-19, 21-22).

An injectable clock drives the 7-full-day notice windows; every guard has a test that fails if it is removed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.identification.domain import (
    Actor,
    Command,
    Event,
    ExitTest,
    Status,
    WorkflowError,
    WorkflowPolicy,
    decide,
    effective_year,
    replay,
)
from shared.clock import CHINA_TIME
from shared.roles import Role

VILLAGE = Actor("clerk", Role.village_officer)
TOWNSHIP = Actor("officer", Role.township_officer)
COUNTY = Actor("admin", Role.county_admin)
CADRE = Actor("cadre", Role.cadre)
BOTH_PLACES = {"places": ["administrative_village", "natural_village"]}
# 2014-06-02 10:00 China time: a first notice posted then closes at 2014-06-10 00:00 China time.
T0 = datetime(2014, 6, 2, 2, 0, tzinfo=UTC)


class History:
    """A household's event list with a movable clock."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.now = T0

    @property
    def state(self):
        return replay(self.events)

    def do(self, command, actor, *, reason=None, policy=None, **data):
        event = decide(self.state, command, actor, self.now, reason=reason, data=data, policy=policy)
        self.events.append(event)
        return self.state

    def wait(self, **delta):
        self.now += timedelta(**delta)

    def refused(self, code, command, actor, **kwargs):
        before = list(self.events)
        with pytest.raises(WorkflowError) as info:
            self.do(command, actor, **kwargs)
        assert info.value.code == code, info.value
        assert self.events == before  # nothing written
        return info.value


def to_first_notice(h: History) -> None:
    h.do(Command.apply, VILLAGE)
    h.do(
        Command.village_review,
        VILLAGE,
        minutes_ref="minutes-2014-05",
        attendees=40,
        votes_for=31,
        approved=True,
    )
    h.do(Command.cosign, VILLAGE, party="village_committee")
    h.do(Command.cosign, VILLAGE, party="work_team")
    h.do(Command.start_notice, VILLAGE, **BOTH_PLACES)


def to_registered(h: History) -> None:
    to_first_notice(h)
    h.now = datetime(2014, 6, 10, tzinfo=CHINA_TIME).astimezone(UTC)
    h.do(Command.township_review, TOWNSHIP, approve=True)
    h.do(Command.start_notice, VILLAGE, places=["administrative_village"])
    h.wait(days=8)
    h.do(Command.county_review, COUNTY, approve=True)
    h.do(Command.announce, COUNTY)


def passing_exit_test(**overrides) -> ExitTest:
    values = dict(
        per_capita_net_income_yuan=3100,
        income_line_yuan=2736,
        food_and_clothing_secure=True,
        children_in_school=True,
        medical_insurance=True,
        housing_safe=True,
        has_labour_capacity=True,
        stable_income_source=True,
        social_security_covered=False,
        head_acknowledged=True,
    )
    values.update(overrides)
    return ExitTest(**values)


class TestIdentification:
    def test_application_to_announcement(self):
        h = History()
        to_registered(h)
        assert h.state.status is Status.registered
        assert [e.command for e in h.events] == [
            Command.apply,
            Command.village_review,
            Command.cosign,
            Command.cosign,
            Command.start_notice,
            Command.township_review,
            Command.start_notice,
            Command.county_review,
            Command.announce,
        ]

    def test_notice_needs_seven_full_days(self):
        h = History()
        to_first_notice(h)
        h.now = datetime(2014, 6, 9, 23, 59, tzinfo=CHINA_TIME).astimezone(UTC)  # 7th full day not over
        error = h.refused("notice_not_over", Command.township_review, TOWNSHIP, approve=True)
        assert error.details["earliest"] == "2014-06-09T16:00:00+00:00"
        h.now = datetime(2014, 6, 10, 0, 0, tzinfo=CHINA_TIME).astimezone(UTC)
        assert h.do(Command.township_review, TOWNSHIP, approve=True).status is Status.township_reviewed

    def test_notice_length_is_a_policy_parameter(self):
        h = History()
        to_first_notice(h)
        h.wait(days=4)
        policy = WorkflowPolicy(notice_days=3)
        assert (
            h.do(Command.township_review, TOWNSHIP, approve=True, policy=policy).status
            is Status.township_reviewed
        )

    def test_cosignature_of_both_parties_is_required(self):
        h = History()
        h.do(Command.apply, VILLAGE)
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=6, approved=True)
        h.do(Command.cosign, VILLAGE, party="village_committee")
        h.refused("cosign_required", Command.start_notice, VILLAGE, **BOTH_PLACES)

    def test_first_notice_also_in_the_natural_village(self):
        h = History()
        h.do(Command.apply, VILLAGE)
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=6, approved=True)
        h.do(Command.cosign, VILLAGE, party="village_committee")
        h.do(Command.cosign, VILLAGE, party="work_team")
        h.refused("places_invalid", Command.start_notice, VILLAGE, places=["administrative_village"])

    def test_democratic_review_needs_minutes_and_a_real_majority(self):
        h = History()
        h.do(Command.apply, VILLAGE)
        h.refused(
            "minutes_required", Command.village_review, VILLAGE, attendees=10, votes_for=6, approved=True
        )
        h.refused(
            "votes_invalid",
            Command.village_review,
            VILLAGE,
            minutes_ref="m",
            attendees=10,
            votes_for=5,
            approved=True,
        )
        h.refused(
            "votes_invalid",
            Command.village_review,
            VILLAGE,
            minutes_ref="m",
            attendees=10,
            votes_for=11,
            approved=True,
        )
        assert (
            h.do(
                Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=3, approved=False
            ).status
            is Status.rejected
        )

    @pytest.mark.parametrize(
        ("command", "actor", "data"),
        [
            (
                Command.township_review,
                VILLAGE,
                {"approve": True},
            ),  # village cannot take the township's decision
            (Command.township_review, COUNTY, {"approve": True}),  # no skipping levels
            (Command.county_review, TOWNSHIP, {"approve": True}),
            (Command.apply, CADRE, {}),
        ],
    )
    def test_only_the_assigned_level_decides(self, command, actor, data):
        h = History()
        if command is not Command.apply:
            to_first_notice(h)
            h.wait(days=9)
        h.refused("wrong_level", command, actor, **data)

    def test_wrong_order_is_refused(self):
        h = History()
        h.refused("wrong_state", Command.township_review, TOWNSHIP, approve=True)
        to_first_notice(h)
        h.wait(days=9)
        h.refused("wrong_state", Command.county_review, COUNTY, approve=True)
        h.refused("wrong_state", Command.announce, COUNTY)

    def test_rejection_needs_a_reason(self):
        h = History()
        to_first_notice(h)
        h.wait(days=9)
        h.refused("reason_required", Command.township_review, TOWNSHIP, approve=False)
        assert (
            h.do(Command.township_review, TOWNSHIP, approve=False, reason="income above the line").status
            is Status.rejected
        )

    def test_time_cannot_go_backwards(self):
        h = History()
        h.do(Command.apply, VILLAGE)
        h.now -= timedelta(seconds=1)
        h.refused(
            "out_of_order",
            Command.village_review,
            VILLAGE,
            minutes_ref="m",
            attendees=3,
            votes_for=2,
            approved=True,
        )


class TestObjections:
    def test_open_objection_blocks_and_dismissal_releases(self):
        h = History()
        to_first_notice(h)
        h.wait(days=1)
        h.do(Command.file_objection, VILLAGE, reason="owns a truck", objection_id="obj-1")
        assert h.state.display_status == "objection_pending"
        h.wait(days=8)
        h.refused("objection_open", Command.township_review, TOWNSHIP, approve=True)
        h.refused(
            "wrong_level",
            Command.resolve_objection,
            COUNTY,
            reason="checked",
            objection_id="obj-1",
            outcome="dismissed",
        )
        h.do(
            Command.resolve_objection,
            TOWNSHIP,
            reason="truck belongs to a cousin",
            objection_id="obj-1",
            outcome="dismissed",
        )
        assert h.do(Command.township_review, TOWNSHIP, approve=True).status is Status.township_reviewed

    def test_upheld_objection_rejects(self):
        h = History()
        to_first_notice(h)
        h.do(Command.file_objection, VILLAGE, reason="relative of the village director", objection_id="o")
        assert (
            h.do(
                Command.resolve_objection, TOWNSHIP, reason="confirmed", objection_id="o", outcome="upheld"
            ).status
            is Status.rejected
        )

    def test_changed_entries_restart_the_notice(self):
        h = History()
        to_first_notice(h)
        h.wait(days=6)
        h.do(Command.file_objection, VILLAGE, reason="household size wrong", objection_id="o")
        h.do(
            Command.resolve_objection,
            TOWNSHIP,
            reason="corrected to 4 members",
            objection_id="o",
            outcome="dismissed",
            entries_changed=True,
        )
        h.wait(days=3)
        h.refused("notice_not_over", Command.township_review, TOWNSHIP, approve=True)

    def test_objections_only_during_a_notice_and_need_grounds(self):
        h = History()
        h.do(Command.apply, VILLAGE)
        h.refused("wrong_state", Command.file_objection, VILLAGE, reason="x", objection_id="o")
        h2 = History()
        to_first_notice(h2)
        h2.refused("reason_required", Command.file_objection, VILLAGE, objection_id="o")


class TestExitAndReturn:
    def test_exit_chain_and_return(self):
        h = History()
        to_registered(h)
        h.now = datetime(2014, 11, 3, tzinfo=UTC)
        h.do(Command.propose_exit, VILLAGE, minutes_ref="exit-minutes", exit_test=passing_exit_test())
        h.do(Command.start_notice, VILLAGE, places=["administrative_village"])
        h.wait(days=8)
        h.do(Command.township_review, TOWNSHIP, approve=True)
        h.do(Command.start_notice, VILLAGE, places=["administrative_village"])
        h.wait(days=8)
        h.do(Command.county_review, COUNTY, approve=True)
        assert h.do(Command.announce, COUNTY).status is Status.exited
        assert effective_year(h.state.county_reviewed_at) == 2014
        h.refused("cause_required", Command.apply_return, VILLAGE)
        h.wait(days=200)
        h.do(Command.apply_return, VILLAGE, cause="illness")
        assert h.state.status is Status.return_applied
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=20, votes_for=15, approved=True)
        h.do(Command.cosign, VILLAGE, party="village_committee")
        h.do(Command.cosign, VILLAGE, party="work_team")
        h.do(Command.start_notice, VILLAGE, **BOTH_PLACES)
        h.wait(days=8)
        h.do(Command.township_review, TOWNSHIP, approve=True)
        h.do(Command.start_notice, VILLAGE, places=["administrative_village"])
        h.wait(days=8)
        h.do(Command.county_review, COUNTY, approve=True)
        state = h.do(Command.announce, COUNTY)
        assert state.status is Status.registered and state.returned

    @pytest.mark.parametrize(
        ("overrides", "failed"),
        [
            ({"per_capita_net_income_yuan": 2735}, "per-capita net income below the line"),
            ({"housing_safe": False}, "housing_safe"),
            ({"children_in_school": False}, "children_in_school"),
            ({"stable_income_source": False}, "stable_income_source"),
            ({"has_labour_capacity": False, "stable_income_source": False}, "social_security_covered"),
            ({"head_acknowledged": False}, "head_acknowledged"),
        ],
    )
    def test_exit_test_guards(self, overrides, failed):
        h = History()
        to_registered(h)
        error = h.refused(
            "exit_test_failed",
            Command.propose_exit,
            VILLAGE,
            minutes_ref="m",
            exit_test=passing_exit_test(**overrides),
        )
        assert failed in error.details["failed"]

    def test_no_labour_household_exits_through_social_security(self):
        h = History()
        to_registered(h)
        test = passing_exit_test(
            has_labour_capacity=False, stable_income_source=False, social_security_covered=True
        )
        assert (
            h.do(Command.propose_exit, VILLAGE, minutes_ref="m", exit_test=test).status
            is Status.exit_proposed
        )

    def test_exit_counts_for_the_year_of_county_review_in_china_time(self):
        # 31 Dec 2014 20:00 UTC is already 1 Jan 2015 in China: it counts for 2015 (invariant 19).
        assert effective_year(datetime(2014, 12, 31, 15, 59, tzinfo=UTC)) == 2014
        assert effective_year(datetime(2014, 12, 31, 16, 0, tzinfo=UTC)) == 2015

    def test_removal_needs_a_county_admin_and_a_reason(self):
        h = History()
        to_registered(h)
        h.refused("wrong_level", Command.remove, TOWNSHIP, reason="x")
        h.refused("reason_required", Command.remove, COUNTY)
        assert h.do(Command.remove, COUNTY, reason="family owns a shop in town").status is Status.removed
