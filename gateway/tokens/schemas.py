"""API models of the tokens feature: the token request form (RFC 6749), the token response, the caller, the JWKS."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from gateway.tokens.domain import ClientCredentialsGrant, PasswordGrant, RefreshGrant, TokenGrant
from shared.problems import BadRequest, Unauthorized
from shared.roles import Principal, Role
from shared.schemas import ResponseModel, reject_nul

__all__ = ["Jwk", "Jwks", "RevocationListPublic", "TokenForm", "TokenResponse", "WhoAmI", "basic_credentials"]

_FIELD = Field(None, max_length=4096)


class TokenForm(BaseModel):
    """The token request, `application/x-www-form-urlencoded` as in RFC 6749 §4.3, §4.4 and §6.

    Unknown fields are ignored (RFC 6749 §3.2: clients send `scope` and others we do not use); which fields a grant
    needs is checked by `grant()`, so that a missing one is the OAuth `400`, not a validation `422`.
    """

    grant_type: str | None = Field(None, max_length=64)
    username: str | None = _FIELD
    password: str | None = _FIELD
    refresh_token: str | None = _FIELD
    client_id: str | None = _FIELD
    client_secret: str | None = _FIELD
    audience: str | None = _FIELD

    def reject_nul(self) -> None:
        """400 when a field holds a NUL character (PostgreSQL text cannot store one)."""
        try:
            reject_nul(list(self.model_dump().values()))
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc

    def grant(self, authorization: str | None) -> TokenGrant:
        """The grant this form asks for (client credentials may come as HTTP Basic instead, RFC 6749 §2.3.1)."""
        if not self.grant_type:
            # RFC 6749 §5.2: a missing parameter is invalid_request (400), like the other missing fields here.
            raise BadRequest("grant_type is required", error="invalid_request")
        if self.grant_type == "password":
            if not self.username or self.password is None:
                raise BadRequest("username and password are required for grant_type=password")
            return PasswordGrant(self.username, self.password)
        if self.grant_type == "refresh_token":
            if not self.refresh_token:
                raise BadRequest("refresh_token is required for grant_type=refresh_token")
            return RefreshGrant(self.refresh_token)
        if self.grant_type == "client_credentials":
            client_id, client_secret = self.client_id, self.client_secret
            basic = basic_credentials(authorization)
            if basic is not None:
                client_id, client_secret = basic
            if not client_id or client_secret is None:
                raise BadRequest("client_id and client_secret are required for grant_type=client_credentials")
            return ClientCredentialsGrant(client_id, client_secret, self.audience)
        raise BadRequest(f"unsupported grant_type '{self.grant_type}'", error="unsupported_grant_type")


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """`(client_id, client_secret)` from an `Authorization: Basic` header; None without one; 401 when malformed."""
    header = authorization or ""
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


class TokenResponse(ResponseModel):
    """OAuth 2.0 token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
    refresh_token: str | None = None
    scope: str | None = None


class WhoAmI(ResponseModel):
    """The caller as the platform sees them (我的身份)."""

    sub: str
    username: str | None
    role: Role
    region: str
    scope_prefix: str
    expires_at: datetime = Field(description="When the access token expires (its `exp`), RFC 3339 with Z")

    @classmethod
    def of(cls, principal: Principal) -> WhoAmI:
        return cls(
            sub=principal.sub,
            username=principal.username,
            role=principal.role,
            region=principal.region,
            scope_prefix=principal.prefix,
            expires_at=datetime.fromtimestamp(principal.expires_at, UTC),
        )


class Jwk(ResponseModel):
    """One public signing key (RFC 7517 §4): RSA, for RS256 signatures."""

    kty: Literal["RSA"]
    kid: str
    alg: Literal["RS256"]
    use: Literal["sig"]
    n: str
    e: str


class Jwks(ResponseModel):
    """The public keys that verify access tokens (RFC 7517 §5)."""

    keys: list[Jwk]


class RevocationListPublic(ResponseModel):
    """The gateway's revocation list as services follow it (shared/revocations.py). Times are epoch seconds."""

    subjects: dict[str, float | None] = Field(
        description="Subject (user id, or `client:<id>`) → earliest accepted `iat`; null: none, it is disabled"
    )
    jtis: dict[str, float] = Field(description="Logged-out access token (`jti`) → when it expires anyway")
    families: dict[str, float] = Field(
        description="Ended refresh family (`sid`) → until when access tokens minted in it could still be alive"
    )
