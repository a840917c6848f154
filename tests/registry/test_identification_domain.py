"""The identification / exit / return state machine (DOMAIN.md §2.9, §2.13-§2.15; invariants 14-19, 21-22),
with no database: services/registry/identification/domain.py.

An injectable clock drives the 7-full-day notice windows; every guard has a test that fails if it is removed.
Refusals are `shared.errors` kinds: the wrong level is `NotAllowed`, malformed command data `Invalid`, the wrong
state or time `Refused`; recusal, the exit test assembled from the record and the record's new status fields are
plain functions too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.registry.identification import domain
from services.registry.identification.domain import (
    Actor,
    Command,
    Event,
    ExitTest,
    ProposeExit,
    Status,
    Step,
    WorkflowPolicy,
    WorkflowState,
    decide,
    effective_year,
    parse_step,
    replay,
)
from shared.clock import CHINA_TIME
from shared.errors import DomainError, Invalid, NotAllowed, Refused
from shared.roles import Role

VILLAGE = Actor("clerk", Role.village_officer)
#: A resident work-team member (a village officer assigned to the village's work team, issue #13 item 4).
TEAM = Actor("team", Role.village_officer)
TOWNSHIP = Actor("officer", Role.township_officer)
COUNTY = Actor("admin", Role.county_admin)
CADRE = Actor("cadre", Role.cadre)
BOTH_PLACES: dict[str, Any] = {"places": ["administrative_village", "natural_village"]}
# 2014-06-02 10:00 China time: a first notice posted then closes at 2014-06-10 00:00 China time.
T0 = datetime(2014, 6, 2, 2, 0, tzinfo=UTC)


#: The kind of refusal each code is (the HTTP status follows: 403, 422, 409).
KIND: dict[str, type[DomainError]] = {
    "wrong_level": NotAllowed,
    **{
        code: Invalid
        for code in (
            "minutes_required",
            "votes_invalid",
            "party_invalid",
            "places_invalid",
            "reason_required",
            "cause_required",
            "objection_id_invalid",
            "outcome_invalid",
            "exit_test_required",
            "data_invalid",
            "income_year_invalid",
        )
    },
}


#: A returning household whose latest income survey is under the identification line (§2.14).
UNDER_THE_LINE = domain.ReturnEligibility(
    income_line_yuan=2736, income_year=2015, per_capita_net_income_yuan=2100
)
#: An applying household whose 2013 income is under the 2013 line (§2.8, issue #13 item 1).
POOR_2013 = domain.IdentificationIncome(
    identification_year=2014,
    reference_year=2013,
    income_line_yuan=2736,
    per_capita_net_income_yuan=Decimal(2100),
)


class History:
    """A household's event list with a movable clock."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.now = T0

    @property
    def state(self) -> WorkflowState:
        return replay(self.events)

    def do(
        self,
        command: Command,
        actor: Actor,
        *,
        reason: str | None = None,
        policy: WorkflowPolicy | None = None,
        **data: Any,
    ) -> WorkflowState:
        step: Step
        if command is Command.propose_exit:  # the exit test is assembled by the service, not sent
            step = ProposeExit(
                minutes_ref=data.get("minutes_ref"),
                exit_test=data.get("exit_test"),
                attendees=data.get("attendees", 30),
                votes_for=data.get("votes_for", 25),
            )
        elif command is Command.apply_return:  # the eligibility is read from the record by the service
            eligibility = data.pop("eligibility", UNDER_THE_LINE)
            parsed = parse_step(command, data)
            assert isinstance(parsed, domain.ApplyReturn)
            step = replace(parsed, eligibility=eligibility)
        elif command is Command.village_review:  # the income is read from the record by the service
            income = data.pop("income", POOR_2013)
            parsed = parse_step(command, data)
            assert isinstance(parsed, domain.VillageReview)
            step = replace(parsed, income=income)
        elif command is Command.cosign:  # the work-team assignment is read from the record by the service
            parsed = parse_step(command, data)
            assert isinstance(parsed, domain.Cosign)
            step = replace(parsed, on_work_team=actor == TEAM)
        else:
            step = parse_step(command, data)
        event = decide(self.state, step, actor, self.now, reason=reason, policy=policy)
        self.events.append(event)
        return self.state

    def wait(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def refused(self, code: str, command: Command, actor: Actor, **kwargs: Any) -> DomainError:
        before = list(self.events)
        with pytest.raises(DomainError) as info:
            self.do(command, actor, **kwargs)
        assert info.value.code == code, info.value
        assert type(info.value) is KIND.get(code, Refused), (code, info.value)
        assert self.events == before  # nothing written
        return info.value


def to_first_notice(h: History, *, policy: WorkflowPolicy | None = None) -> None:
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
    h.do(Command.cosign, TEAM, party="work_team")
    h.do(Command.start_notice, VILLAGE, policy=policy, **BOTH_PLACES)


def to_registered(h: History) -> None:
    to_first_notice(h)
    h.now = datetime(2014, 6, 10, tzinfo=CHINA_TIME).astimezone(UTC)
    h.do(Command.township_review, TOWNSHIP, approve=True)
    h.do(Command.start_notice, VILLAGE, places=["administrative_village"])
    h.wait(days=8)
    h.do(Command.county_review, COUNTY, approve=True)
    h.do(Command.announce, COUNTY)


def passing_exit_test(**overrides: Any) -> ExitTest:
    values: dict[str, Any] = dict(
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
    def test_application_to_announcement(self) -> None:
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

    def test_notice_needs_seven_full_days(self) -> None:
        h = History()
        to_first_notice(h)
        h.now = datetime(2014, 6, 9, 23, 59, tzinfo=CHINA_TIME).astimezone(UTC)  # 7th full day not over
        error = h.refused("notice_not_over", Command.township_review, TOWNSHIP, approve=True)
        assert error.details["earliest"] == "2014-06-09T16:00:00Z"
        h.now = datetime(2014, 6, 10, 0, 0, tzinfo=CHINA_TIME).astimezone(UTC)
        assert h.do(Command.township_review, TOWNSHIP, approve=True).status is Status.township_reviewed

    def test_notice_can_be_lengthened_by_policy(self) -> None:
        h = History()
        long = WorkflowPolicy(notice_days=10)
        to_first_notice(h, policy=long)
        assert h.events[-1].data["notice_days"] == 10
        assert h.events[-1].data["closes_at"] == "2014-06-12T16:00:00Z"
        h.now = datetime(2014, 6, 12, 23, 59, tzinfo=CHINA_TIME).astimezone(UTC)
        h.refused("notice_not_over", Command.township_review, TOWNSHIP, approve=True)
        h.now = datetime(2014, 6, 13, 0, 0, tzinfo=CHINA_TIME).astimezone(UTC)
        assert h.do(Command.township_review, TOWNSHIP, approve=True).status is Status.township_reviewed

    def test_notice_never_shorter_than_seven_days(self) -> None:
        # 公示期7天 [S 002]: a shorter policy value (one stored before the floor existed) still gives 7 days.
        h = History()
        to_first_notice(h, policy=WorkflowPolicy(notice_days=1))
        assert h.events[-1].data["notice_days"] == 7
        h.wait(days=4)
        h.refused(
            "notice_not_over",
            Command.township_review,
            TOWNSHIP,
            approve=True,
            policy=WorkflowPolicy(notice_days=1),
        )

    def test_running_notice_keeps_its_posted_length(self) -> None:
        h = History()
        to_first_notice(h, policy=WorkflowPolicy(notice_days=10))
        h.now = datetime(2014, 6, 10, 0, 0, tzinfo=CHINA_TIME).astimezone(UTC)  # 7 days over, 10 not
        # Lowering the parameter later does not shorten the running notice …
        h.refused(
            "notice_not_over",
            Command.township_review,
            TOWNSHIP,
            approve=True,
            policy=WorkflowPolicy(notice_days=7),
        )
        h2 = History()
        to_first_notice(h2)
        h2.now = datetime(2014, 6, 10, 0, 0, tzinfo=CHINA_TIME).astimezone(UTC)
        # … and raising it does not lengthen one posted for 7 days.
        assert (
            h2.do(
                Command.township_review, TOWNSHIP, approve=True, policy=WorkflowPolicy(notice_days=30)
            ).status
            is Status.township_reviewed
        )

    def test_cosignature_of_both_parties_is_required(self) -> None:
        h = History()
        h.do(Command.apply, VILLAGE)
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=6, approved=True)
        h.do(Command.cosign, VILLAGE, party="village_committee")
        h.refused("cosign_required", Command.start_notice, VILLAGE, **BOTH_PLACES)

    def test_first_notice_also_in_the_natural_village(self) -> None:
        h = History()
        h.do(Command.apply, VILLAGE)
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=6, approved=True)
        h.do(Command.cosign, VILLAGE, party="village_committee")
        h.do(Command.cosign, TEAM, party="work_team")
        h.refused("places_invalid", Command.start_notice, VILLAGE, places=["administrative_village"])

    def test_democratic_review_needs_minutes_and_a_real_majority(self) -> None:
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
    def test_only_the_assigned_level_decides(
        self, command: Command, actor: Actor, data: dict[str, Any]
    ) -> None:
        h = History()
        if command is not Command.apply:
            to_first_notice(h)
            h.wait(days=9)
        h.refused("wrong_level", command, actor, **data)

    def test_wrong_order_is_refused(self) -> None:
        h = History()
        h.refused("wrong_state", Command.township_review, TOWNSHIP, approve=True)
        to_first_notice(h)
        h.wait(days=9)
        h.refused("wrong_state", Command.county_review, COUNTY, approve=True)
        h.refused("wrong_state", Command.announce, COUNTY)

    def test_rejection_needs_a_reason(self) -> None:
        h = History()
        to_first_notice(h)
        h.wait(days=9)
        h.refused("reason_required", Command.township_review, TOWNSHIP, approve=False)
        assert (
            h.do(Command.township_review, TOWNSHIP, approve=False, reason="income above the line").status
            is Status.rejected
        )

    def test_time_cannot_go_backwards(self) -> None:
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
    def test_open_objection_blocks_and_dismissal_releases(self) -> None:
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

    def test_upheld_objection_rejects(self) -> None:
        h = History()
        to_first_notice(h)
        h.do(Command.file_objection, VILLAGE, reason="relative of the village director", objection_id="o")
        assert (
            h.do(
                Command.resolve_objection, TOWNSHIP, reason="confirmed", objection_id="o", outcome="upheld"
            ).status
            is Status.rejected
        )

    def test_changed_entries_restart_the_notice(self) -> None:
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

    def test_objections_only_during_a_notice_and_need_grounds(self) -> None:
        h = History()
        h.do(Command.apply, VILLAGE)
        h.refused("wrong_state", Command.file_objection, VILLAGE, reason="x", objection_id="o")
        h2 = History()
        to_first_notice(h2)
        h2.refused("reason_required", Command.file_objection, VILLAGE, objection_id="o")


