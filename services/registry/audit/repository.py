"""The registry's audit log: entries written with every change, and the county's reads of them (invariant 50)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from services.registry.audit.domain import AuditQuery
from services.registry.audit.schemas import AuditEventPublic
from services.registry.models import Household, audit_event
from shared.audit import AuditLog
from shared.context import Context
from shared.db import scope_filter

__all__ = ["AuditRepository", "RegistryAudit"]

_LOG = AuditLog(audit_event)


class RegistryAudit:
    """Appends entries to `registry_audit_event` in the request's transaction, so they land with the change."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def record(
        self,
        action: str,
        *,
        record_type: str,
        record_id: uuid.UUID | str,
        household_id: uuid.UUID | None = None,
        region_code: str | None = None,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """One entry; an entry about a household is filed under the household's village."""
        region: str | sa.ColumnElement[str] | None = region_code
        if region is None and household_id is not None:
            region = (
                sa.select(col(Household.village_code))
                .where(col(Household.id) == household_id)
                .scalar_subquery()
            )
        await _LOG.record(
            self.ctx,
            action,
            record_type=record_type,
            record_id=record_id,
            region_code=region,
            reason=reason,
            detail=detail,
            household_id=household_id,
        )


class AuditRepository:
    """Reads of the audit log, limited to entries filed under the caller's region subtree."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def page(self, query: AuditQuery, *, before_id: int | None, limit: int) -> list[AuditEventPublic]:
        """Entries matching `query`, newest first, older than `before_id`; at most `limit`."""
        c = audit_event.c
        stmt = sa.select(audit_event).where(scope_filter(self.ctx.principal, c.region_code))
        for column, value in (
            (c.record_id, query.record_id),
            (c.household_id, query.household_id),
            (c.actor, query.actor),
            (c.action, query.action),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.since is not None:
            stmt = stmt.where(c.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(c.at < query.until)
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        connection = await self.ctx.session.connection()  # a Core table: the session's connection runs it
        rows = (await connection.execute(stmt.order_by(c.id.desc()).limit(limit))).mappings().all()
        return [AuditEventPublic.model_validate(dict(r)) for r in rows]
