"""Gateway dependencies: the authenticated, non-revoked, rate-limited caller, and the contexts use cases receive.

`authenticated_caller` is the one check of every authenticated request (the FastAPI routes through `CallerDep`,
the proxy's plain Starlette route by calling it): token, revocation list, per-principal rate limit (people,
machine clients and per-client overrides: `rate_limit_of`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from gateway.context import PublicContext
from gateway.identity import Identity
from gateway.ratelimit import Quota, RateLimiter, quota_headers
from gateway.settings import GatewaySettings
from gateway.tokens.domain import client_subject
from gateway.users.domain import require_manager
from shared.auth import bearer_token
from shared.clock import Clock, rfc3339, utcnow
from shared.context import Context, context_for, request_id_of
from shared.db import ReadSessionDep, SessionDep
from shared.problems import TooManyRequests
from shared.roles import Principal, Role

__all__ = [
    "MACHINE_ROLES",
    "CallerContextDep",
    "CallerDep",
    "IdentityDep",
    "ManagerContextDep",
    "PublicContextDep",
    "ReadCallerContextDep",
    "ReadManagerContextDep",
    "authenticated_caller",
    "client_ip",
    "enforce_login_rate_limit",
    "enforce_rate_limit",
    "rate_limit_of",
]


def client_ip(request: Request) -> str:
    """The client's address: the peer's, or what a TRUSTED_PROXIES peer forwarded (gateway/forwarded.py)."""
    return request.client.host if request.client else "unknown"


#: Roles of machine clients: their requests count against `rate_limit_machine_per_minute`.
MACHINE_ROLES = frozenset({Role.province_system, Role.service})


def rate_limit_of(principal: Principal, settings: GatewaySettings) -> tuple[str, int]:
    """The caller's policy name and requests per minute: its override, else its tier (people or machines)."""
    overrides = settings.rate_limit_overrides
    # A machine client is named by its client id (its tokens' `sub` is `client:<client id>`), a user by its id.
    override = overrides.get(principal.sub, overrides.get(principal.sub.removeprefix(client_subject(""))))
    if override is not None:
        return "client", override
    if principal.role in MACHINE_ROLES:
        return "machine", settings.rate_limit_machine_per_minute
    return "default", settings.rate_limit_per_minute


async def enforce_rate_limit(request: Request, key: str, limit: int, *, policy: str = "default") -> Quota:
    """Count the request under `key`; remember its quota for the answer's headers (`request.state.rate_limit`);
    past the limit, 429 `rate_limited` with `Retry-After` and the same headers."""
    limiter: RateLimiter = request.app.state.rate_limiter
    quota = await limiter.count(key, limit, policy=policy)
    request.state.rate_limit = quota
    if quota.exceeded:
        # Wall-clock time, as the windows are (not a development clock's offset).
        at = rfc3339(utcnow().replace(microsecond=0) + timedelta(seconds=quota.retry_after))
        raise TooManyRequests(
            f"rate limit of {limit} requests per minute exceeded; retry in {quota.retry_after} s (at {at})",
            headers={"Retry-After": str(quota.retry_after), **quota_headers(quota)},
            code="rate_limited",
            limit=limit,
            retry_after=quota.retry_after,
            retry_at=at,
        )
    return quota


async def enforce_login_rate_limit(request: Request) -> None:
    """The token endpoint's limit, per client address: it slows password guessing whatever the username (the
    per-account limits are the use case's: gateway/tokens/throttle.py)."""
    settings: GatewaySettings = request.app.state.settings
    await enforce_rate_limit(
        request, f"login:{client_ip(request)}", settings.rate_limit_login_per_minute, policy="login"
    )


async def authenticated_caller(request: Request) -> Principal:
    """Verify the bearer token, refuse revoked ones, and count the request against the caller's limit."""
    principal: Principal = request.app.state.token_authority.authenticate(bearer_token(request))
    request.app.state.revocations.check(principal)
    request.state.principal = principal
    policy, limit = rate_limit_of(principal, request.app.state.settings)
    await enforce_rate_limit(request, f"p:{principal.sub}", limit, policy=policy)
    return principal


CallerDep = Annotated[Principal, Depends(authenticated_caller)]


def _identity(request: Request) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


#: The process-wide identity parts (signer, hasher, revocation list).
IdentityDep = Annotated[Identity, Depends(_identity)]


async def _public_context(request: Request, session: SessionDep) -> PublicContext:
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return PublicContext(session=session, now=clock(), request_id=request_id_of(request))


#: The context of the token endpoint: nobody is authenticated yet; one transaction, committed by the route class.
PublicContextDep = Annotated[PublicContext, Depends(_public_context)]


async def _caller_context(request: Request, caller: CallerDep, session: SessionDep) -> Context:
    return context_for(request, session, caller)


async def _read_caller_context(request: Request, caller: CallerDep, session: ReadSessionDep) -> Context:
    return context_for(request, session, caller)


#: The caller's context with a session in one transaction, committed by the route class (writes).
CallerContextDep = Annotated[Context, Depends(_caller_context)]
#: The caller's context with an autocommit session (single-statement reads).
ReadCallerContextDep = Annotated[Context, Depends(_read_caller_context)]


async def _manager_context(ctx: CallerContextDep) -> Context:
    require_manager(ctx.principal)
    return ctx


async def _read_manager_context(ctx: ReadCallerContextDep) -> Context:
    require_manager(ctx.principal)
    return ctx


#: A user administrator's context (403 for every other role), for writes.
ManagerContextDep = Annotated[Context, Depends(_manager_context)]
#: A user administrator's context (403 for every other role), for reads.
ReadManagerContextDep = Annotated[Context, Depends(_read_manager_context)]
