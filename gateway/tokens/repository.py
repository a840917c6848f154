"""Every SQL statement of the tokens feature: accounts and clients as logins see them, refresh-token families, the
access-token deny list, and the snapshot the in-memory revocation list is refreshed from.

Logins are not regional: an account is found by its username (or id) wherever it lives, so nothing here is scoped
by a caller's region; user administration, which is, has its own repository (`gateway.users.repository`).
Nothing here commits: the route class does, after the use case returned (or raised with `keep_writes()`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import GatewayUser, LoginThrottle, RefreshToken, RevokedAccessToken, ServiceClient
from gateway.tokens.domain import client_subject, subject_not_before

__all__ = ["RevocationRepository", "RevocationSnapshot", "TokenRepository"]


class TokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- accounts ---------------------------------------------------------------------------------------------
    async def user_for_login(self, username: str) -> GatewayUser | None:
        """The account named `username`, locked: concurrent logins count failures one after the other."""
        query = select(GatewayUser).where(col(GatewayUser.username) == username).with_for_update()
        return (await self.session.exec(query)).first()

    async def user_for_rotation(self, user_id: uuid.UUID) -> GatewayUser | None:
        """The account, locked: a concurrent disable or password reset either sees the new token or blocks it."""
        return await self.session.get(GatewayUser, user_id, with_for_update=True)

    def record_login(
        self,
        user: GatewayUser,
        *,
        failed_logins: int,
        locked_until: datetime | None,
        password_hash: str | None = None,
    ) -> None:
        """The account's counters after a login attempt (and its rehashed password, when the cost went up)."""
        user.failed_logins = failed_logins
        user.locked_until = locked_until
        if password_hash is not None:
            user.password_hash = password_hash
        self.session.add(user)

    def cut_off_tokens(self, user: GatewayUser, not_before: datetime) -> None:
        """Refuse the user's access tokens issued before `not_before`."""
        user.tokens_not_before = not_before
        self.session.add(user)

    async def client(self, client_id: str) -> ServiceClient | None:
        return await self.session.get(ServiceClient, client_id)

    # -- login throttles (account x client address) -----------------------------------------------------------
    async def throttle(self, account: str, address: str) -> LoginThrottle | None:
        """The failures of `account` from `address`, locked: concurrent attempts of the pair count one by one."""
        query = (
            select(LoginThrottle)
            .where(col(LoginThrottle.account) == account, col(LoginThrottle.address) == address)
            .with_for_update()
        )
        return (await self.session.exec(query)).first()

    async def record_throttle(
        self, account: str, address: str, *, failed_logins: int, locked_until: datetime | None, now: datetime
    ) -> None:
        """The pair's counters after a failed attempt; rows nobody failed on for a day are dropped on the way."""
        values = {"failed_logins": failed_logins, "locked_until": locked_until, "updated_at": now}
        await self.session.exec(
            pg_insert(LoginThrottle)
            .values(account=account, address=address, **values)
            .on_conflict_do_update(index_elements=["account", "address"], set_=values)
        )
        await self.session.exec(
            sa.delete(LoginThrottle).where(
                col(LoginThrottle.updated_at) < now - timedelta(days=1),
                sa.or_(col(LoginThrottle.locked_until).is_(None), col(LoginThrottle.locked_until) < now),
            )
        )

    async def clear_throttle(self, account: str, address: str) -> None:
        await self.session.exec(
            sa.delete(LoginThrottle).where(
                col(LoginThrottle.account) == account, col(LoginThrottle.address) == address
            )
        )

    async def clear_account_throttles(self, account: str) -> None:
        """Unlock `account` from every address (an administrator's enable or password reset)."""
        await self.session.exec(sa.delete(LoginThrottle).where(col(LoginThrottle.account) == account))

    # -- refresh tokens ---------------------------------------------------------------------------------------
    async def refresh_token(self, digest: str, *, lock: bool = False) -> RefreshToken | None:
        """The refresh token with this digest (locked when `lock`: two rotations of one token serialise)."""
        query = select(RefreshToken).where(col(RefreshToken.token_hash) == digest)
        return (await self.session.exec(query.with_for_update() if lock else query)).first()

    def add_refresh_token(
        self,
        *,
        family_id: uuid.UUID,
        user_id: uuid.UUID,
        digest: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> None:
        self.session.add(
            RefreshToken(
                family_id=family_id,
                user_id=user_id,
                token_hash=digest,
                issued_at=issued_at,
                expires_at=expires_at,
            )
        )

    def retire(self, token: RefreshToken, at: datetime) -> None:
        """Mark a refresh token rotated: presenting it again is a replay."""
        token.rotated_at = at
        self.session.add(token)

    async def revoke_family(
        self, family_id: uuid.UUID, at: datetime, *, user_id: uuid.UUID | None = None
    ) -> None:
        """Revoke the family's live refresh tokens (only if it belongs to `user_id`, when given)."""
        query = sa.update(RefreshToken).where(
            col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None)
        )
        if user_id is not None:
            query = query.where(col(RefreshToken.user_id) == user_id)
        await self.session.exec(query.values(revoked_at=at))

    async def revoke_user_refresh_tokens(self, user_id: uuid.UUID, at: datetime) -> None:
        await self.session.exec(
            sa.update(RefreshToken)
            .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=at)
        )

    # -- the access-token deny list ---------------------------------------------------------------------------
    async def deny_access_token(self, jti: str, expires_at: datetime, *, now: datetime) -> None:
        """Put a logged-out token on the deny list, and drop the entries whose tokens have expired anyway."""
        await self.session.exec(
            pg_insert(RevokedAccessToken).values(jti=jti, expires_at=expires_at).on_conflict_do_nothing()
        )
        await self.session.exec(sa.delete(RevokedAccessToken).where(col(RevokedAccessToken.expires_at) < now))


