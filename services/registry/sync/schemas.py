"""The phone download's answer (`GET /sync/download`) and its cursor on the wire.

PostgreSQL builds the households' JSON (cards, plans, records) and the route sends it as it comes, so these
models are the contract it keeps: `SyncDownload` declares exactly the keys sent, the card is the household
card of households/schemas.py, each record is `HelpRecordPublic` (the one shape of a help record), and the tests
validate real downloads against them.

The cursor is opaque to phones and not secret: a forged one can only make the server send more or less of the
caller's own households (scope is always checked), so it is validated, not signed. It goes through the one
keyset-cursor codec of shared/pagination.py (kind `sync`, then seq, horizon, day, issued_at); a malformed one
is 400 `cursor_invalid`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.registry.help_plans.schemas import PlanItem
from services.registry.help_records.schemas import HelpRecordPublic
from services.registry.households.schemas import HouseholdCard
from services.registry.sync.domain import SyncCursor
from shared.errors import Invalid
from shared.pagination import decode_cursor as decode_keyset
from shared.pagination import encode_cursor as encode_keyset
from shared.problems import BadRequest

__all__ = [
    "SyncDownload",
    "SyncHelpPlan",
    "SyncHousehold",
    "SyncPlanItem",
    "SyncProgress",
    "decode_cursor",
    "encode_cursor",
]

#: The ordering name of sync cursors in the shared codec.
_KIND = "sync"


class SyncPlanItem(PlanItem):
    """A measure of the plan, as the plan was set (with its lasting `item_id`)."""

    item_id: uuid.UUID


class SyncProgress(BaseModel):
    """The latest progress recorded on a measure of the plan."""

    model_config = ConfigDict(extra="forbid")

    percent: int
    completed_on: date | None
    recorded_at: datetime


class SyncHelpPlan(BaseModel):
    """The household's current help plan (帮扶计划, 一户一策) as the phone keeps it."""

    model_config = ConfigDict(extra="forbid")

    version: int
    year_from: int
    year_to: int
    target_exit_year: int
    items: list[SyncPlanItem]
    acknowledged: bool = Field(description="The household head acknowledged this version")
    progress: dict[uuid.UUID, SyncProgress] = Field(description="The latest progress, by item id")


class SyncHousehold(BaseModel):
    """One household of the download: its card (扶贫手册), plan and newest help records."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    card: HouseholdCard
    help_plan: SyncHelpPlan | None
    help_records: list[HelpRecordPublic] = Field(description="The newest records (newest visit first)")


class SyncDownload(BaseModel):
    """What changed for the calling cadre since the cursor (everything when `full`)."""

    model_config = ConfigDict(extra="forbid")

    cursor: str = Field(description="Send it as `cursor` next time")
    full: bool = Field(description="True: every active household is here; drop what you have first")
    households: list[SyncHousehold] = Field(description="Households to store (replace by id)")
    removed: list[uuid.UUID] = Field(description="Households no longer paired with you: delete them")
    server_time: datetime


def encode_cursor(cursor: SyncCursor) -> str:
    """The cursor text a download hands out."""
    return encode_keyset(_KIND, cursor.seq, cursor.horizon, cursor.day, cursor.issued_at)


def decode_cursor(text: str) -> SyncCursor:
    """The cursor a download handed out; 400 `cursor_invalid` when it is not one."""
    try:
        seq, horizon, day, issued_at = decode_keyset(text, _KIND, (int, int, date, int))
        if not isinstance(seq, int) or not isinstance(day, date) or not isinstance(issued_at, int):
            raise Invalid("cursor_invalid", "a value is missing")
        if horizon is not None and not isinstance(horizon, int):
            raise Invalid("cursor_invalid", "bad horizon")
        return SyncCursor(seq=seq, horizon=horizon, day=day, issued_at=issued_at)
    except BadRequest as exc:
        reason = exc.detail.removeprefix("invalid cursor: ")
    except Invalid as exc:
        reason = exc.message
    raise BadRequest(f"invalid sync cursor: {reason}; start over without a cursor", code="cursor_invalid")
