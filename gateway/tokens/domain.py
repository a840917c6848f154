"""The rules of the gateway's tokens (令牌): who gets which token, for how long, and when a login or a refresh is
refused. Pure: standard library and `shared.roles` only; time is passed in.

Checkable against:
- DOMAIN.md §1.4 (roles): people log in with a password and get a token carrying their role and region; machine
  clients (`province_system`, read-only by invariant 48, and the internal `service`) use client credentials.
- DOMAIN.md invariant 50: every identity event is audited; these rules say which event happened (a failed login's
  reason, an account locked, a refresh token replayed), the use case writes it.
- RFC 6749 §4.3, §4.4, §6 (the password, client-credentials and refresh grants); RFC 9700 §4.14.2 (refresh tokens
  rotate on every use; presenting one already rotated revokes its whole family, since someone else holds it).
- The gateway's design (README "Identity"): access tokens live `ACCESS_TOKEN_TTL_SECONDS` (15 minutes), service
  tokens `SERVICE_TOKEN_TTL_SECONDS` (5); `LOGIN_MAX_FAILURES` wrong passwords (or client secrets) in a row from
  one client address lock that address out of that account for `LOGIN_LOCKOUT_SECONDS` — never the account
  itself, so a stranger cannot lock its owner out; past as many failures from anywhere, every attempt on the
  account waits a doubling delay first (`LOGIN_BACKOFF_BASE_SECONDS` .. `LOGIN_BACKOFF_MAX_SECONDS`); an unknown,
  locked or disabled account gets the same answer as a wrong password.
"""

from __future__ import annotations

import enum
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.errors import Invalid
from shared.roles import Role

__all__ = [
    "ALL_AUDIENCES",
    "BAD_LOGIN",
    "GATEWAY_AUDIENCE",
    "MAX_CLIENT_ID_LENGTH",
    "REFUSED_REFRESH",
    "SERVICE_AUDIENCES",
    "AccessGrant",
    "AccountState",
    "ClientCredentialsGrant",
    "LockoutPolicy",
    "LoginFailure",
    "LoginOutcome",
    "PasswordGrant",
    "RefreshGrant",
    "RefreshVerdict",
    "TokenGrant",
    "UnknownAudience",
    "access_claims",
    "access_ttl",
    "account_backoff",
    "audiences_for",
    "client_subject",
    "deny_list_expiry",
    "judge_login",
    "judge_refresh",
    "login_username",
    "not_before_after_enable",
    "refresh_token_digest",
    "revocation_cut_off",
    "revocation_horizon",
    "subject_not_before",
]

# -- audiences ------------------------------------------------------------------------------------------------
#: The gateway's own audience (its `/auth/me`, `/users`, `/audit` and the proxy accept only tokens naming it).
GATEWAY_AUDIENCE = "jingzhun-gateway"

#: Upstream service name → token audience. User tokens carry all of them, since the gateway forwards the caller's
#: own token; service tokens carry only the one they were requested for.
SERVICE_AUDIENCES: dict[str, str] = {
    "registry": "jingzhun-registry",
    "planning": "jingzhun-planning",
    "assessment": "jingzhun-assessment",
}

#: Every audience, in the order tokens list them.
ALL_AUDIENCES: tuple[str, ...] = (GATEWAY_AUDIENCE, *SERVICE_AUDIENCES.values())


class UnknownAudience(Invalid):
    """A client asked for a token for an audience that is not ours (RFC 8707 `invalid_target`)."""

    def __init__(self, audience: str) -> None:
        super().__init__("unknown_audience", f"unknown audience '{audience}'", audience=audience)


def audiences_for(requested: str | None) -> tuple[str, ...]:
    """The audiences of a client-credentials token: all of them when none is asked for, else just the one asked."""
    if requested is None:
        return ALL_AUDIENCES
    if requested in ALL_AUDIENCES:
        return (requested,)
    raise UnknownAudience(requested)


