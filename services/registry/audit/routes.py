"""The registry's audit log over HTTP (county administrators)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

from services.registry.audit.schemas import AuditEventPage
from services.registry.audit.service import AuditQuery, AuditService
from shared.context import ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter
from shared.schemas import QueryDatetime

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    response_model=AuditEventPage,
    responses={
        400: {"description": "Invalid cursor"},
        403: {"description": "Not a county administrator"},
        422: {"description": "Invalid filter (a time without a timezone, an empty window)"},
    },
    summary="The registry's audit log: writes and unmasked reads, newest first (county administrators)",
)
async def list_audit_events(
    ctx: ReadContextDep,
    record_id: Annotated[str | None, Query(max_length=64)] = None,
    household_id: uuid.UUID | None = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    since: Annotated[QueryDatetime | None, Query(description="Inclusive; RFC 3339 with a timezone")] = None,
    until: Annotated[QueryDatetime | None, Query(description="Exclusive; RFC 3339 with a timezone")] = None,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditEventPage:
    """The registry's audit log (审计日志): every write and every unmasked read, newest first (county
    administrators)."""
    query = AuditQuery(
        record_id=record_id,
        household_id=str(household_id) if household_id else None,
        actor=actor,
        action=action,
        since=since,
        until=until,
    )
    return await AuditService(ctx).page(query, cursor=cursor, limit=limit)
