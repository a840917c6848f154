"""The append-only audit log every service keeps (DOMAIN.md invariant 50): who did what to which record, when.

Each service declares its table with `audit_table` (`<service>_audit_event`, the same columns everywhere plus
any of its own) and writes through `AuditLog.record` in the request's transaction, so an entry lands with the
change it describes or not at all. Reads of unmasked personal data are audited the same way. The migrations
make the tables append-only (a trigger refuses UPDATE and DELETE).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from shared.context import Context
from shared.db import CODE_COLLATION

__all__ = ["AuditLog", "audit_table"]


def audit_table(name: str, metadata: sa.MetaData, *extra: sa.Column[Any]) -> sa.Table:
    """The audit table of one service, with its own `extra` columns after the common ones."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("record_type", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        *extra,
        sa.Column("region_code", sa.String(12, collation=CODE_COLLATION)),
        sa.Column("reason", sa.String(1000)),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
        sa.Column("request_id", sa.String(64)),
        sa.Index(f"ix_{name}_record", "record_id", "at"),
        sa.Index(f"ix_{name}_actor", "actor", "at"),
        sa.Index(f"ix_{name}_at", "at"),
        sa.Index(f"ix_{name}_region", "region_code", "id"),
    )


class AuditLog:
    """Writes entries into one service's audit table, in the caller's transaction."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table

    async def record(
        self,
        ctx: Context,
        action: str,
        *,
        record_type: str,
        record_id: uuid.UUID | str,
        region_code: str | sa.ColumnElement[str] | None = None,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        **columns: Any,
    ) -> None:
        """Append one entry; `region_code` may be a scalar subquery (the region of the record's household)."""
        await ctx.session.exec(
            sa.insert(self.table).values(
                at=ctx.now,
                actor=ctx.principal.sub,
                role=str(ctx.principal.role),
                action=action,
                record_type=record_type,
                record_id=str(record_id),
                region_code=region_code,
                reason=reason,
                detail=dict(detail or {}),
                request_id=ctx.request_id,
                **columns,
            )
        )
