"""Webhook API models: a subscription (with its secret, once), its update, a replay, its deliveries."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from services.registry.changes.domain import RecordType
from services.registry.webhooks.domain import DeliveryStatus, WebhookStatus
from shared.pagination import MAX_CURSOR_LENGTH, Page
from shared.schemas import RequestModel, ResponseModel, UtcDatetime

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "DeliveryAttempt",
    "DeliveryPage",
    "DeliveryPublic",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookPage",
    "WebhookPublic",
    "WebhookReplay",
    "WebhookSecret",
    "WebhookUpdate",
]

DEFAULT_PAGE = 50
MAX_PAGE = 500


class WebhookCreate(RequestModel):
    """A subscription: where to POST, which feed types, which region of your scope (default: yours)."""

    url: str = Field(max_length=2000, description="https URL (http only for localhost)")
    types: list[RecordType] = Field(
        default_factory=lambda: list(RecordType),
        min_length=1,
        max_length=3,
        description="`household`, `help_record`, `pairing` (default: all)",
    )
    region: str | None = Field(None, pattern=r"^[0-9]{12}$", description="Region subtree (default: yours)")
    after: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="Start after this feed cursor (an export's `X-Feed-Cursor`); absent: from now",
    )


class WebhookUpdate(RequestModel):
    """Pause (`paused`) or resume (`active`, also after `failing`), change the URL or the types."""

    status: Literal["active", "paused"] | None = None
    url: str | None = Field(None, max_length=2000)
    types: list[RecordType] | None = Field(None, min_length=1, max_length=3)


class WebhookReplay(RequestModel):
    """Deliver again every change after `after` (a feed cursor: an earlier `cursor` of a delivery, an export's)."""

    after: str = Field(max_length=MAX_CURSOR_LENGTH)


class WebhookPublic(ResponseModel):
    """A subscription. Its secret is never shown again after creation (rotate it to get a new one)."""

    id: uuid.UUID
    url: str
    types: list[RecordType]
    region: str
    status: WebhookStatus
    status_reason: str | None = Field(description="Why it is `failing` (the last delivery's error)")
    cursor: str = Field(description="The feed cursor delivered up to (the next delivery starts after it)")
    next_attempt_at: UtcDatetime
    created_at: UtcDatetime
    updated_at: UtcDatetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="`whsec_` + base64: shown once, keep it to verify deliveries")


class WebhookSecret(ResponseModel):
    id: uuid.UUID
    secret: str = Field(
        description="The new secret (`whsec_` + base64), shown once; for a day the old one signs too"
    )


class DeliveryAttempt(ResponseModel):
    at: UtcDatetime
    status_code: int | None = Field(
        description="The receiver's HTTP status; null when it could not be reached"
    )
    error: str | None
    duration_ms: int


class DeliveryPublic(ResponseModel):
    id: str = Field(description="The `webhook-id` header of every attempt of this delivery")
    cursor: str = Field(description="The delivery's items are the changes after this cursor")
    next_cursor: str
    item_count: int
    status: DeliveryStatus
    attempts: list[DeliveryAttempt]
    next_attempt_at: UtcDatetime | None = Field(description="When it is tried again (pending only)")
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None


#: A caller's subscriptions, newest first.
WebhookPage = Page[WebhookPublic]
#: A subscription's deliveries, newest first.
DeliveryPage = Page[DeliveryPublic]


def attempt_json(at: str, status_code: int | None, error: str | None, duration_ms: int) -> dict[str, Any]:
    return {"at": at, "status_code": status_code, "error": error, "duration_ms": duration_ms}
