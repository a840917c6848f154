"""Time as the domain counts it. Pure: standard library only (domain modules may import it).

Storage and the wire are UTC; the rules count in China's local days (a notice of 7 full days, a pairing valid
on a date, the effective year of an exit). China has had no daylight saving since 1991, so a fixed offset is
exact. Use cases never read the clock themselves: the request's `Context.now` comes from `app.state.clock`,
which tests replace.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["CHINA_TIME", "Clock", "DevClock", "china_date", "rfc3339", "utcnow"]

#: China Standard Time (UTC+8).
CHINA_TIME = timezone(timedelta(hours=8), "CST")

#: A source of "now": timezone-aware UTC.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Timezone-aware UTC now (storage is always `timestamptz`)."""
    return datetime.now(UTC)


def china_date(moment: datetime) -> date:
    """The calendar date in China at `moment` (which must be timezone-aware)."""
    return moment.astimezone(CHINA_TIME).date()


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC as RFC 3339 with `Z` (the wire format of every time), e.g. 2026-12-02T13:32:44.351080Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DevClock:
    """A development clock (`DEV_CLOCK=true`, never in production): real time plus an offset that only grows, so
    a demo or an end-to-end test can walk a household through 7-day notices in minutes. Time never runs
    backwards (workflow events are append-only and ordered by time)."""

    #: The furthest a clock may be moved in one call (ten years).
    MAX_STEP = timedelta(days=3660)

    def __init__(self, source: Clock = utcnow) -> None:
        self.source = source
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.source() + self.offset

    def advance(self, step: timedelta) -> datetime:
        """Move the clock forward by `step` (0 < step <= MAX_STEP); the new now."""
        if step <= timedelta(0) or step > self.MAX_STEP:
            raise ValueError(
                f"a development clock moves forward by more than 0 and at most {self.MAX_STEP.days} days"
            )
        self.offset += step
        return self()