class TestExitAndReturn:
    def test_exit_chain_and_return(self) -> None:
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
        reviewed = h.state.county_reviewed_at
        assert reviewed is not None and effective_year(reviewed) == 2014
        h.refused("cause_required", Command.apply_return, VILLAGE)
        h.wait(days=200)
        h.do(Command.apply_return, VILLAGE, cause="illness")
        assert h.state.status is Status.return_applied
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=20, votes_for=15, approved=True)
        h.do(Command.cosign, VILLAGE, party="village_committee")
        h.do(Command.cosign, TEAM, party="work_team")
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
    def test_exit_test_guards(self, overrides: dict[str, Any], failed: str) -> None:
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

    def test_no_labour_household_exits_through_social_security(self) -> None:
        h = History()
        to_registered(h)
        test = passing_exit_test(
            has_labour_capacity=False, stable_income_source=False, social_security_covered=True
        )
        assert (
            h.do(Command.propose_exit, VILLAGE, minutes_ref="m", exit_test=test).status
            is Status.exit_proposed
        )

    def test_exit_counts_for_the_year_of_county_review_in_china_time(self) -> None:
        # 31 Dec 2014 20:00 UTC is already 1 Jan 2015 in China: it counts for 2015 (invariant 19).
        assert effective_year(datetime(2014, 12, 31, 15, 59, tzinfo=UTC)) == 2014
        assert effective_year(datetime(2014, 12, 31, 16, 0, tzinfo=UTC)) == 2015

    def test_removal_needs_a_county_admin_and_a_reason(self) -> None:
        h = History()
        to_registered(h)
        h.refused("wrong_level", Command.remove, TOWNSHIP, reason="x")
        h.refused("reason_required", Command.remove, COUNTY)
        assert h.do(Command.remove, COUNTY, reason="family owns a shop in town").status is Status.removed


