"""Reading the registry's audit log (county administrators; writes are recorded by every feature's service)."""

from __future__ import annotations

from services.registry.audit.domain import AuditQuery, audit_query
from services.registry.audit.repository import AuditRepository
from services.registry.audit.schemas import AuditEventPage
from shared.context import Context

__all__ = ["AuditQuery", "AuditService"]


class AuditService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = AuditRepository(ctx)

    async def page(self, query: AuditQuery, *, cursor: int | None, limit: int) -> AuditEventPage:
        """A page of entries, newest first; the cursor (the last id served) continues with older ones."""
        query = audit_query(self.ctx.principal, query)
        items = await self.repo.page(query, before_id=cursor, limit=limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return AuditEventPage(items=items, next_cursor=items[-1].id if more and items else None)
