"""Identification (精确识别), exit (脱贫) and return (返贫) workflows as an event-sourced state machine.

Plain domain code, checkable line by line against DOMAIN.md §2.9, §2.13-§2.15 and §7 invariants 14-19, 21-22:

- every decision is an immutable `Event`; the current state is `replay(events)`; a correction is a new event;
- `decide(state, command, actor, now)` checks the command against the guards and returns the event to append,
  or raises `WorkflowError` with a machine-readable `code`;
- "two notices and one announcement" (两公示一公告): each notice lasts at least `notice_days` *full* days in
  China Standard Time, an open objection blocks the household, and only the assigned level decides each review
  (village → township → county, no skipping).

No HTTP and no SQL here: the service layer persists events and checks region scope.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.clock import CHINA_TIME
from shared.roles import Role

__all__ = [
    "Actor",
    "Chain",
    "Command",
    "Event",
    "ExitTest",
    "NoticeWindow",
    "Status",
    "WorkflowError",
    "WorkflowPolicy",
    "WorkflowState",
    "advance",
    "decide",
    "effective_year",
    "replay",
]


class Status(enum.StrEnum):
    """Household status (DOMAIN.md §2.15)."""

    none = "none"  # not in the registry yet
    applied = "applied"  # 农户申请
    return_applied = "return_applied"  # 返贫申请
    village_reviewed = "village_reviewed"  # 民主评议
    first_notice = "first_notice"  # 第一次公示
    township_reviewed = "township_reviewed"  # 乡审核
    second_notice = "second_notice"  # 第二次公示
    county_reviewed = "county_reviewed"  # 县复审
    registered = "registered"  # 建档立卡
    exit_proposed = "exit_proposed"
    exit_first_notice = "exit_first_notice"
    exit_township_reviewed = "exit_township_reviewed"
    exit_second_notice = "exit_second_notice"
    exit_county_reviewed = "exit_county_reviewed"
    exited = "exited"  # 已脱贫
    rejected = "rejected"
    removed = "removed"  # 识别不准清退


class Chain(enum.StrEnum):
    identification = "identification"
    exit = "exit"
    return_ = "return"


class Command(enum.StrEnum):
    apply = "apply"
    apply_return = "apply_return"
    village_review = "village_review"
    cosign = "cosign"
    start_notice = "start_notice"
    file_objection = "file_objection"
    resolve_objection = "resolve_objection"
    township_review = "township_review"
    county_review = "county_review"
    announce = "announce"
    propose_exit = "propose_exit"
    remove = "remove"


class WorkflowError(Exception):
    """A command the rules refuse; `code` is stable for clients, the message explains."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class Actor:
    sub: str
    role: Role


@dataclass(frozen=True)
class Event:
    """One immutable decision in a household's history."""

    command: Command
    at: datetime
    actor: str
    role: Role
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowPolicy:
    """Configurable rules (policy parameters per region and year; defaults from DOMAIN.md)."""

    notice_days: int = 7  # "公示期7天" [S 002]
    return_causes: frozenset[str] = frozenset({"disaster", "illness", "schooling", "accident", "other"})


@dataclass(frozen=True)
class NoticeWindow:
    started_at: datetime
    places: tuple[str, ...]

    def earliest_close(self, days: int) -> datetime:
        """The notice may close after `days` full local days: from midnight after the posting day + days."""
        posted_on = self.started_at.astimezone(CHINA_TIME).date()
        close_day = posted_on + timedelta(days=days + 1)
        return datetime(close_day.year, close_day.month, close_day.day, tzinfo=CHINA_TIME).astimezone(UTC)


