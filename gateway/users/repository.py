"""Every SQL statement of user administration and of the identity audit log, scoped by the caller's region in one
place each.

Users are read through `UserRepository._scoped()` (`shared.db.scope_filter` on `gateway_user.region_code`), so a user
outside the manager's subtree is invisible exactly like a missing one. Audit events are read through
`IdentityAuditRepository.page()`, which keeps the events done by, or about, users of the caller's subtree.
`IdentityAudit` appends events in the request's transaction (the tokens feature writes its logins through it too).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from gateway.context import CallContext
from gateway.models import GatewayAuditEvent, GatewayUser
from shared.context import Context
from shared.db import scope_filter
from shared.roles import Principal, Role

__all__ = ["IdentityAudit", "IdentityAuditRepository", "UserRepository"]


class UserRepository:
    """The users of the caller's subtree."""

    def __init__(self, ctx: Context) -> None:
        self.principal = ctx.principal
        self.session = ctx.session

    def _scoped(self) -> SelectOfScalar[GatewayUser]:
        return select(GatewayUser).where(scope_filter(self.principal, col(GatewayUser.region_code)))

    async def get(self, user_id: uuid.UUID, *, lock: bool = False) -> GatewayUser | None:
        """The user if inside the caller's subtree (locked for the transaction when `lock`), else None."""
        query = self._scoped().where(col(GatewayUser.id) == user_id)
        return (await self.session.exec(query.with_for_update() if lock else query)).first()

    async def page(
        self,
        *,
        role: Role | None,
        region_prefix: str | None,
        include_disabled: bool,
        after_username: str | None,
        limit: int,
    ) -> list[GatewayUser]:
        """Up to `limit` users in username order, after `after_username`; filters only narrow the scope."""
        query = self._scoped()
        if role is not None:
            query = query.where(col(GatewayUser.role) == role)
        if region_prefix is not None:
            query = query.where(col(GatewayUser.region_code).startswith(region_prefix, autoescape=True))
        if not include_disabled:
            query = query.where(col(GatewayUser.disabled_at).is_(None))
        if after_username is not None:
            query = query.where(col(GatewayUser.username) > after_username)
        return list((await self.session.exec(query.order_by(col(GatewayUser.username)).limit(limit))).all())

    async def insert(self, user: GatewayUser) -> bool:
        """Add `user`; False (and nothing added) when the username is taken."""
        try:
            # A savepoint, so that a taken username leaves the transaction usable.
            async with self.session.begin_nested():
                self.session.add(user)
        except IntegrityError:
            return False
        return True

    def disable(self, user: GatewayUser, at: datetime) -> None:
        user.disabled_at = at
        user.updated_at = at
        self.session.add(user)

    def enable(self, user: GatewayUser, at: datetime) -> None:
        """Enable again, with a clean failure count and no lock."""
        user.disabled_at = None
        user.failed_logins = 0
        user.locked_until = None
        user.updated_at = at
        self.session.add(user)

    def set_password(self, user: GatewayUser, password_hash: str, at: datetime) -> None:
        """A new password, which also unlocks the account."""
        user.password_hash = password_hash
        user.failed_logins = 0
        user.locked_until = None
        user.updated_at = at
        self.session.add(user)


class IdentityAudit:
    """Appends identity events (logins, lockouts, token reuse, user administration) in the request's transaction."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    def record(
        self,
        action: str,
        *,
        target: str | None,
        actor: Principal | None = None,
        actor_sub: str | None = None,
        **detail: Any,
    ) -> None:
        """One event; `actor` when a caller is authenticated, else `actor_sub` names whom the event is about."""
        self.ctx.session.add(
            GatewayAuditEvent(
                at=self.ctx.now,
                actor=actor.sub if actor else actor_sub,
                actor_role=str(actor.role) if actor else None,
                action=action,
                target=target,
                request_id=self.ctx.request_id,
                detail=detail,
            )
        )


class IdentityAuditRepository:
    """Reads of the identity audit log, limited to the caller's subtree."""

    def __init__(self, ctx: Context) -> None:
        self.principal = ctx.principal
        self.session: AsyncSession = ctx.session

    async def page(
        self,
        *,
        target: str | None,
        actor: str | None,
        since: datetime | None,
        until: datetime | None,
        before_id: int | None,
        limit: int,
    ) -> Sequence[GatewayAuditEvent]:
        """Events done by, or about, users of the caller's subtree, newest first, before `before_id`."""
        in_scope_users = select(sa.cast(GatewayUser.id, sa.String)).where(
            scope_filter(self.principal, col(GatewayUser.region_code))
        )
        query = select(GatewayAuditEvent).where(
            sa.or_(
                col(GatewayAuditEvent.actor).in_(in_scope_users),
                sa.func.replace(col(GatewayAuditEvent.target), "user:", "").in_(in_scope_users),
            )
        )
        if target:
            query = query.where(col(GatewayAuditEvent.target) == target)
        if actor:
            query = query.where(col(GatewayAuditEvent.actor) == actor)
        if since:
            query = query.where(col(GatewayAuditEvent.at) >= since)
        if until:
            query = query.where(col(GatewayAuditEvent.at) < until)
        if before_id:
            query = query.where(col(GatewayAuditEvent.id) < before_id)
        return (await self.session.exec(query.order_by(col(GatewayAuditEvent.id).desc()).limit(limit))).all()
