"""The registry's audit log: entries written with every change, and the county's reads of them (invariant 50)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from services.registry.models import Household, audit_event
from shared.audit import AuditLog
from shared.context import Context

__all__ = ["RegistryAudit"]

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