@dataclass(frozen=True)
class ExitTest:
    """The household exit checklist (DOMAIN.md §6.5-A); every item must pass."""

    per_capita_net_income_yuan: int
    income_line_yuan: int
    food_and_clothing_secure: bool  # 两不愁
    children_in_school: bool  # 义务教育有保障
    medical_insurance: bool  # 基本医疗有保障
    housing_safe: bool  # 住房安全有保障 (not C/D grade)
    has_labour_capacity: bool
    stable_income_source: bool
    social_security_covered: bool  # 低保 / 五保 when no labour capacity
    head_acknowledged: bool

    def failures(self) -> list[str]:
        failed = []
        if self.per_capita_net_income_yuan < self.income_line_yuan:
            failed.append("per-capita net income below the line")
        for name in ("food_and_clothing_secure", "children_in_school", "medical_insurance", "housing_safe"):
            if not getattr(self, name):
                failed.append(name)
        if self.has_labour_capacity and not self.stable_income_source:
            failed.append("stable_income_source")
        if not self.has_labour_capacity and not self.social_security_covered:
            failed.append("social_security_covered")
        if not self.head_acknowledged:
            failed.append("head_acknowledged")
        return failed


@dataclass(frozen=True)
class WorkflowState:
    status: Status = Status.none
    chain: Chain | None = None
    returned: bool = False
    cosigned_by: frozenset[str] = frozenset()
    notice: NoticeWindow | None = None
    open_objections: frozenset[str] = frozenset()
    objections_seen: frozenset[str] = frozenset()
    last_at: datetime | None = None
    county_reviewed_at: datetime | None = None

    @property
    def display_status(self) -> str:
        """`objection_pending` while an objection suspends the household (DOMAIN.md §2.15 side state)."""
        return "objection_pending" if self.open_objections else str(self.status)


# (from status, chain) → (to status) for the linear steps, per chain.
_NOTICE_STEPS = {
    Status.village_reviewed: Status.first_notice,
    Status.township_reviewed: Status.second_notice,
    Status.exit_proposed: Status.exit_first_notice,
    Status.exit_township_reviewed: Status.exit_second_notice,
}
_TOWNSHIP_REVIEW = {
    Status.first_notice: Status.township_reviewed,
    Status.exit_first_notice: Status.exit_township_reviewed,
}
_COUNTY_REVIEW = {
    Status.second_notice: Status.county_reviewed,
    Status.exit_second_notice: Status.exit_county_reviewed,
}
_ANNOUNCE = {Status.county_reviewed: Status.registered, Status.exit_county_reviewed: Status.exited}
_FIRST_NOTICES = {Status.first_notice, Status.exit_first_notice}
_NOTICES = _FIRST_NOTICES | {Status.second_notice, Status.exit_second_notice}

# Who decides what (invariant 18: only the assigned level, no skipping).
_ROLES: dict[Command, frozenset[Role]] = {
    Command.apply: frozenset({Role.village_officer}),
    Command.apply_return: frozenset({Role.village_officer}),
    Command.village_review: frozenset({Role.village_officer}),
    Command.cosign: frozenset({Role.village_officer}),
    Command.start_notice: frozenset({Role.village_officer, Role.township_officer}),
    Command.file_objection: frozenset({Role.village_officer, Role.township_officer, Role.county_admin}),
    Command.resolve_objection: frozenset({Role.township_officer, Role.county_admin}),
    Command.township_review: frozenset({Role.township_officer}),
    Command.county_review: frozenset({Role.county_admin}),
    Command.announce: frozenset({Role.county_admin}),
    Command.propose_exit: frozenset({Role.village_officer, Role.township_officer}),
    Command.remove: frozenset({Role.county_admin}),
}


def _need(condition: bool, code: str, message: str, **details: Any) -> None:
    if not condition:
        raise WorkflowError(code, message, **details)


def _require_notice_over(state: WorkflowState, policy: WorkflowPolicy, now: datetime) -> None:
    assert state.notice is not None
    closes = state.notice.earliest_close(policy.notice_days)
    _need(
        now >= closes,
        "notice_not_over",
        f"the notice runs {policy.notice_days} full days; it can close at {closes.isoformat()}",
        earliest=closes.isoformat(),
    )
    _need(
        not state.open_objections,
        "objection_open",
        "an open objection blocks this household",
        objections=sorted(state.open_objections),
    )


