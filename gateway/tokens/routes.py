"""Routes of the tokens feature: the token endpoint (OAuth 2.0 password, refresh_token and client_credentials
grants), logout, the caller's identity, the public keys (JWKS), and the revocation list services follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request, Response

from gateway.deps import (
    CallerContextDep,
    CallerDep,
    IdentityDep,
    PublicContextDep,
    client_ip,
    enforce_login_rate_limit,
)
from gateway.tokens.schemas import Jwks, RevocationListPublic, TokenForm, TokenResponse, WhoAmI
from gateway.tokens.service import TokenService
from shared.problems import Forbidden
from shared.roles import Role
from shared.routing import APIRouter

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Get tokens: password login, refresh (rotating), or client credentials",
    responses={
        400: {"description": "Unsupported grant or missing field"},
        401: {"description": "Bad credentials"},
        429: {"description": "Too many attempts"},
    },
)
async def issue_token(
    form: Annotated[TokenForm, Form()],
    request: Request,
    ctx: PublicContextDep,
    identity: IdentityDep,
    response: Response,
) -> TokenResponse:
    """`application/x-www-form-urlencoded` as in RFC 6749. Access tokens live 15 minutes."""
    form.reject_nul()
    response.headers["Cache-Control"] = "no-store"
    # Before the grant is even read: every attempt counts, well-formed or not.
    await enforce_login_rate_limit(request)
    grant = form.grant(request.headers.get("authorization"))
    return await TokenService(ctx, identity).grant(grant, address=client_ip(request))


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Logged out (no content)"}},
    summary="End the session: revoke the access token, its refresh family and the family's access tokens",
)
async def log_out(
    ctx: CallerContextDep,
    identity: IdentityDep,
    refresh_token: Annotated[str | None, Form(max_length=4096)] = None,
) -> Response:
    """End the caller's session: the access token, the refresh family it was minted in (with every access token of
    that family), and the family of `refresh_token` when one is sent."""
    await TokenService(ctx, identity).logout(ctx.principal, refresh_token)
    return Response(status_code=204)


@router.get("/auth/me", response_model=WhoAmI, summary="The caller as the platform sees them")
async def get_me(caller: CallerDep) -> WhoAmI:
    """The caller as the platform sees them: user, role, region and whether the role only reads."""
    return WhoAmI.of(caller)


@router.get(
    "/.well-known/jwks.json",
    response_model=Jwks,
    summary="Public keys that verify access tokens (RFC 7517)",
)
async def get_jwks(identity: IdentityDep, response: Response) -> Jwks:
    """The public keys (RFC 7517) that verify access tokens; services fetch them every few minutes."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks.model_validate(identity.signing_key.jwks())


@router.get(
    "/auth/revocations",
    response_model=RevocationListPublic,
    summary="The revocation list, for services (service tokens only)",
    responses={
        304: {"description": "Unchanged since the `If-None-Match` entity tag"},
        403: {"description": "Not a service token"},
    },
)
async def get_revocations(
    request: Request, caller: CallerDep, identity: IdentityDep, response: Response
) -> RevocationListPublic | Response:
    """What the gateway refuses before its natural expiry, which every service polls every couple of seconds to
    refuse the same tokens; send the `ETag` back as `If-None-Match` to get a 304 while nothing changed."""
    if caller.role is not Role.service:
        raise Forbidden("only services read the revocation list")
    revocations = identity.revocations
    version = revocations.version
    headers = {"ETag": version, "Cache-Control": "no-store"}
    if request.headers.get("if-none-match") == version:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    subjects, jtis, families = revocations.export()
    return RevocationListPublic(subjects=subjects, jtis=jtis, families=families)
