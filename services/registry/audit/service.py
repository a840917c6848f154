"""Reading the registry's audit log (county administrators; writes are recorded by every feature's service)."""

from __future__ import annotations

from services.registry.audit.domain import AuditQuery, audit_query
from services.registry.audit.repository import AuditRepository
from services.registry.audit.schemas import AuditEventPage
from shared.context import Context
from shared.pagination import decode_cursor, encode_cursor

__all__ = ["AuditQuery", "AuditService"]

#: The audit log is read newest first: its cursor is the id of the last entry served.
_CURSOR_KIND = "audit"


class AuditService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = AuditRepository(ctx)

    async def page(self, query: AuditQuery, *, cursor: str | None, limit: int) -> AuditEventPage:
        """A page of entries, newest first; the cursor continues with older ones."""
        query = audit_query(self.ctx.principal, query)
        before = None
        if cursor is not None:
            (last_id,) = decode_cursor(cursor, _CURSOR_KIND, [int])
            before = last_id if isinstance(last_id, int) else None
        items = await self.repo.page(query, before_id=before, limit=limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return AuditEventPage(
            items=items, next_cursor=encode_cursor(_CURSOR_KIND, items[-1].id) if more and items else None
        )
