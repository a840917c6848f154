"""The rules of the province change feed (变更订阅, issue #15), pure: positions, the cursor, pages, tombstones.

- **Position**: every feed row has `(txid, seq)`: the writing transaction's 64-bit id and the row's sequence. A
  reader returns only rows with `txid` below the xmin of its snapshot: every transaction below xmin has ended,
  so that set can no longer grow, and rows are ordered by `(txid, seq)`. A transaction still open (even one
  that took a low `seq`) has a txid at or above xmin: it is delivered after it ends, never skipped (gapless).
- **Cursor**: the position of the last row delivered; caught up, it becomes `(xmin, 0)`. Opaque text
  (shared/exchange/cursor.py, shared/pagination.py kind `feed`); a malformed one is 422 `invalid_cursor`.
- **Retention**: pruning records the highest txid it deleted (the horizon). A cursor at or below the horizon may
  have lost rows: 410 `cursor_expired` (re-export). No cursor means "from the start", allowed only while nothing
  was ever pruned.
- **Page**: the rows of a page are de-duplicated per (type, id), the latest wins, in the order of their latest
  change; each becomes an item holding the record's current state, or a tombstone: `deleted` (no such record),
  `left_scope` (it is now outside the reader's region), `removed` (a household 识别不准清退 or 户已消亡).
- **Who**: county admins, township and village officers, the province system and services, on their region
  subtree; cadres have the phone download instead (403 `feed_not_allowed`).

The machinery is every service's (shared/exchange/feed.py); this module names the registry's record types, its
readers and its `removed` rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from services.registry.exports.domain import HELP_RECORDS, HOUSEHOLDS, PAIRING_FIELDS, Dataset, FieldSelection
from shared.errors import NotAllowed
from shared.exchange import export, feed
from shared.exchange.feed import (
    CURSOR_KIND,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_WAIT_SECONDS,
    CurrentRecord,
    CursorExpired,
    FeedItem,
    Op,
    Position,
    Reason,
    latest,
)
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "CURSOR_KIND",
    "DEFAULT_LIMIT",
    "EXPORT_PATH",
    "FEED_FIELDS",
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
    "is_removed",
    "latest",
    "parse_fields",
    "parse_types",
    "select",
    "start_position",
]

#: Household workflow statuses that end a household's life in the registry (a `removed` tombstone).
REMOVED_STATUSES = frozenset({"removed", "dissolved"})
#: Where a reader whose cursor expired starts again (410 `cursor_expired`).
EXPORT_PATH = "/exports/households"

FEED_ROLES: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.village_officer, Role.province_system, Role.service}
)


class RecordType(LabelledEnum):
    """What a feed item is about."""

    household = "household", "贫困户(含成员及最新收入)", "Household (members, latest income)"
    help_record = "help_record", "帮扶记录", "Help record"
    pairing = "pairing", "结对帮扶", "Pairing"


@dataclass(frozen=True, slots=True)
class Change(feed.Change[RecordType]):
    """A registry feed row (shared/exchange/feed.py `Change` of a `RecordType`)."""


#: Each record type's field catalogue for `fields=`: the exports' own (households: the export row, built in SQL;
#: help records: `HelpRecordPublic` with its lists); pairings: `PairingPublic` (the feed carries no cadre or unit).
FEED_FIELDS: dict[RecordType, Dataset] = {
    RecordType.household: HOUSEHOLDS,
    RecordType.help_record: HELP_RECORDS,
    RecordType.pairing: export.Dataset(HOUSEHOLDS.name, PAIRING_FIELDS, (), "pairing.export"),
}


def check_reader(role: Role) -> None:
    if role not in FEED_ROLES:
        raise NotAllowed(
            "feed_not_allowed",
            f"role '{role}' has no change feed; cadres use /sync/download",
            role=str(role),
        )


def start_position(cursor: Position | None, horizon: int | None) -> Position:
    """Where a read starts: the cursor, or the feed's start when none is given; 410 when rows may be lost
    (shared/exchange/feed.py `start_position`, pointing at the household export)."""
    return feed.start_position(cursor, horizon, export=EXPORT_PATH)


def parse_types(text: str | None) -> frozenset[RecordType]:
    """`types=household,help_record` (absent: all); an unknown name is 422 `unknown_feed_type`."""
    return feed.parse_types(text, RecordType)


def parse_fields(text: str | None) -> dict[RecordType, FieldSelection]:
    """`fields=household:id,status,members.name;help_record:id,content`: per record type, the export's syntax
    and catalogue (shared/exchange/export.py `parse_type_fields`); a type not named keeps its whole record. An
    unknown type is 422 `unknown_feed_type`, an unknown field 422 `unknown_export_field`."""
    return export.parse_type_fields(text, FEED_FIELDS, kind=FieldSelection)


def select(item: FeedItem[RecordType], selection: FieldSelection | None) -> FeedItem[RecordType]:
    """An upsert's record with only the selected fields (its JSON text read, projected and written again);
    tombstones, and items of a type without a selection, as they are."""
    if selection is None or item.record is None:
        return item
    record = json.loads(item.record) if isinstance(item.record, str) else item.record
    return replace(item, record=export.project(record, selection))


def is_removed(change: feed.Change[RecordType], current: CurrentRecord) -> bool:
    """A household 识别不准清退 or 户已消亡 is a `removed` tombstone."""
    return change.type is RecordType.household and current.status in REMOVED_STATUSES


def item(change: feed.Change[RecordType], current: CurrentRecord | None) -> FeedItem[RecordType]:
    """The item for a record's latest change and its current state (None: it no longer exists)."""
    return feed.item(change, current, is_removed)


def assemble(
    changes: Sequence[feed.Change[RecordType]], current: Mapping[tuple[RecordType, str], CurrentRecord]
) -> list[FeedItem[RecordType]]:
    """A page's items: de-duplicated changes, each with its record's current state or a tombstone."""
    return feed.assemble(changes, current, is_removed)
