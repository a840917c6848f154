"""The phones' incremental download (离线同步, issue #4): its cursor and the change feed's rules, pure.

A cadre's phone keeps the cards of the households the cadre is actively paired with (invariant 32) and
downloads what changed since its last download. The change feed `registry_change` (one row per household
change, written by triggers) drives it; the cursor says where the phone stopped:

- `seq`: the highest feed row visible to the download's snapshot;
- `horizon`: the snapshot's xmin (the oldest transaction still running) when some were running, so the next
  download also re-reads the rows those transactions commit later with a lower `seq` (identity values are
  assigned at INSERT, committed later): delivery is *at least once*, and a phone replaces households by id;
- `day`: the China date of the download, so pairings that start or end by date since then are seen;
- `issued_at`: when it was issued (unix seconds).

A cursor cannot be continued from — and the phone gets a full download — when it comes from the future (another
or a restored database), is older than `CURSOR_MAX_AGE_DAYS`, or points before the oldest row the feed still
keeps. The feed keeps rows for `CURSOR_MAX_AGE_DAYS`: pruning older ones loses nothing a cursor needs.

Time is passed in (the app clock's `now` and its China date); nothing here reads a clock or a database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.errors import Invalid, NotAllowed
from shared.roles import Role

__all__ = [
    "CURSOR_MAX_AGE_DAYS",
    "FUTURE_TOLERANCE_SECONDS",
    "FeedHead",
    "SyncCursor",
    "check_downloader",
    "needs_full",
    "next_cursor",
    "retention_cutoff",
    "usable",
]

#: A phone that has not synced for longer than this gets a full download (the feed may be pruned after it).
CURSOR_MAX_AGE_DAYS = 90
#: Clocks differ a little between servers: a cursor issued up to this far "in the future" is still ours.
FUTURE_TOLERANCE_SECONDS = 300
_INT64 = 1 << 63


def _count(name: str, value: int | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) is not int or not 0 <= value < _INT64:
        raise Invalid("cursor_invalid", f"{name} is not a non-negative 64-bit integer")


@dataclass(frozen=True, slots=True)
class SyncCursor:
    """Where a phone's last download stopped (see the module docstring); a malformed one is `Invalid`."""

    seq: int
    horizon: int | None
    day: date
    issued_at: int

    def __post_init__(self) -> None:
        _count("seq", self.seq)
        _count("horizon", self.horizon, optional=True)
        _count("issued_at", self.issued_at)
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            raise Invalid("cursor_invalid", "day is not a date")


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The snapshot's facts, read before any data: the caller's cadre row (if any), the feed's highest and
    lowest `seq`, and the oldest transaction still running (None when none ran)."""

    cadre_id: uuid.UUID | None
    max_seq: int
    min_seq: int | None
    horizon: int | None


def check_downloader(role: Role) -> None:
    """The phone download is for helping cadres (帮扶干部): their paired households only."""
    if role is not Role.cadre:
        raise NotAllowed("download_for_cadres", f"role '{role}' has no phone download; it is for cadres")


def usable(cursor: SyncCursor, head: FeedHead, *, today: date, now: datetime) -> bool:
    """False when the cursor cannot be continued from and the phone needs a full download."""
    moment = now.timestamp()
    if (
        cursor.seq > head.max_seq
        or cursor.day > today
        or cursor.issued_at > moment + FUTURE_TOLERANCE_SECONDS
    ):
        return False  # from the future: another or a restored database
    if moment - cursor.issued_at > CURSOR_MAX_AGE_DAYS * 86400:
        return False
    # Changes after the cursor were pruned from the feed.
    return not (head.min_seq is not None and cursor.seq < head.min_seq - 1)


def needs_full(previous: SyncCursor | None, head: FeedHead, *, today: date, now: datetime) -> bool:
    """A first download, or one whose cursor cannot be continued from, sends every active household."""
    return previous is None or not usable(previous, head, today=today, now=now)


def next_cursor(head: FeedHead, *, today: date, now: datetime) -> SyncCursor:
    """The cursor this download hands out: the snapshot's feed position, today, now."""
    return SyncCursor(seq=head.max_seq, horizon=head.horizon, day=today, issued_at=int(now.timestamp()))


def retention_cutoff(now: datetime) -> datetime:
    """Feed rows written before this are needed by no cursor still honoured (they get a full download)."""
    return now - timedelta(days=CURSOR_MAX_AGE_DAYS)
