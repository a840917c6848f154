"""The yearly deadlines of a township's data (invariant 20, seed 002): the update of year Y's data by the end of
January of Y+1, the upload to the national information system by the end of February of Y+1. Pure.

A deadline is `met` (done by its day), `late` (done after it), `overdue` (not done and the day is past) or
`pending` (not done, not yet due); the update's `met`/`missed` comes from the incomes recorded (registry figures,
`deadline_jan_update_met`: every household poor at the end of Y has an income of Y recorded before 1 Feb Y+1).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta

from shared.clock import CHINA_TIME
from shared.errors import Invalid, NotAllowed
from shared.labels import LabelledEnum
from shared.roles import RegionLevel, Role

__all__ = [
    "UPLOAD_RECORDERS",
    "DeadlineState",
    "check_reference",
    "check_upload_year",
    "require_upload_recorder",
    "update_due",
    "update_state",
    "upload_due",
    "upload_state",
]

#: Who reports an upload: the township's officers, and the county's administrators for their townships.
UPLOAD_RECORDERS = frozenset({Role.township_officer, Role.county_admin})


class DeadlineState(LabelledEnum):
    met = "met", "按期完成", "Met"
    late = "late", "逾期完成", "Done late"
    overdue = "overdue", "已逾期未完成", "Overdue"
    pending = "pending", "未到期", "Not yet due"
    missed = "missed", "未按期完成", "Missed"
    unknown = "unknown", "无法判断", "Unknown"


def update_due(year: int) -> date:
    """The last day of the update of year `year`'s data: 31 January of the next year."""
    return date(year + 1, 1, 31)


def upload_due(year: int) -> date:
    """The last day of the upload of year `year`'s data: the end of February of the next year."""
    return date(year + 1, 2, calendar.monthrange(year + 1, 2)[1])


def _end_of(day: date) -> datetime:
    """The first instant after `day` in China time, as UTC."""
    return datetime.combine(day + timedelta(days=1), time(), CHINA_TIME).astimezone(UTC)


def upload_state(year: int, uploaded_at: datetime | None, now: datetime) -> DeadlineState:
    deadline = _end_of(upload_due(year))
    if uploaded_at is not None:
        return DeadlineState.met if uploaded_at < deadline else DeadlineState.late
    return DeadlineState.overdue if now >= deadline else DeadlineState.pending


def update_state(year: int, met: bool | None, now: datetime) -> DeadlineState:
    """From the figure `deadline_jan_update_met` of year+1 (None before 1 Feb, or nobody was poor)."""
    if now < _end_of(update_due(year)):
        return DeadlineState.pending
    if met is None:
        return DeadlineState.unknown
    return DeadlineState.met if met else DeadlineState.missed


def require_upload_recorder(role: Role, level: RegionLevel) -> None:
    if role not in UPLOAD_RECORDERS:
        raise NotAllowed(
            "upload_recorder_required", "township officers and county administrators report uploads"
        )
    if level is not RegionLevel.township:
        raise Invalid("not_a_township", "uploads are reported per township", field="code")


def check_upload_year(year: int, today: date) -> None:
    """Year Y's data is uploaded from 1 January of Y+1: an upload of the current or a future year is refused."""
    if year >= today.year:
        raise Invalid(
            "upload_year_not_over",
            f"the data of {year} is uploaded from 1 January {year + 1}",
            field="year",
        )


def check_reference(reference: str) -> str:
    text = reference.strip()
    if not text:
        raise Invalid(
            "reference_required", "the national system's receipt or reference is required", field="/reference"
        )
    return text
