"""Logins, token issuance, refresh-token rotation with reuse detection, revocation and identity audit.

Rules:
- access tokens live 15 minutes; refresh tokens rotate on every use, and presenting an already-rotated refresh
  token revokes its whole family (RFC 9700 §4.14.2: the token was stolen or replayed);
- failed logins count per account and lock it for a while; a missing user costs one Argon2 verification too;
- a disabled user or a reset password invalidates outstanding access tokens through `Revocations`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import GatewayAuditEvent, GatewayUser, RefreshToken, RevokedAccessToken, ServiceClient
from gateway.passwords import Passwords
from gateway.settings import SERVICE_AUDIENCES, GatewaySettings
from shared.clock import utcnow
from shared.jwt import SigningKey
from shared.problems import BadRequest, Unauthorized
from shared.roles import Principal, Role

__all__ = ["GATEWAY_AUDIENCE", "IdentityService", "IssuedTokens", "Revocations", "audit"]

_log = logging.getLogger("jingzhun.identity")
GATEWAY_AUDIENCE = "jingzhun-gateway"
_BAD_LOGIN = "invalid username or password, or the account is temporarily locked"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def audit(
    session: AsyncSession,
    action: str,
    *,
    actor: Principal | None = None,
    actor_sub: str | None = None,
    target: str | None = None,
    request_id: str | None = None,
    **detail: Any,
) -> None:
    """Append an identity event (in the caller's transaction)."""
    session.add(
        GatewayAuditEvent(
            actor=actor.sub if actor else actor_sub,
            actor_role=str(actor.role) if actor else None,
            action=action,
            target=target,
            request_id=request_id,
            detail=detail,
        )
    )


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    scope: str | None = None


class Revocations:
    """What has been revoked before its natural expiry, held in memory and refreshed from the database.

    Per-request checks are dictionary lookups; the background refresh (every couple of seconds) carries
    revocations made by other gateway replicas.
    """

    #: Local revocations younger than this survive a refresh whose database read may predate their commit.
    LOCAL_GRACE_SECONDS = 30.0

    def __init__(self) -> None:
        self._not_before: dict[str, float] = {}
        self._jtis: dict[str, float] = {}
        self._recent_subjects: dict[str, tuple[float, float]] = {}  # sub -> (not_before, recorded at)
        self._recent_jtis: dict[str, tuple[float, float]] = {}

    def revoke_subject(self, sub: str, not_before: float) -> None:
        self._not_before[sub] = max(not_before, self._not_before.get(sub, 0.0))
        self._recent_subjects[sub] = (self._not_before[sub], time.monotonic())

    def set_subject(self, sub: str, not_before: float) -> None:
        """Replace the subject's cut-off (used when a disabled user is enabled again)."""
        self._not_before[sub] = not_before
        self._recent_subjects[sub] = (not_before, time.monotonic())

    def revoke_jti(self, jti: str, expires_at: float) -> None:
        self._jtis[jti] = expires_at
        self._recent_jtis[jti] = (expires_at, time.monotonic())

    def check(self, principal: Principal) -> None:
        if principal.jti in self._jtis:
            raise Unauthorized("token revoked")
        not_before = self._not_before.get(principal.sub)
        if not_before is not None and principal.issued_at < not_before:
            raise Unauthorized("token revoked")

    async def refresh(self, session: AsyncSession, *, access_ttl: int) -> None:
        horizon = utcnow() - timedelta(seconds=access_ttl + 60)
        users = await session.exec(
            select(GatewayUser.id, GatewayUser.disabled_at, GatewayUser.tokens_not_before).where(
                sa.or_(
                    col(GatewayUser.disabled_at).is_not(None), col(GatewayUser.tokens_not_before) > horizon
                )
            )
        )
        not_before: dict[str, float] = {}
        for user_id, disabled_at, tokens_not_before in users:
            if disabled_at is not None or tokens_not_before is None:
                not_before[str(user_id)] = math.inf
            else:
                not_before[str(user_id)] = tokens_not_before.timestamp()
        clients = await session.exec(
            select(ServiceClient.client_id).where(col(ServiceClient.disabled_at).is_not(None))
        )
        # One selected column: SQLModel yields the values themselves, not 1-tuples.
        for client_id in clients.all():
            not_before[f"client:{client_id}"] = math.inf
        jtis = await session.exec(
            select(RevokedAccessToken.jti, RevokedAccessToken.expires_at).where(
                col(RevokedAccessToken.expires_at) > utcnow()
            )
        )
        fresh_jtis = {jti: exp.timestamp() for jti, exp in jtis}
        horizon_local = time.monotonic() - self.LOCAL_GRACE_SECONDS
        self._recent_subjects = {k: v for k, v in self._recent_subjects.items() if v[1] >= horizon_local}
        self._recent_jtis = {k: v for k, v in self._recent_jtis.items() if v[1] >= horizon_local}
        for sub, (cut, _at) in self._recent_subjects.items():
            not_before[sub] = cut
        for jti, (exp, _at) in self._recent_jtis.items():
            fresh_jtis[jti] = exp
        self._not_before = not_before
        self._jtis = fresh_jtis


class IdentityService:
    """Password logins, client credentials, refresh rotation, logout."""

    def __init__(
        self,
        settings: GatewaySettings,
        signing_key: SigningKey,
        passwords: Passwords,
        revocations: Revocations,
    ) -> None:
        self.settings = settings
        self.signing_key = signing_key
        self.passwords = passwords
        self.revocations = revocations

    # -- access tokens -------------------------------------------------------------------------------
    def issue_access_token(
        self,
        *,
        sub: str,
        role: Role,
        region: str,
        audience: list[str],
        ttl: int,
        username: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "aud": audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "role": str(role),
            "region": region,
        }
        if username:
            claims["preferred_username"] = username
        return self.signing_key.sign(claims)

    def _user_tokens(self, user: GatewayUser) -> str:
        return self.issue_access_token(
            sub=str(user.id),
            role=Role(user.role),
            region=user.region_code,
            audience=[GATEWAY_AUDIENCE, *SERVICE_AUDIENCES.values()],
            ttl=self.settings.access_token_ttl_seconds,
            username=user.username,
        )

    async def _new_refresh_token(self, session: AsyncSession, user: GatewayUser, family_id: uuid.UUID) -> str:
        token = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                family_id=family_id,
                user_id=user.id,
                token_hash=_digest(token),
                expires_at=utcnow() + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
            )
        )
        return token

    # -- grants ---------------------------------------------------------------------------------------
    async def password_login(
        self, session: AsyncSession, username: str, password: str, *, request_id: str | None
    ) -> IssuedTokens:
        user = (
            await session.exec(
                select(GatewayUser).where(GatewayUser.username == username.strip().lower()).with_for_update()
            )
        ).first()
        # Verify even when the user is missing or locked, so response time does not reveal which.
        valid = await self.passwords.verify(user.password_hash if user else None, password)
        now = utcnow()
        if user is None:
            await audit(
                session,
                "login_failed",
                actor_sub=None,
                target=f"username:{username[:64]}",
                request_id=request_id,
                reason="unknown user",
            )
            await session.commit()
            raise Unauthorized(_BAD_LOGIN)
        locked = user.locked_until is not None and user.locked_until > now
        if not valid or locked or user.disabled_at is not None:
            if not valid and not locked:
                user.failed_logins += 1
                if user.failed_logins >= self.settings.login_max_failures:
                    user.locked_until = now + timedelta(seconds=self.settings.login_lockout_seconds)
                    user.failed_logins = 0
                    await audit(
                        session,
                        "account_locked",
                        actor_sub=str(user.id),
                        target=f"user:{user.id}",
                        request_id=request_id,
                    )
            reason = "locked" if locked else "disabled" if user.disabled_at and valid else "wrong password"
            await audit(
                session,
                "login_failed",
                actor_sub=str(user.id),
                target=f"user:{user.id}",
                request_id=request_id,
                reason=reason,
            )
            await session.commit()
            raise Unauthorized(_BAD_LOGIN)
        user.failed_logins = 0
        user.locked_until = None
        if self.passwords.needs_rehash(user.password_hash):
            user.password_hash = await self.passwords.hash(password)
        refresh = await self._new_refresh_token(session, user, uuid.uuid4())
        await audit(session, "login", actor_sub=str(user.id), target=f"user:{user.id}", request_id=request_id)
        await session.commit()
        return IssuedTokens(self._user_tokens(user), self.settings.access_token_ttl_seconds, refresh)

    async def refresh(
        self, session: AsyncSession, refresh_token: str, *, request_id: str | None
    ) -> IssuedTokens:
        row = (
            await session.exec(
                select(RefreshToken)
                .where(RefreshToken.token_hash == _digest(refresh_token))
                .with_for_update()
            )
        ).first()
        if row is None:
            raise Unauthorized("refresh token not recognised")
        now = utcnow()
        if row.rotated_at is not None or row.revoked_at is not None:
            if row.rotated_at is not None and row.revoked_at is None:
                # Reuse of a rotated token: someone else holds the family. Revoke all of it.
                await self._revoke_family(session, row.family_id)
                await audit(
                    session,
                    "refresh_reuse_detected",
                    actor_sub=str(row.user_id),
                    target=f"user:{row.user_id}",
                    request_id=request_id,
                    family=str(row.family_id),
                )
                await session.commit()
            raise Unauthorized("refresh token already used or revoked")
        if row.expires_at <= now:
            raise Unauthorized("refresh token expired")
        # Locked so that a concurrent disable / password reset either sees this new token or blocks it.
        user = await session.get(GatewayUser, row.user_id, with_for_update=True)
        if user is None or user.disabled_at is not None:
            raise Unauthorized("user disabled")
        row.rotated_at = now
        new_refresh = await self._new_refresh_token(session, user, row.family_id)
        await session.commit()
        return IssuedTokens(self._user_tokens(user), self.settings.access_token_ttl_seconds, new_refresh)

    async def client_credentials(
        self,
        session: AsyncSession,
        client_id: str,
        client_secret: str,
        audience: str | None,
        *,
        request_id: str | None,
    ) -> IssuedTokens:
        client = await session.get(ServiceClient, client_id) if len(client_id) <= 64 else None
        valid = await self.passwords.verify(client.secret_hash if client else None, client_secret)
        if client is None or not valid or client.disabled_at is not None:
            await audit(
                session, "client_auth_failed", target=f"client:{client_id[:64]}", request_id=request_id
            )
            await session.commit()
            raise Unauthorized("invalid client credentials")
        role = Role(client.role)
        if audience is None:
            audiences = [GATEWAY_AUDIENCE, *SERVICE_AUDIENCES.values()]
        elif audience in SERVICE_AUDIENCES.values() or audience == GATEWAY_AUDIENCE:
            audiences = [audience]
        else:
            raise BadRequest(f"unknown audience '{audience}'")
        ttl = (
            self.settings.service_token_ttl_seconds
            if role is Role.service
            else self.settings.access_token_ttl_seconds
        )
        token = self.issue_access_token(
            sub=f"client:{client.client_id}",
            role=role,
            region=client.region_code,
            audience=audiences,
            ttl=ttl,
        )
        return IssuedTokens(token, ttl, None, " ".join(audiences))

    async def logout(
        self,
        session: AsyncSession,
        principal: Principal,
        refresh_token: str | None,
        *,
        request_id: str | None,
    ) -> None:
        if refresh_token:
            row = (
                await session.exec(
                    select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token))
                )
            ).first()
            if row is not None and str(row.user_id) == principal.sub:
                await self._revoke_family(session, row.family_id)
        expires = utcnow() + timedelta(seconds=max(0, principal.expires_at - int(time.time())) + 1)
        await session.exec(
            sa.dialects.postgresql.insert(RevokedAccessToken)
            .values(jti=principal.jti, expires_at=expires)
            .on_conflict_do_nothing()
        )
        await session.exec(sa.delete(RevokedAccessToken).where(col(RevokedAccessToken.expires_at) < utcnow()))
        await audit(session, "logout", actor=principal, target=f"user:{principal.sub}", request_id=request_id)
        await session.commit()
        self.revocations.revoke_jti(principal.jti, expires.timestamp())

    async def revoke_user_tokens(self, session: AsyncSession, user: GatewayUser) -> None:
        """Invalidate every refresh family and outstanding access token of `user` (caller commits).

        Access tokens carry `iat` in whole seconds, so a cut-off inside the current second cannot tell a token
        issued earlier in that second from one issued later. Wait for the next second to begin (at most one
        second, on an administrative action) and cut there: every token issued so far has `iat` below the
        cut-off, every token issued afterwards has `iat` at or above it.
        """
        cut_off = math.floor(time.time()) + 1
        # Waking early (a clock step) only errs on the safe side: a token issued then is revoked too.
        await asyncio.sleep(max(0.0, cut_off - time.time()) + 0.001)
        user.tokens_not_before = datetime.fromtimestamp(cut_off, UTC)
        now = utcnow()
        await session.exec(
            sa.update(RefreshToken)
            .where(col(RefreshToken.user_id) == user.id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )

    async def _revoke_family(self, session: AsyncSession, family_id: uuid.UUID) -> None:
        await session.exec(
            sa.update(RefreshToken)
            .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )


async def refresh_revocations(
    revocations: Revocations, sessions: async_sessionmaker[AsyncSession], *, access_ttl: int
) -> None:
    async with sessions() as session:
        await revocations.refresh(session, access_ttl=access_ttl)