class TestSteps:
    def test_data_is_parsed_into_typed_steps(self) -> None:
        step = parse_step(
            Command.village_review, {"minutes_ref": "m", "attendees": "40", "votes_for": 31, "approved": True}
        )
        assert step == domain.VillageReview(minutes_ref="m", attendees=40, votes_for=31, approved=True)
        assert parse_step(Command.start_notice, {"places": ["administrative_village"]}) == domain.StartNotice(
            places=("administrative_village",)
        )
        assert parse_step(Command.township_review, {}) == domain.TownshipReview(approve=None)
        assert parse_step(Command.township_review, {"approve": "no"}) == domain.TownshipReview(approve=True)
        assert parse_step(Command.county_review, {"approve": False}) == domain.CountyReview(approve=False)
        exit_step = parse_step(
            Command.propose_exit, {"minutes_ref": "m", "income_year": 2015, "head_acknowledged": True}
        )
        assert isinstance(exit_step, ProposeExit) and exit_step.income_year == 2015
        assert exit_step.survey.head_acknowledged is True and exit_step.survey.stable_income_source is None

    @pytest.mark.parametrize(
        ("command", "data"),
        [
            (Command.village_review, {"attendees": "many"}),
            (Command.start_notice, {"places": 3}),
            (Command.propose_exit, {"income_year": "last year"}),
        ],
    )
    def test_values_of_a_wrong_type_are_invalid(self, command: Command, data: dict[str, Any]) -> None:
        with pytest.raises(Invalid) as info:
            parse_step(command, data)
        assert info.value.code == "data_invalid"

    def test_events_store_what_was_given(self) -> None:
        h = History()
        h.do(Command.apply, VILLAGE)
        h.do(Command.village_review, VILLAGE, minutes_ref="m", attendees=10, votes_for=6, approved=True)
        assert h.events[0].data == {}
        assert h.events[1].data == {
            "minutes_ref": "m",
            "attendees": 10,
            "votes_for": 6,
            "approved": True,
            "income": POOR_2013.as_data(),
        }

    def test_the_county_review_records_its_effective_year(self) -> None:
        h = History()
        to_registered(h)
        review = next(e for e in h.events if e.command is Command.county_review)
        assert review.data == {"approve": True, "effective_year": 2014}

    def test_the_exit_test_is_stored_with_the_decision(self) -> None:
        h = History()
        to_registered(h)
        h.do(Command.propose_exit, VILLAGE, minutes_ref="m", exit_test=passing_exit_test())
        stored = h.events[-1].data
        assert stored["minutes_ref"] == "m" and stored["exit_test"]["failed"] == []
        assert stored["exit_test"]["per_capita_net_income_yuan"] == 3100

    def test_one_command_enum_for_routes_and_rules(self) -> None:
        assert set(domain.DECIDERS) == set(Command)
        assert domain.BATCH_COMMANDS < set(Command)
        domain.check_batch_command(Command.cosign)
        with pytest.raises(Invalid, match="not a batch step"):
            domain.check_batch_command(Command.apply)


