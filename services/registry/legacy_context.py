"""TRANSITIONAL — being removed as each feature moves to the one shape (CONTRIBUTING.md).

The registry's old request context (with the cipher inside) and audit function. New code uses
`shared.context.Context` (from `ContextDep`), `services.registry.deps.CipherDep` for the cipher and
`services.registry.audit.repository.RegistryAudit` for audit entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.models import audit_event, household
from services.registry.pii import PersonalDataCipher
from shared.clock import CHINA_TIME
from shared.db import execute
from shared.roles import Principal

__all__ = ["Context", "audit"]


@dataclass
class Context:
    """What every use case needs: the transaction, the caller, the cipher, the clock, the request id."""

    session: AsyncSession
    principal: Principal
    cipher: PersonalDataCipher
    now: datetime
    request_id: str | None = None

    @property
    def today(self) -> date:
        return self.now.astimezone(CHINA_TIME).date()

    @classmethod
    def of(cls, request: Any, session: AsyncSession, principal: Principal) -> Context:
        """The context of an HTTP request: the app's cipher and clock, the caller's request id."""
        return cls(
            session=session,
            principal=principal,
            cipher=request.app.state.cipher,
            now=request.app.state.clock(),
            request_id=request.headers.get("x-request-id"),
        )


async def audit(
    ctx: Context,
    action: str,
    *,
    record_type: str,
    record_id: uuid.UUID | str,
    household_id: uuid.UUID | None = None,
    region_code: str | None = None,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one audit event (invariant 50); in the caller's transaction, so it lands with the change."""
    await execute(
        ctx.session,
        sa.insert(audit_event).values(
            at=ctx.now,
            actor=ctx.principal.sub,
            role=str(ctx.principal.role),
            action=action,
            record_type=record_type,
            record_id=str(record_id),
            household_id=household_id,
            region_code=region_code
            if region_code is not None or household_id is None
            else sa.select(household.c.village_code).where(household.c.id == household_id).scalar_subquery(),
            reason=reason,
            detail=dict(detail or {}),
            request_id=ctx.request_id,
        ),
    )
