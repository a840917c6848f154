"""The rules of a gapless change feed (变更订阅, issue #15), pure and generic over a service's record-type enum.

- **Position**: every feed row has `(txid, seq)`: the writing transaction's 64-bit id and the row's sequence. A
  reader returns only rows with `txid` below the xmin of its snapshot: every transaction below xmin has ended,
  so that set can no longer grow, and rows are ordered by `(txid, seq)`. A transaction still open (even one
  that took a low `seq`) has a txid at or above xmin: it is delivered after it ends, never skipped (gapless).
- **Cursor**: the position of the last row delivered; caught up, it becomes `(xmin, 0)`. Opaque text
  (shared/exchange/cursor.py); a malformed one is 422 `invalid_cursor`.
- **Retention**: pruning records the highest txid it deleted (the horizon). A cursor at or below the horizon may
  have lost rows: 410 `cursor_expired` (re-export). No cursor means "from the start", allowed only while nothing
  was ever pruned.
- **Page**: the rows of a page are de-duplicated per (type, id), the latest wins, in the order of their latest
  change; each becomes an item holding the record's current state, or a tombstone: `deleted` (no such record),
  `left_scope` (it is now outside the reader's region), `removed` (the service's own predicate: e.g. a household
  清退 or 户已消亡).

Standard library and the pure shared modules only (it is in `PURE_SHARED` of scripts/check_imports.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from shared.clock import rfc3339
from shared.errors import DomainError, Invalid
from shared.labels import LabelledEnum

__all__ = [
    "CURSOR_KIND",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_WAIT_SECONDS",
    "Change",
    "CurrentRecord",
    "CursorExpired",
    "FeedItem",
    "FeedPage",
    "Op",
    "Position",
    "Reason",
    "Removed",
    "assemble",
    "item",
    "item_json",
    "latest",
    "page_json",
    "parse_types",
    "start_position",
]

#: The cursor kind of every feed cursor (shared/pagination.py codec).
CURSOR_KIND = "feed"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 30

E = TypeVar("E", bound=Enum)


class Op(LabelledEnum):
    upsert = "upsert", "新增或修改", "Insert or update"
    tombstone = "tombstone", "删除标记", "Tombstone"


class Reason(LabelledEnum):
    """Why a tombstone: the record is gone, it left the dataset (the service's rule), or it left the reader's
    region."""

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
class Change(Generic[E]):
    """A feed row as read: its position, what it is about and when it was written."""

    position: Position
    type: E
    id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CurrentRecord:
    """A record's state in the reader's snapshot: whether it lies in the reader's region, its JSON (then only:
    a mapping, or its JSON text as read, passed through untouched), and a status the service's `removed` rule
    reads (a household's workflow status)."""

    in_scope: bool
    record: Mapping[str, Any] | str | None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class FeedItem(Generic[E]):
    type: E
    id: str
    op: Op
    reason: Reason | None
    at: datetime
    record: Mapping[str, Any] | str | None


@dataclass(frozen=True, slots=True)
class FeedPage(Generic[E]):
    """One answered page: its items, the cursor to continue with, and whether more is ready now."""

    items: list[FeedItem[E]]
    next_cursor: str
    has_more: bool


#: A service's rule for a `removed` tombstone: the record exists in scope but left the dataset.
Removed = Callable[[Change[Any], CurrentRecord], bool]


def _never(change: Change[Any], current: CurrentRecord) -> bool:
    return False


class CursorExpired(DomainError):
    """The feed no longer holds every change after the cursor (410: re-export)."""

    kind = "gone"


def start_position(cursor: Position | None, horizon: int | None, *, export: str | None = None) -> Position:
    """Where a read starts: the cursor, or the feed's start when none is given; 410 when rows may be lost.

    `horizon` is the highest txid ever pruned (None: nothing was). Every row of a transaction is written at the
    same time, so a transaction is pruned whole: a cursor strictly above the horizon has lost nothing. `export`
    (the path of the export to start again from) travels in the problem's details."""
    if horizon is not None and (cursor is None or cursor.txid <= horizon):
        details = {} if export is None else {"export": export}
        raise CursorExpired(
            "cursor_expired",
            "the feed no longer holds the changes after this cursor; re-export, then follow from its cursor",
            **details,
        )
    return cursor or Position(0, 0)


def parse_types(text: str | None, kinds: type[E], *, code: str = "unknown_feed_type") -> frozenset[E]:
    """`types=a,b` of the enum `kinds` (absent: all); an unknown name is 422 `code`."""
    if text is None:
        return frozenset(kinds)
    names = [part.strip() for part in text.split(",") if part.strip()]
    out: set[E] = set()
    for name in names:
        try:
            out.add(kinds(name))
        except ValueError:
            raise Invalid(code, f"unknown feed type '{name}'", type=name) from None
    if not out:
        raise Invalid(code, "types names no type", type="")
    return frozenset(out)


def latest(changes: Iterable[Change[E]]) -> list[Change[E]]:
    """One change per (type, id): the latest; in the order of those latest changes."""
    last: dict[tuple[E, str], Change[E]] = {}
    for change in changes:
        key = (change.type, change.id)
        if key not in last or last[key].position < change.position:
            last[key] = change
    return sorted(last.values(), key=lambda c: c.position)


def item(change: Change[E], current: CurrentRecord | None, removed: Removed = _never) -> FeedItem[E]:
    """The item for a record's latest change and its current state (None: it no longer exists)."""

    def tombstone(reason: Reason) -> FeedItem[E]:
        return FeedItem(change.type, change.id, Op.tombstone, reason, change.at, None)

    if current is None:
        return tombstone(Reason.deleted)
    if not current.in_scope:
        return tombstone(Reason.left_scope)
    if removed(change, current):
        return tombstone(Reason.removed)
    return FeedItem(change.type, change.id, Op.upsert, None, change.at, current.record)


def assemble(
    changes: Sequence[Change[E]],
    current: Mapping[tuple[E, str], CurrentRecord],
    removed: Removed = _never,
) -> list[FeedItem[E]]:
    """A page's items: de-duplicated changes, each with its record's current state or a tombstone."""
    return [item(c, current.get((c.type, c.id)), removed) for c in latest(changes)]


# -- the page as JSON text --------------------------------------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _value(member: Enum) -> str:
    return _json(member.value)


def item_json(feed_item: FeedItem[Any]) -> str:
    """One item as JSON text (`type, id, op, reason, at, record`, the wire model's order), the record's text
    spliced in as read (never parsed and written again)."""
    record = feed_item.record
    text = "null" if record is None else record if isinstance(record, str) else _json(record)
    reason = "null" if feed_item.reason is None else _value(feed_item.reason)
    return (
        f'{{"type":{_value(feed_item.type)},"id":{_json(feed_item.id)},"op":{_value(feed_item.op)},'
        f'"reason":{reason},"at":{_json(rfc3339(feed_item.at))},"record":{text}}}'
    )


def page_json(page: FeedPage[Any]) -> str:
    """The page as JSON text: `{"items": [...], "next_cursor": ..., "has_more": ...}`."""
    items = ",".join(item_json(i) for i in page.items)
    more = "true" if page.has_more else "false"
    return f'{{"items":[{items}],"next_cursor":{_json(page.next_cursor)},"has_more":{more}}}'