class TestStatusSets:
    def test_quota_counts_from_the_approved_village_review(self) -> None:
        assert Status.village_reviewed in domain.QUOTA_STATUSES and Status.exited in domain.QUOTA_STATUSES
        assert Status.applied not in domain.QUOTA_STATUSES and Status.rejected not in domain.QUOTA_STATUSES
        assert len(domain.QUOTA_STATUSES) == 12

    def test_poor_and_in_identification(self) -> None:
        assert domain.POOR_STATUSES == {
            Status.registered,
            Status.exit_proposed,
            Status.exit_first_notice,
            Status.exit_township_reviewed,
            Status.exit_second_notice,
            Status.exit_county_reviewed,
        }
        assert Status.exited not in domain.POOR_STATUSES
        assert domain.IN_IDENTIFICATION == {
            Status.applied,
            Status.return_applied,
            Status.village_reviewed,
            Status.first_notice,
            Status.township_reviewed,
            Status.second_notice,
            Status.county_reviewed,
        }
        assert not domain.POOR_STATUSES & domain.IN_IDENTIFICATION


@dataclass(frozen=True)
class Recorded:
    command: str
    at: datetime
    actor: str = "clerk"
    role: str = "village_officer"
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    status_after: str = "applied"


class TestStoredHistory:
    def test_state_of_a_stored_history(self) -> None:
        assert domain.state_of([]) == WorkflowState()
        state = domain.state_of([Recorded("apply", T0)])
        assert state.status is Status.applied and state.last_at == T0

    def test_an_imported_household_starts_registered(self) -> None:
        state = domain.state_of([Recorded(domain.IMPORT_COMMAND, T0, status_after="registered")])
        assert state.status is Status.registered and state.last_at == T0
        h = History()
        h.events = []
        h.now = T0 + timedelta(days=1)
        event = decide(
            state,
            ProposeExit(minutes_ref="m", attendees=30, votes_for=25, exit_test=passing_exit_test()),
            VILLAGE,
            h.now,
        )
        assert domain.advance(state, event).status is Status.exit_proposed


