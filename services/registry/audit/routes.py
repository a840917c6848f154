"""The registry's audit log over HTTP (county administrators)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from services.registry.households.queries import HouseholdQueries
from shared.auth import PrincipalDep
from shared.db import ReadSessionDep
from shared.problems import Forbidden, UnprocessableEntity
from shared.roles import Role
from shared.routing import APIRouter

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    summary="The registry's audit log: writes and unmasked reads (county administrators)",
    tags=["audit"],
)
async def audit_log(
    session: ReadSessionDep,
    principal: PrincipalDep,
    record_id: Annotated[str | None, Query(max_length=64)] = None,
    household_id: uuid.UUID | None = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    if principal.role is not Role.county_admin:
        raise Forbidden("the audit log is for county administrators")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise UnprocessableEntity(f"{name} needs a timezone (e.g. 2026-01-01T00:00:00Z)", field=name)
    items, next_cursor = await HouseholdQueries(session, principal).audit_page(
        record_id=record_id,
        household_id=household_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return {"items": items, "next_cursor": next_cursor}
