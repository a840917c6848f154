"""Monitoring rules (监测, DOMAIN.md §2.17, §3.3): the June and December rounds, overdue rounds, visit frequency.

Pure: the standard library, `shared.roles`, `shared.clock` and `shared.errors`. Time is passed in (`on`).

| rule | DOMAIN.md | here |
|---|---|---|
| the township monitors its helpers in one round in June (H1) and one in December (H2) each year | §2.17 [S 002]; §2.16 | `Half`, `due_date` |
| rounds are run by township officers (and county administrators) | §2.17, §1.3 | `MONITORS` |
| a round belongs to a township; findings are recorded per pairing until the round is closed | §2.17 [D] `monitoring_round` | `require_township`, `require_open` |
| a round not closed by the end of its month is overdue (flag, score deduction) | invariant 20 | `overdue` |
| households visited less often than `min_visits_per_household_per_year` (default 4) are flagged | §3.3 [D]; invariant 33 | `minimum_visits`, `visit_flags` |
| a round is held in its month: it is opened, and closed, only once its month (1 June / 1 December) has begun — never for a future period | §2.16 "June … December" [S 002]; §2.17; invariant 12 (no future dates) | `period_start`, `require_period_begun` |
| a round closed with no finding must say why (an explicit reason), since the round is to check the helpers' projects, funds and results | §2.17 [S 002] | `require_empty_reason` |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from shared.clock import china_date
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import RegionLevel, Role, level_of

__all__ = [
    "DUE",
    "EMPTY_REASON_LABEL",
    "MIN_VISITS_PARAMETER",
    "MONITORS",
    "VISITS_BELOW_MINIMUM",
    "EmptyRoundNeedsReason",
    "FindingExists",
    "Half",
    "NotAMonitor",
    "NotATownship",
    "OverdueRound",
    "OverdueState",
    "PairingNotInTownship",
    "PeriodNotBegun",
    "RoundClosed",
    "RoundExists",
    "due_date",
    "fen",
    "minimum_visits",
    "overdue",
    "period_start",
    "require_empty_reason",
    "require_monitor",
    "require_open",
    "require_period_begun",
    "require_township",
    "visit_flags",
    "year_bounds",
    "yuan",
]


@code_list("monitoring_half", "监测轮次", "Monitoring half")
class Half(LabelledEnum):
    """The two rounds of a year."""

    H1 = "H1", "上半年(6月监测)", "First half (June round)"  # June round (6月监测)
    H2 = "H2", "下半年(12月监测)", "Second half (December round)"  # December round (12月监测)


#: Each round is due by the end of its month (month, day) [S 002: "每年6月和12月各监测一次"].
DUE: dict[Half, tuple[int, int]] = {Half.H1: (6, 30), Half.H2: (12, 31)}

#: Each round's period begins on the first day of its month (month, day): June and December [S 002].
START: dict[Half, tuple[int, int]] = {Half.H1: (6, 1), Half.H2: (12, 1)}

#: The line that records, in the stored summary, why a round closed without findings.
EMPTY_REASON_LABEL = "空轮次原因 (no finding recorded): "

#: Who runs rounds: township officers, and county administrators over their townships.
MONITORS: frozenset[Role] = frozenset({Role.county_admin, Role.township_officer})

#: The policy parameter (regions.domain catalogue) holding the yearly minimum of visits per household.
MIN_VISITS_PARAMETER = "min_visits_per_household_per_year"

#: The flag on a finding whose pairing had fewer visits in the year than the minimum (invariant 33).
VISITS_BELOW_MINIMUM = "visits_below_minimum"


@code_list("monitoring_overdue_state", "监测逾期状态", "Overdue state")
class OverdueState(LabelledEnum):
    missing = "missing", "未开展", "Missing (never opened)"  # never opened
    open = "open", "未结束", "Open (not closed)"  # opened, not closed
    closed_late = "closed_late", "逾期结束", "Closed late"  # closed after its due date


# -- errors (stable codes) --------------------------------------------------------------------------------------
class NotAMonitor(NotAllowed):
    def __init__(self) -> None:
        super().__init__(
            "role_not_allowed", "monitoring rounds are run by township officers and county administrators"
        )


class NotATownship(Invalid):
    def __init__(self) -> None:
        super().__init__("not_a_township", "township_code must be a township", field="/township_code")


class RoundExists(Refused):
    def __init__(self) -> None:
        super().__init__("round_exists", "this round exists already")


class RoundClosed(Refused):
    def __init__(self, *, closing: bool = False) -> None:
        super().__init__("round_closed", "the round is closed already" if closing else "the round is closed")


class PairingNotInTownship(Invalid):
    def __init__(self) -> None:
        super().__init__("no_such_pairing", "no such pairing in this township", field="/pairing_id")


class FindingExists(Refused):
    def __init__(self) -> None:
        super().__init__("finding_exists", "this pairing has a finding in the round already")


class PeriodNotBegun(Refused):
    def __init__(self, start: date, *, closing: bool = False) -> None:
        verb = "closed" if closing else "opened"
        super().__init__(
            "round_period_not_begun",
            f"the round's period begins on {start.isoformat()}: it cannot be {verb} before",
        )


class EmptyRoundNeedsReason(Invalid):
    def __init__(self) -> None:
        super().__init__(
            "empty_round_reason_required",
            "the round has no finding: closing it needs an explicit reason",
            field="/empty_reason",
        )


# -- facts ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OverdueRound:
    """A township's round that was not closed by its due date."""

    township_code: str
    name: str
    year: int
    half: Half
    due: date
    state: OverdueState


