"""The wire shapes of planning's change feed: a page of items, each an upsert with the record or a tombstone."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from services.planning.changes.domain import RecordType
from shared.exchange.feed import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, Op, Reason

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "MAX_WAIT_SECONDS", "PlanningChangeItem", "PlanningChangePage"]


class PlanningChangeItem(BaseModel):
    type: RecordType = Field(description="`plan`, `project` or `ledger_entry`")
    id: str = Field(description="The record's id (a ledger entry's number as text)")
    op: Op = Field(description="`upsert`: `record` is its current state; `tombstone`: drop it")
    reason: Reason | None = Field(description="Tombstones: `deleted` (the record no longer exists)")
    at: str = Field(
        description="When its latest change in this page was written (RFC 3339, UTC)",
        json_schema_extra={"format": "date-time"},
    )
    record: dict[str, Any] | None = Field(
        description="The current state, the export's line of every field (plans: `PlanPublic`; projects: "
        "`ProjectPublic` with `beneficiaries_count`, `poor_beneficiaries_count`, `milestones`; ledger entries: "
        "`LedgerEntryPublic`); null for tombstones"
    )


class PlanningChangePage(BaseModel):
    items: list[PlanningChangeItem] = Field(
        description="One item per record changed, in the order of its latest change"
    )
    next_cursor: str = Field(description="Continue with `after=` this (also when `items` is empty)")
    has_more: bool = Field(description="More changes are ready now: read again at once")