# -- grants (typed commands) ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PasswordGrant:
    """`grant_type=password` (RFC 6749 §4.3): a person logs in."""

    username: str
    password: str


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """`grant_type=refresh_token` (RFC 6749 §6): a session is continued, and its refresh token rotated."""

    refresh_token: str


@dataclass(frozen=True, slots=True)
class ClientCredentialsGrant:
    """`grant_type=client_credentials` (RFC 6749 §4.4): a machine client (province system, a service) asks."""

    client_id: str
    client_secret: str
    audience: str | None = None


TokenGrant = PasswordGrant | RefreshGrant | ClientCredentialsGrant

#: Client ids are at most this long (the column's width): a longer one is unknown without a lookup.
MAX_CLIENT_ID_LENGTH = 64


def login_username(username: str) -> str:
    """Logins ignore case and surrounding blanks; usernames are stored lower-case."""
    return username.strip().lower()


def client_subject(client_id: str) -> str:
    """The `sub` of a machine client's tokens (never a user id, which is a UUID)."""
    return f"client:{client_id}"


# -- password logins and lockout ------------------------------------------------------------------------------
#: The one answer to every refused login, whatever the reason, so that it reveals nothing.
BAD_LOGIN = "invalid username or password, or the account is temporarily locked"


class LoginFailure(enum.StrEnum):
    """Why a login was refused (the `reason` of its `login_failed` audit entry); never told to the caller."""

    unknown_user = "unknown user"
    wrong_password = "wrong password"  # noqa: S105 - an audit reason, not a secret
    locked = "locked"
    disabled = "disabled"


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """`max_failures` wrong passwords in a row lock the account for `lockout`: `judge_login` is applied to one
    account as seen from one client address, so it is that pair that locks. Past `max_failures` failures of the
    account from anywhere, each attempt waits `account_backoff` first."""

    max_failures: int
    lockout: timedelta
    backoff_base: float = 0.0
    backoff_max: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the login rules know of an account."""

    failed_logins: int
    locked_until: datetime | None
    disabled: bool


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """The decision on one login attempt and the account's counters after it."""

    failure: LoginFailure | None
    failed_logins: int
    locked_until: datetime | None
    #: This attempt locked the account (an `account_locked` audit entry).
    locked_now: bool = False

    @property
    def accepted(self) -> bool:
        return self.failure is None


def judge_login(
    account: AccountState | None, *, password_valid: bool, now: datetime, policy: LockoutPolicy
) -> LoginOutcome:
    """Accept or refuse a login, and count it.

    A wrong password counts towards the lockout unless the account is already locked (a locked account's counter
    does not grow, so the lock is not extended by an attacker); reaching `policy.max_failures` locks it and starts
    the count again. A right password while locked or disabled is refused and counts nothing. Success clears both.
    """
    if account is None:
        return LoginOutcome(LoginFailure.unknown_user, 0, None)
    locked = account.locked_until is not None and account.locked_until > now
    if password_valid and not locked and not account.disabled:
        return LoginOutcome(None, 0, None)
    failed, locked_until, locked_now = account.failed_logins, account.locked_until, False
    if not password_valid and not locked:
        failed += 1
        if failed >= policy.max_failures:
            failed, locked_until, locked_now = 0, now + policy.lockout, True
    if locked:
        reason = LoginFailure.locked
    elif account.disabled and password_valid:
        reason = LoginFailure.disabled
    else:
        reason = LoginFailure.wrong_password
    return LoginOutcome(reason, failed, locked_until, locked_now)


def account_backoff(failures: int, policy: LockoutPolicy) -> float:
    """Seconds an attempt on an account waits after `failures` recent failures of it, from any address.

    A delay, not a refusal: a stranger failing on purpose slows the owner's login by at most `policy.backoff_max`,
    and never stops it; a guesser spread over many addresses pays it on every try.
    """
    over = failures - policy.max_failures
    if over < 0 or policy.backoff_base <= 0:
        return 0.0
    return min(policy.backoff_max, policy.backoff_base * 2.0 ** min(over, 32))