# -- rules ------------------------------------------------------------------------------------------------------
def fen(amount_yuan: Decimal) -> int:
    return int(amount_yuan * 100)


def yuan(amount_fen: int) -> Decimal:
    return Decimal(amount_fen) / 100


def due_date(year: int, half: Half) -> date:
    month, day = DUE[half]
    return date(year, month, day)


def period_start(year: int, half: Half) -> date:
    """The first day of a round's period: 1 June (H1) or 1 December (H2)."""
    month, day = START[half]
    return date(year, month, day)


def require_period_begun(year: int, half: Half, today: date, *, closing: bool = False) -> None:
    """A round is opened and closed only once its period has begun (China date `today`): no future rounds."""
    start = period_start(year, half)
    if today < start:
        raise PeriodNotBegun(start, closing=closing)


def require_empty_reason(findings: int, reason: str | None) -> None:
    """Closing a round without any finding needs an explicit reason (blank does not count)."""
    if findings == 0 and not (reason or "").strip():
        raise EmptyRoundNeedsReason()


def require_monitor(role: Role) -> None:
    if role not in MONITORS:
        raise NotAMonitor()


def require_township(code: str) -> None:
    if level_of(code) is not RegionLevel.township:
        raise NotATownship()


def require_open(closed_at: datetime | None, *, closing: bool = False) -> None:
    """Findings are recorded, and a round closed, only while it is open."""
    if closed_at is not None:
        raise RoundClosed(closing=closing)


def minimum_visits(policy: Mapping[str, int | Decimal | None]) -> int:
    """The yearly minimum of visits per paired household from the region's policy values (unset: none)."""
    return int(policy.get(MIN_VISITS_PARAMETER) or 0)


def visit_flags(visits: int, minimum: int) -> list[str]:
    """Flags of a finding whose pairing saw `visits` visits in the round's year (invariant 33)."""
    return [VISITS_BELOW_MINIMUM] if visits < minimum else []


def year_bounds(year: int) -> tuple[date, date]:
    """The days a pairing must be in force on (either) to count as in force during `year`: 1 Jan and 31 Dec."""
    return date(year, 1, 1), date(year, 12, 31)


def overdue(
    townships: Sequence[tuple[str, str]],
    rounds: Mapping[tuple[str, int, Half], datetime | None],
    on: date,
) -> list[OverdueRound]:
    """Rounds of `townships` (code, name) due before `on` that were not closed by their due date (invariant 20).

    `rounds` maps (township, year, half) to the round's closing time (None while open); a missing key is a
    round never opened. Years run from the first year any round was held (or `on`'s year) to `on`'s year, and
    a round closed on its due date China time is on time.
    """
    first_year = min([year for _, year, _ in rounds] or [on.year])
    out = []
    for code, name in townships:
        for year in range(first_year, on.year + 1):
            for half in Half:
                due = due_date(year, half)
                if due >= on:
                    continue
                key = (code, year, half)
                if key not in rounds:
                    out.append(OverdueRound(code, name, year, half, due, OverdueState.missing))
                    continue
                closed = rounds[key]
                if closed is None:
                    out.append(OverdueRound(code, name, year, half, due, OverdueState.open))
                elif china_date(closed) > due:
                    out.append(OverdueRound(code, name, year, half, due, OverdueState.closed_late))
    return out
