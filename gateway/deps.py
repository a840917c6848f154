"""Gateway dependencies: the authenticated, non-revoked, rate-limited caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.identity import IdentityService
from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from shared.auth import bearer_token
from shared.problems import TooManyRequests
from shared.roles import Principal

__all__ = ["CallerDep", "IdentityDep", "authenticated_caller", "client_ip", "enforce_rate_limit"]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def enforce_rate_limit(request: Request, key: str, limit: int) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    retry_after = await limiter.hit(key, limit)
    if retry_after:
        raise TooManyRequests(
            f"rate limit of {limit} requests per minute exceeded", headers={"Retry-After": str(retry_after)}
        )


async def authenticated_caller(request: Request) -> Principal:
    """Verify the bearer token, refuse revoked ones, and count the request against the caller's limit."""
    principal: Principal = request.app.state.token_authority.authenticate(bearer_token(request))
    request.app.state.revocations.check(principal)
    request.state.principal = principal
    settings: GatewaySettings = request.app.state.settings
    await enforce_rate_limit(request, f"p:{principal.sub}", settings.rate_limit_per_minute)
    return principal


CallerDep = Annotated[Principal, Depends(authenticated_caller)]


def _identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


IdentityDep = Annotated[IdentityService, Depends(_identity)]
