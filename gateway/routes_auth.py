"""Token endpoint (OAuth 2.0 password, refresh_token and client_credentials grants), logout, JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from gateway.deps import CallerDep, IdentityDep, client_ip, enforce_rate_limit
from gateway.schemas import TokenResponse, WhoAmI
from gateway.settings import GatewaySettings
from shared.db import SessionDep
from shared.problems import BadRequest, Unauthorized
from shared.schemas import reject_nul

router = APIRouter(tags=["auth"])

FormStr = Annotated[str | None, Form(max_length=4096)]


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed Basic credentials")
    return client_id, secret


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
async def token(
    request: Request,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    grant_type: Annotated[str | None, Form(max_length=64)] = None,
    username: FormStr = None,
    password: FormStr = None,
    refresh_token: FormStr = None,
    client_id: FormStr = None,
    client_secret: FormStr = None,
    audience: FormStr = None,
) -> TokenResponse:
    """`application/x-www-form-urlencoded` as in RFC 6749. Access tokens live 15 minutes."""
    try:
        reject_nul([grant_type, username, password, refresh_token, client_id, client_secret, audience])
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    settings: GatewaySettings = request.app.state.settings
    request_id = request.state.request_id
    response.headers["Cache-Control"] = "no-store"
    await enforce_rate_limit(request, f"login:{client_ip(request)}", settings.rate_limit_login_per_minute)
    if not grant_type:
        # RFC 6749 §5.2: a missing parameter is invalid_request (400), like the other missing fields here.
        raise BadRequest("grant_type is required", error="invalid_request")
    if grant_type == "password":
        if not username or password is None:
            raise BadRequest("username and password are required for grant_type=password")
        issued = await identity.password_login(session, username, password, request_id=request_id)
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise BadRequest("refresh_token is required for grant_type=refresh_token")
        issued = await identity.refresh(session, refresh_token, request_id=request_id)
    elif grant_type == "client_credentials":
        basic = _basic_credentials(request)
        if basic is not None:
            client_id, client_secret = basic
        if not client_id or client_secret is None:
            raise BadRequest("client_id and client_secret are required for grant_type=client_credentials")
        issued = await identity.client_credentials(
            session, client_id, client_secret, audience, request_id=request_id
        )
    else:
        raise BadRequest(f"unsupported grant_type '{grant_type}'", error="unsupported_grant_type")
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        scope=issued.scope,
    )


@router.post(
    "/auth/logout", status_code=204, summary="Revoke the current access token and its refresh family"
)
async def logout(
    request: Request,
    session: SessionDep,
    identity: IdentityDep,
    caller: CallerDep,
    refresh_token: FormStr = None,
) -> Response:
    await identity.logout(session, caller, refresh_token, request_id=request.state.request_id)
    return Response(status_code=204)


@router.get("/auth/me", response_model=WhoAmI, summary="The caller as the platform sees them")
async def me(caller: CallerDep) -> WhoAmI:
    return WhoAmI(
        sub=caller.sub,
        username=caller.username,
        role=caller.role,
        region=caller.region,
        scope_prefix=caller.prefix,
        expires_at=caller.expires_at,
    )


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens (RFC 7517)")
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    keys: dict[str, Any] = request.app.state.jwks
    return keys