def decide(
    state: WorkflowState,
    command: Command,
    actor: Actor,
    now: datetime,
    *,
    reason: str | None = None,
    data: Mapping[str, Any] | None = None,
    policy: WorkflowPolicy | None = None,
) -> Event:
    """Check `command` against the rules; return the event to append (state is not changed here)."""
    policy = policy or WorkflowPolicy()
    data = dict(data or {})
    _need(now.tzinfo is not None, "naive_time", "times must be timezone-aware")
    _need(
        actor.role in _ROLES[command],
        "wrong_level",
        f"a {actor.role} may not {command}",
        allowed=sorted(_ROLES[command]),
    )
    if state.last_at is not None:
        _need(now >= state.last_at, "out_of_order", "workflow events must not go back in time")
    s = state.status

    if command is Command.apply:
        _need(s is Status.none, "wrong_state", f"cannot apply from {s}")
    elif command is Command.apply_return:
        _need(s is Status.exited, "wrong_state", "only an exited household can re-enter (返贫)")
        _need(
            data.get("cause") in policy.return_causes,
            "cause_required",
            f"a return needs a cause: one of {sorted(policy.return_causes)}",
        )
    elif command is Command.village_review:
        _need(s in (Status.applied, Status.return_applied), "wrong_state", f"cannot review from {s}")
        attendees, votes_for = int(data.get("attendees", 0)), int(data.get("votes_for", 0))
        _need(bool(data.get("minutes_ref")), "minutes_required", "the assembly minutes are required")
        _need(
            attendees > 0 and 0 <= votes_for <= attendees, "votes_invalid", "votes must be within attendance"
        )
        _need(
            not data.get("approved") or votes_for * 2 > attendees,
            "votes_invalid",
            "approval needs a majority of the attendees",
        )
    elif command is Command.cosign:
        _need(s is Status.village_reviewed, "wrong_state", "co-signing follows the democratic review")
        _need(
            data.get("party") in ("village_committee", "work_team"),
            "party_invalid",
            "party is village_committee or work_team",
        )
    elif command is Command.start_notice:
        _need(s in _NOTICE_STEPS, "wrong_state", f"no notice follows {s}")
        if s is Status.village_reviewed:
            _need(
                state.cosigned_by >= {"village_committee", "work_team"},
                "cosign_required",
                "the list must be co-signed by the village committee and the work team",
            )
        places = tuple(data.get("places", ()))
        _need(
            "administrative_village" in places,
            "places_invalid",
            "notices are posted in the administrative village",
        )
        if s is Status.village_reviewed and state.chain is not Chain.exit:
            _need(
                "natural_village" in places,
                "places_invalid",
                "the first identification notice is also posted in the natural village (屯)",
            )
    elif command is Command.file_objection:
        _need(s in _NOTICES, "wrong_state", "objections are filed during a notice")
        oid = str(data.get("objection_id", ""))
        _need(
            bool(oid) and oid not in state.objections_seen,
            "objection_id_invalid",
            "a new objection_id is required",
        )
        _need(bool(reason), "reason_required", "an objection states its grounds")
    elif command is Command.resolve_objection:
        _need(
            str(data.get("objection_id")) in state.open_objections,
            "objection_unknown",
            "no such open objection",
        )
        reviewer = Role.township_officer if s in _FIRST_NOTICES else Role.county_admin
        _need(actor.role is reviewer, "wrong_level", f"the {reviewer} resolves objections to this notice")
        _need(
            data.get("outcome") in ("dismissed", "upheld"),
            "outcome_invalid",
            "outcome is dismissed or upheld",
        )
        _need(bool(reason), "reason_required", "a resolution records its reason")
    elif command is Command.township_review:
        _need(s in _TOWNSHIP_REVIEW, "wrong_state", f"no township review from {s}")
        _require_notice_over(state, policy, now)
        _need(
            data.get("approve") is not False or bool(reason), "reason_required", "a rejection needs a reason"
        )
    elif command is Command.county_review:
        _need(s in _COUNTY_REVIEW, "wrong_state", f"no county re-review from {s}")
        _require_notice_over(state, policy, now)
        _need(
            data.get("approve") is not False or bool(reason), "reason_required", "a rejection needs a reason"
        )
    elif command is Command.announce:
        _need(s in _ANNOUNCE, "wrong_state", f"nothing to announce from {s}")
    elif command is Command.propose_exit:
        _need(s is Status.registered, "wrong_state", "only a registered household can exit")
        _need(bool(data.get("minutes_ref")), "minutes_required", "the exit list needs the assembly minutes")
        test = data.get("exit_test")
        _need(isinstance(test, ExitTest), "exit_test_required", "the exit test (§6.5-A) must be evaluated")
        assert isinstance(test, ExitTest)
        failures = test.failures()
        _need(not failures, "exit_test_failed", "the household does not pass the exit test", failed=failures)
        data["exit_test"] = {"failed": [], **{k: v for k, v in vars(test).items()}}
    elif command is Command.remove:
        _need(s not in (Status.none, Status.removed), "wrong_state", f"cannot remove from {s}")
        _need(bool(reason), "reason_required", "a removal records why the household was mis-identified")
    return Event(command=command, at=now, actor=actor.sub, role=actor.role, reason=reason, data=data)


