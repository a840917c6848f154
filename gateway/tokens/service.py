"""Use cases of the tokens feature: the three grants, logout, and revoking every token of a user.

Each reads through the repository, decides with `tokens.domain`, writes through the repository and appends an
identity audit event, in the request's transaction. Nothing here commits: the route class does after the use case
returned. A refusal that must keep what it wrote (a failed login's counters and its address-account lockout, its
`login_failed` event, a `client_auth_failed` event, a replayed refresh token's family revocation and alarm) is
raised with `.keep_writes()`, so the commit point commits it before answering 401.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import timedelta

from gateway.context import CallContext
from gateway.identity import Identity
from gateway.models import GatewayUser, LoginThrottle
from gateway.tokens import domain
from gateway.tokens.domain import (
    BAD_LOGIN,
    AccessGrant,
    ClientCredentialsGrant,
    LoginFailure,
    PasswordGrant,
    RefreshGrant,
    RefreshVerdict,
    TokenGrant,
)
from gateway.tokens.repository import TokenRepository
from gateway.tokens.schemas import TokenResponse
from gateway.tokens.throttle import AccountSlowDown, account_key
from gateway.users.repository import IdentityAudit
from shared.problems import BadRequest, Unauthorized
from shared.roles import Principal, Role

__all__ = ["TokenService"]


def _new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def _user_id(sub: str) -> uuid.UUID | None:
    """The user id a subject names (None for a machine client's `client:…` subject)."""
    try:
        return uuid.UUID(sub)
    except ValueError:
        return None


class TokenService:
    def __init__(self, ctx: CallContext, identity: Identity) -> None:
        self.ctx = ctx
        self.identity = identity
        self.settings = identity.settings
        self.repo = TokenRepository(ctx.session)
        self.audit = IdentityAudit(ctx)
        self.slow_down = AccountSlowDown(identity.limiter, self._lockout())

    async def grant(self, grant: TokenGrant, *, address: str = "unknown") -> TokenResponse:
        """The tokens `grant` asks for, or 401 (400 for an unknown audience); `address` is the client's."""
        match grant:
            case PasswordGrant():
                return await self.password_login(grant, address)
            case RefreshGrant():
                return await self.refresh(grant)
            case ClientCredentialsGrant():
                return await self.client_credentials(grant, address)

    # -- grants -----------------------------------------------------------------------------------------------
    async def password_login(self, grant: PasswordGrant, address: str = "unknown") -> TokenResponse:
        username = domain.login_username(grant.username)
        account = account_key("user", username)
        # Before any database work: a slowed-down attempt holds no connection and no row lock while it waits.
        await self.slow_down.wait(account)
        user = await self.repo.user_for_login(username)
        # Verify even when the user is missing or locked, so response time does not reveal which.
        valid = await self.identity.passwords.verify(user.password_hash if user else None, grant.password)
        if user is None:
            await self.slow_down.failed(account)
            self.audit.record(
                "login_failed",
                target=f"username:{grant.username[:64]}",
                reason=str(LoginFailure.unknown_user),
            )
            raise Unauthorized(BAD_LOGIN).keep_writes()
        # The lockout is the pair's (this account from this address), never the account's: see tokens/throttle.py.
        pair = await self.repo.throttle(account, address)
        state = domain.AccountState(
            pair.failed_logins if pair else 0,
            pair.locked_until if pair else None,
            user.disabled_at is not None,
        )
        outcome = domain.judge_login(state, password_valid=valid, now=self.ctx.now, policy=self._lockout())
        subject = str(user.id)
        if outcome.failure is not None:
            guessed = outcome.failure is LoginFailure.wrong_password
            if guessed:
                await self.slow_down.failed(account)
            # The account's own count (from every address) is kept for administrators; it locks nothing.
            self.repo.record_login(
                user,
                failed_logins=user.failed_logins + 1 if guessed else user.failed_logins,
                locked_until=None,
            )
            await self._record_pair(account, address, pair, outcome)
            if outcome.locked_now:
                self.audit.record(
                    "account_locked", actor_sub=subject, target=f"user:{user.id}", address=address
                )
            self.audit.record(
                "login_failed", actor_sub=subject, target=f"user:{user.id}", reason=str(outcome.failure)
            )
            raise Unauthorized(BAD_LOGIN).keep_writes()
        rehashed = None
        if self.identity.passwords.needs_rehash(user.password_hash):
            rehashed = await self.identity.passwords.hash(grant.password)
        self.repo.record_login(user, failed_logins=0, locked_until=None, password_hash=rehashed)
        if pair is not None:
            await self.repo.clear_throttle(account, address)
        await self.slow_down.succeeded(account)
        family_id = uuid.uuid4()
        refresh_token = self._new_refresh_token(user, family_id)
        self.audit.record("login", actor_sub=subject, target=f"user:{user.id}")
        return self._user_tokens(user, refresh_token, family_id)

    async def refresh(self, grant: RefreshGrant) -> TokenResponse:
        token = await self.repo.refresh_token(domain.refresh_token_digest(grant.refresh_token), lock=True)
        if token is None:
            raise Unauthorized("refresh token not recognised")
        now = self.ctx.now
        verdict = domain.judge_refresh(
            rotated_at=token.rotated_at, revoked_at=token.revoked_at, expires_at=token.expires_at, now=now
        )
        if verdict is RefreshVerdict.replayed:
            # Someone else holds this family (RFC 9700 §4.14.2): revoke all of it, and say so in the audit log.
            await self.repo.revoke_family(token.family_id, now)
            self._forget_family(token.family_id)
            self.audit.record(
                "refresh_reuse_detected",
                actor_sub=str(token.user_id),
                target=f"user:{token.user_id}",
                family=str(token.family_id),
            )
            raise Unauthorized("refresh token already used or revoked").keep_writes()
        if verdict in domain.REFUSED_REFRESH:
            raise Unauthorized("refresh token already used or revoked")
        if verdict is RefreshVerdict.expired:
            raise Unauthorized("refresh token expired")
        user = await self.repo.user_for_rotation(token.user_id)
        if user is None or user.disabled_at is not None:
            raise Unauthorized("user disabled")
        self.repo.retire(token, now)
        return self._user_tokens(user, self._new_refresh_token(user, token.family_id), token.family_id)

    async def client_credentials(
        self, grant: ClientCredentialsGrant, address: str = "unknown"
    ) -> TokenResponse:
        # A machine client's secret is guarded as a password is: the pair lockout and the account slow-down.
        account = account_key("client", grant.client_id)
        await self.slow_down.wait(account)
        known = len(grant.client_id) <= domain.MAX_CLIENT_ID_LENGTH
        client = await self.repo.client(grant.client_id) if known else None
        # As for users: an unknown client costs the same verification as a wrong secret.
        valid = await self.identity.passwords.verify(
            client.secret_hash if client else None, grant.client_secret
        )
        if client is None:
            await self.slow_down.failed(account)
            self.audit.record("client_auth_failed", target=f"client:{grant.client_id[:64]}")
            raise Unauthorized("invalid client credentials").keep_writes()
        pair = await self.repo.throttle(account, address)
        state = domain.AccountState(
            pair.failed_logins if pair else 0,
            pair.locked_until if pair else None,
            client.disabled_at is not None,
        )
        outcome = domain.judge_login(state, password_valid=valid, now=self.ctx.now, policy=self._lockout())
        if outcome.failure is not None:
            if outcome.failure is LoginFailure.wrong_password:
                await self.slow_down.failed(account)
            await self._record_pair(account, address, pair, outcome)
            if outcome.locked_now:
                self.audit.record("account_locked", target=f"client:{client.client_id}", address=address)
            self.audit.record("client_auth_failed", target=f"client:{client.client_id}")
            raise Unauthorized("invalid client credentials").keep_writes()
        if pair is not None:
            await self.repo.clear_throttle(account, address)
        await self.slow_down.succeeded(account)
        try:
            audiences = domain.audiences_for(grant.audience)
        except domain.UnknownAudience as exc:
            # RFC 6749 §5.2 / RFC 8707: an OAuth error is a 400, not the 422 of a domain rule.
            raise BadRequest(exc.message) from exc
        role = Role(client.role)
        ttl = domain.access_ttl(
            role,
            access_ttl=self.settings.access_token_ttl_seconds,
            service_ttl=self.settings.service_token_ttl_seconds,
        )
        access = self._sign(
            AccessGrant(
                sub=domain.client_subject(client.client_id),
                role=role,
                region=client.region_code,
                audiences=audiences,
                ttl=ttl,
            )
        )
        return TokenResponse(access_token=access, expires_in=ttl, scope=" ".join(audiences))

    # -- logout and revocation --------------------------------------------------------------------------------
    async def logout(self, principal: Principal, refresh_token: str | None) -> None:
        """End the caller's session: deny their access token until it expires, and revoke the refresh family it was
        minted in (its `sid`) with every access token of that family, plus the family of the refresh token presented
        (if theirs). Machine clients have no family: only their token is denied."""
        now = self.ctx.now
        families: set[uuid.UUID] = set()
        if principal.sid is not None:
            try:
                families.add(uuid.UUID(principal.sid))
            except ValueError:
                pass  # not a family of ours; the token itself is still denied below
        if refresh_token:
            token = await self.repo.refresh_token(domain.refresh_token_digest(refresh_token))
            if token is not None and str(token.user_id) == principal.sub:
                families.add(token.family_id)
        owner = _user_id(principal.sub)
        if owner is not None:
            for family_id in sorted(families):
                await self.repo.revoke_family(family_id, now, user_id=owner)
                self._forget_family(family_id)
        expires = domain.deny_list_expiry(principal.expires_at, now)
        await self.repo.deny_access_token(principal.jti, expires, now=now)
        self.audit.record("logout", actor=principal, target=f"user:{principal.sub}")
        # Effective at once on this replica; the others follow at their next refresh from the database.
        self.identity.revocations.revoke_jti(principal.jti, expires.timestamp())

    async def unlock(self, user: GatewayUser) -> None:
        """Lift every address's lockout of `user` and the account's slow-down (enable, password reset)."""
        account = account_key("user", user.username)
        await self.repo.clear_account_throttles(account)
        await self.slow_down.succeeded(account)

    async def revoke_user_tokens(self, user: GatewayUser) -> None:
        """Invalidate every refresh family and outstanding access token of `user` (a disable, a password reset).

        The cut-off is the start of the second after the signer's clock reads now (`domain.revocation_cut_off`),
        taken with the account row locked, so that every token signed so far lies below it; waiting for that second
        to begin (at most one second, on an administrative action) makes every token signed afterwards lie at or
        above it. Waking late only errs on the safe side.
        """
        clock = self.identity.clock
        cut_off = domain.revocation_cut_off(clock())
        await asyncio.sleep(max(0.0, (cut_off - clock()).total_seconds()) + 0.001)
        self.repo.cut_off_tokens(user, cut_off)
        await self.repo.revoke_user_refresh_tokens(user.id, self.ctx.now)

    def _forget_family(self, family_id: uuid.UUID) -> None:
        """Refuse the family's access tokens on this replica at once (the others follow at their next refresh)."""
        until = self.ctx.now.timestamp() + self.settings.access_token_ttl_seconds + 60
        self.identity.revocations.revoke_family(str(family_id), until)

    # -- issuing ----------------------------------------------------------------------------------------------
    def _lockout(self) -> domain.LockoutPolicy:
        return domain.LockoutPolicy(
            max_failures=self.settings.login_max_failures,
            lockout=timedelta(seconds=self.settings.login_lockout_seconds),
            backoff_base=self.settings.login_backoff_base_seconds,
            backoff_max=self.settings.login_backoff_max_seconds,
        )

    async def _record_pair(
        self, account: str, address: str, pair: LoginThrottle | None, outcome: domain.LoginOutcome
    ) -> None:
        """Write the pair's counters when the attempt changed them."""
        before = (pair.failed_logins, pair.locked_until) if pair else (0, None)
        if (outcome.failed_logins, outcome.locked_until) != before:
            await self.repo.record_throttle(
                account,
                address,
                failed_logins=outcome.failed_logins,
                locked_until=outcome.locked_until,
                now=self.ctx.now,
            )

    def _sign(self, grant: AccessGrant) -> str:
        claims = domain.access_claims(
            grant,
            issuer=self.settings.jwt_issuer,
            # The signer's clock, not the request's instant: verifiers compare `iat`/`exp` with their own clocks,
            # and a revocation cut-off must fall after every token already signed.
            issued_at=int(self.identity.clock().timestamp()),
            jti=uuid.uuid4().hex,
        )
        return self.identity.signing_key.sign(claims)

    def _new_refresh_token(self, user: GatewayUser, family_id: uuid.UUID) -> str:
        secret = _new_refresh_secret()
        self.repo.add_refresh_token(
            family_id=family_id,
            user_id=user.id,
            digest=domain.refresh_token_digest(secret),
            issued_at=self.ctx.now,
            expires_at=self.ctx.now + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
        )
        return secret

    def _user_tokens(self, user: GatewayUser, refresh_token: str, family_id: uuid.UUID) -> TokenResponse:
        ttl = self.settings.access_token_ttl_seconds
        access = self._sign(
            AccessGrant(
                sub=str(user.id),
                role=Role(user.role),
                region=user.region_code,
                audiences=domain.ALL_AUDIENCES,
                ttl=ttl,
                username=user.username,
                sid=str(family_id),
            )
        )
        return TokenResponse(access_token=access, expires_in=ttl, refresh_token=refresh_token)