class TestAroundADecision:
    def test_recusal_reads_the_history(self) -> None:
        # Cleared from related_officials, but declared once: still recused (§2.11 优亲厚友).
        with pytest.raises(Refused) as info:
            domain.check_recusal(Command.township_review, "officer-9", [], ["officer-9"])
        assert info.value.code == "recusal_required"
        domain.check_recusal(Command.township_review, "officer-8", [], ["officer-9"])

    def test_recusal_of_a_declared_relative(self) -> None:
        related = [{"user_sub": "clerk-1", "name": "黄文书", "relation": "cousin"}]
        domain.check_recusal(Command.apply, "clerk-1", related)  # not a review
        domain.check_recusal(Command.village_review, "clerk-2", related)
        for review in domain.REVIEWS:
            with pytest.raises(Refused) as info:
                domain.check_recusal(review, "clerk-1", related)
            assert info.value.code == "recusal_required"

    def test_a_dissolved_household_takes_no_step(self) -> None:
        domain.require_not_dissolved("registered")
        with pytest.raises(Refused) as info:
            domain.require_not_dissolved("dissolved")
        assert info.value.code == "wrong_state"

    def test_only_the_county_overrides_a_quota(self) -> None:
        domain.require_quota_overrider(Role.county_admin)
        with pytest.raises(NotAllowed):
            domain.require_quota_overrider(Role.township_officer)

    def test_the_exit_income_line(self) -> None:
        assert (
            domain.exit_income_line({"exit_income_line_yuan": 3000, "identification_income_line_yuan": 2736})
            == 3000
        )
        assert (
            domain.exit_income_line({"exit_income_line_yuan": None, "identification_income_line_yuan": 2736})
            == 2736
        )
        with pytest.raises(Refused) as info:
            domain.exit_income_line({})
        assert info.value.code == "policy_missing"

    def test_outcome_of_a_step(self) -> None:
        h = History()
        h.do(Command.apply, VILLAGE)
        step = domain.VillageReview(
            minutes_ref="m", attendees=10, votes_for=6, approved=True, income=POOR_2013
        )
        after = domain.advance(h.state, decide(h.state, step, VILLAGE, h.now))
        out = domain.outcome(step, after, now=h.now, year=2014)
        assert (out.status, out.checks_quota, out.quota_year, out.exit_effective_year) == (
            Status.village_reviewed,
            True,
            None,
            None,
        )
        rejected = domain.VillageReview(minutes_ref="m", attendees=10, votes_for=3, approved=False)
        after = domain.advance(h.state, decide(h.state, rejected, VILLAGE, h.now))
        assert not domain.outcome(rejected, after, now=h.now, year=2014).checks_quota
        back = domain.outcome(domain.ApplyReturn(cause="illness"), WorkflowState(), now=h.now, year=2016)
        assert back.quota_year == 2016