def _apply(state: WorkflowState, e: Event) -> WorkflowState:
    state = replace(state, last_at=e.at)
    s, c = state.status, e.command
    if c is Command.apply:
        return replace(state, status=Status.applied, chain=Chain.identification)
    if c is Command.apply_return:
        return replace(state, status=Status.return_applied, chain=Chain.return_, cosigned_by=frozenset())
    if c is Command.village_review:
        if not e.data.get("approved"):
            return replace(state, status=Status.rejected)
        return replace(state, status=Status.village_reviewed, cosigned_by=frozenset())
    if c is Command.cosign:
        return replace(state, cosigned_by=state.cosigned_by | {str(e.data["party"])})
    if c is Command.start_notice:
        notice = NoticeWindow(started_at=e.at, places=tuple(e.data.get("places", ())))
        return replace(state, status=_NOTICE_STEPS[s], notice=notice)
    if c is Command.file_objection:
        oid = str(e.data["objection_id"])
        return replace(
            state,
            open_objections=state.open_objections | {oid},
            objections_seen=state.objections_seen | {oid},
        )
    if c is Command.resolve_objection:
        remaining = state.open_objections - {str(e.data["objection_id"])}
        if e.data.get("outcome") == "upheld":
            return replace(state, status=Status.rejected, open_objections=frozenset(), notice=None)
        if e.data.get("entries_changed") and state.notice is not None:
            # Changed entries are re-noticed from the resolution day [D, DOMAIN.md §2.9 objections].
            return replace(state, open_objections=remaining, notice=replace(state.notice, started_at=e.at))
        return replace(state, open_objections=remaining)
    if c is Command.township_review:
        if e.data.get("approve") is False:
            return replace(state, status=Status.rejected, notice=None)
        return replace(state, status=_TOWNSHIP_REVIEW[s], notice=None)
    if c is Command.county_review:
        if e.data.get("approve") is False:
            return replace(state, status=Status.rejected, notice=None)
        return replace(state, status=_COUNTY_REVIEW[s], notice=None, county_reviewed_at=e.at)
    if c is Command.announce:
        target = _ANNOUNCE[s]
        return replace(state, status=target, returned=state.returned or state.chain is Chain.return_)
    if c is Command.propose_exit:
        return replace(state, status=Status.exit_proposed, chain=Chain.exit, cosigned_by=frozenset())
    if c is Command.remove:
        return replace(state, status=Status.removed, notice=None, open_objections=frozenset())
    raise AssertionError(c)  # pragma: no cover


def advance(state: WorkflowState, event: Event) -> WorkflowState:
    """The state after one more event (the single reducer `replay` folds with)."""
    return _apply(state, event)


def replay(events: Iterable[Event], start: WorkflowState | None = None) -> WorkflowState:
    """The current state of a household, derived from its whole history (from `start`, by default none)."""
    state = start or WorkflowState()
    for event in events:
        state = _apply(state, event)
    return state


def effective_year(county_reviewed_at: datetime) -> int:
    """Exits and re-entries count for year Y only if county-reviewed by 31 December of Y (invariant 19)."""
    local: date = county_reviewed_at.astimezone(CHINA_TIME).date()
    return local.year
