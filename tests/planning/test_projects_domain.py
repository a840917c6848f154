"""The project library's rules (services/planning/projects/domain.py), pure: no database, no HTTP.

DOMAIN.md §5.5 (categories), §5.7 (fields, beneficiaries), §5.8 (四议两公开 → township → county; acceptance),
§5.11 (assets); invariants 9, 12, 18, 39.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.planning.projects import domain
from services.planning.projects.domain import (
    AcceptanceRecord,
    Actor,
    AssetOwnerKind,
    ChainState,
    Disclosure,
    Event,
    Meeting,
    ProjectCategory,
    ProjectStatus,
    Resolution,
    Review,
    Step,
    StepCommand,
)
from shared.errors import DomainError, Invalid, Missing, NotAllowed, Refused
from shared.roles import Role

NOW = datetime(2016, 6, 30, 4, 0, tzinfo=UTC)
TODAY = date(2016, 6, 30)
VILLAGE = "451025100201"
SIBLING = "451025100202"
OTHER_TOWNSHIP_VILLAGE = "451025101201"
CLERK = Actor("clerk", Role.village_officer)
TOWNSHIP = Actor("township", Role.township_officer)
COUNTY = Actor("county", Role.county_admin)


def raises(kind: type[DomainError], code: str, call: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(kind) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


@dataclass(frozen=True)
class Stored:
    """An event as the repository returns it."""

    step: str
    data: dict[str, Any]


def store(event: Event) -> Stored:
    return Stored(event.step.value, event.stored_data())


def run(
    commands: Sequence[tuple[StepCommand, Actor]], today: date = TODAY
) -> tuple[ChainState, list[Stored]]:
    """Decide each command on the replayed history, as the service does."""
    events: list[Stored] = []
    for command, actor in commands:
        state = domain.replay(events)
        events.append(store(domain.decide(state, command, actor, now=NOW, today=today)))
    return domain.replay(events), events


def village_record(start: date = date(2016, 3, 1)) -> list[tuple[StepCommand, Actor]]:
    """四议两公开 before the township: four meetings and the resolution made public, in order."""
    return [
        (Meeting(Step.party_branch_proposal, start, "支部会议记录"), CLERK),
        (Meeting(Step.committees_discussion, date(2016, 3, 5), attendees=9), CLERK),
        (Meeting(Step.party_members_review, date(2016, 3, 10), attendees=31), CLERK),
        (Resolution(date(2016, 3, 15), attendees=45, votes_for=41, votes_against=2), CLERK),
        (Disclosure(Step.resolution_disclosure, date(2016, 3, 16), "村务公开栏"), CLERK),
    ]


def approved() -> tuple[ChainState, list[Stored]]:
    return run(
        [
            *village_record(),
            (Review(Step.township_review, approve=True, decided_on=date(2016, 4, 1)), TOWNSHIP),
            (Review(Step.county_approval, approve=True, decided_on=date(2016, 4, 20)), COUNTY),
        ]
    )


class TestCodeLists:
    def test_categories_are_the_earmark_matrix_codes_of_plan0003(self) -> None:
        versions = Path(__file__).resolve().parents[2] / "services" / "planning" / "migrations" / "versions"
        path = next(versions.glob("*_0003_planning_catalogues.py"))
        spec = importlib.util.spec_from_file_location("plan0003", path)
        assert spec is not None and spec.loader is not None
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        assert [c.value for c in ProjectCategory] == migration.CATEGORIES

    def test_every_code_has_a_chinese_label(self) -> None:
        for enum in (
            ProjectCategory,
            ProjectStatus,
            Step,
            domain.QuantityUnit,
            domain.AssetType,
            AssetOwnerKind,
        ):
            assert all(member.label.strip() for member in enum)

    def test_status_subsets(self) -> None:
        assert domain.EDITABLE == {ProjectStatus.draft, ProjectStatus.returned}
        assert domain.IMPLEMENTING == {ProjectStatus.approved, ProjectStatus.in_progress}
        assert not domain.EDITABLE & domain.IMPLEMENTING and not domain.IMPLEMENTING & domain.CLOSED


class TestChain:
    def test_the_whole_chain_in_order(self) -> None:
        state, events = approved()
        assert state.status is ProjectStatus.approved and state.approved_on == date(2016, 4, 20)
        assert [e.step for e in events] == [
            *(s.value for s in domain.VILLAGE_STEPS),
            "township_review",
            "county_approval",
        ]
        assert domain.expected_steps(state) == ()  # waits for implementation

    def test_statuses_along_the_way(self) -> None:
        record = village_record()
        state, _ = run(record[:1])
        assert state.status is ProjectStatus.village_deciding
        assert domain.expected_steps(state) == (Step.committees_discussion,)
        state, _ = run(record)
        assert state.status is ProjectStatus.village_decided
        assert domain.expected_steps(state) == (Step.township_review,)
        assert domain.expected_steps(ChainState()) == (Step.party_branch_proposal,)

    @pytest.mark.parametrize("skip", range(1, 5))
    def test_no_step_is_skipped(self, skip: int) -> None:
        record = village_record()
        state, _ = run(record[: skip - 1]) if skip > 1 else (ChainState(), [])
        error = raises(
            Refused, "wrong_state", domain.decide, state, record[skip][0], CLERK, now=NOW, today=TODAY
        )
        assert error.details["expected"] == [domain.VILLAGE_STEPS[skip - 1].value]

    def test_no_step_is_taken_twice_or_reordered(self) -> None:
        record = village_record()
        state, _ = run(record[:2])
        raises(Refused, "wrong_state", domain.decide, state, record[1][0], CLERK, now=NOW, today=TODAY)
        raises(Refused, "wrong_state", domain.decide, state, record[0][0], CLERK, now=NOW, today=TODAY)

    def test_the_township_reviews_only_after_the_resolution_is_public(self) -> None:
        state, _ = run(village_record()[:4])
        review = Review(Step.township_review, approve=True)
        raises(Refused, "wrong_state", domain.decide, state, review, TOWNSHIP, now=NOW, today=TODAY)

    def test_the_county_approves_only_after_the_township(self) -> None:
        state, _ = run(village_record())
        approval = Review(Step.county_approval, approve=True)
        raises(Refused, "wrong_state", domain.decide, state, approval, COUNTY, now=NOW, today=TODAY)

    def test_only_the_right_level_acts(self) -> None:
        state, _ = run(village_record())
        for step, actor in (
            (Step.township_review, CLERK),
            (Step.township_review, COUNTY),
            (Step.county_approval, TOWNSHIP),
        ):
            error = raises(
                NotAllowed,
                "wrong_level",
                domain.decide,
                state,
                Review(step, True),
                actor,
                now=NOW,
                today=TODAY,
            )
            assert error.details["step"] == step.value
        proposal = Meeting(Step.party_branch_proposal, date(2016, 3, 1))
        for actor in (TOWNSHIP, COUNTY, Actor("cadre", Role.cadre), Actor("p", Role.province_system)):
            raises(
                NotAllowed, "wrong_level", domain.decide, ChainState(), proposal, actor, now=NOW, today=TODAY
            )

    def test_the_level_is_checked_before_the_order(self) -> None:
        raises(
            NotAllowed,
            "wrong_level",
            domain.decide,
            ChainState(),
            Review(Step.county_approval, True),
            CLERK,
            now=NOW,
            today=TODAY,
        )

    def test_dates_in_order_and_not_in_the_future(self) -> None:
        record = village_record()
        state, _ = run(record[:2])  # the committees met on 5 March
        early = Meeting(Step.party_members_review, date(2016, 3, 4))
        error = raises(Refused, "date_out_of_order", domain.decide, state, early, CLERK, now=NOW, today=TODAY)
        assert error.details == {"field": "/held_on", "previous": "2016-03-05"}
        same_day = Meeting(Step.party_members_review, date(2016, 3, 5))
        assert (
            domain.decide(state, same_day, CLERK, now=NOW, today=TODAY).status_after
            is ProjectStatus.village_deciding
        )
        future = Meeting(Step.party_members_review, date(2016, 7, 1))
        raises(Invalid, "date_in_future", domain.decide, state, future, CLERK, now=NOW, today=TODAY)
        state, _ = run(record[:4])
        posted_early = Disclosure(Step.resolution_disclosure, date(2016, 3, 14), "村务公开栏")
        raises(Refused, "date_out_of_order", domain.decide, state, posted_early, CLERK, now=NOW, today=TODAY)

    def test_a_resolution_needs_a_majority_of_those_present(self) -> None:
        state, _ = run(village_record()[:3])
        tie = Resolution(date(2016, 3, 15), attendees=40, votes_for=20, votes_against=20)
        error = raises(
            Refused, "resolution_not_passed", domain.decide, state, tie, CLERK, now=NOW, today=TODAY
        )
        assert error.details == {"votes_for": 20, "attendees": 40}
        too_many = Resolution(date(2016, 3, 15), attendees=40, votes_for=30, votes_against=11)
        raises(
            Invalid, "votes_exceed_attendance", domain.decide, state, too_many, CLERK, now=NOW, today=TODAY
        )
        passed = Resolution(date(2016, 3, 15), attendees=40, votes_for=21, votes_against=19)
        event = domain.decide(state, passed, CLERK, now=NOW, today=TODAY)
        assert event.data == {"minutes_ref": None, "attendees": 40, "votes_for": 21, "votes_against": 19}

    def test_a_return_needs_a_reason_and_restarts_the_village_record(self) -> None:
        state, events = run(village_record())
        bare = Review(Step.township_review, approve=False, reason="  ")
        raises(Invalid, "reason_required", domain.decide, state, bare, TOWNSHIP, now=NOW, today=TODAY)
        back = Review(Step.township_review, approve=False, reason="预算偏高", decided_on=date(2016, 4, 1))
        event = domain.decide(state, back, TOWNSHIP, now=NOW, today=TODAY)
        assert (event.status_after, event.reason) == (ProjectStatus.returned, "预算偏高")
        events.append(store(event))
        state = domain.replay(events)
        assert state.status is ProjectStatus.returned and state.village_done == ()
        assert domain.expected_steps(state) == (Step.party_branch_proposal,)
        # The amended project is decided again, on or after the return.
        old = Meeting(Step.party_branch_proposal, date(2016, 3, 31))
        raises(Refused, "date_out_of_order", domain.decide, state, old, CLERK, now=NOW, today=TODAY)
        state, _ = run(
            [*village_record(), (back, TOWNSHIP), *village_record(date(2016, 4, 2))[:1]],
        )
        assert state.status is ProjectStatus.village_deciding

    def test_the_county_returns_too(self) -> None:
        state, _ = run([*village_record(), (Review(Step.township_review, True), TOWNSHIP)])
        event = domain.decide(
            state, Review(Step.county_approval, False, "资金来源未落实"), COUNTY, now=NOW, today=TODAY
        )
        assert event.status_after is ProjectStatus.returned and event.on == TODAY

    def test_implementation_results_are_public_after_the_start(self) -> None:
        state, events = approved()
        results = Disclosure(Step.results_disclosure, date(2016, 6, 1), "村务公开栏")
        raises(Refused, "wrong_state", domain.decide, state, results, CLERK, now=NOW, today=TODAY)
        started = domain.start(state, CLERK, now=NOW, today=TODAY)
        assert started is not None and started.status_after is ProjectStatus.in_progress
        events.append(store(started))
        state = domain.replay(events)
        assert domain.start(state, CLERK, now=NOW, today=TODAY) is None  # once
        event = domain.decide(state, results, CLERK, now=NOW, today=TODAY)
        assert event.status_after is ProjectStatus.in_progress
        events.append(store(event))
        state = domain.replay(events)
        assert state.results_disclosed and domain.expected_steps(state) == ()

    def test_only_an_approved_project_starts(self) -> None:
        state, _ = run(village_record())
        assert domain.start(state, CLERK, now=NOW, today=TODAY) is None

    def test_replay_reads_what_decide_wrote(self) -> None:
        state, events = approved()
        assert state.events == len(events) == 7
        assert events[3].data == {
            "on": "2016-03-15",
            "minutes_ref": None,
            "attendees": 45,
            "votes_for": 41,
            "votes_against": 2,
        }


def in_progress() -> tuple[ChainState, list[Stored]]:
    state, events = approved()
    started = domain.start(state, CLERK, now=NOW, today=date(2016, 5, 1))
    assert started is not None
    events.append(store(started))
    return domain.replay(events), events


class TestAcceptance:
    record = AcceptanceRecord(date(2016, 6, 20), True, "路面宽4.5米, 符合设计要求", "县扶贫办、交通局验收组")

    def test_passed(self) -> None:
        state, _ = in_progress()
        event = domain.accept(
            state, self.record, COUNTY, starts_on=date(2016, 5, 1), open_milestones=[], now=NOW, today=TODAY
        )
        assert event.status_after is ProjectStatus.accepted and event.data == {"passed": True}

    def test_rejected_with_findings_even_with_open_milestones(self) -> None:
        state, _ = in_progress()
        failed = AcceptanceRecord(date(2016, 6, 20), False, "路面开裂", "验收组")
        event = domain.accept(
            state, failed, COUNTY, starts_on=None, open_milestones=["路面"], now=NOW, today=TODAY
        )
        assert event.status_after is ProjectStatus.rejected

    def test_a_pass_needs_every_milestone_done(self) -> None:
        state, _ = in_progress()
        error = raises(
            Refused,
            "milestones_open",
            domain.accept,
            state,
            self.record,
            COUNTY,
            starts_on=None,
            open_milestones=["路基", "路面"],
            now=NOW,
            today=TODAY,
        )
        assert error.details["milestones"] == ["路基", "路面"]

    def test_by_the_county_of_a_project_being_implemented(self) -> None:
        state, _ = in_progress()
        raises(
            NotAllowed, "wrong_level", domain.accept, state, self.record, TOWNSHIP,
            starts_on=None, open_milestones=[], now=NOW, today=TODAY,
        )  # fmt: skip
        for not_started in (approved()[0], ChainState()):
            raises(
                Refused, "wrong_state", domain.accept, not_started, self.record, COUNTY,
                starts_on=None, open_milestones=[], now=NOW, today=TODAY,
            )  # fmt: skip

    def test_dated_after_approval_and_start_not_in_the_future(self) -> None:
        state, _ = in_progress()
        for on, code, kind in (
            (date(2016, 4, 19), "date_out_of_order", Refused),  # approved on 20 April
            (date(2016, 4, 30), "date_out_of_order", Refused),  # starts on 1 May
            (date(2016, 7, 1), "date_in_future", Invalid),
        ):
            record = AcceptanceRecord(on, True, "x", "y")
            raises(
                kind, code, domain.accept, state, record, COUNTY,
                starts_on=date(2016, 5, 1), open_milestones=[], now=NOW, today=TODAY,
            )  # fmt: skip


class TestFields:
    def test_schedule_runs_forward(self) -> None:
        domain.check_schedule(date(2016, 3, 1), date(2016, 3, 1))
        domain.check_schedule(None, date(2016, 3, 1))
        raises(Invalid, "schedule_order", domain.check_schedule, date(2016, 3, 2), date(2016, 3, 1))

    def test_a_new_schedule_keeps_the_milestones(self) -> None:
        domain.check_schedule_covers(date(2016, 3, 1), date(2016, 9, 30), [date(2016, 5, 1)])
        raises(
            Invalid, "milestone_outside_schedule", domain.check_schedule_covers,
            date(2016, 6, 1), date(2016, 9, 30), [date(2016, 5, 1)],
        )  # fmt: skip

    def test_a_plan_of_the_same_village(self) -> None:
        plan = uuid.uuid4()
        domain.check_plan(plan, VILLAGE, VILLAGE)
        raises(Invalid, "plan_missing", domain.check_plan, plan, None, VILLAGE)
        error = raises(Invalid, "plan_other_village", domain.check_plan, plan, SIBLING, VILLAGE)
        assert error.details["plan_village"] == SIBLING

    def test_editable_as_draft_or_returned(self) -> None:
        for status in domain.EDITABLE:
            domain.check_editable(status)
        for status in set(ProjectStatus) - domain.EDITABLE:
            raises(Refused, "project_not_editable", domain.check_editable, status)

    def test_projects_belong_to_villages(self) -> None:
        domain.check_village(VILLAGE)
        for code in ("451025100000", "451025000000"):
            raises(Missing, "village_missing", domain.check_village, code)

    def test_roles(self) -> None:
        domain.require_role(Role.village_officer, domain.DRAFTERS, "draft projects")
        for role in (Role.township_officer, Role.county_admin, Role.cadre, Role.province_system):
            raises(NotAllowed, "role_may_not", domain.require_role, role, domain.DRAFTERS, "draft projects")
        assert Role.cadre not in domain.REPORTERS | domain.ASSET_RECORDERS | domain.ACCEPTORS
        assert domain.ACCEPTORS == {Role.county_admin}


@dataclass(frozen=True)
class Household:
    id: uuid.UUID
    village_code: str
    status: str


class TestBeneficiaries:
    def test_poor_is_registered_or_on_the_way_out(self) -> None:
        assert domain.is_poor("registered") and domain.is_poor("exit_second_notice")
        for status in (
            "candidate",
            "applied",
            "county_reviewed",
            "exited",
            "removed",
            "rejected",
            "dissolved",
        ):
            assert not domain.is_poor(status)

    def test_of_the_project_village(self) -> None:
        mine, other, gone = (Household(uuid.uuid4(), VILLAGE, "registered"), Household(uuid.uuid4(), SIBLING, "exited"),
                             Household(uuid.uuid4(), VILLAGE, "dissolved"))  # fmt: skip
        found = {h.id: h for h in (mine, other, gone)}
        kept = domain.check_beneficiaries(
            [mine.id], found, village_code=VILLAGE, category=ProjectCategory.road
        )
        assert kept == [mine]
        error = raises(
            Invalid, "household_elsewhere", domain.check_beneficiaries, [mine.id, other.id], found,
            village_code=VILLAGE, category=ProjectCategory.road,
        )  # fmt: skip
        assert error.details == {
            "field": "/household_ids/1",
            "household_id": str(other.id),
            "household_village": SIBLING,
        }
        missing = uuid.uuid4()
        error = raises(
            Invalid, "household_unknown", domain.check_beneficiaries, [missing], found,
            village_code=VILLAGE, category=ProjectCategory.road,
        )  # fmt: skip
        assert error.details["household_id"] == str(missing)
        raises(
            Invalid, "household_dissolved", domain.check_beneficiaries, [gone.id], found,
            village_code=VILLAGE, category=ProjectCategory.road,
        )  # fmt: skip

    def test_a_township_wide_project_reaches_the_township(self) -> None:
        sibling = Household(uuid.uuid4(), SIBLING, "registered")
        far = Household(uuid.uuid4(), OTHER_TOWNSHIP_VILLAGE, "registered")
        found = {h.id: h for h in (sibling, far)}
        assert domain.beneficiary_area(ProjectCategory.whole_township, VILLAGE) == "451025100"
        assert domain.check_beneficiaries(
            [sibling.id], found, village_code=VILLAGE, category=ProjectCategory.whole_township
        ) == [sibling]
        raises(
            Invalid, "household_elsewhere", domain.check_beneficiaries, [far.id], found,
            village_code=VILLAGE, category=ProjectCategory.whole_township,
        )  # fmt: skip

    def test_a_household_outside_the_callers_region_is_unknown(self) -> None:
        """Out of scope looks like missing: a household neither in the project's area nor in the caller's region
        (`caller_scope`) is `household_unknown`, its village and its dissolution untold; one in the caller's
        region but outside the area is `household_elsewhere`."""
        other = Household(uuid.uuid4(), SIBLING, "registered")
        gone = Household(uuid.uuid4(), SIBLING, "dissolved")
        found = {h.id: h for h in (other, gone)}
        for household in (other, gone):
            error = raises(
                Invalid, "household_unknown", domain.check_beneficiaries, [household.id], found,
                village_code=VILLAGE, category=ProjectCategory.road, caller_scope=VILLAGE,
            )  # fmt: skip
            assert error.details == {"field": "/household_ids/0", "household_id": str(household.id)}
        township = VILLAGE[:9]
        raises(
            Invalid, "household_elsewhere", domain.check_beneficiaries, [other.id], found,
            village_code=VILLAGE, category=ProjectCategory.road, caller_scope=township,
        )  # fmt: skip

    def test_unique_keeps_the_first_order(self) -> None:
        a, b = uuid.uuid4(), uuid.uuid4()
        assert domain.unique([b, a, b, a]) == [b, a]


#: A project's schedule and today, for the milestone rules.
WINDOW: dict[str, Any] = {
    "starts_on": date(2016, 5, 1),
    "finishes_on": date(2016, 10, 31),
    "today": TODAY,
}


class TestMilestones:
    def test_planned_in_the_schedule(self) -> None:
        for status in (ProjectStatus.draft, ProjectStatus.approved):
            domain.check_milestone(status=status, due_on=date(2016, 7, 1), percent=0, done_on=None, **WINDOW)
        for due in (date(2016, 4, 30), date(2016, 11, 1)):
            raises(
                Invalid, "due_outside_schedule", domain.check_milestone,
                status=ProjectStatus.draft, due_on=due, percent=0, done_on=None, **WINDOW,
            )  # fmt: skip
        raises(
            Refused, "schedule_missing", domain.check_milestone, status=ProjectStatus.draft, starts_on=None,
            finishes_on=None, due_on=date(2016, 7, 1), percent=0, done_on=None, today=TODAY,
        )  # fmt: skip

    def test_progress_only_once_approved(self) -> None:
        domain.check_milestone(
            status=ProjectStatus.in_progress, due_on=date(2016, 7, 1), percent=40, done_on=None, **WINDOW
        )
        for status in (ProjectStatus.draft, ProjectStatus.village_decided, ProjectStatus.township_reviewed):
            raises(
                Refused, "not_approved", domain.check_milestone,
                status=status, due_on=date(2016, 7, 1), percent=10, done_on=None, **WINDOW,
            )  # fmt: skip
        raises(
            Refused, "project_closed", domain.check_milestone,
            status=ProjectStatus.accepted, due_on=date(2016, 7, 1), percent=0, done_on=None, **WINDOW,
        )  # fmt: skip

    def test_done_means_a_day_and_100_percent(self) -> None:
        ok = {"status": ProjectStatus.in_progress, "due_on": date(2016, 7, 1), **WINDOW}
        domain.check_milestone(percent=100, done_on=date(2016, 6, 1), **ok)
        for percent, done_on, code in (
            (100, None, "done_on_required"),
            (90, date(2016, 6, 1), "done_needs_full_progress"),
            (100, date(2016, 4, 30), "done_before_start"),
            (100, date(2016, 7, 1), "date_in_future"),
            (101, None, "percent_range"),
        ):
            raises(Invalid, code, domain.check_milestone, percent=percent, done_on=done_on, **ok)

    def test_overdue(self) -> None:
        assert domain.is_overdue(date(2016, 6, 29), None, TODAY)
        assert not domain.is_overdue(date(2016, 6, 30), None, TODAY)
        assert not domain.is_overdue(date(2016, 6, 1), date(2016, 6, 2), TODAY)
        assert domain.days_overdue(date(2016, 6, 20), TODAY) == 10
        assert (
            domain.progresses(0, None) is False and domain.progresses(1, None) and domain.progresses(0, TODAY)
        )


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


class TestAttachments:
    def test_types_by_their_bytes(self) -> None:
        assert domain.sniff(PNG) == "image/png" and domain.sniff(PDF) == "application/pdf"
        assert domain.sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
        assert domain.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
        domain.check_attachment("image/png", PNG)
        domain.check_attachment("application/pdf", PDF)
        raises(
            domain.AttachmentTypeRefused, "attachment_type", domain.check_attachment, "application/pdf", PNG
        )
        raises(
            domain.AttachmentTypeRefused, "attachment_type", domain.check_attachment, "text/plain", b"hello"
        )
        raises(Invalid, "empty_attachment", domain.check_attachment, "image/png", b"")
        big = PDF + b"\x00" * domain.MAX_ATTACHMENT_BYTES
        raises(
            domain.AttachmentTooLarge, "attachment_too_large", domain.check_attachment, "application/pdf", big
        )

    def test_a_limit_per_project(self) -> None:
        domain.check_attachment_count(domain.MAX_ATTACHMENTS - 1)
        raises(Refused, "too_many_attachments", domain.check_attachment_count, domain.MAX_ATTACHMENTS)


class TestAssets:
    def test_after_a_passed_acceptance(self) -> None:
        domain.check_asset(ProjectStatus.accepted, AssetOwnerKind.village_collective, [])
        for status in (ProjectStatus.in_progress, ProjectStatus.rejected, ProjectStatus.approved):
            raises(Refused, "not_accepted", domain.check_asset, status, AssetOwnerKind.village_collective, [])

    def test_a_household_asset_names_the_household(self) -> None:
        raises(
            Invalid,
            "owner_household_missing",
            domain.check_asset,
            ProjectStatus.accepted,
            AssetOwnerKind.household,
            [],
        )
        domain.check_asset(ProjectStatus.accepted, AssetOwnerKind.household, [uuid.uuid4()])
