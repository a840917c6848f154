"""The wire shapes of the change feed: a page of items, each an upsert with the record or a tombstone."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from services.registry.changes.domain import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_WAIT_SECONDS,
    Op,
    Reason,
    RecordType,
)
from shared.exchange.cursor import decode_position, encode_position

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_WAIT_SECONDS",
    "ChangeItem",
    "ChangePage",
    "decode_position",
    "encode_position",
]


class ChangeItem(BaseModel):
    type: RecordType = Field(description="`household`, `help_record` or `pairing`")
    id: str = Field(description="The record's id")
    op: Op = Field(description="`upsert`: `record` is its current state; `tombstone`: drop it")
    reason: Reason | None = Field(
        description="Tombstones: `deleted`, `removed` (清退/户已消亡) or `left_scope` (moved out of your region)"
    )
    at: str = Field(
        description="When its latest change in this page was written (RFC 3339, UTC)",
        json_schema_extra={"format": "date-time"},
    )
    record: dict[str, Any] | None = Field(
        description="The current state, masked as the API masks it (households: the export's card shape with "
        "members and latest income; help records: `HelpRecordPublic`; pairings: `PairingPublic`); null for "
        "tombstones"
    )


class ChangePage(BaseModel):
    items: list[ChangeItem] = Field(
        description="One item per record changed, in the order of its latest change"
    )
    next_cursor: str = Field(description="Continue with `after=` this (also when `items` is empty)")
    has_more: bool = Field(description="More changes are ready now: read again at once")
