"""API models of the registry's audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.pagination import Page
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


#: Newest first; `next_cursor` continues with older entries.
AuditEventPage = Page[AuditEventPublic]
