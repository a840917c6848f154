"""API models of the registry's audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.schemas import ResponseModel

__all__ = ["AuditEventPage", "AuditEventPublic"]


class AuditEventPublic(ResponseModel):
    """One entry: who did what to which record, when, and why (append-only)."""

    id: int
    at: datetime
    actor: str = Field(description="The caller's token subject")
    role: str
    action: str = Field(examples=["household.update", "pii.read", "workflow.village_review"])
    record_type: str
    record_id: str
    household_id: uuid.UUID | None
    region_code: str | None
    reason: str | None
    detail: dict[str, Any]
    request_id: str | None


class AuditEventPage(ResponseModel):
    """Newest first; `next_cursor` continues with older entries."""

    items: list[AuditEventPublic]
    next_cursor: int | None = Field(None, description="Pass as `cursor` for older entries; null at the end")