# -- refresh tokens -------------------------------------------------------------------------------------------
class RefreshVerdict(enum.StrEnum):
    """What presenting a known refresh token means."""

    rotate = "rotate"  # valid: issue a new pair, retire this token
    replayed = "replayed"  # already rotated and not revoked: stolen or replayed; revoke the whole family
    spent = "spent"  # revoked (logout, reuse elsewhere in its family, disable, password reset)
    expired = "expired"


#: The verdicts answered "refresh token already used or revoked".
REFUSED_REFRESH: frozenset[RefreshVerdict] = frozenset({RefreshVerdict.replayed, RefreshVerdict.spent})


def judge_refresh(
    *, rotated_at: datetime | None, revoked_at: datetime | None, expires_at: datetime, now: datetime
) -> RefreshVerdict:
    """The reuse rule of RFC 9700 §4.14.2: a rotated token presented again is a replay; its family dies."""
    if revoked_at is not None:
        return RefreshVerdict.spent
    if rotated_at is not None:
        return RefreshVerdict.replayed
    if expires_at <= now:
        return RefreshVerdict.expired
    return RefreshVerdict.rotate


def refresh_token_digest(token: str) -> str:
    """Refresh tokens are stored only as their SHA-256: a database reader cannot replay them."""
    return hashlib.sha256(token.encode()).hexdigest()


# -- access tokens --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccessGrant:
    """Who an access token speaks for, to whom, for how long."""

    sub: str
    role: Role
    region: str
    audiences: tuple[str, ...]
    ttl: int
    username: str | None = None
    #: The refresh family (login session) a user's token is minted in: revoking the family revokes the token.
    sid: str | None = None


def access_ttl(role: Role, *, access_ttl: int, service_ttl: int) -> int:
    """Internal service tokens are short-lived (they are fetched again at will); everyone else's last `access_ttl`."""
    return service_ttl if role is Role.service else access_ttl


def access_claims(grant: AccessGrant, *, issuer: str, issued_at: int, jti: str) -> dict[str, object]:
    """The JWT claims of an access token (RFC 7519), `iat` in whole seconds."""
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": list(grant.audiences),
        "sub": grant.sub,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + grant.ttl,
        "jti": jti,
        "role": str(grant.role),
        "region": grant.region,
    }
    if grant.username:
        claims["preferred_username"] = grant.username
    if grant.sid:
        claims["sid"] = grant.sid  # OpenID Connect's session id claim
    return claims


# -- revocation -----------------------------------------------------------------------------------------------
def revocation_cut_off(now: datetime) -> datetime:
    """The `tokens_not_before` of a disable or password reset made at `now`: the start of the next second.

    Access tokens carry `iat` in whole seconds, so a cut-off inside the current second cannot tell a token issued
    earlier in that second from one issued later. Cutting at the next second (and letting it begin before the
    change is written) makes every token issued so far fall below it, and every later one at or above it.
    """
    return datetime.fromtimestamp(math.floor(now.timestamp()) + 1, UTC)


def subject_not_before(*, disabled: bool, tokens_not_before: datetime | None) -> float:
    """The earliest `iat` still accepted for a user: none at all while disabled."""
    if disabled or tokens_not_before is None:
        return math.inf
    return tokens_not_before.timestamp()


def not_before_after_enable(tokens_not_before: datetime | None) -> float:
    """Enabling a user again does not revive the tokens the disable cut off."""
    return tokens_not_before.timestamp() if tokens_not_before is not None else 0.0


def revocation_horizon(now: datetime, *, access_ttl: int) -> datetime:
    """Cut-offs older than this no longer matter: every token they could refuse has expired (plus a margin)."""
    return now - timedelta(seconds=access_ttl + 60)


def deny_list_expiry(token_expires_at: int, now: datetime) -> datetime:
    """How long a logged-out access token stays on the deny list: until it would have expired, plus a second."""
    remaining = max(0, token_expires_at - math.floor(now.timestamp()))
    return now + timedelta(seconds=remaining + 1)
