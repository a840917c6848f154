"""Issue #13 item 9, pure: a quota never falls below what is counted against it; members added during a notice
restart it and re-check the quota (regions/domain.py, identification/domain.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.identification.domain import (
    Actor,
    Chain,
    Command,
    NoticeWindow,
    Status,
    WorkflowState,
    advance,
    members_added,
)
from services.registry.regions.domain import check_quota_against_used
from shared.errors import Invalid
from shared.roles import Role

POSTED = datetime(2014, 5, 5, 2, tzinfo=UTC)
CLERK = Actor("clerk-1", Role.village_officer)


class TestQuotaAgainstUsed:
    def test_down_to_what_is_counted(self) -> None:
        check_quota_against_used("451025100201", 2014, 3, 3)

    def test_not_below(self) -> None:
        with pytest.raises(Invalid) as caught:
            check_quota_against_used("451025100201", 2014, 3, 2)
        assert caught.value.code == "quota_below_used"
        assert (caught.value.details["used"], caught.value.details["people"]) == (3, 2)


def _in(status: Status, chain: Chain = Chain.identification, days: int = 10) -> WorkflowState:
    notice = NoticeWindow(started_at=POSTED, places=("administrative_village", "natural_village"), days=days)
    return WorkflowState(status=status, chain=chain, notice=notice, last_at=POSTED)


class TestMembersAdded:
    def test_a_running_notice_restarts_with_its_places_and_length(self) -> None:
        state = _in(Status.first_notice)
        now = POSTED + timedelta(days=5)
        change = members_added(state, CLERK, now, added=1)
        assert change.recheck_quota is True
        event = change.renotice
        assert event is not None and event.command is Command.start_notice and event.at == now
        assert event.data["restarted"] == "members_added" and event.data["notice_days"] == 10
        after = advance(state, event)
        assert after.status is Status.first_notice  # still the first notice, restarted
        before = state.notice
        assert before is not None and after.notice is not None
        assert (after.notice.started_at, after.notice.places, after.notice.days) == (now, before.places, 10)
        assert after.notice.earliest_close() == before.earliest_close() + timedelta(days=5)

    @pytest.mark.parametrize("status", [Status.exit_first_notice, Status.exit_second_notice])
    def test_an_exit_notice_restarts_without_a_quota_check(self, status: Status) -> None:
        change = members_added(_in(status, Chain.exit), CLERK, POSTED + timedelta(days=1), added=2)
        assert change.renotice is not None and change.recheck_quota is False

    @pytest.mark.parametrize(
        "status", [Status.village_reviewed, Status.township_reviewed, Status.county_reviewed]
    )
    def test_counted_but_not_in_a_notice_rechecks_only(self, status: Status) -> None:
        state = WorkflowState(status=status, chain=Chain.identification, last_at=POSTED)
        change = members_added(state, CLERK, POSTED, added=1)
        assert (change.recheck_quota, change.renotice) == (True, None)

    @pytest.mark.parametrize("status", [Status.none, Status.applied, Status.registered, Status.exited])
    def test_elsewhere_nothing_follows(self, status: Status) -> None:
        """A birth in a registered household is natural increase: no quota is checked (§2.14)."""
        state = WorkflowState(status=status, last_at=POSTED)
        change = members_added(state, CLERK, POSTED, added=1)
        assert (change.recheck_quota, change.renotice) == (False, None)
