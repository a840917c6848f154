"""The rules of the province change feed (变更订阅, issue #15), pure: positions, the cursor, pages, tombstones.

- **Position**: every feed row has `(txid, seq)`: the writing transaction's 64-bit id and the row's sequence. A
  reader returns only rows with `txid` below the xmin of its snapshot: every transaction below xmin has ended,
  so that set can no longer grow, and rows are ordered by `(txid, seq)`. A transaction still open (even one
  that took a low `seq`) has a txid at or above xmin: it is delivered after it ends, never skipped (gapless).
- **Cursor**: the position of the last row delivered; caught up, it becomes `(xmin, 0)`. Opaque text
  (changes/schemas.py, shared/pagination.py kind `feed`); a malformed one is 422 `invalid_cursor`.
- **Retention**: pruning records the highest txid it deleted (the horizon). A cursor at or below the horizon may
  have lost rows: 410 `cursor_expired` (re-export). No cursor means "from the start", allowed only while nothing
  was ever pruned.
- **Page**: the rows of a page are de-duplicated per (type, id), the latest wins, in the order of their latest
  change; each becomes an item holding the record's current state, or a tombstone: `deleted` (no such record),
  `left_scope` (it is now outside the reader's region), `removed` (a household 识别不准清退 or 户已消亡).
- **Who**: county admins, township and village officers, the province system and services, on their region
  subtree; cadres have the phone download instead (403 `feed_not_allowed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import DomainError, Invalid, NotAllowed
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "CURSOR_KIND",
    "DEFAULT_LIMIT",
    "FEED_ROLES",
    "MAX_LIMIT",
    "MAX_WAIT_SECONDS",
    "REMOVED_STATUSES",
    "Change",
    "CurrentRecord",
    "CursorExpired",
    "FeedItem",
    "Op",
    "Position",
    "Reason",
    "RecordType",
    "assemble",
    "check_reader",
    "parse_types",
    "start_position",
]

CURSOR_KIND = "feed"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 30
#: Household workflow statuses that end a household's life in the registry (a `removed` tombstone).
REMOVED_STATUSES = frozenset({"removed", "dissolved"})

FEED_ROLES: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.village_officer, Role.province_system, Role.service}
)


class RecordType(LabelledEnum):
    """What a feed item is about."""

    household = "household", "贫困户(含成员及最新收入)", "Household (members, latest income)"
    help_record = "help_record", "帮扶记录", "Help record"
    pairing = "pairing", "结对帮扶", "Pairing"


class Op(LabelledEnum):
    upsert = "upsert", "新增或修改", "Insert or update"
    tombstone = "tombstone", "删除标记", "Tombstone"


class Reason(LabelledEnum):
    """Why a tombstone: the record is gone, the household left the registry, or it left the reader's region."""

    deleted = "deleted", "已删除", "Deleted"
    removed = "removed", "已清退或户已消亡", "Removed or dissolved"
    left_scope = "left_scope", "已迁出本辖区", "Moved out of your region"


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the feed: after the row `(txid, seq)`."""

    txid: int
    seq: int

    def __post_init__(self) -> None:
        if self.txid < 0 or self.seq < 0:
            raise Invalid("invalid_cursor", "a feed position is never negative")


@dataclass(frozen=True, slots=True)
class Change:
    """A feed row as read: its position, what it is about and when it was written."""

    position: Position
    type: RecordType
    id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CurrentRecord:
    """A record's state in the reader's snapshot: whether it lies in the reader's region, its JSON (then only:
    a mapping, or its JSON text as read, passed through untouched), and for a household its workflow status."""

    in_scope: bool
    record: Mapping[str, Any] | str | None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class FeedItem:
    type: RecordType
    id: str
    op: Op
    reason: Reason | None
    at: datetime
    record: Mapping[str, Any] | str | None


def check_reader(role: Role) -> None:
    if role not in FEED_ROLES:
        raise NotAllowed(
            "feed_not_allowed",
            f"role '{role}' has no change feed; cadres use /sync/download",
            role=str(role),
        )


class CursorExpired(DomainError):
    """The feed no longer holds every change after the cursor (410: re-export)."""

    kind = "gone"


def start_position(cursor: Position | None, horizon: int | None) -> Position:
    """Where a read starts: the cursor, or the feed's start when none is given; 410 when rows may be lost.

    `horizon` is the highest txid ever pruned (None: nothing was). Every row of a transaction is written at the
    same time, so a transaction is pruned whole: a cursor strictly above the horizon has lost nothing."""
    if horizon is not None and (cursor is None or cursor.txid <= horizon):
        raise CursorExpired(
            "cursor_expired",
            "the feed no longer holds the changes after this cursor; re-export, then follow from its cursor",
            export="/exports/households",
        )
    return cursor or Position(0, 0)


def parse_types(text: str | None) -> frozenset[RecordType]:
    """`types=household,help_record` (absent: all); an unknown name is 422 `unknown_feed_type`."""
    if text is None:
        return frozenset(RecordType)
    names = [part.strip() for part in text.split(",") if part.strip()]
    out: set[RecordType] = set()
    for name in names:
        try:
            out.add(RecordType(name))
        except ValueError:
            raise Invalid("unknown_feed_type", f"unknown feed type '{name}'", type=name) from None
    if not out:
        raise Invalid("unknown_feed_type", "types names no type", type="")
    return frozenset(out)


def latest(changes: Iterable[Change]) -> list[Change]:
    """One change per (type, id): the latest; in the order of those latest changes."""
    last: dict[tuple[RecordType, str], Change] = {}
    for change in changes:
        key = (change.type, change.id)
        if key not in last or last[key].position < change.position:
            last[key] = change
    return sorted(last.values(), key=lambda c: c.position)


def item(change: Change, current: CurrentRecord | None) -> FeedItem:
    """The item for a record's latest change and its current state (None: it no longer exists)."""

    def tombstone(reason: Reason) -> FeedItem:
        return FeedItem(change.type, change.id, Op.tombstone, reason, change.at, None)

    if current is None:
        return tombstone(Reason.deleted)
    if not current.in_scope:
        return tombstone(Reason.left_scope)
    if change.type is RecordType.household and current.status in REMOVED_STATUSES:
        return tombstone(Reason.removed)
    return FeedItem(change.type, change.id, Op.upsert, None, change.at, current.record)


def assemble(
    changes: Sequence[Change], current: Mapping[tuple[RecordType, str], CurrentRecord]
) -> list[FeedItem]:
    """A page's items: de-duplicated changes, each with its record's current state or a tombstone."""
    return [item(c, current.get((c.type, c.id))) for c in latest(changes)]