@dataclass(frozen=True, slots=True)
class RevocationSnapshot:
    """What the database says is revoked: subject → earliest accepted `iat`, denied jti → its expiry (epoch), and
    refresh family (`sid`) revoked since the horizon → until when its access tokens could still be alive (epoch)."""

    not_before: dict[str, float]
    jtis: dict[str, float]
    families: dict[str, float] = field(default_factory=dict)


class RevocationRepository:
    """Reads for the background refresher of the in-memory revocation list (no request, no writes)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def snapshot(self, *, now: datetime, horizon: datetime) -> RevocationSnapshot:
        """Disabled users and clients, users cut off after `horizon`, and denied tokens not yet expired."""
        users = await self.session.exec(
            select(GatewayUser.id, GatewayUser.disabled_at, GatewayUser.tokens_not_before).where(
                sa.or_(
                    col(GatewayUser.disabled_at).is_not(None), col(GatewayUser.tokens_not_before) > horizon
                )
            )
        )
        not_before = {
            str(user_id): subject_not_before(disabled=disabled_at is not None, tokens_not_before=cut_off)
            for user_id, disabled_at, cut_off in users
        }
        clients = await self.session.exec(
            select(ServiceClient.client_id).where(col(ServiceClient.disabled_at).is_not(None))
        )
        # One selected column: SQLModel yields the values themselves, not 1-tuples.
        for client_id in clients.all():
            not_before[client_subject(client_id)] = subject_not_before(disabled=True, tokens_not_before=None)
        jtis = await self.session.exec(
            select(RevokedAccessToken.jti, RevokedAccessToken.expires_at).where(
                col(RevokedAccessToken.expires_at) > now
            )
        )
        # A family's access tokens were all minted before it was revoked, so none outlives revoked_at + TTL (and
        # now - horizon is the TTL plus a margin).
        lifetime = now - horizon
        families = await self.session.exec(
            select(RefreshToken.family_id, sa.func.max(RefreshToken.revoked_at))
            .where(col(RefreshToken.revoked_at) > horizon)
            .group_by(col(RefreshToken.family_id))
        )
        revoked_families: dict[str, float] = {}
        for family, revoked in families:
            if isinstance(revoked, datetime):
                revoked_families[str(family)] = (revoked + lifetime).timestamp()
        return RevocationSnapshot(
            not_before, {jti: expires.timestamp() for jti, expires in jtis}, revoked_families
        )