def exit_member(labor: str = "ordinary", **details: Any) -> domain.ExitMember:
    return domain.ExitMember.of(labor, {"insurance": {"ncms_enrolled": True}} | details)


SURVEY = domain.ExitSurvey(food_and_clothing_secure=True, stable_income_source=True, head_acknowledged=True)


class TestExitTestAssembly:
    def assemble(self, **changes: Any) -> ExitTest:
        values: dict[str, Any] = {
            "per_capita_net_income": Decimal("3000.67"),
            "income_line": Decimal("2736"),
            "survey": SURVEY,
            "members": [exit_member(), exit_member("none")],
            "dangerous_house_grade": "B",
            "poverty_attribute": "general_poor",
            "categories": {},
        }
        values.update(changes)
        return domain.assemble_exit_test(**values)

    def test_a_passing_household(self) -> None:
        test = self.assemble()
        assert (
            test.failures() == []
            and test.per_capita_net_income_yuan == 3000
            and test.income_line_yuan == 2736
        )

    def test_from_the_record(self) -> None:
        assert not self.assemble(members=[exit_member(dropout=True)]).children_in_school
        assert not self.assemble(members=[domain.ExitMember.of("ordinary", {})]).medical_insurance
        assert not self.assemble(dangerous_house_grade="C").housing_safe
        assert not self.assemble(dangerous_house_grade="D").housing_safe
        # Issue #13 item 6: an ungraded house is not safe unless the survey says so.
        assert not self.assemble(dangerous_house_grade=None).housing_safe
        assert not self.assemble(members=[exit_member("lost")]).has_labour_capacity
        assert self.assemble(poverty_attribute="dibao_poor").social_security_covered
        assert self.assemble(categories={"is_wubao_household": True}).social_security_covered
        assert not self.assemble().social_security_covered

    @pytest.mark.parametrize(
        "missing", ["food_and_clothing_secure", "stable_income_source", "head_acknowledged"]
    )
    def test_survey_answers_are_required(self, missing: str) -> None:
        survey = domain.ExitSurvey(
            **{
                k: True
                for k in ("food_and_clothing_secure", "stable_income_source", "head_acknowledged")
                if k != missing
            }
        )
        with pytest.raises(Invalid) as info:
            self.assemble(survey=survey)
        assert info.value.code == "data_invalid" and missing in info.value.message
