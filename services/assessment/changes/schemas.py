"""The wire shapes of the assessment's change feed: a page of items, each an upsert with the record or a
tombstone (written as JSON text by shared/exchange/feed.py `page_json`; these models document it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from services.assessment.changes.domain import RecordType
from shared.exchange.feed import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, Op, Reason

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "MAX_WAIT_SECONDS", "AssessmentChangeItem", "AssessmentChangePage"]


class AssessmentChangeItem(BaseModel):
    type: RecordType = Field(description="`run`, `result` or `finding`")
    id: str = Field(
        description="The record's id: a run's or a finding's id; a result's `<run id>:<subject id>`"
    )
    op: Op = Field(description="`upsert`: `record` is its current state; `tombstone`: drop it")
    reason: Reason | None = Field(
        description="Tombstones: `deleted` (an operator's purge), `left_scope` (a finding moved out of your region)"
    )
    at: str = Field(
        description="When its latest change in this page was written (RFC 3339, UTC)",
        json_schema_extra={"format": "date-time"},
    )
    record: dict[str, Any] | None = Field(
        description="The current state: a run as `RunPublic`; a result as the `results` export's row (every "
        "field, indicators, vetoes, bonus hits and commendations nested); a finding as the `findings` export's "
        "row (effect, evidence, rectifications); null for tombstones"
    )


class AssessmentChangePage(BaseModel):
    items: list[AssessmentChangeItem] = Field(
        description="One item per record changed, in the order of its latest change"
    )
    next_cursor: str = Field(description="Continue with `after=` this (also when `items` is empty)")
    has_more: bool = Field(description="More changes are ready now: read again at once")
