"""Use cases of user administration and of the identity audit log.

Each reads through the repository (scoped to the manager's subtree: out of scope is 404, like missing), decides
with `users.domain`, writes through the repository and appends an identity audit event, in the request's
transaction (committed by the route class; never here). Disabling a user and resetting a password also revoke
the user's tokens (`TokenService.revoke_user_tokens`) and tell this replica's revocation list at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from gateway.identity import Identity
from gateway.models import GatewayUser
from gateway.tokens.domain import not_before_after_enable
from gateway.tokens.service import TokenService
from gateway.users import domain
from gateway.users.repository import IdentityAudit, IdentityAuditRepository, UserRepository
from gateway.users.schemas import USERNAME_ORDER, AuditEventPublic, PasswordReset, UserCreate, UserPublic
from shared.context import Context
from shared.pagination import Page, decode_cursor, encode_cursor
from shared.problems import Conflict, NotFound
from shared.roles import Role, scope_prefix

__all__ = ["IdentityAuditService", "UserService"]


def _public(user: GatewayUser) -> UserPublic:
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        region_code=user.region_code,
        disabled=user.disabled_at is not None,
        locked_until=user.locked_until,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


class UserService:
    def __init__(self, ctx: Context, identity: Identity) -> None:
        self.ctx = ctx
        self.identity = identity
        self.repo = UserRepository(ctx)
        self.audit = IdentityAudit(ctx)

    async def create(self, payload: UserCreate) -> UserPublic:
        manager = self.ctx.principal
        role = Role(payload.role)
        domain.check_new_user(manager, role, payload.region_code)
        user = GatewayUser(
            username=payload.username,
            display_name=payload.display_name,
            password_hash=await self.identity.passwords.hash(payload.password),
            role=role,
            region_code=payload.region_code,
            created_by=domain.creator_id(manager),
            created_at=self.ctx.now,
            updated_at=self.ctx.now,
        )
        if not await self.repo.insert(user):
            raise Conflict(f"username '{payload.username}' is taken")
        self.audit.record(
            "user_created",
            actor=manager,
            target=f"user:{user.id}",
            role=str(role),
            region_code=payload.region_code,
            username=payload.username,
        )
        return _public(user)

    async def page(
        self,
        *,
        role: Role | None,
        region_code: str | None,
        include_disabled: bool,
        cursor: str | None,
        limit: int,
    ) -> Page[UserPublic]:
        """A page of the subtree's users in username order (a region filter narrows, it never widens)."""
        after = None
        if cursor:
            (value,) = decode_cursor(cursor, USERNAME_ORDER, [str])
            after = str(value)
        rows = await self.repo.page(
            role=role,
            region_prefix=scope_prefix(region_code) if region_code is not None else None,
            include_disabled=include_disabled,
            after_username=after,
            limit=limit + 1,
        )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(USERNAME_ORDER, rows[-1].username)
        return Page[UserPublic](items=[_public(u) for u in rows], next_cursor=next_cursor)

    async def get(self, user_id: uuid.UUID) -> UserPublic:
        return _public(await self._in_scope(user_id))

    async def disable(self, user_id: uuid.UUID) -> UserPublic:
        """Disable the user (idempotent) and revoke every token they hold."""
        user = await self._managed(user_id)
        if user.disabled_at is None:
            self.repo.disable(user, self.ctx.now)
            await TokenService(self.ctx, self.identity).revoke_user_tokens(user)
            self.audit.record("user_disabled", actor=self.ctx.principal, target=f"user:{user.id}")
        self.identity.revocations.revoke_subject(str(user.id), float("inf"))
        return _public(user)

    async def enable(self, user_id: uuid.UUID) -> UserPublic:
        """Enable a disabled user again, unlocked; the tokens the disable cut off stay dead."""
        user = await self._managed(user_id)
        if user.disabled_at is not None:
            self.repo.enable(user, self.ctx.now)
            await TokenService(self.ctx, self.identity).unlock(user)
            self.audit.record("user_enabled", actor=self.ctx.principal, target=f"user:{user.id}")
            self.identity.revocations.set_subject(
                str(user.id), not_before_after_enable(user.tokens_not_before)
            )
        return _public(user)

    async def reset_password(self, user_id: uuid.UUID, payload: PasswordReset) -> UserPublic:
        """Set a new password, unlock the account, and revoke every token issued so far."""
        user = await self._managed(user_id)
        self.repo.set_password(user, await self.identity.passwords.hash(payload.new_password), self.ctx.now)
        tokens = TokenService(self.ctx, self.identity)
        await tokens.revoke_user_tokens(user)
        await tokens.unlock(user)
        self.audit.record("password_reset", actor=self.ctx.principal, target=f"user:{user.id}")
        if user.disabled_at is None and user.tokens_not_before is not None:
            self.identity.revocations.revoke_subject(str(user.id), user.tokens_not_before.timestamp())
        return _public(user)

    async def _in_scope(self, user_id: uuid.UUID, *, lock: bool = False) -> GatewayUser:
        """The user if inside the manager's subtree; 404 otherwise (out of scope looks like missing)."""
        user = await self.repo.get(user_id, lock=lock)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def _managed(self, user_id: uuid.UUID) -> GatewayUser:
        """The user, locked for change, if in scope and of a rank below the manager's."""
        user = await self._in_scope(user_id, lock=True)
        domain.require_rank_below(self.ctx.principal, Role(user.role))
        return user


class IdentityAuditService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = IdentityAuditRepository(ctx)

    async def events(
        self,
        *,
        target: str | None,
        actor: str | None,
        since: datetime | None,
        until: datetime | None,
        before_id: int | None,
        limit: int,
    ) -> list[AuditEventPublic]:
        """Identity events of the caller's subtree, newest first (county administrators only)."""
        domain.require_audit_reader(self.ctx.principal)
        rows = await self.repo.page(
            target=target, actor=actor, since=since, until=until, before_id=before_id, limit=limit
        )
        return [AuditEventPublic.model_validate(r) for r in rows]
